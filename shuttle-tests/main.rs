//! The shuttle suite (SPEC.md §10), one binary:
//! `cargo test --release --features shuttle`. Each scenario is a module
//! (`s2_device_down::...`); `common/` holds the runner, the fixtures and
//! the checks. S1's bug search has a binary of its own
//! (`s1_seed_race_bug.rs`): shuttle's panic hook takes the configuration of
//! the first runner in the process.

mod common;

mod s1_seed_race;
mod s2_device_down;
mod s3_table_growth;
mod s4_timer_wheel;
mod s5_random_soak;
