//! Garbage collection: the periodic pass (`neigh_periodic_work`) and forced
//! collection at the thresholds (`neigh_forced_gc`, run from `create`).
//!
//! Removal protocol (both passes): under the table lock, lock the entry,
//! check it is collectable and held only by the table (`refcnt == 1`), mark
//! it dead, unlink it, then drop the table's reference; the memory returns
//! after an RCU grace period. A concurrent `lookup_noref` may still hold the
//! entry: that is the race the `dead` checks close. This module decides
//! *what* to collect; the mechanics are in `neigh::table`.

use super::stats::C;
use super::table::GcReport;
use super::{NeighKey, NeighOps, NeighTable, NudState};
use crate::parms::HZ;
use crate::rcu;
use crate::sync::Ordering;

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// `neigh_periodic_work`: below `gc_thresh1` do nothing; otherwise
    /// remove entries that only the table holds, are not PERMANENT or in a
    /// timer state, and are FAILED or unused for `gc_staletime`. Also
    /// re-draws the randomised reachable time every 300 s. Called by
    /// [`run_timers`](Self::run_timers) every `gc_interval`; may be called
    /// directly.
    pub fn gc(&self) -> GcReport {
        let now = self.jiffies();
        let guard = rcu::pin();
        let mut inner = self.lock_inner();
        inner.next_gc = now + self.config.gc_interval;
        if now >= inner.next_rand {
            inner.next_rand = now + 300 * HZ;
            let devs: Vec<_> = inner.devices.values().cloned().collect();
            for d in devs {
                let t = inner.rand_reach_time(d.parms.base_reachable_time);
                // Relaxed: see `Device::reachable_time`.
                d.reachable_time.store(t, Ordering::Relaxed);
            }
        }
        if self.entries() < self.config.gc_thresh1 {
            return GcReport::default();
        }
        self.stats.inc(C::PERIODIC_GC_RUNS);
        self.collect(&guard, |n, state| {
            if state.is(NudState::PERMANENT | NudState::IN_TIMER) {
                return false;
            }
            state == NudState::FAILED || now > n.used() + n.device.parms.gc_staletime
        })
    }
}
