//! Unit-level tests of the cascading timer wheel through its public API:
//! level boundaries, wraps, clamping, re-arming, deleting while running,
//! migration and the owner-destroyed checks.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use neighcache::timer::{Tick, Timer, TimerError, TimerWheel, MAX_TICK, MAX_TVAL};

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
fn clamped_timers_fire_at_their_expiry() {
    for delta in [MAX_TVAL - 999, 1 << 33, (1 << 36) + 12_345, 1 << 61] {
        fires_exactly(0, delta);
        fires_exactly(999, delta);
    }
    fires_exactly(0, MAX_TVAL + 1);
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
fn delete_while_running() {
    let w = Arc::new(TimerWheel::new(1, 0));
    let t = Arc::new(Timer::new(5, 0));
    w.add_timer(&t, 10);
    let entered = Arc::new(Barrier::new(2));
    let done = Arc::new(AtomicBool::new(false));
    let runner = {
        let (w, entered, done) = (w.clone(), entered.clone(), done.clone());
        thread::spawn(move || {
            w.run_timers(10, |_| {
                entered.wait();
                thread::sleep(Duration::from_millis(50));
                done.store(true, Ordering::SeqCst);
            })
            .unwrap()
        })
    };
    entered.wait();
    // Running, not pending.
    assert!(!w.timer_pending(&t));
    assert!(!w.del_timer(&t));
    assert!(!done.load(Ordering::SeqCst));
    assert!(!w.del_timer_sync(&t));
    assert!(done.load(Ordering::SeqCst), "del_timer_sync returned early");
    assert_eq!(runner.join().unwrap(), 1);
}

#[test]
fn rearm_while_running_from_other_thread_stays_on_base() {
    let w = Arc::new(TimerWheel::new(2, 0));
    let t = Arc::new(Timer::new(5, 0));
    w.add_timer(&t, 10);
    let entered = Arc::new(Barrier::new(2));
    let leave = Arc::new(Barrier::new(2));
    let runner = {
        let (w, entered, leave) = (w.clone(), entered.clone(), leave.clone());
        thread::spawn(move || {
            w.run_timers_on(0, 10, |_| {
                entered.wait();
                leave.wait();
            })
            .unwrap()
        })
    };
    entered.wait();
    // Handler running on base 0: a migrating mod_timer stays on base 0.
    assert!(!w.mod_timer_on(&t, 20, 1));
    assert!(w.timer_pending(&t));
    leave.wait();
    assert_eq!(runner.join().unwrap(), 1);
    assert_eq!(w.run_timers_on(1, 30, |_| panic!("migrated")), Ok(0));
    assert_eq!(w.run_timers_on(0, 30, |_| {}), Ok(1));
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
fn panicking_handler_does_not_wedge_the_base() {
    let w = TimerWheel::new(1, 0);
    let t = Timer::new(1, 0);
    w.add_timer(&t, 5);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = w.run_timers(5, |_| panic!("boom"));
    }));
    assert!(r.is_err());
    let u = Timer::new(2, 0);
    w.add_timer(&u, 6);
    assert_eq!(run(&w, 6), vec![(2, 6)]);
    assert!(!w.del_timer_sync(&t));
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
