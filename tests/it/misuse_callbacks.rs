//! Misuse of the public API, part 3: the user's code turned against the
//! cache. `NeighOps` callbacks that panic, in every position where a table
//! method can call them (including inside `run_timers`, `flush_dev`,
//! `remove_device` and the table's `Drop`); callbacks that re-enter the
//! table (any method: `update`, `output`, `remove`, `flush_dev(None)`,
//! `remove_device`, `run_timers`, taking and dropping handles); and packets
//! whose `Packet::len` lies or panics.
//!
//! The contract (`NeighOps` docs, "Panics in callbacks"): the panic reaches
//! the caller unchanged; the packet moved into the panicking callback counts
//! as delivered, every other packet the call held is counted `Unwound`
//! without another callback; references are released; the table stays
//! usable. Before 0b4dba6 a panicking callback left entries never destroyed
//! and packets neither delivered nor counted. After every scenario: `check`
//! (exact ledger, refcounts, timers), a fresh resolution to show the table
//! still works, and `teardown` (`allocs == destroys`, every packet freed).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::adversary::{ip4 as ip, *};
use common::{test_config, DEV, MAC_A, MAC_B};
use neighcache::{DevId, NudState as S, TableConfig, UpdateFlags as F, Xmit, HZ};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// A neighbour that never answers, with `n` packets queued on it.
fn queue(t: &Table, log: &Log<Ipv4Addr>, key: Ipv4Addr, n: usize) {
    for _ in 0..n {
        assert_eq!(t.resolve_output(key, DEV, log.pkt()), Xmit::Queued);
    }
}

/// One cell of the panic matrix: `setup` builds the state (nothing armed),
/// then the `after + 1`-th call of `cb` made by `act` panics; `unwound`
/// packets must then be counted `Unwound`.
struct Case {
    name: &'static str,
    cb: Cb,
    after: u64,
    unwound: u64,
    cfg: fn() -> TableConfig,
    setup: fn(&Table, &Log<Ipv4Addr>),
    act: fn(&Table, &Log<Ipv4Addr>),
}

const K1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const K2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const K3: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const NOPROBE: DevId = DevId(5);

fn small() -> TableConfig {
    let mut c = TableConfig {
        gc_thresh1: 0,
        gc_thresh2: 2,
        gc_thresh3: 2,
        ..test_config()
    };
    c.parms.unres_qlen = 2;
    c
}

fn none(_: &Table, _: &Log<Ipv4Addr>) {}

fn cases() -> Vec<Case> {
    let c = |name, cb, after, unwound, setup, act| Case {
        name,
        cb,
        after,
        unwound,
        cfg: test_config,
        setup,
        act,
    };
    let mut v = vec![
        // transmit
        c(
            "output, hit",
            Cb::Transmit,
            0,
            0,
            |t, l| resolve(t, l, K1, MAC_A),
            |t, l| {
                let g = t.pin();
                t.output(t.lookup_noref(K1, DEV, &g).unwrap(), l.pkt(), &g);
            },
        ),
        c(
            "resolve_output, hit",
            Cb::Transmit,
            0,
            0,
            |t, l| resolve(t, l, K1, MAC_A),
            |t, l| {
                t.resolve_output(K1, DEV, l.pkt());
            },
        ),
        c(
            "output, STALE -> DELAY",
            Cb::Transmit,
            0,
            0,
            |t, _| {
                t.event_ns(K1, DEV, &MAC_A).unwrap();
            },
            |t, l| {
                t.resolve_output(K1, DEV, l.pkt());
            },
        ),
        c(
            "ARP reply flushing 3, 1st",
            Cb::Transmit,
            0,
            2,
            |t, l| queue(t, l, K1, 3),
            |t, _| {
                let _ = t.receive_arp(K1, DEV, &MAC_A, true);
            },
        ),
        c(
            "ARP reply flushing 3, 3rd",
            Cb::Transmit,
            2,
            0,
            |t, l| queue(t, l, K1, 3),
            |t, _| {
                let _ = t.receive_arp(K1, DEV, &MAC_A, true);
            },
        ),
        c(
            "ARP request flushing 3 (STALE)",
            Cb::Transmit,
            1,
            1,
            |t, l| queue(t, l, K1, 3),
            |t, _| {
                let _ = t.receive_arp(K1, DEV, &MAC_A, false);
            },
        ),
        c(
            "update flushing 3",
            Cb::Transmit,
            0,
            2,
            |t, l| queue(t, l, K1, 3),
            |t, _| {
                let h = t.lookup(K1, DEV).unwrap();
                let _ = t.update(&h, Some(&MAC_B), S::REACHABLE, F::OVERRIDE);
            },
        ),
        c(
            "add_permanent flushing 3",
            Cb::Transmit,
            0,
            2,
            |t, l| queue(t, l, K1, 3),
            |t, _| {
                let _ = t.add_permanent(K1, DEV, &MAC_A);
            },
        ),
        // solicit
        c(
            "resolve_output, new neighbour",
            Cb::Solicit,
            0,
            0,
            none,
            |t, l| {
                t.resolve_output(K2, DEV, l.pkt());
            },
        ),
        c("event_send, no packet", Cb::Solicit, 0, 0, none, |t, _| {
            let h = t.lookup_or_create(K2, DEV).unwrap();
            t.event_send(&h, None);
        }),
        c("update to INCOMPLETE", Cb::Solicit, 0, 0, none, |t, _| {
            let h = t.lookup_or_create(K2, DEV).unwrap();
            let _ = t.update(&h, None, S::INCOMPLETE, F::ADMIN);
        }),
        c(
            "set_probe_once",
            Cb::Solicit,
            0,
            0,
            |t, l| {
                queue(t, l, K2, 1);
                run_for(t, 10 * HZ);
            },
            |t, _| {
                let _ = t.set_probe_once(&t.lookup(K2, DEV).unwrap());
            },
        ),
        c(
            "run_timers, 3 re-probes due at once",
            Cb::Solicit,
            0,
            0,
            |t, l| {
                for k in [K1, K2, K3] {
                    queue(t, l, k, 1);
                }
            },
            |t, _| {
                let _ = t.run_timers(t.jiffies() + 2 * HZ);
            },
        ),
        c(
            "run_timers, DELAY -> PROBE",
            Cb::Solicit,
            0,
            0,
            |t, l| {
                t.event_ns(K1, DEV, &MAC_A).unwrap();
                t.resolve_output(K1, DEV, l.pkt());
            },
            |t, _| run_for(t, 10 * HZ),
        ),
        // error_report
        c(
            "run_timers, INCOMPLETE -> FAILED with 3, 1st",
            Cb::ErrorReport,
            0,
            2,
            |t, l| queue(t, l, K2, 3),
            |t, _| run_for(t, 10 * HZ),
        ),
        c(
            "run_timers, INCOMPLETE -> FAILED with 3, 2nd",
            Cb::ErrorReport,
            1,
            1,
            |t, l| queue(t, l, K2, 3),
            |t, _| run_for(t, 10 * HZ),
        ),
        c(
            "update to FAILED",
            Cb::ErrorReport,
            0,
            1,
            |t, l| queue(t, l, K2, 2),
            |t, _| {
                let _ = t.update(&t.lookup(K2, DEV).unwrap(), None, S::FAILED, F::ADMIN);
            },
        ),
        c(
            "update to NONE",
            Cb::ErrorReport,
            0,
            1,
            |t, l| queue(t, l, K2, 2),
            |t, _| {
                let _ = t.update(&t.lookup(K2, DEV).unwrap(), None, S::NONE, F::ADMIN);
            },
        ),
        c(
            "remove",
            Cb::ErrorReport,
            1,
            0,
            |t, l| queue(t, l, K2, 2),
            |t, _| {
                let _ = t.remove(K2, DEV);
            },
        ),
        // discard
        c(
            "flush_dev(dev), 2 x 2 queued",
            Cb::Discard,
            0,
            3,
            |t, l| {
                queue(t, l, K1, 2);
                queue(t, l, K2, 2);
            },
            |t, _| {
                t.flush_dev(Some(DEV));
            },
        ),
        c(
            "flush_dev(None), 3rd of 4",
            Cb::Discard,
            2,
            1,
            |t, l| {
                queue(t, l, K1, 2);
                queue(t, l, K2, 2);
            },
            |t, _| {
                t.flush_dev(None);
            },
        ),
        c(
            "remove_device",
            Cb::Discard,
            0,
            1,
            |t, l| queue(t, l, K1, 2),
            |t, _| {
                let _ = t.remove_device(DEV);
            },
        ),
        c("output, foreign entry", Cb::Discard, 0, 0, none, |t, l| {
            let (b, _) = adv();
            let g = b.pin();
            let e = b.lookup_or_create_noref(K1, DEV, &g).unwrap();
            t.output(e, l.pkt(), &g);
        }),
        c("output, dead entry", Cb::Discard, 0, 0, none, |t, l| {
            let h = t.lookup_or_create(K3, DEV).unwrap();
            t.remove(K3, DEV).unwrap();
            t.output(&h, l.pkt(), &t.pin());
        }),
        c(
            "output, FAILED without probes",
            Cb::Discard,
            0,
            0,
            |t, _| {
                let mut p = test_config().parms;
                (p.mcast_probes, p.app_probes) = (0, 0);
                t.add_device(NOPROBE, eth().with_parms(p)).unwrap();
            },
            |t, l| {
                t.resolve_output(K1, NOPROBE, l.pkt());
            },
        ),
        c(
            "resolve_output, unknown device",
            Cb::Discard,
            0,
            0,
            none,
            |t, l| {
                t.resolve_output(K1, NODEV, l.pkt());
            },
        ),
    ];
    v.push(Case {
        name: "resolve_output, table full",
        cfg: small,
        ..c(
            "",
            Cb::Discard,
            0,
            0,
            |t, l| {
                queue(t, l, K1, 1);
                queue(t, l, K2, 1);
            },
            |t, l| {
                t.resolve_output(K3, DEV, l.pkt());
            },
        )
    });
    v.push(Case {
        name: "output, queue overflow",
        cfg: small,
        ..c(
            "",
            Cb::Discard,
            0,
            0,
            |t, l| queue(t, l, K1, 2),
            |t, l| {
                t.resolve_output(K1, DEV, l.pkt());
            },
        )
    });
    v
}

/// The panic matrix: every callback in every position a table method calls
/// it from. Each call panics with exactly the callback's message; the
/// packets the call still held are counted `Unwound` (and no callback saw
/// them); nothing leaks; the table then resolves a new neighbour and tears
/// down with `allocs == destroys`.
#[test]
fn a_panicking_callback_in_every_position() {
    for case in cases() {
        println!("case: {}", case.name); // shown if the case fails
        let (t, log) = adv_table((case.cfg)());
        (case.setup)(&t, &log);
        check(&t, &log, &[]);
        log.panic_on(Some(case.cb), case.after);
        expect_panic(&case.cb.panic_msg(), || (case.act)(&t, &log));
        assert_eq!(log.panicked(), 1, "{}", case.name);
        let s = check(&t, &log, &[]);
        assert_eq!(s.dropped_unwound, case.unwound, "{}: {s:?}", case.name);
        // Still usable: timers run, a new neighbour resolves.
        run_for(&t, 30 * HZ);
        let _ = t.add_device(DEV, eth()); // if the case removed it
        resolve(&t, &log, ip(1, 1), MAC_B);
        run_for(&t, 30 * HZ);
        check(&t, &log, &[]);
        teardown(t, &log);
    }
}

/// GC, lookups, dumps and the other methods that deliver no packet make no
/// callback at all: with every callback armed to panic, none panics.
#[test]
fn methods_without_packets_make_no_callbacks() {
    let c = TableConfig {
        gc_thresh1: 0,
        gc_interval: neighcache::parms::MAX_TIME,
        ..test_config()
    };
    let (t, log) = adv_table(c);
    resolve(&t, &log, K1, MAC_A);
    queue(&t, &log, K2, 1);
    run_for(&t, 200 * HZ); // K1 stale and unused, K2 failed: both collectable
    log.panic_on(None, 0);
    let h = t.lookup(K2, DEV).unwrap();
    t.confirm(&h).unwrap(); // (6.x GC counts a later confirmation as a use,
    drop(h); // but not on a FAILED entry, which is collected regardless)
    let _ = (
        t.dump(),
        t.stats(),
        t.len(),
        t.next_event(),
        t.timers().pending(),
    );
    assert_eq!(t.gc().removed, 2);
    assert_eq!(t.flush_dev(None), 0);
    assert!(log.armed());
    log.disarm();
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// Dropping the table (teardown) with a `discard` that panics: the drop
/// panics with the callback's message, the other queued packets are
/// counted `Unwound` without callbacks, and every packet's memory is
/// released (and, under valgrind, the table's own memory too).
#[test]
fn a_panicking_discard_during_teardown() {
    let (t, log) = adv();
    for k in [K1, K2, K3] {
        queue(&t, &log, k, 2);
    }
    resolve(&t, &log, ip(1, 1), MAC_A);
    let calls = log.total_calls();
    log.panic_on(Some(Cb::Discard), 0);
    expect_panic(&Cb::Discard.panic_msg(), move || drop(t));
    assert_eq!(log.total_calls(), calls + 1, "callbacks after the panic");
    assert_eq!(log.issued(), log.freed(), "packets leaked");
}

/// A table dropped while its thread unwinds from the *caller's* panic makes
/// no callback (a panicking callback would abort the process): its queued
/// packets are counted `Unwound` and freed.
#[test]
fn a_table_dropped_during_an_unwind_makes_no_callbacks() {
    let (t, log) = adv();
    queue(&t, &log, K1, 3);
    let calls = log.total_calls();
    let r = catch(move || {
        let _t = t;
        panic!("adversary: the caller's own panic");
    });
    assert_eq!(r.unwrap_err(), "adversary: the caller's own panic");
    assert_eq!(log.total_calls(), calls);
    assert_eq!(log.issued(), log.freed());
}

/// A clock for the timer thread that the test sets, and that counts how
/// often the thread read it (so the test knows the thread saw a value).
struct TestClock {
    now: Arc<AtomicU64>,
    reads: Arc<AtomicU64>,
}

impl neighcache::Clock for TestClock {
    fn now(&self) -> neighcache::Tick {
        self.reads.fetch_add(1, Relaxed);
        self.now.load(Relaxed)
    }
}

/// Wait (without a time limit on the table's work, only to avoid a hang)
/// until `cond` holds.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..60_000 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("gave up waiting for {what}");
}

/// The timer thread (`spawn_timer_thread`) under misuse: a clock beyond
/// `MAX_TICK` is refused on every read without changing the table; a
/// `solicit` that panics inside a timer handler ends the thread, and
/// `TimerThread::stop` re-raises exactly that panic in the caller; the table
/// is intact and its timers can then be run by hand.
#[test]
fn a_panic_on_the_timer_thread_reaches_stop() {
    let (t, log) = adv();
    queue(&t, &log, K1, 2);
    let (now, reads) = (
        Arc::new(AtomicU64::new(u64::MAX)),
        Arc::new(AtomicU64::new(0)),
    );
    let clock = TestClock {
        now: now.clone(),
        reads: reads.clone(),
    };
    let before = (t.jiffies(), t.stats(), t.timers().pending());
    let th = t.spawn_timer_thread(clock, std::time::Duration::from_millis(1));
    wait_for("three reads of an out-of-range clock", || {
        reads.load(Relaxed) >= 3
    });
    assert_eq!((t.jiffies(), t.stats(), t.timers().pending()), before);
    log.panic_on(Some(Cb::Solicit), 0);
    now.store(t.jiffies() + 2 * HZ, Relaxed);
    wait_for("the panic", || log.panicked() == 1);
    expect_panic(&Cb::Solicit.panic_msg(), move || th.stop());
    check(&t, &log, &[]);
    run_for(&t, 10 * HZ);
    assert_eq!(log.count(Delivery::ErrorReport), 2);
    teardown(t, &log);
}
