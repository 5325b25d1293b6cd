//! The hot path allocates nothing: `lookup_noref` + `output` on a REACHABLE
//! entry, and the burst forms `lookup_noref_burst` + `output` and
//! `resolve_output_burst`, counted by a global allocator, perform zero
//! allocations, take no reference and leave `used` alone while the clock
//! stands still (so a hit writes no shared cache line of the entry). A
//! correctness check, not a timing one.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use neighcache::{
    DevId, DeviceConfig, NeighOps, NeighTable, NudState, Packet, Probe, TableConfig, UpdateFlags,
    Xmit,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::net::Ipv4Addr;

/// Counts allocations made by the current thread while counting is on
/// (thread-local, so the test harness's own threads are not counted).
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note_alloc() {
    // `try_with`: the allocator may run while thread locals are torn down.
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping
// uses const-initialised thread locals, which allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded; `p` was allocated by `System` with `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded; `p` was allocated by `System` with `l`.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.with(|a| a.get())
}

#[derive(Clone, Copy)]
struct Pkt(u32);
impl Packet for Pkt {
    fn len(&self) -> usize {
        64
    }
}

struct Ops;
impl NeighOps<Ipv4Addr> for Ops {
    type Packet = Pkt;
    fn transmit(&self, _dev: DevId, hh: &[u8], pkt: Pkt) {
        // A reused frame buffer on the stack: header + payload.
        let mut frame = [0u8; 64];
        frame[..hh.len()].copy_from_slice(hh);
        frame[60..].copy_from_slice(&pkt.0.to_ne_bytes());
        black_box(&frame);
    }
    fn solicit(&self, _dev: DevId, _key: &Ipv4Addr, _probe: Probe) {}
    fn error_report(&self, _dev: DevId, _key: &Ipv4Addr, _pkt: Pkt) {}
}

const DEV: DevId = DevId(1);

/// A table with 1000 resolved entries (192.168.0.1..), and their keys.
fn resolved_table() -> (NeighTable<Ipv4Addr, Ops>, Vec<Ipv4Addr>) {
    let cfg = TableConfig {
        gc_thresh2: 4096,
        gc_thresh3: 4096,
        seed: 7,
        ..TableConfig::default()
    };
    let table = NeighTable::new(cfg, Ops).unwrap();
    table
        .add_device(DEV, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .unwrap();
    let keys: Vec<Ipv4Addr> = (1..=1000u32)
        .map(|i| Ipv4Addr::from((192 << 24) | (168 << 16) | i))
        .collect();
    for &k in &keys {
        let h = table.lookup_or_create(k, DEV).unwrap();
        table
            .update(
                &h,
                Some(&[2, 0, 0, 0, 0, 2]),
                NudState::REACHABLE,
                UpdateFlags::OVERRIDE,
            )
            .unwrap();
    }
    (table, keys)
}

/// `(refcnt, used)` of `k`'s entry.
fn marks(table: &NeighTable<Ipv4Addr, Ops>, k: Ipv4Addr) -> (usize, u64) {
    let g = table.pin();
    let n = table.lookup_noref(k, DEV, &g).unwrap();
    (n.refcnt(), n.used())
}

#[test]
fn lookup_noref_and_output_do_not_allocate() {
    const N: u32 = 100_000;
    let dev = DEV;
    let (table, keys) = resolved_table();
    let probe = keys[17];
    let (refcnt, used) = marks(&table, probe);

    let hot = |i: u32| {
        let g = table.pin();
        let k = keys[i as usize % keys.len()];
        let n = table.lookup_noref(k, dev, &g).expect("resolved entry");
        let x = table.output(n, Pkt(i), &g);
        assert_eq!(x, Xmit::Sent);
    };
    // Warm up: the first pin registers this thread with the RCU domain and
    // the first count picks its statistics shard.
    for i in 0..1000 {
        hot(i);
    }
    let sent_before = table.stats().sent;

    let allocs = allocations(|| {
        for i in 0..N {
            hot(i);
        }
    });
    assert_eq!(
        allocs, 0,
        "the hit path allocated {allocs} times in {N} packets"
    );
    assert_eq!(table.stats().sent, sent_before + N as u64);

    // No reference taken, and `used` is not rewritten while the tick stands.
    let g = table.pin();
    let n = table.lookup_noref(probe, dev, &g).unwrap();
    assert_eq!(n.refcnt(), refcnt, "the hit path touched the refcount");
    assert_eq!(n.used(), used, "the hit path rewrote `used` within a tick");
}

#[test]
fn burst_lookup_and_output_do_not_allocate() {
    const BURSTS: usize = 3_000;
    const B: usize = 48; // one full block of 32 and a partial one
    let (table, keys) = resolved_table();
    let probe = keys[17];
    let before = marks(&table, probe);
    let bursts: Vec<Vec<(Ipv4Addr, DevId)>> = (0..BURSTS)
        .map(|b| {
            (0..B)
                .map(|i| (keys[(b * 31 + i * 17) % keys.len()], DEV))
                .collect()
        })
        .collect();
    let burst = |b: usize| {
        let g = table.pin();
        let ks = &bursts[b % BURSTS];
        let mut found = [None; B];
        let mut fate = [Xmit::Sent; B];
        if b % 2 == 0 {
            table.lookup_noref_burst(ks, &mut found, &g);
            for (i, n) in found.iter().enumerate() {
                let n = n.expect("resolved entry");
                assert_eq!(table.output(n, Pkt(i as u32), &g), Xmit::Sent);
            }
        } else {
            let mut pkts = (0..B as u32).map(Pkt);
            assert_eq!(table.resolve_output_burst(ks, &mut pkts, &mut fate, &g), B);
            assert!(fate.iter().all(|&x| x == Xmit::Sent));
        }
    };
    for b in 0..100 {
        burst(b);
    }
    let sent_before = table.stats().sent;
    let allocs = allocations(|| {
        for b in 0..BURSTS {
            burst(b);
        }
    });
    assert_eq!(
        allocs, 0,
        "the burst hit path allocated {allocs} times in {BURSTS} bursts"
    );
    assert_eq!(table.stats().sent, sent_before + (BURSTS * B) as u64);
    assert_eq!(
        marks(&table, probe),
        before,
        "the burst hit path touched the refcount or rewrote `used` within a tick"
    );
}
