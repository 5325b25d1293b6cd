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
//! pass sees them). A walk that overlaps a resize may also miss or repeat
//! an entry, as `all_entries` may. This file must not write chains or
//! bucket arrays (`hash.rs` owns them).

use super::{Entry, NeighTable};
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
            // Acquire: as in `lookup_noref` (pairs with the Release stores of
            // `link`, `unlink`, `rehash`: the entry's fields are initialised).
            let mut p = slot.load(Ordering::Acquire, guard);
            // SAFETY: every entry reachable from a chain loaded under `guard`
            // is retired only after being unlinked, so after this guard.
            while let Some(n) = unsafe { p.as_ref() } {
                out.push(n);
                // Acquire: as above (a `next` relinked by a resize may lead
                // to an entry linked after the walk began).
                p = n.next.load(Ordering::Acquire, guard);
            }
            if out.len() - first > budget.entries && start > first {
                // This bucket does not fit: it starts the next slice.
                out.truncate(start);
                return (i as u64) << unit;
            }
            i += 1;
        }
        ((i as u64) << unit).min(SCAN_END)
    }
}
