//! Garbage collection, policy and mechanics: the periodic pass
//! (`neigh_periodic_work`, in bounded steps driven by `run_timers`, or
//! whole through `gc`), forced collection at the thresholds
//! (`neigh_forced_gc`, run when an entry is created) over the `gc_list`
//! of GC-eligible entries (`neigh_update_gc_list`; the list itself is
//! `gc_list.rs`), and the one way entries leave the table (`unlink_entry`,
//! `neigh_mark_dead`'s list bookkeeping).
//!
//! Rules: an entry is collected only under the table lock and its entry
//! lock, in the one entry-lock section that checks it is collectable and
//! held only by the table (`refcnt == 1`), marks it dead, unlinks it and
//! reports its deletion; the table's reference is dropped after the table
//! lock, and the memory returns after an RCU grace period. A concurrent
//! `lookup_noref` may still hold the entry: that is the race the `dead`
//! checks close (race matrix L1-L3). The periodic pass scans under RCU
//! without the table lock (`scan.rs`, a slice of at most
//! [`GC_STEP`] per `run_timers` call) and locks per candidate, so creates
//! never wait for a scan. The `gc_list` names exactly the linked entries
//! that are neither PERMANENT nor externally learned (every unlink goes
//! through `unlink_entry`; every change of those two goes through
//! `update_gc_list`).

use super::owed::Held;
use super::scan::{ScanBudget, SCAN_END};
use super::{time_after, time_before_eq, Entry, Locked, NeighTable};
use crate::error::NeighError;
use crate::neigh::entry::EntryLocked;
use crate::neigh::stats::C;
use crate::neigh::{NeighFlags, NeighKey, NeighOps, NudState};
use crate::parms::{HZ, MAX_ENTRIES};
use crate::rcu::{self, Guard};
use crate::sync::Ordering;
use crate::timer::Tick;

/// `gc_list` items forced GC examines (held or not) before it gives up
/// for this create: the kernel's 1 ms budget, made a count so that the
/// table behaves the same on every machine (SPEC.md "3.10 vs now").
pub(crate) const FORCED_GC_BUDGET: usize = 4096;

/// One step of the periodic pass (one `run_timers` call): at most 1,024
/// entries examined (more only if a single bucket holds more) and 4,096
/// buckets visited, so a pass over `n` entries in `b` buckets takes about
/// `max(n / 1024, b / 4096)` calls (SPEC.md §9). Sized so that a step that
/// collects every entry it examines (each collection takes the table lock,
/// unlinks, reports and releases: several times a scan's cost) stays
/// under a millisecond at a million entries (median 0.7 ms on a loaded
/// 2-core machine, `examples/gc_pause.rs`, SPEC.md §9).
pub(super) const GC_STEP: ScanBudget = ScanBudget {
    entries: 1024,
    buckets: 4096,
};

/// What a GC pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Entries examined.
    pub scanned: usize,
    /// Entries unlinked (destroyed once their last holder lets go).
    pub removed: usize,
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
    /// `neigh_periodic_work`, a whole pass now: re-draw the randomised
    /// reachable times once the clock is more than 300 s past the last
    /// draw; then, with at least `gc_thresh1` entries, remove the entries
    /// that only the table holds, are not PERMANENT, in a timer state or
    /// externally learned, and are FAILED or unused for `gc_staletime`
    /// (`used` counting a later confirmation). The next periodic pass is
    /// then due `gc_interval` later, and a pass that
    /// [`run_timers`](Self::run_timers) had in progress is dropped (this
    /// one covered it).
    ///
    /// Cost: it examines every entry before it returns (0.15-0.5 s at a
    /// million entries on a loaded 2-core machine, the more the more it
    /// collects; SPEC.md §9), though it never holds the table lock for
    /// longer than one collection; `run_timers` runs the same pass in steps
    /// of at most 1,024 entries per call instead.
    pub fn gc(&self) -> GcReport {
        let now = self.jiffies();
        {
            let mut tbl = self.lock.lock();
            tbl.gc_cursor = None;
            tbl.next_gc = now.saturating_add(tbl.cfg.gc_interval);
            if !self.begin_pass(&mut tbl, now) {
                return GcReport::default();
            }
        }
        // Pinned after the table lock (a pin may run deferred destructors).
        let guard = rcu::pin();
        let mut rep = GcReport::default();
        let (mut at, mut batch) = (0, Vec::new());
        while at < SCAN_END {
            at = self.scan_slice(at, GC_STEP, &mut batch, &guard);
            let removed = self.collect_batch(&batch, &guard);
            rep.scanned += batch.len();
            rep.removed += removed;
            batch.clear();
        }
        rep
    }

    /// The periodic pass as [`run_timers`](Self::run_timers) runs it when
    /// due: one step of at most [`GC_STEP`], starting a pass (the reachable
    /// time draw and the `gc_thresh1` check, as `gc`) if none is in
    /// progress. While a pass is in progress the GC stays due, so every
    /// call (and `next_event`) sees more work; the step that finishes it
    /// schedules the next pass `gc_interval` later. Two concurrent callers
    /// may scan the same slice (the collections re-check under the locks,
    /// so that only costs time); the cursor moves on once.
    pub(super) fn gc_step(&self) {
        let now = self.jiffies();
        let from = {
            let mut tbl = self.lock.lock();
            if let Some(at) = tbl.gc_cursor {
                at
            } else if self.begin_pass(&mut tbl, now) {
                tbl.gc_cursor = Some(0);
                0
            } else {
                tbl.next_gc = now.saturating_add(tbl.cfg.gc_interval);
                return;
            }
        };
        // Pinned after the table lock (a pin may run deferred destructors).
        let guard = rcu::pin();
        let mut batch = Vec::new();
        let next = self.scan_slice(from, GC_STEP, &mut batch, &guard);
        {
            let mut tbl = self.lock.lock();
            if tbl.gc_cursor == Some(from) {
                if next >= SCAN_END {
                    tbl.gc_cursor = None;
                    tbl.next_gc = now.saturating_add(tbl.cfg.gc_interval);
                } else {
                    tbl.gc_cursor = Some(next);
                }
            }
        }
        self.collect_batch(&batch, &guard);
    }

    /// The start of a pass (either kind), under the table lock: count it,
    /// re-draw the reachable times when due, and say whether there are
    /// enough entries to scan (`gc_thresh1`).
    fn begin_pass(&self, tbl: &mut Locked<K>, now: Tick) -> bool {
        self.stats.inc(C::PERIODIC_GC_RUNS);
        if time_after(now, tbl.last_rand + 300 * HZ) {
            tbl.last_rand = now;
            let devs: Vec<_> = tbl.devices.values().cloned().collect();
            for d in devs {
                let t = tbl.rand_reach_time(d.parms().base_reachable_time);
                // Relaxed: see `Device::reachable_time`.
                d.reachable_time.store(t, Ordering::Relaxed);
            }
        }
        self.entries() >= tbl.cfg.gc_thresh1
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
    /// until the list is down to `gc_thresh2`. Gives up after examining
    /// [`FORCED_GC_BUDGET`] items, held or not, without recording the run (so the
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
        let mut at = tbl.gc.first();
        while let Some(item) = at {
            // Read before a collection frees the item we stand on.
            let (key, dev, next) = tbl.gc.get(item);
            at = next;
            // Every item examined counts against the budget, held or not
            // (the kernel's loop counter does too): a list of entries that
            // are all held cannot make one create walk all of it.
            if examined == FORCED_GC_BUDGET {
                return victims;
            }
            examined += 1;
            // The list names linked entries only (under the table lock, which
            // we hold), so the lookup finds this item's entry.
            let Some(n) = self.lookup_noref(key, dev, guard) else {
                debug_assert!(false, "gc_list item {key} not in the table");
                continue;
            };
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
        tbl.linked -= 1;
        tbl.gc.remove(g);
        // `n` was the linked entry for its key, so this names it.
        tbl.managed.remove(&(n.key, n.dev));
        true
    }

    /// A new entry is about to be linked (caller holds the table lock):
    /// count it, put it on the `gc_list` unless `exempt`, and report it.
    pub(super) fn note_created(&self, tbl: &mut Locked<K>, n: &Entry<K, O>, exempt: bool) {
        tbl.linked += 1;
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
        let mut tbl = self.lock.lock();
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

    /// Collect what the periodic rule accepts among `batch` (a scan slice,
    /// found under `guard`): a lock-free pre-check, then the table lock for
    /// each candidate only (`try_collect` decides under the locks), its
    /// reference released after that lock. Returns how many it collected.
    fn collect_batch(&self, batch: &[&Entry<K, O>], guard: &Guard) -> usize {
        self.stats.add(C::PERIODIC_GC_SCANNED, batch.len() as u64);
        let rule = |n: &Entry<K, O>, g: Option<&EntryLocked<O::Packet>>, s: NudState| {
            self.periodic_collectable(n, g, s)
        };
        let mut removed = 0;
        for &n in batch {
            if n.refcnt() == 1 && rule(n, None, n.state()) {
                let taken = {
                    let mut tbl = self.lock.lock();
                    self.try_collect(&mut tbl, n, guard, &rule)
                };
                if taken {
                    removed += 1;
                    self.release(n);
                }
            }
        }
        removed
    }

    /// GC-eligible entries now (the kernel's `gc_entries`: the length of the
    /// `gc_list`, which the thresholds are compared with).
    pub fn gc_entries(&self) -> usize {
        self.lock.lock().gc.len()
    }
}

// The model features swap in loom/shuttle primitives, which only work
// inside a model run.
#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
#[path = "gc_tests.rs"]
mod tests;
