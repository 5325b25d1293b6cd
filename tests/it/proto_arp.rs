//! ARP rules of the protocol layer (`arp_process`, `arp_solicit`), one test
//! per rule, against a host whose frames are recorded. Frames captured from
//! Linux 6.18 check that what we build and what we accept is the kernel's.
#![cfg(all(feature = "proto", not(any(feature = "loom", feature = "shuttle"))))]

use crate::proto_common;

use neighcache::proto::arp::{self, ArpOp};
use neighcache::proto::eth::BROADCAST;
use neighcache::proto::{
    ArpAccept, CacheAction, Counter, ErrorKind, Policy, ProtoError, RxEvent, Untouched,
};
use neighcache::{NeighError, NudState, Probe, Xmit};
use proto_common::*;
use std::net::{IpAddr, Ipv4Addr};

fn arp_rx(ev: RxEvent) -> arp::ArpRx {
    match ev {
        RxEvent::Arp(a) => a,
        other => panic!("not ARP: {other:?}"),
    }
}

/// Us (A) sending to B: INCOMPLETE, one broadcast request identical to the
/// kernel's, the packet queued.
fn resolve_b(h: &Host<Rec>) {
    let x = h.send_udp(IpAddr::V4(IP4_B), 4000, 9, b"q1").unwrap();
    assert_eq!(x, Xmit::Queued);
    assert_eq!(entry4(h, IP4_B).unwrap().state, NudState::INCOMPLETE);
}

use neighcache::proto::Host;

#[test]
fn our_broadcast_request_is_byte_for_byte_the_kernels() {
    let h = host();
    resolve_b(&h);
    assert_eq!(h.sink().take(), vec![kernel_arp_request()]);
    // Probe::App has no frame; it is counted.
    assert_eq!(arp::solicit_frame(h.iface(), IP4_B, Probe::App), None);
}

#[test]
fn a_reply_to_our_mac_resolves_and_flushes_the_queue() {
    let h = host();
    resolve_b(&h);
    h.sink().take();
    let rx = arp_rx(
        h.receive(&arp_from_b(ArpOp::Reply, MAC_B, MAC_A, IP4_B, MAC_A, IP4_A))
            .unwrap(),
    );
    assert_eq!(rx.reply, None);
    let e = entry4(&h, IP4_B).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::REACHABLE, Some(MAC_B)));
    // The queued datagram left with the cached header.
    let out = h.sink().take();
    assert_eq!(out.len(), 1);
    assert_eq!(
        &out[0][..14],
        &[MAC_B.as_slice(), &MAC_A, &[8, 0]].concat()[..]
    );
    assert_eq!(h.stats().get(Counter::RxArp), 1);
}

#[test]
fn a_broadcast_reply_only_makes_the_entry_stale() {
    let h = host();
    resolve_b(&h);
    h.receive(&arp_from_b(
        ArpOp::Reply,
        MAC_B,
        BROADCAST,
        IP4_B,
        MAC_A,
        IP4_A,
    ))
    .unwrap();
    // STALE, then the queued packet goes out through the entry, which moves
    // it on to DELAY (the kernel flushes through `n->output`, same result).
    assert_eq!(entry4(&h, IP4_B).unwrap().state, NudState::DELAY);
    // Without a queue it stays STALE.
    let h = host();
    h.v4().lookup_or_create(IP4_B, DEV).unwrap();
    h.receive(&arp_from_b(
        ArpOp::Reply,
        MAC_B,
        BROADCAST,
        IP4_B,
        MAC_A,
        IP4_A,
    ))
    .unwrap();
    assert_eq!(entry4(&h, IP4_B).unwrap().state, NudState::STALE);
}

#[test]
fn a_different_address_overrides_only_after_locktime() {
    let h = host();
    resolve_b(&h);
    h.receive(&arp_from_b(ArpOp::Reply, MAC_B, MAC_A, IP4_B, MAC_A, IP4_A))
        .unwrap();
    // A second, different reply within locktime (1 s): the first one wins.
    at(&h, 500);
    let rx = arp_rx(
        h.receive(&arp_from_b(
            ArpOp::Reply,
            MAC_B2,
            MAC_A,
            IP4_B,
            MAC_A,
            IP4_A,
        ))
        .unwrap(),
    );
    assert!(matches!(
        rx.cache,
        CacheAction::Updated {
            flags: None,
            result: Ok(()),
            ..
        }
    ));
    assert_eq!(mac_of(&entry4(&h, IP4_B).unwrap()), Some(MAC_B));
    // After locktime (strictly) it overrides. The ignored reply at 0.5 s did
    // not restart the window (6.x `__neigh_update` moves `updated` only on
    // a change; 3.10 would still refuse until 1.5 s).
    at(&h, 1_001);
    h.receive(&arp_from_b(
        ArpOp::Reply,
        MAC_B2,
        MAC_A,
        IP4_B,
        MAC_A,
        IP4_A,
    ))
    .unwrap();
    let e = entry4(&h, IP4_B).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::REACHABLE, Some(MAC_B2)));
}

#[test]
fn a_request_for_us_caches_the_sender_stale_and_builds_the_kernels_reply() {
    // We are B here, answering the kernel's own request.
    let b = Host::new(iface(false), Policy::default(), cfg(), Rec::default()).unwrap();
    let rx = arp_rx(b.receive(&kernel_arp_request()).unwrap());
    let e = b.v4().dump().into_iter().find(|e| e.key == IP4_A).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::STALE, Some(MAC_A)));
    assert!(matches!(
        rx.cache,
        CacheAction::Updated {
            state: NudState::STALE,
            result: Ok(()),
            ..
        }
    ));
    // arp_send(REPLY, dest_ip = sip, src_ip = tip, dest_hw = sha, target_hw = sha)
    let want =
        hex("02000000000102000000000208060001080006040002020000000002c6120002020000000001c6120001");
    assert_eq!(rx.reply.as_deref(), Some(&want[..]));
    assert_eq!(b.sink().take(), vec![want]);
    assert_eq!(b.stats().get(Counter::ArpReplies), 1);
}

#[test]
fn a_request_for_someone_else_updates_only_an_existing_entry() {
    let h = host();
    let other = Ipv4Addr::new(198, 18, 0, 77);
    h.receive(&arp_from_b(
        ArpOp::Request,
        MAC_B,
        BROADCAST,
        IP4_B,
        [0; 6],
        other,
    ))
    .unwrap();
    assert!(h.v4().is_empty(), "arp_accept=0 creates nothing");
    h.v4().lookup_or_create(IP4_B, DEV).unwrap();
    h.receive(&arp_from_b(
        ArpOp::Request,
        MAC_B,
        BROADCAST,
        IP4_B,
        [0; 6],
        other,
    ))
    .unwrap();
    let e = entry4(&h, IP4_B).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::STALE, Some(MAC_B)));
}

#[test]
fn a_gratuitous_arp_overrides_at_once() {
    let h = host();
    resolve_b(&h);
    h.receive(&arp_from_b(ArpOp::Reply, MAC_B, MAC_A, IP4_B, MAC_A, IP4_A))
        .unwrap();
    at(&h, 10); // well within locktime
    let rx = arp_rx(
        h.receive(&arp_from_b(
            ArpOp::Request,
            MAC_B2,
            BROADCAST,
            IP4_B,
            [0; 6],
            IP4_B,
        ))
        .unwrap(),
    );
    assert!(rx.gratuitous);
    let e = entry4(&h, IP4_B).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::STALE, Some(MAC_B2)));
    // A gratuitous *reply* needs tha == sha.
    let not_garp = arp_from_b(ArpOp::Reply, MAC_B, BROADCAST, IP4_B, MAC_A, IP4_B);
    assert!(!arp_rx(h.receive(&not_garp).unwrap()).gratuitous);
}

#[test]
fn arp_accept_decides_whether_unsolicited_arp_creates_entries() {
    let garp = |mac, ip| arp_from_b(ArpOp::Request, mac, BROADCAST, ip, [0; 6], ip);
    let reply = arp_from_b(ArpOp::Reply, MAC_B, MAC_A, IP4_B, MAC_A, IP4_A);
    let h = host();
    h.receive(&garp(MAC_B, IP4_B)).unwrap();
    h.receive(&reply).unwrap();
    assert!(h.v4().is_empty(), "arp_accept = 0");

    let h = host_with(Policy {
        arp_accept: ArpAccept::Always,
        ..Policy::default()
    });
    let rx = arp_rx(h.receive(&garp(MAC_B, IP4_B)).unwrap());
    assert!(matches!(
        rx.cache,
        CacheAction::Updated { created: true, .. }
    ));
    assert_eq!(entry4(&h, IP4_B).unwrap().state, NudState::STALE);
    let h = host_with(Policy {
        arp_accept: ArpAccept::Always,
        ..Policy::default()
    });
    h.receive(&reply).unwrap();
    assert_eq!(entry4(&h, IP4_B).unwrap().state, NudState::REACHABLE);

    let h = host_with(Policy {
        arp_accept: ArpAccept::SameSubnet,
        ..Policy::default()
    });
    let far = Ipv4Addr::new(203, 0, 113, 9);
    h.receive(&garp(MAC_B2, far)).unwrap();
    assert!(h.v4().is_empty(), "off-subnet sender");
    h.receive(&garp(MAC_B, IP4_B)).unwrap();
    assert_eq!(h.v4().len(), 1);
}

#[test]
fn drop_gratuitous_arp_drops_and_counts() {
    let h = host_with(Policy {
        drop_gratuitous_arp: true,
        ..Policy::default()
    });
    resolve_b(&h);
    let e = h.receive(&arp_from_b(
        ArpOp::Request,
        MAC_B2,
        BROADCAST,
        IP4_B,
        [0; 6],
        IP4_B,
    ));
    assert_eq!(e, Err(ProtoError::GratuitousDropped));
    assert_eq!(entry4(&h, IP4_B).unwrap().state, NudState::INCOMPLETE);
    assert_eq!(h.stats().errors(ErrorKind::GratuitousDropped), 1);
}

#[test]
fn a_duplicate_address_probe_is_answered_and_not_cached() {
    let h = host();
    let rx = arp_rx(
        h.receive(&arp_from_b(
            ArpOp::Request,
            MAC_B,
            BROADCAST,
            Ipv4Addr::UNSPECIFIED,
            [0; 6],
            IP4_A,
        ))
        .unwrap(),
    );
    assert_eq!(rx.cache, CacheAction::Untouched(Untouched::DadProbe));
    let r = arp::parse_arp(&rx.reply.unwrap()[14..]).unwrap();
    assert_eq!(
        (r.op, r.sender_ip, r.target_ip, r.target_mac),
        (ArpOp::Reply, IP4_A, Ipv4Addr::UNSPECIFIED, MAC_B)
    );
    assert!(h.v4().is_empty());
}

#[test]
fn probe_state_solicits_unicast_to_the_cached_address() {
    let h = host();
    resolve_b(&h);
    // The request makes it STALE and flushes the queue, which moves it to DELAY.
    h.receive(&arp_from_b(
        ArpOp::Request,
        MAC_B,
        BROADCAST,
        IP4_B,
        [0; 6],
        IP4_A,
    ))
    .unwrap();
    assert_eq!(entry4(&h, IP4_B).unwrap().state, NudState::DELAY);
    h.sink().take();
    assert_eq!(
        h.send_udp(IpAddr::V4(IP4_B), 1, 9, b"x").unwrap(),
        Xmit::Sent
    );
    at(&h, 1_000); // delay_probe_time: PROBE, first unicast probe
    assert_eq!(entry4(&h, IP4_B).unwrap().state, NudState::PROBE);
    let out = h.sink().take();
    assert_eq!(out.len(), 2, "the datagram and one probe");
    let probe = &out[1];
    assert_eq!(&probe[..6], &MAC_B, "unicast to the cached MAC");
    let p = arp::parse_arp(&probe[14..]).unwrap();
    assert_eq!(
        (p.op, p.sender_ip, p.target_ip, p.target_mac),
        (ArpOp::Request, IP4_A, IP4_B, [0; 6])
    );
    assert_eq!(h.stats().get(Counter::ArpRequests), 2);
}

#[test]
fn a_request_for_us_from_a_permanent_neighbour_is_answered_not_applied() {
    let h = host();
    h.v4().add_permanent(IP4_B, DEV, &MAC_B2).unwrap();
    let rx = arp_rx(
        h.receive(&arp_from_b(
            ArpOp::Request,
            MAC_B,
            BROADCAST,
            IP4_B,
            [0; 6],
            IP4_A,
        ))
        .unwrap(),
    );
    assert!(matches!(
        rx.cache,
        CacheAction::Updated {
            result: Err(NeighError::NotPermitted),
            ..
        }
    ));
    assert!(
        rx.reply.is_some(),
        "neigh_event_ns returned the entry: the kernel replies"
    );
    assert_eq!(mac_of(&entry4(&h, IP4_B).unwrap()), Some(MAC_B2));
}

#[test]
fn hostile_arp_is_refused_counted_and_never_cached() {
    let h = host_with(Policy {
        arp_accept: ArpAccept::Always,
        ..Policy::default()
    });
    let good = arp_from_b(ArpOp::Reply, MAC_B, MAC_A, IP4_B, MAC_A, IP4_A);
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let cases: Vec<(Vec<u8>, ErrorKind)> = vec![
        (good[..30].to_vec(), ErrorKind::Truncated),
        (good[..13].to_vec(), ErrorKind::Truncated),
        (edit(&|v| v[15] = 0x20), ErrorKind::ArpHardwareType), // hrd 0x0020 (InfiniBand)
        (edit(&|v| v[16] = 0x86), ErrorKind::ArpProtocolType),
        (edit(&|v| v[18] = 8), ErrorKind::ArpAddressLength), // hln 8
        (edit(&|v| v[19] = 16), ErrorKind::ArpAddressLength), // pln 16
        (edit(&|v| v[21] = 3), ErrorKind::ArpOperation),     // RARP
        (edit(&|v| v[22] = 0x01), ErrorKind::BadLinkLayerAddress), // multicast sha
        (
            edit(&|v| v[22..28].copy_from_slice(&[0xff; 6])),
            ErrorKind::BadLinkLayerAddress,
        ),
        (
            edit(&|v| v[22..28].copy_from_slice(&[0; 6])),
            ErrorKind::BadLinkLayerAddress,
        ),
        (
            edit(&|v| v[28..32].copy_from_slice(&[224, 0, 0, 1])),
            ErrorKind::BadSenderAddress,
        ),
        (
            edit(&|v| v[28..32].copy_from_slice(&[255; 4])),
            ErrorKind::BadSenderAddress,
        ),
        (
            edit(&|v| v[38..42].copy_from_slice(&[239, 1, 2, 3])),
            ErrorKind::BadTargetAddress,
        ),
        (
            edit(&|v| v[38..42].copy_from_slice(&[127, 0, 0, 1])),
            ErrorKind::BadTargetAddress,
        ),
        (
            edit(&|v| v[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0x99])),
            ErrorKind::OtherHost,
        ),
        (
            edit(&|v| v[6..12].copy_from_slice(&MAC_A)),
            ErrorKind::OwnSourceMac,
        ),
        (
            edit(&|v| v[28..32].copy_from_slice(&IP4_A.octets())),
            ErrorKind::DuplicateAddress,
        ),
        (edit(&|v| v[12] = 0x99), ErrorKind::UnsupportedEtherType),
    ];
    for (i, (frame, kind)) in cases.iter().enumerate() {
        let before = h.stats().errors(*kind);
        let r = h.receive(frame);
        assert_eq!(
            r.as_ref().map_err(|e| e.kind()).err(),
            Some(*kind),
            "case {i}: {r:?}"
        );
        assert_eq!(h.stats().errors(*kind), before + 1, "case {i}");
        assert!(h.v4().is_empty(), "case {i} created an entry");
    }
    // IEEE 802 hardware type is accepted on Ethernet, as the kernel does.
    assert!(h.receive(&edit(&|v| v[15] = 6)).is_ok());
    assert_eq!(h.v4().len(), 1);
}
