//! Shared fixtures of the protocol-layer tests: a recording frame sink, a
//! host for "us" and a description of "the peer", frames captured from a
//! real Linux 6.18 kernel on a veth pair, and frame builders for the peer.
#![allow(dead_code)]

use neighcache::proto::eth::{self, Mac, ETHERTYPE_IPV6};
use neighcache::proto::{arp, ndisc, FrameSink, Host, Iface, Policy, START_TICK};
use neighcache::{DevId, NeighInfo, NeighParms, TableConfig, HZ};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

/// Records every frame sent.
#[derive(Default)]
pub struct Rec {
    pub frames: Mutex<Vec<Vec<u8>>>,
}

impl Rec {
    pub fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.frames.lock().unwrap())
    }
}

impl FrameSink for Rec {
    fn send_frame(&self, _dev: DevId, head: &[u8], body: &[u8]) -> io::Result<()> {
        self.frames.lock().unwrap().push([head, body].concat());
        Ok(())
    }
}

pub const DEV: DevId = DevId(7);
pub const MAC_A: Mac = [2, 0, 0, 0, 0, 1];
pub const MAC_B: Mac = [2, 0, 0, 0, 0, 2];
pub const MAC_B2: Mac = [2, 0, 0, 0, 0, 0x12];
pub const IP4_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const IP4_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub fn ip6_a() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}
pub fn ip6_b() -> Ipv6Addr {
    "2001:db8::2".parse().unwrap()
}

/// Host A (198.18.0.1, 2001:db8::1, 02:00:00:00:00:01) or B (.2, ::2, :02).
pub fn iface(a: bool) -> Iface {
    let (mac, v4, v6) = if a {
        (MAC_A, IP4_A, ip6_a())
    } else {
        (MAC_B, IP4_B, ip6_b())
    };
    Iface::new(DEV, if a { "vr" } else { "vp" }, mac)
        .with_ipv4(v4, 24)
        .with_ipv6(v6, 64)
}

pub fn cfg() -> TableConfig {
    TableConfig {
        seed: 7,
        parms: NeighParms {
            base_reachable_time: 2 * HZ,
            delay_probe_time: HZ,
            retrans_time: 300,
            ..NeighParms::default()
        },
        ..TableConfig::default()
    }
}

/// "Us": host A with the kernel's default policy, clock at tick 0.
pub fn host() -> Host<Rec> {
    host_with(Policy::default())
}

pub fn host_with(policy: Policy) -> Host<Rec> {
    Host::new(iface(true), policy, cfg(), Rec::default()).unwrap()
}

/// Advance both tables' clocks to `t` ms after the host's start.
pub fn at(h: &Host<Rec>, t: u64) {
    h.v4().run_timers(START_TICK + t).unwrap();
    h.v6().run_timers(START_TICK + t).unwrap();
}

pub fn entry4(h: &Host<Rec>, ip: Ipv4Addr) -> Option<NeighInfo<Ipv4Addr>> {
    h.v4().dump().into_iter().find(|e| e.key == ip)
}

pub fn entry6(h: &Host<Rec>, ip: Ipv6Addr) -> Option<NeighInfo<Ipv6Addr>> {
    h.v6().dump().into_iter().find(|e| e.key == ip)
}

pub fn mac_of<K>(e: &NeighInfo<K>) -> Option<Mac> {
    e.lladdr.map(|a| a.as_bytes().try_into().unwrap())
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Linux 6.18 (netns A: 02:..:01, 198.18.0.1) asking for 198.18.0.2:
/// broadcast ARP request, `ar_tha` zero. Captured on the veth peer.
pub fn kernel_arp_request() -> Vec<u8> {
    hex("ffffffffffff02000000000108060001080006040001020000000001c6120001000000000000c6120002")
}

/// Linux 6.18 (A, 2001:db8::1) soliciting 2001:db8::2: to ff02::1:ff00:2 at
/// 33:33:ff:00:00:02, hop limit 255, with a source link-layer option.
pub fn kernel_ns() -> Vec<u8> {
    hex(
        "3333ff00000202000000000186dd6000000000203aff20010db8000000000000000000000001ff020000\
         0000000000000001ff00000287001c270000000020010db800000000000000000000000201010200000000\
         01",
    )
}

/// Linux 6.18 (B, 2001:db8::2) answering `kernel_ns`: unicast NA, S=1 O=1,
/// target link-layer option.
pub fn kernel_na() -> Vec<u8> {
    hex(
        "02000000000102000000000286dd6000000000203aff20010db800000000000000000000000220010db8\
         00000000000000000000000188008a716000000020010db800000000000000000000000202010200000000\
         02",
    )
}

/// An ARP packet from the peer B (MAC `mac`) in a frame to `eth_dst`.
pub fn arp_from_b(
    op: arp::ArpOp,
    mac: Mac,
    eth_dst: Mac,
    sip: Ipv4Addr,
    tha: Mac,
    tip: Ipv4Addr,
) -> Vec<u8> {
    let p = arp::ArpPacket {
        op,
        sender_mac: mac,
        sender_ip: sip,
        target_mac: tha,
        target_ip: tip,
    };
    arp::frame(eth_dst, mac, &p)
}

/// An IPv6 packet from B's MAC `mac` to `eth_dst`.
pub fn ipv6_frame(eth_dst: Mac, mac: Mac, pkt: &[u8]) -> Vec<u8> {
    eth::build(eth_dst, mac, ETHERTYPE_IPV6, pkt.len(), |b| {
        b.copy_from_slice(pkt)
    })
}

/// An NA from B (MAC `mac`, flags R/S/O, target link-layer option `tllao`).
pub fn na_from_b(
    mac: Mac,
    dst: Ipv6Addr,
    router: bool,
    solicited: bool,
    ovr: bool,
    tllao: bool,
) -> Vec<u8> {
    let b = Iface {
        mac,
        ..iface(false)
    };
    let pkt = ndisc::na_packet(&b, ip6_b(), dst, router, solicited, ovr, tllao);
    let eth_dst = if dst.is_multicast() {
        eth::ipv6_multicast_mac(&dst)
    } else {
        MAC_A
    };
    ipv6_frame(eth_dst, mac, &pkt)
}

/// An NS from B for `target`, to `dst` (multicast or unicast).
pub fn ns_from_b(target: Ipv6Addr, dst: Ipv6Addr, src: Ipv6Addr) -> Vec<u8> {
    let b = iface(false);
    let pkt = ndisc::ns_packet(&b, src, dst, target);
    let eth_dst = if dst.is_multicast() {
        eth::ipv6_multicast_mac(&dst)
    } else {
        MAC_A
    };
    ipv6_frame(eth_dst, MAC_B, &pkt)
}

/// Recompute the ICMPv6 checksum of an Ethernet+IPv6+ICMPv6 frame after a
/// test edited it (RFC 4443 pseudo-header sum).
pub fn fix_icmpv6_checksum(f: &mut [u8]) {
    let ip = &f[14..];
    let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
    f[14 + 40 + 2] = 0;
    f[14 + 40 + 3] = 0;
    let ip = &f[14..14 + 40 + plen];
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            sum += u32::from(w);
        }
    };
    add(&ip[8..40]);
    add(&(plen as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(&ip[40..]);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    f[14 + 40 + 2..14 + 40 + 4].copy_from_slice(&c.to_be_bytes());
}

/// The MAC an IPv6 destination is sent to from B: its multicast mapping,
/// or ours (A).
pub fn mac_for(dst: Ipv6Addr) -> Mac {
    if dst.is_multicast() {
        eth::ipv6_multicast_mac(&dst)
    } else {
        MAC_A
    }
}

/// An Ethernet frame from `eth_src` to `eth_dst` carrying IPv6 `src` ->
/// `dst`, hop limit 255, the extension headers `ext` (type and bytes; each
/// one's next-header byte is rewritten to chain them) and the ICMPv6
/// message `icmp`, whose checksum (bytes 2-3) is filled.
pub fn icmp6_frame(
    eth_dst: Mac,
    eth_src: Mac,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ext: &[(u8, Vec<u8>)],
    icmp: &[u8],
) -> Vec<u8> {
    let mut icmp = icmp.to_vec();
    icmp[2] = 0;
    icmp[3] = 0;
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(icmp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(&icmp);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    icmp[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let mut body = Vec::new();
    let mut first = 58;
    for (i, (kind, bytes)) in ext.iter().enumerate() {
        if i == 0 {
            first = *kind;
        }
        let mut b = bytes.clone();
        b[0] = ext.get(i + 1).map_or(58, |(k, _)| *k);
        body.extend(b);
    }
    body.extend(icmp);
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend((body.len() as u16).to_be_bytes());
    ip.extend([first, 255]);
    ip.extend(src.octets());
    ip.extend(dst.octets());
    ip.extend(body);
    ipv6_frame(eth_dst, eth_src, &ip)
}

/// A source (1) or target (2) link-layer address option.
pub fn lladdr_opt(kind: u8, mac: Mac) -> Vec<u8> {
    let mut o = vec![kind, 1];
    o.extend(mac);
    o
}

/// An ICMPv6 ND message: `ty`, a 4-byte word after the checksum
/// (flags), then `body` and `opts`.
pub fn nd_msg(ty: u8, word: [u8; 4], body: &[&[u8]], opts: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0];
    m.extend(word);
    for b in body {
        m.extend_from_slice(b);
    }
    for o in opts {
        m.extend(o);
    }
    m
}

/// A Router Advertisement from `src` (B's MAC) to all-nodes, with the
/// given options.
pub fn ra_from(src: Ipv6Addr, opts: &[Vec<u8>]) -> Vec<u8> {
    // Hop limit 64, no flags, lifetime 1800 s; reachable 0, retrans 0.
    let ra = nd_msg(134, [64, 0, 0x07, 0x08], &[&[0; 8]], opts);
    icmp6_frame(
        mac_for(ndisc::ALL_NODES),
        MAC_B,
        src,
        ndisc::ALL_NODES,
        &[],
        &ra,
    )
}
