//! Notifications: what `ip monitor neigh` shows (`RTM_NEWNEIGH` and
//! `RTM_DELNEIGH`, sent by `__neigh_notify` from `__neigh_update`,
//! `neigh_timer_handler` and `neigh_cleanup_and_release`), delivered to
//! subscribers through bounded queues.
//!
//! Rules:
//!
//! * An event is queued in the critical section that makes the change it
//!   reports: under the entry lock, or, for a new entry, under the table
//!   lock before the entry is linked (no one else can reach it yet). The
//!   hub numbers events in the order they are queued, so the numbers follow
//!   each entry's own order of changes, and each subscriber's queue is FIFO.
//! * The hub lock is a leaf of the lock order (taken under the table or an
//!   entry lock; nothing is taken under it) and no user code runs here.
//! * Nothing is built or queued unless someone subscribed (one unmodelled
//!   load), so tables without subscribers pay nothing. The hit path
//!   (`lookup_noref` + `output` on a CONNECTED entry) never gets here.
//! * A full queue drops the event, and every later one, until the
//!   subscriber has read what is queued and then the [`Received::Lost`]
//!   marker (netlink's `ENOBUFS`); it resynchronises with `dump()`.
//! * Delivery is a pull by the subscriber ([`EventReceiver::try_recv`]) with
//!   no cache lock held: a slow subscriber loses its own events and never
//!   blocks the data plane.

use super::{Entry, NeighTable};
use crate::error::NeighError;
use crate::neigh::entry::EntryLocked;
use crate::neigh::lladdr::LlAddr;
use crate::neigh::stats::C;
use crate::neigh::{DevId, NeighFlags, NeighKey, NeighOps, NudState};
use crate::parms::ConfigError;
use crate::sync::{self, plain, Mutex, Ordering};
use crate::timer::Tick;
use std::collections::VecDeque;

/// The largest queue a subscriber may ask for.
pub const MAX_EVENT_QUEUE: usize = 1 << 24;

/// What happened to an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The entry was created (state NONE, or NOARP on a NOARP device).
    /// Linux sends nothing for a creation; its first `RTM_NEWNEIGH` is the
    /// first notified change.
    New,
    /// Its state, link-layer address or flags changed (`RTM_NEWNEIGH` when
    /// [`NeighEvent::notify`] is set).
    Change,
    /// It was removed from the table (`RTM_DELNEIGH`): GC, a flush, a
    /// carrier loss, `remove`.
    Delete,
}

/// One change of one entry, with the entry's state before and after.
///
/// The addresses are those `dump()` reports: `Some` only in a VALID state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighEvent<K> {
    /// Table-wide sequence number: increasing in the order events were
    /// queued, and so in each entry's order of changes.
    pub seq: u64,
    /// The table's tick when the change was made.
    pub tick: Tick,
    /// New, changed or deleted.
    pub kind: EventKind,
    /// Protocol address.
    pub key: K,
    /// Device.
    pub dev: DevId,
    /// State before the change (NONE for [`EventKind::New`]).
    pub old_state: NudState,
    /// State after the change.
    pub state: NudState,
    /// Link-layer address before the change.
    pub old_lladdr: Option<LlAddr>,
    /// Link-layer address after the change.
    pub lladdr: Option<LlAddr>,
    /// Flags before the change.
    pub old_flags: NeighFlags,
    /// Flags after the change.
    pub flags: NeighFlags,
    /// Would Linux 6.x notify this change (`RTM_NEWNEIGH`/`RTM_DELNEIGH`,
    /// what `ip monitor neigh` shows)? False for creations and for the
    /// transitions the kernel makes silently: NONE/FAILED -> INCOMPLETE and
    /// STALE -> DELAY (`__neigh_event_send`), REACHABLE -> DELAY (the timer),
    /// FAILED -> INCOMPLETE (`__neigh_set_probe_once`), and administrative
    /// moves between non-VALID states other than INCOMPLETE/PROBE -> FAILED.
    pub notify: bool,
}

/// Which events a subscriber receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventFilter {
    /// Every change, including those Linux makes silently: enough to mirror
    /// the table exactly (states, addresses, flags) from events alone.
    All,
    /// Only what Linux 6.x notifies (`notify` set): what `ip monitor neigh`
    /// shows for the kernel's table.
    Kernel,
}

/// What [`EventReceiver::try_recv`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received<K> {
    /// The next event.
    Event(NeighEvent<K>),
    /// This many events were dropped here because the queue was full
    /// (delivered after every event queued before them). Resynchronise with
    /// `dump()`: every event after this marker is delivered again.
    Lost(u64),
}

/// State, address and flags of an entry, read under its lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snap {
    pub(crate) state: NudState,
    pub(crate) lladdr: Option<LlAddr>,
    pub(crate) flags: NeighFlags,
}

struct Sub<K> {
    id: u64,
    filter: EventFilter,
    cap: usize,
    queue: VecDeque<NeighEvent<K>>,
    /// Dropped since the subscriber last read the `Lost` marker; while
    /// non-zero every new event is dropped too.
    lost: u64,
    lost_total: u64,
}

struct HubInner<K> {
    seq: u64,
    next_id: u64,
    subs: Vec<Sub<K>>,
}

/// The table's subscribers and their queues.
pub(crate) struct Hub<K> {
    /// Number of subscribers: read without the hub lock by the emitters,
    /// under an entry or the table lock (see `active`).
    subscribers: plain::AtomicUsize,
    inner: Mutex<HubInner<K>>,
}

impl<K: NeighKey> Hub<K> {
    pub(crate) fn new() -> Self {
        Hub {
            subscribers: plain::AtomicUsize::new(0),
            inner: Mutex::new(HubInner {
                seq: 0,
                next_id: 0,
                subs: Vec::new(),
            }),
        }
    }

    /// Is anyone subscribed? Called under the entry (or table) lock of the
    /// change about to be reported. Relaxed is enough for the promise that
    /// a subscriber misses no change made after `subscribe` returned: its
    /// increment is sequenced before the subscriber's later lock
    /// acquisitions (a `dump`, or simply time passing through the lock of
    /// the entry), and a change made after that, under the same lock, is
    /// ordered after the increment by that lock.
    fn active(&self) -> bool {
        // Relaxed: see above; the lock of the change provides the ordering.
        self.subscribers.load(Ordering::Relaxed) != 0
    }

    /// Queue `ev` (its `seq` is assigned here) to every subscriber whose
    /// filter takes it. Returns how many subscribers dropped it.
    fn push(&self, mut ev: NeighEvent<K>) -> u64 {
        let mut h = self.inner.lock();
        h.seq += 1;
        ev.seq = h.seq;
        let mut dropped = 0;
        for s in &mut h.subs {
            if s.filter == EventFilter::Kernel && !ev.notify {
                continue;
            }
            if s.lost > 0 || s.queue.len() >= s.cap {
                s.lost += 1;
                s.lost_total += 1;
                dropped += 1;
            } else {
                s.queue.push_back(ev);
            }
        }
        dropped
    }
}

/// A subscription to a table's events ([`NeighTable::subscribe`]).
/// Unsubscribes when dropped. It may outlive the table (it then receives
/// nothing more).
pub struct EventReceiver<K: NeighKey> {
    hub: sync::Arc<Hub<K>>,
    id: u64,
}

impl<K: NeighKey> EventReceiver<K> {
    fn with<R>(&self, f: impl FnOnce(&mut Sub<K>) -> R) -> R {
        let mut h = self.hub.inner.lock();
        let s = h
            .subs
            .iter_mut()
            .find(|s| s.id == self.id)
            .expect("a receiver's queue lives until the receiver is dropped");
        f(s)
    }

    /// The next event, a [`Received::Lost`] marker, or `None` if nothing is
    /// queued. Takes only the hub lock, briefly: a subscriber may call back
    /// into the table with what it receives.
    pub fn try_recv(&self) -> Option<Received<K>> {
        self.with(|s| {
            if let Some(ev) = s.queue.pop_front() {
                Some(Received::Event(ev))
            } else if s.lost > 0 {
                Some(Received::Lost(core::mem::take(&mut s.lost)))
            } else {
                None
            }
        })
    }

    /// Everything queued, in order (ending with a `Lost` marker if events
    /// were dropped).
    pub fn drain(&self) -> Vec<Received<K>> {
        self.with(|s| {
            let mut v: Vec<Received<K>> = s.queue.drain(..).map(Received::Event).collect();
            if s.lost > 0 {
                v.push(Received::Lost(core::mem::take(&mut s.lost)));
            }
            v
        })
    }

    /// Events waiting (not counting a pending `Lost` marker).
    pub fn len(&self) -> usize {
        self.with(|s| s.queue.len())
    }

    /// Is nothing waiting, not even a `Lost` marker?
    pub fn is_empty(&self) -> bool {
        self.with(|s| s.queue.is_empty() && s.lost == 0)
    }

    /// Events dropped for this subscriber since it subscribed.
    pub fn lost_total(&self) -> u64 {
        self.with(|s| s.lost_total)
    }
}

impl<K: NeighKey> Drop for EventReceiver<K> {
    fn drop(&mut self) {
        let mut h = self.hub.inner.lock();
        h.subs.retain(|s| s.id != self.id);
        // Relaxed: a count, decremented under the hub lock (see `active`).
        self.hub.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<K: NeighKey> core::fmt::Debug for EventReceiver<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EventReceiver")
            .field("id", &self.id)
            .finish()
    }
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// Subscribe to the table's events (the `ip monitor neigh` /
    /// `RTNLGRP_NEIGH` analogue): every change made after this returns is
    /// delivered, in each entry's order, into a queue of at most `capacity`
    /// events (beyond it events are dropped and counted; see
    /// [`Received::Lost`]). To mirror the table, subscribe with
    /// [`EventFilter::All`], then `dump()`, then apply every event received
    /// (each carries the entry's whole new state, so events that the dump
    /// already reflects are harmless to apply again).
    ///
    /// `Err(Config)` for a capacity of 0 or above [`MAX_EVENT_QUEUE`].
    pub fn subscribe(
        &self,
        capacity: usize,
        filter: EventFilter,
    ) -> Result<EventReceiver<K>, NeighError> {
        if capacity == 0 || capacity > MAX_EVENT_QUEUE {
            return Err(NeighError::Config(ConfigError {
                field: "event queue capacity",
                value: capacity as u64,
                reason: "must be 1..=2^24",
            }));
        }
        let mut h = self.events.inner.lock();
        let id = h.next_id;
        h.next_id += 1;
        h.subs.push(Sub {
            id,
            filter,
            cap: capacity,
            queue: VecDeque::with_capacity(capacity.min(1024)),
            lost: 0,
            lost_total: 0,
        });
        // Relaxed: a count, incremented under the hub lock (see `active`).
        self.events.subscribers.fetch_add(1, Ordering::Relaxed);
        drop(h);
        Ok(EventReceiver {
            hub: self.events.clone(),
            id,
        })
    }

    /// The entry's reportable state, if anyone listens (caller holds the
    /// entry lock).
    pub(crate) fn snap(&self, n: &Entry<K, O>, g: &EntryLocked<O::Packet>) -> Option<Snap> {
        if !self.events.active() {
            return None;
        }
        Some(Snap {
            state: n.state(),
            lladdr: n.lladdr(),
            flags: NeighFlags::from_byte(g.flags),
        })
    }

    fn push(&self, n: &Entry<K, O>, kind: EventKind, old: Snap, new: Snap, notify: bool) {
        let dropped = self.events.push(NeighEvent {
            seq: 0,
            tick: self.jiffies(),
            kind,
            key: n.key,
            dev: n.dev,
            old_state: old.state,
            state: new.state,
            old_lladdr: old.lladdr,
            lladdr: new.lladdr,
            old_flags: old.flags,
            flags: new.flags,
            notify,
        });
        self.stats.add(C::EVENTS_LOST, dropped);
    }

    /// Report what changed since `before` (taken by [`snap`](Self::snap)
    /// in the same entry-lock section, which the caller still holds), if
    /// anything did; `notify` says whether Linux would announce it.
    pub(crate) fn notify_change(
        &self,
        n: &Entry<K, O>,
        g: &EntryLocked<O::Packet>,
        before: Option<Snap>,
        notify: impl FnOnce(&Snap, &Snap) -> bool,
    ) {
        let Some(old) = before else { return };
        let Some(new) = self.snap(n, g) else { return };
        if old != new {
            let k = notify(&old, &new);
            self.push(n, EventKind::Change, old, new, k);
        }
    }

    /// Report a new entry; the caller holds the table lock and has not
    /// linked `n` yet.
    pub(crate) fn notify_new(&self, n: &Entry<K, O>) {
        if !self.events.active() {
            return;
        }
        let g = n.lock.lock();
        let none = Snap {
            state: NudState::NONE,
            lladdr: None,
            flags: NeighFlags::NONE,
        };
        if let Some(now) = self.snap(n, &g) {
            self.push(n, EventKind::New, none, now, false);
        }
    }

    /// Report the removal of `n`, whose state was `before` when the
    /// removing section (which the caller still holds) began.
    pub(crate) fn notify_delete(
        &self,
        n: &Entry<K, O>,
        g: &EntryLocked<O::Packet>,
        before: Option<Snap>,
    ) {
        let Some(old) = before else { return };
        let Some(new) = self.snap(n, g) else { return };
        self.push(n, EventKind::Delete, old, new, true);
    }
}

/// Linux's rule for an update (`__neigh_update`): a change to a VALID state,
/// of the address or of the flags is notified; a move between non-VALID
/// states only if it leaves a VALID state or fails a resolution.
pub(crate) fn update_notifies(old: &Snap, new: &Snap) -> bool {
    if old.state == new.state || new.state.is(NudState::VALID) {
        return true;
    }
    old.state.is(NudState::VALID)
        || (old.state.is(NudState::INCOMPLETE | NudState::PROBE) && new.state == NudState::FAILED)
        || old.lladdr != new.lladdr
        || old.flags != new.flags
}

/// Linux's rule for the timer (`neigh_timer_handler`): every change but
/// REACHABLE -> DELAY is notified.
pub(crate) fn timer_notifies(old: &Snap, new: &Snap) -> bool {
    !(old.state == NudState::REACHABLE && new.state == NudState::DELAY)
}
