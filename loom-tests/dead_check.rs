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

#[test]
fn l1_noref_event_send_vs_gc_bug_is_found() {
    bug_is_found("L1", None, DESTROYED, || {
        dead_check_scenario(Act::Output, true)
    });
}

#[test]
fn l1_noref_event_send_vs_gc_fix_holds() {
    fix_holds("L1", None, || dead_check_scenario(Act::Output, false));
}

#[test]
fn l2_update_vs_removal_bug_is_found() {
    bug_is_found("L2", None, DESTROYED, || {
        dead_check_scenario(Act::Update, true)
    });
}

#[test]
fn l2_update_vs_removal_fix_holds() {
    fix_holds("L2", None, || dead_check_scenario(Act::Update, false));
}

#[test]
fn l3_set_probe_once_vs_removal_bug_is_found() {
    bug_is_found("L3", None, DESTROYED, || {
        dead_check_scenario(Act::ProbeOnce, true)
    });
}

#[test]
fn l3_set_probe_once_vs_removal_fix_holds() {
    fix_holds("L3", None, || dead_check_scenario(Act::ProbeOnce, false));
}
