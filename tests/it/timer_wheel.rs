//! Unit-level tests of the cascading timer wheel through its public API:
//! level boundaries, wraps, far expiries and the tick domain, huge jumps,
//! re-arming, deleting while running, migration, the owner-destroyed
//! checks, panicking handlers and passing a timer to the wrong wheel.
//! (Tests with real threads are in `timer_stress.rs`.)
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::sync::atomic::{AtomicUsize, Ordering};

use neighcache::timer::{
    Tick, Timer, TimerError, TimerWheel, MAX_TICK, MAX_TIMERS_PER_BASE, MAX_TVAL, WHEEL_LEVELS,
};

/// Run `w` to `now`, returning `(data, tick)` of each fired timer.
fn run(w: &TimerWheel, now: Tick) -> Vec<(usize, Tick)> {
    let mut v = Vec::new();
    w.run_timers_ticked(now, |d, t| v.push((d, t))).unwrap();
    v
}

/// Arm one timer at `start + delta` and check it fires exactly then.
fn fires_exactly(start: Tick, delta: Tick) {
    let w = TimerWheel::new(1, start);
    let t = Timer::new(7, 0);
    let e = start + delta;
    w.add_timer(&t, e);
    assert!(w.timer_pending(&t));
    assert_eq!(w.next_expiry(), Some(e));
    if delta > 0 {
        assert_eq!(run(&w, e - 1), vec![], "start {start} delta {delta}");
        assert!(w.timer_pending(&t));
    }
    assert_eq!(run(&w, e), vec![(7, e)], "start {start} delta {delta}");
    assert!(!w.timer_pending(&t));
    assert_eq!(w.pending(), 0);
    assert_eq!(run(&w, e.saturating_add(1 << 33).min(MAX_TICK)), vec![]);
}

const BOUNDARIES: [Tick; 14] = [
    0,
    1,
    255,
    256,
    257,
    (1 << 14) - 1,
    1 << 14,
    (1 << 20) - 1,
    1 << 20,
    (1 << 26) - 1,
    1 << 26,
    (1 << 32) - 1,
    1 << 32,
    (1 << 32) + 1,
];

#[test]
fn level_boundaries_from_zero() {
    for d in BOUNDARIES {
        fires_exactly(0, d);
    }
}

#[test]
fn level_boundaries_from_unaligned_start() {
    for start in [
        1,
        200,
        12_345,
        (1 << 20) + 77,
        (1 << 32) - 3,
        0xdead_beef_cafe,
    ] {
        for d in BOUNDARIES {
            fires_exactly(start, d);
        }
    }
}

#[test]
fn wrap_of_every_level() {
    // Start just before each level's index wraps and arm timers that land on
    // both sides of the wrap.
    for shift in [8u32, 14, 20, 26, 32] {
        let start = (1u64 << shift) - 3;
        for d in [1, 2, 3, 4, 255, 256, 300, (1 << 14) + 5, (1 << 20) + 9] {
            fires_exactly(start, d);
        }
        // Also with several timers at once and a tick-by-tick run.
        let w = TimerWheel::new(1, start);
        let timers: Vec<Timer> = (0..600).map(|i| Timer::new(i, 0)).collect();
        for (i, t) in timers.iter().enumerate() {
            w.add_timer(t, start + i as Tick);
        }
        for i in 0..600u64 {
            assert_eq!(run(&w, start + i), vec![(i as usize, start + i)]);
        }
        assert_eq!(w.pending(), 0);
    }
}

#[test]
fn far_timers_fire_at_their_expiry() {
    // Every level's boundary up to the top of the domain, from several starts.
    let mut deltas = vec![1 << 33, (1 << 36) + 12_345, MAX_TVAL];
    for shift in (38..=56).step_by(6) {
        deltas.extend([(1u64 << shift) - 1, 1 << shift, (1 << shift) + 1]);
    }
    for start in [0, 999, (1 << 56) - 1, MAX_TICK / 2 + 3] {
        for &d in &deltas {
            if let Some(e) = start.checked_add(d).filter(|&e| e <= MAX_TICK) {
                fires_exactly(start, e - start);
            }
        }
    }
    // The one expiry beyond MAX_TVAL inside the domain: MAX_TICK from 0.
    fires_exactly(0, MAX_TVAL + 1);
    fires_exactly(MAX_TICK - 1, 1);
    fires_exactly(MAX_TICK, 0);
    assert_eq!(WHEEL_LEVELS, 10);
}

#[test]
fn expired_timer_goes_to_current_slot() {
    let w = TimerWheel::new(1, 0);
    assert_eq!(run(&w, 1000), vec![]);
    let t = Timer::new(1, 0);
    w.add_timer(&t, 10); // in the past
    assert_eq!(w.next_expiry(), Some(10));
    assert_eq!(run(&w, 1000), vec![]); // tick 1000 already processed
    assert_eq!(run(&w, 1001), vec![(1, 1001)]);
}

#[test]
fn time_went_backwards() {
    let w = TimerWheel::new(2, 100);
    assert_eq!(w.run_timers(100, |_| {}), Ok(0));
    assert_eq!(w.run_timers(500, |_| {}), Ok(0));
    assert_eq!(
        w.run_timers(499, |_| {}),
        Err(TimerError::TimeWentBackwards { clk: 500, now: 499 })
    );
    assert_eq!(
        w.run_timers_on(1, 499, |_| {}),
        Err(TimerError::TimeWentBackwards { clk: 500, now: 499 })
    );
    assert_eq!(w.clk(0), 500);
    // The clock is per wheel: a base that never ran is still checked
    // against the latest tick asked of any base.
    assert_eq!(w.run_timers_on(0, 600, |_| {}), Ok(0));
    assert_eq!(
        w.run_timers_on(1, 550, |_| {}).unwrap_err().to_string(),
        "run_timers: time went backwards (clk 600, now 550)"
    );
    assert_eq!((w.clk(0), w.clk(1)), (600, 500));
}

#[test]
fn rearm_while_pending() {
    let w = TimerWheel::new(1, 0);
    let t = Timer::new(3, 0);
    assert!(!w.mod_timer(&t, 5000));
    assert!(w.mod_timer(&t, 5000)); // same expiry: cheap, still pending
    assert!(w.mod_timer(&t, 300));
    assert!(w.mod_timer(&t, 70_000));
    assert_eq!(w.pending(), 1);
    assert_eq!(run(&w, 69_999), vec![]);
    assert_eq!(run(&w, 70_000), vec![(3, 70_000)]);
    assert!(!w.mod_timer(&t, 70_001));
    assert_eq!(run(&w, 80_000), vec![(3, 70_001)]);
}

#[test]
#[should_panic(expected = "add_timer: timer already pending")]
fn add_timer_on_pending_panics() {
    let w = TimerWheel::new(1, 0);
    let t = Timer::new(3, 0);
    w.add_timer(&t, 10);
    w.add_timer(&t, 20);
}

#[test]
fn del_timer_and_pending() {
    let w = TimerWheel::new(1, 0);
    let t = Timer::new(3, 0);
    assert!(!w.timer_pending(&t));
    assert!(!w.del_timer(&t));
    assert!(!w.del_timer_sync(&t));
    w.add_timer(&t, 1 << 20);
    assert!(w.del_timer(&t));
    assert!(!w.del_timer(&t));
    assert_eq!(w.pending(), 0);
    assert_eq!(run(&w, 1 << 21), vec![]);
    // After an expiry the timer is no longer pending and can be re-added.
    w.add_timer(&t, (1 << 21) + 5);
    assert_eq!(run(&w, 1 << 22), vec![(3, (1 << 21) + 5)]);
    assert!(!w.timer_pending(&t));
    assert!(!w.del_timer(&t));
    w.add_timer(&t, 1 << 23);
    assert!(w.timer_pending(&t));
}

#[test]
fn set_data_and_size() {
    let mut t = Timer::new(1, 0);
    t.set_data(42);
    assert_eq!(t.data(), 42);
    assert!(std::mem::size_of::<Timer>() <= 16);
    let w = TimerWheel::new(1, 0);
    w.add_timer(&t, 1);
    assert_eq!(run(&w, 1), vec![(42, 1)]);
}

#[test]
fn handler_rearms_itself() {
    let w = TimerWheel::new(1, 0);
    let t = Timer::new(9, 0);
    w.add_timer(&t, 10);
    let mut fired = Vec::new();
    let n = w
        .run_timers_ticked(100, |d, tick| {
            fired.push(tick);
            if tick < 50 {
                assert!(!w.mod_timer(&t, tick + 20));
                assert!(w.timer_pending(&t));
            }
            let _ = d;
        })
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(fired, vec![10, 30, 50]);
    assert!(!w.timer_pending(&t));
}

#[test]
fn handler_deletes_other_timer_in_same_tick() {
    let w = TimerWheel::new(1, 0);
    let a = Timer::new(1, 0);
    let b = Timer::new(2, 0);
    w.add_timer(&a, 10);
    w.add_timer(&b, 10);
    let mut fired = Vec::new();
    w.run_timers(10, |d| {
        fired.push(d);
        if d == 1 {
            assert!(w.del_timer(&b)); // detached on the work list, still pending
        }
    })
    .unwrap();
    assert_eq!(fired, vec![1]);
}

#[test]
fn migration_between_bases() {
    let w = TimerWheel::new(4, 0);
    let t = Timer::new(11, 1);
    assert!(!w.mod_timer(&t, 1000)); // home base 1
    assert_eq!(w.run_timers_on(0, 999, |_| {}), Ok(0));
    assert!(w.mod_timer_on(&t, 2000, 3)); // migrate 1 -> 3
    assert!(w.mod_timer_on(&t, 2000, 0)); // same expiry: stays on 3
    assert!(w.mod_timer_on(&t, 300_000, 0)); // 3 -> 0 (lower index)
    assert_eq!(w.pending(), 1);
    for b in 1..4 {
        assert_eq!(w.run_timers_on(b, 400_000, |_| panic!("wrong base")), Ok(0));
    }
    let mut got = Vec::new();
    w.run_timers_on_ticked(0, 400_000, |d, tick| got.push((d, tick)))
        .unwrap();
    assert_eq!(got, vec![(11, 300_000)]);
    // Idle timer armed on another base through mod_timer_on.
    assert!(!w.mod_timer_on(&t, 400_010, 2));
    assert_eq!(w.run_timers_on(0, 500_000, |_| panic!("wrong base")), Ok(0));
    assert_eq!(w.run_timers_on(2, 500_000, |_| {}), Ok(1));
    // Home base modulo the number of bases.
    let h = Timer::new(0, 6);
    w.add_timer(&h, 500_001);
    assert_eq!(w.run_timers_on(2, 500_001, |_| {}), Ok(1));
}

#[test]
fn timer_destroyed_when_idle_is_a_no_op() {
    let w = TimerWheel::new(1, 0);
    let t = Timer::new(1, 0);
    w.timer_destroyed(&t);
    w.add_timer(&t, 5);
    assert!(w.del_timer(&t));
    w.timer_destroyed(&t);
    w.add_timer(&t, 5);
    assert_eq!(run(&w, 5), vec![(1, 5)]);
    w.timer_destroyed(&t);
    assert_eq!(run(&w, 1 << 30), vec![]);
}

#[test]
#[should_panic(expected = "run_timers: armed timer on a destroyed object")]
fn destroyed_owner_detected_at_expiry() {
    let w = TimerWheel::new(1, 0);
    let t = Box::new(Timer::new(1, 0));
    w.add_timer(&t, 100);
    w.timer_destroyed(&t);
    drop(t); // the owner's memory goes away; the wheel never touches it
    let _ = w.run_timers(1000, |_| panic!("handler called with a dangling argument"));
}

#[test]
#[should_panic(expected = "timer cascade: armed timer on a destroyed object")]
fn destroyed_owner_detected_at_cascade() {
    let w = TimerWheel::new(2, 0);
    let t = Box::new(Timer::new(1, 1));
    w.add_timer(&t, 5000); // tv2
    w.timer_destroyed(&t);
    drop(t);
    let _ = w.run_timers(10_000, |_| panic!("handler called"));
}

#[test]
#[should_panic(expected = "timer cascade: armed timer on a destroyed object")]
fn destroyed_flag_survives_migration() {
    let w = TimerWheel::new(2, 0);
    let t = Timer::new(1, 0);
    w.add_timer(&t, 5000);
    w.timer_destroyed(&t);
    assert!(w.mod_timer_on(&t, 6000, 1));
    let _ = w.run_timers(10_000, |_| {});
}

#[test]
fn many_timers_same_slot_and_next_expiry() {
    let w = TimerWheel::new(1, 0);
    let timers: Vec<Timer> = (0..1000).map(|i| Timer::new(i, 0)).collect();
    for (i, t) in timers.iter().enumerate() {
        w.add_timer(t, 5000 + (i as Tick % 7) * 100_000);
    }
    assert_eq!(w.pending(), 1000);
    assert_eq!(w.next_expiry(), Some(5000));
    let count = AtomicUsize::new(0);
    w.run_timers(5000, |_| {
        count.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(count.load(Ordering::Relaxed), 143);
    assert_eq!(w.next_expiry(), Some(105_000));
    assert_eq!(w.run_timers(700_000, |_| {}), Ok(857));
    assert_eq!(w.next_expiry(), None);
}

#[test]
fn panicking_handler_leaves_the_base_usable() {
    let w = TimerWheel::new(1, 0);
    let timers: Vec<Timer> = (0..6).map(|i| Timer::new(i, 0)).collect();
    for t in &timers[..5] {
        w.add_timer(t, 5); // fire in arming order: 0, 1, .., 4
    }
    w.add_timer(&timers[5], 6);
    // Timer 1 re-arms itself and then panics; 2..=4 are still on the work
    // list when the panic unwinds out of run_timers.
    let mut got = Vec::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = w.run_timers_ticked(5, |d, tick| {
            got.push((d, tick));
            if d == 1 {
                assert!(!w.mod_timer(&timers[1], 7));
                panic!("boom");
            }
        });
    }));
    assert!(r.is_err());
    assert_eq!(got, vec![(0, 5), (1, 5)]);
    // Nothing RUNNING, nothing leaked: every node in use is pending.
    assert_eq!(w.pending(), 5);
    assert_eq!(w.work().in_use, 5);
    assert!(w.timer_pending(&timers[1]));
    assert!((2..6).all(|i| w.timer_pending(&timers[i])));
    // The work list fires on the next run, at the tick it was due.
    assert_eq!(run(&w, 5), vec![(2, 5), (3, 5), (4, 5)]);
    // A handler that panics without re-arming: its node is freed.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = w.run_timers(6, |_| panic!("boom again"));
    }));
    assert!(r.is_err());
    assert!(!w.timer_pending(&timers[5]));
    assert!(!w.del_timer_sync(&timers[5])); // not RUNNING: returns at once
    assert_eq!((w.pending(), w.work().in_use), (1, 1));
    assert_eq!(run(&w, 7), vec![(1, 7)]);
    assert_eq!((w.pending(), w.work().in_use), (0, 0));
    // The base runs and re-arms as usual afterwards.
    w.add_timer(&timers[5], 300);
    assert_eq!(run(&w, 1000), vec![(5, 300)]);
    assert_eq!(w.work().in_use, 0);
}

#[test]
fn now_beyond_the_domain_is_rejected_by_every_run_variant() {
    let w = TimerWheel::new(2, 10);
    let t = Timer::new(1, 0);
    w.add_timer(&t, 20);
    for now in [MAX_TICK + 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
        let want = Err(TimerError::TickOutOfRange {
            tick: now,
            max: MAX_TICK,
        });
        assert_eq!(w.run_timers(now, |_| panic!("fired")), want);
        assert_eq!(w.run_timers_ticked(now, |_, _| panic!("fired")), want);
        assert_eq!(w.run_timers_on(1, now, |_| panic!("fired")), want);
        assert_eq!(w.run_timers_on_ticked(0, now, |_, _| panic!("fired")), want);
    }
    // Rejected calls change nothing: the clock did not move.
    assert_eq!((w.clk(0), w.clk(1)), (10, 10));
    assert_eq!(run(&w, 20), vec![(1, 20)]);
    assert_eq!(w.run_timers(MAX_TICK, |_| {}), Ok(0));
    assert_eq!(w.run_timers(MAX_TICK, |_| {}), Ok(0));
    let e = w.run_timers(MAX_TICK + 1, |_| {}).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "timer wheel: tick {} is beyond MAX_TICK ({MAX_TICK})",
            MAX_TICK + 1
        )
    );
}

#[test]
fn constructors_check_the_start_tick_and_base_count() {
    for start in [MAX_TICK + 1, u64::MAX] {
        let e = TimerWheel::try_with_capacity(3, start, 8).unwrap_err();
        assert_eq!(
            e,
            TimerError::TickOutOfRange {
                tick: start,
                max: MAX_TICK
            }
        );
    }
    for bases in [0, 257] {
        let e: Box<dyn std::error::Error> = Box::new(TimerWheel::try_new(bases, 0).unwrap_err());
        assert_eq!(
            e.to_string(),
            format!("TimerWheel: need 1..=256 bases, got {bases}")
        );
    }
    // A wheel may start at the very last tick; a timer due then still fires.
    let w = TimerWheel::try_new(256, MAX_TICK).unwrap();
    let t = Timer::new(4, 255);
    w.add_timer(&t, MAX_TICK);
    assert_eq!(w.clk(255), MAX_TICK);
    assert_eq!(run(&w, MAX_TICK), vec![(4, MAX_TICK)]);
    assert_eq!(MAX_TIMERS_PER_BASE, (1 << 24) - 1);
}

#[test]
#[should_panic(expected = "timer wheel: tick 4611686018427387905 is beyond MAX_TICK")]
fn new_panics_beyond_the_domain() {
    let _ = TimerWheel::new(1, MAX_TICK + 1);
}

/// Arming and re-arming at the extremes of `u64`, from starts up to the
/// last tick (debug builds check every addition for overflow).
#[test]
fn extreme_expiries_never_overflow() {
    let extremes = [
        0,
        1,
        MAX_TICK - 1,
        MAX_TICK,
        MAX_TICK + 1,
        u64::MAX - 1,
        u64::MAX,
    ];
    for start in [0, 1, 12_345, MAX_TICK - 300, MAX_TICK - 1, MAX_TICK] {
        let w = TimerWheel::new(3, start);
        let timers: Vec<Timer> = (0..extremes.len()).map(|i| Timer::new(i, i)).collect();
        for (t, &e) in timers.iter().zip(&extremes) {
            w.add_timer(t, e);
        }
        assert_eq!(w.pending(), extremes.len());
        assert_eq!(w.next_expiry(), Some(0));
        for (i, t) in timers.iter().enumerate() {
            for &e in &extremes {
                assert!(w.mod_timer(t, e));
                assert!(w.mod_timer_on(t, e ^ 1, i + 1));
            }
            assert!(w.mod_timer_on(t, extremes[i], i));
        }
        let mut got = Vec::new();
        w.run_timers_ticked(MAX_TICK, |d, tick| got.push((d, tick)))
            .unwrap();
        got.sort_unstable();
        // Expiries in the domain fire at max(expiry, start); the rest never.
        let want: Vec<(usize, Tick)> = (0..extremes.len())
            .filter(|&i| extremes[i] <= MAX_TICK)
            .map(|i| (i, extremes[i].max(start)))
            .collect();
        assert_eq!(got, want, "start {start}");
        assert_eq!(w.pending(), 3);
        assert_eq!(w.next_expiry(), Some(MAX_TICK + 1));
        // At the end of time even an already-due timer can never fire.
        w.add_timer(&timers[0], MAX_TICK);
        assert_eq!(w.run_timers(MAX_TICK, |_| panic!("fired")), Ok(0));
        assert_eq!(w.next_expiry(), Some(MAX_TICK));
        for t in &timers[..] {
            let _ = w.del_timer(t);
        }
        assert_eq!((w.pending(), w.next_expiry()), (0, None));
    }
}

/// The neighbour table re-arms from its handler relative to the *target*
/// of the run. With a five-level wheel a jump to 2^62 re-cascaded such a
/// timer every 2^32 ticks (about 2^30 times); now the work is bounded by
/// the timers and the levels.
#[test]
fn huge_jump_costs_work_per_timer_not_per_tick() {
    let w = TimerWheel::new(1, 0);
    let timers: Vec<Timer> = (0..30).map(|i| Timer::new(i, 0)).collect();
    for (i, t) in timers.iter().enumerate() {
        w.add_timer(t, 1000 + i as Tick);
    }
    let mut fired = Vec::new();
    let n = w
        .run_timers_ticked(MAX_TICK, |d, tick| {
            fired.push((d, tick));
            let again = if tick < MAX_TICK / 2 {
                MAX_TICK - 1 - d as Tick
            } else {
                MAX_TICK + 1000 // beyond the domain: never fires
            };
            assert!(!w.mod_timer(&timers[d], again));
        })
        .unwrap();
    assert_eq!(n, 60);
    let mut want: Vec<(usize, Tick)> = (0..30).map(|i| (i, 1000 + i as Tick)).collect();
    want.extend((0..30).rev().map(|i| (i, MAX_TICK - 1 - i as Tick)));
    assert_eq!(fired, want);
    assert_eq!(w.pending(), 30);
    assert_eq!(w.next_expiry(), Some(MAX_TICK + 1000));
    let work = w.work();
    let levels = WHEEL_LEVELS as u64;
    // Each arming cascades at most once per level above tv1 ...
    assert!(work.cascaded <= 60 * (levels - 1), "{work:?}");
    // ... and every tick processed fires or cascades something.
    assert!(work.ticks <= 60 + work.cascaded, "{work:?}");
    assert_eq!(w.run_timers(MAX_TICK, |_| panic!("fired")), Ok(0));

    // The reproduction from the issue: a target past the domain is an
    // error now, and the same pattern up to MAX_TICK returns at once.
    let w = TimerWheel::new(1, 0);
    for (i, t) in timers.iter().enumerate() {
        assert!(!w.mod_timer(t, 1000 + i as Tick));
    }
    assert!(w.run_timers(u64::MAX / 2, |_| panic!("fired")).is_err());
    let target = MAX_TICK / 2;
    let n = w
        .run_timers(target, |d| assert!(!w.mod_timer(&timers[d], target + 1000)))
        .unwrap();
    assert_eq!(n, 30);
    assert_eq!(run(&w, target + 999), vec![]);
    assert_eq!(run(&w, target + 1000).len(), 30);
    assert!(w.work().cascaded <= 60 * (levels - 1));
}

/// Passing a timer armed on one wheel to another: a logic error that
/// neither panics (outside the documented panics), hangs, nor disturbs the
/// other wheel's own timers (node generations differ per wheel; when they
/// happen to match, about once in 2^31, the call runs exactly the code a
/// correct call on that wheel's timer runs).
#[test]
fn a_timer_passed_to_the_wrong_wheel_is_a_logic_error_not_ub() {
    for (na, nb) in [(4, 2), (1, 256), (3, 3)] {
        let a = TimerWheel::new(na, 0);
        let b = TimerWheel::new(nb, 0);
        let own: Vec<Timer> = (0..8).map(|i| Timer::new(100 + i, i)).collect();
        for (i, t) in own.iter().enumerate() {
            b.add_timer(t, 50 + i as Tick);
        }
        let t = Timer::new(7, 3);
        a.add_timer(&t, 40);
        assert!(!b.del_timer(&t));
        assert!(!b.del_timer_sync(&t));
        b.timer_destroyed(&t);
        assert!(!b.timer_pending(&t)); // clears the pending hint
        assert_eq!(b.pending(), 8);
        // The pending hint is gone, so `a` no longer sees its own node ...
        assert!(!a.timer_pending(&t));
        assert!(!a.del_timer(&t));
        // ... which stays armed and fires once on `a`.
        assert_eq!(a.pending(), 1);
        // Arming on `b` repoints the handle to a node of `b`.
        assert!(!b.mod_timer(&t, 60));
        assert!(b.mod_timer_on(&t, 65, 0));
        assert!(b.timer_pending(&t));
        // And back on `a`: a second node there, deleted again.
        assert!(!a.mod_timer_on(&t, 45, 1));
        assert!(a.del_timer_sync(&t));
        a.timer_destroyed(&t);
        assert_eq!((a.pending(), b.pending()), (1, 9));
        assert_eq!(run(&a, 1000), vec![(7, 40)]);
        let mut want: Vec<(usize, Tick)> = (0..8).map(|i| (100 + i, 50 + i as Tick)).collect();
        want.push((7, 65));
        want.sort_unstable();
        let mut got = run(&b, 1000); // base by base
        got.sort_unstable();
        assert_eq!(got, want);
        assert_eq!((a.pending(), b.pending()), (0, 0));
        assert_eq!((a.work().in_use, b.work().in_use), (0, 0));
    }
}
