//! Table-driven tests of the per-entry NUD state machine against Linux 6.x
//! (`net/core/neighbour.c`, `net/ipv4/arp.c`). Each test names the kernel
//! function whose behaviour it pins down; where 6.x differs from 3.10 (which
//! this crate first followed) the test says so. Table-level behaviour (GC,
//! queues, flushes) is in `nud_table.rs`, the update and ARP rules in
//! `nud_update.rs`.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
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

fn table_with_parms(
    f: impl FnOnce(&mut neighcache::NeighParms),
) -> neighcache::NeighTable<std::net::Ipv4Addr, TestOps> {
    let mut c = test_config();
    f(&mut c.parms);
    table_with(c)
}

/// 19e16d220f0a (`__neigh_event_send`, `neigh_timer_handler`,
/// `__neigh_set_probe_once`): resolution timers are armed at
/// `max(retrans_time, HZ/100)` (3.10: `HZ/2`), so probes follow
/// `retrans_time` down to 10 ms: per row, the first timer, every re-probe
/// and the failure come `max(retrans_time, 10)` apart, as does the timer of
/// a `set_probe_once`.
#[test]
fn resolution_timers_follow_retrans_time_with_an_hz_100_floor() {
    // (retrans_time, expected interval)
    let rows: &[(u64, u64)] = &[(1, 10), (10, 10), (11, 11), (300, 300), (HZ, HZ)];
    for &(retrans, every) in rows {
        let t = table_with_parms(|p| p.retrans_time = retrans);
        let t0 = t.jiffies();
        t.resolve_output(ip(1), DEV, pkt(1));
        let n = t.lookup(ip(1), DEV).unwrap();
        assert_eq!(n.probes(), 4, "ucast_probes + the first probe");
        for i in 1..=2 {
            assert_eq!(
                t.timers().next_expiry(),
                Some(t0 + i * every),
                "retrans {retrans}"
            );
            t.run_timers(t0 + i * every).unwrap();
            assert_eq!(n.state(), S::INCOMPLETE, "retrans {retrans}, probe {i}");
        }
        t.run_timers(t0 + 3 * every).unwrap();
        assert_eq!(n.state(), S::FAILED, "retrans {retrans}");
        assert_eq!(
            n.updated(),
            t0 + 3 * every,
            "`neigh_invalidate` sets updated"
        );
        assert_eq!(TestOps::solicits(&t.ops().take()).len(), 3);
        let t1 = t.jiffies();
        t.set_probe_once(&n).unwrap();
        assert_eq!(t.timers().next_expiry(), Some(t1 + every), "set_probe_once");
    }
}

/// 19e16d220f0a, `neigh_timer_handler`: a REACHABLE timer firing exactly at
/// `confirmed + reachable_time` re-arms at the `HZ/100` floor, 10 ms later
/// (3.10: 500 ms), and then goes STALE.
#[test]
fn reachable_timer_on_its_exact_tick_rearms_at_the_floor() {
    let t = table();
    reachable(&t, 1);
    let n = t.lookup(ip(1), DEV).unwrap();
    let deadline = n.confirmed() + t.reachable_time(DEV).unwrap();
    assert_eq!(t.timers().next_expiry(), Some(deadline));
    t.run_timers(deadline).unwrap();
    assert_eq!(n.state(), S::REACHABLE);
    assert_eq!(t.timers().next_expiry(), Some(deadline + 10));
    t.run_timers(deadline + 10).unwrap();
    assert_eq!(n.state(), S::STALE);
}

/// `neigh_add_timer` (6.x): a confirmation later than the last use counts
/// as a use, so a REACHABLE entry whose `reachable_time` is shorter than
/// `delay_probe_time` goes to DELAY, not STALE, when it expires unused.
#[test]
fn a_confirmation_counts_as_a_use_when_the_timer_is_armed() {
    let t = table_with_parms(|p| {
        p.base_reachable_time = HZ;
        p.delay_probe_time = 5 * HZ;
    });
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    advance_by(&t, 10 * HZ);
    t.update(&n, Some(&MAC_A), S::REACHABLE, F::OVERRIDE)
        .unwrap();
    assert_eq!(n.used(), t.jiffies(), "used bumped to confirmed");
    advance_by_steps(&t, 2 * HZ, 100);
    assert_eq!(n.state(), S::DELAY);
}
