//! # neighcache
//!
//! A neighbour cache (IPv4 ARP / IPv6 NDP resolution) for user-space network
//! stacks, built like Linux's `net/core/neighbour.c`, and a model-checked
//! specification of the race that kernel commit 2c51a97f76d2 ("neigh: do not
//! modify unlinked entries", 2015) fixed.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub(crate) mod sync;

pub mod rcu;
pub mod timer;
