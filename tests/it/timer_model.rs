//! Model test: random add/mod/mod_on/del/run sequences against a
//! `BTreeMap` reference. At every run the set of timers that fire, and the
//! tick each fires at, must match the reference exactly (only the order
//! within one run may differ; the comparison sorts). Expiries cover every
//! level boundary, far expiries up to `u64::MAX`, and runs jump by up to the
//! whole tick domain, run single bases, go backwards and go past `MAX_TICK`.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::collections::BTreeMap;

use neighcache::timer::{Tick, Timer, TimerError, TimerWheel, MAX_TICK};
use proptest::prelude::*;

const TIMERS: usize = 24;
const BASES: usize = 3;

/// An expiry: relative to the latest tick asked for, or absolute.
#[derive(Debug, Clone, Copy)]
enum Exp {
    Rel(i64),
    Abs(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Add(usize, Exp),
    Mod(usize, Exp),
    ModOn(usize, Exp, usize),
    /// Re-arm a pending timer to its current expiry (must be a no-op).
    ModSame(usize),
    Del(usize),
    DelSync(usize),
    /// `run_timers` to now + d.
    Advance(u64),
    /// `run_timers` to an absolute tick (possibly backwards or beyond).
    AdvanceTo(u64),
    /// `run_timers_on` one base to now + d.
    RunOn(usize, u64),
    Check(usize),
}

/// Expiry offsets relative to "now": small, per-level, exact level
/// boundaries (and their neighbours) of all ten levels, far, and a little in
/// the past; plus absolute extremes.
fn exp() -> impl Strategy<Value = Exp> {
    let boundary = (1u32..=9).prop_map(|lvl| 1i64 << (8 + 6 * (lvl - 1)));
    let abs = prop_oneof![
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(MAX_TICK + 1),
        Just(MAX_TICK),
        Just(MAX_TICK - 1),
        (0u64..1 << 20).prop_map(|d| MAX_TICK - d),
        (0u64..1 << 20).prop_map(|d| MAX_TICK + 1 + d),
    ];
    prop_oneof![
        4 => (0i64..300).prop_map(Exp::Rel),
        3 => (0i64..20_000).prop_map(Exp::Rel),
        2 => (0i64..(1 << 22)).prop_map(Exp::Rel),
        1 => (0i64..(1 << 34)).prop_map(Exp::Rel),
        1 => (0i64..(1 << 62)).prop_map(Exp::Rel),
        2 => (boundary, -2i64..=2).prop_map(|(b, d)| Exp::Rel(b + d)),
        1 => (-50i64..0).prop_map(Exp::Rel),
        1 => abs.prop_map(Exp::Abs),
    ]
}

fn advance() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..4,
        3 => 0u64..300,
        2 => 0u64..30_000,
        1 => 0u64..(1 << 24),
        1 => 0u64..(1 << 34),
        1 => (8u32..62).prop_map(|s| 1u64 << s),
    ]
}

fn advance_to() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(MAX_TICK),
        Just(MAX_TICK - 1),
        Just(MAX_TICK + 1),
        Just(u64::MAX),
        0u64..1_000_000,
        (0u64..1 << 20).prop_map(|d| MAX_TICK - d),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..TIMERS;
    prop_oneof![
        3 => (id.clone(), exp()).prop_map(|(i, e)| Op::Add(i, e)),
        3 => (id.clone(), exp()).prop_map(|(i, e)| Op::Mod(i, e)),
        2 => (id.clone(), exp(), 0..BASES).prop_map(|(i, e, b)| Op::ModOn(i, e, b)),
        1 => id.clone().prop_map(Op::ModSame),
        2 => id.clone().prop_map(Op::Del),
        1 => id.clone().prop_map(Op::DelSync),
        4 => advance().prop_map(Op::Advance),
        1 => advance_to().prop_map(Op::AdvanceTo),
        2 => (0..BASES, advance()).prop_map(|(b, d)| Op::RunOn(b, d)),
        1 => id.prop_map(Op::Check),
    ]
}

/// A pending timer in the reference.
#[derive(Clone, Copy, Debug)]
struct Pending {
    expires: Tick,
    /// `max(expires, the base's next tick when armed)`.
    fire: Tick,
    base: usize,
}

/// The reference: the latest tick asked for, each base's next tick to
/// process, the base each timer's handle names, and the pending timers.
struct Model {
    now: Tick,
    next: [Tick; BASES],
    on: [usize; TIMERS],
    pending: BTreeMap<usize, Pending>,
}

impl Model {
    fn expires(&self, e: Exp) -> Tick {
        match e {
            Exp::Rel(d) => (i128::from(self.now) + i128::from(d)).clamp(0, u64::MAX.into()) as Tick,
            Exp::Abs(t) => t,
        }
    }

    /// `__mod_timer`: arm on `target` (migrating a pending timer unless the
    /// expiry is unchanged) or on the base the handle names.
    fn arm(&mut self, id: usize, expires: Tick, target: Option<usize>) -> bool {
        if let Some(p) = self.pending.get(&id) {
            if p.expires == expires {
                return true;
            }
        }
        let base = target.unwrap_or(self.on[id]);
        self.on[id] = base;
        let fire = expires.max(self.next[base]);
        self.pending
            .insert(
                id,
                Pending {
                    expires,
                    fire,
                    base,
                },
            )
            .is_some()
    }

    /// Run `bases` to `to`: the timers that fire, sorted.
    fn run(&mut self, to: Tick, bases: &[usize]) -> Vec<(usize, Tick)> {
        let fired: Vec<(usize, Tick)> = self
            .pending
            .iter()
            .filter(|(_, p)| bases.contains(&p.base) && p.fire <= to)
            .map(|(&i, p)| (i, p.fire))
            .collect();
        for (i, _) in &fired {
            self.pending.remove(i);
        }
        for &b in bases {
            self.next[b] = to + 1;
        }
        self.now = to;
        fired
    }
}

/// Run the wheel to `to` (all bases, or one) and compare with the model,
/// including the errors for a tick behind the clock or beyond the domain.
fn run_and_compare(
    w: &TimerWheel,
    m: &mut Model,
    to: Tick,
    base: Option<usize>,
) -> Result<(), TestCaseError> {
    let mut got = Vec::new();
    let r = match base {
        None => w.run_timers_ticked(to, |d, t| got.push((d, t))),
        Some(b) => w.run_timers_on_ticked(b, to, |d, t| got.push((d, t))),
    };
    if to > MAX_TICK {
        prop_assert_eq!(
            r,
            Err(TimerError::TickOutOfRange {
                tick: to,
                max: MAX_TICK
            })
        );
        prop_assert!(got.is_empty());
        return Ok(());
    }
    if to < m.now {
        prop_assert_eq!(
            r,
            Err(TimerError::TimeWentBackwards {
                clk: m.now,
                now: to
            })
        );
        prop_assert!(got.is_empty());
        return Ok(());
    }
    let n = r.map_err(|e| TestCaseError::fail(format!("{e}")))?;
    prop_assert_eq!(n, got.len());
    got.sort_unstable();
    let all: Vec<usize> = (0..BASES).collect();
    let want = m.run(to, base.as_ref().map_or(&all[..], core::slice::from_ref));
    prop_assert_eq!(got, want, "run to {} on {:?}", to, base);
    Ok(())
}

fn check(start: Tick, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let w = TimerWheel::new(BASES, start);
    let timers: Vec<Timer> = (0..TIMERS).map(|i| Timer::new(i, i % BASES)).collect();
    let mut m = Model {
        now: start,
        next: [start; BASES],
        on: core::array::from_fn(|i| i % BASES),
        pending: BTreeMap::new(),
    };
    for op in ops {
        match op {
            Op::Add(i, e) => {
                if m.pending.contains_key(&i) {
                    continue; // would be the kernel's BUG_ON
                }
                let e = m.expires(e);
                w.add_timer(&timers[i], e);
                prop_assert!(!m.arm(i, e, None));
            }
            Op::Mod(i, e) => {
                let e = m.expires(e);
                prop_assert_eq!(w.mod_timer(&timers[i], e), m.arm(i, e, None), "mod {}", i);
            }
            Op::ModOn(i, e, b) => {
                let e = m.expires(e);
                prop_assert_eq!(
                    w.mod_timer_on(&timers[i], e, b),
                    m.arm(i, e, Some(b)),
                    "mod_on {}",
                    i
                );
            }
            Op::ModSame(i) => {
                if let Some(p) = m.pending.get(&i) {
                    prop_assert!(w.mod_timer(&timers[i], p.expires));
                }
            }
            Op::Del(i) => {
                prop_assert_eq!(w.del_timer(&timers[i]), m.pending.remove(&i).is_some());
            }
            Op::DelSync(i) => {
                prop_assert_eq!(w.del_timer_sync(&timers[i]), m.pending.remove(&i).is_some());
            }
            Op::Advance(d) => {
                let to = m.now.saturating_add(d);
                run_and_compare(&w, &mut m, to, None)?
            }
            Op::AdvanceTo(to) => run_and_compare(&w, &mut m, to, None)?,
            Op::RunOn(b, d) => {
                let to = m.now.saturating_add(d);
                run_and_compare(&w, &mut m, to, Some(b))?
            }
            Op::Check(i) => {
                prop_assert_eq!(w.timer_pending(&timers[i]), m.pending.contains_key(&i));
            }
        }
        prop_assert_eq!(w.pending(), m.pending.len());
        prop_assert_eq!(w.next_expiry(), m.pending.values().map(|p| p.expires).min());
    }
    for (i, t) in timers.iter().enumerate() {
        prop_assert_eq!(w.timer_pending(t), m.pending.contains_key(&i));
    }
    // Drain: everything in the domain fires, at its tick.
    let to = MAX_TICK.max(m.now);
    run_and_compare(&w, &mut m, to, None)?;
    prop_assert!(m.pending.values().all(|p| p.fire > MAX_TICK));
    prop_assert_eq!(w.work().in_use as usize, m.pending.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn wheel_matches_reference(
        start in prop_oneof![
            Just(0u64),
            0u64..1_000_000,
            0u64..(1 << 40),
            (0u64..1 << 20).prop_map(|d| MAX_TICK - d),
            Just(MAX_TICK),
        ],
        ops in prop::collection::vec(op(), 1..120),
    ) {
        check(start, ops)?;
    }
}

#[test]
fn regression_level_boundaries_sequence() {
    // A fixed sequence crossing every level boundary with several timers.
    let mut ops = vec![
        Op::Add(0, Exp::Rel(255)),
        Op::Add(1, Exp::Rel(256)),
        Op::Add(2, Exp::Rel(1 << 14)),
        Op::Add(3, Exp::Rel(1 << 20)),
        Op::Add(4, Exp::Rel(1 << 26)),
        Op::Add(5, Exp::Rel(1 << 32)),
        Op::Add(6, Exp::Rel((1 << 32) + 1)),
        Op::Add(7, Exp::Rel(1 << 34)),
        Op::Add(8, Exp::Rel(1 << 56)),
        Op::Add(9, Exp::Abs(MAX_TICK)),
        Op::Add(10, Exp::Abs(MAX_TICK + 1)),
        Op::Add(11, Exp::Abs(u64::MAX)),
        Op::Add(12, Exp::Rel((1 << 62) - 1)),
        Op::Advance(255),
        Op::Advance(1),
        Op::Mod(7, Exp::Rel(3)),
        Op::Advance((1 << 14) - 256),
        Op::Advance(1 << 20),
        Op::RunOn(1, 1 << 26),
        Op::Advance(1 << 32),
        Op::Advance(1 << 33),
    ];
    for s in (38..62).step_by(6) {
        ops.push(Op::Advance(1 << s));
    }
    ops.extend([
        Op::AdvanceTo(MAX_TICK - 1),
        Op::AdvanceTo(MAX_TICK - 2),
        Op::AdvanceTo(MAX_TICK),
        Op::AdvanceTo(MAX_TICK + 1),
        Op::Mod(0, Exp::Rel(0)),
        Op::Advance(0),
    ]);
    check(0, ops.clone()).unwrap();
    check(12_345, ops.clone()).unwrap();
    check(MAX_TICK - 100, ops).unwrap();
}
