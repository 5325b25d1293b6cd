//! Setting an entry to an exact image (state, link-layer address, flags) as
//! another neighbour table reports it: the call a mirror of the kernel's
//! table (`neighcache::netlink`) applies each `RTM_NEWNEIGH` with. The
//! kernel's counterpart is `neigh_add` with `NLM_F_REPLACE`, whose
//! `__neigh_update(.., NEIGH_UPDATE_F_ADMIN)` may set any state. And
//! removing an entry as such a table reports a removal (one event).
//!
//! Rules: input is validated before anything is created (bad input leaves
//! no trace); the whole image is written in one entry-lock section after the
//! dead check, header before state (as `update`), and reported there as one
//! event, or none when nothing changed; the entry's timer is disarmed (the
//! source table owns the entry's state machine); queued packets are settled
//! after unlocking; the `gc_list` and managed list follow after unlocking,
//! as `update` leaves them. This file holds no lock across a callback.

use super::events::update_notifies;
use super::gc::exempt;
use super::owed::Owed;
use super::NeighTable;
use crate::error::NeighError;
use crate::neigh::device::check_lladdr;
use crate::neigh::{DevId, DropReason, NeighFlags, NeighKey, NeighOps, NudState};
use crate::sync::Ordering;

/// What [`NeighTable::set_exact`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The entry did not exist: it was created with the image.
    Created,
    /// The entry existed and differed: it now has the image.
    Changed,
    /// The entry already had the image: nothing changed, no event.
    Unchanged,
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// Make the entry for (`key`, `dev`) exactly `state` with `lladdr` and
    /// `flags`, creating it if needed: how a mirror applies what another
    /// table (the kernel's, over rtnetlink) reports. As the kernel's
    /// `neigh_add` with `NLM_F_REPLACE` (an ADMIN update may set any state),
    /// except that the image is taken as it is:
    ///
    /// * any single state is accepted, INCOMPLETE, DELAY, PROBE and FAILED
    ///   included; the entry's timer is disarmed and none is armed, and no
    ///   probe is sent (the source owns the state machine: this table's
    ///   timers do not age the entry; a packet sent through a STALE entry
    ///   still starts this table's own DELAY, as for any entry);
    /// * `flags` replace the entry's flags (router, externally learned,
    ///   managed) whatever the state, and the `gc_list` and managed list
    ///   follow them; a new entry is created exempt from the GC thresholds
    ///   when it will be PERMANENT or externally learned (`neigh_add`'s
    ///   rule);
    /// * `lladdr` is required for a VALID state (`Err(NoLladdr)`) and
    ///   ignored for the others (the kernel reports no address there);
    /// * packets queued on the entry are transmitted when it becomes VALID,
    ///   reported as failed when it becomes FAILED or NONE, and left queued
    ///   in INCOMPLETE (waiting for the source's answer).
    ///
    /// Subscribers see one event when something changed (`New` then
    /// `Change` for a creation, as every creation) and none otherwise.
    ///
    /// Errors leave the table unchanged: `Err(UnknownDevice)`,
    /// `Err(BadLladdrLen)`, `Err(InvalidState)` for a mask of several
    /// states, `Err(NoLladdr)`, `Err(TableFull)` when a new entry does not
    /// fit, `Err(Dead)` if the entry was removed while this ran.
    ///
    /// ```
    /// use neighcache::{Applied, DevId, DeviceConfig, NeighFlags, NeighTable, NudState, Probe, NeighOps};
    /// use std::net::Ipv4Addr;
    /// # struct Nop;
    /// # impl NeighOps<Ipv4Addr> for Nop {
    /// #     type Packet = Vec<u8>;
    /// #     fn transmit(&self, _: DevId, _: &[u8], _: Vec<u8>) {}
    /// #     fn solicit(&self, _: DevId, _: &Ipv4Addr, _: Probe) {}
    /// #     fn error_report(&self, _: DevId, _: &Ipv4Addr, _: Vec<u8>) {}
    /// # }
    /// let table = NeighTable::new(Default::default(), Nop)?;
    /// let eth0 = DevId(2);
    /// table.add_device(eth0, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))?;
    /// let gw = Ipv4Addr::new(192, 0, 2, 1);
    /// let mac = [2, 0, 0, 0, 0, 2];
    /// // The kernel reports `192.0.2.1 dev eth0 lladdr 02:00:00:00:00:02 router DELAY`.
    /// let r = table.set_exact(gw, eth0, NudState::DELAY, Some(&mac), NeighFlags::ROUTER)?;
    /// assert_eq!(r, Applied::Created);
    /// assert_eq!(table.lookup(gw, eth0).unwrap().state(), NudState::DELAY);
    /// // The same report again changes nothing.
    /// let r = table.set_exact(gw, eth0, NudState::DELAY, Some(&mac), NeighFlags::ROUTER)?;
    /// assert_eq!(r, Applied::Unchanged);
    /// # Ok::<(), neighcache::NeighError>(())
    /// ```
    pub fn set_exact(
        &self,
        key: K,
        dev: DevId,
        state: NudState,
        lladdr: Option<&[u8]>,
        flags: NeighFlags,
    ) -> Result<Applied, NeighError> {
        if !state.is_single() {
            return Err(NeighError::InvalidState(state));
        }
        let valid = state.is(NudState::VALID);
        if valid && lladdr.is_none() {
            return Err(NeighError::NoLladdr);
        }
        self.check_input(dev, lladdr.filter(|_| valid))?;
        let created = self.lookup(key, dev).is_none();
        let n = if state.is(NudState::PERMANENT) || flags.contains(NeighFlags::EXT_LEARNED) {
            self.lookup_or_create_exempt(key, dev)?
        } else {
            self.lookup_or_create(key, dev)?
        };
        let lladdr = match lladdr.filter(|_| valid) {
            Some(a) => Some(check_lladdr(&n.device, a)?),
            None => None,
        };
        let now = self.jiffies();
        let mut g = n.lock.lock();
        if g.dead {
            return Err(NeighError::Dead);
        }
        let old = n.state();
        let old_lladdr = n.lladdr();
        let old_flags = g.flags;
        let before = self.snap(&n, &g);
        self.del_timer(&n);
        if let Some(a) = lladdr.filter(|a| old_lladdr != Some(*a)) {
            // The header first, then the state (as `update`): the lock-free
            // output trusts the header of an entry it sees CONNECTED.
            n.publish_hh(&g, &n.device.build_header(&a));
        }
        if state.is(NudState::CONNECTED) && (state != old || lladdr != old_lladdr) {
            // Relaxed: timestamp heuristic (as `update`).
            n.confirmed.store(now, Ordering::Relaxed);
        }
        n.set_state(&g, state);
        g.flags = flags.to_byte();
        let changed = old != state || old_flags != g.flags || (valid && lladdr != old_lladdr);
        if changed {
            g.updated = now;
        }
        let q = if valid && !old.is(NudState::VALID) {
            Some((g.take_queue(), true))
        } else if state == NudState::FAILED || state == NudState::NONE {
            Some((g.take_queue(), false))
        } else {
            None
        };
        self.notify_change(&n, &g, before, update_notifies);
        let gc_update = exempt(old, old_flags) != exempt(state, g.flags);
        let managed_update = (old_flags ^ g.flags) & NeighFlags::MANAGED.to_byte() != 0;
        drop(g);
        match q {
            Some((q, true)) if !q.is_empty() => Owed::new(self, &n, q).flush(&n.read_hh()),
            Some((q, _)) => Owed::new(self, &n, q).report(DropReason::ResolutionFailed),
            None => {}
        }
        if gc_update {
            self.update_gc_list(&n);
        }
        if managed_update {
            self.update_managed_list(&n);
        }
        Ok(if created {
            Applied::Created
        } else if changed {
            Applied::Changed
        } else {
            Applied::Unchanged
        })
    }

    /// Remove the entry for (`key`, `dev`) as another table reports a
    /// removal (`RTM_DELNEIGH`): unlinked and reported deleted in one
    /// event, whatever its state, without the administrative FAILED step
    /// of [`remove`](Self::remove) (whose own event the source already
    /// reported, or never made: a GC'd entry goes in one step). Queued
    /// packets are reported as failed. `Err(UnknownDevice)`,
    /// `Err(NotFound)`; nothing changes on an error.
    pub fn remove_exact(&self, key: K, dev: DevId) -> Result<(), NeighError> {
        self.check_input(dev, None)?;
        let n = self.lookup(key, dev).ok_or(NeighError::NotFound)?;
        self.unlink_removed(&n)
    }
}
