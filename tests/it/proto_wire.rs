//! The hostile wire: what a host's IP layer refuses before ARP/ND or the
//! echo responder see a packet (`ip6_rcv_core`, `ip6_input`,
//! `ip_route_input_slow`), each refusal one counted reason that changes
//! nothing; and `CacheAction::Updated { created }`.
#![cfg(all(feature = "proto", not(any(feature = "loom", feature = "shuttle"))))]

use crate::proto_common;

use neighcache::proto::arp::ArpOp;
use neighcache::proto::eth::{self, BROADCAST, ETHERTYPE_IPV4};
use neighcache::proto::{ip, ndisc, CacheAction, Counter, ErrorKind, Host, RxEvent};
use neighcache::{NudState, UpdateFlags};
use proto_common::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// `frame` is refused for `kind`: exactly that one error counted, nothing
/// cached in either table, nothing sent.
fn refused(h: &Host<Rec>, frame: &[u8], kind: ErrorKind, what: &str) {
    let before = (h.v4().dump(), h.v6().dump(), h.stats());
    let r = h.receive(frame);
    assert_eq!(
        r.as_ref().map_err(|e| e.kind()).err(),
        Some(kind),
        "{what}: {r:?}"
    );
    let after = h.stats();
    assert_eq!(
        after.errors(kind),
        before.2.errors(kind) + 1,
        "{what}: not counted"
    );
    assert_eq!(after.errors_total(), before.2.errors_total() + 1, "{what}");
    assert_eq!(h.v4().dump(), before.0, "{what}: IPv4 table touched");
    assert_eq!(h.v6().dump(), before.1, "{what}: IPv6 table touched");
    assert_eq!(
        h.sink().take(),
        Vec::<Vec<u8>>::new(),
        "{what}: sent a frame"
    );
}

/// B resolved to REACHABLE at MAC_B through the kernel's own NA.
fn reachable_b() -> Host<Rec> {
    let h = host();
    h.send_udp(IpAddr::V6(ip6_b()), 4000, 9, b"q").unwrap();
    h.receive(&kernel_na()).unwrap();
    h.sink().take();
    let e = entry6(&h, ip6_b()).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::REACHABLE, Some(MAC_B)));
    h
}

#[test]
fn a_misaddressed_advertisement_does_not_rewrite_a_reachable_entry() {
    let h = reachable_b();
    // S=1 O=1 with a new MAC, to a unicast address that is not ours, in a
    // broadcast frame: ip6_input never hands it to ndisc_rcv.
    let b2 = neighcache::proto::Iface {
        mac: MAC_B2,
        ..iface(false)
    };
    let pkt = ndisc::na_packet(&b2, ip6_b(), v6("2001:db8::99"), false, true, true, true);
    let f = ipv6_frame(BROADCAST, MAC_B2, &pkt);
    refused(&h, &f, ErrorKind::NotOurDestination, "NA to 2001:db8::99");
    let e = entry6(&h, ip6_b()).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::REACHABLE, Some(MAC_B)));
}

#[test]
fn a_solicitation_to_an_address_or_group_not_ours_is_not_answered() {
    let h = host();
    // Unicast to someone else's address (at our MAC), for our target.
    let pkt = ndisc::ns_packet(&iface(false), ip6_b(), v6("2001:db8::99"), ip6_a());
    let f = ipv6_frame(MAC_A, MAC_B, &pkt);
    refused(&h, &f, ErrorKind::NotOurDestination, "NS to 2001:db8::99");
    // To the solicited-node group of another address (never joined).
    let group = eth::solicited_node(&v6("2001:db8::99"));
    let f = ns_from_b(ip6_a(), group, ip6_b());
    refused(
        &h,
        &f,
        ErrorKind::NotOurDestination,
        "NS to ff02::1:ff00:99",
    );
    // To a group of another scope, not joined either; to all-routers,
    // which only a router joins; to ::.
    for dst in ["ff05::1", "ff02::2", "::"] {
        let f = ns_from_b(ip6_a(), v6(dst), ip6_b());
        refused(&h, &f, ErrorKind::NotOurDestination, dst);
    }
}

#[test]
fn loopback_and_reserved_multicast_scopes_are_dropped_on_the_wire() {
    let h = host();
    // RFC 4291 2.5.3: ::1 never comes from the wire.
    let f = ns_from_b(ip6_a(), eth::solicited_node(&ip6_a()), Ipv6Addr::LOCALHOST);
    refused(&h, &f, ErrorKind::Loopback, "NS from ::1");
    let pkt = ndisc::ns_packet(&iface(false), ip6_b(), Ipv6Addr::LOCALHOST, ip6_a());
    let f = ipv6_frame(MAC_A, MAC_B, &pkt);
    refused(&h, &f, ErrorKind::Loopback, "NS to ::1");
    // RFC 4291 2.7 (errata 3480): scope 1 (interface-local) and the
    // reserved scope 0 are dropped.
    for dst in ["ff01::1", "ff00::1", "ff01::1:ff00:1", "ff00::1:ff00:1"] {
        let f = ns_from_b(ip6_a(), v6(dst), ip6_b());
        refused(&h, &f, ErrorKind::MulticastScope, dst);
    }
    // A multicast source (RFC 4291 2.7).
    let f = ns_from_b(ip6_a(), eth::solicited_node(&ip6_a()), v6("ff02::1"));
    refused(&h, &f, ErrorKind::BadSenderAddress, "NS from ff02::1");
}

fn echo4_from(src: Ipv4Addr, eth_dst: [u8; 6]) -> Vec<u8> {
    let p = ip::echo(IpAddr::V4(src), IpAddr::V4(IP4_A), 7, 1, b"ping", false);
    eth::build(eth_dst, MAC_B, ETHERTYPE_IPV4, p.len(), |b| {
        b.copy_from_slice(&p)
    })
}

fn echo6_from(src: Ipv6Addr) -> Vec<u8> {
    let p = ip::echo(IpAddr::V6(src), IpAddr::V6(ip6_a()), 7, 1, b"ping", false);
    ipv6_frame(MAC_A, MAC_B, &p)
}

#[test]
fn martian_echo_sources_are_refused_and_never_resolved() {
    let h = host();
    use ErrorKind::{BadSenderAddress, DuplicateAddress, Loopback};
    for (src, kind) in [
        (Ipv4Addr::UNSPECIFIED, BadSenderAddress),
        (Ipv4Addr::BROADCAST, BadSenderAddress),
        (Ipv4Addr::new(198, 18, 0, 255), BadSenderAddress), // our subnet's broadcast
        (Ipv4Addr::new(224, 0, 0, 1), BadSenderAddress),
        (Ipv4Addr::new(127, 0, 0, 1), Loopback),
        (IP4_A, DuplicateAddress), // ours
    ] {
        refused(
            &h,
            &echo4_from(src, MAC_A),
            kind,
            &format!("echo from {src}"),
        );
    }
    for (src, kind) in [
        ("::", BadSenderAddress),
        ("ff02::1", BadSenderAddress),
        ("::1", Loopback),
        ("2001:db8::1", DuplicateAddress),
    ] {
        refused(&h, &echo6_from(v6(src)), kind, &format!("echo from {src}"));
    }
    // A martian destination, and a broadcast echo (answered by nobody).
    let p = ip::echo(
        IpAddr::V4(IP4_B),
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        7,
        1,
        b"",
        false,
    );
    let f = eth::build(MAC_A, MAC_B, ETHERTYPE_IPV4, p.len(), |b| {
        b.copy_from_slice(&p)
    });
    refused(&h, &f, Loopback, "echo to 127.0.0.1");
    let p = ip::echo(
        IpAddr::V4(IP4_B),
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 255)),
        7,
        1,
        b"",
        false,
    );
    let f = eth::build(BROADCAST, MAC_B, ETHERTYPE_IPV4, p.len(), |b| {
        b.copy_from_slice(&p)
    });
    assert_eq!(h.receive(&f), Ok(RxEvent::Ignored));
    assert!(h.v4().is_empty() && h.sink().take().is_empty());
}

#[test]
fn an_off_link_echo_source_is_not_resolved_on_the_link() {
    // This host has no routes: an off-link sender cannot be answered. The
    // kernel answers through a route or not at all, never by resolving the
    // sender on the link.
    let h = host();
    for f in [
        echo4_from(Ipv4Addr::new(10, 9, 9, 9), MAC_A),
        echo6_from(v6("2001:db9::5")),
    ] {
        let r = h.receive(&f);
        assert!(matches!(r, Ok(RxEvent::Local(_))), "{r:?}");
        assert!(h.v4().is_empty() && h.v6().is_empty(), "resolved it");
        assert_eq!(h.sink().take(), Vec::<Vec<u8>>::new(), "sent a frame");
    }
    assert_eq!(h.stats().get(Counter::EchoOffLink), 2);
    // An on-link one is answered through the cache (resolving it).
    let r = h.receive(&echo4_from(IP4_B, MAC_A));
    assert!(matches!(r, Ok(RxEvent::Local(_))), "{r:?}");
    assert_eq!(entry4(&h, IP4_B).unwrap().state, NudState::INCOMPLETE);
}

fn created(ev: RxEvent) -> bool {
    let cache = match ev {
        RxEvent::Arp(a) => a.cache,
        RxEvent::Nd(n) => n.cache,
        other => panic!("not ARP/ND: {other:?}"),
    };
    match cache {
        CacheAction::Updated { created, .. } => created,
        other => panic!("not an update: {other:?}"),
    }
}

#[test]
fn created_is_true_exactly_when_the_frame_made_the_entry() {
    let h = host();
    let req = arp_from_b(ArpOp::Request, MAC_B, BROADCAST, IP4_B, [0; 6], IP4_A);
    assert!(created(h.receive(&req).unwrap()), "ARP request for us, new");
    assert!(
        !created(h.receive(&req).unwrap()),
        "ARP request for us, again"
    );
    let ns = ns_from_b(ip6_a(), eth::solicited_node(&ip6_a()), ip6_b());
    assert!(created(h.receive(&ns).unwrap()), "NS, new");
    assert!(!created(h.receive(&ns).unwrap()), "NS, again");
}

/// An NS from B for our address to our solicited-node group, with the
/// extension headers `ext` and the options `opts`.
fn ns_with(ext: &[(u8, Vec<u8>)], opts: &[Vec<u8>]) -> Vec<u8> {
    let sn = eth::solicited_node(&ip6_a());
    let ns = nd_msg(135, [0; 4], &[&ip6_a().octets()], opts);
    icmp6_frame(mac_for(sn), MAC_B, ip6_b(), sn, ext, &ns)
}

/// The same NS unicast to our address at our MAC.
fn ns_unicast_with(ext: &[(u8, Vec<u8>)], opts: &[Vec<u8>]) -> Vec<u8> {
    let ns = nd_msg(135, [0; 4], &[&ip6_a().octets()], opts);
    icmp6_frame(MAC_A, MAC_B, ip6_b(), ip6_a(), ext, &ns)
}

fn answered_and_cached(h: &Host<Rec>, f: &[u8], what: &str) {
    let r = h.receive(f);
    assert!(matches!(r, Ok(RxEvent::Nd(_))), "{what}: {r:?}");
    assert_eq!(mac_of(&entry6(h, ip6_b()).unwrap()), Some(MAC_B), "{what}");
    assert_eq!(h.sink().take().len(), 1, "{what}: the NA");
    h.v6().remove(ip6_b(), DEV).unwrap();
}

#[test]
fn nd_behind_hop_by_hop_and_destination_options_is_processed() {
    let h = host();
    let sllao = lladdr_opt(1, MAC_B);
    // Hop-by-hop with a router alert (MLD style) and PadN.
    let hbh = vec![0, 0, 5, 2, 0, 0, 1, 0];
    answered_and_cached(
        &h,
        &ns_with(&[(0, hbh.clone())], std::slice::from_ref(&sllao)),
        "HBH",
    );
    // Destination options with only padding, then a routing header (type
    // 0) with no segment left, in a unicast packet to our MAC.
    let dst = vec![0, 0, 1, 4, 0, 0, 0, 0];
    let rt = vec![0, 0, 0, 0, 0, 0, 0, 0];
    let f = ns_unicast_with(&[(60, dst), (43, rt.clone())], std::slice::from_ref(&sllao));
    answered_and_cached(&h, &f, "DST + RH");
    // ipv6_rthdr_rcv drops a routing header to a multicast address, and a
    // segment routing header (type 4, seg6_enabled off).
    let f = ns_with(&[(43, rt)], std::slice::from_ref(&sllao));
    refused(&h, &f, ErrorKind::BadExtensionHeader, "RH to a group");
    let srh = vec![0, 0, 4, 0, 0, 0, 0, 0];
    let f = ns_unicast_with(&[(43, srh)], std::slice::from_ref(&sllao));
    refused(&h, &f, ErrorKind::BadExtensionHeader, "SRH");
    // An unknown option whose type says "skip" (top bits 00).
    let skip = vec![0, 0, 0x1e, 2, 0, 0, 0, 0];
    answered_and_cached(
        &h,
        &ns_with(&[(0, skip)], std::slice::from_ref(&sllao)),
        "skip opt",
    );
    // Refused: an unknown option asking for a discard; a hop-by-hop header
    // that is not first; padding that is not zero; a routing header with
    // a segment left; a header running past the packet.
    type Ext = Vec<(u8, Vec<u8>)>;
    let bad: [(&str, Ext); 5] = [
        ("discard opt", vec![(0, vec![0, 0, 0x9e, 2, 0, 0, 0, 0])]),
        (
            "HBH second",
            vec![(60, vec![0, 0, 1, 4, 0, 0, 0, 0]), (0, hbh)],
        ),
        ("PadN not zero", vec![(0, vec![0, 0, 1, 4, 0, 9, 0, 0])]),
        ("RH segments left", vec![(43, vec![0, 0, 0, 1, 0, 0, 0, 0])]),
        ("runs past", vec![(0, vec![0, 9, 1, 4, 0, 0, 0, 0])]),
    ];
    for (what, ext) in bad {
        let kind = if what == "runs past" {
            ErrorKind::Truncated
        } else {
            ErrorKind::BadExtensionHeader
        };
        refused(&h, &ns_with(&ext, std::slice::from_ref(&sllao)), kind, what);
    }
}

#[test]
fn link_layer_options_are_validated_only_where_used_and_the_first_wins() {
    let h = host();
    let sllao = lladdr_opt(1, MAC_B);
    let long_tllao = vec![2, 2, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0];
    // An NS does not use a target option: a malformed one is ignored.
    let f = ns_with(&[], &[sllao.clone(), long_tllao.clone()]);
    answered_and_cached(&h, &f, "NS + 16-byte TLLAO");
    // A second source option, malformed, after a good one: not looked at.
    let long_sllao = vec![1, 2, 2, 0, 0, 0, 0, 0x12, 0, 0, 0, 0, 0, 0, 0, 0];
    let f = ns_with(&[], &[sllao.clone(), long_sllao.clone()]);
    answered_and_cached(&h, &f, "NS + duplicate SLLAO");
    // The first one used is validated.
    let f = ns_with(&[], &[long_sllao, sllao.clone()]);
    refused(
        &h,
        &f,
        ErrorKind::LinkLayerOptionLength,
        "NS, 16-byte SLLAO first",
    );
    let f = ns_with(&[], &[lladdr_opt(1, [0x33, 0x33, 0, 0, 0, 1])]);
    refused(
        &h,
        &f,
        ErrorKind::BadLinkLayerAddress,
        "NS, multicast SLLAO (stricter)",
    );
    // Framing errors fail the message wherever they are.
    let f = ns_with(&[], &[sllao, vec![9, 0, 0, 0, 0, 0, 0, 0]]);
    refused(&h, &f, ErrorKind::BadNdOption, "zero-length option");
}

#[test]
fn an_echo_to_all_nodes_is_answered_from_our_address() {
    // RFC 4443 4.2; Linux: icmpv6_echo_ignore_multicast = 0.
    let h = host();
    let p = ip::echo(
        IpAddr::V6(ip6_b()),
        IpAddr::V6(ndisc::ALL_NODES),
        7,
        1,
        b"",
        false,
    );
    let r = h.receive(&ipv6_frame(mac_for(ndisc::ALL_NODES), MAC_B, &p));
    assert!(matches!(r, Ok(RxEvent::Local(_))), "{r:?}");
    assert_eq!(h.stats().get(Counter::EchoReplies), 1);
    assert_eq!(entry6(&h, ip6_b()).unwrap().state, NudState::INCOMPLETE);
}

#[test]
fn an_echo_is_answered_from_the_address_it_was_sent_to() {
    // icmpv6_echo_reply: saddr = the request's destination when it is
    // ours; a request from B's link-local address to our global one is
    // answered from our global one, and the other way round.
    let mut me = iface(true);
    me.link_local = true;
    let our_ll = me.link_local_addr().unwrap();
    let h = Host::new(me, Default::default(), cfg(), Rec::default()).unwrap();
    let b_ll = v6("fe80::2");
    let admin = UpdateFlags::ADMIN | UpdateFlags::OVERRIDE;
    for b in [b_ll, ip6_b()] {
        let n = h.v6().lookup_or_create(b, DEV).unwrap();
        h.v6()
            .update(&n, Some(&MAC_B), NudState::PERMANENT, admin)
            .unwrap();
    }
    for (src, dst) in [(b_ll, ip6_a()), (ip6_b(), our_ll)] {
        let p = ip::echo(IpAddr::V6(src), IpAddr::V6(dst), 7, 1, b"ping", false);
        let r = h.receive(&ipv6_frame(MAC_A, MAC_B, &p));
        assert!(matches!(r, Ok(RxEvent::Local(_))), "{r:?}");
        let sent = h.sink().take();
        assert_eq!(sent.len(), 1, "{src} -> {dst}: one reply");
        let from = Ipv6Addr::from(<[u8; 16]>::try_from(&sent[0][14 + 8..14 + 24]).unwrap());
        let to = Ipv6Addr::from(<[u8; 16]>::try_from(&sent[0][14 + 24..14 + 40]).unwrap());
        assert_eq!((from, to), (dst, src), "{src} -> {dst}");
    }
}
