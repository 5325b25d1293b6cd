//! Per-entry timers and the timer event: `neigh_add_timer`,
//! `neigh_del_timer`, `run_timers` (the timer softirq), the handler
//! (`neigh_timer_handler`), probing (`neigh_probe`, `arp_solicit`'s choice)
//! and invalidation.
//!
//! Rules: an armed timer holds a reference to its entry; it is armed and
//! disarmed only under the entry lock of a live (not dead) entry, on this
//! table's private wheel. The handler owns the timer's reference and drops
//! it however it returns (`Held`).

use super::owed::{Held, Owed};
use super::{Entry, NeighTable, Pkt, Queue};
use crate::error::NeighError;
use crate::neigh::entry::EntryLocked;
use crate::neigh::stats::C;
use crate::neigh::{DropReason, NeighKey, NeighOps, NudState, Probe};
use crate::parms::HZ;
use crate::rcu;
use crate::sync::Ordering;
use crate::timer::{Tick, TimerError, TimerWheel, MAX_TICK};

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// `neigh_add_timer`: take the timer's reference and arm it. Caller holds
    /// the entry lock (and so a live entry, in the fixed code).
    pub(crate) fn add_timer(&self, n: &Entry<K, O>, when: Tick) {
        n.hold();
        if self.wheel.mod_timer(&n.timer, when) {
            // The kernel prints "NEIGH: BUG, double timer add" here. It cannot
            // happen while IN_TIMER states own exactly one timer; undo the
            // extra reference rather than leak it.
            debug_assert!(
                false,
                "NEIGH: BUG, double timer add, state is {:?}",
                n.state()
            );
            n.put();
        }
    }

    /// `neigh_del_timer`: disarm and drop the timer's reference. Caller holds
    /// the entry lock and a reference.
    ///
    /// Unlike the kernel this does not first test for a timer *state*: a
    /// handler that turned the entry FAILED while someone re-armed the timer
    /// (e.g. `set_probe_once` racing the last probe) leaves a pending timer
    /// on a non-timer state, and a flush must still disarm it or the entry
    /// would outlive its table.
    pub(crate) fn del_timer(&self, n: &Entry<K, O>) -> bool {
        if self.wheel.del_timer(&n.timer) {
            // Cannot be the last reference: the caller holds one.
            let last = n.put();
            debug_assert!(!last);
            return true;
        }
        false
    }

    /// Advance the table's clock to `now`, run expired entry timers
    /// (`neigh_timer_handler`) and, when due, the periodic GC. Returns the
    /// number of timers that fired.
    ///
    /// `now` must be in the time domain (`Err(TickOutOfRange)` above
    /// [`MAX_TICK`]) and not behind the table's clock
    /// (`Err(TimeWentBackwards)`); neither error changes anything. Several
    /// threads may call this concurrently: the clock only moves forward, and
    /// a caller whose `now` another caller has already passed returns
    /// `Ok(0)` for the bases that caller ran.
    pub fn run_timers(&self, now: Tick) -> Result<usize, NeighError> {
        if now > MAX_TICK {
            return Err(NeighError::TickOutOfRange {
                tick: now,
                max: MAX_TICK,
            });
        }
        // Relaxed: see `jiffies`; `fetch_max` keeps two concurrent callers
        // from moving the clock backwards.
        let j = self.jiffies.fetch_max(now, Ordering::Relaxed);
        if now < j {
            return Err(NeighError::TimeWentBackwards { jiffies: j, now });
        }
        // A base can be ahead of `now` only because a concurrent caller with
        // a later `now` ran it first; the wheel still runs the other bases.
        let fired = match self.wheel.run_timers(now, |data| self.timer_handler(data)) {
            Ok(fired) => fired,
            // A concurrent caller with a later `now` started its run first;
            // that run covers `now` (the wheel's concurrent-caller contract).
            Err(TimerError::TimeWentBackwards { .. }) => 0,
            Err(e) => unreachable!("run_timers: {e} after the table's own checks"),
        };
        let due = {
            let tbl = self.lock.lock();
            now >= tbl.next_gc
        };
        if due {
            self.gc();
        }
        Ok(fired)
    }

    /// The earliest tick at which [`run_timers`](Self::run_timers) has work.
    pub fn next_event(&self) -> Tick {
        let gc = self.lock.lock().next_gc;
        self.wheel.next_expiry().map_or(gc, |t| t.min(gc))
    }

    /// `neigh_timer_handler`. The armed timer's reference is ours now.
    pub(super) fn timer_handler(&self, data: usize) {
        let ptr = data as *const Entry<K, O>;
        rcu::assert_live(ptr);
        // SAFETY: this table's wheel is private and only `add_timer` (and the
        // re-arm below) arm timers on it, always an entry's own timer whose
        // data is that entry's address and which holds a reference; the
        // wheel hands that reference to us. The entry is therefore live, and
        // the wheel has checked its owner was not reclaimed.
        let n = unsafe { &*ptr };
        // Released however this handler is left (a callback may panic).
        let _timer_ref = Held::adopt(self, n);
        let now = self.jiffies();
        let parms = &n.device.parms;
        let mut g = n.lock.lock();
        let state = n.state();
        if !state.is(NudState::IN_TIMER) {
            return;
        }
        let mut next = now + parms.retrans_time;
        if state.is(NudState::REACHABLE) {
            let reach = n.device.reachable_time();
            if now <= n.confirmed() + reach {
                next = n.confirmed() + reach;
            } else if now <= n.used() + parms.delay_probe_time {
                n.set_state(&g, NudState::DELAY);
                g.updated = now;
                next = now + parms.delay_probe_time;
            } else {
                n.set_state(&g, NudState::STALE);
                g.updated = now;
            }
        } else if state.is(NudState::DELAY) {
            if now <= n.confirmed() + parms.delay_probe_time {
                n.set_state(&g, NudState::REACHABLE);
                g.updated = now;
                next = n.confirmed() + n.device.reachable_time();
            } else {
                n.set_state(&g, NudState::PROBE);
                g.updated = now;
                g.probes = 0;
                next = now + parms.retrans_time;
            }
        }
        let st = n.state();
        if st.is(NudState::INCOMPLETE | NudState::PROBE)
            && g.probes >= parms.max_probes(st.is(NudState::PROBE))
        {
            n.set_state(&g, NudState::FAILED);
            g.updated = now;
            // FAILED owns no timer: if someone re-armed it while this handler
            // waited for the lock (set_probe_once), disarm it (we still hold
            // the handler's reference, so this is not the last one).
            self.del_timer(n);
            let q = self.invalidate(&mut g);
            drop(g);
            Owed::new(self, n, q).report(DropReason::ResolutionFailed);
            return;
        }
        if n.state().is(NudState::IN_TIMER) {
            next = next.max(now + HZ / 2);
            if !self.wheel.mod_timer(&n.timer, next) {
                n.hold();
            }
        }
        let probe = if n.state().is(NudState::INCOMPLETE | NudState::PROBE) {
            self.probe_kind(n, &mut g)
        } else {
            None
        };
        drop(g);
        if let Some(p) = probe {
            self.solicit(n, p);
        }
    }

    /// `neigh_invalidate`: take the queue of a FAILED entry; the caller
    /// reports each packet (`Owed::report`) after unlocking.
    pub(crate) fn invalidate(&self, g: &mut EntryLocked<Pkt<K, O>>) -> Queue<Pkt<K, O>> {
        self.stats.inc(C::RES_FAILED);
        g.take_queue()
    }

    /// Start resolving (NONE/FAILED -> INCOMPLETE, `__neigh_event_send`):
    /// arm the timer and count the first probe, which the caller sends after
    /// unlocking. The caller holds the entry lock of a live entry and has
    /// checked `parms.can_resolve()`.
    pub(crate) fn start_resolution(
        &self,
        n: &Entry<K, O>,
        g: &mut EntryLocked<Pkt<K, O>>,
        now: Tick,
    ) -> Option<Probe> {
        let parms = &n.device.parms;
        g.probes = parms.ucast_probes;
        n.set_state(g, NudState::INCOMPLETE);
        g.updated = now;
        self.add_timer(n, now + parms.retrans_time.max(HZ / 2));
        self.probe_kind(n, g)
    }

    /// `neigh_probe` part 1 (under the entry lock): count the probe and pick
    /// its kind as `arp_solicit` does.
    pub(crate) fn probe_kind(
        &self,
        n: &Entry<K, O>,
        g: &mut EntryLocked<Pkt<K, O>>,
    ) -> Option<Probe> {
        let parms = &n.device.parms;
        let probes = g.probes;
        g.probes += 1;
        if probes < parms.ucast_probes && n.state().is(NudState::VALID) {
            return Some(Probe::Unicast(n.read_lladdr()));
        }
        if probes < parms.ucast_probes + parms.app_probes && probes >= parms.ucast_probes {
            return Some(Probe::App);
        }
        Some(Probe::Multicast)
    }

    /// `neigh_probe` part 2 (no lock held).
    pub(crate) fn solicit(&self, n: &Entry<K, O>, p: Probe) {
        self.stats.inc(C::SOLICITS);
        self.ops.solicit(n.dev, &n.key, p);
    }

    /// A read-only view of the table's timers (diagnostics and tests). The
    /// wheel itself is private: its timers' handler argument is an entry's
    /// address, so only the table may arm them.
    pub fn timers(&self) -> TimersView<'_> {
        TimersView { wheel: &self.wheel }
    }
}

/// A read-only view of a table's timer wheel
/// ([`NeighTable::timers`]).
#[derive(Clone, Copy, Debug)]
pub struct TimersView<'a> {
    wheel: &'a TimerWheel,
}

impl TimersView<'_> {
    /// Number of pending entry timers.
    pub fn pending(&self) -> usize {
        self.wheel.pending()
    }

    /// The earliest pending expiry, if any timer is pending.
    pub fn next_expiry(&self) -> Option<Tick> {
        self.wheel.next_expiry()
    }
}
