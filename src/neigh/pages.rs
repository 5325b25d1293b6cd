//! Anonymous memory straight from the kernel (Linux): `mmap` of zeroed,
//! lazily faulted pages and `munmap` of (parts of) them. The entry slab's
//! chunks (`slab/chunk.rs`) and the hash's large bucket arrays
//! (`table/slots.rs`) come from here, so that memory they give back leaves
//! the process instead of staying in the allocator's heap.
//!
//! Rules: knows nothing of what the pages hold; callers own the ranges they
//! map and unmap each byte of them once, when nothing refers to it.

/// `len` bytes of zeroed, page-aligned memory, or `None` if the kernel
/// refuses (the caller reports it as an allocation failure).
pub(crate) fn map(len: usize) -> Option<usize> {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choice touches no existing memory.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

/// Unmap `len` bytes at `addr` (nothing if `len` is 0).
///
/// # Safety
/// `addr..addr + len` is part of a mapping made by [`map`], not unmapped
/// yet, page-aligned at `addr`, and nothing refers to it any more.
pub(crate) unsafe fn unmap(addr: usize, len: usize) {
    if len != 0 {
        // SAFETY: the caller's contract.
        unsafe { libc::munmap(addr as *mut libc::c_void, len) };
    }
}
