//! The pauses garbage collection puts on writers and on `run_timers` at a
//! large table, single-threaded and with no entry timers armed, so that
//! what is timed is GC's own work (the soak mixes it with the timer wheel's
//! cascades and the hash's grows).
//!
//! ```text
//! cargo run --release --example gc_pause [-- ENTRIES]
//! ```
//!
//! 1. Fill: `ENTRIES` (default 1,048,576) entries, left NONE (no timer).
//!    Then one more create and remove, which grows the hash (untimed by
//!    the churn below: a grow is the hash's pause, not GC's).
//! 2. Churn: create and remove `ENTRIES + ENTRIES / 4` other entries, one
//!    at a time; the longest single create and remove. (The `gc_list`
//!    before this crate's O(1) list compacted its tombstones in one pass
//!    once they outnumbered live items: about `ENTRIES` removals in.)
//! 3. A periodic pass that collects nothing (every entry recently used),
//!    then one that collects every entry (half FAILED, half stale by then):
//!    `run_timers`
//!    is called one tick at a time until the pass is over (the GC no
//!    longer due, `next_event`); the calls, the longest and the total.
//!
//! Figures are wall-clock on whatever machine runs it: nothing is checked.

use neighcache::{
    DevId, DeviceConfig, NeighOps, NeighTable, NudState, Probe, TableConfig, UpdateFlags,
};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

struct Quiet;
impl NeighOps<Ipv4Addr> for Quiet {
    type Packet = Vec<u8>;
    fn transmit(&self, _: DevId, _: &[u8], _: Vec<u8>) {}
    fn solicit(&self, _: DevId, _: &Ipv4Addr, _: Probe) {}
    fn error_report(&self, _: DevId, _: &Ipv4Addr, _: Vec<u8>) {}
}

const DEV: DevId = DevId(1);
/// A key beside the filled and churned ones (10.255.255.255).
const EXTRA: usize = (1 << 24) - 1;

fn key(i: usize) -> Ipv4Addr {
    Ipv4Addr::from((10u32 << 24) + i as u32)
}

/// Call `run_timers` a tick at a time until the periodic pass is over.
fn pass(t: &NeighTable<Ipv4Addr, Quiet>, what: &str) {
    let (before, runs) = (t.len(), t.stats().periodic_gc_runs);
    // Make the pass due now.
    let due = t.next_event().max(t.jiffies() + 1);
    let mut took = Vec::new();
    let mut now = due;
    loop {
        let s = Instant::now();
        t.run_timers(now).unwrap();
        took.push(s.elapsed());
        if t.stats().periodic_gc_runs > runs && t.next_event() > t.jiffies() {
            break;
        }
        now += 1;
    }
    let total: Duration = took.iter().sum();
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
    println!(
        "periodic pass, {what}: {} run_timers calls, p50 {:.2?}, p99 {:.2?}, longest {:.2?}, total {total:.2?}; {} of {before} entries collected",
        took.len(),
        at(0.5),
        at(0.99),
        at(1.0),
        before - t.len()
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1 << 20, |a| a.parse().expect("ENTRIES: a number"));
    let limit = (2 * n + 1024).min(neighcache::parms::MAX_ENTRIES);
    let cfg = TableConfig {
        gc_thresh2: limit,
        gc_thresh3: limit,
        ..TableConfig::default()
    };
    let t = NeighTable::new(cfg, Quiet).unwrap();
    t.add_device(DEV, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .unwrap();
    let s = Instant::now();
    for i in 0..n {
        t.lookup_or_create(key(i), DEV).unwrap();
    }
    println!("fill: {n} entries in {:.2?}", s.elapsed());
    // One more entry: the table's next grow happens here, not in the churn
    // (a grow is the hash's pause, not GC's).
    let s = Instant::now();
    drop(t.lookup_or_create(key(EXTRA), DEV).unwrap());
    t.remove(key(EXTRA), DEV).unwrap();
    println!(
        "one create and remove beyond the fill (the hash may grow): {:.2?}",
        s.elapsed()
    );
    // The fill's own pass (due at tick 0) first, so that it does not
    // overlap the churn's timing.
    pass(&t, "after the fill (nothing stale)");

    let churn = n + n / 4;
    let (mut create, mut remove) = (Duration::ZERO, Duration::ZERO);
    let (mut create_at, mut remove_at) = (0, 0);
    for i in 0..churn {
        let k = key(n + i % 65_536);
        let s = Instant::now();
        drop(t.lookup_or_create(k, DEV).unwrap());
        let d = s.elapsed();
        if d > create {
            (create, create_at) = (d, i);
        }
        let s = Instant::now();
        t.remove(k, DEV).unwrap();
        let d = s.elapsed();
        if d > remove {
            (remove, remove_at) = (d, i);
        }
    }
    println!(
        "churn: {churn} creates and removes; longest create {create:.2?} (#{create_at}), longest remove {remove:.2?} (#{remove_at})"
    );

    pass(&t, "nothing collectable");
    for i in (0..n).step_by(2) {
        let h = t.lookup(key(i), DEV).unwrap();
        t.update(&h, None, NudState::FAILED, UpdateFlags::ADMIN)
            .unwrap();
    }
    // Each pass is due `gc_interval` (30 s) after the last: this third one
    // runs past the entries' `gc_staletime` (60 s), so it collects them all
    // (the FAILED half for being FAILED, the rest for being stale).
    pass(&t, "every entry FAILED or stale");
}
