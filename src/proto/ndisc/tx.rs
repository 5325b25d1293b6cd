//! The Neighbor Discovery packets a host sends: `ndisc_send_na` (answers,
//! proxy answers), `ndisc_ns_create` / `ndisc_solicit` (the solicitations
//! the cache asks for) and `ndisc_send_unsol_na` (announcements). IPv6
//! packets have hop limit 255 and a filled checksum; frames add the
//! Ethernet header.
//!
//! This module owns building only; when to send is the receive rules' and
//! the cache's business.

use super::ALL_NODES;
use crate::proto::eth::{self, Mac, ETHERTYPE_IPV6};
use crate::proto::iface::Iface;
use crate::Probe;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, Ipv6Repr, NdiscNeighborFlags, NdiscRepr,
    RawHardwareAddress,
};
use std::net::Ipv6Addr;

/// `ndisc_send_na` from our address for `dst`, or nothing if we have none
/// (`ipv6_dev_get_saddr` failed): the NA a proxy sends.
pub(super) fn proxy_na(
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

/// `ndisc_solicit`: the NS the cache asks for with [`NeighOps::solicit`](crate::NeighOps::solicit).
/// Multicast probes go to the target's solicited-node group (33:33:ff:..),
/// unicast probes to the target address at the cached MAC. `Probe::App`
/// has no frame (`None`), nor does an interface without an IPv6 source.
pub fn solicit_frame(iface: &Iface, target: Ipv6Addr, probe: Probe) -> Option<Vec<u8>> {
    // ndisc_solicit: the queued packet's source, which for a link-local
    // target is our link-local address (`ipv6_dev_get_saddr`).
    let src = iface.ipv6_source_for(target)?;
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
