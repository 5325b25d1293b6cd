//! Misuse of the public API, part 2: limits. Ticks outside the time domain
//! (`MAX_TICK + 1`, `u64::MAX`), time going backwards, a table at the end of
//! time, one jump across the whole domain; every boundary value the
//! configuration validator accepts (each must run, not only validate) and
//! one step beyond each; hash flooding with keys chosen without knowing the
//! hash key, and a real long chain built with a known seed.
//!
//! See `tests/it/misuse.rs` for the shared conventions (`check` and `teardown`
//! after every scenario).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::adversary::{ip4 as ip, *};
use common::{test_config, DEV, MAC_A};
use neighcache::{
    DevId, DropReason, NeighError, NeighTable, NudState as S, Probe, TableConfig, Xmit, HZ,
    MAX_TICK,
};
use std::net::Ipv4Addr;

// ----- class 3: time ---------------------------------------------------------

/// Ticks above `MAX_TICK` (2^62) are `TickOutOfRange` for `with_start` and
/// `run_timers`, and a refused `run_timers` changes nothing: clock, timers,
/// states and counters stay as they were. So does a time before the
/// table's clock (`TimeWentBackwards`); the same tick again is `Ok(0)`.
///
/// Before 0b4dba6: `run_timers(u64::MAX / 2)` with 30 pending timers did not
/// return; `run_timers(u64::MAX)` fired 80 handlers for 30 timers (wrapped
/// deadlines) and panicked on overflow in debug builds.
#[test]
fn ticks_outside_the_time_domain_change_nothing() {
    for start in [MAX_TICK + 1, u64::MAX / 2, u64::MAX] {
        let r: Result<Table, _> = NeighTable::with_start(
            test_config(),
            Adv {
                log: Default::default(),
            },
            start,
        );
        assert_eq!(
            r.err(),
            Some(NeighError::TickOutOfRange {
                tick: start,
                max: MAX_TICK
            })
        );
    }
    let (t, log) = adv_table_at(test_config(), 0);
    for i in 0..30 {
        assert_eq!(t.resolve_output(ip(6, i), DEV, log.pkt()), Xmit::Queued);
    }
    resolve(&t, &log, ip(6, 200), MAC_A);
    run_for(&t, 1500);
    let snapshot = |t: &Table| {
        (
            t.jiffies(),
            t.stats(),
            t.dump(),
            t.timers().pending(),
            t.next_event(),
        )
    };
    let before = (snapshot(&t), log.total_calls());
    for now in [MAX_TICK + 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
        let r = t.run_timers(now);
        assert_eq!(
            r,
            Err(NeighError::TickOutOfRange {
                tick: now,
                max: MAX_TICK
            })
        );
    }
    let j = t.jiffies();
    for now in [0, j - 1] {
        assert_eq!(
            t.run_timers(now),
            Err(NeighError::TimeWentBackwards { jiffies: j, now })
        );
    }
    assert_eq!((snapshot(&t), log.total_calls()), before);
    assert_eq!(t.run_timers(j), Ok(0));
    // Still running normally: the 30 resolutions fail after their probes.
    run_for(&t, 10 * HZ);
    assert_eq!(log.count(Delivery::ErrorReport), 30);
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// A table may start at the last tick of the domain (`with_start(MAX_TICK)`)
/// and be used: output, resolution, flushing, `run_timers(MAX_TICK)` and
/// teardown work without an arithmetic overflow (debug builds check). No
/// deadline can come any more (the clock cannot pass `MAX_TICK`), so an
/// INCOMPLETE entry stays INCOMPLETE until it is flushed.
#[test]
fn a_table_at_the_end_of_time_still_works() {
    let (t, log) = adv_table_at(test_config(), MAX_TICK);
    resolve(&t, &log, ip(7, 1), MAC_A);
    assert_eq!(t.resolve_output(ip(7, 2), DEV, log.pkt()), Xmit::Queued);
    assert_eq!(t.run_timers(MAX_TICK), Ok(0));
    assert_eq!(
        t.run_timers(MAX_TICK + 1).unwrap_err(),
        NeighError::TickOutOfRange {
            tick: MAX_TICK + 1,
            max: MAX_TICK
        }
    );
    let h = t.lookup(ip(7, 1), DEV).unwrap();
    t.confirm(&h).unwrap();
    let g = t.pin();
    assert_eq!(t.output(&h, log.pkt(), &g), Xmit::Sent);
    drop(g);
    t.gc();
    assert_eq!(t.lookup(ip(7, 2), DEV).unwrap().state(), S::INCOMPLETE);
    check(&t, &log, &[&*h]);
    drop(h);
    teardown(t, &log);
}

/// One jump from tick 0 to `MAX_TICK` with timers pending that re-arm
/// (10 INCOMPLETE, 10 REACHABLE, 10 DELAY entries): the call returns and
/// fires each handler exactly once. A handler sees the clock at `MAX_TICK`,
/// so INCOMPLETE re-probes and re-arms beyond the domain, REACHABLE (unused
/// for ages) becomes STALE, DELAY (unconfirmed) becomes PROBE and re-arms;
/// nothing overflows and the books balance. (Before 0b4dba6 a jump to
/// `u64::MAX / 2` did not return; with the five-level wheel of 0b4dba6 this
/// took about 50 s, re-cascading far timers across the whole jump. The
/// ten-level wheel spanning the tick domain makes it a fraction of a
/// second.)
#[test]
fn one_jump_to_the_end_of_time_fires_each_timer_once() {
    let (t, log) = adv_table_at(test_config(), 0);
    for i in 0..10 {
        assert_eq!(t.resolve_output(ip(8, i), DEV, log.pkt()), Xmit::Queued);
        resolve(&t, &log, ip(8, 100 + i), MAC_A);
        t.event_ns(ip(8, 200 + i), DEV, &MAC_A).unwrap(); // STALE
        assert_eq!(t.resolve_output(ip(8, 200 + i), DEV, log.pkt()), Xmit::Sent);
    }
    assert_eq!(t.timers().pending(), 30);
    let solicits = log.solicits().len();
    assert_eq!(t.run_timers(MAX_TICK), Ok(30));
    assert_eq!(t.jiffies(), MAX_TICK);
    assert_eq!(
        log.solicits().len(),
        solicits + 20,
        "one probe per INCOMPLETE and PROBE entry"
    );
    let state = |k| t.lookup(k, DEV).unwrap().state();
    for i in 0..10 {
        assert_eq!(state(ip(8, i)), S::INCOMPLETE);
        assert_eq!(state(ip(8, 100 + i)), S::STALE);
        assert_eq!(state(ip(8, 200 + i)), S::PROBE);
    }
    assert_eq!(t.timers().pending(), 20);
    assert_eq!(t.run_timers(MAX_TICK), Ok(0));
    check(&t, &log, &[]);
    teardown(t, &log);
}

// ----- class 7: configurations at the validator's boundaries ------------------

/// Run `t` through a small life: 4 neighbours answered, 4 never; time in
/// `steps` steps over `total` ticks; a GC pass; the books checked.
fn live(t: &Table, log: &Log<Ipv4Addr>, total: u64, steps: u64) {
    for i in 0..4 {
        resolve(t, log, ip(9, i), MAC_A);
        assert_eq!(
            t.resolve_output(ip(9, 100 + i), DEV, log.pkt()),
            Xmit::Queued
        );
    }
    check(t, log, &[]);
    let end = t.jiffies() + total;
    while t.jiffies() < end {
        t.run_timers((t.jiffies() + total / steps).min(end))
            .unwrap();
    }
    t.gc();
    check(t, log, &[]);
}

/// Every boundary value the validator accepts must run, not just validate
/// (before 0b4dba6, `gc_thresh3` up to 2^26 validated although one timer
/// base panics at 2^24 timers): the largest `gc_thresh3` with all three
/// thresholds equal, the smallest table (`gc_thresh3 = 1`), hash shift 0,
/// 256 timer bases, one-day times, the largest and smallest queues, locktime
/// 0 with a GC every tick.
#[test]
fn boundary_configurations_run() {
    use neighcache::parms::{MAX_ENTRIES, MAX_TIME};
    let day = MAX_TIME;
    let mut cases: Vec<(&str, TableConfig, u64, u64)> = Vec::new();
    let max = MAX_ENTRIES;
    let c = TableConfig {
        gc_thresh1: max,
        gc_thresh2: max,
        gc_thresh3: max,
        ..test_config()
    };
    cases.push(("gc_thresh3 = 2^24 - 1", c, 20 * HZ, 80));
    let c = TableConfig {
        gc_thresh1: 0,
        gc_thresh2: 64,
        gc_thresh3: 64,
        initial_hash_shift: 0,
        ..test_config()
    };
    cases.push(("hash shift 0", c, 20 * HZ, 80));
    cases.push((
        "256 timer bases",
        TableConfig {
            timer_bases: 256,
            ..test_config()
        },
        20 * HZ,
        80,
    ));
    let mut c = TableConfig {
        gc_interval: day,
        ..test_config()
    };
    let p = &mut c.parms;
    (p.base_reachable_time, p.retrans_time, p.delay_probe_time) = (day, day, day);
    (p.gc_staletime, p.locktime) = (day, day);
    cases.push(("one-day times", c, 8 * day, 800));
    let mut c = TableConfig {
        gc_interval: 1,
        gc_thresh1: 0,
        ..test_config()
    };
    (
        c.parms.locktime,
        c.parms.unres_qlen,
        c.parms.unres_qlen_bytes,
    ) = (0, 1 << 20, 1 << 30);
    cases.push(("gc every tick, locktime 0, largest queues", c, 3 * HZ, 3000));
    let mut c = test_config();
    (c.parms.unres_qlen, c.parms.unres_qlen_bytes) = (1, 1);
    cases.push(("smallest queues", c, 20 * HZ, 80));
    for (name, c, total, steps) in cases {
        c.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let (t, log) = adv_table(c);
        live(&t, &log, total, steps);
        assert_eq!(
            log.count(Delivery::ErrorReport),
            4,
            "{name}: unanswered neighbours fail"
        );
        teardown(t, &log);
    }
    // The smallest table: one entry; a second create needs forced GC.
    let (t, log) = adv_table(TableConfig {
        gc_thresh1: 0,
        gc_thresh2: 1,
        gc_thresh3: 1,
        ..test_config()
    });
    resolve(&t, &log, ip(9, 1), MAC_A);
    let full = t.resolve_output(ip(9, 2), DEV, log.pkt());
    assert_eq!(full, Xmit::Dropped(DropReason::TableFull));
    assert!(matches!(
        t.lookup_or_create(ip(9, 2), DEV),
        Err(NeighError::TableFull { .. })
    ));
    run_for(&t, 200 * HZ); // REACHABLE -> STALE -> stale for gc_staletime
    assert_eq!(t.resolve_output(ip(9, 2), DEV, log.pkt()), Xmit::Queued);
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// Probe counts at their maximum (255 each): an unanswered INCOMPLETE
/// neighbour sends exactly `app + mcast` = 510 probes (255 to the daemon,
/// then 255 broadcasts: `probes` starts at `ucast_probes`, as in
/// `__neigh_event_send`) and then fails, reporting its packet.
#[test]
fn the_most_probes_are_sent_exactly() {
    let mut c = test_config();
    let p = &mut c.parms;
    (
        p.ucast_probes,
        p.mcast_probes,
        p.app_probes,
        p.mcast_reprobes,
    ) = (255, 255, 255, 255);
    p.retrans_time = 1; // the handler waits at least HZ / 2 anyway
    let (t, log) = adv_table(c);
    assert_eq!(t.resolve_output(ip(10, 1), DEV, log.pkt()), Xmit::Queued);
    run_for(&t, 600 * HZ);
    let kinds: Vec<Probe> = log.solicits().into_iter().map(|s| s.2).collect();
    let want: Vec<Probe> = [Probe::App; 255]
        .into_iter()
        .chain([Probe::Multicast; 255])
        .collect();
    assert_eq!(kinds, want);
    assert_eq!(log.count(Delivery::ErrorReport), 1);
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// The largest initial hash table (2^24 buckets, 128 MiB of slots) runs.
/// (Named `huge_` so the valgrind step can skip it.)
#[test]
fn huge_initial_hash_table_runs() {
    let (t, log) = adv_table(TableConfig {
        initial_hash_shift: 24,
        ..test_config()
    });
    assert_eq!(t.stats().hash_buckets, 1 << 24);
    live(&t, &log, 20 * HZ, 80);
    teardown(t, &log);
}

/// One step beyond each boundary is a `ConfigError` naming the field, for
/// the table and for a device's own parameters.
#[test]
fn one_step_beyond_each_boundary_is_a_config_error() {
    use neighcache::parms::{MAX_ENTRIES, MAX_TIME};
    type Edit = fn(&mut TableConfig);
    let cases: [(&str, Edit); 17] = [
        ("gc_thresh3", |c| {
            (c.gc_thresh1, c.gc_thresh2, c.gc_thresh3) = (0, 0, MAX_ENTRIES + 1)
        }),
        ("gc_thresh3", |c| {
            (c.gc_thresh1, c.gc_thresh2, c.gc_thresh3) = (0, 0, 0)
        }),
        ("gc_thresh2", |c| c.gc_thresh2 = c.gc_thresh3 + 1),
        ("gc_thresh1", |c| c.gc_thresh1 = c.gc_thresh2 + 1),
        ("initial_hash_shift", |c| c.initial_hash_shift = 25),
        ("timer_bases", |c| c.timer_bases = 257),
        ("timer_bases", |c| c.timer_bases = 0),
        ("gc_interval", |c| c.gc_interval = MAX_TIME + 1),
        ("ucast_solicit", |c| c.parms.ucast_probes = 256),
        ("mcast_solicit", |c| c.parms.mcast_probes = 256),
        ("mcast_resolicit", |c| c.parms.mcast_reprobes = 256),
        ("app_solicit", |c| c.parms.app_probes = u32::MAX),
        ("unres_qlen", |c| c.parms.unres_qlen = 0),
        ("unres_qlen_bytes", |c| {
            c.parms.unres_qlen_bytes = (1 << 30) + 1
        }),
        ("locktime", |c| c.parms.locktime = MAX_TIME + 1),
        ("retrans_time", |c| c.parms.retrans_time = u64::MAX),
        ("base_reachable_time", |c| {
            c.parms.base_reachable_time = MAX_TIME + 1
        }),
    ];
    let (t, _log) = adv();
    for (i, (field, edit)) in cases.into_iter().enumerate() {
        let mut c = test_config();
        edit(&mut c);
        let r: Result<Table, _> = NeighTable::new(
            c,
            Adv {
                log: Default::default(),
            },
        );
        assert!(
            matches!(r, Err(NeighError::Config(ref e)) if e.field == field),
            "{field}: {:?}",
            r.err()
        );
        if !field.starts_with("gc_") && !field.starts_with("timer") && !field.starts_with("initial")
        {
            let dev = DevId(100 + i as u32);
            let r = t.add_device(dev, eth().with_parms(c.parms));
            assert!(
                matches!(r, Err(NeighError::Config(ref e)) if e.field == field),
                "{field}"
            );
            assert_eq!(t.reachable_time(dev), None);
        }
    }
}

// ----- class 6: hash flooding -------------------------------------------------

/// Patterns an attacker can produce without knowing the hash key, each 4,096
/// keys: pairs `(10.0.x.y, dev n)` whose address XOR device index is one
/// value (all in one bucket under the old `arp_hashfn`, `(key ^ ifindex) *
/// hash_rnd`, whatever the seed), IPv4 addresses differing only in their
/// top bits, one address on 4,096 devices, and IPv6 addresses differing
/// only in their top 16 bits, their low 16 bits, or their interface id. The
/// table must answer every lookup, and never re-key: a re-key means a chain
/// of 16, which a keyed hash gives these patterns with negligible
/// probability, so `hash_reseeds` must stay 0 (it counts only real long
/// chains: see `a_long_chain_rekeys_exactly_once`).
#[test]
fn hash_flooding_patterns_stay_spread() {
    use std::net::Ipv6Addr;
    const N: u32 = 4096;
    let c = TableConfig {
        gc_thresh2: 1 << 14,
        gc_thresh3: 1 << 14,
        ..TableConfig::default()
    };
    // IPv4: XOR-collisions across devices, and top-bit variations.
    let t = NeighTable::new(
        c,
        Adv::<Ipv4Addr> {
            log: Default::default(),
        },
    )
    .unwrap();
    let xor_pairs: Vec<(Ipv4Addr, DevId)> = (0..N)
        .map(|n| (Ipv4Addr::from(0x0a00_0000 ^ (1000 + n)), DevId(1000 + n)))
        .collect();
    for &(_, d) in &xor_pairs {
        t.add_device(d, eth()).unwrap();
    }
    let top_bits: Vec<(Ipv4Addr, DevId)> = (0..N)
        .map(|n| (Ipv4Addr::from((n << 20) | 0x1234), DevId(1000)))
        .collect();
    let one_addr: Vec<(Ipv4Addr, DevId)> = (0..N)
        .map(|n| (Ipv4Addr::new(192, 0, 2, 1), DevId(1000 + n)))
        .collect();
    for set in [&xor_pairs, &top_bits, &one_addr] {
        for &(k, d) in set {
            drop(t.lookup_or_create(k, d).unwrap());
        }
        for &(k, d) in set {
            assert_eq!(t.lookup(k, d).map(|h| (h.key(), h.dev())), Some((k, d)));
        }
    }
    let s = t.stats();
    assert_eq!((s.entries, s.hash_reseeds), (3 * N as usize, 0), "{s:?}");
    // IPv6.
    let t6 = NeighTable::new(
        c,
        Adv::<Ipv6Addr> {
            log: Default::default(),
        },
    )
    .unwrap();
    t6.add_device(DEV, eth()).unwrap();
    let base = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    let sets: [Vec<Ipv6Addr>; 3] = [
        (0..N)
            .map(|n| Ipv6Addr::from(base ^ (u128::from(n) << 112)))
            .collect(),
        (0..N)
            .map(|n| Ipv6Addr::from(base ^ u128::from(n)))
            .collect(),
        (0..N)
            .map(|n| Ipv6Addr::from(base ^ (u128::from(n) << 48)))
            .collect(),
    ];
    for set in &sets {
        for &k in set {
            drop(t6.lookup_or_create(k, DEV).unwrap());
        }
        for &k in set {
            assert!(t6.lookup(k, DEV).is_some(), "{k} not found");
        }
    }
    assert_eq!(t6.stats().hash_reseeds, 0);
}

/// The table's hash for a *known* seed (a non-zero `seed` gives up the
/// secret key, as `TableConfig::seed` documents): a copy of
/// `src/neigh/key.rs`'s keyed hash and of the seeded generator that draws
/// its key (`TableInner::next_rand`, splitmix64). Used only to build a
/// chain that really is long.
fn known_seed_hash(seed: u64, key: Ipv4Addr, dev: DevId) -> u32 {
    let mut rng = seed;
    let mut next = || {
        rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let k = [next(), next(), next()];
    let fold = |a: u64, b: u64| {
        let p = u128::from(a) * u128::from(b);
        (p as u64) ^ ((p >> 64) as u64)
    };
    let h = fold(u64::from(u32::from(key)) ^ k[0], k[1]);
    (fold(h ^ u64::from(dev.0), k[2]) >> 32) as u32
}

/// With the key known (fixed seed), 17 keys that share a bucket of a
/// 1,024-bucket table: 16 of them make a chain of 16 and no re-key; the
/// 17th finds the chain long and re-keys, exactly once (`hash_reseeds`
/// 0 -> 1), and every key is still found afterwards. The same keys in a
/// table with a secret key (`seed: 0`) never re-key. If the copied hash no
/// longer matches the crate's, the 17th insert does not re-key and this
/// fails (update `known_seed_hash`).
#[test]
fn a_long_chain_rekeys_exactly_once() {
    let seed = 0x5eed;
    let shift = 10;
    let c = TableConfig {
        seed,
        initial_hash_shift: shift,
        ..test_config()
    };
    let bucket = |k| known_seed_hash(seed, k, DEV) >> (32 - shift);
    let target = bucket(Ipv4Addr::new(10, 0, 0, 0));
    let keys: Vec<Ipv4Addr> = (0u32..)
        .map(|i| Ipv4Addr::from(0x0a00_0000 + i))
        .filter(|&k| bucket(k) == target)
        .take(17)
        .collect();
    let (t, log) = adv_table(c);
    for (i, &k) in keys.iter().enumerate() {
        assert_eq!(
            t.stats().hash_reseeds,
            0,
            "re-keyed before a chain of 16 ({i} keys)"
        );
        drop(t.lookup_or_create(k, DEV).unwrap());
    }
    let s = t.stats();
    assert_eq!(
        (s.hash_reseeds, s.hash_buckets, s.hash_grows),
        (1, 1 << shift, 0),
        "{s:?}"
    );
    for &k in &keys {
        assert_eq!(t.lookup(k, DEV).map(|h| h.key()), Some(k));
    }
    check(&t, &log, &[]);
    teardown(t, &log);
    let (t, log) = adv_table(TableConfig { seed: 0, ..c });
    for &k in &keys {
        drop(t.lookup_or_create(k, DEV).unwrap());
    }
    assert_eq!(t.stats().hash_reseeds, 0);
    teardown(t, &log);
}
