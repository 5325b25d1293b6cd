//! Growing and re-keying the hash without stopping anyone
//! (`neigh_hash_grow`, done the way `lib/rhashtable.c` does it): a resize
//! links a *future* array to the current one, new entries go to the future
//! array, and the table's writers move the current array's entries there a
//! few buckets at a time; when every bucket is empty the future array
//! becomes current and the old one is retired.
//!
//! Rules: everything here runs under the table lock (the only writer of
//! chains and arrays); readers walk without it and never wait (`hash.rs`:
//! a miss in an array continues in its future array). One resize at a
//! time: a new one starts only once the previous one has ended. A move
//! takes the *tail* of a chain: it links the entry at the head of its
//! future chain, then cuts it off the old chain, so an entry is always
//! reachable from a reader that has not yet passed it, and a reader
//! standing on a moved entry walks on into a future chain, which it may
//! safely finish before looking in the future array itself (SPEC.md §5,
//! race matrix L6, L13, L15). This file knows nothing of NUD states, the
//! refcount or the timers.

use super::hash::Buckets;
use super::{NeighTable, Pkt, TableLocked};
use crate::neigh::key::{os_random, HashKey};
use crate::neigh::stats::C;
use crate::neigh::{DevId, NeighKey, NeighOps};
use crate::rcu::{self, Atomic, Guard, Owned, Shared};
use crate::sync::Ordering;
use crate::variant::Rule;

/// A bucket array as loaded under a guard.
type Arr<'g, K, O> = Shared<'g, Buckets<K, Pkt<K, O>>>;

/// A chain this long under a secret random hash key means the key leaked
/// (or a one-in-10^13 draw): the table re-keys (SPEC.md §5).
pub(super) const LONG_CHAIN: usize = 16;

/// From this many buckets on, the table keeps at most one entry per two
/// buckets (load factor 1/2) instead of the kernel's one per bucket.
const HALF_LOAD_FROM: usize = 64;

/// Buckets of the current array that each create moves while a resize is
/// in progress. A grow starts at `b / 2` entries in `b` buckets (`b` from
/// 64 on; the kernel's one per bucket below) and ends after
/// `b / MOVE_PER_CREATE` creates at most, by which time the future array
/// (`2b` buckets) holds at most `b / 2 + b / 4` entries, under its own
/// grow threshold `b`. Resizes never overlap anyway: a create never starts
/// one while another is in progress (the next may start right after).
pub(super) const MOVE_PER_CREATE: usize = 4;

/// Buckets one `run_timers` call moves, so that a resize ends even when
/// creates stop (a few hundred microseconds of work at most; SPEC.md §5).
pub(crate) const MOVE_PER_TIMER_RUN: usize = 4096;

/// The most entries an array of `buckets` buckets holds before it doubles.
///
/// A hit on a key at position `i` of its chain touches `i` entries, each a
/// cache miss once the table outgrows the caches: with `n` entries in `b`
/// buckets a hit touches `1 + n / 2b` on average, 1.5 at the kernel's limit
/// (`n = b`, where every power-of-two table size sits) and 1.25 at `n =
/// b / 2` (SPEC.md §5, §9). The bucket array costs 8 bytes per bucket, so
/// tables small enough to live in the caches keep the kernel's rule.
fn max_entries(buckets: usize) -> usize {
    if buckets >= HALF_LOAD_FROM {
        buckets / 2
    } else {
        buckets
    }
}

/// Entries on the chain that starts at `slot` (the caller holds the table
/// lock, so the walk is exact).
fn chain_len<K, P>(slot: &Atomic<crate::neigh::Neighbour<K, P>>, guard: &Guard) -> usize {
    let mut len = 0;
    // Relaxed: table lock held; nobody else writes chains.
    let mut p = slot.load(Ordering::Relaxed, guard);
    // SAFETY: linked entries outlive the guard (table lock held).
    while let Some(n) = unsafe { p.as_ref() } {
        len += 1;
        p = n.next.load(Ordering::Relaxed, guard); // Relaxed: as above
    }
    len
}

/// Cut a moved tail off its old chain: `link` (the predecessor's `next`,
/// or the bucket slot) becomes null.
fn cut<K, P>(link: &Atomic<crate::neigh::Neighbour<K, P>>) {
    // Release: pairs with a walk's Acquire loads: a reader that finds the
    // entry gone from the old chain finds it in the future one (linked
    // before this store).
    link.store(Shared::from(core::ptr::null()), Ordering::Release);
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// The current array and the future one of a resize in progress
    /// (caller holds the table lock).
    fn arrays<'g>(&self, guard: &'g Guard) -> (Arr<'g, K, O>, Arr<'g, K, O>) {
        // Relaxed: table lock held, the only writer of the arrays.
        let cur = self.head.nht.load(Ordering::Relaxed, guard);
        // SAFETY: never null; the lock we hold is the one that retires it.
        let c = unsafe { cur.deref() };
        // Relaxed: as above (null unless a resize is in progress: the
        // current array's future is set only by a resize that has not ended).
        (cur, c.future.load(Ordering::Relaxed, guard))
    }

    /// Choose the array to link one more entry with `(key, dev)` into: the
    /// future array of a resize in progress, else the current one, after
    /// starting a grow when entries would exceed the array's capacity
    /// ([`max_entries`]) or a re-key when the entry's chain is already
    /// `LONG_CHAIN` long. Re-keying again needs as many creates since the
    /// last re-key as the table had entries then, so the moves cost O(1)
    /// amortised per create however often an attacker who learns the key
    /// floods it (SPEC.md §5). The caller links the entry, then moves
    /// [`MOVE_PER_CREATE`] buckets (`move_buckets`): a moved entry can then
    /// land in a future chain that already holds the new one, which is the
    /// interleaving race matrix L16 needs. Caller holds the table lock.
    pub(super) fn make_slot<'g>(
        &self,
        tbl: &mut TableLocked,
        key: &K,
        dev: DevId,
        guard: &'g Guard,
    ) -> &'g Buckets<K, Pkt<K, O>> {
        let entries = self.entries();
        tbl.created_since_rekey += 1;
        let (cur, future) = self.arrays(guard);
        // SAFETY: set under the table lock we hold; freed only after a later
        // resize (under it) replaces it.
        if let Some(f) = unsafe { future.as_ref() } {
            return f;
        }
        // SAFETY: never null; table lock held.
        let b = unsafe { cur.deref() };
        if entries + 1 > max_entries(b.slots.len()) {
            self.stats.inc(C::HASH_GROWS);
            return self.start_resize(tbl, b, b.shift + 1, b.key, guard);
        }
        if tbl.created_since_rekey > tbl.size_at_rekey
            && chain_len(b.slot_of(key, dev), guard) >= LONG_CHAIN
        {
            // A fresh key the attacker has not seen: from the operating
            // system unless the table is seeded for reproducibility.
            let fresh = if tbl.cfg.seed != 0 {
                HashKey::new(|| tbl.next_rand())
            } else {
                HashKey::new(os_random)
            };
            tbl.created_since_rekey = 1;
            tbl.size_at_rekey = entries;
            self.stats.inc(C::HASH_RESEEDS);
            return self.start_resize(tbl, b, b.shift, fresh, guard);
        }
        b
    }

    /// Start a resize of `cur` into a new array of `2^shift` buckets hashed
    /// with `key` (twice as large to grow; the same size with a fresh key to
    /// re-key) and return the new array. Caller holds the table lock.
    ///
    /// `shift` stays at most 25 (a grow from `b` buckets needs more than
    /// `b / 2` entries, and creation stops below `MAX_ENTRIES < 2^24`), so
    /// neither the slot count nor `index` can overflow.
    fn start_resize<'g>(
        &self,
        tbl: &mut TableLocked,
        cur: &Buckets<K, Pkt<K, O>>,
        shift: u32,
        key: HashKey,
        guard: &'g Guard,
    ) -> &'g Buckets<K, Pkt<K, O>> {
        let new = rcu::into_shared(Owned::new(Buckets::new(shift, key)), guard);
        // Release: pairs with the Acquire load of `future` in `future_of`:
        // a reader that finds the pointer sees the array's initialised slots.
        cur.future.store(new, Ordering::Release);
        tbl.move_pos = 0;
        ktrace!(
            "neigh_hash_grow",
            "resize to {} buckets started: new entries go to the future array",
            1u64 << shift
        );
        // SAFETY: just allocated; retired only when a later resize replaces it.
        unsafe { new.deref() }
    }

    /// Move up to `budget` buckets of the current array to the future one
    /// if a resize is in progress, and end the resize when the last bucket
    /// is empty. Caller holds the table lock. Returns the buckets moved.
    pub(super) fn move_buckets(
        &self,
        tbl: &mut TableLocked,
        budget: usize,
        guard: &Guard,
    ) -> usize {
        let (cur, fut) = self.arrays(guard);
        // SAFETY: as in `make_slot`.
        let Some(f) = (unsafe { fut.as_ref() }) else {
            return 0;
        };
        // SAFETY: never null; table lock held.
        let c = unsafe { cur.deref() };
        let end = c.slots.len().min(tbl.move_pos.saturating_add(budget));
        let moved = end.saturating_sub(tbl.move_pos);
        for slot in &c.slots[tbl.move_pos.min(end)..end] {
            self.move_bucket(slot, f, guard);
        }
        tbl.move_pos = end;
        if end == c.slots.len() {
            self.finish_resize(cur, fut, guard);
        }
        moved
    }

    /// Move every entry of one bucket of the current array to its chain in
    /// `future`, tail first (`rhashtable_rehash_one`).
    fn move_bucket(
        &self,
        slot: &Atomic<crate::neigh::Neighbour<K, Pkt<K, O>>>,
        future: &Buckets<K, Pkt<K, O>>,
        guard: &Guard,
    ) {
        // The chain, head first, in one walk (a stack array for the usual
        // short chain, a `Vec` beyond it), so that moving it tail first costs
        // O(length), not O(length^2), however long an attacker who knows the
        // key made it.
        const SHORT: usize = 8;
        let mut short = [Shared::from(core::ptr::null()); SHORT];
        let mut long = Vec::new();
        let mut len = 0;
        // Relaxed: table lock held; nobody else writes chains.
        let mut p = slot.load(Ordering::Relaxed, guard);
        // SAFETY: linked entries outlive the guard (table lock held).
        while let Some(n) = unsafe { p.as_ref() } {
            if len < SHORT {
                short[len] = p;
            } else {
                if len == SHORT {
                    long.extend_from_slice(&short);
                }
                long.push(p);
            }
            len += 1;
            p = n.next.load(Ordering::Relaxed, guard); // Relaxed: as above
        }
        let chain = if len <= SHORT {
            &short[..len]
        } else {
            &long[..]
        };
        for (k, &p) in chain.iter().enumerate().rev() {
            // SAFETY: as above (collected under the lock we still hold).
            let n = unsafe { p.deref() };
            // The link that points at `n`: its predecessor's `next`, or the
            // bucket slot for the head. `n` is the tail now (its successors
            // were moved already).
            let link = match k.checked_sub(1) {
                // SAFETY: as above.
                Some(j) => &unsafe { chain[j].deref() }.next,
                None => slot,
            };
            let head = future.slot_of(&n.key, n.dev);
            // L6 broken (model builds only): cut first, link after, so the
            // entry is in neither array in between.
            let cut_first = !self.keeps(Rule::MoveLinksFirst);
            if cut_first {
                cut(link);
            }
            // Release: pairs with a walk's Acquire load of `next`: a reader
            // standing on `n` walks on into the future chain and sees its
            // entries initialised.
            n.next
                .store(head.load(Ordering::Relaxed, guard), Ordering::Release);
            // Release: pairs with the Acquire slot loads of lookups in the
            // future array: `n`, with its new `next`, is reachable there.
            head.store(p, Ordering::Release);
            if !cut_first {
                cut(link);
            }
            ktrace!(
                "neigh_hash_grow",
                "{} moved to the future array (linked there, then cut from the old chain)",
                n.key
            );
        }
    }

    /// Every bucket of `cur` is empty: make `future` current and retire
    /// `cur` (whose `future` keeps pointing at it for the readers still
    /// standing on it).
    fn finish_resize(
        &self,
        cur: Shared<'_, Buckets<K, Pkt<K, O>>>,
        future: Shared<'_, Buckets<K, Pkt<K, O>>>,
        guard: &Guard,
    ) {
        // Release: pairs with the Acquire load of the array in `buckets`
        // (`lookup_noref`, `stats`, ...): its slots and chains are visible.
        self.head.nht.store(future, Ordering::Release);
        ktrace!(
            "neigh_hash_grow",
            "resize done: the future array is current, the old one retired"
        );
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        // SAFETY: never null; table lock held.
        if unsafe { cur.deref() }.slots.is_mapped() {
            let queue = self.retired.clone();
            let raw = cur.as_raw() as usize;
            let free = move || {
                // SAFETY: the old array, replaced above and retired once
                // here; the grace period has ended, so nobody reaches it.
                let mut old =
                    unsafe { Shared::from(raw as *const Buckets<K, Pkt<K, O>>).into_owned() };
                let slots = core::mem::replace(&mut old.slots, super::slots::Slots::new(0));
                drop(old);
                if let Some(r) = slots.into_region() {
                    // A leaf lock (`defer_unchecked`'s rule).
                    queue.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                }
            };
            // SAFETY: `free` touches only the retired array (unreachable for
            // read sections that start after the store above) and what it owns.
            unsafe { guard.defer_unchecked(free) };
            return;
        }
        // SAFETY: replaced above, under the table lock; readers of the old
        // array hold guards. Its slots are all null and it owns nothing
        // (its `future` is not owned).
        unsafe { guard.defer_destroy(cur) };
    }

    /// Return up to `max` bytes of retired bucket arrays to the system
    /// (`slots::Region`); called by `run_timers`.
    pub(super) fn release_retired(&self, max: usize) {
        // The region leaves the queue while it is unmapped, so the deferred
        // closure that queues another (which may run inside a reader's
        // `pin`) never waits for a `munmap`.
        let Some(mut r) = self.retired.lock().unwrap_or_else(|e| e.into_inner()).pop() else {
            return;
        };
        if !r.release(max) {
            self.retired
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(r);
        }
    }

    /// Is retired bucket-array memory waiting to be unmapped?
    pub(super) fn retired_pending(&self) -> bool {
        !self
            .retired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
    /// Is a resize in progress? (Caller holds the table lock.)
    pub(super) fn resize_in_progress(&self, guard: &Guard) -> bool {
        !self.arrays(guard).1.is_null()
    }

    /// Tests only: end a resize in progress now (the moves `run_timers`
    /// would otherwise spread over its calls).
    #[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
    pub(super) fn end_resize_now(&self) {
        let guard = rcu::pin();
        let mut tbl = self.lock.lock();
        self.move_buckets(&mut tbl, usize::MAX, &guard);
    }
}
