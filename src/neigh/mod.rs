//! The neighbour cache (`net/core/neighbour.c`).
//!
//! * [`key`]: protocol address keys and the keyed bucket hash.
//! * [`nud`]: NUD states, masks and `neigh_update` flags.
//! * `lladdr`: link-layer addresses and cached headers (values).
//! * `device`: a device as the layer sees it (configuration, parameters,
//!   the header it builds); below both the entry and the table.
//! * `entry`: the entry's layout, its refcount and published header.
//! * `table`: the table and everything that changes it, one file per
//!   responsibility (see its module docs for the map and the lock order).
//! * [`stats`]: per-thread-shard counters.
//! * `timer_target`: [`TimerTarget`], what a timer driver drives.
//! * `timer_thread`: the optional thread that drives `run_timers`.
//! * `tokio_driver` (feature `tokio`): the same as a Tokio task that sleeps
//!   until the next event.
//!
//! What a daemon supplies is a [`NeighOps`]: how to transmit a packet with
//! its link-layer header, how to send a solicitation, and where packets that
//! could not be delivered are reported.

pub(crate) mod device;
pub(crate) mod entry;
pub mod key;
pub(crate) mod lladdr;
pub mod nud;
#[cfg(all(target_os = "linux", not(any(feature = "loom", feature = "shuttle"))))]
pub(crate) mod pages;
pub(crate) mod slab;
pub mod stats;
mod table;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod timer_target;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod timer_thread;
#[cfg(all(feature = "tokio", not(any(feature = "loom", feature = "shuttle"))))]
mod tokio_driver;

pub use device::{DeviceConfig, LinkHeader};
pub use entry::Neighbour;
pub use key::{DevId, NeighKey};
pub use lladdr::{Hh, LlAddr, HH_MAX, MAX_ADDR_LEN};
pub use nud::{NeighFlags, NudState, UpdateFlags};
pub use stats::{DropReason, NeighStats};
pub use table::{
    Applied, EventFilter, EventKind, EventReceiver, EventSend, GcReport, NeighEvent, NeighHandle,
    NeighInfo, NeighTable, Received, TimersView, Xmit, MAX_EVENT_QUEUE, TIMER_RUN_LIMIT,
};
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub use timer_target::TimerTarget;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub use timer_thread::TimerThread;
#[cfg(all(feature = "tokio", not(any(feature = "loom", feature = "shuttle"))))]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use tokio_driver::{DriverError, DriverStats, TokioTimers, DEFAULT_RECHECK};

/// A packet the cache can queue while a neighbour resolves.
pub trait Packet: Send + 'static {
    /// Length in bytes (the default [`truesize`](Packet::truesize) is
    /// built on it).
    fn len(&self) -> usize;
    /// Is the packet empty?
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The bytes the packet is charged against `unres_qlen_bytes` (the
    /// kernel's `skb->truesize`): by default its length plus
    /// [`SKB_TRUESIZE_OVERHEAD`](crate::parms::SKB_TRUESIZE_OVERHEAD), so a
    /// burst of small packets is cut where Linux cuts it. Called once per
    /// packet that may be queued, before any cache lock is taken; the queue
    /// keeps that answer. If it panics, the panic reaches the caller and the
    /// packet counts as queued and [`DropReason::Unwound`].
    fn truesize(&self) -> usize {
        self.len()
            .saturating_add(crate::parms::SKB_TRUESIZE_OVERHEAD)
    }
}

impl Packet for Vec<u8> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

impl Packet for Box<[u8]> {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
}

/// Which kind of solicitation a probe is (`arp_solicit`'s choice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Unicast to the last known address (PROBE state: `ucast_solicit`).
    Unicast(LlAddr),
    /// Ask the user-space daemon (`app_solicit`).
    App,
    /// Broadcast / multicast (INCOMPLETE: `mcast_solicit`).
    Multicast,
}

/// What the daemon provides: the device side of the cache (the kernel's
/// `neigh_ops` plus `dev_queue_xmit`).
///
/// Calls are made **without** any cache lock held, so an implementation may
/// call back into the table (for example answer a solicitation at once by
/// calling [`NeighTable::update`]).
///
/// # Panics in callbacks
///
/// A callback may panic; the panic propagates to the caller of the table
/// method that made the call (for a timer handler, the caller of
/// [`NeighTable::run_timers`]), and the table stays consistent and usable
/// (SPEC.md §3, "Panic safety"):
///
/// * the packet handed to the panicking callback counts as delivered (it was
///   moved into the callback); every other packet the cache was holding for
///   delivery in that call is dropped during the unwind **without** another
///   callback and counted as [`DropReason::Unwound`], so
///   `stats().packets_in() == stats().packets_out() + packets_queued_now()`
///   still holds;
/// * every reference the call held is released, so no entry leaks and
///   `allocs == destroys` after teardown;
/// * locks are released (no poisoning) and a timer base stays runnable.
///
/// While a thread unwinds (whether from a callback or from the caller's own
/// code dropping a table), the cache makes no callbacks on it.
pub trait NeighOps<K: NeighKey>: Send + Sync + 'static {
    /// The packet type queued while resolving.
    type Packet: Packet;

    /// Transmit `pkt` on `dev`, prefixed by the link-layer header `hh`.
    fn transmit(&self, dev: DevId, hh: &[u8], pkt: Self::Packet);

    /// Send a solicitation for `key` on `dev` (`neigh->ops->solicit`).
    fn solicit(&self, dev: DevId, key: &K, probe: Probe);

    /// Resolution of `key` failed; `pkt` was waiting for it
    /// (`neigh->ops->error_report`: ICMP host unreachable in the kernel).
    fn error_report(&self, dev: DevId, key: &K, pkt: Self::Packet);

    /// `pkt` was dropped for `reason` (other than resolution failure).
    /// The default just frees it; the drop is counted either way.
    fn discard(&self, dev: DevId, key: &K, pkt: Self::Packet, reason: DropReason) {
        let _ = (dev, key, pkt, reason);
    }
}
