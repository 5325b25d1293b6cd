//! What a timer driver drives: [`TimerTarget`], implemented here by
//! [`NeighTable`] and in the protocol layer by `proto::Host` (its two tables
//! and its proxy queue). The drivers — [`TimerThread`](super::TimerThread)
//! and, with the `tokio` feature, `TokioTimers` (`tokio_driver`) —
//! call these methods and know nothing else about their target.
//!
//! This module owns the trait and the table's implementation of it (forwarding
//! calls). It must not drive time itself, and it must not add
//! behaviour to the table: every method is the table's own public one.
//!
//! Production builds only, like the drivers (the model checkers drive time
//! explicitly).

use super::{NeighKey, NeighOps, NeighTable};
use crate::error::NeighError;
use crate::timer::Tick;

/// Something whose timers a driver runs: a [`NeighTable`], a protocol-layer
/// `Host`, or a user type grouping several of them.
///
/// A driver reads the time from its own clock and calls
/// [`run_timers`](Self::run_timers) with it; a driver that can sleep uses
/// [`next_event`](Self::next_event) to know until when. Implementations
/// must accept concurrent calls (a table does).
pub trait TimerTarget: Send + Sync + 'static {
    /// Advance to `now` and handle everything due by then; returns how many
    /// events were handled (timers fired, queued requests answered, ...).
    /// An error (a tick behind the target's clock or out of range) changes
    /// nothing and is not fatal: a driver logs or counts it and goes on.
    fn run_timers(&self, now: Tick) -> Result<usize, NeighError>;

    /// The earliest tick at which [`run_timers`](Self::run_timers) has
    /// work; a tick at or before the target's clock means "now". Something
    /// armed later (by another thread) can make it earlier: a driver that
    /// sleeps until this tick must look again from time to time or be woken
    /// (see the drivers' docs).
    fn next_event(&self) -> Tick;

    /// The target's clock: the tick of its latest run. A driver starting its
    /// own clock maps "now" to this tick.
    fn jiffies(&self) -> Tick;

    /// Did the latest [`run_timers`](Self::run_timers) stop at a work
    /// budget with events due by then still unhandled (a table's
    /// [`NeighTable::timer_backlog`])? A driver then calls `run_timers`
    /// again at once instead of sleeping. The backlog is finite: it is work
    /// due by the target's clock, which each call reduces. The default,
    /// for a target whose runs always finish, is `false`.
    fn backlog(&self) -> bool {
        false
    }
}

impl<K: NeighKey, O: NeighOps<K>> TimerTarget for NeighTable<K, O> {
    fn run_timers(&self, now: Tick) -> Result<usize, NeighError> {
        NeighTable::run_timers(self, now)
    }

    fn next_event(&self) -> Tick {
        NeighTable::next_event(self)
    }

    fn jiffies(&self) -> Tick {
        NeighTable::jiffies(self)
    }

    fn backlog(&self) -> bool {
        NeighTable::timer_backlog(self)
    }
}
