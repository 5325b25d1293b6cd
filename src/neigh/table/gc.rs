//! Garbage collection, policy and mechanics: the periodic pass
//! (`neigh_periodic_work`) and forced collection at the thresholds
//! (`neigh_forced_gc`, run when an entry is created).
//!
//! Rules: an entry is collected only under the table lock and its entry
//! lock, in the one entry-lock section that checks it is collectable and
//! held only by the table (`refcnt == 1`), marks it dead and unlinks it; the
//! table's reference is dropped after the table lock, and the memory returns
//! after an RCU grace period. A concurrent `lookup_noref` may still hold the
//! entry: that is the race the `dead` checks close (race matrix L1-L3). The
//! periodic pass scans under RCU without the table lock and locks per
//! candidate, so creates never wait for a whole scan.

use super::owed::Held;
use super::{Entry, NeighTable, TableLocked};
use crate::error::NeighError;
use crate::neigh::stats::C;
use crate::neigh::{NeighKey, NeighOps, NudState};
use crate::parms::HZ;
use crate::rcu::{self, Guard};
use crate::sync::Ordering;

/// What a GC pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Entries examined.
    pub scanned: usize,
    /// Entries unlinked (destroyed once their last holder lets go).
    pub removed: usize,
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// `neigh_periodic_work`: below `gc_thresh1` do nothing; otherwise
    /// remove entries that only the table holds, are not PERMANENT or in a
    /// timer state, and are FAILED or unused for `gc_staletime`. Also
    /// re-draws the randomised reachable time every 300 s. Called by
    /// [`run_timers`](Self::run_timers) every `gc_interval`; may be called
    /// directly.
    pub fn gc(&self) -> GcReport {
        let now = self.jiffies();
        let mut tbl = self.lock.lock();
        tbl.next_gc = now + self.config.gc_interval;
        if now >= tbl.next_rand {
            tbl.next_rand = now + 300 * HZ;
            let devs: Vec<_> = tbl.devices.values().cloned().collect();
            for d in devs {
                let t = tbl.rand_reach_time(d.parms.base_reachable_time);
                // Relaxed: see `Device::reachable_time`.
                d.reachable_time.store(t, Ordering::Relaxed);
            }
        }
        if self.entries() < self.config.gc_thresh1 {
            return GcReport::default();
        }
        self.stats.inc(C::PERIODIC_GC_RUNS);
        drop(tbl);
        self.collect_unlocked(|n, state| {
            if state.is(NudState::PERMANENT | NudState::IN_TIMER) {
                return false;
            }
            state == NudState::FAILED || now > n.used() + n.device.parms.gc_staletime
        })
    }

    /// Room for one more entry (`neigh_alloc`'s threshold check), under
    /// the table lock: at `gc_thresh3`, or above `gc_thresh2` when the last
    /// forced GC is more than 5 s old, run forced GC; at `gc_thresh3` with
    /// nothing collected, `TableFull` ("neighbour table overflow"). Returns
    /// the table's references to the collected entries: the caller drops
    /// them after the table lock.
    pub(super) fn make_room<'a>(
        &'a self,
        tbl: &mut TableLocked,
        guard: &'a Guard,
    ) -> Result<Vec<Held<'a, K, O>>, NeighError> {
        let now = self.jiffies();
        let entries = self.entries();
        let c = &self.config;
        if entries < c.gc_thresh3 && (entries < c.gc_thresh2 || now <= tbl.last_flush + 5 * HZ) {
            return Ok(Vec::new());
        }
        let victims = self.forced_gc(tbl, guard);
        if victims.is_empty() && entries >= c.gc_thresh3 {
            self.stats.inc(C::TABLE_FULLS);
            return Err(NeighError::TableFull {
                entries,
                gc_thresh3: c.gc_thresh3,
            });
        }
        Ok(victims)
    }

    /// Unlink `n` if `collectable` accepts it and only the table holds it;
    /// caller holds the table lock. The check and the `dead` mark are one
    /// critical section of the entry lock (as in `neigh_periodic_work`), so
    /// no `event_send` can arm the timer between them. A lookup may still
    /// find the entry and take a reference afterwards; it then sees `dead`.
    /// On `true` the caller releases the table's reference *after* dropping
    /// the table lock (the destroy may call `NeighOps::discard`, and ops
    /// callbacks never run under a cache lock).
    pub(super) fn try_collect(
        &self,
        n: &Entry<K, O>,
        guard: &Guard,
        collectable: &impl Fn(&Entry<K, O>, NudState) -> bool,
    ) -> bool {
        let mut g = n.lock.lock();
        if g.dead || n.refcnt() != 1 || !collectable(n, n.state()) {
            return false;
        }
        let linked = self.unlink(n, guard);
        debug_assert!(linked, "a live entry is linked");
        g.dead = true;
        true
    }

    /// Periodic collection: scan without the table lock (an RCU walk; a
    /// concurrent resize may hide an entry until the next pass), then take
    /// the table lock only for each entry that looks collectable, so creates
    /// are never blocked for a whole scan.
    pub(crate) fn collect_unlocked(
        &self,
        collectable: impl Fn(&Entry<K, O>, NudState) -> bool,
    ) -> GcReport {
        let guard = rcu::pin();
        let mut rep = GcReport::default();
        for n in self.all_entries(&guard) {
            rep.scanned += 1;
            // A lock-free pre-check; `try_collect` decides under the locks.
            if n.refcnt() == 1 && collectable(n, n.state()) {
                let taken = {
                    let _table = self.lock.lock();
                    self.try_collect(n, &guard, &collectable)
                };
                if taken {
                    rep.removed += 1;
                    self.release(n);
                }
            }
        }
        rep
    }

    /// Forced GC (`neigh_forced_gc`); caller holds the table lock. Returns
    /// the table's references to the unlinked entries: the caller drops them
    /// after dropping the lock (the destroy may call the ops).
    pub(super) fn forced_gc<'a>(
        &'a self,
        tbl: &mut TableLocked,
        guard: &'a Guard,
    ) -> Vec<Held<'a, K, O>> {
        tbl.last_flush = self.jiffies();
        self.stats.inc(C::FORCED_GC_RUNS);
        let f = |_: &Entry<K, O>, state: NudState| !state.is(NudState::PERMANENT);
        self.all_entries(guard)
            .into_iter()
            .filter(|n| self.try_collect(n, guard, &f))
            .map(|n| Held::adopt(self, n))
            .collect()
    }
}
