//! The L1 scenario against the real crossbeam-epoch (not the model RCU), to
//! show the RCU facade is faithful. Compiled only with
//! `RUSTFLAGS="--cfg crossbeam_loom"` and `--features loom,crossbeam-epoch/loom`.
#![cfg(crossbeam_loom)]

mod common;
use common::*;

#[test]
fn l1_real_epoch_fix_holds() {
    assert!(
        !neighcache::rcu::IS_MODEL,
        "built without --cfg crossbeam_loom"
    );
    fix_holds("L1/epoch", Some(3), || {
        dead_check_scenario(Act::Output, false)
    });
}
