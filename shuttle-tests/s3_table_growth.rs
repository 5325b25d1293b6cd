//! S3: table growth (`neigh_hash_grow`) under concurrent create, lookup and
//! remove.
//!
//! The table starts with 2 buckets and one PERMANENT entry P, so creating
//! keys 2..=5 grows it twice (to 4, then 8 buckets). Three model threads:
//!
//! * **creator 1** creates keys 2, 3, 4, 5 (`lookup_or_create`), marking each
//!   "created" once the call returned;
//! * **creator 2** creates keys 5, 4, 3, 2 (the same keys, the other way
//!   round: every key has two racing creators) and then removes keys 2 and
//!   3 (`remove`, as `ip neigh del`);
//! * a **reader** does `lookup_noref` three times over: P must always be
//!   found, and so must every key 4 or 5 already marked created (those are
//!   never removed), whatever bucket array the reader loaded.
//!
//! After the threads join: every key is linked at most once (no duplicate
//! entries for one key), P, 4 and 5 are present, the quiescent invariants
//! hold, and teardown destroys every entry allocated.

use crate::common;

use common::*;
use shuttle::thread;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn growth() {
    let log = Log::new();
    let t = table_with(test_config(), &log);
    let p = ip(1);
    t.add_permanent(p, DEV, &MAC_A).expect("permanent P");
    assert_eq!(t.stats().hash_buckets, 2);
    let t = Arc::new(t);
    // created[i]: ip(i) was created (its creating call returned).
    let created: Arc<[AtomicBool; 6]> = Arc::new(Default::default());

    let creator = |order: [u8; 4], remove: &'static [u8]| {
        let (t, created) = (t.clone(), created.clone());
        thread::spawn(move || {
            for i in order {
                drop(t.lookup_or_create(ip(i), DEV).expect("create"));
                created[i as usize].store(true, Ordering::Relaxed);
            }
            for &i in remove {
                // NotFound if the other thread has not created it yet.
                let _ = t.remove(ip(i), DEV);
            }
        })
    };
    let c1 = creator([2, 3, 4, 5], &[]);
    let c2 = creator([5, 4, 3, 2], &[2, 3]);
    let reader = {
        let (t, created) = (t.clone(), created.clone());
        thread::spawn(move || {
            for _ in 0..3 {
                let g = t.pin();
                assert!(
                    t.lookup_noref(p, DEV, &g).is_some(),
                    "lookup_noref missed the present key P"
                );
                for i in [4u8, 5] {
                    // Read the flag before looking: if it is set, the entry
                    // was linked before this lookup started.
                    if created[i as usize].load(Ordering::Relaxed) {
                        let n = t.lookup_noref(ip(i), DEV, &g);
                        assert!(
                            n.is_some_and(|n| n.key() == ip(i)),
                            "lookup_noref missed present key {}",
                            ip(i)
                        );
                    }
                }
            }
        })
    };
    for h in [c1, c2, reader] {
        h.join().expect("model thread");
    }
    let t = Arc::into_inner(t).expect("threads joined");
    for i in [1u8, 4, 5] {
        assert!(t.lookup(ip(i), DEV).is_some(), "key {} missing", ip(i));
    }
    let s = t.stats();
    assert!(s.hash_grows >= 1, "the table never grew: {s:?}");
    // `quiescent_checks` (inside `teardown_checks`) asserts that no key is
    // linked twice and that every allocated entry is linked.
    teardown_checks(t, &log);
}

#[test]
fn s3_table_growth_create_lookup_remove() {
    check_pass("S3 table growth", growth, iters(50_000), 3);
}
