//! L1 and L8 against the real crossbeam-epoch (not the model RCU), to show
//! the RCU facade is faithful. Runs only when built with
//! `RUSTFLAGS="--cfg crossbeam_loom"` and `--features loom,crossbeam-epoch/loom`;
//! otherwise it lists no test.
//!
//! * L1/epoch: the noref path (the 2015 race, fixed).
//! * L8/epoch: the refcounted lookup (its Relaxed increment-if-not-zero,
//!   SPEC.md §16) against GC dropping the last reference: the entry is found
//!   under a real epoch guard and destroyed once, through crossbeam's own
//!   pin and deferred free.

mod common;
#[cfg(crossbeam_loom)]
use common::*;
// L8's scenario (the main binary's row), compiled here against the real
// epoch; its other tests are not registered.
#[cfg(crossbeam_loom)]
#[allow(dead_code)]
mod table;

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

#[cfg(crossbeam_loom)]
fn l8_real_epoch_fix_holds() {
    assert!(
        !neighcache::rcu::IS_MODEL,
        "built without --cfg crossbeam_loom"
    );
    fix_holds("L8/epoch", Some(3), || table::l8_scenario(false));
}

fn main() {
    #[cfg(crossbeam_loom)]
    let tests = crate::tests![l1_real_epoch_fix_holds, l8_real_epoch_fix_holds];
    #[cfg(not(crossbeam_loom))]
    let tests = Vec::new();
    common::run_suite("loom against the real crossbeam-epoch", tests);
}
