//! Neighbor Discovery rules of the protocol layer (`ndisc_recv_ns`,
//! `ndisc_recv_na`, `ndisc_solicit`), one test per rule, against a host
//! whose frames are recorded; frames captured from Linux 6.18 pin the wire
//! format.
#![cfg(all(feature = "proto", not(any(feature = "loom", feature = "shuttle"))))]

use crate::proto_common;

use neighcache::proto::eth::{self, ETHERTYPE_IPV6};
use neighcache::proto::ndisc::{self, NdMsg, ALL_NODES};
use neighcache::proto::{
    CacheAction, Counter, ErrorKind, Host, Policy, RxEvent, Untouched, UntrackedNa,
};
use neighcache::{NeighError, NudState, Probe, UpdateFlags, Xmit};
use proto_common::*;
use std::net::{IpAddr, Ipv6Addr};

fn nd(ev: RxEvent) -> ndisc::NdRx {
    match ev {
        RxEvent::Nd(n) => n,
        other => panic!("not ND: {other:?}"),
    }
}

fn resolve_b(h: &Host<Rec>) {
    assert_eq!(
        h.send_udp(IpAddr::V6(ip6_b()), 4000, 9, b"q").unwrap(),
        Xmit::Queued
    );
    assert_eq!(entry6(h, ip6_b()).unwrap().state, NudState::INCOMPLETE);
}

#[test]
fn our_multicast_solicitation_is_byte_for_byte_the_kernels() {
    let h = host();
    resolve_b(&h);
    assert_eq!(h.sink().take(), vec![kernel_ns()]);
    assert_eq!(h.stats().get(Counter::NsSent), 1);
    assert_eq!(ndisc::solicit_frame(h.iface(), ip6_b(), Probe::App), None);
}

#[test]
fn answering_the_kernels_solicitation_reproduces_the_kernels_advertisement() {
    // We are B: the NS from A creates A's entry STALE (with its SLLAO) and
    // the NA goes out through that entry, which moves to DELAY.
    let b = Host::new(iface(false), Policy::default(), cfg(), Rec::default()).unwrap();
    let rx = nd(b.receive(&kernel_ns()).unwrap());
    assert!(matches!(
        rx.cache,
        CacheAction::Updated {
            state: NudState::STALE,
            result: Ok(()),
            ..
        }
    ));
    assert_eq!(b.sink().take(), vec![kernel_na()]);
    let a = b
        .v6()
        .dump()
        .into_iter()
        .find(|e| e.key == ip6_a())
        .unwrap();
    assert_eq!((a.state, mac_of(&a)), (NudState::DELAY, Some(MAC_A)));
}

#[test]
fn the_kernels_solicited_advertisement_resolves_us() {
    let h = host();
    resolve_b(&h);
    h.sink().take();
    nd(h.receive(&kernel_na()).unwrap());
    let e = entry6(&h, ip6_b()).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::REACHABLE, Some(MAC_B)));
    let out = h.sink().take();
    assert_eq!(out.len(), 1, "the queued datagram");
    assert_eq!(
        &out[0][..14],
        &[MAC_B.as_slice(), &MAC_A, &[0x86, 0xdd]].concat()[..]
    );
}

#[test]
fn an_unsolicited_advertisement_only_makes_the_entry_stale() {
    let h = host();
    h.v6().lookup_or_create(ip6_b(), DEV).unwrap();
    h.receive(&na_from_b(MAC_B, ALL_NODES, false, false, true, true))
        .unwrap();
    assert_eq!(entry6(&h, ip6_b()).unwrap().state, NudState::STALE);
}

#[test]
fn override_clear_does_not_replace_a_different_address() {
    let h = host();
    resolve_b(&h);
    h.receive(&na_from_b(MAC_B, ip6_a(), false, true, true, true))
        .unwrap();
    // O=0, different address, CONNECTED entry: WEAK_OVERRIDE makes it STALE, address kept.
    let rx = nd(h
        .receive(&na_from_b(MAC_B2, ip6_a(), false, true, false, true))
        .unwrap());
    let want = UpdateFlags::WEAK_OVERRIDE | UpdateFlags::OVERRIDE_ISROUTER;
    assert!(matches!(rx.cache, CacheAction::Updated { flags: Some(f), .. } if f == want));
    let e = entry6(&h, ip6_b()).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::STALE, Some(MAC_B)));
    // O=0 on a STALE entry: ignored.
    h.receive(&na_from_b(MAC_B2, ip6_a(), false, true, false, true))
        .unwrap();
    let e = entry6(&h, ip6_b()).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::STALE, Some(MAC_B)));
    // O=1 overrides.
    h.receive(&na_from_b(MAC_B2, ip6_a(), false, true, true, true))
        .unwrap();
    let e = entry6(&h, ip6_b()).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::REACHABLE, Some(MAC_B2)));
}

#[test]
fn the_router_flag_is_recorded_and_cleared() {
    let h = host();
    resolve_b(&h);
    h.receive(&na_from_b(MAC_B, ip6_a(), true, true, true, true))
        .unwrap();
    assert!(entry6(&h, ip6_b()).unwrap().router);
    h.receive(&na_from_b(MAC_B, ip6_a(), false, true, true, true))
        .unwrap();
    assert!(!entry6(&h, ip6_b()).unwrap().router);
}

#[test]
fn an_advertisement_we_never_asked_for_is_refused_unless_a_router_accepts_it() {
    let h = host();
    let na = na_from_b(MAC_B, ALL_NODES, false, false, true, true);
    assert_eq!(
        h.receive(&na).map_err(|e| e.kind()),
        Err(ErrorKind::UntrackedAdvertisement)
    );
    assert!(h.v6().is_empty());
    let p = Policy {
        forwarding: true,
        accept_untracked_na: UntrackedNa::Always,
        ..Policy::default()
    };
    let r = host_with(p);
    let solicited_looking = na_from_b(MAC_B, ip6_a(), false, true, true, true);
    let rx = nd(r.receive(&solicited_looking).unwrap());
    assert!(matches!(
        rx.cache,
        CacheAction::Updated {
            state: NudState::STALE,
            created: true,
            ..
        }
    ));
    assert_eq!(entry6(&r, ip6_b()).unwrap().state, NudState::STALE);
}

#[test]
fn an_advertisement_for_a_failed_entry_is_ignored() {
    let h = host();
    resolve_b(&h);
    for t in [500, 1000, 1500] {
        at(&h, t);
    }
    assert_eq!(entry6(&h, ip6_b()).unwrap().state, NudState::FAILED);
    let rx = nd(h
        .receive(&na_from_b(MAC_B, ip6_a(), false, true, true, true))
        .unwrap());
    assert_eq!(rx.cache, CacheAction::Untouched(Untouched::FailedEntry));
    assert_eq!(entry6(&h, ip6_b()).unwrap().state, NudState::FAILED);
    assert_eq!(
        h.v6().ops().error_reports(),
        1,
        "the queued datagram was reported"
    );
}

#[test]
fn drop_unsolicited_na_drops_and_counts() {
    let h = host_with(Policy {
        drop_unsolicited_na: true,
        ..Policy::default()
    });
    resolve_b(&h);
    let r = h.receive(&na_from_b(MAC_B, ALL_NODES, false, false, true, true));
    assert_eq!(
        r.map_err(|e| e.kind()),
        Err(ErrorKind::UnsolicitedNaDropped)
    );
    assert_eq!(entry6(&h, ip6_b()).unwrap().state, NudState::INCOMPLETE);
}

#[test]
fn a_unicast_solicitation_without_sllao_resolves_before_answering() {
    let h = host();
    let rx = nd(h
        .receive(&{
            let b = iface(false);
            let pkt = ndisc::ns_packet(&b, ip6_b(), ip6_a(), ip6_a());
            // Strip the SLLAO (last 8 bytes), fix lengths and checksum.
            let mut f = ipv6_frame(MAC_A, MAC_B, &pkt[..pkt.len() - 8]);
            f[14 + 5] -= 8;
            fix_icmpv6_checksum(&mut f);
            f
        })
        .unwrap());
    // Created, but without an address the update is refused: the NA waits
    // in the queue while we solicit B (the kernel does the same).
    assert!(matches!(
        rx.cache,
        CacheAction::Updated {
            result: Err(NeighError::NoLladdr),
            ..
        }
    ));
    let reply = rx.reply.unwrap();
    assert_eq!(reply.eth_dst, None);
    let e = entry6(&h, ip6_b()).unwrap();
    assert_eq!((e.state, e.queue_len), (NudState::INCOMPLETE, 1));
    let out = h.sink().take();
    assert_eq!(out.len(), 1, "our multicast NS for B");
    assert_eq!(&out[0][..3], &[0x33, 0x33, 0xff]);
    // The unicast-NS answer has S=1, O=0 and no target link-layer option.
    let (_, _, na) = ndisc::parse(
        &eth::build(MAC_B, MAC_A, ETHERTYPE_IPV6, reply.packet.len(), |b| {
            b.copy_from_slice(&reply.packet)
        }),
        &iface(false),
    )
    .unwrap();
    assert_eq!(
        na.msg,
        NdMsg::Advert {
            target: ip6_a(),
            router: false,
            solicited: true,
            override_: false,
            tllao: None
        }
    );
}

#[test]
fn a_multicast_solicitation_without_sllao_is_answered_only_for_a_known_sender() {
    let h = host();
    let mut f = ns_from_b(ip6_a(), eth::solicited_node(&ip6_a()), ip6_b());
    let n = f.len();
    f.truncate(n - 8);
    f[14 + 5] -= 8;
    fix_icmpv6_checksum(&mut f);
    let rx = nd(h.receive(&f).unwrap());
    assert_eq!(
        (rx.cache, rx.reply),
        (CacheAction::Untouched(Untouched::NoSourceLladdr), None)
    );
    assert!(h.v6().is_empty());
}

#[test]
fn a_dad_probe_is_answered_to_all_nodes_and_not_cached() {
    let h = host();
    let rx = nd(h
        .receive(&ns_from_b(
            ip6_a(),
            eth::solicited_node(&ip6_a()),
            Ipv6Addr::UNSPECIFIED,
        ))
        .unwrap());
    assert_eq!(rx.cache, CacheAction::Untouched(Untouched::DadProbe));
    let out = h.sink().take();
    assert_eq!(&out[0][..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert!(h.v6().is_empty());
}

#[test]
fn probe_state_solicits_unicast_to_the_target_at_the_cached_mac() {
    let h = host();
    resolve_b(&h);
    h.receive(&na_from_b(MAC_B, ip6_a(), false, false, true, true))
        .unwrap(); // STALE (+flush: DELAY)
    h.sink().take();
    at(&h, 1_000);
    assert_eq!(entry6(&h, ip6_b()).unwrap().state, NudState::PROBE);
    let out = h.sink().take();
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][..6], &MAC_B);
    let (_, _, p) = ndisc::parse(
        &{
            let mut f = out[0].clone();
            f[..6].copy_from_slice(&MAC_B);
            f
        },
        &iface(false),
    )
    .unwrap();
    assert_eq!(
        (p.dst, p.msg),
        (
            ip6_b(),
            NdMsg::Solicit {
                target: ip6_b(),
                sllao: Some(MAC_A)
            }
        )
    );
}

#[test]
fn duplicate_link_layer_options_keep_the_first() {
    let h = host();
    resolve_b(&h);
    // NA with two TLLAOs: MAC_B, then MAC_B2.
    let mut f = na_from_b(MAC_B, ip6_a(), false, true, true, true);
    f.extend_from_slice(&[2, 1, 2, 0, 0, 0, 0, 0x12]);
    f[14 + 5] += 8;
    fix_icmpv6_checksum(&mut f);
    h.receive(&f).unwrap();
    assert_eq!(mac_of(&entry6(&h, ip6_b()).unwrap()), Some(MAC_B));
}

#[test]
fn hostile_nd_is_refused_counted_and_never_cached() {
    let h = host_with(Policy {
        forwarding: true,
        accept_untracked_na: UntrackedNa::Always,
        ..Policy::default()
    });
    let na = na_from_b(MAC_B, ip6_a(), false, true, true, true);
    let ns = ns_from_b(ip6_a(), eth::solicited_node(&ip6_a()), ip6_b());
    let edit = |base: &Vec<u8>, fix: bool, f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = base.clone();
        f(&mut v);
        if fix {
            fix_icmpv6_checksum(&mut v);
        }
        v
    };
    let opt = 14 + 40 + 24; // first option
    let cases: Vec<(Vec<u8>, ErrorKind)> = vec![
        (
            edit(&na, false, &|v| v[14 + 7] = 64),
            ErrorKind::BadHopLimit,
        ),
        (edit(&na, true, &|v| v[14 + 41] = 1), ErrorKind::BadIcmpCode),
        (
            edit(&na, false, &|v| v[opt + 2] ^= 0x10),
            ErrorKind::BadChecksum,
        ),
        (edit(&na, true, &|v| v[opt + 1] = 0), ErrorKind::BadNdOption),
        (edit(&na, true, &|v| v[opt + 1] = 2), ErrorKind::BadNdOption), // runs past the end
        (
            edit(&na, true, &|v| {
                v.extend_from_slice(&[0; 8]);
                v[14 + 5] += 8;
                v[opt + 1] = 2
            }),
            ErrorKind::LinkLayerOptionLength,
        ),
        (
            edit(&na, true, &|v| v[opt + 2] = 0x01),
            ErrorKind::BadLinkLayerAddress,
        ),
        (
            edit(&na, true, &|v| v[14 + 40 + 8] = 0xff),
            ErrorKind::BadTargetAddress,
        ),
        (
            edit(&na, true, &|v| {
                v[0..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
                v[14 + 24..14 + 40].copy_from_slice(&ALL_NODES.octets())
            }),
            ErrorKind::SolicitedNaToMulticast,
        ),
        (
            edit(&na, true, &|v| {
                v.truncate(v.len() - 20);
                v[14 + 5] -= 20
            }),
            ErrorKind::Truncated,
        ),
        (na[..50].to_vec(), ErrorKind::Truncated),
        (
            edit(&ns, true, &|v| v[14 + 40 + 8 + 15] = 0x77),
            ErrorKind::NotOurAddress,
        ),
        (
            edit(&ns, true, &|v| v[14 + 8..14 + 24].copy_from_slice(&[0; 16])),
            ErrorKind::BadDadSolicitation,
        ),
        (
            edit(&ns, true, &|v| v[14 + 8] = 0xff),
            ErrorKind::BadSenderAddress,
        ),
        (
            edit(&ns, true, &|v| {
                v[14 + 8..14 + 24].copy_from_slice(&ip6_a().octets())
            }),
            ErrorKind::DuplicateAddress,
        ),
        (
            edit(&na, true, &|v| {
                v[14 + 40 + 8..14 + 40 + 24].copy_from_slice(&ip6_a().octets())
            }),
            ErrorKind::DuplicateAddress,
        ),
        (
            edit(&na, false, &|v| v[6..12].copy_from_slice(&MAC_A)),
            ErrorKind::OwnSourceMac,
        ),
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
        assert!(h.v6().is_empty(), "case {i} created an entry");
    }
    assert!(h.receive(&na).is_ok(), "the unedited frame is accepted");
}

#[test]
fn ndisc_receive_without_a_host_accepts_and_counts_as_the_host_does() {
    let h = host();
    let stats = neighcache::proto::ProtoStats::new();
    let (v6, iface, policy) = (h.v6(), h.iface(), h.policy());
    let ns = ns_from_b(ip6_a(), eth::solicited_node(&ip6_a()), ip6_b());
    let csum = neighcache::proto::L4Checksum::Verify;
    let rx = ndisc::receive(v6, iface, policy, &ns, csum, &stats).unwrap();
    assert!(rx.reply.is_some() && matches!(rx.cache, CacheAction::Updated { created: true, .. }));
    // The IP layer's refusals apply here too.
    let to_other = ns_from_b(ip6_a(), "ff02::1:ff00:99".parse().unwrap(), ip6_b());
    let r = ndisc::receive(v6, iface, policy, &to_other, csum, &stats);
    assert_eq!(
        r.map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::NotOurDestination)
    );
    let s = stats.snapshot();
    assert_eq!((s.get(Counter::RxFrames), s.get(Counter::RxNdisc)), (2, 1));
    assert_eq!(s.errors(ErrorKind::NotOurDestination), 1);
}
