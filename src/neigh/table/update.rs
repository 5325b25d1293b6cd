//! `neigh_update` (the reply event): apply reachability information or an
//! administrative change to one entry, plus `neigh_confirm` and
//! `__neigh_set_probe_once`. Its callers that start from a key (ARP, NDP,
//! `ip neigh add`) are in `add.rs`.
//!
//! Rules: every change happens under the entry lock after the dead check
//! (the 2015 fix) and after input validation (an error changes nothing);
//! the header is published before the state that makes it usable; the
//! change is reported (`events`) in the same entry-lock section; queued
//! packets are delivered after unlocking; the `gc_list` and managed list
//! follow PERMANENT/EXT_LEARNED/MANAGED changes after unlocking, as
//! `neigh_update_gc_list` does.

use super::events::update_notifies;
use super::gc::exempt;
use super::nud_timer::TIMER_FLOOR;
use super::owed::Owed;
use super::{Entry, NeighTable, Pkt, Queue};
use crate::error::NeighError;
use crate::neigh::device::check_lladdr;
use crate::neigh::entry::{probe_count, EntryLocked};
use crate::neigh::lladdr::{Hh, LlAddr};
use crate::neigh::{DropReason, NeighFlags, NeighKey, NeighOps, NudState, Probe, UpdateFlags};
use crate::sync::Ordering;
use crate::variant::Rule;

/// What `update` still has to do once it has unlocked the entry.
enum After<P> {
    Nothing,
    /// Report these packets as unresolvable, then send this probe.
    Report(Queue<P>, Option<Probe>),
    /// Newly VALID: transmit the queue with this header; a STALE entry then
    /// moves on as the first packet's `event_send` would have moved it.
    Flush(Queue<P>, Hh, bool),
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// `neigh_update` (Linux 6.x `__neigh_update`): apply new reachability
    /// information (an ARP reply, a neighbour advertisement, an
    /// administrative change).
    ///
    /// * A non-VALID `new` disarms the timer; INCOMPLETE/PROBE -> FAILED
    ///   reports the queue (`neigh_invalidate`); INCOMPLETE starts
    ///   resolving; NONE reports the queue at once (SPEC.md §3).
    /// * A VALID `new`: `confirmed` is set if it is CONNECTED (even if the
    ///   update is then ignored); a different address replaces the cached
    ///   one only with OVERRIDE (WEAK_OVERRIDE on a CONNECTED entry: STALE,
    ///   address kept); the same address with STALE keeps the current state
    ///   unless ADMIN; `updated` moves only if the state or the address
    ///   changes, so an ignored reply does not extend `locktime`.
    /// * OVERRIDE_ISROUTER sets the router flag from ISROUTER (not when a
    ///   different address was refused).
    /// * With ADMIN, EXT_LEARNED and MANAGED set or clear those flags; with
    ///   MANAGED the update then only clears PERMANENT (`lladdr` and `new`
    ///   are ignored), as in the kernel.
    ///
    /// `new` must be a single state (`Err(InvalidState)`). Errors leave the
    /// entry unchanged: `Err(Dead)` if it was unlinked meanwhile (the 2015
    /// fix), `Err(NotPermitted)` for NOARP and PERMANENT entries without
    /// [`UpdateFlags::ADMIN`], `Err(BadLladdrLen)` for an address of the
    /// wrong length, `Err(NoLladdr)` for a VALID state without an address on
    /// an entry that has none.
    pub fn update(
        &self,
        n: &Entry<K, O>,
        lladdr: Option<&[u8]>,
        new: NudState,
        flags: UpdateFlags,
    ) -> Result<(), NeighError> {
        self.check_entry(n)?;
        let admin = flags.contains(UpdateFlags::ADMIN);
        let only_flags = admin && flags.contains(UpdateFlags::MANAGED);
        let parms = n.device.parms();
        if !only_flags
            && (!new.is_single() || (new == NudState::INCOMPLETE && !parms.can_resolve()))
        {
            return Err(NeighError::InvalidState(new));
        }
        let lladdr = lladdr.map(|a| check_lladdr(&n.device, a)).transpose()?;
        let now = self.jiffies();
        let mut g = n.lock.lock();
        let old = n.state();
        if self.dead_check() && g.dead {
            ktrace!(
                "neigh_update",
                "{} {old}, dead → -EINVAL (Err(Dead)): no timer",
                n.key
            );
            return Err(NeighError::Dead);
        }
        ktrace!(
            "neigh_update",
            "{} {old} → {new}{}",
            n.key,
            if g.dead { " (dead, not checked)" } else { "" }
        );
        if !admin && old.is(NudState::NOARP | NudState::PERMANENT) {
            return Err(NeighError::NotPermitted);
        }
        if !only_flags && new.is(NudState::VALID) && lladdr.is_none() && !old.is(NudState::VALID) {
            return Err(NeighError::NoLladdr);
        }
        let before = self.snap(n, &g);
        let old_flags = g.flags;
        if admin {
            // `neigh_update_flags`: an administrative update sets or clears them.
            let mut f = NeighFlags::from_byte(g.flags).bits()
                & !(NeighFlags::EXT_LEARNED.bits() | NeighFlags::MANAGED.bits());
            if flags.contains(UpdateFlags::EXT_LEARNED) {
                f |= NeighFlags::EXT_LEARNED.bits();
            }
            if flags.contains(UpdateFlags::MANAGED) {
                f |= NeighFlags::MANAGED.bits();
            }
            g.flags = NeighFlags(f).to_byte();
        }
        let after = if only_flags {
            n.set_state(&g, NudState(old.bits() & !NudState::PERMANENT.bits()));
            After::Nothing
        } else if !new.is(NudState::VALID) {
            self.update_invalid(n, &mut g, old, new, now)
        } else {
            self.update_valid(n, &mut g, old, lladdr, new, flags, now)
        };
        self.notify_change(n, &g, before, update_notifies);
        let gc_update = exempt(old, old_flags) != exempt(n.state(), g.flags);
        let managed_update = (old_flags ^ g.flags) & NeighFlags::MANAGED.to_byte() != 0;
        drop(g);
        match after {
            After::Nothing => {}
            After::Report(q, probe) => {
                Owed::new(self, n, q).report(DropReason::ResolutionFailed);
                if let Some(p) = probe {
                    self.solicit(n, p);
                }
            }
            After::Flush(q, hh, stale) => {
                let q = Owed::new(self, n, q);
                if !q.is_empty() {
                    q.flush(&hh);
                    if stale {
                        let _ = self.event_send(n, None);
                    }
                }
            }
        }
        if gc_update {
            self.update_gc_list(n);
        }
        if managed_update {
            self.update_managed_list(n);
        }
        Ok(())
    }

    /// `__neigh_update` to a non-VALID state (caller holds the entry lock).
    fn update_invalid(
        &self,
        n: &Entry<K, O>,
        g: &mut EntryLocked<Pkt<K, O>>,
        old: NudState,
        new: NudState,
        now: u64,
    ) -> After<Pkt<K, O>> {
        self.del_timer(n);
        if new == NudState::INCOMPLETE {
            // The kernel arms nothing here, so packets queued later would
            // wait for a reply no probe asks for: start resolving as a
            // packet would (SPEC.md §2).
            let parms = n.device.parms();
            let probe = self.start_resolution(n, g, &parms, now, true);
            return After::Report(Queue::new(), probe);
        }
        n.set_state(g, new);
        let q = if old.is(NudState::INCOMPLETE | NudState::PROBE) && new == NudState::FAILED {
            self.invalidate(g, now)
        } else {
            // NONE owns no timer and nothing would ever send what is
            // queued (the kernel keeps it): report it now.
            g.take_queue()
        };
        After::Report(q, None)
    }

    /// `__neigh_update` to a VALID state (caller holds the entry lock and
    /// has checked that an address is known or given).
    #[allow(clippy::too_many_arguments)]
    fn update_valid(
        &self,
        n: &Entry<K, O>,
        g: &mut EntryLocked<Pkt<K, O>>,
        old: NudState,
        lladdr: Option<LlAddr>,
        new: NudState,
        flags: UpdateFlags,
        now: u64,
    ) -> After<Pkt<K, O>> {
        let cur: Option<LlAddr> = old.is(NudState::VALID).then(|| n.read_lladdr());
        // `update` refused a VALID state with neither an address given nor
        // one known before locking; nothing happens if that ever failed.
        let Some(lladdr) = lladdr.or(cur) else {
            return After::Nothing;
        };
        if new.is(NudState::CONNECTED) {
            // Relaxed: timestamp heuristic. Set even if the update is then
            // ignored ("received ARP even if it doesn't change the binding").
            n.confirmed.store(now, Ordering::Relaxed);
        }
        let Decision::Apply {
            lladdr,
            state: new,
            update_isrouter,
        } = decide(old, cur, lladdr, new, flags)
        else {
            return After::Nothing;
        };
        if new != old || Some(lladdr) != cur {
            g.updated = now;
        }
        let dev = &n.device;
        // The header first, then the state: the lock-free output trusts the
        // header of any entry whose (Acquire-loaded) state it sees CONNECTED.
        // (L9 broken: the state first, the header after it.)
        let hh_first = self.keeps(Rule::HeaderBeforeState);
        if Some(lladdr) != cur {
            if hh_first {
                n.publish_hh(g, &dev.build_header(&lladdr));
                ktrace!("neigh_update", "{} header written", n.key);
            }
            if !new.is(NudState::CONNECTED) {
                let not_confirmed = now.wrapping_sub(dev.parms().base_reachable_time << 1);
                // Relaxed: timestamp heuristic.
                n.confirmed.store(not_confirmed, Ordering::Relaxed);
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
            n.set_state(g, new);
            ktrace!("neigh_update", "{} nud_state = {new} published", n.key);
        }
        if !hh_first && Some(lladdr) != cur {
            n.publish_hh(g, &dev.build_header(&lladdr));
            ktrace!("neigh_update", "{} header written (after the state)", n.key);
        }
        if update_isrouter {
            let router = NeighFlags::ROUTER.to_byte();
            if flags.contains(UpdateFlags::ISROUTER) {
                g.flags |= router;
            } else {
                g.flags &= !router;
            }
        }
        if new == old || old.is(NudState::VALID) {
            return After::Nothing;
        }
        // Newly VALID: flush the queue with the new header (kernel: n->output
        // for each queued skb).
        After::Flush(g.take_queue(), n.read_hh(), new == NudState::STALE)
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

    /// `__neigh_set_probe_once`: give a FAILED entry one more probe (IPv6
    /// uses this when a route through it is tried again): INCOMPLETE with
    /// its budget spent, timer at `max(retrans_time, HZ/100)`. Any other
    /// state is left alone (`updated` moves either way, as in the kernel).
    /// `Err(Dead)` if the entry was removed (the 2015 fix),
    /// `Err(ForeignEntry)` for an entry of another table.
    pub fn set_probe_once(&self, n: &Entry<K, O>) -> Result<(), NeighError> {
        self.check_entry(n)?;
        let now = self.jiffies();
        let parms = n.device.parms();
        let mut g = n.lock.lock();
        if self.dead_check() && g.dead {
            ktrace!(
                "__neigh_set_probe_once",
                "{} dead → return: no timer",
                n.key
            );
            return Err(NeighError::Dead);
        }
        ktrace!(
            "__neigh_set_probe_once",
            "{} {}{}",
            n.key,
            n.state(),
            if g.dead { " (dead, not checked)" } else { "" }
        );
        g.updated = now;
        if !n.state().is(NudState::FAILED) {
            return Ok(());
        }
        let before = self.snap(n, &g);
        n.set_state(&g, NudState::INCOMPLETE);
        g.probes = probe_count(parms.max_probes(false));
        self.add_timer(n, now + parms.retrans_time.max(TIMER_FLOOR));
        self.notify_change(n, &g, before, |_, _| false);
        drop(g);
        // The kernel's caller (ndisc) sends the probe itself.
        self.solicit(n, Probe::Multicast);
        Ok(())
    }
}

/// What `neigh_update` does once it knows the new address and state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// Leave the entry as it is (a different address without OVERRIDE).
    Ignore,
    /// Publish `lladdr` (if it differs) and move to `state`.
    Apply {
        /// The address to keep or publish.
        lladdr: LlAddr,
        /// The state to move to.
        state: NudState,
        /// Whether the router flag follows `ISROUTER`.
        update_isrouter: bool,
    },
}

/// `neigh_update`'s override rules as a pure function: `old` and `cur` are
/// the entry's state and address (`cur` is `Some` exactly when `old` is
/// VALID), `lladdr` and `new` the requested ones (`new` VALID).
///
/// * A different address replaces the cached one only with OVERRIDE; with
///   WEAK_OVERRIDE on a CONNECTED entry the old address is kept and the
///   entry becomes STALE (NDP's O flag clear); otherwise nothing changes.
/// * The same address with a STALE request keeps the current state unless
///   the update is ADMIN (6.x; 3.10 kept it only for CONNECTED entries or a
///   WEAK_OVERRIDE, so an ARP request turned DELAY/PROBE into STALE).
/// * The router flag follows `ISROUTER` only with OVERRIDE_ISROUTER, and not
///   when a different address was refused.
pub(super) fn decide(
    old: NudState,
    cur: Option<LlAddr>,
    lladdr: LlAddr,
    new: NudState,
    flags: UpdateFlags,
) -> Decision {
    let mut update_isrouter = flags.contains(UpdateFlags::OVERRIDE_ISROUTER);
    let (mut lladdr, mut state) = (lladdr, new);
    if let (true, Some(cur)) = (old.is(NudState::VALID), cur) {
        let same = lladdr == cur;
        if !same && !flags.contains(UpdateFlags::OVERRIDE) {
            update_isrouter = false;
            if flags.contains(UpdateFlags::WEAK_OVERRIDE) && old.is(NudState::CONNECTED) {
                lladdr = cur;
                state = NudState::STALE;
            } else {
                return Decision::Ignore;
            }
        } else if same && state == NudState::STALE && !flags.contains(UpdateFlags::ADMIN) {
            state = old;
        }
    }
    Decision::Apply {
        lladdr,
        state,
        update_isrouter,
    }
}

#[cfg(test)]
mod tests {
    use super::{decide, Decision};
    use crate::neigh::lladdr::LlAddr;
    use crate::neigh::{NudState as S, UpdateFlags as F};

    fn a(b: u8) -> LlAddr {
        LlAddr::new(&[2, 0, 0, 0, 0, b]).unwrap()
    }

    fn apply(lladdr: LlAddr, state: S, update_isrouter: bool) -> Decision {
        Decision::Apply {
            lladdr,
            state,
            update_isrouter,
        }
    }

    /// `__neigh_update` (6.x), one row per rule: (old state, cached address,
    /// new address, new state, flags) -> decision.
    #[test]
    fn override_rules() {
        let rows = [
            // Not VALID: anything goes.
            (
                S::INCOMPLETE,
                None,
                a(1),
                S::REACHABLE,
                F::NONE,
                apply(a(1), S::REACHABLE, false),
            ),
            // Same address: applied as asked...
            (
                S::STALE,
                Some(a(1)),
                a(1),
                S::REACHABLE,
                F::NONE,
                apply(a(1), S::REACHABLE, false),
            ),
            // ...except STALE keeps any VALID state,
            (
                S::REACHABLE,
                Some(a(1)),
                a(1),
                S::STALE,
                F::NONE,
                apply(a(1), S::REACHABLE, false),
            ),
            (
                S::DELAY,
                Some(a(1)),
                a(1),
                S::STALE,
                F::WEAK_OVERRIDE,
                apply(a(1), S::DELAY, false),
            ),
            // (3.10 demoted this one to STALE),
            (
                S::DELAY,
                Some(a(1)),
                a(1),
                S::STALE,
                F::OVERRIDE,
                apply(a(1), S::DELAY, false),
            ),
            (
                S::PROBE,
                Some(a(1)),
                a(1),
                S::STALE,
                F::NONE,
                apply(a(1), S::PROBE, false),
            ),
            // unless the update is administrative.
            (
                S::DELAY,
                Some(a(1)),
                a(1),
                S::STALE,
                F::OVERRIDE | F::ADMIN,
                apply(a(1), S::STALE, false),
            ),
            // A different address needs OVERRIDE...
            (
                S::REACHABLE,
                Some(a(1)),
                a(2),
                S::REACHABLE,
                F::NONE,
                Decision::Ignore,
            ),
            (
                S::STALE,
                Some(a(1)),
                a(2),
                S::REACHABLE,
                F::OVERRIDE,
                apply(a(2), S::REACHABLE, false),
            ),
            // ...or, WEAK, makes a CONNECTED entry STALE with its old address,
            (
                S::REACHABLE,
                Some(a(1)),
                a(2),
                S::REACHABLE,
                F::WEAK_OVERRIDE,
                apply(a(1), S::STALE, false),
            ),
            // but a non-CONNECTED one is left alone.
            (
                S::STALE,
                Some(a(1)),
                a(2),
                S::REACHABLE,
                F::WEAK_OVERRIDE,
                Decision::Ignore,
            ),
            // The router flag follows OVERRIDE_ISROUTER...
            (
                S::STALE,
                Some(a(1)),
                a(1),
                S::REACHABLE,
                F::OVERRIDE_ISROUTER,
                apply(a(1), S::REACHABLE, true),
            ),
            // ...unless a different address was refused.
            (
                S::REACHABLE,
                Some(a(1)),
                a(2),
                S::REACHABLE,
                F::WEAK_OVERRIDE | F::OVERRIDE_ISROUTER,
                apply(a(1), S::STALE, false),
            ),
        ];
        for (i, (old, cur, lladdr, new, flags, want)) in rows.into_iter().enumerate() {
            assert_eq!(decide(old, cur, lladdr, new, flags), want, "row {i}");
        }
    }
}
