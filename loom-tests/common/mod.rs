//! Shared harness for the loom race matrix (SPEC.md §8).
//!
//! Vocabulary shared by every test suite (`tests/`, `loom-tests/`,
//! `shuttle-tests/`, `benches/`): `DEV`/`DEV2` devices, `SRC_MAC` ours,
//! `MAC_A`/`MAC_B` peers, `Pkt`/`pkt(id)` packets, `TestOps` the recording
//! device side, `test_config()`, `table()`/`table_with(cfg)`,
//! `advance_by(t, dt)` / `advance_to(t, now)`.
//!
//! Each row runs a scenario through the crate's public API (plus the
//! `#[doc(hidden)]` model-only `set_bug_variant` switch), so the model checks
//! the code that ships. Every test prints one verdict line:
//!
//! `loom L1 fix  : PASS  explored 1234 executions, bound none, 0.42 s`
//! `loom L1 bug  : FOUND "timer cascade: armed timer on a destroyed object" on execution 17 (bound none, 0.01 s)`
#![allow(dead_code)]

use neighcache::{
    DevId, DeviceConfig, DropReason, NeighOps, NeighTable, Packet, Probe, TableConfig,
};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// A test packet.
#[derive(Debug)]
pub struct Pkt(pub u64);
impl Packet for Pkt {
    fn len(&self) -> usize {
        64
    }
}

/// What happened to each packet id (recorded outside the model: plain std).
#[derive(Default)]
pub struct TestOps {
    pub fate: Mutex<Vec<(u64, &'static str)>>,
}

impl TestOps {
    pub fn fates(&self, id: u64) -> Vec<&'static str> {
        self.fate
            .lock()
            .unwrap()
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, f)| *f)
            .collect()
    }
}

impl NeighOps<Ipv4Addr> for TestOps {
    type Packet = Pkt;
    fn transmit(&self, _: DevId, hh: &[u8], p: Pkt) {
        // Every sendable header is a resolved one: the peer's MAC_A, ours, IPv4.
        assert!(
            hh.len() == 14 && hh[6..12] == SRC_MAC && hh[12..] == [0x08, 0x00] && hh[..6] != [0; 6],
            "transmitted with an unwritten link-layer header: {hh:02x?}"
        );
        self.fate.lock().unwrap().push((p.0, "sent"));
    }
    fn solicit(&self, _: DevId, _: &Ipv4Addr, _: Probe) {}
    fn error_report(&self, _: DevId, _: &Ipv4Addr, p: Pkt) {
        self.fate.lock().unwrap().push((p.0, "error_report"));
    }
    fn discard(&self, _: DevId, _: &Ipv4Addr, p: Pkt, _: DropReason) {
        self.fate.lock().unwrap().push((p.0, "discard"));
    }
}

/// The device every row uses.
pub const DEV: DevId = DevId(1);
/// Our own MAC on [`DEV`].
pub const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// The peer's MAC address (what replies carry).
pub const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// A second peer MAC (an address change).
pub const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 3];
pub const START: u64 = 1000;
pub const KEY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// A tiny table: GC collects anything stale at once, timers are short but
/// land in tv2 (>= 256 ticks) so the bug shows in `cascade()`, as in the
/// kernel's crash.
pub fn test_config() -> TableConfig {
    let mut c = TableConfig {
        seed: 1,
        gc_thresh1: 0,
        initial_hash_shift: 1,
        ..TableConfig::default()
    };
    c.gc_interval = neighcache::parms::MAX_TIME;
    c.parms.gc_staletime = 1;
    c.parms.base_reachable_time = 600;
    c.parms.delay_probe_time = 300;
    c.parms.retrans_time = 300;
    c.parms.ucast_probes = 1;
    c.parms.mcast_probes = 1;
    c
}

/// A table with [`test_config`]: see [`table_with`].
pub fn table() -> NeighTable<Ipv4Addr, TestOps> {
    table_with(test_config())
}

/// A table at tick [`START`] with [`DEV`] registered (our MAC [`SRC_MAC`])
/// and its first periodic GC pass done.
pub fn table_with(c: TableConfig) -> NeighTable<Ipv4Addr, TestOps> {
    let t = NeighTable::with_start(c, TestOps::default(), START).unwrap();
    t.add_device(DEV, DeviceConfig::ethernet(SRC_MAC, 0x0800))
        .unwrap();
    // Run the periodic pass now so `run_timers` will not start one.
    t.gc();
    t
}

/// Run every timer to completion (far enough for any chain of re-arms).
pub fn run_all_timers<O: NeighOps<Ipv4Addr>>(t: &NeighTable<Ipv4Addr, O>) {
    for _ in 0..8 {
        t.run_timers(t.jiffies() + 1000).unwrap();
    }
}

static EXECS: AtomicUsize = AtomicUsize::new(0);

/// Count one execution (call first thing in the model closure).
pub fn count() {
    EXECS.fetch_add(1, Ordering::Relaxed);
}

/// The `generator` crate (loom's coroutines) cancels finished model threads
/// by unwinding them; the default hook would print each of those as a panic.
fn quiet_coroutine_unwinds() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info
                .location()
                .is_some_and(|l| l.file().contains("/generator-"))
            {
                return;
            }
            prev(info)
        }));
    });
}

fn builder(bound: Option<usize>) -> (loom::model::Builder, String) {
    quiet_coroutine_unwinds();
    let mut b = loom::model::Builder::new();
    // An explicit LOOM_MAX_PREEMPTIONS wins, so a reader can shrink or grow it.
    if std::env::var("LOOM_MAX_PREEMPTIONS").is_err() {
        b.preemption_bound = bound;
    }
    let shown = b
        .preemption_bound
        .map_or("none".to_string(), |n| n.to_string());
    (b, shown)
}

/// The fixed code must survive every interleaving.
pub fn fix_holds<F: Fn() + Sync + Send + 'static>(row: &str, bound: Option<usize>, f: F) {
    let (b, shown) = builder(bound);
    EXECS.store(0, Ordering::Relaxed);
    let t0 = Instant::now();
    b.check(move || {
        count();
        f()
    });
    println!(
        "\nloom {row} fix  : PASS  explored {} executions, bound {shown}, {:.2} s",
        EXECS.load(Ordering::Relaxed),
        t0.elapsed().as_secs_f64()
    );
}

/// The bug variant must fail with one of the `expected` named failures; any
/// other failure, or none, fails the test.
pub fn bug_is_found<F: Fn() + Sync + Send + 'static>(
    row: &str,
    bound: Option<usize>,
    expected: &[&str],
    f: F,
) {
    let (b, shown) = builder(bound);
    EXECS.store(0, Ordering::Relaxed);
    let t0 = Instant::now();
    // Keep the expected panic's report short: loom prints its own context.
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.check(move || {
            count();
            f()
        })
    }));
    std::panic::set_hook(prev);
    let secs = t0.elapsed().as_secs_f64();
    let n = EXECS.load(Ordering::Relaxed);
    let payload = match r {
        Ok(()) => panic!("loom {row} bug: NOT FOUND after {n} executions (bound {shown}): the model no longer detects the race"),
        Err(p) => p,
    };
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let hit = expected.iter().find(|e| msg.contains(*e));
    match hit {
        Some(_) => println!(
            "\nloom {row} bug  : FOUND on execution {n} (bound {shown}, {secs:.2} s): {}",
            msg.lines().next().unwrap_or_default()
        ),
        None => panic!("loom {row} bug: failed with an unexpected message on execution {n}: {msg:?}; expected one of {expected:?}"),
    }
}

pub mod l1_l3;
#[allow(unused_imports)] // used by the L1-L3 targets only
pub use l1_l3::*;
