//! Unit tests of the RCU hash (`hash.rs`): re-keying, burst lookups
//! against single ones, and the burst's slot check.

use super::super::resize::LONG_CHAIN;
use super::*;
use crate::{DeviceConfig, TableConfig, Xmit};
use std::net::Ipv4Addr;

use super::super::test_ops::Nop;

/// Keys of one bucket of `t`'s newest array (`bits` top bits of the hash,
/// as the test-only `key_hash` gives it), from `from` on.
fn same_bucket(
    t: &NeighTable<Ipv4Addr, Nop>,
    dev: DevId,
    bits: u32,
    from: u32,
    n: usize,
) -> Vec<Ipv4Addr> {
    let bucket = |k| t.key_hash(k, dev) >> (32 - bits);
    let target = bucket(Ipv4Addr::from(from));
    (from..)
        .map(Ipv4Addr::from)
        .filter(|&k| bucket(k) == target)
        .take(n)
        .collect()
}

/// Run the timers until no resize is in progress; returns the calls made.
fn finish_resize(t: &NeighTable<Ipv4Addr, Nop>) -> usize {
    let mut calls = 0;
    while t.resize_in_progress(&t.pin()) {
        t.run_timers(t.jiffies() + 1).unwrap();
        calls += 1;
    }
    calls
}

/// Someone who knows the hash key (here: the test, through the
/// test-only `key_hash`) builds a chain of `LONG_CHAIN` keys in one
/// bucket; the next create re-keys the table, after which the keys are
/// spread and every one is still found, during the move and after it. A
/// second flood, built with the new key once as many entries were created
/// as the table had, re-keys it again.
#[test]
fn a_long_chain_rekeys_the_table_every_time() {
    let cfg = TableConfig {
        initial_hash_shift: 10,
        seed: 99,
        ..TableConfig::default()
    };
    let t = NeighTable::new(cfg, Nop).unwrap();
    let dev = DevId(1);
    t.add_device(dev, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .unwrap();
    let all_found = |keys: &[Ipv4Addr]| {
        let g = t.pin();
        keys.iter().all(|&k| t.lookup_noref(k, dev, &g).is_some())
    };
    let mut created = Vec::new();
    for round in 1..=2u64 {
        let keys = same_bucket(&t, dev, 10, created.len() as u32 * 1000, LONG_CHAIN + 1);
        for &k in &keys[..LONG_CHAIN] {
            t.lookup_or_create(k, dev).unwrap();
        }
        assert_eq!(t.stats().hash_reseeds, round - 1);
        t.lookup_or_create(keys[LONG_CHAIN], dev).unwrap();
        assert_eq!(
            t.stats().hash_reseeds,
            round,
            "the long chain re-keyed the table"
        );
        created.extend_from_slice(&keys);
        assert!(
            t.resize_in_progress(&t.pin()),
            "1024 buckets move over several calls"
        );
        assert!(
            all_found(&created),
            "a key lost in the middle of the re-key"
        );
        assert!(finish_resize(&t) >= 1);
        assert_eq!(t.stats().hash_buckets, 1024, "re-keying keeps the size");
        let bucket = |k| t.key_hash(k, dev) >> 22;
        let spread: std::collections::HashSet<u32> = keys.iter().map(|&k| bucket(k)).collect();
        assert!(
            spread.len() > 8,
            "still clustered after re-keying: {spread:?}"
        );
        assert!(all_found(&created), "a key lost by the re-key");
        // As many creates as the table has entries before the next flood.
        for i in 0..t.len() as u32 {
            let k = Ipv4Addr::from(0x0c00_0000 + 1000 * round as u32 + i);
            t.lookup_or_create(k, dev).unwrap();
            created.push(k);
        }
    }
    assert_eq!(t.len(), created.len());
}

/// A grow moves a few buckets per create and the rest per `run_timers`
/// call: in the middle of it every key is found (by single and burst
/// lookups), removals and creates land in the right array, the dump is
/// exact, and the table ends with every entry once.
#[test]
fn a_grow_in_progress_loses_nothing() {
    let cfg = TableConfig {
        initial_hash_shift: 12,
        seed: 7,
        gc_thresh2: 1 << 16,
        gc_thresh3: 1 << 16,
        ..TableConfig::default()
    };
    let t = NeighTable::new(cfg, Nop).unwrap();
    let dev = DevId(1);
    t.add_device(dev, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .unwrap();
    let key = |i: u32| Ipv4Addr::from(0x0a00_0000 + i);
    // 2048 entries fill 4096 buckets at half load; the next starts a grow.
    for i in 0..2049 {
        t.lookup_or_create(key(i), dev).unwrap();
    }
    assert_eq!(t.stats().hash_grows, 1);
    assert_eq!(t.stats().hash_buckets, 8192, "the future array");
    let g = t.pin();
    assert!(t.resize_in_progress(&g));
    let mut live: std::collections::BTreeSet<u32> = (0..2049).collect();
    for round in 0..40u32 {
        // Remove some old keys, create some new ones: each create moves
        // `MOVE_PER_CREATE` buckets.
        for i in (round * 7..2049).step_by(97).take(3) {
            if live.remove(&i) {
                t.remove(key(i), dev).unwrap();
            }
        }
        let k = 10_000 + round;
        t.lookup_or_create(key(k), dev).unwrap();
        live.insert(k);
        let keys: Vec<(Ipv4Addr, DevId)> = live.iter().map(|&i| (key(i), dev)).collect();
        let mut out = vec![None; keys.len()];
        t.lookup_noref_burst(&keys, &mut out, &g);
        assert!(
            out.iter().all(Option::is_some),
            "round {round}: a burst missed a key"
        );
        assert!(keys
            .iter()
            .all(|&(k, d)| t.lookup_noref(k, d, &g).is_some()));
        assert!(t.lookup_noref(key(99_999), dev, &g).is_none());
    }
    assert!(
        t.resize_in_progress(&g),
        "40 creates move 160 of 4096 buckets"
    );
    assert_eq!(t.len(), live.len());
    assert_eq!(t.dump().len(), live.len());
    drop(g);
    let calls = finish_resize(&t);
    assert_eq!(
        calls, 1,
        "one run_timers call moves up to MOVE_PER_TIMER_RUN buckets"
    );
    assert_eq!(t.len(), live.len());
    let g = t.pin();
    assert!(live
        .iter()
        .all(|&i| t.lookup_noref(key(i), dev, &g).is_some()));
    drop(g);
    for &i in &live {
        t.remove(key(i), dev).unwrap();
    }
    assert_eq!(t.len(), 0);
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
    let mut pkts = (0..keys.len()).map(|i| vec![i as u8]);
    assert_eq!(t.resolve_output_burst(&keys, &mut pkts, &mut out, &g), 41);
    assert!(out[..40].iter().all(|&x| x == Xmit::Queued), "{out:?}");
    assert_eq!(out[40], Xmit::Dropped(crate::DropReason::UnknownDevice));
    assert_eq!(t.len(), 40);
    let mut out = vec![Xmit::Sent; 3];
    let mut two = vec![vec![1], vec![2]].into_iter();
    assert_eq!(
        t.resolve_output_burst(&keys[..3], &mut two, &mut out, &g),
        2
    );
    assert_eq!(&out[..2], &[Xmit::Queued, Xmit::Queued]);
    // More packets than keys: the surplus is handed back, untouched.
    let mut five = (10..15u8).map(|i| vec![i]).collect::<Vec<_>>().into_iter();
    assert_eq!(
        t.resolve_output_burst(&keys[..3], &mut five, &mut out, &g),
        3
    );
    assert_eq!(five.collect::<Vec<_>>(), vec![vec![13], vec![14]]);
}
