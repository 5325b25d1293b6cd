//! The model RCU (loom and shuttle builds without `--cfg crossbeam_loom`):
//! crossbeam-epoch's API with explicit grace periods.
//!
//! Each [`Guard`] registers a reader; a retired object records the readers
//! active at retirement, and its grace period ends the moment the last of
//! them unpins (the *shortest* grace period RCU permits, which is where
//! use-after-free bugs show first). Then, at once, the allocation is
//! poisoned (a later dereference is a deterministic panic, `rcu: use after
//! grace period`, never undefined behaviour) and, under loom, its lifetime
//! tracker is written, so loom also reports any earlier use that is not
//! ordered before that point ([`sync::Track`]: the allocation is its birth,
//! every checked dereference a read). The poisoned memory is kept until the
//! model execution ends. Retiring the same object twice panics (`rcu: double
//! retire`).
//!
//! **Where destructors run.** crossbeam never runs a deferred function when a
//! guard is dropped: it runs expired ones inside a later `pin()` (every
//! 128th pin of a thread) or `Guard::flush`, on whichever thread that is,
//! while that thread holds whatever locks it holds. The model keeps the
//! expired objects on a `ready` list that the next domain-lock holder takes:
//! the thread whose unpin ended the grace period takes it right after (as if
//! it pinned again at once: the earliest point), unless another thread's
//! [`pin`] or `flush` takes the lock first and reclaims them inside its own
//! call. The model checker explores both, so a thread that pins while
//! holding a lock that some destructor takes (an entry's `Drop` takes a
//! timer base lock) deadlocks in the model as it can in production
//! (`pinning_while_holding_a_lock_a_destructor_takes_deadlocks`). The one
//! place the model is stricter than crossbeam: a thread that *drops* a
//! guard while holding such a lock would deadlock here and not there. No
//! code does that, and it would be a false alarm, never a missed bug.
//!
//! This module owns the model's bookkeeping (readers, retired objects,
//! poisoned cells) under the domain lock, a model mutex. It must not contain
//! cache logic, and only `rcu/mod.rs` names it.

use crate::sync::{self, plain, Mutex};
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use std::alloc::Layout;

const LIVE: u8 = 0;
const RETIRED: u8 = 1;
const FREED: u8 = 2;

/// A model allocation: the value followed by its reclamation state and its
/// lifetime tracker. The value comes first so that `*const T` and
/// `*const Cell<T>` coincide.
#[repr(C)]
struct Cell<T> {
    value: ManuallyDrop<T>,
    state: plain::AtomicU8,
    track: sync::Track,
}

/// A retired object with its grace-period bookkeeping.
struct Pending {
    /// Readers that were pinned when the object was retired.
    waiters: Vec<u64>,
    retired: Retired,
}

/// A retired cell and what to do with it (`expire::<T>` and `reclaim::<T>`
/// on its address): plain data, so it may be run by any thread.
#[derive(Clone, Copy)]
struct Retired {
    cell: usize,
    /// Poison the cell when the grace period ends.
    expire: fn(usize),
    /// Drop the value (run later, by whoever takes the `ready` list).
    reclaim: fn(usize),
}

/// Memory of reclaimed cells, deallocated when the model execution ends.
struct Grave {
    ptr: *mut u8,
    layout: Layout,
}
// SAFETY: a grave is only a raw allocation whose value was already
// dropped; deallocating it from any thread is fine.
unsafe impl Send for Grave {}

/// The modelled part of the domain: readers and deferred functions. Its
/// lock is a model mutex, so pinning orders a reader after every retire
/// that happened before it (what crossbeam's SeqCst fences guarantee).
#[derive(Default)]
struct State {
    next_reader: u64,
    active: Vec<u64>,
    pending: Vec<Pending>,
    /// Objects whose grace period has ended, for the next taker to reclaim.
    ready: Vec<Retired>,
}

struct Domain {
    state: Mutex<State>,
    /// Memory bookkeeping only, not modelled: reclaimed cells whose
    /// memory is returned when the execution ends.
    graves: plain::Mutex<Vec<Grave>>,
}

impl Drop for Domain {
    fn drop(&mut self) {
        // Objects still pending here belong to a guard that leaked (and
        // `ready` is empty: whoever ends a grace period takes it); the model
        // runtime is being torn down, so they are not reclaimed (their
        // destructors could touch model objects). The lists are plain data:
        // dropping them touches nothing modelled, which matters when a
        // model failure unwinds through here.
        let graves = std::mem::take(self.graves.get_mut().unwrap_or_else(|e| e.into_inner()));
        for g in graves {
            // SAFETY: `g` was allocated with this layout by `Owned::new`
            // and its value was dropped when it was reclaimed.
            unsafe { std::alloc::dealloc(g.ptr, g.layout) };
        }
    }
}

sync::model_static! {
    static ref DOMAIN: Domain = Domain {
        state: Mutex::new(State::default()),
        graves: plain::Mutex::new(Vec::new()),
    };
}

/// A read-side critical section (model of a pinned epoch). Neither `Send`
/// nor `Sync`, like crossbeam's, so model builds reject what production
/// builds reject.
pub struct Guard {
    id: u64,
    _not_send_sync: PhantomData<*mut ()>,
}

/// Enter a read-side critical section. Like crossbeam's `pin`, it may run
/// deferred functions whose grace period has ended, on this thread, after
/// registering the reader (see the module documentation).
pub fn pin() -> Guard {
    let (guard, ready) = {
        let mut st = DOMAIN.state.lock();
        let id = st.next_reader;
        st.next_reader += 1;
        st.active.push(id);
        let guard = Guard {
            id,
            _not_send_sync: PhantomData,
        };
        (guard, std::mem::take(&mut st.ready))
    };
    run(ready);
    guard
}

/// Reclaim objects, outside the domain lock (their destructors may take
/// other locks, and pin).
fn run(ready: Vec<Retired>) {
    for r in ready {
        (r.reclaim)(r.cell);
    }
}

/// Take and run whatever deferred functions are ready.
fn collect() {
    let ready = std::mem::take(&mut DOMAIN.state.lock().ready);
    run(ready);
}

/// A use of the object at `ptr` (from a [`Shared`], or a counted reference
/// to it): panic if its grace period has ended, and (under loom) check that
/// this use happens after its allocation and before the end of its grace
/// period.
#[track_caller]
pub fn assert_live<T>(ptr: *const T) {
    let cell = ptr as *const Cell<T>;
    // SAFETY: cells are never deallocated before the execution ends, so
    // the state field is always readable; `ptr` came from an `Owned`.
    let state = unsafe { (*cell).state.load(sync::Ordering::Relaxed) }; // Relaxed: a plain (unmodelled) atomic; model threads are serialised, and loom checks the order through `track` below.
    assert!(state != FREED, "rcu: use after grace period");
    // SAFETY: as above.
    unsafe { (*cell).track.read() };
}

/// Is this the model RCU (explicit grace periods)?
pub const IS_MODEL: bool = true;

impl Guard {
    /// Retire `ptr`: its value is dropped, and its memory poisoned, when
    /// the grace period ends.
    ///
    /// # Safety
    /// `ptr` must be unreachable for readers that pin after this call and
    /// must not be retired again.
    pub unsafe fn defer_destroy<T>(&self, ptr: Shared<'_, T>) {
        let cell = ptr.ptr as *mut Cell<T>;
        // SAFETY: `ptr` points at a live model cell (cells are never
        // deallocated before the execution ends).
        let prev = unsafe { (*cell).state.swap(RETIRED, sync::Ordering::Relaxed) }; // Relaxed: serialised model threads.
        assert!(prev == LIVE, "rcu: double retire (object destroyed twice)");
        let retired = Retired {
            cell: cell as usize,
            expire: expire::<T>,
            reclaim: reclaim::<T>,
        };
        let mut st = DOMAIN.state.lock();
        let waiters = st.active.clone();
        st.pending.push(Pending { waiters, retired });
    }

    /// crossbeam pushes this thread's garbage to the global queue and
    /// collects; the model has no local garbage, so it only collects.
    pub fn flush(&self) {
        collect();
    }
}

/// The grace period of a retired cell has ended: from now on any use is a
/// use after the grace period, whether or not the destructor has run yet.
fn expire<T>(cell: usize) {
    let cell = cell as *const Cell<T>;
    // SAFETY: cells are never deallocated before the execution ends.
    unsafe {
        (*cell).state.store(FREED, sync::Ordering::Relaxed); // Relaxed: a plain (unmodelled) atomic; model threads are serialised.
        (*cell).track.write();
    }
}

/// Drop the value of a retired cell whose grace period has ended.
fn reclaim<T>(cell: usize) {
    let cell = cell as *mut Cell<T>;
    ktrace!(
        "rcu",
        "grace period over → {} freed",
        if std::any::type_name::<T>().contains("Neighbour") {
            "entry"
        } else {
            "object"
        }
    );
    // SAFETY: the cell is retired and its grace period has ended, so no
    // reader can hold a reference into it; `defer_destroy`'s caller
    // promised it may be dropped on any thread; it is dropped exactly once
    // (it leaves `ready` when taken).
    unsafe { ManuallyDrop::drop(&mut (*cell).value) };
    bury(cell);
}

fn bury<T>(cell: *mut Cell<T>) {
    // The domain is alive for the whole execution; bury the memory there.
    let grave = Grave {
        ptr: cell as *mut u8,
        layout: Layout::new::<Cell<T>>(),
    };
    DOMAIN
        .graves
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(grave);
}

impl Drop for Guard {
    fn drop(&mut self) {
        let ended = {
            let mut st = DOMAIN.state.lock();
            let id = self.id;
            st.active.retain(|&r| r != id);
            let mut ended = false;
            let mut i = 0;
            while i < st.pending.len() {
                st.pending[i].waiters.retain(|&r| r != id);
                if st.pending[i].waiters.is_empty() {
                    let r = st.pending.swap_remove(i).retired;
                    // The grace period ends here: poison at once, the
                    // earliest point a use of the object is a bug.
                    (r.expire)(r.cell);
                    st.ready.push(r);
                    ended = true;
                } else {
                    i += 1;
                }
            }
            ended
        };
        // Take the expired functions back under a second lock section, so
        // that another thread's `pin` may take (and run) them first, as a
        // crossbeam `pin` on any thread may.
        if ended {
            collect();
        }
    }
}

/// An RCU-published pointer (model of `crossbeam_epoch::Atomic`).
pub struct Atomic<T> {
    ptr: sync::AtomicPtr<Cell<T>>,
}

// SAFETY: as crossbeam's `Atomic<T>`: sharing it shares `T`.
unsafe impl<T: Send + Sync> Send for Atomic<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Atomic<T> {}

impl<T> Atomic<T> {
    /// A null pointer.
    pub fn null() -> Self {
        Atomic {
            ptr: sync::AtomicPtr::new(core::ptr::null_mut()),
        }
    }
    /// Allocate `value` and point at it.
    pub fn new(value: T) -> Self {
        let owned = Owned::new(value);
        let p = owned.ptr;
        core::mem::forget(owned);
        Atomic {
            ptr: sync::AtomicPtr::new(p),
        }
    }
    /// Load the pointer (ordering as the caller's comment says).
    pub fn load<'g>(&self, ord: sync::Ordering, _: &'g Guard) -> Shared<'g, T> {
        Shared::from_cell(self.ptr.load(ord))
    }
    /// Store a pointer.
    pub fn store(&self, new: Shared<'_, T>, ord: sync::Ordering) {
        self.ptr.store(new.ptr as *mut Cell<T>, ord);
    }
}

/// A pointer loaded under a guard (model of `crossbeam_epoch::Shared`).
pub struct Shared<'g, T> {
    ptr: *const Cell<T>,
    _m: PhantomData<(&'g (), *const T)>,
}

impl<T> Clone for Shared<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<'_, T> {}
impl<T> From<*const T> for Shared<'_, T> {
    /// As crossbeam's: a `Shared` from a raw pointer (from `as_raw`).
    fn from(ptr: *const T) -> Self {
        Shared::from_cell(ptr as *const Cell<T>)
    }
}

impl<T> PartialEq for Shared<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl<'g, T> Shared<'g, T> {
    fn from_cell(ptr: *const Cell<T>) -> Self {
        Shared {
            ptr,
            _m: PhantomData,
        }
    }
    /// Is it null?
    pub fn is_null(&self) -> bool {
        self.ptr.is_null()
    }
    /// The raw pointer to the value.
    pub fn as_raw(&self) -> *const T {
        self.ptr as *const T
    }
    /// Dereference, checking that the grace period has not ended.
    ///
    /// # Safety
    /// As crossbeam's: the pointer must be non-null and protected by the
    /// guard it was loaded under. The model checks the second part.
    pub unsafe fn deref(&self) -> &'g T {
        assert_live(self.as_raw());
        // SAFETY: non-null per the contract; the cell is never deallocated
        // before the execution ends and was just checked to be unreclaimed.
        unsafe { &(*self.ptr).value }
    }
    /// `None` for null, else [`Shared::deref`].
    ///
    /// # Safety
    /// As [`Shared::deref`].
    pub unsafe fn as_ref(&self) -> Option<&'g T> {
        if self.is_null() {
            None
        } else {
            // SAFETY: forwarded contract, non-null checked.
            Some(unsafe { self.deref() })
        }
    }
    /// Take ownership back (the object must be unreachable).
    ///
    /// # Safety
    /// As crossbeam's: no other thread may use the object any more.
    pub unsafe fn into_owned(self) -> Owned<T> {
        assert_live(self.as_raw());
        Owned {
            ptr: self.ptr as *mut Cell<T>,
        }
    }
}

/// An owned model allocation (model of `crossbeam_epoch::Owned`).
pub struct Owned<T> {
    ptr: *mut Cell<T>,
}

// SAFETY: an `Owned<T>` is a `Box<T>`.
unsafe impl<T: Send> Send for Owned<T> {}

impl<T> Owned<T> {
    /// Allocate `value`.
    pub fn new(value: T) -> Self {
        let cell = Box::new(Cell {
            value: ManuallyDrop::new(value),
            state: plain::AtomicU8::new(LIVE),
            // The birth: every checked use must happen after it.
            track: sync::Track::new(),
        });
        Owned {
            ptr: Box::into_raw(cell),
        }
    }
    /// Publish: the value becomes shared, reclaimed only through
    /// `defer_destroy` or `into_owned`.
    pub fn into_shared<'g>(self, _: &'g Guard) -> Shared<'g, T> {
        let p = self.ptr;
        core::mem::forget(self);
        Shared::from_cell(p)
    }
}

impl<T> core::ops::Deref for Owned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: an `Owned` always points at a live cell it owns.
        unsafe { &(*self.ptr).value }
    }
}

impl<T> core::ops::DerefMut for Owned<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes the access exclusive.
        unsafe { &mut (*self.ptr).value }
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the `Owned` owns a live cell: poison it and end its
        // lifetime (as a grace period's end would), drop its value, then
        // free the memory through the same path as a reclaim.
        unsafe {
            expire::<T>(self.ptr as usize);
            ManuallyDrop::drop(&mut (*self.ptr).value);
        }
        bury(self.ptr);
    }
}

/// The model `Guard`, and so the facade's `rcu::Guard`, is neither `Send`
/// nor `Sync`, like crossbeam's: a compile-time check (it fails to compile,
/// "type annotations needed", if either gains one of the two).
const _: fn() = || {
    trait AmbiguousIfEither<A> {
        fn check() {}
    }
    impl<T: ?Sized> AmbiguousIfEither<()> for T {}
    struct IfSend;
    impl<T: ?Sized + Send> AmbiguousIfEither<IfSend> for T {}
    struct IfSync;
    impl<T: ?Sized + Sync> AmbiguousIfEither<IfSync> for T {}
    <Guard as AmbiguousIfEither<_>>::check();
    <super::Guard as AmbiguousIfEither<_>>::check();
};

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
