//! An independent, single-threaded reference model of the neighbour table as
//! Linux 6.x behaves (`net/core/neighbour.c`: `__neigh_update`,
//! `neigh_timer_handler`, `__neigh_event_send`, `neigh_periodic_work`,
//! `neigh_managed_work`, `neigh_add`, `neigh_delete`, `neigh_flush_dev`;
//! `net/ipv4/arp.c`: `arp_process`, `neigh_event_ns`), written from the
//! kernel source rather than from the crate: states, addresses, flags,
//! timestamps, the armed timer, the queue, and the events each change
//! produces (with Linux's `notify` decision). Used by `cache_model.rs`.
#![allow(dead_code)]

use neighcache::{DropReason, EventKind, NeighFlags, NeighParms, NudState as S, Probe, Tick, HZ};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// What the outside world sees, per key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ext {
    Tx(u64, [u8; 6]),
    Solicit(Probe),
    Error(u64),
    Discard(u64, DropReason),
}

/// An event as the model expects it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ev {
    pub kind: EventKind,
    pub old: S,
    pub new: S,
    pub lladdr: Option<[u8; 6]>,
    pub flags: NeighFlags,
    pub notify: bool,
}

#[derive(Clone, Debug)]
pub struct MEntry {
    pub state: S,
    pub lladdr: Option<[u8; 6]>,
    pub timer: Option<Tick>,
    pub probes: u32,
    pub confirmed: Tick,
    pub used: Tick,
    pub updated: Tick,
    pub queue: VecDeque<u64>,
    pub flags: NeighFlags,
    /// On the `gc_list` (not PERMANENT, not externally learned).
    pub eligible: bool,
}

/// Reportable state: (state, address if VALID, flags).
type Snap = (S, Option<[u8; 6]>, NeighFlags);

pub struct Model {
    pub now: Tick,
    pub next_gc: Tick,
    pub next_managed: Tick,
    pub reach: Tick,
    pub entries: BTreeMap<u8, MEntry>,
    pub managed: BTreeSet<u8>,
    pub ext: HashMap<u8, Vec<Ext>>,
    pub ev: HashMap<u8, Vec<Ev>>,
    pub p: NeighParms,
    pub gc_interval: Tick,
    /// Each packet's `truesize` (the tests' packets: 100 bytes + 576).
    pub truesize: usize,
}

const FLOOR: Tick = HZ / 100;

fn after(a: Tick, b: Tick) -> bool {
    (b.wrapping_sub(a) as i64) < 0
}

fn before_eq(a: Tick, b: Tick) -> bool {
    !after(a, b)
}

/// `__neigh_update`'s notify decision for a change from `o` to `n`.
fn update_notifies(o: &Snap, n: &Snap) -> bool {
    o.0 == n.0
        || n.0.is(S::VALID)
        || o.0.is(S::VALID)
        || (o.0.is(S::INCOMPLETE | S::PROBE) && n.0 == S::FAILED)
        || o.2 != n.2
}

pub const OVERRIDE: u8 = 1;
pub const ADMIN: u8 = 2;
pub const ISROUTER_OVERRIDE: u8 = 4;
pub const EXT: u8 = 8;
pub const MANAGED: u8 = 16;

impl Model {
    pub fn new(start: Tick, p: NeighParms, gc_interval: Tick) -> Self {
        Model {
            now: start,
            next_gc: start,
            next_managed: start,
            reach: 0,
            entries: BTreeMap::new(),
            managed: BTreeSet::new(),
            ext: HashMap::new(),
            ev: HashMap::new(),
            p,
            gc_interval,
            truesize: 100 + 576,
        }
    }

    fn emit(&mut self, k: u8, e: Ext) {
        self.ext.entry(k).or_default().push(e);
    }

    fn snap(&self, k: u8) -> Snap {
        let e = &self.entries[&k];
        (e.state, e.lladdr.filter(|_| e.state.is(S::VALID)), e.flags)
    }

    fn event(&mut self, k: u8, kind: EventKind, old: Snap, notify: bool) {
        let new = self.snap(k);
        self.ev.entry(k).or_default().push(Ev {
            kind,
            old: old.0,
            new: new.0,
            lladdr: new.1,
            flags: new.2,
            notify,
        });
    }

    /// A `Change` event if anything reportable changed since `old`.
    fn change(&mut self, k: u8, old: Snap, rule: fn(&Snap, &Snap) -> bool) {
        let new = self.snap(k);
        if new != old {
            let n = rule(&old, &new);
            self.event(k, EventKind::Change, old, n);
        }
    }

    fn e(&mut self, k: u8) -> &mut MEntry {
        self.entries.get_mut(&k).unwrap()
    }

    /// `neigh_add_timer`: a later confirmation counts as a use.
    fn add_timer(&mut self, k: u8, when: Tick) {
        let e = self.e(k);
        if after(e.confirmed, e.used) {
            e.used = e.confirmed;
        }
        e.timer = Some(when);
    }

    fn probe(&mut self, k: u8) {
        let p = self.p;
        let e = self.e(k);
        let n = e.probes;
        e.probes += 1;
        let kind = match (
            n < p.ucast_probes,
            e.lladdr.filter(|_| e.state.is(S::VALID)),
        ) {
            (true, Some(mac)) => Probe::Unicast(neighcache::LlAddr::new(&mac).unwrap()),
            _ if n >= p.ucast_probes && n < p.ucast_probes + p.app_probes => Probe::App,
            _ => Probe::Multicast,
        };
        self.emit(k, Ext::Solicit(kind));
    }

    /// `___neigh_create`: a NONE entry, "not confirmed recently".
    pub fn create(&mut self, k: u8, exempt: bool) {
        let now = self.now;
        self.entries.insert(
            k,
            MEntry {
                state: S::NONE,
                lladdr: None,
                timer: None,
                probes: 0,
                confirmed: now.wrapping_sub(self.p.base_reachable_time << 1),
                used: now,
                updated: now,
                queue: VecDeque::new(),
                flags: NeighFlags::NONE,
                eligible: !exempt,
            },
        );
        let none = (S::NONE, None, NeighFlags::NONE);
        self.event(k, EventKind::New, none, false);
    }

    /// `neigh_event_send` (`immediate`: `__neigh_event_send`'s
    /// `immediate_ok`), with packet `id` if any. Output of a packet first
    /// checks CONNECTED/DELAY/PROBE on the hot path, which is the same.
    pub fn event_send(&mut self, k: u8, id: Option<u64>, immediate: bool) {
        let (now, p) = (self.now, self.p);
        self.e(k).used = now;
        let state = self.e(k).state;
        if state.is(S::CONNECTED | S::DELAY | S::PROBE) {
            if let Some(id) = id {
                let mac = self.e(k).lladdr.unwrap();
                self.emit(k, Ext::Tx(id, mac));
            }
            return;
        }
        let old = self.snap(k);
        let mut probe = false;
        if !state.is(S::STALE | S::INCOMPLETE) {
            let e = self.e(k);
            e.probes = p.ucast_probes;
            e.state = S::INCOMPLETE;
            e.updated = now;
            if immediate {
                self.add_timer(k, now + p.retrans_time.max(FLOOR));
                probe = true;
            } else {
                self.add_timer(k, now + 1);
            }
        } else if state == S::STALE {
            let e = self.e(k);
            e.state = S::DELAY;
            e.updated = now;
            self.add_timer(k, now + p.delay_probe_time);
        }
        self.change(k, old, |_, _| false);
        let truesize = self.truesize;
        let e = self.e(k);
        if e.state == S::INCOMPLETE {
            let mut dropped = Vec::new();
            if let Some(id) = id {
                while !e.queue.is_empty()
                    && ((e.queue.len() + 1) * truesize > p.unres_qlen_bytes
                        || e.queue.len() >= p.unres_qlen)
                {
                    dropped.push(e.queue.pop_front().unwrap());
                }
                e.queue.push_back(id);
            }
            for d in dropped {
                self.emit(k, Ext::Discard(d, DropReason::QueueOverflow));
            }
        } else if let Some(id) = id {
            let mac = e.lladdr.unwrap();
            self.emit(k, Ext::Tx(id, mac));
        }
        if probe {
            self.probe(k);
        }
    }

    /// A packet to `k` (`resolve_output`).
    pub fn send(&mut self, k: u8, id: u64) {
        if !self.entries.contains_key(&k) {
            self.create(k, false);
        }
        self.event_send(k, Some(id), true);
    }

    /// `__neigh_update`. Returns false for the kernel's `-EPERM`.
    pub fn update(&mut self, k: u8, mac: Option<[u8; 6]>, new: S, flags: u8) -> bool {
        let now = self.now;
        let admin = flags & ADMIN != 0;
        let old = self.e(k).state;
        if !admin && old.is(S::NOARP | S::PERMANENT) {
            return false;
        }
        let before = self.snap(k);
        let was_exempt = !self.e(k).eligible;
        if admin {
            let e = self.e(k);
            let router = e.flags.contains(NeighFlags::ROUTER);
            e.flags = [
                (router, NeighFlags::ROUTER),
                (flags & EXT != 0, NeighFlags::EXT_LEARNED),
                (flags & MANAGED != 0, NeighFlags::MANAGED),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .fold(NeighFlags::NONE, |a, (_, f)| a | f);
        }
        let mut flush: Option<(Vec<u64>, [u8; 6], bool)> = None;
        if admin && flags & MANAGED != 0 {
            let e = self.e(k);
            e.state = S::from_bits(old.bits() & !S::PERMANENT.bits());
        } else if !new.is(S::VALID) {
            let e = self.e(k);
            e.timer = None;
            e.state = new;
            let q: Vec<u64> = e.queue.drain(..).collect();
            if old.is(S::INCOMPLETE | S::PROBE) && new == S::FAILED {
                e.updated = now;
            }
            for id in q {
                self.emit(k, Ext::Error(id));
            }
        } else {
            flush = self.update_valid(k, mac, new, flags);
        }
        self.change(k, before, update_notifies);
        let e = self.e(k);
        let exempt = e.state.is(S::PERMANENT) || e.flags.contains(NeighFlags::EXT_LEARNED);
        if exempt != was_exempt {
            e.eligible = !exempt;
        }
        if e.flags.contains(NeighFlags::MANAGED) {
            self.managed.insert(k);
        } else {
            self.managed.remove(&k);
        }
        if let Some((q, mac, stale)) = flush {
            let any = !q.is_empty();
            for id in q {
                self.emit(k, Ext::Tx(id, mac));
            }
            if any && stale {
                self.event_send(k, None, true);
            }
        }
        true
    }

    /// `__neigh_update` to a VALID state; returns the queue to flush.
    fn update_valid(
        &mut self,
        k: u8,
        mac: Option<[u8; 6]>,
        mut new: S,
        flags: u8,
    ) -> Option<(Vec<u64>, [u8; 6], bool)> {
        let (now, base, reach) = (self.now, self.p.base_reachable_time, self.reach);
        let e = self.e(k);
        let old = e.state;
        let cur = e.lladdr.filter(|_| old.is(S::VALID));
        let mac = mac.or(cur).unwrap();
        if new.is(S::CONNECTED) {
            e.confirmed = now;
        }
        let isrouter = flags & ISROUTER_OVERRIDE != 0;
        if let Some(c) = cur {
            // (No WEAK_OVERRIDE in the model's updates.)
            if mac != c && flags & OVERRIDE == 0 {
                return None;
            } else if mac == c && new == S::STALE && flags & ADMIN == 0 {
                new = old;
            }
        }
        if new != old || Some(mac) != cur {
            e.updated = now;
        }
        if Some(mac) != cur {
            e.lladdr = Some(mac);
            if !new.is(S::CONNECTED) {
                e.confirmed = now.wrapping_sub(base << 1);
            }
        }
        if new != old {
            e.timer = None;
            if new.is(S::PROBE) {
                e.probes = 0;
            }
            if new.is(S::IN_TIMER) {
                let d = if new == S::REACHABLE { reach } else { 0 };
                self.add_timer(k, now + d);
            }
            self.e(k).state = new;
        }
        if isrouter {
            // No ISROUTER in the model's updates: an OVERRIDE_ISROUTER clears it.
            let e = self.e(k);
            e.flags = NeighFlags::from_bits_for_test(e.flags.bits() & !NeighFlags::ROUTER.bits());
        }
        if new == old || old.is(S::VALID) {
            return None;
        }
        let q: Vec<u64> = self.e(k).queue.drain(..).collect();
        Some((q, mac, new == S::STALE))
    }

    /// `arp_process` for a reply to us (`reply`) or a request for someone
    /// else, `arp_accept` off: an existing entry only, overriding once
    /// `locktime` has passed (strictly).
    pub fn arp(&mut self, k: u8, mac: [u8; 6], reply: bool) {
        let Some(e) = self.entries.get(&k) else {
            return;
        };
        let over = after(self.now, e.updated + self.p.locktime);
        let new = if reply { S::REACHABLE } else { S::STALE };
        self.update(k, Some(mac), new, if over { OVERRIDE } else { 0 });
    }

    /// `neigh_event_ns`: a request for our address.
    pub fn event_ns(&mut self, k: u8, mac: [u8; 6]) {
        if !self.entries.contains_key(&k) {
            self.create(k, false);
        }
        self.update(k, Some(mac), S::STALE, OVERRIDE);
    }

    /// `neigh_add` of a PERMANENT, or externally learned NOARP, entry.
    pub fn admin_add(&mut self, k: u8, mac: [u8; 6], external: bool) {
        if !self.entries.contains_key(&k) {
            self.create(k, true);
        }
        let (state, ext) = if external {
            (S::NOARP, EXT)
        } else {
            (S::PERMANENT, 0)
        };
        self.update(
            k,
            Some(mac),
            state,
            OVERRIDE | ADMIN | ISROUTER_OVERRIDE | ext,
        );
    }

    /// `neigh_add ... managed`, then `neigh_event_send`.
    pub fn add_managed(&mut self, k: u8) {
        if !self.entries.contains_key(&k) {
            self.create(k, false);
        }
        self.update(k, None, S::NONE, ADMIN | MANAGED);
        self.event_send(k, None, true);
    }

    /// `neigh_timer_handler`.
    pub fn fire(&mut self, k: u8) {
        let (now, p, reach) = (self.now, self.p, self.reach);
        let before = self.snap(k);
        let e = self.e(k);
        e.timer = None;
        let mut next = now + p.retrans_time.max(FLOOR);
        if e.state == S::REACHABLE {
            if before_eq(now, e.confirmed.wrapping_add(reach)) {
                next = e.confirmed.wrapping_add(reach);
            } else if before_eq(now, e.used.wrapping_add(p.delay_probe_time)) {
                e.state = S::DELAY;
                e.updated = now;
                next = now + p.delay_probe_time;
            } else {
                e.state = S::STALE;
                e.updated = now;
            }
        } else if e.state == S::DELAY {
            if before_eq(now, e.confirmed.wrapping_add(p.delay_probe_time)) {
                e.state = S::REACHABLE;
                e.updated = now;
                next = e.confirmed.wrapping_add(reach);
            } else {
                e.state = S::PROBE;
                e.updated = now;
                e.probes = 0;
            }
        }
        let timer_rule: fn(&Snap, &Snap) -> bool = |o, n| !(o.0 == S::REACHABLE && n.0 == S::DELAY);
        if e.state.is(S::INCOMPLETE | S::PROBE) && e.probes >= p.max_probes(e.state == S::PROBE) {
            e.state = S::FAILED;
            e.updated = now;
            let q: Vec<u64> = e.queue.drain(..).collect();
            self.change(k, before, timer_rule);
            for id in q {
                self.emit(k, Ext::Error(id));
            }
            return;
        }
        self.change(k, before, timer_rule);
        let e = self.e(k);
        if e.state.is(S::IN_TIMER) {
            e.timer = Some(if after(now + FLOOR, next) {
                now + FLOOR
            } else {
                next
            });
        }
        if e.state.is(S::INCOMPLETE | S::PROBE) {
            self.probe(k);
        }
    }

    fn delete(&mut self, k: u8, state: S) {
        let before = self.snap(k);
        self.e(k).state = state;
        self.event(k, EventKind::Delete, before, true);
        self.entries.remove(&k);
        self.managed.remove(&k);
    }

    /// `neigh_delete`.
    pub fn remove(&mut self, k: u8) {
        self.update(k, None, S::FAILED, OVERRIDE | ADMIN);
        self.delete(k, S::FAILED);
    }

    /// `neigh_flush_dev` (`skip_perm`: `neigh_carrier_down`).
    pub fn flush(&mut self, skip_perm: bool) {
        let keys: Vec<u8> = self.entries.keys().copied().collect();
        for k in keys {
            if skip_perm && self.entries[&k].state == S::PERMANENT {
                continue;
            }
            let q: Vec<u64> = self.e(k).queue.drain(..).collect();
            for id in q {
                self.emit(k, Ext::Discard(id, DropReason::DeviceDown));
            }
            self.delete(k, S::NONE);
        }
    }

    /// `run_timers`: expired entry timers, then the periodic GC and the
    /// managed pass when due.
    pub fn run_timers(&mut self, now: Tick) {
        self.now = now;
        let due: Vec<u8> = self
            .entries
            .iter()
            .filter(|(_, e)| e.timer.is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            self.fire(k);
        }
        let (gc, managed) = (now >= self.next_gc, now >= self.next_managed);
        if gc {
            self.gc();
        }
        if managed {
            self.next_managed = now + self.p.interval_probe_time;
            for k in self.managed.clone() {
                self.event_send(k, None, false);
            }
        }
    }

    /// `neigh_periodic_work` (`gc_thresh1` is 0 in the tests).
    fn gc(&mut self) {
        let now = self.now;
        self.next_gc = now + self.gc_interval;
        let stale = self.p.gc_staletime;
        let victims: Vec<u8> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                if e.state.is(S::PERMANENT | S::IN_TIMER)
                    || e.flags.contains(NeighFlags::EXT_LEARNED)
                {
                    return false;
                }
                let used = if after(e.confirmed, e.used) && before_eq(e.confirmed, now) {
                    e.confirmed
                } else {
                    e.used
                };
                e.state == S::FAILED || before_eq(used.wrapping_add(stale), now)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in victims {
            let s = self.entries[&k].state;
            self.delete(k, s);
        }
    }
}

/// `NeighFlags` from bits, for the model's bookkeeping.
pub trait FromBits {
    fn from_bits_for_test(b: u32) -> Self;
}

impl FromBits for NeighFlags {
    fn from_bits_for_test(b: u32) -> Self {
        [
            NeighFlags::ROUTER,
            NeighFlags::EXT_LEARNED,
            NeighFlags::MANAGED,
        ]
        .into_iter()
        .filter(|f| b & f.bits() != 0)
        .fold(NeighFlags::NONE, |a, f| a | f)
    }
}
