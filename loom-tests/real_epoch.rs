//! The L1 scenario against the real crossbeam-epoch (not the model RCU), to
//! show the RCU facade is faithful. Compiled only with
//! `RUSTFLAGS="--cfg crossbeam_loom"` and `--features loom,crossbeam-epoch/loom`.
#![cfg(crossbeam_loom)]

mod common;
use common::*;
use loom::sync::Arc;
use neighcache::{NudState, UpdateFlags};

#[test]
fn l1_real_epoch_fix_holds() {
    assert!(
        !neighcache::rcu::IS_MODEL,
        "built without --cfg crossbeam_loom"
    );
    fix_holds("L1/epoch", Some(3), || {
        let t = Arc::new(table(tiny_config()));
        {
            let n = t.lookup_or_create(KEY, DEV).unwrap();
            t.update(&n, Some(&MAC), NudState::STALE, UpdateFlags::OVERRIDE)
                .unwrap();
        }
        t.run_timers(START + 10).unwrap();
        let t1 = t.clone();
        let a = loom::thread::spawn(move || {
            let g = t1.pin();
            if let Some(n) = t1.lookup_noref(KEY, DEV, &g) {
                t1.output(n, Pkt(1), &g);
            }
        });
        t.gc();
        a.join().unwrap();
        run_all_timers(&t);
        t.flush_dev(None);
        let s = t.stats();
        assert_eq!(s.allocs, s.destroys);
        assert_eq!(t.timer_wheel().pending(), 0);
    });
}
