//! Protocol address keys and the table's keyed hash.
//!
//! A [`NeighKey`] is the kernel's `primary_key`: an IPv4 or IPv6 address.
//! The trait is sealed (only [`Ipv4Addr`] and [`Ipv6Addr`] implement it), so
//! every comparison and hash the table runs under its locks is the crate's
//! own code: no user code can panic halfway through a resize.
//!
//! The bucket hash (`HashKey::hash`) is keyed with 192 random bits per
//! table (SPEC.md §5, "Hash seeding"): a folded 64x64->128 multiply in the
//! style of `foldhash`, not the kernel's `arp_hashfn` (`key * hash_rnd`,
//! whose collisions can be computed by anyone who learns the 32-bit seed).
//! Nothing public reveals a key's hash. This module must not know about
//! entries or tables.

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

mod sealed {
    /// Only the crate implements [`NeighKey`](super::NeighKey).
    pub trait Sealed {}
    impl Sealed for std::net::Ipv4Addr {}
    impl Sealed for std::net::Ipv6Addr {}
}

/// A protocol address that a neighbour table can be keyed by: [`Ipv4Addr`]
/// (ARP) or [`Ipv6Addr`] (NDP). Sealed: the table's hashing and comparisons
/// are the crate's own code.
pub trait NeighKey:
    sealed::Sealed + Copy + Ord + Hash + Debug + core::fmt::Display + Send + Sync + 'static
{
    /// The table's family name (`"inet"`, `"inet6"`), for dumps.
    const FAMILY: &'static str;

    /// The address as one integer (the bits the table hashes).
    #[doc(hidden)]
    fn to_bits(&self) -> u128;
}

impl NeighKey for Ipv4Addr {
    const FAMILY: &'static str = "inet";

    #[inline]
    fn to_bits(&self) -> u128 {
        u128::from(u32::from(*self))
    }
}

impl NeighKey for Ipv6Addr {
    const FAMILY: &'static str = "inet6";

    #[inline]
    fn to_bits(&self) -> u128 {
        u128::from(*self)
    }
}

/// `a * b` as a 128-bit product, its halves folded together (foldhash's
/// `folded_multiply`): every output bit depends on every input bit.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A table's secret hash key (the kernel's `hash_rnd`, widened).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct HashKey {
    k: [u64; 3],
}

impl core::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the key: it is what keeps chains short.
        f.write_str("HashKey(..)")
    }
}

impl HashKey {
    /// A key drawn from `next` (the table's seeded generator).
    pub(crate) fn new(mut next: impl FnMut() -> u64) -> HashKey {
        HashKey {
            k: [next(), next(), next()],
        }
    }

    /// The 32-bit bucket hash of `(key, dev)`; the table takes its top bits.
    #[inline]
    pub(crate) fn hash<K: NeighKey>(&self, key: &K, dev: DevId) -> u32 {
        let bits = key.to_bits();
        let lo = bits as u64;
        let hi = (bits >> 64) as u64;
        let h = fold_mul(lo ^ self.k[0], hi ^ self.k[1]);
        let h = fold_mul(h ^ u64::from(dev.0), self.k[2]);
        (h >> 32) as u32
    }
}

/// The next value of a splitmix64 generator with state `state` (Vigna's
/// constants): the tables' and the proxy queue's seeded randomness
/// (reachable times, re-keys, proxy delays), reproducible from a seed.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 64 bits from the operating system's randomness, through `std`'s
/// `RandomState` (SipHash keyed once per thread from the OS; every call
/// hashes a fresh counter value, so no two calls return related values).
pub(crate) fn os_random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static CALLS: crate::sync::plain::AtomicU64 = crate::sync::plain::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    // Relaxed: only the uniqueness of the value matters.
    h.write_u64(CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u64) -> HashKey {
        let mut s = seed;
        HashKey::new(|| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s
        })
    }

    #[test]
    fn keys_and_devices_spread() {
        let k = key(1);
        let a = Ipv4Addr::new(10, 0, 0, 1);
        assert_ne!(k.hash(&a, DevId(1)), k.hash(&a, DevId(2)));
        assert_ne!(
            k.hash(&a, DevId(1)),
            k.hash(&Ipv4Addr::new(10, 0, 0, 2), DevId(1))
        );
        // 4096 consecutive addresses over 64 buckets: no bucket far above the
        // mean of 64 (a multiplicative hash of consecutive keys is perfect;
        // this checks the folded one is not degenerate).
        let mut b = [0u32; 64];
        for i in 0..4096u32 {
            b[(k.hash(&Ipv4Addr::from(0x0a00_0000 + i), DevId(1)) >> 26) as usize] += 1;
        }
        assert!(b.iter().all(|&c| (20..=120).contains(&c)), "{b:?}");
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        assert_ne!(k.hash(&v6, DevId(1)), key(2).hash(&v6, DevId(1)));
    }

    #[test]
    fn os_random_differs_per_call() {
        assert_ne!(os_random(), os_random());
    }

    #[test]
    fn hash_key_is_not_printed() {
        assert_eq!(format!("{:?}", key(3)), "HashKey(..)");
    }
}
