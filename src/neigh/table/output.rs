//! The output path: `neigh_output` (the lock-free hit), `neigh_resolve_output`
//! and `__neigh_event_send` (the state machine's packet-driven transitions
//! and the unresolved queue, `arp_queue`).
//!
//! The hit path (`lookup_noref` + [`NeighTable::output`] on a CONNECTED,
//! DELAY or PROBE entry, and its burst form
//! [`NeighTable::resolve_output_burst`]) takes no lock, allocates nothing
//! and writes no shared cache line except `used`, once per tick, and never
//! reaches the event queues or the solicitation limit. This module owns
//! that path and the queue's bounds; it must not unlink entries.

use super::hash::BURST;
use super::owed::{LenPanic, Owed};
use super::{Entry, NeighTable, Pkt, Queue};
use crate::error::NeighError;
use crate::neigh::entry::ArpQueue;
use crate::neigh::stats::C;
use crate::neigh::{DevId, DropReason, NeighKey, NeighOps, NudState, Packet, Probe};
use crate::rcu::Guard;
use crate::sync::Ordering;
use std::collections::VecDeque;

/// What happened to a packet handed to an output call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Xmit {
    /// Transmitted with the entry's header.
    Sent,
    /// Queued until the neighbour resolves (or fails).
    Queued,
    /// Dropped, and reported to [`NeighOps::discard`] or
    /// [`NeighOps::error_report`].
    Dropped(DropReason),
}

/// The result of [`NeighTable::event_send`].
#[derive(Debug, PartialEq, Eq)]
pub enum EventSend<P> {
    /// The caller may transmit now with the entry's address (the packet, if
    /// one was given, is handed back).
    Send(Option<P>),
    /// The packet was queued for resolution.
    Queued,
    /// The packet (if any) was dropped and counted.
    Dropped(DropReason),
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// `neigh_output`: send `pkt` to the neighbour `n` (from
    /// [`lookup_noref`](Self::lookup_noref) under `guard`, or a handle).
    ///
    /// A CONNECTED, DELAY or PROBE entry transmits with its cached header,
    /// lock-free. Otherwise `__neigh_event_send` runs: STALE arms DELAY and
    /// transmits, NONE/FAILED start resolution and queue, INCOMPLETE queues.
    /// An entry of another table is refused: the packet is dropped
    /// ([`DropReason::ForeignEntry`]) and nothing else happens.
    #[inline]
    pub fn output(&self, n: &Entry<K, O>, pkt: Pkt<K, O>, _guard: &Guard) -> Xmit {
        if self.check_entry(n).is_err() {
            return self.foreign(n, pkt);
        }
        let now = self.jiffies();
        if n.used() != now {
            n.used.store(now, Ordering::Relaxed); // Relaxed: timestamp heuristic, written at most once per tick
        }
        if n.state()
            .is(NudState::CONNECTED | NudState::DELAY | NudState::PROBE)
        {
            let hh = n.read_hh();
            ktrace!(
                "neigh_output",
                "{} {}: transmit with the cached header {}",
                n.key,
                n.state(),
                if !hh.as_bytes().is_empty() && hh.as_bytes().iter().take(6).all(|&b| b == 0) {
                    "(UNWRITTEN)"
                } else {
                    ""
                }
            );
            self.stats.inc(C::SENT);
            self.ops.transmit(n.dev, hh.as_bytes(), pkt);
            return Xmit::Sent;
        }
        self.slow_output(n, pkt)
    }

    /// Drop a packet handed in with another table's entry (counted, and
    /// given to this table's `discard`).
    #[cold]
    pub(super) fn foreign(&self, n: &Entry<K, O>, pkt: Pkt<K, O>) -> Xmit {
        self.drop_pkt(n, pkt, DropReason::ForeignEntry);
        Xmit::Dropped(DropReason::ForeignEntry)
    }

    /// `neigh_resolve_output`: the slow half of [`output`](Self::output).
    #[cold]
    pub(super) fn slow_output(&self, n: &Entry<K, O>, pkt: Pkt<K, O>) -> Xmit {
        match self.event_send(n, Some(pkt)) {
            // Sendable states are VALID, so the header is the neighbour's.
            EventSend::Send(Some(pkt)) if n.state().is(NudState::VALID) => {
                let hh = n.read_hh();
                self.stats.inc(C::SENT);
                self.ops.transmit(n.dev, hh.as_bytes(), pkt);
                Xmit::Sent
            }
            EventSend::Send(Some(pkt)) => {
                // A flush reset the entry between event_send and here.
                self.drop_pkt(n, pkt, DropReason::Dead);
                Xmit::Dropped(DropReason::Dead)
            }
            EventSend::Send(None) => unreachable!("event_send hands the packet back"),
            EventSend::Queued => Xmit::Queued,
            EventSend::Dropped(r) => Xmit::Dropped(r),
        }
    }

    /// `ip_finish_output2`'s neighbour step: lock-free lookup, creation on a
    /// miss, then [`output`](Self::output). Failures to create (unknown
    /// device, table full) drop the packet with a counted reason.
    pub fn resolve_output(&self, key: K, dev: DevId, pkt: Pkt<K, O>) -> Xmit {
        let guard = self.pin();
        self.resolve_output_in(key, dev, pkt, &guard)
    }

    /// [`resolve_output`](Self::resolve_output) inside the caller's read
    /// section (a data plane pins once per batch).
    #[inline]
    pub fn resolve_output_in(&self, key: K, dev: DevId, pkt: Pkt<K, O>, guard: &Guard) -> Xmit {
        match self.lookup_or_create_noref(key, dev, guard) {
            Ok(n) => self.output(n, pkt, guard),
            Err(e) => {
                let reason = match e {
                    NeighError::TableFull { .. } => DropReason::TableFull,
                    _ => DropReason::UnknownDevice,
                };
                if std::thread::panicking() {
                    // As `drop_pkt`: no callback on an unwinding thread.
                    self.stats.drop_unwound(reason);
                    drop(pkt);
                } else {
                    self.stats.drop_pkt(reason);
                    self.ops.discard(dev, &key, pkt, reason);
                }
                Xmit::Dropped(reason)
            }
        }
    }

    /// [`resolve_output_in`](Self::resolve_output_in) for a burst: the i-th
    /// packet of `pkts` goes to `keys[i]`, and its fate is written to
    /// `out[i]`. Returns the number of packets taken (`keys.len()`, or fewer
    /// if `pkts` ends first).
    ///
    /// The lookups run as in
    /// [`lookup_noref_burst`](Self::lookup_noref_burst) (blocks of 32, bucket
    /// slots and entries prefetched before any is compared); then each
    /// packet takes the hit path of [`output`](Self::output), or, for a key
    /// not in the table, the miss path of `resolve_output_in` (creation).
    /// The hits take no lock, allocate nothing and write no shared line, as
    /// single outputs. Packets are output in order.
    ///
    /// At most `keys.len()` packets are taken from `pkts`, which the caller
    /// keeps: any further packets are still in it when the call returns
    /// (the table never drops a packet it was not given).
    ///
    /// # Panics
    ///
    /// If `out` is shorter than `keys`.
    pub fn resolve_output_burst<I>(
        &self,
        keys: &[(K, DevId)],
        pkts: &mut I,
        out: &mut [Xmit],
        guard: &Guard,
    ) -> usize
    where
        I: Iterator<Item = Pkt<K, O>> + ?Sized,
    {
        assert!(
            out.len() >= keys.len(),
            "resolve_output_burst: one output slot per key"
        );
        let mut sent = 0;
        for (block, fate) in keys.chunks(BURST).zip(out.chunks_mut(BURST)) {
            let mut found = [None; BURST];
            self.lookup_block(block, &mut found[..block.len()], guard);
            for ((&(key, dev), n), x) in block.iter().zip(found).zip(fate.iter_mut()) {
                let Some(pkt) = pkts.next() else {
                    return sent;
                };
                *x = match n {
                    Some(n) => self.output(n, pkt, guard),
                    None => self.resolve_output_in(key, dev, pkt, guard),
                };
                sent += 1;
            }
        }
        sent
    }

    /// `__neigh_event_send`: the packet-driven transitions (also what
    /// `neigh_event_send` does first: mark the entry used now).
    ///
    /// * CONNECTED/DELAY/PROBE: nothing to do; send.
    /// * **dead** (unlinked by GC or a flush): STALE still sends with the
    ///   old address; otherwise the packet is dropped. This is the check
    ///   kernel commit 2c51a97f76d2 added; without it the entry's timer is
    ///   re-armed on an object whose last reference is already gone.
    /// * NONE/FAILED: start resolution (INCOMPLETE, timer at
    ///   `max(retrans_time, HZ/100)`, immediate probe) and queue; with no
    ///   multicast or app probes configured: FAILED, drop.
    /// * STALE: DELAY (timer armed), send.
    /// * INCOMPLETE: queue, dropping the oldest packets while the queue's
    ///   [`Packet::truesize`] total would exceed `unres_qlen_bytes` (and
    ///   beyond `unres_qlen` packets, if that optional limit is set).
    /// * an entry of another table: the packet is dropped
    ///   ([`DropReason::ForeignEntry`]).
    ///
    /// None of these transitions is notified by Linux (`EventKind::Change`
    /// events with `notify` false).
    pub fn event_send(&self, n: &Entry<K, O>, pkt: Option<Pkt<K, O>>) -> EventSend<Pkt<K, O>> {
        self.event_send_probe(n, pkt, true)
    }

    /// `__neigh_event_send(.., immediate_ok)`: with `immediate_ok` false (the
    /// managed entries' pass, `neigh_event_send_probe`) a NONE/FAILED entry
    /// becomes INCOMPLETE with its timer one tick away and no probe now;
    /// the timer handler sends the first probe.
    pub(crate) fn event_send_probe(
        &self,
        n: &Entry<K, O>,
        pkt: Option<Pkt<K, O>>,
        immediate_ok: bool,
    ) -> EventSend<Pkt<K, O>> {
        if self.check_entry(n).is_err() {
            if let Some(p) = pkt {
                self.drop_pkt(n, p, DropReason::ForeignEntry);
            }
            return EventSend::Dropped(DropReason::ForeignEntry);
        }
        let now = self.jiffies();
        if n.used() != now {
            n.used.store(now, Ordering::Relaxed); // Relaxed: timestamp heuristic
        }
        // User code (`Packet::truesize`) runs before the lock is taken. If
        // it panics, the unwind drops the packet: the guard counts it as
        // taken in and lost to the unwind (`queued` + `Unwound`, like a
        // queued packet lost to a panicking callback), so every packet handed
        // to an output call is still counted exactly once. (Found by
        // `tests/it/misuse_reentry.rs::a_panicking_len_loses_no_packet`: the
        // packet used to vanish uncounted, and `packets_in` fell short.)
        let size = match &pkt {
            Some(p) => {
                let unwinding = LenPanic(self);
                let size = p.truesize();
                core::mem::forget(unwinding);
                size
            }
            None => 0,
        };
        let mut g = n.lock.lock();
        let state = n.state();
        if state.is(NudState::CONNECTED | NudState::DELAY | NudState::PROBE) {
            return EventSend::Send(pkt);
        }
        if self.dead_check() && g.dead {
            // out_dead
            ktrace!(
                "__neigh_event_send",
                "{} {state}, dead → out_dead: {}, no timer",
                n.key,
                if state.is(NudState::STALE) {
                    "packet sent as is"
                } else {
                    "packet dropped"
                }
            );
            if state.is(NudState::STALE) {
                return EventSend::Send(pkt);
            }
            drop(g);
            return match pkt {
                Some(p) => {
                    self.drop_pkt(n, p, DropReason::Dead);
                    EventSend::Dropped(DropReason::Dead)
                }
                None => EventSend::Dropped(DropReason::Dead),
            };
        }
        let parms = n.device.parms();
        let before = self.snap(n, &g);
        let mut probe: Option<Probe> = None;
        if !state.is(NudState::STALE | NudState::INCOMPLETE) {
            if parms.can_resolve() {
                probe = self.start_resolution(n, &mut g, &parms, now, immediate_ok);
            } else {
                n.set_state(&g, NudState::FAILED);
                g.updated = now;
                self.notify_change(n, &g, before, |_, _| false);
                drop(g);
                return match pkt {
                    Some(p) => {
                        self.drop_pkt(n, p, DropReason::Failed);
                        EventSend::Dropped(DropReason::Failed)
                    }
                    None => EventSend::Dropped(DropReason::Failed),
                };
            }
        } else if state.is(NudState::STALE) {
            ktrace!(
                "__neigh_event_send",
                "{} STALE→DELAY{}",
                n.key,
                if g.dead { " (dead, not checked)" } else { "" }
            );
            self.del_timer(n);
            n.set_state(&g, NudState::DELAY);
            g.updated = now;
            self.add_timer(n, now + parms.delay_probe_time);
        }
        self.notify_change(n, &g, before, |_, _| false);
        let mut overflow = Queue::new();
        let rc = if n.state() == NudState::INCOMPLETE {
            if let Some(p) = pkt {
                let q = g.arp_queue.get_or_insert_with(|| {
                    Box::new(ArpQueue {
                        pkts: VecDeque::new(),
                        bytes: 0,
                    })
                });
                while q.bytes.saturating_add(size) > parms.unres_qlen_bytes
                    || q.pkts.len() >= parms.unres_qlen
                {
                    let Some(old) = q.pkts.pop_front() else {
                        break;
                    };
                    q.bytes = q.bytes.saturating_sub(old.0);
                    overflow.push_back(old);
                }
                q.bytes = q.bytes.saturating_add(size);
                q.pkts.push_back((size, p));
                self.stats.inc(C::QUEUED);
            }
            EventSend::Queued
        } else {
            EventSend::Send(pkt)
        };
        drop(g);
        Owed::new(self, n, overflow).report(DropReason::QueueOverflow);
        if let Some(p) = probe {
            self.solicit(n, p);
        }
        rc
    }
}
