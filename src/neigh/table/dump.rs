//! Reporting: the counters (`/proc/net/stat/arp_cache`), the table's size,
//! an `ip neigh show`-style dump and the per-entry accessors of fields kept
//! under the entry lock.
//!
//! Rules: read-only. The dump walks under the table lock (exact: no resize
//! overlaps it) and reads each entry under its lock.

use super::NeighTable;
use crate::neigh::entry::Neighbour;
use crate::neigh::lladdr::LlAddr;
use crate::neigh::{DevId, NeighFlags, NeighKey, NeighOps, NeighStats, NudState};
use crate::rcu;
use crate::timer::Tick;
use core::fmt;

impl<K, P> Neighbour<K, P> {
    /// `neigh->updated`: the last tick the entry's state or address
    /// changed (a refused or no-op update does not move it). Takes the
    /// entry lock.
    pub fn updated(&self) -> Tick {
        self.lock.lock().updated
    }

    /// `neigh->probes`: probes counted in the current resolution
    /// (INCOMPLETE starts at `ucast_probes`, PROBE at 0). Takes the entry
    /// lock.
    pub fn probes(&self) -> u32 {
        u32::from(self.lock.lock().probes)
    }

    /// `neigh->flags`: router, externally learned, managed. Takes the entry
    /// lock.
    pub fn flags(&self) -> NeighFlags {
        NeighFlags::from_byte(self.lock.lock().flags)
    }
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// A snapshot of the counters.
    pub fn stats(&self) -> NeighStats {
        let guard = rcu::pin();
        // The array new entries go to (the future one during a resize).
        let buckets = self.newest(&guard).slots.len();
        self.stats
            .snapshot(self.entries(), buckets, self.slab.bytes())
    }

    /// Entries currently linked (a count kept under the table lock: O(1)).
    pub fn len(&self) -> usize {
        self.lock.lock().linked
    }

    /// Is the table empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every linked entry, like `ip neigh show`.
    pub fn dump(&self) -> Vec<NeighInfo<K>> {
        let guard = rcu::pin();
        // Under the table lock the walk is exact (no resize can overlap it).
        let _table = self.lock.lock();
        let now = self.jiffies();
        let mut v: Vec<NeighInfo<K>> = self
            .all_entries(&guard)
            .into_iter()
            .map(|n| {
                let g = n.lock.lock();
                NeighInfo {
                    key: n.key,
                    dev: n.dev,
                    lladdr: n.lladdr(),
                    state: n.state(),
                    refcnt: n.refcnt(),
                    used_ago: now.saturating_sub(n.used()),
                    // Wrapping: a never-confirmed entry's timestamp may lie
                    // before tick 0 (SPEC.md §2); it shows as long ago.
                    confirmed_ago: now.wrapping_sub(n.confirmed()),
                    updated_ago: now.saturating_sub(g.updated),
                    probes: u32::from(g.probes),
                    queue_len: g.queue_len(),
                    router: NeighFlags::from_byte(g.flags).contains(NeighFlags::ROUTER),
                    flags: NeighFlags::from_byte(g.flags),
                }
            })
            .collect();
        v.sort_by_key(|e| (e.dev, e.key));
        v
    }
}

/// A row of [`NeighTable::dump`](crate::NeighTable::dump), like one line of
/// `ip neigh show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighInfo<K> {
    /// Protocol address.
    pub key: K,
    /// Device.
    pub dev: DevId,
    /// Link-layer address, if known.
    pub lladdr: Option<LlAddr>,
    /// NUD state.
    pub state: NudState,
    /// Reference count (the table's link included).
    pub refcnt: usize,
    /// Ticks since the last output.
    pub used_ago: Tick,
    /// Ticks since the last confirmation.
    pub confirmed_ago: Tick,
    /// Ticks since the last state change.
    pub updated_ago: Tick,
    /// Probes sent in the current resolution.
    pub probes: u32,
    /// Packets queued.
    pub queue_len: usize,
    /// The neighbour is a router (NDP): `flags` contains
    /// [`NeighFlags::ROUTER`].
    pub router: bool,
    /// Router, externally learned, managed.
    pub flags: NeighFlags,
}

impl<K: fmt::Display> fmt::Display for NeighInfo<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dev {}", self.key, self.dev)?;
        if let Some(a) = self.lladdr {
            write!(f, " lladdr {a}")?;
        }
        for name in self.flags.names() {
            write!(f, " {name}")?;
        }
        write!(
            f,
            " ref {} used {}/{}/{}",
            self.refcnt, self.used_ago, self.confirmed_ago, self.updated_ago
        )?;
        if self.probes > 0 {
            write!(f, " probes {}", self.probes)?;
        }
        if self.queue_len > 0 {
            write!(f, " queued {}", self.queue_len)?;
        }
        write!(f, " {}", self.state)
    }
}
