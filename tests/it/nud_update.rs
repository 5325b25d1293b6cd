//! `neigh_update` and its callers against Linux 6.x: the override rules
//! (`__neigh_update`), when `updated` and `confirmed` move, and the ARP
//! receive rules (`arp_process`, `neigh_event_ns`). Table-driven; each test
//! names the kernel function it pins down. The rest of the per-entry state
//! machine is in `nud_transitions.rs`.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::*;
use neighcache::{NeighError, NudState as S, UpdateFlags as F, HZ};

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
        // 6.x: same address, STALE on DELAY/PROBE keeps the state unless
        // ADMIN (the neighbour's ARP request for us, `neigh_event_ns`: 3.10
        // demoted DELAY to STALE and dropped its timer).
        (S::DELAY, MAC_A, S::STALE, F::OVERRIDE, S::DELAY, MAC_A),
        (S::PROBE, MAC_A, S::STALE, F::NONE, S::PROBE, MAC_A),
        (
            S::DELAY,
            MAC_A,
            S::STALE,
            F::OVERRIDE | F::ADMIN,
            S::STALE,
            MAC_A,
        ),
    ];
    for (i, &(old, mac, new, flags, want, want_mac)) in cases.iter().enumerate() {
        let t = table();
        let n = t.lookup_or_create(ip(1), DEV).unwrap();
        t.update(&n, Some(&MAC_A), old, F::OVERRIDE).unwrap();
        assert_eq!(n.state(), old, "case {i} setup");
        let armed = t.timers().next_expiry();
        t.update(&n, Some(&mac), new, flags).unwrap();
        assert_eq!(
            (n.state(), n.lladdr().unwrap().as_bytes()),
            (want, &want_mac[..]),
            "case {i}"
        );
        if want == old {
            assert_eq!(t.timers().next_expiry(), armed, "case {i}: timer kept");
        }
    }
}

/// 6.x `__neigh_update`: `updated` moves only when the state or the address
/// changes ("we risk to move the locktime window with noop updates"), and
/// `confirmed` whenever the requested state is CONNECTED, even if the
/// update is then ignored. Rows: (setup state, new address, requested
/// state, flags) -> (`updated` moved?, `confirmed` moved?).
#[test]
fn updated_moves_only_when_the_update_changes_something() {
    type Row = (S, [u8; 6], S, F, bool, bool);
    let rows: &[Row] = &[
        // A different address without OVERRIDE: ignored, but confirmed.
        (S::REACHABLE, MAC_B, S::REACHABLE, F::NONE, false, true),
        (S::STALE, MAC_B, S::STALE, F::NONE, false, false),
        // The same address and state: nothing changes.
        (S::REACHABLE, MAC_A, S::REACHABLE, F::OVERRIDE, false, true),
        (S::STALE, MAC_A, S::STALE, F::OVERRIDE, false, false),
        // STALE on DELAY (kept): nothing changes.
        (S::DELAY, MAC_A, S::STALE, F::OVERRIDE, false, false),
        // A new state or a new address: both move as the state says.
        (S::STALE, MAC_A, S::REACHABLE, F::NONE, true, true),
        (S::STALE, MAC_B, S::STALE, F::OVERRIDE, true, false),
    ];
    for (i, &(old, mac, new, flags, updated, confirmed)) in rows.iter().enumerate() {
        let t = table();
        let n = t.lookup_or_create(ip(1), DEV).unwrap();
        if old == S::DELAY {
            // As traffic makes it: STALE, then a packet (timer 5 s away).
            t.update(&n, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
            t.event_send(&n, None);
        } else {
            t.update(&n, Some(&MAC_A), old, F::OVERRIDE).unwrap();
        }
        assert_eq!(n.state(), old);
        let (u0, c0) = (n.updated(), n.confirmed());
        let now = t.jiffies() + 100;
        t.run_timers(now).unwrap();
        t.update(&n, Some(&mac), new, flags).unwrap();
        assert_eq!(
            n.updated() == now,
            updated,
            "row {i}: updated {u0} -> {}",
            n.updated()
        );
        assert_eq!(
            n.confirmed() == now,
            confirmed,
            "row {i}: confirmed {c0} -> {}",
            n.confirmed()
        );
    }
}

/// `arp_process`: of back-to-back replies with different addresses the
/// first wins until `locktime` has passed, strictly (`time_after(jiffies,
/// updated + locktime)`; the table's check was one tick early), and a
/// refused reply does not extend the window (6.x `updated` rule; 3.10 kept
/// refusing until 1 s after the last refused one).
#[test]
fn arp_locktime_is_strict_and_not_extended_by_refused_replies() {
    let t = table();
    t.resolve_output(ip(1), DEV, pkt(1));
    let t0 = t.jiffies();
    t.receive_arp(ip(1), DEV, &MAC_A, true).unwrap();
    let mac = || t.lookup(ip(1), DEV).unwrap().lladdr().unwrap();
    for (at, want) in [(500, MAC_A), (HZ, MAC_A), (HZ + 1, MAC_B)] {
        t.run_timers(t0 + at).unwrap();
        t.receive_arp(ip(1), DEV, &MAC_B, true).unwrap();
        assert_eq!(mac().as_bytes(), &want[..], "reply at +{at} ms");
    }
}

/// `arp_process` with `arp_accept` off: replies and requests for someone
/// else only update entries that exist; `neigh_event_ns` (a request for one
/// of our addresses) creates the entry and overrides its address at once,
/// STALE.
#[test]
fn only_requests_for_us_create_entries() {
    let t = table();
    t.receive_arp(ip(1), DEV, &MAC_A, true).unwrap();
    t.receive_arp(ip(2), DEV, &MAC_A, false).unwrap();
    assert!(
        t.is_empty(),
        "no entry from a reply or a request for others"
    );
    let n = t.event_ns(ip(3), DEV, &MAC_A).unwrap();
    assert_eq!(
        (n.state(), n.lladdr().unwrap().as_bytes()),
        (S::STALE, &MAC_A[..])
    );
    t.update(&n, Some(&MAC_A), S::REACHABLE, F::OVERRIDE)
        .unwrap();
    t.event_ns(ip(3), DEV, &MAC_B).unwrap();
    assert_eq!(
        (n.state(), n.lladdr().unwrap().as_bytes()),
        (S::STALE, &MAC_B[..]),
        "no locktime"
    );
    assert_eq!(
        t.event_ns(ip(4), DEV, &[1, 2]).err(),
        Some(NeighError::BadLladdrLen {
            dev: DEV,
            expected: 6,
            got: 2
        })
    );
    assert_eq!(t.len(), 1, "bad input leaves no trace");
}
