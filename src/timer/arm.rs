//! Arming, disarming and querying one timer: `add_timer`, `mod_timer*`
//! (`__mod_timer`, including migration between bases), `del_timer*`,
//! `timer_pending` and `timer_destroyed`.
//!
//! Every operation here takes the lock of the base the timer's handle names
//! (`lock_timer_base`), or, when migrating, the locks of the old and the new
//! base in index order, and writes the handle only under them (the protocol
//! in `mod.rs`).

use super::handle::Loc;
use super::sealed::Sealed;
use super::{sync, Armable, Base, Tick, TimerWheel};

impl TimerWheel {
    /// Arm or re-arm `t` on the locked base `b` (no migration): the body of
    /// `__mod_timer` once the base is chosen.
    fn arm_on(
        base: &mut Base,
        b: usize,
        t: &(impl Sealed + ?Sized),
        loc: Loc,
        expires: Tick,
        add: bool,
    ) -> bool {
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
                t.handle().store(loc.with_pending());
            }
            return false;
        }
        let (s, gen) = base.alloc(expires, t.data(), false);
        base.internal_add_timer(s);
        t.handle().store(Loc::armed(b, s, gen));
        false
    }

    /// `__mod_timer`: arm `t` at `expires`, on base `target` if given and the
    /// handler is not running (else on the base it is on).
    fn modify(
        &self,
        t: &(impl Sealed + ?Sized),
        expires: Tick,
        target: Option<usize>,
        add: bool,
    ) -> bool {
        let n = self.bases.len();
        let target = target.map(|b| b % n);
        let h = t.handle();
        let mut loc = h.load();
        loop {
            let cur = loc.base(n);
            let tgt = target.unwrap_or(cur);
            if tgt == cur {
                let mut g = self.bases[cur].lock();
                let now = h.load();
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
            let now = h.load();
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
                    h.store(Loc::armed(tgt, ns, gen));
                    true
                }
                None => {
                    let (ns, gen) = gt.alloc(expires, t.data(), false);
                    gt.internal_add_timer(ns);
                    h.store(Loc::armed(tgt, ns, gen));
                    false
                }
            };
        }
    }

    /// `add_timer`: arm `t` to fire at `expires` on the base it names.
    ///
    /// `expires` may be any `u64`; one above [`MAX_TICK`](super::MAX_TICK)
    /// never fires (the timer stays pending until deleted).
    ///
    /// # Panics
    ///
    /// * `add_timer: timer already pending` if it is pending (the kernel's
    ///   `BUG_ON(timer_pending(timer))`);
    /// * `timer wheel: too many timers on one base` if the base already has
    ///   [`MAX_TIMERS_PER_BASE`](super::MAX_TIMERS_PER_BASE) timers pending
    ///   or running.
    pub fn add_timer<T: Armable + ?Sized>(&self, t: &T, expires: Tick) {
        self.modify(t, expires, None, true);
    }

    /// `mod_timer`: (re-)arm `t` to fire at `expires` (any `u64`, as for
    /// [`TimerWheel::add_timer`]) on the base it is on; returns whether it
    /// was pending. Re-arming a pending timer to the same expiry returns
    /// `true` without touching the lists. O(1).
    ///
    /// # Panics
    ///
    /// `timer wheel: too many timers on one base` if `t` is idle and the
    /// base already has
    /// [`MAX_TIMERS_PER_BASE`](super::MAX_TIMERS_PER_BASE) timers pending or
    /// running.
    pub fn mod_timer<T: Armable + ?Sized>(&self, t: &T, expires: Tick) -> bool {
        self.modify(t, expires, None, false)
    }

    /// `mod_timer` from a thread that prefers base `base` (modulo the number
    /// of bases): like `__mod_timer`, migrates the timer there under both
    /// base locks unless its handler is running (then it stays on its base).
    /// Returns whether it was pending.
    ///
    /// # Panics
    ///
    /// `timer wheel: too many timers on one base` if the target base already
    /// has [`MAX_TIMERS_PER_BASE`](super::MAX_TIMERS_PER_BASE) timers
    /// pending or running.
    pub fn mod_timer_on<T: Armable + ?Sized>(&self, t: &T, expires: Tick, base: usize) -> bool {
        self.modify(t, expires, Some(base), false)
    }

    /// `del_timer`: disarm `t`; returns whether it was pending. Does not wait
    /// for a running handler.
    pub fn del_timer<T: Armable + ?Sized>(&self, t: &T) -> bool {
        let t = t.handle();
        let loc = t.load();
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
            t.store(loc.without_pending());
        }
        was
    }

    /// `del_timer_sync`: like [`TimerWheel::del_timer`], and also waits (with
    /// `sync::spin_wait`) until `t`'s handler is not running on any base
    /// (the kernel's loop over `try_to_del_timer_sync`). Must not be called
    /// from `t`'s own handler, nor while holding anything that handler waits
    /// for (it would wait forever, as in the kernel).
    pub fn del_timer_sync<T: Armable + ?Sized>(&self, t: &T) -> bool {
        let t = t.handle();
        let mut loc = t.load();
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
                    loc = t.load();
                }
                Some(s) => {
                    // In use and not running: linked (pending).
                    let was = g.node(s).linked();
                    if was {
                        g.unlink(s);
                    }
                    g.free(s);
                    t.store(now.without_pending());
                    return was;
                }
                None => {
                    if now.pending() {
                        t.store(now.without_pending());
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
    pub fn timer_pending<T: Armable + ?Sized>(&self, t: &T) -> bool {
        let t = t.handle();
        let loc = t.load();
        if !loc.pending() {
            return false;
        }
        let (_, g, loc) = self.lock_timer_base(t, loc);
        match g.valid(loc) {
            Some(s) => g.node(s).linked(),
            None => {
                // Stale after expiry: clear the hint (we hold the named lock).
                t.store(loc.without_pending());
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
    /// idle timer this does nothing. (A timer parked beyond `MAX_TICK` is
    /// never cascaded nor expired, so its destruction is never reported.)
    pub fn timer_destroyed<T: Armable + ?Sized>(&self, t: &T) {
        let t = t.handle();
        let loc = t.load();
        if loc.slot().is_none() {
            return;
        }
        let (_, mut g, loc) = self.lock_timer_base(t, loc);
        if let Some(s) = g.valid(loc) {
            g.node_mut(s).mark_destroyed();
        }
    }
}
