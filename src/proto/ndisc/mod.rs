//! IPv6 Neighbor Discovery (`net/ipv6/ndisc.c`): what every ND message a
//! host receives does to the neighbour cache, through the table's public
//! API, and the NS/NA packets it sends.
//!
//! A frame reaches ND only after the IP layer accepted it
//! ([`accept::ipv6`]: our address, a group we joined, a proxied address;
//! no loopback, no multicast source, ...), so ND's own rules are:
//!
//! * every message (`validate`): valid ICMPv6 checksum, hop limit 255, code
//!   0, its fixed part present, options well formed, a link-layer address
//!   option validated only where used;
//! * Neighbor Solicitation (`ns`, `ndisc_recv_ns`): who answers (us, a
//!   [`Proxy`](super::Proxy) entry, or nobody), a DAD probe answered to
//!   all-nodes and never cached, the sender's entry created or updated
//!   STALE, the NA sent through that entry;
//! * Neighbor Advertisement (`na`, `ndisc_recv_na`): the target's entry
//!   updated (REACHABLE if solicited, STALE if not; O decides whether a
//!   different address is taken; the router flag recorded), created only
//!   by a router accepting untracked NAs (RFC 9131);
//! * Router Solicitation, Router Advertisement and Redirect (`router`,
//!   `ndisc_recv_rs`, `ndisc_router_discovery`, `ndisc_redirect_rcv`):
//!   their neighbour effects only (the sender or target STALE, the router
//!   flag set); this layer keeps no routes;
//! * what we send (`tx`): `ndisc_send_na`, `ndisc_solicit`,
//!   `ndisc_send_unsol_na`.
//!
//! This file owns the message types, the public receive entry points and
//! the dispatch by message type.

mod na;
mod ns;
mod router;
mod tx;
mod validate;

pub use tx::{announce_frame, na_packet, na_packet_from, ns_packet, solicit_frame};
pub use validate::{FIXED_LEN, OPT_SLLAO, OPT_TLLAO, RA_LEN, REDIRECT_LEN, RS_LEN};

use super::accept::{self, Ipv6Rx};
use super::error::{Counter, ProtoError, ProtoStats};
use super::eth::{self, EthHeader, Mac, PacketType, ETHERTYPE_IPV6};
use super::iface::{Iface, Policy};
use super::proxy::{Proxied, ProxyCtx};
use super::{CacheAction, L4Checksum, Untouched};
use crate::{NeighOps, NeighTable};
use std::net::Ipv6Addr;

/// All-nodes multicast (ff02::1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A validated Neighbor Discovery message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdMsg {
    /// Neighbor Solicitation.
    Solicit {
        /// Target address.
        target: Ipv6Addr,
        /// Source link-layer address option.
        sllao: Option<Mac>,
    },
    /// Neighbor Advertisement.
    Advert {
        /// Target address.
        target: Ipv6Addr,
        /// R flag.
        router: bool,
        /// S flag.
        solicited: bool,
        /// O flag.
        override_: bool,
        /// Target link-layer address option.
        tllao: Option<Mac>,
    },
    /// Router Solicitation (what the neighbour cache uses of it).
    RouterSolicit {
        /// Source link-layer address option.
        sllao: Option<Mac>,
    },
    /// Router Advertisement (what the neighbour cache uses of it).
    RouterAdvert {
        /// Source link-layer address option.
        sllao: Option<Mac>,
    },
    /// Redirect (what the neighbour cache uses of it).
    Redirect {
        /// The better first hop.
        target: Ipv6Addr,
        /// The destination redirected.
        dest: Ipv6Addr,
        /// Target link-layer address option.
        tllao: Option<Mac>,
    },
}

/// A validated ND packet and its IPv6 addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdPacket {
    /// IPv6 source.
    pub src: Ipv6Addr,
    /// IPv6 destination.
    pub dst: Ipv6Addr,
    /// The message.
    pub msg: NdMsg,
}

/// An NA to send in answer to an NS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NaReply {
    /// IPv6 destination.
    pub dst: Ipv6Addr,
    /// The IPv6 packet (header included, no Ethernet header).
    pub packet: Vec<u8>,
    /// `Some(mac)`: send directly to this multicast MAC (DAD answers go to
    /// all-nodes). `None`: send through the cache to `dst`
    /// ([`NeighTable::resolve_output`]), as the kernel does; the entry then
    /// moves (STALE to DELAY, or resolution starts if it has no address).
    pub eth_dst: Option<Mac>,
}

/// What a received ND message did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NdRx {
    /// The packet.
    pub packet: NdPacket,
    /// How the frame was addressed.
    pub pkt_type: PacketType,
    /// What happened to the cache.
    pub cache: CacheAction,
    /// The NA to send, if one is due.
    pub reply: Option<NaReply>,
    /// The NS was for an address we proxy and was answered or queued
    /// (`None` too if no NA could be sent: no entry for a multicast NS
    /// without a source link-layer option, no source address).
    pub proxy: Option<Proxied>,
}

/// What one receive step needs: the table, who we are, the policy, the
/// proxy, and the frame as received (a proxied solicitation is queued
/// whole).
pub(crate) struct NdCtx<'a, O: NeighOps<Ipv6Addr>> {
    pub(crate) table: &'a NeighTable<Ipv6Addr, O>,
    pub(crate) iface: &'a Iface,
    pub(crate) policy: &'a Policy,
    pub(crate) proxy: Option<ProxyCtx<'a>>,
    pub(crate) frame: &'a [u8],
    pub(crate) pkt_type: PacketType,
}

impl<O: NeighOps<Ipv6Addr>> NdCtx<'_, O> {
    fn rx(&self, packet: NdPacket) -> NdRx {
        NdRx {
            packet,
            pkt_type: self.pkt_type,
            cache: CacheAction::Untouched(Untouched::NoEntry),
            reply: None,
            proxy: None,
        }
    }
}

/// Parse and validate an ND frame received by `iface`, as a host with the
/// default [`Policy`] and no proxy entries accepts it.
pub fn parse(frame: &[u8], iface: &Iface) -> Result<(EthHeader, PacketType, NdPacket), ProtoError> {
    parse_with(frame, iface, L4Checksum::Verify)
}

/// [`parse`], trusting the ICMPv6 checksum if `csum` says so.
pub fn parse_with(
    frame: &[u8],
    iface: &Iface,
    csum: L4Checksum,
) -> Result<(EthHeader, PacketType, NdPacket), ProtoError> {
    let (h, pt, payload) = eth::parse_for(frame, &iface.mac)?;
    if h.ethertype != ETHERTYPE_IPV6 {
        return Err(ProtoError::UnsupportedEtherType(h.ethertype));
    }
    let ip = accept::ipv6(iface, &Policy::default(), None, pt, payload)?;
    Ok((h, pt, validate::message(&ip, csum)?))
}

/// Receive one ND frame (Ethernet header included) on `iface`: the IP
/// layer's acceptance, the message's validation, then its rule applied to
/// `table`; returns what happened and the NA to send, if any. A refused
/// frame is counted in `stats` and never touches the table. `csum` says
/// whether the ICMPv6 checksum is to be verified.
pub fn receive<O: NeighOps<Ipv6Addr>>(
    table: &NeighTable<Ipv6Addr, O>,
    iface: &Iface,
    policy: &Policy,
    frame: &[u8],
    csum: L4Checksum,
    stats: &ProtoStats,
) -> Result<NdRx, ProtoError> {
    receive_with_proxy(table, iface, policy, None, frame, csum, stats)
}

/// [`receive`], also answering solicitations for the addresses of
/// `proxy`'s entries (with `forwarding` and `proxy_ndp`). A solicitation to
/// be answered later is queued in the proxy ([`Proxied::Queued`]); whoever
/// runs the queue calls this again with [`ProxyCtx::redo`] set. A redone
/// frame is not counted as received again.
pub fn receive_with_proxy<O: NeighOps<Ipv6Addr>>(
    table: &NeighTable<Ipv6Addr, O>,
    iface: &Iface,
    policy: &Policy,
    proxy: Option<ProxyCtx<'_>>,
    frame: &[u8],
    csum: L4Checksum,
    stats: &ProtoStats,
) -> Result<NdRx, ProtoError> {
    let redo = proxy.is_some_and(|c| c.redo);
    if !redo {
        stats.inc(Counter::RxFrames);
    }
    let rx = stats.track(receive_frame(table, iface, policy, proxy, frame, csum))?;
    if !redo {
        stats.inc(Counter::RxNdisc);
    }
    Ok(rx)
}

/// The IP layer's acceptance of `frame`, then [`process`].
fn receive_frame<O: NeighOps<Ipv6Addr>>(
    table: &NeighTable<Ipv6Addr, O>,
    iface: &Iface,
    policy: &Policy,
    proxy: Option<ProxyCtx<'_>>,
    frame: &[u8],
    csum: L4Checksum,
) -> Result<NdRx, ProtoError> {
    let (h, pkt_type, payload) = eth::parse_for(frame, &iface.mac)?;
    if h.ethertype != ETHERTYPE_IPV6 {
        return Err(ProtoError::UnsupportedEtherType(h.ethertype));
    }
    let ip = accept::ipv6(iface, policy, proxy.map(|c| c.proxy), pkt_type, payload)?;
    let cx = NdCtx {
        table,
        iface,
        policy,
        proxy,
        frame,
        pkt_type,
    };
    process(&cx, &ip, csum)
}

/// `ndisc_rcv`: validate the ND message of an accepted packet and apply
/// its rule.
pub(crate) fn process<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    ip: &Ipv6Rx<'_>,
    csum: L4Checksum,
) -> Result<NdRx, ProtoError> {
    let p = validate::message(ip, csum)?;
    match p.msg {
        NdMsg::Solicit { target, sllao } => ns::recv_ns(cx, p, target, sllao),
        NdMsg::Advert {
            target,
            router,
            solicited,
            override_,
            tllao,
        } => na::recv_na(cx, p, target, (router, solicited, override_), tllao),
        NdMsg::RouterSolicit { sllao } => Ok(router::recv_rs(cx, p, sllao)),
        NdMsg::RouterAdvert { sllao } => Ok(router::recv_ra(cx, p, sllao)),
        NdMsg::Redirect {
            target,
            dest,
            tllao,
        } => router::recv_redirect(cx, p, target, dest, tllao),
    }
}
