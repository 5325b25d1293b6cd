//! The default-build integration tests, one binary (`cargo test --test it`),
//! one module per suite. A test's name is `suite::test`, so
//! `cargo test --test it misuse` runs the four misuse suites and
//! `cargo test --test it nud_update::` one suite.
//!
//! Under `--features loom` or `--features shuttle` this binary is empty: the
//! model checkers have their own (`loom-tests/`, `shuttle-tests/`). Two
//! suites live in binaries of their own for a reason: `tests/hot_path_alloc.rs`
//! installs a counting global allocator, and `tests/kernel_peer/` needs root
//! and network namespaces.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

// ----- fixtures ------------------------------------------------------------
/// The recording device side, table builders, the misuse adversary.
mod common;
/// The independent reference model of Linux 6.x (used by `cache_model`).
mod model;
/// Protocol-layer fixtures: a frame sink, hosts, captured kernel frames.
#[cfg(feature = "proto")]
mod proto_common;

// ----- the NUD state machine and the table, against Linux 6.x -----------------
mod exact_image;
mod nud_events;
mod nud_features;
mod nud_table;
mod nud_transitions;
mod nud_update;
mod probing;
mod update_rules;

// ----- model-based and stress ----------------------------------------------
mod api_state_machine;
mod cache_model;
mod cache_stress;
mod entry_slab;

// ----- misuse: the API as an adversary calls it ----------------------------
mod misuse;
mod misuse_callbacks;
mod misuse_limits;
mod misuse_reentry;

// ----- the timer wheel ------------------------------------------------------
mod timer_budget;
mod timer_model;
mod timer_stress;
mod timer_wheel;

// ----- timer drivers (feature `tokio`) ----------------------------------------
mod tokio_driver;

// ----- the protocol layer (feature `proto`) ---------------------------------
mod proto_arp;
mod proto_fuzz;
mod proto_ndisc;
mod proto_proxy;
mod proto_router;
mod proto_wire;
mod proxy_entries;
