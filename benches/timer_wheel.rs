//! Timer wheel benchmark: `neighcache::timer::TimerWheel` against
//! `tokio_util::time::DelayQueue` and a `std::collections::BinaryHeap` timer
//! queue, 100k timers, single thread.
//!
//! Workloads (group `timer_wheel`, ids `<peer>/<workload>`):
//!
//! * `schedule_100k`: arm 100k timers with expiries spread over 1..=60,000
//!   ticks (1 tick = 1 ms) into an empty structure.
//! * `cancel_100k`: cancel 100k armed timers (in a scattered order).
//! * `expire_100k`: advance time until all 100k armed timers have fired,
//!   handing each one's payload to a consumer.
//! * `rearm_100k`: move each of 100k armed timers 30 s later (`mod_timer` on
//!   a pending timer: the neighbour-confirm pattern).
//! * `jump_100k` (neighcache only): 100k timers with expiries spread over
//!   the whole tick domain (a 20-bit value shifted left by 0..=42 bits, so
//!   up to 2^62, every level populated), one `run_timers`
//!   to `MAX_TICK`; every timer fires after cascading down up to nine
//!   levels. (Before the wheel spanned the domain this took about 2^30
//!   cascades per far timer.)
//!
//! Equivalent work for the peers: DelayQueue uses `insert_at`, `remove`,
//! `reset_at` and, on a paused current-thread runtime, `advance` + polling
//! `poll_expired` until every entry has come out. The heap is the usual
//! lazy-deletion timer queue: entries carry a per-timer generation; cancel
//! and re-arm bump the generation (re-arm pushes a new entry) and the heap is
//! compacted with `retain` when stale entries exceed half of it, so it ends
//! in the same state as the wheel; expire pops until the heap is empty,
//! skipping stale entries.
//!
//! Setup (creating the structures and the 100k armed timers) is outside the
//! measurement (`iter_batched`).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::poll_fn;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use neighcache::timer::{Tick, Timer, TimerWheel, MAX_TICK};
use tokio::runtime::Runtime;
use tokio::time::Instant;
use tokio_util::time::{delay_queue::Key, DelayQueue};

const N: usize = 100_000;
const SPAN: Tick = 60_000;
const REARM_BY: Tick = 30_000;

/// Pseudo-random expiries in 1..=SPAN (same sequence for every peer).
fn expiries() -> Vec<Tick> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..N)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + x % SPAN
        })
        .collect()
}

/// A scattered visiting order (stride coprime with N).
fn order() -> Vec<usize> {
    (0..N).map(|i| (i * 7919) % N).collect()
}

// ---------------------------------------------------------------- neighcache

struct Wheel {
    wheel: TimerWheel,
    timers: Vec<Timer>,
}

fn wheel_empty() -> Wheel {
    Wheel {
        wheel: TimerWheel::with_capacity(1, 0, N),
        timers: (0..N).map(|i| Timer::new(i, 0)).collect(),
    }
}

fn wheel_armed(exp: &[Tick]) -> Wheel {
    let w = wheel_empty();
    for (t, &e) in w.timers.iter().zip(exp) {
        w.wheel.add_timer(t, e);
    }
    w
}

// ---------------------------------------------------------------- BinaryHeap

/// The usual lazy-deletion heap timer queue.
struct Heap {
    heap: BinaryHeap<Reverse<(Tick, u32, u32)>>, // (expires, id, generation)
    gen: Vec<u32>,
    armed: Vec<bool>,
    stale: usize,
}

impl Heap {
    fn new() -> Heap {
        Heap {
            heap: BinaryHeap::with_capacity(N),
            gen: vec![0; N],
            armed: vec![false; N],
            stale: 0,
        }
    }
    fn armed(exp: &[Tick]) -> Heap {
        let mut h = Heap::new();
        for (i, &e) in exp.iter().enumerate() {
            h.schedule(i, e);
        }
        h
    }
    #[inline]
    fn schedule(&mut self, id: usize, e: Tick) {
        if self.armed[id] {
            self.invalidate(id);
        }
        self.armed[id] = true;
        self.heap.push(Reverse((e, id as u32, self.gen[id])));
    }
    #[inline]
    fn invalidate(&mut self, id: usize) {
        self.gen[id] = self.gen[id].wrapping_add(1);
        self.stale += 1;
        if self.stale * 2 > self.heap.len() {
            let gen = &self.gen;
            self.heap
                .retain(|Reverse((_, i, g))| gen[*i as usize] == *g);
            self.stale = 0;
        }
    }
    #[inline]
    fn cancel(&mut self, id: usize) -> bool {
        if !self.armed[id] {
            return false;
        }
        self.armed[id] = false;
        self.invalidate(id);
        true
    }
    fn expire(&mut self, now: Tick, mut f: impl FnMut(usize)) -> usize {
        let mut n = 0;
        while let Some(&Reverse((e, id, g))) = self.heap.peek() {
            if e > now {
                break;
            }
            self.heap.pop();
            if self.gen[id as usize] != g {
                self.stale -= 1;
                continue;
            }
            self.armed[id as usize] = false;
            f(id as usize);
            n += 1;
        }
        n
    }
}

// ---------------------------------------------------------------- DelayQueue

struct Dq {
    q: DelayQueue<usize>,
    keys: Vec<Key>,
    start: Instant,
}

fn dq_armed(rt: &Runtime, exp: &[Tick]) -> Dq {
    let _g = rt.enter();
    let start = Instant::now();
    let mut q = DelayQueue::with_capacity(N);
    let keys = exp
        .iter()
        .enumerate()
        .map(|(i, &e)| q.insert_at(i, start + Duration::from_millis(e)))
        .collect();
    Dq { q, keys, start }
}

fn bench(c: &mut Criterion) {
    let exp = expiries();
    let ord = order();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();

    let mut g = c.benchmark_group("timer_wheel");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);

    // schedule_100k
    g.bench_function(BenchmarkId::new("neighcache", "schedule_100k"), |b| {
        b.iter_batched(
            wheel_empty,
            |w| {
                for (t, &e) in w.timers.iter().zip(&exp) {
                    w.wheel.add_timer(t, e);
                }
                w
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function(BenchmarkId::new("delay_queue", "schedule_100k"), |b| {
        let _e = rt.enter();
        b.iter_batched(
            || (DelayQueue::with_capacity(N), Instant::now()),
            |(mut q, start)| {
                for (i, &e) in exp.iter().enumerate() {
                    black_box(q.insert_at(i, start + Duration::from_millis(e)));
                }
                q
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function(BenchmarkId::new("binary_heap", "schedule_100k"), |b| {
        b.iter_batched(
            Heap::new,
            |mut h| {
                for (i, &e) in exp.iter().enumerate() {
                    h.schedule(i, e);
                }
                h
            },
            BatchSize::LargeInput,
        )
    });

    // cancel_100k
    g.bench_function(BenchmarkId::new("neighcache", "cancel_100k"), |b| {
        b.iter_batched(
            || wheel_armed(&exp),
            |w| {
                for &i in &ord {
                    black_box(w.wheel.del_timer(&w.timers[i]));
                }
                assert_eq!(w.wheel.pending(), 0);
                w
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function(BenchmarkId::new("delay_queue", "cancel_100k"), |b| {
        let _e = rt.enter();
        b.iter_batched(
            || dq_armed(&rt, &exp),
            |mut d| {
                for &i in &ord {
                    black_box(d.q.remove(&d.keys[i]));
                }
                assert!(d.q.is_empty());
                d
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function(BenchmarkId::new("binary_heap", "cancel_100k"), |b| {
        b.iter_batched(
            || Heap::armed(&exp),
            |mut h| {
                for &i in &ord {
                    black_box(h.cancel(i));
                }
                h
            },
            BatchSize::LargeInput,
        )
    });

    // expire_100k
    g.bench_function(BenchmarkId::new("neighcache", "expire_100k"), |b| {
        b.iter_batched(
            || wheel_armed(&exp),
            |w| {
                let mut sum = 0usize;
                let n = w.wheel.run_timers(SPAN, |d| sum += d).unwrap();
                assert_eq!(n, N);
                black_box(sum);
                w
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function(BenchmarkId::new("delay_queue", "expire_100k"), |b| {
        b.iter_batched(
            || dq_armed(&rt, &exp),
            |mut d| {
                let sum = rt.block_on(async {
                    tokio::time::advance(Duration::from_millis(SPAN + 1)).await;
                    let mut sum = 0usize;
                    let mut n = 0;
                    while let Some(e) = poll_fn(|cx| d.q.poll_expired(cx)).await {
                        sum += e.into_inner();
                        n += 1;
                    }
                    assert_eq!(n, N);
                    sum
                });
                black_box(sum);
                black_box(d.start);
                d
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function(BenchmarkId::new("binary_heap", "expire_100k"), |b| {
        b.iter_batched(
            || Heap::armed(&exp),
            |mut h| {
                let mut sum = 0usize;
                assert_eq!(h.expire(SPAN, |d| sum += d), N);
                black_box(sum);
                h
            },
            BatchSize::LargeInput,
        )
    });

    // rearm_100k
    g.bench_function(BenchmarkId::new("neighcache", "rearm_100k"), |b| {
        b.iter_batched(
            || wheel_armed(&exp),
            |w| {
                for &i in &ord {
                    black_box(w.wheel.mod_timer(&w.timers[i], exp[i] + REARM_BY));
                }
                w
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function(BenchmarkId::new("delay_queue", "rearm_100k"), |b| {
        let _e = rt.enter();
        b.iter_batched(
            || dq_armed(&rt, &exp),
            |mut d| {
                for &i in &ord {
                    d.q.reset_at(
                        &d.keys[i],
                        d.start + Duration::from_millis(exp[i] + REARM_BY),
                    );
                }
                d
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function(BenchmarkId::new("binary_heap", "rearm_100k"), |b| {
        b.iter_batched(
            || Heap::armed(&exp),
            |mut h| {
                for &i in &ord {
                    h.schedule(i, exp[i] + REARM_BY);
                }
                h
            },
            BatchSize::LargeInput,
        )
    });

    // jump_100k
    let far: Vec<Tick> = expiries()
        .iter()
        .map(|&e| {
            let x = e.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (1 + x % (1 << 20)) << (x >> 58).min(42) // up to 2^62
        })
        .collect();
    g.bench_function(BenchmarkId::new("neighcache", "jump_100k"), |b| {
        b.iter_batched(
            || wheel_armed(&far),
            |w| {
                let n = w.wheel.run_timers(MAX_TICK, |d| {
                    black_box(d);
                });
                assert_eq!(n, Ok(N));
                w
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
