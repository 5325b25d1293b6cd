//! Timer benchmarks, 100k timers, expiries spread over one minute of 1 ms
//! ticks. Three groups:
//!
//! * `timer_core/<id>/<workload>` (one thread, no lock anywhere): the
//!   sequential core `WheelCore` (`wheel_core`) against a lazy-deletion
//!   `BinaryHeap` (`binary_heap`).
//! * `timer_shared/<id>/<workload>_<T>t` (the structures a timer shared by
//!   several threads needs): the concurrent `TimerWheel` (`timer_wheel`, one
//!   base per thread, each thread's timers homed on its base, handlers run
//!   unlocked) against one `Mutex<BinaryHeap>` (`mutex_binary_heap`; expiry
//!   pops one timer per lock hold and runs it unlocked), at 1 and 2 threads;
//!   each thread runs the workload on its share of the 100k timers. Timed
//!   from a barrier releasing the threads to the last one finishing.
//! * `timer_wheel/<peer>/<workload>`: the concurrent wheel on one thread
//!   against `tokio_util::time::DelayQueue` and the heap (the earlier
//!   comparison, kept for continuity), and `jump_100k`.
//!
//! Workloads of the first two groups (`common/timers.rs`, written once
//! against every structure): `schedule_100k`, `cancel_100k`,
//! `expire_100k`, `rearm_100k` as below, and `lifecycle_100k`, the
//! neighbour pattern from empty: arm each timer, re-arm it three times (as
//! confirmations arrive), then cancel 90% and run until the other 10% fire.
//!
//! Workloads of `timer_wheel` (ids `<peer>/<workload>`):
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
//! lazy-deletion timer queue (`common/timers.rs`).
//!
//! Setup (creating the structures and, for cancel/expire/re-arm, the 100k
//! armed timers) is outside the measurement. In `timer_core` and
//! `timer_shared` every structure is also warmed first (its memory written
//! once, see `common/timers.rs`); `timer_wheel` keeps the earlier cold
//! setup, so its figures include first-touch page faults.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

#[path = "common/timers.rs"]
mod timers;

use std::future::poll_fn;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use neighcache::timer::{Tick, Timer, TimerWheel, MAX_TICK};
use timers::{expiries, order, Core, Heap, MutexHeap, Shared, Timers, Work, N};
use timers::{REARM_BY, SPAN};
use tokio::runtime::Runtime;
use tokio::time::Instant as TokioInstant;
use tokio_util::time::{delay_queue::Key, DelayQueue};

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

// ---------------------------------------------------------------- DelayQueue

struct Dq {
    q: DelayQueue<usize>,
    keys: Vec<Key>,
    start: TokioInstant,
}

fn dq_armed(rt: &Runtime, exp: &[Tick]) -> Dq {
    let _g = rt.enter();
    let start = TokioInstant::now();
    let mut q = DelayQueue::with_capacity(N);
    let keys = exp
        .iter()
        .enumerate()
        .map(|(i, &e)| q.insert_at(i, start + Duration::from_millis(e)))
        .collect();
    Dq { q, keys, start }
}

fn bench(c: &mut Criterion) {
    let exp = expiries(N);
    let ord = order(N);
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
            || (DelayQueue::with_capacity(N), TokioInstant::now()),
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
            || Heap::new(N),
            |mut h| {
                Work::Schedule.run(&mut h, &exp, &ord);
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
            || heap_armed(&exp),
            |mut h| {
                Work::Cancel.run(&mut h, &exp, &ord);
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
            || heap_armed(&exp),
            |mut h| {
                black_box(h.expire(SPAN));
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
            || heap_armed(&exp),
            |mut h| {
                Work::Rearm.run(&mut h, &exp, &ord);
                h
            },
            BatchSize::LargeInput,
        )
    });

    // jump_100k
    let far: Vec<Tick> = expiries(N)
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

fn heap_armed(exp: &[Tick]) -> Heap {
    let mut h = Heap::new(N);
    for (i, &e) in exp.iter().enumerate() {
        h.arm(i, e);
    }
    h
}

/// `timer_core`: `WheelCore` against `BinaryHeap`, one thread, no locks.
fn core(c: &mut Criterion) {
    let exp = expiries(N);
    let ord = order(N);
    let mut g = c.benchmark_group("timer_core");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    for w in Work::ALL {
        let armed = |t: &mut dyn FnMut(usize, Tick)| {
            if w.preloaded() {
                for (i, &e) in exp.iter().enumerate() {
                    t(i, e);
                }
            }
        };
        g.bench_function(BenchmarkId::new("wheel_core", w.name()), |b| {
            b.iter_batched(
                || {
                    let mut t = Core::new(N);
                    t.warm();
                    armed(&mut |i, e| t.arm(i, e));
                    t
                },
                |mut t| {
                    black_box(w.run(&mut t, &exp, &ord));
                    t
                },
                BatchSize::LargeInput,
            )
        });
        g.bench_function(BenchmarkId::new("binary_heap", w.name()), |b| {
            b.iter_batched(
                || {
                    let mut t = Heap::new(N);
                    t.warm();
                    armed(&mut |i, e| t.arm(i, e));
                    t
                },
                |mut t| {
                    black_box(w.run(&mut t, &exp, &ord));
                    t
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Time `work(thread)` on `threads` threads released together: from the
/// first thread's start to the last one's finish, as each thread saw them
/// (spawning is not timed; the main thread's own scheduling does not count).
/// A panicking thread panics the caller (no barrier waits for it).
fn timed_threads(threads: usize, work: impl Fn(usize) + Sync) -> Duration {
    if threads == 1 {
        let t0 = Instant::now();
        work(0);
        return t0.elapsed();
    }
    let start = Barrier::new(threads);
    std::thread::scope(|s| {
        let spans: Vec<(Instant, Instant)> = (0..threads)
            .map(|th| {
                let (start, work) = (&start, &work);
                s.spawn(move || {
                    start.wait();
                    let t0 = Instant::now();
                    work(th);
                    (t0, Instant::now())
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .collect();
        let first = spans.iter().map(|s| s.0).min().expect("threads > 1");
        let last = spans.iter().map(|s| s.1).max().expect("threads > 1");
        last.duration_since(first)
    })
}

fn bench_shared<S: Shared>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    w: Work,
    threads: usize,
    make: impl Fn(usize, usize) -> S,
) {
    let per = N / threads;
    let exp = expiries(per);
    let ord = order(per);
    g.bench_function(
        BenchmarkId::new(id, format!("{}_{threads}t", w.name())),
        |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let s = make(threads, per);
                    s.warm();
                    if w.preloaded() {
                        for th in 0..threads {
                            for (i, &e) in exp.iter().enumerate() {
                                s.arm(th, i, e);
                            }
                        }
                    }
                    spent += timed_threads(threads, |th| {
                        black_box(w.run_shared(&s, th, &exp, &ord));
                    });
                }
                spent
            })
        },
    );
}

/// `timer_shared`: the concurrent wheel against `Mutex<BinaryHeap>`.
fn shared(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_shared");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    for threads in [1, 2] {
        for w in Work::ALL {
            bench_shared(&mut g, "timer_wheel", w, threads, timers::Wheel::new);
            bench_shared(&mut g, "mutex_binary_heap", w, threads, MutexHeap::new);
        }
    }
    g.finish();
}

criterion_group!(benches, core, shared, bench);
criterion_main!(benches);
