//! [`TokioTimers`]: a Tokio task that drives a [`TimerTarget`] (a table, a
//! protocol host) from Tokio's clock, for daemons built on Tokio. It is the
//! async sibling of [`TimerThread`](super::TimerThread) and keeps its
//! contract: it stops when dropped (the task is aborted) or on
//! [`stop`](TokioTimers::stop); an error from `run_timers` is counted, not
//! fatal; a panic in a timer handler ends the task and is re-raised by
//! [`stop`](TokioTimers::stop).
//!
//! **Sleeping.** Unlike the thread, which runs its target every period,
//! the task sleeps until the target's [`next_event`](TimerTarget::next_event),
//! so a timer fires on its exact tick, or until the next *recheck*, every
//! `recheck` ([`DEFAULT_RECHECK`], 10 ms = `HZ/100`), whichever is first,
//! and runs the target at every wake-up. The recheck is there because:
//!
//! * a table's clock is the tick of its latest `run_timers` (the hot path
//!   never reads a clock), and a timer armed by another task is armed
//!   relative to that clock. Running at least every `recheck` keeps it at
//!   most `recheck` old, as a kernel with `HZ = 1000 / recheck_ms` would
//!   (the timer thread: at most its period);
//! * such a timer can be earlier than the deadline the task sleeps toward,
//!   and the table has no hook to say so: the task sees it at its next
//!   recheck. It then fires on its tick if it was armed at least `recheck`
//!   ahead (every neighbour timer is, with the default: the kernel's floor
//!   on them is `HZ/100`), otherwise at most `recheck` minus its delay late.
//!
//! **Backlog.** A run that stops at its budget with work due (a table's
//! [`TIMER_RUN_LIMIT`](crate::TIMER_RUN_LIMIT); the target's
//! [`backlog`](TimerTarget::backlog)) is followed at once, after a
//! `yield_now`, by another run at the same tick, until the backlog is done:
//! the once-per-tick rule below applies to runs that finished.
//!
//! Code that arms something and wants it looked at at once calls
//! [`wake`](TokioTimers::wake). An idle target costs one `run_timers` and
//! one `next_event` per `recheck`; a longer `recheck` trades clock
//! freshness for fewer wake-ups.
//!
//! **Time.** When the task starts, Tokio's `Instant::now()` is mapped to the
//! target's [`jiffies`](TimerTarget::jiffies); one tick is one millisecond
//! of Tokio time after that (so a runtime with paused time drives the table
//! deterministically). The task runs the target at most once per tick.
//!
//! **Callbacks** (`NeighOps`, frame sinks) run on the runtime's worker
//! thread inside `run_timers`: they must not block for long (sending a
//! frame is fine).
//!
//! ```
//! use neighcache::{DevId, NeighOps, NeighTable, Probe, TokioTimers, DEFAULT_RECHECK};
//! use std::net::Ipv4Addr;
//! use std::sync::Arc;
//!
//! struct Nic;
//! impl NeighOps<Ipv4Addr> for Nic {
//!     type Packet = Vec<u8>;
//!     fn transmit(&self, _dev: DevId, _hh: &[u8], _pkt: Vec<u8>) {}
//!     fn solicit(&self, _dev: DevId, _ip: &Ipv4Addr, _probe: Probe) {}
//!     fn error_report(&self, _dev: DevId, _ip: &Ipv4Addr, _pkt: Vec<u8>) {}
//! }
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! # rt.block_on(async {
//! let table = Arc::new(NeighTable::new(Default::default(), Nic)?);
//! // Inside the runtime: the task runs the table's timers on Tokio's clock.
//! let timers = TokioTimers::spawn(table.clone(), DEFAULT_RECHECK)?;
//! // ... the daemon's tasks use `table` ...
//! timers.stop().await; // or drop it: the task is aborted
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! This module owns the task's lifecycle and its clock mapping. It must
//! not touch the table's internals: it uses the [`TimerTarget`] methods
//! only. Production builds with the `tokio` feature only (excluded under
//! `loom`/`shuttle`).

use super::timer_target::TimerTarget;
use crate::timer::{Tick, MAX_TICK};
use core::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often the task looks for timers armed while it sleeps, unless told
/// otherwise: 10 ms, the kernel's `HZ/100` floor on neighbour timers.
pub const DEFAULT_RECHECK: Duration = Duration::from_millis(10);

/// Why a driver could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverError {
    /// [`TokioTimers::spawn`] was called outside a Tokio runtime.
    NoRuntime,
    /// `recheck` was zero (the task would never sleep).
    ZeroRecheck,
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::NoRuntime => f.write_str("not inside a Tokio runtime"),
            DriverError::ZeroRecheck => f.write_str("recheck period of zero"),
        }
    }
}

impl std::error::Error for DriverError {}

/// What a driver has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// `run_timers` calls.
    pub runs: u64,
    /// Events they handled (the sum of their `Ok` values).
    pub fired: u64,
    /// `run_timers` calls that returned an error (skipped, not fatal).
    pub errors: u64,
    /// Sleeps that ended (a deadline, a recheck or a [`wake`](TokioTimers::wake)).
    pub wakeups: u64,
}

/// State shared by the handle and the task.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    wake: Notify,
    runs: AtomicU64,
    fired: AtomicU64,
    errors: AtomicU64,
    wakeups: AtomicU64,
}

/// A running Tokio timer task. Dropping it aborts the task; [`stop`](Self::stop)
/// ends it after its current run and reports a handler panic.
#[derive(Debug)]
pub struct TokioTimers {
    task: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl TokioTimers {
    /// Start the task on the current Tokio runtime (`Err(NoRuntime)`
    /// outside one), looking for newly armed timers every `recheck`
    /// (`Err(ZeroRecheck)` for zero; see the module docs).
    pub fn spawn<T: TimerTarget + ?Sized>(
        target: Arc<T>,
        recheck: Duration,
    ) -> Result<TokioTimers, DriverError> {
        let handle = Handle::try_current().map_err(|_| DriverError::NoRuntime)?;
        Self::spawn_on(&handle, target, recheck)
    }

    /// Start the task on the runtime of `handle`.
    pub fn spawn_on<T: TimerTarget + ?Sized>(
        handle: &Handle,
        target: Arc<T>,
        recheck: Duration,
    ) -> Result<TokioTimers, DriverError> {
        if recheck.is_zero() {
            return Err(DriverError::ZeroRecheck);
        }
        let shared = Arc::new(Shared::default());
        let task = handle.spawn(drive(target, shared.clone(), recheck));
        Ok(TokioTimers {
            task: Some(task),
            shared,
        })
    }

    /// Look at the target's next event now (call after arming something
    /// that must fire on its tick even if it is less than `recheck` away).
    pub fn wake(&self) {
        // A stored permit if the task is not waiting: the wake is not lost.
        self.shared.wake.notify_one();
    }

    /// Has the task ended (stopped, aborted, or a handler panicked)?
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// What the task has done so far.
    pub fn stats(&self) -> DriverStats {
        let s = &self.shared;
        // Relaxed: statistics; nothing is ordered by them.
        DriverStats {
            runs: s.runs.load(Ordering::Relaxed),
            fired: s.fired.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            wakeups: s.wakeups.load(Ordering::Relaxed),
        }
    }

    /// End the task after its current run and wait for it. A panic of a
    /// timer handler (which ended the task) is re-raised here, as
    /// [`TimerThread::stop`](super::TimerThread::stop) does.
    pub async fn stop(mut self) {
        // Release: pairs with the task's Acquire load at the top of its loop.
        // Defence in depth: the flag publishes nothing (the task reads no
        // data written before it, and the join below synchronises the
        // shutdown), so Relaxed would do; a std atomic in code compiled out
        // of the model builds, so no loom test runs it.
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
    }
}

impl Drop for TokioTimers {
    /// Abort the task (it stops at its next sleep). A drop cannot wait, so a
    /// handler panic is only reported by [`stop`](Self::stop).
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Milliseconds from `origin` to `i`, as ticks after `start`.
fn tick_at(origin: Instant, start: Tick, i: Instant) -> Tick {
    let ms = i.saturating_duration_since(origin).as_millis();
    start
        .saturating_add(u64::try_from(ms).unwrap_or(u64::MAX))
        .min(MAX_TICK)
}

/// The task: run the target at the current tick, then sleep until its next
/// event, a recheck or a wake, whichever comes first.
async fn drive<T: TimerTarget + ?Sized>(target: Arc<T>, shared: Arc<Shared>, recheck: Duration) {
    let origin = Instant::now();
    let start = target.jiffies();
    // Ticks are milliseconds from `origin`; a tick beyond what `Instant` can
    // hold is "never" (the recheck still bounds the sleep).
    let instant_of = |t: Tick| origin.checked_add(Duration::from_millis(t.saturating_sub(start)));
    let mut last_run: Option<Tick> = None;
    // The last run stopped at its budget with work left: run again at once.
    let mut again = false;
    loop {
        // Acquire: pairs with the Release store in `stop`. Defence in depth:
        // as there, the flag publishes nothing.
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let now = tick_at(origin, start, Instant::now());
        // At most once per tick (a wake at the tick of the last run only
        // re-reads the next event), unless the last run left a backlog.
        if again || last_run.is_none_or(|t| now > t) {
            // Relaxed (all three): statistics.
            shared.runs.fetch_add(1, Ordering::Relaxed);
            match target.run_timers(now) {
                Ok(n) => {
                    shared.fired.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(_) => {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            last_run = Some(now);
            again = target.backlog();
            if again {
                // Let the runtime's other tasks in, then run again at this
                // tick: the backlog is work already due.
                tokio::task::yield_now().await;
                continue;
            }
        }
        // At least one tick ahead: a next event at or before `now` (another
        // runner holds it, or the run failed) must not make this loop spin.
        let due = target.next_event().max(now.saturating_add(1));
        let wake_at = Instant::now().checked_add(recheck);
        let deadline = match (instant_of(due), wake_at) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            // Both beyond `Instant`'s range: a day, then look again.
            (None, None) => Instant::now() + Duration::from_secs(86_400),
        };
        let _ = tokio::time::timeout_at(deadline, shared.wake.notified()).await;
        // Relaxed: a statistic.
        shared.wakeups.fetch_add(1, Ordering::Relaxed);
    }
}
