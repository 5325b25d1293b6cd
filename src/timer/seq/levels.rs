//! The wheel geometry of a [`WheelCore`]: which list a timer goes to
//! (`internal_add_timer`), `cascade`, one step of `__run_timers`
//! (`process_tick`), and the O(1) look-ahead over empty stretches.
//!
//! Like `slab.rs`: plain data, `&mut self`, no lock, no atomic.
//!
//! Ten levels: tv1 (256 slots, 8 bits) and tv2..tv10 (64 slots, 6 bits
//! each), so the wheel spans `2^(8 + 9 * 6) = 2^62` ticks: every expiry in
//! the tick domain `0..=MAX_TICK` is placed without clamping (one exception,
//! below), so a timer cascades at most once per level on its way down, and a
//! run over any stretch costs work per timer and per level, never per tick.
//!
//! Tick arithmetic cannot overflow: `next <= MAX_TICK + 1 = 2^62 + 1`
//! always (the runner never advances past `clk + 1`, and `clk <= MAX_TICK`),
//! an expiry is subtracted from or compared with `next` only once it is
//! known to be `<= MAX_TICK`, and expiries above `MAX_TICK` (up to
//! `u64::MAX`) never enter the wheel: they are parked on a list that is
//! never cascaded, since the clock cannot reach them. Each `+` below notes
//! its bound.

use super::slab::{WheelCore, LEVEL0, LEVELS, NIL, PARKED, TVN_BITS, TVN_SIZE, TVR_BITS, TVR_SIZE};
use crate::timer::{Tick, MAX_TICK};

const TVR_MASK: u64 = (1 << TVR_BITS) - 1;
const TVN_MASK: u64 = (1 << TVN_BITS) - 1;

/// Largest `expires - next` the levels represent (`MAX_TVAL`, 2^62 - 1).
/// Only `expires == MAX_TICK` armed while `next == 0` is farther; it is
/// placed at `next + MAX_TVAL` (the kernel's clamp) and cascades once more.
pub(crate) const MAX_TVAL: u64 = (1 << (TVR_BITS + (LEVELS as u32 - 1) * TVN_BITS)) - 1;
const _: () = assert!(MAX_TVAL == MAX_TICK - 1, "the wheel spans the tick domain");

/// Kernel `INDEX(n)` shift for level `lvl` (1 = tv2 .. 9 = tv10).
#[inline]
pub(crate) fn shift(lvl: usize) -> u32 {
    TVR_BITS + (lvl as u32 - 1) * TVN_BITS
}

/// Physical list of level `lvl` (1..LEVELS), slot `idx`.
#[inline]
pub(crate) fn level_list(lvl: usize, idx: usize) -> usize {
    LEVEL0 + (lvl - 1) * TVN_SIZE + idx
}

/// The level (1..LEVELS) for a distance `idx` in `[2^8, 2^62)`.
#[inline]
fn level_for(idx: u64) -> usize {
    let top = u64::BITS - 1 - idx.leading_zeros();
    1 + ((top - TVR_BITS) / TVN_BITS) as usize
}

impl WheelCore {
    /// `internal_add_timer`: link node `s` into the list its expiry selects.
    #[inline]
    pub(crate) fn internal_add_timer(&mut self, s: u32) {
        let expires = self.nodes[s as usize].expires;
        let next = self.next;
        let list = if expires > MAX_TICK {
            // Beyond the tick domain: can never fire, so never cascades.
            PARKED
        } else if expires < next {
            // Already expired: the current slot, run at the next tick.
            self.tv1_list((next & TVR_MASK) as usize)
        } else {
            // `next <= expires <= MAX_TICK`: no underflow, idx <= 2^62.
            let idx = expires - next;
            if idx < TVR_SIZE as u64 {
                self.tv1_list((expires & TVR_MASK) as usize)
            } else if idx <= MAX_TVAL {
                let lvl = level_for(idx);
                level_list(lvl, ((expires >> shift(lvl)) & TVN_MASK) as usize)
            } else {
                // idx == 2^62: next == 0, expires == MAX_TICK. Clamp as the
                // kernel does; `next + MAX_TVAL` is MAX_TVAL here.
                let lvl = LEVELS - 1;
                let e = next + MAX_TVAL;
                level_list(lvl, ((e >> shift(lvl)) & TVN_MASK) as usize)
            }
        };
        self.push_tail(list, s);
    }

    /// `cascade`: move the timers of level `lvl` slot `index` down the
    /// wheel, at most `*budget` of them. Returns whether the slot is now
    /// empty (`false`: the budget ran out; call again to continue).
    ///
    /// Re-adding never targets the slot being cascaded: at the tick it is
    /// cascaded (`next` aligned to the level), a timer that stays on this
    /// level is at most 63 slots ahead, never 64.
    ///
    /// # Panics
    ///
    /// With the kernel's `BUG_ON` symptoms if a node does not belong to this
    /// base or its owner was destroyed while it was still armed (the node
    /// stays where it is, so every later run panics the same way).
    fn cascade(&mut self, lvl: usize, index: usize, budget: &mut u32) -> bool {
        let list = level_list(lvl, index);
        loop {
            let cur = self.heads[list];
            if cur == NIL {
                return true;
            }
            if *budget == 0 {
                return false;
            }
            let n = &self.nodes[cur as usize];
            if n.base != self.id {
                let (nb, id) = (n.base, self.id);
                panic!(
                    "timer cascade: timer does not belong to this base \
                     (node base {nb}, cascading base {id})"
                );
            }
            if n.destroyed() {
                ktrace!("cascade", "timer on a freed entry (data {:#x}): the kernel's BUG_ON(tbase_get_base(timer->base) != base)", n.data);
                let (e, d, id) = (n.expires, n.data, self.id);
                panic!(
                    "timer cascade: armed timer on a destroyed object \
                     (base {id}, slot {cur}, expires {e}, data {d:#x})"
                );
            }
            self.unlink(cur);
            self.internal_add_timer(cur);
            debug_assert_ne!(self.nodes[cur as usize].list as usize, list);
            self.counters.cascaded += 1;
            *budget -= 1;
        }
    }

    /// Process tick `self.next` (one iteration of `__run_timers`' loop):
    /// cascade if the tv1 index wrapped, advance, and move the tv1 slot to
    /// the work list. Moves at most `*budget` timers by cascading; returns
    /// `false` if it stopped mid-cascade (`self.cascading` records where),
    /// in which case calling it again continues the same tick.
    pub(crate) fn process_tick(&mut self, budget: &mut u32) -> bool {
        let index = (self.next & TVR_MASK) as usize;
        if index == 0 {
            let mut lvl = usize::from(self.cascading).max(1);
            while lvl < LEVELS {
                let i = ((self.next >> shift(lvl)) & TVN_MASK) as usize;
                if !self.cascade(lvl, i, budget) {
                    self.cascading = lvl as u8;
                    return false;
                }
                if i != 0 {
                    break;
                }
                lvl += 1;
            }
            self.cascading = 0;
        }
        self.counters.ticks += 1;
        // `next <= clk <= MAX_TICK` when a tick is processed.
        self.next += 1;
        self.expire_tv1_slot(index);
        true
    }

    /// Distance (0..256) from tv1 index `idx` to the first occupied tv1 slot
    /// at or after it, cyclically.
    #[inline]
    pub(crate) fn tv1_distance(&self, idx: usize) -> Option<u64> {
        let w = idx / 64;
        let b = idx % 64;
        let dist = |pos: usize| ((pos + TVR_SIZE - idx) % TVR_SIZE) as u64;
        let m = self.occupied[w] & (!0u64 << b);
        if m != 0 {
            return Some(dist(w * 64 + m.trailing_zeros() as usize));
        }
        for k in 1..4 {
            let ww = (w + k) & 3;
            let m = self.occupied[ww];
            if m != 0 {
                return Some(dist(ww * 64 + m.trailing_zeros() as usize));
            }
        }
        let m = self.occupied[w] & ((1u64 << b) - 1);
        (m != 0).then(|| dist(w * 64 + m.trailing_zeros() as usize))
    }

    /// Occupancy bits of level `lvl` (1..LEVELS), one per slot.
    #[inline]
    fn level_bits(&self, lvl: usize) -> u64 {
        self.occupied[TVR_SIZE / 64 + lvl - 1]
    }

    /// The first tick `>= self.next` at which `__run_timers` has anything to
    /// do (a non-empty tv1 slot or a non-empty slot to cascade), or a tick
    /// beyond `MAX_TICK` (up to `Tick::MAX`) if nothing is. Lets `run_timers`
    /// skip empty stretches in O(levels) instead of ticking through them.
    pub(crate) fn next_event(&self) -> Tick {
        let next = self.next;
        // `next <= 2^62 + 1`, distance < 256.
        let mut best = self
            .tv1_distance((next & TVR_MASK) as usize)
            .map_or(Tick::MAX, |d| next + d);
        for lvl in 1..LEVELS {
            let bits = self.level_bits(lvl);
            if bits == 0 {
                continue;
            }
            let sh = shift(lvl);
            let unit = 1u64 << sh;
            // `next + unit - 1 <= 2^62 + 2^56`: the first tick >= next at
            // which this level's index changes (aligned to `unit`).
            let b = (next + unit - 1) & !(unit - 1);
            let s0 = ((b >> sh) & TVN_MASK) as u32;
            let d = u64::from(bits.rotate_right(s0).trailing_zeros());
            // `b + 63 * unit <= 2^62 + 2^56 + 63 * 2^56 = 2^63`.
            best = best.min(b + (d << sh));
        }
        best
    }

    /// Is work due by tick `clk` (at most [`MAX_TICK`]): a timer on the
    /// work list, a cascade paused mid-slot, or a tick up to `clk` with a
    /// tv1 slot to expire or a slot to cascade? O(levels).
    pub(crate) fn due_by(&self, clk: Tick) -> bool {
        self.work_head().is_some()
            || self.cascading != 0
            || (self.next <= clk && self.next_event() <= clk)
    }

    /// The earliest expiry of any pending timer (exact; a timer armed in the
    /// past reports its own expiry, although it fires at the next tick).
    ///
    /// Scans the work list, the first occupied tv1 slot, and on each higher
    /// level the first two occupied slots from the current index (the
    /// current index holds either the nearest or the farthest timers of that
    /// level, never both); the parked list only when nothing else is pending
    /// (parked expiries exceed every other). O(length of those lists).
    pub fn next_expiry(&self) -> Option<Tick> {
        if self.count == 0 {
            return None;
        }
        let (best, _) = self.scan_min(usize::MAX);
        best.or_else(|| self.list_min(PARKED))
    }

    /// [`WheelCore::next_expiry`] reading at most `cap` timers of each list
    /// it looks at, as a bound for a sleeping driver: the exact earliest
    /// expiry when those lists are short; when one is longer, at most the
    /// first tick at which a run has work ([`WheelCore::next_event`]: a slot
    /// to expire or cascade, never after the expiry of a timer in it). Above
    /// [`MAX_TICK`] when nothing can fire. O(levels x `cap`).
    pub(crate) fn next_expiry_bound(&self, cap: usize) -> Tick {
        let ev = self.next_event();
        if ev > MAX_TICK {
            // Only parked timers (or none): nothing will fire.
            return ev;
        }
        let (best, long) = self.scan_min(cap);
        let best = best.unwrap_or(Tick::MAX);
        if long {
            best.min(ev)
        } else {
            best
        }
    }

    /// The minimum expiry over the lists [`WheelCore::next_expiry`] reads,
    /// and whether one of them had more than `cap` timers (its minimum then
    /// not taken).
    fn scan_min(&self, cap: usize) -> (Option<Tick>, bool) {
        let mut best = None::<Tick>;
        let mut long = false;
        let mut take = |m: Option<Option<Tick>>| match m {
            Some(Some(m)) => best = Some(best.map_or(m, |b: Tick| b.min(m))),
            Some(None) => {}
            None => long = true,
        };
        take(self.list_min_capped(self.work_list(), cap));
        let idx = (self.next & TVR_MASK) as usize;
        if let Some(d) = self.tv1_distance(idx) {
            take(self.list_min_capped(self.tv1_list((idx + d as usize) % TVR_SIZE), cap));
        }
        for lvl in 1..LEVELS {
            let bits = self.level_bits(lvl);
            if bits == 0 {
                continue;
            }
            let s0 = ((self.next >> shift(lvl)) & TVN_MASK) as u32;
            let mut rest = bits.rotate_right(s0);
            for _ in 0..2 {
                if rest == 0 {
                    break;
                }
                let d = rest.trailing_zeros();
                rest &= rest - 1;
                let i = ((s0 + d) as usize) % TVN_SIZE;
                take(self.list_min_capped(level_list(lvl, i), cap));
            }
        }
        (best, long)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(b: &mut WheelCore, expires: Tick) -> u32 {
        let (s, _) = b.alloc(expires, expires as usize, false);
        b.internal_add_timer(s);
        s
    }

    /// Which level a node sits in (0 = tv1 .. 9 = tv10, 10 = parked).
    fn level_of(b: &WheelCore, s: u32) -> usize {
        let l = b.node(s).list as usize;
        if l < LEVEL0 {
            0
        } else if l == PARKED {
            LEVELS
        } else {
            1 + (l - LEVEL0) / TVN_SIZE
        }
    }

    fn run_tick(b: &mut WheelCore) {
        let mut budget = u32::MAX;
        assert!(b.process_tick(&mut budget));
    }

    #[test]
    fn level_boundaries() {
        let mut b = WheelCore::with_parts(0, 0, 0, 0);
        let mut cases = vec![(0, 0), (255, 0), (256, 1), ((1 << 14) - 1, 1)];
        for lvl in 2..LEVELS {
            let lo = 1u64 << shift(lvl);
            cases.push((lo - 1, lvl - 1));
            cases.push((lo, lvl));
        }
        cases.extend([
            (MAX_TICK - 1, LEVELS - 1),
            (MAX_TICK, LEVELS - 1), // clamped
            (MAX_TICK + 1, LEVELS),
            (u64::MAX, LEVELS),
        ]);
        for &(e, lvl) in &cases {
            let s = arm(&mut b, e);
            assert_eq!(level_of(&b, s), lvl, "expires {e}");
        }
        assert_eq!(b.count, cases.len());
    }

    #[test]
    fn clamp_goes_to_last_top_slot_and_fires_exactly() {
        let mut b = WheelCore::with_parts(0, 0, 0, 0);
        let s = arm(&mut b, MAX_TICK);
        assert_eq!(
            b.node(s).list as usize,
            level_list(LEVELS - 1, TVN_SIZE - 1)
        );
        assert_eq!(b.next_expiry(), Some(MAX_TICK));
        // Cascaded at 63 * 2^56 into top slot 0, which cascades at 2^62.
        assert_eq!(b.next_event(), 63 << 56);
        b.next = 63 << 56;
        run_tick(&mut b);
        assert_eq!(b.node(s).list as usize, level_list(LEVELS - 1, 0));
        assert_eq!(b.next_event(), MAX_TICK);
        b.next = MAX_TICK;
        run_tick(&mut b);
        assert_eq!(b.work_head(), Some(s));
    }

    #[test]
    fn armed_at_the_end_of_time() {
        // next == MAX_TICK + 1 (after a run to MAX_TICK): nothing can fire.
        let mut b = WheelCore::with_parts(0, MAX_TICK, 0, 0);
        b.next = MAX_TICK + 1;
        for e in [0, MAX_TICK, MAX_TICK + 1, u64::MAX] {
            arm(&mut b, e);
        }
        assert!(b.next_event() > MAX_TICK);
        assert_eq!(b.next_expiry(), Some(0));
    }

    #[test]
    fn tv1_distance_wraps() {
        let mut b = WheelCore::with_parts(0, 0, 0, 0);
        arm(&mut b, 10);
        assert_eq!(b.tv1_distance(0), Some(10));
        assert_eq!(b.tv1_distance(10), Some(0));
        assert_eq!(b.tv1_distance(11), Some(255));
        assert_eq!(b.tv1_distance(200), Some(66));
    }

    #[test]
    fn next_event_and_expiry() {
        let mut b = WheelCore::with_parts(0, 0, 0, 0);
        assert_eq!(b.next_event(), Tick::MAX);
        arm(&mut b, 70_000);
        // tv3 slot 4 (70000 >> 14 == 4) cascades at tick 65536.
        assert_eq!(b.next_event(), 4 << 14);
        assert_eq!(b.next_expiry(), Some(70_000));
        arm(&mut b, 300);
        assert_eq!(b.next_event(), 256);
        assert_eq!(b.next_expiry(), Some(300));
        let mut p = WheelCore::with_parts(0, 0, 0, 0);
        arm(&mut p, u64::MAX);
        arm(&mut p, MAX_TICK + 1);
        assert_eq!(p.next_event(), Tick::MAX);
        assert_eq!(p.next_expiry(), Some(MAX_TICK + 1));
    }

    #[test]
    fn cascade_resumes_after_budget() {
        let mut b = WheelCore::with_parts(0, 0, 0, 0);
        for i in 0..10 {
            arm(&mut b, 300 + i);
        }
        b.next = 256;
        let mut budget = 4;
        assert!(!b.process_tick(&mut budget));
        assert_eq!((b.cascading, b.next, budget), (1, 256, 0));
        assert_eq!(b.counters.cascaded, 4);
        let mut budget = 100;
        assert!(b.process_tick(&mut budget));
        assert_eq!((b.cascading, b.next, budget), (0, 257, 94));
        assert_eq!(b.counters.cascaded, 10);
        assert_eq!(b.next_event(), 300);
    }

    #[test]
    #[should_panic(expected = "timer cascade: timer does not belong to this base")]
    fn cascade_base_check() {
        let mut b = WheelCore::with_parts(0, 0, 0, 0);
        let s = arm(&mut b, 300);
        b.node_mut(s).base = 1;
        b.next = 256;
        run_tick(&mut b);
    }

    #[test]
    #[should_panic(expected = "timer cascade: armed timer on a destroyed object")]
    fn cascade_destroyed_check() {
        let mut b = WheelCore::with_parts(0, 0, 0, 0);
        let s = arm(&mut b, 300);
        b.node_mut(s).mark_destroyed();
        b.next = 256;
        run_tick(&mut b);
    }
}
