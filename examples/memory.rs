//! Memory per resolved IPv4 and IPv6 neighbour, measured with a counting
//! global allocator (requested bytes; the allocator's own rounding and
//! headers are not included).
//!
//! ```text
//! cargo run --release --example memory [-- N]
//! ```
//!
//! For each key type: creates `N` (default 65536) entries, resolves each
//! (`update` to REACHABLE, which publishes the cached header and arms the
//! entry timer), waits for RCU grace periods so retired chains and arrays
//! are freed, and reports the live-heap delta: in total, per entry, and per
//! entry without the bucket array (the headline figure, including the timer
//! wheel's node). A histogram of the live allocations by size shows what
//! each byte is. The last lines are one summary per key type:
//!
//! ```text
//! IPv4: 160.0 B per resolved entry (entry 128 B + timer node 32 B; 168.0 B with the bucket array)
//! ```
//!
//! The counting allocator is the only `unsafe` here: it forwards to the
//! system allocator.

use neighcache::{
    DevId, DeviceConfig, NeighKey, NeighOps, NeighTable, Neighbour, NudState, Packet, Probe,
    TableConfig, UpdateFlags,
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
/// The live allocations of at least `TRACKED` bytes: (address, size) pairs,
/// 0 when free. A few hundred slots are plenty for this program.
const BIG_SLOTS: usize = 512;
#[allow(clippy::declare_interior_mutable_const)]
const ZERO_U: AtomicUsize = AtomicUsize::new(0);
static BIG_PTR: [AtomicUsize; BIG_SLOTS] = [ZERO_U; BIG_SLOTS];
static BIG_SIZE: [AtomicUsize; BIG_SLOTS] = [ZERO_U; BIG_SLOTS];

fn track(p: *mut u8, size: usize, sign: isize) {
    LIVE_BYTES.fetch_add(sign * size as isize, Ordering::Relaxed);
    LIVE_BY_SIZE[size.min(TRACKED)].fetch_add(sign, Ordering::Relaxed);
    if size >= TRACKED {
        LIVE_BIG_BYTES.fetch_add(sign * size as isize, Ordering::Relaxed);
        let a = p as usize;
        let (from, to) = if sign > 0 { (0, a) } else { (a, 0) };
        for (ptr, sz) in BIG_PTR.iter().zip(&BIG_SIZE) {
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

/// Sizes of the live big allocations (a fixed array, so that taking a
/// snapshot allocates nothing and the snapshots do not count themselves).
fn big_allocations() -> [usize; BIG_SLOTS] {
    let mut v = [0; BIG_SLOTS];
    for (d, s) in v.iter_mut().zip(&BIG_SIZE) {
        *d = s.load(Ordering::Relaxed);
    }
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

/// The heap at one moment. Plain arrays: a snapshot allocates nothing, so
/// an earlier snapshot is not part of a later one's live bytes.
struct Snapshot {
    bytes: isize,
    by_size: [isize; TRACKED + 1],
    big: isize,
    big_sizes: [usize; BIG_SLOTS],
}

fn snapshot() -> Snapshot {
    let mut by_size = [0; TRACKED + 1];
    for (d, c) in by_size.iter_mut().zip(&LIVE_BY_SIZE) {
        *d = c.load(Ordering::Relaxed);
    }
    Snapshot {
        bytes: LIVE_BYTES.load(Ordering::Relaxed),
        by_size,
        big: LIVE_BIG_BYTES.load(Ordering::Relaxed),
        big_sizes: big_allocations(),
    }
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
    // Let every retired chain, array, header and entry go back: each flush
    // frees only a few bags of garbage, so repeat until the heap is steady.
    let mut last = LIVE_BYTES.load(Ordering::Relaxed);
    let mut steady = 0;
    while steady < 64 {
        neighcache::rcu::barrier();
        let now = LIVE_BYTES.load(Ordering::Relaxed);
        steady = if now == last { steady + 1 } else { 0 };
        last = now;
    }
}

/// One summary line of a measurement.
struct Summary {
    name: &'static str,
    per_entry: f64,
    with_buckets: f64,
    entry: usize,
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(65536, |s| s.parse().expect("N"));
    // Distinct keys: a multiplicative permutation of 0..n.
    let v4: Vec<Ipv4Addr> = (0..n as u32)
        .map(|i| Ipv4Addr::from((10 << 24) | i.wrapping_mul(2_654_435_761) >> 8))
        .collect();
    let v6: Vec<Ipv6Addr> = (0..n as u128)
        .map(|i| {
            Ipv6Addr::from((0x2001_0db8_u128 << 96) | (i.wrapping_mul(0x9e37_79b9) & 0xffff_ffff))
        })
        .collect();
    // Warm the per-thread RCU and stats state before the first baseline.
    settle();
    let sums = [measure("IPv4", &v4), measure("IPv6", &v6)];
    println!();
    for s in &sums {
        println!(
            "{}: {:.1} B per resolved entry (entry {} B + timer node and other per-entry heap {:.1} B; {:.1} B with the bucket array)",
            s.name,
            s.per_entry,
            s.entry,
            s.per_entry - s.entry as f64,
            s.with_buckets
        );
    }
}

fn measure<K: NeighKey>(name: &'static str, keys: &[K]) -> Summary {
    let n = keys.len();
    let dev = DevId(1);
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), n, "keys are distinct");
    drop(sorted);

    let cfg = TableConfig {
        gc_thresh1: 128,
        gc_thresh2: 1 << 23,
        gc_thresh3: 1 << 23,
        seed: 1,
        ..TableConfig::default()
    };
    let table = NeighTable::<K, Ops>::new(cfg, Ops).expect("config");
    table
        .add_device(dev, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .expect("device");
    settle();
    let base = snapshot();

    for (i, &k) in keys.iter().enumerate() {
        let h = table.lookup_or_create(k, dev).expect("create");
        let mac = [2, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8, 9];
        table
            .update(&h, Some(&mac), NudState::REACHABLE, UpdateFlags::OVERRIDE)
            .expect("resolve");
    }
    settle();
    let after = snapshot();
    let stats = table.stats();
    assert_eq!(stats.entries, n);
    assert_eq!(
        table.timers().pending(),
        n,
        "every entry has its timer armed"
    );

    let total = after.bytes - base.bytes;
    // The bucket array: one pointer-sized atomic per bucket (the chains it
    // points to are per-entry cost and stay in the per-entry figure).
    let bucket_array = (stats.hash_buckets * std::mem::size_of::<usize>()) as isize;
    let entry = std::mem::size_of::<Neighbour<K, Pkt>>();
    println!(
        "neighcache memory, {n} resolved {name} entries (REACHABLE, header cached, timer armed; entry {entry} B)"
    );
    println!(
        "  hash buckets: {} ({} B bucket array)",
        stats.hash_buckets, bucket_array
    );
    println!("  live heap delta, total:                {total:>12} B");
    println!(
        "  per entry, total:                      {:>12.1} B",
        total as f64 / n as f64
    );
    println!(
        "  per entry, excluding the bucket array: {:>12.1} B",
        (total - bucket_array) as f64 / n as f64
    );
    println!("  live allocations added, by requested size (count x size = bytes, per entry):");
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
            "    {big_n:>9} x >=1KiB = {big:>11} B  ({:>6.1} B/entry)",
            big as f64 / n as f64
        );
        let mut before: Vec<usize> = base.big_sizes.iter().copied().filter(|&s| s != 0).collect();
        let added: Vec<usize> = after
            .big_sizes
            .iter()
            .copied()
            .filter(|&s| s != 0)
            .filter(|s| match before.iter().position(|b| b == s) {
                Some(i) => {
                    before.swap_remove(i);
                    false
                }
                None => true,
            })
            .collect();
        println!("      the big ones added (B): {added:?}");
        println!(
            "      (the {bucket_array} B one is the bucket array; the 32 B x N one is the timer wheel's node slab)"
        );
    }
    drop(table);
    settle();
    let end = snapshot();
    println!(
        "  after dropping the table: {} B still live vs. baseline",
        end.bytes - base.bytes
    );
    Summary {
        name,
        per_entry: (total - bucket_array) as f64 / n as f64,
        with_buckets: total as f64 / n as f64,
        entry,
    }
}
