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
//! for a whole scan. The `gc_list` names exactly the linked entries that
//! are neither PERMANENT nor externally learned (every unlink goes through
//! `unlink_entry`; every change of those two goes through `update_gc_list`).

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
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

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
/// learned), oldest first, keyed by (address, device); `gc_entries` is its
/// length.
pub(crate) struct GcList<K> {
    next: u64,
    order: BTreeMap<u64, (K, DevId)>,
    pos: HashMap<(K, DevId), u64>,
}

impl<K: NeighKey> GcList<K> {
    pub(crate) fn new() -> Self {
        GcList {
            next: 0,
            order: BTreeMap::new(),
            pos: HashMap::new(),
        }
    }

    /// `gc_entries`.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    fn contains(&self, k: &(K, DevId)) -> bool {
        self.pos.contains_key(k)
    }

    /// Append at the tail (`list_add_tail`) unless present.
    fn insert(&mut self, k: (K, DevId)) {
        if !self.pos.contains_key(&k) {
            self.order.insert(self.next, k);
            self.pos.insert(k, self.next);
            self.next += 1;
        }
    }

    fn remove(&mut self, k: &(K, DevId)) {
        if let Some(at) = self.pos.remove(k) {
            self.order.remove(&at);
        }
    }

    /// The first entry after position `after` (`None`: from the head).
    fn next_after(&self, after: Option<u64>) -> Option<(u64, (K, DevId))> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.order
            .range((from, Bound::Unbounded))
            .next()
            .map(|(&at, &k)| (at, k))
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
        let mut at = None;
        while let Some((pos, (key, dev))) = tbl.gc.next_after(at) {
            at = Some(pos);
            let n = self
                .lookup_noref(key, dev, guard)
                .expect("the gc_list names linked entries");
            if n.refcnt() != 1 {
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
        let linked = self.unlink_entry(tbl, n, guard);
        debug_assert!(linked, "a live entry is linked");
        g.dead = true;
        self.notify_delete(n, &g, before);
        true
    }

    /// Unlink `n` from the hash and from the `gc_list` and managed list
    /// (`neigh_mark_dead`'s bookkeeping); caller holds the table lock.
    /// Every removal goes through here, so the lists name linked entries
    /// only.
    pub(super) fn unlink_entry(&self, tbl: &mut Locked<K>, n: &Entry<K, O>, guard: &Guard) -> bool {
        if !self.unlink(n, guard) {
            return false;
        }
        // `n` was the linked entry for its key, so these name it.
        let k = (n.key, n.dev);
        tbl.gc.remove(&k);
        tbl.managed.remove(&k);
        true
    }

    /// A new entry is about to be linked (caller holds the table lock):
    /// put it on the `gc_list` unless `exempt`, and report it.
    pub(super) fn note_created(&self, tbl: &mut Locked<K>, n: &Entry<K, O>, exempt: bool) {
        if !exempt {
            tbl.gc.insert((n.key, n.dev));
        }
        self.notify_new(n);
    }

    /// `neigh_update_gc_list`: put `n` on the `gc_list` or take it off to
    /// match its state and flags now (PERMANENT or externally learned: off).
    /// Takes the table lock, then the entry lock; nothing for a dead entry.
    pub(super) fn update_gc_list(&self, n: &Entry<K, O>) {
        let mut tbl = self.lock.lock();
        let g = n.lock.lock();
        if g.dead {
            return;
        }
        let k = (n.key, n.dev);
        match (exempt(n.state(), g.flags), tbl.gc.contains(&k)) {
            (true, true) => tbl.gc.remove(&k),
            (false, false) => tbl.gc.insert(k),
            _ => {}
        }
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
