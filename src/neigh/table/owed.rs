//! Panic safety: what the cache still owes once it has let go of its locks.
//!
//! Callbacks ([`NeighOps`](super::NeighOps)) run with no cache lock held, and
//! a callback may panic. The panic propagates to the caller, but the table's
//! books must still balance afterwards (SPEC.md §3, "Panic safety"): every
//! packet counted exactly once, every reference released, so that
//! `allocs == destroys` after teardown. The two guards here carry that debt
//! across the calls into user code; dropping them during an unwind settles
//! it **without calling user code again** (a second panic while unwinding
//! would abort the process):
//!
//! * [`Held`] owns one counted reference and releases it when dropped.
//! * `LenPanic` counts a packet whose `Packet::len` panicked in
//!   `event_send` (as queued, then `Unwound`).
//! * [`Owed`] owns packets taken off an entry's queue; on the normal path
//!   they are delivered one at a time, and whatever is left when it drops is
//!   counted as [`DropReason::Unwound`].
//!
//! `NeighTable::drop_pkt` is the one place a dropped packet is counted and
//! handed to the ops; while the thread is panicking it counts the packet as
//! `Unwound` instead of calling the ops. This module owns those guards and
//! that function, and nothing else.

use super::{Entry, NeighTable, Pkt};
use crate::neigh::lladdr::Hh;
use crate::neigh::stats::C;
use crate::neigh::{DropReason, NeighKey, NeighOps};
use std::collections::VecDeque;

/// One counted reference to `n`, released (`neigh_release`) when dropped.
pub(crate) struct Held<'a, K: NeighKey, O: NeighOps<K>> {
    table: &'a NeighTable<K, O>,
    n: &'a Entry<K, O>,
}

impl<'a, K: NeighKey, O: NeighOps<K>> Held<'a, K, O> {
    /// Take over a reference the caller owns.
    pub(crate) fn adopt(table: &'a NeighTable<K, O>, n: &'a Entry<K, O>) -> Self {
        Held { table, n }
    }
}

impl<K: NeighKey, O: NeighOps<K>> Drop for Held<'_, K, O> {
    fn drop(&mut self) {
        self.table.release(self.n);
    }
}

/// Packets taken off `n`'s queue that the cache must still deliver or
/// report. Each is counted when it is handed over; what is left when the
/// guard drops (a callback panicked) is counted as `Unwound` and dropped.
pub(crate) struct Owed<'a, K: NeighKey, O: NeighOps<K>> {
    table: &'a NeighTable<K, O>,
    n: &'a Entry<K, O>,
    pkts: VecDeque<(usize, Pkt<K, O>)>,
}

impl<'a, K: NeighKey, O: NeighOps<K>> Owed<'a, K, O> {
    /// Packets of `n` (with their queued lengths), now owed.
    pub(crate) fn new(
        table: &'a NeighTable<K, O>,
        n: &'a Entry<K, O>,
        pkts: VecDeque<(usize, Pkt<K, O>)>,
    ) -> Self {
        Owed { table, n, pkts }
    }

    /// Is anything owed?
    pub(crate) fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }

    /// Hand every packet to the ops as a drop for `reason`
    /// (`error_report` for a resolution failure, else `discard`).
    pub(crate) fn report(mut self, reason: DropReason) {
        while let Some((_, p)) = self.pkts.pop_front() {
            self.table.drop_pkt(self.n, p, reason);
        }
    }

    /// Transmit every packet with `hh`, in queue order (the flush after
    /// resolution), counting each as `flushed`.
    pub(crate) fn flush(mut self, hh: &Hh) {
        while let Some((_, p)) = self.pkts.pop_front() {
            self.table.stats.inc(C::FLUSHED);
            self.table.ops.transmit(self.n.dev, hh.as_bytes(), p);
        }
    }
}

impl<K: NeighKey, O: NeighOps<K>> Drop for Owed<'_, K, O> {
    fn drop(&mut self) {
        // Non-empty only when a callback panicked part-way: count the rest,
        // drop them, and call nothing.
        if !self.pkts.is_empty() {
            self.table
                .stats
                .drop_pkts(DropReason::Unwound, self.pkts.len());
            self.pkts.clear();
        }
    }
}

/// Counts the packet whose `Packet::len` panicked in `event_send` (dropped
/// only if that call unwinds; forgotten otherwise).
pub(super) struct LenPanic<'a, K: NeighKey, O: NeighOps<K>>(pub(super) &'a NeighTable<K, O>);

impl<K: NeighKey, O: NeighOps<K>> Drop for LenPanic<'_, K, O> {
    fn drop(&mut self) {
        self.0.stats.inc(C::QUEUED);
        self.0.stats.drop_pkt(DropReason::Unwound);
    }
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// Hand a dropped packet to the ops and count it. While the thread is
    /// unwinding (from a panicking callback, or the caller's own panic) the
    /// ops are not called: the packet is counted as `Unwound` (and, if it
    /// was never queued, as queued) and dropped (SPEC.md §3).
    pub(crate) fn drop_pkt(&self, n: &Entry<K, O>, pkt: Pkt<K, O>, reason: DropReason) {
        if std::thread::panicking() {
            self.stats.drop_unwound(reason);
            drop(pkt);
            return;
        }
        self.stats.drop_pkt(reason);
        if reason == DropReason::ResolutionFailed {
            self.ops.error_report(n.dev, &n.key, pkt);
        } else {
            self.ops.discard(n.dev, &n.key, pkt, reason);
        }
    }
}
