//! Removal by the administrator or the device: `neigh_flush_dev` (device
//! down), `neigh_carrier_down` (carrier lost: non-permanent entries),
//! `neigh_ifdown` + unregister (`remove_device`), `neigh_delete`
//! (`remove`).
//!
//! Rules: an entry is unlinked (through `unlink_entry`, which keeps the
//! `gc_list` and managed list in step), disarmed, reset, marked dead and
//! reported deleted in one section under the table lock and its entry
//! lock; its queued packets and the table's reference are settled after
//! both locks are dropped.

use super::owed::{Held, Owed};
use super::{Entry, Locked, NeighTable, Pkt, Queue};
use crate::error::NeighError;
use crate::neigh::{DevId, DropReason, NeighKey, NeighOps, NudState, UpdateFlags};
use crate::rcu::{self, Guard};
use crate::variant::Rule;

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// Flush every entry of `dev` and forget the device (`neigh_ifdown` +
    /// unregister). Returns the number of entries flushed.
    pub fn remove_device(&self, dev: DevId) -> Result<usize, NeighError> {
        // Unregister and flush in one table-lock section, so no create can
        // link a new entry for the device in between.
        self.flush(Some(dev), true, false)
            .ok_or(NeighError::UnknownDevice(dev))
    }

    /// `neigh_flush_dev` for one entry: unlink it, then under its lock
    /// disarm the timer, purge the queue, reset the state, mark it dead and
    /// report it deleted. Caller holds the table lock, and then drops the
    /// table's reference.
    pub(super) fn kill(
        &self,
        tbl: &mut Locked<K>,
        n: &Entry<K, O>,
        guard: &Guard,
    ) -> Queue<Pkt<K, O>> {
        let mut g = n.lock.lock();
        self.unlink_entry(tbl, n, &mut g, guard);
        let before = self.snap(n, &g);
        self.del_timer(n);
        let q = g.take_queue();
        // The kernel keeps VALID entries NOARP with a blackhole output; we
        // have no output pointer, so NONE sends holders to event_send, which
        // drops on `dead`.
        // L4's rule (a model build can remove it: the state is then left as
        // it was, and a handler already running re-arms the dead entry).
        if self.keeps(Rule::FlushResetsState) {
            n.set_state(&g, NudState::NONE);
        }
        g.dead = true;
        ktrace!(
            "neigh_flush_dev",
            "{} del_timer, state → {}, dead=1, unlink",
            n.key,
            n.state()
        );
        self.notify_delete(n, &g, before);
        q
    }

    /// `neigh_flush_dev` (device down): remove every entry of `dev` (all
    /// entries for `None`). Queued packets are dropped as `DeviceDown`;
    /// holders keep their references and see a dead entry.
    pub fn flush_dev(&self, dev: Option<DevId>) -> usize {
        self.flush(dev, false, false).unwrap_or(0)
    }

    /// `neigh_carrier_down` (Linux 5.x+, 859bd2ef1fc1): the device lost its
    /// carrier; remove its entries except PERMANENT ones, as
    /// `arp_netdev_event`/`ndisc_netdev_event` do on `NETDEV_CHANGE` with
    /// `arp_evict_nocarrier`/`ndisc_evict_nocarrier` on (the default). The
    /// device stays registered; daemons call this from their link watcher.
    /// Returns the number of entries flushed; `Err(UnknownDevice)` for a
    /// device that is not registered.
    pub fn carrier_down(&self, dev: DevId) -> Result<usize, NeighError> {
        self.check_input(dev, None)?;
        Ok(self.flush(Some(dev), false, true).unwrap_or(0))
    }

    /// `neigh_flush_dev`, optionally also unregistering the device (`None`
    /// if asked to unregister a device that is not registered) and
    /// optionally keeping PERMANENT entries (`skip_perm`).
    pub(super) fn flush(
        &self,
        dev: Option<DevId>,
        unregister: bool,
        skip_perm: bool,
    ) -> Option<usize> {
        let guard = rcu::pin();
        let mut tbl = self.lock.lock();
        if unregister {
            tbl.devices.remove(&dev?)?;
        }
        // Each entry's queue, then the table's reference to it: settled in
        // that order after the lock, even if a `discard` panics (`owed`).
        let mut killed = Vec::new();
        for n in self.all_entries(&guard) {
            // PERMANENT is stable under the table lock: only `update`
            // changes it, and a PERMANENT entry changes only by ADMIN update.
            if skip_perm && n.state().is(NudState::PERMANENT) {
                continue;
            }
            if dev.is_none_or(|d| d == n.dev) {
                let q = self.kill(&mut tbl, n, &guard);
                killed.push((Owed::new(self, n, q), Held::adopt(self, n)));
            }
        }
        drop(tbl);
        let count = killed.len();
        for (q, table_ref) in killed {
            q.report(DropReason::DeviceDown);
            drop(table_ref);
        }
        Some(count)
    }

    /// Remove one entry (`ip neigh del`, `neigh_delete`): an administrative
    /// update to FAILED (its queued packets are reported through
    /// `error_report`), then it is unlinked and reported deleted.
    pub fn remove(&self, key: K, dev: DevId) -> Result<(), NeighError> {
        self.check_input(dev, None)?;
        let n = self.lookup(key, dev).ok_or(NeighError::NotFound)?;
        let _ = self.update(
            &n,
            None,
            NudState::FAILED,
            UpdateFlags::OVERRIDE | UpdateFlags::ADMIN,
        );
        self.unlink_removed(&n)
    }

    /// The end of `remove`: unlink `n`, disarm it, mark it dead and report
    /// it deleted in one section under the table and entry locks; then
    /// report its queued packets as failed and drop the table's reference.
    /// `Err(NotFound)` if it was unlinked meanwhile.
    pub(super) fn unlink_removed(&self, n: &Entry<K, O>) -> Result<(), NeighError> {
        let guard = rcu::pin();
        let mut tbl = self.lock.lock();
        let q = {
            let mut g = n.lock.lock();
            if !self.unlink_entry(&mut tbl, n, &mut g, &guard) {
                return Err(NeighError::NotFound);
            }
            let before = self.snap(n, &g);
            self.del_timer(n);
            // A handler that was already running (so `del_timer` found nothing
            // pending) must not see a timer state and re-arm the dead entry.
            n.set_state(&g, NudState::FAILED);
            g.dead = true;
            self.notify_delete(n, &g, before);
            g.take_queue()
        };
        drop(tbl);
        let table_ref = Held::adopt(self, n);
        Owed::new(self, n, q).report(DropReason::ResolutionFailed);
        drop(table_ref);
        Ok(())
    }
}
