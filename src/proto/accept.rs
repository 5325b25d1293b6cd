//! What this host accepts from the wire: the one place that decides, for
//! every received IPv4 and IPv6 packet, whether a host with this
//! interface's addresses takes it in, before ARP, ND or the echo responder
//! see it. The rules are those of Linux 6.x's IP layer on a host:
//!
//! * IPv6 (`ip6_rcv_core`, `ip6_input`, `ip6_mc_input`,
//!   `ip6_forward_proxy_check`, `ipv6_parse_hopopts`): a loopback source or
//!   destination is dropped (RFC 4291 §2.5.3); a multicast destination of
//!   scope 1 (interface-local, RFC 4291 errata 3480) or of the reserved
//!   scope 0 (§2.7) is dropped; a multicast source is dropped (§2.7); the
//!   destination must be one of our unicast addresses, a group we joined
//!   (all-nodes, the solicited-node groups of our addresses, all-routers
//!   when forwarding, those of proxied addresses), or — for ND only, with
//!   `forwarding` and `proxy_ndp`, in a frame to our MAC (`ip6_forward`
//!   drops others) — an address we proxy; a hop-by-hop
//!   header is processed only first, destination options are skipped, and
//!   so is a routing header with no segment left in a unicast packet to our
//!   MAC (`ipv6_rthdr_rcv`; segment routing, RPL and Mobile IPv6 headers
//!   are dropped, as with their sysctls off); options whose type says
//!   "discard" are refused (RFC 8200 §4.2), and so are, in a hop-by-hop
//!   header, a router alert not 2 bytes long, any CALIPSO option (no
//!   CALIPSO domain here) and an IOAM option not 4n-aligned.
//! * IPv4 (`ip_rcv_core`, `ip_route_input_slow`, `fib_validate_source`
//!   with `rp_filter` 0, `ip_check_mc_rcu`): header length, version,
//!   checksum; a multicast, limited-broadcast, 0.0.0.0 or loopback source
//!   is a martian (the rest of `0.0.0.0/8` is unicast since Linux 5.3); so
//!   is one of our own addresses; the destination
//!   must be ours, the limited or our subnet's broadcast, or all-hosts
//!   (224.0.0.1); then the options (`ip_options_compile`,
//!   `ip_rcv_options`): malformed ones, CIPSO and source routes are
//!   dropped (Linux sends a Parameter Problem for the malformed ones; this
//!   layer sends no ICMP errors).
//!
//! Where this layer is stricter than Linux, on purpose (each is a counted
//! refusal, and SPEC.md §18 lists it):
//!
//! * an IPv4 source equal to our subnet's broadcast address is refused
//!   (RFC 1122 §3.2.1.3; Linux with `rp_filter` 0 accepts it);
//! * an IPv6 source that is one of our addresses is refused as a duplicate
//!   (Linux's IP layer does not check);
//! * `::` as an IPv6 source is accepted only for ICMPv6 Neighbor Discovery
//!   and MLD (RFC 4861 §7.1.1, RFC 3590), where the RFCs allow it;
//! * no anycast address is ours: a Linux router (`forwarding`) also
//!   accepts its prefixes' subnet-router anycast addresses (RFC 4291
//!   §2.6.1) and their solicited-node groups, and answers for them;
//! * fragments are not reassembled: a fragment is accepted as such
//!   ([`FRAGMENT`]) and never handed to ND (Linux drops fragmented ND too,
//!   `suppress_frag_ndisc`) nor answered.
//!
//! ```
//! use neighcache::proto::accept::{self, Delivery};
//! use neighcache::proto::{ip, Iface, PacketType, Policy, ProtoError};
//! use neighcache::DevId;
//!
//! let me = Iface::new(DevId(1), "eth0", [2, 0, 0, 0, 0, 1]).with_ipv6("2001:db8::1".parse()?, 64);
//! let policy = Policy::default();
//! let ping = ip::echo("2001:db8::2".parse()?, "2001:db8::1".parse()?, 7, 1, b"", false);
//! let rx = accept::ipv6(&me, &policy, None, PacketType::Host, &ping)?;
//! assert_eq!(rx.delivery, Delivery::Local);
//! // The same from ::1 never came from the wire (RFC 4291 2.5.3).
//! let spoofed = ip::echo("::1".parse()?, "2001:db8::1".parse()?, 7, 1, b"", false);
//! let r = accept::ipv6(&me, &policy, None, PacketType::Host, &spoofed);
//! assert!(matches!(r, Err(ProtoError::Loopback(_))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This module owns the decision only: it reads headers, never a
//! neighbour table, and builds nothing.

use super::error::{Layer, ProtoError};
use super::eth::{self, PacketType};
use super::iface::{Iface, Policy};
use super::proxy::Proxy;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv6 next header: hop-by-hop options.
pub const HOP_BY_HOP: u8 = 0;
/// IPv6 next header: routing header.
pub const ROUTING: u8 = 43;
/// IPv6 next header: fragment header. [`Ipv6Rx::protocol`] is this value
/// for a fragment, whose payload is not an upper-layer header.
pub const FRAGMENT: u8 = 44;
/// IPv6 next header: destination options.
pub const DEST_OPTS: u8 = 60;
/// IP protocol ICMPv6.
pub const ICMPV6: u8 = 58;
/// How many non-padding options one options header may carry
/// (`max_hbh_opts_cnt`, `max_dst_opts_cnt`: 8).
pub const MAX_OPTIONS: usize = 8;

/// How an accepted packet was addressed to this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// To one of our unicast addresses.
    Local,
    /// To an address we proxy: Neighbor Discovery only, with `forwarding`
    /// and `proxy_ndp` (`ip6_forward_proxy_check` hands it to input).
    Proxied,
    /// To a multicast group this host has joined.
    Multicast,
    /// IPv4: to the limited broadcast or our subnet's broadcast address.
    Broadcast,
}

/// An IPv6 packet this host accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Rx<'a> {
    /// Source.
    pub src: Ipv6Addr,
    /// Destination.
    pub dst: Ipv6Addr,
    /// Hop limit (ND needs 255).
    pub hop_limit: u8,
    /// The upper-layer protocol after the extension headers ([`FRAGMENT`]
    /// for a fragment).
    pub protocol: u8,
    /// The upper-layer bytes (the packet's trailing padding cut off).
    pub payload: &'a [u8],
    /// How it was addressed to us.
    pub delivery: Delivery,
}

/// An IPv4 packet this host accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Rx<'a> {
    /// Source.
    pub src: Ipv4Addr,
    /// Destination.
    pub dst: Ipv4Addr,
    /// IP protocol.
    pub protocol: u8,
    /// A fragment (not reassembled here).
    pub fragment: bool,
    /// The payload (after the header and its options, trailing padding
    /// cut off).
    pub payload: &'a [u8],
    /// How it was addressed to us.
    pub delivery: Delivery,
}

/// Is `ip` link-local unicast (fe80::/10)?
pub fn is_link_local(ip: &Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// The scope of a multicast address (RFC 4291 §2.7).
fn mc_scope(ip: &Ipv6Addr) -> u8 {
    ip.octets()[1] & 0x0f
}

/// ICMPv6 types that may come from `::`: MLD (130-132, 143; RFC 3590)
/// and Neighbor Discovery (133-137; RFC 4861 §6.1.1, §7.1.1).
fn may_come_from_unspecified(icmp_type: u8) -> bool {
    matches!(icmp_type, 130..=137 | 143)
}

/// Is this ICMPv6 type Neighbor Discovery (RS, RA, NS, NA, Redirect)?
pub fn is_nd_type(icmp_type: u8) -> bool {
    matches!(icmp_type, 133..=137)
}

/// Decide whether this host accepts the IPv6 `packet` (after the Ethernet
/// header), received as `pkt_type`. `proxy` is consulted for the groups
/// and addresses we answer for (`None`: no proxying).
pub fn ipv6<'a>(
    iface: &Iface,
    policy: &Policy,
    proxy: Option<&Proxy>,
    pkt_type: PacketType,
    packet: &'a [u8],
) -> Result<Ipv6Rx<'a>, ProtoError> {
    if packet.len() < 40 {
        return Err(ProtoError::truncated(Layer::Ipv6, packet.len(), 40));
    }
    if packet[0] >> 4 != 6 {
        return Err(ProtoError::BadIpHeader("IPv6 version field is not 6"));
    }
    let plen = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    if packet.len() < 40 + plen {
        return Err(ProtoError::truncated(Layer::Ipv6, packet.len(), 40 + plen));
    }
    let addr = |at: usize| {
        let mut o = [0u8; 16];
        o.copy_from_slice(&packet[at..at + 16]);
        Ipv6Addr::from(o)
    };
    let (src, dst) = (addr(8), addr(24));
    // ip6_rcv_core, in its order.
    for a in [src, dst] {
        if a.is_loopback() {
            return Err(ProtoError::Loopback(IpAddr::V6(a)));
        }
    }
    if dst.is_multicast() && mc_scope(&dst) <= 1 {
        return Err(ProtoError::MulticastScope(dst));
    }
    if src.is_multicast() {
        return Err(ProtoError::BadSenderAddress(IpAddr::V6(src)));
    }
    // ipv6_rthdr_rcv: a routing header only in a unicast frame to us.
    let routable = !dst.is_multicast() && pkt_type == PacketType::Host;
    let (protocol, payload) = extension_headers(packet[6], &packet[40..40 + plen], routable)?;
    let icmp_type = (protocol == ICMPV6)
        .then(|| payload.first().copied())
        .flatten();
    let delivery = destination_v6(iface, policy, proxy, dst, icmp_type, pkt_type)?;
    // Our additions: sources that cannot be another host's.
    if src.is_unspecified() && !icmp_type.is_some_and(may_come_from_unspecified) {
        return Err(ProtoError::BadSenderAddress(IpAddr::V6(src)));
    }
    if iface.owns_v6(src) {
        return Err(ProtoError::DuplicateAddress(IpAddr::V6(src)));
    }
    Ok(Ipv6Rx {
        src,
        dst,
        hop_limit: packet[7],
        protocol,
        payload,
        delivery,
    })
}

/// `ip6_input` / `ip6_mc_input` / `ip6_forward_proxy_check`: is `dst` for
/// this host?
fn destination_v6(
    iface: &Iface,
    policy: &Policy,
    proxy: Option<&Proxy>,
    dst: Ipv6Addr,
    icmp_type: Option<u8>,
    pkt_type: PacketType,
) -> Result<Delivery, ProtoError> {
    let refuse = Err(ProtoError::NotOurDestination(IpAddr::V6(dst)));
    let proxying = policy.forwarding && policy.proxy_ndp;
    if dst.is_multicast() {
        let ours = [iface.ipv6.map(|a| a.addr), iface.link_local_addr()];
        let joined = dst == super::ndisc::ALL_NODES
            || (policy.forwarding && (dst == ALL_ROUTERS || dst == SITE_ROUTERS))
            || ours.iter().flatten().any(|a| eth::solicited_node(a) == dst)
            || (eth::is_solicited_node(&dst)
                && proxy.is_some_and(|p| p.joins_solicited_node(dst, iface.dev)));
        return if joined {
            Ok(Delivery::Multicast)
        } else {
            refuse
        };
    }
    if iface.owns_v6(dst) {
        return Ok(Delivery::Local);
    }
    // ip6_forward: a frame not to our MAC is dropped before anything
    // else; then, with proxy_ndp, ND for a proxied address (link-local
    // ones too: ip6_forward_proxy_check hands ND to input before its
    // link-local check) is handed to input.
    let nd = icmp_type.is_some_and(is_nd_type);
    if nd
        && proxying
        && pkt_type == PacketType::Host
        && proxy.is_some_and(|p| p.lookup(IpAddr::V6(dst), iface.dev).is_some())
    {
        return Ok(Delivery::Proxied);
    }
    refuse
}

/// All-routers, link-local scope (ff02::2).
const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// All-routers, site-local scope (ff05::2).
const SITE_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 2);

/// Walk the extension headers from `next` over `body`: returns the
/// upper-layer protocol and its bytes. `routable`: a routing header may
/// be looked at (unicast to us).
fn extension_headers(
    mut next: u8,
    mut body: &[u8],
    routable: bool,
) -> Result<(u8, &[u8]), ProtoError> {
    let mut first = true;
    loop {
        match next {
            HOP_BY_HOP | DEST_OPTS | ROUTING => {
                if next == HOP_BY_HOP && !first {
                    // Only first (RFC 8200 §4.1); ip6_input_finish sends a
                    // parameter problem.
                    return Err(ProtoError::BadExtensionHeader(next));
                }
                if body.len() < 8 {
                    return Err(ProtoError::truncated(Layer::Ipv6Extension, body.len(), 8));
                }
                let len = (usize::from(body[1]) + 1) * 8;
                if body.len() < len {
                    return Err(ProtoError::truncated(Layer::Ipv6Extension, body.len(), len));
                }
                if next == ROUTING {
                    // ipv6_rthdr_rcv: segment routing (4), RPL (3) and
                    // Mobile IPv6 (2) headers are dropped (seg6_enabled,
                    // rpl_seg_enabled off; a type 2 we did not process);
                    // another with nothing left to route is skipped.
                    let (kind, left) = (body[2], body[3]);
                    if !routable || matches!(kind, 2..=4) || left != 0 {
                        return Err(ProtoError::BadExtensionHeader(next));
                    }
                } else {
                    options(next, &body[2..len])?;
                }
                next = body[0];
                body = &body[len..];
            }
            _ => return Ok((next, body)),
        }
        first = false;
    }
}

/// Hop-by-hop option: router alert (`ipv6_hop_ra`).
const OPT_ROUTER_ALERT: u8 = 5;
/// Hop-by-hop option: CALIPSO (RFC 5570, `ipv6_hop_calipso`).
const OPT_CALIPSO: u8 = 7;
/// Hop-by-hop option: IOAM (RFC 9486, `ipv6_hop_ioam`).
const OPT_IOAM: u8 = 0x31;

/// `ip6_parse_tlv` over one options header: padding of at most 7 zero
/// bytes in a row, at most [`MAX_OPTIONS`] other options, each unknown one
/// skipped only if its type's top two bits are 00 (RFC 8200 §4.2); a jumbo
/// payload never fits an Ethernet frame. In a hop-by-hop header, the
/// options Linux interprets: a router alert must be 2 bytes long; a
/// CALIPSO option is dropped (`calipso_validate` finds no CALIPSO domain:
/// none is configured on a host by default, and this layer has none); an
/// IOAM option must start 4n-aligned in the packet, and is otherwise
/// skipped (`ioam6_enabled` off).
fn options(header: u8, opts: &[u8]) -> Result<(), ProtoError> {
    let bad = Err(ProtoError::BadExtensionHeader(header));
    let hbh = header == HOP_BY_HOP;
    let (mut at, mut pad, mut count) = (0usize, 0usize, 0usize);
    while let Some(&kind) = opts.get(at) {
        if kind == 0 {
            // Pad1.
            pad += 1;
            if pad > 7 {
                return bad;
            }
            at += 1;
            continue;
        }
        let Some(&len) = opts.get(at + 1) else {
            return bad;
        };
        let end = at + 2 + usize::from(len);
        let Some(data) = opts.get(at + 2..end) else {
            return bad;
        };
        if kind == 1 {
            // PadN: zeros only (RFC 4942), with Pad1 at most 7 in a row.
            pad += 2 + usize::from(len);
            if pad > 7 || data.iter().any(|&b| b != 0) {
                return bad;
            }
        } else {
            pad = 0;
            count += 1;
            let refused = match kind {
                OPT_ROUTER_ALERT if hbh => len != 2,
                OPT_CALIPSO if hbh => true,
                // The hop-by-hop header is at offset 40 (first, always),
                // its options 2 bytes in: the option's offset in the
                // packet is 4n when `2 + at` is.
                OPT_IOAM if hbh => (2 + at) % 4 != 0,
                _ => kind >> 6 != 0,
            };
            if count > MAX_OPTIONS || refused {
                return bad;
            }
        }
        at = end;
    }
    Ok(())
}

/// May `ip` be the source of a packet to us, or an ARP sender
/// (`ip_route_input_slow`'s martian sources, `fib_validate_source`)? Not
/// multicast, not the limited or our subnet's broadcast, not 0.0.0.0
/// (the rest of `0.0.0.0/8` is unicast since Linux 5.3), not loopback
/// (without `route_localnet`); our own address is another host claiming
/// it. 0.0.0.0 is refused here: ARP handles its duplicate-address probes
/// before asking.
pub fn check_source_v4(iface: &Iface, ip: Ipv4Addr) -> Result<(), ProtoError> {
    let subnet_broadcast = iface.ipv4.and_then(|a| a.broadcast()) == Some(ip);
    if ip.is_loopback() {
        return Err(ProtoError::Loopback(IpAddr::V4(ip)));
    }
    if ip.is_multicast() || ip.is_broadcast() || subnet_broadcast || ip.is_unspecified() {
        return Err(ProtoError::BadSenderAddress(IpAddr::V4(ip)));
    }
    if iface.owns_v4(ip) {
        return Err(ProtoError::DuplicateAddress(IpAddr::V4(ip)));
    }
    Ok(())
}

/// All-hosts (224.0.0.1), the one IPv4 group a host always joins.
const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

/// Decide whether this host accepts the IPv4 `packet` (after the Ethernet
/// header): `ip_rcv_core`'s header checks, then `ip_route_input_slow`'s
/// for a host without routes beyond its subnet.
pub fn ipv4<'a>(iface: &Iface, packet: &'a [u8]) -> Result<Ipv4Rx<'a>, ProtoError> {
    if packet.len() < 20 {
        return Err(ProtoError::truncated(Layer::Ipv4, packet.len(), 20));
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    if packet[0] >> 4 != 4 || ihl < 20 {
        return Err(ProtoError::BadIpHeader("IPv4 version or IHL"));
    }
    if packet.len() < ihl {
        return Err(ProtoError::truncated(Layer::Ipv4, packet.len(), ihl));
    }
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if packet.len() < total {
        return Err(ProtoError::truncated(Layer::Ipv4, packet.len(), total));
    }
    if total < ihl {
        return Err(ProtoError::BadIpHeader(
            "IPv4 total length below the header",
        ));
    }
    if internet_checksum(&packet[..ihl]) != 0 {
        return Err(ProtoError::BadChecksum(Layer::Ipv4));
    }
    let addr =
        |at: usize| Ipv4Addr::new(packet[at], packet[at + 1], packet[at + 2], packet[at + 3]);
    let (src, dst) = (addr(12), addr(16));
    let delivery = destination_v4(iface, src, dst)?;
    // ip_rcv_finish_core: the options after the route (ip_rcv_options).
    options_v4(&packet[20..ihl])?;
    let flags_frag = u16::from_be_bytes([packet[6], packet[7]]);
    Ok(Ipv4Rx {
        src,
        dst,
        protocol: packet[9],
        fragment: flags_frag & 0x3fff != 0,
        payload: &packet[ihl..total],
        delivery,
    })
}

/// `ip_route_input_slow` / `ip_route_input_mc` for a host without routes
/// beyond its subnet: is `dst` for us, and may `src` send to it?
fn destination_v4(iface: &Iface, src: Ipv4Addr, dst: Ipv4Addr) -> Result<Delivery, ProtoError> {
    // A limited broadcast (also from 0.0.0.0, DHCP).
    if dst.is_broadcast() && (src.is_unspecified() || check_source_v4(iface, src).is_ok()) {
        return Ok(Delivery::Broadcast);
    }
    if dst.is_multicast() {
        if dst != ALL_HOSTS {
            return Err(ProtoError::NotOurDestination(IpAddr::V4(dst)));
        }
        // ip_route_input_mc: 0.0.0.0 only to link-local groups (all-hosts is one).
        if !src.is_unspecified() {
            check_source_v4(iface, src)?;
        }
        return Ok(Delivery::Multicast);
    }
    check_source_v4(iface, src)?;
    if dst.is_loopback() {
        return Err(ProtoError::Loopback(IpAddr::V4(dst)));
    }
    if iface.owns_v4(dst) {
        return Ok(Delivery::Local);
    }
    if dst.is_broadcast() || iface.ipv4.and_then(|a| a.broadcast()) == Some(dst) {
        return Ok(Delivery::Broadcast);
    }
    Err(ProtoError::NotOurDestination(IpAddr::V4(dst)))
}

/// IPv4 option types `ip_options_compile` checks (RFC 791, 1108, 2113).
const IPOPT_END: u8 = 0;
const IPOPT_NOOP: u8 = 1;
const IPOPT_RR: u8 = 7;
const IPOPT_TIMESTAMP: u8 = 68;
const IPOPT_LSRR: u8 = 131;
const IPOPT_CIPSO: u8 = 134;
const IPOPT_SSRR: u8 = 137;
const IPOPT_RA: u8 = 148;
/// Timestamp flags with an address per entry (`IPOPT_TS_TSANDADDR`,
/// `IPOPT_TS_PRESPEC`).
const TS_TSANDADDR: u8 = 1;
const TS_PRESPEC: u8 = 3;

/// `ip_options_compile` over a received packet's options, then
/// `ip_rcv_options`'s source-route rule: each option framed (a length of
/// at least 2 within the header), record-route and timestamp pointers
/// within their option and each of them, like a source route, at most once;
/// a router alert at least 4 bytes; a CIPSO option dropped
/// (`cipso_v4_validate` finds no CIPSO domain: none is configured on a
/// host by default, and this layer has none); a timestamp whose overflow
/// counter is full dropped; a source route (loose or strict) dropped,
/// `accept_source_route` being off. Other options are skipped. Linux
/// answers the malformed ones with a Parameter Problem; this layer sends no
/// ICMP errors.
fn options_v4(mut opts: &[u8]) -> Result<(), ProtoError> {
    let bad = |why| Err(ProtoError::BadIpHeader(why));
    let (mut srr, mut rr, mut ts) = (false, false, false);
    while let Some(&kind) = opts.first() {
        match kind {
            IPOPT_END => break,
            IPOPT_NOOP => {
                opts = &opts[1..];
                continue;
            }
            _ => {}
        }
        let len = usize::from(opts.get(1).copied().unwrap_or(0));
        let Some(opt) = opts.get(..len).filter(|_| len >= 2) else {
            return bad("IPv4 option length");
        };
        // The pointer and the flags, where the option is long enough.
        let ptr = opt.get(2).map_or(0, |&p| usize::from(p));
        let flags = opt.get(3).copied().unwrap_or(0);
        // `mem::replace`: a source route, a record route, a timestamp:
        // each at most once.
        let ok = match kind {
            IPOPT_LSRR | IPOPT_SSRR => !std::mem::replace(&mut srr, true) && len >= 3 && ptr >= 4,
            IPOPT_RR => {
                !std::mem::replace(&mut rr, true)
                    && len >= 3
                    && ptr >= 4
                    && (ptr > len || ptr + 3 <= len)
            }
            IPOPT_TIMESTAMP => {
                let entry = match flags & 0x0f {
                    TS_TSANDADDR | TS_PRESPEC => 8,
                    _ => 4,
                };
                let in_option = ptr + entry - 1 <= len;
                let overflow_full = flags & 0x0f != TS_PRESPEC && flags >> 4 == 15;
                !std::mem::replace(&mut ts, true)
                    && len >= 4
                    && ptr >= 5
                    && if ptr <= len {
                        in_option
                    } else {
                        !overflow_full
                    }
            }
            IPOPT_RA => len >= 4,
            IPOPT_CIPSO => false,
            _ => true,
        };
        if !ok {
            return bad("IPv4 option malformed, repeated or not accepted (CIPSO)");
        }
        opts = &opts[len..];
    }
    if srr {
        return bad("IPv4 source route (accept_source_route off)");
    }
    Ok(())
}

/// The Internet checksum of `data` (RFC 1071): 0 when a header carrying
/// its own checksum is intact.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .fold(0u32, |a, w| a.wrapping_add(w));
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
#[path = "accept_tests.rs"]
mod tests;
