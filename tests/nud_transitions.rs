//! Table-driven tests of the NUD state machine against the kernel's
//! behaviour (`net/core/neighbour.c`, Linux 4.x). Each test names the kernel
//! function whose behaviour it pins down.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;
use common::*;
use neighcache::{
    DevId, DeviceConfig, DropReason, EventSend, NeighError, NeighParms, NudState as S, Probe,
    TableConfig, UpdateFlags as F, Xmit, HZ,
};

fn state(t: &neighcache::NeighTable<std::net::Ipv4Addr, TestOps>, last: u8) -> S {
    t.lookup(ip(last), DEV)
        .map(|n| n.state())
        .unwrap_or(S::NONE)
}

/// `__neigh_event_send`: NONE -> INCOMPLETE, timer armed, immediate
/// broadcast probe, packet queued.
#[test]
fn none_to_incomplete_queues_and_probes() {
    let t = table();
    assert_eq!(t.resolve_output(ip(1), DEV, pkt(1)), Xmit::Queued);
    assert_eq!(state(&t, 1), S::INCOMPLETE);
    let ev = t.ops().take();
    assert_eq!(TestOps::solicits(&ev), vec![Probe::Multicast]);
    assert!(TestOps::tx_ids(&ev).is_empty());
    assert_eq!(t.timers().pending(), 1);
    let s = t.stats();
    assert_eq!((s.queued, s.sent, s.solicits, s.allocs), (1, 0, 1, 1));
}

/// `__neigh_event_send`: with no multicast and no app probes there is no way
/// to resolve: NONE -> FAILED and the packet is dropped.
#[test]
fn none_without_probes_fails_at_once() {
    let mut c = test_config();
    c.parms.mcast_probes = 0;
    c.parms.app_probes = 0;
    let t = table_with(c);
    assert_eq!(
        t.resolve_output(ip(1), DEV, pkt(1)),
        Xmit::Dropped(DropReason::Failed)
    );
    assert_eq!(state(&t, 1), S::FAILED);
    assert_eq!(
        TestOps::discards(&t.ops().take()),
        vec![(1, DropReason::Failed)]
    );
}

/// `neigh_timer_handler`: INCOMPLETE re-probes every retrans_time; after
/// `neigh_max_probes` (ucast 3 + app 0 + mcast 3, starting from probes =
/// ucast) it becomes FAILED and `neigh_invalidate` reports every queued
/// packet through `error_report`, in order.
#[test]
fn incomplete_fails_after_max_probes_and_reports_queue() {
    let t = table();
    for i in 1..=3 {
        t.resolve_output(ip(1), DEV, pkt(i));
    }
    advance_by(&t, HZ);
    assert_eq!(state(&t, 1), S::INCOMPLETE);
    advance_by(&t, HZ);
    assert_eq!(state(&t, 1), S::INCOMPLETE);
    advance_by(&t, HZ);
    assert_eq!(state(&t, 1), S::FAILED);
    let ev = t.ops().take();
    assert_eq!(
        TestOps::solicits(&ev),
        vec![Probe::Multicast; 3],
        "3 mcast probes in all"
    );
    assert_eq!(TestOps::errors(&ev), vec![1, 2, 3]);
    assert_eq!(t.stats().res_failed, 1);
    assert_eq!(t.timers().pending(), 0, "FAILED is not a timer state");
    assert_eq!(
        t.lookup(ip(1), DEV).unwrap().refcnt(),
        2,
        "table + this handle: the timer's reference was released"
    );
}

/// `neigh_update`: INCOMPLETE -> REACHABLE publishes the address and
/// flushes the queue in order with the new header.
#[test]
fn reply_resolves_and_flushes_in_order() {
    let t = table();
    for i in 1..=3 {
        t.resolve_output(ip(1), DEV, pkt(i));
    }
    t.ops().take();
    t.receive_arp(ip(1), DEV, &MAC_A, true).unwrap();
    assert_eq!(state(&t, 1), S::REACHABLE);
    let ev = t.ops().take();
    assert_eq!(TestOps::tx_ids(&ev), vec![1, 2, 3]);
    assert!(ev
        .iter()
        .all(|e| !matches!(e, Event::Tx { hh: h, .. } if *h != hh(MAC_A))));
    let g = t.pin();
    let n = t.lookup_noref(ip(1), DEV, &g).unwrap();
    assert_eq!(n.header().unwrap().as_bytes(), &hh(MAC_A)[..]);
    assert_eq!(t.output(n, pkt(4), &g), Xmit::Sent);
    assert_eq!(t.stats().flushed, 3);
}

fn reachable(t: &neighcache::NeighTable<std::net::Ipv4Addr, TestOps>, last: u8) {
    let n = t.lookup_or_create(ip(last), DEV).unwrap();
    t.update(&n, Some(&MAC_A), S::REACHABLE, F::OVERRIDE)
        .unwrap();
    t.ops().take();
}

/// `neigh_timer_handler`: REACHABLE lasts `reachable_time` (0.5x-1.5x of
/// base_reachable_time) after confirmation; then, if unused for
/// delay_probe_time, STALE (no timer).
#[test]
fn reachable_expires_to_stale_when_unused() {
    let t = table();
    reachable(&t, 1);
    advance_by_steps(&t, 14 * HZ, HZ);
    assert_eq!(state(&t, 1), S::REACHABLE, "at least base/2 = 15 s");
    advance_by_steps(&t, 32 * HZ, HZ);
    assert_eq!(state(&t, 1), S::STALE, "at most 1.5 * base = 45 s");
    assert_eq!(t.timers().pending(), 0);
}

/// `neigh_timer_handler`: REACHABLE expiring while recently used -> DELAY.
#[test]
fn reachable_expires_to_delay_when_used() {
    let t = table();
    reachable(&t, 1);
    let mut saw_delay = false;
    for _ in 0..50 {
        advance_by(&t, HZ);
        let g = t.pin();
        let n = t.lookup_noref(ip(1), DEV, &g).unwrap();
        t.output(n, pkt(9), &g);
        if n.state() == S::DELAY {
            saw_delay = true;
            break;
        }
    }
    assert!(saw_delay);
}

/// `__neigh_event_send`: STALE + packet -> DELAY, timer armed for
/// delay_probe_time, and the packet is sent with the stale address.
#[test]
fn stale_output_arms_delay_and_sends() {
    let t = table();
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.update(&n, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
    assert_eq!(t.timers().pending(), 0);
    let g = t.pin();
    assert_eq!(t.output(&n, pkt(1), &g), Xmit::Sent);
    assert_eq!(n.state(), S::DELAY);
    assert_eq!(t.timers().pending(), 1);
    assert_eq!(TestOps::tx_ids(&t.ops().take()), vec![1]);
}

/// `neigh_timer_handler`: DELAY with a confirmation inside delay_probe_time
/// -> REACHABLE without probing (`neigh_confirm`).
#[test]
fn delay_confirmed_returns_to_reachable() {
    let t = table();
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.update(&n, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
    t.event_send(&n, None);
    assert_eq!(n.state(), S::DELAY);
    advance_by(&t, HZ);
    t.confirm(&n).unwrap();
    advance_by(&t, 4 * HZ + 1);
    assert_eq!(n.state(), S::REACHABLE);
    assert!(TestOps::solicits(&t.ops().take()).is_empty());
}

/// `neigh_timer_handler`: DELAY unconfirmed -> PROBE with unicast probes to
/// the known address (`arp_solicit`), then FAILED after ucast_probes.
#[test]
fn delay_unconfirmed_probes_unicast_then_fails() {
    let t = table();
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.update(&n, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
    t.event_send(&n, None);
    advance_by(&t, 5 * HZ);
    assert_eq!(n.state(), S::PROBE);
    advance_by_steps(&t, 10 * HZ, HZ / 2);
    assert_eq!(n.state(), S::FAILED);
    let lladdr = neighcache::LlAddr::new(&MAC_A).unwrap();
    assert_eq!(
        TestOps::solicits(&t.ops().take()),
        vec![Probe::Unicast(lladdr); 3]
    );
}

/// `neigh_update`: a reply during PROBE -> REACHABLE.
#[test]
fn probe_answered_becomes_reachable() {
    let t = table();
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.update(&n, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
    t.event_send(&n, None);
    advance_by(&t, 5 * HZ);
    assert_eq!(n.state(), S::PROBE);
    t.update(&n, Some(&MAC_A), S::REACHABLE, F::OVERRIDE)
        .unwrap();
    assert_eq!(n.state(), S::REACHABLE);
    assert_eq!(t.timers().pending(), 1);
}

/// `neigh_update` override rules, table-driven: (old state, new lladdr,
/// requested state, flags) -> (resulting state, resulting lladdr).
#[test]
fn update_override_rules() {
    /// (old state, new lladdr, requested state, flags, resulting state, resulting lladdr)
    type Case = (S, [u8; 6], S, F, S, [u8; 6]);
    let cases: &[Case] = &[
        // A different address without OVERRIDE is ignored.
        (
            S::REACHABLE,
            MAC_B,
            S::REACHABLE,
            F::NONE,
            S::REACHABLE,
            MAC_A,
        ),
        (S::STALE, MAC_B, S::REACHABLE, F::NONE, S::STALE, MAC_A),
        // WEAK_OVERRIDE on a CONNECTED entry: keep the address, go STALE.
        (
            S::REACHABLE,
            MAC_B,
            S::REACHABLE,
            F::WEAK_OVERRIDE,
            S::STALE,
            MAC_A,
        ),
        // OVERRIDE replaces it.
        (
            S::REACHABLE,
            MAC_B,
            S::REACHABLE,
            F::OVERRIDE,
            S::REACHABLE,
            MAC_B,
        ),
        (S::STALE, MAC_B, S::STALE, F::OVERRIDE, S::STALE, MAC_B),
        // Same address, STALE requested on a CONNECTED entry: stays REACHABLE.
        (S::REACHABLE, MAC_A, S::STALE, F::NONE, S::REACHABLE, MAC_A),
        // Same address, STALE on STALE with WEAK_OVERRIDE: unchanged.
        (S::STALE, MAC_A, S::STALE, F::WEAK_OVERRIDE, S::STALE, MAC_A),
        // Same address REACHABLE on STALE: confirmed.
        (S::STALE, MAC_A, S::REACHABLE, F::NONE, S::REACHABLE, MAC_A),
    ];
    for (i, &(old, mac, new, flags, want, want_mac)) in cases.iter().enumerate() {
        let t = table();
        let n = t.lookup_or_create(ip(1), DEV).unwrap();
        t.update(&n, Some(&MAC_A), old, F::OVERRIDE).unwrap();
        assert_eq!(n.state(), old, "case {i} setup");
        t.update(&n, Some(&mac), new, flags).unwrap();
        assert_eq!(
            (n.state(), n.lladdr().unwrap().as_bytes()),
            (want, &want_mac[..]),
            "case {i}"
        );
    }
}

/// `neigh_update`: NOARP/PERMANENT entries change only with ADMIN (-EPERM);
/// a PERMANENT entry sends at once and is never collected.
#[test]
fn permanent_needs_admin_and_survives_gc() {
    let mut c = test_config();
    c.gc_thresh1 = 0;
    let t = table_with(c);
    t.add_permanent(ip(1), DEV, &MAC_A).unwrap();
    let n = t.lookup(ip(1), DEV).unwrap();
    assert_eq!(n.state(), S::PERMANENT);
    assert_eq!(
        t.update(&n, Some(&MAC_B), S::REACHABLE, F::OVERRIDE),
        Err(NeighError::NotPermitted)
    );
    drop(n);
    advance_by_steps(&t, 200 * HZ, 10 * HZ);
    t.gc();
    let g = t.pin();
    let n = t
        .lookup_noref(ip(1), DEV, &g)
        .expect("PERMANENT entries are never collected");
    assert_eq!(t.output(n, pkt(1), &g), Xmit::Sent);
    assert_eq!(t.timers().pending(), 0);
}

/// `arp_constructor`: entries on a NOARP device start NOARP and send at once.
#[test]
fn noarp_device_sends_without_resolution() {
    let t = table();
    let lo = DevId(7);
    let cfgd = DeviceConfig {
        noarp: true,
        noarp_lladdr: neighcache::LlAddr::new(&[0xff; 6]),
        ..DeviceConfig::ethernet(SRC_MAC, 0x0800)
    };
    t.add_device(lo, cfgd).unwrap();
    assert_eq!(t.resolve_output(ip(1), lo, pkt(1)), Xmit::Sent);
    assert_eq!(t.lookup(ip(1), lo).unwrap().state(), S::NOARP);
    assert!(TestOps::solicits(&t.ops().take()).is_empty());
}

/// `neigh_update` to FAILED from INCOMPLETE runs `neigh_invalidate`.
#[test]
fn admin_failed_reports_queue() {
    let t = table();
    t.resolve_output(ip(1), DEV, pkt(1));
    t.resolve_output(ip(1), DEV, pkt(2));
    let n = t.lookup(ip(1), DEV).unwrap();
    t.update(&n, None, S::FAILED, F::OVERRIDE | F::ADMIN)
        .unwrap();
    assert_eq!(n.state(), S::FAILED);
    assert_eq!(TestOps::errors(&t.ops().take()), vec![1, 2]);
    assert_eq!(t.timers().pending(), 0);
}

/// `__neigh_set_probe_once`: a FAILED entry gets one more resolution round.
#[test]
fn set_probe_once_revives_failed() {
    let t = table();
    t.resolve_output(ip(1), DEV, pkt(1));
    advance_by_steps(&t, 4 * HZ, HZ);
    let n = t.lookup(ip(1), DEV).unwrap();
    assert_eq!(n.state(), S::FAILED);
    t.ops().take();
    t.set_probe_once(&n).unwrap();
    assert_eq!(n.state(), S::INCOMPLETE);
    assert_eq!(TestOps::solicits(&t.ops().take()).len(), 1);
    advance_by(&t, 2 * HZ);
    assert_eq!(
        n.state(),
        S::FAILED,
        "only once: probes start at the maximum"
    );
}

/// Kernel commit 2c51a97f76d2: after the entry is unlinked (`dead`),
/// `__neigh_event_send` drops (STALE still sends), `neigh_update` and
/// `__neigh_set_probe_once` do nothing, and no timer is armed.
#[test]
fn dead_entry_is_not_modified() {
    let t = table();
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    let m = t.lookup_or_create(ip(2), DEV).unwrap();
    t.update(&m, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
    assert_eq!(t.flush_dev(Some(DEV)), 2);
    assert!(n.is_dead() && m.is_dead());
    assert_eq!(
        t.event_send(&n, Some(pkt(1))),
        EventSend::Dropped(DropReason::Dead)
    );
    assert_eq!(
        t.update(&n, Some(&MAC_A), S::REACHABLE, F::OVERRIDE),
        Err(NeighError::Dead)
    );
    assert_eq!(t.set_probe_once(&n), Err(NeighError::Dead));
    assert_eq!(n.state(), S::NONE);
    assert_eq!(t.timers().pending(), 0);
    assert_eq!(n.refcnt(), 1, "only our handle");
    assert!(t.lookup(ip(1), DEV).is_none());
    drop((n, m));
    let s = t.stats();
    assert_eq!((s.allocs, s.destroys, s.entries), (2, 2, 0));
}

/// Bad input gives typed errors or counted drops, never a panic.
#[test]
fn bad_input_is_typed() {
    let t = table();
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    assert_eq!(
        t.update(&n, Some(&[1, 2, 3]), S::REACHABLE, F::OVERRIDE),
        Err(NeighError::BadLladdrLen {
            dev: DEV,
            expected: 6,
            got: 3
        })
    );
    assert_eq!(
        t.update(&n, None, S::REACHABLE, F::OVERRIDE),
        Err(NeighError::NoLladdr)
    );
    assert_eq!(
        t.update(&n, Some(&MAC_A), S::REACHABLE | S::STALE, F::OVERRIDE),
        Err(NeighError::InvalidState(S::REACHABLE | S::STALE))
    );
    assert!(matches!(
        t.lookup_or_create(ip(1), DevId(99)),
        Err(NeighError::UnknownDevice(DevId(99)))
    ));
    assert_eq!(
        t.resolve_output(ip(1), DevId(99), pkt(5)),
        Xmit::Dropped(DropReason::UnknownDevice)
    );
    assert_eq!(
        t.add_device(DEV, DeviceConfig::ethernet(SRC_MAC, 0x0800)),
        Err(NeighError::DeviceExists(DEV))
    );
    let j = t.jiffies();
    assert_eq!(
        t.run_timers(j - 1),
        Err(NeighError::TimeWentBackwards {
            jiffies: j,
            now: j - 1
        })
    );
    let bad = TableConfig {
        gc_thresh1: 10,
        gc_thresh2: 5,
        ..TableConfig::default()
    };
    assert!(matches!(
        neighcache::NeighTable::new(bad, TestOps::default()),
        Err(NeighError::Config(_))
    ));
    let badp = NeighParms {
        retrans_time: 0,
        ..NeighParms::default()
    };
    assert!(matches!(
        t.add_device(DevId(3), DeviceConfig::ethernet(SRC_MAC, 0x0800).with_parms(badp)),
        Err(NeighError::Config(e)) if e.field == "retrans_time"
    ));
    assert_eq!(t.remove(ip(200), DEV), Err(NeighError::NotFound));
}

/// `__neigh_event_send` queue bound: beyond unres_qlen packets (or bytes)
/// the *oldest* is dropped and counted as `unres_discards`.
#[test]
fn queue_overflow_drops_oldest_and_counts() {
    let mut c = test_config();
    c.parms.unres_qlen = 3;
    let t = table_with(c);
    for i in 1..=5 {
        assert_eq!(t.resolve_output(ip(1), DEV, pkt(i)), Xmit::Queued);
    }
    let ev = t.ops().take();
    assert_eq!(
        TestOps::discards(&ev),
        vec![
            (1, DropReason::QueueOverflow),
            (2, DropReason::QueueOverflow)
        ]
    );
    t.receive_arp(ip(1), DEV, &MAC_A, true).unwrap();
    assert_eq!(TestOps::tx_ids(&t.ops().take()), vec![3, 4, 5]);
    let s = t.stats();
    assert_eq!(
        (
            s.queued,
            s.unres_discards,
            s.flushed,
            s.packets_queued_now()
        ),
        (5, 2, 3, 0)
    );
    // Byte bound.
    let mut c = test_config();
    c.parms.unres_qlen_bytes = 250;
    let t = table_with(c);
    for i in 1..=4 {
        t.resolve_output(ip(1), DEV, pkt(i));
    }
    assert_eq!(
        t.stats().unres_discards,
        2,
        "100-byte packets, 250 bytes: two fit"
    );
}

/// `neigh_forced_gc` at gc_thresh3, then `TableFull` when nothing can go.
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
    // Unreferenced NONE entries are collectable: forced GC makes room.
    t.lookup_or_create(ip(5), DEV).unwrap();
    assert!(t.len() <= 4);
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

/// An administrative NONE owns no timer, so nothing would ever send what is
/// queued: the queue is reported at once (the kernel keeps it until a
/// resolution that may never come), and GC later collects the entry with
/// nothing left to report.
#[test]
fn admin_none_reports_the_queue_at_once() {
    let mut c = test_config();
    c.gc_thresh1 = 0;
    let t = table_with(c);
    t.resolve_output(ip(1), DEV, pkt(1));
    {
        let n = t.lookup(ip(1), DEV).unwrap();
        t.ops().take();
        t.update(&n, None, S::NONE, F::ADMIN).unwrap();
        assert_eq!(t.timers().pending(), 0);
    }
    assert_eq!(TestOps::errors(&t.ops().take()), vec![1]);
    assert_eq!(t.stats().packets_queued_now(), 0);
    advance_by_steps(&t, 70 * HZ, 10 * HZ);
    assert!(t.lookup(ip(1), DEV).is_none());
    assert!(t.ops().take().is_empty());
}
