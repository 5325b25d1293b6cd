//! The neighbour effects of Router Solicitations, Router Advertisements
//! and Redirects (`ndisc_recv_rs`, `ndisc_router_discovery`,
//! `ndisc_redirect_rcv`; RFC 4861 §6.1, §6.2.6, §6.3.4, §8.1, §8.3), one
//! test per rule, against a host whose frames are recorded.
#![cfg(all(feature = "proto", not(any(feature = "loom", feature = "shuttle"))))]

use crate::proto_common;

use neighcache::proto::ndisc::ALL_NODES;
use neighcache::proto::{CacheAction, ErrorKind, Host, Policy, RxEvent, Untouched};
use neighcache::{NeighError, NudState, UpdateFlags};
use proto_common::*;
use std::net::Ipv6Addr;

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The router's link-local address.
fn rtr() -> Ipv6Addr {
    v6("fe80::1")
}

fn cache(r: Result<RxEvent, neighcache::proto::ProtoError>) -> CacheAction {
    match r {
        Ok(RxEvent::Nd(n)) => n.cache,
        other => panic!("not ND: {other:?}"),
    }
}

fn kind(r: Result<RxEvent, neighcache::proto::ProtoError>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

#[test]
fn a_router_advertisement_caches_the_router_stale_with_its_flag() {
    let h = host();
    let c = cache(h.receive(&ra_from(rtr(), &[lladdr_opt(1, MAC_B)])));
    assert!(matches!(
        c,
        CacheAction::Updated {
            state: NudState::STALE,
            created: true,
            result: Ok(()),
            ..
        }
    ));
    let e = entry6(&h, rtr()).unwrap();
    assert_eq!(
        (e.state, mac_of(&e), e.router),
        (NudState::STALE, Some(MAC_B), true)
    );
    assert!(h.sink().take().is_empty(), "an RA is not answered");
}

#[test]
fn an_advertisement_keeps_a_reachable_router_and_moves_a_changed_one_to_stale() {
    let h = host();
    // The router is REACHABLE at MAC_B (resolved by us), not yet flagged.
    h.send_udp(rtr().into(), 1, 2, b"x").unwrap();
    let na = nd_msg(
        136,
        [0x60, 0, 0, 0],
        &[&rtr().octets()],
        &[lladdr_opt(2, MAC_B)],
    );
    h.receive(&icmp6_frame(MAC_A, MAC_B, rtr(), ip6_a(), &[], &na))
        .unwrap();
    assert_eq!(entry6(&h, rtr()).unwrap().state, NudState::REACHABLE);
    // Same address: the state stays, the router flag is set.
    h.receive(&ra_from(rtr(), &[lladdr_opt(1, MAC_B)])).unwrap();
    let e = entry6(&h, rtr()).unwrap();
    assert_eq!((e.state, e.router), (NudState::REACHABLE, true));
    // Without a source option: only the flag (here unchanged).
    h.receive(&ra_from(rtr(), &[])).unwrap();
    assert_eq!(entry6(&h, rtr()).unwrap().state, NudState::REACHABLE);
    // A new address: taken, STALE.
    h.receive(&ra_from(rtr(), &[lladdr_opt(1, MAC_B2)]))
        .unwrap();
    let e = entry6(&h, rtr()).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::STALE, Some(MAC_B2)));
}

#[test]
fn router_advertisements_are_validated_before_anything_is_cached() {
    let h = host();
    // RFC 4861 6.1.2: a link-local source, hop limit 255, code 0, 16 bytes.
    assert_eq!(
        kind(h.receive(&ra_from(ip6_b(), &[lladdr_opt(1, MAC_B)]))),
        Some(ErrorKind::NotLinkLocal)
    );
    let mut f = ra_from(rtr(), &[lladdr_opt(1, MAC_B)]);
    f[14 + 7] = 64;
    assert_eq!(kind(h.receive(&f)), Some(ErrorKind::BadHopLimit));
    let short = icmp6_frame(
        mac_for(ALL_NODES),
        MAC_B,
        rtr(),
        ALL_NODES,
        &[],
        &[134, 0, 0, 0, 64, 0, 0, 0],
    );
    assert_eq!(kind(h.receive(&short)), Some(ErrorKind::Truncated));
    let long = vec![1, 2, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        kind(h.receive(&ra_from(rtr(), &[long]))),
        Some(ErrorKind::LinkLayerOptionLength)
    );
    // Without a source option and without an entry: nothing to cache
    // (Linux makes an entry in state NONE, which `ip neigh` does not show).
    assert_eq!(
        cache(h.receive(&ra_from(rtr(), &[]))),
        CacheAction::Untouched(Untouched::NoLinkLayerOption)
    );
    assert!(h.v6().is_empty());
    // A target option in an RA is not looked at.
    let bad_tllao = vec![2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    h.receive(&ra_from(rtr(), &[lladdr_opt(1, MAC_B), bad_tllao]))
        .unwrap();
    assert!(entry6(&h, rtr()).unwrap().router);
}

fn rs_from(src: Ipv6Addr, opts: &[Vec<u8>]) -> Vec<u8> {
    let all_routers = v6("ff02::2");
    let rs = nd_msg(133, [0; 4], &[], opts);
    icmp6_frame(mac_for(all_routers), MAC_B, src, all_routers, &[], &rs)
}

#[test]
fn only_a_router_caches_a_soliciting_host() {
    // A host has not joined all-routers.
    let h = host();
    let f = rs_from(ip6_b(), &[lladdr_opt(1, MAC_B)]);
    assert_eq!(kind(h.receive(&f)), Some(ErrorKind::NotOurDestination));
    // Unicast to a host: heard, ignored.
    let rs = nd_msg(133, [0; 4], &[], &[lladdr_opt(1, MAC_B)]);
    let uni = icmp6_frame(MAC_A, MAC_B, ip6_b(), ip6_a(), &[], &rs);
    assert_eq!(
        cache(h.receive(&uni)),
        CacheAction::Untouched(Untouched::NotARouter)
    );
    assert!(h.v6().is_empty());
    // A router: STALE, router flag cleared (a soliciting node is a host).
    let r = host_with(Policy {
        forwarding: true,
        ..Policy::default()
    });
    assert!(matches!(
        cache(r.receive(&f)),
        CacheAction::Updated { created: true, .. }
    ));
    let e = entry6(&r, ip6_b()).unwrap();
    assert_eq!(
        (e.state, mac_of(&e), e.router),
        (NudState::STALE, Some(MAC_B), false)
    );
    // A known router that solicits loses its flag and its old address.
    let n = r.v6().lookup(ip6_b(), DEV).unwrap();
    let admin = UpdateFlags::ADMIN
        | UpdateFlags::OVERRIDE
        | UpdateFlags::OVERRIDE_ISROUTER
        | UpdateFlags::ISROUTER;
    r.v6()
        .update(&n, Some(&MAC_B2), NudState::STALE, admin)
        .unwrap();
    drop(n);
    assert!(entry6(&r, ip6_b()).unwrap().router);
    assert!(matches!(
        cache(r.receive(&f)),
        CacheAction::Updated { created: false, .. }
    ));
    let e = entry6(&r, ip6_b()).unwrap();
    assert_eq!(
        (e.state, mac_of(&e), e.router),
        (NudState::STALE, Some(MAC_B), false)
    );
    // From :: (no address yet): nothing cached.
    let dad = rs_from(Ipv6Addr::UNSPECIFIED, &[]);
    assert_eq!(
        cache(r.receive(&dad)),
        CacheAction::Untouched(Untouched::NoEntry)
    );
}

/// A Redirect from `src` for `dest`, better first hop `target`.
fn redirect(src: Ipv6Addr, target: Ipv6Addr, dest: Ipv6Addr, opts: &[Vec<u8>]) -> Vec<u8> {
    let m = nd_msg(137, [0; 4], &[&target.octets(), &dest.octets()], opts);
    icmp6_frame(MAC_A, MAC_B, src, ip6_a(), &[], &m)
}

/// A host that knows fe80::1 as a router (from its RA).
fn with_router(policy: Policy) -> Host<Rec> {
    let h = host_with(policy);
    h.receive(&ra_from(rtr(), &[lladdr_opt(1, MAC_B)])).unwrap();
    h
}

#[test]
fn a_redirect_from_our_router_caches_the_better_first_hop() {
    let h = with_router(Policy::default());
    let hop = v6("fe80::2");
    let f = redirect(rtr(), hop, v6("2001:db8:5::1"), &[lladdr_opt(2, MAC_B2)]);
    assert!(matches!(
        cache(h.receive(&f)),
        CacheAction::Updated {
            state: NudState::STALE,
            created: true,
            ..
        }
    ));
    let e = entry6(&h, hop).unwrap();
    assert_eq!(
        (e.state, mac_of(&e), e.router),
        (NudState::STALE, Some(MAC_B2), true)
    );
    // Target = destination: the destination is on the link, a host.
    let dest = v6("2001:db8:6::7");
    let f = redirect(rtr(), dest, dest, &[lladdr_opt(2, MAC_B2)]);
    h.receive(&f).unwrap();
    let e = entry6(&h, dest).unwrap();
    assert_eq!((e.state, e.router), (NudState::STALE, false));
    // Without a target option, for an unknown target: nothing cached.
    let f = redirect(rtr(), v6("fe80::3"), v6("2001:db8:5::2"), &[]);
    assert_eq!(
        cache(h.receive(&f)),
        CacheAction::Untouched(Untouched::NoLinkLayerOption)
    );
    assert!(entry6(&h, v6("fe80::3")).is_none());
    assert!(h.sink().take().is_empty(), "a Redirect is not answered");
}

#[test]
fn redirects_are_validated_and_refused_by_routers_and_from_strangers() {
    let h = with_router(Policy::default());
    let hop = v6("fe80::2");
    let dest = v6("2001:db8:5::1");
    let opt = || vec![lladdr_opt(2, MAC_B2)];
    let cases = [
        (
            redirect(ip6_b(), hop, dest, &opt()),
            ErrorKind::NotLinkLocal,
        ),
        (
            redirect(v6("fe80::9"), hop, dest, &opt()),
            ErrorKind::RedirectNotFromRouter,
        ),
        (
            redirect(rtr(), hop, v6("ff02::9"), &opt()),
            ErrorKind::BadRedirect,
        ),
        (
            redirect(rtr(), v6("2001:db8::9"), dest, &opt()),
            ErrorKind::BadRedirect,
        ),
        (
            redirect(rtr(), ip6_a(), ip6_a(), &opt()),
            ErrorKind::BadRedirect,
        ),
        (
            redirect(
                rtr(),
                hop,
                dest,
                &[vec![2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
            ),
            ErrorKind::LinkLayerOptionLength,
        ),
    ];
    for (i, (f, k)) in cases.iter().enumerate() {
        assert_eq!(kind(h.receive(f)), Some(*k), "case {i}");
    }
    assert_eq!(h.v6().len(), 1, "only the router");
    for policy in [
        Policy {
            forwarding: true,
            ..Policy::default()
        },
        Policy {
            accept_redirects: false,
            ..Policy::default()
        },
    ] {
        let r = with_router(policy);
        let f = redirect(rtr(), hop, dest, &opt());
        assert_eq!(kind(r.receive(&f)), Some(ErrorKind::RedirectIgnored));
        assert_eq!(r.v6().len(), 1);
    }
}

#[test]
fn a_permanent_neighbour_is_not_changed_by_router_messages() {
    let h = host();
    h.v6().add_permanent(rtr(), DEV, &MAC_B2).unwrap();
    assert!(matches!(
        cache(h.receive(&ra_from(rtr(), &[lladdr_opt(1, MAC_B)]))),
        CacheAction::Updated {
            result: Err(NeighError::NotPermitted),
            ..
        }
    ));
    let e = entry6(&h, rtr()).unwrap();
    assert_eq!((e.state, mac_of(&e)), (NudState::PERMANENT, Some(MAC_B2)));
}

#[test]
fn a_solicitation_keeps_the_router_flag() {
    // ndisc_recv_ns updates with WEAK_OVERRIDE|OVERRIDE, no
    // OVERRIDE_ISROUTER: a router that solicits stays a router.
    let h = host();
    h.receive(&ra_from(rtr(), &[lladdr_opt(1, MAC_B)])).unwrap();
    let sn = neighcache::proto::eth::solicited_node(&ip6_a());
    let ns = nd_msg(135, [0; 4], &[&ip6_a().octets()], &[lladdr_opt(1, MAC_B2)]);
    h.receive(&icmp6_frame(mac_for(sn), MAC_B, rtr(), sn, &[], &ns))
        .unwrap();
    let e = entry6(&h, rtr()).unwrap();
    assert_eq!((mac_of(&e), e.router), (Some(MAC_B2), true));
}
