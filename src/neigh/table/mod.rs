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
//! | `device.rs` | devices, their (run-time changeable) parameters and link-layer headers | `neigh_parms_alloc`, `neightbl_set`, `header_ops` |
//! | `events.rs` | subscribers and their event queues | `__neigh_notify`, `neigh_update_notify` |
//! | `output.rs` | the output path and the unresolved queue (packet event) | `neigh_output`, `__neigh_event_send` |
//! | `update.rs` | `neigh_update`, `neigh_confirm`, `__neigh_set_probe_once` (reply event) | `__neigh_update` |
//! | `add.rs` | what calls `neigh_update` from a key: ARP, solicitations for us, administrative additions | `arp_process`, `neigh_event_ns`, `neigh_add` |
//! | `exact.rs` | setting an entry to the exact image another table reports (the kernel mirror's call) | `neigh_add` with `NLM_F_REPLACE` |
//! | `nud_timer.rs` | per-entry timers, the timer handler, probing and its rate limit (timer event) | `neigh_timer_handler`, `neigh_probe` |
//! | `managed.rs` | managed entries and their periodic probing | `neigh_managed_work`, `neigh_update_managed_list` |
//! | `flush.rs` | flush, carrier loss, remove, device removal (flush/remove events) | `neigh_flush_dev`, `neigh_carrier_down`, `neigh_delete`, `neigh_ifdown` |
//! | `gc.rs` | GC policy and mechanics, periodic (in steps) and forced | `neigh_periodic_work`, `neigh_forced_gc`, `neigh_update_gc_list` |
//! | `gc_list.rs` | the `gc_list`: a linked list in a chunked slab, O(1) per operation | `tbl->gc_list` |
//! | `scan.rs` | bounded lock-free slices of the hash by hash position (the periodic pass's walk) | `neigh_periodic_work`'s loop and `cond_resched` |
//! | `dump.rs` | counters, length, dump, per-entry accessors | `neigh_dump_info`, `neigh_stat_seq_show` |
//!
//! Calls run one way: the event files (`output`, `update`, `add`,
//! `nud_timer`, `managed`, `flush`, `gc`, `dump`) use `lookup`, `hash`, `device`,
//! `events` and `owed`, never each other's internals (`update`, `output`
//! and `managed` share the timer primitives of `nud_timer`; every remover
//! unlinks through `gc`'s `unlink_entry`, which keeps the lists in step).
//!
//! **Lock order**: table lock (`tbl->lock`, guard named `tbl`) -> entry lock
//! (`neigh->lock`, guard named `g`) -> timer base lock(s) -> event hub lock
//! -> model-RCU domain lock. The solicitation bucket's lock is a leaf:
//! taken with no lock held where a probe is sent, under the table lock by
//! `set_config`. No user code runs under any of them: `NeighOps`
//! callbacks are made after unlocking, `Packet::truesize` before locking,
//! and `NeighKey` is sealed. RCU read guards are named `guard`.
//!
//! **Time** is compared as the kernel compares jiffies, with wrapping
//! arithmetic ([`time_after`]): a never-confirmed entry's `confirmed` lies
//! `2 * base_reachable_time` before its creation, which on a young table is
//! "before tick 0".

mod add;
mod devices;
mod dump;
mod events;
mod exact;
mod flush;
mod gc;
mod gc_list;
mod hash;
mod lookup;
mod managed;
mod nud_timer;
mod output;
mod owed;
mod resize;
mod scan;
mod slots;
mod update;

/// What the table's unit tests share: ops that do nothing.
#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod test_ops {
    use crate::{DevId, NeighOps, Probe};
    use std::net::Ipv4Addr;

    /// Transmits, solicits and reports nothing.
    pub(super) struct Nop;
    impl NeighOps<Ipv4Addr> for Nop {
        type Packet = Vec<u8>;
        fn transmit(&self, _: DevId, _: &[u8], _: Vec<u8>) {}
        fn solicit(&self, _: DevId, _: &Ipv4Addr, _: Probe) {}
        fn error_report(&self, _: DevId, _: &Ipv4Addr, _: Vec<u8>) {}
    }
}

pub(crate) use crate::neigh::device::Device;
pub use dump::NeighInfo;
pub use events::{EventFilter, EventKind, EventReceiver, NeighEvent, Received, MAX_EVENT_QUEUE};
pub use exact::Applied;
pub use gc::GcReport;
pub use lookup::NeighHandle;
pub use nud_timer::{TimersView, TIMER_RUN_LIMIT};
pub use output::{EventSend, Xmit};

use super::entry::Neighbour;
use super::key::{os_random, splitmix64, HashKey};
use super::slab::EntrySlab;
use super::stats::Stats;
use super::{DevId, NeighKey, NeighOps};
use crate::error::NeighError;
use crate::parms::TableConfig;
use crate::rcu::{self, Atomic, Guard};
use crate::sync::{self, plain, CachePadded, Mutex, Ordering};
use crate::timer::{Tick, TimerWheel, MAX_TICK};
use crate::variant::Rule;
use hash::{Buckets, Head};
use std::collections::{BTreeSet, HashMap};

/// Packets taken off an entry's queue, each with its queued length.
pub(crate) type Queue<P> = std::collections::VecDeque<(usize, P)>;
/// The table lock's state: the key-independent part (`TableLocked`, which
/// it dereferences to) and the lists of entries keyed by (address,
/// device), which name linked entries only (every unlink removes them, under
/// this lock).
pub(super) struct Locked<K> {
    core: TableLocked,
    /// `tbl->gc_list`: the GC-eligible entries in the order they became
    /// eligible.
    pub(super) gc: gc_list::GcList<K>,
    /// `tbl->managed_list`: entries flagged MANAGED.
    pub(super) managed: BTreeSet<(K, DevId)>,
}

impl<K> core::ops::Deref for Locked<K> {
    type Target = TableLocked;
    fn deref(&self) -> &TableLocked {
        &self.core
    }
}

impl<K> core::ops::DerefMut for Locked<K> {
    fn deref_mut(&mut self) -> &mut TableLocked {
        &mut self.core
    }
}

/// The packet type of a table's ops.
pub(crate) type Pkt<K, O> = <O as NeighOps<K>>::Packet;
/// The entry type of a table.
pub(crate) type Entry<K, O> = Neighbour<K, Pkt<K, O>>;

/// `time_after(a, b)`: is tick `a` later than tick `b`? Wrapping, as the
/// kernel's jiffies macros, so a timestamp "before tick 0" (a wrapped
/// `confirmed`) compares as earlier. Ticks in use are within 2^63 of each
/// other (the domain is 2^62), so the signed difference is exact.
#[inline]
pub(crate) fn time_after(a: Tick, b: Tick) -> bool {
    (b.wrapping_sub(a) as i64) < 0
}

/// `time_before_eq(a, b)`: is tick `a` at or before tick `b`?
#[inline]
pub(crate) fn time_before_eq(a: Tick, b: Tick) -> bool {
    !time_after(a, b)
}

/// State under the table lock (`tbl->lock`).
pub(super) struct TableLocked {
    pub(super) devices: HashMap<DevId, sync::Arc<Device>>,
    /// The table's configuration as it is now (`set_config` changes all
    /// but the construction-only fields): thresholds, GC period, the
    /// default parameters, the solicitation limit.
    pub(super) cfg: TableConfig,
    /// `tbl->last_flush`: end of the last complete forced GC.
    last_flush: Tick,
    /// Next periodic GC step: a pass is due from this tick on, and while
    /// one is in progress (`gc_cursor`) this stays at or before the clock.
    pub(super) next_gc: Tick,
    /// The periodic pass in progress: the hash position its next step
    /// starts from (`scan.rs`); `None` between passes.
    pub(super) gc_cursor: Option<u64>,
    /// `tbl->last_rand`: the reachable times are re-drawn once the clock is
    /// more than 300 s past it. Starts `20 * reachable_time` after the
    /// table's start (`neigh_table_init`), so the values drawn when the
    /// devices were registered last that long.
    pub(super) last_rand: Tick,
    /// Next pass over the managed entries (`neigh_managed_work`).
    pub(super) next_managed: Tick,
    rng: u64,
    /// Entries created since the hash was last re-keyed: a re-key (O(n)
    /// moves) is allowed only once this exceeds `size_at_rekey`, so
    /// re-keying costs O(1) amortised per insert whatever an attacker does.
    created_since_rekey: usize,
    /// Entries in the table when it was last re-keyed (0: never).
    size_at_rekey: usize,
    /// Entries linked in the hash now (`len`): counted where an entry is
    /// linked (`note_created`) and unlinked (`unlink_entry`), the only two
    /// places.
    pub(super) linked: usize,
    /// The next bucket of the current array a resize in progress moves
    /// (`resize.rs`).
    move_pos: usize,
}

impl TableLocked {
    fn next_rand(&mut self) -> u64 {
        splitmix64(&mut self.rng)
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
    pub(crate) wheel: sync::Arc<TimerWheel>,
    lock: Mutex<Locked<K>>,
    entries: plain::AtomicUsize,
    pub(crate) stats: Stats,
    /// Subscribers and their event queues.
    events: sync::Arc<events::Hub<K>>,
    /// The table-wide solicitation bucket (`TableConfig::solicit_rate`).
    limiter: nud_timer::SolicitLimit,
    /// This table's id, stamped into every entry it creates.
    id: u32,
    /// Where the entries live (`neigh::slab`): allocated by `create`,
    /// returned by `destroy` after the grace period.
    slab: EntrySlab<Entry<K, O>>,
    /// The memory of retired large bucket arrays, returned to the system a
    /// slice per `run_timers` call (`slots`, SPEC.md §5).
    retired: sync::Arc<plain::Mutex<Vec<slots::Region>>>,
    /// Model builds only: the rules removed from this table (`variant`).
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    broken: crate::variant::Broken,
    /// Model builds only: devices registered from now on keep their
    /// parameter words in modelled atomics (`model_parms_words`).
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    parms_words_modelled: plain::AtomicBool,
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
            cfg: config,
            last_flush: start,
            next_gc: start,
            gc_cursor: None,
            last_rand: start,
            next_managed: start,
            rng: seed,
            created_since_rekey: 0,
            size_at_rekey: 0,
            linked: 0,
            move_pos: 0,
        };
        let key = if config.seed != 0 {
            HashKey::new(|| tbl.next_rand())
        } else {
            HashKey::new(os_random)
        };
        // `neigh_table_init`: the table's own randomised reachable time, and
        // the first re-draw 20 of them later (plus the 300 s period).
        let reach = tbl.rand_reach_time(config.parms.base_reachable_time);
        tbl.last_rand = start.saturating_add(20 * reach);
        Ok(NeighTable {
            head: CachePadded::new(Head {
                nht: Atomic::new(Buckets::new(config.initial_hash_shift.max(1), key)),
            }),
            jiffies: CachePadded::new(plain::AtomicU64::new(start)),
            ops,
            wheel: sync::Arc::new(TimerWheel::new(config.timer_bases, start)),
            lock: Mutex::new(Locked {
                core: tbl,
                gc: gc_list::GcList::new(),
                managed: BTreeSet::new(),
            }),
            entries: plain::AtomicUsize::new(0),
            stats: Stats::new(),
            events: sync::Arc::new(events::Hub::new()),
            limiter: nud_timer::SolicitLimit::new(&config),
            id,
            slab: EntrySlab::new(),
            retired: Default::default(),
            #[cfg(any(feature = "loom", feature = "shuttle"))]
            broken: Default::default(),
            #[cfg(any(feature = "loom", feature = "shuttle"))]
            parms_words_modelled: plain::AtomicBool::new(false),
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

    /// The table's configuration as it is now.
    pub fn config(&self) -> TableConfig {
        self.lock.lock().cfg
    }

    /// Change the table's configuration at run time (`RTM_SETNEIGHTBL`,
    /// the `net.ipv4.neigh.default.*` and `gc_*` sysctls): the GC
    /// thresholds and period, the solicitation limit, and the default
    /// parameters (which devices registered later copy, and whose
    /// `interval_probe_time` paces the managed entries). The next GC pass,
    /// create, probe and managed pass use the new values; devices keep
    /// their own parameters ([`set_device_parms`](Self::set_device_parms)).
    ///
    /// `Err(Config)` (and nothing changed) for an invalid value or a change
    /// of `initial_hash_shift`, `timer_bases` or `seed`.
    pub fn set_config(&self, config: TableConfig) -> Result<(), NeighError> {
        let mut tbl = self.lock.lock();
        tbl.cfg.validate_change(&config)?;
        let now = self.jiffies();
        if config.gc_interval < tbl.cfg.gc_interval {
            tbl.next_gc = tbl.next_gc.min(now.saturating_add(config.gc_interval));
        }
        let interval = config.parms.interval_probe_time;
        if interval < tbl.cfg.parms.interval_probe_time {
            tbl.next_managed = tbl.next_managed.min(now.saturating_add(interval));
        }
        tbl.cfg = config;
        // Under the table lock, so two concurrent changes apply in one order.
        self.limiter.configure(&config, now);
        Ok(())
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
        ktrace!(
            "rcu_read_lock",
            "a read section begins: what it can see stays allocated"
        );
        rcu::pin()
    }

    /// Model builds only: switch to the pre-2015 logic (no `dead` checks in
    /// `event_send`, `update` and `set_probe_once`): `break_rule(DeadCheck)`.
    /// A default build has no such switch, so the buggy path cannot be
    /// reached there.
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    #[doc(hidden)]
    pub fn set_bug_variant(&self, pre_2015: bool) {
        self.break_rule(Rule::DeadCheck, pre_2015);
    }

    /// Model builds only: remove rule `r` from this table (and, for
    /// [`Rule::LockTimerBase`], from its timer wheel), or restore it. Call
    /// before the model threads start.
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    #[doc(hidden)]
    pub fn break_rule(&self, r: Rule, broken: bool) {
        self.broken.set(r, broken);
        if r == Rule::LockTimerBase {
            self.wheel.break_rule(r, broken);
        }
    }

    /// Is rule `r` of the race matrix in force? Always true in a default
    /// build (the constant folds the broken branch away).
    #[inline(always)]
    pub(crate) fn keeps(&self, r: Rule) -> bool {
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        {
            self.broken.keeps(r)
        }
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        {
            let _ = r;
            true
        }
    }

    /// Does this table check `dead` under the entry lock (the 2015 fix)?
    /// Always true in a default build.
    #[inline(always)]
    pub(crate) fn dead_check(&self) -> bool {
        self.keeps(Rule::DeadCheck)
    }

    pub(crate) fn entries(&self) -> usize {
        // Relaxed: a count.
        self.entries.load(Ordering::Relaxed)
    }
}

impl<K: NeighKey, O: NeighOps<K>> Drop for NeighTable<K, O> {
    /// Teardown: flush every entry (queued packets count as `DeviceDown`),
    /// then free the bucket array (and the future array of a resize in
    /// progress). Entries still referenced by a handle
    /// cannot exist (handles borrow the table).
    fn drop(&mut self) {
        /// Frees the bucket array when dropped, so that it is freed even if
        /// a `discard` callback panics during the flush (the panic then
        /// propagates out of this `drop`; before this guard the array
        /// leaked, as valgrind showed for
        /// `tests/it/misuse_callbacks.rs::a_panicking_discard_during_teardown`).
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
                    let cur = self.0.load(Ordering::Relaxed, &guard);
                    // Relaxed: as above (no other thread remains).
                    let future = cur.deref().future.load(Ordering::Relaxed, &guard);
                    drop(cur.into_owned());
                    if !future.is_null() {
                        drop(future.into_owned());
                    }
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
