//! Managed entries (`NTF_MANAGED`, Linux 5.16, 7482e3841d52): entries the
//! table keeps resolved by probing them periodically, with or without
//! traffic (`neigh_managed_work`, `neigh_update_managed_list`).
//!
//! Rules: the managed list is the `managed` set under the table lock and
//! names linked entries flagged MANAGED (unlinking removes them,
//! `gc::unlink_entry`). The pass runs from `run_timers` at most once per
//! call and is then due `interval_probe_time` later, however far the clock
//! jumped, so no setting can make it spin (the kernel once re-queued its
//! worker with a zero delay and pinned a CPU, ed6cd6a17896); under the table
//! lock it only takes entry locks and never calls user code (`event_send`
//! without a packet and without an immediate probe).

use super::NeighTable;
use crate::error::NeighError;
use crate::neigh::{DevId, NeighKey, NeighOps, NudState, UpdateFlags};
use crate::rcu;

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// Add `key` as a managed entry (`ip neigh add KEY dev DEV managed`):
    /// flagged [`NeighFlags::MANAGED`](crate::NeighFlags::MANAGED) and
    /// resolved at once; from then on every `interval_probe_time` (the
    /// table's default parameters) it is revalidated as if a packet were
    /// sent to it (`neigh_event_send_probe`): NONE/FAILED start resolving
    /// (first probe one tick later), STALE goes to DELAY (and PROBE), and it
    /// counts as used, so a REACHABLE entry is re-probed before it expires.
    /// An ADMIN update without [`UpdateFlags::MANAGED`] clears the flag.
    /// Managed entries stay subject to GC (as in Linux); add them
    /// externally learned too to exempt them.
    pub fn add_managed(&self, key: K, dev: DevId) -> Result<(), NeighError> {
        self.check_input(dev, None)?;
        let n = self.lookup_or_create(key, dev)?;
        self.update(
            &n,
            None,
            NudState::NONE,
            UpdateFlags::ADMIN | UpdateFlags::MANAGED,
        )?;
        let _ = self.event_send(&n, None);
        Ok(())
    }

    /// `neigh_update_managed_list`: put `n` on the managed list or take it
    /// off to match its MANAGED flag now. Table lock, then entry lock;
    /// nothing for a dead entry.
    pub(super) fn update_managed_list(&self, n: &super::Entry<K, O>) {
        let mut tbl = self.lock.lock();
        let g = n.lock.lock();
        if g.dead {
            return;
        }
        let k = (n.key, n.dev);
        if crate::neigh::NeighFlags::from_byte(g.flags).contains(crate::neigh::NeighFlags::MANAGED)
        {
            tbl.managed.insert(k);
        } else {
            tbl.managed.remove(&k);
        }
    }

    /// `neigh_managed_work`: revalidate every managed entry
    /// (`neigh_event_send_probe(n, NULL, false)`) and schedule the next pass
    /// `interval_probe_time` from now.
    pub(super) fn managed_pass(&self) {
        let guard = rcu::pin();
        let mut tbl = self.lock.lock();
        let now = self.jiffies();
        tbl.next_managed = now.saturating_add(tbl.cfg.parms.interval_probe_time);
        let mut stale = Vec::new();
        for &(key, dev) in tbl.managed.iter() {
            // The list names linked entries (every unlink takes its key
            // off); a key found missing anyway is dropped, not trusted.
            let Some(n) = self.lookup_noref(key, dev, &guard) else {
                stale.push((key, dev));
                continue;
            };
            // No packet and no immediate probe: no callback under the lock.
            let _ = self.event_send_probe(n, None, false);
        }
        for k in stale {
            tbl.managed.remove(&k);
        }
    }

    /// Entries on the managed list (diagnostics).
    pub fn managed_len(&self) -> usize {
        self.lock.lock().managed.len()
    }
}
