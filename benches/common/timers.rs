//! The timer benches' workloads and peers: the same operations on
//! neighcache's sequential `WheelCore`, its concurrent `TimerWheel`, a
//! `BinaryHeap` timer queue and a `Mutex<BinaryHeap>` (the fair peer for a
//! timer structure shared between threads).
//!
//! Every structure implements [`Timers`]; a workload is written once
//! against it, so each does the same work. The heap is the usual
//! lazy-deletion timer queue: entries carry a per-timer generation; cancel
//! and re-arm bump it (re-arm pushes a new entry) and the heap is compacted
//! with `retain` when stale entries exceed half of it, so it ends in the
//! same state as the wheel; expire pops until nothing is due, skipping stale
//! entries.
//!
//! Every structure is *warmed* before a measurement (untimed): its memory
//! has been written once and its slabs and vectors have the capacity the
//! workload needs, as in a running daemon. Otherwise the first touch of
//! freshly mapped pages (a page fault per 4 KiB, about 10 ns per timer) and
//! a growing heap's reallocation would be part of every figure.

use neighcache::timer::{Tick, Timer, TimerError, TimerKey, TimerWheel, WheelCore};
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Timers per workload.
pub const N: usize = 100_000;
/// Expiries spread over 1..=SPAN ticks (1 tick = 1 ms: one minute).
pub const SPAN: Tick = 60_000;
/// How far a re-arm moves a timer (the neighbour-confirm pattern).
pub const REARM_BY: Tick = 30_000;
/// The last tick any workload's timer can expire at.
pub const END: Tick = SPAN + 4 * REARM_BY;
/// The lifecycle's confirmation interval (5 s).
pub const CONFIRM_EVERY: Tick = 5_000;

/// Pseudo-random expiries in 1..=SPAN (same sequence for every peer).
pub fn expiries(n: usize) -> Vec<Tick> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + x % SPAN
        })
        .collect()
}

/// A scattered visiting order of `0..n` (stride coprime with `n`).
pub fn order(n: usize) -> Vec<usize> {
    (0..n).map(|i| (i * 7919) % n).collect()
}

/// One timer structure, driven by timer ids `0..N` (one thread's share).
pub trait Timers {
    /// Write the structure's memory once and leave it empty (untimed).
    fn warm(&mut self);
    /// Arm timer `id` (idle) at `e`.
    fn arm(&mut self, id: usize, e: Tick);
    /// Move the pending timer `id` to `e`.
    fn rearm(&mut self, id: usize, e: Tick);
    /// Cancel the pending timer `id`.
    fn cancel(&mut self, id: usize);
    /// Fire everything due up to `now`, summing the payloads.
    fn expire(&mut self, now: Tick) -> usize;
}

/// The lazy-deletion heap (single thread, no lock).
pub struct Heap {
    heap: BinaryHeap<Reverse<(Tick, u32, u32)>>, // (expires, id, generation)
    gen: Vec<u32>,
    armed: Vec<bool>,
    stale: usize,
}

impl Heap {
    /// An empty heap for ids `0..n`, with room for the stale entries a
    /// round of re-arms leaves (compaction starts at half stale).
    pub fn new(n: usize) -> Heap {
        Heap {
            heap: BinaryHeap::with_capacity(2 * n + 1),
            gen: vec![0; n],
            armed: vec![false; n],
            stale: 0,
        }
    }

    fn warm_heap(&mut self) {
        let cap = self.heap.capacity();
        for _ in 0..cap {
            self.heap.push(Reverse((0, 0, 0)));
        }
        self.heap.clear();
        self.gen.fill(1);
        self.armed.fill(false);
    }

    #[inline]
    fn invalidate(&mut self, id: usize) {
        self.gen[id] = self.gen[id].wrapping_add(1);
        self.stale += 1;
        if self.stale * 2 > self.heap.len() {
            let gen = &self.gen;
            self.heap
                .retain(|Reverse((_, i, g))| gen[*i as usize] == *g);
            self.stale = 0;
        }
    }

    #[inline]
    fn schedule(&mut self, id: usize, e: Tick) {
        if self.armed[id] {
            self.invalidate(id);
        }
        self.armed[id] = true;
        self.heap.push(Reverse((e, id as u32, self.gen[id])));
    }

    /// Pop the next live entry due by `now`.
    #[inline]
    fn pop_due(&mut self, now: Tick) -> Option<usize> {
        while let Some(&Reverse((e, id, g))) = self.heap.peek() {
            if e > now {
                return None;
            }
            self.heap.pop();
            if self.gen[id as usize] != g {
                self.stale -= 1;
                continue;
            }
            self.armed[id as usize] = false;
            return Some(id as usize);
        }
        None
    }
}

impl Timers for Heap {
    fn warm(&mut self) {
        self.warm_heap();
    }
    #[inline]
    fn arm(&mut self, id: usize, e: Tick) {
        self.schedule(id, e);
    }
    #[inline]
    fn rearm(&mut self, id: usize, e: Tick) {
        self.schedule(id, e);
    }
    #[inline]
    fn cancel(&mut self, id: usize) {
        if self.armed[id] {
            self.armed[id] = false;
            self.invalidate(id);
        }
    }
    fn expire(&mut self, now: Tick) -> usize {
        let mut sum = 0;
        while let Some(id) = self.pop_due(now) {
            sum += id;
        }
        sum
    }
}

/// neighcache's sequential core: a key per armed timer.
pub struct Core {
    core: WheelCore,
    keys: Vec<Option<TimerKey>>,
}

impl Core {
    /// An empty core with room for ids `0..n`.
    pub fn new(n: usize) -> Core {
        Core {
            core: WheelCore::with_capacity(0, n),
            keys: vec![None; n],
        }
    }
}

impl Timers for Core {
    fn warm(&mut self) {
        let keys: Vec<TimerKey> = (0..self.keys.len())
            .map(|i| self.core.insert(1, i))
            .collect();
        for k in keys {
            self.core.remove(k);
        }
    }
    #[inline]
    fn arm(&mut self, id: usize, e: Tick) {
        self.keys[id] = Some(self.core.insert(e, id));
    }
    #[inline]
    fn rearm(&mut self, id: usize, e: Tick) {
        let k = self.keys[id].expect("armed");
        assert!(self.core.reset(k, e));
    }
    #[inline]
    fn cancel(&mut self, id: usize) {
        let k = self.keys[id].take().expect("armed");
        assert!(self.core.remove(k).is_some());
    }
    fn expire(&mut self, now: Tick) -> usize {
        let mut sum = 0;
        self.core.advance(now, |d, _| sum += d).unwrap();
        sum
    }
}

/// One thread's view of a shared structure: its base (or heap) and its ids.
pub trait Shared: Sync {
    /// Write the structure's memory once and leave it empty (untimed).
    fn warm(&self);
    /// Arm timer `id` of thread `th` at `e`.
    fn arm(&self, th: usize, id: usize, e: Tick);
    /// Move the pending timer `id` of thread `th` to `e`.
    fn rearm(&self, th: usize, id: usize, e: Tick);
    /// Cancel the pending timer `id` of thread `th`.
    fn cancel(&self, th: usize, id: usize);
    /// Thread `th` fires what is due up to `now` (handlers run unlocked).
    fn expire(&self, th: usize, now: Tick) -> usize;
}

/// The concurrent wheel: one base per thread, each thread's timers homed on
/// its base (the per-CPU design), handlers run with the lock released.
pub struct Wheel {
    wheel: TimerWheel,
    timers: Vec<Vec<Timer>>,
}

impl Wheel {
    /// `threads` bases, `per_thread` timers each.
    pub fn new(threads: usize, per_thread: usize) -> Wheel {
        Wheel {
            wheel: TimerWheel::with_capacity(threads, 0, per_thread),
            timers: (0..threads)
                .map(|th| (0..per_thread).map(|i| Timer::new(i, th)).collect())
                .collect(),
        }
    }
}

impl Shared for Wheel {
    fn warm(&self) {
        for t in self.timers.iter().flatten() {
            self.wheel.add_timer(t, 1);
        }
        for t in self.timers.iter().flatten() {
            self.wheel.del_timer(t);
        }
    }
    #[inline]
    fn arm(&self, th: usize, id: usize, e: Tick) {
        self.wheel.add_timer(&self.timers[th][id], e);
    }
    #[inline]
    fn rearm(&self, th: usize, id: usize, e: Tick) {
        self.wheel.mod_timer(&self.timers[th][id], e);
    }
    #[inline]
    fn cancel(&self, th: usize, id: usize) {
        assert!(self.wheel.del_timer(&self.timers[th][id]));
    }
    fn expire(&self, th: usize, now: Tick) -> usize {
        let mut sum = 0;
        match self.wheel.run_timers_on(th, now, |d| sum += d) {
            // The wheel has one clock: another thread already asked for a
            // later tick (the lifecycle's rounds are not synchronised between
            // threads). Nothing of this thread's is due before its final
            // run, which every thread makes with the same `now`.
            Ok(_) | Err(TimerError::TimeWentBackwards { .. }) => sum,
            Err(e) => panic!("{e}"),
        }
    }
}

/// One heap behind one mutex, shared by every thread (ids of thread `th`
/// are `th * per_thread + id`); expiry pops one timer per lock hold and
/// runs its handler unlocked, as a shared timer structure must.
pub struct MutexHeap {
    heap: Mutex<Heap>,
    per_thread: usize,
}

impl MutexHeap {
    /// A heap for `threads * per_thread` ids.
    pub fn new(threads: usize, per_thread: usize) -> MutexHeap {
        MutexHeap {
            heap: Mutex::new(Heap::new(threads * per_thread)),
            per_thread,
        }
    }
}

impl Shared for MutexHeap {
    fn warm(&self) {
        self.heap.lock().warm_heap();
    }
    #[inline]
    fn arm(&self, th: usize, id: usize, e: Tick) {
        self.heap.lock().schedule(th * self.per_thread + id, e);
    }
    #[inline]
    fn rearm(&self, th: usize, id: usize, e: Tick) {
        self.heap.lock().schedule(th * self.per_thread + id, e);
    }
    #[inline]
    fn cancel(&self, th: usize, id: usize) {
        Timers::cancel(&mut *self.heap.lock(), th * self.per_thread + id);
    }
    fn expire(&self, _th: usize, now: Tick) -> usize {
        let mut sum = 0;
        loop {
            let Some(id) = self.heap.lock().pop_due(now) else {
                return sum;
            };
            sum += id; // the "handler", unlocked
        }
    }
}

/// A workload: what is armed before the measurement, and what is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Arm every timer into an empty structure.
    Schedule,
    /// Cancel every (armed) timer, in scattered order.
    Cancel,
    /// Run until every (armed) timer has fired.
    Expire,
    /// Move every (armed) timer `REARM_BY` later, in scattered order.
    Rearm,
    /// The neighbour lifecycle, from empty: arm every timer at its
    /// reachable time (15-45 s); three times, let 5 s pass (run the
    /// structure: nothing is due) and re-arm each at the new now plus its
    /// reachable time (a confirmation arrived); then cancel 90% (entries
    /// removed or re-resolved) and run until the other 10% have fired.
    Lifecycle,
}

impl Work {
    /// Every workload, in report order.
    pub const ALL: [Work; 5] = [
        Work::Schedule,
        Work::Cancel,
        Work::Expire,
        Work::Rearm,
        Work::Lifecycle,
    ];

    /// The bench parameter name.
    pub fn name(self) -> &'static str {
        match self {
            Work::Schedule => "schedule_100k",
            Work::Cancel => "cancel_100k",
            Work::Expire => "expire_100k",
            Work::Rearm => "rearm_100k",
            Work::Lifecycle => "lifecycle_100k",
        }
    }

    /// Is every timer armed before the measurement?
    pub fn preloaded(self) -> bool {
        matches!(self, Work::Cancel | Work::Expire | Work::Rearm)
    }

    /// The measured part on a single-thread structure.
    pub fn run<T: Timers>(self, t: &mut T, exp: &[Tick], ord: &[usize]) -> usize {
        match self {
            Work::Schedule => {
                for (i, &e) in exp.iter().enumerate() {
                    t.arm(i, e);
                }
                0
            }
            Work::Cancel => {
                for &i in ord {
                    t.cancel(i);
                }
                0
            }
            Work::Expire => t.expire(END),
            Work::Rearm => {
                for &i in ord {
                    t.rearm(i, exp[i] + REARM_BY);
                }
                0
            }
            Work::Lifecycle => {
                let reach = |i: usize| 15_000 + exp[i] % 30_000;
                for i in 0..exp.len() {
                    t.arm(i, reach(i));
                }
                for round in 1..=3 {
                    let now = round * CONFIRM_EVERY;
                    // Nothing of this thread's is due yet (a shared heap may
                    // hand it another thread's due timer: that one re-arms
                    // from idle below).
                    std::hint::black_box(t.expire(now));
                    for &i in ord {
                        t.rearm(i, now + reach(i));
                    }
                }
                for &i in ord {
                    if i % 10 != 0 {
                        t.cancel(i);
                    }
                }
                t.expire(END)
            }
        }
    }

    /// The measured part for thread `th` of a shared structure.
    pub fn run_shared<S: Shared>(self, s: &S, th: usize, exp: &[Tick], ord: &[usize]) -> usize {
        let mut v = View { s, th };
        self.run(&mut v, exp, ord)
    }
}

/// A [`Shared`] structure seen as one thread's [`Timers`].
struct View<'a, S> {
    s: &'a S,
    th: usize,
}

impl<S: Shared> Timers for View<'_, S> {
    fn warm(&mut self) {
        self.s.warm();
    }
    #[inline]
    fn arm(&mut self, id: usize, e: Tick) {
        self.s.arm(self.th, id, e);
    }
    #[inline]
    fn rearm(&mut self, id: usize, e: Tick) {
        self.s.rearm(self.th, id, e);
    }
    #[inline]
    fn cancel(&mut self, id: usize) {
        self.s.cancel(self.th, id);
    }
    fn expire(&mut self, now: Tick) -> usize {
        self.s.expire(self.th, now)
    }
}
