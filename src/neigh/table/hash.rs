//! The RCU hash (`struct neigh_hash_table`): bucket array, chains,
//! `lookup_noref`, linking and unlinking, growth and re-keying.
//!
//! Rules: chains are written only under the table lock; readers walk them
//! under an RCU guard with no lock. A resize (grow or re-key) makes
//! `resize_seq` odd while it relinks, and a lookup that misses re-checks it
//! and retries (race matrix L6). This file knows nothing of NUD states, the
//! refcount or the timers.
//!
//! Hash structure: as in the kernel, a bucket array (an RCU object) of RCU
//! singly-linked chains threaded through the entries' `next` links: a hit
//! touches the bucket slot and the entry, nothing else. Growth
//! (`neigh_hash_grow`) relinks entries into a new array in place, which can
//! send a reader walking an old chain into a new one; the kernel tolerates
//! the resulting false miss, this table retries.

use super::{Entry, NeighTable, Pkt, TableLocked};
use crate::neigh::entry::Neighbour;
use crate::neigh::key::HashKey;
use crate::neigh::stats::C;
use crate::neigh::{DevId, NeighKey, NeighOps};
use crate::rcu::{self, Atomic, Guard, Owned, Shared};
use crate::sync::{self, Ordering};
use crate::variant::Rule;

/// The bucket array (`struct neigh_hash_table`): heads of RCU chains.
pub(crate) struct Buckets<K, P> {
    pub(super) shift: u32,
    /// The secret hash key (`hash_rnd`); replaced only with the whole array.
    pub(super) key: HashKey,
    pub(super) slots: Box<[Atomic<Neighbour<K, P>>]>,
}

impl<K: NeighKey, P> Buckets<K, P> {
    pub(super) fn new(shift: u32, key: HashKey) -> Self {
        Buckets {
            shift,
            key,
            slots: (0..1usize << shift).map(|_| Atomic::null()).collect(),
        }
    }

    #[inline]
    pub(super) fn index(&self, hash: u32) -> usize {
        // The top `shift` bits, as `hash >> (32 - nht->hash_shift)`.
        (hash as u64 >> (32 - self.shift)) as usize
    }

    #[inline]
    pub(super) fn slot_of(&self, key: &K, dev: DevId) -> &Atomic<Neighbour<K, P>> {
        &self.slots[self.index(self.key.hash(key, dev))]
    }
}

/// What every lookup reads first: the bucket array and the resize count,
/// on one cache line that only a resize writes.
pub(super) struct Head<K, P> {
    pub(super) nht: Atomic<Buckets<K, P>>,
    /// Odd while `grow` relinks entries; bumped twice per resize.
    pub(super) resize_seq: sync::AtomicU64,
}

/// A chain this long under a secret random hash key means the key leaked
/// (or a one-in-10^13 draw): the table re-keys (SPEC.md §5).
const LONG_CHAIN: usize = 16;

/// From this many buckets on, the table keeps at most one entry per two
/// buckets (load factor 1/2) instead of the kernel's one per bucket.
const HALF_LOAD_FROM: usize = 64;

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
fn chain_len<K, P>(slot: &Atomic<Neighbour<K, P>>, guard: &Guard) -> usize {
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

/// Keys looked up together by [`NeighTable::lookup_noref_burst`]: enough
/// to keep the CPU's outstanding misses busy, small enough for the stack.
pub(super) const BURST: usize = 32;

/// Start fetching the cache line at `p` into every cache level. A hint: it
/// never faults, whatever `p` is (null, dangling or freed memory), and
/// changes nothing but timing. A no-op on other architectures.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: PREFETCHT0 reads no memory architecturally and cannot
        // fault on any address (Intel SDM vol. 2, PREFETCHh); SSE, its only
        // requirement, is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Walk the chain starting at `p` (loaded under `guard`) for `(key, dev)`.
#[inline(always)]
fn walk<'g, K: NeighKey, P>(
    mut p: Shared<'g, Neighbour<K, P>>,
    key: K,
    dev: DevId,
    guard: &'g Guard,
) -> Option<&'g Neighbour<K, P>> {
    // SAFETY: every entry reachable from a chain loaded under `guard` is
    // retired only after being unlinked, so after this grace period.
    while let Some(n) = unsafe { p.as_ref() } {
        if n.key == key && n.dev == dev {
            return Some(n);
        }
        // Acquire: as for the slot (pairs with the Release stores of `link`,
        // `unlink`, `rehash`); and a `next` relinked by `rehash` (Release)
        // brings the odd `resize_seq` stored before it, so the caller's miss
        // check sees the resize.
        p = n.next.load(Ordering::Acquire, guard);
    }
    None
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// `__neigh_lookup_noref`: find the entry without taking a reference.
    ///
    /// The result is valid only while `guard` lives and may be an entry that
    /// a concurrent GC has just unlinked (`dead`): every operation on it
    /// re-checks under the entry lock. Takes no lock, writes nothing.
    #[inline]
    pub fn lookup_noref<'g>(
        &self,
        key: K,
        dev: DevId,
        guard: &'g Guard,
    ) -> Option<&'g Entry<K, O>> {
        loop {
            // Acquire: pairs with the Release store that ends a resize in
            // `rehash` (so the array loaded below is at least that new).
            let seq = self.head.resize_seq.load(Ordering::Acquire);
            let nht = self.buckets(guard);
            // Acquire: pairs with the Release stores that link an entry
            // (`link`, `unlink`, `rehash`): its initialised fields are visible.
            let p = nht.slot_of(&key, dev).load(Ordering::Acquire, guard);
            if let Some(n) = walk(p, key, dev, guard) {
                ktrace!(
                    "__neigh_lookup_noref",
                    "found {key} {} refcnt={} (no reference taken)",
                    n.state(),
                    n.refcnt()
                );
                return Some(n);
            }
            if self.no_resize_since(seq) {
                ktrace!("__neigh_lookup_noref", "{key} not found (resize_seq {seq})");
                return None;
            }
            sync::spin_wait();
        }
    }

    /// The current bucket array, under `guard`.
    #[inline]
    pub(super) fn buckets<'g>(&self, guard: &'g Guard) -> &'g Buckets<K, Pkt<K, O>> {
        // Acquire: pairs with the Release store of a new array in `rehash`
        // (its slots and fields are initialised).
        let nht = self.head.nht.load(Ordering::Acquire, guard);
        // SAFETY: the bucket array is never null and is retired only after
        // being replaced; the guard protects the one we loaded.
        unsafe { nht.deref() }
    }

    /// A miss counts only if no resize overlapped the walk (`seq` read
    /// before it): `rehash` relinks `next` in place, so a walk may have left
    /// its chain (race matrix L6).
    #[inline]
    fn no_resize_since(&self, seq: u64) -> bool {
        // L6 broken (model builds only): trust every miss.
        if !self.keeps(Rule::LookupRetriesOnResize) {
            return true;
        }
        // Relaxed: ordered after the walk's Acquire loads; pairs with the
        // odd store in `rehash` (ordered before its Release relinks).
        self.head.resize_seq.load(Ordering::Relaxed) == seq && seq & 1 == 0
    }

    /// [`lookup_noref`](Self::lookup_noref) for a burst of keys: `out[i]`
    /// becomes the entry of `keys[i]`, or `None` if it is not in the table.
    ///
    /// The keys are processed in blocks of 32 the way DPDK's
    /// `rte_hash_lookup_bulk` does: hash every key and prefetch its bucket
    /// slot, then load every slot and prefetch the entry it names, then
    /// compare. The memory accesses of a block overlap instead of forming
    /// one dependent pair per key, which is what bounds single lookups in a
    /// table larger than the caches. The results are exactly those of
    /// `lookup_noref` (same guard, same rules: an entry found may be dead;
    /// a present key is never missed, because misses are retried one by one
    /// when a resize overlapped the block). Takes no lock, writes nothing,
    /// allocates nothing.
    ///
    /// # Panics
    ///
    /// If `out.len() != keys.len()`.
    pub fn lookup_noref_burst<'g>(
        &self,
        keys: &[(K, DevId)],
        out: &mut [Option<&'g Entry<K, O>>],
        guard: &'g Guard,
    ) {
        assert_eq!(
            keys.len(),
            out.len(),
            "lookup_noref_burst: one output slot per key"
        );
        for (k, o) in keys.chunks(BURST).zip(out.chunks_mut(BURST)) {
            self.lookup_block(k, o, guard);
        }
    }

    /// One block (at most [`BURST`] keys) of `lookup_noref_burst`.
    #[inline]
    pub(super) fn lookup_block<'g>(
        &self,
        keys: &[(K, DevId)],
        out: &mut [Option<&'g Entry<K, O>>],
        guard: &'g Guard,
    ) {
        debug_assert!(keys.len() <= BURST && keys.len() == out.len());
        // Acquire: pairs with the Release store that ends a resize in
        // `rehash`, as in `lookup_noref`.
        let seq = self.head.resize_seq.load(Ordering::Acquire);
        let nht = self.buckets(guard);
        // Stage 1: hash, and start fetching every bucket slot.
        let mut slot = [0usize; BURST];
        for (s, (key, dev)) in slot.iter_mut().zip(keys) {
            *s = nht.index(nht.key.hash(key, *dev));
            prefetch(&nht.slots[*s]);
        }
        // Stage 2: load every slot, and start fetching the entries' hot lines.
        let mut head = [Shared::from(core::ptr::null()); BURST];
        for (h, &s) in head.iter_mut().zip(&slot[..keys.len()]) {
            // Acquire: pairs with the Release stores that link an entry
            // (`link`, `unlink`, `rehash`): its initialised fields are visible.
            *h = nht.slots[s].load(Ordering::Acquire, guard);
            prefetch(h.as_raw());
        }
        // Stage 3: compare (an entry beyond a chain's head, about a quarter of
        // hits at half load, is fetched without a prefetch).
        let mut missed = false;
        for ((o, &(key, dev)), &h) in out.iter_mut().zip(keys).zip(&head) {
            *o = walk(h, key, dev, guard);
            missed |= o.is_none();
            ktrace!(
                "lookup_noref_burst",
                "{key}: {}",
                if o.is_some() {
                    "found"
                } else {
                    "not found in its chain"
                }
            );
        }
        if missed && !self.no_resize_since(seq) {
            // A resize overlapped the block: a miss may be false. Retry
            // those keys one by one (each with the retry rule).
            for (o, &(key, dev)) in out.iter_mut().zip(keys) {
                if o.is_none() {
                    *o = self.lookup_noref(key, dev, guard);
                }
            }
        }
    }

    /// Model builds only: the table hash of `(key, dev)` (its top bits pick
    /// the bucket), for scenarios that need keys sharing a bucket. A default
    /// build has no way to learn a key's hash (SPEC.md §5, "Hash seeding").
    #[cfg(any(test, feature = "loom", feature = "shuttle"))]
    #[doc(hidden)]
    pub fn key_hash(&self, key: K, dev: DevId) -> u32 {
        // The array (and its hash key) as the lookups load it: `buckets`'
        // Acquire (killed by L6) orders its initialisation before the read.
        let guard = rcu::pin();
        self.buckets(&guard).key.hash(&key, dev)
    }

    /// `neigh_hash_grow`: relink every entry into a new array of
    /// `2^shift` buckets hashed with `key` (twice as large to grow; the same
    /// size with a fresh key to re-key), then publish it. `resize_seq` is odd
    /// meanwhile, so a lookup that misses while (or after) following a
    /// relinked `next` retries. Caller holds the table lock.
    ///
    /// Nothing between the odd and the even store can unwind, so the count
    /// never stays odd (every later miss would spin): the loop only loads,
    /// stores and hashes (the sealed `NeighKey::to_bits` and overflow-free
    /// arithmetic); the two allocations abort on failure; and `shift` stays
    /// at most 25 (a grow from `b` buckets needs more than `b / 2` entries,
    /// and creation stops below `MAX_ENTRIES < 2^24`), so neither the slot count nor `index`
    /// can overflow. Model builds add only model failures, which end the
    /// execution anyway (SPEC.md §5).
    pub(super) fn rehash<'g>(
        &self,
        old: Shared<'g, Buckets<K, Pkt<K, O>>>,
        shift: u32,
        key: HashKey,
        guard: &'g Guard,
    ) -> Shared<'g, Buckets<K, Pkt<K, O>>> {
        // SAFETY: never null; we hold the table lock.
        let o = unsafe { old.deref() };
        let new = Buckets::new(shift, key);
        // Relaxed: only resizes (under the table lock) write it.
        let seq = self.head.resize_seq.load(Ordering::Relaxed);
        // Relaxed: ordered before the relinks by their Release stores, so a
        // reader that sees a relinked `next` then sees an odd count.
        self.head.resize_seq.store(seq + 1, Ordering::Relaxed);
        ktrace!(
            "neigh_hash_grow",
            "resize_seq {} (odd): relink every entry into {} buckets, in place",
            seq + 1,
            1u64 << shift
        );
        for slot in o.slots.iter() {
            // Relaxed: table lock held; nobody else writes chains.
            let mut p = slot.load(Ordering::Relaxed, guard);
            // SAFETY: linked entries outlive the guard (table lock held).
            while let Some(n) = unsafe { p.as_ref() } {
                let next = n.next.load(Ordering::Relaxed, guard); // Relaxed: table lock held
                let head = new.slot_of(&n.key, n.dev);
                // Release: pairs with a walk's Acquire load of `next`: a
                // reader that follows the relinked pointer also sees the odd
                // count above and the target entry's initialisation.
                n.next
                    .store(head.load(Ordering::Relaxed, guard), Ordering::Release);
                ktrace!(
                    "neigh_hash_grow",
                    "{} relinked: its next now points into its new chain",
                    n.key
                );
                // Relaxed: the new array is published by the Release below.
                head.store(p, Ordering::Relaxed);
                p = next;
            }
        }
        let new = rcu::into_shared(Owned::new(new), guard);
        // Release: pairs with the Acquire loads of the array in
        // `lookup_noref`, `all_entries` and `stats`.
        self.head.nht.store(new, Ordering::Release);
        // Release: pairs with the Acquire load that starts a lookup.
        self.head.resize_seq.store(seq + 2, Ordering::Release);
        // SAFETY: replaced above; readers of the old array hold guards. Its
        // slots own nothing (entries are retired by their destroy).
        unsafe { guard.defer_destroy(old) };
        new
    }

    /// Unlink `n` from its chain; caller holds the table lock. Returns
    /// whether it was linked. Readers standing on `n` still follow its
    /// `next` to the rest of the chain (an RCU list deletion).
    pub(super) fn unlink(&self, n: &Entry<K, O>, guard: &Guard) -> bool {
        // Relaxed: table lock held.
        let nht = self.head.nht.load(Ordering::Relaxed, guard);
        // SAFETY: never null; table lock held.
        let b = unsafe { nht.deref() };
        let mut link = b.slot_of(&n.key, n.dev);
        loop {
            // Relaxed: table lock held.
            let p = link.load(Ordering::Relaxed, guard);
            // SAFETY: linked entries outlive the guard (table lock held).
            let Some(e) = (unsafe { p.as_ref() }) else {
                return false;
            };
            if core::ptr::eq(e, n) {
                // Release: pairs with the Acquire loads of a walk, which then
                // see the successor's initialised fields.
                link.store(n.next.load(Ordering::Relaxed, guard), Ordering::Release);
                return true;
            }
            link = &e.next;
        }
    }

    /// Every linked entry. Exact under the table lock; without it (GC's
    /// scan) a concurrent resize may hide or repeat an entry.
    pub(super) fn all_entries<'g>(&self, guard: &'g Guard) -> Vec<&'g Entry<K, O>> {
        // Acquire: as in `lookup_noref` (GC's scan runs without the table
        // lock, concurrently with `rehash`).
        let nht = self.head.nht.load(Ordering::Acquire, guard);
        // SAFETY: never null; guard held.
        let b = unsafe { nht.deref() };
        let mut v = Vec::new();
        for slot in b.slots.iter() {
            // Acquire: as in `lookup_noref` (pairs with `link`, `unlink`,
            // `rehash`).
            let mut p = slot.load(Ordering::Acquire, guard);
            // SAFETY: see `lookup_noref`.
            while let Some(n) = unsafe { p.as_ref() } {
                v.push(n);
                // Acquire: as in `lookup_noref` (a relinked `next` may point
                // at an entry linked after the scan began).
                p = n.next.load(Ordering::Acquire, guard);
            }
        }
        v
    }

    /// Make room in the array for one more entry with `(key, dev)` and
    /// return it: grow when entries would exceed the array's capacity
    /// ([`max_entries`]), or re-key when the entry's chain is already
    /// `LONG_CHAIN` long (SPEC.md §5, at most once per `entries` creates).
    /// Caller holds the table lock.
    pub(super) fn make_slot<'g>(
        &self,
        tbl: &mut TableLocked,
        key: &K,
        dev: DevId,
        guard: &'g Guard,
    ) -> &'g Buckets<K, Pkt<K, O>> {
        let entries = self.entries();
        // Relaxed: we hold the table lock, the only writer of the array.
        let mut nht = self.head.nht.load(Ordering::Relaxed, guard);
        // SAFETY: the array is never null; we hold the lock that replaces it.
        let b = unsafe { nht.deref() };
        if entries + 1 > max_entries(b.slots.len()) {
            nht = self.rehash(nht, b.shift + 1, b.key, guard);
            self.stats.inc(C::HASH_GROWS);
        } else if tbl.created_since_rekey >= entries
            && chain_len(b.slot_of(key, dev), guard) >= LONG_CHAIN
        {
            let fresh = HashKey::new(|| tbl.next_rand());
            nht = self.rehash(nht, b.shift, fresh, guard);
            tbl.created_since_rekey = 0;
            self.stats.inc(C::HASH_RESEEDS);
        }
        tbl.created_since_rekey += 1;
        // SAFETY: as above (the new array, if any, was published under the
        // lock and is retired only by a later resize under it).
        unsafe { nht.deref() }
    }

    /// Publish `new` (an initialised entry from the slab, not yet
    /// reachable) at the head of its chain in `buckets` (the current
    /// array; caller holds the table lock) and return it.
    pub(super) fn link<'g>(
        &self,
        buckets: &Buckets<K, Pkt<K, O>>,
        new: Shared<'g, Entry<K, O>>,
        guard: &'g Guard,
    ) -> &'g Entry<K, O> {
        // SAFETY: allocated under `guard` and not yet retired (only a
        // destroy retires it, after an unlink under the table lock we hold).
        let n = unsafe { new.deref() };
        let slot = buckets.slot_of(&n.key, n.dev);
        // Relaxed: we are the only writer (table lock); the entry is not yet
        // visible, so its own `next` needs no ordering either.
        n.next
            .store(slot.load(Ordering::Relaxed, guard), Ordering::Relaxed);
        // Release: pairs with the Acquire loads in `lookup_noref`, publishing
        // the initialised entry.
        slot.store(new, Ordering::Release);
        n
    }
}

// The model features swap in loom/shuttle primitives, which only work
// inside a model run.
#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
#[path = "hash_tests.rs"]
mod tests;
