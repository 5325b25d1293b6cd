//! An optional timer thread: calls [`NeighTable::run_timers`] (or any
//! [`TimerTarget`]'s) from a [`Clock`] so a daemon need not drive time
//! itself.
//!
//! Production builds only (the model checkers drive time explicitly). This
//! module owns the thread's lifecycle and nothing else.

use super::timer_target::TimerTarget;
use super::{NeighKey, NeighOps, NeighTable};
use crate::clock::Clock;
use crate::sync::os::{thread, Duration};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A running timer thread; stops (and joins) when dropped or on
/// [`stop`](TimerThread::stop).
#[derive(Debug)]
pub struct TimerThread {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl TimerThread {
    /// Stop the thread and wait for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Relaxed: a flag polled by the thread; the join below synchronises.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            // Cut the thread's sleep short (a whole period otherwise).
            h.thread().unpark();
            // A panic in a timer handler is re-raised here.
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p);
            }
        }
    }
}

impl Drop for TimerThread {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.shutdown();
        }
    }
}

impl TimerThread {
    /// Start a thread that calls `target.run_timers(clock.now())` every
    /// `period` (the kernel's timer softirq; 1-10 ms is typical), and again
    /// at once while the target reports a
    /// [`backlog`](TimerTarget::backlog) (a run that stopped at its
    /// budget). An error
    /// (a clock reading behind the target's time) is skipped, not fatal; a
    /// panic in a handler ends the thread and is re-raised by
    /// [`stop`](Self::stop) or the drop.
    pub fn spawn<T: TimerTarget + ?Sized>(
        target: Arc<T>,
        clock: impl Clock,
        period: Duration,
    ) -> TimerThread {
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (target, stop.clone());
        let handle = thread::Builder::new()
            .name("neigh-timers".into())
            .spawn(move || {
                // Relaxed: see `shutdown`.
                while !s.load(Ordering::Relaxed) {
                    let _ = t.run_timers(clock.now());
                    if t.backlog() {
                        // The run stopped at its budget: run again at once
                        // (letting other threads in first), not a period
                        // later.
                        thread::yield_now();
                        continue;
                    }
                    // Woken early by `shutdown`; a spurious wake-up only
                    // runs the target once more.
                    thread::park_timeout(period);
                }
            })
            .expect("spawn the neighbour timer thread");
        TimerThread {
            stop,
            handle: Some(handle),
        }
    }
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// Start a thread that calls `run_timers(clock.now())` every `period`
    /// ([`TimerThread::spawn`] for this table). A clock reading behind the
    /// table's time is skipped, not an error.
    pub fn spawn_timer_thread(
        self: &Arc<Self>,
        clock: impl Clock,
        period: Duration,
    ) -> TimerThread {
        TimerThread::spawn(self.clone(), clock, period)
    }
}
