//! The RCU facade: read-side critical sections, RCU-published pointers and
//! deferred reclamation.
//!
//! The cache code names only this module's items and is the same source
//! text in every build:
//!
//! * **Production** (default build, and loom with `--cfg crossbeam_loom`):
//!   crossbeam-epoch. A read guard is a pinned epoch of the *default
//!   collector*; `defer_destroy` frees after every thread pinned at the time
//!   has unpinned (at least two epoch advances later).
//! * **Model** (`loom` or `shuttle` without `crossbeam_loom`): the model RCU
//!   in `model.rs`, with explicit, shortest-possible grace periods and
//!   poisoned reclamation (SPEC.md §4).
//!
//! Why not crossbeam-epoch everywhere: under loom it explores the epoch
//! machinery itself, which does not finish unbounded even for a two-thread
//! scenario; under shuttle all model threads share one OS thread and so one
//! crossbeam thread-local handle.
//!
//! **The public [`Guard`] is this module's own type**, created only by
//! [`pin`]. The cache's lock-free API (`lookup_noref`, `output`, ...) takes
//! it as proof that the caller is inside a read-side section *of the domain
//! the cache retires into*. A crossbeam `Guard` of another `Collector` would
//! not hold back the cache's reclamation, so accepting one would let safe
//! code read a freed entry (SPEC.md §12, unsafe audit).
//!
//! This module must not contain cache logic.

use crate::sync::Ordering;
use core::fmt;

#[cfg(any(
    not(any(feature = "loom", feature = "shuttle")),
    all(feature = "loom", crossbeam_loom)
))]
mod imp {
    pub(crate) use crossbeam_epoch::{pin, Atomic, Guard, Owned, Shared};

    /// Production build: reclaimed memory is really freed, so there is
    /// nothing to check. The model build panics if `ptr` was reclaimed.
    #[inline(always)]
    pub(crate) fn assert_live<T>(_ptr: *const T) {}

    pub(crate) const IS_MODEL: bool = false;

    /// An all-zero `Atomic` is a null pointer: crossbeam-epoch's `Atomic`
    /// is one `AtomicUsize` (and a marker) and `null()` stores 0. The hash's
    /// large bucket arrays are zero pages read as null slots
    /// (`neigh::table::slots`), so this is checked at compile time.
    #[cfg(not(crossbeam_loom))]
    const _: () = {
        assert!(core::mem::size_of::<Atomic<u64>>() == core::mem::size_of::<usize>());
        // SAFETY: same size (asserted above); this reads the bits of a value
        // that is never used as an `Atomic` again.
        let bits: usize = unsafe { core::mem::transmute(Atomic::<u64>::null()) };
        assert!(bits == 0);
    };
}

#[cfg(all(
    any(feature = "loom", feature = "shuttle"),
    not(all(feature = "loom", crossbeam_loom))
))]
#[path = "model.rs"]
mod imp;

pub(crate) use imp::{assert_live, Owned, Shared};

/// Is this the model RCU (explicit grace periods)? (Model tests check it.)
#[doc(hidden)]
pub const IS_MODEL: bool = imp::IS_MODEL;

/// A read-side critical section of the cache's RCU domain (a pinned epoch
/// in production builds): entries found by
/// [`NeighTable::lookup_noref`](crate::NeighTable::lookup_noref) under it stay
/// readable until it is dropped. Created only by [`pin`] or
/// [`NeighTable::pin`](crate::NeighTable::pin); neither `Send` nor `Sync`.
///
/// A pinned guard of some other crossbeam-epoch `Collector` does not hold
/// back the cache's reclamation, so the cache does not accept one:
///
#[cfg_attr(
    not(any(feature = "loom", feature = "shuttle")),
    doc = "```compile_fail"
)]
#[cfg_attr(any(feature = "loom", feature = "shuttle"), doc = "```ignore")]
/// # use neighcache::{DevId, NeighOps, NeighTable, Probe};
/// # use std::net::Ipv4Addr;
/// # struct Nic;
/// # impl NeighOps<Ipv4Addr> for Nic {
/// #     type Packet = Vec<u8>;
/// #     fn transmit(&self, _: DevId, _: &[u8], _: Vec<u8>) {}
/// #     fn solicit(&self, _: DevId, _: &Ipv4Addr, _: Probe) {}
/// #     fn error_report(&self, _: DevId, _: &Ipv4Addr, _: Vec<u8>) {}
/// # }
/// let table = NeighTable::new(Default::default(), Nic).unwrap();
/// let collector = crossbeam_epoch::Collector::new();
/// let handle = collector.register();
/// let foreign = handle.pin(); // protects nothing the table retires
/// table.lookup_noref(Ipv4Addr::LOCALHOST, DevId(1), &foreign); // rejected
/// ```
pub struct Guard(imp::Guard);

impl Guard {
    /// Retire `ptr`: it is reclaimed once every read-side section that may
    /// still see it has ended.
    ///
    /// # Safety
    /// `ptr` must be unreachable for read sections that start after this
    /// call, and must not be retired again.
    pub(crate) unsafe fn defer_destroy<T>(&self, ptr: Shared<'_, T>) {
        // SAFETY: forwarded contract.
        unsafe { self.0.defer_destroy(ptr) }
    }
}

/// Production builds only: the deferred return of an entry's cell to its
/// table's slab (`neigh::slab`), which needs a function run after the grace
/// period rather than a `Box` freed. The model RCU tracks whole allocations
/// instead; the slab does not exist there.
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
impl Guard {
    /// Run `f` once every read-side section that is active now has ended,
    /// on whichever thread crossbeam-epoch runs deferred functions (inside
    /// a later `pin()` or `flush()`, under whatever locks that thread
    /// holds: `f` must take only leaf locks and must not pin).
    ///
    /// # Safety
    /// `f` may touch only what is unreachable for read sections that start
    /// after this call (the retired object) or what it owns.
    pub(crate) unsafe fn defer_unchecked<F: FnOnce() + Send + 'static>(&self, f: F) {
        // SAFETY: forwarded contract; `F: Send + 'static`, so running it on
        // another thread, later, is sound for what it owns.
        unsafe { self.0.defer_unchecked(f) }
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rcu::Guard")
    }
}

/// Enter a read-side critical section (reentrant).
#[inline]
pub fn pin() -> Guard {
    Guard(imp::pin())
}

/// Best-effort wait for pending deferred destructions (teardown, tests).
///
/// crossbeam-epoch cannot promise that every deferred function has run,
/// only that repeated flushing advances the global epoch; objects retired
/// before the call are freed by the time it returns unless another thread
/// is still pinned. The model RCU reclaims at the end of each grace period,
/// so there it has nothing to do.
pub fn barrier() {
    for _ in 0..4 {
        pin().0.flush();
    }
}

/// An RCU-published pointer whose loads need this module's [`Guard`].
/// Transparent, so that in production builds its all-zero value is null
/// as crossbeam-epoch's is (checked above).
#[repr(transparent)]
pub(crate) struct Atomic<T>(imp::Atomic<T>);

impl<T> Atomic<T> {
    /// A null pointer.
    pub(crate) fn null() -> Self {
        Atomic(imp::Atomic::null())
    }

    /// Allocate `value` and point at it.
    pub(crate) fn new(value: T) -> Self {
        Atomic(imp::Atomic::new(value))
    }

    /// Load the pointer (the ordering as the caller's comment says).
    #[inline(always)]
    pub(crate) fn load<'g>(&self, ord: Ordering, guard: &'g Guard) -> Shared<'g, T> {
        self.0.load(ord, &guard.0)
    }

    /// Store a pointer (the ordering as the caller's comment says).
    #[inline(always)]
    pub(crate) fn store(&self, new: Shared<'_, T>, ord: Ordering) {
        self.0.store(new, ord);
    }
}

/// Publish a new allocation: it becomes shared, reclaimed only through
/// [`Guard::defer_destroy`] or `into_owned`.
pub(crate) fn into_shared<'g, T>(owned: Owned<T>, guard: &'g Guard) -> Shared<'g, T> {
    owned.into_shared(&guard.0)
}
