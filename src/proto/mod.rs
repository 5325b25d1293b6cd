//! The protocol layer: what Linux's `net/ipv4/arp.c` and `net/ipv6/ndisc.c`
//! do on top of the neighbour core, for a daemon that owns an Ethernet
//! interface through a raw socket.
//!
//! This module owns the wire side of neighbour resolution: deciding which
//! packets this host accepts at all (as a host's IP layer does), parsing
//! and validating ARP and Neighbor Discovery frames, applying the kernel's
//! receive rules through the table's **public** API
//! ([`lookup`](crate::NeighTable::lookup),
//! [`lookup_or_create`](crate::NeighTable::lookup_or_create),
//! [`update`](crate::NeighTable::update),
//! [`receive_arp`](crate::NeighTable::receive_arp),
//! [`resolve_output`](crate::NeighTable::resolve_output)), and turning the
//! cache's callbacks ([`NeighOps::solicit`](crate::NeighOps::solicit),
//! `transmit`) into Ethernet frames. It must not reach into `neigh`
//! internals: everything here could live in another crate.
//!
//! * [`iface`]: the interface we speak for (MAC, addresses) and the
//!   kernel-style receive policy (`arp_accept`, `drop_gratuitous_arp`,
//!   `drop_unsolicited_na`, `accept_untracked_na`, `forwarding`).
//! * [`eth`]: Ethernet framing, packet-type classification, multicast
//!   mapping.
//! * [`accept`]: what this host accepts from the wire (`ip6_rcv_core`,
//!   `ip6_input`, `ip_route_input_slow`): destinations, martian sources,
//!   multicast scopes, extension headers; the one place that decides,
//!   before ARP, ND or the echo responder see a packet.
//! * [`arp`]: `arp_process`, `arp_solicit`, ARP replies.
//! * [`ndisc`]: `ndisc_recv_ns`, `ndisc_recv_na`, `ndisc_recv_rs`,
//!   `ndisc_router_discovery`, `ndisc_redirect_rcv` (their neighbour
//!   effects), `ndisc_solicit`, `ndisc_send_na`.
//! * [`proxy`]: proxy ARP / proxy ND entries (`pneigh`, `ip neigh add
//!   proxy`) and the delayed-answer queue (`proxy_delay`, `proxy_qlen`).
//! * [`ip`]: the few IPv4/IPv6 packets a daemon originates (UDP, ICMP echo).
//! * [`ops`]: [`WireOps`], a [`NeighOps`](crate::NeighOps)
//!   that sends frames through a [`FrameSink`].
//! * [`host`]: [`Host`], one interface with an IPv4 and an IPv6
//!   table, receive dispatch, an echo responder and send helpers.
//! * [`monitor`]: `ip monitor neigh` / `ip neigh show` style output from
//!   [`dump`](crate::NeighTable::dump) snapshots.
//! * [`packet`] (Linux): an `AF_PACKET` socket bound to one interface.
//! * [`error`]: [`ProtoError`] (why a frame was dropped) and
//!   [`ProtoStats`] (counters, one per drop reason).
//!
//! Wire formats come from `smoltcp::wire` (packet views, `ArpRepr`,
//! `NdiscRepr` with options, checksums); the kernel's validation rules are
//! applied on top (option lengths, first-option-wins, hop limit 255, ...).
//! No smoltcp type appears in this module's public API.
//!
//! Proxying (answering for addresses that are not ours) needs
//! [`Policy::forwarding`], and for IPv6 also [`Policy::proxy_ndp`], as in
//! the kernel; see [`proxy`] for what differs.
//!
//! Where this layer is deliberately stricter than Linux (it refuses a
//! multicast, broadcast or all-zero link-layer address, which the kernel
//! would cache; our subnet's broadcast address as a source; one of our
//! own addresses as an IPv6 source; an entry without a link-layer address
//! for a router message), the item says so, and SPEC.md §18 lists every
//! rule with the test that checks it.

pub mod accept;
pub mod arp;
mod cache;
pub mod error;
pub mod eth;
pub mod host;
pub mod iface;
pub mod ip;
pub mod monitor;
pub mod ndisc;
pub mod ops;
#[cfg(target_os = "linux")]
#[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
pub mod packet;
pub mod proxy;

pub use error::{Counter, ErrorKind, Layer, ProtoError, ProtoStats, ProtoStatsSnapshot};
pub use eth::{Mac, PacketType};
pub use host::{Host, HostClock, RxEvent, SendError, START_TICK};
pub use iface::{ArpAccept, Iface, Ipv4If, Ipv6If, Policy, UntrackedNa};
pub use ops::{FrameSink, WireOps};
pub use proxy::{Prefix, Proxied, Proxy, ProxyEntry, ProxyError, ProxyParms, ProxyStats};

use crate::{NeighError, NudState, UpdateFlags};

/// Whether a received frame's layer-4 checksums (UDP, ICMP, ICMPv6) are to
/// be verified. A raw socket on a virtual link (veth) receives locally
/// generated packets whose checksum was never computed (`CHECKSUM_PARTIAL`,
/// `TP_STATUS_CSUMNOTREADY`), and NICs that verified it say so
/// (`TP_STATUS_CSUM_VALID`); the kernel's own stack trusts both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum L4Checksum {
    /// Verify (a frame from an unknown source).
    #[default]
    Verify,
    /// Trust: the receiving device vouched for it or it was never computed.
    Trusted,
}

/// What a received frame did to the neighbour cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheAction {
    /// The cache was not touched.
    Untouched(Untouched),
    /// `neigh_update` was applied to the sender's (ARP, NS, RS, RA) or the
    /// target's (NA, Redirect) entry.
    Updated {
        /// The state asked for.
        state: NudState,
        /// The update flags, or `None` when the table's
        /// [`receive_arp`](crate::NeighTable::receive_arp) chose them
        /// (OVERRIDE only once `locktime` has passed since the last update).
        flags: Option<UpdateFlags>,
        /// The entry was created for this frame.
        created: bool,
        /// What the table said (`Err(NotPermitted)` for a PERMANENT entry,
        /// `Err(NoLladdr)` for an NS without a source address option on an
        /// entry that has none, ...).
        result: Result<(), NeighError>,
    },
    /// The table could not give us an entry (full, unknown device).
    Refused(NeighError),
}

/// Why a valid frame left the cache alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Untouched {
    /// No entry for the sender and the policy does not create one
    /// (`arp_accept` = 0, an unsolicited ARP reply; a Router Solicitation
    /// from `::`).
    NoEntry,
    /// An IPv4 duplicate-address probe (sender 0.0.0.0) or an IPv6 DAD
    /// solicitation (source ::): answered, never cached.
    DadProbe,
    /// A multicast NS without a source link-layer address: answered only if
    /// an entry already exists (`ndisc_recv_ns`).
    NoSourceLladdr,
    /// An NA for a FAILED entry: ignored, as `ndisc_recv_na` does.
    FailedEntry,
    /// A solicitation for a proxied address, queued for `proxy_delay`
    /// (`pneigh_enqueue` comes before the cache update in `ndisc_recv_ns`):
    /// the sender's entry is updated when it is answered.
    ProxyQueued,
    /// A Router Solicitation received while not forwarding: only routers
    /// listen (`ndisc_recv_rs`).
    NotARouter,
    /// A Router Solicitation, Router Advertisement or Redirect without a
    /// link-layer address option for an address with no entry: there is
    /// nothing to cache. (Linux creates an entry in state NONE, which
    /// `ip neigh show` does not list; this layer creates none.)
    NoLinkLayerOption,
    /// An NA carrying our own MAC for an address we proxy: our own proxy
    /// answer seen again, left alone as `ndisc_recv_na` does.
    OwnProxyAdvert,
}
