//! The slab's chunks: 64 KiB of memory from the system, aligned to their
//! size, holding a header in the first cell and `T` cells after it.
//!
//! Rules: plain data behind the slab's mutex (`&mut self` only); no lock,
//! no atomic, nothing that can panic (index arithmetic is bounded by the
//! compile-time checks below). Memory comes from `mmap` on Linux and goes
//! back with `munmap`, so an empty chunk really leaves the process
//! (memory from `malloc` would stay with the allocator); elsewhere from the
//! global allocator. New cells are handed out in address order (a bump
//! index), freed ones through a per-chunk free list threaded through the
//! free cells. Chunks with a free cell are on a doubly linked list; full
//! chunks are on no list; of the empty ones, one is kept (so a table
//! hovering at a chunk boundary does not map and unmap on every create)
//! and the others are returned.

use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::{self, NonNull};

/// Bytes per chunk (a power of two, a multiple of the page size).
pub(crate) const CHUNK: usize = 64 * 1024;

/// A chunk's size and alignment (a power of two: checked when compiled).
const LAYOUT: std::alloc::Layout = match std::alloc::Layout::from_size_align(CHUNK, CHUNK) {
    Ok(l) => l,
    Err(_) => panic!("CHUNK is a power of two"),
};

/// End of a free list.
const NIL: u32 = u32::MAX;

/// A chunk's header, at its first byte.
struct Head {
    /// The slab it belongs to (the address of its shared state).
    owner: usize,
    prev: *mut Head,
    next: *mut Head,
    /// First free cell (an index), or `NIL`.
    free: u32,
    /// Next never-used cell.
    fresh: u32,
    /// Cells in use.
    used: u32,
    /// On the list of chunks with a free cell.
    listed: bool,
}

/// A chunk taken out of the slab, to be returned to the system.
pub(crate) struct Chunk(NonNull<u8>);

impl Chunk {
    /// Give the memory back (outside the slab's lock: a system call).
    pub(crate) fn release(self) {
        sys::unmap(self.0);
    }
}

/// The chunks of one slab of `T`.
pub(crate) struct Chunks<T> {
    /// Chunks with at least one free cell (never the spare).
    partial: *mut Head,
    /// One empty chunk kept mapped, or null.
    spare: *mut Head,
    /// Chunks mapped (in use, partial or spare).
    mapped: usize,
    _cells: PhantomData<T>,
}

// SAFETY: the chunks are plain memory owned by this value (the cells'
// values are owned by whoever allocated them); moving the bookkeeping to
// another thread is as safe as moving a `Vec<T>`.
unsafe impl<T: Send> Send for Chunks<T> {}

impl<T> Chunks<T> {
    /// Bytes per cell (`size_of` is a multiple of the alignment).
    const CELL: usize = size_of::<T>();
    /// Cells per chunk, the header's included.
    const CELLS: usize = CHUNK / Self::CELL;
    /// The first cell after the header.
    const FIRST: usize = size_of::<Head>().div_ceil(Self::CELL);
    /// Cells for values per chunk.
    const CAP: usize = Self::CELLS - Self::FIRST;
    const CHECKS: () = {
        // A free cell holds its free-list link.
        assert!(size_of::<T>() >= size_of::<u32>() && align_of::<T>() >= align_of::<u32>());
        // Cells are aligned: the chunk is aligned to CHUNK, and both the
        // header and `T` to at most that.
        assert!(align_of::<T>() <= CHUNK && align_of::<Head>() <= CHUNK);
        assert!(CHUNK.is_power_of_two() && CHUNK % 4096 == 0);
        // At least a few cells per chunk; indices fit u32.
        assert!(Self::CAP >= 8 && Self::CELLS < NIL as usize);
    };

    pub(crate) fn new() -> Self {
        let () = Self::CHECKS;
        Chunks {
            partial: ptr::null_mut(),
            spare: ptr::null_mut(),
            mapped: 0,
            _cells: PhantomData,
        }
    }

    /// Chunks mapped now.
    pub(crate) fn mapped(&self) -> usize {
        self.mapped
    }

    /// A free cell for a value of `T` (uninitialised), from the slab
    /// `owner`: from a chunk with a free cell, else the spare, else a new
    /// chunk.
    pub(crate) fn take(&mut self, owner: usize) -> NonNull<T> {
        if self.partial.is_null() {
            let h = if self.spare.is_null() {
                let h = sys::map().as_ptr() as *mut Head;
                self.mapped += 1;
                // SAFETY: a fresh chunk: CHUNK writable bytes, aligned.
                unsafe {
                    h.write(Head {
                        owner,
                        prev: ptr::null_mut(),
                        next: ptr::null_mut(),
                        free: NIL,
                        fresh: Self::FIRST as u32,
                        used: 0,
                        listed: false,
                    })
                };
                h
            } else {
                core::mem::replace(&mut self.spare, ptr::null_mut())
            };
            // SAFETY: `h` is a mapped chunk of this slab, on no list.
            unsafe { self.push(h) };
        }
        // SAFETY: `partial` is non-null (above), a mapped chunk of ours.
        let h = unsafe { &mut *self.partial };
        let idx = if h.free != NIL {
            let i = h.free;
            // SAFETY: a free cell of this chunk holds the next link.
            h.free = unsafe { Self::cell(h, i).cast::<u32>().read() };
            i
        } else {
            // A listed chunk has a free cell: if none is on the free list,
            // some were never used (`fresh < CELLS`).
            let i = h.fresh;
            h.fresh += 1;
            i
        };
        h.used += 1;
        if h.used as usize == Self::CAP {
            // SAFETY: listed (it was the head of the list).
            unsafe { self.unlink(h) };
        }
        Self::cell(h, idx)
    }

    /// Take back `cell` (its value already dropped). Returns its chunk if
    /// that is now empty and must go back to the system. A cell of another
    /// slab (`owner` differs) is left alone: leaked, never corrupting.
    pub(crate) fn put(&mut self, cell: NonNull<T>, owner: usize) -> Option<Chunk> {
        let h = (cell.as_ptr() as usize & !(CHUNK - 1)) as *mut Head;
        // SAFETY: every cell handed out lies in a mapped chunk whose header
        // is at the chunk's start, and a chunk with a cell out is never
        // unmapped.
        let head = unsafe { &mut *h };
        if head.owner != owner {
            return None;
        }
        let idx = ((cell.as_ptr() as usize - h as usize) / Self::CELL) as u32;
        // SAFETY: the cell is ours again; its first bytes hold the link.
        unsafe { cell.as_ptr().cast::<u32>().write(head.free) };
        head.free = idx;
        let was_full = head.used as usize == Self::CAP;
        head.used -= 1;
        if was_full {
            // SAFETY: a full chunk is on no list.
            unsafe { self.push(h) };
        }
        if head.used != 0 {
            return None;
        }
        // Empty: off the list, reset to hand out cells in order again.
        // SAFETY: listed (pushed above, or partial before).
        unsafe { self.unlink(h) };
        head.free = NIL;
        head.fresh = Self::FIRST as u32;
        if self.spare.is_null() {
            self.spare = h;
            return None;
        }
        self.mapped -= 1;
        Some(Chunk(
            // SAFETY: `h` is a non-null chunk address.
            unsafe { NonNull::new_unchecked(h.cast::<u8>()) },
        ))
    }

    /// Unmap the spare and every empty chunk (teardown). Chunks with a
    /// cell still out (a leaked entry) stay mapped.
    pub(crate) fn release_free(&mut self) {
        if !self.spare.is_null() {
            let h = core::mem::replace(&mut self.spare, ptr::null_mut());
            self.mapped -= 1;
            // SAFETY: a mapped chunk, now on no list and unreferenced.
            sys::unmap(unsafe { NonNull::new_unchecked(h.cast::<u8>()) });
        }
        // Partial chunks have a cell out by definition: they stay.
    }

    /// Cell `i` of chunk `h`.
    fn cell(h: *mut Head, i: u32) -> NonNull<T> {
        let p = (h as usize + i as usize * Self::CELL) as *mut T;
        // SAFETY: inside a mapped chunk, so not null.
        unsafe { NonNull::new_unchecked(p) }
    }

    /// Put `h` at the head of the partial list.
    ///
    /// # Safety
    /// `h` is a mapped chunk of this slab, on no list.
    unsafe fn push(&mut self, h: *mut Head) {
        // SAFETY: caller's contract; `partial`, if not null, is a chunk too.
        unsafe {
            (*h).prev = ptr::null_mut();
            (*h).next = self.partial;
            (*h).listed = true;
            if !self.partial.is_null() {
                (*self.partial).prev = h;
            }
        }
        self.partial = h;
    }

    /// Take `h` off the partial list.
    ///
    /// # Safety
    /// `h` is a mapped chunk on this slab's partial list.
    unsafe fn unlink(&mut self, h: *mut Head) {
        // SAFETY: caller's contract; its neighbours are listed chunks.
        unsafe {
            let (prev, next) = ((*h).prev, (*h).next);
            if prev.is_null() {
                self.partial = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*h).prev = ptr::null_mut();
            (*h).next = ptr::null_mut();
            (*h).listed = false;
        }
    }
}

/// Chunk memory: `mmap`/`munmap` on Linux, the global allocator elsewhere.
#[cfg(target_os = "linux")]
mod sys {
    use super::CHUNK;
    use core::ptr::NonNull;

    use crate::neigh::pages;

    fn mmap(len: usize) -> usize {
        pages::map(len).unwrap_or_else(|| std::alloc::handle_alloc_error(super::LAYOUT))
    }

    fn munmap(addr: usize, len: usize) {
        // SAFETY: every range passed here is part of a mapping `mmap` made
        // above, page-aligned (CHUNK-aligned trims and whole chunks), and
        // nothing refers to it any more (an untrimmed surplus, or an empty
        // chunk).
        unsafe { pages::unmap(addr, len) };
    }

    /// `CHUNK` zeroed bytes aligned to `CHUNK`. The kernel places a new
    /// mapping below the last one, so after the first chunk one call is
    /// usually enough; otherwise map twice the size and trim.
    pub(super) fn map() -> NonNull<u8> {
        let p = mmap(CHUNK);
        let a = if p % CHUNK == 0 {
            p
        } else {
            munmap(p, CHUNK);
            let p = mmap(2 * CHUNK);
            let a = (p + CHUNK - 1) & !(CHUNK - 1);
            munmap(p, a - p);
            munmap(a + CHUNK, p + 2 * CHUNK - (a + CHUNK));
            a
        };
        // SAFETY: `mmap` never returns null for a successful mapping.
        unsafe { NonNull::new_unchecked(a as *mut u8) }
    }

    pub(super) fn unmap(p: NonNull<u8>) {
        munmap(p.as_ptr() as usize, CHUNK);
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::LAYOUT;
    use core::ptr::NonNull;

    pub(super) fn map() -> NonNull<u8> {
        // SAFETY: a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(LAYOUT) };
        NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(LAYOUT))
    }

    pub(super) fn unmap(p: NonNull<u8>) {
        // SAFETY: allocated by `map` with the same layout.
        unsafe { std::alloc::dealloc(p.as_ptr(), LAYOUT) }
    }
}
