//! Race matrix L9: output to an INCOMPLETE entry (queueing) against the
//! reply that resolves it and a removal. Every queued packet is transmitted
//! or reported exactly once.

mod common;
use common::*;
use loom::sync::Arc;

#[test]
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
