//! `neigh_update` and `__neigh_set_probe_once` rules that no other test
//! pinned (SPEC.md §2, §3 "No packet waits for nothing"): when an
//! administrative INCOMPLETE is refused, which FAILED counts as a failed
//! resolution, an update without an address, the "not confirmed" stamp of a
//! new address, and the timer `set_probe_once` arms. Closes cargo-mutants
//! survivors of `table/update.rs` (SPEC.md §16).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::*;
use neighcache::{
    DevId, DeviceConfig, LlAddr, NeighError, NudState as S, Probe, UpdateFlags as F, Xmit, HZ,
};

/// A device that can only unicast: nothing to resolve an unknown neighbour
/// with.
const UCAST_ONLY: DevId = DevId(2);

fn table_with_ucast_only_device() -> neighcache::NeighTable<std::net::Ipv4Addr, TestOps> {
    let t = table();
    let mut p = test_config().parms;
    p.mcast_probes = 0;
    p.app_probes = 0;
    p.ucast_probes = 1;
    t.add_device(
        UCAST_ONLY,
        DeviceConfig::ethernet(SRC_MAC, 0x0800).with_parms(p),
    )
    .unwrap();
    t
}

/// An administrative INCOMPLETE starts resolving where a device can ask
/// (multicast or application probes), and is refused where it cannot;
/// other states are fine on both.
#[test]
fn admin_incomplete_is_refused_only_where_nothing_could_resolve() {
    let t = table_with_ucast_only_device();
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.update(&n, None, S::INCOMPLETE, F::ADMIN).unwrap();
    assert_eq!(n.state(), S::INCOMPLETE);
    assert_eq!(t.timers().pending(), 1);
    assert_eq!(TestOps::solicits(&t.ops().take()), [Probe::Multicast]);

    let m = t.lookup_or_create(ip(2), UCAST_ONLY).unwrap();
    assert_eq!(
        t.update(&m, None, S::INCOMPLETE, F::ADMIN),
        Err(NeighError::InvalidState(S::INCOMPLETE))
    );
    assert_eq!(m.state(), S::NONE);
    t.update(&m, Some(&MAC_A), S::STALE, F::ADMIN | F::OVERRIDE)
        .unwrap();
    assert_eq!(m.state(), S::STALE);
}

/// FAILED out of a resolution (INCOMPLETE, PROBE) counts a failed
/// resolution (`neigh_invalidate`); FAILED from a resolved state does not,
/// nor does giving up to NONE. Queued packets are reported either way.
#[test]
fn only_a_failed_resolution_counts_as_one() {
    let t = table();
    assert_eq!(t.resolve_output(ip(1), DEV, pkt(1)), Xmit::Queued);
    let n = t.lookup(ip(1), DEV).unwrap();
    t.update(&n, None, S::FAILED, F::ADMIN).unwrap();
    assert_eq!(t.stats().res_failed, 1);
    assert_eq!(TestOps::errors(&t.ops().take()), [1]);

    let r = t.lookup_or_create(ip(2), DEV).unwrap();
    t.update(&r, Some(&MAC_A), S::REACHABLE, F::OVERRIDE)
        .unwrap();
    t.update(&r, None, S::FAILED, F::ADMIN).unwrap();
    assert_eq!(
        t.stats().res_failed,
        1,
        "REACHABLE -> FAILED resolved nothing"
    );

    assert_eq!(t.resolve_output(ip(3), DEV, pkt(3)), Xmit::Queued);
    let q = t.lookup(ip(3), DEV).unwrap();
    t.update(&q, None, S::NONE, F::ADMIN).unwrap();
    assert_eq!(
        t.stats().res_failed,
        1,
        "INCOMPLETE -> NONE is not a failure"
    );
    assert_eq!(TestOps::errors(&t.ops().take()), [3]);
}

/// A VALID entry updated without an address keeps its cached one.
#[test]
fn an_update_without_an_address_keeps_the_cached_one() {
    let t = table();
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.update(&n, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
    t.update(&n, None, S::REACHABLE, F::NONE).unwrap();
    assert_eq!(n.state(), S::REACHABLE);
    assert_eq!(n.lladdr(), LlAddr::new(&MAC_A));
}

/// A new address in a state that is not CONNECTED is "not confirmed
/// recently": `confirmed` moves to two base reachable times ago (as
/// `neigh_update` does), whatever it was.
#[test]
fn a_new_unconfirmed_address_is_stamped_two_reachable_times_ago() {
    let t = table();
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    advance_by(&t, 7 * HZ);
    let now = t.jiffies();
    let brt = test_config().parms.base_reachable_time;
    t.update(&n, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
    assert_eq!(n.confirmed(), now - 2 * brt);
    advance_by(&t, HZ);
    t.confirm(&n).unwrap();
    assert_eq!(n.confirmed(), now + HZ);
    t.update(&n, Some(&MAC_B), S::STALE, F::OVERRIDE).unwrap();
    assert_eq!(
        n.confirmed(),
        now + HZ - 2 * brt,
        "a changed address is unconfirmed"
    );
}

/// `set_probe_once` gives a FAILED entry one probe and a timer one
/// `retrans_time` ahead.
#[test]
fn set_probe_once_arms_one_retrans_time_ahead() {
    let t = table();
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.update(&n, None, S::FAILED, F::ADMIN).unwrap();
    t.ops().take();
    let now = t.jiffies();
    t.set_probe_once(&n).unwrap();
    assert_eq!(n.state(), S::INCOMPLETE);
    assert_eq!(
        t.timers().next_expiry(),
        Some(now + test_config().parms.retrans_time)
    );
    assert_eq!(TestOps::solicits(&t.ops().take()), [Probe::Multicast]);
}
