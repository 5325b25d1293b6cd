//! Probing and the table clock at their boundaries: the order of probe kinds
//! (`arp_solicit`: unicast to the known address, then application, then
//! multicast), the INCOMPLETE timer's half-second floor, the time domain's
//! last tick, and `next_event` (SPEC.md §2, §12). Each test pins a rule
//! where it changes, so that moving a boundary by one fails it (these close
//! cargo-mutants survivors of `table/nud_timer.rs`, SPEC.md §16).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::*;
use neighcache::MAX_TICK;
use neighcache::{LlAddr, NeighError, NudState as S, Probe, TableConfig, UpdateFlags as F, HZ};

/// One unicast, two application and one multicast probe per round.
fn probe_cfg() -> TableConfig {
    let mut c = test_config();
    c.parms.ucast_probes = 1;
    c.parms.app_probes = 2;
    c.parms.mcast_probes = 1;
    c.parms.mcast_reprobes = 1;
    c
}

/// INCOMPLETE has no address to unicast to: the round starts with the
/// application probes, then multicast, then FAILED after
/// `ucast + app + mcast` probes counted.
#[test]
fn incomplete_asks_the_application_then_multicast() {
    let t = table_with(probe_cfg());
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.event_send(&n, None);
    assert_eq!(n.state(), S::INCOMPLETE);
    advance_by_steps(&t, 10 * HZ, HZ / 4);
    assert_eq!(n.state(), S::FAILED);
    assert_eq!(
        TestOps::solicits(&t.ops().take()),
        [Probe::App, Probe::App, Probe::Multicast]
    );
}

/// PROBE knows the address: unicast first, then the application, then the
/// multicast re-probes, then FAILED.
#[test]
fn probe_unicasts_then_asks_the_application_then_multicasts() {
    let t = table_with(probe_cfg());
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.update(&n, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
    t.event_send(&n, None); // STALE -> DELAY
    advance_by(&t, 5 * HZ); // DELAY, unconfirmed -> PROBE
    assert_eq!(n.state(), S::PROBE);
    advance_by_steps(&t, 10 * HZ, HZ / 4);
    assert_eq!(n.state(), S::FAILED);
    let a = LlAddr::new(&MAC_A).unwrap();
    assert_eq!(
        TestOps::solicits(&t.ops().take()),
        [Probe::Unicast(a), Probe::App, Probe::App, Probe::Multicast]
    );
}

/// The first INCOMPLETE timer fires `retrans_time` later, and no sooner
/// than HZ/100 with a shorter one (`__neigh_event_send` in Linux 6.x:
/// `max(retrans, HZ/100)`, 19e16d220f0a; 3.10 had HZ/2).
#[test]
fn the_first_resolution_timer_waits_retrans_time_floored_at_hz_100() {
    for (retrans, due) in [(200, 200), (HZ / 100, HZ / 100), (3, HZ / 100)] {
        let mut c = test_config();
        c.parms.retrans_time = retrans;
        let t = table_with(c);
        let now = t.jiffies();
        let n = t.lookup_or_create(ip(1), DEV).unwrap();
        t.event_send(&n, None);
        assert_eq!(
            t.timers().next_expiry(),
            Some(now + due),
            "retrans {retrans}"
        );
    }
}

/// `run_timers` accepts the domain's last tick and refuses the next one,
/// changing nothing.
#[test]
fn run_timers_accepts_max_tick_and_refuses_beyond() {
    let t = table();
    assert_eq!(
        t.run_timers(MAX_TICK + 1),
        Err(NeighError::TickOutOfRange {
            tick: MAX_TICK + 1,
            max: MAX_TICK
        })
    );
    assert_eq!(t.jiffies(), 1_000_000, "a refused call changed the clock");
    assert!(t.run_timers(MAX_TICK).is_ok());
    assert_eq!(t.jiffies(), MAX_TICK);
}

/// `next_event` is the earlier of the next timer and the next GC pass.
#[test]
fn next_event_is_the_earliest_timer_or_gc() {
    let mut c = test_config();
    c.gc_interval = 30 * HZ;
    let t = table_with(c);
    let start = t.jiffies();
    assert_eq!(t.next_event(), start, "the first GC pass is due at once");
    t.gc();
    assert_eq!(t.next_event(), start + 30 * HZ, "only GC pending");
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.event_send(&n, None); // INCOMPLETE: timer at + retrans_time (1 s)
    assert_eq!(t.next_event(), start + HZ, "the timer comes first");
}
