//! The entry slab through the public API (SPEC.md §6, "The entry slab"):
//! memory a flood took comes back when the flood recedes
//! (`NeighStats::slab_bytes`), entries stay readable for their guard after
//! removal, and tables torn down with entries leaked or still retiring are
//! sound.

use crate::common::*;
use neighcache::{NudState, TableConfig, UpdateFlags};
use std::net::Ipv4Addr;

/// Bytes of one slab chunk (64 KiB, 511 entries).
const CHUNK: usize = 64 * 1024;

fn settle() {
    for _ in 0..200 {
        neighcache::rcu::barrier();
    }
}

/// Run deferred functions until `done` holds: crossbeam reclaims nothing
/// while any thread of this process (another test's) is pinned, so the
/// limit is time, and generous.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        neighcache::rcu::barrier();
        std::thread::yield_now();
    }
}

fn key(i: u32) -> Ipv4Addr {
    Ipv4Addr::from((10 << 24) | i)
}

#[test]
fn a_flood_that_recedes_gives_its_chunks_back() {
    let t = table_with(TableConfig {
        gc_thresh1: 16,
        gc_thresh2: 1 << 16,
        gc_thresh3: 1 << 16,
        seed: 42,
        ..TableConfig::default()
    });
    // The table's own neighbours: resolved, kept.
    for i in 0..1000 {
        let n = t.lookup_or_create(key(i), DEV).unwrap();
        t.update(&n, Some(&MAC_A), NudState::REACHABLE, UpdateFlags::OVERRIDE)
            .unwrap();
    }
    let before = t.stats().slab_bytes;
    assert!((1000 * 128..=4 * CHUNK).contains(&before), "{before}");
    // A scan: 20,000 unresolved destinations, nobody answers.
    for i in 1000..21_000 {
        t.resolve_output(key(i), DEV, pkt(u64::from(i)));
    }
    let peak = t.stats().slab_bytes;
    assert!(peak >= 21_000 * 128, "{peak}");
    advance_by_steps(&t, 4_000, 100); // every flood entry FAILED
    t.gc();
    let s = t.stats();
    assert_eq!(s.entries, 1000, "the flood was collected");
    assert_eq!(s.allocs - s.destroys, 1000);
    // The first chunks hold the kept entries; at most one spare beside them
    // once every return has run.
    wait_until("the flood's chunks back", || {
        t.stats().slab_bytes <= before + CHUNK
    });
    assert_eq!(s.packets_queued_now(), 0);
    let ev = t.ops().take();
    assert_eq!(
        TestOps::errors(&ev).len(),
        20_000,
        "every flood packet reported"
    );
    // The kept entries are intact.
    let g = t.pin();
    for i in 0..1000 {
        let n = t.lookup_noref(key(i), DEV, &g).unwrap();
        assert_eq!(n.key(), key(i));
        assert_eq!(n.lladdr().unwrap().as_bytes(), &MAC_A);
    }
}

#[test]
fn a_removed_entry_stays_readable_for_its_guard_and_its_cell_is_not_reused_meanwhile() {
    let t = table();
    let n = t.lookup_or_create(ip(1), DEV).unwrap();
    t.update(&n, Some(&MAC_A), NudState::REACHABLE, UpdateFlags::OVERRIDE)
        .unwrap();
    drop(n);
    let g = t.pin();
    let e = t.lookup_noref(ip(1), DEV, &g).unwrap();
    let addr = e as *const _ as usize;
    t.remove(ip(1), DEV).unwrap();
    // Other creates meanwhile cannot be handed the removed entry's cell.
    for i in 2..200 {
        let h = t.lookup_or_create(ip(i), DEV).unwrap();
        assert_ne!(&*h as *const _ as usize, addr);
    }
    settle();
    assert_eq!(e.key(), ip(1));
    assert_eq!(e.state(), NudState::FAILED, "remove's last word");
    assert!(e.is_dead());
    drop(g);
    settle();
    let s = t.stats();
    assert_eq!(s.allocs - s.destroys, s.entries as u64);
}

#[test]
fn a_forgotten_handle_leaks_its_entry_and_teardown_stays_sound() {
    let t = table();
    for i in 1..100 {
        t.resolve_output(ip(i), DEV, pkt(u64::from(i)));
    }
    let h = t.lookup(ip(7), DEV).unwrap();
    std::mem::forget(h);
    let g = t.pin();
    let e = t.lookup_noref(ip(8), DEV, &g).unwrap();
    assert_eq!(e.key(), ip(8));
    drop(g);
    drop(t); // the forgotten reference keeps ip(7)'s entry (and chunk) alive
    settle();
}

/// A table dropped in the middle of a grow: both bucket arrays (the
/// current one and the future one, 2 KiB and 4 KiB boxes at this size, so
/// valgrind's leak check sees them) and every entry, in either array, are
/// freed, with the packets queued on them (the teardown's flush discards
/// them; valgrind sees none leak). 256 buckets hold 128
/// entries; the 129th starts a grow to 512, and one create moves 4 of the
/// 256 buckets, so the grow is in progress when the table goes.
#[test]
fn a_table_dropped_in_the_middle_of_a_grow_frees_both_arrays() {
    let t = table_with(TableConfig {
        initial_hash_shift: 8,
        seed: 5,
        ..TableConfig::default()
    });
    for i in 1..=129 {
        t.resolve_output(key(i), DEV, pkt(u64::from(i)));
    }
    let s = t.stats();
    assert_eq!((s.hash_grows, s.hash_buckets, s.entries), (1, 512, 129));
    let g = t.pin();
    assert!((1..=129).all(|i| t.lookup_noref(key(i), DEV, &g).is_some()));
    drop(g);
    assert_eq!(t.stats().packets_queued_now(), 129, "one packet per entry");
    drop(t); // valgrind: nothing of either array or of an entry leaks
    settle();
}

#[test]
fn tables_dropped_while_their_entries_wait_for_the_grace_period() {
    let reader = neighcache::rcu::pin();
    for round in 0..4u8 {
        let t = table();
        for i in 1..=250 {
            let n = t.lookup_or_create(ip(i), DEV).unwrap();
            t.update(&n, Some(&MAC_B), NudState::STALE, UpdateFlags::OVERRIDE)
                .unwrap();
        }
        let s = t.stats();
        assert_eq!(s.entries, 250, "round {round}");
        drop(t); // every entry retired; `reader` holds their grace period
    }
    drop(reader);
    settle();
}
