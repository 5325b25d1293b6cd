//! The few IP packets a neighbour daemon originates or answers: UDP
//! datagrams and ICMP/ICMPv6 echo, and the parsing needed to recognise
//! those addressed to us. Packets here are IP packets (no Ethernet
//! header): the neighbour cache prepends the cached header on output.
//!
//! This module owns IP-level building and parsing only, with smoltcp's
//! wire types; it knows nothing of the neighbour cache.

use super::error::{Layer, ProtoError};
use super::L4Checksum;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpAddress, IpProtocol, Ipv4Packet,
    Ipv4Repr, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Hop limit / TTL of packets we originate.
pub const HOP_LIMIT: u8 = 64;

/// A packet addressed to one of our addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Local {
    /// A UDP datagram.
    Udp {
        /// Sender.
        src: IpAddr,
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Payload length.
        len: usize,
    },
    /// An ICMP(v6) echo request.
    EchoRequest {
        /// Sender.
        src: IpAddr,
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Payload, echoed back.
        data: Vec<u8>,
    },
    /// An ICMP(v6) echo reply.
    EchoReply {
        /// Sender.
        src: IpAddr,
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
    },
    /// Anything else for us (another protocol, ICMP errors, fragments).
    Other {
        /// Sender.
        src: IpAddr,
        /// IP protocol / next header.
        proto: u8,
    },
}

fn emit_l4(
    src: IpAddr,
    dst: IpAddr,
    proto: IpProtocol,
    l4_len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ip = Ipv4Repr {
                src_addr: s,
                dst_addr: d,
                next_header: proto,
                payload_len: l4_len,
                hop_limit: HOP_LIMIT,
            };
            let mut buf = vec![0u8; ip.buffer_len() + l4_len];
            let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
            ip.emit(&mut p, &ChecksumCapabilities::default());
            fill(p.payload_mut());
            buf
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ip = Ipv6Repr {
                src_addr: s,
                dst_addr: d,
                next_header: proto,
                payload_len: l4_len,
                hop_limit: HOP_LIMIT,
            };
            let mut buf = vec![0u8; ip.buffer_len() + l4_len];
            let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
            ip.emit(&mut p);
            fill(p.payload_mut());
            buf
        }
        _ => panic!("mixed address families: {src} -> {dst}"),
    }
}

/// A UDP datagram from `src:sport` to `dst:dport` (checksum filled).
///
/// # Panics
/// If `src` and `dst` are of different families.
pub fn udp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let repr = UdpRepr {
        src_port: sport,
        dst_port: dport,
    };
    let len = repr.header_len() + payload.len();
    emit_l4(src, dst, IpProtocol::Udp, len, |b| {
        repr.emit(
            &mut UdpPacket::new_unchecked(b),
            &IpAddress::from(src),
            &IpAddress::from(dst),
            payload.len(),
            |p| p.copy_from_slice(payload),
            &ChecksumCapabilities::default(),
        )
    })
}

/// An ICMP (IPv4) or ICMPv6 echo request or reply.
///
/// # Panics
/// If `src` and `dst` are of different families.
pub fn echo(src: IpAddr, dst: IpAddr, ident: u16, seq: u16, data: &[u8], reply: bool) -> Vec<u8> {
    let caps = ChecksumCapabilities::default();
    match (src, dst) {
        (IpAddr::V4(..), IpAddr::V4(..)) => {
            let r = if reply {
                Icmpv4Repr::EchoReply {
                    ident,
                    seq_no: seq,
                    data,
                }
            } else {
                Icmpv4Repr::EchoRequest {
                    ident,
                    seq_no: seq,
                    data,
                }
            };
            emit_l4(src, dst, IpProtocol::Icmp, r.buffer_len(), |b| {
                r.emit(&mut Icmpv4Packet::new_unchecked(b), &caps)
            })
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let r = if reply {
                Icmpv6Repr::EchoReply {
                    ident,
                    seq_no: seq,
                    data,
                }
            } else {
                Icmpv6Repr::EchoRequest {
                    ident,
                    seq_no: seq,
                    data,
                }
            };
            emit_l4(src, dst, IpProtocol::Icmpv6, r.buffer_len(), |b| {
                r.emit(&s, &d, &mut Icmpv6Packet::new_unchecked(b), &caps)
            })
        }
        _ => panic!("mixed address families: {src} -> {dst}"),
    }
}

/// Parse an IPv4 packet (after the Ethernet header); `Ok(None)` if it is
/// not addressed to `ours`. The header checksum is always verified, the
/// UDP/ICMP one unless `csum` trusts it.
pub fn parse_local_v4(
    payload: &[u8],
    ours: Ipv4Addr,
    csum: L4Checksum,
) -> Result<Option<Local>, ProtoError> {
    if payload.len() < 20 {
        return Err(ProtoError::truncated(Layer::Ipv4, payload.len(), 20));
    }
    if payload[0] >> 4 != 4 || payload[0] & 0xf < 5 {
        return Err(ProtoError::BadIpHeader("IPv4 version or IHL"));
    }
    let p = Ipv4Packet::new_checked(payload)
        .map_err(|_| ProtoError::BadIpHeader("IPv4 lengths do not fit the frame"))?;
    if !p.verify_checksum() {
        return Err(ProtoError::BadChecksum(Layer::Ipv4));
    }
    if p.dst_addr() != ours {
        return Ok(None);
    }
    let src = IpAddr::V4(p.src_addr());
    let proto = u8::from(p.next_header());
    if p.more_frags() || p.frag_offset() != 0 {
        return Ok(Some(Local::Other { src, proto }));
    }
    let body = p.payload();
    Ok(Some(match p.next_header() {
        IpProtocol::Udp => udp_local(src, IpAddr::V4(ours), body, csum)?,
        IpProtocol::Icmp => {
            let v = Icmpv4Packet::new_checked(body)
                .map_err(|_| ProtoError::truncated(Layer::Icmpv4, body.len(), 8))?;
            if csum == L4Checksum::Verify && !v.verify_checksum() {
                return Err(ProtoError::BadChecksum(Layer::Icmpv4));
            }
            match Icmpv4Repr::parse(&v, &ChecksumCapabilities::ignored()) {
                Ok(Icmpv4Repr::EchoRequest {
                    ident,
                    seq_no,
                    data,
                }) => Local::EchoRequest {
                    src,
                    ident,
                    seq: seq_no,
                    data: data.to_vec(),
                },
                Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) => Local::EchoReply {
                    src,
                    ident,
                    seq: seq_no,
                },
                _ => Local::Other { src, proto },
            }
        }
        _ => Local::Other { src, proto },
    }))
}

/// Parse an IPv6 packet (after the Ethernet header); `Ok(None)` if it is
/// not addressed to one of `ours`. Only packets whose next header is the
/// upper layer itself are understood; others are `Local::Other`. The
/// UDP/ICMPv6 checksum is verified unless `csum` trusts it.
pub fn parse_local_v6(
    payload: &[u8],
    ours: &[Ipv6Addr],
    csum: L4Checksum,
) -> Result<Option<Local>, ProtoError> {
    let p = Ipv6Packet::new_checked(payload)
        .map_err(|_| ProtoError::truncated(Layer::Ipv6, payload.len(), 40))?;
    if p.version() != 6 {
        return Err(ProtoError::BadIpHeader("IPv6 version field is not 6"));
    }
    let dst: Ipv6Addr = p.dst_addr();
    if !ours.contains(&dst) {
        return Ok(None);
    }
    let src_v6: Ipv6Addr = p.src_addr();
    let src = IpAddr::V6(src_v6);
    let body = p.payload();
    let proto = u8::from(p.next_header());
    Ok(Some(match p.next_header() {
        IpProtocol::Udp => udp_local(src, IpAddr::V6(dst), body, csum)?,
        IpProtocol::Icmpv6 => {
            let v = Icmpv6Packet::new_checked(body)
                .map_err(|_| ProtoError::truncated(Layer::Icmpv6, body.len(), 8))?;
            if csum == L4Checksum::Verify && !v.verify_checksum(&src_v6, &dst) {
                return Err(ProtoError::BadChecksum(Layer::Icmpv6));
            }
            match Icmpv6Repr::parse(&src_v6, &dst, &v, &ChecksumCapabilities::ignored()) {
                Ok(Icmpv6Repr::EchoRequest {
                    ident,
                    seq_no,
                    data,
                }) => Local::EchoRequest {
                    src,
                    ident,
                    seq: seq_no,
                    data: data.to_vec(),
                },
                Ok(Icmpv6Repr::EchoReply { ident, seq_no, .. }) => Local::EchoReply {
                    src,
                    ident,
                    seq: seq_no,
                },
                _ => Local::Other { src, proto },
            }
        }
        _ => Local::Other { src, proto },
    }))
}

fn udp_local(src: IpAddr, dst: IpAddr, body: &[u8], csum: L4Checksum) -> Result<Local, ProtoError> {
    let u = UdpPacket::new_checked(body)
        .map_err(|_| ProtoError::truncated(Layer::Udp, body.len(), 8))?;
    // IPv4 allows a zero (absent) checksum.
    let absent = matches!(src, IpAddr::V4(_)) && u.checksum() == 0;
    let verify = csum == L4Checksum::Verify && !absent;
    if verify && !u.verify_checksum(&IpAddress::from(src), &IpAddress::from(dst)) {
        return Err(ProtoError::BadChecksum(Layer::Udp));
    }
    Ok(Local::Udp {
        src,
        sport: u.src_port(),
        dport: u.dst_port(),
        len: u.payload().len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_and_echo_round_trip() {
        let (a, b) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let u = udp(a.into(), b.into(), 4000, 9, b"hello");
        assert_eq!(
            parse_local_v4(&u, b, L4Checksum::Verify).unwrap(),
            Some(Local::Udp {
                src: a.into(),
                sport: 4000,
                dport: 9,
                len: 5
            })
        );
        assert_eq!(parse_local_v4(&u, a, L4Checksum::Verify).unwrap(), None);
        let e = echo(a.into(), b.into(), 7, 1, b"xy", false);
        assert_eq!(
            parse_local_v4(&e, b, L4Checksum::Verify).unwrap(),
            Some(Local::EchoRequest {
                src: a.into(),
                ident: 7,
                seq: 1,
                data: b"xy".to_vec()
            })
        );
        let (x, y): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let e6 = echo(x.into(), y.into(), 9, 3, b"z", true);
        assert_eq!(
            parse_local_v6(&e6, &[y], L4Checksum::Verify).unwrap(),
            Some(Local::EchoReply {
                src: x.into(),
                ident: 9,
                seq: 3
            })
        );
        let mut bad = udp(x.into(), y.into(), 1, 2, b"abc");
        let n = bad.len();
        bad[n - 1] ^= 0xff;
        assert_eq!(
            parse_local_v6(&bad, &[y], L4Checksum::Verify),
            Err(ProtoError::BadChecksum(Layer::Udp))
        );
    }

    #[test]
    fn hostile_ipv4_headers_are_refused() {
        let mut p = udp(
            Ipv4Addr::new(1, 1, 1, 1).into(),
            Ipv4Addr::new(2, 2, 2, 2).into(),
            1,
            2,
            b"",
        );
        p[0] = 0x43; // IHL 3
        assert!(matches!(
            parse_local_v4(&p, Ipv4Addr::new(2, 2, 2, 2), L4Checksum::Verify),
            Err(ProtoError::BadIpHeader(_))
        ));
        assert!(matches!(
            parse_local_v4(&p[..10], Ipv4Addr::new(2, 2, 2, 2), L4Checksum::Verify),
            Err(ProtoError::Truncated { .. })
        ));
    }
}
