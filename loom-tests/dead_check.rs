//! Race matrix L1-L3: a lock-free (`lookup_noref`) user modifies an entry
//! that a concurrent GC pass has unlinked and released — the 2015 kernel
//! race (commit 2c51a97f76d2, "neigh: do not modify unlinked entries").
//!
//! Each row runs twice over the same scenario: with the pre-2015 logic the
//! model must find the named failure (the timer armed on an entry whose last
//! reference was gone; the wheel reports it in `cascade()` once the entry's
//! memory is reclaimed, as the kernel's `BUG_ON` did), and with the fix every
//! interleaving must pass.

mod common;
use common::*;
use loom::sync::Arc;
use neighcache::{NudState, UpdateFlags};

/// What thread A does with the entry it found without a reference.
#[derive(Clone, Copy)]
enum Act {
    /// `dst_neigh_output` -> `neigh_resolve_output` -> `__neigh_event_send`.
    Output,
    /// `neigh_update` (an ARP reply handled through a noref lookup).
    Update,
    /// `__neigh_set_probe_once`.
    ProbeOnce,
}

fn scenario(act: Act, bug: bool) {
    let t = Arc::new(table(tiny_config()));
    t.set_bug_variant(bug);
    {
        let n = t.lookup_or_create(KEY, DEV).unwrap();
        match act {
            Act::Output | Act::Update => t
                .update(&n, Some(&MAC), NudState::STALE, UpdateFlags::OVERRIDE)
                .unwrap(),
            // FAILED entries are what set_probe_once revives.
            Act::ProbeOnce => t
                .update(&n, None, NudState::FAILED, UpdateFlags::ADMIN)
                .unwrap(),
        }
    }
    // Let the entry go stale (gc_staletime is 1 tick).
    t.run_timers(START + 10).unwrap();
    let t1 = t.clone();
    let a = loom::thread::spawn(move || {
        let g = t1.pin();
        if let Some(n) = t1.lookup_noref(KEY, DEV, &g) {
            match act {
                Act::Output => {
                    t1.output(n, Pkt(1), &g);
                }
                Act::Update => {
                    let _ = t1.update(
                        n,
                        Some(&[2, 0, 0, 0, 0, 3]),
                        NudState::REACHABLE,
                        UpdateFlags::OVERRIDE,
                    );
                }
                Act::ProbeOnce => t1.set_probe_once(n),
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
        t.timer_wheel().pending(),
        0,
        "timer left armed on a removed entry"
    );
}

#[test]
fn l1_noref_event_send_vs_gc_bug_is_found() {
    bug_is_found("L1", None, DESTROYED, || scenario(Act::Output, true));
}

#[test]
fn l1_noref_event_send_vs_gc_fix_holds() {
    fix_holds("L1", None, || scenario(Act::Output, false));
}

#[test]
fn l2_update_vs_removal_bug_is_found() {
    bug_is_found("L2", None, DESTROYED, || scenario(Act::Update, true));
}

#[test]
fn l2_update_vs_removal_fix_holds() {
    fix_holds("L2", None, || scenario(Act::Update, false));
}

#[test]
fn l3_set_probe_once_vs_removal_bug_is_found() {
    bug_is_found("L3", None, DESTROYED, || scenario(Act::ProbeOnce, true));
}

#[test]
fn l3_set_probe_once_vs_removal_fix_holds() {
    fix_holds("L3", None, || scenario(Act::ProbeOnce, false));
}
