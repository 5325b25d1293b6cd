//! `create_resolve` and `remove` (`benches/lookup.rs`): fill an empty
//! structure with every key, or empty a full one, in query order; time per
//! key. Building, dropping and (neighcache) waiting for RCU reclamation
//! between rounds are not timed.

use crate::common::{keys, resolved_table, Hdr, DEV, MAC_A};
use crate::contenders::{hdr, Key};
use criterion::{BenchmarkId, Criterion, Throughput};
use neighcache::{NudState, UpdateFlags};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// `iters` rounds of `setup` (untimed), `work` (timed), `teardown`
/// (untimed); the timed total.
fn rounds<S, W, T>(iters: u64, mut setup: impl FnMut() -> S, work: W, teardown: T) -> Duration
where
    W: Fn(&S),
    T: Fn(S),
{
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let s = setup();
        let t0 = Instant::now();
        work(&s);
        total += t0.elapsed();
        teardown(s);
    }
    total
}

pub fn create_resolve(
    c: &mut Criterion,
    sizes: &[usize],
    queries: impl Fn(&[Ipv4Addr]) -> Vec<Ipv4Addr>,
) {
    let mut g = c.benchmark_group("create_resolve");
    g.sample_size(10);
    for &size in sizes {
        g.throughput(Throughput::Elements(size as u64));
        let q = queries(&keys(size, 42));
        let q = &q[..];
        g.bench_function(BenchmarkId::new("neighcache", size), |b| {
            b.iter_custom(|n| {
                rounds(
                    n,
                    crate::common::empty_table,
                    |t| {
                        for &k in q {
                            let h = t.lookup_or_create(k, DEV).expect("create");
                            t.update(&h, Some(&MAC_A), NudState::REACHABLE, UpdateFlags::OVERRIDE)
                                .expect("resolve");
                        }
                    },
                    |t| {
                        drop(t);
                        crate::common::settle();
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new("hashmap", size), |b| {
            b.iter_custom(|n| {
                rounds(
                    n,
                    || std::cell::RefCell::new(HashMap::<Key, Hdr>::new()),
                    |m| {
                        let mut m = m.borrow_mut();
                        for &k in q {
                            m.insert((k, DEV), hdr(false));
                        }
                    },
                    drop,
                )
            })
        });
        g.bench_function(BenchmarkId::new("dashmap", size), |b| {
            b.iter_custom(|n| {
                rounds(
                    n,
                    dashmap::DashMap::<Key, Hdr>::new,
                    |m| {
                        for &k in q {
                            m.insert((k, DEV), hdr(false));
                        }
                    },
                    drop,
                )
            })
        });
        g.bench_function(BenchmarkId::new("papaya", size), |b| {
            b.iter_custom(|n| {
                rounds(
                    n,
                    papaya::HashMap::<Key, Hdr>::new,
                    |m| {
                        let m = m.pin();
                        for &k in q {
                            m.insert((k, DEV), hdr(false));
                        }
                    },
                    drop,
                )
            })
        });
    }
    g.finish();
}

pub fn remove(c: &mut Criterion, sizes: &[usize], queries: impl Fn(&[Ipv4Addr]) -> Vec<Ipv4Addr>) {
    let mut g = c.benchmark_group("remove");
    g.sample_size(10);
    for &size in sizes {
        g.throughput(Throughput::Elements(size as u64));
        let k = keys(size, 42);
        let q = queries(&k);
        let (k, q) = (&k[..], &q[..]);
        g.bench_function(BenchmarkId::new("neighcache", size), |b| {
            b.iter_custom(|n| {
                rounds(
                    n,
                    || {
                        let t = resolved_table(k);
                        crate::common::settle();
                        t
                    },
                    |t| {
                        for &k in q {
                            t.remove(k, DEV).expect("present");
                        }
                    },
                    |t| {
                        drop(t);
                        crate::common::settle();
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new("hashmap", size), |b| {
            b.iter_custom(|n| {
                rounds(
                    n,
                    || {
                        std::cell::RefCell::new(
                            k.iter()
                                .map(|&k| ((k, DEV), hdr(false)))
                                .collect::<HashMap<Key, Hdr>>(),
                        )
                    },
                    |m| {
                        let mut m = m.borrow_mut();
                        for &k in q {
                            black_box(m.remove(&(k, DEV)).expect("present"));
                        }
                    },
                    drop,
                )
            })
        });
        g.bench_function(BenchmarkId::new("dashmap", size), |b| {
            b.iter_custom(|n| {
                rounds(
                    n,
                    || {
                        k.iter()
                            .map(|&k| ((k, DEV), hdr(false)))
                            .collect::<dashmap::DashMap<Key, Hdr>>()
                    },
                    |m| {
                        for &k in q {
                            black_box(m.remove(&(k, DEV)).expect("present"));
                        }
                    },
                    drop,
                )
            })
        });
        g.bench_function(BenchmarkId::new("papaya", size), |b| {
            b.iter_custom(|n| {
                rounds(
                    n,
                    || {
                        let m = papaya::HashMap::<Key, Hdr>::new();
                        {
                            let p = m.pin();
                            for &k in k {
                                p.insert((k, DEV), hdr(false));
                            }
                        }
                        m
                    },
                    |m| {
                        let m = m.pin();
                        for &k in q {
                            black_box(m.remove(&(k, DEV)).expect("present"));
                        }
                    },
                    drop,
                )
            })
        });
    }
    g.finish();
}
