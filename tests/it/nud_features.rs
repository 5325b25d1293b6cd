//! What daemons need beyond lookup: run-time parameters (`neightbl_set`,
//! the `net.ipv4.neigh.*` sysctls), externally learned entries
//! (`NTF_EXT_LEARNED`), managed entries (`NTF_MANAGED`,
//! `neigh_managed_work`), the router flag (`NTF_ROUTER`,
//! `neigh_update_is_router`) and the table-wide solicitation limit (not in
//! Linux; off by default). Each test names the kernel function it follows.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::*;
use neighcache::{
    DevId, EventFilter, NeighError, NeighFlags, NeighParms, NudState as S, Probe, Received,
    TableConfig, UpdateFlags as F, Xmit, HZ,
};

/// `neightbl_set` (`NDTPA_RETRANS_TIME`, `NDTPA_MCAST_PROBES`): new
/// parameters govern each entry's next timer; the timer already armed
/// keeps its expiry (the kernel's handler also reads the parameters when it
/// runs, not when it was armed).
#[test]
fn device_parameters_govern_the_next_timer() {
    let t = table();
    let t0 = t.jiffies();
    t.resolve_output(ip(1), DEV, pkt(1));
    assert_eq!(t.timers().next_expiry(), Some(t0 + HZ));
    let p = NeighParms {
        retrans_time: 100,
        mcast_probes: 5,
        ..t.device_parms(DEV).unwrap()
    };
    t.set_device_parms(DEV, p).unwrap();
    assert_eq!(t.device_parms(DEV), Some(p));
    assert_eq!(t.timers().next_expiry(), Some(t0 + HZ), "armed timer kept");
    t.run_timers(t0 + HZ).unwrap();
    assert_eq!(
        t.timers().next_expiry(),
        Some(t0 + HZ + 100),
        "re-armed with the new value"
    );
    // Five multicast probes in all now (3 before): 1 at the start, then
    // one per firing, FAILED at the fifth firing.
    advance_by_steps(&t, 300, 100);
    let n = t.lookup(ip(1), DEV).unwrap();
    assert_eq!(n.state(), S::INCOMPLETE);
    advance_by(&t, 100);
    assert_eq!(n.state(), S::FAILED);
    assert_eq!(TestOps::solicits(&t.ops().take()).len(), 5);
}

/// `neightbl_set` (`NDTPA_BASE_REACHABLE_TIME`) re-draws `reachable_time`
/// at once, from the new base, instead of waiting for the periodic re-draw.
#[test]
fn a_parameter_change_redraws_reachable_time() {
    let t = table();
    for base in [2 * HZ, 60 * HZ, 1000 * HZ] {
        let p = NeighParms {
            base_reachable_time: base,
            ..NeighParms::default()
        };
        t.set_device_parms(DEV, p).unwrap();
        let r = t.reachable_time(DEV).unwrap();
        assert!((base / 2..base + base / 2).contains(&r), "{base}: {r}");
    }
}

/// Bad values are refused with the typed errors of construction and
/// change nothing; construction-only fields cannot change at run time.
#[test]
fn bad_runtime_values_are_refused_and_change_nothing() {
    let t = table();
    let before = t.device_parms(DEV).unwrap();
    let reach = t.reachable_time(DEV);
    let bad = NeighParms {
        retrans_time: 0,
        ..before
    };
    assert!(matches!(
        t.set_device_parms(DEV, bad),
        Err(NeighError::Config(e)) if e.field == "retrans_time"
    ));
    assert_eq!(
        t.set_device_parms(DevId(9), before),
        Err(NeighError::UnknownDevice(DevId(9)))
    );
    assert_eq!(
        (t.device_parms(DEV), t.reachable_time(DEV)),
        (Some(before), reach)
    );
    let c = t.config();
    for (bad, field) in [
        (
            TableConfig {
                gc_thresh2: c.gc_thresh3 + 1,
                ..c
            },
            "gc_thresh2",
        ),
        (
            TableConfig {
                timer_bases: 2,
                ..c
            },
            "timer_bases",
        ),
        (
            TableConfig {
                seed: c.seed + 1,
                ..c
            },
            "seed",
        ),
        (
            TableConfig {
                solicit_rate: 5,
                ..c
            },
            "solicit_burst",
        ),
    ] {
        assert!(matches!(t.set_config(bad), Err(NeighError::Config(e)) if e.field == field));
        assert_eq!(t.config(), c, "{field}: unchanged");
    }
}

/// `neightbl_set` (`NDTA_THRESH1..3`): the GC thresholds change at run
/// time; the next create obeys them.
#[test]
fn gc_thresholds_change_at_run_time() {
    let t = table();
    let held: Vec<_> = (1..=3)
        .map(|i| t.lookup_or_create(ip(i), DEV).unwrap())
        .collect();
    let c = TableConfig {
        gc_thresh1: 0,
        gc_thresh2: 2,
        gc_thresh3: 3,
        ..t.config()
    };
    t.set_config(c).unwrap();
    assert!(matches!(
        t.lookup_or_create(ip(4), DEV),
        Err(NeighError::TableFull {
            entries: 3,
            gc_thresh3: 3
        })
    ));
    t.set_config(TableConfig { gc_thresh3: 4, ..c }).unwrap();
    t.lookup_or_create(ip(4), DEV).unwrap();
    drop(held);
}

/// Externally learned entries (`ip neigh replace ... nud noarp
/// extern_learn`; `neigh_periodic_work` skips `NTF_EXT_LEARNED`, the
/// `gc_list` excludes it, NOARP has no timer): never aged, never probed,
/// never collected, not counted against the thresholds; they send at once.
#[test]
fn external_entries_are_never_aged_probed_or_collected() {
    let c = TableConfig {
        gc_thresh1: 0,
        gc_thresh2: 1,
        gc_thresh3: 2,
        ..test_config()
    };
    let t = table_with(c);
    t.add_external(ip(1), DEV, &MAC_A, false).unwrap();
    let n = t.lookup(ip(1), DEV).unwrap();
    assert_eq!((n.state(), n.flags()), (S::NOARP, NeighFlags::EXT_LEARNED));
    drop(n);
    assert_eq!(t.gc_entries(), 0);
    // GC pressure: dynamic entries come and go; the external one stays.
    for round in 0..5u8 {
        advance_by_steps(&t, 3600 * HZ, 30 * HZ);
        let _ = t.lookup_or_create(ip(10 + round), DEV);
    }
    assert_eq!(t.timers().pending(), 0);
    assert!(
        TestOps::solicits(&t.ops().take()).is_empty(),
        "never probed"
    );
    let g = t.pin();
    let n = t.lookup_noref(ip(1), DEV, &g).expect("never collected");
    assert_eq!(t.output(n, pkt(1), &g), Xmit::Sent);
    assert!(t.dump()[0]
        .to_string()
        .contains("lladdr 02:00:00:00:00:aa extern_learn ref"));
}

/// `__neigh_update` (`-EPERM` for NOARP without ADMIN): ARP and NDP cannot
/// replace an externally learned entry; another external addition can, and
/// an administrative one replaces it and clears the flag
/// (`neigh_update_flags`).
#[test]
fn only_external_or_admin_updates_replace_external_entries() {
    let t = table();
    t.add_external(ip(1), DEV, &MAC_A, true).unwrap();
    assert_eq!(
        t.receive_arp(ip(1), DEV, &MAC_B, true),
        Err(NeighError::NotPermitted)
    );
    assert_eq!(
        t.event_ns(ip(1), DEV, &MAC_B).err(),
        Some(NeighError::NotPermitted)
    );
    let n = t.lookup(ip(1), DEV).unwrap();
    assert_eq!(n.lladdr().unwrap().as_bytes(), &MAC_A[..]);
    assert_eq!(n.flags(), NeighFlags::EXT_LEARNED | NeighFlags::ROUTER);
    t.add_external(ip(1), DEV, &MAC_B, false).unwrap();
    assert_eq!(n.lladdr().unwrap().as_bytes(), &MAC_B[..]);
    assert_eq!(n.flags(), NeighFlags::EXT_LEARNED);
    t.add_permanent(ip(1), DEV, &MAC_A).unwrap();
    assert_eq!((n.state(), n.flags()), (S::PERMANENT, NeighFlags::NONE));
    t.update(&n, Some(&MAC_A), S::STALE, F::ADMIN | F::OVERRIDE)
        .unwrap();
    assert_eq!(t.gc_entries(), 1, "an ordinary entry again");
}

/// Managed entries (`NTF_MANAGED`, `neigh_managed_work`,
/// `neigh_event_send_probe(.., false)`): resolved at once, then kept
/// resolved with no traffic at all: every `interval_probe_time` the entry
/// counts as used, so when REACHABLE expires it goes DELAY, PROBE, and a
/// reply makes it REACHABLE again; a FAILED one starts resolving again at
/// the next pass (its first probe a tick later).
#[test]
fn managed_entries_are_kept_resolved_without_traffic() {
    let mut c = test_config();
    c.parms.base_reachable_time = 2 * HZ;
    c.parms.delay_probe_time = HZ;
    c.parms.interval_probe_time = HZ;
    let t = table_with(c);
    t.add_managed(ip(1), DEV).unwrap();
    let n = t.lookup(ip(1), DEV).unwrap();
    assert_eq!((n.state(), n.flags()), (S::INCOMPLETE, NeighFlags::MANAGED));
    assert_eq!(TestOps::solicits(&t.ops().take()), vec![Probe::Multicast]);
    t.receive_arp(ip(1), DEV, &MAC_A, true).unwrap();
    // Answer every probe for a minute; it must be probed and stay VALID.
    let mut unicast = 0;
    for _ in 0..600 {
        advance_by(&t, 100);
        for p in TestOps::solicits(&t.ops().take()) {
            assert!(matches!(p, Probe::Unicast(_)), "{p:?}");
            unicast += 1;
            t.receive_arp(ip(1), DEV, &MAC_A, true).unwrap();
        }
        assert!(n.state().is(S::VALID), "{:?}", n.state());
    }
    assert!(unicast >= 10, "re-probed without traffic: {unicast}");
    // The peer goes away: FAILED, then resolved again by the next pass.
    advance_by_steps(&t, 10 * HZ, 100);
    let ev = t.ops().take();
    assert!(
        TestOps::solicits(&ev).contains(&Probe::Multicast),
        "re-resolving after FAILED"
    );
    assert_eq!(t.managed_len(), 1);
    // An administrative update without MANAGED clears it.
    t.add_permanent(ip(1), DEV, &MAC_A).unwrap();
    assert_eq!((n.flags(), t.managed_len()), (NeighFlags::NONE, 0));
    // With no managed entry left, the pass is no reason to wake: a driver
    // sleeping until next_event() is not woken every interval_probe_time.
    advance_by(&t, HZ);
    assert!(
        t.next_event() > t.jiffies() + HZ,
        "next_event {} at {}",
        t.next_event(),
        t.jiffies()
    );
}

/// ed6cd6a17896 (a zero re-arm delay pinned a CPU): the managed pass runs
/// at most once per `run_timers` call, however far the clock jumps and
/// however short `interval_probe_time` is, and a zero interval is refused.
#[test]
fn the_managed_pass_cannot_spin() {
    let mut c = test_config();
    c.parms.interval_probe_time = 1;
    let t = table_with(c);
    t.add_managed(ip(1), DEV).unwrap();
    let n = t.lookup(ip(1), DEV).unwrap();
    t.update(&n, None, S::FAILED, F::ADMIN | F::MANAGED)
        .unwrap();
    let sub = t.subscribe(1024, EventFilter::All).unwrap();
    let j = t.jiffies();
    t.run_timers(j + 1_000_000_000).unwrap();
    let passes = sub
        .drain()
        .into_iter()
        .filter(|r| matches!(r, Received::Event(e) if e.state == S::INCOMPLETE))
        .count();
    assert!(passes <= 2, "{passes} passes in one call");
    assert_eq!(t.next_event(), t.jiffies() + 1);
    let zero = NeighParms {
        interval_probe_time: 0,
        ..NeighParms::default()
    };
    assert!(matches!(
        t.set_device_parms(DEV, zero),
        Err(NeighError::Config(e)) if e.field == "interval_probe_time"
    ));
}

/// `neigh_update_is_router`: with OVERRIDE_ISROUTER the router flag follows
/// ISROUTER (NDP's R flag, `ip neigh ... router`); without it, or when a
/// different address was refused, it stays. Rows: (flags, new address) ->
/// (router flag afterwards, notified), starting from a router entry at
/// MAC_A.
#[test]
fn the_router_flag_follows_override_isrouter() {
    let rows: &[(F, [u8; 6], bool, bool)] = &[
        (F::OVERRIDE_ISROUTER, MAC_A, false, true),
        (F::OVERRIDE_ISROUTER | F::ISROUTER, MAC_A, true, false),
        (F::NONE, MAC_A, true, false),
        (F::ISROUTER, MAC_A, true, false),
        // A refused different address leaves the flag alone.
        (F::OVERRIDE_ISROUTER, MAC_B, true, false),
        (F::OVERRIDE | F::OVERRIDE_ISROUTER, MAC_B, false, true),
    ];
    for (i, &(flags, mac, router, notified)) in rows.iter().enumerate() {
        let t = table();
        let n = t.lookup_or_create(ip(1), DEV).unwrap();
        let set = F::OVERRIDE | F::OVERRIDE_ISROUTER | F::ISROUTER;
        t.update(&n, Some(&MAC_A), S::STALE, set).unwrap();
        let sub = t.subscribe(8, EventFilter::Kernel).unwrap();
        t.update(&n, Some(&mac), S::STALE, flags).unwrap();
        assert_eq!(n.flags().contains(NeighFlags::ROUTER), router, "row {i}");
        assert_eq!(t.dump()[0].router, router, "row {i}: dump");
        assert_eq!(!sub.drain().is_empty(), notified, "row {i}: notified");
    }
}

/// The protocol layer passes an NA's R flag (`ndisc_recv_na`:
/// OVERRIDE_ISROUTER | ISROUTER): it reaches the table, its dump and its
/// events.
#[cfg(feature = "proto")]
#[test]
fn the_r_flag_of_an_advertisement_reaches_the_table() {
    use crate::proto_common::*;
    let h = host();
    let sub = h.v6().subscribe(16, EventFilter::Kernel).unwrap();
    h.send_udp(std::net::IpAddr::V6(ip6_b()), 4000, 9, b"q")
        .unwrap();
    h.receive(&na_from_b(MAC_B, ip6_a(), true, true, true, true))
        .unwrap();
    let e = entry6(&h, ip6_b()).unwrap();
    assert_eq!((e.state, e.flags), (S::REACHABLE, NeighFlags::ROUTER));
    assert!(e.to_string().contains(" router "));
    let ev: Vec<_> = sub.drain();
    assert!(matches!(ev.as_slice(), [Received::Event(e)] if e.flags == NeighFlags::ROUTER));
    h.receive(&na_from_b(MAC_B, ip6_a(), false, true, true, true))
        .unwrap();
    assert_eq!(entry6(&h, ip6_b()).unwrap().flags, NeighFlags::NONE);
    assert!(
        matches!(sub.drain().as_slice(), [Received::Event(e)] if e.old_flags == NeighFlags::ROUTER)
    );
}

/// Table-wide solicitation limit: off by default, as in Linux (a flood of
/// packets to N unresolved addresses sends N probes at once); with
/// `solicit_rate`/`solicit_burst` at most `burst` go at once and `rate` per
/// second after, the rest counted as rate-limited, while each entry keeps
/// its own schedule and budget (it fails on time). One unreachable address
/// cannot starve the others: its retries take one token per
/// `retrans_time`, so a new address still gets its probe (the opposite of
/// smoltcp's global one-per-second limit, issue 1101).
#[test]
fn a_flood_of_unresolved_addresses_and_the_table_wide_limit() {
    let flood = |c: TableConfig| {
        let t = table_with(c);
        for i in 0..200u32 {
            let k = std::net::Ipv4Addr::from(0x0a01_0000 + i);
            t.resolve_output(k, DEV, pkt(i.into()));
        }
        let s = t.stats();
        (t, s.solicits, s.solicits_ratelimited)
    };
    let big = TableConfig {
        gc_thresh3: 4096,
        gc_thresh2: 4096,
        ..test_config()
    };
    let (_, sent, limited) = flood(big);
    assert_eq!((sent, limited), (200, 0), "Linux: no table-wide limit");
    let limited_cfg = TableConfig {
        solicit_rate: 10,
        solicit_burst: 5,
        ..big
    };
    let (t, sent, limited) = flood(limited_cfg);
    assert_eq!((sent, limited), (5, 195));
    // A second on: 200 retransmissions due, one per entry; 10 tokens came,
    // but the bucket holds 5.
    advance_by(&t, HZ);
    let s = t.stats();
    assert_eq!((s.solicits, s.solicits_ratelimited), (10, 390));
    // Per-entry budgets are unchanged: every entry fails on schedule.
    advance_by_steps(&t, 3 * HZ, HZ);
    assert_eq!(t.stats().res_failed, 200);
    // One unreachable host does not starve another.
    let t = table_with(limited_cfg);
    t.resolve_output(ip(1), DEV, pkt(1));
    for i in 0..30 {
        advance_by(&t, HZ);
        t.resolve_output(ip(1), DEV, pkt(i));
    }
    t.ops().take();
    t.resolve_output(ip(2), DEV, pkt(2));
    let ev = t.ops().take();
    assert_eq!(
        TestOps::solicits(&ev),
        vec![Probe::Multicast],
        "ip 2 was probed at once"
    );
}
