//! IPv6 Neighbor Discovery (`net/ipv6/ndisc.c`): parsing and validating
//! Neighbor Solicitations and Advertisements (`ndisc_rcv`,
//! `ndisc_parse_options`), their receive rules (`ndisc_recv_ns`,
//! `ndisc_recv_na`) through the table's public API, and the NS/NA packets
//! we send (`ndisc_solicit`, `ndisc_send_na`).
//!
//! The rules, from Linux 6.x:
//!
//! * every ND message: hop limit 255, code 0, valid ICMPv6 checksum, target
//!   not multicast, options well formed (a zero length or one running past
//!   the end fails the message; a link-layer address option must be 8 bytes
//!   on Ethernet; the first of duplicate options wins; unknown ones are
//!   skipped);
//! * NS for one of our addresses: from `::` (DAD) we answer to all-nodes
//!   (S=0, O=1) and cache nothing; otherwise the sender's entry is looked up
//!   — created when the NS was unicast or carries a source link-layer
//!   address — set STALE with WEAK_OVERRIDE|OVERRIDE, and an NA (S=1; O=1
//!   and a target link-layer address only if the NS was multicast) is sent
//!   **through the cache** to the sender, as the kernel's NA goes through
//!   the sender's neighbour entry;
//! * NS for an address we [`Proxy`](super::Proxy) (`forwarding`, `proxy_ndp`):
//!   a multicast one is first queued for `proxy_delay` unless 0 or redone;
//!   then as for ours, but the NA is from our own address, O=0, R from the
//!   entry (`pndisc_is_router`);
//! * NA: a solicited NA to a multicast destination is dropped; S=1 asks for
//!   REACHABLE, S=0 for STALE; O=0 does not override a different cached
//!   address (WEAK_OVERRIDE: a CONNECTED entry only becomes STALE); the R
//!   flag is recorded (OVERRIDE_ISROUTER|ISROUTER); an NA for an address
//!   without an entry is dropped unless we are a router that accepts
//!   untracked NAs (then STALE); an NA for a FAILED entry is ignored.
//!
//! This module owns ND only. Solicitations are built for the cache's
//! [`NeighOps::solicit`]; replies come back as IPv6 packets (see
//! [`NaReply`]).

use super::error::{Counter, Layer, ProtoError, ProtoStats};
use super::eth::{self, EthHeader, Mac, PacketType, ETHERTYPE_IPV6};
use super::iface::{Iface, Policy};
use super::proxy::{Proxied, ProxyCtx};
use super::{CacheAction, L4Checksum, Untouched};
use crate::{NeighOps, NeighTable, NudState, Probe, UpdateFlags};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv6Message, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, Ipv6Repr, NdiscNeighborFlags,
    NdiscRepr, RawHardwareAddress,
};
use std::net::{IpAddr, Ipv6Addr};

/// ND option: source link-layer address.
pub const OPT_SLLAO: u8 = 1;
/// ND option: target link-layer address.
pub const OPT_TLLAO: u8 = 2;
/// NS/NA fixed part: ICMPv6 header (8) + target (16).
pub const FIXED_LEN: usize = 24;
/// All-nodes multicast (ff02::1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A validated NS or NA.
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

/// What a received NS/NA did.
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

/// Parse and validate an NS/NA frame received by `iface`.
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
    let (ip, icmp) = ipv6_icmp(payload, csum)?;
    Ok((h, pt, parse_icmp(&ip, icmp)?))
}

/// The IPv6 header fields ND looks at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ip6 {
    pub(crate) src: Ipv6Addr,
    pub(crate) dst: Ipv6Addr,
    pub(crate) hop_limit: u8,
}

/// Check an IPv6 header carrying ICMPv6 directly; returns its fields and
/// the ICMPv6 message, whose checksum is verified.
pub(crate) fn ipv6_icmp(payload: &[u8], csum: L4Checksum) -> Result<(Ip6, &[u8]), ProtoError> {
    let ip = Ipv6Packet::new_checked(payload).map_err(|_| {
        let need = if payload.len() < 40 {
            40
        } else {
            40 + usize::from(u16::from_be_bytes([payload[4], payload[5]]))
        };
        ProtoError::truncated(Layer::Ipv6, payload.len(), need)
    })?;
    if ip.version() != 6 {
        return Err(ProtoError::BadIpHeader("IPv6 version field is not 6"));
    }
    let nh = u8::from(ip.next_header());
    if nh != u8::from(IpProtocol::Icmpv6) {
        return Err(ProtoError::UnsupportedNextHeader(nh));
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if src.is_multicast() {
        return Err(ProtoError::BadSenderAddress(IpAddr::V6(src)));
    }
    let icmp = ip.payload();
    if icmp.len() < 8 {
        return Err(ProtoError::truncated(Layer::Icmpv6, icmp.len(), 8));
    }
    if csum == L4Checksum::Verify && !Icmpv6Packet::new_unchecked(icmp).verify_checksum(&src, &dst)
    {
        return Err(ProtoError::BadChecksum(Layer::Icmpv6));
    }
    let hop_limit = ip.hop_limit();
    Ok((
        Ip6 {
            src,
            dst,
            hop_limit,
        },
        icmp,
    ))
}

/// Validate an NS/NA (the ICMPv6 part, checksum already verified), in
/// `ndisc_rcv`'s order: type, hop limit, code, length, target, options.
fn parse_icmp(ip: &Ip6, icmp: &[u8]) -> Result<NdPacket, ProtoError> {
    let (src, dst) = (ip.src, ip.dst);
    let v = Icmpv6Packet::new_unchecked(icmp);
    let ty = u8::from(v.msg_type());
    if ty != 135 && ty != 136 {
        return Err(ProtoError::NotNeighborDiscovery(ty));
    }
    if ip.hop_limit != 255 {
        return Err(ProtoError::BadHopLimit(ip.hop_limit));
    }
    if v.msg_code() != 0 {
        return Err(ProtoError::BadIcmpCode(v.msg_code()));
    }
    if icmp.len() < FIXED_LEN {
        return Err(ProtoError::truncated(Layer::Icmpv6, icmp.len(), FIXED_LEN));
    }
    let target = v.target_addr();
    if target.is_multicast() {
        return Err(ProtoError::BadTargetAddress(IpAddr::V6(target)));
    }
    let (sllao, tllao) = parse_options(&icmp[FIXED_LEN..])?;
    let msg = if v.msg_type() == Icmpv6Message::NeighborSolicit {
        let dad = src.is_unspecified();
        // RFC 4861 7.1.1: DAD goes to the solicited-node group, without SLLAO.
        if dad && (!eth::is_solicited_node(&dst) || sllao.is_some()) {
            return Err(ProtoError::BadDadSolicitation);
        }
        NdMsg::Solicit { target, sllao }
    } else {
        let f = v.neighbor_flags();
        let solicited = f.contains(NdiscNeighborFlags::SOLICITED);
        if solicited && dst.is_multicast() {
            return Err(ProtoError::SolicitedNaToMulticast);
        }
        NdMsg::Advert {
            target,
            router: f.contains(NdiscNeighborFlags::ROUTER),
            solicited,
            override_: f.contains(NdiscNeighborFlags::OVERRIDE),
            tllao,
        }
    };
    Ok(NdPacket { src, dst, msg })
}

/// `ndisc_parse_options` + `ndisc_opt_addr_data` for Ethernet: returns the
/// first source and target link-layer address options.
fn parse_options(mut opts: &[u8]) -> Result<(Option<Mac>, Option<Mac>), ProtoError> {
    let (mut sllao, mut tllao) = (None, None);
    while !opts.is_empty() {
        if opts.len() < 2 {
            return Err(ProtoError::truncated(Layer::NdOption, opts.len(), 2));
        }
        let (kind, len) = (opts[0], opts[1]);
        let bytes = usize::from(len) * 8;
        if len == 0 || bytes > opts.len() {
            return Err(ProtoError::BadNdOption { kind, len });
        }
        if kind == OPT_SLLAO || kind == OPT_TLLAO {
            if len != 1 {
                return Err(ProtoError::LinkLayerOptionLength { kind, len });
            }
            let mac: Mac = opts[2..8].try_into().expect("8-byte option");
            if !eth::is_unicast(&mac) {
                return Err(ProtoError::BadLinkLayerAddress(mac));
            }
            let slot = if kind == OPT_SLLAO {
                &mut sllao
            } else {
                &mut tllao
            };
            // Duplicates: the kernel keeps the first and ignores the rest.
            slot.get_or_insert(mac);
        }
        opts = &opts[bytes..];
    }
    Ok((sllao, tllao))
}

/// Receive one NS/NA frame (Ethernet header included) on `iface`: validate
/// it, apply `ndisc_recv_ns`/`ndisc_recv_na` to `table`, and return what
/// happened and the NA to send, if any. A refused frame is counted in
/// `stats` and never touches the table. `csum` says whether the ICMPv6
/// checksum is to be verified.
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
    let rx = stats.track(process(table, iface, policy, proxy, frame, csum))?;
    if !redo {
        stats.inc(Counter::RxNdisc);
    }
    Ok(rx)
}

/// `ndisc_send_na` from our address for `dst`, or nothing if we have none
/// (`ipv6_dev_get_saddr` failed): the NA a proxy sends.
fn proxy_na(
    iface: &Iface,
    target: Ipv6Addr,
    dst: Ipv6Addr,
    router: bool,
    solicited: bool,
    with_tllao: bool,
) -> Option<Vec<u8>> {
    let src = iface.ipv6_source_for(dst)?;
    Some(na_packet_from(
        iface, src, target, dst, router, solicited, false, with_tllao,
    ))
}

fn process<O: NeighOps<Ipv6Addr>>(
    table: &NeighTable<Ipv6Addr, O>,
    iface: &Iface,
    policy: &Policy,
    proxy: Option<ProxyCtx<'_>>,
    frame: &[u8],
    csum: L4Checksum,
) -> Result<NdRx, ProtoError> {
    let (_, pkt_type, p) = parse_with(frame, iface, csum)?;
    let mut rx = NdRx {
        packet: p,
        pkt_type,
        cache: CacheAction::Untouched(Untouched::NoEntry),
        reply: None,
        proxy: None,
    };
    let dev = iface.dev;
    match p.msg {
        NdMsg::Solicit { target, sllao } => {
            let inc = p.dst.is_multicast();
            // `Some(router flag)`: an NS for an address we proxy.
            let mut proxied = None;
            if !iface.owns_v6(target) {
                let entry = proxy
                    .filter(|_| policy.forwarding && policy.proxy_ndp)
                    .and_then(|c| Some((c, c.proxy.lookup(IpAddr::V6(target), dev)?)));
                let Some((ctx, e)) = entry else {
                    return Err(ProtoError::NotOurAddress(IpAddr::V6(target)));
                };
                let delay = ctx.proxy.parms(dev).map_or(0, |d| d.delay);
                if !ctx.redo && pkt_type != PacketType::Host && inc && delay != 0 {
                    rx.cache = CacheAction::Untouched(Untouched::ProxyQueued);
                    rx.proxy = Some(ctx.proxy.enqueue(dev, frame, ctx.now));
                    return Ok(rx);
                }
                proxied = Some(e.router);
            }
            if p.src.is_unspecified() {
                rx.cache = CacheAction::Untouched(Untouched::DadProbe);
                let packet = match proxied {
                    Some(r) => proxy_na(iface, target, ALL_NODES, r, false, true),
                    None => Some(na_packet(
                        iface,
                        target,
                        ALL_NODES,
                        policy.forwarding,
                        false,
                        true,
                        true,
                    )),
                };
                rx.reply = packet.map(|packet| NaReply {
                    dst: ALL_NODES,
                    packet,
                    eth_dst: Some(eth::ipv6_multicast_mac(&ALL_NODES)),
                });
                rx.proxy = proxied.and(rx.reply.as_ref()).map(|_| Proxied::Answered);
                return Ok(rx);
            }
            if iface.owns_v6(p.src) {
                return Err(ProtoError::DuplicateAddress(IpAddr::V6(p.src)));
            }
            let entry = if !inc || sllao.is_some() {
                table.lookup_or_create(p.src, dev).map(Some)
            } else {
                Ok(table.lookup(p.src, dev))
            };
            match entry {
                Ok(Some(n)) => {
                    let flags = UpdateFlags::WEAK_OVERRIDE | UpdateFlags::OVERRIDE;
                    let lladdr = sllao.as_ref().map(|m| &m[..]);
                    let result = table.update(&n, lladdr, NudState::STALE, flags);
                    rx.cache = CacheAction::Updated {
                        state: NudState::STALE,
                        flags: Some(flags),
                        created: false,
                        result,
                    };
                    let packet = match proxied {
                        Some(r) => proxy_na(iface, target, p.src, r, true, inc),
                        None => Some(na_packet(
                            iface,
                            target,
                            p.src,
                            policy.forwarding,
                            true,
                            inc,
                            inc,
                        )),
                    };
                    rx.reply = packet.map(|packet| NaReply {
                        dst: p.src,
                        packet,
                        eth_dst: None,
                    });
                }
                Ok(None) => rx.cache = CacheAction::Untouched(Untouched::NoSourceLladdr),
                Err(e) => rx.cache = CacheAction::Refused(e),
            }
            rx.proxy = proxied.and(rx.reply.as_ref()).map(|_| Proxied::Answered);
        }
        NdMsg::Advert {
            target,
            router,
            solicited,
            override_,
            tllao,
        } => {
            if !solicited && policy.drop_unsolicited_na {
                return Err(ProtoError::UnsolicitedNaDropped);
            }
            if iface.owns_v6(target) {
                return Err(ProtoError::DuplicateAddress(IpAddr::V6(target)));
            }
            let mut state = if solicited {
                NudState::REACHABLE
            } else {
                NudState::STALE
            };
            let mut created = false;
            let n = match table.lookup(target, dev) {
                Some(n) => n,
                None if tllao.is_some()
                    && policy.forwarding
                    && policy.untracked_na_allows(iface, p.src) =>
                {
                    state = NudState::STALE;
                    created = true;
                    match table.lookup_or_create(target, dev) {
                        Ok(n) => n,
                        Err(e) => {
                            rx.cache = CacheAction::Refused(e);
                            return Ok(rx);
                        }
                    }
                }
                None => return Err(ProtoError::UntrackedAdvertisement(target)),
            };
            if n.state() == NudState::FAILED {
                rx.cache = CacheAction::Untouched(Untouched::FailedEntry);
                return Ok(rx);
            }
            let mut flags = UpdateFlags::WEAK_OVERRIDE | UpdateFlags::OVERRIDE_ISROUTER;
            if override_ {
                flags = flags | UpdateFlags::OVERRIDE;
            }
            if router {
                flags = flags | UpdateFlags::ISROUTER;
            }
            let result = table.update(&n, tllao.as_ref().map(|m| &m[..]), state, flags);
            rx.cache = CacheAction::Updated {
                state,
                flags: Some(flags),
                created,
                result,
            };
        }
    }
    Ok(rx)
}

fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, icmp: &Icmpv6Repr<'_>) -> Vec<u8> {
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit: 255,
    };
    let mut buf = vec![0u8; ip.buffer_len() + icmp.buffer_len()];
    let mut pkt = Ipv6Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut pkt);
    icmp.emit(
        &src,
        &dst,
        &mut Icmpv6Packet::new_unchecked(pkt.payload_mut()),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// `ndisc_send_na`: an NA for our `target` to `dst` (IPv6 packet, hop
/// limit 255, checksum filled). `with_tllao` adds our MAC.
pub fn na_packet(
    iface: &Iface,
    target: Ipv6Addr,
    dst: Ipv6Addr,
    router: bool,
    solicited: bool,
    override_: bool,
    with_tllao: bool,
) -> Vec<u8> {
    na_packet_from(
        iface, target, target, dst, router, solicited, override_, with_tllao,
    )
}

/// [`na_packet`] from the IPv6 source `src`: a proxy's NA for `target`
/// comes from the proxy's own address.
#[allow(clippy::too_many_arguments)] // one per NA field, as ndisc_send_na
pub fn na_packet_from(
    iface: &Iface,
    src: Ipv6Addr,
    target: Ipv6Addr,
    dst: Ipv6Addr,
    router: bool,
    solicited: bool,
    override_: bool,
    with_tllao: bool,
) -> Vec<u8> {
    let mut flags = NdiscNeighborFlags::empty();
    flags.set(NdiscNeighborFlags::ROUTER, router);
    flags.set(NdiscNeighborFlags::SOLICITED, solicited);
    flags.set(NdiscNeighborFlags::OVERRIDE, override_);
    let repr = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
        flags,
        target_addr: target,
        lladdr: with_tllao.then(|| RawHardwareAddress::from_bytes(&iface.mac)),
    });
    ipv6_packet(src, dst, &repr)
}

/// `ndisc_ns_create`: an NS for `target` from `src` to `dst`, with our MAC
/// as source link-layer address option (none from `::`).
pub fn ns_packet(iface: &Iface, src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let repr = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
        target_addr: target,
        lladdr: (!src.is_unspecified()).then(|| RawHardwareAddress::from_bytes(&iface.mac)),
    });
    ipv6_packet(src, dst, &repr)
}

/// `ndisc_solicit`: the NS the cache asks for with [`NeighOps::solicit`].
/// Multicast probes go to the target's solicited-node group (33:33:ff:..),
/// unicast probes to the target address at the cached MAC. `Probe::App`
/// has no frame (`None`), nor does an interface without an IPv6 source.
pub fn solicit_frame(iface: &Iface, target: Ipv6Addr, probe: Probe) -> Option<Vec<u8>> {
    let src = iface.ipv6_source()?;
    let (dst_ip, dst_mac): (Ipv6Addr, Mac) = match probe {
        Probe::Multicast => {
            let sn = eth::solicited_node(&target);
            (sn, eth::ipv6_multicast_mac(&sn))
        }
        Probe::Unicast(ll) => (target, ll.as_bytes().try_into().ok()?),
        Probe::App => return None,
    };
    let pkt = ns_packet(iface, src, dst_ip, target);
    Some(eth::build(
        dst_mac,
        iface.mac,
        ETHERTYPE_IPV6,
        pkt.len(),
        |b| b.copy_from_slice(&pkt),
    ))
}

/// An unsolicited NA (S=0, O=1, with our MAC) to all-nodes for our IPv6
/// address (what `ndisc_send_unsol_na` sends on `ndisc_notify`).
pub fn announce_frame(iface: &Iface, router: bool) -> Option<Vec<u8>> {
    let ip = iface.ipv6?.addr;
    let pkt = na_packet(iface, ip, ALL_NODES, router, false, true, true);
    Some(eth::build(
        eth::ipv6_multicast_mac(&ALL_NODES),
        iface.mac,
        ETHERTYPE_IPV6,
        pkt.len(),
        |b| b.copy_from_slice(&pkt),
    ))
}
