//! Unit tests of `accept`: the header-level rules one by one (the frame
//! level, with tables, is `tests/it/proto_wire.rs`).

use super::*;
use crate::proto::ip;
use crate::DevId;

fn host() -> Iface {
    Iface::new(DevId(1), "t", [2, 0, 0, 0, 0, 1])
        .with_ipv4(Ipv4Addr::new(198, 18, 0, 1), 24)
        .with_ipv6("2001:db8::1".parse().unwrap(), 64)
}

fn udp4(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    ip::udp(IpAddr::V4(src.into()), IpAddr::V4(dst.into()), 1, 2, b"x")
}

#[test]
fn ipv4_destinations_as_a_host_without_routes() {
    let h = host();
    let d = |dst: [u8; 4]| ipv4(&h, &udp4([198, 18, 0, 2], dst)).map(|r| r.delivery);
    assert_eq!(d([198, 18, 0, 1]), Ok(Delivery::Local));
    assert_eq!(d([198, 18, 0, 255]), Ok(Delivery::Broadcast));
    assert_eq!(d([255, 255, 255, 255]), Ok(Delivery::Broadcast));
    assert_eq!(d([224, 0, 0, 1]), Ok(Delivery::Multicast));
    for other in [
        [198, 18, 0, 9],
        [224, 0, 0, 251],
        [10, 0, 0, 1],
        [0, 0, 0, 0],
    ] {
        assert_eq!(
            d(other),
            Err(ProtoError::NotOurDestination(IpAddr::V4(other.into())))
        );
    }
    assert_eq!(
        d([127, 0, 0, 1]),
        Err(ProtoError::Loopback(IpAddr::V4([127, 0, 0, 1].into())))
    );
    // DHCP: 0.0.0.0 to the limited broadcast is accepted.
    let dhcp = udp4([0, 0, 0, 0], [255, 255, 255, 255]);
    assert_eq!(ipv4(&h, &dhcp).map(|r| r.delivery), Ok(Delivery::Broadcast));
}

#[test]
fn ipv4_martian_sources() {
    let h = host();
    for src in [
        [224, 0, 0, 5],
        [255, 255, 255, 255],
        [198, 18, 0, 255],
        [0, 0, 0, 0],
    ] {
        assert_eq!(
            ipv4(&h, &udp4(src, [198, 18, 0, 1])),
            Err(ProtoError::BadSenderAddress(IpAddr::V4(src.into())))
        );
    }
    assert!(matches!(
        ipv4(&h, &udp4([198, 18, 0, 1], [198, 18, 0, 1])),
        Err(ProtoError::DuplicateAddress(_))
    ));
    // An off-link source is not a martian (rp_filter 0), nor is the rest
    // of 0.0.0.0/8 (unicast since Linux 5.3).
    assert!(ipv4(&h, &udp4([10, 9, 9, 9], [198, 18, 0, 1])).is_ok());
    assert!(ipv4(&h, &udp4([0, 9, 9, 9], [198, 18, 0, 1])).is_ok());
}

#[test]
fn ipv4_header_lengths_and_checksum() {
    let h = host();
    let mut p = udp4([198, 18, 0, 2], [198, 18, 0, 1]);
    let n = p.len();
    // Trailing bytes (Ethernet padding) are cut off.
    p.extend([0xee; 7]);
    assert_eq!(ipv4(&h, &p).unwrap().payload.len(), n - 20);
    p.truncate(n);
    let mut short = p.clone();
    short[3] += 1; // total length one past the data
    assert!(matches!(
        ipv4(&h, &short),
        Err(ProtoError::Truncated { .. })
    ));
    let mut bad = p.clone();
    bad[12] ^= 1; // checksum no longer matches
    assert_eq!(ipv4(&h, &bad), Err(ProtoError::BadChecksum(Layer::Ipv4)));
    let mut tiny = p;
    tiny[2..4].copy_from_slice(&[0, 10]);
    assert!(matches!(ipv4(&h, &tiny), Err(ProtoError::BadIpHeader(_))));
}

#[test]
fn hop_by_hop_option_rules() {
    let ok = |o: &[u8]| options(HOP_BY_HOP, o).is_ok();
    assert!(ok(&[0, 0, 0, 0, 0, 0]));
    assert!(ok(&[1, 4, 0, 0, 0, 0]));
    assert!(ok(&[5, 2, 0, 0, 1, 0]));
    assert!(ok(&[0x1e, 0]));
    assert!(!ok(&[0, 0, 0, 0, 0, 0, 0, 0]), "8 bytes of Pad1");
    assert!(!ok(&[1, 6, 0, 0, 0, 0, 0, 0]), "PadN of 8");
    assert!(!ok(&[1, 2, 0, 1]), "PadN not zero");
    assert!(!ok(&[5, 3, 0, 0, 0]), "router alert of 3");
    assert!(!ok(&[0xc2, 4, 0, 1, 0, 0]), "jumbo");
    for action in [0x40u8, 0x80, 0xc0] {
        assert!(!ok(&[action | 0x1e, 0]), "action {action:#x}");
    }
    assert!(!ok(&[0x1e, 3, 0]), "option past the end");
    assert!(!ok(&[0x1e]), "no length");
    assert!(ok(&[0x1e, 0].repeat(MAX_OPTIONS)));
    assert!(!ok(&[0x1e, 0].repeat(MAX_OPTIONS + 1)), "too many");
    // In destination options a type-5 option is unknown and skippable.
    assert!(options(DEST_OPTS, &[5, 3, 0, 0, 0]).is_ok());
}

#[test]
fn hop_by_hop_calipso_and_ioam_as_linux_treats_them() {
    let ok = |o: &[u8]| options(HOP_BY_HOP, o).is_ok();
    // CALIPSO (type 7, top bits 00): Linux drops it without a CALIPSO
    // domain (ipv6_hop_calipso), short or long.
    assert!(!ok(&[7, 4, 0, 0, 0, 0]), "short CALIPSO");
    assert!(!ok(&[7, 8, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 0, 0]), "CALIPSO");
    // IOAM (0x31): at packet offset 42 (the first option) it is not
    // 4n-aligned and is dropped (ipv6_hop_ioam); after a 2-byte PadN it
    // is at 44 and skipped (ioam6_enabled off).
    assert!(!ok(&[0x31, 4, 0, 0, 0, 0]), "IOAM at offset 42");
    assert!(!ok(&[0, 0x31, 3, 0, 0, 0]), "IOAM at offset 43");
    assert!(ok(&[1, 0, 0x31, 2, 0, 0]), "IOAM at offset 44");
    // Both are only hop-by-hop options: in destination options they are
    // unknown ones with top bits 00, skipped.
    assert!(options(DEST_OPTS, &[7, 4, 0, 0, 0, 0]).is_ok());
    assert!(options(DEST_OPTS, &[0x31, 4, 0, 0, 0, 0]).is_ok());
}

#[test]
fn ipv6_scopes_and_groups() {
    let h = host();
    let policy = Policy::default();
    let pkt = |src: &str, dst: &str| {
        ip::udp(
            IpAddr::V6(src.parse().unwrap()),
            IpAddr::V6(dst.parse().unwrap()),
            1,
            2,
            b"",
        )
    };
    let pt = PacketType::Host;
    let d = |src: &str, dst: &str| ipv6(&h, &policy, None, pt, &pkt(src, dst)).map(|r| r.delivery);
    assert_eq!(d("2001:db8::2", "2001:db8::1"), Ok(Delivery::Local));
    assert_eq!(d("2001:db8::2", "ff02::1"), Ok(Delivery::Multicast));
    assert_eq!(d("2001:db8::2", "ff02::1:ff00:1"), Ok(Delivery::Multicast));
    assert!(matches!(
        d("2001:db8::2", "ff02::2"),
        Err(ProtoError::NotOurDestination(_))
    ));
    assert!(matches!(
        d("2001:db8::2", "ff0e::1"),
        Err(ProtoError::NotOurDestination(_))
    ));
    assert!(matches!(
        d("2001:db8::2", "ff11::1"),
        Err(ProtoError::MulticastScope(_))
    ));
    assert!(matches!(
        d("2001:db8::2", "ff10::1"),
        Err(ProtoError::MulticastScope(_))
    ));
    // A UDP datagram from :: is refused; ND and MLD may come from ::.
    assert!(matches!(
        d("::", "2001:db8::1"),
        Err(ProtoError::BadSenderAddress(_))
    ));
    let router = Policy {
        forwarding: true,
        ..Policy::default()
    };
    let p = pkt("2001:db8::2", "ff02::2");
    let r = ipv6(&h, &router, None, pt, &p);
    assert_eq!(r.map(|r| r.delivery), Ok(Delivery::Multicast));
}

/// `p` (an IPv4 packet without options) with `opts` inserted after its
/// header: IHL, total length and header checksum fixed.
fn with_options(p: &[u8], opts: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let mut v = [&p[..20], opts, &p[20..]].concat();
    let ihl = 20 + opts.len();
    v[0] = 0x40 | (ihl / 4) as u8;
    let total = v.len() as u16;
    v[2..4].copy_from_slice(&total.to_be_bytes());
    v[10..12].fill(0);
    let c = internet_checksum(&v[..ihl]);
    v[10..12].copy_from_slice(&c.to_be_bytes());
    v
}

#[test]
fn ipv4_options_as_ip_options_compile_and_ip_rcv_options() {
    let h = host();
    let p = udp4([198, 18, 0, 2], [198, 18, 0, 1]);
    let accepted = |o: &[u8]| ipv4(&h, &with_options(&p, o)).map(|r| r.payload.len());
    // Well-formed options are skipped; the payload is after them.
    for ok in [
        &[1, 1, 1, 0][..],            // NOOPs, END
        &[0x07, 7, 4, 0, 0, 0, 0, 0], // record route, room for one
        &[0x07, 7, 8, 0, 0, 0, 0, 0], // record route, full
        &[0x44, 8, 5, 0, 0, 0, 0, 0], // timestamps, room for one
        &[0x44, 4, 5, 0xe0],          // timestamps, full, overflow 14
        &[0x94, 4, 0, 0],             // router alert
        &[0x82, 4, 0, 0],             // security: skipped
        &[0x1e, 4, 0, 0],             // unknown: skipped
        &[0, 0x83, 0xff, 0xff],       // anything after END
    ] {
        assert_eq!(accepted(ok), Ok(p.len() - 20), "{ok:02x?}");
    }
    // Refused: Linux drops these (a Parameter Problem for the malformed
    // ones, silently for a source route).
    for bad in [
        &[0x07, 1, 0, 0][..],            // length below 2
        &[0x07, 9, 4, 0],                // length past the header
        &[0x07, 7, 3, 0, 0, 0, 0, 0],    // pointer below 4
        &[0x07, 7, 5, 0, 0, 0, 0, 0],    // pointer inside an entry
        &[0x07, 3, 4, 0x07, 3, 4, 0, 0], // record route twice
        &[0x44, 8, 4, 0, 0, 0, 0, 0],    // timestamp pointer below 5
        &[0x44, 4, 5, 0xf0],             // timestamp overflow full
        &[0x44, 8, 5, 1, 0, 0, 0, 0],    // address + time: no room
        &[0x94, 2, 0, 0],                // router alert too short
        &[0x86, 6, 0, 0, 0, 1, 0, 0],    // CIPSO: no domain
        &[0x83, 7, 4, 198, 18, 0, 9, 0], // loose source route
        &[0x89, 7, 4, 198, 18, 0, 9, 0], // strict source route
        &[0x07],                         // no length (padded below)
    ] {
        let mut o = bad.to_vec();
        o.resize(o.len().div_ceil(4) * 4, 0);
        assert!(
            matches!(accepted(&o), Err(ProtoError::BadIpHeader(_))),
            "{o:02x?}: {:?}",
            accepted(&o)
        );
    }
}
