//! The synchronisation facade: the **only** module that names `std` /
//! `parking_lot` versus `loom` versus `shuttle` primitives.
//!
//! Everything else in the crate imports its mutexes, atomics, `Arc` and
//! thread helpers from here, so the cache and the timer wheel are the same
//! source text in a production build and under either model checker:
//!
//! | build                     | `Mutex`               | atomics / `Arc`        |
//! |---------------------------|-----------------------|------------------------|
//! | default                   | `parking_lot::Mutex`  | `std::sync`            |
//! | `--features loom`         | `loom::sync::Mutex`   | `loom::sync`           |
//! | `--features shuttle`      | `shuttle::sync::Mutex`| `shuttle::sync`        |
//!
//! When both model features are enabled (for example `--all-features` under
//! clippy) loom wins.
//!
//! The module also exports [`plain`]: `std` atomics that are deliberately
//! *not* modelled. They carry no synchronisation (every access is Relaxed
//! and nothing is published through them) and would otherwise multiply the
//! model checkers' state space; some of them do steer decisions (GC, NUD
//! timers, growth), and [`plain`] lists each with the argument that a stale
//! value cannot break an invariant.
//!
//! This module must not contain neighbour-cache or timer logic.

// Not every build uses every re-export.
#![allow(unused_imports, dead_code)]

#[cfg(feature = "loom")]
mod imp {
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
    };
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::thread::yield_now;

    /// A mutex with the `parking_lot` calling convention (no poisoning).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    /// Guard returned by [`Mutex::lock`].
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            // A poisoned lock means another model thread already panicked;
            // that panic is the failure loom reports.
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap_or_else(|e| e.into_inner())
        }
    }

    pub(crate) use loom::lazy_static as model_static;

    /// The running model thread's index (0 = the model's main thread), for
    /// the model-only trace.
    pub(crate) fn thread_index() -> usize {
        // loom's `ThreadId` shows as `ThreadId(N)` and has no accessor.
        let id = format!("{:?}", loom::thread::current().id());
        id.trim_start_matches("ThreadId(")
            .trim_end_matches(')')
            .parse()
            .unwrap_or(usize::MAX)
    }
}

#[cfg(all(feature = "shuttle", not(feature = "loom")))]
mod imp {
    pub(crate) use shuttle::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
    };
    pub(crate) use shuttle::sync::Arc;
    pub(crate) use shuttle::thread::yield_now;

    /// A mutex with the `parking_lot` calling convention (no poisoning).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(shuttle::sync::Mutex<T>);
    /// Guard returned by [`Mutex::lock`].
    pub(crate) type MutexGuard<'a, T> = shuttle::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(shuttle::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap_or_else(|e| e.into_inner())
        }
    }

    pub(crate) use shuttle::lazy_static as model_static;

    /// The running model thread's index (0 = the model's main thread), for
    /// the model-only trace.
    pub(crate) fn thread_index() -> usize {
        usize::from(shuttle::thread::current().id())
    }
}

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod imp {
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
    };
    pub(crate) use std::sync::Arc;
    pub(crate) use std::thread::yield_now;

    /// A mutex with the `parking_lot` calling convention (no poisoning).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);
    /// Guard returned by [`Mutex::lock`].
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(parking_lot::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut()
        }
    }
}

#[allow(unused_imports)]
pub(crate) use imp::*;
pub(crate) use std::sync::atomic::Ordering;

/// Wait politely for another thread to make progress (a spin-wait step).
///
/// Under the model checkers this is a scheduling point, so a spin loop that
/// waits for another model thread terminates; in production it yields the
/// CPU, which is right for the rare waits we do (`del_timer_sync`).
#[inline]
pub(crate) fn spin_wait() {
    yield_now();
}

/// A lock break: let a thread waiting for `lock` in, if there is one, and
/// re-take the lock (`g` is its guard).
///
/// In production this is `parking_lot`'s `MutexGuard::bump`: a fair
/// hand-over to a parked waiter, and nothing at all (no unlock, no yield of
/// the CPU) when none waits, so a long run that breaks its lock often costs
/// nothing on a quiet lock. Under the model checkers: unlock, a scheduling
/// point, lock, so that they explore what another thread does in between.
#[inline]
pub(crate) fn bump<'a, T>(lock: &'a Mutex<T>, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    #[cfg(not(any(feature = "loom", feature = "shuttle")))]
    {
        let _ = lock;
        let mut g = g;
        parking_lot::MutexGuard::bump(&mut g);
        g
    }
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    {
        drop(g);
        spin_wait();
        lock.lock()
    }
}

/// Happens-before tracking of one object's lifetime, for the model RCU.
///
/// Under loom this is a `loom::cell::UnsafeCell<()>`: its creation and
/// [`write`](Track::write) are writes, [`read`](Track::read) a read, and loom
/// panics with "Causality violation" when a read is not ordered after the
/// last write, or a write not after every earlier access. The model RCU
/// creates one with each allocation (its birth), reads it at every checked
/// dereference and writes it when the grace period ends (its death), so loom
/// checks that every use of an RCU object happens after its publication and
/// before its reclamation: exactly what the publishing Release/Acquire
/// pairs and the refcount's Release/Acquire promise. shuttle and the default
/// build have nothing to check it with: there it is empty.
#[cfg(feature = "loom")]
pub(crate) struct Track(loom::cell::UnsafeCell<()>);

#[cfg(feature = "loom")]
impl Track {
    /// A new object: its creation is the first write.
    #[track_caller]
    pub(crate) fn new() -> Self {
        Track(loom::cell::UnsafeCell::new(()))
    }
    /// A use of the object: must happen after the last write.
    #[track_caller]
    pub(crate) fn read(&self) {
        self.0.with(|_| ());
    }
    /// The end of the object: must happen after every earlier use.
    #[track_caller]
    pub(crate) fn write(&self) {
        self.0.with_mut(|_| ());
    }
}

/// Without loom there is no happens-before checker: nothing to track.
#[cfg(not(feature = "loom"))]
pub(crate) struct Track;

#[cfg(not(feature = "loom"))]
impl Track {
    pub(crate) fn new() -> Self {
        Track
    }
    pub(crate) fn read(&self) {}
    pub(crate) fn write(&self) {}
}

/// `std` primitives that are **not** modelled by loom or shuttle.
///
/// Every access to them is Relaxed and no other memory is published through
/// them (no pointer or data is read *because* of a value loaded here), so
/// modelling them would only enlarge the state space the checkers explore.
/// The price: loom neither interleaves at these accesses nor shows their
/// stale values, so each must be harmless at any value a real machine could
/// return. Real hardware is coherent per location (a thread never reads a
/// value older than one it already read or wrote), so "stale" means "a
/// recent value, not yet the newest". What lives here, and why staleness is
/// harmless (SPEC.md §3, "Unmodelled atomics"):
///
/// * **Statistics** (`neigh::stats` shards, `NeighStats`): counters read
///   only as a snapshot; tests compare them after joining their threads.
/// * **Uniqueness tickets** (`next_table_id`, `os_random`'s counter, the
///   wheel's generation-offset counter, `thread_shard`): single read-modify-
///   writes, whose atomicity alone makes the values distinct.
/// * **`NeighTable::jiffies`**, the table clock: raised only by `run_timers`
///   (`fetch_max`, so it never goes back) and read as "now". A stale tick
///   only makes timestamps (`used`, `confirmed`, `updated`) and deadlines a
///   little early: a timer fires at most that much sooner and the handler
///   then picks a legal transition for the time it reads. Every invariant
///   (refcount, `dead`, who owns a timer, packet accounting) is decided
///   under the entry lock from the state and `dead`, never from a tick.
/// * **`Neighbour::used` / `confirmed`**: timestamps read by GC's staleness
///   test and the timer handler's REACHABLE/DELAY choice, as the kernel
///   reads them (racily, without a lock). A stale value picks another legal
///   transition (STALE rather than DELAY, one more probe) or makes GC
///   collect an entry that was just used; collection itself is decided
///   under the table and entry locks, and a user of a collected entry sees
///   `dead` (L1-L3).
/// * **`Device::reachable_time`**: the randomised REACHABLE time, re-drawn
///   by periodic GC; any recent draw is as valid as another.
/// * **`NeighTable::entries`**: entries allocated and not yet destroyed;
///   raised under the table lock by `create`, lowered by `destroy` without
///   it. Under the lock a create may see a concurrent destroy late, so the
///   count is at most a few high: a grow, forced GC or `TableFull` may come
///   one entry early. Lookups are correct for any array size, and GC and
///   `TableFull` are documented thresholds, not invariants.
/// * **`Device::parms`'s words** (`ParmsCell`): read lock-free only inside
///   the parameter seqlock, whose sequence count is modelled; a reader that
///   loaded words of two writes sees the count move and retries. A model
///   build can make them modelled atomics for one table (race matrix L19),
///   where loom checks the seqlock's orderings.
/// * **`NeighTable`'s model switches** (`variant::Broken`,
///   `parms_words_modelled`; model builds): set before threads start.
/// * **`ManualClock`**: the caller's virtual clock; the table reads it only
///   through `run_timers(now)`.
/// * **The model RCU's cell state** (`rcu/model.rs`): the poison flag; model
///   threads are serialised, and loom checks the order of uses against the
///   reclaim through `sync::Track` instead.
pub(crate) mod plain {
    use std::cell::Cell;
    use std::sync::atomic::Ordering;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize};
    pub(crate) use std::sync::Mutex;

    static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
    std::thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }

    /// Number of statistics shards: enough that threads rarely share one.
    pub(crate) fn shard_count() -> usize {
        std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .clamp(4, 64)
            .next_power_of_two()
    }

    /// This thread's statistics shard (assigned round-robin on first use).
    #[inline]
    pub(crate) fn thread_shard() -> usize {
        SHARD.with(|s| {
            let v = s.get();
            if v != usize::MAX {
                return v;
            }
            // Relaxed: only uniqueness of the ticket matters.
            let v = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
            s.set(v);
            v
        })
    }
}

/// OS threads and sleeping, for the production-only timer thread.
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub(crate) mod os {
    pub(crate) use std::thread;
    pub(crate) use std::time::Duration;
}

/// A hint that the current value is used for the hot path and deserves its
/// own cache line.
pub(crate) use crossbeam_utils::CachePadded;

/// Is this a model-checking build (loom or shuttle)?
pub(crate) const MODEL: bool = cfg!(any(feature = "loom", feature = "shuttle"));
