//! Real-thread stress: senders doing lock-free lookups and output, a replier
//! answering ARP (sometimes with a new MAC), a GC/timer thread with a tiny
//! gc_staletime, and device flushes, for a bounded few seconds. At the end:
//! every packet is accounted for, every entry's refcount is back to its
//! baseline (the table's link plus an armed timer), and after teardown
//! allocs == destroys.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::*;
use neighcache::{NudState, TableConfig, HZ};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[test]
fn threads_keep_the_books_balanced() {
    let secs: u64 = std::env::var("NEIGHCACHE_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    // Ticks between device flushes (the timer thread advances 50 per ~1 ms
    // round). Under valgrind a round takes far longer: the CI step sets a
    // shorter period so that flushes still happen in a short run.
    let flush_every: u64 = std::env::var("NEIGHCACHE_STRESS_FLUSH_TICKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let mut c = TableConfig {
        seed: 3,
        gc_thresh1: 0,
        gc_thresh2: 48,
        gc_thresh3: 64,
        ..TableConfig::default()
    };
    c.parms.gc_staletime = HZ;
    c.parms.base_reachable_time = 2 * HZ;
    c.parms.delay_probe_time = 300;
    c.parms.retrans_time = 200;
    c.parms.unres_qlen = 4;
    c.gc_interval = 500;
    let t = table_with(c);
    let stop = AtomicBool::new(false);
    let next_id = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let key = |i: u64| Ipv4Addr::new(10, 1, 0, (i % 96) as u8);
    std::thread::scope(|s| {
        for sender in 0..2u64 {
            let (t, stop, next_id) = (&t, &stop, &next_id);
            s.spawn(move || {
                let mut i = sender;
                while !stop.load(Ordering::Relaxed) {
                    let g = t.pin();
                    for _ in 0..64 {
                        i = i
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let id = next_id.fetch_add(1, Ordering::Relaxed);
                        t.resolve_output_in(key(i >> 33), DEV, pkt(id), &g);
                    }
                }
            });
        }
        // Replier: answers some neighbours, sometimes with another MAC; some
        // never answer.
        let (tr, stopr) = (&t, &stop);
        s.spawn(move || {
            let mut i = 0u64;
            while !stopr.load(Ordering::Relaxed) {
                i += 1;
                let k = key(i * 7);
                if (i * 7) % 96 < 80 {
                    let mac = if i % 5 == 0 { MAC_B } else { MAC_A };
                    let _ = tr.receive_arp(k, DEV, &mac, i % 3 != 0);
                }
                if let Some(n) = tr.lookup(key(i * 11), DEV) {
                    tr.confirm(&n).unwrap();
                    if n.state() == NudState::FAILED {
                        let _ = tr.set_probe_once(&n);
                    }
                }
                if i % 64 == 0 {
                    std::thread::yield_now();
                }
            }
        });
        // Timers, GC and device flushes: time runs ~50x faster than real.
        let (tt, stopt) = (&t, &stop);
        // On a loaded machine this thread may get too few rounds to reach
        // the first flush period; it then flushes once at half time, still
        // concurrently with the senders (otherwise the first flush comes
        // long before half time, and this changes nothing).
        let half_time = deadline - Duration::from_secs(secs) / 2;
        s.spawn(move || {
            let mut flushes = 0;
            let mut rounds = 0u64;
            // At least one round, however late this thread first runs (under
            // valgrind it may start after the deadline): that round is past
            // half time, so it flushes.
            loop {
                rounds += 1;
                tt.run_timers(tt.jiffies() + 50).unwrap();
                let late = flushes == 0 && Instant::now() >= half_time;
                if tt.jiffies() % flush_every < 50 || late {
                    tt.flush_dev(Some(DEV));
                    flushes += 1;
                }
                if Instant::now() >= deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            stopt.store(true, Ordering::Relaxed);
            assert!(flushes > 0 || secs < 2, "{rounds} timer rounds, no flush");
        });
    });
    // Quiescent: every linked entry holds exactly its baseline references.
    let g = t.pin();
    for info in t.dump() {
        let n = t.lookup_noref(info.key, info.dev, &g).unwrap();
        let timer = u32::from(info.state.is(NudState::IN_TIMER)) as usize;
        assert_eq!(n.refcnt(), 1 + timer, "{info}");
    }
    drop(g);
    assert_eq!(
        t.timers().pending(),
        t.dump()
            .iter()
            .filter(|i| i.state.is(NudState::IN_TIMER))
            .count()
    );
    let s = t.stats();
    let issued = next_id.load(Ordering::Relaxed);
    assert_eq!(s.packets_in(), issued, "{s:?}");
    // Teardown path: flush everything, then the books close.
    t.flush_dev(None);
    let s = t.stats();
    assert_eq!(s.packets_queued_now(), 0, "{s:?}");
    assert_eq!(s.packets_out(), issued);
    assert_eq!(s.allocs, s.destroys, "{s:?}");
    assert_eq!(t.timers().pending(), 0);
    println!(
        "stress: {issued} packets ({} sent, {} flushed, {} dropped), {} entries allocated, {} hash grows, {} forced GCs",
        s.sent,
        s.flushed,
        s.dropped(),
        s.allocs,
        s.hash_grows,
        s.forced_gc_runs
    );
}
