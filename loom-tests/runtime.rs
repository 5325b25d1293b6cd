//! Race matrix L10-L12: what the daemon-facing features change in the
//! table's concurrency.
//!
//! * L10: a run-time parameter change (`set_device_parms`, the sysctl /
//!   `neightbl_set` analogue) against the timer handler that re-arms with
//!   those parameters: the handler decides with one consistent snapshot,
//!   old or new, and nothing leaks.
//! * L11: the same change against the packet path (`event_send` on a STALE
//!   entry arms DELAY with `delay_probe_time`).
//! * L12: events of one entry changed by two threads at once (a reply and
//!   the timer handler): the subscriber receives them in the entry's order
//!   (each event continues the previous one's state) and the last one is
//!   the entry's state.
//! * L19: L10's race with the device's parameter words modelled (they are
//!   `sync::plain` elsewhere), so loom interleaves and reorders the
//!   parameter seqlock itself: the handler's one snapshot is never torn.

use crate::common::*;
use loom::sync::Arc;
use neighcache::variant::Rule;
use neighcache::{DeviceConfig, NeighTable};
use neighcache::{EventFilter, EventKind, NeighParms, NudState, Received, UpdateFlags};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};

/// Which outcomes the executions of a row produced (plain std: bookkeeping
/// outside the model), so a row can insist that the model explored both
/// orders of the change and the operation.
pub struct Seen([AtomicBool; 2]);

impl Seen {
    pub const fn new() -> Self {
        Seen([AtomicBool::new(false), AtomicBool::new(false)])
    }
    pub fn mark(&self, new: bool) {
        self.0[new as usize].store(true, Ordering::Relaxed);
    }
    pub fn both(&self) -> bool {
        self.0.iter().all(|b| b.load(Ordering::Relaxed))
    }
}

/// New parameters: every time value differs from `test_config`'s, so the
/// snapshot a decision used can be read off the timer it armed.
fn new_parms() -> NeighParms {
    NeighParms {
        retrans_time: 500,
        delay_probe_time: 700,
        mcast_probes: 2,
        ..test_config().parms
    }
}

/// L10: `set_device_parms` vs `neigh_timer_handler` on an INCOMPLETE
/// entry (re-arm at `retrans_time`, budget `mcast_probes`). The timer runs
/// on the spawned thread (with the change on the spawned thread loom's
/// scheduler tried only one order; this way it explores both, and the row
/// checks that it did).
pub fn l10_scenario(broken: bool, seen: &Seen) {
    let t = Arc::new(table());
    t.break_rule(Rule::ParmsOneSnapshot, broken);
    parms_race(t, seen, L10_FAILURE[0]);
}

/// L10's race on table `t` (its device [`DEV`] registered with
/// `test_config`'s parameters); `mixed` names the failure when the handler
/// re-armed with a mix of the old and the new parameters.
fn parms_race(t: Arc<NeighTable<Ipv4Addr, TestOps>>, seen: &Seen, mixed: &str) {
    t.resolve_output(KEY, DEV, Pkt(0));
    neighcache::trace::clear(); // the race (and its timeline) begins
    let t1 = t.clone();
    // The first probe went out at START; the handler fires at +300 and,
    // the budget spent (ucast 1 + mcast 1) under the old parameters,
    // fails the entry; under the new ones (mcast 2) it re-arms at +500.
    let a = loom::thread::spawn(move || t1.run_timers(START + 300).unwrap());
    t.set_device_parms(DEV, new_parms()).unwrap();
    a.join().unwrap();
    let n = t.lookup(KEY, DEV).unwrap();
    match n.state() {
        NudState::FAILED => {
            assert_eq!(t.timers().pending(), 0);
            seen.mark(false);
        }
        NudState::INCOMPLETE => {
            assert_eq!(t.timers().next_expiry(), Some(START + 300 + 500), "{mixed}");
            seen.mark(true);
        }
        s => panic!("unexpected state {s:?}"),
    }
    assert_eq!(t.device_parms(DEV), Some(new_parms()));
    let r = t.reachable_time(DEV).unwrap();
    assert!((300..900).contains(&r), "re-drawn from base 600: {r}");
    drop(n);
    run_all_timers(&t);
    assert_eq!(t.timers().pending(), 0);
    t.flush_dev(None);
    let s = t.stats();
    assert_eq!((s.allocs, s.destroys), (1, 1), "{s:?}");
    assert_eq!(s.packets_queued_now(), 0);
}

fn l10_parms_change_vs_timer_handler_fix_holds() {
    static SEEN: Seen = Seen::new();
    fix_holds("L10", None, || l10_scenario(false, &SEEN));
    assert!(SEEN.both(), "the model did not explore both orders");
}

/// L10's named failure.
pub const L10_FAILURE: &[&str] = &["re-armed with a mix of two parameter snapshots"];
/// L10's timeline: the parameter change on CPU0, the timer softirq on CPU1.
pub const L10_COLUMNS: Columns = &[
    ("CPU0: neightbl_set (set_device_parms)", Col::Thread(0)),
    ("CPU1: timer softirq", Col::Softirq),
];
/// L12's named failure.
pub const L12_FAILURE: &[&str] = &["does not continue the entry"];
/// L12's timeline: the timer softirq on CPU0, the reply on CPU1.
pub const L12_COLUMNS: Columns = &[
    ("CPU0: timer softirq", Col::Softirq),
    ("CPU1: arp_process → neigh_update", Col::Thread(1)),
];

/// L10 with two snapshots: the new budget with the old retransmit time.
fn l10_two_parameter_snapshots_bug_is_found() {
    static SEEN: Seen = Seen::new();
    bug_is_found_with("L10", None, L10_FAILURE, Some(L10_COLUMNS), || {
        l10_scenario(true, &SEEN)
    });
}

/// L11: `set_device_parms` vs `__neigh_event_send` on a STALE entry (DELAY
/// armed at `delay_probe_time`, old 300 or new 700, never a mix).
fn l11_parms_change_vs_event_send_fix_holds() {
    static SEEN: Seen = Seen::new();
    fix_holds("L11", None, || {
        let t = Arc::new(table());
        {
            let n = t.lookup_or_create(KEY, DEV).unwrap();
            t.update(&n, Some(&MAC_A), NudState::STALE, UpdateFlags::OVERRIDE)
                .unwrap();
        }
        let t1 = t.clone();
        let a = loom::thread::spawn(move || {
            t1.resolve_output(KEY, DEV, Pkt(0));
        });
        t.set_device_parms(DEV, new_parms()).unwrap();
        a.join().unwrap();
        match t.timers().next_expiry() {
            Some(w) if w == START + 300 => SEEN.mark(false),
            Some(w) if w == START + 700 => SEEN.mark(true),
            w => panic!("DELAY armed with a mixed or no snapshot: {w:?}"),
        }
        run_all_timers(&t);
        t.flush_dev(None);
        let s = t.stats();
        assert_eq!((s.allocs, s.destroys), (1, 1), "{s:?}");
        assert_eq!(t.ops().fates(0), vec!["sent"]);
    });
    assert!(SEEN.both(), "the model did not explore both orders");
}

/// L12: a reply (`neigh_update`, INCOMPLETE -> REACHABLE) vs the timer
/// handler (INCOMPLETE -> FAILED, budget spent) on one entry, with a
/// subscriber: every event continues the previous one (old state = the
/// previous new state), numbers increase, and the last event's state is the
/// entry's state.
pub fn l12_scenario(broken: bool, seen: &Seen) {
    let t = Arc::new(table());
    t.break_rule(Rule::EventsUnderLock, broken);
    t.resolve_output(KEY, DEV, Pkt(0));
    let sub = t.subscribe(16, EventFilter::All).unwrap();
    neighcache::trace::clear(); // the race (and its timeline) begins
    let t1 = t.clone();
    let a = loom::thread::spawn(move || {
        let _ = t1.receive_arp(KEY, DEV, &MAC_A, true);
    });
    t.run_timers(START + 300).unwrap();
    a.join().unwrap();
    let mut state = NudState::INCOMPLETE;
    let mut seq = 0;
    let mut n = 0;
    while let Some(r) = sub.try_recv() {
        let Received::Event(e) = r else {
            panic!("lost events")
        };
        assert_eq!(e.kind, EventKind::Change);
        assert!(e.seq > seq, "out of order: {e:?}");
        assert_eq!(e.old_state, state, "does not continue the entry: {e:?}");
        (seq, state, n) = (e.seq, e.state, n + 1);
    }
    // One event (the reply first) or two (the timer failed it first).
    assert!(n == 1 || n == 2, "{n} events");
    seen.mark(n == 2);
    assert_eq!(t.lookup(KEY, DEV).unwrap().state(), state);
    run_all_timers(&t);
    t.flush_dev(None);
    let s = t.stats();
    assert_eq!((s.allocs, s.destroys), (1, 1), "{s:?}");
}

fn l12_events_of_one_entry_stay_in_order_fix_holds() {
    static SEEN: Seen = Seen::new();
    fix_holds("L12", None, || l12_scenario(false, &SEEN));
    assert!(SEEN.both(), "the model did not explore both orders");
}

/// L12 with the handler's event built after unlocking: an event that does
/// not continue the previous one.
fn l12_event_after_unlock_bug_is_found() {
    static SEEN: Seen = Seen::new();
    bug_is_found_with("L12", None, L12_FAILURE, Some(L12_COLUMNS), || {
        l12_scenario(true, &SEEN)
    });
}

/// L19: L10's table, whose device keeps its parameter words in modelled
/// atomics (`model_parms_words`), its readers re-checking the seqlock's
/// sequence count unless `broken` (`Rule::ParmsSeqlockRecheck`). Both
/// switches are taken when the device is registered.
pub fn l19_scenario(broken: bool, seen: &Seen) {
    let t = NeighTable::with_start(test_config(), TestOps::default(), START).unwrap();
    t.model_parms_words(true);
    t.break_rule(Rule::ParmsSeqlockRecheck, broken);
    t.add_device(DEV, DeviceConfig::ethernet(SRC_MAC, 0x0800))
        .unwrap();
    t.gc();
    parms_race(Arc::new(t), seen, L19_FAILURE[0]);
}

/// L19's named failure: the handler's snapshot mixed the words of two
/// writes (the old retransmit time with the new probe budget).
pub const L19_FAILURE: &[&str] = &["re-armed with a torn parameter snapshot"];

/// L19: `set_device_parms` (the seqlock's writer: odd count, Release
/// fence, ten words, Release even count) vs `neigh_timer_handler` reading
/// one snapshot lock-free (Acquire count, ten words, Acquire fence,
/// re-check), every word a loom atomic: each snapshot is old or new, never
/// torn, in every interleaving and every order loom lets the words be seen
/// in. Weakening any of the four orderings tears it
/// (`tools/ordering_mutants.py --sites device.rs`).
fn l19_parms_seqlock_vs_timer_handler_fix_holds() {
    static SEEN: Seen = Seen::new();
    fix_holds("L19", None, || l19_scenario(false, &SEEN));
    assert!(SEEN.both(), "the model did not explore both orders");
}

/// L19 without the re-check: the handler returns the words it loaded while
/// the writer overwrote them, a torn snapshot.
fn l19_torn_parms_snapshot_without_recheck_bug_is_found() {
    static SEEN: Seen = Seen::new();
    bug_is_found_with("L19", None, L19_FAILURE, Some(L10_COLUMNS), || {
        l19_scenario(true, &SEEN)
    });
}

/// This file's tests, in row order.
pub fn tests() -> Vec<Test> {
    crate::tests![
        l10_parms_change_vs_timer_handler_fix_holds,
        l10_two_parameter_snapshots_bug_is_found,
        l11_parms_change_vs_event_send_fix_holds,
        l12_events_of_one_entry_stay_in_order_fix_holds,
        l12_event_after_unlock_bug_is_found,
        l19_parms_seqlock_vs_timer_handler_fix_holds,
        l19_torn_parms_snapshot_without_recheck_bug_is_found,
    ]
}
