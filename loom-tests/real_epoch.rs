//! The L1 scenario against the real crossbeam-epoch (not the model RCU), to
//! show the RCU facade is faithful. Runs only when built with
//! `RUSTFLAGS="--cfg crossbeam_loom"` and `--features loom,crossbeam-epoch/loom`;
//! otherwise it lists no test.

mod common;
#[cfg(crossbeam_loom)]
use common::*;

#[cfg(crossbeam_loom)]
fn l1_real_epoch_fix_holds() {
    assert!(
        !neighcache::rcu::IS_MODEL,
        "built without --cfg crossbeam_loom"
    );
    fix_holds("L1/epoch", Some(3), || {
        dead_check_scenario(Act::Output, false)
    });
}

fn main() {
    #[cfg(crossbeam_loom)]
    let tests = crate::tests![l1_real_epoch_fix_holds];
    #[cfg(not(crossbeam_loom))]
    let tests = Vec::new();
    common::run_suite("loom against the real crossbeam-epoch", tests);
}
