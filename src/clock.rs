//! Time sources. The cache counts time in ticks of 1 ms (`jiffies` at
//! `HZ = 1000`); a [`Clock`] tells the timer thread what tick it is.
//!
//! The hot path never calls a clock: it reads the table's cached `jiffies`,
//! which [`run_timers`](crate::NeighTable::run_timers) advances.

use crate::sync::plain::AtomicU64;
use crate::timer::Tick;
use std::sync::atomic::Ordering;

/// A source of ticks. Must be monotonic.
pub trait Clock: Send + Sync + 'static {
    /// The current tick.
    fn now(&self) -> Tick;
}

/// A clock that moves only when told to: for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock at tick `start`.
    pub fn new(start: Tick) -> Self {
        ManualClock {
            now: AtomicU64::new(start),
        }
    }
    /// Move forward by `ticks` (saturating at `u64::MAX`; a table refuses
    /// ticks above [`MAX_TICK`](crate::MAX_TICK)); returns the new time.
    pub fn advance(&self, ticks: Tick) -> Tick {
        // Relaxed: the clock value orders nothing; readers only need *a* value.
        let prev = self
            .now
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(ticks))
            })
            .unwrap_or_else(|t| t);
        prev.saturating_add(ticks)
    }
    /// Set the time (may go backwards, to test that path).
    pub fn set(&self, now: Tick) {
        // Relaxed: as in `advance`.
        self.now.store(now, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Tick {
        // Relaxed: as in `advance`.
        self.now.load(Ordering::Relaxed)
    }
}

/// Milliseconds since the clock was created (`std::time::Instant`).
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    start: std::time::Instant,
}

impl MonotonicClock {
    /// A clock reading 0 now.
    pub fn new() -> Self {
        MonotonicClock {
            start: std::time::Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Tick {
        // 2^62 ms is 146 million years: the cast cannot truncate in practice,
        // and `min` keeps the value in the tables' time domain regardless.
        (self.start.elapsed().as_millis() as Tick).min(crate::MAX_TICK)
    }
}
