//! ARP (`net/ipv4/arp.c`): parsing and validating received ARP frames
//! (`arp_rcv`), the receive rules (`arp_process`) expressed through the
//! table's public API, ARP replies (`arp_send`) and the solicitation frames
//! the cache asks for (`arp_solicit`).
//!
//! The rules, from Linux 6.x `arp_process`:
//!
//! * a request for one of our addresses: the sender's entry is looked up or
//!   created and set STALE with OVERRIDE (`neigh_event_ns`), and a reply is
//!   built (to the sender's MAC, `tha` = sender MAC) — only if an entry
//!   could be had, as in the kernel;
//! * a duplicate-address probe (sender 0.0.0.0) for our address: a reply to
//!   0.0.0.0 at the prober's MAC, nothing cached;
//! * anything else (replies, requests for others, gratuitous ARP): an
//!   existing entry of the sender is updated — REACHABLE for a reply to our
//!   MAC, STALE for a broadcast reply or a request — overriding a different
//!   address only once `locktime` has passed since its last update
//!   ([`NeighTable::receive_arp`]), or at once for a gratuitous ARP;
//!   `arp_accept` decides whether gratuitous ARPs and replies may create
//!   entries;
//! * `drop_gratuitous_arp` drops ARPs whose sender and target IP are equal;
//! * a sender the IP layer would call a martian source is refused before
//!   anything else ([`accept::check_source_v4`]: multicast, the limited
//!   broadcast, loopback, one of our addresses; and our subnet's
//!   broadcast, stricter than Linux with `rp_filter` 0, which answers it
//!   and keeps a NOARP entry).
//! * a request for an address we proxy (a [`Proxy`](super::Proxy) entry for the target on
//!   this device, and `forwarding`): the sender's entry as for a request for
//!   us, and a reply with our MAC for the target — at once if the request
//!   was unicast to us (`PACKET_HOST`), `proxy_delay` is 0 or it is a queued
//!   request whose delay ran out; otherwise the frame is queued
//!   (`pneigh_enqueue`) and processed again when due. Never for a
//!   duplicate-address probe, nor (stricter than the kernel, which relies on
//!   its route checks) when sender and target are the same address.
//!
//! This module owns ARP only; frames come in whole (Ethernet header
//! included) and go out whole.

use super::accept;
use super::cache;
use super::error::{Counter, Layer, ProtoError, ProtoStats};
use super::eth::{self, EthHeader, Mac, PacketType, BROADCAST, ETHERTYPE_ARP};
use super::iface::{Iface, Policy};
use super::proxy::{Proxied, ProxyCtx};
use super::{CacheAction, Untouched};
use crate::{NeighOps, NeighTable, NudState, Probe, UpdateFlags};
use smoltcp::wire::{ArpOperation, ArpPacket as ArpView, ArpRepr, EthernetAddress};
use std::net::{IpAddr, Ipv4Addr};

/// ARP hardware type Ethernet.
pub const HRD_ETHER: u16 = 1;
/// ARP hardware type IEEE 802 (accepted on Ethernet, as the kernel does).
pub const HRD_IEEE802: u16 = 6;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;

/// ARP operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpOp {
    /// `ARPOP_REQUEST`.
    Request,
    /// `ARPOP_REPLY`.
    Reply,
}

/// A validated Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket {
    /// Operation.
    pub op: ArpOp,
    /// `ar_sha`.
    pub sender_mac: Mac,
    /// `ar_sip`.
    pub sender_ip: Ipv4Addr,
    /// `ar_tha`.
    pub target_mac: Mac,
    /// `ar_tip`.
    pub target_ip: Ipv4Addr,
}

/// What a received ARP frame did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArpRx {
    /// The packet.
    pub packet: ArpPacket,
    /// How the frame was addressed.
    pub pkt_type: PacketType,
    /// It was a gratuitous ARP (`arp_is_garp`).
    pub gratuitous: bool,
    /// What happened to the cache.
    pub cache: CacheAction,
    /// A reply frame to transmit, if one is due.
    pub reply: Option<Vec<u8>>,
    /// The request was for an address we proxy: what became of it.
    pub proxy: Option<Proxied>,
}

/// Parse and validate an ARP frame received by `iface` (`arp_rcv` and the
/// checks at the top of `arp_process`, plus this layer's stricter sender
/// checks).
pub fn parse(
    frame: &[u8],
    iface: &Iface,
) -> Result<(EthHeader, PacketType, ArpPacket), ProtoError> {
    let (h, pt, payload) = eth::parse_for(frame, &iface.mac)?;
    if h.ethertype != ETHERTYPE_ARP {
        return Err(ProtoError::UnsupportedEtherType(h.ethertype));
    }
    Ok((h, pt, parse_arp(payload)?))
}

/// Parse and validate the ARP part (after the Ethernet header).
pub fn parse_arp(payload: &[u8]) -> Result<ArpPacket, ProtoError> {
    if payload.len() < 8 {
        return Err(ProtoError::truncated(Layer::Arp, payload.len(), 8));
    }
    let v = ArpView::new_unchecked(payload);
    let (hln, pln) = (v.hardware_len(), v.protocol_len());
    if hln != 6 || pln != 4 {
        return Err(ProtoError::ArpAddressLength { hln, pln });
    }
    let v = ArpView::new_checked(payload)
        .map_err(|_| ProtoError::truncated(Layer::Arp, payload.len(), ARP_LEN))?;
    let hrd = u16::from(v.hardware_type());
    if hrd != HRD_ETHER && hrd != HRD_IEEE802 {
        return Err(ProtoError::ArpHardwareType(hrd));
    }
    let pro = u16::from(v.protocol_type());
    if pro != eth::ETHERTYPE_IPV4 {
        return Err(ProtoError::ArpProtocolType(pro));
    }
    let op = match v.operation() {
        ArpOperation::Request => ArpOp::Request,
        ArpOperation::Reply => ArpOp::Reply,
        ArpOperation::Unknown(o) => return Err(ProtoError::ArpOperation(o)),
    };
    // The lengths were checked above: these conversions cannot fail, and
    // would refuse the packet rather than panic if they did.
    let bad_len = || ProtoError::ArpAddressLength { hln, pln };
    let mac = |b: &[u8]| Mac::try_from(b).map_err(|_| bad_len());
    let ip = |b: &[u8]| {
        <[u8; 4]>::try_from(b)
            .map(Ipv4Addr::from)
            .map_err(|_| bad_len())
    };
    let p = ArpPacket {
        op,
        sender_mac: mac(v.source_hardware_addr())?,
        sender_ip: ip(v.source_protocol_addr())?,
        target_mac: mac(v.target_hardware_addr())?,
        target_ip: ip(v.target_protocol_addr())?,
    };
    // arp_process: "Check for bad requests for 127.x.x.x and requests for
    // multicast addresses".
    if p.target_ip.is_multicast() || p.target_ip.is_loopback() {
        return Err(ProtoError::BadTargetAddress(IpAddr::V4(p.target_ip)));
    }
    // Stricter than the kernel: these can never be a neighbour's.
    if !eth::is_unicast(&p.sender_mac) {
        return Err(ProtoError::BadLinkLayerAddress(p.sender_mac));
    }
    let sip = p.sender_ip;
    if sip.is_multicast() || sip.is_broadcast() || sip.is_loopback() {
        return Err(ProtoError::BadSenderAddress(IpAddr::V4(sip)));
    }
    Ok(p)
}

/// `arp_is_garp`: sender IP = target IP, for a reply also target MAC =
/// sender MAC, and the sender IP is a unicast address.
pub fn is_gratuitous(p: &ArpPacket, iface: &Iface) -> bool {
    p.sender_ip == p.target_ip
        && (p.op == ArpOp::Request || p.target_mac == p.sender_mac)
        && iface.is_unicast_v4(p.sender_ip)
}

/// Receive one ARP frame (Ethernet header included) on `iface`: validate
/// it, apply `arp_process`'s rules to `table`, and return what happened
/// and the reply to send, if any. A refused frame is counted in `stats`
/// and never touches the table.
pub fn receive<O: NeighOps<Ipv4Addr>>(
    table: &NeighTable<Ipv4Addr, O>,
    iface: &Iface,
    policy: &Policy,
    frame: &[u8],
    stats: &ProtoStats,
) -> Result<ArpRx, ProtoError> {
    receive_with_proxy(table, iface, policy, None, frame, stats)
}

/// [`receive`], also answering requests for the addresses of `proxy`'s
/// entries. A request to be answered later is queued in the proxy
/// ([`Proxied::Queued`]); whoever runs the queue
/// ([`Proxy::take_due`](super::Proxy::take_due)) calls this again with [`ProxyCtx::redo`] set. A
/// redone frame is not counted as received again.
pub fn receive_with_proxy<O: NeighOps<Ipv4Addr>>(
    table: &NeighTable<Ipv4Addr, O>,
    iface: &Iface,
    policy: &Policy,
    proxy: Option<ProxyCtx<'_>>,
    frame: &[u8],
    stats: &ProtoStats,
) -> Result<ArpRx, ProtoError> {
    let redo = proxy.is_some_and(|c| c.redo);
    if !redo {
        stats.inc(Counter::RxFrames);
    }
    let rx = stats.track(process(table, iface, policy, proxy, frame))?;
    if !redo {
        stats.inc(Counter::RxArp);
    }
    if rx.reply.is_some() {
        stats.inc(Counter::ArpReplies);
        if rx.proxy.is_some() {
            stats.inc(Counter::ProxyReplies);
        }
    }
    Ok(rx)
}

/// `neigh_event_ns`: the sender of a request we answer gets an entry,
/// STALE, its address overriding whatever was cached.
fn event_ns<O: NeighOps<Ipv4Addr>>(
    table: &NeighTable<Ipv4Addr, O>,
    sip: Ipv4Addr,
    dev: crate::DevId,
    sha: &Mac,
) -> CacheAction {
    cache::find_and_update(
        table,
        sip,
        dev,
        true,
        Untouched::NoEntry,
        Some(sha),
        NudState::STALE,
        UpdateFlags::OVERRIDE,
    )
}

/// The proxy context, if this request is one its proxy answers
/// (`arp_process`: `IN_DEV_FORWARD`, a unicast target that is not ours,
/// `pneigh_lookup`; and not sender = target, see the module docs).
fn proxied<'a>(
    ctx: Option<ProxyCtx<'a>>,
    iface: &Iface,
    policy: &Policy,
    p: &ArpPacket,
) -> Option<ProxyCtx<'a>> {
    let ctx = ctx?;
    let ok = p.op == ArpOp::Request
        && policy.forwarding
        && p.sender_ip != p.target_ip
        && iface.is_unicast_v4(p.target_ip);
    (ok && ctx
        .proxy
        .lookup(IpAddr::V4(p.target_ip), iface.dev)
        .is_some())
    .then_some(ctx)
}

fn process<O: NeighOps<Ipv4Addr>>(
    table: &NeighTable<Ipv4Addr, O>,
    iface: &Iface,
    policy: &Policy,
    proxy: Option<ProxyCtx<'_>>,
    frame: &[u8],
) -> Result<ArpRx, ProtoError> {
    let (_, pkt_type, p) = parse(frame, iface)?;
    let (sip, tip, sha) = (p.sender_ip, p.target_ip, p.sender_mac);
    if sip == tip && policy.drop_gratuitous_arp {
        return Err(ProtoError::GratuitousDropped);
    }
    // The IP layer's martian sources (`ip_route_input_noref` in
    // arp_process), our own address first among them; 0.0.0.0 is a
    // duplicate-address probe, handled below.
    if !sip.is_unspecified() {
        accept::check_source_v4(iface, sip)?;
    }
    let dev = iface.dev;
    let mut rx = ArpRx {
        packet: p,
        pkt_type,
        gratuitous: false,
        cache: CacheAction::Untouched(Untouched::NoEntry),
        reply: None,
        proxy: None,
    };
    let for_us = p.op == ArpOp::Request && iface.owns_v4(tip);
    // RFC 2131/5227 duplicate-address probe: answer, cache nothing.
    if sip.is_unspecified() {
        if for_us {
            rx.reply = Some(reply_frame(iface, tip, sha, sip));
        }
        rx.cache = CacheAction::Untouched(Untouched::DadProbe);
        return Ok(rx);
    }
    if for_us {
        // neigh_event_ns: create, STALE, OVERRIDE; reply only if we got an entry.
        rx.cache = event_ns(table, sip, dev, &sha);
        if !matches!(rx.cache, CacheAction::Refused(_)) {
            rx.reply = Some(reply_frame(iface, tip, sha, sip));
        }
        return Ok(rx);
    }
    if let Some(ctx) = proxied(proxy, iface, policy, &p) {
        // The kernel replies whether or not neigh_event_ns got an entry.
        rx.cache = event_ns(table, sip, dev, &sha);
        let px = ctx.proxy;
        let delay = px.parms(dev).map_or(0, |d| d.delay);
        if ctx.redo || pkt_type == PacketType::Host || delay == 0 {
            rx.reply = Some(reply_frame(iface, tip, sha, sip));
            rx.proxy = Some(Proxied::Answered);
        } else {
            rx.proxy = Some(px.enqueue(dev, frame, ctx.now));
        }
        return Ok(rx);
    }
    // Replies, requests for others, gratuitous ARP: update what exists.
    let existing = table.lookup(sip, dev);
    let accept = policy.arp_accept_allows(iface, sip);
    if existing.is_some() || accept {
        rx.gratuitous = is_gratuitous(&p, iface);
    }
    // Broadcast replies and requests do not assert reachability.
    let state = if p.op == ArpOp::Reply && pkt_type == PacketType::Host {
        NudState::REACHABLE
    } else {
        NudState::STALE
    };
    if let Some(n) = existing {
        rx.cache = if rx.gratuitous {
            let flags = UpdateFlags::OVERRIDE;
            let result = table.update(&n, Some(&sha), state, flags);
            CacheAction::Updated {
                state,
                flags: Some(flags),
                created: false,
                result,
            }
        } else {
            // OVERRIDE only once `locktime` has passed: the table's rule.
            drop(n);
            let result = table.receive_arp(sip, dev, &sha, state == NudState::REACHABLE);
            CacheAction::Updated {
                state,
                flags: None,
                created: false,
                result,
            }
        };
    } else if accept && (rx.gratuitous || (p.op == ArpOp::Reply && iface.is_unicast_v4(sip))) {
        let flags = if rx.gratuitous {
            UpdateFlags::OVERRIDE
        } else {
            UpdateFlags::NONE
        };
        rx.cache = cache::find_and_update(
            table,
            sip,
            dev,
            true,
            Untouched::NoEntry,
            Some(&sha),
            state,
            flags,
        );
    }
    Ok(rx)
}

/// An ARP packet in an Ethernet frame. `eth_dst` is the frame's
/// destination; the ARP hardware type is always Ethernet (`dev->type`).
pub fn frame(eth_dst: Mac, src_mac: Mac, p: &ArpPacket) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation: match p.op {
            ArpOp::Request => ArpOperation::Request,
            ArpOp::Reply => ArpOperation::Reply,
        },
        source_hardware_addr: EthernetAddress(p.sender_mac),
        source_protocol_addr: p.sender_ip,
        target_hardware_addr: EthernetAddress(p.target_mac),
        target_protocol_addr: p.target_ip,
    };
    eth::build(eth_dst, src_mac, ETHERTYPE_ARP, repr.buffer_len(), |buf| {
        repr.emit(&mut ArpView::new_unchecked(buf))
    })
}

/// `arp_send(ARPOP_REPLY, .., dest_ip = sip, src_ip = tip, dest_hw = sha,
/// target_hw = sha)`: our answer to a request for `our_ip`.
pub fn reply_frame(iface: &Iface, our_ip: Ipv4Addr, to_mac: Mac, to_ip: Ipv4Addr) -> Vec<u8> {
    let p = ArpPacket {
        op: ArpOp::Reply,
        sender_mac: iface.mac,
        sender_ip: our_ip,
        target_mac: to_mac,
        target_ip: to_ip,
    };
    frame(to_mac, iface.mac, &p)
}

/// `arp_solicit`: the request the cache asks for with
/// [`NeighOps::solicit`]. Multicast probes are broadcast, unicast probes go
/// to the cached address; `ar_tha` is zero in both (`arp_create` with no
/// target hardware address). `Probe::App` has no frame (the kernel asks a
/// user-space `arpd` over netlink): `None`, as does an interface without an
/// IPv4 address.
pub fn solicit_frame(iface: &Iface, target: Ipv4Addr, probe: Probe) -> Option<Vec<u8>> {
    let src = iface.ipv4?.addr;
    let dst: Mac = match probe {
        Probe::Multicast => BROADCAST,
        Probe::Unicast(ll) => ll.as_bytes().try_into().ok()?,
        Probe::App => return None,
    };
    let p = ArpPacket {
        op: ArpOp::Request,
        sender_mac: iface.mac,
        sender_ip: src,
        target_mac: [0; 6],
        target_ip: target,
    };
    Some(frame(dst, iface.mac, &p))
}

/// A gratuitous ARP request announcing our IPv4 address (what the kernel
/// sends on `arp_notify` / `NETDEV_NOTIFY_PEERS`).
pub fn announce_frame(iface: &Iface) -> Option<Vec<u8>> {
    let ip = iface.ipv4?.addr;
    let p = ArpPacket {
        op: ArpOp::Request,
        sender_mac: iface.mac,
        sender_ip: ip,
        target_mac: [0; 6],
        target_ip: ip,
    };
    Some(frame(BROADCAST, iface.mac, &p))
}
