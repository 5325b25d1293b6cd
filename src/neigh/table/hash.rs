//! The RCU hash (`struct neigh_hash_table`): bucket arrays, chains,
//! `lookup_noref` and its burst form, linking and unlinking. Growth and
//! re-keying (moving entries to a future array) are `resize.rs`.
//!
//! Rules: chains are written only under the table lock; readers walk them
//! under an RCU guard with no lock and never wait. While a resize is in
//! progress the current array names its *future* array, the one new entries
//! are linked into and the resize moves entries to; a lookup that misses in
//! an array looks in its future one, so a miss is reported only when the key
//! is in neither (race matrix L6, SPEC.md §5). This file knows nothing of NUD
//! states, the refcount or the timers.
//!
//! Hash structure: as in the kernel, a bucket array (an RCU object) of RCU
//! singly-linked chains threaded through the entries' `next` links: a hit
//! touches the bucket slot and the entry, nothing else.

use super::slots::Slots;
use super::{Entry, NeighTable, Pkt};
use crate::neigh::entry::Neighbour;
use crate::neigh::key::HashKey;
use crate::neigh::{DevId, NeighKey, NeighOps};
use crate::rcu::{Atomic, Guard, Shared};
use crate::sync::Ordering;
use crate::variant::Rule;

/// The bucket array (`struct neigh_hash_table`): heads of RCU chains.
pub(crate) struct Buckets<K, P> {
    pub(super) shift: u32,
    /// The secret hash key (`hash_rnd`); replaced only with the whole array.
    pub(super) key: HashKey,
    /// The array a resize is moving this one's entries to (the kernel's
    /// `rhashtable` `future_tbl`): null until a resize starts, then set
    /// once and never cleared (a reader still standing on this array after
    /// the resize ends follows it). Not owned: an array is freed by the
    /// resize that replaces it, or by the table's teardown.
    pub(super) future: Atomic<Buckets<K, P>>,
    pub(super) slots: Slots<Neighbour<K, P>>,
}

impl<K: NeighKey, P> Buckets<K, P> {
    pub(super) fn new(shift: u32, key: HashKey) -> Self {
        Buckets {
            shift,
            key,
            future: Atomic::null(),
            slots: Slots::new(1usize << shift),
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

/// What every lookup reads first: the current bucket array, on a cache
/// line that only the end of a resize writes.
pub(super) struct Head<K, P> {
    pub(super) nht: Atomic<Buckets<K, P>>,
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
        // Acquire: pairs with the Release stores that write a `next` a
        // reader can stand on: `unlink` (a predecessor's `next`), a move's
        // `next` store and `cut` (`resize.rs`): the next entry's initialised
        // fields are visible, and a `next` a move pointed into a future
        // chain brings that array's publication with it.
        p = n.next.load(Ordering::Acquire, guard);
    }
    None
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// `__neigh_lookup_noref`: find the entry without taking a reference.
    ///
    /// The result is valid only while `guard` lives and may be an entry that
    /// a concurrent GC has just unlinked (`dead`): every operation on it
    /// re-checks under the entry lock. Takes no lock, writes nothing, never
    /// waits: during a resize a miss in the current array is followed by a
    /// walk of the future one (race matrix L6).
    #[inline]
    // The `else` branch traces in model builds; elsewhere it is a `?`.
    #[allow(clippy::question_mark)]
    pub fn lookup_noref<'g>(
        &self,
        key: K,
        dev: DevId,
        guard: &'g Guard,
    ) -> Option<&'g Entry<K, O>> {
        let Some(n) = self.find_from(self.buckets(guard), key, dev, guard) else {
            ktrace!("__neigh_lookup_noref", "{key} not found");
            return None;
        };
        ktrace!(
            "__neigh_lookup_noref",
            "found {key} {} refcnt={} (no reference taken)",
            n.state(),
            n.refcnt()
        );
        Some(n)
    }

    /// Walk `(key, dev)`'s chain in `b`, then in each future array of a
    /// resize in progress (`rhashtable_lookup`'s `future_tbl` loop).
    #[inline]
    fn find_from<'g>(
        &self,
        mut b: &'g Buckets<K, Pkt<K, O>>,
        key: K,
        dev: DevId,
        guard: &'g Guard,
    ) -> Option<&'g Entry<K, O>> {
        loop {
            // Acquire: pairs with the Release stores that link an entry
            // (`link`, `unlink`, a move): its initialised fields are visible.
            let p = b.slot_of(&key, dev).load(Ordering::Acquire, guard);
            if let Some(n) = walk(p, key, dev, guard) {
                return Some(n);
            }
            b = self.future_of(b, guard)?;
        }
    }

    /// The array a resize in progress is moving `b`'s entries to.
    #[inline]
    pub(super) fn future_of<'g>(
        &self,
        b: &Buckets<K, Pkt<K, O>>,
        guard: &'g Guard,
    ) -> Option<&'g Buckets<K, Pkt<K, O>>> {
        // L6 broken (model builds only): never look in the future array.
        if !self.keeps(Rule::LookupFollowsFuture) {
            return None;
        }
        // Acquire: pairs with the Release store that starts a resize
        // (`resize.rs`, `start_resize`): the future array's slots and key are
        // initialised. A walk that saw a move's effect (Acquire) is ordered
        // after that store, so it sees this pointer set.
        let f = b.future.load(Ordering::Acquire, guard);
        // SAFETY: a future array is freed only after the array that names
        // it was retired and a grace period passed; `b` is protected by
        // `guard`, so is its future.
        unsafe { f.as_ref() }
    }

    /// The current bucket array, under `guard`.
    #[inline]
    pub(super) fn buckets<'g>(&self, guard: &'g Guard) -> &'g Buckets<K, Pkt<K, O>> {
        // Acquire: pairs with the Release store of a new array at the end of
        // a resize (`resize.rs`, `finish_resize`): its slots are initialised.
        let nht = self.head.nht.load(Ordering::Acquire, guard);
        // SAFETY: the bucket array is never null and is retired only after
        // being replaced; the guard protects the one we loaded.
        unsafe { nht.deref() }
    }

    /// The array new entries go to: the future array of a resize in
    /// progress, else the current one.
    pub(super) fn newest<'g>(&self, guard: &'g Guard) -> &'g Buckets<K, Pkt<K, O>> {
        let mut b = self.buckets(guard);
        while let Some(f) = self.future_of(b, guard) {
            b = f;
        }
        b
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
    /// a present key is never missed, because during a resize the misses
    /// are looked up in the future array one by one). Takes no lock, writes
    /// nothing, allocates nothing, never waits.
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
            // (`link`, `unlink`, a move): its initialised fields are visible.
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
        if !missed {
            return;
        }
        // A resize in progress: look for the misses in the future array(s),
        // one by one (loaded after the walks, as in `find_from`).
        if let Some(f) = self.future_of(nht, guard) {
            for (o, &(key, dev)) in out.iter_mut().zip(keys) {
                if o.is_none() {
                    *o = self.find_from(f, key, dev, guard);
                }
            }
        }
    }

    /// Model builds only: the table hash of `(key, dev)` in the array new
    /// entries go to (its top bits pick the bucket), for scenarios that need
    /// keys sharing a bucket. A default build has no way to learn a key's
    /// hash (SPEC.md §5, "Hash seeding").
    #[cfg(any(test, feature = "loom", feature = "shuttle"))]
    #[doc(hidden)]
    pub fn key_hash(&self, key: K, dev: DevId) -> u32 {
        // The array (and its hash key) as the lookups load it: `buckets`'
        // Acquire orders its initialisation before the read.
        let guard = crate::rcu::pin();
        self.newest(&guard).key.hash(&key, dev)
    }

    /// Unlink `n` from its chain, in whichever array of a resize in
    /// progress holds it; caller holds the table lock. Returns whether it was
    /// linked. Readers standing on `n` still follow its `next` to the rest
    /// of the chain (an RCU list deletion).
    pub(super) fn unlink(&self, n: &Entry<K, O>, guard: &Guard) -> bool {
        // Relaxed: table lock held (the only writer of the arrays).
        let nht = self.head.nht.load(Ordering::Relaxed, guard);
        // SAFETY: never null; table lock held.
        let mut b = unsafe { nht.deref() };
        loop {
            if unlink_from(b.slot_of(&n.key, n.dev), n, guard) {
                return true;
            }
            // Relaxed: table lock held (a future array is set under it).
            let f = b.future.load(Ordering::Relaxed, guard);
            // SAFETY: as above: set under the lock, freed only by a later
            // resize's end under it.
            match unsafe { f.as_ref() } {
                Some(f) => b = f,
                None => return false,
            }
        }
    }

    /// Every linked entry, in whichever array of a resize in progress
    /// holds it (each is in exactly one). Caller holds the table lock (the
    /// dump, `len`, the flushes); the GC's lock-free walk is `scan.rs`.
    pub(super) fn all_entries<'g>(&self, guard: &'g Guard) -> Vec<&'g Entry<K, O>> {
        let mut v = Vec::new();
        // Relaxed: table lock held (the only writer of the arrays and chains).
        let mut b = self.head.nht.load(Ordering::Relaxed, guard);
        // SAFETY: an array loaded under the lock is retired only by a
        // resize's end under it; entries are unlinked only under it.
        while let Some(a) = unsafe { b.as_ref() } {
            for slot in a.slots.iter() {
                // Relaxed: table lock held.
                let mut p = slot.load(Ordering::Relaxed, guard);
                // SAFETY: as above.
                while let Some(n) = unsafe { p.as_ref() } {
                    v.push(n);
                    p = n.next.load(Ordering::Relaxed, guard); // Relaxed: as above
                }
            }
            // Relaxed: table lock held.
            b = a.future.load(Ordering::Relaxed, guard);
        }
        v
    }

    /// Publish `new` (an initialised entry from the slab, not yet
    /// reachable) at the head of its chain in `buckets` (the newest array;
    /// caller holds the table lock) and return it.
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

/// Remove `n` from the chain starting at `slot` if it is there (table lock
/// held).
fn unlink_from<'g, K, P>(
    mut link: &'g Atomic<Neighbour<K, P>>,
    n: &Neighbour<K, P>,
    guard: &'g Guard,
) -> bool {
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

// The model features swap in loom/shuttle primitives, which only work
// inside a model run.
#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
#[path = "hash_tests.rs"]
mod tests;
