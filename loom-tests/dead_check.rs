//! Race matrix L1-L3: a lock-free (`lookup_noref`) user modifies an entry
//! that a concurrent GC pass has unlinked and released — the 2015 kernel
//! race (commit 2c51a97f76d2, "neigh: do not modify unlinked entries").
//!
//! Each row runs twice over the same scenario: with the pre-2015 logic the
//! model must find the named failure (the timer armed on an entry whose last
//! reference was gone; the wheel reports it in `cascade()` once the entry's
//! memory is reclaimed, as the kernel's `BUG_ON` did), and with the fix every
//! interleaving must pass. The bug test prints the failing execution as a
//! kernel-named timeline (CPU0 | CPU1 | timer softirq); the fix test then
//! replays that schedule under the fix and shows where it diverges.

use crate::common::*;

fn l1_noref_event_send_vs_gc_bug_is_found() {
    bug_is_found_with("L1", None, DESTROYED, Some(COLUMNS), || {
        dead_check_scenario(Act::Output, true)
    });
}

fn l1_noref_event_send_vs_gc_fix_holds() {
    fix_holds("L1", None, || dead_check_scenario(Act::Output, false));
    replay_under_fix(
        "L1",
        DESTROYED,
        COLUMNS,
        || dead_check_scenario(Act::Output, true),
        || dead_check_scenario(Act::Output, false),
        false,
    );
}

fn l2_update_vs_removal_bug_is_found() {
    bug_is_found_with("L2", None, DESTROYED, Some(COLUMNS), || {
        dead_check_scenario(Act::Update, true)
    });
}

fn l2_update_vs_removal_fix_holds() {
    fix_holds("L2", None, || dead_check_scenario(Act::Update, false));
    replay_under_fix(
        "L2",
        DESTROYED,
        COLUMNS,
        || dead_check_scenario(Act::Update, true),
        || dead_check_scenario(Act::Update, false),
        false,
    );
}

fn l3_set_probe_once_vs_removal_bug_is_found() {
    bug_is_found_with("L3", None, DESTROYED, Some(COLUMNS), || {
        dead_check_scenario(Act::ProbeOnce, true)
    });
}

fn l3_set_probe_once_vs_removal_fix_holds() {
    fix_holds("L3", None, || dead_check_scenario(Act::ProbeOnce, false));
    replay_under_fix(
        "L3",
        DESTROYED,
        COLUMNS,
        || dead_check_scenario(Act::ProbeOnce, true),
        || dead_check_scenario(Act::ProbeOnce, false),
        false,
    );
}

/// This file's tests, in row order.
pub fn tests() -> Vec<Test> {
    crate::tests![
        l1_noref_event_send_vs_gc_bug_is_found,
        l1_noref_event_send_vs_gc_fix_holds,
        l2_update_vs_removal_bug_is_found,
        l2_update_vs_removal_fix_holds,
        l3_set_probe_once_vs_removal_bug_is_found,
        l3_set_probe_once_vs_removal_fix_holds
    ]
}
