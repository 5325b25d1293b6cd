//! Events (`neighcache::NeighEvent`), as `ip monitor neigh` delivers
//! `RTM_NEWNEIGH`/`RTM_DELNEIGH`: which transitions Linux 6.x notifies
//! (`__neigh_update`, `neigh_timer_handler`, `neigh_cleanup_and_release`;
//! `__neigh_event_send` and `__neigh_set_probe_once` notify nothing), the
//! per-entry order, the bounded queue and its `Lost` marker, and a consumer
//! that rebuilds the table from events alone after a long random workload.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::*;
use neighcache::{
    DevId, DeviceConfig, EventFilter, EventKind as K, EventReceiver, NeighEvent, NeighFlags,
    NeighParms, NeighTable, NudState as S, Received, TableConfig, UpdateFlags as F, HZ,
};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

type Table = NeighTable<Ipv4Addr, TestOps>;
/// (kind, old state, new state, notify).
type Summary = (K, S, S, bool);
/// A consumer's view: (device, key) -> (state, address, flags).
type Rows = BTreeMap<(DevId, Ipv4Addr), (S, Option<[u8; 6]>, NeighFlags)>;

fn events(r: &EventReceiver<Ipv4Addr>) -> Vec<NeighEvent<Ipv4Addr>> {
    r.drain()
        .into_iter()
        .map(|x| match x {
            Received::Event(e) => e,
            Received::Lost(n) => panic!("lost {n} events"),
        })
        .collect()
}

/// (kind, old state, new state, notify) of each event.
fn summary(r: &EventReceiver<Ipv4Addr>) -> Vec<Summary> {
    events(r)
        .iter()
        .map(|e| (e.kind, e.old_state, e.state, e.notify))
        .collect()
}

fn stale(t: &Table, last: u8) {
    let n = t.lookup_or_create(ip(last), DEV).unwrap();
    t.update(&n, Some(&MAC_A), S::STALE, F::OVERRIDE).unwrap();
}

/// Which changes Linux notifies, one row per kernel call site: (what
/// happens, the events it must produce as (kind, old, new, notify)). Every
/// row's events also reach an `EventFilter::All` subscriber; an
/// `EventFilter::Kernel` subscriber sees exactly the `notify` ones.
#[test]
fn linux_notifies_these_transitions() {
    type Setup = fn(&Table);
    type Act = fn(&Table);
    let rows: Vec<(&str, Setup, Act, Vec<Summary>)> = vec![
        // `___neigh_create` notifies nothing; `__neigh_event_send` neither.
        (
            "create + send",
            |_| {},
            |t| {
                t.resolve_output(ip(1), DEV, pkt(1));
            },
            vec![
                (K::New, S::NONE, S::NONE, false),
                (K::Change, S::NONE, S::INCOMPLETE, false),
            ],
        ),
        // `__neigh_update`: any change to a VALID state.
        (
            "reply",
            |t| {
                t.resolve_output(ip(1), DEV, pkt(1));
            },
            |t| {
                t.receive_arp(ip(1), DEV, &MAC_A, true).unwrap();
            },
            vec![(K::Change, S::INCOMPLETE, S::REACHABLE, true)],
        ),
        // `__neigh_event_send`: STALE -> DELAY is silent.
        (
            "stale + send",
            |t| stale(t, 1),
            |t| {
                t.resolve_output(ip(1), DEV, pkt(1));
            },
            vec![(K::Change, S::STALE, S::DELAY, false)],
        ),
        // `neigh_timer_handler`: DELAY -> PROBE notifies.
        (
            "delay expires",
            |t| {
                stale(t, 1);
                t.resolve_output(ip(1), DEV, pkt(1));
            },
            |t| {
                advance_by(t, 5 * HZ);
            },
            vec![(K::Change, S::DELAY, S::PROBE, true)],
        ),
        // ... PROBE -> FAILED too.
        (
            "probe fails",
            |t| {
                stale(t, 1);
                t.resolve_output(ip(1), DEV, pkt(1));
                advance_by(t, 5 * HZ);
            },
            |t| {
                advance_by_steps(t, 4 * HZ, HZ);
            },
            vec![(K::Change, S::PROBE, S::FAILED, true)],
        ),
        // ... REACHABLE -> STALE too.
        (
            "reachable expires unused",
            |t| {
                t.resolve_output(ip(1), DEV, pkt(1));
                t.receive_arp(ip(1), DEV, &MAC_A, true).unwrap();
                t.run_timers(t.jiffies() + 10 * HZ).unwrap();
            },
            |t| {
                advance_by_steps(t, 50 * HZ, HZ);
            },
            vec![(K::Change, S::REACHABLE, S::STALE, true)],
        ),
        // `__neigh_set_probe_once` is silent.
        (
            "set_probe_once",
            |t| {
                t.resolve_output(ip(1), DEV, pkt(1));
                advance_by_steps(t, 4 * HZ, HZ);
            },
            |t| {
                let n = t.lookup(ip(1), DEV).unwrap();
                t.set_probe_once(&n).unwrap();
            },
            vec![(K::Change, S::FAILED, S::INCOMPLETE, false)],
        ),
        // `__neigh_update`: an address change in the same state notifies.
        (
            "new address",
            |t| stale(t, 1),
            |t| {
                let n = t.lookup(ip(1), DEV).unwrap();
                t.update(&n, Some(&MAC_B), S::STALE, F::OVERRIDE).unwrap();
            },
            vec![(K::Change, S::STALE, S::STALE, true)],
        ),
        // `neigh_update_is_router`: so does the router flag.
        (
            "router flag",
            |t| stale(t, 1),
            |t| {
                let n = t.lookup(ip(1), DEV).unwrap();
                let f = F::OVERRIDE_ISROUTER | F::ISROUTER;
                t.update(&n, Some(&MAC_A), S::STALE, f).unwrap();
            },
            vec![(K::Change, S::STALE, S::STALE, true)],
        ),
        // An administrative move between non-VALID states is silent...
        (
            "admin NONE -> FAILED",
            |t| {
                t.lookup_or_create(ip(1), DEV).unwrap();
            },
            |t| {
                let n = t.lookup(ip(1), DEV).unwrap();
                t.update(&n, None, S::FAILED, F::ADMIN).unwrap();
            },
            vec![(K::Change, S::NONE, S::FAILED, false)],
        ),
        // ... and `neigh_delete` notifies the FAILED of a VALID entry, then
        // `RTM_DELNEIGH`.
        (
            "remove",
            |t| stale(t, 1),
            |t| {
                t.remove(ip(1), DEV).unwrap();
            },
            vec![
                (K::Change, S::STALE, S::FAILED, true),
                (K::Delete, S::FAILED, S::FAILED, true),
            ],
        ),
        // `neigh_flush_dev`, periodic GC: `RTM_DELNEIGH`.
        (
            "flush",
            |t| stale(t, 1),
            |t| {
                t.flush_dev(Some(DEV));
            },
            vec![(K::Delete, S::STALE, S::NONE, true)],
        ),
        (
            "gc",
            |t| stale(t, 1),
            |t| {
                t.run_timers(t.jiffies() + 100 * HZ).unwrap();
                t.gc();
            },
            vec![(K::Delete, S::STALE, S::STALE, true)],
        ),
    ];
    for (name, setup, act, want) in rows {
        let t = table_with(TableConfig {
            gc_thresh1: 0,
            ..test_config()
        });
        setup(&t);
        let all = t.subscribe(64, EventFilter::All).unwrap();
        let kernel = t.subscribe(64, EventFilter::Kernel).unwrap();
        act(&t);
        assert_eq!(summary(&all), want, "{name}");
        let notified: Vec<_> = want.iter().copied().filter(|w| w.3).collect();
        assert_eq!(summary(&kernel), notified, "{name}: Kernel filter");
    }
}

/// The hit path never reaches the event queues: a CONNECTED entry's
/// `lookup_noref` + `output` produces no event, with subscribers present.
#[test]
fn hits_produce_no_events() {
    let t = table();
    t.resolve_output(ip(1), DEV, pkt(1));
    t.receive_arp(ip(1), DEV, &MAC_A, true).unwrap();
    let sub = t.subscribe(16, EventFilter::All).unwrap();
    let g = t.pin();
    let n = t.lookup_noref(ip(1), DEV, &g).unwrap();
    for i in 0..1000 {
        t.output(n, pkt(i), &g);
    }
    assert!(sub.is_empty());
}

/// A full queue drops events (counted), then delivers a `Lost` marker after
/// what it holds, drops everything until the marker is read, and delivers
/// every later event: a consumer that resynchronises with `dump()` at the
/// marker and applies what follows ends up with the table.
#[test]
fn a_full_queue_loses_events_and_the_consumer_resyncs() {
    let t = table();
    let sub = t.subscribe(8, EventFilter::All).unwrap();
    for i in 1..=20 {
        t.resolve_output(ip(i), DEV, pkt(i.into()));
    }
    assert_eq!(sub.len(), 8);
    let mut mirror = Mirror::default();
    for _ in 0..8 {
        match sub.try_recv() {
            Some(Received::Event(e)) => mirror.apply(&e),
            other => panic!("{other:?}"),
        }
    }
    // Still marked lost: this event is dropped too.
    t.resolve_output(ip(30), DEV, pkt(30));
    match sub.try_recv() {
        Some(Received::Lost(n)) => {
            assert_eq!(n, 40 - 8 + 2);
            mirror.resync(&t);
        }
        other => panic!("{other:?}"),
    }
    assert!(sub.try_recv().is_none());
    assert_eq!(sub.lost_total(), 34);
    assert_eq!(t.stats().events_lost, 34);
    for i in 1..=5 {
        t.receive_arp(ip(i), DEV, &MAC_A, true).unwrap();
    }
    for e in events(&sub) {
        mirror.apply(&e);
    }
    mirror.check(&t, "after the resync");
}

/// A consumer's copy of the table: (key, device) -> (state, address, flags).
#[derive(Default)]
struct Mirror {
    rows: Rows,
    last_seq: u64,
}

fn mac(a: Option<neighcache::LlAddr>) -> Option<[u8; 6]> {
    a.map(|a| a.as_bytes().try_into().unwrap())
}

impl Mirror {
    /// Apply one event, checking that it continues the entry's history
    /// (per-entry order) and that numbers increase (queue order).
    fn apply(&mut self, e: &NeighEvent<Ipv4Addr>) {
        assert!(e.seq > self.last_seq, "sequence numbers increase: {e:?}");
        self.last_seq = e.seq;
        let k = (e.dev, e.key);
        let prev = self.rows.get(&k).copied();
        match e.kind {
            K::New => assert!(prev.is_none(), "new entry already present: {e:?}"),
            K::Change | K::Delete => {
                let was = prev.unwrap_or_else(|| panic!("change of an unknown entry: {e:?}"));
                let old = (e.old_state, mac(e.old_lladdr), e.old_flags);
                assert_eq!(
                    old, was,
                    "the event does not continue the entry's history: {e:?}"
                );
            }
        }
        if e.kind == K::Delete {
            self.rows.remove(&k);
        } else {
            self.rows.insert(k, (e.state, mac(e.lladdr), e.flags));
        }
    }

    fn resync(&mut self, t: &Table) {
        self.rows = snapshot(t);
    }

    fn check(&self, t: &Table, when: &str) {
        assert_eq!(self.rows, snapshot(t), "{when}");
    }
}

fn snapshot(t: &Table) -> Rows {
    t.dump()
        .into_iter()
        .map(|e| ((e.dev, e.key), (e.state, mac(e.lladdr), e.flags)))
        .collect()
}

/// splitmix64: a deterministic workload.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const DEV2: DevId = DevId(2);

/// One random operation of the workload, from every public call that
/// changes entries.
fn random_op(t: &Table, r: &mut Rng, id: &mut u64) {
    let dev = if r.below(3) == 0 { DEV2 } else { DEV };
    let k = ip(1 + r.below(40) as u8);
    let mac = [MAC_A, MAC_B][r.below(2) as usize];
    let states = [
        S::NONE,
        S::INCOMPLETE,
        S::REACHABLE,
        S::STALE,
        S::DELAY,
        S::PROBE,
        S::FAILED,
    ];
    let flag_sets = [
        F::NONE,
        F::OVERRIDE,
        F::WEAK_OVERRIDE,
        F::OVERRIDE | F::OVERRIDE_ISROUTER | F::ISROUTER,
        F::OVERRIDE_ISROUTER,
        F::ADMIN | F::OVERRIDE,
    ];
    match r.below(100) {
        0..=29 => {
            *id += 1;
            t.resolve_output(k, dev, pkt(*id));
        }
        30..=39 => {
            let _ = t.receive_arp(k, dev, &mac, r.below(2) == 0);
        }
        40..=44 => {
            let _ = t.event_ns(k, dev, &mac);
        }
        45..=54 => {
            if let Some(n) = t.lookup(k, dev) {
                let s = states[r.below(states.len() as u64) as usize];
                let f = flag_sets[r.below(flag_sets.len() as u64) as usize];
                let _ = t.update(&n, Some(&mac), s, f);
            }
        }
        55..=57 => {
            if let Some(n) = t.lookup(k, dev) {
                let _ = t.confirm(&n);
                let _ = t.set_probe_once(&n);
            }
        }
        58..=74 => {
            let dt = [1, 10, 300, HZ, 5 * HZ, 30 * HZ][r.below(6) as usize];
            t.run_timers(t.jiffies() + dt).unwrap();
        }
        75..=79 => {
            let _ = t.remove(k, dev);
        }
        80..=82 => {
            let _ = t.add_permanent(k, dev, &mac);
        }
        83..=85 => {
            let _ = t.add_external(k, dev, &mac, r.below(2) == 0);
        }
        86..=88 => {
            let _ = t.add_managed(k, dev);
        }
        89 => {
            let _ = t.carrier_down(dev);
        }
        90 => {
            t.flush_dev(Some(dev));
        }
        91 => {
            let _ = t.remove_device(DEV2);
            let _ = t.add_device(DEV2, DeviceConfig::ethernet(SRC_MAC, 0x0800));
        }
        92..=94 => {
            t.gc();
        }
        _ => {
            let p = NeighParms {
                retrans_time: [10, 300, HZ][r.below(3) as usize],
                base_reachable_time: [2 * HZ, 30 * HZ][r.below(2) as usize],
                mcast_probes: 1 + r.below(3) as u32,
                ..NeighParms::default()
            };
            t.set_device_parms(DEV, p).unwrap();
        }
    }
}

/// A consumer rebuilds the table from events alone: after each of 12,000
/// random operations (every public call that changes entries, two devices,
/// forced GC from small thresholds, parameter changes) its copy, built only
/// from `EventFilter::All` events applied in order, equals `dump()` (state,
/// address, flags of every entry); every event continues its entry's
/// history and sequence numbers increase.
#[test]
fn a_consumer_rebuilds_the_table_from_events_alone() {
    let c = TableConfig {
        gc_thresh1: 0,
        gc_thresh2: 8,
        gc_thresh3: 16,
        ..test_config()
    };
    let t = table_with(c);
    t.add_device(DEV2, DeviceConfig::ethernet(SRC_MAC, 0x0800))
        .unwrap();
    let sub = t.subscribe(1 << 20, EventFilter::All).unwrap();
    let mut mirror = Mirror::default();
    let mut r = Rng(0x2c51_a97f);
    let mut id = 0;
    let mut seen = 0usize;
    for step in 0..12_000 {
        random_op(&t, &mut r, &mut id);
        let evs = events(&sub);
        seen += evs.len();
        for e in &evs {
            mirror.apply(e);
        }
        mirror.check(&t, &format!("step {step}"));
        t.ops().take();
    }
    let s = t.stats();
    println!(
        "{seen} events from 12,000 operations, {} entries at the end",
        t.len()
    );
    assert!(seen > 10_000, "the workload made {seen} events");
    assert!(s.forced_gc_runs > 0 && s.table_fulls > 0, "{s:?}");
    assert_eq!(s.events_lost, 0);
}
