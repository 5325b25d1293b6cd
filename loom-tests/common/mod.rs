//! Shared harness for the loom race matrix (SPEC.md §8).
//!
//! Vocabulary shared by every test suite (`tests/`, `loom-tests/`,
//! `shuttle-tests/`, `benches/`): `DEV`/`DEV2` devices, `SRC_MAC` ours,
//! `MAC_A`/`MAC_B` peers, `Pkt`/`pkt(id)` packets, `TestOps` the recording
//! device side, `test_config()`, `table()`/`table_with(cfg)`,
//! `advance_by(t, dt)` / `advance_to(t, now)`.
//!
//! Each row runs a scenario through the crate's public API (plus the
//! `#[doc(hidden)]` model-only `break_rule` switch), so the model checks
//! the code that ships. Every test prints one verdict line, and the runner
//! (`run_suite`, libtest-mimic) the whole matrix at the end:
//!
//! `loom L1     fix : PASS  explored 1234 executions, bound none, 0.42 s`
//! `loom L1     bug : FOUND on execution 31 (bound none, 0.01 s): timer cascade: armed timer on a destroyed object ...`
#![allow(dead_code)]

use neighcache::{
    DevId, DeviceConfig, DropReason, NeighOps, NeighTable, Packet, Probe, TableConfig,
};
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Instant;

pub use neighcache::trace::{common_prefix, timeline, Col, Event};

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

/// L6's and L13's keys, in a 2-bucket table: `k1` and `k2` share a bucket
/// of the 2-bucket array and split in the 4-bucket one; `k3` is a third
/// key, whose creation grows the array. Links `k1`, then `k2` (chain:
/// `k2 -> k1`), and checks the table still has 2 buckets.
pub fn splitting_keys<O: NeighOps<Ipv4Addr>>(
    t: &NeighTable<Ipv4Addr, O>,
) -> (Ipv4Addr, Ipv4Addr, Ipv4Addr) {
    let top2 = |k: Ipv4Addr| t.key_hash(k, DEV) >> 30;
    let keys: Vec<Ipv4Addr> = (1..=255).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    let k1 = keys[0];
    let k2 = *keys
        .iter()
        .find(|&&k| top2(k) ^ top2(k1) == 1)
        .expect("a key splitting from k1");
    let k3 = *keys.iter().find(|&&k| k != k1 && k != k2).unwrap();
    t.lookup_or_create(k1, DEV).unwrap();
    t.lookup_or_create(k2, DEV).unwrap();
    assert_eq!(t.stats().hash_buckets, 2);
    (k1, k2, k3)
}

/// Run every timer to completion (far enough for any chain of re-arms).
pub fn run_all_timers<O: NeighOps<Ipv4Addr>>(t: &NeighTable<Ipv4Addr, O>) {
    for _ in 0..8 {
        t.run_timers(t.jiffies() + 1000).unwrap();
    }
}

std::thread_local! {
    /// Executions of the exploration running on this OS thread (loom runs a
    /// model on the test's own thread; tests run on several).
    static EXECS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Count one execution (call first thing in the model closure).
pub fn count() {
    EXECS.with(|e| e.set(e.get() + 1));
}

fn reset_count() {
    EXECS.with(|e| e.set(0));
}

fn executions() -> usize {
    EXECS.with(|e| e.get())
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
            // A bug test expects its panic and reports it itself.
            if EXPECTING.with(|e| e.get()) {
                // The timeline ends at the failure, not after the unwind.
                neighcache::trace::freeze();
                return;
            }
            prev(info)
        }));
    });
}

std::thread_local! {
    /// This OS thread runs a bug test: its panics are the expected failure
    /// (a per-thread flag, so parallel tests keep their panic reports).
    static EXPECTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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

/// One test's result, for the matrix the runner prints at the end.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub row: String,
    pub bug: bool,
    pub execs: usize,
    pub bound: String,
    pub secs: f64,
    /// The named failure (bug tests).
    pub failure: String,
}

/// Every verdict of this run (plain std: bookkeeping outside the model).
pub static VERDICTS: Mutex<Vec<Verdict>> = Mutex::new(Vec::new());

fn record(v: Verdict) {
    let line = if v.bug {
        format!(
            "loom {:<6} bug : FOUND on execution {} (bound {}, {:.2} s): {}",
            v.row, v.execs, v.bound, v.secs, v.failure
        )
    } else {
        format!(
            "loom {:<6} fix : PASS  explored {} executions, bound {}, {:.2} s",
            v.row, v.execs, v.bound, v.secs
        )
    };
    println!("{line}");
    VERDICTS.lock().unwrap().push(v);
}

/// The fixed code must survive every interleaving.
pub fn fix_holds<F: Fn() + Sync + Send + 'static>(row: &str, bound: Option<usize>, f: F) {
    let (b, shown) = builder(bound);
    reset_count();
    let t0 = Instant::now();
    b.check(move || {
        count();
        f()
    });
    record(Verdict {
        row: row.to_string(),
        bug: false,
        execs: executions(),
        bound: shown,
        secs: t0.elapsed().as_secs_f64(),
        failure: String::new(),
    });
}

/// Explore `f` until it panics; the panic's message, the execution it
/// happened on and the seconds taken (`Ok` if every execution passed).
fn explore_until_panic<F: Fn() + Sync + Send + 'static>(
    b: loom::model::Builder,
    f: F,
) -> Result<(usize, f64), (String, usize, f64)> {
    reset_count();
    let t0 = Instant::now();
    EXPECTING.with(|e| e.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.check(move || {
            count();
            neighcache::trace::clear();
            f()
        })
    }));
    EXPECTING.with(|e| e.set(false));
    let secs = t0.elapsed().as_secs_f64();
    let n = executions();
    match r {
        Ok(()) => Ok((n, secs)),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err((msg, n, secs))
        }
    }
}

/// A failure's first line, without the assertion boilerplate.
fn short_failure(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or_default();
    match first.split_once("failed: ") {
        Some((head, tail)) if head.starts_with("assertion") => tail.to_string(),
        _ => first.to_string(),
    }
}

/// The columns of a row's timeline: a title per model thread, and the
/// timer softirq's.
pub type Columns = &'static [(&'static str, Col)];

/// The bug variant must fail with one of the `expected` named failures; any
/// other failure, or none, fails the test. With `cols`, the failing
/// execution's kernel-named trace is printed as a timeline.
pub fn bug_is_found<F: Fn() + Sync + Send + 'static>(
    row: &str,
    bound: Option<usize>,
    expected: &[&str],
    f: F,
) {
    bug_is_found_with(row, bound, expected, None, f);
}

/// [`bug_is_found`], printing the failing execution as a timeline with
/// `cols` when given. Returns the failing execution's trace.
pub fn bug_is_found_with<F: Fn() + Sync + Send + 'static>(
    row: &str,
    bound: Option<usize>,
    expected: &[&str],
    cols: Option<Columns>,
    f: F,
) -> Vec<Event> {
    let (b, shown) = builder(bound);
    neighcache::trace::start();
    let r = explore_until_panic(b, f);
    let events = neighcache::trace::stop();
    let (msg, n, secs) = match r {
        Ok((n, _)) => panic!("loom {row} bug: NOT FOUND after {n} executions (bound {shown}): the model no longer detects the failure"),
        Err(e) => e,
    };
    if !expected.iter().any(|e| msg.contains(*e)) {
        panic!("loom {row} bug: failed with an unexpected message on execution {n}: {msg:?}; expected one of {expected:?}");
    }
    let first = short_failure(&msg);
    if let Some(cols) = cols {
        println!(
            "\nloom {row} bug: the failing execution (#{n}), in the order loom ran it:\n{}",
            timeline(&events, cols, 46, None)
        );
    }
    record(Verdict {
        row: row.to_string(),
        bug: true,
        execs: n,
        bound: shown,
        secs,
        failure: first,
    });
    events
}

/// Replay a bug's schedule under the fix and print it with the divergence
/// marked `>>`. By default the fix is explored with the trace on and the
/// execution whose events match the failing one's longest is shown (the
/// same interleaving up to where the fixed code does something else).
/// With `via_checkpoint`, loom itself replays it: the bug is explored with
/// its checkpoint on (`Builder::checkpoint_file`, what
/// `LOOM_CHECKPOINT_FILE` sets), so the file holds the failing execution's
/// path, and the fix runs that one path (`max_permutations`). Only for rows
/// where that was tried: when the fixed code's branch points differ before
/// the path ends, loom aborts the process ("non-unwinding panic"; L5, L6,
/// L9, L10, L13 do), so the tests never use it. Returns (shared prefix, the
/// fix execution's events).
pub fn replay_under_fix<B, F>(
    row: &str,
    expected: &[&str],
    cols: Columns,
    bug: B,
    fix: F,
    via_checkpoint: bool,
) -> (usize, Vec<Event>)
where
    B: Fn() + Sync + Send + 'static,
    F: Fn() + Sync + Send + Clone + 'static,
{
    let file = std::env::temp_dir().join(format!(
        "neighcache-loom-{}-{}-{:?}.json",
        row.replace('/', "-"),
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&file);
    // The failing execution's trace and path (quietly).
    let (mut b, _) = builder(None);
    if via_checkpoint {
        b.checkpoint_file(&file.to_string_lossy());
        b.checkpoint_interval = 1;
    }
    neighcache::trace::start();
    let r = explore_until_panic(b, bug);
    let failing = neighcache::trace::stop();
    match r {
        Err((msg, _, _)) if expected.iter().any(|e| msg.contains(*e)) => {}
        other => panic!("loom {row}: the bug run did not fail as expected: {other:?}"),
    }
    // Loom's own replay of that path under the fix.
    let got: std::sync::Arc<Mutex<Option<Vec<Event>>>> = Default::default();
    let (mut b, _) = builder(None);
    b.checkpoint_file(&file.to_string_lossy());
    b.checkpoint_interval = 1;
    b.max_permutations = Some(2); // stops before the second execution
    neighcache::trace::start();
    let (got2, fix2) = (got.clone(), fix.clone());
    EXPECTING.with(|e| e.set(true));
    let replayed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if !via_checkpoint {
            return;
        }
        b.check(move || {
            neighcache::trace::clear();
            fix2();
            *got2.lock().unwrap() = Some(neighcache::trace::snapshot());
        })
    }));
    EXPECTING.with(|e| e.set(false));
    neighcache::trace::stop();
    let _ = std::fs::remove_file(&file);
    let (how, ev) = match (replayed, got.lock().unwrap().take()) {
        (Ok(()), Some(ev)) => (
            "loom replayed the failing execution's path (checkpoint file)",
            ev,
        ),
        _ => ("the fix execution that follows the failing one longest", {
            let best: std::sync::Arc<Mutex<(usize, Vec<Event>)>> = Default::default();
            let (b, _) = builder(None);
            neighcache::trace::start();
            let (best2, failing2) = (best.clone(), failing.clone());
            b.check(move || {
                neighcache::trace::clear();
                fix();
                let ev = neighcache::trace::snapshot();
                let k = common_prefix(&failing2, &ev);
                let mut best = best2.lock().unwrap();
                if best.1.is_empty() || k > best.0 {
                    *best = (k, ev);
                }
            });
            neighcache::trace::stop();
            let ev = best.lock().unwrap().1.clone();
            ev
        }),
    };
    let k = common_prefix(&failing, &ev);
    println!(
        "\nloom {row} fix: the same schedule under the fix ({how}; events 1-{k} as in the failing execution, from `>>` on the fixed code diverges):\n{}",
        timeline(&ev, cols, 46, Some(k))
    );
    (k, ev)
}

/// A named test of the suite.
pub struct Test {
    pub name: &'static str,
    pub run: fn(),
}

/// `tests![f, g]`: the suite entries for functions `f` and `g`.
#[macro_export]
macro_rules! tests {
    ($($f:ident),* $(,)?) => {
        vec![$($crate::common::Test { name: stringify!($f), run: $f }),*]
    };
}

/// Row order for the matrix: L1 < L2 < ... < L10, then the others.
fn row_key(row: &str) -> (u32, String) {
    let digits: String = row
        .trim_start_matches('L')
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    (digits.parse().unwrap_or(u32::MAX), row.to_string())
}

/// Run `tests` with libtest's command line (filters, `--list`,
/// `--test-threads`, `--exact`, `--skip`), then print the race matrix of
/// the tests that ran, and exit with libtest's status.
pub fn run_suite(title: &str, tests: Vec<Test>) -> ! {
    let args = libtest_mimic::Arguments::from_args();
    let trials = tests
        .into_iter()
        .map(|t| {
            let run = t.run;
            libtest_mimic::Trial::test(t.name, move || {
                std::panic::catch_unwind(run).map_err(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panicked".to_string());
                    libtest_mimic::Failed::from(msg)
                })
            })
        })
        .collect();
    let t0 = Instant::now();
    let conclusion = libtest_mimic::run(&args, trials);
    let mut v = VERDICTS.lock().unwrap().clone();
    if !v.is_empty() {
        v.sort_by(|a, b| {
            row_key(&a.row)
                .cmp(&row_key(&b.row))
                .then(b.bug.cmp(&a.bug))
        });
        println!("\n{title} ({:.1} s)", t0.elapsed().as_secs_f64());
        println!(
            "| {:<10} | {:<70} | {:<40} |",
            "row",
            "bug variant: found on execution #N (seconds): the named failure",
            "fix: every interleaving passes"
        );
        println!("|{:-<12}|{:-<72}|{:-<42}|", "", "", "");
        let mut rows: Vec<String> = v.iter().map(|x| x.row.clone()).collect();
        rows.dedup();
        for row in rows {
            let cell = |bug: bool| {
                v.iter()
                    .filter(|x| x.row == row && x.bug == bug)
                    .map(|x| {
                        if bug {
                            let f = x
                                .failure
                                .split([':', '('])
                                .next()
                                .unwrap_or_default()
                                .trim();
                            let f = if x.failure.starts_with("timer cascade")
                                || x.failure.starts_with("neigh_destroy")
                                || x.failure.starts_with("rcu:")
                            {
                                x.failure.split(" (").next().unwrap_or_default()
                            } else {
                                f
                            };
                            format!("#{} ({:.2} s): {f}", x.execs, x.secs)
                        } else {
                            format!("{} executions, bound {}, {:.2} s", x.execs, x.bound, x.secs)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let (b, f) = (cell(true), cell(false));
            println!(
                "| {:<10} | {:<70} | {:<40} |",
                row,
                if b.is_empty() { "-".to_string() } else { b },
                if f.is_empty() { "-".to_string() } else { f }
            );
        }
        // The closing line: what the table above proves, in one sentence.
        let bugs = v.iter().filter(|x| x.bug).count();
        println!(
            "\n{title}: {} passed, {} failed: {bugs} broken variants found by loom, \
             {} fixed rows hold in every interleaving (SPEC.md §8 names each row's rule)",
            conclusion.num_passed,
            conclusion.num_failed,
            v.len() - bugs
        );
    }
    conclusion.exit()
}

pub mod l1_l3;
#[allow(unused_imports)] // used by the L1-L3 targets only
pub use l1_l3::*;
