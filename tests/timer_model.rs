//! Model test: random add/mod/mod_on/del/advance sequences against a
//! `BTreeMap` reference. At every advance the set of timers that fire, and
//! the tick each fires at, must match the reference exactly (only the order
//! within one tick may differ; the comparison sorts).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::collections::BTreeMap;

use neighcache::timer::{Tick, Timer, TimerWheel};
use proptest::prelude::*;

const TIMERS: usize = 24;
const BASES: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Add(usize, i64),
    Mod(usize, i64),
    ModOn(usize, i64, usize),
    /// Re-arm a pending timer to its current expiry (must be a no-op).
    ModSame(usize),
    Del(usize),
    DelSync(usize),
    Advance(u64),
    Check(usize),
}

/// Expiry offsets relative to "now": small, per-level, exact level
/// boundaries (and their neighbours), clamped, and a little in the past.
fn delta() -> impl Strategy<Value = i64> {
    let boundary = prop_oneof![
        Just(255i64),
        Just(256),
        Just(1 << 14),
        Just(1 << 20),
        Just(1 << 26),
        Just(1 << 32),
    ];
    prop_oneof![
        4 => 0i64..300,
        3 => 0i64..20_000,
        2 => 0i64..(1 << 22),
        1 => 0i64..(1 << 34),
        2 => (boundary, -2i64..=2).prop_map(|(b, d)| b + d),
        1 => -50i64..0,
    ]
}

fn advance() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..4,
        3 => 0u64..300,
        2 => 0u64..30_000,
        1 => 0u64..(1 << 24),
        1 => 0u64..(1 << 34),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..TIMERS;
    prop_oneof![
        3 => (id.clone(), delta()).prop_map(|(i, d)| Op::Add(i, d)),
        3 => (id.clone(), delta()).prop_map(|(i, d)| Op::Mod(i, d)),
        2 => (id.clone(), delta(), 0..BASES).prop_map(|(i, d, b)| Op::ModOn(i, d, b)),
        1 => id.clone().prop_map(Op::ModSame),
        2 => id.clone().prop_map(Op::Del),
        1 => id.clone().prop_map(Op::DelSync),
        4 => advance().prop_map(Op::Advance),
        1 => id.prop_map(Op::Check),
    ]
}

/// The reference: pending timers with their expiry and the tick they fire
/// at (`max(expires, next tick to process when armed)`).
struct Model {
    now: Tick,
    next: Tick,
    pending: BTreeMap<usize, (Tick, Tick)>,
}

impl Model {
    fn expires(&self, d: i64) -> Tick {
        (self.now as i64 + d).max(0) as Tick
    }
    fn arm(&mut self, id: usize, e: Tick) -> bool {
        let was = self.pending.contains_key(&id);
        if was && self.pending[&id].0 == e {
            return true;
        }
        self.pending.insert(id, (e, e.max(self.next)));
        was
    }
}

fn check(start: Tick, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let w = TimerWheel::new(BASES, start);
    let timers: Vec<Timer> = (0..TIMERS).map(|i| Timer::new(i, i % BASES)).collect();
    let mut m = Model {
        now: start,
        next: start,
        pending: BTreeMap::new(),
    };
    for op in ops {
        match op {
            Op::Add(i, d) => {
                if m.pending.contains_key(&i) {
                    continue; // would be the kernel's BUG_ON
                }
                let e = m.expires(d);
                w.add_timer(&timers[i], e);
                prop_assert!(!m.arm(i, e));
            }
            Op::Mod(i, d) => {
                let e = m.expires(d);
                prop_assert_eq!(w.mod_timer(&timers[i], e), m.arm(i, e), "mod {}", i);
            }
            Op::ModOn(i, d, b) => {
                let e = m.expires(d);
                prop_assert_eq!(
                    w.mod_timer_on(&timers[i], e, b),
                    m.arm(i, e),
                    "mod_on {}",
                    i
                );
            }
            Op::ModSame(i) => {
                if let Some(&(e, _)) = m.pending.get(&i) {
                    prop_assert!(w.mod_timer(&timers[i], e));
                }
            }
            Op::Del(i) => {
                prop_assert_eq!(w.del_timer(&timers[i]), m.pending.remove(&i).is_some());
            }
            Op::DelSync(i) => {
                prop_assert_eq!(w.del_timer_sync(&timers[i]), m.pending.remove(&i).is_some());
            }
            Op::Advance(d) => {
                let to = m.now + d;
                let mut got = Vec::new();
                let n = w
                    .run_timers_ticked(to, |data, tick| got.push((data, tick)))
                    .map_err(|e| TestCaseError::fail(format!("{e}")))?;
                prop_assert_eq!(n, got.len());
                got.sort_unstable();
                let mut want: Vec<(usize, Tick)> = m
                    .pending
                    .iter()
                    .filter(|(_, &(_, fire))| fire <= to)
                    .map(|(&i, &(_, fire))| (i, fire))
                    .collect();
                want.sort_unstable();
                for (i, _) in &want {
                    m.pending.remove(i);
                }
                m.now = to;
                m.next = to + 1;
                prop_assert_eq!(got, want, "advance to {}", to);
            }
            Op::Check(i) => {
                prop_assert_eq!(w.timer_pending(&timers[i]), m.pending.contains_key(&i));
            }
        }
        prop_assert_eq!(w.pending(), m.pending.len());
        prop_assert_eq!(w.next_expiry(), m.pending.values().map(|&(e, _)| e).min());
    }
    for (i, t) in timers.iter().enumerate() {
        prop_assert_eq!(w.timer_pending(t), m.pending.contains_key(&i));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn wheel_matches_reference(
        start in prop_oneof![Just(0u64), 0u64..1_000_000, 0u64..(1 << 40)],
        ops in prop::collection::vec(op(), 1..120),
    ) {
        check(start, ops)?;
    }
}

#[test]
fn regression_level_boundaries_sequence() {
    // A fixed sequence crossing every level boundary with several timers.
    let ops = vec![
        Op::Add(0, 255),
        Op::Add(1, 256),
        Op::Add(2, 1 << 14),
        Op::Add(3, 1 << 20),
        Op::Add(4, 1 << 26),
        Op::Add(5, 1 << 32),
        Op::Add(6, (1 << 32) + 1),
        Op::Add(7, 1 << 34),
        Op::Advance(255),
        Op::Advance(1),
        Op::Mod(7, 3),
        Op::Advance((1 << 14) - 256),
        Op::Advance(1 << 20),
        Op::Advance(1 << 26),
        Op::Advance(1 << 32),
        Op::Advance(1 << 33),
    ];
    check(0, ops.clone()).unwrap();
    check(12_345, ops).unwrap();
}
