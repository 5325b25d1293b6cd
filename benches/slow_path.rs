//! The slow paths:
//!
//! * `slow_path/miss_resolve_flush/<q>`: a packet to an unknown neighbour
//!   creates an INCOMPLETE entry (timer armed, solicitation sent) and is
//!   queued, `q - 1` more packets queue behind it, the ARP reply
//!   (`update` to REACHABLE) arrives and the `q` queued packets are flushed
//!   with the new header. Throughput is per resolved neighbour. The entries
//!   are flushed (untimed) every 4096 resolutions.
//! * `slow_path/stale_delay_reachable/timer_confirm`: a STALE entry (its
//!   address just changed) sends a packet (STALE -> DELAY, timer armed),
//!   an upper layer confirms it, and the DELAY timer fires
//!   (`run_timers`, clock advanced by `delay_probe_time`): DELAY -> REACHABLE.
//! * `slow_path/stale_delay_reachable/arp_reply`: the same, but an ARP reply
//!   (`update` to REACHABLE) confirms it before the timer fires.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

mod common;

use common::{empty_table, Pkt, DEV, MAC_A, MAC_B};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use neighcache::{DevId, DeviceConfig, NudState, UpdateFlags, Xmit};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// The device the miss path creates entries on (flushed between chunks).
const MISS_DEV: DevId = DevId(2);
const CHUNK: u64 = 4096;

fn miss_resolve_flush(c: &mut Criterion) {
    let mut g = c.benchmark_group("slow_path");
    g.throughput(Throughput::Elements(1));
    for queued in [1u32, 3] {
        let table = empty_table();
        table
            .add_device(MISS_DEV, DeviceConfig::ethernet([2, 0, 0, 0, 0, 2], 0x0800))
            .expect("device");
        // A resolved background population, as a real cache has.
        for k in common::keys(1024, 5) {
            table.add_permanent(k, DEV, &MAC_A).expect("permanent");
        }
        let keys: Vec<Ipv4Addr> = (0..CHUNK as u32)
            .map(|i| Ipv4Addr::from((100 << 24) | (64 << 16) | i))
            .collect();
        g.bench_with_input(
            BenchmarkId::new("miss_resolve_flush", queued),
            &queued,
            |b, &queued| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let n = left.min(CHUNK);
                        let t0 = Instant::now();
                        for &k in &keys[..n as usize] {
                            for p in 0..queued {
                                let x = table.resolve_output(k, MISS_DEV, Pkt(p));
                                debug_assert_eq!(x, Xmit::Queued);
                                black_box(x);
                            }
                            let h = table.lookup(k, MISS_DEV).expect("created");
                            table
                                .update(
                                    &h,
                                    Some(&MAC_B),
                                    NudState::REACHABLE,
                                    UpdateFlags::OVERRIDE,
                                )
                                .expect("resolve");
                        }
                        spent += t0.elapsed();
                        table.flush_dev(Some(MISS_DEV));
                        left -= n;
                    }
                    spent
                })
            },
        );
        let s = table.stats();
        assert!(s.flushed > 0 && s.solicits > 0, "{s:?}");
    }
    g.finish();
}

fn stale_delay_reachable(c: &mut Criterion) {
    let mut g = c.benchmark_group("slow_path");
    g.throughput(Throughput::Elements(1));
    let key = Ipv4Addr::new(10, 1, 2, 3);

    // Via the DELAY timer and an upper-layer confirmation.
    {
        let table = empty_table();
        let delay = table.config().parms.delay_probe_time;
        let h = table.lookup_or_create(key, DEV).expect("create");
        table
            .update(&h, Some(&MAC_A), NudState::REACHABLE, UpdateFlags::OVERRIDE)
            .expect("resolve");
        let mut now = table.jiffies();
        let mut alt = false;
        let mut step = |i: u32| {
            alt = !alt;
            let mac = if alt { MAC_B } else { MAC_A };
            table
                .update(&h, Some(&mac), NudState::STALE, UpdateFlags::OVERRIDE)
                .expect("stale");
            let guard = table.pin();
            let x = table.output(&h, Pkt(i), &guard);
            debug_assert_eq!(x, Xmit::Sent);
            debug_assert_eq!(h.state(), NudState::DELAY);
            table.confirm(&h).unwrap();
            now += delay;
            black_box(table.run_timers(now).expect("forward"));
            debug_assert_eq!(h.state(), NudState::REACHABLE);
        };
        // Check the path really is the one described, once, in any build.
        step(0);
        assert_eq!(h.state(), NudState::REACHABLE);
        let mut i = 1;
        g.bench_function(
            BenchmarkId::new("stale_delay_reachable", "timer_confirm"),
            |b| {
                b.iter(|| {
                    step(i);
                    i = i.wrapping_add(1);
                })
            },
        );
    }

    // Via an ARP reply while in DELAY.
    {
        let table = empty_table();
        let h = table.lookup_or_create(key, DEV).expect("create");
        table
            .update(&h, Some(&MAC_A), NudState::REACHABLE, UpdateFlags::OVERRIDE)
            .expect("resolve");
        let mut alt = false;
        let mut step = |i: u32| {
            alt = !alt;
            let mac = if alt { MAC_B } else { MAC_A };
            table
                .update(&h, Some(&mac), NudState::STALE, UpdateFlags::OVERRIDE)
                .expect("stale");
            let guard = table.pin();
            let x = table.output(&h, Pkt(i), &guard);
            debug_assert_eq!(x, Xmit::Sent);
            debug_assert_eq!(h.state(), NudState::DELAY);
            table
                .update(&h, Some(&mac), NudState::REACHABLE, UpdateFlags::OVERRIDE)
                .expect("reply");
            debug_assert_eq!(h.state(), NudState::REACHABLE);
        };
        step(0);
        assert_eq!(h.state(), NudState::REACHABLE);
        let mut i = 1;
        g.bench_function(
            BenchmarkId::new("stale_delay_reachable", "arp_reply"),
            |b| {
                b.iter(|| {
                    step(i);
                    i = i.wrapping_add(1);
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, miss_resolve_flush, stale_delay_reachable);
criterion_main!(benches);
