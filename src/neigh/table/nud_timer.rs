//! Per-entry timers and the timer event: `neigh_add_timer`,
//! `neigh_del_timer`, `run_timers` (the timer softirq, which also runs the
//! periodic GC and the managed entries' pass when due), the handler
//! (`neigh_timer_handler`), probing (`neigh_probe`, `arp_solicit`'s choice,
//! the optional table-wide solicitation limit) and invalidation.
//!
//! Rules: an armed timer holds a reference to its entry; it is armed and
//! disarmed only under the entry lock of a live (not dead) entry, on this
//! table's private wheel. The handler owns the timer's reference and drops
//! it however it returns (`Held`), decides with one snapshot of the
//! device's parameters, and reports its change under the entry lock.
//! Timers re-armed by the state machine are at least `HZ/100` away
//! (`19e16d220f0a`).

use super::events::timer_notifies;
use super::owed::{Held, Owed};
use super::resize::MOVE_PER_TIMER_RUN;
use super::slots::RELEASE_PER_RUN;
use super::{time_after, time_before_eq, Entry, NeighTable, Pkt, Queue};
use crate::error::NeighError;
use crate::neigh::entry::{probe_count, EntryLocked};
use crate::neigh::stats::C;
use crate::neigh::{DropReason, NeighKey, NeighOps, NudState, Probe};
use crate::parms::{NeighParms, TableConfig, HZ};
use crate::rcu;
use crate::sync::{plain, Mutex, Ordering};
use crate::timer::{RunLimit, Tick, TimerError, TimerWheel, MAX_TICK};
use crate::variant::Rule;

/// The floor of every re-armed resolution timer, and of the first one
/// (`max(RETRANS_TIME, HZ/100)`, `19e16d220f0a`): 10 ticks.
pub(crate) const TIMER_FLOOR: Tick = HZ / 100;

/// The most work one [`NeighTable::run_timers`] call does on the table's
/// timer wheel: at most 256 entry-timer handlers (`neigh_timer_handler`)
/// and 4096 units of wheel work (a tick processed, or one timer moved down
/// a level by a cascade; see [`RunLimit`]). Counts, not time: in the 1M
/// soak (SPEC.md §9, "Bounded timer runs") a call firing 256 handlers took
/// 24 µs and one doing 2,048 units 30 µs at the median, so the wheel's share
/// of a call stays well under a millisecond when the thread is not
/// descheduled.
///
/// The kernel's `__run_timers` runs everything that is due, and relies on
/// `reachable_time`'s jitter to spread the entries' timers; here a million
/// entries resolved within a second reach their deadlines within a second
/// too. What is due beyond the budget is left where it is and runs at the
/// next calls, first and in tick order: those timers fire late by whole
/// calls, never early and never lost ([`NeighStats::timers_deferred`]
/// counts them, [`NeighStats::timer_runs_cut`] the calls that stopped).
/// [`NeighTable::timer_backlog`] says that work is left, and the drivers
/// ([`TimerThread`](crate::TimerThread), `TokioTimers`) then call again at
/// once instead of sleeping.
///
/// [`NeighStats::timers_deferred`]: crate::NeighStats::timers_deferred
/// [`NeighStats::timer_runs_cut`]: crate::NeighStats::timer_runs_cut
pub const TIMER_RUN_LIMIT: RunLimit = RunLimit {
    handlers: 256,
    units: 4096,
};

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// `neigh_add_timer`: take the timer's reference and arm it. Caller holds
    /// the entry lock (and so a live entry, in the fixed code). As in 6.x,
    /// a confirmation later than the last use counts as a use, so an entry
    /// that becomes REACHABLE is "used" at its confirmation.
    pub(crate) fn add_timer(&self, n: &Entry<K, O>, when: Tick) {
        ktrace!(
            "neigh_add_timer",
            "{} timer at {when}: refcnt {}→{}{}",
            n.key,
            n.refcnt(),
            n.refcnt() + 1,
            if n.refcnt() == 0 {
                " (!) a reference taken from zero"
            } else {
                ""
            }
        );
        n.hold();
        if time_after(n.confirmed(), n.used()) {
            // Relaxed: a timestamp heuristic, as on the output path.
            n.used.store(n.confirmed(), Ordering::Relaxed);
        }
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
    /// (`neigh_timer_handler`), at most [`TIMER_RUN_LIMIT`] of them, and,
    /// when due, the periodic GC and the managed entries' pass. Returns the
    /// number of timers that fired. Timers due beyond the limit fire at the
    /// next calls, in order and late by whole calls
    /// ([`timer_backlog`](Self::timer_backlog) is then true).
    /// However far the clock jumps, each of the two periodic jobs runs at
    /// most once per call and is then due a whole period later (it never
    /// "catches up", so a tiny period cannot make a call spin).
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
        // A handler whose fired tick is not after the table's clock before
        // this call (`j`) was due by an earlier call that stopped at its
        // budget (an earlier complete run leaves nothing due up to `j`).
        let run = self
            .wheel
            .run_timers_limited(now, TIMER_RUN_LIMIT, |data, tick| {
                if tick <= j {
                    self.stats.inc(C::TIMERS_DEFERRED);
                }
                self.timer_handler(data);
            });
        let fired = match run {
            Ok(r) => {
                if r.more {
                    self.stats.inc(C::TIMER_RUNS_CUT);
                }
                r.fired
            }
            // A concurrent caller with a later `now` started its run first;
            // that run covers `now` (the wheel's concurrent-caller contract).
            Err(TimerError::TimeWentBackwards { .. }) if self.keeps(Rule::OvertakenCallerOk) => 0,
            // T3 broken (model builds only): report the overtaken caller as late.
            Err(TimerError::TimeWentBackwards { clk, .. }) => {
                return Err(NeighError::TimeWentBackwards { jiffies: clk, now });
            }
            Err(e) => unreachable!("run_timers: {e} after the table's own checks"),
        };
        let (gc_due, managed_due) = {
            let guard = rcu::pin();
            let mut tbl = self.lock.lock();
            // A resize in progress moves a bounded number of buckets per
            // call, so that it ends even when no entry is created.
            self.move_buckets(&mut tbl, MOVE_PER_TIMER_RUN, &guard);
            let mut managed_due = now >= tbl.next_managed;
            if managed_due && tbl.managed.is_empty() {
                // Nothing to revalidate: only reschedule (no pass, no lock
                // taken again).
                tbl.next_managed = now.saturating_add(tbl.cfg.parms.interval_probe_time);
                managed_due = false;
            }
            (now >= tbl.next_gc, managed_due)
        };
        // A slice of a retired bucket array goes back to the system (not
        // under the table lock).
        self.release_retired(RELEASE_PER_RUN);
        if gc_due {
            // One bounded step of the periodic pass (`gc_step`).
            self.gc_step();
        }
        if managed_due {
            self.managed_pass();
        }
        Ok(fired)
    }

    /// Is entry-timer work due by the table's clock left undone: did a
    /// [`run_timers`](Self::run_timers) call stop at [`TIMER_RUN_LIMIT`]
    /// (or is one still running)? A driver that sees it calls `run_timers`
    /// again at once rather than sleeping. O(timer bases x wheel levels).
    pub fn timer_backlog(&self) -> bool {
        self.wheel.backlog()
    }

    /// The earliest tick at which [`run_timers`](Self::run_timers) has work:
    /// an entry timer, the GC pass, or the managed pass while there are
    /// managed entries (with none, the pass would only reschedule itself,
    /// and a driver sleeping until this tick would wake every
    /// `interval_probe_time` for nothing). A tick at or before the table's
    /// clock when timer work is left ([`timer_backlog`](Self::timer_backlog)).
    /// The entry timers' part is [`TimerWheel::next_work`]: their earliest
    /// expiry, exact while the wheel lists it reads hold at most
    /// [`NEXT_WORK_SCAN`](crate::timer::NEXT_WORK_SCAN) timers, otherwise
    /// the earlier tick at which the wheel next has work (a slot to
    /// cascade); so it costs O(timer bases x wheel levels) however many
    /// timers are pending.
    /// While the hash is being resized, or a replaced bucket array is still
    /// mapped, at most the next tick: each call moves part of the one and
    /// unmaps 1 MiB of the other (SPEC.md §5).
    pub fn next_event(&self) -> Tick {
        let guard = rcu::pin();
        let tbl = self.lock.lock();
        let managed = if tbl.managed.is_empty() {
            Tick::MAX
        } else {
            tbl.next_managed
        };
        let mut jobs = tbl.next_gc.min(managed);
        if self.resize_in_progress(&guard) || self.retired_pending() {
            jobs = jobs.min(self.jiffies().saturating_add(1));
        }
        drop(tbl);
        self.wheel.next_work().min(jobs)
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
        let parms = n.device.parms();
        let mut g = n.lock.lock();
        let state = n.state();
        ktrace!(
            "neigh_timer_handler",
            "{} {state}{}",
            n.key,
            if g.dead { " (dead)" } else { "" }
        );
        if !state.is(NudState::IN_TIMER) {
            return;
        }
        let before = self.snap(n, &g);
        let reach = n.device.reachable_time();
        let mut next = now + parms.retrans_time.max(TIMER_FLOOR);
        if state.is(NudState::REACHABLE) {
            if time_before_eq(now, n.confirmed().wrapping_add(reach)) {
                next = n.confirmed().wrapping_add(reach);
            } else if time_before_eq(now, n.used().wrapping_add(parms.delay_probe_time)) {
                n.set_state(&g, NudState::DELAY);
                g.updated = now;
                next = now + parms.delay_probe_time;
            } else {
                n.set_state(&g, NudState::STALE);
                g.updated = now;
            }
        } else if state.is(NudState::DELAY) {
            if time_before_eq(now, n.confirmed().wrapping_add(parms.delay_probe_time)) {
                n.set_state(&g, NudState::REACHABLE);
                g.updated = now;
                next = n.confirmed().wrapping_add(reach);
            } else {
                n.set_state(&g, NudState::PROBE);
                g.updated = now;
                g.probes = 0;
            }
        }
        let st = n.state();
        // L10 broken (model builds only): a second parameters snapshot for the budget.
        let budget = if self.keeps(Rule::ParmsOneSnapshot) {
            parms
        } else {
            n.device.parms()
        };
        if st.is(NudState::INCOMPLETE | NudState::PROBE)
            && u32::from(g.probes) >= budget.max_probes(st.is(NudState::PROBE))
        {
            n.set_state(&g, NudState::FAILED);
            // FAILED owns no timer: if someone re-armed it while this handler
            // waited for the lock (set_probe_once), disarm it (we still hold
            // the handler's reference, so this is not the last one).
            self.del_timer(n);
            let q = self.invalidate(&mut g, now);
            if !self.keeps(Rule::EventsUnderLock) {
                drop(g); // L12 broken (model builds only): report after unlocking
                g = n.lock.lock();
            }
            self.notify_change(n, &g, before, timer_notifies);
            ktrace!("neigh_timer_handler", "{} budget spent → FAILED", n.key);
            drop(g);
            Owed::new(self, n, q).report(DropReason::ResolutionFailed);
            return;
        }
        self.notify_change(n, &g, before, timer_notifies);
        if n.state().is(NudState::IN_TIMER) {
            if time_after(now + TIMER_FLOOR, next) {
                next = now + TIMER_FLOOR;
            }
            if !self.wheel.mod_timer(&n.timer, next) {
                n.hold();
            }
        }
        let probe = if n.state().is(NudState::INCOMPLETE | NudState::PROBE) {
            self.probe_kind(n, &mut g, &parms)
        } else {
            None
        };
        drop(g);
        if let Some(p) = probe {
            self.solicit(n, p);
        }
    }

    /// `neigh_invalidate`: the entry failed (`updated` = now); take its
    /// queue, which the caller reports (`Owed::report`) after unlocking.
    pub(crate) fn invalidate(&self, g: &mut EntryLocked<Pkt<K, O>>, now: Tick) -> Queue<Pkt<K, O>> {
        self.stats.inc(C::RES_FAILED);
        g.updated = now;
        g.take_queue()
    }

    /// Start resolving (NONE/FAILED -> INCOMPLETE, `__neigh_event_send`):
    /// disarm a stray timer, arm the timer and, if `immediate`, count the
    /// first probe, which the caller sends after unlocking; otherwise the
    /// timer fires next tick and probes then (`immediate_ok` false). The
    /// caller holds the entry lock of a live entry and has checked
    /// `parms.can_resolve()`.
    pub(crate) fn start_resolution(
        &self,
        n: &Entry<K, O>,
        g: &mut EntryLocked<Pkt<K, O>>,
        parms: &NeighParms,
        now: Tick,
        immediate: bool,
    ) -> Option<Probe> {
        g.probes = probe_count(parms.ucast_probes);
        self.del_timer(n);
        n.set_state(g, NudState::INCOMPLETE);
        g.updated = now;
        if !immediate {
            self.add_timer(n, now + 1);
            return None;
        }
        self.add_timer(n, now + parms.retrans_time.max(TIMER_FLOOR));
        self.probe_kind(n, g, parms)
    }

    /// `neigh_probe` part 1 (under the entry lock): count the probe and pick
    /// its kind as `arp_solicit` does.
    pub(crate) fn probe_kind(
        &self,
        n: &Entry<K, O>,
        g: &mut EntryLocked<Pkt<K, O>>,
        parms: &NeighParms,
    ) -> Option<Probe> {
        let probes = u32::from(g.probes);
        g.probes = g.probes.saturating_add(1);
        if probes < parms.ucast_probes && n.state().is(NudState::VALID) {
            return Some(Probe::Unicast(n.read_lladdr()));
        }
        if probes < parms.ucast_probes + parms.app_probes && probes >= parms.ucast_probes {
            return Some(Probe::App);
        }
        Some(Probe::Multicast)
    }

    /// `neigh_probe` part 2 (no lock held): send the probe, unless the
    /// table-wide solicitation bucket is empty (then it is counted as
    /// rate-limited; it still counted against the entry's budget).
    pub(crate) fn solicit(&self, n: &Entry<K, O>, p: Probe) {
        if !self.limiter.admit(self.jiffies()) {
            self.stats.inc(C::SOLICITS_RATELIMITED);
            return;
        }
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

/// The table-wide solicitation limit: a token bucket refilled at
/// `solicit_rate` tokens per second up to `solicit_burst`, on the table's
/// clock. Off (no lock taken, nothing counted) unless configured.
pub(crate) struct SolicitLimit {
    /// A hint that the limit is on, so that a table without one takes no
    /// lock. Written under the table lock by `set_config`.
    on: plain::AtomicBool,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    /// Tokens in thousandths (a token per `1000 / rate` ms, exactly).
    milli: u64,
    last: Tick,
    rate: u64,
    burst: u64,
}

impl SolicitLimit {
    pub(crate) fn new(c: &TableConfig) -> Self {
        let l = SolicitLimit {
            on: plain::AtomicBool::new(false),
            bucket: Mutex::new(Bucket {
                milli: 0,
                last: 0,
                rate: 0,
                burst: 0,
            }),
        };
        l.configure(c, 0);
        l
    }

    /// Apply `c`'s limit from tick `now` (a full bucket).
    pub(crate) fn configure(&self, c: &TableConfig, now: Tick) {
        let mut b = self.bucket.lock();
        b.rate = c.solicit_rate.into();
        b.burst = c.solicit_burst.into();
        b.milli = b.burst * 1000;
        b.last = now;
        // Relaxed: a hint; a probe racing the change may see either setting.
        self.on.store(c.solicit_rate > 0, Ordering::Relaxed);
    }

    /// Take a token at tick `now`, if the limit is on.
    fn admit(&self, now: Tick) -> bool {
        // Relaxed: see `configure`.
        if !self.on.load(Ordering::Relaxed) {
            return true;
        }
        let mut b = self.bucket.lock();
        if b.rate == 0 {
            return true;
        }
        if now > b.last {
            // rate tokens per 1000 ticks = `rate` thousandths per tick.
            let add = (now - b.last).saturating_mul(b.rate);
            b.milli = b.milli.saturating_add(add).min(b.burst * 1000);
            b.last = now;
        }
        if b.milli >= 1000 {
            b.milli -= 1000;
            true
        } else {
            false
        }
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

    /// The earliest pending expiry, if any timer is pending (exact; it
    /// reads whole timer lists, so at a million entries it can walk most of
    /// them: a driver uses [`NeighTable::next_event`]).
    pub fn next_expiry(&self) -> Option<Tick> {
        self.wheel.next_expiry()
    }
}
