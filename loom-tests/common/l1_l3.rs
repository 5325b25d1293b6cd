//! The L1-L3 scenario (SPEC.md §8): a lock-free (`lookup_noref`) user
//! modifies an entry while a GC pass unlinks and releases it. Shared by
//! `dead_check.rs` (model RCU, bug and fix) and `real_epoch.rs` (real
//! crossbeam-epoch, fix).

use super::*;
use loom::sync::Arc;
use neighcache::{NudState, UpdateFlags};

/// The named failures of the pre-2015 logic.
pub const DESTROYED: &[&str] = &[
    "armed timer on a destroyed object",
    "neigh_destroy: double destroy",
    "rcu: double retire",
    "rcu: use after grace period",
];

/// The L1-L3 timeline's columns: the main model thread is the CPU running
/// GC, thread 1 the CPU with the lock-free user, and the timer softirq (on
/// whichever thread runs the wheel) has its own column.
pub const COLUMNS: Columns = &[
    ("CPU0: neigh_periodic_work (GC)", Col::Thread(0)),
    ("CPU1: lock-free user (noref)", Col::Thread(1)),
    ("timer softirq", Col::Softirq),
];

/// What thread A does with the entry it found without a reference.
#[derive(Clone, Copy)]
pub enum Act {
    /// `dst_neigh_output` -> `neigh_resolve_output` -> `__neigh_event_send`.
    Output,
    /// `neigh_update` (an ARP reply handled through a noref lookup).
    Update,
    /// `__neigh_set_probe_once`.
    ProbeOnce,
}

/// The L1-L3 scenario: thread A modifies an entry found by `lookup_noref`
/// while the main thread's GC pass unlinks and releases it; then the wheel
/// runs past every timer and the table is torn down. `bug` selects the
/// pre-2015 logic (model builds only).
pub fn dead_check_scenario(act: Act, bug: bool) {
    let t = Arc::new(table());
    if bug {
        t.set_bug_variant(true);
    }
    {
        let n = t.lookup_or_create(KEY, DEV).unwrap();
        match act {
            Act::Output | Act::Update => t
                .update(&n, Some(&MAC_A), NudState::STALE, UpdateFlags::OVERRIDE)
                .unwrap(),
            // FAILED entries are what set_probe_once revives.
            Act::ProbeOnce => t
                .update(&n, None, NudState::FAILED, UpdateFlags::ADMIN)
                .unwrap(),
        }
    }
    // Let the entry go stale (gc_staletime is 1 tick).
    t.run_timers(START + 10).unwrap();
    // The race begins: the timeline starts here.
    neighcache::trace::clear();
    let t1 = t.clone();
    let a = loom::thread::spawn(move || {
        let g = t1.pin();
        if let Some(n) = t1.lookup_noref(KEY, DEV, &g) {
            match act {
                Act::Output => {
                    t1.output(n, Pkt(1), &g);
                }
                Act::Update => {
                    let _ = t1.update(n, Some(&MAC_B), NudState::REACHABLE, UpdateFlags::OVERRIDE);
                }
                Act::ProbeOnce => {
                    let _ = t1.set_probe_once(n);
                }
            }
        }
    });
    // Thread B: the periodic GC pass (`neigh_periodic_work`).
    t.gc();
    a.join().unwrap();
    // Let the wheel reach every armed timer (this is where a timer armed on
    // a destroyed entry is caught, in cascade()).
    run_all_timers(&t);
    // Fixed code: nothing leaked, the packet (if sent to output) went somewhere.
    if matches!(act, Act::Output) {
        let f = t.ops().fates(1);
        assert!(f.len() <= 1, "packet 1 delivered twice: {f:?}");
    }
    t.flush_dev(None);
    let s = t.stats();
    assert_eq!(s.allocs, s.destroys, "entry leaked: {s:?}");
    assert_eq!(
        t.timers().pending(),
        0,
        "timer left armed on a removed entry"
    );
}
