//! Running the wheel: `run_timers*` (the kernel's `run_timer_softirq` /
//! `__run_timers`).
//!
//! Owns the time-domain check, the wheel's time high-water mark (`asked`,
//! the one atomic besides the handle words), the run loop and handler
//! dispatch. The run loop holds the base lock while it processes ticks and
//! cascades; it releases it around every handler call (handlers run
//! unlocked) and after every [`RUN_BUDGET`] units of work, while the base's
//! `busy` flag keeps other runners out.

use super::{seq, sync, Base, Mutex, Ordering, Tick, TimerError, TimerWheel};

/// The most units of work a runner does under one hold of a base lock: a
/// unit is one tick processed (with its O(levels) look-ahead) or one timer
/// moved by a cascade. After that many units without a handler call the
/// runner releases the lock, yields, and re-takes it, so a thread arming a
/// timer on that base waits for at most about this many units (a few
/// microseconds), however far the run jumps and however many timers it
/// cascades.
pub const RUN_BUDGET: u32 = 64;

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
    /// the call returns without waiting for those timers to fire.
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
    /// for at most [`RUN_BUDGET`] units of work at a time.
    pub fn run_timers(&self, now: Tick, mut f: impl FnMut(usize)) -> Result<usize, TimerError> {
        self.run_timers_ticked(now, |d, _| f(d))
    }

    /// Like [`TimerWheel::run_timers`], passing each handler the tick at
    /// which the wheel fired it as well (`max(expires, tick when armed)`).
    pub fn run_timers_ticked(
        &self,
        now: Tick,
        mut f: impl FnMut(usize, Tick),
    ) -> Result<usize, TimerError> {
        self.advance(now)?;
        Ok((0..self.bases.len())
            .map(|b| self.run_base(b, now, &mut f))
            .sum())
    }

    /// Run one base (modulo the number of bases) up to `now`, under the
    /// contract of [`TimerWheel::run_timers`].
    pub fn run_timers_on(
        &self,
        base: usize,
        now: Tick,
        mut f: impl FnMut(usize),
    ) -> Result<usize, TimerError> {
        self.advance(now)?;
        Ok(self.run_base(base % self.bases.len(), now, &mut |d, _| f(d)))
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
        Ok(self.run_base(base % self.bases.len(), now, &mut f))
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

    /// `__run_timers` for base `b`.
    ///
    /// Processes every tick from the base's next tick up to `now`, skipping
    /// empty stretches in O(levels) (occupancy bitmaps) while holding the
    /// lock; cascades when a lower index wraps; moves expired timers to the
    /// work list and calls each handler with the lock released. Returns the
    /// number of handlers called.
    fn run_base(&self, b: usize, now: Tick, f: &mut dyn FnMut(usize, Tick)) -> usize {
        let lock: &Mutex<Base> = &self.bases[b];
        let mut g = lock.lock();
        if now < g.clk {
            // A later caller already raised this base; its run covers `now`.
            return 0;
        }
        g.clk = now;
        if g.busy {
            return 0;
        }
        g.busy = true;
        let mut fired = 0;
        let mut budget = RUN_BUDGET;
        loop {
            if let Some(s) = g.work_head() {
                let node = g.node(s);
                if node.destroyed() {
                    let (e, d) = (node.expires, node.data);
                    // Left on the work list: every later run panics alike.
                    g.busy = false;
                    panic!(
                        "run_timers: armed timer on a destroyed object \
                         (base {b}, slot {s}, expires {e}, data {d:#x})"
                    );
                }
                let data = node.data;
                // A work-list timer was moved there by `process_tick`, so
                // `next >= 1`.
                let tick = g.next - 1;
                g.unlink(s);
                g.set_running(s, true);
                drop(g);
                {
                    let unwind = Unwind { lock, slot: s };
                    f(data, tick);
                    core::mem::forget(unwind);
                }
                fired += 1;
                g = lock.lock();
                g.set_running(s, false);
                if !g.node(s).linked() {
                    g.free(s);
                }
                budget = RUN_BUDGET;
                continue;
            }
            if budget == 0 {
                // Let threads arming timers on this base in; `busy` keeps
                // other runners out meanwhile.
                g.lock_breaks += 1;
                drop(g);
                sync::spin_wait();
                g = lock.lock();
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
                g.next = ev;
            }
            budget -= 1;
            // The core panics (the kernel's `BUG_ON`s) on a node of another
            // base or of a destroyed owner, leaving the node in place; the
            // base must not stay busy, so every later run panics alike.
            let base = &mut *g;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                base.core.process_tick(&mut budget)
            }));
            if let Err(p) = r {
                g.busy = false;
                std::panic::resume_unwind(p);
            }
        }
        g.busy = false;
        fired
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
