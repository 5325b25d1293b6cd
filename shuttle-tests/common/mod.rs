//! Shared helpers for the shuttle scenarios (`shuttle-tests/*.rs`).
//!
//! One file per role:
//!
//! * `log`: [`Log`], [`Pkt`], [`TestOps`]: the packet log (exactly-once
//!   delivery, no packet leaked).
//! * `fixtures`: devices, addresses, [`test_config`], [`table_with`],
//!   [`advance_to`].
//! * `checks`: [`quiescent_checks`], [`teardown_checks`].
//! * `runner`: [`check_pass`], [`find_bug`].
//! * `s1`: the S1 scenario (the seed's race), shared by the fixed and bug
//!   tests.
//!
//! Vocabulary shared by every test suite (`tests/`, `loom-tests/`,
//! `shuttle-tests/`, `benches/`): `DEV`/`DEV2` devices, `SRC_MAC` ours,
//! `MAC_A`/`MAC_B` peers, `Pkt` packets, `TestOps` the recording device
//! side, `test_config()`, `table()`/`table_with(cfg)`, `advance_by(t, dt)` /
//! `advance_to(t, now)`.
#![allow(dead_code)]

mod checks;
mod fixtures;
mod log;
mod runner;
pub mod s1;

pub use checks::*;
pub use fixtures::*;
pub use log::*;
pub use runner::*;
