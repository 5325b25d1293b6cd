//! The table (`struct neigh_table`): an RCU hash of entries keyed by
//! (protocol address, device), and everything that changes it. One
//! `impl NeighTable` block per file, each with one responsibility:
//!
//! | file | owns | kernel |
//! |------|------|--------|
//! | `mod.rs` | the struct, construction, the table id, the clock, teardown | `neigh_table_init`, `neigh_table_clear` |
//! | `hash.rs` | buckets, `lookup_noref`, link/unlink, growth and re-keying | `___neigh_lookup_noref`, `neigh_hash_grow` |
//! | `lookup.rs` | refcounted lookup, create, `NeighHandle`, release/destroy | `neigh_lookup`, `__neigh_create`, `neigh_release`, `neigh_destroy` |
//! | `owed.rs` | dropping packets (counted), the panic-safety guards | |
//! | `device.rs` | devices, their configuration and link-layer headers | `neigh_parms_alloc`, `header_ops` |
//! | `output.rs` | the output path and the unresolved queue (packet event) | `neigh_output`, `__neigh_event_send` |
//! | `update.rs` | `neigh_update` and what calls it (reply event) | `neigh_update`, `arp_process`, `__neigh_set_probe_once` |
//! | `nud_timer.rs` | per-entry timers, the timer handler, probing (timer event) | `neigh_timer_handler`, `neigh_probe` |
//! | `flush.rs` | flush, remove, device removal (flush/remove events) | `neigh_flush_dev`, `neigh_delete`, `neigh_ifdown` |
//! | `gc.rs` | GC policy and mechanics, periodic and forced | `neigh_periodic_work`, `neigh_forced_gc` |
//! | `dump.rs` | counters, length, dump | `neigh_dump_info`, `neigh_stat_seq_show` |
//!
//! Calls run one way: the event files (`output`, `update`, `nud_timer`,
//! `flush`, `gc`, `dump`) use `lookup`, `hash`, `device` and `owed`, never
//! each other's internals (`update` and `output` share the timer primitives
//! of `nud_timer`).
//!
//! **Lock order**: table lock (`tbl->lock`, guard named `tbl`) -> entry lock
//! (`neigh->lock`, guard named `g`) -> timer base lock(s) -> model-RCU domain
//! lock. No user code runs under any of them: `NeighOps` callbacks are made
//! after unlocking, `Packet::len` before locking, and `NeighKey` is sealed.
//! RCU read guards are named `guard`.

mod device;
mod dump;
mod flush;
mod gc;
mod hash;
mod lookup;
mod nud_timer;
mod output;
mod owed;
mod update;

pub(crate) use device::Device;
pub use device::{DeviceConfig, LinkHeader};
pub use dump::NeighInfo;
pub use gc::GcReport;
pub use lookup::NeighHandle;
pub use nud_timer::TimersView;
pub use output::{EventSend, Xmit};

use super::entry::Neighbour;
use super::key::{os_random, HashKey};
use super::stats::Stats;
use super::{DevId, NeighKey, NeighOps};
use crate::error::NeighError;
use crate::parms::TableConfig;
use crate::rcu::{self, Atomic, Guard};
use crate::sync::{self, plain, CachePadded, Mutex, Ordering};
use crate::timer::{Tick, TimerWheel, MAX_TICK};
use hash::{Buckets, Head};
use std::collections::HashMap;

/// Packets taken off an entry's queue, each with its queued length.
pub(crate) type Queue<P> = std::collections::VecDeque<(usize, P)>;
/// The packet type of a table's ops.
pub(crate) type Pkt<K, O> = <O as NeighOps<K>>::Packet;
/// The entry type of a table.
pub(crate) type Entry<K, O> = Neighbour<K, Pkt<K, O>>;

/// State under the table lock (`tbl->lock`).
pub(super) struct TableLocked {
    pub(super) devices: HashMap<DevId, sync::Arc<Device>>,
    /// `tbl->last_flush`: last forced GC.
    last_flush: Tick,
    /// Next periodic GC pass.
    pub(super) next_gc: Tick,
    /// Next re-draw of the randomised reachable times (every 300 s).
    pub(super) next_rand: Tick,
    rng: u64,
    /// Entries created since the hash was last re-keyed: a re-key (O(n))
    /// is allowed only once this reaches the table's size, so re-keying
    /// costs O(1) amortised per insert whatever an attacker does.
    created_since_rekey: usize,
}

impl TableLocked {
    fn next_rand(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `neigh_rand_reach_time`: uniform in [base/2, 3*base/2).
    pub(super) fn rand_reach_time(&mut self, base: Tick) -> Tick {
        (self.next_rand() % base) + (base >> 1)
    }
}

/// A fresh table id, or `None` once every id was handed out. Ids are never
/// reused, so no two tables of the process share one, however many are
/// created and dropped.
fn next_table_id() -> Option<u32> {
    static NEXT: plain::AtomicU32 = plain::AtomicU32::new(1);
    // Relaxed: only the uniqueness of the value matters.
    NEXT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_add(1))
        .ok()
}

/// A neighbour table for protocol addresses `K`, with device side `O`.
///
// Under the model features the example's locks and atomics are loom's or
// shuttle's, which only work inside a model run: compile it, don't run it.
#[cfg_attr(not(any(feature = "loom", feature = "shuttle")), doc = "```")]
#[cfg_attr(any(feature = "loom", feature = "shuttle"), doc = "```no_run")]
/// use neighcache::{DeviceConfig, DevId, NeighOps, NeighTable, NudState, Probe, UpdateFlags, Xmit};
/// use std::net::Ipv4Addr;
///
/// struct Wire;
/// impl NeighOps<Ipv4Addr> for Wire {
///     type Packet = Vec<u8>;
///     fn transmit(&self, _dev: DevId, hh: &[u8], pkt: Vec<u8>) { assert_eq!(hh.len() + pkt.len(), 14 + 3) }
///     fn solicit(&self, _dev: DevId, _key: &Ipv4Addr, _probe: Probe) { /* send an ARP request */ }
///     fn error_report(&self, _dev: DevId, _key: &Ipv4Addr, _pkt: Vec<u8>) {}
/// }
///
/// let table = NeighTable::new(Default::default(), Wire)?;
/// let eth0 = DevId(1);
/// table.add_device(eth0, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))?;
/// let gw = Ipv4Addr::new(192, 0, 2, 1);
///
/// // First packet: the entry is created INCOMPLETE, a probe goes out, the packet waits.
/// assert_eq!(table.resolve_output(gw, eth0, vec![1, 2, 3]), Xmit::Queued);
/// // The ARP reply arrives: REACHABLE, and the queued packet is transmitted.
/// let n = table.lookup(gw, eth0).unwrap();
/// table.update(&n, Some(&[2, 0, 0, 0, 0, 2]), NudState::REACHABLE, UpdateFlags::OVERRIDE)?;
/// assert_eq!(n.state(), NudState::REACHABLE);
/// // Hot path: lock-free lookup + cached header.
/// let guard = table.pin();
/// let e = table.lookup_noref(gw, eth0, &guard).unwrap();
/// assert_eq!(table.output(e, vec![4, 5, 6], &guard), Xmit::Sent);
/// assert_eq!(table.stats().flushed, 1);
/// # Ok::<(), neighcache::NeighError>(())
/// ```
pub struct NeighTable<K: NeighKey, O: NeighOps<K>> {
    head: CachePadded<Head<K, Pkt<K, O>>>,
    /// The table's clock (`jiffies`): advanced by `run_timers`, read by the
    /// output path without calling a clock.
    jiffies: CachePadded<plain::AtomicU64>,
    pub(crate) ops: O,
    pub(crate) config: TableConfig,
    pub(crate) wheel: sync::Arc<TimerWheel>,
    lock: Mutex<TableLocked>,
    entries: plain::AtomicUsize,
    pub(crate) stats: Stats,
    /// This table's id, stamped into every entry it creates.
    id: u32,
    /// Model builds only: run the pre-2015 code (no `dead` checks).
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    bug_variant: plain::AtomicBool,
}

// SAFETY: the raw entry pointers inside are owned by the table and shared
// only under the RCU and refcount protocols; entries are `Send + Sync` when
// their key and packet types are `Send` (packets sit behind the entry lock).
unsafe impl<K: NeighKey, O: NeighOps<K>> Send for NeighTable<K, O> {}
// SAFETY: as above; every shared mutation goes through atomics or locks.
unsafe impl<K: NeighKey, O: NeighOps<K>> Sync for NeighTable<K, O> {}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// A table with `config` and device side `ops`, starting at tick 0.
    pub fn new(config: TableConfig, ops: O) -> Result<Self, NeighError> {
        Self::with_start(config, ops, 0)
    }

    /// A table whose clock starts at `start` (at most [`MAX_TICK`]).
    pub fn with_start(config: TableConfig, ops: O, start: Tick) -> Result<Self, NeighError> {
        if start > MAX_TICK {
            return Err(NeighError::TickOutOfRange {
                tick: start,
                max: MAX_TICK,
            });
        }
        config.validate()?;
        let id = next_table_id().ok_or(NeighError::TableIdsExhausted)?;
        let seed = if config.seed != 0 {
            config.seed
        } else {
            os_random()
        };
        let mut tbl = TableLocked {
            devices: HashMap::new(),
            last_flush: start,
            next_gc: start,
            next_rand: start,
            rng: seed,
            created_since_rekey: 0,
        };
        let key = if config.seed != 0 {
            HashKey::new(|| tbl.next_rand())
        } else {
            HashKey::new(os_random)
        };
        Ok(NeighTable {
            head: CachePadded::new(Head {
                nht: Atomic::new(Buckets::new(config.initial_hash_shift.max(1), key)),
                resize_seq: sync::AtomicU64::new(0),
            }),
            jiffies: CachePadded::new(plain::AtomicU64::new(start)),
            ops,
            config,
            wheel: sync::Arc::new(TimerWheel::new(config.timer_bases, start)),
            lock: Mutex::new(tbl),
            entries: plain::AtomicUsize::new(0),
            stats: Stats::new(),
            id,
            #[cfg(any(feature = "loom", feature = "shuttle"))]
            bug_variant: plain::AtomicBool::new(false),
        })
    }

    /// `Err(ForeignEntry)` unless `n` was created by this table (one compare
    /// on the entry's hot line).
    #[inline]
    pub(crate) fn check_entry(&self, n: &Entry<K, O>) -> Result<(), NeighError> {
        if n.table == self.id {
            Ok(())
        } else {
            Err(NeighError::ForeignEntry)
        }
    }

    /// The device side given at construction.
    pub fn ops(&self) -> &O {
        &self.ops
    }

    /// The table's configuration.
    pub fn config(&self) -> &TableConfig {
        &self.config
    }

    /// The table's current tick (`jiffies`).
    #[inline]
    pub fn jiffies(&self) -> Tick {
        // Relaxed: time orders nothing; any value since the last advance will do.
        self.jiffies.load(Ordering::Relaxed)
    }

    /// Enter a read-side critical section for [`lookup_noref`](Self::lookup_noref).
    #[inline]
    pub fn pin(&self) -> Guard {
        rcu::pin()
    }

    /// Model builds only: switch to the pre-2015 logic (no `dead` checks in
    /// `event_send`, `update` and `set_probe_once`). A default build has no
    /// such switch, so the buggy path cannot be reached there.
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    #[doc(hidden)]
    pub fn set_bug_variant(&self, pre_2015: bool) {
        // Relaxed: set before the model threads are spawned.
        self.bug_variant.store(pre_2015, Ordering::Relaxed);
    }

    /// Does this table check `dead` under the entry lock (the 2015 fix)?
    /// Always true in a default build.
    #[inline]
    pub(crate) fn dead_check(&self) -> bool {
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        {
            // Relaxed: see `set_bug_variant`.
            !self.bug_variant.load(Ordering::Relaxed)
        }
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        {
            true
        }
    }

    pub(crate) fn entries(&self) -> usize {
        // Relaxed: a count.
        self.entries.load(Ordering::Relaxed)
    }
}

impl<K: NeighKey, O: NeighOps<K>> Drop for NeighTable<K, O> {
    /// Teardown: flush every entry (queued packets count as `DeviceDown`),
    /// then free the bucket array. Entries still referenced by a handle
    /// cannot exist (handles borrow the table).
    fn drop(&mut self) {
        /// Frees the bucket array when dropped, so that it is freed even if
        /// a `discard` callback panics during the flush (the panic then
        /// propagates out of this `drop`; before this guard the array
        /// leaked, as valgrind showed for
        /// `tests/misuse_callbacks.rs::a_panicking_discard_during_teardown`).
        struct FreeBuckets<'a, K, P>(&'a Atomic<Buckets<K, P>>);
        impl<K, P> Drop for FreeBuckets<'_, K, P> {
            fn drop(&mut self) {
                // SAFETY: the table is being dropped (`&mut self`): no reader
                // or writer remains, so the array can be freed at once. The
                // flush unlinked (and retired) every entry under the table
                // lock before making any callback, so however it was left,
                // the array owns nothing else.
                unsafe {
                    let guard = rcu::pin();
                    drop(self.0.load(Ordering::Relaxed, &guard).into_owned());
                }
            }
        }
        let _free = FreeBuckets(&self.head.nht);
        self.flush_dev(None);
    }
}

impl<K: NeighKey, O: NeighOps<K>> core::fmt::Debug for NeighTable<K, O> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NeighTable")
            .field("family", &K::FAMILY)
            .field("stats", &self.stats())
            .finish()
    }
}
