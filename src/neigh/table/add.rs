//! What calls `neigh_update` starting from a key: a received ARP packet
//! (`arp_process`'s neighbour step), a request or solicitation for one of
//! our addresses (`neigh_event_ns`), and administrative additions
//! (`neigh_add`: `ip neigh replace ... permanent`, `... extern_learn`).
//!
//! Rules: input is validated before anything is created (bad input leaves
//! no trace); entries that will be PERMANENT or externally learned are
//! created exempt from the GC thresholds, as `neigh_add` creates them;
//! every change goes through `update` (this file holds no lock itself).

use super::lookup::NeighHandle;
use super::{time_after, NeighTable};
use crate::error::NeighError;
use crate::neigh::{DevId, NeighKey, NeighOps, NudState, UpdateFlags};
use crate::rcu;

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// The neighbour step of `arp_process` for an ARP packet that is
    /// neither a request for one of our addresses (that is
    /// [`event_ns`](Self::event_ns)) nor gratuitous (that is an
    /// [`update`](Self::update) with OVERRIDE), with `arp_accept` off: if an
    /// entry for `key` exists, it is updated REACHABLE for a unicast reply to
    /// us (`is_reply`) and STALE otherwise (a broadcast reply, a request for
    /// someone else), overriding a different address only if the entry was
    /// last updated more than `locktime` ago (strictly: `time_after(now,
    /// updated + locktime)`, so that of several back-to-back replies the
    /// first wins). No entry is created. The full `arp_process` (packet
    /// type, our addresses, gratuitous ARP, `arp_accept`, replies) is
    /// `neighcache::proto::arp::receive`.
    pub fn receive_arp(
        &self,
        key: K,
        dev: DevId,
        lladdr: &[u8],
        is_reply: bool,
    ) -> Result<(), NeighError> {
        // Validate before anything happens: bad input leaves no trace.
        self.check_input(dev, Some(lladdr))?;
        let Some(n) = self.lookup(key, dev) else {
            return Ok(());
        };
        let now = self.jiffies();
        let locktime = n.device.parms().locktime;
        let updated = n.lock.lock().updated;
        let flags = if time_after(now, updated.wrapping_add(locktime)) {
            UpdateFlags::OVERRIDE
        } else {
            UpdateFlags::NONE
        };
        let state = if is_reply {
            NudState::REACHABLE
        } else {
            NudState::STALE
        };
        self.update(&n, Some(lladdr), state, flags)
    }

    /// `neigh_event_ns`: `key` asked for one of our addresses (an ARP
    /// request, a neighbour solicitation) from `lladdr`. The entry is
    /// created if needed and updated STALE with OVERRIDE, so a new address
    /// replaces the cached one at once; a DELAY or PROBE entry keeps its
    /// state (6.x). Returns the entry, through which the answer can be sent.
    pub fn event_ns(
        &self,
        key: K,
        dev: DevId,
        lladdr: &[u8],
    ) -> Result<NeighHandle<'_, K, O>, NeighError> {
        self.check_input(dev, Some(lladdr))?;
        let n = self.lookup_or_create(key, dev)?;
        self.update(&n, Some(lladdr), NudState::STALE, UpdateFlags::OVERRIDE)?;
        Ok(n)
    }

    /// Add or replace a static entry, as `ip neigh replace KEY lladdr
    /// LLADDR dev DEV nud permanent` does (`neigh_add`: ADMIN, OVERRIDE,
    /// OVERRIDE_ISROUTER, so the router flag is cleared). PERMANENT entries
    /// are never collected and do not count against the GC thresholds.
    pub fn add_permanent(&self, key: K, dev: DevId, lladdr: &[u8]) -> Result<(), NeighError> {
        self.check_input(dev, Some(lladdr))?;
        let n = self.lookup_or_create_exempt(key, dev)?;
        let r = self.update(
            &n,
            Some(lladdr),
            NudState::PERMANENT,
            UpdateFlags::OVERRIDE | UpdateFlags::OVERRIDE_ISROUTER | UpdateFlags::ADMIN,
        );
        if r.is_err() {
            // Created exempt but not made PERMANENT: put it on the gc_list.
            self.update_gc_list(&n);
        }
        r
    }

    /// Add or replace an externally learned entry: `key` is at `lladdr`,
    /// as another source (a control plane, EVPN, a switch ASIC) says. As
    /// `ip neigh replace KEY lladdr LLADDR dev DEV nud noarp extern_learn
    /// [router]`: the entry is NOARP and flagged
    /// [`NeighFlags::EXT_LEARNED`](crate::NeighFlags::EXT_LEARNED) (and
    /// ROUTER if `router`), so it is never aged (no timer), never probed,
    /// never collected by periodic or forced GC nor counted against its
    /// thresholds, and replaced only by another external or administrative
    /// update (ARP and NDP updates get `Err(NotPermitted)`, the kernel's
    /// `-EPERM` for NOARP entries). A carrier loss still flushes it, as
    /// Linux's `neigh_carrier_down` does.
    pub fn add_external(
        &self,
        key: K,
        dev: DevId,
        lladdr: &[u8],
        router: bool,
    ) -> Result<(), NeighError> {
        self.check_input(dev, Some(lladdr))?;
        let n = self.lookup_or_create_exempt(key, dev)?;
        let mut flags = UpdateFlags::OVERRIDE
            | UpdateFlags::OVERRIDE_ISROUTER
            | UpdateFlags::ADMIN
            | UpdateFlags::EXT_LEARNED;
        if router {
            flags = flags | UpdateFlags::ISROUTER;
        }
        let r = self.update(&n, Some(lladdr), NudState::NOARP, flags);
        if r.is_err() {
            self.update_gc_list(&n);
        }
        r
    }

    /// `__neigh_lookup` for an administrative addition: an existing entry,
    /// or a new one created exempt from the GC thresholds and the
    /// `gc_list` (`neigh_add`'s `exempt_from_gc`).
    pub(super) fn lookup_or_create_exempt(
        &self,
        key: K,
        dev: DevId,
    ) -> Result<NeighHandle<'_, K, O>, NeighError> {
        if let Some(h) = self.lookup(key, dev) {
            return Ok(h);
        }
        let guard = rcu::pin();
        let n = self.create_with(key, dev, true, true, &guard)?;
        Ok(self.handle(n))
    }
}
