//! S1 (fixed code): the seed's race inside a full system passes under PCT
//! and random scheduling. Scenario: `common/s1.rs`.

use crate::common;

#[test]
fn s1_seed_race_fixed() {
    common::check_pass(
        "S1 fix",
        || common::s1::seed_race(false),
        common::iters(50_000),
        3,
    );
}
