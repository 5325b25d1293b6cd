//! Statistics counters (`struct neigh_statistics`), kept per thread shard so
//! that counting never makes two threads write the same cache line.
//!
//! The counters are `sync::plain` atomics: they order nothing, so the model
//! checkers need not explore them. A [`NeighStats`] is a snapshot summed over
//! the shards. This module owns the counters only.

use crate::sync::plain::AtomicU64;
use crate::sync::CachePadded;
use std::sync::atomic::Ordering;

/// Why a packet was dropped. Every packet handed to the cache is transmitted,
/// queued, or dropped with one of these reasons (and counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The unresolved queue was over `unres_qlen`/`unres_qlen_bytes`; the
    /// oldest packet was dropped (`unres_discards`).
    QueueOverflow,
    /// Resolution failed; the packet went to `error_report` (`res_failed`).
    ResolutionFailed,
    /// The entry had been removed from the table (the 2015 fix's path).
    Dead,
    /// The device went down (`flush_dev`) or the table was torn down.
    DeviceDown,
    /// The entry was destroyed with packets still queued (it was removed
    /// while a holder kept it alive, then released).
    Destroyed,
    /// No entry could be created: the table is full.
    TableFull,
    /// The device is not registered.
    UnknownDevice,
    /// The entry is FAILED with no probes configured to retry.
    Failed,
    /// The entry passed to an output call belongs to another table.
    ForeignEntry,
    /// The packet was in the cache's hands when an [`NeighOps`] callback
    /// (or the packet's own `Packet::len`) panicked: the unwind dropped it
    /// without calling the ops again (SPEC.md §3, "Panic safety").
    ///
    /// [`NeighOps`]: crate::NeighOps
    Unwound,
}

impl DropReason {
    const ALL: [DropReason; 10] = [
        DropReason::QueueOverflow,
        DropReason::ResolutionFailed,
        DropReason::Dead,
        DropReason::DeviceDown,
        DropReason::Destroyed,
        DropReason::TableFull,
        DropReason::UnknownDevice,
        DropReason::Failed,
        DropReason::ForeignEntry,
        DropReason::Unwound,
    ];
    fn idx(self) -> usize {
        C::DROP_BASE + self as usize
    }

    /// Is this a drop of a packet that was never queued (counted in
    /// [`NeighStats::dropped_before_queue`])?
    fn before_queue(self) -> bool {
        matches!(
            self,
            DropReason::Dead
                | DropReason::TableFull
                | DropReason::UnknownDevice
                | DropReason::Failed
                | DropReason::ForeignEntry
        )
    }
}

/// Counter indices.
pub(crate) struct C;
impl C {
    pub(crate) const ALLOCS: usize = 0;
    pub(crate) const DESTROYS: usize = 1;
    pub(crate) const HASH_GROWS: usize = 2;
    pub(crate) const RES_FAILED: usize = 3;
    pub(crate) const LOOKUPS: usize = 4;
    pub(crate) const HITS: usize = 5;
    pub(crate) const PERIODIC_GC_RUNS: usize = 6;
    pub(crate) const FORCED_GC_RUNS: usize = 7;
    pub(crate) const TABLE_FULLS: usize = 8;
    pub(crate) const SENT: usize = 9;
    pub(crate) const QUEUED: usize = 10;
    pub(crate) const FLUSHED: usize = 11;
    pub(crate) const SOLICITS: usize = 12;
    pub(crate) const HASH_RESEEDS: usize = 13;
    pub(crate) const SOLICITS_RATELIMITED: usize = 14;
    pub(crate) const EVENTS_LOST: usize = 15;
    pub(crate) const PERIODIC_GC_SCANNED: usize = 16;
    pub(crate) const TIMER_RUNS_CUT: usize = 17;
    pub(crate) const TIMERS_DEFERRED: usize = 18;
    pub(crate) const DROP_BASE: usize = 19;
    const N: usize = Self::DROP_BASE + DropReason::ALL.len();
}

#[derive(Default)]
struct Shard {
    c: [AtomicU64; C::N],
}

/// The table's counters.
pub(crate) struct Stats {
    shards: Box<[CachePadded<Shard>]>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        let n = crate::sync::plain::shard_count();
        Stats {
            shards: (0..n).map(|_| CachePadded::new(Shard::default())).collect(),
        }
    }

    #[inline]
    pub(crate) fn add(&self, counter: usize, n: u64) {
        // The shard count is a power of two.
        let shard = &self.shards[crate::sync::plain::thread_shard() & (self.shards.len() - 1)];
        // Relaxed: a statistic; it orders nothing and readers sum a snapshot.
        shard.c[counter].fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn inc(&self, counter: usize) {
        self.add(counter, 1);
    }

    pub(crate) fn drop_pkt(&self, reason: DropReason) {
        self.inc(reason.idx());
    }

    /// Count a packet that would have been dropped for `reason` but, the
    /// thread unwinding, is dropped without a callback: as `Unwound`. A
    /// packet that was never queued is counted as queued first, or
    /// `packets_out` would exceed `packets_in` (`Unwound` is a drop from a
    /// queue). Found by `tests/it/misuse_reentry.rs::
    /// output_while_the_caller_unwinds_keeps_the_books`: an output call made
    /// from a `Drop` during an unwind, with a dead or foreign entry, counted
    /// an `Unwound` drop for a packet never counted in, and
    /// `packets_queued_now()` underflowed.
    pub(crate) fn drop_unwound(&self, reason: DropReason) {
        if reason.before_queue() {
            self.inc(C::QUEUED);
        }
        self.drop_pkt(DropReason::Unwound);
    }

    /// Count `n` packets dropped for `reason`.
    pub(crate) fn drop_pkts(&self, reason: DropReason, n: usize) {
        self.add(reason.idx(), n as u64);
    }

    fn sum(&self, counter: usize) -> u64 {
        // Relaxed: see `add`.
        self.shards
            .iter()
            .map(|s| s.c[counter].load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn snapshot(
        &self,
        entries: usize,
        hash_buckets: usize,
        slab_bytes: usize,
    ) -> NeighStats {
        NeighStats {
            entries,
            hash_buckets,
            slab_bytes,
            allocs: self.sum(C::ALLOCS),
            destroys: self.sum(C::DESTROYS),
            hash_grows: self.sum(C::HASH_GROWS),
            res_failed: self.sum(C::RES_FAILED),
            lookups: self.sum(C::LOOKUPS),
            hits: self.sum(C::HITS),
            periodic_gc_runs: self.sum(C::PERIODIC_GC_RUNS),
            periodic_gc_scanned: self.sum(C::PERIODIC_GC_SCANNED),
            forced_gc_runs: self.sum(C::FORCED_GC_RUNS),
            table_fulls: self.sum(C::TABLE_FULLS),
            sent: self.sum(C::SENT),
            queued: self.sum(C::QUEUED),
            flushed: self.sum(C::FLUSHED),
            solicits: self.sum(C::SOLICITS),
            hash_reseeds: self.sum(C::HASH_RESEEDS),
            solicits_ratelimited: self.sum(C::SOLICITS_RATELIMITED),
            events_lost: self.sum(C::EVENTS_LOST),
            timer_runs_cut: self.sum(C::TIMER_RUNS_CUT),
            timers_deferred: self.sum(C::TIMERS_DEFERRED),
            unres_discards: self.sum(DropReason::QueueOverflow.idx()),
            dropped_res_failed: self.sum(DropReason::ResolutionFailed.idx()),
            dropped_dead: self.sum(DropReason::Dead.idx()),
            dropped_device_down: self.sum(DropReason::DeviceDown.idx()),
            dropped_destroyed: self.sum(DropReason::Destroyed.idx()),
            dropped_table_full: self.sum(DropReason::TableFull.idx()),
            dropped_unknown_device: self.sum(DropReason::UnknownDevice.idx()),
            dropped_failed: self.sum(DropReason::Failed.idx()),
            dropped_foreign: self.sum(DropReason::ForeignEntry.idx()),
            dropped_unwound: self.sum(DropReason::Unwound.idx()),
        }
    }
}

/// A snapshot of the table's counters (`/proc/net/stat/arp_cache` plus packet
/// accounting).
///
/// Packet accounting: every packet given to an output call is counted exactly
/// once as `sent` (transmitted at once), `queued`, or one of the drops that
/// happen before queueing ([`NeighStats::dropped_before_queue`]). Every queued
/// packet later counts exactly once as `flushed` (transmitted after
/// resolution) or as a drop from the queue ([`NeighStats::dropped_from_queue`]).
/// So `queued - flushed - dropped_from_queue()` packets are still queued, and
/// it is zero once every entry is resolved, failed or destroyed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighStats {
    /// Entries currently allocated and not yet destroyed.
    pub entries: usize,
    /// Current number of hash buckets.
    pub hash_buckets: usize,
    /// Bytes the entry slab holds from the system now: its chunks, in
    /// use or kept as the one spare (SPEC.md §6). Entries take 128 bytes
    /// of it each; the rest is free cells (partly used chunks) and chunk
    /// headers. 0 in the model-checking builds, which allocate entries one
    /// by one.
    pub slab_bytes: usize,
    /// Entries allocated.
    pub allocs: u64,
    /// Entries destroyed (reference count reached zero).
    pub destroys: u64,
    /// Times the hash table grew.
    pub hash_grows: u64,
    /// Resolutions that failed (INCOMPLETE/PROBE -> FAILED).
    pub res_failed: u64,
    /// Refcounted lookups (`neigh_lookup`); `lookup_noref` counts nothing, as
    /// in the kernel.
    pub lookups: u64,
    /// Refcounted lookups that found an entry.
    pub hits: u64,
    /// Periodic GC passes started (by `run_timers` or `gc`).
    pub periodic_gc_runs: u64,
    /// Entries the periodic GC passes examined. `run_timers` runs a pass
    /// in steps: one call adds at most 1,024 here unless a single hash
    /// bucket holds more (SPEC.md §9).
    pub periodic_gc_scanned: u64,
    /// Forced GC passes.
    pub forced_gc_runs: u64,
    /// Creates refused at `gc_thresh3`.
    pub table_fulls: u64,
    /// Packets transmitted directly with the entry's header.
    pub sent: u64,
    /// Packets put on an unresolved queue.
    pub queued: u64,
    /// Queued packets transmitted after resolution.
    pub flushed: u64,
    /// Solicitations (probes) sent.
    pub solicits: u64,
    /// Probes not sent because the table-wide solicitation bucket
    /// (`TableConfig::solicit_rate`) was empty.
    pub solicits_ratelimited: u64,
    /// Events dropped because a subscriber's queue was full (summed over
    /// subscribers).
    pub events_lost: u64,
    /// `run_timers` calls that stopped at
    /// [`TIMER_RUN_LIMIT`](crate::TIMER_RUN_LIMIT) with entry timers still
    /// due (SPEC.md §7, "Run budget").
    pub timer_runs_cut: u64,
    /// Entry timers that fired at a later `run_timers` call than the first
    /// one they were due by, because that call stopped at its budget: each
    /// fired late by one or more whole calls, never early.
    pub timers_deferred: u64,
    /// Times the table re-keyed its hash because a chain grew long
    /// (SPEC.md §5, "Hash seeding").
    pub hash_reseeds: u64,
    /// Queued packets dropped for queue overflow (`unres_discards`).
    pub unres_discards: u64,
    /// Queued packets reported through `error_report` when resolution failed.
    pub dropped_res_failed: u64,
    /// Queued packets dropped by a device flush or table teardown.
    pub dropped_device_down: u64,
    /// Queued packets dropped when their (removed) entry was destroyed.
    pub dropped_destroyed: u64,
    /// Packets refused because their entry had been removed (never queued).
    pub dropped_dead: u64,
    /// Packets refused because no entry could be created (table full).
    pub dropped_table_full: u64,
    /// Packets for an unregistered device.
    pub dropped_unknown_device: u64,
    /// Packets refused on an entry that failed and cannot probe.
    pub dropped_failed: u64,
    /// Packets refused because the entry belongs to another table.
    pub dropped_foreign: u64,
    /// Packets dropped without a callback while the thread unwound (from
    /// a panicking callback or `Packet::len`, or the caller's own panic).
    /// One that had not been queued yet also counts in `queued`, so this is
    /// always a drop from a queue in the identities below.
    pub dropped_unwound: u64,
}

impl NeighStats {
    /// Drops of packets that had been queued.
    pub fn dropped_from_queue(&self) -> u64 {
        self.unres_discards
            + self.dropped_res_failed
            + self.dropped_device_down
            + self.dropped_destroyed
            + self.dropped_unwound
    }

    /// Drops of packets refused before queueing.
    pub fn dropped_before_queue(&self) -> u64 {
        self.dropped_dead
            + self.dropped_table_full
            + self.dropped_unknown_device
            + self.dropped_failed
            + self.dropped_foreign
    }

    /// All dropped packets, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_from_queue() + self.dropped_before_queue()
    }

    /// Packets handed to the cache's output calls.
    pub fn packets_in(&self) -> u64 {
        self.sent + self.queued + self.dropped_before_queue()
    }

    /// Packets that left the cache: transmitted, flushed or dropped.
    pub fn packets_out(&self) -> u64 {
        self.sent + self.flushed + self.dropped()
    }

    /// Packets still waiting on unresolved queues.
    pub fn packets_queued_now(&self) -> u64 {
        self.packets_in() - self.packets_out()
    }
}
