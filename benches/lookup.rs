//! The hit path: `lookup_noref` + `output` with the cached header, against a
//! plain `HashMap`, `RwLock<HashMap>`, `Mutex<HashMap>`, `DashMap` and
//! `papaya`, doing the same work after the lookup (copy the header into a
//! frame buffer, [`common::emit`]).
//!
//! Groups:
//! * `lookup_hit/<id>/<size>`: one thread. `limit` is the two-miss
//!   physical limit of this design (`common/limit.rs`): a bucket-array slot,
//!   then a 128-byte cell, over a working set the size of the table's;
//!   `limit_pinned` adds the per-packet `pin()` of the cache's RCU.
//! * `lookup_hit_mt/<id>/<size>x<threads>t`: the same loop on N threads
//!   (`Barrier` + `iter_custom`, as sharded-slab's benches); throughput is
//!   lookups per second over all threads.
//! * `lookup_mix_mt/<id>/<size>x<threads>t`: read-mostly: 1% of operations
//!   create a churn key or change an entry's address. Every contender gets
//!   the same background work from one mostly idle thread: every 5 ms it
//!   removes the 1,024 churn keys, and once a second (on a clock shared by
//!   all samples of an id) it visits the whole table as a periodic GC pass
//!   does (neighcache `gc()`, the maps `retain`). Neighcache's own period is
//!   `gc_interval` (30 s); once a second keeps the pass in every sample.
//! * `lookup_burst/<id>/<size>` (and `<id>/ipv6-65536`): one thread, bursts
//!   of 32 keys (consecutive windows of the shuffled query list), throughput
//!   per key. `neighcache_burst` = one `pin()` per burst and
//!   `resolve_output_burst` (hash all, prefetch all slots, then all entries,
//!   then compare and output); `neighcache_loop` = one `pin()` per burst and
//!   32 single `lookup_noref` + `output` (what the burst API replaces);
//!   `hashmap` = 32 `HashMap::get` + the same frame copy.
//! * `create_resolve/<id>/<size>` and `remove/<id>/<size>` (64k and 1M):
//!   fill an empty structure with every key (neighcache: `lookup_or_create`
//!   then `update` to REACHABLE; the maps: `insert`), or remove every key from
//!   a full one (`remove`), in query order; time per key. Building, dropping
//!   and (neighcache) waiting for RCU reclamation between iterations are not
//!   timed; reclamation that crossbeam runs inside the timed calls is.
//!
//! `NEIGHCACHE_BENCH_SKIP_1M=1` leaves out the 1,048,576-entry size.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

mod common;
#[path = "common/contenders.rs"]
mod contenders;
#[path = "common/fill.rs"]
mod fill;
#[path = "common/limit.rs"]
mod limit;

use common::TestOps;
use common::{churn_keys, emit, keys, keys6, resolved_table, Hdr, Pkt, DEV};
use contenders::{build, hdr, Noref, Ref, Target};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use neighcache::{DevId, NeighKey, NeighTable, Xmit};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// The limit plus the read-side pin a `lookup_noref` caller takes per
/// packet (crossbeam-epoch's, the cache's RCU): what the pin alone costs.
struct LimitPinned<'a>(&'a limit::Limit);

impl Target for LimitPinned<'_> {
    #[inline]
    fn hit(&self, k: Ipv4Addr, seq: u32) {
        let guard = neighcache::rcu::pin();
        self.0.hit(k, seq);
        drop(guard);
    }
    fn create(&self, _: Ipv4Addr) {
        unreachable!("read-only")
    }
    fn update(&self, _: Ipv4Addr, _: bool) {
        unreachable!("read-only")
    }
    fn remove_churn(&self, _: &[Ipv4Addr]) {
        unreachable!("read-only")
    }
    fn scan(&self) {
        unreachable!("read-only")
    }
}

impl Target for limit::Limit {
    #[inline]
    fn hit(&self, k: Ipv4Addr, seq: u32) {
        limit::Limit::hit(self, k, seq)
    }
    fn create(&self, _: Ipv4Addr) {
        unreachable!("read-only")
    }
    fn update(&self, _: Ipv4Addr, _: bool) {
        unreachable!("read-only")
    }
    fn remove_churn(&self, _: &[Ipv4Addr]) {
        unreachable!("read-only")
    }
    fn scan(&self) {
        unreachable!("read-only")
    }
}

/// Table sizes: 16, 1k, 64k and (unless `NEIGHCACHE_BENCH_SKIP_1M=1`) 1M.
fn sizes() -> Vec<usize> {
    let mut v = vec![16, 1024, 65536];
    if std::env::var("NEIGHCACHE_BENCH_SKIP_1M").map_or(true, |s| s != "1") {
        v.push(1 << 20);
    }
    v
}

/// 1, 2, then powers of two up to `available_parallelism()`, and that.
fn thread_counts() -> Vec<usize> {
    let ap = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut v = vec![1, 2];
    let mut t = 4;
    while t <= ap {
        v.push(t);
        t *= 2;
    }
    v.push(ap);
    v.sort_unstable();
    v.dedup();
    v
}

/// Query order: the keys, shuffled again (length a power of two).
fn queries(keys: &[Ipv4Addr], seed: u64) -> Vec<Ipv4Addr> {
    let mut q = keys.to_vec();
    common::shuffle(&mut q, seed);
    assert!(q.len().is_power_of_two());
    q
}

fn bench_single<T: Target>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    size: usize,
    t: &T,
    q: &[Ipv4Addr],
) {
    let mask = q.len() - 1;
    g.bench_with_input(BenchmarkId::new(id, size), &size, |b, _| {
        let mut i = 0usize;
        b.iter(|| {
            t.hit(q[i & mask], i as u32);
            i = i.wrapping_add(1);
        })
    });
}

fn lookup_hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup_hit");
    g.throughput(Throughput::Elements(1));
    for size in sizes() {
        let k = keys(size, 42);
        let q = queries(&k, 7);
        let all = build(&k);
        let lim = limit::Limit::new(&k, all.table.stats().hash_buckets);
        bench_single(&mut g, "limit", size, &lim, &q);
        bench_single(&mut g, "limit_pinned", size, &LimitPinned(&lim), &q);
        bench_single(&mut g, "neighcache_noref", size, &Noref(&all.table), &q);
        bench_single(&mut g, "neighcache_ref", size, &Ref(&all.table), &q);
        bench_single(&mut g, "hashmap", size, &all.plain, &q);
        bench_single(&mut g, "rwlock_hashmap", size, &all.rw, &q);
        bench_single(&mut g, "mutex_hashmap", size, &all.mx, &q);
        bench_single(&mut g, "dashmap", size, &all.dash, &q);
        bench_single(&mut g, "papaya", size, &all.papaya, &q);
        drop((all, lim));
        common::settle();
    }
    g.finish();
}

/// Run `work(thread, iters)` on `threads` threads released together by a
/// barrier; the time from release to the last thread's finish. With `gc`,
/// one more thread calls it every 5 ms while they run.
fn run_threads<W, G>(threads: usize, iters: u64, work: W, gc: Option<G>) -> Duration
where
    W: Fn(usize, u64) + Sync,
    G: Fn() + Sync,
{
    let start = Barrier::new(threads + 1);
    let end = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (start, end, work) = (&start, &end, &work);
            s.spawn(move || {
                start.wait();
                work(t, iters);
                end.wait();
            });
        }
        if let Some(gc) = &gc {
            let stop = &stop;
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    gc();
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
        start.wait();
        let t0 = Instant::now();
        end.wait();
        let el = t0.elapsed();
        stop.store(true, Ordering::Relaxed);
        el
    })
}

fn hit_loop<T: Target>(t: &T, q: &[Ipv4Addr], thread: usize, iters: u64) {
    let mask = q.len() - 1;
    // Each thread walks the query list from its own offset.
    let mut i = thread.wrapping_mul(0x9e37_79b9) & mask;
    for _ in 0..iters {
        t.hit(q[i & mask], i as u32);
        i = i.wrapping_add(1);
    }
}

fn bench_mt<T: Target>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    size: usize,
    threads: usize,
    t: &T,
    q: &[Ipv4Addr],
) {
    g.throughput(Throughput::Elements(threads as u64));
    g.bench_with_input(
        BenchmarkId::new(id, format!("{size}x{threads}t")),
        &size,
        |b, _| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |th, n| hit_loop(t, q, th, n), None::<fn()>)
            })
        },
    );
}

fn lookup_hit_mt(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup_hit_mt");
    for size in sizes() {
        let k = keys(size, 42);
        let q = queries(&k, 7);
        let all = build(&k);
        for threads in thread_counts() {
            bench_mt(
                &mut g,
                "neighcache_noref",
                size,
                threads,
                &Noref(&all.table),
                &q,
            );
            bench_mt(
                &mut g,
                "neighcache_ref",
                size,
                threads,
                &Ref(&all.table),
                &q,
            );
            bench_mt(&mut g, "hashmap", size, threads, &all.plain, &q);
            bench_mt(&mut g, "rwlock_hashmap", size, threads, &all.rw, &q);
            bench_mt(&mut g, "mutex_hashmap", size, threads, &all.mx, &q);
            bench_mt(&mut g, "dashmap", size, threads, &all.dash, &q);
            bench_mt(&mut g, "papaya", size, threads, &all.papaya, &q);
        }
        drop(all);
        common::settle();
    }
    g.finish();
}

/// How often the mix's background thread scans the whole table.
const SCAN_PERIOD: Duration = Duration::from_secs(1);

/// 99% hits; 1% writes, half creating a churn key, half changing a resolved
/// entry's address.
fn mix_loop<T: Target>(t: &T, q: &[Ipv4Addr], churn: &[Ipv4Addr], thread: usize, iters: u64) {
    let mask = q.len() - 1;
    let mut i = thread.wrapping_mul(0x9e37_79b9) & mask;
    let mut rng = 0x1234_5678_u64 ^ thread as u64;
    for _ in 0..iters {
        // xorshift64
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if rng % 100 == 0 {
            let r = (rng >> 8) as usize;
            if r & 1 == 0 {
                t.create(churn[(r >> 1) % churn.len()]);
            } else {
                t.update(q[(r >> 1) & mask], r & 2 == 0);
            }
        } else {
            t.hit(q[i & mask], i as u32);
        }
        i = i.wrapping_add(1);
    }
}

fn bench_mix<T: Target>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    size: usize,
    threads: usize,
    t: &T,
    q: &[Ipv4Addr],
    churn: &[Ipv4Addr],
) {
    g.throughput(Throughput::Elements(threads as u64));
    // The scan's clock, shared by every sample of this id.
    let last_scan = Mutex::new(Instant::now());
    g.bench_with_input(
        BenchmarkId::new(id, format!("{size}x{threads}t")),
        &size,
        |b, _| {
            b.iter_custom(|iters| {
                run_threads(
                    threads,
                    iters,
                    |th, n| mix_loop(t, q, churn, th, n),
                    Some(|| {
                        t.remove_churn(churn);
                        let mut last = last_scan.lock();
                        if last.elapsed() >= SCAN_PERIOD {
                            *last = Instant::now();
                            drop(last);
                            t.scan();
                        }
                    }),
                )
            })
        },
    );
}

fn lookup_mix_mt(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup_mix_mt");
    let churn = churn_keys(1024, 99);
    for size in sizes() {
        let k = keys(size, 42);
        let q = queries(&k, 7);
        let all = build(&k);
        for threads in thread_counts() {
            let (c, q) = (&churn[..], &q[..]);
            bench_mix(
                &mut g,
                "neighcache_noref",
                size,
                threads,
                &Noref(&all.table),
                q,
                c,
            );
            bench_mix(&mut g, "rwlock_hashmap", size, threads, &all.rw, q, c);
            bench_mix(&mut g, "mutex_hashmap", size, threads, &all.mx, q, c);
            bench_mix(&mut g, "dashmap", size, threads, &all.dash, q, c);
            bench_mix(&mut g, "papaya", size, threads, &all.papaya, q, c);
        }
        drop(all);
        common::settle();
    }
    g.finish();
}

/// Keys per burst in `lookup_burst` (a typical data-plane burst).
const BURST: usize = 32;

/// The burst group's query list: the keys shuffled, repeated (reshuffled)
/// until it holds a whole number of bursts, and its length a power of two.
fn burst_queries<K: Copy>(keys: &[K]) -> Vec<(K, DevId)> {
    let mut q = Vec::new();
    let mut seed = 7;
    while q.len() < BURST || q.len() % BURST != 0 {
        let mut k = keys.to_vec();
        common::shuffle(&mut k, seed);
        seed += 1;
        q.extend(k.into_iter().map(|k| (k, DEV)));
    }
    assert!(q.len().is_power_of_two());
    q
}

fn bench_burst<K: NeighKey>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    param: &str,
    keys: &[K],
) {
    let table: NeighTable<K, TestOps> = resolved_table(keys);
    let map: HashMap<(K, DevId), Hdr> = keys.iter().map(|&k| ((k, DEV), hdr(false))).collect();
    common::settle();
    let q = burst_queries(keys);
    let bursts = q.len() / BURST;
    g.bench_function(BenchmarkId::new("neighcache_burst", param), |b| {
        let mut i = 0usize;
        b.iter(|| {
            let w = &q[(i % bursts) * BURST..][..BURST];
            let guard = table.pin();
            let mut out = [Xmit::Sent; BURST];
            let seq = i as u32;
            let mut pkts = (0..BURST as u32).map(|j| Pkt(seq.wrapping_add(j)));
            black_box(table.resolve_output_burst(w, &mut pkts, &mut out, &guard));
            black_box(&out);
            i = i.wrapping_add(1);
        })
    });
    g.bench_function(BenchmarkId::new("neighcache_loop", param), |b| {
        let mut i = 0usize;
        b.iter(|| {
            let w = &q[(i % bursts) * BURST..][..BURST];
            let guard = table.pin();
            for (j, &(k, d)) in w.iter().enumerate() {
                let n = table.lookup_noref(k, d, &guard).expect("hit");
                black_box(table.output(n, Pkt((i + j) as u32), &guard));
            }
            i = i.wrapping_add(1);
        })
    });
    g.bench_function(BenchmarkId::new("hashmap", param), |b| {
        let mut i = 0usize;
        b.iter(|| {
            let w = &q[(i % bursts) * BURST..][..BURST];
            for (j, k) in w.iter().enumerate() {
                let v = map.get(k).expect("hit");
                emit(v.header(), Pkt((i + j) as u32));
            }
            i = i.wrapping_add(1);
        })
    });
    drop(table);
    common::settle();
}

fn lookup_burst(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup_burst");
    g.throughput(Throughput::Elements(BURST as u64));
    for size in sizes() {
        bench_burst(&mut g, &size.to_string(), &keys(size, 42));
    }
    bench_burst(&mut g, "ipv6-65536", &keys6(65536, 42));
    g.finish();
}

/// Sizes of the fill and removal groups: 64k and (unless skipped) 1M.
fn big_sizes() -> Vec<usize> {
    sizes().into_iter().filter(|&s| s >= 65536).collect()
}

fn create_resolve(c: &mut Criterion) {
    fill::create_resolve(c, &big_sizes(), |k| queries(k, 7));
}

fn remove(c: &mut Criterion) {
    fill::remove(c, &big_sizes(), |k| queries(k, 7));
}

criterion_group!(
    benches,
    lookup_hit,
    lookup_hit_mt,
    lookup_mix_mt,
    lookup_burst,
    create_resolve,
    remove
);
criterion_main!(benches);
