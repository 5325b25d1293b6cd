//! Unit tests of `gc.rs`: the `gc_list` as the table keeps it, forced GC's
//! order, and the periodic pass, whole (`gc`) and in `run_timers` steps.

use super::GC_STEP;
use crate::{DevId, DeviceConfig, NeighTable, NudState, TableConfig};
use crate::{UpdateFlags, HZ};
use std::net::Ipv4Addr;

use super::super::test_ops::Nop;

const DEV: DevId = DevId(1);

fn table_with(cfg: TableConfig) -> NeighTable<Ipv4Addr, Nop> {
    let t = NeighTable::new(cfg, Nop).unwrap();
    t.add_device(DEV, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .unwrap();
    t
}

fn table(thresh2: usize) -> NeighTable<Ipv4Addr, Nop> {
    table_with(TableConfig {
        seed: 7,
        gc_thresh1: 1,
        gc_thresh2: thresh2,
        gc_thresh3: 4096,
        ..TableConfig::default()
    })
}

fn ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + i)
}

/// The `gc_list`'s keys, oldest first.
fn listed(t: &NeighTable<Ipv4Addr, Nop>) -> Vec<Ipv4Addr> {
    t.lock.lock().gc.keys()
}

/// Creates and removals keep the list exact and in order, however long
/// the churn, and an entry that leaves (PERMANENT) and comes back goes to
/// the tail each time.
#[test]
fn the_gc_list_stays_exact_and_ordered_under_churn() {
    let t = table(4096);
    for i in 0..50 {
        t.lookup_or_create(ip(i), DEV).unwrap();
    }
    for i in 1000..3000 {
        t.lookup_or_create(ip(i), DEV).unwrap();
        t.remove(ip(i), DEV).unwrap();
        assert_eq!(t.gc_entries(), 50);
    }
    let all: Vec<_> = (0..50).map(ip).collect();
    assert_eq!(listed(&t), all);
    // Remove from the middle and the ends.
    for i in [0, 25, 49] {
        t.remove(ip(i), DEV).unwrap();
    }
    let rest: Vec<_> = (1..49).filter(|&i| i != 25).map(ip).collect();
    assert_eq!(listed(&t), rest);
    let n = t.lookup(ip(7), DEV).unwrap();
    for _ in 0..300 {
        t.add_permanent(ip(7), DEV, &[2, 0, 0, 0, 0, 9]).unwrap();
        assert_eq!(t.gc_entries(), 46);
        t.update(&n, None, NudState::STALE, UpdateFlags::ADMIN)
            .unwrap();
        assert_eq!(t.gc_entries(), 47);
    }
    let mut moved: Vec<_> = rest.into_iter().filter(|&k| k != ip(7)).collect();
    moved.push(ip(7));
    assert_eq!(listed(&t), moved);
}

/// `neigh_periodic_work` re-draws the reachable times once the clock is
/// more than 300 s past the last draw (the first draw lasts 20 reachable
/// times longer, `neigh_table_init`): with a pass every second, the draws
/// are 301 s apart.
#[test]
fn reachable_times_are_redrawn_every_300_seconds() {
    let cfg = TableConfig {
        seed: 7,
        gc_interval: HZ,
        ..TableConfig::default()
    };
    let t = table_with(cfg);
    let start = t.jiffies();
    let mut last = t.reachable_time(DEV).unwrap();
    let mut changes = Vec::new();
    for s in 1..=2400 {
        t.run_timers(start + s * HZ).unwrap();
        let r = t.reachable_time(DEV).unwrap();
        if r != last {
            changes.push(s);
            last = r;
        }
    }
    assert!(changes.len() >= 3, "{changes:?}");
    assert!(changes[0] > 600, "the first draw lasts 20 x reach + 300 s");
    for w in changes.windows(2) {
        // 301 s, or a multiple if a draw repeated the previous value.
        assert_eq!((w[1] - w[0]) % 301, 0, "{changes:?}");
    }
}

/// The periodic pass collects nothing below `gc_thresh1` entries and
/// runs from exactly `gc_thresh1` on (`neigh_periodic_work`: `entries <
/// gc_thresh1` skips the scan).
#[test]
fn the_periodic_pass_starts_at_gc_thresh1() {
    for (entries, removed) in [(2, 0), (3, 3)] {
        let cfg = TableConfig {
            seed: 7,
            gc_thresh1: 3,
            ..TableConfig::default()
        };
        let t = table_with(cfg);
        for i in 0..entries {
            let n = t.lookup_or_create(ip(i), DEV).unwrap();
            t.update(&n, None, NudState::FAILED, UpdateFlags::ADMIN)
                .unwrap();
        }
        assert_eq!(t.gc().removed, removed, "{entries} entries");
    }
}

/// Forced GC walks oldest first: an entry that left the list and came
/// back is younger than every other.
#[test]
fn forced_gc_takes_the_oldest_live_items_first() {
    let t = table(4);
    for i in 0..4 {
        t.lookup_or_create(ip(i), DEV).unwrap();
    }
    // ip(0) leaves the list (PERMANENT) and comes back at the tail.
    let n0 = t.lookup(ip(0), DEV).unwrap();
    t.add_permanent(ip(0), DEV, &[2, 0, 0, 0, 0, 9]).unwrap();
    t.update(&n0, None, NudState::STALE, UpdateFlags::ADMIN)
        .unwrap();
    drop(n0);
    // Old enough for forced GC (not updated for 5 s), then a create
    // over gc_thresh2 removes the oldest: ip(1), not ip(0).
    t.run_timers(t.jiffies() + 6 * HZ).unwrap();
    t.lookup_or_create(ip(9), DEV).unwrap();
    assert!(t.lookup(ip(1), DEV).is_none(), "the oldest went first");
    assert!(t.lookup(ip(0), DEV).is_some(), "re-added: young");
    assert_eq!(t.gc_entries(), 4);
    assert_eq!(listed(&t), [ip(2), ip(3), ip(0), ip(9)]);
}

/// Forced GC skips the entries someone holds and stops once the list is
/// down to `gc_thresh2`, past items freed in the middle of the list and
/// reused by younger entries.
#[test]
fn forced_gc_skips_held_entries_and_stops_at_thresh2() {
    let t = table(6);
    for i in 0..8 {
        t.lookup_or_create(ip(i), DEV).unwrap();
    }
    // Free two items in the middle (the next creates reuse them, but at
    // the tail); hold the second oldest.
    t.remove(ip(3), DEV).unwrap();
    t.remove(ip(4), DEV).unwrap();
    let held = t.lookup(ip(1), DEV).unwrap();
    t.run_timers(t.jiffies() + 6 * HZ).unwrap();
    // 6 listed, at gc_thresh2 with no forced GC for 5 s: this create runs
    // one (max_clean 0: it stops after its first removal), which skips the
    // held ip(1) and takes ip(0)...
    t.lookup_or_create(ip(20), DEV).unwrap();
    // ...and this one finds a forced GC younger than 5 s: none.
    t.lookup_or_create(ip(21), DEV).unwrap();
    assert!(t.lookup(ip(0), DEV).is_none());
    assert!(t.lookup(ip(1), DEV).is_some(), "held: skipped");
    assert_eq!(
        listed(&t),
        [ip(1), ip(2), ip(5), ip(6), ip(7), ip(20), ip(21)]
    );
    assert_eq!(t.gc_entries(), 7);
    drop(held);
}

type Table = NeighTable<Ipv4Addr, Nop>;

/// A table for the periodic pass: never forced GC, the pass from 1 entry.
fn big_table() -> Table {
    table_with(TableConfig {
        seed: 11,
        gc_thresh1: 1,
        gc_thresh2: 1 << 20,
        gc_thresh3: 1 << 20,
        ..TableConfig::default()
    })
}

/// Entries `from..to`: every third FAILED (collectable), the others NONE
/// and just created (not stale); one in seven is returned held (not
/// collectable whatever its state).
fn fill(t: &Table, from: u32, to: u32) -> Vec<crate::NeighHandle<'_, Ipv4Addr, Nop>> {
    let mut held = Vec::new();
    for i in from..to {
        let h = t.lookup_or_create(ip(i), DEV).unwrap();
        if i % 3 == 0 {
            t.update(&h, None, NudState::FAILED, UpdateFlags::ADMIN)
                .unwrap();
        }
        if i % 7 == 0 {
            held.push(h);
        }
    }
    held
}

fn keys(t: &Table) -> Vec<Ipv4Addr> {
    let mut k: Vec<_> = t.dump().into_iter().map(|i| i.key).collect();
    k.sort();
    k
}

/// Drive `run_timers` one tick at a time until the pass in progress ends
/// (the GC is no longer due); return the entries each call examined.
fn steps(t: &Table) -> Vec<u64> {
    let mut per_call = Vec::new();
    loop {
        let before = t.stats().periodic_gc_scanned;
        t.run_timers(t.jiffies() + 1).unwrap();
        per_call.push(t.stats().periodic_gc_scanned - before);
        if t.next_event() > t.jiffies() {
            return per_call;
        }
        assert!(per_call.len() < 10_000, "the pass does not end");
    }
}

/// `run_timers` runs the periodic pass in steps: no call examines more
/// than `GC_STEP.entries`, the pass over N entries takes about N / 1,024
/// calls (at most one more per 4,096 buckets), every entry is examined
/// once, and it collects exactly what the whole pass (`gc`) collects on
/// an identical table. While it is in progress the GC stays due
/// (`next_event`), and the next pass starts `gc_interval` after it ended.
#[test]
fn the_periodic_pass_runs_in_bounded_steps_and_collects_what_gc_does() {
    const N: u32 = 20_000;
    let whole = big_table();
    let _h1 = fill(&whole, 0, N);
    let rep = whole.gc();
    assert_eq!(rep.scanned, N as usize);
    assert!(rep.removed > 5_000, "{rep:?}");

    let t = big_table();
    let _h2 = fill(&t, 0, N);
    t.end_resize_now();
    let buckets = t.stats().hash_buckets as u64;
    let runs = t.stats().periodic_gc_runs;
    let per_call = steps(&t);
    assert_eq!(t.stats().periodic_gc_runs, runs + 1, "one pass");
    assert_eq!(
        per_call.iter().sum::<u64>(),
        u64::from(N),
        "each entry once"
    );
    let most = *per_call.iter().max().unwrap();
    assert!(most <= GC_STEP.entries as u64, "{most} in one call");
    let lo = u64::from(N).div_ceil(GC_STEP.entries as u64);
    let hi = lo + buckets.div_ceil(GC_STEP.buckets as u64) + 1;
    let calls = per_call.len() as u64;
    assert!(
        (lo..=hi).contains(&calls),
        "{calls} calls, not in {lo}..={hi}"
    );
    assert_eq!(keys(&t), keys(&whole), "the same entries collected");
    assert_eq!(t.len(), N as usize - rep.removed);
    // The next pass: gc_interval after the end of this one, not before.
    let ended = t.jiffies();
    assert_eq!(t.next_event(), ended + t.config().gc_interval);
    t.run_timers(ended + t.config().gc_interval - 1).unwrap();
    assert_eq!(t.stats().periodic_gc_runs, runs + 1);
    t.run_timers(ended + t.config().gc_interval).unwrap();
    assert_eq!(t.stats().periodic_gc_runs, runs + 2);
}

/// A grow between two steps keeps the cursor meaningful (it is a hash
/// position, and a bucket boundary stays one): every collectable entry
/// that was in the table when the pass began is collected by the pass,
/// however much the table grows meanwhile.
#[test]
fn a_pass_in_progress_survives_a_grow() {
    let t = big_table();
    let _h = fill(&t, 0, 6_000);
    let grows = t.stats().hash_grows;
    t.run_timers(t.jiffies() + 1).unwrap();
    t.run_timers(t.jiffies() + 1).unwrap();
    assert!(t.next_event() <= t.jiffies(), "still in progress");
    let _h2 = fill(&t, 100_000, 112_000);
    assert!(t.stats().hash_grows > grows, "the table grew mid-pass");
    steps(&t);
    let left: Vec<_> = keys(&t)
        .into_iter()
        .filter(|k| u32::from(*k) - 0x0a00_0000 < 6_000)
        .collect();
    let want: Vec<_> = (0..6_000)
        .filter(|i| i % 3 != 0 || i % 7 == 0)
        .map(ip)
        .collect();
    assert_eq!(left, want);
}

/// An explicit `gc` in the middle of a stepped pass replaces it: the
/// stepped one is dropped and the next is due `gc_interval` later.
#[test]
fn gc_replaces_a_pass_in_progress() {
    let t = big_table();
    let _h = fill(&t, 0, 10_000);
    t.end_resize_now();
    t.run_timers(t.jiffies() + 1).unwrap();
    assert!(t.next_event() <= t.jiffies(), "in progress");
    let (len, runs) = (t.len(), t.stats().periodic_gc_runs);
    assert!(len < 10_000, "the first step collected");
    let rep = t.gc();
    assert_eq!(rep.scanned, len);
    assert_eq!(t.stats().periodic_gc_runs, runs + 1);
    assert_eq!(t.next_event(), t.jiffies() + t.config().gc_interval);
    assert_eq!(t.gc_entries(), t.len());
}
