//! The table (`struct neigh_table`): an RCU hash of entries keyed by
//! (protocol address, device), entry creation and removal, `neigh_update`,
//! `neigh_timer_handler`, device flush and teardown.
//!
//! Hash structure: as in the kernel, a bucket array (an RCU object) of RCU
//! singly-linked chains threaded through the entries' `next` links: a hit
//! touches the bucket slot and the entry, nothing else. Writers are
//! serialised by the table lock. Growth (`neigh_hash_grow`) relinks entries
//! into a new array in place, which can send a reader walking an old chain
//! into a new one; the kernel tolerates the resulting false miss. Here a
//! resize bumps `resize_seq` (odd while relinking) and a lookup that misses
//! re-checks it and retries, so a present key is never missed (race matrix
//! L6) while hits pay nothing extra.
//!
//! Lock order: table lock -> entry lock -> timer base lock. Ops callbacks are
//! made with no lock held.

use super::entry::{Device, Inner, LlAddr, NeighInfo, Neighbour};
use super::key::{os_random, HashKey};
use super::owed::{Held, Owed};
use super::stats::{Stats, C};
use super::{
    DevId, DeviceConfig, DropReason, LinkHeader, NeighKey, NeighOps, NeighStats, NudState, Probe,
    UpdateFlags,
};
use crate::error::NeighError;
use crate::parms::{TableConfig, HZ};
use crate::rcu::{self, Atomic, Guard, Owned, Shared};
use crate::sync::{self, plain, CachePadded, Mutex, Ordering};
use crate::timer::{Tick, TimerWheel, MAX_TICK};
use core::ptr::NonNull;
use std::collections::HashMap;

/// Packets taken off an entry's queue, each with its queued length.
pub(crate) type Queue<P> = std::collections::VecDeque<(usize, P)>;
/// The packet type of a table's ops.
pub(crate) type Pkt<K, O> = <O as NeighOps<K>>::Packet;
/// The entry type of a table.
pub(crate) type Entry<K, O> = Neighbour<K, Pkt<K, O>>;

/// The bucket array (`struct neigh_hash_table`): heads of RCU chains.
pub(crate) struct Buckets<K, P> {
    shift: u32,
    /// The secret hash key (`hash_rnd`); replaced only with the whole array.
    key: HashKey,
    slots: Box<[Atomic<Neighbour<K, P>>]>,
}

impl<K: NeighKey, P> Buckets<K, P> {
    fn new(shift: u32, key: HashKey) -> Self {
        Buckets {
            shift,
            key,
            slots: (0..1usize << shift).map(|_| Atomic::null()).collect(),
        }
    }

    #[inline]
    fn index(&self, hash: u32) -> usize {
        // The top `shift` bits, as `hash >> (32 - nht->hash_shift)`.
        (hash as u64 >> (32 - self.shift)) as usize
    }

    #[inline]
    fn slot_of(&self, key: &K, dev: DevId) -> &Atomic<Neighbour<K, P>> {
        &self.slots[self.index(self.key.hash(key, dev))]
    }
}

/// What every lookup reads first: the bucket array and the resize count,
/// on one cache line that only a resize writes.
struct Head<K, P> {
    nht: Atomic<Buckets<K, P>>,
    /// Odd while `grow` relinks entries; bumped twice per resize.
    resize_seq: sync::AtomicU64,
}

/// State under the table lock (`tbl->lock`).
pub(super) struct TableInner {
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

impl TableInner {
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

/// `lladdr` as an address of `device`, or `BadLladdrLen`.
fn check_lladdr(device: &Device, lladdr: &[u8]) -> Result<LlAddr, NeighError> {
    if lladdr.len() != device.cfg.addr_len {
        return Err(NeighError::BadLladdrLen {
            dev: device.id,
            expected: device.cfg.addr_len,
            got: lladdr.len(),
        });
    }
    Ok(LlAddr::new(lladdr).expect("addr_len <= MAX_ADDR_LEN (checked by add_device)"))
}

/// A chain this long under a secret random hash key means the key leaked
/// (or a one-in-10^13 draw): the table re-keys (SPEC.md §5).
const LONG_CHAIN: usize = 16;

/// Entries on the chain that starts at `slot` (the caller holds the table
/// lock, so the walk is exact).
fn chain_len<K, P>(slot: &Atomic<Neighbour<K, P>>, guard: &Guard) -> usize {
    let mut len = 0;
    // Relaxed: table lock held; nobody else writes chains.
    let mut p = slot.load(Ordering::Relaxed, guard);
    // SAFETY: linked entries outlive the guard (table lock held).
    while let Some(n) = unsafe { p.as_ref() } {
        len += 1;
        p = n.next.load(Ordering::Relaxed, guard); // Relaxed: as above
    }
    len
}

/// What a GC pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Entries examined.
    pub scanned: usize,
    /// Entries unlinked (destroyed once their last holder lets go).
    pub removed: usize,
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
    lock: Mutex<TableInner>,
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

/// A counted reference to an entry (`neigh_lookup`'s result); releases the
/// reference when dropped (`neigh_release`).
pub struct NeighHandle<'t, K: NeighKey, O: NeighOps<K>> {
    table: &'t NeighTable<K, O>,
    n: NonNull<Entry<K, O>>,
}

impl<K: NeighKey, O: NeighOps<K>> core::ops::Deref for NeighHandle<'_, K, O> {
    type Target = Entry<K, O>;
    fn deref(&self) -> &Self::Target {
        // SAFETY: the handle owns a reference, so the entry is not destroyed
        // (and so not retired) while the handle lives.
        unsafe { self.n.as_ref() }
    }
}

impl<K: NeighKey, O: NeighOps<K>> Clone for NeighHandle<'_, K, O> {
    fn clone(&self) -> Self {
        self.hold();
        NeighHandle {
            table: self.table,
            n: self.n,
        }
    }
}

impl<K: NeighKey, O: NeighOps<K>> Drop for NeighHandle<'_, K, O> {
    fn drop(&mut self) {
        // SAFETY: we own one reference to a live entry.
        let n = unsafe { self.n.as_ref() };
        self.table.release(n);
    }
}

// SAFETY: a handle is a refcount on an entry that is itself shareable.
unsafe impl<K: NeighKey, O: NeighOps<K>> Send for NeighHandle<'_, K, O> {}
// SAFETY: as above.
unsafe impl<K: NeighKey, O: NeighOps<K>> Sync for NeighHandle<'_, K, O> {}

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
        let mut inner = TableInner {
            devices: HashMap::new(),
            last_flush: start,
            next_gc: start,
            next_rand: start,
            rng: seed,
            created_since_rekey: 0,
        };
        let key = if config.seed != 0 {
            HashKey::new(|| inner.next_rand())
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
            lock: Mutex::new(inner),
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

    // ----- devices -------------------------------------------------------

    /// Register a device. Its parameters (or the table's) are validated.
    pub fn add_device(&self, dev: DevId, cfg: DeviceConfig) -> Result<(), NeighError> {
        let parms = cfg.parms.unwrap_or(self.config.parms);
        parms.validate()?;
        let max = match cfg.header {
            LinkHeader::Ethernet { .. } => 6,
            LinkHeader::Lladdr => super::MAX_ADDR_LEN,
        };
        if cfg.addr_len > max
            || (matches!(cfg.header, LinkHeader::Ethernet { .. }) && cfg.addr_len != 6)
        {
            return Err(NeighError::BadLladdrLen {
                dev,
                expected: max,
                got: cfg.addr_len,
            });
        }
        if let Some(a) = cfg.noarp_lladdr {
            if a.as_bytes().len() != cfg.addr_len {
                return Err(NeighError::BadLladdrLen {
                    dev,
                    expected: cfg.addr_len,
                    got: a.as_bytes().len(),
                });
            }
        }
        let mut inner = self.lock.lock();
        if inner.devices.contains_key(&dev) {
            return Err(NeighError::DeviceExists(dev));
        }
        let reach = inner.rand_reach_time(parms.base_reachable_time);
        let device = Device {
            id: dev,
            cfg,
            parms,
            reachable_time: plain::AtomicU64::new(reach),
            wheel: self.wheel.clone(),
        };
        inner.devices.insert(dev, sync::Arc::new(device));
        Ok(())
    }

    /// Flush every entry of `dev` and forget the device (`neigh_ifdown` +
    /// unregister). Returns the number of entries flushed.
    pub fn remove_device(&self, dev: DevId) -> Result<usize, NeighError> {
        // Unregister and flush in one table-lock section, so no create can
        // link a new entry for the device in between.
        self.flush(Some(dev), true)
            .ok_or(NeighError::UnknownDevice(dev))
    }

    /// Model builds only: the table hash of `(key, dev)` (its top bits pick
    /// the bucket), for scenarios that need keys sharing a bucket. A default
    /// build has no way to learn a key's hash (SPEC.md §5, "Hash seeding").
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    #[doc(hidden)]
    pub fn key_hash(&self, key: K, dev: DevId) -> u32 {
        let guard = rcu::pin();
        // Acquire: see `lookup_noref`.
        let nht = self.head.nht.load(Ordering::Acquire, &guard);
        // SAFETY: never null; guard held.
        unsafe { nht.deref() }.key.hash(&key, dev)
    }

    /// The device's current randomised reachable time (`parms->reachable_time`).
    #[doc(hidden)]
    pub fn reachable_time(&self, dev: DevId) -> Option<Tick> {
        self.lock
            .lock()
            .devices
            .get(&dev)
            .map(|d| d.reachable_time())
    }

    fn device(&self, inner: &TableInner, dev: DevId) -> Result<sync::Arc<Device>, NeighError> {
        inner
            .devices
            .get(&dev)
            .cloned()
            .ok_or(NeighError::UnknownDevice(dev))
    }

    /// Validate input naming a device before anything is created: the
    /// device is registered and `lladdr` (if any) has its address length.
    fn check_input(&self, dev: DevId, lladdr: Option<&[u8]>) -> Result<(), NeighError> {
        let device = self.device(&self.lock.lock(), dev)?;
        match lladdr {
            Some(a) => check_lladdr(&device, a).map(drop),
            None => Ok(()),
        }
    }

    // ----- lookups -------------------------------------------------------

    /// `__neigh_lookup_noref`: find the entry without taking a reference.
    ///
    /// The result is valid only while `guard` lives and may be an entry that
    /// a concurrent GC has just unlinked (`dead`): every operation on it
    /// re-checks under the entry lock. Takes no lock, writes nothing.
    #[inline]
    pub fn lookup_noref<'g>(
        &self,
        key: K,
        dev: DevId,
        guard: &'g Guard,
    ) -> Option<&'g Entry<K, O>> {
        loop {
            // Acquire: pairs with the Release store that ends a resize in
            // `grow` (so the array loaded below is at least that new).
            let seq = self.head.resize_seq.load(Ordering::Acquire);
            // Acquire: pairs with the Release store of a grown array in `grow`.
            let nht = self.head.nht.load(Ordering::Acquire, guard);
            // SAFETY: the bucket array is never null and is retired only after
            // being replaced; the guard protects the one we loaded.
            let nht = unsafe { nht.deref() };
            // Acquire: pairs with the Release stores that link an entry
            // (`create`, `unlink`, `grow`): its initialised fields are visible.
            let mut p = nht.slot_of(&key, dev).load(Ordering::Acquire, guard);
            // SAFETY: every entry reachable from a chain loaded under `guard`
            // is retired only after being unlinked, so after this grace period.
            while let Some(n) = unsafe { p.as_ref() } {
                if n.key == key && n.dev == dev {
                    return Some(n);
                }
                // Acquire: as for the slot above.
                p = n.next.load(Ordering::Acquire, guard);
            }
            // A miss counts only if no resize overlapped the walk: `grow`
            // relinks `next` in place, so a walk may have left its chain.
            // Relaxed: ordered after the walk's Acquire loads.
            if self.head.resize_seq.load(Ordering::Relaxed) == seq && seq & 1 == 0 {
                return None;
            }
            sync::spin_wait();
        }
    }

    /// `neigh_lookup`: find the entry and take a reference
    /// (increment-if-not-zero, so a dying entry is never returned).
    pub fn lookup(&self, key: K, dev: DevId) -> Option<NeighHandle<'_, K, O>> {
        self.stats.inc(C::LOOKUPS);
        let guard = rcu::pin();
        let n = self.lookup_noref(key, dev, &guard)?;
        if !n.try_hold() {
            return None;
        }
        self.stats.inc(C::HITS);
        Some(self.handle(n))
    }

    fn handle<'t>(&'t self, n: &Entry<K, O>) -> NeighHandle<'t, K, O> {
        NeighHandle {
            table: self,
            n: NonNull::from(n),
        }
    }

    /// `__neigh_lookup`: find or create, returning a counted reference.
    pub fn lookup_or_create(
        &self,
        key: K,
        dev: DevId,
    ) -> Result<NeighHandle<'_, K, O>, NeighError> {
        if let Some(h) = self.lookup(key, dev) {
            return Ok(h);
        }
        let guard = rcu::pin();
        let n = self.create(key, dev, true, &guard)?;
        Ok(self.handle(n))
    }

    /// `__neigh_create(.., want_ref = false)` after a missed noref lookup:
    /// find or create under `guard`, without taking a reference (the output
    /// path's pattern).
    pub fn lookup_or_create_noref<'g>(
        &self,
        key: K,
        dev: DevId,
        guard: &'g Guard,
    ) -> Result<&'g Entry<K, O>, NeighError> {
        match self.lookup_noref(key, dev, guard) {
            Some(n) => Ok(n),
            None => self.create(key, dev, false, guard),
        }
    }

    /// `___neigh_create`: create the entry unless it exists (checked again
    /// under the table lock, so two racing creators get the same entry).
    pub(crate) fn create<'g>(
        &self,
        key: K,
        dev: DevId,
        want_ref: bool,
        guard: &'g Guard,
    ) -> Result<&'g Entry<K, O>, NeighError> {
        let mut inner = self.lock.lock();
        let device = self.device(&inner, dev)?;
        // Already there (a racing creator won, or the caller did not look)?
        if let Some(n) = self.lookup_noref(key, dev, guard) {
            if want_ref {
                n.hold(); // the table's link is a reference, and we hold the table lock
            }
            return Ok(n);
        }
        let now = self.jiffies();
        let entries = self.entries.load(Ordering::Relaxed); // Relaxed: a count read under the table lock
        let c = &self.config;
        let mut victims = Vec::new();
        if entries >= c.gc_thresh3 || (entries >= c.gc_thresh2 && now > inner.last_flush + 5 * HZ) {
            // Released (after the table lock) however this function is left.
            victims = self.forced_gc(&mut inner, guard);
            if victims.is_empty() && entries >= c.gc_thresh3 {
                self.stats.inc(C::TABLE_FULLS);
                drop(inner);
                return Err(NeighError::TableFull {
                    entries,
                    gc_thresh3: c.gc_thresh3,
                });
            }
        }
        // Relaxed: we hold the table lock, the only writer of the array.
        let mut nht = self.head.nht.load(Ordering::Relaxed, guard);
        // SAFETY: the array is never null; we hold the lock that replaces it.
        let b = unsafe { nht.deref() };
        if entries + 1 > b.slots.len() {
            nht = self.rehash(nht, b.shift + 1, b.key, guard);
            self.stats.inc(C::HASH_GROWS);
        } else if chain_len(b.slot_of(&key, dev), guard) >= LONG_CHAIN
            && inner.created_since_rekey >= entries
        {
            let fresh = HashKey::new(|| inner.next_rand());
            nht = self.rehash(nht, b.shift, fresh, guard);
            inner.created_since_rekey = 0;
            self.stats.inc(C::HASH_RESEEDS);
        }
        inner.created_since_rekey += 1;
        // SAFETY: as above.
        let buckets = unsafe { nht.deref() };
        let base = buckets.key.hash(&key, dev) as usize % self.wheel.bases();
        let mut owned = Owned::new(Neighbour::new(
            key,
            self.id,
            device,
            now,
            1 + want_ref as usize,
            base,
        ));
        let addr = &*owned as *const Entry<K, O> as usize;
        owned.timer.set_data(addr);
        let slot = buckets.slot_of(&key, dev);
        // Relaxed: we are the only writer (table lock); the entry is not yet
        // visible, so its own `next` needs no ordering either.
        owned
            .next
            .store(slot.load(Ordering::Relaxed, guard), Ordering::Relaxed);
        let new = owned.into_shared(guard);
        // Release: pairs with the Acquire loads in `lookup_noref`, publishing
        // the initialised entry.
        slot.store(new, Ordering::Release);
        // Relaxed: a count; updated under the table lock or by a destroy.
        self.entries.fetch_add(1, Ordering::Relaxed);
        self.stats.inc(C::ALLOCS);
        drop(inner);
        drop(victims);
        // SAFETY: the entry was just linked and the guard predates any unlink.
        Ok(unsafe { new.deref() })
    }

    /// `neigh_hash_grow`: relink every entry into a new array of
    /// `2^shift` buckets hashed with `key` (twice as large to grow; the same
    /// size with a fresh key to re-key), then publish it. `resize_seq` is odd
    /// meanwhile, so a lookup that misses while (or after) following a
    /// relinked `next` retries. Caller holds the table lock.
    fn rehash<'g>(
        &self,
        old: Shared<'g, Buckets<K, Pkt<K, O>>>,
        shift: u32,
        key: HashKey,
        guard: &'g Guard,
    ) -> Shared<'g, Buckets<K, Pkt<K, O>>> {
        // SAFETY: never null; we hold the table lock.
        let o = unsafe { old.deref() };
        let new = Buckets::new(shift, key);
        // Relaxed: only resizes (under the table lock) write it.
        let seq = self.head.resize_seq.load(Ordering::Relaxed);
        // Relaxed: ordered before the relinks by their Release stores, so a
        // reader that sees a relinked `next` then sees an odd count.
        self.head.resize_seq.store(seq + 1, Ordering::Relaxed);
        for slot in o.slots.iter() {
            // Relaxed: table lock held; nobody else writes chains.
            let mut p = slot.load(Ordering::Relaxed, guard);
            // SAFETY: linked entries outlive the guard (table lock held).
            while let Some(n) = unsafe { p.as_ref() } {
                let next = n.next.load(Ordering::Relaxed, guard); // Relaxed: table lock held
                let head = new.slot_of(&n.key, n.dev);
                // Release: see the odd store above.
                n.next
                    .store(head.load(Ordering::Relaxed, guard), Ordering::Release);
                // Relaxed: the new array is published by the Release below.
                head.store(p, Ordering::Relaxed);
                p = next;
            }
        }
        let new = Owned::new(new).into_shared(guard);
        // Release: pairs with the Acquire load in `lookup_noref`.
        self.head.nht.store(new, Ordering::Release);
        // Release: pairs with the Acquire load that starts a lookup.
        self.head.resize_seq.store(seq + 2, Ordering::Release);
        // SAFETY: replaced above; readers of the old array hold guards. Its
        // slots own nothing (entries are retired by their destroy).
        unsafe { guard.defer_destroy(old) };
        new
    }

    /// Unlink `n` from its chain; caller holds the table lock. Returns
    /// whether it was linked. Readers standing on `n` still follow its
    /// `next` to the rest of the chain (an RCU list deletion).
    fn unlink(&self, n: &Entry<K, O>, guard: &Guard) -> bool {
        let nht = self.head.nht.load(Ordering::Relaxed, guard); // Relaxed: table lock held
                                                                // SAFETY: never null; table lock held.
        let b = unsafe { nht.deref() };
        let mut link = b.slot_of(&n.key, n.dev);
        loop {
            let p = link.load(Ordering::Relaxed, guard); // Relaxed: table lock held
                                                         // SAFETY: linked entries outlive the guard (table lock held).
            let Some(e) = (unsafe { p.as_ref() }) else {
                return false;
            };
            if core::ptr::eq(e, n) {
                // Release: pairs with the Acquire loads of a walk, which then
                // see the successor's initialised fields.
                link.store(n.next.load(Ordering::Relaxed, guard), Ordering::Release);
                return true;
            }
            link = &e.next;
        }
    }

    /// Every linked entry. Exact under the table lock; without it (GC's
    /// scan) a concurrent resize may hide or repeat an entry.
    fn all_entries<'g>(&self, guard: &'g Guard) -> Vec<&'g Entry<K, O>> {
        // Acquire: see `lookup_noref`.
        let nht = self.head.nht.load(Ordering::Acquire, guard);
        // SAFETY: never null; guard held.
        let b = unsafe { nht.deref() };
        let mut v = Vec::new();
        for slot in b.slots.iter() {
            // Acquire: see `lookup_noref`.
            let mut p = slot.load(Ordering::Acquire, guard);
            // SAFETY: see `lookup_noref`.
            while let Some(n) = unsafe { p.as_ref() } {
                v.push(n);
                // Acquire: see `lookup_noref`.
                p = n.next.load(Ordering::Acquire, guard);
            }
        }
        v
    }

    // ----- references ----------------------------------------------------

    /// `neigh_release`: drop a reference, destroying the entry on the last.
    pub(crate) fn release(&self, n: &Entry<K, O>) {
        if n.put() {
            self.destroy(n);
        }
    }

    /// `neigh_destroy`: the last reference is gone. Purge the queue (counted)
    /// and retire the memory; it is reclaimed after a grace period, when the
    /// entry's `Drop` tells the wheel (which catches a still-armed timer).
    fn destroy(&self, n: &Entry<K, O>) {
        let q = {
            let mut g = n.inner.lock();
            // The kernel warns "Destroying alive neighbour" and leaks it.
            assert!(
                g.dead,
                "neigh_destroy: destroying alive neighbour (refcount reached zero while linked)"
            );
            // A second zero crossing means a reference was taken from zero
            // (the pre-2015 bug); with a real RCU this would be a double free.
            assert!(
                !g.destroyed,
                "neigh_destroy: double destroy (refcount reached zero twice)"
            );
            g.destroyed = true;
            g.take_queue()
        };
        // The books first, then the callbacks: if a `discard` below panics,
        // the entry is already counted and retired (SPEC.md §3).
        self.stats.inc(C::DESTROYS);
        // Relaxed: a count (see `create`).
        self.entries.fetch_sub(1, Ordering::Relaxed);
        let guard = rcu::pin();
        // SAFETY: the entry is unlinked (dead) and unreferenced: only readers
        // already inside a read-side section can still see it, and the grace
        // period waits for them (including `guard`, so `n` stays readable
        // below). It is retired exactly once (refcount 1 -> 0 happens once);
        // the model RCU panics on a second retire.
        unsafe { guard.defer_destroy(Shared::from(n as *const Entry<K, O>)) };
        Owed::new(self, n, q).report(DropReason::Destroyed);
        drop(guard);
    }

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

    // ----- timers --------------------------------------------------------

    /// `neigh_add_timer`: take the timer's reference and arm it. Caller holds
    /// the entry lock (and so a live entry, in the fixed code).
    pub(crate) fn add_timer(&self, n: &Entry<K, O>, when: Tick) {
        n.hold();
        if self.wheel.mod_timer(&n.timer, when) {
            // The kernel prints "NEIGH: BUG, double timer add" here. It cannot
            // happen while IN_TIMER states own exactly one timer; undo the
            // extra reference rather than leak it.
            debug_assert!(
                false,
                "NEIGH: BUG, double timer add, state is {:?}",
                n.state()
            );
            n.put();
        }
    }

    /// `neigh_del_timer`: disarm and drop the timer's reference. Caller holds
    /// the entry lock and a reference.
    ///
    /// Unlike the kernel this does not first test for a timer *state*: a
    /// handler that turned the entry FAILED while someone re-armed the timer
    /// (e.g. `set_probe_once` racing the last probe) leaves a pending timer
    /// on a non-timer state, and a flush must still disarm it or the entry
    /// would outlive its table.
    pub(crate) fn del_timer(&self, n: &Entry<K, O>) -> bool {
        if self.wheel.del_timer(&n.timer) {
            // Cannot be the last reference: the caller holds one.
            let last = n.put();
            debug_assert!(!last);
            return true;
        }
        false
    }

    /// Advance the table's clock to `now`, run expired entry timers
    /// (`neigh_timer_handler`) and, when due, the periodic GC. Returns the
    /// number of timers that fired.
    ///
    /// `now` must be in the time domain (`Err(TickOutOfRange)` above
    /// [`MAX_TICK`]) and not behind the table's clock
    /// (`Err(TimeWentBackwards)`); neither error changes anything. Several
    /// threads may call this concurrently: the clock only moves forward, and
    /// a caller whose `now` another caller has already passed returns
    /// `Ok(0)` for the bases that caller ran.
    pub fn run_timers(&self, now: Tick) -> Result<usize, NeighError> {
        if now > MAX_TICK {
            return Err(NeighError::TickOutOfRange {
                tick: now,
                max: MAX_TICK,
            });
        }
        // Relaxed: see `jiffies`; `fetch_max` keeps two concurrent callers
        // from moving the clock backwards.
        let j = self.jiffies.fetch_max(now, Ordering::Relaxed);
        if now < j {
            return Err(NeighError::TimeWentBackwards { jiffies: j, now });
        }
        // A base can be ahead of `now` only because a concurrent caller with
        // a later `now` ran it first; the wheel still runs the other bases.
        let fired = self
            .wheel
            .run_timers(now, |data| self.timer_handler(data))
            .unwrap_or(0);
        let due = {
            let inner = self.lock.lock();
            now >= inner.next_gc
        };
        if due {
            self.gc();
        }
        Ok(fired)
    }

    /// The earliest tick at which [`run_timers`](Self::run_timers) has work.
    pub fn next_event(&self) -> Tick {
        let gc = self.lock.lock().next_gc;
        self.wheel.next_expiry().map_or(gc, |t| t.min(gc))
    }

    /// `neigh_timer_handler`. The armed timer's reference is ours now.
    fn timer_handler(&self, data: usize) {
        let ptr = data as *const Entry<K, O>;
        rcu::assert_live(ptr);
        // SAFETY: this table's wheel is private and only `add_timer` (and the
        // re-arm below) arm timers on it, always an entry's own timer whose
        // data is that entry's address and which holds a reference; the
        // wheel hands that reference to us. The entry is therefore live, and
        // the wheel has checked its owner was not reclaimed.
        let n = unsafe { &*ptr };
        // Released however this handler is left (a callback may panic).
        let _timer_ref = Held::adopt(self, n);
        let now = self.jiffies();
        let parms = &n.device.parms;
        let mut g = n.inner.lock();
        let state = n.state();
        if !state.is(NudState::IN_TIMER) {
            return;
        }
        let mut next = now + parms.retrans_time;
        if state.is(NudState::REACHABLE) {
            let reach = n.device.reachable_time();
            if now <= n.confirmed() + reach {
                next = n.confirmed() + reach;
            } else if now <= n.used() + parms.delay_probe_time {
                n.set_state(&g, NudState::DELAY);
                g.updated = now;
                next = now + parms.delay_probe_time;
            } else {
                n.set_state(&g, NudState::STALE);
                g.updated = now;
            }
        } else if state.is(NudState::DELAY) {
            if now <= n.confirmed() + parms.delay_probe_time {
                n.set_state(&g, NudState::REACHABLE);
                g.updated = now;
                next = n.confirmed() + n.device.reachable_time();
            } else {
                n.set_state(&g, NudState::PROBE);
                g.updated = now;
                g.probes = 0;
                next = now + parms.retrans_time;
            }
        }
        let st = n.state();
        if st.is(NudState::INCOMPLETE | NudState::PROBE)
            && g.probes >= parms.max_probes(st.is(NudState::PROBE))
        {
            n.set_state(&g, NudState::FAILED);
            g.updated = now;
            // FAILED owns no timer: if someone re-armed it while this handler
            // waited for the lock (set_probe_once), disarm it (we still hold
            // the handler's reference, so this is not the last one).
            self.del_timer(n);
            let q = self.invalidate(&mut g);
            drop(g);
            Owed::new(self, n, q).report(DropReason::ResolutionFailed);
            return;
        }
        if n.state().is(NudState::IN_TIMER) {
            next = next.max(now + HZ / 2);
            if !self.wheel.mod_timer(&n.timer, next) {
                n.hold();
            }
        }
        let probe = if n.state().is(NudState::INCOMPLETE | NudState::PROBE) {
            self.probe_kind(n, &mut g)
        } else {
            None
        };
        drop(g);
        if let Some(p) = probe {
            self.solicit(n, p);
        }
    }

    /// `neigh_invalidate`: take the queue of a FAILED entry; the caller
    /// reports each packet (`Owed::report`) after unlocking.
    pub(crate) fn invalidate(&self, g: &mut Inner<Pkt<K, O>>) -> Queue<Pkt<K, O>> {
        self.stats.inc(C::RES_FAILED);
        g.take_queue()
    }

    /// Start resolving (NONE/FAILED -> INCOMPLETE, `__neigh_event_send`):
    /// arm the timer and count the first probe, which the caller sends after
    /// unlocking. The caller holds the entry lock of a live entry and has
    /// checked `parms.can_resolve()`.
    pub(crate) fn start_resolution(
        &self,
        n: &Entry<K, O>,
        g: &mut Inner<Pkt<K, O>>,
        now: Tick,
    ) -> Option<Probe> {
        let parms = &n.device.parms;
        g.probes = parms.ucast_probes;
        n.set_state(g, NudState::INCOMPLETE);
        g.updated = now;
        self.add_timer(n, now + parms.retrans_time.max(HZ / 2));
        self.probe_kind(n, g)
    }

    /// `neigh_probe` part 1 (under the entry lock): count the probe and pick
    /// its kind as `arp_solicit` does.
    pub(crate) fn probe_kind(&self, n: &Entry<K, O>, g: &mut Inner<Pkt<K, O>>) -> Option<Probe> {
        let parms = &n.device.parms;
        let probes = g.probes;
        g.probes += 1;
        if probes < parms.ucast_probes && n.state().is(NudState::VALID) {
            return Some(Probe::Unicast(n.read_lladdr()));
        }
        if probes < parms.ucast_probes + parms.app_probes && probes >= parms.ucast_probes {
            return Some(Probe::App);
        }
        Some(Probe::Multicast)
    }

    /// `neigh_probe` part 2 (no lock held).
    pub(crate) fn solicit(&self, n: &Entry<K, O>, p: Probe) {
        self.stats.inc(C::SOLICITS);
        self.ops.solicit(n.dev, &n.key, p);
    }

    // ----- neigh_update --------------------------------------------------

    /// `neigh_update`: apply new reachability information (an ARP reply, a
    /// neighbour advertisement, an administrative change).
    ///
    /// `new` must be a single state. Returns `Err(Dead)` if the entry was
    /// unlinked meanwhile (the 2015 fix), `Err(NotPermitted)` for NOARP and
    /// PERMANENT entries without [`UpdateFlags::ADMIN`], `Err(BadLladdrLen)`
    /// for an address of the wrong length.
    pub fn update(
        &self,
        n: &Entry<K, O>,
        lladdr: Option<&[u8]>,
        new: NudState,
        flags: UpdateFlags,
    ) -> Result<(), NeighError> {
        self.check_entry(n)?;
        let dev = &n.device;
        if !new.is_single() || (new == NudState::INCOMPLETE && !dev.parms.can_resolve()) {
            return Err(NeighError::InvalidState(new));
        }
        let lladdr = lladdr.map(|a| check_lladdr(dev, a)).transpose()?;
        let now = self.jiffies();
        let mut g = n.inner.lock();
        let old = n.state();
        if !flags.contains(UpdateFlags::ADMIN) && old.is(NudState::NOARP | NudState::PERMANENT) {
            return Err(NeighError::NotPermitted);
        }
        if self.dead_check() && g.dead {
            return Err(NeighError::Dead);
        }
        let cur: Option<LlAddr> = old.is(NudState::VALID).then(|| n.read_lladdr());
        if !new.is(NudState::VALID) {
            self.del_timer(n);
            g.updated = now;
            let (q, probe) = if new == NudState::INCOMPLETE {
                // The kernel arms nothing here, so packets queued later would
                // wait for a reply no probe asks for: start resolving as a
                // packet would (SPEC.md §2).
                (Queue::new(), self.start_resolution(n, &mut g, now))
            } else {
                n.set_state(&g, new);
                let q = if old.is(NudState::INCOMPLETE | NudState::PROBE) && new == NudState::FAILED
                {
                    self.invalidate(&mut g)
                } else {
                    // NONE owns no timer and nothing would ever send what is
                    // queued (the kernel keeps it): report it now.
                    g.take_queue()
                };
                (q, None)
            };
            drop(g);
            Owed::new(self, n, q).report(DropReason::ResolutionFailed);
            if let Some(p) = probe {
                self.solicit(n, p);
            }
            return Ok(());
        }
        // Compare the new lladdr with the cached one.
        let mut lladdr = match (lladdr, cur) {
            (Some(a), _) => a,
            (None, Some(c)) if old.is(NudState::VALID) => c,
            (None, _) => return Err(NeighError::NoLladdr),
        };
        let mut new = new;
        if new.is(NudState::CONNECTED) {
            n.confirmed.store(now, Ordering::Relaxed); // Relaxed: timestamp heuristic
        }
        g.updated = now;
        let mut update_isrouter = flags.contains(UpdateFlags::OVERRIDE_ISROUTER);
        if old.is(NudState::VALID) {
            let same = Some(lladdr) == cur;
            if !same && !flags.contains(UpdateFlags::OVERRIDE) {
                update_isrouter = false;
                if flags.contains(UpdateFlags::WEAK_OVERRIDE) && old.is(NudState::CONNECTED) {
                    lladdr = cur.expect("VALID entries have an address");
                    new = NudState::STALE;
                } else {
                    return Ok(());
                }
            } else if same
                && new == NudState::STALE
                && (flags.contains(UpdateFlags::WEAK_OVERRIDE) || old.is(NudState::CONNECTED))
            {
                new = old;
            }
        }
        if update_isrouter {
            g.router = flags.contains(UpdateFlags::ISROUTER);
        }
        // The header first, then the state: the lock-free output trusts the
        // header of any entry whose (Acquire-loaded) state it sees CONNECTED.
        if Some(lladdr) != cur {
            n.publish_hh(&g, &dev.build_header(&lladdr));
            if !new.is(NudState::CONNECTED) {
                n.confirmed.store(
                    now.saturating_sub(dev.parms.base_reachable_time << 1),
                    Ordering::Relaxed,
                ); // Relaxed: timestamp heuristic
            }
        }
        if new != old {
            self.del_timer(n);
            if new.is(NudState::PROBE) {
                g.probes = 0;
            }
            if new.is(NudState::IN_TIMER) {
                let d = if new.is(NudState::REACHABLE) {
                    dev.reachable_time()
                } else {
                    0
                };
                self.add_timer(n, now + d);
            }
            n.set_state(&g, new);
        }
        if new == old || old.is(NudState::VALID) {
            return Ok(());
        }
        // Newly VALID: flush the queue with the new header (kernel: n->output
        // for each queued skb). A STALE entry then moves on as the first
        // packet's event_send would have moved it.
        let q = Owed::new(self, n, g.take_queue());
        let hh = n.read_hh();
        drop(g);
        if !q.is_empty() {
            q.flush(&hh);
            if new == NudState::STALE {
                let _ = self.event_send(n, None);
            }
        }
        Ok(())
    }

    /// `neigh_confirm` / `dst_confirm`: an upper layer saw the neighbour
    /// answer (a TCP ACK); DELAY then returns to REACHABLE without probing.
    /// `Err(ForeignEntry)` for an entry of another table.
    #[inline]
    pub fn confirm(&self, n: &Entry<K, O>) -> Result<(), NeighError> {
        self.check_entry(n)?;
        let now = self.jiffies();
        if n.confirmed() != now {
            n.confirmed.store(now, Ordering::Relaxed); // Relaxed: timestamp heuristic
        }
        Ok(())
    }

    /// Handle an ARP reply or request from `key` carrying `lladdr`, as
    /// `arp_process` does: update an existing entry (REACHABLE for a reply,
    /// STALE for a request), overriding a different address only when the
    /// entry's `locktime` has passed; create a STALE entry for a request.
    pub fn receive_arp(
        &self,
        key: K,
        dev: DevId,
        lladdr: &[u8],
        is_reply: bool,
    ) -> Result<(), NeighError> {
        // Validate before anything is created: bad input leaves no trace.
        self.check_input(dev, Some(lladdr))?;
        let n = match self.lookup(key, dev) {
            Some(n) => n,
            None if !is_reply => self.lookup_or_create(key, dev)?,
            // An unsolicited reply for an unknown neighbour is ignored, as
            // `arp_process` does without `arp_accept`.
            None => return Ok(()),
        };
        let now = self.jiffies();
        let updated = n.inner.lock().updated;
        let override_ok = now >= updated + n.device.parms.locktime;
        let state = if is_reply {
            NudState::REACHABLE
        } else {
            NudState::STALE
        };
        let flags = if override_ok {
            UpdateFlags::OVERRIDE
        } else {
            UpdateFlags::NONE
        };
        self.update(&n, Some(lladdr), state, flags)
    }

    /// Add or replace a static (PERMANENT) entry, as `ip neigh replace ...
    /// nud permanent` does.
    pub fn add_permanent(&self, key: K, dev: DevId, lladdr: &[u8]) -> Result<(), NeighError> {
        self.check_input(dev, Some(lladdr))?;
        let n = self.lookup_or_create(key, dev)?;
        self.update(
            &n,
            Some(lladdr),
            NudState::PERMANENT,
            UpdateFlags::OVERRIDE | UpdateFlags::ADMIN,
        )
    }

    /// `__neigh_set_probe_once`: give a FAILED entry one more probe (IPv6
    /// uses this when a route through it is tried again). Any other state
    /// is left alone. `Err(Dead)` if the entry was removed (the 2015 fix),
    /// `Err(ForeignEntry)` for an entry of another table.
    pub fn set_probe_once(&self, n: &Entry<K, O>) -> Result<(), NeighError> {
        self.check_entry(n)?;
        let now = self.jiffies();
        let mut g = n.inner.lock();
        if self.dead_check() && g.dead {
            return Err(NeighError::Dead);
        }
        g.updated = now;
        if !n.state().is(NudState::FAILED) {
            return Ok(());
        }
        n.set_state(&g, NudState::INCOMPLETE);
        g.probes = n.device.parms.max_probes(false);
        self.add_timer(n, now + n.device.parms.retrans_time);
        drop(g);
        // The kernel's caller (ndisc) sends the probe itself.
        self.solicit(n, Probe::Multicast);
        Ok(())
    }

    // ----- removal -------------------------------------------------------

    /// `neigh_flush_dev` for one entry: unlink it, then under its lock
    /// disarm the timer, purge the queue, reset the state and mark it dead.
    /// Caller holds the table lock, and then drops the table's reference.
    fn kill(&self, n: &Entry<K, O>, guard: &Guard) -> Queue<Pkt<K, O>> {
        self.unlink(n, guard);
        let mut g = n.inner.lock();
        self.del_timer(n);
        let q = g.take_queue();
        // The kernel keeps VALID entries NOARP with a blackhole output; we
        // have no output pointer, so NONE sends holders to event_send, which
        // drops on `dead`.
        n.set_state(&g, NudState::NONE);
        g.dead = true;
        q
    }

    /// `neigh_flush_dev` (device down): remove every entry of `dev` (all
    /// entries for `None`). Queued packets are dropped as `DeviceDown`;
    /// holders keep their references and see a dead entry.
    pub fn flush_dev(&self, dev: Option<DevId>) -> usize {
        self.flush(dev, false).unwrap_or(0)
    }

    /// `neigh_flush_dev`, optionally also unregistering the device (`None`
    /// if asked to unregister a device that is not registered).
    fn flush(&self, dev: Option<DevId>, unregister: bool) -> Option<usize> {
        let guard = rcu::pin();
        let mut inner = self.lock.lock();
        if unregister {
            inner.devices.remove(&dev?)?;
        }
        // Each entry's queue, then the table's reference to it: settled in
        // that order after the lock, even if a `discard` panics (`owed`).
        let mut killed = Vec::new();
        for n in self.all_entries(&guard) {
            if dev.is_none_or(|d| d == n.dev) {
                let q = self.kill(n, &guard);
                killed.push((Owed::new(self, n, q), Held::adopt(self, n)));
            }
        }
        drop(inner);
        let count = killed.len();
        for (q, table_ref) in killed {
            q.report(DropReason::DeviceDown);
            drop(table_ref);
        }
        Some(count)
    }

    /// Remove one entry (`ip neigh del`): it becomes FAILED, its queued
    /// packets are reported through `error_report`, and it is unlinked.
    pub fn remove(&self, key: K, dev: DevId) -> Result<(), NeighError> {
        self.check_input(dev, None)?;
        let n = self.lookup(key, dev).ok_or(NeighError::NotFound)?;
        let _ = self.update(
            &n,
            None,
            NudState::FAILED,
            UpdateFlags::OVERRIDE | UpdateFlags::ADMIN,
        );
        let guard = rcu::pin();
        let inner = self.lock.lock();
        if !self.unlink(&n, &guard) {
            return Err(NeighError::NotFound);
        }
        let q = {
            let mut g = n.inner.lock();
            self.del_timer(&n);
            // A handler that was already running (so `del_timer` found nothing
            // pending) must not see a timer state and re-arm the dead entry.
            n.set_state(&g, NudState::FAILED);
            g.dead = true;
            g.take_queue()
        };
        drop(inner);
        let table_ref = Held::adopt(self, &n);
        Owed::new(self, &n, q).report(DropReason::ResolutionFailed);
        drop(table_ref);
        Ok(())
    }

    // ----- gc ------------------------------------------------------------

    /// Unlink `n` if `collectable` accepts it and only the table holds it;
    /// caller holds the table lock. The check and the `dead` mark are one
    /// critical section of the entry lock (as in `neigh_periodic_work`), so
    /// no `event_send` can arm the timer between them. A lookup may still
    /// find the entry and take a reference afterwards; it then sees `dead`.
    /// On `true` the caller releases the table's reference *after* dropping
    /// the table lock (the destroy may call `NeighOps::discard`, and ops
    /// callbacks never run under a cache lock).
    fn try_collect(
        &self,
        n: &Entry<K, O>,
        guard: &Guard,
        collectable: &impl Fn(&Entry<K, O>, NudState) -> bool,
    ) -> bool {
        let mut g = n.inner.lock();
        if g.dead || n.refcnt() != 1 || !collectable(n, n.state()) {
            return false;
        }
        let linked = self.unlink(n, guard);
        debug_assert!(linked, "a live entry is linked");
        g.dead = true;
        true
    }

    /// Periodic collection: scan without the table lock (an RCU walk; a
    /// concurrent resize may hide an entry until the next pass), then take
    /// the table lock only for each entry that looks collectable, so creates
    /// are never blocked for a whole scan.
    pub(crate) fn collect_unlocked(
        &self,
        collectable: impl Fn(&Entry<K, O>, NudState) -> bool,
    ) -> GcReport {
        let guard = rcu::pin();
        let mut rep = GcReport::default();
        for n in self.all_entries(&guard) {
            rep.scanned += 1;
            // A lock-free pre-check; `try_collect` decides under the locks.
            if n.refcnt() == 1 && collectable(n, n.state()) {
                let taken = {
                    let _table = self.lock.lock();
                    self.try_collect(n, &guard, &collectable)
                };
                if taken {
                    rep.removed += 1;
                    self.release(n);
                }
            }
        }
        rep
    }

    /// The table lock (`tbl->lock`).
    pub(super) fn lock_inner(&self) -> crate::sync::MutexGuard<'_, TableInner> {
        self.lock.lock()
    }

    pub(crate) fn entries(&self) -> usize {
        // Relaxed: a count.
        self.entries.load(Ordering::Relaxed)
    }

    /// Forced GC (`neigh_forced_gc`); caller holds the table lock. Returns
    /// the table's references to the unlinked entries: the caller drops them
    /// after dropping the lock (the destroy may call the ops).
    fn forced_gc<'a>(&'a self, inner: &mut TableInner, guard: &'a Guard) -> Vec<Held<'a, K, O>> {
        inner.last_flush = self.jiffies();
        self.stats.inc(C::FORCED_GC_RUNS);
        let f = |_: &Entry<K, O>, state: NudState| !state.is(NudState::PERMANENT);
        self.all_entries(guard)
            .into_iter()
            .filter(|n| self.try_collect(n, guard, &f))
            .map(|n| Held::adopt(self, n))
            .collect()
    }

    // ----- reporting -----------------------------------------------------

    /// A snapshot of the counters.
    pub fn stats(&self) -> NeighStats {
        let guard = rcu::pin();
        // Acquire: see `lookup_noref`.
        let nht = self.head.nht.load(Ordering::Acquire, &guard);
        // SAFETY: never null; guard held.
        let buckets = unsafe { nht.deref() }.slots.len();
        self.stats.snapshot(self.entries(), buckets)
    }

    /// Entries currently linked.
    pub fn len(&self) -> usize {
        let guard = rcu::pin();
        let _table = self.lock.lock();
        self.all_entries(&guard).len()
    }

    /// Is the table empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every linked entry, like `ip neigh show`.
    pub fn dump(&self) -> Vec<NeighInfo<K>> {
        let guard = rcu::pin();
        // Under the table lock the walk is exact (no resize can overlap it).
        let _table = self.lock.lock();
        let now = self.jiffies();
        let mut v: Vec<NeighInfo<K>> = self
            .all_entries(&guard)
            .into_iter()
            .map(|n| {
                let g = n.inner.lock();
                NeighInfo {
                    key: n.key,
                    dev: n.dev,
                    lladdr: n.lladdr(),
                    state: n.state(),
                    refcnt: n.refcnt(),
                    used_ago: now.saturating_sub(n.used()),
                    confirmed_ago: now.saturating_sub(n.confirmed()),
                    updated_ago: now.saturating_sub(g.updated),
                    probes: g.probes,
                    queue_len: g.queue_len(),
                    router: g.router,
                }
            })
            .collect();
        v.sort_by_key(|e| (e.dev, e.key));
        v
    }

    /// A read-only view of the table's timers (diagnostics and tests). The
    /// wheel itself is private: its timers' handler argument is an entry's
    /// address, so only the table may arm them.
    pub fn timers(&self) -> TimersView<'_> {
        TimersView { wheel: &self.wheel }
    }
}

/// A read-only view of a table's timer wheel
/// ([`NeighTable::timers`]).
#[derive(Clone, Copy, Debug)]
pub struct TimersView<'a> {
    wheel: &'a TimerWheel,
}

impl TimersView<'_> {
    /// Number of pending entry timers.
    pub fn pending(&self) -> usize {
        self.wheel.pending()
    }

    /// The earliest pending expiry, if any timer is pending.
    pub fn next_expiry(&self) -> Option<Tick> {
        self.wheel.next_expiry()
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
                // or writer remains. The flush unlinked (and retired) every
                // entry under the table lock before making any callback, so
                // however it was left, the array owns nothing else.
                unsafe {
                    let g = rcu::unprotected();
                    drop(self.0.load(Ordering::Relaxed, g).into_owned());
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
