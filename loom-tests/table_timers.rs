//! Race matrix T3: the concurrent-caller contract of `run_timers` at the
//! table level (SPEC.md §7, "Concurrent `run_timers` callers", and the
//! `NeighTable::run_timers` docs). T1 checks it on a bare `TimerWheel`; the
//! table adds its own clock (`jiffies`, a `fetch_max`) in front of the
//! wheel's, and maps the wheel's "overtaken" answer to `Ok(0)`.

use crate::common::*;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use neighcache::variant::Rule;
use neighcache::{NeighError, NudState, TableConfig};

/// T3: two `run_timers` callers on a table whose entry timer is due at
/// `due` (an INCOMPLETE entry out of probes: its handler fails it and
/// re-arms nothing), on a two-base wheel. The later call (`due + 100`)
/// never fails. The earlier one (`due`) either succeeds (`Ok(0)` if the
/// later call overtook it on the wheel) or fails with `TimeWentBackwards {
/// jiffies: due + 100, .. }`, and only when the table clock was already
/// past its `now` when it started; a failed call fired nothing. Whichever caller runs the handler, it runs once, the counts the
/// two calls return add up to one, the queued packet is reported once, and
/// the clock ends at the later tick.
pub fn t3_scenario(broken: bool) {
    let t = Arc::new(table_with(TableConfig {
        timer_bases: 2,
        ..test_config()
    }));
    t.break_rule(Rule::OvertakenCallerOk, broken);
    assert_eq!(t.resolve_output(KEY, DEV, Pkt(0)), neighcache::Xmit::Queued);
    let due = t.timers().next_expiry().expect("the resolution timer");
    // The table clock is a `sync::plain` atomic, which loom does not
    // see: without a modelled access before it, loom would never run the
    // two calls' clock steps in the other order. Both callers pass this
    // gate first, so both orders (and every interleaving after them)
    // are explored.
    let gate = Arc::new(AtomicUsize::new(0));
    let (t1, g1) = (t.clone(), gate.clone());
    let early = loom::thread::spawn(move || {
        g1.fetch_add(1, Ordering::Relaxed);
        // The clock as the call starts: loom schedules only at modelled
        // operations, so nothing runs between this read and the call's
        // own read of the clock (both plain).
        let clock = t1.jiffies();
        (clock, t1.run_timers(due))
    });
    gate.fetch_add(1, Ordering::Relaxed);
    let late = t.run_timers(due + 100);
    let (clock, early) = early.join().unwrap();
    let fired_late = late.expect("the later caller never fails");
    let fired_early = match early {
        Ok(n) => n,
        Err(NeighError::TimeWentBackwards { jiffies, now }) => {
            assert_eq!((jiffies, now), (due + 100, due));
            assert_eq!(clock, due + 100, "failed though the clock was not past it");
            0
        }
        Err(e) => panic!("unexpected {e:?}"),
    };
    assert_eq!(fired_early + fired_late, 1, "{early:?} {fired_late}");
    assert_eq!(t.jiffies(), due + 100);
    assert_eq!(t.timers().pending(), 0);
    assert_eq!(t.ops().fates(0), ["error_report"]);
    let n = t.lookup(KEY, DEV).expect("still linked");
    assert_eq!(n.state(), NudState::FAILED);
    drop(n);
    t.flush_dev(None);
    let s = t.stats();
    assert_eq!(s.allocs, s.destroys, "{s:?}");
}

fn t3_concurrent_table_run_timers_callers_fix_holds() {
    fix_holds("T3", None, || t3_scenario(false));
}

/// T3's named failure.
pub const T3_FAILURE: &[&str] = &["failed though the clock was not past it"];
/// T3's timeline: the later caller on CPU0, the earlier one on CPU1.
pub const T3_COLUMNS: Columns = &[
    ("CPU0: run_timers(due + 100)", Col::Thread(0)),
    ("CPU1: run_timers(due)", Col::Thread(1)),
];

/// T3 with the overtaken caller reported as late: it fails although the
/// table's clock had not passed its `now` when it started.
fn t3_overtaken_caller_reported_late_bug_is_found() {
    bug_is_found_with("T3", None, T3_FAILURE, Some(T3_COLUMNS), || {
        t3_scenario(true)
    });
}

/// This file's tests, in row order.
pub fn tests() -> Vec<Test> {
    crate::tests![
        t3_concurrent_table_run_timers_callers_fix_holds,
        t3_overtaken_caller_reported_late_bug_is_found,
    ]
}
