//! # neighcache
//!
//! A neighbour cache (IPv4 ARP / IPv6 NDP resolution) for user-space network
//! stacks, built like Linux's `net/core/neighbour.c`, and a model-checked
//! specification of the race that kernel commit 2c51a97f76d2 ("neigh: do not
//! modify unlinked entries", 2015) fixed.
//!
//! The README's usage example runs as a doctest (default build only; under
//! the model features the primitives only work inside a model run).
#![cfg_attr(not(any(feature = "loom", feature = "shuttle")), doc = include_str!("../README.md"))]
#![deny(unsafe_op_in_unsafe_fn)]
// docs.rs (`--cfg docsrs`, nightly): label feature-gated items.
#![cfg_attr(docsrs, feature(doc_cfg))]
// The model features are for the test suites, not for users: no label.
#![cfg_attr(docsrs, doc(auto_cfg(hide(feature = "loom", feature = "shuttle"))))]
#![warn(missing_docs)]

/// A model-only trace point (`trace.rs`): `ktrace!("kernel_function", "format", args)`.
/// Expands to nothing in a default build (the arguments are not compiled).
macro_rules! ktrace {
    ($func:expr, $($arg:tt)+) => {
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        {
            if $crate::trace::on() {
                $crate::trace::record($func, format!($($arg)+));
            }
        }
    };
}

pub(crate) mod sync;

pub mod clock;
pub mod error;
pub mod neigh;
#[cfg(all(
    feature = "netlink",
    target_os = "linux",
    not(any(feature = "loom", feature = "shuttle"))
))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "netlink", target_os = "linux"))))]
pub mod netlink;
pub mod parms;
#[cfg(all(feature = "proto", not(any(feature = "loom", feature = "shuttle"))))]
#[cfg_attr(docsrs, doc(cfg(feature = "proto")))]
pub mod proto;
pub mod rcu;
pub mod timer;
/// Model builds only: the kernel-named trace (`docs/race-walkthrough.md`).
#[cfg(any(feature = "loom", feature = "shuttle"))]
#[doc(hidden)]
pub mod trace;
/// Model builds only: the broken variants of the race matrix (SPEC.md §8).
#[cfg(any(feature = "loom", feature = "shuttle"))]
#[doc(hidden)]
pub mod variant;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub(crate) mod variant;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use error::NeighError;
pub use neigh::{
    Applied, DevId, DeviceConfig, DropReason, EventFilter, EventKind, EventReceiver, EventSend,
    GcReport, LinkHeader, LlAddr, NeighEvent, NeighFlags, NeighHandle, NeighInfo, NeighKey,
    NeighOps, NeighStats, NeighTable, Neighbour, NudState, Packet, Probe, Received, TimersView,
    UpdateFlags, Xmit, TIMER_RUN_LIMIT,
};
#[cfg(all(feature = "tokio", not(any(feature = "loom", feature = "shuttle"))))]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use neigh::{DriverError, DriverStats, TokioTimers, DEFAULT_RECHECK};
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub use neigh::{TimerTarget, TimerThread};
pub use parms::{ConfigError, NeighParms, TableConfig, HZ};
pub use timer::{Tick, MAX_TICK};
