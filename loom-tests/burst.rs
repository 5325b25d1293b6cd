//! Race matrix L13: the burst lookup (`lookup_noref_burst`, DPDK's
//! `rte_hash_lookup_bulk` pattern: hash all keys, prefetch all bucket slots,
//! load them and prefetch all entries, then compare) against a table that
//! grows and removes an entry meanwhile.
//!
//! Checked in every interleaving: a key present throughout is never missed
//! (the burst applies `lookup_noref`'s resize retry rule, race matrix L6, to
//! its misses); an entry the burst returns is the key's and stays readable
//! while the guard lives, even when a concurrent `remove` unlinked and
//! retired it (the model RCU reclaims at the shortest legal grace period and
//! panics `rcu: use after grace period` on a freed entry); nothing leaks.

use crate::common::*;
use loom::sync::Arc;
use neighcache::variant::Rule;
use neighcache::DevId;
use std::net::Ipv4Addr;

/// Two keys that share a bucket of the 2-bucket array and split in the
/// 4-bucket one, linked in that order (chain: k2 -> k1), and a third key
/// whose creation grows the array.
fn setup() -> (Arc<Table>, Ipv4Addr, Ipv4Addr, Ipv4Addr) {
    let t = Arc::new(table());
    let (k1, k2, k3) = splitting_keys(&t);
    (t, k1, k2, k3)
}

type Table = neighcache::NeighTable<Ipv4Addr, TestOps>;

/// The reader: one burst `[k1, k2]` under one guard. Every entry returned
/// is its key's and readable until the guard ends; returns which were found.
fn burst_reader(t: Arc<Table>, k1: Ipv4Addr, k2: Ipv4Addr) -> loom::thread::JoinHandle<[bool; 2]> {
    loom::thread::spawn(move || {
        let g = t.pin();
        let burst: [(Ipv4Addr, DevId); 2] = [(k1, DEV), (k2, DEV)];
        let mut out = [None; 2];
        t.lookup_noref_burst(&burst, &mut out, &g);
        for (n, &(k, d)) in out.iter().zip(&burst) {
            if let Some(n) = n {
                n.assert_live();
                assert_eq!(
                    (n.key(), n.dev()),
                    (k, d),
                    "the burst returned another key's entry"
                );
                let _ = n.state();
            }
        }
        [out[0].is_some(), out[1].is_some()]
    })
}

fn teardown(t: &Table) {
    t.flush_dev(None);
    let s = t.stats();
    assert_eq!(s.allocs, s.destroys, "{s:?}");
}

/// L13 (growth): the writer creates k3, which grows the array and moves
/// k1 and k2 into different future chains while the burst may be walking
/// the old one (as L6 for a single lookup): both keys are present
/// throughout, so the burst must find both. `broken`: L6's rule removed (a
/// miss in the array the burst loaded is trusted, the future array not
/// looked at), which the burst shares.
pub fn l13_growth(broken: bool) {
    let (t, k1, k2, k3) = setup();
    t.break_rule(Rule::LookupFollowsFuture, broken);
    neighcache::trace::clear(); // the race (and its timeline) begins
    let reader = burst_reader(t.clone(), k1, k2);
    t.lookup_or_create(k3, DEV).unwrap(); // grows to 4 buckets
    let found = reader.join().unwrap();
    assert_eq!(
        found,
        [true, true],
        "the burst missed a key present throughout a resize"
    );
    assert_eq!(t.stats().hash_grows, 1);
    teardown(&t);
}

fn l13_burst_lookup_vs_growth_fix_holds() {
    fix_holds("L13/grow", None, || l13_growth(false));
}

/// L13 (growth)'s named failure.
pub const L13_FAILURE: &[&str] = &["the burst missed a key present throughout a resize"];
/// L13 (growth)'s timeline: the growing creator and the burst reader.
pub const L13_COLUMNS: Columns = &[
    ("CPU0: __neigh_create → neigh_hash_grow", Col::Thread(0)),
    ("CPU1: lookup_noref_burst", Col::Thread(1)),
];

/// L13 (growth) without the future-array walk: the burst's false miss.
fn l13_burst_ignores_future_array_bug_is_found() {
    bug_is_found_with("L13/grow", None, L13_FAILURE, Some(L13_COLUMNS), || {
        l13_growth(true)
    });
}

/// L13 (removal): the writer removes k2 (unlink, last reference, RCU
/// retire) while the burst may be standing on it: k1, behind it on the
/// chain, is always found; k2 may or may not be, but if it is, it stays
/// readable under the reader's guard (the model RCU reclaims at the
/// shortest legal grace period and panics on a freed entry).
fn l13_burst_lookup_vs_removal_fix_holds() {
    fix_holds("L13/remove", None, || {
        let (t, k1, k2, _) = setup();
        let reader = burst_reader(t.clone(), k1, k2);
        t.remove(k2, DEV).unwrap();
        let found = reader.join().unwrap();
        assert!(
            found[0],
            "the burst missed a key present throughout a removal"
        );
        teardown(&t);
    });
}

/// This file's tests, in row order.
pub fn tests() -> Vec<Test> {
    crate::tests![
        l13_burst_lookup_vs_growth_fix_holds,
        l13_burst_ignores_future_array_bug_is_found,
        l13_burst_lookup_vs_removal_fix_holds,
    ]
}
