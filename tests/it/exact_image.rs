//! `set_exact` and `remove_exact`: applying what another table (the
//! kernel's, over rtnetlink) reports. Any single state is taken as it is,
//! flags are replaced, nothing is armed or sent, exactly one event per
//! real change, queued packets settled as the new state says, bad input
//! changes nothing.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::*;
use neighcache::{
    Applied, DevId, EventFilter, EventKind, NeighError, NeighFlags as NF, NudState as S, Received,
    UpdateFlags as F, Xmit,
};

fn events(rx: &neighcache::EventReceiver<std::net::Ipv4Addr>) -> Vec<(EventKind, S, NF)> {
    rx.drain()
        .into_iter()
        .map(|r| match r {
            Received::Event(e) => (e.kind, e.state, e.flags),
            Received::Lost(n) => panic!("{n} events lost"),
        })
        .collect()
}

#[test]
fn every_single_state_is_taken_as_it_is_and_nothing_is_armed_or_sent() {
    let t = table();
    let states = [
        S::NONE,
        S::INCOMPLETE,
        S::REACHABLE,
        S::STALE,
        S::DELAY,
        S::PROBE,
        S::FAILED,
        S::NOARP,
        S::PERMANENT,
    ];
    for (i, s) in states.into_iter().enumerate() {
        let key = ip(10 + i as u8);
        let a = t.set_exact(key, DEV, s, Some(&MAC_A), NF::NONE).unwrap();
        assert_eq!(a, Applied::Created, "{s}");
        let n = t.lookup(key, DEV).unwrap();
        assert_eq!(n.state(), s);
        assert_eq!(
            n.lladdr().is_some(),
            s.is(S::VALID),
            "{s}: address only when VALID"
        );
        // Then every other state, from this one.
        for s2 in states {
            t.set_exact(key, DEV, s2, Some(&MAC_B), NF::ROUTER).unwrap();
            assert_eq!(n.state(), s2);
            assert_eq!(n.flags(), NF::ROUTER);
        }
    }
    assert_eq!(t.timers().pending(), 0, "no timer armed");
    assert!(
        TestOps::solicits(&t.ops().take()).is_empty(),
        "nothing sent"
    );
}

#[test]
fn one_event_per_real_change_and_none_for_a_repeat() {
    let t = table();
    let rx = t.subscribe(64, EventFilter::All).unwrap();
    let k = ip(2);
    let r = |s, f| t.set_exact(k, DEV, s, Some(&MAC_A), f).unwrap();
    assert_eq!(r(S::STALE, NF::NONE), Applied::Created);
    assert_eq!(
        events(&rx),
        [
            (EventKind::New, S::NONE, NF::NONE),
            (EventKind::Change, S::STALE, NF::NONE)
        ]
    );
    assert_eq!(r(S::STALE, NF::NONE), Applied::Unchanged);
    assert!(events(&rx).is_empty(), "a repeat raises nothing");
    assert_eq!(r(S::STALE, NF::EXT_LEARNED), Applied::Changed);
    assert_eq!(r(S::DELAY, NF::EXT_LEARNED), Applied::Changed);
    assert_eq!(
        events(&rx),
        [
            (EventKind::Change, S::STALE, NF::EXT_LEARNED),
            (EventKind::Change, S::DELAY, NF::EXT_LEARNED)
        ]
    );
    // A new address alone is a change.
    assert_eq!(
        t.set_exact(k, DEV, S::DELAY, Some(&MAC_B), NF::EXT_LEARNED)
            .unwrap(),
        Applied::Changed
    );
    assert_eq!(
        t.lookup(k, DEV).unwrap().lladdr().unwrap().as_bytes(),
        MAC_B
    );
    let _ = events(&rx);
    // Removal as reported: one Delete, no FAILED step.
    t.remove_exact(k, DEV).unwrap();
    assert_eq!(
        events(&rx),
        [(EventKind::Delete, S::FAILED, NF::EXT_LEARNED)]
    );
    assert_eq!(t.remove_exact(k, DEV), Err(NeighError::NotFound));
}

#[test]
fn flags_drive_the_gc_and_managed_lists() {
    let t = table();
    t.set_exact(ip(3), DEV, S::REACHABLE, Some(&MAC_A), NF::NONE)
        .unwrap();
    assert_eq!((t.gc_entries(), t.managed_len()), (1, 0));
    t.set_exact(
        ip(3),
        DEV,
        S::REACHABLE,
        Some(&MAC_A),
        NF::EXT_LEARNED | NF::MANAGED,
    )
    .unwrap();
    assert_eq!((t.gc_entries(), t.managed_len()), (0, 1));
    t.set_exact(ip(3), DEV, S::PERMANENT, Some(&MAC_A), NF::NONE)
        .unwrap();
    assert_eq!((t.gc_entries(), t.managed_len()), (0, 0));
    t.set_exact(ip(3), DEV, S::STALE, Some(&MAC_A), NF::NONE)
        .unwrap();
    assert_eq!((t.gc_entries(), t.managed_len()), (1, 0));
    // Created PERMANENT: exempt from the start.
    t.set_exact(ip(4), DEV, S::PERMANENT, Some(&MAC_A), NF::NONE)
        .unwrap();
    assert_eq!(t.gc_entries(), 1);
}

#[test]
fn queued_packets_follow_the_reported_state() {
    let t = table();
    // Waiting in INCOMPLETE for the source's answer...
    assert_eq!(t.resolve_output(ip(5), DEV, pkt(1)), Xmit::Queued);
    let _ = t.ops().take();
    t.set_exact(ip(5), DEV, S::INCOMPLETE, None, NF::NONE)
        .unwrap();
    assert!(t.ops().take().is_empty(), "still queued");
    // ...sent when it resolves.
    t.set_exact(ip(5), DEV, S::REACHABLE, Some(&MAC_A), NF::NONE)
        .unwrap();
    assert_eq!(TestOps::tx_ids(&t.ops().take()), [1]);
    // Reported failed when the source gives up.
    assert_eq!(t.resolve_output(ip(6), DEV, pkt(2)), Xmit::Queued);
    let _ = t.ops().take();
    t.set_exact(ip(6), DEV, S::FAILED, None, NF::NONE).unwrap();
    assert_eq!(TestOps::errors(&t.ops().take()), [2]);
    // And by a removal.
    assert_eq!(t.resolve_output(ip(7), DEV, pkt(3)), Xmit::Queued);
    let _ = t.ops().take();
    t.remove_exact(ip(7), DEV).unwrap();
    assert_eq!(TestOps::errors(&t.ops().take()), [3]);
    let s = t.stats();
    assert_eq!(s.packets_queued_now(), 0);
}

#[test]
fn bad_input_leaves_no_trace() {
    let t = table();
    let rx = t.subscribe(64, EventFilter::All).unwrap();
    let bad = [
        t.set_exact(ip(8), DevId(99), S::REACHABLE, Some(&MAC_A), NF::NONE),
        t.set_exact(ip(8), DEV, S::REACHABLE, Some(&MAC_A[..4]), NF::NONE),
        t.set_exact(ip(8), DEV, S::REACHABLE | S::STALE, Some(&MAC_A), NF::NONE),
        t.set_exact(ip(8), DEV, S::REACHABLE, None, NF::NONE),
    ];
    assert_eq!(bad[0], Err(NeighError::UnknownDevice(DevId(99))));
    assert!(matches!(bad[1], Err(NeighError::BadLladdrLen { .. })));
    assert!(matches!(bad[2], Err(NeighError::InvalidState(_))));
    assert_eq!(bad[3], Err(NeighError::NoLladdr));
    assert_eq!(
        t.remove_exact(ip(8), DevId(99)),
        Err(NeighError::UnknownDevice(DevId(99)))
    );
    assert!(t.is_empty());
    assert!(events(&rx).is_empty());
    // A non-VALID state ignores the address (the kernel reports none).
    t.set_exact(ip(8), DEV, S::FAILED, Some(&MAC_A[..2]), NF::NONE)
        .unwrap();
    assert_eq!(t.lookup(ip(8), DEV).unwrap().state(), S::FAILED);
}

#[test]
fn an_ordinary_update_still_applies_to_a_mirrored_entry() {
    // The table's own machinery works on a mirrored entry: a packet sent
    // through a STALE one starts this table's DELAY, as for any entry.
    let t = table();
    t.set_exact(ip(9), DEV, S::STALE, Some(&MAC_A), NF::NONE)
        .unwrap();
    assert_eq!(t.resolve_output(ip(9), DEV, pkt(1)), Xmit::Sent);
    assert_eq!(t.lookup(ip(9), DEV).unwrap().state(), S::DELAY);
    let n = t.lookup(ip(9), DEV).unwrap();
    t.update(&n, Some(&MAC_A), S::REACHABLE, F::NONE).unwrap();
    assert_eq!(n.state(), S::REACHABLE);
}
