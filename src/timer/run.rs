//! Running the wheel: `run_timers*` (the kernel's `run_timer_softirq` /
//! `__run_timers`).
//!
//! Owns the time-domain check, the wheel's time high-water mark (`asked`,
//! the one atomic besides the handle words), the run loop, handler dispatch
//! and the per-call budget ([`RunLimit`]). The run loop holds the base lock
//! while it processes ticks and cascades; it releases it around every
//! handler call (handlers run unlocked) and offers it to a waiter after
//! every [`RUN_BUDGET`] units of work, while the base's `busy` flag keeps
//! other runners out. A budgeted run stops between units, leaving the rest
//! where it is for the next call (SPEC.md §7, "Run budget").

use super::{seq, sync, Base, Mutex, Ordering, Tick, TimerError, TimerWheel};

/// The most units of work a runner does under one hold of a base lock: a
/// unit is one tick processed (with its O(levels) look-ahead) or one timer
/// moved by a cascade. After that many units without a handler call the
/// runner hands the lock to a thread waiting for it, if any, and re-takes
/// it, so a thread arming a timer on that base waits for at most about this
/// many units (a few microseconds), however far the run jumps and however
/// many timers it cascades.
pub const RUN_BUDGET: u32 = 64;

/// The most timers of one list [`TimerWheel::next_work`] reads before it
/// settles for the list's processing tick.
pub const NEXT_WORK_SCAN: usize = 64;

/// What one budgeted run ([`TimerWheel::run_timers_limited`]) may do, summed
/// over the bases it runs. Counts, not time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RunLimit {
    /// Handlers to call at most (a limit of 0 is taken as 1, so that every
    /// call makes progress).
    pub handlers: usize,
    /// Units of wheel work at most: a tick processed or a timer moved down
    /// a level by a cascade, the units of [`RUN_BUDGET`] (0 is taken as 1).
    pub units: u64,
}

impl RunLimit {
    /// No limit: run everything due (what [`TimerWheel::run_timers`] does).
    pub const UNLIMITED: RunLimit = RunLimit {
        handlers: usize::MAX,
        units: u64::MAX,
    };
}

/// What one [`TimerWheel::run_timers_limited`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RunReport {
    /// Handlers called.
    pub fired: usize,
    /// Units of wheel work done (ticks processed and timers cascaded).
    pub units: u64,
    /// The call stopped at its [`RunLimit`] with work due by its `now` left
    /// on a base it ran: a timer on the work list, a cascade half done, or
    /// a due tick not yet processed. That work runs at the next call (of
    /// any `now`), before anything that falls due later.
    pub more: bool,
}

/// The remaining allowance of a budgeted run.
struct Left {
    handlers: usize,
    units: u64,
}

/// What `run_base` did on one base.
struct Ran {
    fired: usize,
    more: bool,
}

impl TimerWheel {
    /// Run every base up to `now`, calling `f(data)` outside the lock.
    ///
    /// Returns the number of handlers this call ran.
    ///
    /// # Time, and concurrent callers
    ///
    /// The wheel has one clock: the latest `now` any caller has asked for.
    /// A call
    ///
    /// 1. rejects `now > MAX_TICK` with [`TimerError::TickOutOfRange`];
    /// 2. raises the clock to `now` in one atomic step and, if the clock was
    ///    already beyond `now`, fails with [`TimerError::TimeWentBackwards`]
    ///    (`clk` = that later tick);
    /// 3. otherwise runs each base it covers up to `now`.
    ///
    /// Both errors leave the wheel untouched. Concurrent callers are
    /// allowed: a caller gets `TimeWentBackwards` exactly when a call with a
    /// later `now` passed step 2 before it (ordered by that atomic step,
    /// whatever the order in which the two reach each base). A caller that
    /// passed step 2 never fails later: a base that a later caller has
    /// already advanced past `now` is skipped (that caller's run covers
    /// `now`), and a base being run by another thread (or by a handler's own
    /// nested call) has that run's target raised to `now` and is left to it:
    /// the call returns without waiting for those timers to fire. (If that
    /// other run is a budgeted one, [`TimerWheel::run_timers_limited`], it
    /// may stop first; what it leaves fires at the next call.)
    ///
    /// The clock is per wheel, not per base (the kernel's `jiffies`):
    /// [`TimerWheel::run_timers_on`] is checked against the latest tick
    /// asked of any base.
    ///
    /// # Cost
    ///
    /// Proportional to the timers that fire and to the cascades of the
    /// timers it moves (at most one per level per timer), times the number
    /// of levels; never to the number of ticks covered. A base lock is held
    /// for at most [`RUN_BUDGET`] units of work at a time. The call as a
    /// whole is unbounded (a million timers due at once run in this call);
    /// [`TimerWheel::run_timers_limited`] bounds it.
    pub fn run_timers(&self, now: Tick, mut f: impl FnMut(usize)) -> Result<usize, TimerError> {
        self.run_timers_ticked(now, |d, _| f(d))
    }

    /// Like [`TimerWheel::run_timers`], passing each handler the tick at
    /// which the wheel fired it as well (`max(expires, tick when armed)`).
    pub fn run_timers_ticked(
        &self,
        now: Tick,
        f: impl FnMut(usize, Tick),
    ) -> Result<usize, TimerError> {
        self.run_timers_limited(now, RunLimit::UNLIMITED, f)
            .map(|r| r.fired)
    }

    /// [`TimerWheel::run_timers_ticked`] doing at most `limit` work: at
    /// most `limit.handlers` handler calls and `limit.units` units of wheel
    /// work (ticks processed plus timers cascaded), summed over the bases.
    /// Bases are run in turn starting at base `now % bases`, so that over
    /// calls at different ticks no base starves another.
    ///
    /// When the limit is reached with work due by `now` left, the call
    /// returns with [`RunReport::more`] set. The clock semantics stay
    /// exact: the work left is kept where it was (timers already moved to
    /// the work list stay there, a cascade half done resumes where it
    /// stopped, unprocessed ticks stay unprocessed), and the next call (any
    /// `now` not behind the clock) does it first, in tick order, before
    /// anything that falls due later. So a timer is never lost and never
    /// fires early (the tick passed to its handler is the one it was due
    /// at); it fires late by the calls it waited. Timers armed meanwhile
    /// fire at their own ticks, or, if those were already passed, at the
    /// base's next tick, as in an unlimited run.
    ///
    /// The time and concurrency contract is that of
    /// [`TimerWheel::run_timers`], except that "every timer due by `now`
    /// has fired" holds only once a call returns `more == false` (for the
    /// bases it ran).
    pub fn run_timers_limited(
        &self,
        now: Tick,
        limit: RunLimit,
        mut f: impl FnMut(usize, Tick),
    ) -> Result<RunReport, TimerError> {
        self.advance(now)?;
        let mut left = Left {
            handlers: limit.handlers.max(1),
            units: limit.units.max(1),
        };
        let n = self.bases.len();
        // `n <= MAX_BASES`: the remainder fits a usize.
        let first = (now % n as u64) as usize;
        let mut report = RunReport::default();
        let units = left.units;
        for i in 0..n {
            let ran = self.run_base((first + i) % n, now, &mut f, &mut left);
            report.fired += ran.fired;
            report.more |= ran.more;
        }
        report.units = units - left.units;
        Ok(report)
    }

    /// Run one base (modulo the number of bases) up to `now`, under the
    /// contract of [`TimerWheel::run_timers`].
    pub fn run_timers_on(
        &self,
        base: usize,
        now: Tick,
        mut f: impl FnMut(usize),
    ) -> Result<usize, TimerError> {
        self.run_timers_on_ticked(base, now, |d, _| f(d))
    }

    /// Like [`TimerWheel::run_timers_on`], passing each handler the tick at
    /// which it fired as well.
    pub fn run_timers_on_ticked(
        &self,
        base: usize,
        now: Tick,
        mut f: impl FnMut(usize, Tick),
    ) -> Result<usize, TimerError> {
        self.advance(now)?;
        let mut left = Left {
            handlers: usize::MAX,
            units: u64::MAX,
        };
        Ok(self
            .run_base(base % self.bases.len(), now, &mut f, &mut left)
            .fired)
    }

    /// Has some base work due by the latest tick it was asked to reach that
    /// no run has done yet (a budgeted run stopped at its limit, or a run is
    /// in progress)? O(bases x levels), each base under its lock.
    pub fn backlog(&self) -> bool {
        self.bases.iter().any(|b| {
            let g = b.lock();
            g.due_by(g.clk)
        })
    }

    /// When a sleeping driver must next run the wheel: the clock of a base
    /// with a [`backlog`](TimerWheel::backlog) (work due now), else the
    /// earliest expiry over the bases, exact while the lists it reads hold
    /// at most [`NEXT_WORK_SCAN`] timers each, otherwise at most the first
    /// tick with work on that base (a slot to expire or to cascade, never
    /// after the expiries of the timers in it). Above
    /// [`MAX_TICK`](super::MAX_TICK) when nothing will fire. Unlike
    /// [`TimerWheel::next_expiry`], which reads whole lists, it costs
    /// O(bases x levels x `NEXT_WORK_SCAN`) however many timers are pending.
    pub fn next_work(&self) -> Tick {
        self.bases
            .iter()
            .map(|b| {
                let g = b.lock();
                if g.due_by(g.clk) {
                    g.clk
                } else {
                    g.next_expiry_bound(NEXT_WORK_SCAN)
                }
            })
            .min()
            .unwrap_or(Tick::MAX)
    }

    /// Steps 1 and 2 of the contract on [`TimerWheel::run_timers`].
    fn advance(&self, now: Tick) -> Result<(), TimerError> {
        seq::check_tick(now)?;
        // Relaxed: the decision depends only on this location's modification
        // order (a read-modify-write sees the latest value in it); the bases'
        // data are ordered by the base locks, not by this. Pairs with nothing.
        let before = self.asked.fetch_max(now, Ordering::Relaxed);
        if now < before {
            return Err(TimerError::TimeWentBackwards { clk: before, now });
        }
        Ok(())
    }

    /// `__run_timers` for base `b`, within `left`.
    ///
    /// Processes every tick from the base's next tick up to `now`, skipping
    /// empty stretches in O(levels) (occupancy bitmaps) while holding the
    /// lock; cascades when a lower index wraps; moves expired timers to the
    /// work list and calls each handler with the lock released. Stops early,
    /// reporting `more`, when `left` runs out with work due: a handler to
    /// call with no handler left, or a tick to process or a cascade to
    /// continue with no unit left (a new tick is not started with no handler
    /// left either). Each handler call takes one handler, each new tick and
    /// each timer cascaded one unit.
    fn run_base(
        &self,
        b: usize,
        now: Tick,
        f: &mut dyn FnMut(usize, Tick),
        left: &mut Left,
    ) -> Ran {
        let lock: &Mutex<Base> = &self.bases[b];
        let mut g = lock.lock();
        let mut ran = Ran {
            fired: 0,
            more: false,
        };
        if now < g.clk {
            // A later caller already raised this base; its run covers `now`.
            return ran;
        }
        g.clk = now;
        if g.busy {
            return ran;
        }
        g.busy = true;
        let mut budget = RUN_BUDGET;
        loop {
            if let Some(s) = g.work_head() {
                if left.handlers == 0 {
                    // Stays on the work list: fires first at the next call,
                    // with the tick it was due at.
                    ran.more = true;
                    break;
                }
                let node = g.node(s);
                if node.destroyed() {
                    ktrace!(
                        "__run_timers",
                        "timer on a freed entry (data {:#x}): the kernel's crash",
                        node.data
                    );
                    let (e, d) = (node.expires, node.data);
                    // Left on the work list: every later run panics alike.
                    g.busy = false;
                    panic!(
                        "run_timers: armed timer on a destroyed object \
                         (base {b}, slot {s}, expires {e}, data {d:#x})"
                    );
                }
                let data = node.data;
                ktrace!(
                    "__run_timers",
                    "base {b}: timer {data:#x} expires (due {}) → handler",
                    node.expires
                );
                // A work-list timer was moved there by `process_tick`, so
                // `next >= 1`.
                let tick = g.next - 1;
                g.unlink(s);
                g.set_running(s, true);
                left.handlers -= 1;
                drop(g);
                {
                    let unwind = Unwind { lock, slot: s };
                    f(data, tick);
                    core::mem::forget(unwind);
                }
                ran.fired += 1;
                g = lock.lock();
                g.set_running(s, false);
                if !g.node(s).linked() {
                    g.free(s);
                }
                budget = RUN_BUDGET;
                continue;
            }
            if budget == 0 {
                // Let a thread arming a timer on this base in, if one waits
                // (`sync::bump`); `busy` keeps other runners out meanwhile.
                g.lock_breaks += 1;
                g = sync::bump(lock, g);
                budget = RUN_BUDGET;
                continue;
            }
            if g.cascading == 0 {
                if g.next > g.clk {
                    break;
                }
                let ev = g.next_event();
                if ev > g.clk {
                    // Nothing due up to clk (<= MAX_TICK): no overflow.
                    g.next = g.clk + 1;
                    break;
                }
                if left.units == 0 || left.handlers == 0 {
                    // Tick `ev` is due and not started: the next call
                    // starts it.
                    ran.more = true;
                    break;
                }
                g.next = ev;
                left.units -= 1;
            } else if left.units == 0 {
                // A cascade paused mid-slot: the next call resumes it.
                ran.more = true;
                break;
            }
            budget -= 1;
            // Moves at most what is left of both budgets; whatever it did not
            // move it resumes next time (`cascading`).
            let cap = u32::try_from(left.units).unwrap_or(u32::MAX);
            let mut moves = budget.min(cap);
            let before = moves;
            // The core panics (the kernel's `BUG_ON`s) on a node of another
            // base or of a destroyed owner, leaving the node in place; the
            // base must not stay busy, so every later run panics alike.
            let base = &mut *g;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                base.core.process_tick(&mut moves)
            }));
            if let Err(p) = r {
                g.busy = false;
                std::panic::resume_unwind(p);
            }
            let used = before - moves;
            budget -= used;
            left.units -= u64::from(used);
        }
        g.busy = false;
        ran
    }
}

/// Restores a base's run state if a handler panics: the handler's node is
/// no longer RUNNING (and is freed unless the handler re-armed it), and the
/// base is no longer busy, so the timers still on the work list fire on the
/// next run. (Skipped under the model checkers, where a panic ends the
/// execution anyway.)
struct Unwind<'a> {
    lock: &'a Mutex<Base>,
    slot: u32,
}

impl Drop for Unwind<'_> {
    fn drop(&mut self) {
        if sync::MODEL {
            return;
        }
        let mut g = self.lock.lock();
        g.set_running(self.slot, false);
        if !g.node(self.slot).linked() {
            g.free(self.slot);
        }
        g.busy = false;
    }
}
