//! Unit tests of the entry slab (`slab.rs`, `slab/chunk.rs`), default build
//! only: cells are dense and reused, values are dropped once after the grace
//! period, empty chunks go back, returns race allocations from other
//! threads, and a slab outlives its owner while returns are pending.

use super::chunk::CHUNK;
use super::EntrySlab;
use crate::rcu;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A 128-byte, 64-aligned value (an entry's shape) that counts its drops.
#[repr(C, align(64))]
struct Cell {
    id: usize,
    drops: Arc<AtomicUsize>,
    _pad: [u8; 96],
}

impl Drop for Cell {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

fn cell(id: usize, drops: &Arc<AtomicUsize>) -> Cell {
    Cell {
        id,
        drops: drops.clone(),
        _pad: [0; 96],
    }
}

/// Wait (running deferred functions) until `done` holds. crossbeam frees
/// in batches, not while any thread of the process is pinned, and on
/// whichever thread pins: the tests run in parallel, some holding a guard
/// for a while, and another test's thread may be running one of our
/// returns; so the limit is time, and generous.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        rcu::barrier();
        std::thread::yield_now();
    }
}

/// Wait until `drops` reaches `n`.
fn wait_drops(drops: &AtomicUsize, n: usize) {
    wait_until(&format!("{n} values dropped"), || {
        drops.load(Ordering::Relaxed) >= n
    });
}

const PER_CHUNK: usize = CHUNK / 128 - 1;

#[test]
fn cells_are_dense_aligned_and_hold_their_values() {
    assert_eq!(std::mem::size_of::<Cell>(), 128);
    let slab = EntrySlab::<Cell>::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = rcu::pin();
    let ptrs: Vec<*const Cell> = (0..3 * PER_CHUNK)
        .map(|i| slab.alloc(cell(i, &drops), &guard).as_raw())
        .collect();
    for (i, &p) in ptrs.iter().enumerate() {
        assert_eq!(p as usize % 64, 0);
        // SAFETY: allocated above, not retired.
        assert_eq!(unsafe { &*p }.id, i);
    }
    // Within a chunk, cells follow each other at 128 bytes.
    for w in ptrs[..PER_CHUNK].windows(2) {
        assert_eq!(w[1] as usize - w[0] as usize, 128);
    }
    assert_eq!(slab.bytes(), 3 * CHUNK);
    let set: HashSet<usize> = ptrs.iter().map(|&p| p as usize).collect();
    assert_eq!(set.len(), ptrs.len(), "no cell handed out twice");
    for &p in &ptrs {
        // SAFETY: allocated from this slab, unreachable, retired once.
        unsafe { slab.retire(p, &guard) };
    }
    drop(guard);
    wait_drops(&drops, ptrs.len());
    assert_eq!(
        drops.load(Ordering::Relaxed),
        ptrs.len(),
        "each dropped once"
    );
}

#[test]
fn a_retired_value_is_dropped_only_after_the_grace_period() {
    let slab = EntrySlab::<Cell>::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let reader = rcu::pin();
    let p = slab.alloc(cell(7, &drops), &reader).as_raw();
    {
        let writer = rcu::pin();
        // SAFETY: as above.
        unsafe { slab.retire(p, &writer) };
    }
    for _ in 0..64 {
        std::thread::spawn(rcu::barrier).join().expect("barrier");
    }
    // The reader that was pinned at retirement still reads the value.
    // SAFETY: `reader` predates the retirement.
    assert_eq!(unsafe { &*p }.id, 7);
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    drop(reader);
    wait_drops(&drops, 1);
}

#[test]
fn freed_cells_are_reused_and_empty_chunks_go_back() {
    let slab = EntrySlab::<Cell>::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let n = 8 * PER_CHUNK;
    let guard = rcu::pin();
    let ptrs: Vec<*const Cell> = (0..n)
        .map(|i| slab.alloc(cell(i, &drops), &guard).as_raw())
        .collect();
    assert_eq!(slab.bytes(), 8 * CHUNK);
    // Keep one cell in the first chunk, free everything else.
    for &p in &ptrs[1..] {
        // SAFETY: as above.
        unsafe { slab.retire(p, &guard) };
    }
    drop(guard);
    wait_drops(&drops, n - 1);
    // The first chunk (one cell in use) and one spare stay.
    wait_until("two chunks left", || slab.bytes() == 2 * CHUNK);
    // New cells come from the partly used chunk first, then the spare.
    let guard = rcu::pin();
    let again: Vec<*const Cell> = (0..2 * PER_CHUNK - 1)
        .map(|i| slab.alloc(cell(i, &drops), &guard).as_raw())
        .collect();
    assert_eq!(slab.bytes(), 2 * CHUNK, "no new chunk while cells are free");
    let first = ptrs[0] as usize & !(CHUNK - 1);
    assert!(again[..PER_CHUNK - 1]
        .iter()
        .all(|&p| p as usize & !(CHUNK - 1) == first));
    for &p in again.iter().chain(&ptrs[..1]) {
        // SAFETY: as above.
        unsafe { slab.retire(p, &guard) };
    }
    drop(guard);
    wait_drops(&drops, n + again.len());
    wait_until("only the spare is kept", || slab.bytes() == CHUNK);
}

#[test]
fn returns_from_other_threads_race_allocations() {
    let slab = Arc::new(EntrySlab::<Cell>::new());
    let drops = Arc::new(AtomicUsize::new(0));
    let per = 4 * PER_CHUNK + 17;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (slab, drops) = (slab.clone(), drops.clone());
            std::thread::spawn(move || {
                let mut live = Vec::new();
                for i in 0..per {
                    let guard = rcu::pin();
                    let p = slab.alloc(cell(t * per + i, &drops), &guard).as_raw();
                    live.push(p as usize);
                    if i % 3 == 0 {
                        let q = live.swap_remove(i % live.len()) as *const Cell;
                        // SAFETY: allocated by this thread, retired once.
                        unsafe { slab.retire(q, &guard) };
                    }
                }
                let guard = rcu::pin();
                for &p in &live {
                    // SAFETY: each cell is read by its owner: its value is intact.
                    let c = unsafe { &*(p as *const Cell) };
                    assert!(
                        c.id / per == t,
                        "a cell of thread {t} was handed to another"
                    );
                }
                for p in live {
                    // SAFETY: as above.
                    unsafe { slab.retire(p as *const Cell, &guard) };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    wait_drops(&drops, 4 * per);
    wait_until("every chunk back but the spare", || slab.bytes() == CHUNK);
}

#[test]
fn the_slab_outlives_its_owner_while_returns_are_pending() {
    let drops = Arc::new(AtomicUsize::new(0));
    let reader = rcu::pin();
    {
        let slab = EntrySlab::<Cell>::new();
        let guard = rcu::pin();
        for i in 0..3 * PER_CHUNK {
            let p = slab.alloc(cell(i, &drops), &guard).as_raw();
            // SAFETY: as above.
            unsafe { slab.retire(p, &guard) };
        }
        // The slab handle is dropped here, with every return pending.
    }
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    drop(reader);
    wait_drops(&drops, 3 * PER_CHUNK);
}

#[test]
fn a_leaked_cell_keeps_its_chunk_and_nothing_else() {
    let drops = Arc::new(AtomicUsize::new(0));
    let slab = EntrySlab::<Cell>::new();
    let guard = rcu::pin();
    let leaked = slab.alloc(cell(1, &drops), &guard).as_raw();
    let other = slab.alloc(cell(2, &drops), &guard).as_raw();
    // SAFETY: as above.
    unsafe { slab.retire(other, &guard) };
    drop(guard);
    wait_drops(&drops, 1);
    // Dropping the slab with a cell out (a leaked entry) unmaps nothing
    // under it: the leaked value stays readable.
    drop(slab);
    // SAFETY: the chunk of a cell never returned stays mapped.
    assert_eq!(unsafe { &*leaked }.id, 1);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        1,
        "the leaked value is not dropped"
    );
}
