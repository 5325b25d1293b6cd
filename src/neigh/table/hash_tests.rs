//! Unit tests of the RCU hash (`hash.rs`): re-keying, burst lookups
//! against single ones, and the burst's slot check.

use super::*;
use crate::{DeviceConfig, TableConfig, Xmit};
use std::net::Ipv4Addr;

use super::super::test_ops::Nop;

/// Someone who knows the hash key (here: the test, through the
/// test-only `key_hash`) builds a chain of `LONG_CHAIN` keys in one
/// bucket; the next create re-keys the table, after which the keys are
/// spread and every one is still found.
#[test]
fn a_long_chain_rekeys_the_table() {
    let cfg = TableConfig {
        initial_hash_shift: 10,
        seed: 99,
        ..TableConfig::default()
    };
    let t = NeighTable::new(cfg, Nop).unwrap();
    let dev = DevId(1);
    t.add_device(dev, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .unwrap();
    let bucket = |t: &NeighTable<Ipv4Addr, Nop>, k| t.key_hash(k, dev) >> 22;
    let target = bucket(&t, Ipv4Addr::from(0));
    let keys: Vec<Ipv4Addr> = (0u32..)
        .map(Ipv4Addr::from)
        .filter(|&k| bucket(&t, k) == target)
        .take(LONG_CHAIN + 1)
        .collect();
    for &k in &keys[..LONG_CHAIN] {
        t.lookup_or_create(k, dev).unwrap();
    }
    assert_eq!(t.stats().hash_reseeds, 0);
    t.lookup_or_create(keys[LONG_CHAIN], dev).unwrap();
    assert_eq!(
        t.stats().hash_reseeds,
        1,
        "the long chain re-keyed the table"
    );
    assert_eq!(t.stats().hash_buckets, 1024, "re-keying keeps the size");
    let spread: std::collections::HashSet<u32> = keys.iter().map(|&k| bucket(&t, k)).collect();
    assert!(
        spread.len() > 8,
        "still clustered after re-keying: {spread:?}"
    );
    let g = t.pin();
    for &k in &keys {
        assert!(
            t.lookup_noref(k, dev, &g).is_some(),
            "{k} lost by the re-key"
        );
    }
}

/// The burst lookup answers exactly as single lookups: hits, misses,
/// long chains (every key of one bucket), blocks of 32 and a partial
/// block, keys on another device, and a burst while the table grows.
#[test]
fn burst_answers_as_single_lookups() {
    let cfg = TableConfig {
        initial_hash_shift: 4,
        seed: 5,
        // 2,106 fresh entries: none collectable, none refused.
        gc_thresh2: 4096,
        gc_thresh3: 4096,
        ..TableConfig::default()
    };
    let t = NeighTable::new(cfg, Nop).unwrap();
    let dev = DevId(1);
    t.add_device(dev, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .unwrap();
    let bucket = |k| t.key_hash(k, dev) >> 28;
    let same: Vec<Ipv4Addr> = (0u32..)
        .map(Ipv4Addr::from)
        .filter(|&k| bucket(k) == bucket(Ipv4Addr::from(0)))
        .take(6)
        .collect();
    for &k in &same {
        t.lookup_or_create(k, dev).unwrap();
    }
    let mut keys: Vec<(Ipv4Addr, DevId)> = same.iter().map(|&k| (k, dev)).collect();
    for i in 0..100u32 {
        let k = Ipv4Addr::from(0x0a00_0000 + i);
        if i % 3 != 0 {
            t.lookup_or_create(k, dev).unwrap();
        }
        keys.push((k, if i % 7 == 0 { DevId(2) } else { dev }));
    }
    let check = |keys: &[(Ipv4Addr, DevId)]| {
        let g = t.pin();
        let mut out = vec![None; keys.len()];
        t.lookup_noref_burst(keys, &mut out, &g);
        for (&(k, d), o) in keys.iter().zip(&out) {
            let single = t.lookup_noref(k, d, &g);
            assert_eq!(
                o.map(|n| n as *const _),
                single.map(|n| n as *const _),
                "{k} {d}"
            );
        }
        out.iter().filter(|o| o.is_some()).count()
    };
    let hits = check(&keys);
    assert_eq!(
        hits,
        6 + (1..100).filter(|i| i % 3 != 0 && i % 7 != 0).count()
    );
    assert_eq!(check(&keys[..7]), 6);
    assert_eq!(check(&[]), 0);
    // A burst racing growth: every present key is found.
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..2000u32 {
                t.lookup_or_create(Ipv4Addr::from(0x0b00_0000 + i), dev)
                    .unwrap();
            }
        });
        for _ in 0..200 {
            check(&keys);
        }
    });
    assert!(t.stats().hash_grows >= 5);
}

#[test]
#[should_panic(expected = "lookup_noref_burst: one output slot per key")]
fn burst_needs_one_slot_per_key() {
    let t = NeighTable::new(TableConfig::default(), Nop).unwrap();
    let g = t.pin();
    t.lookup_noref_burst(&[(Ipv4Addr::LOCALHOST, DevId(1))], &mut [], &g);
}

/// `resolve_output_burst` pairs packets with keys in order, creates the
/// missing entries (the packets wait for resolution) and stops when the
/// packets run out.
#[test]
fn resolve_output_burst_creates_misses_and_stops_with_the_packets() {
    let t = NeighTable::new(TableConfig::default(), Nop).unwrap();
    let dev = DevId(1);
    t.add_device(dev, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .unwrap();
    let keys: Vec<(Ipv4Addr, DevId)> = (1..=40u8)
        .map(|i| (Ipv4Addr::new(10, 0, 0, i), dev))
        .chain([(Ipv4Addr::new(10, 0, 0, 99), DevId(9))])
        .collect();
    let g = t.pin();
    let mut out = vec![Xmit::Sent; keys.len()];
    let pkts = (0..keys.len()).map(|i| vec![i as u8]);
    assert_eq!(t.resolve_output_burst(&keys, pkts, &mut out, &g), 41);
    assert!(out[..40].iter().all(|&x| x == Xmit::Queued), "{out:?}");
    assert_eq!(out[40], Xmit::Dropped(crate::DropReason::UnknownDevice));
    assert_eq!(t.len(), 40);
    let mut out = vec![Xmit::Sent; 3];
    let two = vec![vec![1], vec![2]];
    assert_eq!(t.resolve_output_burst(&keys[..3], two, &mut out, &g), 2);
    assert_eq!(&out[..2], &[Xmit::Queued, Xmit::Queued]);
}
