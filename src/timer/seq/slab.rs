//! The sequential core's storage (the kernel's `struct tvec_base` minus its
//! lock): the slab of timer nodes and the intrusive lists threaded through
//! it.
//!
//! Owns node allocation, generations and slot retirement, list linking, the
//! occupancy bitmaps and the work list. Rules: plain data, `&mut self`, no
//! lock and no atomic; the concurrent layer (`timer/mod.rs`) keeps one
//! [`WheelCore`] per base behind that base's mutex. Which list a timer
//! belongs in, cascading and skipping empty stretches are the wheel
//! geometry, in `levels.rs`; the public sequential API is in `mod.rs`.
//!
//! Lists are doubly-linked through the slab by `u32` indices, so linking,
//! unlinking and re-arming are O(1) and nothing points into the owner of a
//! timer. A node records the *physical* list it is on. The 256 tv1 slots and
//! the work list share a pool of 257 physical lists: expiring a tv1 slot
//! swaps its physical list with the (empty) work list's, so moving a whole
//! slot to the work list is O(1) however many timers it holds (the kernel's
//! `list_replace_init`).

use super::nodes::Nodes;
use crate::timer::handle::{GEN_MASK, MAX_SLOTS};
use crate::timer::Tick;

/// tv1 index bits (`TVR_BITS`).
pub(crate) const TVR_BITS: u32 = 8;
/// Index bits of every higher level (`TVN_BITS`).
pub(crate) const TVN_BITS: u32 = 6;
pub(crate) const TVR_SIZE: usize = 1 << TVR_BITS;
pub(crate) const TVN_SIZE: usize = 1 << TVN_BITS;
/// Levels: tv1 plus nine 64-slot levels (tv2..tv10), spanning 2^62 ticks.
pub(crate) const LEVELS: usize = 10;

/// Physical lists shared by the tv1 slots and the work list.
const POOL: usize = TVR_SIZE + 1;
/// First physical list of the levels above tv1 (level `l`, slot `i` is
/// `LEVEL0 + (l - 1) * TVN_SIZE + i`).
pub(crate) const LEVEL0: usize = POOL;
/// Timers that can never fire (expiry beyond `MAX_TICK`): never cascaded.
pub(crate) const PARKED: usize = LEVEL0 + (LEVELS - 1) * TVN_SIZE;
const LISTS: usize = PARKED + 1;
/// Occupancy bits: one per tv1 slot, then one per higher-level slot.
const BITS: usize = TVR_SIZE + (LEVELS - 1) * TVN_SIZE;
/// Pool owner value for the physical list serving as the work list.
const OWNER_WORK: u16 = u16::MAX;

pub(crate) const NIL: u32 = u32::MAX;
const NOT_LINKED: u16 = u16::MAX;

const IN_USE: u8 = 1;
const RUNNING: u8 = 2;
const DESTROYED: u8 = 4;
/// The slot's generation is used up (see `handle.rs`): never allocated again.
const RETIRED: u8 = 8;

/// A slab node: all the state the wheel keeps about one armed timer.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) expires: Tick,
    pub(crate) data: usize,
    pub(crate) prev: u32,
    pub(crate) next: u32,
    pub(crate) gen: u32,
    /// Physical list id, or `NOT_LINKED`.
    pub(crate) list: u16,
    /// Index of the base that owns the node (the kernel's `timer->base`).
    pub(crate) base: u8,
    pub(crate) flags: u8,
}

impl Node {
    #[inline]
    pub(crate) fn linked(&self) -> bool {
        self.list != NOT_LINKED
    }
    #[inline]
    pub(crate) fn running(&self) -> bool {
        self.flags & RUNNING != 0
    }
    #[inline]
    pub(crate) fn destroyed(&self) -> bool {
        self.flags & DESTROYED != 0
    }
    #[inline]
    pub(crate) fn mark_destroyed(&mut self) {
        self.flags |= DESTROYED;
    }
}

/// Work counters of one core (see [`crate::timer::WheelWork`]).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) ticks: u64,
    pub(crate) cascaded: u64,
    pub(crate) retired: u64,
}

/// A sequential timer wheel: the slab, the ten levels, the parked list and
/// the work list of one base (`struct tvec_base` without its lock).
///
/// Every operation is `&mut self`; nothing here locks or uses an atomic.
/// Public use goes through the methods in `seq/mod.rs`
/// ([`WheelCore::insert`], [`WheelCore::advance`], ...); the concurrent
/// [`TimerWheel`](crate::timer::TimerWheel) keeps one per base behind the
/// base's mutex and uses the crate-private methods below.
#[derive(Debug)]
pub struct WheelCore {
    /// This base's index, recorded in every node it owns.
    pub(crate) id: u8,
    /// The next tick to process (the kernel's `base->timer_jiffies`).
    pub(crate) next: Tick,
    /// Nonzero while the cascade of tick `next` is paused (a runner stopped
    /// mid-cascade when its budget ran out): the level to continue with.
    pub(crate) cascading: u8,
    /// Linked nodes (wheel lists, parked list and the work list).
    pub(crate) count: usize,
    pub(crate) heads: Box<[u32; LISTS]>,
    tails: Box<[u32; LISTS]>,
    /// Occupancy bitmap of the wheel slots: bits 0..256 tv1 (words 0..4),
    /// then 64 bits (one word) per higher level.
    pub(crate) occupied: [u64; BITS / 64],
    /// Physical list of each tv1 slot.
    tv1: [u16; TVR_SIZE],
    /// For each pool list: the tv1 slot it serves, or `OWNER_WORK`.
    owner: [u16; POOL],
    /// Physical list serving as the work list.
    work: u16,
    pub(crate) nodes: Nodes,
    free: u32,
    /// Generation of a fresh slot; a slot retires when its generation would
    /// come back to it (after 2^31 uses).
    gen0: u32,
    pub(crate) counters: Counters,
}

impl WheelCore {
    /// A core for base `id` at tick `start`, room for `capacity` nodes,
    /// generations starting at `gen0` (callers check `start <= MAX_TICK`).
    pub(crate) fn with_parts(id: usize, start: Tick, capacity: usize, gen0: u32) -> WheelCore {
        let mut owner = [0u16; POOL];
        for (i, o) in owner.iter_mut().enumerate().take(TVR_SIZE) {
            *o = i as u16;
        }
        owner[TVR_SIZE] = OWNER_WORK;
        WheelCore {
            id: id as u8,
            next: start,
            cascading: 0,
            count: 0,
            heads: Box::new([NIL; LISTS]),
            tails: Box::new([NIL; LISTS]),
            occupied: [0; BITS / 64],
            tv1: core::array::from_fn(|i| i as u16),
            owner,
            work: TVR_SIZE as u16,
            nodes: Nodes::with_capacity(capacity.min(MAX_SLOTS)),
            free: NIL,
            gen0: gen0 & GEN_MASK,
            counters: Counters::default(),
        }
    }

    /// `slot` if it still holds the arming numbered `gen` (generation
    /// match), i.e. that timer is pending or its handler is running.
    #[inline]
    pub(crate) fn valid(&self, slot: u32, gen: u32) -> Option<u32> {
        let n = self.nodes.get(slot as usize)?;
        (n.flags & IN_USE != 0 && n.gen == gen).then_some(slot)
    }

    #[inline]
    pub(crate) fn node(&self, s: u32) -> &Node {
        &self.nodes[s as usize]
    }

    #[inline]
    pub(crate) fn node_mut(&mut self, s: u32) -> &mut Node {
        &mut self.nodes[s as usize]
    }

    /// Take a free slab node. Returns `(slot, generation)`.
    ///
    /// # Panics
    ///
    /// `timer wheel: too many timers on one base` when all
    /// [`MAX_TIMERS_PER_BASE`](super::MAX_TIMERS_PER_BASE) slots are pending,
    /// running or retired.
    #[inline]
    pub(crate) fn alloc(&mut self, expires: Tick, data: usize, destroyed: bool) -> (u32, u32) {
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
            assert!(
                s < MAX_SLOTS,
                "timer wheel: too many timers on one base (MAX_TIMERS_PER_BASE = {MAX_SLOTS})"
            );
            self.nodes.push(Node {
                expires,
                data,
                prev: NIL,
                next: NIL,
                gen: self.gen0,
                list: NOT_LINKED,
                base: self.id,
                flags,
            });
            (s as u32, self.gen0)
        }
    }

    /// Return an unlinked, not running node: its generation moves on so
    /// every handle naming it becomes stale, and it goes back on the free
    /// list, unless that generation would repeat one already handed out
    /// (after 2^31 uses of the slot): then the slot is retired for good
    /// (`handle.rs` explains why).
    #[inline]
    pub(crate) fn free(&mut self, s: u32) {
        let (free, gen0) = (self.free, self.gen0);
        let n = &mut self.nodes[s as usize];
        debug_assert!(!n.linked() && !n.running());
        let gen = n.gen.wrapping_add(1) & GEN_MASK;
        if gen == gen0 {
            n.flags = RETIRED;
            self.counters.retired += 1;
            return;
        }
        n.flags = 0;
        n.gen = gen;
        n.next = free;
        self.free = s;
    }

    /// The occupancy bit of physical list `list`, if it is a wheel slot.
    #[inline]
    fn bit(&self, list: usize) -> Option<usize> {
        if list < POOL {
            let o = self.owner[list];
            (o != OWNER_WORK).then_some(o as usize)
        } else if list < PARKED {
            Some(TVR_SIZE + (list - LEVEL0))
        } else {
            None
        }
    }

    /// The physical list of tv1 slot `idx`.
    #[inline]
    pub(crate) fn tv1_list(&self, idx: usize) -> usize {
        self.tv1[idx] as usize
    }

    #[inline]
    pub(crate) fn push_tail(&mut self, list: usize, s: u32) {
        let tail = self.tails[list];
        {
            let n = &mut self.nodes[s as usize];
            n.prev = tail;
            n.next = NIL;
            n.list = list as u16;
        }
        if tail == NIL {
            self.heads[list] = s;
            if let Some(b) = self.bit(list) {
                self.occupied[b / 64] |= 1 << (b % 64);
            }
        } else {
            self.nodes[tail as usize].next = s;
        }
        self.tails[list] = s;
        self.count += 1;
    }

    /// Unlink a linked node (the kernel's `detach_timer`).
    #[inline]
    pub(crate) fn unlink(&mut self, s: u32) {
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
        if self.heads[list] == NIL {
            if let Some(b) = self.bit(list) {
                self.occupied[b / 64] &= !(1 << (b % 64));
            }
        }
        self.count -= 1;
    }

    /// Move every timer of tv1 slot `idx` to the work list. O(1) when the
    /// work list is empty (always, from `run_base`): the slot's physical
    /// list *becomes* the work list and the old work list serves the slot.
    pub(crate) fn expire_tv1_slot(&mut self, idx: usize) {
        let list = self.tv1[idx] as usize;
        if self.heads[list] == NIL {
            return;
        }
        let work = self.work as usize;
        if self.heads[work] == NIL {
            self.owner[list] = OWNER_WORK;
            self.owner[work] = idx as u16;
            self.tv1[idx] = work as u16;
            self.work = list as u16;
            self.occupied[idx / 64] &= !(1 << (idx % 64));
        } else {
            while self.heads[list] != NIL {
                let s = self.heads[list];
                self.unlink(s);
                self.push_tail(work, s);
            }
        }
    }

    /// Fire and free every timer on the work list in order, calling
    /// `f(data, tick)` for each after it is freed (so a panicking `f` leaves
    /// the core consistent). `tick` is the tick that moved them there.
    pub(crate) fn drain_work(&mut self, f: &mut impl FnMut(usize, Tick)) -> usize {
        let mut fired = 0;
        while let Some(s) = self.work_head() {
            let data = self.nodes[s as usize].data;
            // Work-list timers were moved there by `process_tick`: next >= 1.
            let tick = self.next - 1;
            self.unlink(s);
            self.free(s);
            f(data, tick);
            fired += 1;
        }
        fired
    }

    /// The first timer of the work list, if any (still linked).
    #[inline]
    pub(crate) fn work_head(&self) -> Option<u32> {
        let s = self.heads[self.work as usize];
        (s != NIL).then_some(s)
    }

    /// The physical list serving as the work list.
    #[inline]
    pub(crate) fn work_list(&self) -> usize {
        self.work as usize
    }

    /// Mark node `s` as running its handler (or not).
    #[inline]
    pub(crate) fn set_running(&mut self, s: u32, running: bool) {
        let n = &mut self.nodes[s as usize];
        if running {
            n.flags |= RUNNING;
        } else {
            n.flags &= !RUNNING;
        }
    }

    /// Nodes pending or running their handler (O(slab); a test hook).
    pub(crate) fn in_use(&self) -> u64 {
        self.nodes.iter().filter(|n| n.flags & IN_USE != 0).count() as u64
    }

    /// The smallest expiry on physical list `list`.
    pub(crate) fn list_min(&self, list: usize) -> Option<Tick> {
        let mut cur = self.heads[list];
        let mut min = None::<Tick>;
        while cur != NIL {
            let n = &self.nodes[cur as usize];
            min = Some(min.map_or(n.expires, |m| m.min(n.expires)));
            cur = n.next;
        }
        min
    }

    /// [`WheelCore::list_min`] reading at most `cap` timers: `None` if the
    /// list is longer.
    pub(crate) fn list_min_capped(&self, list: usize, cap: usize) -> Option<Option<Tick>> {
        let mut cur = self.heads[list];
        let mut min = None::<Tick>;
        let mut seen = 0;
        while cur != NIL {
            if seen == cap {
                return None;
            }
            seen += 1;
            let n = &self.nodes[cur as usize];
            min = Some(min.map_or(n.expires, |m| m.min(n.expires)));
            cur = n.next;
        }
        Some(min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_retires_instead_of_wrapping_its_generation() {
        let gen0 = 5;
        let mut b = WheelCore::with_parts(3, 0, 0, gen0);
        let (s, g) = b.alloc(10, 1, false);
        assert_eq!((s, g), (0, gen0));
        // Pretend the slot has served 2^31 - 1 armings already.
        b.node_mut(s).gen = gen0.wrapping_sub(1) & GEN_MASK;
        let last = b.node(s).gen;
        assert_eq!(b.valid(s, last), Some(s));
        b.free(s);
        assert_eq!(b.counters.retired, 1);
        assert_eq!(b.valid(s, last), None);
        // Every generation the slot ever had stays stale: it is never reused.
        for g in [gen0, gen0.wrapping_sub(1) & GEN_MASK, 0, GEN_MASK] {
            assert_eq!(b.valid(s, g), None);
        }
        let (s2, g2) = b.alloc(10, 2, false);
        assert_ne!(s2, s);
        assert_eq!(g2, gen0);
        assert_eq!(b.valid(s, gen0), None);
        // An ordinary free bumps the generation and recycles the slot.
        b.free(s2);
        let (s3, g3) = b.alloc(10, 3, false);
        assert_eq!((s3, g3), (s2, gen0 + 1));
        assert_eq!(b.valid(s2, gen0), None);
    }

    #[test]
    fn generation_wraps_through_the_mask_but_retires_at_gen0() {
        // gen0 = 0: the generation runs 0..=GEN_MASK, then the slot retires.
        let mut b = WheelCore::with_parts(0, 0, 0, 0);
        let (s, _) = b.alloc(1, 0, false);
        b.node_mut(s).gen = GEN_MASK - 1;
        b.free(s);
        let (s, g) = b.alloc(1, 0, false);
        assert_eq!(g, GEN_MASK);
        b.free(s);
        assert_eq!(b.counters.retired, 1);
        assert_eq!(b.alloc(1, 0, false).0, s + 1);
    }
}
