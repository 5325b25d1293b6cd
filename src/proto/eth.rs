//! Ethernet II framing: parsing the header, classifying a frame's
//! destination as the kernel's `skb->pkt_type` does (`eth_type_trans`),
//! building frames, and the IPv6 multicast address mappings ND needs.
//!
//! This module owns link-layer details only; it knows nothing of ARP or ND
//! semantics.

use super::error::{Layer, ProtoError};
use smoltcp::wire::{EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr};
use std::net::Ipv6Addr;

/// A 48-bit Ethernet MAC address.
pub type Mac = [u8; 6];

/// The Ethernet broadcast address.
pub const BROADCAST: Mac = [0xff; 6];
/// Ethernet header length.
pub const HEADER_LEN: usize = 14;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// How a frame was addressed relative to us (`sll_pkttype`, as
/// `eth_type_trans` sets it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketType {
    /// To our MAC (`PACKET_HOST`).
    Host,
    /// To ff:ff:ff:ff:ff:ff (`PACKET_BROADCAST`).
    Broadcast,
    /// To a multicast MAC (`PACKET_MULTICAST`).
    Multicast,
    /// To someone else's MAC (`PACKET_OTHERHOST`).
    OtherHost,
}

/// Classify a destination MAC for a host whose MAC is `ours`.
pub fn classify(dst: &Mac, ours: &Mac) -> PacketType {
    if dst == ours {
        PacketType::Host
    } else if *dst == BROADCAST {
        PacketType::Broadcast
    } else if dst[0] & 1 == 1 {
        PacketType::Multicast
    } else {
        PacketType::OtherHost
    }
}

/// Can `mac` be a neighbour's address (unicast and not all-zero)?
pub fn is_unicast(mac: &Mac) -> bool {
    mac[0] & 1 == 0 && *mac != [0; 6]
}

/// The parsed Ethernet header of a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthHeader {
    /// Destination MAC.
    pub dst: Mac,
    /// Source MAC.
    pub src: Mac,
    /// EtherType.
    pub ethertype: u16,
}

/// Parse the Ethernet header of `frame`; returns it and the payload.
pub fn parse(frame: &[u8]) -> Result<(EthHeader, &[u8]), ProtoError> {
    let f = EthernetFrame::new_checked(frame)
        .map_err(|_| ProtoError::truncated(Layer::Ethernet, frame.len(), HEADER_LEN))?;
    let h = EthHeader {
        dst: mac_of(f.dst_addr()),
        src: mac_of(f.src_addr()),
        ethertype: u16::from(f.ethertype()),
    };
    Ok((h, &frame[HEADER_LEN..]))
}

/// Parse and check the header of a frame received by the host whose MAC is
/// `ours`: frames for other hosts and frames from our own MAC are refused.
pub fn parse_for<'a>(
    frame: &'a [u8],
    ours: &Mac,
) -> Result<(EthHeader, PacketType, &'a [u8]), ProtoError> {
    let (h, payload) = parse(frame)?;
    let pt = classify(&h.dst, ours);
    if pt == PacketType::OtherHost {
        return Err(ProtoError::OtherHost);
    }
    if h.src == *ours {
        return Err(ProtoError::OwnSourceMac);
    }
    Ok((h, pt, payload))
}

/// A frame to `dst` from `src` carrying `ethertype`, whose payload of
/// `payload_len` bytes `fill` writes.
pub fn build(
    dst: Mac,
    src: Mac,
    ethertype: u16,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let mut buf = vec![0u8; HEADER_LEN + payload_len];
    let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src_addr: EthernetAddress(src),
        dst_addr: EthernetAddress(dst),
        ethertype: EthernetProtocol::from(ethertype),
    }
    .emit(&mut f);
    fill(f.payload_mut());
    buf
}

/// The Ethernet multicast MAC of an IPv6 multicast address
/// (`ipv6_eth_mc_map`: 33:33 and the address's last 32 bits).
pub fn ipv6_multicast_mac(ip: &Ipv6Addr) -> Mac {
    let o = ip.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The solicited-node multicast address of `ip` (ff02::1:ffXX:XXXX,
/// `addrconf_addr_solict_mult`).
pub fn solicited_node(ip: &Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// Is `ip` a solicited-node multicast address (`ipv6_addr_is_solict_mult`)?
pub fn is_solicited_node(ip: &Ipv6Addr) -> bool {
    let o = ip.octets();
    o[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]
}

/// The modified EUI-64 link-local address of `mac` (fe80::/64).
pub fn link_local(mac: &Mac) -> Ipv6Addr {
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ])
}

/// Format a MAC as `ip` prints it.
pub fn fmt_mac(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parse `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in m.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

fn mac_of(a: EthernetAddress) -> Mac {
    a.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_matches_eth_type_trans() {
        let us = [2, 0, 0, 0, 0, 1];
        assert_eq!(classify(&us, &us), PacketType::Host);
        assert_eq!(classify(&BROADCAST, &us), PacketType::Broadcast);
        assert_eq!(
            classify(&[0x33, 0x33, 0xff, 0, 0, 1], &us),
            PacketType::Multicast
        );
        assert_eq!(classify(&[2, 0, 0, 0, 0, 9], &us), PacketType::OtherHost);
    }

    #[test]
    fn multicast_mappings() {
        let ip: Ipv6Addr = "2001:db8::1:2345:6789".parse().unwrap();
        let sn = solicited_node(&ip);
        assert_eq!(sn, "ff02::1:ff45:6789".parse::<Ipv6Addr>().unwrap());
        assert!(is_solicited_node(&sn) && !is_solicited_node(&ip));
        assert_eq!(
            ipv6_multicast_mac(&sn),
            [0x33, 0x33, 0xff, 0x45, 0x67, 0x89]
        );
        assert_eq!(
            link_local(&[0x02, 0, 0, 0, 0, 1]),
            "fe80::ff:fe00:1".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn frames_round_trip() {
        let f = build([1; 6], [2; 6], ETHERTYPE_ARP, 3, |p| {
            p.copy_from_slice(&[7, 8, 9])
        });
        let (h, p) = parse(&f).unwrap();
        assert_eq!(
            (h.dst, h.src, h.ethertype, p),
            ([1; 6], [2; 6], ETHERTYPE_ARP, &[7u8, 8, 9][..])
        );
        assert!(matches!(parse(&f[..13]), Err(ProtoError::Truncated { .. })));
        assert_eq!(parse_mac("02:00:00:00:00:0a"), Some([2, 0, 0, 0, 0, 10]));
        assert_eq!(parse_mac("02:00:00:00:00"), None);
        assert_eq!(fmt_mac(&[2, 0, 0, 0, 0, 10]), "02:00:00:00:00:0a");
    }
}
