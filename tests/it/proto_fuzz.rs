//! Random and mutated frames into [`Host::receive`]: it never panics; every
//! refused frame is exactly one counted error and leaves both tables as
//! they were; whatever is accepted never puts a multicast, broadcast or
//! all-zero MAC, or a multicast/unspecified address, into a table.
//!
//! Seeds are valid frames (several captured from Linux 6.18); mutations
//! flip bytes, truncate, extend, and for IPv6 optionally re-fix the ICMPv6
//! checksum so that mutations reach the ND option and flag checks instead
//! of stopping at the checksum.
#![cfg(all(feature = "proto", not(any(feature = "loom", feature = "shuttle"))))]

use crate::proto_common;

use neighcache::proto::arp::ArpOp;
use neighcache::proto::eth::{self, BROADCAST};
use neighcache::proto::ndisc::ALL_NODES;
use neighcache::proto::{ip, ArpAccept, Policy, UntrackedNa};
use proptest::prelude::*;
use proto_common::*;
use std::net::{IpAddr, Ipv6Addr};

fn seeds() -> Vec<Vec<u8>> {
    // The kernel's frames are from A; aim them at us (A) by swapping roles
    // where needed: ARP request from B for us, NA from B to us.
    let udp = ip::udp(IpAddr::V4(IP4_B), IpAddr::V4(IP4_A), 1, 2, b"payload");
    let echo6 = ip::echo(IpAddr::V6(ip6_b()), IpAddr::V6(ip6_a()), 1, 1, b"x", false);
    vec![
        kernel_arp_request(),
        kernel_ns(),
        kernel_na(),
        arp_from_b(ArpOp::Request, MAC_B, BROADCAST, IP4_B, [0; 6], IP4_A),
        arp_from_b(ArpOp::Reply, MAC_B, MAC_A, IP4_B, MAC_A, IP4_A),
        arp_from_b(ArpOp::Request, MAC_B, BROADCAST, IP4_B, [0; 6], IP4_B),
        ns_from_b(ip6_a(), eth::solicited_node(&ip6_a()), ip6_b()),
        ns_from_b(ip6_a(), ip6_a(), ip6_b()),
        na_from_b(MAC_B, ip6_a(), true, true, true, true),
        na_from_b(MAC_B, ALL_NODES, false, false, true, true),
        eth::build(MAC_A, MAC_B, eth::ETHERTYPE_IPV4, udp.len(), |b| {
            b.copy_from_slice(&udp)
        }),
        ipv6_frame(MAC_A, MAC_B, &echo6),
        ra_from(rtr(), &[lladdr_opt(1, MAC_B)]),
        redirect(),
        // An NS behind a hop-by-hop header (router alert, PadN).
        {
            let sn = eth::solicited_node(&ip6_a());
            let ns = nd_msg(135, [0; 4], &[&ip6_a().octets()], &[lladdr_opt(1, MAC_B)]);
            let hbh = vec![0, 0, 5, 2, 0, 0, 1, 0];
            icmp6_frame(mac_for(sn), MAC_B, ip6_b(), sn, &[(0, hbh)], &ns)
        },
    ]
}

fn rtr() -> Ipv6Addr {
    "fe80::1".parse().unwrap()
}

/// A Redirect from the router to fe80::2 for 2001:db8:5::1.
fn redirect() -> Vec<u8> {
    let (hop, dest): (Ipv6Addr, Ipv6Addr) =
        ("fe80::2".parse().unwrap(), "2001:db8:5::1".parse().unwrap());
    let m = nd_msg(
        137,
        [0; 4],
        &[&hop.octets(), &dest.octets()],
        &[lladdr_opt(2, MAC_B2)],
    );
    icmp6_frame(MAC_A, MAC_B, rtr(), ip6_a(), &[], &m)
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
    FixChecksum,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..24).prop_map(Mutation::Extend),
        2 => Just(Mutation::FixChecksum),
    ]
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    let n = seeds().len();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..120),
        6 => (0..n, proptest::collection::vec(mutation(), 0..5)).prop_map(|(i, ms)| {
            let mut f = seeds()[i].clone();
            for m in ms {
                match m {
                    Mutation::Flip(at, b) if !f.is_empty() => {
                        let at = at % f.len();
                        f[at] = b;
                    }
                    Mutation::Truncate(at) => f.truncate(at % (f.len() + 1)),
                    Mutation::Extend(more) => f.extend(more),
                    Mutation::FixChecksum
                        if f.len() >= 14 + 40 + 4 && f[12..14] == [0x86, 0xdd] && f[14 + 6] == 58 =>
                    {
                        let plen = u16::from_be_bytes([f[18], f[19]]) as usize;
                        if f.len() >= 14 + 40 + plen && plen >= 4 {
                            fix_icmpv6_checksum(&mut f);
                        }
                    }
                    _ => {}
                }
            }
            f
        }),
    ]
}

fn check_tables(h: &Host<Rec>) {
    for e in h.v4().dump() {
        assert!(
            !e.key.is_multicast() && !e.key.is_unspecified(),
            "bad key {e}"
        );
        if let Some(m) = mac_of(&e) {
            assert!(eth::is_unicast(&m), "bad lladdr {e}");
        }
    }
    for e in h.v6().dump() {
        assert!(
            !e.key.is_multicast() && !e.key.is_unspecified(),
            "bad key {e}"
        );
        if let Some(m) = mac_of(&e) {
            assert!(eth::is_unicast(&m), "bad lladdr {e}");
        }
    }
}

use neighcache::proto::Host;

fn run(policy: Policy, frames: Vec<Vec<u8>>) {
    let h = host_with(policy);
    let mut errors = 0;
    for f in frames {
        let before = (h.v4().dump(), h.v6().dump(), h.stats().errors_total());
        match h.receive(&f) {
            Ok(_) => {}
            Err(e) => {
                errors += 1;
                let after = h.stats().errors_total();
                assert_eq!(after, before.2 + 1, "{e}: not counted once");
                // No entry created, changed or removed by a refused frame
                // (timestamps aside: nothing runs the clock here).
                assert_eq!(h.v4().dump(), before.0, "{e}: IPv4 table touched");
                assert_eq!(h.v6().dump(), before.1, "{e}: IPv6 table touched");
            }
        }
        check_tables(&h);
    }
    assert_eq!(h.stats().errors_total(), errors);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn default_policy_survives_hostile_frames(frames in proptest::collection::vec(frame(), 1..8)) {
        run(Policy::default(), frames);
    }

    #[test]
    fn permissive_policy_survives_hostile_frames(frames in proptest::collection::vec(frame(), 1..8)) {
        run(
            Policy {
                arp_accept: ArpAccept::Always,
                forwarding: true,
                accept_untracked_na: UntrackedNa::Always,
                ..Policy::default()
            },
            frames,
        );
    }
}

#[test]
fn every_seed_is_accepted() {
    let h = host_with(Policy {
        arp_accept: ArpAccept::Always,
        ..Policy::default()
    });
    // Seeds 0-2 are the kernel's own frames from A (our MAC): as A we
    // refuse them (OwnSourceMac); every other seed is accepted (the RA
    // comes before the Redirect, which needs a known router).
    for (i, f) in seeds().iter().enumerate() {
        let r = h.receive(f);
        assert_eq!(r.is_ok(), i > 2, "seed {i}: {r:?}");
    }
}
