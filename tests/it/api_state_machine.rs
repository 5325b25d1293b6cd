//! A state-machine property test over random sequences of public calls,
//! misuse included: two tables (A, small enough to fill; B, default sizes)
//! whose entries and handles are used with each other, wrong address
//! lengths, an unknown device, devices removed and re-added, callbacks that
//! panic (armed and disarmed by the sequence, in any callback or all) or
//! re-enter the table (hooks switched by the sequence), packets whose
//! `len()` panics, ticks beyond `MAX_TICK` and time going backwards,
//! flushes, GC and handles held across operations.
//!
//! After **every** step, for both tables: a panic reached the caller only if
//! one was armed (or the packet's `len()` panics), and it was exactly that
//! panic; the predicted typed error for each misuse; and `check` from
//! `tests/it/common/adversary.rs`: packet ledger exact per delivery kind,
//! packets alive = packets queued, refcount = link + timer + the handles
//! held, timers = timer states. At the end, `teardown`: `allocs ==
//! destroys`, every packet delivered once or counted `Unwound`, every
//! packet freed.
//!
//! Cases: 256 by default (about a second in a debug build); set
//! `PROPTEST_CASES` for more.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::adversary::*;
use common::{test_config, DEV};
use neighcache::{
    DevId, DropReason, EventSend, NeighError, NeighHandle, NudState as S, TableConfig,
    UpdateFlags as F, Xmit, HZ, MAX_TICK,
};
use proptest::prelude::*;
use std::net::Ipv4Addr;
use std::sync::Arc;

const DEVS: [DevId; 3] = [DEV, ETH1, NODEV];
const STATES: [S; 9] = [
    S::NONE,
    S::INCOMPLETE,
    S::REACHABLE,
    S::STALE,
    S::DELAY,
    S::PROBE,
    S::FAILED,
    S::PERMANENT,
    S::from_bits(0x03), // a mask: InvalidState
];
const FLAGS: [F; 4] = [F::NONE, F::OVERRIDE, F::WEAK_OVERRIDE, F::ADMIN];
/// Address lengths: mostly the device's 6, sometimes 0, 1, 7 or 21.
const ADDR_LENS: [usize; 8] = [6, 6, 6, 6, 0, 1, 7, 21];

#[derive(Clone, Debug)]
enum Op {
    /// `resolve_output` on table `t` (0 = A, 1 = B); `panic_len`: the
    /// packet's `len()` panics.
    Output {
        t: usize,
        key: u8,
        dev: usize,
        panic_len: bool,
    },
    /// Output through held handle `slot` on table `t` (foreign if the handle
    /// is the other table's).
    OutputHeld {
        t: usize,
        slot: usize,
        event_send: bool,
    },
    Arp {
        t: usize,
        key: u8,
        dev: usize,
        mac: u8,
        len: usize,
        reply: bool,
    },
    AddPermanent {
        t: usize,
        key: u8,
        dev: usize,
        len: usize,
    },
    Update {
        t: usize,
        slot: usize,
        state: usize,
        flags: usize,
        len: Option<usize>,
    },
    Confirm {
        t: usize,
        slot: usize,
    },
    SetProbeOnce {
        t: usize,
        slot: usize,
    },
    Remove {
        t: usize,
        key: u8,
        dev: usize,
    },
    Flush {
        t: usize,
        dev: Option<usize>,
    },
    RemoveDevice {
        t: usize,
        dev: usize,
    },
    AddDevice {
        t: usize,
        dev: usize,
    },
    Gc {
        t: usize,
    },
    Advance {
        dt: u64,
    },
    /// 0: back in time; 1: `MAX_TICK + 1`; 2: `u64::MAX`.
    BadTick {
        t: usize,
        kind: u8,
    },
    Hold {
        t: usize,
        key: u8,
        dev: usize,
    },
    Release {
        slot: usize,
    },
    /// Arm a panic in callback `cb` (4 = any) of table `t` after `after` calls.
    Arm {
        t: usize,
        cb: usize,
        after: u8,
    },
    Disarm {
        t: usize,
    },
    /// Re-entrance hook of table `t`: 0 none, 1 answer solicitations, 2
    /// flush everything on transmit, 3 remove the entry on error reports and
    /// discards, 4 run the timers from every callback.
    Hook {
        t: usize,
        kind: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..2usize;
    let key = 0..6u8;
    let dev = prop_oneof![4 => 0..2usize, 1 => Just(2usize)];
    let len = proptest::sample::select(&ADDR_LENS[..]);
    prop_oneof![
        8 => (t.clone(), key.clone(), dev.clone(), prop::bool::weighted(0.05))
            .prop_map(|(t, key, dev, panic_len)| Op::Output { t, key, dev, panic_len }),
        3 => (t.clone(), 0..8usize, any::<bool>())
            .prop_map(|(t, slot, event_send)| Op::OutputHeld { t, slot, event_send }),
        6 => (t.clone(), key.clone(), dev.clone(), 0..3u8, len.clone(), any::<bool>())
            .prop_map(|(t, key, dev, mac, len, reply)| Op::Arp { t, key, dev, mac, len, reply }),
        1 => (t.clone(), key.clone(), dev.clone(), len.clone())
            .prop_map(|(t, key, dev, len)| Op::AddPermanent { t, key, dev, len }),
        3 => (t.clone(), 0..8usize, 0..STATES.len(), 0..FLAGS.len(), prop::option::of(len))
            .prop_map(|(t, slot, state, flags, len)| Op::Update { t, slot, state, flags, len }),
        1 => (t.clone(), 0..8usize).prop_map(|(t, slot)| Op::Confirm { t, slot }),
        1 => (t.clone(), 0..8usize).prop_map(|(t, slot)| Op::SetProbeOnce { t, slot }),
        2 => (t.clone(), key.clone(), dev.clone()).prop_map(|(t, key, dev)| Op::Remove { t, key, dev }),
        1 => (t.clone(), prop::option::of(0..3usize)).prop_map(|(t, dev)| Op::Flush { t, dev }),
        1 => (t.clone(), 0..3usize).prop_map(|(t, dev)| Op::RemoveDevice { t, dev }),
        1 => (t.clone(), 0..3usize).prop_map(|(t, dev)| Op::AddDevice { t, dev }),
        1 => t.clone().prop_map(|t| Op::Gc { t }),
        6 => prop_oneof![0u64..600, 600u64..3000, Just(5 * HZ), Just(40 * HZ)]
            .prop_map(|dt| Op::Advance { dt }),
        1 => (t.clone(), 0..3u8).prop_map(|(t, kind)| Op::BadTick { t, kind }),
        3 => (t.clone(), key.clone(), dev).prop_map(|(t, key, dev)| Op::Hold { t, key, dev }),
        2 => (0..8usize).prop_map(|slot| Op::Release { slot }),
        2 => (t.clone(), 0..5usize, 0..3u8).prop_map(|(t, cb, after)| Op::Arm { t, cb, after }),
        1 => t.clone().prop_map(|t| Op::Disarm { t }),
        1 => (t, 0..5u8).prop_map(|(t, kind)| Op::Hook { t, kind }),
    ]
}

fn key(k: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 1 + k)
}

fn mac(m: u8, len: usize) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 0xa0 + m];
    v.resize(len, 0x5a);
    v
}

/// A re-entrance hook for `t` (see [`Op::Hook`]).
fn reentry(t: &Arc<Table>, kind: u8) -> Option<Hook<Ipv4Addr>> {
    match kind {
        1 => hook(t, |t, cb, k| {
            if let (Cb::Solicit, Some(k)) = (cb, k) {
                let _ = t.receive_arp(k, DEV, &mac(1, 6), true);
            }
        }),
        2 => hook(t, |t, cb, _| {
            if cb == Cb::Transmit {
                t.flush_dev(None);
            }
        }),
        3 => hook(t, |t, cb, k| {
            if let (Cb::ErrorReport | Cb::Discard, Some(k)) = (cb, k) {
                let _ = t.remove(k, DEV);
            }
        }),
        4 => hook(t, |t, _, _| {
            let _ = t.run_timers(t.jiffies() + 300);
        }),
        _ => None,
    }
}

fn run(ops: Vec<Op>) {
    let small = {
        let mut c = TableConfig {
            gc_thresh1: 0,
            gc_thresh2: 4,
            gc_thresh3: 6,
            ..test_config()
        };
        c.gc_interval = 2 * HZ;
        c.parms.unres_qlen = 3;
        c
    };
    let (a, la) = adv_table(small);
    let (b, lb) = adv_table(test_config());
    let tables: [&Arc<Table>; 2] = [&a, &b];
    let logs = [&la, &lb];
    // (owner table, handle): kept across operations.
    let mut held: Vec<(usize, NeighHandle<'_, Ipv4Addr, Adv<Ipv4Addr>>)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let panics_before = la.panicked() + lb.panicked();
        // Which devices each table has registered (a removal unregisters
        // even when a callback then panics).
        let devs = tables.map(|t| DEVS.map(|d| t.reachable_time(d).is_some()));
        let len_panic = matches!(
            op,
            Op::Output {
                panic_len: true,
                ..
            }
        );
        let pick = |slot: usize| -> Option<(usize, usize)> {
            (!held.is_empty()).then(|| (slot % held.len(), held[slot % held.len()].0))
        };
        let r = catch(|| match *op {
            Op::Output {
                t,
                key: k,
                dev,
                panic_len,
            } => {
                let p = if panic_len {
                    logs[t].pkt_len(Len::Panic)
                } else {
                    logs[t].pkt()
                };
                let x = tables[t].resolve_output(key(k), DEVS[dev], p);
                if !devs[t][dev] {
                    assert_eq!(x, Xmit::Dropped(DropReason::UnknownDevice));
                }
            }
            Op::OutputHeld {
                t,
                slot,
                event_send,
            } => {
                let Some((i, owner)) = pick(slot) else { return };
                let n = &*held[i].1;
                let foreign = Xmit::Dropped(DropReason::ForeignEntry);
                if event_send {
                    match tables[t].event_send(n, Some(logs[t].pkt())) {
                        EventSend::Send(p) => {
                            assert_eq!(owner, t);
                            logs[t].returned(p.expect("the packet is handed back"));
                        }
                        r => {
                            assert!(owner == t || r == EventSend::Dropped(DropReason::ForeignEntry))
                        }
                    }
                } else {
                    let r = tables[t].output(n, logs[t].pkt(), &tables[t].pin());
                    assert!(owner == t || r == foreign, "{r:?}");
                }
            }
            Op::Arp {
                t,
                key: k,
                dev,
                mac: m,
                len,
                reply,
            } => {
                let r = tables[t].receive_arp(key(k), DEVS[dev], &mac(m, len), reply);
                if !devs[t][dev] {
                    assert_eq!(r, Err(NeighError::UnknownDevice(DEVS[dev])));
                } else if len != 6 {
                    let e = NeighError::BadLladdrLen {
                        dev: DEVS[dev],
                        expected: 6,
                        got: len,
                    };
                    assert_eq!(r, Err(e));
                }
            }
            Op::AddPermanent {
                t,
                key: k,
                dev,
                len,
            } => {
                let r = tables[t].add_permanent(key(k), DEVS[dev], &mac(0, len));
                if !devs[t][dev] {
                    assert_eq!(r, Err(NeighError::UnknownDevice(DEVS[dev])));
                } else if len != 6 {
                    assert!(matches!(r, Err(NeighError::BadLladdrLen { .. })), "{r:?}");
                }
            }
            Op::Update {
                t,
                slot,
                state,
                flags,
                len,
            } => {
                let Some((i, owner)) = pick(slot) else { return };
                let addr = len.map(|l| mac(2, l));
                let r = tables[t].update(&held[i].1, addr.as_deref(), STATES[state], FLAGS[flags]);
                if owner != t {
                    assert_eq!(r, Err(NeighError::ForeignEntry));
                } else if state == STATES.len() - 1 {
                    assert_eq!(r, Err(NeighError::InvalidState(STATES[state])));
                }
            }
            Op::Confirm { t, slot } | Op::SetProbeOnce { t, slot } => {
                let Some((i, owner)) = pick(slot) else { return };
                let r = if matches!(op, Op::Confirm { .. }) {
                    tables[t].confirm(&held[i].1)
                } else {
                    tables[t].set_probe_once(&held[i].1)
                };
                if owner != t {
                    assert_eq!(r, Err(NeighError::ForeignEntry));
                }
            }
            Op::Remove { t, key: k, dev } => {
                let r = tables[t].remove(key(k), DEVS[dev]);
                if !devs[t][dev] {
                    assert_eq!(r, Err(NeighError::UnknownDevice(DEVS[dev])));
                }
            }
            Op::Flush { t, dev } => drop(tables[t].flush_dev(dev.map(|d| DEVS[d]))),
            Op::RemoveDevice { t, dev } => {
                let r = tables[t].remove_device(DEVS[dev]);
                assert_eq!(r.is_ok(), devs[t][dev], "{r:?}");
            }
            Op::AddDevice { t, dev } => {
                let r = tables[t].add_device(DEVS[dev], eth());
                assert_eq!(r.is_ok(), !devs[t][dev], "{r:?}");
            }
            Op::Gc { t } => drop(tables[t].gc()),
            Op::Advance { dt } => {
                for t in tables {
                    t.run_timers(t.jiffies() + dt).unwrap();
                }
            }
            Op::BadTick { t, kind } => {
                let t = tables[t];
                let (j, before) = (t.jiffies(), (t.stats(), t.dump(), t.timers().pending()));
                let (now, want) = match kind {
                    0 if j > 0 => (
                        j - 1,
                        NeighError::TimeWentBackwards {
                            jiffies: j,
                            now: j - 1,
                        },
                    ),
                    1 => (
                        MAX_TICK + 1,
                        NeighError::TickOutOfRange {
                            tick: MAX_TICK + 1,
                            max: MAX_TICK,
                        },
                    ),
                    _ => (
                        u64::MAX,
                        NeighError::TickOutOfRange {
                            tick: u64::MAX,
                            max: MAX_TICK,
                        },
                    ),
                };
                assert_eq!(t.run_timers(now), Err(want));
                assert_eq!(
                    (t.jiffies(), (t.stats(), t.dump(), t.timers().pending())),
                    (j, before)
                );
            }
            Op::Hold { .. } | Op::Release { .. } => {}
            Op::Arm { t, cb, after } => logs[t].panic_on(Cb::ALL.get(cb).copied(), after.into()),
            Op::Disarm { t } => logs[t].disarm(),
            Op::Hook { t, kind } => logs[t].set_hook(reentry(tables[t], kind)),
        });
        // Operations that change what the test holds or knows, outside
        // `catch` (they make no callback).
        match *op {
            Op::Hold { t, key: k, dev } => {
                if let Ok(h) = tables[t].lookup_or_create(key(k), DEVS[dev]) {
                    held.push((t, h));
                }
            }
            Op::Release { slot } if !held.is_empty() => drop(held.swap_remove(slot % held.len())),
            _ => {}
        }
        let fired = la.panicked() + lb.panicked() - panics_before;
        match &r {
            Ok(()) => assert_eq!(fired, 0, "step {step} {op:?}: a panic was swallowed"),
            Err(m) if m == LEN_PANIC => assert!(len_panic, "step {step} {op:?}"),
            Err(m) => {
                assert!(fired >= 1, "step {step} {op:?}: unexpected panic {m}");
                assert!(
                    Cb::ALL.iter().any(|c| *m == c.panic_msg()),
                    "step {step} {op:?}: {m}"
                );
            }
        }
        for (t, log) in tables.iter().zip(logs) {
            let mine: Vec<&Entry> = held
                .iter()
                .filter(|(o, _)| std::ptr::eq(tables[*o], *t))
                .map(|(_, h)| &**h)
                .collect();
            check(t, log, &mine);
        }
    }
    drop(held);
    for log in logs {
        log.disarm();
        log.set_hook(None);
    }
    for t in tables {
        t.run_timers(t.jiffies() + 60 * HZ).unwrap();
    }
    check(&a, &la, &[]);
    check(&b, &lb, &[]);
    teardown(a, &la);
    teardown(b, &lb);
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Random sequences of public calls, misuse included: see the module
    /// docs for what is checked after every step.
    #[test]
    fn random_api_sequences_keep_the_invariants(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops);
    }
}
