//! Memory per resolved IPv4 and IPv6 neighbour: what the process holds from
//! the system (resident set, `VmRSS`, Linux) beside what it asked the
//! allocators for (a counting global allocator, plus the entry slab's
//! chunks, `NeighStats::slab_bytes`), and what stays resident after a flood.
//!
//! ```text
//! cargo run --release --example memory [-- N...]
//! ```
//!
//! Each measurement runs in a fresh child process (this program started
//! again with `--one` or `--flood`), so that memory freed by an earlier
//! measurement, which the allocator may keep, is not counted for or
//! against a later one.
//!
//! * **Per entry**, for each key type and each `N` (default 65536 and
//!   1048576): create `N` entries and resolve each (`update` to REACHABLE,
//!   which caches the header and arms the entry timer), wait for the RCU
//!   garbage to be freed, and divide the growth of the resident set and of
//!   the requested bytes by `N`. Both include the bucket array (printed
//!   beside). A histogram of the live heap allocations by size shows what
//!   the requested bytes are. The summary lines read:
//!
//!   ```text
//!   IPv4: 180.2 B per resolved entry resident (requested 176.4 B) at 1048576 entries; bucket array 16.0 B of it
//!   ```
//!
//! * **Flood**: a table holding 65,536 resolved IPv4 entries, with
//!   `gc_thresh3` = 1,048,576, is flooded with unresolved entries (output
//!   to new destinations: INCOMPLETE, a queued packet, a probe, as an ARP
//!   scan does) up to 1,048,576; nobody answers, the flood entries fail
//!   after their probes and a periodic GC pass collects them, bringing the
//!   table back to its 65,536 resolved entries. Reported: the resident set
//!   before, at the peak and after, against 1.25 x the pre-flood figure
//!   plus the (grown) bucket array.
//!
//! The counting allocator is the only `unsafe` here: it forwards to the
//! system allocator.

use neighcache::{
    DevId, DeviceConfig, NeighKey, NeighOps, NeighTable, NudState, Packet, Probe, TableConfig,
    UpdateFlags, HZ,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// Sizes tracked one by one; larger allocations share the last slot.
const TRACKED: usize = 1024;

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicIsize = AtomicIsize::new(0);
static LIVE_BY_SIZE: [AtomicIsize; TRACKED + 1] = [ZERO; TRACKED + 1];
static LIVE_BIG_BYTES: AtomicIsize = AtomicIsize::new(0);

/// Live allocations of at least 1 MiB: (address, size) pairs, 0 when
/// free (a few dozen at most in this program).
const HUGE: usize = 1 << 20;
const HUGE_SLOTS: usize = 64;
#[allow(clippy::declare_interior_mutable_const)]
const ZERO_U: AtomicUsize = AtomicUsize::new(0);
static HUGE_PTR: [AtomicUsize; HUGE_SLOTS] = [ZERO_U; HUGE_SLOTS];
static HUGE_SIZE: [AtomicUsize; HUGE_SLOTS] = [ZERO_U; HUGE_SLOTS];

fn track(p: *mut u8, size: usize, sign: isize) {
    LIVE_BYTES.fetch_add(sign * size as isize, Ordering::Relaxed);
    LIVE_BY_SIZE[size.min(TRACKED)].fetch_add(sign, Ordering::Relaxed);
    if size >= TRACKED {
        LIVE_BIG_BYTES.fetch_add(sign * size as isize, Ordering::Relaxed);
    }
    if size >= HUGE {
        let (from, to) = if sign > 0 {
            (0, p as usize)
        } else {
            (p as usize, 0)
        };
        for (ptr, sz) in HUGE_PTR.iter().zip(&HUGE_SIZE) {
            if ptr
                .compare_exchange(from, to, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                sz.store(if sign > 0 { size } else { 0 }, Ordering::Relaxed);
                break;
            }
        }
    }
}

/// Sizes of the live allocations of at least 1 MiB, largest first.
fn huge_allocations() -> Vec<usize> {
    let mut v: Vec<usize> = HUGE_SIZE
        .iter()
        .map(|s| s.load(Ordering::Relaxed))
        .filter(|&s| s != 0)
        .collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are
// atomics that allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            track(p, l.size(), 1);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            track(p, l.size(), 1);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        track(p, l.size(), -1);
        // SAFETY: forwarded; `p` was allocated by `System` with `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: forwarded; `p` was allocated by `System` with `l`.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            track(p, l.size(), -1);
            track(q, new, 1);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The heap and the resident set at one moment. Plain arrays: a snapshot
/// allocates nothing that outlives it.
struct Snapshot {
    heap: isize,
    by_size: [isize; TRACKED + 1],
    big: isize,
    rss: u64,
}

fn snapshot() -> Snapshot {
    let mut by_size = [0; TRACKED + 1];
    for (d, c) in by_size.iter_mut().zip(&LIVE_BY_SIZE) {
        *d = c.load(Ordering::Relaxed);
    }
    let heap = LIVE_BYTES.load(Ordering::Relaxed);
    let big = LIVE_BIG_BYTES.load(Ordering::Relaxed);
    Snapshot {
        heap,
        by_size,
        big,
        rss: rss(),
    }
}

/// `VmRSS` in bytes (0 where there is no `/proc/self/status`).
fn rss() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

struct Pkt;
impl Packet for Pkt {
    fn len(&self) -> usize {
        64
    }
}
struct Ops;
impl<K: NeighKey> NeighOps<K> for Ops {
    type Packet = Pkt;
    fn transmit(&self, _: DevId, _: &[u8], _: Pkt) {}
    fn solicit(&self, _: DevId, _: &K, _: Probe) {}
    fn error_report(&self, _: DevId, _: &K, _: Pkt) {}
}

fn settle() {
    // Let every retired chain, array and entry go back: each flush frees
    // only a few bags of garbage, so repeat until the heap is steady. A
    // crossbeam bag node can keep circulating (the free of the queue node
    // that carried the last bag is itself deferred), so stop after 20,000
    // rounds anyway: what is left is that node, about 2 KiB.
    let mut last = LIVE_BYTES.load(Ordering::Relaxed);
    let mut steady = 0;
    for _ in 0..20_000 {
        neighcache::rcu::barrier();
        let now = LIVE_BYTES.load(Ordering::Relaxed);
        steady = if now == last { steady + 1 } else { 0 };
        last = now;
        if steady >= 64 {
            break;
        }
    }
}

const DEV: DevId = DevId(1);

fn v4_keys(n: usize) -> Vec<Ipv4Addr> {
    // Distinct keys: a multiplicative permutation (odd factor) of 0..2^24.
    (0..n as u32)
        .map(|i| Ipv4Addr::from((10 << 24) | (i.wrapping_mul(2_654_435_761) & 0x00ff_ffff)))
        .collect()
}

fn v6_keys(n: usize) -> Vec<Ipv6Addr> {
    (0..n as u128)
        .map(|i| {
            Ipv6Addr::from((0x2001_0db8_u128 << 96) | (i.wrapping_mul(0x9e37_79b9) & 0xffff_ffff))
        })
        .collect()
}

fn table<K: NeighKey>(thresh: usize) -> NeighTable<K, Ops> {
    let cfg = TableConfig {
        gc_thresh1: 128,
        gc_thresh2: thresh,
        gc_thresh3: thresh,
        seed: 1,
        ..TableConfig::default()
    };
    let t = NeighTable::<K, Ops>::new(cfg, Ops).expect("config");
    t.add_device(DEV, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .expect("device");
    t
}

fn resolve<K: NeighKey>(t: &NeighTable<K, Ops>, keys: &[K]) {
    for (i, &k) in keys.iter().enumerate() {
        let h = t.lookup_or_create(k, DEV).expect("create");
        let mac = [2, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8, 9];
        t.update(&h, Some(&mac), NudState::REACHABLE, UpdateFlags::OVERRIDE)
            .expect("resolve");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--one") => {
            let n = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .expect("--one v4|v6 N");
            match args.get(1).map(String::as_str) {
                Some("v4") => one("IPv4", &v4_keys(n)),
                Some("v6") => one("IPv6", &v6_keys(n)),
                _ => panic!("--one v4|v6 N"),
            }
        }
        Some("--flood") => flood(),
        _ => {
            let sizes: Vec<usize> = if args.is_empty() {
                vec![65536, 1 << 20]
            } else {
                args.iter().map(|s| s.parse().expect("N")).collect()
            };
            let me = std::env::current_exe().expect("own path");
            let mut summary = Vec::new();
            let mut run = |a: &[&str]| {
                let out = std::process::Command::new(&me)
                    .args(a)
                    .output()
                    .expect("run child");
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                print!("{text}");
                assert!(out.status.success(), "child {a:?} failed");
                summary.extend(
                    text.lines()
                        .filter(|l| l.starts_with("IPv") || l.starts_with("flood:"))
                        .map(String::from),
                );
            };
            for fam in ["v4", "v6"] {
                for n in &sizes {
                    run(&["--one", fam, &n.to_string()]);
                }
            }
            run(&["--flood"]);
            println!();
            for l in summary {
                println!("{l}");
            }
        }
    }
}

/// What a daemon's timer driver does between two measurements: run the
/// timers (at the same tick: no entry timer fires), which also returns the
/// retired bucket arrays of the grows to the system, 1 MiB per call.
fn tick_over<K: NeighKey>(t: &NeighTable<K, Ops>) {
    for _ in 0..64 {
        t.run_timers(t.jiffies()).expect("the same tick");
    }
    settle();
}

/// One measurement: `keys.len()` resolved entries of one key type.
fn one<K: NeighKey>(name: &str, keys: &[K]) {
    let n = keys.len();
    let t = table::<K>(1 << 23);
    // Warm the per-thread RCU and stats state before the baseline.
    resolve(&t, &keys[..1]);
    t.remove(keys[0], DEV).expect("remove");
    settle();
    let base = snapshot();
    let slab0 = t.stats().slab_bytes;
    resolve(&t, keys);
    settle();
    tick_over(&t);
    let after = snapshot();
    let stats = t.stats();
    assert_eq!(stats.entries, n);
    assert_eq!(t.timers().pending(), n, "every entry has its timer armed");
    let slab = stats.slab_bytes - slab0;
    let heap = (after.heap - base.heap) as f64;
    let requested = heap + slab as f64;
    let resident = after.rss as f64 - base.rss as f64;
    let buckets = (stats.hash_buckets * std::mem::size_of::<usize>()) as f64;
    println!(
        "{n} resolved {name} entries (REACHABLE, header cached, timer armed), {} hash buckets",
        stats.hash_buckets
    );
    println!(
        "  resident set growth (VmRSS):      {:>12.0} B  {:>7.1} B/entry",
        resident,
        resident / n as f64
    );
    println!(
        "  requested: entry slab chunks      {:>12} B  {:>7.1} B/entry",
        slab,
        slab as f64 / n as f64
    );
    println!(
        "             heap (counting alloc.) {:>12.0} B  {:>7.1} B/entry, by size:",
        heap,
        heap / n as f64
    );
    for size in 0..TRACKED {
        let d = after.by_size[size] - base.by_size[size];
        if d != 0 {
            let bytes = d * size as isize;
            println!(
                "    {d:>9} x {size:>4} B = {bytes:>11} B  ({:>6.1} B/entry)",
                bytes as f64 / n as f64
            );
        }
    }
    let big = after.big - base.big;
    let big_n = after.by_size[TRACKED] - base.by_size[TRACKED];
    if big_n != 0 || big != 0 {
        println!(
            "    {big_n:>9} x >=1KiB = {big:>11} B  ({:>6.1} B/entry: the bucket array {buckets} B, the timer wheel's node slab, the gc_list)",
            big as f64 / n as f64
        );
    }
    println!(
        "{name}: {:.1} B per resolved entry resident (requested {:.1} B) at {n} entries; bucket array {:.1} B of it",
        resident / n as f64,
        requested / n as f64,
        buckets / n as f64
    );
}

/// The flood case (IPv4): 65,536 resolved entries, a flood of unresolved
/// ones to 1,048,576, failed and collected; the resident set throughout.
fn flood() {
    const BEFORE: usize = 65536;
    const PEAK: usize = 1 << 20;
    let keys = v4_keys(PEAK);
    let t = table::<Ipv4Addr>(PEAK);
    resolve(&t, &keys[..1]);
    t.remove(keys[0], DEV).expect("remove");
    settle();
    let empty = snapshot();
    resolve(&t, &keys[..BEFORE]);
    settle();
    let pre = snapshot();
    let pre_slab = t.stats().slab_bytes;
    // The flood: packets to new destinations (INCOMPLETE, queued, probed).
    for &k in &keys[BEFORE..] {
        t.resolve_output(k, DEV, Pkt);
    }
    settle();
    let peak = snapshot();
    let peak_stats = t.stats();
    assert_eq!(peak_stats.entries, PEAK);
    // Nobody answers: after the probes (3 x 1 s) every flood entry is
    // FAILED; then one periodic GC pass.
    let mut now = 0;
    while now < 4 * HZ {
        now += 10;
        t.run_timers(now).expect("timers");
        // As a timer driver does: again while a call stopped at its budget.
        while t.timer_backlog() {
            t.run_timers(now).expect("timers");
        }
    }
    let report = t.gc();
    settle();
    let post = snapshot();
    let s = t.stats();
    assert_eq!(s.entries, BEFORE, "the flood was collected ({report:?})");
    let buckets = (s.hash_buckets * std::mem::size_of::<usize>()) as f64;
    let mib = |b: f64| b / (1024.0 * 1024.0);
    let pre_b = pre.rss as f64 - empty.rss as f64;
    let peak_b = peak.rss as f64 - empty.rss as f64;
    let post_b = post.rss as f64 - empty.rss as f64;
    let bound = 1.25 * pre_b + buckets;
    println!(
        "flood (IPv4): {BEFORE} resolved entries, flooded with unresolved ones to {PEAK}, collected after failing"
    );
    println!(
        "  resident set growth over the empty table: before {:.1} MiB (slab {:.1} MiB), peak {:.1} MiB (slab {:.1} MiB), after {:.1} MiB (slab {:.1} MiB)",
        mib(pre_b),
        mib(pre_slab as f64),
        mib(peak_b),
        mib(peak_stats.slab_bytes as f64),
        mib(post_b),
        mib(s.slab_bytes as f64)
    );
    println!(
        "  heap requested: before {:.1} MiB, peak {:.1} MiB, after {:.1} MiB; bucket array after {:.1} MiB ({} buckets)",
        mib((pre.heap - empty.heap) as f64),
        mib((peak.heap - empty.heap) as f64),
        mib((post.heap - empty.heap) as f64),
        mib(buckets),
        s.hash_buckets
    );
    let huge: Vec<String> = huge_allocations()
        .iter()
        .map(|&b| format!("{:.1}", mib(b as f64)))
        .collect();
    println!(
        "  live heap allocations of 1 MiB or more after (MiB): {} (largest first)",
        huge.join(", ")
    );
    println!(
        "flood: {:.1} MiB resident after the flood receded vs {:.1} MiB before ({:.2}x; bound 1.25x + bucket array = {:.1} MiB); peak {:.1} MiB",
        mib(post_b),
        mib(pre_b),
        post_b / pre_b,
        mib(bound),
        mib(peak_b)
    );
    // What the allocator keeps: the flood's per-entry allocations (the
    // queues, the timer and gc_list items) were freed, but glibc returns a
    // freed heap page to the system only from the top of the heap; its
    // `malloc_trim` gives back the free pages everywhere.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` only releases free memory of the allocator.
        unsafe { libc::malloc_trim(0) };
        let trimmed = snapshot().rss as f64 - empty.rss as f64;
        println!(
            "flood: {:.1} MiB resident after glibc's malloc_trim(0) ({:.2}x before)",
            mib(trimmed),
            trimmed / pre_b
        );
    }
}
