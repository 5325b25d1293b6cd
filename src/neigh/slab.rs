//! The per-table entry slab (the kernel's `kmem_cache` for neighbours):
//! entries live in cells of their own size (128 bytes, two cache lines)
//! packed densely into 64 KiB chunks taken from the system, and a chunk
//! whose cells are all free goes back to the system, so the memory a flood
//! took is returned when the flood recedes (SPEC.md §6, "The entry slab").
//!
//! Rules:
//! * **Owns** the chunks, their headers and the free cells. A cell is
//!   handed out by [`EntrySlab::alloc`] (under the table lock, by `create`)
//!   and comes back only through [`EntrySlab::retire`], which defers the
//!   entry's destructor and the cell's return until the RCU grace period
//!   has ended: `lookup_noref` readers may still hold the entry until then.
//!   Entries never move, so a `&Neighbour` stays valid for its guard.
//! * **Lock**: one mutex per slab, a leaf: nothing is called and no other
//!   lock is taken while it is held, and nothing in it can panic. The
//!   deferred return runs wherever crossbeam-epoch runs deferred functions
//!   (inside some later `pin()` or `flush()`, on any thread, under whatever
//!   locks that thread holds), so the return path takes this lock only.
//! * **Lifetime**: each deferred return holds the slab (`Arc`), so a table
//!   can be dropped while its entries wait for their grace period. A cell
//!   never returned (an entry leaked by `mem::forget` of a handle's
//!   reference, which never reaches zero) keeps its chunk mapped for the
//!   life of the process, as the boxed entry it replaces would have leaked.
//! * A chunk's address is a multiple of its size, so a cell finds its
//!   chunk header by masking its address; the header records which slab it
//!   belongs to, and a cell offered to another slab is left alone (leaked)
//!   rather than corrupting either (unreachable: only the owning table
//!   retires its entries).
//! * **Default build only**: the model-checking builds (loom, shuttle)
//!   allocate each entry on its own through the model RCU, which tracks
//!   every object's lifetime (`sync::Track`, SPEC.md §4) and could not
//!   inside a shared chunk; there [`EntrySlab`] is a thin forwarder. The
//!   slab's own concurrency (returns from any thread racing allocations)
//!   is tested with real threads below; it has no lock-free part.
//!
//! Must not: know what an entry is (it is generic over the cell's type),
//! touch the table, or be reached from the hit path (a hit reads the cell
//! it finds, never the slab).

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub(crate) use imp::EntrySlab;
#[cfg(any(feature = "loom", feature = "shuttle"))]
pub(crate) use model::EntrySlab;

/// Model builds: one allocation per entry through the model RCU.
#[cfg(any(feature = "loom", feature = "shuttle"))]
mod model {
    use crate::rcu::{self, Guard, Owned, Shared};
    use core::marker::PhantomData;

    /// Forwards to the model RCU's own allocation and retirement.
    pub(crate) struct EntrySlab<T>(PhantomData<fn(T)>);

    impl<T: Send + 'static> EntrySlab<T> {
        pub(crate) fn new() -> Self {
            EntrySlab(PhantomData)
        }

        /// Allocate `value`; it is not yet reachable by anyone else.
        pub(crate) fn alloc<'g>(&self, value: T, guard: &'g Guard) -> Shared<'g, T> {
            rcu::into_shared(Owned::new(value), guard)
        }

        /// Drop and free `p` after the grace period.
        ///
        /// # Safety
        /// As `Guard::defer_destroy`: `p` came from `alloc` of this slab, is
        /// unreachable for read sections that start after this call, and
        /// is retired once.
        pub(crate) unsafe fn retire(&self, p: *const T, guard: &Guard) {
            // SAFETY: forwarded contract.
            unsafe { guard.defer_destroy(Shared::from(p)) }
        }

        /// Model builds hold nothing in chunks.
        pub(crate) fn bytes(&self) -> usize {
            0
        }
    }
}

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod chunk;

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod imp {
    use super::chunk::{Chunks, CHUNK};
    use crate::rcu::{Guard, Shared};
    use crate::sync::{plain, Arc, Mutex, Ordering};
    use core::ptr::NonNull;

    /// A per-table slab of `T` cells.
    pub(crate) struct EntrySlab<T> {
        inner: Arc<Inner<T>>,
    }

    struct Inner<T> {
        chunks: Mutex<Chunks<T>>,
        /// Bytes mapped, for `NeighStats::slab_bytes` (written under the
        /// lock, read without it).
        bytes: plain::AtomicUsize,
    }

    /// A retired cell travelling to its deferred return.
    struct Retired<T> {
        cell: NonNull<T>,
        slab: Arc<Inner<T>>,
    }
    // SAFETY: the cell is unreachable once retired; its value is dropped and
    // its memory returned by whichever thread runs the deferred function,
    // which is sound because `T: Send`.
    unsafe impl<T: Send> Send for Retired<T> {}

    impl<T: Send + 'static> EntrySlab<T> {
        pub(crate) fn new() -> Self {
            EntrySlab {
                inner: Arc::new(Inner {
                    chunks: Mutex::new(Chunks::new()),
                    bytes: plain::AtomicUsize::new(0),
                }),
            }
        }

        /// Move `value` into a free cell; it is not yet reachable by anyone
        /// else (the caller links it). Maps a new chunk when none has a free
        /// cell (an allocation failure aborts, as `Box::new`'s does).
        pub(crate) fn alloc<'g>(&self, value: T, _guard: &'g Guard) -> Shared<'g, T> {
            let cell = {
                let owner = Arc::as_ptr(&self.inner) as usize;
                let mut c = self.inner.chunks.lock();
                let cell = c.take(owner);
                // Relaxed: a statistic, read as a snapshot.
                self.inner
                    .bytes
                    .store(c.mapped() * CHUNK, Ordering::Relaxed);
                cell
            };
            // SAFETY: `take` hands out a cell of `T`'s size and alignment
            // that nobody else owns (free, or fresh from a new chunk).
            unsafe { cell.as_ptr().write(value) };
            Shared::from(cell.as_ptr() as *const T)
        }

        /// Drop `p`'s value and return its cell after the grace period.
        ///
        /// # Safety
        /// `p` came from [`alloc`](Self::alloc) of this slab, is unreachable
        /// for read sections that start after this call, and is retired
        /// once.
        pub(crate) unsafe fn retire(&self, p: *const T, guard: &Guard) {
            let r = Retired {
                cell: NonNull::from(
                    // SAFETY: `p` is a live cell (caller's contract).
                    unsafe { &*p },
                ),
                slab: self.inner.clone(),
            };
            let free = move || {
                let r = r;
                // SAFETY: the grace period has ended: no reader can reach the
                // value, and it is dropped exactly once (retired once).
                unsafe { r.cell.as_ptr().drop_in_place() };
                r.slab.give_back(r.cell);
            };
            // SAFETY: `free` runs once, after every read section that could
            // see `p` has ended (caller's contract); it owns what it touches.
            unsafe { guard.defer_unchecked(free) };
        }

        /// Bytes held from the system.
        pub(crate) fn bytes(&self) -> usize {
            // Relaxed: a statistic.
            self.inner.bytes.load(Ordering::Relaxed)
        }
    }

    impl<T> Inner<T> {
        /// Return a cell whose value was dropped; unmap its chunk if that
        /// left it empty and a spare is already kept.
        fn give_back(&self, cell: NonNull<T>) {
            let empty = {
                let mut c = self.chunks.lock();
                let empty = c.put(cell, self as *const Self as usize);
                // Relaxed: a statistic.
                self.bytes.store(c.mapped() * CHUNK, Ordering::Relaxed);
                empty
            };
            // Unmapped outside the lock (a system call).
            if let Some(chunk) = empty {
                chunk.release();
            }
        }
    }

    impl<T> Drop for Inner<T> {
        fn drop(&mut self) {
            self.chunks.get_mut().release_free();
        }
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
#[path = "slab_tests.rs"]
mod tests;
