//! Race matrix L4 and L7: timers against removal, and the wheel itself;
//! plus the wheel's own rows T1 (concurrent `run_timers` callers) and T2
//! (arming and deleting while a runner is paused mid-cascade), SPEC §7.

use crate::common::*;
use loom::sync::Arc;
use neighcache::timer::{Timer, TimerError, TimerWheel, RUN_BUDGET};
use neighcache::variant::Rule;
use neighcache::{NudState, UpdateFlags};
use std::sync::atomic::{AtomicUsize, Ordering};

/// L4: the timer handler (DELAY -> PROBE, re-arm, probe) runs while the
/// device goes down (`neigh_flush_dev`: del_timer, dead, state reset). The
/// handler must not re-arm a flushed entry; the timer's reference must be
/// released exactly once; nothing leaks. `broken`: the flush leaves the
/// state as it was, so a handler that was already running re-arms.
pub fn l4_scenario(broken: bool) {
    let t = Arc::new(table());
    t.break_rule(Rule::FlushResetsState, broken);
    {
        let n = t.lookup_or_create(KEY, DEV).unwrap();
        t.update(&n, Some(&MAC_A), NudState::STALE, UpdateFlags::OVERRIDE)
            .unwrap();
        t.event_send(&n, None); // STALE -> DELAY, timer at +300
        assert_eq!(n.state(), NudState::DELAY);
    }
    neighcache::trace::clear(); // the race (and its timeline) begins
    let t1 = t.clone();
    let a = loom::thread::spawn(move || {
        t1.run_timers(START + 300).unwrap();
    });
    t.flush_dev(Some(DEV));
    a.join().unwrap();
    assert_eq!(t.timers().pending(), 0, "handler re-armed a flushed entry");
    run_all_timers(&t);
    assert_eq!(t.timers().pending(), 0, "handler re-armed a flushed entry");
    assert!(t.is_empty());
    let s = t.stats();
    assert_eq!((s.allocs, s.destroys), (1, 1), "{s:?}");
}

/// L4's named failure.
pub const L4_FAILURE: &[&str] = &["handler re-armed a flushed entry"];
/// L4's timeline: the flush on CPU0, the timer softirq on CPU1.
pub const L4_COLUMNS: Columns = &[
    ("CPU0: neigh_flush_dev (device down)", Col::Thread(0)),
    ("CPU1", Col::Thread(1)),
    ("timer softirq", Col::Softirq),
];

fn l4_timer_handler_vs_flush_fix_holds() {
    fix_holds("L4", None, || l4_scenario(false));
}

fn l4_flush_without_state_reset_bug_is_found() {
    bug_is_found_with("L4", None, L4_FAILURE, Some(L4_COLUMNS), || {
        l4_scenario(true)
    });
}

/// L7: `mod_timer` migrating a timer to another base while the old base's
/// wheel runs and cascades (tv2 -> tv1). Every arm fires exactly once, the
/// cascade's base check never trips, and nothing stays pending.
fn l7_mod_timer_migration_vs_run_timers_fix_holds() {
    fix_holds("L7", None, || {
        let w = Arc::new(TimerWheel::new(2, 0));
        let tm = Arc::new(Timer::new(7, 0));
        w.add_timer(&tm, 300); // tv2: reaches tv1 through cascade() at tick 256
        let fired = Arc::new(AtomicUsize::new(0));
        neighcache::trace::clear(); // the race (and its timeline) begins
        let (w1, tm1) = (w.clone(), tm.clone());
        let a = loom::thread::spawn(move || w1.mod_timer_on(&tm1, 400, 1));
        let f1 = fired.clone();
        w.run_timers_on(0, 300, |d| {
            assert_eq!(d, 7);
            f1.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        let was_pending = a.join().unwrap();
        let f2 = fired.clone();
        w.run_timers(1000, |_| {
            f2.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        // mod_timer on a pending timer modifies one arm; on a fired one it
        // is a second arm.
        let arms = if was_pending { 1 } else { 2 };
        assert_eq!(fired.load(Ordering::Relaxed), arms);
        assert_eq!(w.pending(), 0);
    });
}

/// L7, two migrators: two `mod_timer_on` calls move one pending timer to
/// two different bases at once. The timer ends up armed once (the later
/// call's arm) and fires once. `broken`: the migration trusts the base it
/// read before taking the locks (no `lock_timer_base` re-check), so a call
/// that lost the race re-arms from a stale handle and the timer is armed
/// on two bases.
pub fn l7_two_migrations(broken: bool) {
    let w = Arc::new(TimerWheel::new(3, 0));
    w.break_rule(Rule::LockTimerBase, broken);
    let tm = Arc::new(Timer::new(7, 0));
    w.add_timer(&tm, 300);
    let (w1, tm1) = (w.clone(), tm.clone());
    let a = loom::thread::spawn(move || w1.mod_timer_on(&tm1, 400, 1));
    w.mod_timer_on(&tm, 500, 2);
    a.join().unwrap();
    let mut fired = 0;
    w.run_timers(1000, |d| {
        assert_eq!(d, 7);
        fired += 1;
    })
    .unwrap();
    assert_eq!(fired, 1, "one timer armed twice (on two bases)");
    assert_eq!(w.pending(), 0);
}

/// L7/2's named failure.
pub const L7_FAILURE: &[&str] = &["one timer armed twice"];
/// L7/2's timeline: two CPUs migrating one timer, then the softirq.
pub const L7_COLUMNS: Columns = &[
    ("CPU0: mod_timer_on(base 2)", Col::Thread(0)),
    ("CPU1: mod_timer_on(base 1)", Col::Thread(1)),
    ("timer softirq", Col::Softirq),
];

fn l7_two_migrations_fix_holds() {
    fix_holds("L7/2", None, || l7_two_migrations(false));
}

fn l7_migration_without_lock_timer_base_bug_is_found() {
    bug_is_found_with("L7/2", None, L7_FAILURE, Some(L7_COLUMNS), || {
        l7_two_migrations(true)
    });
}

/// T1: two `run_timers` callers with different `now` on a two-base wheel.
/// The later tick (20) never fails; the earlier one (10) fails only with
/// `TimeWentBackwards { clk: 20, now: 10 }`, and only if the other caller
/// entered first, so never after it has fired a timer itself (the old wheel
/// failed it when the later caller overtook it on base 1); once both have
/// returned, every timer due by 20 has fired exactly once, whichever caller
/// ran which base.
fn t1_concurrent_run_timers_callers_fix_holds() {
    fix_holds("T1", None, || {
        let w = Arc::new(TimerWheel::new(2, 0));
        let tm = Arc::new([Timer::new(0, 0), Timer::new(1, 1)]);
        w.add_timer(&tm[0], 5);
        w.add_timer(&tm[1], 15);
        let fired = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let (w1, f1) = (w.clone(), fired.clone());
        let a = loom::thread::spawn(move || {
            let mut by_a = 0;
            let r = w1.run_timers(10, |d| {
                f1[d].fetch_add(1, Ordering::Relaxed);
                by_a += 1;
            });
            (r, by_a)
        });
        let rb = w.run_timers(20, |d| {
            fired[d].fetch_add(1, Ordering::Relaxed);
        });
        let (ra, by_a) = a.join().unwrap();
        assert!(rb.is_ok(), "{rb:?}");
        match ra {
            Ok(_) => {}
            Err(TimerError::TimeWentBackwards { clk: 20, now: 10 }) => {
                // A failed at entry, before running anything.
                assert_eq!(by_a, 0, "A failed after running a timer");
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
        for (i, f) in fired.iter().enumerate() {
            assert_eq!(f.load(Ordering::Relaxed), 1, "timer {i}");
        }
        assert_eq!(w.pending(), 0);
    });
}

/// T2: a runner cascades `RUN_BUDGET + 1` timers out of one tv2 slot, so it
/// releases the base lock once mid-cascade; meanwhile another thread deletes
/// one of those timers, re-arms another and arms a new one. Every arming
/// fires exactly once, at its tick, or is deleted.
fn t2_arming_during_a_paused_cascade_fix_holds() {
    const N: usize = RUN_BUDGET as usize + 1;
    fix_holds("T2", None, || {
        let w = Arc::new(TimerWheel::new(1, 0));
        let tm: Arc<Vec<Timer>> = Arc::new((0..=N).map(|i| Timer::new(i, 0)).collect());
        for t in &tm[..N] {
            w.add_timer(t, 300); // tv2 slot 1, cascaded at tick 256
        }
        let (w1, tm1) = (w.clone(), tm.clone());
        let a = loom::thread::spawn(move || {
            let deleted = w1.del_timer(&tm1[N - 1]);
            let rearmed = w1.mod_timer(&tm1[0], 290);
            w1.add_timer(&tm1[N], 280);
            (deleted, rearmed)
        });
        let fired: Vec<AtomicUsize> = (0..=N).map(|_| AtomicUsize::new(0)).collect();
        let at: Vec<AtomicUsize> = (0..=N).map(|_| AtomicUsize::new(0)).collect();
        let run = |now| {
            w.run_timers_ticked(now, |d, tick| {
                fired[d].fetch_add(1, Ordering::Relaxed);
                at[d].store(tick as usize, Ordering::Relaxed);
            })
            .unwrap();
        };
        run(270);
        let (deleted, rearmed) = a.join().unwrap();
        run(1000);
        // Nothing was due by 270, so both calls found their timers pending.
        assert!(deleted && rearmed);
        for i in 0..=N {
            let (f, t) = (
                fired[i].load(Ordering::Relaxed),
                at[i].load(Ordering::Relaxed),
            );
            let want = match i {
                _ if i == N - 1 => (0, 0),
                0 => (1, 290),
                _ if i == N => (1, 280),
                _ => (1, 300),
            };
            assert_eq!((f, t), want, "timer {i}");
        }
        assert_eq!(w.pending(), 0);
        assert!(w.work().lock_breaks >= 1);
    });
}

/// This file's tests, in row order.
pub fn tests() -> Vec<Test> {
    crate::tests![
        l4_timer_handler_vs_flush_fix_holds,
        l4_flush_without_state_reset_bug_is_found,
        l7_mod_timer_migration_vs_run_timers_fix_holds,
        l7_two_migrations_fix_holds,
        l7_migration_without_lock_timer_base_bug_is_found,
        t1_concurrent_run_timers_callers_fix_holds,
        t2_arming_during_a_paused_cascade_fix_holds
    ]
}
