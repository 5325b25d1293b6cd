//! Refcounted lookup and creation (`neigh_lookup`, `__neigh_lookup`,
//! `__neigh_create`), counted references (`NeighHandle`, `neigh_hold`,
//! `neigh_release`) and destruction (`neigh_destroy`).
//!
//! Rules: a reference is taken only by someone who owns one, or holds the
//! table lock of a linked entry, or through increment-if-not-zero; the last
//! `release` destroys, and the destroy retires the memory through RCU.
//! Creation re-checks under the table lock (race matrix L5).

use super::owed::Owed;
use super::resize::MOVE_PER_CREATE;
use super::{Entry, NeighTable};
use crate::error::NeighError;
use crate::neigh::entry::Neighbour;
use crate::neigh::stats::C;
use crate::neigh::{DevId, DropReason, NeighKey, NeighOps};
use crate::rcu::{self, Guard};
use crate::sync::Ordering;
use crate::variant::Rule;
use core::ptr::NonNull;

/// A counted reference to an entry (`neigh_lookup`'s result); releases the
/// reference when dropped (`neigh_release`).
pub struct NeighHandle<'t, K: NeighKey, O: NeighOps<K>> {
    table: &'t NeighTable<K, O>,
    n: NonNull<Entry<K, O>>,
}

impl<K: NeighKey, O: NeighOps<K>> core::ops::Deref for NeighHandle<'_, K, O> {
    type Target = Entry<K, O>;
    fn deref(&self) -> &Self::Target {
        // Model builds check that this use happens before the entry's
        // reclamation (the refcount's Release/Acquire in `put` orders it);
        // nothing in a production build.
        rcu::assert_live(self.n.as_ptr());
        // SAFETY: the handle owns a reference, so the entry is not destroyed
        // (and so not retired) while the handle lives.
        unsafe { self.n.as_ref() }
    }
}

impl<K: NeighKey, O: NeighOps<K>> Clone for NeighHandle<'_, K, O> {
    fn clone(&self) -> Self {
        self.hold();
        NeighHandle {
            table: self.table,
            n: self.n,
        }
    }
}

impl<K: NeighKey, O: NeighOps<K>> Drop for NeighHandle<'_, K, O> {
    fn drop(&mut self) {
        // SAFETY: we own one reference to a live entry.
        let n = unsafe { self.n.as_ref() };
        self.table.release(n);
    }
}

// SAFETY: a handle is a refcount on an entry that is itself shareable.
unsafe impl<K: NeighKey, O: NeighOps<K>> Send for NeighHandle<'_, K, O> {}
// SAFETY: as above.
unsafe impl<K: NeighKey, O: NeighOps<K>> Sync for NeighHandle<'_, K, O> {}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// `neigh_lookup`: find the entry and take a reference
    /// (increment-if-not-zero, so a dying entry is never returned).
    pub fn lookup(&self, key: K, dev: DevId) -> Option<NeighHandle<'_, K, O>> {
        self.stats.inc(C::LOOKUPS);
        let guard = rcu::pin();
        let n = self.lookup_noref(key, dev, &guard)?;
        // L8 broken: a plain increment, even from zero.
        let held = if self.keeps(Rule::IncNotZero) {
            n.try_hold()
        } else {
            n.hold();
            true
        };
        if !held {
            ktrace!("neigh_lookup", "{key} refcnt 0: dying, not returned");
            return None;
        }
        ktrace!(
            "neigh_lookup",
            "{key} reference taken: refcnt now {}",
            n.refcnt()
        );
        self.stats.inc(C::HITS);
        Some(self.handle(n))
    }

    pub(super) fn handle<'t>(&'t self, n: &Entry<K, O>) -> NeighHandle<'t, K, O> {
        NeighHandle {
            table: self,
            n: NonNull::from(n),
        }
    }

    /// `__neigh_lookup`: find or create, returning a counted reference.
    pub fn lookup_or_create(
        &self,
        key: K,
        dev: DevId,
    ) -> Result<NeighHandle<'_, K, O>, NeighError> {
        if let Some(h) = self.lookup(key, dev) {
            return Ok(h);
        }
        let guard = rcu::pin();
        let n = self.create(key, dev, true, &guard)?;
        Ok(self.handle(n))
    }

    /// `__neigh_create(.., want_ref = false)` after a missed noref lookup:
    /// find or create under `guard`, without taking a reference (the output
    /// path's pattern).
    pub fn lookup_or_create_noref<'g>(
        &self,
        key: K,
        dev: DevId,
        guard: &'g Guard,
    ) -> Result<&'g Entry<K, O>, NeighError> {
        match self.lookup_noref(key, dev, guard) {
            Some(n) => Ok(n),
            None => self.create(key, dev, false, guard),
        }
    }

    /// `___neigh_create`: create the entry unless it exists (checked again
    /// under the table lock, so two racing creators get the same entry).
    pub(crate) fn create<'g>(
        &self,
        key: K,
        dev: DevId,
        want_ref: bool,
        guard: &'g Guard,
    ) -> Result<&'g Entry<K, O>, NeighError> {
        self.create_with(key, dev, want_ref, false, guard)
    }

    /// [`create`](Self::create), for an entry about to become PERMANENT or
    /// externally learned when `exempt` (`___neigh_create`'s
    /// `exempt_from_gc`: it skips the GC thresholds and the `gc_list`).
    pub(crate) fn create_with<'g>(
        &self,
        key: K,
        dev: DevId,
        want_ref: bool,
        exempt: bool,
        guard: &'g Guard,
    ) -> Result<&'g Entry<K, O>, NeighError> {
        let mut tbl = self.lock.lock();
        let device = self.device(&tbl, dev)?;
        // Already there (a racing creator won, or the caller did not look)?
        // (L5 broken: no re-check.)
        let again = if self.keeps(Rule::CreateRechecks) {
            self.lookup_noref(key, dev, guard)
        } else {
            None
        };
        if let Some(n) = again {
            if want_ref {
                n.hold(); // the table's link is a reference, and we hold the table lock
            }
            return Ok(n);
        }
        // Dropped after the table lock, however this function is left.
        let victims = match self.make_room(&mut tbl, exempt, guard) {
            Ok(v) => v,
            Err(e) => {
                drop(tbl);
                return Err(e);
            }
        };
        let buckets = self.make_slot(&mut tbl, &key, dev, guard);
        let base = buckets.key.hash(&key, dev) as usize % self.wheel.bases();
        let new = self.slab.alloc(
            Neighbour::new(
                key,
                self.id,
                device,
                self.jiffies(),
                1 + u32::from(want_ref),
                base,
            ),
            guard,
        );
        // Listed and reported before anyone can reach it (SPEC.md §3).
        // SAFETY: just allocated and initialised; nobody else has it yet.
        self.note_created(&mut tbl, unsafe { new.deref() }, exempt);
        let n = self.link(buckets, new, guard);
        // A resize in progress moves a few buckets per create (SPEC.md §5).
        self.move_buckets(&mut tbl, MOVE_PER_CREATE, guard);
        ktrace!(
            "__neigh_create",
            "{key} created and linked, refcnt {}",
            1 + want_ref as usize
        );
        // Relaxed: a count; updated under the table lock or by a destroy.
        self.entries.fetch_add(1, Ordering::Relaxed);
        self.stats.inc(C::ALLOCS);
        drop(tbl);
        drop(victims);
        Ok(n)
    }

    /// `neigh_release`: drop a reference, destroying the entry on the last.
    pub(crate) fn release(&self, n: &Entry<K, O>) {
        if n.put() {
            ktrace!(
                "neigh_release",
                "{} refcnt 1→0 → neigh_destroy → call_rcu (freed after the grace period)",
                n.key
            );
            self.destroy(n);
        }
    }

    /// `neigh_destroy`: the last reference is gone. Purge the queue (counted)
    /// and retire the memory; it is reclaimed after a grace period, when the
    /// entry's `Drop` tells the wheel (which catches a still-armed timer).
    pub(super) fn destroy(&self, n: &Entry<K, O>) {
        let q = {
            let mut g = n.lock.lock();
            // The kernel warns "Destroying alive neighbour" and leaks it.
            assert!(
                g.dead,
                "neigh_destroy: destroying alive neighbour (refcount reached zero while linked)"
            );
            // A second zero crossing means a reference was taken from zero
            // (the pre-2015 bug); with a real RCU this would be a double free.
            assert!(
                !g.destroyed,
                "neigh_destroy: double destroy (refcount reached zero twice)"
            );
            g.destroyed = true;
            g.take_queue()
        };
        // The books first, then the callbacks: if a `discard` below panics,
        // the entry is already counted and retired (SPEC.md §3).
        self.stats.inc(C::DESTROYS);
        // Relaxed: a count (see `create`).
        self.entries.fetch_sub(1, Ordering::Relaxed);
        let guard = rcu::pin();
        // SAFETY: the entry is unlinked (dead) and unreferenced: only readers
        // already inside a read-side section can still see it, and the grace
        // period waits for them (including `guard`, so `n` stays readable
        // below). It came from this table's slab (`create`; entries of other
        // tables are refused before any destroy, by their table id) and is
        // retired exactly once (refcount 1 -> 0 happens once; `destroyed`
        // above asserts it, and the model RCU panics on a second retire).
        unsafe { self.slab.retire(n as *const Entry<K, O>, &guard) };
        Owed::new(self, n, q).report(DropReason::Destroyed);
        drop(guard);
    }
}
