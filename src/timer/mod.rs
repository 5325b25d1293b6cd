//! A kernel-style hierarchical *cascading* timer wheel (Linux 3.x
//! `kernel/timer.c`).
//!
//! API CONTRACT (stub; the implementation replaces the bodies).

use crate::sync;

/// Time in ticks (the kernel's `jiffies`). The neighbour cache uses 1 tick =
/// 1 ms.
pub type Tick = u64;

/// `run_timers` was asked to go back in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWentBackwards {
    /// The wheel's current tick.
    pub clk: Tick,
    /// The tick that was asked for.
    pub now: Tick,
}

/// A timer embedded in its owner (the kernel's `struct timer_list`).
pub struct Timer {
    _loc: sync::AtomicU64,
}

impl Timer {
    /// A new, unarmed timer whose handler argument is `data` and whose home
    /// base is `base` (modulo the number of bases).
    pub fn new(data: usize, base: usize) -> Self {
        let _ = (data, base);
        todo!()
    }
    /// Set the handler argument (`setup_timer`); only before first arming.
    pub fn set_data(&mut self, data: usize) {
        let _ = data;
        todo!()
    }
}

/// A set of timer bases, each behind its own lock.
pub struct TimerWheel {
    _p: (),
}

impl TimerWheel {
    /// `bases` bases starting at tick `start`.
    pub fn new(bases: usize, start: Tick) -> Self {
        let _ = (bases, start);
        todo!()
    }
    /// Number of bases.
    pub fn bases(&self) -> usize {
        todo!()
    }
    /// `add_timer`: panics if the timer is already pending.
    pub fn add_timer(&self, t: &Timer, expires: Tick) {
        let _ = (t, expires);
        todo!()
    }
    /// `mod_timer`: returns whether it was pending.
    pub fn mod_timer(&self, t: &Timer, expires: Tick) -> bool {
        let _ = (t, expires);
        todo!()
    }
    /// `mod_timer` from a thread that prefers base `base`: migrates.
    pub fn mod_timer_on(&self, t: &Timer, expires: Tick, base: usize) -> bool {
        let _ = (t, expires, base);
        todo!()
    }
    /// `del_timer`: returns whether it was pending.
    pub fn del_timer(&self, t: &Timer) -> bool {
        let _ = t;
        todo!()
    }
    /// `del_timer_sync`: also waits for a running handler.
    pub fn del_timer_sync(&self, t: &Timer) -> bool {
        let _ = t;
        todo!()
    }
    /// `timer_pending`.
    pub fn timer_pending(&self, t: &Timer) -> bool {
        let _ = t;
        todo!()
    }
    /// The owner of `t` is being freed (kernel `debug_object_free`).
    pub fn timer_destroyed(&self, t: &Timer) {
        let _ = t;
        todo!()
    }
    /// Run every base up to `now`, calling `f(data)` outside the lock.
    pub fn run_timers(&self, now: Tick, f: impl FnMut(usize)) -> Result<usize, TimeWentBackwards> {
        let _ = (now, f);
        todo!()
    }
    /// Run one base up to `now`.
    pub fn run_timers_on(
        &self,
        base: usize,
        now: Tick,
        f: impl FnMut(usize),
    ) -> Result<usize, TimeWentBackwards> {
        let _ = (base, now, f);
        todo!()
    }
    /// Earliest pending expiry over all bases (an upper bound is fine).
    pub fn next_expiry(&self) -> Option<Tick> {
        todo!()
    }
    /// Number of pending timers.
    pub fn pending(&self) -> usize {
        todo!()
    }
}
