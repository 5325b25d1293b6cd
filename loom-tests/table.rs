//! Race matrix L5, L6 and L8: creation, growth and refcounted lookup.

mod common;
use common::*;
use loom::sync::Arc;
use neighcache::{NudState, UpdateFlags};
use std::net::Ipv4Addr;

fn create_race(three: bool) {
    let t = Arc::new(table());
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

/// L5, two threads: both `__neigh_lookup` the same new key at once.
#[test]
fn l5_concurrent_create_same_key_fix_holds() {
    fix_holds("L5", None, || create_race(false));
}

/// L5, three threads (the third through the output path's noref create).
#[test]
fn l5_concurrent_create_three_threads_fix_holds() {
    fix_holds("L5/3", Some(3), || create_race(true));
}

/// L6: `neigh_hash_grow` relinks entries into a new bucket array while a
/// reader walks an old chain: a present key is never missed. The two keys
/// share a bucket of the 2-bucket array and split in the 4-bucket one, so a
/// walk can follow a relinked `next` out of its chain (the kernel's false
/// miss); the lookup must notice the resize and retry.
#[test]
fn l6_hash_grow_vs_lookup_noref_fix_holds() {
    fix_holds("L6", None, || {
        let t = Arc::new(table());
        let top2 = |k: Ipv4Addr| t.key_hash(k, DEV) >> 30;
        let keys: Vec<Ipv4Addr> = (1..=255).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        let k1 = keys[0];
        let k2 = *keys
            .iter()
            .find(|&&k| top2(k) ^ top2(k1) == 1)
            .expect("a key splitting from k1");
        let k3 = *keys.iter().find(|&&k| k != k1 && k != k2).unwrap();
        t.lookup_or_create(k1, DEV).unwrap();
        t.lookup_or_create(k2, DEV).unwrap(); // chain: k2 -> k1
        assert_eq!(t.stats().hash_buckets, 2);
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
    });
}

/// L8: a refcounted `neigh_lookup` (inc-not-zero) against GC dropping the
/// last reference: it either gets a live entry or nothing, never a dying one,
/// and the entry is destroyed exactly once.
#[test]
fn l8_lookup_ref_vs_destroy_fix_holds() {
    fix_holds("L8", None, || {
        let t = Arc::new(table());
        {
            let n = t.lookup_or_create(KEY, DEV).unwrap();
            t.update(&n, Some(&MAC_A), NudState::STALE, UpdateFlags::OVERRIDE)
                .unwrap();
        }
        t.run_timers(START + 10).unwrap();
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
    });
}
