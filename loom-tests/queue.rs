//! Race matrix L9: output to an INCOMPLETE entry (queueing) against the
//! reply that resolves it and a removal. Every queued packet is transmitted
//! or reported exactly once. L9/hh: the lock-free output against the reply
//! that publishes the header and the state: a packet is never transmitted
//! with a header that was not written yet.

use crate::common::*;
use loom::sync::Arc;
use neighcache::variant::Rule;

fn l9_queue_vs_resolve_vs_remove_fix_holds() {
    fix_holds("L9", Some(3), || {
        let t = Arc::new(table());
        assert!(matches!(
            t.resolve_output(KEY, DEV, Pkt(0)),
            neighcache::Xmit::Queued
        ));
        let t1 = t.clone();
        let a = loom::thread::spawn(move || {
            t1.resolve_output(KEY, DEV, Pkt(1));
        });
        let t2 = t.clone();
        let b = loom::thread::spawn(move || {
            let _ = t2.receive_arp(KEY, DEV, &MAC_A, true);
        });
        let _ = t.remove(KEY, DEV);
        a.join().unwrap();
        b.join().unwrap();
        run_all_timers(&t);
        t.flush_dev(None);
        for id in 0..2 {
            let f = t.ops().fates(id);
            assert_eq!(f.len(), 1, "packet {id}: {f:?}");
        }
        let s = t.stats();
        assert_eq!(s.packets_queued_now(), 0, "{s:?}");
        assert_eq!(s.allocs, s.destroys, "{s:?}");
    });
}

/// L9/hh: a sender's lock-free `lookup_noref` + `output` of an INCOMPLETE
/// entry against the reply that resolves it (`neigh_update`: header, then
/// state). The sender either queues (then the reply's flush sends the
/// packet) or sees the state CONNECTED and sends with the header; the
/// test's `transmit` rejects an unwritten header. `broken`: the state is
/// published before the header.
pub fn l9_output_vs_reply(broken: bool) {
    let t = Arc::new(table());
    t.break_rule(Rule::HeaderBeforeState, broken);
    assert!(matches!(
        t.resolve_output(KEY, DEV, Pkt(0)),
        neighcache::Xmit::Queued
    ));
    neighcache::trace::clear(); // the race (and its timeline) begins
    let t1 = t.clone();
    let a = loom::thread::spawn(move || {
        let g = t1.pin();
        let n = t1.lookup_noref(KEY, DEV, &g).expect("linked");
        t1.output(n, Pkt(1), &g);
    });
    t.receive_arp(KEY, DEV, &MAC_A, true).unwrap();
    a.join().unwrap();
    run_all_timers(&t);
    t.flush_dev(None);
    for id in 0..2 {
        assert_eq!(t.ops().fates(id), vec!["sent"], "packet {id}");
    }
}

/// L9/hh's named failure.
pub const L9_FAILURE: &[&str] = &["transmitted with an unwritten link-layer header"];
/// L9/hh: the reply on CPU0, the lock-free sender on CPU1.
pub const L9_COLUMNS: Columns = &[
    ("CPU0: arp_process → neigh_update (reply)", Col::Thread(0)),
    ("CPU1: lock-free sender", Col::Thread(1)),
    ("timer softirq", Col::Softirq),
];

fn l9_lockless_output_vs_reply_fix_holds() {
    fix_holds("L9/hh", None, || l9_output_vs_reply(false));
}

fn l9_state_before_header_bug_is_found() {
    bug_is_found_with("L9/hh", None, L9_FAILURE, Some(L9_COLUMNS), || {
        l9_output_vs_reply(true)
    });
}

/// This file's tests, in row order.
pub fn tests() -> Vec<Test> {
    crate::tests![
        l9_queue_vs_resolve_vs_remove_fix_holds,
        l9_lockless_output_vs_reply_fix_holds,
        l9_state_before_header_bug_is_found,
    ]
}
