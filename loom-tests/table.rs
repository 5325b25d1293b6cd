//! Race matrix L5, L6 and L8: creation, growth and refcounted lookup.

use crate::common::*;
use loom::sync::Arc;
use neighcache::variant::Rule;
use neighcache::{NudState, UpdateFlags};
use std::net::Ipv4Addr;

pub fn create_race(three: bool, broken: bool) {
    let t = Arc::new(table());
    t.break_rule(Rule::CreateRechecks, broken);
    let spawn_create = |t: Arc<neighcache::NeighTable<Ipv4Addr, TestOps>>| {
        loom::thread::spawn(move || {
            let h = t.lookup_or_create(KEY, DEV).unwrap();
            &*h as *const _ as usize
        })
    };
    let a = spawn_create(t.clone());
    let c = three.then(|| {
        let t3 = t.clone();
        loom::thread::spawn(move || {
            let g = t3.pin();
            let n = t3.lookup_or_create_noref(KEY, DEV, &g).unwrap();
            n as *const _ as usize
        })
    });
    let mine = {
        let h = t.lookup_or_create(KEY, DEV).unwrap();
        &*h as *const _ as usize
    };
    assert_eq!(a.join().unwrap(), mine, "two entries for one key");
    if let Some(c) = c {
        assert_eq!(c.join().unwrap(), mine, "two entries for one key");
    }
    assert_eq!(t.len(), 1);
    assert_eq!(t.stats().allocs, 1);
    assert_eq!(
        t.lookup(KEY, DEV).unwrap().refcnt(),
        2,
        "only the table's link (and this handle) remain"
    );
    t.flush_dev(None);
    assert_eq!(t.stats().destroys, 1);
}

/// L5's named failure.
pub const L5_FAILURE: &[&str] = &["two entries for one key"];
/// L6's named failure.
pub const L6_FAILURE: &[&str] = &["missed a present key during resize"];
/// Two CPUs, each creating the same key.
pub const TWO_CPUS: Columns = &[
    ("CPU0: __neigh_lookup (create)", Col::Thread(0)),
    ("CPU1: __neigh_lookup (create)", Col::Thread(1)),
];
/// L6: the growing creator and the lock-free reader.
pub const L6_COLUMNS: Columns = &[
    ("CPU0: __neigh_create → neigh_hash_grow", Col::Thread(0)),
    ("CPU1: lock-free reader", Col::Thread(1)),
];
/// L8: GC and the refcounted lookup.
pub const L8_COLUMNS: Columns = &[
    ("CPU0: neigh_periodic_work (GC)", Col::Thread(0)),
    ("CPU1: neigh_lookup (refcounted)", Col::Thread(1)),
];

/// L5, two threads: both `__neigh_lookup` the same new key at once.
fn l5_concurrent_create_same_key_fix_holds() {
    fix_holds("L5", None, || create_race(false, false));
}

/// L5 without the re-check under the table lock: two entries for one key.
fn l5_create_without_recheck_bug_is_found() {
    bug_is_found_with("L5", None, L5_FAILURE, Some(TWO_CPUS), || {
        create_race(false, true)
    });
}

/// L5, three threads (the third through the output path's noref create).
fn l5_concurrent_create_three_threads_fix_holds() {
    fix_holds("L5/3", Some(4), || create_race(true, false));
}

/// L6: `neigh_hash_grow` moves entries into a future bucket array (tail
/// first: linked there, then cut from the old chain) while a reader walks
/// an old chain: a present key is never missed, and the reader never
/// waits. The two keys share a bucket of the 2-bucket array and split in
/// the 4-bucket one, so a walk can follow a moved entry's `next` out of its
/// chain into a future one; a miss in the old array must continue in the
/// future array. `broken`: the reader does not look in the future array.
pub fn l6_scenario(broken: bool) {
    l6_with(broken.then_some(Rule::LookupFollowsFuture));
}

/// L6 with `rule` removed (if any).
fn l6_with(rule: Option<Rule>) {
    let t = Arc::new(table());
    if let Some(r) = rule {
        t.break_rule(r, true);
    }
    let (k1, _k2, k3) = splitting_keys(&t); // chain: k2 -> k1
    neighcache::trace::clear(); // the race (and its timeline) begins
    let t1 = t.clone();
    let a = loom::thread::spawn(move || {
        let g = t1.pin();
        assert!(
            t1.lookup_noref(k1, DEV, &g).is_some(),
            "missed a present key during resize"
        );
    });
    t.lookup_or_create(k3, DEV).unwrap(); // grows to 4 buckets
    a.join().unwrap();
    assert_eq!(t.stats().hash_grows, 1);
    t.flush_dev(None);
    let s = t.stats();
    assert_eq!(s.allocs, s.destroys);
}

fn l6_hash_grow_vs_lookup_noref_fix_holds() {
    fix_holds("L6", None, || l6_scenario(false));
}

/// L6 with a reader that trusts a miss in the array it loaded: a key
/// already moved to the future array is missed (the kernel's false miss
/// during `neigh_hash_grow`).
fn l6_reader_ignores_future_array_bug_is_found() {
    bug_is_found_with("L6", None, L6_FAILURE, Some(L6_COLUMNS), || {
        l6_scenario(true)
    });
}

/// L6 with a move that cuts the entry from the old chain before linking it
/// into the future one: for a moment it is in neither array.
fn l6_move_cuts_before_linking_bug_is_found() {
    bug_is_found_with("L6/move", None, L6_FAILURE, Some(L6_COLUMNS), || {
        l6_with(Some(Rule::MoveLinksFirst))
    });
}

/// L8: a refcounted `neigh_lookup` (inc-not-zero) against GC dropping the
/// last reference: it either gets a live entry or nothing, never a dying one,
/// and the entry is destroyed exactly once.
pub fn l8_scenario(broken: bool) {
    let t = Arc::new(table());
    t.break_rule(Rule::IncNotZero, broken);
    {
        let n = t.lookup_or_create(KEY, DEV).unwrap();
        t.update(&n, Some(&MAC_A), NudState::STALE, UpdateFlags::OVERRIDE)
            .unwrap();
    }
    t.run_timers(START + 10).unwrap();
    neighcache::trace::clear(); // the race (and its timeline) begins
    let t1 = t.clone();
    let a = loom::thread::spawn(move || {
        if let Some(h) = t1.lookup(KEY, DEV) {
            assert!(h.refcnt() >= 1);
            // Using it is safe even if GC unlinked it meanwhile.
            let _ = h.state();
        }
    });
    t.gc();
    a.join().unwrap();
    t.flush_dev(None);
    let s = t.stats();
    assert_eq!((s.allocs, s.destroys), (1, 1), "{s:?}");
}

fn l8_lookup_ref_vs_destroy_fix_holds() {
    fix_holds("L8", None, || l8_scenario(false));
}

/// L8 with a plain increment: the lookup revives an entry whose last
/// reference GC dropped; its release destroys it a second time.
fn l8_plain_increment_bug_is_found() {
    bug_is_found_with("L8", None, L8_FAILURES, Some(L8_COLUMNS), || {
        l8_scenario(true)
    });
}

/// The named failures of a reference taken from zero.
pub const L8_FAILURES: &[&str] = &[
    "neigh_destroy: double destroy",
    "rcu: double retire",
    "rcu: use after grace period",
];

/// This file's tests, in row order.
pub fn tests() -> Vec<Test> {
    crate::tests![
        l5_concurrent_create_same_key_fix_holds,
        l5_create_without_recheck_bug_is_found,
        l5_concurrent_create_three_threads_fix_holds,
        l6_hash_grow_vs_lookup_noref_fix_holds,
        l6_reader_ignores_future_array_bug_is_found,
        l6_move_cuts_before_linking_bug_is_found,
        l8_lookup_ref_vs_destroy_fix_holds,
        l8_plain_increment_bug_is_found,
    ]
}
