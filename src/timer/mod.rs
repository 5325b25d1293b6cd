//! A kernel-style hierarchical *cascading* timer wheel (Linux 3.x
//! `kernel/timer.c`).
//!
//! # What this module owns
//!
//! Timer bases ([`TimerWheel`], one lock each, like the kernel's per-CPU
//! `tvec_base`), the five wheel levels (tv1: 256 slots; tv2..tv5: 64 slots
//! each), cascading, handler dispatch outside the lock, timer migration
//! between bases, and the `cascade()` integrity checks. It knows nothing
//! about neighbours: a timer's handler argument is an opaque `usize`, and the
//! caller supplies the handler to [`TimerWheel::run_timers`].
//!
//! # Design
//!
//! A [`Timer`] is a 16-byte handle embedded in its owner: the handler
//! argument plus one atomic word packing `(pending hint, generation, base,
//! slot)`. Everything the wheel needs about an armed timer (expiry, list
//! links, handler argument, home base id, owner-destroyed flag) lives in a
//! *node* in the slab of the base it is armed on. The wheel therefore never
//! dereferences the owner's memory: the owner may be freed while its timer
//! is armed (the bug this crate models), and the wheel then detects it
//! through [`TimerWheel::timer_destroyed`] with a deterministic panic naming
//! the kernel symptom, never undefined behaviour.
//!
//! A node lives from arming until it is neither pending nor running its
//! handler; then it is freed and its generation bumped, which makes every
//! handle naming it stale (= not pending). While a handler runs its node is
//! kept, so a handler that re-arms its own timer re-uses the same node and
//! `del_timer_sync` can see that the handler of *this* timer is running.
//!
//! # Kernel map
//!
//! | here | kernel |
//! |------|--------|
//! | [`TimerWheel::add_timer`] | `add_timer` |
//! | [`TimerWheel::mod_timer`], [`TimerWheel::mod_timer_on`] | `mod_timer` / `__mod_timer` |
//! | [`TimerWheel::del_timer`] | `del_timer` |
//! | [`TimerWheel::del_timer_sync`] | `del_timer_sync` / `try_to_del_timer_sync` |
//! | [`TimerWheel::timer_pending`] | `timer_pending` |
//! | [`TimerWheel::timer_destroyed`] | `debug_object_free` (debugobjects) |
//! | [`TimerWheel::run_timers_on`] | `__run_timers` |
//! | `lock_timer_base` (private) | `lock_timer_base` |
//! | `Base::internal_add_timer` (private) | `internal_add_timer` |
//! | `Base::cascade` (private) | `cascade` |
//!
//! # Locking protocol
//!
//! The handle word is written only while holding the lock of the base it
//! names before the write *and* the lock of the base it names after it (the
//! same lock unless migrating; when migrating both locks are taken in base
//! index order). `lock_timer_base` reads the word, locks the base it names,
//! and re-reads it under the lock: if it still names that base it is stable
//! until unlock, otherwise it unlocks and retries. The handle is read without
//! a lock only by `timer_pending` and `del_timer` (as a fast-path hint) and by
//! `lock_timer_base` (to pick the lock).

mod base;
mod handle;

use core::fmt;

use crate::sync::{self, CachePadded, Mutex, MutexGuard, Ordering};
use base::Base;
use handle::Loc;

/// Time in ticks (the kernel's `jiffies`). The neighbour cache uses 1 tick =
/// 1 ms.
pub type Tick = u64;

/// The largest tick the wheel advances to; `run_timers` clamps `now` to it.
/// (Keeps all tick arithmetic far from overflow; 2^62 ms is 146 million
/// years.)
pub const MAX_TICK: Tick = 1 << 62;

/// The most bases a [`TimerWheel`] can have (the base index is 8 bits of the
/// handle word).
pub const MAX_BASES: usize = 256;

/// Number of tv1 slots (`TVR_SIZE`).
pub const TV1_SLOTS: usize = 1 << base::TVR_BITS;

/// Number of slots in each of tv2..tv5 (`TVN_SIZE`).
pub const TVN_SLOTS: usize = 1 << base::TVN_BITS;

/// Timers further than this many ticks ahead are clamped into the last level
/// the way the kernel does (`MAX_TVAL`, 2^32 - 1); they still fire at their
/// exact expiry, after extra cascades.
pub const MAX_TVAL: Tick = base::MAX_TVAL;

/// `run_timers` was asked to go back in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWentBackwards {
    /// The wheel's current tick.
    pub clk: Tick,
    /// The tick that was asked for.
    pub now: Tick,
}

impl fmt::Display for TimeWentBackwards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run_timers: time went backwards (clk {}, now {})",
            self.clk, self.now
        )
    }
}

impl std::error::Error for TimeWentBackwards {}

/// A timer embedded in its owner (the kernel's `struct timer_list`).
///
/// 16 bytes, no heap allocation: the handler argument and one atomic word
/// naming the slab node of the base the timer is (or was last) armed on. The
/// wheel never keeps a reference to a `Timer`; it only reads it during the
/// calls it is passed to.
pub struct Timer {
    /// Packed [`Loc`]: see `handle.rs` for the layout.
    loc: sync::AtomicU64,
    /// Handler argument used when the timer is next armed from idle.
    data: usize,
}

impl Timer {
    /// A new, unarmed timer whose handler argument is `data` and whose home
    /// base is `base` (modulo the number of bases; `setup_timer`).
    pub fn new(data: usize, base: usize) -> Self {
        Timer {
            loc: sync::AtomicU64::new(Loc::unarmed(base).0),
            data,
        }
    }

    /// Set the handler argument (`setup_timer`); only before first arming.
    ///
    /// (It takes effect the next time the timer is armed while neither
    /// pending nor running its handler.)
    pub fn set_data(&mut self, data: usize) {
        self.data = data;
    }

    /// The handler argument this timer was set up with.
    pub fn data(&self) -> usize {
        self.data
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a diagnostic snapshot; pairs with nothing.
        let loc = Loc(self.loc.load(Ordering::Relaxed));
        f.debug_struct("Timer")
            .field("data", &self.data)
            .field("slot", &loc.slot())
            .field("gen", &loc.gen())
            .field("pending_hint", &loc.pending())
            .finish()
    }
}

/// A set of timer bases, each behind its own lock (the kernel's per-CPU
/// `tvec_base`s).
pub struct TimerWheel {
    bases: Box<[CachePadded<Mutex<Base>>]>,
}

impl fmt::Debug for TimerWheel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("bases", &self.bases.len())
            .finish_non_exhaustive()
    }
}

/// Read the handle word. Relaxed: the value is either a hint (re-checked
/// under the base lock, whose acquire orders it after every write made under
/// that lock) or used under the lock of the base it names, where it cannot
/// change (every writer holds that lock).
#[inline]
fn load(t: &Timer) -> Loc {
    Loc(t.loc.load(Ordering::Relaxed))
}

/// Write the handle word. Relaxed: callers hold the lock of the base named
/// before and after the write; the unlock (release) publishes it to the next
/// `lock_timer_base` of either base.
#[inline]
fn store(t: &Timer, loc: Loc) {
    t.loc.store(loc.0, Ordering::Relaxed);
}

impl TimerWheel {
    /// `bases` bases starting at tick `start`.
    ///
    /// # Panics
    ///
    /// If `bases` is 0 or more than [`MAX_BASES`].
    pub fn new(bases: usize, start: Tick) -> Self {
        Self::with_capacity(bases, start, 0)
    }

    /// Like [`TimerWheel::new`], with room for `per_base` armed timers on
    /// each base before the slabs grow.
    ///
    /// # Panics
    ///
    /// If `bases` is 0 or more than [`MAX_BASES`].
    pub fn with_capacity(bases: usize, start: Tick, per_base: usize) -> Self {
        assert!(
            (1..=MAX_BASES).contains(&bases),
            "TimerWheel: need 1..={MAX_BASES} bases, got {bases}"
        );
        let start = start.min(MAX_TICK);
        TimerWheel {
            bases: (0..bases)
                .map(|i| CachePadded::new(Mutex::new(Base::new(i, start, per_base))))
                .collect(),
        }
    }

    /// Number of bases.
    pub fn bases(&self) -> usize {
        self.bases.len()
    }

    /// `lock_timer_base`: lock the base `t` names, starting from the hint
    /// `loc`. Returns the base index, the guard and the handle as read under
    /// the lock (stable until the guard drops).
    #[inline]
    fn lock_timer_base(&self, t: &Timer, mut loc: Loc) -> (usize, MutexGuard<'_, Base>, Loc) {
        let n = self.bases.len();
        loop {
            let b = loc.base(n);
            let g = self.bases[b].lock();
            let now = load(t);
            if now.base(n) == b {
                return (b, g, now);
            }
            drop(g);
            loc = now;
        }
    }

    /// Arm or re-arm `t` on the locked base `b` (no migration): the body of
    /// `__mod_timer` once the base is chosen.
    fn arm_on(base: &mut Base, b: usize, t: &Timer, loc: Loc, expires: Tick, add: bool) -> bool {
        if let Some(s) = base.valid(loc) {
            let node = base.node(s);
            if node.linked() {
                if add {
                    panic!("add_timer: timer already pending");
                }
                if node.expires == expires {
                    return true;
                }
                base.unlink(s);
                base.node_mut(s).expires = expires;
                base.internal_add_timer(s);
                return true;
            }
            // Not pending, handler running: re-arm in place on this base.
            base.node_mut(s).expires = expires;
            base.internal_add_timer(s);
            if !loc.pending() {
                store(t, loc.with_pending());
            }
            return false;
        }
        let (s, gen) = base.alloc(expires, t.data, false);
        base.internal_add_timer(s);
        store(t, Loc::armed(b, s, gen));
        false
    }

    /// `__mod_timer`: arm `t` at `expires`, on base `target` if given and the
    /// handler is not running (else on the base it is on).
    fn modify(&self, t: &Timer, expires: Tick, target: Option<usize>, add: bool) -> bool {
        let n = self.bases.len();
        let target = target.map(|b| b % n);
        let mut loc = load(t);
        loop {
            let cur = loc.base(n);
            let tgt = target.unwrap_or(cur);
            if tgt == cur {
                let mut g = self.bases[cur].lock();
                let now = load(t);
                if now.base(n) != cur {
                    drop(g);
                    loc = now;
                    continue;
                }
                return Self::arm_on(&mut g, cur, t, now, expires, add);
            }
            // Migration: both locks, in base-index order.
            let (lo, hi) = (cur.min(tgt), cur.max(tgt));
            let mut g_lo = self.bases[lo].lock();
            let mut g_hi = self.bases[hi].lock();
            let now = load(t);
            if now.base(n) != cur {
                drop(g_hi);
                drop(g_lo);
                loc = now;
                continue;
            }
            let (gc, gt) = if cur == lo {
                (&mut *g_lo, &mut *g_hi)
            } else {
                (&mut *g_hi, &mut *g_lo)
            };
            return match gc.valid(now) {
                Some(s) if gc.node(s).running() => {
                    // The handler is running on the old base: stay there.
                    Self::arm_on(gc, cur, t, now, expires, add)
                }
                Some(s) => {
                    if add {
                        panic!("add_timer: timer already pending");
                    }
                    let node = gc.node(s);
                    if node.expires == expires {
                        return true;
                    }
                    let (data, destroyed) = (node.data, node.destroyed());
                    gc.unlink(s);
                    gc.free(s);
                    let (ns, gen) = gt.alloc(expires, data, destroyed);
                    gt.internal_add_timer(ns);
                    store(t, Loc::armed(tgt, ns, gen));
                    true
                }
                None => {
                    let (ns, gen) = gt.alloc(expires, t.data, false);
                    gt.internal_add_timer(ns);
                    store(t, Loc::armed(tgt, ns, gen));
                    false
                }
            };
        }
    }

    /// `add_timer`: arm `t` to fire at `expires` on the base it names.
    ///
    /// # Panics
    ///
    /// `add_timer: timer already pending` if it is pending (the kernel's
    /// `BUG_ON(timer_pending(timer))`).
    pub fn add_timer(&self, t: &Timer, expires: Tick) {
        self.modify(t, expires, None, true);
    }

    /// `mod_timer`: (re-)arm `t` to fire at `expires` on the base it is on;
    /// returns whether it was pending. Re-arming a pending timer to the same
    /// expiry returns `true` without touching the lists. O(1).
    pub fn mod_timer(&self, t: &Timer, expires: Tick) -> bool {
        self.modify(t, expires, None, false)
    }

    /// `mod_timer` from a thread that prefers base `base` (modulo the number
    /// of bases): like `__mod_timer`, migrates the timer there under both
    /// base locks unless its handler is running (then it stays on its base).
    /// Returns whether it was pending.
    pub fn mod_timer_on(&self, t: &Timer, expires: Tick, base: usize) -> bool {
        self.modify(t, expires, Some(base), false)
    }

    /// `del_timer`: disarm `t`; returns whether it was pending. Does not wait
    /// for a running handler.
    pub fn del_timer(&self, t: &Timer) -> bool {
        let loc = load(t);
        if !loc.pending() {
            // Cleared only by a del under the lock: not pending (the kernel's
            // lockless `timer_pending` pre-check).
            return false;
        }
        let (_, mut g, loc) = self.lock_timer_base(t, loc);
        let was = match g.valid(loc) {
            Some(s) if g.node(s).linked() => {
                g.unlink(s);
                if !g.node(s).running() {
                    g.free(s);
                }
                true
            }
            _ => false,
        };
        if loc.pending() {
            store(t, loc.without_pending());
        }
        was
    }

    /// `del_timer_sync`: like [`TimerWheel::del_timer`], and also waits (with
    /// `sync::spin_wait`) until `t`'s handler is not running on any base
    /// (the kernel's loop over `try_to_del_timer_sync`). Must not be called
    /// from `t`'s own handler (it would wait forever, as in the kernel).
    pub fn del_timer_sync(&self, t: &Timer) -> bool {
        let mut loc = load(t);
        loop {
            if loc.slot().is_none() {
                return false;
            }
            let (_, mut g, now) = self.lock_timer_base(t, loc);
            match g.valid(now) {
                Some(s) if g.node(s).running() => {
                    // `try_to_del_timer_sync` returns -1: retry later.
                    drop(g);
                    sync::spin_wait();
                    loc = load(t);
                }
                Some(s) => {
                    g.unlink(s);
                    g.free(s);
                    store(t, now.without_pending());
                    return true;
                }
                None => {
                    if now.pending() {
                        store(t, now.without_pending());
                    }
                    return false;
                }
            }
        }
    }

    /// `timer_pending`: is `t` armed and not yet expired or deleted?
    ///
    /// Lock-free when the handle's pending hint is clear; otherwise it
    /// confirms under the base lock (the hint stays set after an expiry,
    /// because the wheel never writes the owner's memory then).
    pub fn timer_pending(&self, t: &Timer) -> bool {
        let loc = load(t);
        if !loc.pending() {
            return false;
        }
        let (_, g, loc) = self.lock_timer_base(t, loc);
        match g.valid(loc) {
            Some(s) => g.node(s).linked(),
            None => {
                // Stale after expiry: clear the hint (we hold the named lock).
                store(t, loc.without_pending());
                false
            }
        }
    }

    /// The owner of `t` is being freed (kernel `debug_object_free`).
    ///
    /// If `t` is pending (or its handler is running and might re-arm it),
    /// its node is marked owner-destroyed and left where it is: a later
    /// `cascade` of it panics with `timer cascade: armed timer on a
    /// destroyed object`, and its expiry from tv1 panics with `run_timers:
    /// armed timer on a destroyed object` before the handler is called. A
    /// node that is neither pending nor re-armed is freed as usual, so for an
    /// idle timer this does nothing.
    pub fn timer_destroyed(&self, t: &Timer) {
        let loc = load(t);
        if loc.slot().is_none() {
            return;
        }
        let (_, mut g, loc) = self.lock_timer_base(t, loc);
        if let Some(s) = g.valid(loc) {
            g.node_mut(s).mark_destroyed();
        }
    }

    /// Run every base up to `now`, calling `f(data)` outside the lock.
    ///
    /// Returns the number of handlers called, or the first base's
    /// [`TimeWentBackwards`] error (the other bases still run).
    pub fn run_timers(
        &self,
        now: Tick,
        mut f: impl FnMut(usize),
    ) -> Result<usize, TimeWentBackwards> {
        self.run_timers_ticked(now, |d, _| f(d))
    }

    /// Like [`TimerWheel::run_timers`], passing each handler the tick at
    /// which the wheel fired it as well (`max(expires, tick when armed)`).
    pub fn run_timers_ticked(
        &self,
        now: Tick,
        mut f: impl FnMut(usize, Tick),
    ) -> Result<usize, TimeWentBackwards> {
        let mut total = 0;
        let mut err = None;
        for b in 0..self.bases.len() {
            match self.run_base(b, now, &mut f) {
                Ok(k) => total += k,
                Err(e) => {
                    err.get_or_insert(e);
                }
            }
        }
        err.map_or(Ok(total), Err)
    }

    /// Run one base (modulo the number of bases) up to `now`.
    pub fn run_timers_on(
        &self,
        base: usize,
        now: Tick,
        mut f: impl FnMut(usize),
    ) -> Result<usize, TimeWentBackwards> {
        self.run_base(base % self.bases.len(), now, &mut |d, _| f(d))
    }

    /// Like [`TimerWheel::run_timers_on`], passing each handler the tick at
    /// which it fired as well.
    pub fn run_timers_on_ticked(
        &self,
        base: usize,
        now: Tick,
        mut f: impl FnMut(usize, Tick),
    ) -> Result<usize, TimeWentBackwards> {
        self.run_base(base % self.bases.len(), now, &mut f)
    }

    /// `__run_timers` for base `b`.
    ///
    /// Processes every tick from the base's next tick up to `now`, skipping
    /// empty stretches in O(1) (occupancy bitmaps) while holding the lock;
    /// cascades tv2..tv5 when the lower index wraps; detaches expired timers
    /// to a work list and calls each handler with the lock released.
    ///
    /// If another thread is already running this base (or a handler calls
    /// back into it), the call only raises that run's target to `now` and
    /// returns `Ok(0)`: the running thread fires the timers.
    fn run_base(
        &self,
        b: usize,
        now: Tick,
        f: &mut dyn FnMut(usize, Tick),
    ) -> Result<usize, TimeWentBackwards> {
        let now = now.min(MAX_TICK);
        let lock: &Mutex<Base> = &self.bases[b];
        let mut g = lock.lock();
        if now < g.clk {
            return Err(TimeWentBackwards { clk: g.clk, now });
        }
        g.clk = now;
        if g.busy {
            return Ok(0);
        }
        g.busy = true;
        let mut fired = 0;
        loop {
            let Some(s) = g.pop_work() else {
                if g.next > g.clk {
                    break;
                }
                let ev = g.next_event();
                if ev > g.clk {
                    g.next = g.clk + 1;
                    break;
                }
                g.next = ev;
                g.process_tick();
                continue;
            };
            let node = g.node(s);
            if node.destroyed() {
                panic!(
                    "run_timers: armed timer on a destroyed object \
                     (base {b}, slot {s}, expires {}, data {:#x})",
                    node.expires, node.data
                );
            }
            let data = node.data;
            let tick = g.next - 1;
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
        }
        g.busy = false;
        Ok(fired)
    }

    /// Earliest pending expiry over all bases (exact; a timer armed in the
    /// past reports its own expiry, although it fires at the next tick).
    pub fn next_expiry(&self) -> Option<Tick> {
        self.bases
            .iter()
            .filter_map(|b| b.lock().next_expiry())
            .min()
    }

    /// Number of pending timers.
    pub fn pending(&self) -> usize {
        self.bases.iter().map(|b| b.lock().count).sum()
    }

    /// The latest `now` base `base` (modulo the number of bases) was asked
    /// to run to (its start tick before any run).
    pub fn clk(&self, base: usize) -> Tick {
        self.bases[base % self.bases.len()].lock().clk
    }
}

/// Restores a base's run state if a handler panics, so the base does not
/// stay marked busy. (Skipped under the model checkers, where a panic ends
/// the execution anyway.)
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
