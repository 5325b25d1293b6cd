//! `neigh_update` and its callers: an ARP reply or request
//! (`arp_process`), an administrative change (`ip neigh replace`), an
//! upper-layer confirmation (`neigh_confirm`), `__neigh_set_probe_once`.
//!
//! Rules: every change happens under the entry lock after the dead check
//! (the 2015 fix) and after input validation; the header is published
//! before the state that makes it usable; queued packets are delivered after
//! unlocking.

use super::device::check_lladdr;
use super::owed::Owed;
use super::{Entry, NeighTable, Queue};
use crate::error::NeighError;
use crate::neigh::lladdr::LlAddr;
use crate::neigh::{DevId, DropReason, NeighKey, NeighOps, NudState, Probe, UpdateFlags};
use crate::sync::Ordering;

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
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
        let mut g = n.lock.lock();
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
        let lladdr = match (lladdr, cur) {
            (Some(a), _) => a,
            (None, Some(c)) if old.is(NudState::VALID) => c,
            (None, _) => return Err(NeighError::NoLladdr),
        };
        if new.is(NudState::CONNECTED) {
            n.confirmed.store(now, Ordering::Relaxed); // Relaxed: timestamp heuristic
        }
        g.updated = now;
        let Decision::Apply {
            lladdr,
            state: new,
            update_isrouter,
        } = decide(old, cur, lladdr, new, flags)
        else {
            return Ok(());
        };
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
        let updated = n.lock.lock().updated;
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
        let mut g = n.lock.lock();
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
/// * The same address with a STALE request keeps the current state if it is
///   CONNECTED or the request is a WEAK_OVERRIDE.
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
        } else if same
            && state == NudState::STALE
            && (flags.contains(UpdateFlags::WEAK_OVERRIDE) || old.is(NudState::CONNECTED))
        {
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

    /// `neigh_update` (3.10), one row per rule: (old state, cached address,
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
            // ...except STALE on a CONNECTED entry keeps the state,
            (
                S::REACHABLE,
                Some(a(1)),
                a(1),
                S::STALE,
                F::NONE,
                apply(a(1), S::REACHABLE, false),
            ),
            // as does a WEAK_OVERRIDE STALE on any VALID entry.
            (
                S::DELAY,
                Some(a(1)),
                a(1),
                S::STALE,
                F::WEAK_OVERRIDE,
                apply(a(1), S::DELAY, false),
            ),
            (
                S::DELAY,
                Some(a(1)),
                a(1),
                S::STALE,
                F::NONE,
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
