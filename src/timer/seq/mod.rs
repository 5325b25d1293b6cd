//! The sequential core of the timer wheel: one base's slab, ten levels,
//! parked list and work list, with no lock and no atomic (the shape of
//! tokio's `runtime/time/wheel`).
//!
//! Rules: everything here is `&mut self` on plain data. The concurrent
//! [`TimerWheel`](crate::timer::TimerWheel) keeps one [`WheelCore`] per base
//! behind the base's mutex and adds what needs more than one thread: the
//! handle words, migration, handlers running unlocked, run budgets that
//! release the lock. This module must not name `crate::sync`.
//!
//! | file | owns |
//! |------|------|
//! | `mod.rs` | the public sequential API: [`WheelCore::insert`], [`WheelCore::reset`], [`WheelCore::remove`], [`WheelCore::advance`], [`WheelCore::poll`] |
//! | `nodes.rs` | the node store: fixed-size chunks, so that growing never moves a node |
//! | `slab.rs` | the node slab, generations and slot retirement, the intrusive lists, the occupancy bitmaps, the work list |
//! | `levels.rs` | the geometry: `internal_add_timer`, `cascade`, `process_tick`, the look-ahead, `next_expiry` |

mod levels;
mod nodes;
mod slab;

pub(crate) use levels::MAX_TVAL;
pub use slab::WheelCore;
pub(crate) use slab::{LEVELS, TVN_BITS, TVR_BITS};

use super::{Tick, TimerError, MAX_TICK};

/// A timer armed in a [`WheelCore`]: its slab slot and the generation of
/// that arming. `Copy`; it goes stale (names no timer) once the timer fires
/// or is removed, and a stale key never names a later timer of the same core
/// (slots retire instead of reusing a generation, as in
/// [`TimerWheel`](crate::timer::TimerWheel)). A key belongs to the core that
/// returned it: passing it to another core is a logic error that may act on
/// one of that core's timers (never undefined behaviour).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerKey {
    slot: u32,
    gen: u32,
}

impl WheelCore {
    /// An empty core at tick `start`.
    ///
    /// # Panics
    ///
    /// If `start` is above [`MAX_TICK`] ([`WheelCore::try_new`] returns the
    /// error instead).
    pub fn new(start: Tick) -> Self {
        Self::with_capacity(start, 0)
    }

    /// An empty core at tick `start` with room for `capacity` timers before
    /// the slab grows.
    ///
    /// # Panics
    ///
    /// As [`WheelCore::new`].
    pub fn with_capacity(start: Tick, capacity: usize) -> Self {
        Self::try_with_capacity(start, capacity).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`WheelCore::new`] returning [`TimerError::TickOutOfRange`] instead
    /// of panicking.
    pub fn try_new(start: Tick) -> Result<Self, TimerError> {
        Self::try_with_capacity(start, 0)
    }

    /// [`WheelCore::with_capacity`] returning an error instead of panicking.
    pub fn try_with_capacity(start: Tick, capacity: usize) -> Result<Self, TimerError> {
        check_tick(start)?;
        Ok(WheelCore::with_parts(0, start, capacity, 0))
    }

    /// Arm a new timer firing at `expires` (any `u64`: one above
    /// [`MAX_TICK`] never fires) with handler argument `data`. O(1).
    ///
    /// An expiry at or before the core's current tick fires at the next
    /// tick processed.
    ///
    /// # Panics
    ///
    /// `timer wheel: too many timers on one base` when
    /// [`MAX_TIMERS_PER_BASE`](crate::timer::MAX_TIMERS_PER_BASE) timers are
    /// pending (or their slots retired).
    #[inline]
    pub fn insert(&mut self, expires: Tick, data: usize) -> TimerKey {
        let (slot, gen) = self.alloc(expires, data, false);
        self.internal_add_timer(slot);
        TimerKey { slot, gen }
    }

    /// The slot of a pending timer named by `key`.
    #[inline]
    fn pending_slot(&self, key: TimerKey) -> Option<u32> {
        let s = self.valid(key.slot, key.gen)?;
        self.node(s).linked().then_some(s)
    }

    /// Move the pending timer `key` to `expires`; `false` (and nothing
    /// changes) if it is not pending. O(1); the same expiry touches no list.
    #[inline]
    pub fn reset(&mut self, key: TimerKey, expires: Tick) -> bool {
        let Some(s) = self.pending_slot(key) else {
            return false;
        };
        if self.node(s).expires != expires {
            self.unlink(s);
            self.node_mut(s).expires = expires;
            self.internal_add_timer(s);
        }
        true
    }

    /// Cancel the pending timer `key`, returning its handler argument, or
    /// `None` if it is not pending (fired, removed, or never this core's).
    /// O(1).
    #[inline]
    pub fn remove(&mut self, key: TimerKey) -> Option<usize> {
        let s = self.pending_slot(key)?;
        let data = self.node(s).data;
        self.unlink(s);
        self.free(s);
        Some(data)
    }

    /// Is `key` pending (armed, not yet fired or removed)?
    pub fn is_pending(&self, key: TimerKey) -> bool {
        self.pending_slot(key).is_some()
    }

    /// The expiry of the pending timer `key`.
    pub fn expires(&self, key: TimerKey) -> Option<Tick> {
        self.pending_slot(key).map(|s| self.node(s).expires)
    }

    /// Pending timers (including those beyond [`MAX_TICK`]).
    pub fn len(&self) -> usize {
        self.count
    }

    /// No timer is pending.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// `now` is a tick this core can run to: in the domain, and not before
    /// the last tick it processed.
    #[inline]
    fn check_now(&self, now: Tick) -> Result<(), TimerError> {
        check_tick(now)?;
        // `now <= MAX_TICK`, so `now + 1` cannot overflow; `next >= 1` when
        // the comparison fails, so `next - 1` cannot underflow.
        if now + 1 < self.next {
            return Err(TimerError::TimeWentBackwards {
                clk: self.next - 1,
                now,
            });
        }
        Ok(())
    }

    /// Process ticks up to `now` until the work list holds the timers due
    /// next; `false` once nothing is due up to `now`.
    #[inline]
    fn step(&mut self, now: Tick) -> bool {
        if self.cascading == 0 {
            if self.next > now {
                return false;
            }
            let ev = self.next_event();
            if ev > now {
                // `now <= MAX_TICK`: no overflow.
                self.next = now + 1;
                return false;
            }
            self.next = ev;
        }
        let mut budget = u32::MAX;
        self.process_tick(&mut budget);
        true
    }

    /// Fire every timer due up to `now`, calling `f(data, tick)` for each in
    /// expiry order (`tick` = when it fired: `max(expires, the tick after
    /// the core's time when it was armed)`). Returns how many fired.
    ///
    /// Costs work per timer fired or cascaded (at most once per level), not
    /// per tick covered. Rejects `now` above [`MAX_TICK`]
    /// ([`TimerError::TickOutOfRange`]) or before the last tick already
    /// processed ([`TimerError::TimeWentBackwards`]), changing nothing.
    pub fn advance(
        &mut self,
        now: Tick,
        mut f: impl FnMut(usize, Tick),
    ) -> Result<usize, TimerError> {
        self.check_now(now)?;
        let mut fired = 0;
        loop {
            fired += self.drain_work(&mut f);
            if !self.step(now) {
                return Ok(fired);
            }
        }
    }

    /// The next timer due up to `now`, removed from the core: `(data,
    /// tick)` as for [`WheelCore::advance`], or `None` when nothing more is
    /// due. Between calls the caller may arm, reset and remove timers.
    pub fn poll(&mut self, now: Tick) -> Result<Option<(usize, Tick)>, TimerError> {
        self.check_now(now)?;
        loop {
            if let Some(s) = self.work_head() {
                let data = self.node(s).data;
                // Work-list timers were moved there by `process_tick`, so
                // `next >= 1`.
                let tick = self.next - 1;
                self.unlink(s);
                self.free(s);
                return Ok(Some((data, tick)));
            }
            if !self.step(now) {
                return Ok(None);
            }
        }
    }
}

/// `Err(TickOutOfRange)` above [`MAX_TICK`].
#[inline]
pub(crate) fn check_tick(tick: Tick) -> Result<(), TimerError> {
    if tick > MAX_TICK {
        return Err(TimerError::TickOutOfRange {
            tick,
            max: MAX_TICK,
        });
    }
    Ok(())
}
