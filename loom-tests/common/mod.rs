//! Shared harness for the loom race matrix (SPEC.md, "Race matrix").
//!
//! Each row runs a scenario through the crate's public API (plus the
//! `#[doc(hidden)]` model-only `set_bug_variant` switch), so the model checks
//! the code that ships. Every test prints one verdict line:
//!
//! `loom L1 fix  : PASS  explored 1234 executions, bound none, 0.42 s`
//! `loom L1 bug  : FOUND "timer cascade: armed timer on a destroyed object" on execution 17 (bound none, 0.01 s)`
#![allow(dead_code)]

use loom::sync::Arc;
use neighcache::{
    DevId, DeviceConfig, DropReason, NeighOps, NeighTable, Packet, Probe, TableConfig,
};
use neighcache::{NudState, UpdateFlags};
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
pub struct Ops {
    pub fate: Mutex<Vec<(u64, &'static str)>>,
}

impl Ops {
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

impl NeighOps<Ipv4Addr> for Ops {
    type Packet = Pkt;
    fn transmit(&self, _: DevId, hh: &[u8], p: Pkt) {
        // Every sendable header is a resolved one: the peer's MAC, ours, IPv4.
        assert!(
            hh.len() == 14 && hh[6..] == [2, 0, 0, 0, 0, 1, 0x08, 0x00] && hh[..6] != [0; 6],
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

pub const DEV: DevId = DevId(1);
pub const MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const START: u64 = 1000;
pub const KEY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// A tiny table: GC collects anything stale at once, timers are short but
/// land in tv2 (>= 256 ticks) so the bug shows in `cascade()`, as in the
/// kernel's crash.
pub fn tiny_config() -> TableConfig {
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

pub fn table(c: TableConfig) -> NeighTable<Ipv4Addr, Ops> {
    let t = NeighTable::with_start(c, Ops::default(), START).unwrap();
    t.add_device(DEV, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
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

/// The named failures of the pre-2015 logic.
pub const DESTROYED: &[&str] = &[
    "armed timer on a destroyed object",
    "neigh_destroy: double destroy",
    "rcu: double retire",
    "rcu: use after grace period",
];

/// What thread A does with the entry it found without a reference.
#[derive(Clone, Copy)]
pub enum Act {
    /// `dst_neigh_output` -> `neigh_resolve_output` -> `__neigh_event_send`.
    Output,
    /// `neigh_update` (an ARP reply handled through a noref lookup).
    Update,
    /// `__neigh_set_probe_once`.
    ProbeOnce,
}

/// The L1-L3 scenario: thread A modifies an entry found by `lookup_noref`
/// while the main thread's GC pass unlinks and releases it; then the wheel
/// runs past every timer and the table is torn down. `bug` selects the
/// pre-2015 logic (model builds only).
pub fn dead_check_scenario(act: Act, bug: bool) {
    let t = Arc::new(table(tiny_config()));
    if bug {
        t.set_bug_variant(true);
    }
    {
        let n = t.lookup_or_create(KEY, DEV).unwrap();
        match act {
            Act::Output | Act::Update => t
                .update(&n, Some(&MAC), NudState::STALE, UpdateFlags::OVERRIDE)
                .unwrap(),
            // FAILED entries are what set_probe_once revives.
            Act::ProbeOnce => t
                .update(&n, None, NudState::FAILED, UpdateFlags::ADMIN)
                .unwrap(),
        }
    }
    // Let the entry go stale (gc_staletime is 1 tick).
    t.run_timers(START + 10).unwrap();
    let t1 = t.clone();
    let a = loom::thread::spawn(move || {
        let g = t1.pin();
        if let Some(n) = t1.lookup_noref(KEY, DEV, &g) {
            match act {
                Act::Output => {
                    t1.output(n, Pkt(1), &g);
                }
                Act::Update => {
                    let _ = t1.update(
                        n,
                        Some(&[2, 0, 0, 0, 0, 3]),
                        NudState::REACHABLE,
                        UpdateFlags::OVERRIDE,
                    );
                }
                Act::ProbeOnce => {
                    let _ = t1.set_probe_once(n);
                }
            }
        }
    });
    // Thread B: the periodic GC pass (`neigh_periodic_work`).
    t.gc();
    a.join().unwrap();
    // Let the wheel reach every armed timer (this is where a timer armed on
    // a destroyed entry is caught, in cascade()).
    run_all_timers(&t);
    // Fixed code: nothing leaked, the packet (if sent to output) went somewhere.
    if matches!(act, Act::Output) {
        let f = t.ops().fates(1);
        assert!(f.len() <= 1, "packet 1 delivered twice: {f:?}");
    }
    t.flush_dev(None);
    let s = t.stats();
    assert_eq!(s.allocs, s.destroys, "entry leaked: {s:?}");
    assert_eq!(
        t.timers().pending(),
        0,
        "timer left armed on a removed entry"
    );
}
