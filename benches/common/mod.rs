//! Shared pieces of the neighcache benches: the allocation-free packet and
//! ops, the frame "transmit" every contender performs, and key generation.
//!
//! Vocabulary shared by every test suite (`tests/`, `loom-tests/`,
//! `shuttle-tests/`, `benches/`): `DEV` device, `SRC_MAC` ours,
//! `MAC_A`/`MAC_B` peers, `Pkt` packets, `TestOps` the device side,
//! `test_config()`.
#![allow(dead_code)]

use neighcache::neigh::HH_MAX;
use neighcache::{
    DevId, DeviceConfig, NeighKey, NeighOps, NeighParms, NeighTable, NudState, Packet, Probe,
    TableConfig, UpdateFlags,
};
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The device every bench entry lives on.
pub const DEV: DevId = DevId(1);
/// Our MAC (source of every header).
pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Neighbour MACs (two, so that an update can change the address).
pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xa0];
/// The alternative neighbour MAC.
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xb0];

/// A tiny packet: a sequence number. `Copy`, so passing it allocates nothing.
#[derive(Clone, Copy, Debug)]
pub struct Pkt(pub u32);

impl Packet for Pkt {
    fn len(&self) -> usize {
        64
    }
}

/// "Transmit": build the frame (cached header + payload) in a reused
/// per-call stack buffer and hand it to `black_box`. Every contender in the
/// benches calls exactly this after its lookup, so they do the same work.
#[inline(always)]
pub fn emit(hh: &[u8], pkt: Pkt) {
    let mut frame = [0u8; HH_MAX + 4];
    frame[..hh.len()].copy_from_slice(hh);
    frame[HH_MAX..].copy_from_slice(&pkt.0.to_ne_bytes());
    black_box(&frame);
}

/// The bench's device side: transmit is [`emit`]; probes go nowhere.
pub struct TestOps;

impl<K: NeighKey> NeighOps<K> for TestOps {
    type Packet = Pkt;
    #[inline]
    fn transmit(&self, _dev: DevId, hh: &[u8], pkt: Pkt) {
        emit(hh, pkt);
    }
    fn solicit(&self, _dev: DevId, key: &K, _probe: Probe) {
        black_box(key);
    }
    fn error_report(&self, _dev: DevId, key: &K, pkt: Pkt) {
        black_box((key, pkt));
    }
}

/// The bench table type (IPv4).
pub type Table = NeighTable<Ipv4Addr, TestOps>;
/// The IPv6 bench table type.
pub type Table6 = NeighTable<Ipv6Addr, TestOps>;

/// A table configuration that never refuses or force-collects below 2^23
/// entries (the defaults stop at 1024) and has a fixed seed.
pub fn test_config() -> TableConfig {
    TableConfig {
        parms: NeighParms::default(),
        gc_thresh1: 128,
        gc_thresh2: 1 << 23,
        gc_thresh3: 1 << 23,
        seed: 0x5eed_1234_abcd_0001,
        ..TableConfig::default()
    }
}

/// An empty bench table with device [`DEV`].
pub fn empty_table() -> Table {
    empty_table_of()
}

/// An empty bench table of key type `K` with device [`DEV`].
pub fn empty_table_of<K: NeighKey>() -> NeighTable<K, TestOps> {
    let t = NeighTable::new(test_config(), TestOps).expect("valid config");
    t.add_device(DEV, DeviceConfig::ethernet(SRC_MAC, 0x0800))
        .expect("new device");
    t
}

/// A table holding `keys`, every entry REACHABLE with [`MAC_A`] (its header
/// cached), as after an ARP reply.
pub fn resolved_table<K: NeighKey>(keys: &[K]) -> NeighTable<K, TestOps> {
    let t = empty_table_of();
    for &k in keys {
        let n = t.lookup_or_create(k, DEV).expect("create");
        t.update(&n, Some(&MAC_A), NudState::REACHABLE, UpdateFlags::OVERRIDE)
            .expect("resolve");
    }
    t
}

/// Wait out RCU grace periods until the garbage retired so far (chains
/// replaced while building a table, a dropped table's entries) is freed, so
/// that the next benchmark does not pay for reclaiming it.
pub fn settle() {
    for _ in 0..20_000 {
        neighcache::rcu::barrier();
    }
}

/// The Ethernet header the table caches for `mac` (what peers store).
pub fn eth_header(mac: [u8; 6]) -> Hdr {
    let mut hh = [0u8; HH_MAX];
    hh[..6].copy_from_slice(&mac);
    hh[6..12].copy_from_slice(&SRC_MAC);
    hh[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    Hdr { len: 14, hh }
}

/// What the peer maps store per neighbour: a cached header of variable
/// length, the same shape as the table's.
#[derive(Clone, Copy, Debug)]
pub struct Hdr {
    len: u8,
    hh: [u8; HH_MAX],
}

impl Hdr {
    /// The header bytes.
    #[inline(always)]
    pub fn header(&self) -> &[u8] {
        &self.hh[..self.len as usize]
    }
}

/// splitmix64.
pub fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fisher-Yates.
pub fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut s = seed;
    for i in (1..v.len()).rev() {
        let j = (splitmix(&mut s) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// `n` distinct on-link IPv4 neighbours with a realistic spread: hosts are
/// dense inside /24 subnets (`.1`-`.254`, as an ARP cache sees them), and the
/// subnets are scattered over the private ranges (70% in 10/8, 20% in
/// 172.16/12, 10% in 192.168/16). Returned in random order.
pub fn keys(n: usize, seed: u64) -> Vec<Ipv4Addr> {
    let mut s = seed;
    let mut subnets = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = splitmix(&mut s);
        let net: u32 = match r % 10 {
            0..=6 => (10 << 24) | (((r >> 8) as u32 & 0xffff) << 8),
            7 | 8 => (172 << 24) | (16 << 16) | (((r >> 8) as u32 & 0x0fff) << 8),
            _ => (192 << 24) | (168 << 16) | (((r >> 8) as u32 & 0xff) << 8),
        };
        if !subnets.insert(net) {
            continue;
        }
        for host in 1..=254u32 {
            if out.len() == n {
                break;
            }
            out.push(Ipv4Addr::from(net | host));
        }
    }
    shuffle(&mut out, seed ^ 0xabcdef);
    out
}

/// `n` distinct on-link IPv6 neighbours: /64 subnets scattered over
/// 2001:db8::/32, hosts with random 64-bit interface identifiers (SLAAC),
/// 200 per subnet. Returned in random order.
pub fn keys6(n: usize, seed: u64) -> Vec<Ipv6Addr> {
    let mut s = seed;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    let mut net = 0u128;
    while out.len() < n {
        if out.len() % 200 == 0 {
            net = (0x2001_0db8_u128 << 96) | (u128::from(splitmix(&mut s) as u32) << 64);
        }
        let a = Ipv6Addr::from(net | u128::from(splitmix(&mut s)));
        if seen.insert(a) {
            out.push(a);
        }
    }
    shuffle(&mut out, seed ^ 0xabcdef);
    out
}

/// `n` keys disjoint from [`keys`]' (in 100.64/10), for churn.
pub fn churn_keys(n: usize, seed: u64) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = (0..n as u32)
        .map(|i| Ipv4Addr::from((100 << 24) | (64 << 16) | (i + 1)))
        .collect();
    shuffle(&mut v, seed);
    v
}
