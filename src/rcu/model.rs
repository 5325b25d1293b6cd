//! The model RCU (loom and shuttle builds without `--cfg crossbeam_loom`):
//! crossbeam-epoch's API with explicit grace periods.
//!
//! Each [`Guard`] registers a reader; a retired object records the readers
//! active at retirement and is reclaimed the moment the last of them unpins
//! (the *shortest* grace period RCU permits, which is where use-after-free
//! bugs show first). Reclaiming runs the value's destructor and poisons the
//! allocation, which is kept until the end of the model execution, so a later
//! dereference is a deterministic panic (`rcu: use after grace period`),
//! never undefined behaviour. Retiring the same object twice panics
//! (`rcu: double retire`).
//!
//! This module owns the model's bookkeeping (readers, deferred functions,
//! poisoned cells) under the domain lock, a model mutex. It must not contain
//! cache logic, and only `rcu/mod.rs` names it.

use crate::sync::{self, plain, Mutex};
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use std::alloc::Layout;

const LIVE: u8 = 0;
const RETIRED: u8 = 1;
const FREED: u8 = 2;

/// A model allocation: the value followed by its reclamation state. The
/// value comes first so that `*const T` and `*const Cell<T>` coincide.
#[repr(C)]
struct Cell<T> {
    value: ManuallyDrop<T>,
    state: plain::AtomicU8,
}

/// A deferred function with its grace-period bookkeeping.
struct Pending {
    /// Readers that were pinned when the function was deferred.
    waiters: Vec<u64>,
    f: DeferredFn,
}

/// A deferred closure. `Guard::defer_unchecked`'s contract makes the
/// caller responsible for it being fine to run on another thread.
struct DeferredFn(Box<dyn FnOnce()>);
// SAFETY: `defer_unchecked` is `unsafe` and its caller promises the closure
// may run on whichever thread ends the grace period (crossbeam's contract).
unsafe impl Send for DeferredFn {}

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
}

struct Domain {
    state: Mutex<State>,
    /// Memory bookkeeping only, not modelled: reclaimed cells whose
    /// memory is returned when the execution ends.
    graves: plain::Mutex<Vec<Grave>>,
}

impl Drop for Domain {
    fn drop(&mut self) {
        // Functions still pending here belong to a guard that leaked; the
        // model runtime is being torn down, so they are forgotten rather
        // than run (running them could touch model objects).
        let pending = std::mem::take(&mut self.state.get_mut().pending);
        core::mem::forget(pending);
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

/// Enter a read-side critical section.
pub fn pin() -> Guard {
    let mut st = DOMAIN.state.lock();
    let id = st.next_reader;
    st.next_reader += 1;
    st.active.push(id);
    Guard {
        id,
        _not_send_sync: PhantomData,
    }
}

/// Panic if `ptr` (obtained from a [`Shared`]) was reclaimed.
pub fn assert_live<T>(ptr: *const T) {
    let cell = ptr as *const Cell<T>;
    // SAFETY: cells are never deallocated before the execution ends, so
    // the state field is always readable; `ptr` came from an `Owned`.
    let state = unsafe { (*cell).state.load(sync::Ordering::Relaxed) }; // Relaxed: model threads are serialised; no ordering needed.
    assert!(state != FREED, "rcu: use after grace period");
}

/// Is this the model RCU (explicit grace periods)?
pub const IS_MODEL: bool = true;

impl Guard {
    /// Run `f` once every reader pinned now has unpinned.
    ///
    /// # Safety
    /// As crossbeam's `defer_unchecked`: `f` may run on another thread and
    /// must be safe to run once the grace period has ended.
    pub unsafe fn defer_unchecked<F: FnOnce() -> R, R>(&self, f: F) {
        let f: Box<dyn FnOnce() + '_> = Box::new(move || drop(f()));
        // SAFETY: extending the closure's lifetime is the contract of
        // `defer_unchecked`, exactly as in crossbeam.
        let f: Box<dyn FnOnce()> = unsafe { std::mem::transmute(f) };
        let mut st = DOMAIN.state.lock();
        let waiters = st.active.clone();
        st.pending.push(Pending {
            waiters,
            f: DeferredFn(f),
        });
    }

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
        let cell_addr = cell as usize;
        // SAFETY: forwarded contract; the closure reclaims the cell once.
        unsafe { self.defer_unchecked(move || reclaim::<T>(cell_addr as *mut Cell<T>)) };
    }

    /// crossbeam flushes thread-local garbage; the model has none.
    pub fn flush(&self) {}
}

/// Drop the value of a retired cell and poison it.
fn reclaim<T>(cell: *mut Cell<T>) {
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
    // reader can hold a reference into it; it is dropped exactly once.
    unsafe {
        ManuallyDrop::drop(&mut (*cell).value);
        (*cell).state.store(FREED, sync::Ordering::Relaxed); // Relaxed: serialised model threads.
    }
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
        let ready = {
            let mut st = DOMAIN.state.lock();
            let id = self.id;
            st.active.retain(|&r| r != id);
            let mut ready = Vec::new();
            let mut i = 0;
            while i < st.pending.len() {
                st.pending[i].waiters.retain(|&r| r != id);
                if st.pending[i].waiters.is_empty() {
                    ready.push(st.pending.swap_remove(i).f);
                } else {
                    i += 1;
                }
            }
            ready
        };
        // Run outside the domain lock: destructors may take other locks.
        for f in ready {
            (f.0)();
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
        // SAFETY: the `Owned` owns a live cell: drop its value, then free
        // the memory through the same poisoning path as a reclaim.
        unsafe {
            ManuallyDrop::drop(&mut (*self.ptr).value);
            (*self.ptr).state.store(FREED, sync::Ordering::Relaxed); // Relaxed: serialised model threads.
        }
        bury(self.ptr);
    }
}

#[cfg(test)]
mod tests {
    //! The model's own failure modes: each must be the named, deterministic
    //! panic, never undefined behaviour.
    use super::*;
    use crate::sync::Ordering::Relaxed;

    fn model(f: impl Fn() + Send + Sync + 'static) {
        #[cfg(feature = "loom")]
        loom::model(f);
        #[cfg(all(feature = "shuttle", not(feature = "loom")))]
        shuttle::check_dfs(f, None);
    }

    /// Counts drops of the value it carries.
    struct Tracked(std::sync::Arc<plain::AtomicU8>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            // Relaxed: model threads are serialised.
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    #[should_panic(expected = "rcu: double retire")]
    fn retiring_twice_panics() {
        model(|| {
            let a = Atomic::new(1u32);
            let g = pin();
            let p = a.load(Relaxed, &g);
            // SAFETY: the second retire is the misuse under test; the model
            // panics before it can reclaim twice.
            unsafe {
                g.defer_destroy(p);
                g.defer_destroy(p);
            }
        });
    }

    #[test]
    #[should_panic(expected = "rcu: use after grace period")]
    fn use_after_the_grace_period_panics() {
        model(|| {
            let a = Atomic::new(7u32);
            let raw = {
                let g = pin();
                let p = a.load(Relaxed, &g);
                // SAFETY: nothing else can reach `a`'s value afterwards.
                unsafe { g.defer_destroy(p) };
                p.as_raw()
            }; // the grace period ends here: the value is reclaimed
            let _g = pin();
            // SAFETY: this is the misuse under test; the model checks the
            // cell before it dereferences it.
            let _ = unsafe { *Shared::from(raw).deref() };
        });
    }

    #[test]
    fn a_reader_pinned_before_the_retire_holds_the_value() {
        model(|| {
            let drops = std::sync::Arc::new(plain::AtomicU8::new(0));
            let a = Atomic::new(Tracked(drops.clone()));
            let reader = pin();
            let seen = a.load(Relaxed, &reader);
            {
                let writer = pin();
                let p = a.load(Relaxed, &writer);
                // SAFETY: `a` is not used to reach the value again.
                unsafe { writer.defer_destroy(p) };
            }
            let count = || drops.load(std::sync::atomic::Ordering::Relaxed);
            // SAFETY: `reader` was pinned before the retire.
            assert!(unsafe { seen.as_ref() }.is_some());
            assert_eq!(count(), 0, "reclaimed while a reader was pinned");
            drop(reader);
            assert_eq!(count(), 1, "not reclaimed when the last reader unpinned");
        });
    }
}
