//! Table-level behaviour against Linux 6.x (`net/core/neighbour.c`): the
//! unresolved queue's bounds, forced and periodic GC over the `gc_list`,
//! growth, teardown, dumps, the timer thread, device removal and carrier
//! loss, the reachable-time draws. Each test names the kernel function
//! whose behaviour it pins down; the per-entry state machine is in
//! `nud_transitions.rs`.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::*;
use neighcache::{
    DevId, DropReason, NeighError, NudState as S, TableConfig, UpdateFlags as F, Xmit, HZ,
};

fn state(t: &neighcache::NeighTable<std::net::Ipv4Addr, TestOps>, last: u8) -> S {
    t.lookup(ip(last), DEV)
        .map(|n| n.state())
        .unwrap_or(S::NONE)
}

fn reachable(t: &neighcache::NeighTable<std::net::Ipv4Addr, TestOps>, last: u8) {
    let n = t.lookup_or_create(ip(last), DEV).unwrap();
    t.update(&n, Some(&MAC_A), S::REACHABLE, F::OVERRIDE)
        .unwrap();
    t.ops().take();
}
/// `__neigh_event_send` queue bound: packets are charged their `truesize`
/// (length + 576, `SKB_TRUESIZE`) against `unres_qlen_bytes`, and the
/// *oldest* are dropped beyond it (`unres_discards`); the optional packet
/// limit `unres_qlen` (none by default, as in 6.x) likewise. Rows:
/// (unres_qlen_bytes, unres_qlen, packets sent) -> packets kept.
#[test]
fn queue_overflow_drops_oldest_and_counts() {
    let rows: &[(usize, usize, u64, u64)] = &[
        // The default: 212992 / 676 = 315 100-byte packets (3.10's extra
        // limit cut at 101).
        (212_992, usize::MAX, 400, 315),
        // Two fit in 1500 bytes (2 x 676); a packet alone larger than the
        // limit is still queued, as in the kernel.
        (1500, usize::MAX, 5, 2),
        (100, usize::MAX, 3, 1),
        // The optional packet limit.
        (212_992, 3, 5, 3),
    ];
    for &(bytes, qlen, sent, kept) in rows {
        let mut c = test_config();
        c.parms.unres_qlen_bytes = bytes;
        c.parms.unres_qlen = qlen;
        let t = table_with(c);
        for i in 1..=sent {
            assert_eq!(t.resolve_output(ip(1), DEV, pkt(i)), Xmit::Queued);
        }
        let ev = t.ops().take();
        let dropped: Vec<u64> = (1..=sent - kept).collect();
        assert_eq!(
            TestOps::discards(&ev),
            dropped
                .iter()
                .map(|&i| (i, DropReason::QueueOverflow))
                .collect::<Vec<_>>(),
            "{bytes} bytes, {qlen} packets"
        );
        t.receive_arp(ip(1), DEV, &MAC_A, true).unwrap();
        let flushed: Vec<u64> = (sent - kept + 1..=sent).collect();
        assert_eq!(TestOps::tx_ids(&t.ops().take()), flushed);
        let s = t.stats();
        assert_eq!(
            (
                s.queued,
                s.unres_discards,
                s.flushed,
                s.packets_queued_now()
            ),
            (sent, sent - kept, kept, 0)
        );
    }
    let p = neighcache::NeighParms::default();
    assert_eq!(p.queue_len_packets(), 101, "`ip ntable`'s unres_qlen view");
    assert_eq!(p.with_queue_len_packets(3).unres_qlen_bytes, 3 * 2090);
}

/// `neigh_alloc` + `neigh_forced_gc` (6.x): at `gc_thresh3` GC-eligible
/// entries a create runs forced GC, which removes only entries held by the
/// table alone that are FAILED/NOARP or not updated for 5 s; with nothing
/// to remove the create fails with `TableFull`.
#[test]
fn table_full_after_forced_gc() {
    let c = TableConfig {
        gc_thresh1: 0,
        gc_thresh2: 2,
        gc_thresh3: 4,
        seed: 1,
        ..TableConfig::default()
    };
    let t = table_with(c);
    // Four entries held by handles: not collectable.
    let held: Vec<_> = (1..=4)
        .map(|i| t.lookup_or_create(ip(i), DEV).unwrap())
        .collect();
    assert_eq!(
        t.lookup_or_create(ip(5), DEV).err(),
        Some(NeighError::TableFull {
            entries: 4,
            gc_thresh3: 4
        })
    );
    assert_eq!(
        t.resolve_output(ip(5), DEV, pkt(1)),
        Xmit::Dropped(DropReason::TableFull)
    );
    assert!(t.stats().table_fulls >= 1 && t.stats().forced_gc_runs >= 1);
    drop(held);
    // Unreferenced but updated within 5 s: still not collectable (3.10
    // collected every unreferenced entry).
    assert!(t.lookup_or_create(ip(5), DEV).is_err());
    advance_by(&t, 5 * HZ + 1);
    // Now forced GC makes room, oldest first, down to gc_thresh2.
    t.lookup_or_create(ip(5), DEV).unwrap();
    assert_eq!(t.len(), 3, "4 - (4 - gc_thresh2) + the new one");
    assert!(t.lookup(ip(1), DEV).is_none() && t.lookup(ip(3), DEV).is_some());
}

/// 58956317c8de and follow-ups (`neigh_forced_gc` over `gc_list`,
/// `gc_entries`, `neigh_update_gc_list`): PERMANENT and externally learned
/// entries are not on the list, so they neither count against the
/// thresholds nor get collected, and a create never fails for them;
/// FAILED and NOARP entries go at any age; the walk is oldest first and
/// stops at `gc_thresh2`.
#[test]
fn forced_gc_walks_the_gc_list_oldest_first() {
    let c = TableConfig {
        gc_thresh1: 0,
        gc_thresh2: 3,
        gc_thresh3: 5,
        seed: 1,
        ..TableConfig::default()
    };
    let t = table_with(c);
    for i in 50..60 {
        t.add_permanent(ip(i), DEV, &MAC_A).unwrap();
    }
    t.add_external(ip(60), DEV, &MAC_A, false).unwrap();
    assert_eq!(t.gc_entries(), 0, "exempt entries are not on the list");
    for i in 1..=4 {
        t.lookup_or_create(ip(i), DEV).unwrap();
    }
    // Entry 4 fails (an administrative FAILED).
    let n4 = t.lookup(ip(4), DEV).unwrap();
    t.update(&n4, None, S::FAILED, F::ADMIN).unwrap();
    drop(n4);
    assert_eq!(t.gc_entries(), 4);
    // The fifth create reaches gc_thresh3 = 5 only after it; the sixth runs
    // forced GC: only the FAILED entry is collectable (the rest are young).
    t.lookup_or_create(ip(5), DEV).unwrap();
    t.lookup_or_create(ip(6), DEV).unwrap();
    assert!(t.lookup(ip(4), DEV).is_none(), "FAILED goes at any age");
    assert_eq!(t.gc_entries(), 5);
    // Five seconds on, the oldest go first, down to gc_thresh2 = 3.
    advance_by(&t, 5 * HZ + 1);
    t.lookup_or_create(ip(7), DEV).unwrap();
    let left: Vec<u8> = (1..=7)
        .filter(|&i| t.lookup(ip(i), DEV).is_some())
        .collect();
    assert_eq!(left, vec![3, 5, 6, 7]);
    assert_eq!(t.gc_entries(), 4);
    assert_eq!(t.len(), 4 + 11, "exempt entries untouched");
    // A PERMANENT entry made dynamic again joins the list at its tail.
    let p = t.lookup(ip(50), DEV).unwrap();
    t.update(&p, Some(&MAC_A), S::STALE, F::ADMIN | F::OVERRIDE)
        .unwrap();
    assert_eq!(t.gc_entries(), 5);
}

/// `neigh_periodic_work` (6.x): an entry unused for exactly `gc_staletime`
/// is collected (`!time_in_range_open(jiffies, used, used + GC_STALETIME)`;
/// the table's check was one tick late), one tick earlier it stays.
#[test]
fn periodic_gc_staleness_boundary_is_exact() {
    let mut c = test_config();
    c.gc_thresh1 = 0;
    c.parms.gc_staletime = 10 * HZ;
    let t = table_with(c);
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.update(&n, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
    let used = n.used();
    drop(n);
    t.run_timers(used + 10 * HZ - 1).unwrap();
    t.gc();
    assert!(t.lookup(ip(1), DEV).is_some());
    t.run_timers(used + 10 * HZ).unwrap();
    t.gc();
    assert!(t.lookup(ip(1), DEV).is_none());
}

/// `neigh_table_init` + `neigh_periodic_work`: the reachable times drawn
/// when devices are registered last until the clock is 300 s past
/// `20 * reachable_time` after the table's start (at least 600 s with the
/// defaults); the table used to re-draw them at its first GC pass.
#[test]
fn the_first_reachable_time_redraw_waits() {
    let t = table();
    let r0 = t.reachable_time(DEV).unwrap();
    advance_by_steps(&t, 600 * HZ, 30 * HZ);
    assert_eq!(t.reachable_time(DEV), Some(r0), "unchanged for 600 s");
    advance_by_steps(&t, 600 * HZ, 30 * HZ);
    assert_ne!(t.reachable_time(DEV), Some(r0), "re-drawn within 1200 s");
}

/// `neigh_carrier_down` (859bd2ef1fc1): losing the carrier flushes the
/// device's entries except PERMANENT ones; the device stays registered.
#[test]
fn carrier_down_keeps_permanent_entries() {
    let t = table();
    t.resolve_output(ip(1), DEV, pkt(1));
    reachable(&t, 2);
    t.add_permanent(ip(3), DEV, &MAC_A).unwrap();
    t.add_external(ip(4), DEV, &MAC_A, false).unwrap();
    assert_eq!(t.carrier_down(DEV), Ok(3));
    assert_eq!(state(&t, 3), S::PERMANENT);
    assert_eq!(t.len(), 1);
    assert_eq!(
        TestOps::discards(&t.ops().take()),
        vec![(1, DropReason::DeviceDown)]
    );
    assert_eq!(
        t.resolve_output(ip(1), DEV, pkt(2)),
        Xmit::Queued,
        "still registered"
    );
    assert_eq!(
        t.carrier_down(DevId(9)),
        Err(NeighError::UnknownDevice(DevId(9)))
    );
}

/// `neigh_periodic_work`: FAILED or stale unused entries held only by the
/// table go; entries in a timer state or held elsewhere stay.
#[test]
fn periodic_gc_collects_stale_and_failed() {
    let mut c = test_config();
    c.gc_thresh1 = 0;
    c.parms.gc_staletime = 10 * HZ;
    let t = table_with(c);
    t.resolve_output(ip(1), DEV, pkt(1)); // will fail
    {
        let n = t.lookup_or_create(ip(2), DEV).unwrap();
        t.update(&n, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
    }
    let held = t.lookup_or_create(ip(3), DEV).unwrap();
    t.update(&held, Some(&MAC_A), S::STALE, F::OVERRIDE)
        .unwrap();
    advance_by_steps(&t, 5 * HZ, HZ);
    t.gc();
    assert!(t.lookup(ip(1), DEV).is_none(), "FAILED goes at once");
    assert!(t.lookup(ip(2), DEV).is_some(), "not yet stale");
    advance_by_steps(&t, 10 * HZ, HZ);
    t.gc();
    assert!(t.lookup(ip(2), DEV).is_none(), "stale and unused");
    assert!(t.lookup(ip(3), DEV).is_some(), "held by a handle");
    assert!(t.stats().periodic_gc_runs >= 2);
}

/// `neigh_hash_grow`: the table grows past one entry per bucket and every
/// entry stays reachable.
#[test]
fn hash_grows_and_keeps_entries() {
    let c = TableConfig {
        gc_thresh1: 1 << 20,
        gc_thresh2: 1 << 20,
        gc_thresh3: 1 << 20,
        ..test_config()
    };
    let t = table_with(c);
    for i in 0..5000u32 {
        t.lookup_or_create(std::net::Ipv4Addr::from(0x0a00_0000 + i), DEV)
            .unwrap();
    }
    let s = t.stats();
    assert!(s.hash_buckets >= 4096 && s.hash_grows >= 9, "{s:?}");
    let g = t.pin();
    for i in 0..5000u32 {
        assert!(t
            .lookup_noref(std::net::Ipv4Addr::from(0x0a00_0000 + i), DEV, &g)
            .is_some());
    }
    assert_eq!(t.len(), 5000);
}

/// Teardown: queued packets are dropped and counted, every entry destroyed.
#[test]
fn teardown_accounts_for_everything() {
    let t = table();
    for i in 1..=10 {
        t.resolve_output(ip(i), DEV, pkt(i as u64));
    }
    reachable(&t, 20);
    let ops_events;
    let s = {
        let s0 = t.stats();
        assert_eq!(s0.allocs, 11);
        t.flush_dev(None);
        ops_events = t.ops().take();
        t.stats()
    };
    assert_eq!(s.destroys, 11);
    assert_eq!(s.entries, 0);
    assert_eq!(s.dropped_device_down, 10);
    assert_eq!(s.packets_queued_now(), 0);
    assert_eq!(TestOps::discards(&ops_events).len(), 10);
    assert_eq!(t.timers().pending(), 0);
}

/// `ip neigh show`-style dump.
#[test]
fn dump_lists_entries() {
    let t = table();
    reachable(&t, 1);
    t.resolve_output(ip(2), DEV, pkt(1));
    let d = t.dump();
    assert_eq!(d.len(), 2);
    let line = d[0].to_string();
    assert!(
        line.starts_with("10.0.0.1 dev dev1 lladdr 02:00:00:00:00:aa"),
        "{line}"
    );
    assert!(line.ends_with("REACHABLE"));
    assert!(d[1].to_string().ends_with("INCOMPLETE") && d[1].queue_len == 1);
}

/// The optional timer thread drives `run_timers` from a clock: an
/// unanswered resolution fails without the test calling `run_timers`.
#[test]
fn timer_thread_drives_the_state_machine() {
    let clock = std::sync::Arc::new(neighcache::ManualClock::new(1_000_000));
    struct Shared(std::sync::Arc<neighcache::ManualClock>);
    impl neighcache::Clock for Shared {
        fn now(&self) -> neighcache::Tick {
            self.0.now()
        }
    }
    let t = std::sync::Arc::new(table());
    let th = t.spawn_timer_thread(Shared(clock.clone()), std::time::Duration::from_millis(1));
    t.resolve_output(ip(1), DEV, pkt(1));
    for _ in 0..40 {
        clock.advance(HZ / 4);
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    th.stop();
    assert_eq!(state(&t, 1), S::FAILED);
    assert_eq!(TestOps::errors(&t.ops().take()), vec![1]);
}

/// `neigh_ifdown` + unregister: the device's entries are flushed and the
/// device forgotten in one step; a second removal is a typed error.
#[test]
fn remove_device_flushes_and_unregisters() {
    let t = table();
    t.resolve_output(ip(1), DEV, pkt(1));
    reachable(&t, 2);
    assert_eq!(t.remove_device(DEV), Ok(2));
    assert!(t.is_empty());
    assert_eq!(t.remove_device(DEV), Err(NeighError::UnknownDevice(DEV)));
    assert_eq!(
        t.resolve_output(ip(1), DEV, pkt(2)),
        Xmit::Dropped(DropReason::UnknownDevice)
    );
    let s = t.stats();
    assert_eq!((s.allocs, s.destroys, s.dropped_device_down), (2, 2, 1));
}
