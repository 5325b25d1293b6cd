//! One timer base (the kernel's `struct tvec_base`): the five levels of
//! slot lists, the occupancy bitmaps, and the slab of timer nodes.
//!
//! Everything here is plain data: a [`Base`] is only ever touched while its
//! mutex (in [`super::TimerWheel`]) is held. Lists are intrusive doubly-linked
//! lists threaded through the slab by `u32` indices, so linking, unlinking and
//! re-arming are O(1) and nothing points into the owner of a timer.

use super::handle::{Loc, GEN_MASK, MAX_SLOTS};
use super::Tick;

/// tv1 index bits (`TVR_BITS`).
pub(super) const TVR_BITS: u32 = 8;
/// tv2..tv5 index bits (`TVN_BITS`).
pub(super) const TVN_BITS: u32 = 6;
const TVR_SIZE: usize = 1 << TVR_BITS;
const TVN_SIZE: usize = 1 << TVN_BITS;
const TVR_MASK: u64 = (1 << TVR_BITS) - 1;
const TVN_MASK: u64 = (1 << TVN_BITS) - 1;
/// Largest distance the wheel can represent; farther timers are clamped to
/// it (`MAX_TVAL`).
pub(super) const MAX_TVAL: u64 = (1 << (TVR_BITS + 4 * TVN_BITS)) - 1;

/// Number of wheel lists (tv1 + tv2..tv5).
const WHEEL_LISTS: usize = TVR_SIZE + 4 * TVN_SIZE;
/// The work list: timers detached from tv1 for dispatch (`work_list`).
const WORK: usize = WHEEL_LISTS;
const LISTS: usize = WHEEL_LISTS + 1;

const NIL: u32 = u32::MAX;
const NOT_LINKED: u16 = u16::MAX;

const IN_USE: u8 = 1;
const RUNNING: u8 = 2;
const DESTROYED: u8 = 4;

/// Kernel `INDEX(n)` shift for level `lvl` (1 = tv2 .. 4 = tv5).
#[inline]
fn shift(lvl: usize) -> u32 {
    TVR_BITS + (lvl as u32 - 1) * TVN_BITS
}

#[inline]
fn list_id(lvl: usize, idx: usize) -> usize {
    TVR_SIZE + (lvl - 1) * TVN_SIZE + idx
}

/// A slab node: all the state the wheel keeps about one armed timer.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) expires: Tick,
    pub(super) data: usize,
    prev: u32,
    next: u32,
    gen: u32,
    list: u16,
    base: u8,
    flags: u8,
}

impl Node {
    #[inline]
    pub(super) fn linked(&self) -> bool {
        self.list != NOT_LINKED
    }
    #[inline]
    pub(super) fn running(&self) -> bool {
        self.flags & RUNNING != 0
    }
    #[inline]
    pub(super) fn destroyed(&self) -> bool {
        self.flags & DESTROYED != 0
    }
    #[inline]
    pub(super) fn mark_destroyed(&mut self) {
        self.flags |= DESTROYED;
    }
}

/// One timer base (`struct tvec_base`). Only touched under its lock.
#[derive(Debug)]
pub(super) struct Base {
    /// This base's index, recorded in every node it owns.
    id: u8,
    /// The next tick to process (the kernel's `base->timer_jiffies`).
    pub(super) next: Tick,
    /// The latest `now` any caller asked this base to reach.
    pub(super) clk: Tick,
    /// A thread is inside `__run_timers` for this base.
    pub(super) busy: bool,
    /// Linked nodes (wheel lists and the work list).
    pub(super) count: usize,
    heads: Box<[u32; LISTS]>,
    tails: Box<[u32; LISTS]>,
    /// Occupancy bitmap of the wheel lists: words 0..4 tv1, 4..8 tv2..tv5.
    occupied: [u64; 8],
    pub(super) nodes: Vec<Node>,
    free: u32,
}

impl Base {
    pub(super) fn new(id: usize, start: Tick, capacity: usize) -> Base {
        Base {
            id: id as u8,
            next: start,
            clk: start,
            busy: false,
            count: 0,
            heads: Box::new([NIL; LISTS]),
            tails: Box::new([NIL; LISTS]),
            occupied: [0; 8],
            nodes: Vec::with_capacity(capacity.min(MAX_SLOTS)),
            free: NIL,
        }
    }

    /// The slot named by `loc` if it still holds the same timer (generation
    /// match), i.e. the timer is pending or its handler is running.
    #[inline]
    pub(super) fn valid(&self, loc: Loc) -> Option<u32> {
        let s = loc.slot()?;
        let n = self.nodes.get(s as usize)?;
        (n.flags & IN_USE != 0 && n.gen == loc.gen()).then_some(s)
    }

    #[inline]
    pub(super) fn node(&self, s: u32) -> &Node {
        &self.nodes[s as usize]
    }

    #[inline]
    pub(super) fn node_mut(&mut self, s: u32) -> &mut Node {
        &mut self.nodes[s as usize]
    }

    /// Take a free slab node. Returns `(slot, generation)`.
    #[inline]
    pub(super) fn alloc(&mut self, expires: Tick, data: usize, destroyed: bool) -> (u32, u32) {
        let flags = IN_USE | if destroyed { DESTROYED } else { 0 };
        if self.free != NIL {
            let s = self.free;
            let id = self.id;
            let n = &mut self.nodes[s as usize];
            self.free = n.next;
            n.expires = expires;
            n.data = data;
            n.prev = NIL;
            n.next = NIL;
            n.list = NOT_LINKED;
            n.base = id;
            n.flags = flags;
            (s, n.gen)
        } else {
            let s = self.nodes.len();
            assert!(s < MAX_SLOTS, "timer wheel: too many timers on one base");
            self.nodes.push(Node {
                expires,
                data,
                prev: NIL,
                next: NIL,
                gen: 0,
                list: NOT_LINKED,
                base: self.id,
                flags,
            });
            (s as u32, 0)
        }
    }

    /// Return an unlinked, not running node to the free list; its generation
    /// moves on so every handle naming it becomes stale.
    #[inline]
    pub(super) fn free(&mut self, s: u32) {
        let free = self.free;
        let n = &mut self.nodes[s as usize];
        debug_assert!(!n.linked() && !n.running());
        n.flags = 0;
        n.gen = n.gen.wrapping_add(1) & GEN_MASK;
        n.next = free;
        self.free = s;
    }

    #[inline]
    fn set_bit(&mut self, list: usize) {
        self.occupied[list / 64] |= 1 << (list % 64);
    }

    #[inline]
    fn clear_bit(&mut self, list: usize) {
        self.occupied[list / 64] &= !(1 << (list % 64));
    }

    #[inline]
    fn push_tail(&mut self, list: usize, s: u32) {
        let tail = self.tails[list];
        {
            let n = &mut self.nodes[s as usize];
            n.prev = tail;
            n.next = NIL;
            n.list = list as u16;
        }
        if tail == NIL {
            self.heads[list] = s;
            if list < WHEEL_LISTS {
                self.set_bit(list);
            }
        } else {
            self.nodes[tail as usize].next = s;
        }
        self.tails[list] = s;
        self.count += 1;
    }

    /// Unlink a linked node (the kernel's `detach_timer`).
    #[inline]
    pub(super) fn unlink(&mut self, s: u32) {
        let (prev, next, list) = {
            let n = &mut self.nodes[s as usize];
            let r = (n.prev, n.next, n.list as usize);
            n.list = NOT_LINKED;
            r
        };
        debug_assert!(list < LISTS);
        if prev == NIL {
            self.heads[list] = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tails[list] = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        if self.heads[list] == NIL && list < WHEEL_LISTS {
            self.clear_bit(list);
        }
        self.count -= 1;
    }

    /// `internal_add_timer`: link node `s` into the list its expiry selects.
    #[inline]
    pub(super) fn internal_add_timer(&mut self, s: u32) {
        let expires = self.nodes[s as usize].expires;
        let clk = self.next;
        let list = if expires < clk {
            // Already expired: the current slot, run at the next tick.
            (clk & TVR_MASK) as usize
        } else {
            let idx = expires - clk;
            if idx < 1 << TVR_BITS {
                (expires & TVR_MASK) as usize
            } else if idx < 1 << shift(2) {
                list_id(1, ((expires >> shift(1)) & TVN_MASK) as usize)
            } else if idx < 1 << shift(3) {
                list_id(2, ((expires >> shift(2)) & TVN_MASK) as usize)
            } else if idx < 1 << shift(4) {
                list_id(3, ((expires >> shift(3)) & TVN_MASK) as usize)
            } else {
                // Beyond the wheel: clamp to MAX_TVAL, as the kernel does.
                let e = if idx > MAX_TVAL {
                    clk + MAX_TVAL
                } else {
                    expires
                };
                list_id(4, ((e >> shift(4)) & TVN_MASK) as usize)
            }
        };
        self.push_tail(list, s);
    }

    /// `cascade`: move every timer of level `lvl` slot `index` down the
    /// wheel. Returns `index` (the kernel uses it to decide whether to
    /// cascade the next level too).
    ///
    /// # Panics
    ///
    /// With the kernel's `BUG_ON` symptoms if a node does not belong to this
    /// base or its owner was destroyed while it was still armed.
    pub(super) fn cascade(&mut self, lvl: usize, index: usize) -> usize {
        let list = list_id(lvl, index);
        let mut cur = self.heads[list];
        if cur == NIL {
            return index;
        }
        self.heads[list] = NIL;
        self.tails[list] = NIL;
        self.clear_bit(list);
        while cur != NIL {
            let n = &mut self.nodes[cur as usize];
            let next = n.next;
            if n.base != self.id {
                panic!(
                    "timer cascade: timer does not belong to this base \
                     (node base {}, cascading base {})",
                    n.base, self.id
                );
            }
            if n.flags & DESTROYED != 0 {
                panic!(
                    "timer cascade: armed timer on a destroyed object \
                     (base {}, slot {}, expires {}, data {:#x})",
                    self.id, cur, n.expires, n.data
                );
            }
            n.list = NOT_LINKED;
            self.count -= 1;
            self.internal_add_timer(cur);
            cur = next;
        }
        index
    }

    /// Process tick `self.next` (one iteration of `__run_timers`' loop):
    /// cascade if the tv1 index wrapped, advance, and move the tv1 slot to
    /// the work list.
    pub(super) fn process_tick(&mut self) {
        let index = (self.next & TVR_MASK) as usize;
        if index == 0 {
            for lvl in 1..=4 {
                let i = ((self.next >> shift(lvl)) & TVN_MASK) as usize;
                if self.cascade(lvl, i) != 0 {
                    break;
                }
            }
        }
        self.next += 1;
        let mut cur = self.heads[index];
        if cur == NIL {
            return;
        }
        if self.heads[WORK] == NIL {
            // Splice the whole list (the kernel's `list_replace_init`).
            self.heads[WORK] = cur;
            self.tails[WORK] = self.tails[index];
            while cur != NIL {
                let n = &mut self.nodes[cur as usize];
                n.list = WORK as u16;
                cur = n.next;
            }
        } else {
            while cur != NIL {
                let next = self.nodes[cur as usize].next;
                self.count -= 1;
                self.push_tail(WORK, cur);
                cur = next;
            }
        }
        self.heads[index] = NIL;
        self.tails[index] = NIL;
        self.clear_bit(index);
    }

    /// Detach the first timer of the work list, if any.
    #[inline]
    pub(super) fn pop_work(&mut self) -> Option<u32> {
        let s = self.heads[WORK];
        if s == NIL {
            return None;
        }
        self.unlink(s);
        Some(s)
    }

    /// Mark node `s` as running its handler.
    #[inline]
    pub(super) fn set_running(&mut self, s: u32, running: bool) {
        let n = &mut self.nodes[s as usize];
        if running {
            n.flags |= RUNNING;
        } else {
            n.flags &= !RUNNING;
        }
    }

    /// Distance (0..256) from tv1 index `idx` to the first occupied tv1 slot
    /// at or after it, cyclically.
    #[inline]
    fn tv1_distance(&self, idx: usize) -> Option<u64> {
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

    /// The first tick `>= self.next` at which `__run_timers` has anything to
    /// do (a non-empty tv1 slot or a non-empty slot to cascade), or
    /// `Tick::MAX` if nothing is pending. Lets `run_timers` skip empty
    /// stretches in O(1) instead of ticking through them.
    pub(super) fn next_event(&self) -> Tick {
        if self.count == 0 {
            return Tick::MAX;
        }
        let next = self.next;
        let mut best = match self.tv1_distance((next & TVR_MASK) as usize) {
            Some(d) => next + d,
            None => Tick::MAX,
        };
        for lvl in 1..=4 {
            let bits = self.occupied[3 + lvl];
            if bits == 0 {
                continue;
            }
            let sh = shift(lvl);
            let unit = 1u64 << sh;
            let b = (next + unit - 1) & !(unit - 1);
            let s0 = ((b >> sh) & TVN_MASK) as u32;
            let d = u64::from(bits.rotate_right(s0).trailing_zeros());
            best = best.min(b + (d << sh));
        }
        best
    }

    fn list_min(&self, list: usize) -> Option<Tick> {
        let mut cur = self.heads[list];
        let mut min = None::<Tick>;
        while cur != NIL {
            let n = &self.nodes[cur as usize];
            min = Some(min.map_or(n.expires, |m| m.min(n.expires)));
            cur = n.next;
        }
        min
    }

    /// The earliest expiry of any pending timer on this base (exact).
    ///
    /// Scans the first occupied list of tv1, the first two occupied lists
    /// from the current index of tv2..tv4 (the current index holds either
    /// the nearest or the farthest timers of that level) and all of tv5
    /// (clamped timers break the slot order there). O(length of those lists).
    pub(super) fn next_expiry(&self) -> Option<Tick> {
        if self.count == 0 {
            return None;
        }
        let mut best = self.list_min(WORK);
        let mut take = |m: Option<Tick>| {
            if let Some(m) = m {
                best = Some(best.map_or(m, |b: Tick| b.min(m)));
            }
        };
        let idx = (self.next & TVR_MASK) as usize;
        if let Some(d) = self.tv1_distance(idx) {
            take(self.list_min((idx + d as usize) % TVR_SIZE));
        }
        for lvl in 1..=4 {
            let bits = self.occupied[3 + lvl];
            if bits == 0 {
                continue;
            }
            let s0 = ((self.next >> shift(lvl)) & TVN_MASK) as u32;
            let mut rest = bits.rotate_right(s0);
            let mut seen = 0;
            while rest != 0 && (lvl == 4 || seen < 2) {
                let d = rest.trailing_zeros();
                rest &= rest - 1;
                let i = ((s0 + d) as usize) % TVN_SIZE;
                take(self.list_min(list_id(lvl, i)));
                seen += 1;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(b: &mut Base, expires: Tick) -> u32 {
        let (s, _) = b.alloc(expires, expires as usize, false);
        b.internal_add_timer(s);
        s
    }

    /// Which level a node sits in (0 = tv1 .. 4 = tv5, 5 = work).
    fn level_of(b: &Base, s: u32) -> usize {
        let l = b.node(s).list as usize;
        if l < TVR_SIZE {
            0
        } else if l == WORK {
            5
        } else {
            1 + (l - TVR_SIZE) / TVN_SIZE
        }
    }

    #[test]
    fn level_boundaries() {
        let mut b = Base::new(0, 0, 0);
        let cases = [
            (0, 0),
            (255, 0),
            (256, 1),
            ((1 << 14) - 1, 1),
            (1 << 14, 2),
            ((1 << 20) - 1, 2),
            (1 << 20, 3),
            ((1 << 26) - 1, 3),
            (1 << 26, 4),
            ((1 << 32) - 1, 4),
            (1 << 32, 4),
            (u64::MAX >> 2, 4),
        ];
        for (e, lvl) in cases {
            let s = arm(&mut b, e);
            assert_eq!(level_of(&b, s), lvl, "expires {e}");
        }
        assert_eq!(b.count, cases.len());
    }

    #[test]
    fn clamp_goes_to_last_tv5_slot() {
        let mut b = Base::new(0, 1000, 0);
        let s = arm(&mut b, u64::MAX >> 2);
        let expect = list_id(4, (((1000 + MAX_TVAL) >> shift(4)) & TVN_MASK) as usize);
        assert_eq!(b.node(s).list as usize, expect);
    }

    #[test]
    fn tv1_distance_wraps() {
        let mut b = Base::new(0, 0, 0);
        arm(&mut b, 10);
        assert_eq!(b.tv1_distance(0), Some(10));
        assert_eq!(b.tv1_distance(10), Some(0));
        assert_eq!(b.tv1_distance(11), Some(255));
        assert_eq!(b.tv1_distance(200), Some(66));
    }

    #[test]
    fn next_event_and_expiry() {
        let mut b = Base::new(0, 0, 0);
        assert_eq!(b.next_event(), Tick::MAX);
        arm(&mut b, 70_000);
        // tv3 slot 4 (70000 >> 14 == 4) cascades at tick 65536.
        assert_eq!(b.next_event(), 4 << 14);
        assert_eq!(b.next_expiry(), Some(70_000));
        arm(&mut b, 300);
        assert_eq!(b.next_event(), 256);
        assert_eq!(b.next_expiry(), Some(300));
    }

    #[test]
    #[should_panic(expected = "timer cascade: timer does not belong to this base")]
    fn cascade_base_check() {
        let mut b = Base::new(0, 0, 0);
        let s = arm(&mut b, 300);
        b.node_mut(s).base = 1;
        b.next = 256;
        b.process_tick();
    }

    #[test]
    #[should_panic(expected = "timer cascade: armed timer on a destroyed object")]
    fn cascade_destroyed_check() {
        let mut b = Base::new(0, 0, 0);
        let s = arm(&mut b, 300);
        b.node_mut(s).mark_destroyed();
        b.next = 256;
        b.process_tick();
    }
}
