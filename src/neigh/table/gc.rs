//! Garbage collection, policy and mechanics: the periodic pass
//! (`neigh_periodic_work`), forced collection at the thresholds
//! (`neigh_forced_gc`, run when an entry is created) over the `gc_list`
//! of GC-eligible entries (`neigh_update_gc_list`), and the one way entries
//! leave the table (`unlink_entry`, `neigh_mark_dead`'s list bookkeeping).
//!
//! Rules: an entry is collected only under the table lock and its entry
//! lock, in the one entry-lock section that checks it is collectable and
//! held only by the table (`refcnt == 1`), marks it dead, unlinks it and
//! reports its deletion; the table's reference is dropped after the table
//! lock, and the memory returns after an RCU grace period. A concurrent
//! `lookup_noref` may still hold the entry: that is the race the `dead`
//! checks close (race matrix L1-L3). The periodic pass scans under RCU
//! without the table lock and locks per candidate, so creates never wait
//! for a whole scan. The `gc_list`'s live items name exactly the linked
//! entries that are neither PERMANENT nor externally learned (every unlink
//! goes through `unlink_entry`; every change of those two goes through
//! `update_gc_list`); its other items are tombstones (`GcList`).

use super::owed::Held;
use super::{time_after, time_before_eq, Entry, Locked, NeighTable};
use crate::error::NeighError;
use crate::neigh::entry::EntryLocked;
use crate::neigh::stats::C;
use crate::neigh::{DevId, NeighFlags, NeighKey, NeighOps, NudState};
use crate::parms::{HZ, MAX_ENTRIES};
use crate::rcu::{self, Guard};
use crate::sync::Ordering;
use crate::timer::Tick;
use std::collections::VecDeque;

/// Entries (held only by the table) forced GC examines before it gives up
/// for this create: the kernel's 1 ms budget, made a count so that the
/// table behaves the same on every machine (SPEC.md "3.10 vs now").
pub(crate) const FORCED_GC_BUDGET: usize = 4096;

/// What a GC pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Entries examined.
    pub scanned: usize,
    /// Entries unlinked (destroyed once their last holder lets go).
    pub removed: usize,
}

/// `tbl->gc_list`: the GC-eligible entries (not PERMANENT, not externally
/// learned), oldest first; `gc_entries` is its length.
///
/// The kernel links each entry into the list through a `list_head` in the
/// entry. Ours has no room for one (two cache lines, SPEC.md §6), so the
/// list is a queue of `(key, device, generation)` items and the entry keeps
/// only the generation of its item (`EntryLocked::gc_gen`, a spare byte;
/// 0: off the list). Removal is lazy: it clears the entry's byte and leaves
/// the item as a tombstone. An item is *live* while the entry linked for
/// its key has its generation; walks skip the others, and the queue is
/// compacted once tombstones outnumber live items (amortised O(1) per
/// removal), never during a walk. Generations cycle through 1..=255: a
/// tombstone whose key is linked again with the same generation (255 list
/// insertions later) counts as a second, older place of that entry, which
/// only lets forced GC consider it earlier; the count stays exact, as it
/// follows the entries' bytes. Cost: 12 B per IPv4 entry, 24 B per IPv6
/// entry (SPEC.md §9), where an ordered map plus an index cost 68 B.
pub(crate) struct GcList<K> {
    items: VecDeque<(K, DevId, u8)>,
    live: usize,
    gen: u8,
}

impl<K: NeighKey> GcList<K> {
    pub(crate) fn new() -> Self {
        GcList {
            items: VecDeque::new(),
            live: 0,
            gen: 0,
        }
    }

    /// `gc_entries`.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Append `n` at the tail (`list_add_tail`) unless it is on the list.
    fn insert(&mut self, key: K, dev: DevId, g: &mut EntryLocked<impl Sized>) {
        if g.gc_gen == 0 {
            self.gen = if self.gen == u8::MAX { 1 } else { self.gen + 1 };
            g.gc_gen = self.gen;
            self.items.push_back((key, dev, self.gen));
            self.live += 1;
        }
    }

    /// Take the entry off the list (its item becomes a tombstone).
    fn remove(&mut self, g: &mut EntryLocked<impl Sized>) {
        if g.gc_gen != 0 {
            g.gc_gen = 0;
            self.live -= 1;
        }
    }

    /// The item at `i` (walks go by index; nothing is compacted during a
    /// walk, so indices are stable under the table lock).
    fn get(&self, i: usize) -> Option<(K, DevId, u8)> {
        self.items.get(i).copied()
    }

    /// More tombstones than live items (and more than a few).
    fn sparse(&self) -> bool {
        self.items.len() > 2 * self.live + 64
    }
}

/// Does the entry stay off the `gc_list` (`exempt_from_gc`)?
pub(crate) fn exempt(state: NudState, flags: u8) -> bool {
    state.is(NudState::PERMANENT) || NeighFlags::from_byte(flags).contains(NeighFlags::EXT_LEARNED)
}

/// `neigh->used`, as the periodic pass sees it: bumped to `confirmed` when
/// that is later and not in the future (`neigh_periodic_work`).
fn effective_used<K: Copy, P>(n: &crate::neigh::Neighbour<K, P>, now: Tick) -> Tick {
    let (used, confirmed) = (n.used(), n.confirmed());
    if time_after(confirmed, used) && time_before_eq(confirmed, now) {
        confirmed
    } else {
        used
    }
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// `neigh_periodic_work`: re-draw the randomised reachable times once
    /// the clock is more than 300 s past the last draw; then, with at least
    /// `gc_thresh1` entries, remove the entries that only the table holds,
    /// are not PERMANENT, in a timer state or externally learned, and are
    /// FAILED or unused for `gc_staletime` (`used` counting a later
    /// confirmation). Called by [`run_timers`](Self::run_timers) every
    /// `gc_interval`; may be called directly.
    pub fn gc(&self) -> GcReport {
        let now = self.jiffies();
        let mut tbl = self.lock.lock();
        self.stats.inc(C::PERIODIC_GC_RUNS);
        tbl.next_gc = now.saturating_add(tbl.cfg.gc_interval);
        if time_after(now, tbl.last_rand + 300 * HZ) {
            tbl.last_rand = now;
            let devs: Vec<_> = tbl.devices.values().cloned().collect();
            for d in devs {
                let t = tbl.rand_reach_time(d.parms().base_reachable_time);
                // Relaxed: see `Device::reachable_time`.
                d.reachable_time.store(t, Ordering::Relaxed);
            }
        }
        if self.entries() < tbl.cfg.gc_thresh1 {
            return GcReport::default();
        }
        drop(tbl);
        self.collect_unlocked()
    }

    /// The periodic pass's rule. The lock-free pre-check (`g` = `None`)
    /// reads only the state and timestamps; under the entry lock the flags
    /// count too and `used` is bumped as the kernel bumps it.
    fn periodic_collectable(
        &self,
        n: &Entry<K, O>,
        g: Option<&EntryLocked<O::Packet>>,
        state: NudState,
    ) -> bool {
        if state.is(NudState::PERMANENT | NudState::IN_TIMER) {
            return false;
        }
        let now = self.jiffies();
        let used = effective_used(n, now);
        if let Some(g) = g {
            if NeighFlags::from_byte(g.flags).contains(NeighFlags::EXT_LEARNED) {
                return false;
            }
            if used != n.used() {
                // Relaxed: a timestamp heuristic, as on the output path.
                n.used.store(used, Ordering::Relaxed);
            }
        }
        state == NudState::FAILED
            || time_before_eq(used.wrapping_add(n.device.parms().gc_staletime), now)
    }

    /// Room for one more entry (`neigh_alloc`'s threshold check), under
    /// the table lock. Entries created `exempt` (about to become PERMANENT
    /// or externally learned) skip the thresholds, as in the kernel; every
    /// entry counts against [`MAX_ENTRIES`]. Otherwise: with `gc_thresh3`
    /// GC-eligible entries, or `gc_thresh2` and no complete forced GC in
    /// the last 5 s, run forced GC; at `gc_thresh3` with nothing collected,
    /// `TableFull` ("neighbor table overflow"). Returns the table's
    /// references to the collected entries: the caller drops them after
    /// the table lock.
    pub(super) fn make_room<'a>(
        &'a self,
        tbl: &mut Locked<K>,
        exempt: bool,
        guard: &'a Guard,
    ) -> Result<Vec<Held<'a, K, O>>, NeighError> {
        let c = tbl.cfg;
        if self.entries() >= MAX_ENTRIES {
            self.stats.inc(C::TABLE_FULLS);
            return Err(NeighError::TableFull {
                entries: self.entries(),
                gc_thresh3: c.gc_thresh3,
            });
        }
        if exempt {
            return Ok(Vec::new());
        }
        // Not inside the walk below, which goes by index.
        self.compact_gc_list(tbl, guard);
        let now = self.jiffies();
        let entries = tbl.gc.len();
        if entries < c.gc_thresh3
            && (entries < c.gc_thresh2 || !time_after(now, tbl.last_flush + 5 * HZ))
        {
            return Ok(Vec::new());
        }
        let victims = self.forced_gc(tbl, guard);
        if victims.is_empty() && entries >= c.gc_thresh3 {
            self.stats.inc(C::TABLE_FULLS);
            return Err(NeighError::TableFull {
                entries,
                gc_thresh3: c.gc_thresh3,
            });
        }
        Ok(victims)
    }

    /// Forced GC (`neigh_forced_gc`); caller holds the table lock. Walks
    /// the `gc_list` oldest first and removes entries held only by the
    /// table that are FAILED or NOARP or were not updated in the last 5 s,
    /// until the list is down to `gc_thresh2`. Gives up after
    /// [`FORCED_GC_BUDGET`] such entries without recording the run (so the
    /// next create above `gc_thresh2` tries again). Returns the table's
    /// references to the unlinked entries: the caller drops them after
    /// dropping the lock (the destroy may call the ops).
    pub(super) fn forced_gc<'a>(
        &'a self,
        tbl: &mut Locked<K>,
        guard: &'a Guard,
    ) -> Vec<Held<'a, K, O>> {
        self.stats.inc(C::FORCED_GC_RUNS);
        let now = self.jiffies();
        let tref = now.wrapping_sub(5 * HZ);
        let max_clean = tbl.gc.len().saturating_sub(tbl.cfg.gc_thresh2);
        let mut victims = Vec::new();
        let mut examined = 0;
        let mut at = 0;
        while let Some((key, dev, gen)) = tbl.gc.get(at) {
            at += 1;
            // A tombstone: nothing linked for the key, or another item's.
            let Some(n) = self.lookup_noref(key, dev, guard) else {
                continue;
            };
            if n.refcnt() != 1 || n.lock.lock().gc_gen != gen {
                continue;
            }
            let old = |_: &Entry<K, O>, g: Option<&EntryLocked<O::Packet>>, s: NudState| {
                s == NudState::FAILED
                    || s == NudState::NOARP
                    || g.is_some_and(|g| time_after(tref, g.updated))
            };
            if self.try_collect(tbl, n, guard, &old) {
                victims.push(Held::adopt(self, n));
            }
            if victims.len() >= max_clean {
                break;
            }
            examined += 1;
            if examined == FORCED_GC_BUDGET {
                return victims;
            }
        }
        tbl.last_flush = now;
        victims
    }

    /// Unlink `n` if `collectable` accepts it (under its entry lock) and
    /// only the table holds it; caller holds the table lock. The check, the
    /// `dead` mark, the unlink and the deletion event are one critical
    /// section of the entry lock (as in `neigh_periodic_work`), so no
    /// `event_send` can arm the timer between them. A lookup may still find
    /// the entry and take a reference afterwards; it then sees `dead`. On
    /// `true` the caller releases the table's reference *after* dropping the
    /// table lock (the destroy may call `NeighOps::discard`, and ops
    /// callbacks never run under a cache lock).
    pub(super) fn try_collect(
        &self,
        tbl: &mut Locked<K>,
        n: &Entry<K, O>,
        guard: &Guard,
        collectable: &impl Fn(&Entry<K, O>, Option<&EntryLocked<O::Packet>>, NudState) -> bool,
    ) -> bool {
        let mut g = n.lock.lock();
        if g.dead || n.refcnt() != 1 || !collectable(n, Some(&g), n.state()) {
            return false;
        }
        let before = self.snap(n, &g);
        let linked = self.unlink_entry(tbl, n, &mut g, guard);
        debug_assert!(linked, "a live entry is linked");
        g.dead = true;
        ktrace!(
            "neigh_periodic_work",
            "{} refcnt==1, {}, not in timer → dead=1, unlink",
            n.key,
            n.state()
        );
        self.notify_delete(n, &g, before);
        true
    }

    /// Unlink `n` from the hash and from the `gc_list` and managed list
    /// (`neigh_mark_dead`'s bookkeeping); caller holds the table lock and
    /// `n`'s entry lock (`g`). Every removal goes through here, so the lists
    /// name linked entries only.
    pub(super) fn unlink_entry(
        &self,
        tbl: &mut Locked<K>,
        n: &Entry<K, O>,
        g: &mut EntryLocked<O::Packet>,
        guard: &Guard,
    ) -> bool {
        if !self.unlink(n, guard) {
            return false;
        }
        tbl.gc.remove(g);
        // `n` was the linked entry for its key, so this names it.
        tbl.managed.remove(&(n.key, n.dev));
        true
    }

    /// A new entry is about to be linked (caller holds the table lock):
    /// put it on the `gc_list` unless `exempt`, and report it.
    pub(super) fn note_created(&self, tbl: &mut Locked<K>, n: &Entry<K, O>, exempt: bool) {
        if !exempt {
            // Not linked yet: nobody else can hold this lock.
            tbl.gc.insert(n.key, n.dev, &mut n.lock.lock());
        }
        self.notify_new(n);
    }

    /// `neigh_update_gc_list`: put `n` on the `gc_list` or take it off to
    /// match its state and flags now (PERMANENT or externally learned: off).
    /// Takes the table lock, then the entry lock; nothing for a dead entry.
    pub(super) fn update_gc_list(&self, n: &Entry<K, O>) {
        // Pinned before the table lock: a pin may run deferred destructors.
        let guard = rcu::pin();
        let mut tbl = self.lock.lock();
        {
            let mut g = n.lock.lock();
            if g.dead {
                return;
            }
            if exempt(n.state(), g.flags) {
                tbl.gc.remove(&mut g);
            } else {
                tbl.gc.insert(n.key, n.dev, &mut g);
            }
        }
        self.compact_gc_list(&mut tbl, &guard);
    }

    /// Drop the `gc_list`'s tombstones once they outnumber its live items
    /// (GcList's rules); caller holds the table lock and is not walking the
    /// list. Takes each remaining item's entry lock.
    pub(super) fn compact_gc_list(&self, tbl: &mut Locked<K>, guard: &Guard) {
        if !tbl.gc.sparse() {
            return;
        }
        tbl.gc.items.retain(|&(key, dev, gen)| {
            self.lookup_noref(key, dev, guard)
                .is_some_and(|n| n.lock.lock().gc_gen == gen)
        });
    }

    /// Periodic collection: scan without the table lock (an RCU walk; a
    /// concurrent resize may hide an entry until the next pass), then take
    /// the table lock only for each entry that looks collectable, so creates
    /// are never blocked for a whole scan.
    pub(crate) fn collect_unlocked(&self) -> GcReport {
        let guard = rcu::pin();
        let mut rep = GcReport::default();
        let rule = |n: &Entry<K, O>, g: Option<&EntryLocked<O::Packet>>, s: NudState| {
            self.periodic_collectable(n, g, s)
        };
        for n in self.all_entries(&guard) {
            rep.scanned += 1;
            // A lock-free pre-check; `try_collect` decides under the locks.
            if n.refcnt() == 1 && rule(n, None, n.state()) {
                let taken = {
                    let mut tbl = self.lock.lock();
                    self.try_collect(&mut tbl, n, &guard, &rule)
                };
                if taken {
                    rep.removed += 1;
                    self.release(n);
                }
            }
        }
        rep
    }

    /// GC-eligible entries now (the kernel's `gc_entries`: the length of the
    /// `gc_list`, which the thresholds are compared with).
    pub fn gc_entries(&self) -> usize {
        self.lock.lock().gc.len()
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use crate::{DevId, DeviceConfig, NeighTable, NudState, TableConfig};
    use crate::{UpdateFlags, HZ};
    use std::net::Ipv4Addr;

    use super::super::test_ops::Nop;

    const DEV: DevId = DevId(1);

    fn table(thresh2: usize) -> NeighTable<Ipv4Addr, Nop> {
        let cfg = TableConfig {
            seed: 7,
            gc_thresh1: 1,
            gc_thresh2: thresh2,
            gc_thresh3: 4096,
            ..TableConfig::default()
        };
        let t = NeighTable::new(cfg, Nop).unwrap();
        t.add_device(DEV, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
            .unwrap();
        t
    }

    fn ip(i: u32) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 + i)
    }

    /// Removals leave tombstones; the count stays exact and the queue stays
    /// within twice the live items (plus slack) however long the churn,
    /// and generations wrapping (300 toggles of one entry) change neither.
    #[test]
    fn the_lazy_gc_list_counts_exactly_and_stays_compact() {
        let t = table(4096);
        for i in 0..50 {
            t.lookup_or_create(ip(i), DEV).unwrap();
        }
        // Each round leaves one tombstone; compaction runs exactly when the
        // queue passes twice the live items plus 64 (165 items for 50), so
        // it is amortised (not every removal) and bounded.
        let mut lens = Vec::new();
        for i in 1000..3000 {
            t.lookup_or_create(ip(i), DEV).unwrap();
            t.remove(ip(i), DEV).unwrap();
            let tbl = t.lock.lock();
            assert_eq!(tbl.gc.len(), 50);
            lens.push(tbl.gc.items.len());
        }
        assert_eq!(lens.iter().max(), Some(&165), "compacted past 2 x 50 + 64");
        assert_eq!(lens.iter().filter(|&&l| l == 51).count(), 18, "{lens:?}");
        let n = t.lookup(ip(0), DEV).unwrap();
        for _ in 0..300 {
            t.add_permanent(ip(0), DEV, &[2, 0, 0, 0, 0, 9]).unwrap();
            assert_eq!(t.gc_entries(), 49);
            t.update(&n, None, NudState::STALE, UpdateFlags::ADMIN)
                .unwrap();
            assert_eq!(t.gc_entries(), 50);
        }
        let tbl = t.lock.lock();
        assert!(tbl.gc.items.len() <= 2 * 50 + 64 + 1);
    }

    /// `neigh_periodic_work` re-draws the reachable times once the clock is
    /// more than 300 s past the last draw (the first draw lasts 20 reachable
    /// times longer, `neigh_table_init`): with a pass every second, the
    /// draws are 301 s apart.
    #[test]
    fn reachable_times_are_redrawn_every_300_seconds() {
        let cfg = TableConfig {
            seed: 7,
            gc_interval: HZ,
            ..TableConfig::default()
        };
        let t = NeighTable::new(cfg, Nop).unwrap();
        t.add_device(DEV, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
            .unwrap();
        let start = t.jiffies();
        let mut last = t.reachable_time(DEV).unwrap();
        let mut changes = Vec::new();
        for s in 1..=2400 {
            t.run_timers(start + s * HZ).unwrap();
            let r = t.reachable_time(DEV).unwrap();
            if r != last {
                changes.push(s);
                last = r;
            }
        }
        assert!(changes.len() >= 3, "{changes:?}");
        assert!(changes[0] > 600, "the first draw lasts 20 x reach + 300 s");
        for w in changes.windows(2) {
            // 301 s, or a multiple if a draw repeated the previous value.
            assert_eq!((w[1] - w[0]) % 301, 0, "{changes:?}");
        }
    }

    /// The periodic pass collects nothing below `gc_thresh1` entries and
    /// runs from exactly `gc_thresh1` on (`neigh_periodic_work`: `entries <
    /// gc_thresh1` skips the scan).
    #[test]
    fn the_periodic_pass_starts_at_gc_thresh1() {
        for (entries, removed) in [(2, 0), (3, 3)] {
            let cfg = TableConfig {
                seed: 7,
                gc_thresh1: 3,
                ..TableConfig::default()
            };
            let t = NeighTable::new(cfg, Nop).unwrap();
            t.add_device(DEV, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
                .unwrap();
            for i in 0..entries {
                let n = t.lookup_or_create(ip(i), DEV).unwrap();
                t.update(&n, None, NudState::FAILED, UpdateFlags::ADMIN)
                    .unwrap();
            }
            assert_eq!(t.gc().removed, removed, "{entries} entries");
        }
    }

    /// Forced GC walks oldest first, skipping tombstones: an entry that
    /// left the list and came back is younger than every other.
    #[test]
    fn forced_gc_takes_the_oldest_live_items_first() {
        let t = table(4);
        for i in 0..4 {
            t.lookup_or_create(ip(i), DEV).unwrap();
        }
        // ip(0) leaves the list (PERMANENT) and comes back at the tail.
        let n0 = t.lookup(ip(0), DEV).unwrap();
        t.add_permanent(ip(0), DEV, &[2, 0, 0, 0, 0, 9]).unwrap();
        t.update(&n0, None, NudState::STALE, UpdateFlags::ADMIN)
            .unwrap();
        drop(n0);
        // Old enough for forced GC (not updated for 5 s), then a create
        // over gc_thresh2 removes the oldest: ip(1), not ip(0).
        t.run_timers(t.jiffies() + 6 * HZ).unwrap();
        t.lookup_or_create(ip(9), DEV).unwrap();
        assert!(t.lookup(ip(1), DEV).is_none(), "the oldest went first");
        assert!(t.lookup(ip(0), DEV).is_some(), "re-added: young");
        assert_eq!(t.gc_entries(), 4);
    }
}
