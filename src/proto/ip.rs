//! The few IP packets a neighbour daemon originates or answers: UDP
//! datagrams and ICMP/ICMPv6 echo, and what an accepted packet for us
//! carries. Packets here are IP packets (no Ethernet header): the
//! neighbour cache prepends the cached header on output. Whether a
//! received packet is for us at all is [`accept`](super::accept)'s
//! decision, made before anything here runs.
//!
//! This module owns IP-level building and upper-layer parsing only, with
//! smoltcp's wire types; it knows nothing of the neighbour cache.

use super::accept::{Ipv4Rx, Ipv6Rx};
use super::error::{Layer, ProtoError};
use super::L4Checksum;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpAddress, IpProtocol, Ipv4Packet,
    Ipv4Repr, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr,
};
use std::net::IpAddr;

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

/// What an IPv4 packet the host accepted ([`accept::ipv4`](super::accept::ipv4)) carries. A
/// fragment (never reassembled here) is `Other`. The UDP/ICMP checksum is
/// verified unless `csum` trusts it.
pub fn local_v4(rx: &Ipv4Rx<'_>, csum: L4Checksum) -> Result<Local, ProtoError> {
    let src = IpAddr::V4(rx.src);
    let proto = rx.protocol;
    if rx.fragment {
        return Ok(Local::Other { src, proto });
    }
    let body = rx.payload;
    Ok(match IpProtocol::from(proto) {
        IpProtocol::Udp => udp_local(src, IpAddr::V4(rx.dst), body, csum)?,
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
    })
}

/// What an IPv6 packet the host accepted ([`accept::ipv6`](super::accept::ipv6)) carries, after
/// its extension headers. A fragment (never reassembled here) is `Other`.
/// The UDP/ICMPv6 checksum is verified unless `csum` trusts it.
pub fn local_v6(rx: &Ipv6Rx<'_>, csum: L4Checksum) -> Result<Local, ProtoError> {
    let (src_v6, dst) = (rx.src, rx.dst);
    let src = IpAddr::V6(src_v6);
    let proto = rx.protocol;
    let body = rx.payload;
    Ok(match IpProtocol::from(proto) {
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
    })
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
    use crate::proto::accept;
    use crate::proto::{Iface, PacketType, Policy};
    use crate::DevId;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn host(v4: Ipv4Addr, v6: Ipv6Addr) -> Iface {
        Iface::new(DevId(1), "t", [2, 0, 0, 0, 0, 1])
            .with_ipv4(v4, 24)
            .with_ipv6(v6, 64)
    }

    #[test]
    fn udp_and_echo_round_trip() {
        let (a, b) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let (x, y): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let at_b = host(b, y);
        let v4 = |p: &[u8]| local_v4(&accept::ipv4(&at_b, p)?, L4Checksum::Verify);
        let v6 = |p: &[u8]| {
            let rx = accept::ipv6(&at_b, &Policy::default(), None, PacketType::Host, p)?;
            local_v6(&rx, L4Checksum::Verify)
        };
        let u = udp(a.into(), b.into(), 4000, 9, b"hello");
        assert_eq!(
            v4(&u),
            Ok(Local::Udp {
                src: a.into(),
                sport: 4000,
                dport: 9,
                len: 5
            })
        );
        let e = echo(a.into(), b.into(), 7, 1, b"xy", false);
        assert_eq!(
            v4(&e),
            Ok(Local::EchoRequest {
                src: a.into(),
                ident: 7,
                seq: 1,
                data: b"xy".to_vec()
            })
        );
        let e6 = echo(x.into(), y.into(), 9, 3, b"z", true);
        assert_eq!(
            v6(&e6),
            Ok(Local::EchoReply {
                src: x.into(),
                ident: 9,
                seq: 3
            })
        );
        let mut bad = udp(x.into(), y.into(), 1, 2, b"abc");
        let n = bad.len();
        bad[n - 1] ^= 0xff;
        assert_eq!(v6(&bad), Err(ProtoError::BadChecksum(Layer::Udp)));
    }

    #[test]
    fn hostile_ipv4_headers_are_refused() {
        let (a, b) = (Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2));
        let at_b = host(b, "2001:db8::2".parse().unwrap());
        let mut p = udp(a.into(), b.into(), 1, 2, b"");
        p[0] = 0x43; // IHL 3
        assert!(matches!(
            accept::ipv4(&at_b, &p),
            Err(ProtoError::BadIpHeader(_))
        ));
        assert!(matches!(
            accept::ipv4(&at_b, &p[..10]),
            Err(ProtoError::Truncated { .. })
        ));
    }
}
