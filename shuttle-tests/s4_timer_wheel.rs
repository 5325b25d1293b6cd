//! S4: the timer wheel alone, two bases, with migration.
//!
//! Two timers, T0 (home base 0) and T1 (home base 1). Three model threads,
//! each standing for a CPU:
//!
//! * **cpu0** arms T0 and T1 on base 0 (`mod_timer_on(.., 0)`: T1 migrates
//!   from its home base), runs base 0 to tick 6, then `del_timer_sync(T1)`;
//! * **cpu1** re-arms T0 on base 1 (migrating it, possibly while its handler
//!   runs on base 0, when it must stay), runs base 1 to tick 5, re-arms T1
//!   on base 1;
//! * **cpu2** `del_timer_sync(T0)`, then runs every base to tick 8.
//!
//! Handlers mark themselves running, yield (a scheduling point while the
//! handler runs) and count the firing. Checked:
//!
//! * `del_timer_sync` never returns while the handler of its timer runs (the
//!   check follows the return with no scheduling point in between);
//! * every arming fires exactly once or is deleted: for each timer, the
//!   `mod_timer*` calls that armed an idle timer (returned `false`) equal
//!   handler runs plus deletions that found it pending (returned `true`),
//!   once the main thread has run the wheel far ahead; no timer is left
//!   pending.

use crate::common;

use neighcache::timer::{Timer, TimerError, TimerWheel};
use shuttle::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const N: usize = 2;

struct Wheel {
    wheel: TimerWheel,
    timers: [Timer; N],
    /// Arming calls that found the timer idle.
    arms: [AtomicUsize; N],
    /// Handler runs.
    fires: [AtomicUsize; N],
    /// Deletions that found the timer pending.
    dels: [AtomicUsize; N],
    running: [AtomicBool; N],
}

impl Wheel {
    fn arm(&self, i: usize, expires: u64, base: usize) {
        if !self.wheel.mod_timer_on(&self.timers[i], expires, base) {
            self.arms[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn handler(&self, data: usize) {
        assert!(
            !self.running[data].swap(true, Ordering::Relaxed),
            "handler of T{data} running twice at once"
        );
        thread::yield_now();
        self.fires[data].fetch_add(1, Ordering::Relaxed);
        self.running[data].store(false, Ordering::Relaxed);
    }

    fn run_on(&self, base: usize, now: u64) {
        // The wheel's clock is shared: a caller behind the latest tick any
        // thread asked for is refused (and does nothing); nothing else fails.
        match self.wheel.run_timers_on(base, now, |d| self.handler(d)) {
            Ok(_) | Err(TimerError::TimeWentBackwards { .. }) => {}
            Err(e) => panic!("run_timers_on: {e}"),
        }
    }

    fn del_sync(&self, i: usize) {
        if self.wheel.del_timer_sync(&self.timers[i]) {
            self.dels[i].fetch_add(1, Ordering::Relaxed);
        }
        assert!(
            !self.running[i].load(Ordering::Relaxed),
            "del_timer_sync(T{i}) returned while T{i}'s handler runs"
        );
    }
}

fn wheel_migration() {
    let w = Arc::new(Wheel {
        wheel: TimerWheel::new(2, 0),
        timers: [Timer::new(0, 0), Timer::new(1, 1)],
        arms: Default::default(),
        fires: Default::default(),
        dels: Default::default(),
        running: Default::default(),
    });
    let cpu0 = {
        let w = w.clone();
        thread::spawn(move || {
            w.arm(0, 3, 0);
            w.arm(1, 4, 0);
            w.run_on(0, 6);
            w.del_sync(1);
        })
    };
    let cpu1 = {
        let w = w.clone();
        thread::spawn(move || {
            w.arm(0, 4, 1);
            w.run_on(1, 5);
            w.arm(1, 7, 1);
        })
    };
    let cpu2 = {
        let w = w.clone();
        thread::spawn(move || {
            w.del_sync(0);
            match w.wheel.run_timers(8, |d| w.handler(d)) {
                Ok(_) | Err(TimerError::TimeWentBackwards { .. }) => {}
                Err(e) => panic!("run_timers: {e}"),
            }
        })
    };
    for h in [cpu0, cpu1, cpu2] {
        h.join().expect("model thread");
    }
    w.wheel
        .run_timers(1000, |d| w.handler(d))
        .expect("time moves forward");
    assert_eq!(w.wheel.pending(), 0, "timers left pending");
    for i in 0..N {
        let (a, f, d) = (
            w.arms[i].load(Ordering::Relaxed),
            w.fires[i].load(Ordering::Relaxed),
            w.dels[i].load(Ordering::Relaxed),
        );
        assert_eq!(
            a,
            f + d,
            "T{i}: {a} armings, but {f} firings + {d} deletions"
        );
        assert!(!w.wheel.timer_pending(&w.timers[i]));
    }
}

#[test]
fn s4_timer_wheel_two_bases_migration() {
    common::check_pass("S4 timer wheel", wheel_migration, common::iters(100_000), 3);
}
