//! Bounded walks of the hash by *hash position*: the periodic GC pass
//! (`gc.rs`) scans the table a slice at a time, resuming where the last
//! slice ended, as the kernel's `neigh_periodic_work` breaks its walk with
//! `cond_resched`.
//!
//! Rules: lock-free (an RCU walk under the caller's guard, like
//! `lookup_noref`); takes no lock and changes nothing. A position is a
//! point in the 32-bit hash space (`0..=SCAN_END`): a bucket of an array of
//! `2^shift` buckets covers the hashes whose top `shift` bits are its index
//! (SPEC.md §5), so a position at a bucket boundary stays a boundary after
//! the array grows, and a pass resumed after a grow neither skips nor
//! repeats a bucket. After a re-key (a fresh hash key) the positions name
//! other entries: a pass in progress may skip or repeat some (the next
//! pass sees them). While a resize is in progress a slice also walks the
//! same hash range of the future array (up to twice the buckets for a
//! grow), where the moved entries and the new ones are; an entry moved
//! while a slice runs may be missed or seen twice, as `all_entries` may.
//! This file must not write chains or bucket arrays (`hash.rs` and
//! `resize.rs` own them).

use super::hash::Buckets;
use super::{Entry, NeighTable, Pkt};
use crate::neigh::{NeighKey, NeighOps};
use crate::rcu::Guard;
use crate::sync::Ordering;

/// The position after the last bucket: a walk that reaches it is done.
pub(super) const SCAN_END: u64 = 1 << 32;

/// How much one slice may do.
#[derive(Clone, Copy, Debug)]
pub(super) struct ScanBudget {
    /// Entries returned, unless the first bucket alone holds more (a
    /// bucket is never split: its entries share the slice's boundary).
    pub(super) entries: usize,
    /// Buckets visited, empty or not (what bounds a slice of a sparse
    /// table).
    pub(super) buckets: usize,
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// Append to `out` the entries of the buckets from position `from` on,
    /// whole buckets only, within `budget`; return the position where the
    /// next slice starts ([`SCAN_END`] once the last bucket is done).
    pub(super) fn scan_slice<'g>(
        &self,
        from: u64,
        budget: ScanBudget,
        out: &mut Vec<&'g Entry<K, O>>,
        guard: &'g Guard,
    ) -> u64 {
        if from >= SCAN_END {
            return SCAN_END;
        }
        let b = self.buckets(guard);
        let unit = 32 - b.shift;
        let first = out.len();
        let mut i = (from >> unit) as usize;
        for _ in 0..budget.buckets {
            let Some(slot) = b.slots.get(i) else {
                return SCAN_END;
            };
            let start = out.len();
            walk_bucket(slot, out, guard);
            // A resize in progress: the same hash range of each future array
            // (where this bucket's moved entries and the new ones are).
            let (lo, hi) = ((i as u64) << unit, ((i as u64) + 1) << unit);
            let mut a = b;
            while let Some(f) = self.future_of(a, guard) {
                walk_range::<K, O>(f, lo, hi, out, guard);
                a = f;
            }
            if out.len() - first > budget.entries && start > first {
                // This bucket does not fit: it starts the next slice.
                out.truncate(start);
                return lo;
            }
            i += 1;
        }
        ((i as u64) << unit).min(SCAN_END)
    }
}

/// Append the entries of the buckets of `b` that cover hash positions
/// `from..end`.
fn walk_range<'g, K, O: NeighOps<K>>(
    b: &'g Buckets<K, Pkt<K, O>>,
    from: u64,
    end: u64,
    out: &mut Vec<&'g Entry<K, O>>,
    guard: &'g Guard,
) where
    K: NeighKey,
{
    let unit = 32 - b.shift;
    let lo = (from >> unit) as usize;
    let hi = (end.saturating_add((1 << unit) - 1) >> unit) as usize;
    for slot in b.slots.get(lo..hi.min(b.slots.len())).unwrap_or(&[]) {
        walk_bucket(slot, out, guard);
    }
}

/// Append every entry on one bucket's chain.
fn walk_bucket<'g, K, P>(
    slot: &crate::rcu::Atomic<crate::neigh::Neighbour<K, P>>,
    out: &mut Vec<&'g crate::neigh::Neighbour<K, P>>,
    guard: &'g Guard,
) {
    // Acquire: as in `lookup_noref` (pairs with the Release stores of
    // `link`, `unlink` and a move: the entry's fields are initialised).
    let mut p = slot.load(Ordering::Acquire, guard);
    // SAFETY: every entry reachable from a chain loaded under `guard` is
    // retired only after being unlinked, so after this guard.
    while let Some(n) = unsafe { p.as_ref() } {
        out.push(n);
        // Acquire: as above (a `next` a move pointed into a future chain may
        // lead to an entry linked after the walk began).
        p = n.next.load(Ordering::Acquire, guard);
    }
}
