//! Protocol address keys: what a table is keyed by, besides the device.
//!
//! A [`NeighKey`] is the kernel's `primary_key` plus the table's hash
//! function (`arp_hashfn` for IPv4, `ndisc_hashfn` for IPv6). This module
//! must not know about entries or tables.

use core::fmt::Debug;
use core::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A device (interface) index, the kernel's `ifindex`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevId(pub u32);

impl core::fmt::Display for DevId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "dev{}", self.0)
    }
}

/// A protocol address that a neighbour table can be keyed by.
pub trait NeighKey: Copy + Ord + Hash + Debug + core::fmt::Display + Send + Sync + 'static {
    /// The table's family name (`"inet"`, `"inet6"`), for dumps.
    const FAMILY: &'static str;

    /// The table hash (kernel `tbl->hash`): a 32-bit value whose *top* bits
    /// select the bucket, mixed with the table's random seed.
    fn neigh_hash(&self, dev: DevId, seed: u32) -> u32;
}

impl NeighKey for Ipv4Addr {
    const FAMILY: &'static str = "inet";

    /// `arp_hashfn`: `(key ^ ifindex) * hash_rnd`; the multiplication carries
    /// entropy into the top bits, which pick the bucket.
    #[inline]
    fn neigh_hash(&self, dev: DevId, seed: u32) -> u32 {
        (u32::from(*self) ^ dev.0).wrapping_mul(seed | 1)
    }
}

impl NeighKey for Ipv6Addr {
    const FAMILY: &'static str = "inet6";

    /// `ndisc_hashfn`: each 32-bit word times a per-word odd multiplier.
    #[inline]
    fn neigh_hash(&self, dev: DevId, seed: u32) -> u32 {
        let o = self.octets();
        let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
        let s = seed | 1;
        (w(0).wrapping_mul(s))
            .wrapping_add(w(4).wrapping_mul(s.rotate_left(8) | 1))
            .wrapping_add(w(8).wrapping_mul(s.rotate_left(16) | 1))
            .wrapping_add((w(12) ^ dev.0).wrapping_mul(s.rotate_left(24) | 1))
    }
}
