//! The memory of one bucket array (`nht->hash_buckets`): where its slots
//! come from and how they go back.
//!
//! Rules: owns only the slot memory of one array; knows nothing of chains,
//! locks or entries (the slots own nothing). A large array (production
//! builds on Linux, from [`MAP_FROM`] bytes) is an anonymous `mmap`: its
//! zero pages are already null slots, so creating a 4M-bucket array for a
//! grow costs one system call under the table lock instead of writing
//! 32 MiB, and its pages are faulted in as the resize fills them. When such
//! an array is retired, its memory becomes a [`Region`] that the table
//! returns to the system a slice per `run_timers` call, so no thread (not
//! even a reader whose `pin` runs the deferred free) unmaps 32 MiB at once
//! (SPEC.md §5). Small arrays, and every array in model builds, are a `Box`.

use crate::rcu::Atomic;
use core::ptr::NonNull;

/// Arrays from this many bytes on are mapped (256 KiB: 32,768 buckets).
#[cfg(all(target_os = "linux", not(any(feature = "loom", feature = "shuttle"))))]
const MAP_FROM: usize = 256 << 10;

/// Bytes of a retired array returned to the system per `run_timers` call
/// (256 pages: tens of microseconds of `munmap`).
pub(crate) const RELEASE_PER_RUN: usize = 1 << 20;

/// The slots of one bucket array, all null when created.
pub(crate) struct Slots<T> {
    ptr: NonNull<Atomic<T>>,
    len: usize,
    mapped: bool,
}

// SAFETY: `Slots` is an owned array of `Atomic<T>` (a `Box<[Atomic<T>]>` or
// a private mapping holding the same): it is `Send`/`Sync` exactly when the
// array is.
unsafe impl<T> Send for Slots<T> where Box<[Atomic<T>]>: Send {}
// SAFETY: as above.
unsafe impl<T> Sync for Slots<T> where Box<[Atomic<T>]>: Sync {}

impl<T> Slots<T> {
    /// `len` null slots.
    pub(crate) fn new(len: usize) -> Self {
        #[cfg(all(target_os = "linux", not(any(feature = "loom", feature = "shuttle"))))]
        if let Some(s) = Self::mapped(len) {
            return s;
        }
        let b: Box<[Atomic<T>]> = (0..len).map(|_| Atomic::null()).collect();
        let len = b.len();
        Slots {
            // SAFETY: `Box::into_raw` never returns null.
            ptr: unsafe { NonNull::new_unchecked(Box::into_raw(b).cast()) },
            len,
            mapped: false,
        }
    }

    /// `len` null slots in a fresh anonymous mapping, if that large.
    #[cfg(all(target_os = "linux", not(any(feature = "loom", feature = "shuttle"))))]
    fn mapped(len: usize) -> Option<Self> {
        const { assert!(core::mem::size_of::<Atomic<T>>() == core::mem::size_of::<usize>()) };
        let bytes = len.checked_mul(core::mem::size_of::<Atomic<T>>())?;
        if bytes < MAP_FROM {
            return None;
        }
        let Some(p) = crate::neigh::pages::map(bytes) else {
            // As for any allocation that fails.
            std::alloc::handle_alloc_error(std::alloc::Layout::array::<Atomic<T>>(len).ok()?);
        };
        Some(Slots {
            // SAFETY: a successful mmap never returns null. Its pages read as
            // zero, and an all-zero `Atomic` is a valid null pointer (checked
            // at compile time in `rcu`, which says why), page-aligned
            // memory is aligned for it, and the size was asserted above.
            ptr: unsafe { NonNull::new_unchecked(p as *mut Atomic<T>) },
            len,
            mapped: true,
        })
    }

    /// Is this a mapped array (released piecewise once retired)?
    #[cfg(not(any(feature = "loom", feature = "shuttle")))]
    pub(crate) fn is_mapped(&self) -> bool {
        self.mapped
    }

    /// Give up the memory of a mapped array as a [`Region`] to release
    /// piecewise; a boxed one is freed here (it is small).
    pub(crate) fn into_region(self) -> Option<Region> {
        let this = core::mem::ManuallyDrop::new(self);
        if this.mapped {
            Some(Region {
                addr: this.ptr.as_ptr() as usize,
                left: this.len * core::mem::size_of::<Atomic<T>>(),
            })
        } else {
            // SAFETY: the `Box` made in `new`, given up once (ManuallyDrop).
            drop(unsafe {
                Box::from_raw(core::ptr::slice_from_raw_parts_mut(
                    this.ptr.as_ptr(),
                    this.len,
                ))
            });
            None
        }
    }
}

impl<T> core::ops::Deref for Slots<T> {
    type Target = [Atomic<T>];
    fn deref(&self) -> &[Atomic<T>] {
        // SAFETY: `len` initialised slots (null `Atomic`s written by `new`,
        // or zero pages, which are null `Atomic`s), alive as long as `self`.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for Slots<T> {
    fn drop(&mut self) {
        let s = core::mem::replace(
            self,
            Slots {
                ptr: NonNull::dangling(),
                len: 0,
                mapped: false,
            },
        );
        drop(s.into_region());
    }
}

/// The memory of a retired mapped array, returned to the system a slice at
/// a time ([`Region::release`]); whatever is left goes when it is dropped.
pub(crate) struct Region {
    addr: usize,
    left: usize,
}

impl Region {
    /// Unmap up to `max` bytes (whole pages) from the front; `true` once
    /// nothing is left. Mapped arrays are powers of two of at least
    /// [`MAP_FROM`] bytes and `max` is [`RELEASE_PER_RUN`], so every slice
    /// ends on a page boundary for pages up to 256 KiB.
    pub(crate) fn release(&mut self, max: usize) -> bool {
        let n = self.left.min(max.max(1).next_multiple_of(4096));
        unmap(self.addr, n);
        self.addr += n;
        self.left -= n;
        self.left == 0
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        unmap(self.addr, self.left);
    }
}

/// Unmap `len` bytes at `addr` (part of a mapping made by `Slots::mapped`).
fn unmap(addr: usize, len: usize) {
    #[cfg(all(target_os = "linux", not(any(feature = "loom", feature = "shuttle"))))]
    // SAFETY: `addr..addr + len` is the rest of a mapping `Slots::mapped`
    // made, page-aligned (`release` unmaps whole pages), and nothing refers
    // to it any more (the array was retired and its grace period has
    // passed).
    unsafe {
        crate::neigh::pages::unmap(addr, len)
    };
    #[cfg(not(all(target_os = "linux", not(any(feature = "loom", feature = "shuttle")))))]
    let _ = (addr, len); // never mapped: nothing to do
}
