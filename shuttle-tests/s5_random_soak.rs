//! S5: a random-operations soak.
//!
//! Three model threads each perform [`OPS`] operations drawn at random
//! (with `shuttle::rand`, so a failing schedule replays the same operations)
//! from every public operation of the table: output (with and without
//! creation), ARP replies and requests, `update` to each kind of state,
//! `remove`, `flush_dev` of either device, periodic GC, clock advances that
//! fire timers, `set_probe_once`, `event_send`, `confirm`, permanent
//! entries, refcounted lookups and dumps, over three keys on two devices.
//!
//! Checked at the end of each iteration, once the wheel has run past every
//! timer: the settled-table invariants
//! (`common::quiescent_checks`: every allocated entry linked, refcount =
//! link + armed timer, armed timers = entries in a timer state, no
//! duplicate key, queue counts agree), then after teardown: `allocs ==
//! destroys`, nothing queued, `packets_in == packets_out` == packets given,
//! and every packet transmitted, discarded or error-reported exactly once
//! (none lost, none leaked). During the run, a refcounted lookup never
//! returns an entry whose count is zero and `dump` never shows more
//! entries than there are keys.

use crate::common;

use common::*;
use neighcache::{DeviceConfig, EventSend, NudState, UpdateFlags};
use shuttle::rand::{thread_rng, RngCore};
use shuttle::thread;
use std::sync::Arc;

/// Operations per thread per iteration.
const OPS: usize = 4;

fn pick(n: u64) -> u64 {
    thread_rng().next_u64() % n
}

fn random_op(t: &Table, log: &Arc<Log>) {
    let k = ip(1 + pick(3) as u8);
    let dev = if pick(4) == 0 { DEV2 } else { DEV };
    let op = pick(16);
    if std::env::var_os("NEIGHCACHE_SHUTTLE_TRACE").is_some() {
        eprintln!(
            "{:?}: op {op} key {k} {dev} at tick {}",
            shuttle::current::get_current_task(),
            t.jiffies()
        );
    }
    match op {
        0 | 1 => {
            t.resolve_output(k, dev, log.pkt());
        }
        2 => {
            let g = t.pin();
            if let Some(n) = t.lookup_noref(k, dev, &g) {
                t.output(n, log.pkt(), &g);
            }
        }
        3 => {
            let _ = t.receive_arp(k, dev, &MAC_A, true);
        }
        4 => {
            let _ = t.receive_arp(k, dev, &MAC_A, false);
        }
        5 => {
            if let Some(n) = t.lookup(k, dev) {
                assert!(n.refcnt() >= 1, "lookup returned a dying entry");
                let st = [
                    NudState::REACHABLE,
                    NudState::STALE,
                    NudState::FAILED,
                    NudState::PROBE,
                ][pick(4) as usize];
                let _ = t.update(&n, Some(&MAC_A), st, UpdateFlags::OVERRIDE);
            }
        }
        6 => {
            let _ = t.remove(k, dev);
        }
        7 => {
            t.flush_dev(Some(dev));
        }
        8 => {
            t.gc();
        }
        9 | 10 => advance_to(t, t.jiffies() + 1 + pick(700)),
        11 => {
            let g = t.pin();
            if let Some(n) = t.lookup_noref(k, dev, &g) {
                let _ = t.set_probe_once(n);
            }
        }
        12 => {
            let g = t.pin();
            if let Some(n) = t.lookup_noref(k, dev, &g) {
                if let EventSend::Send(Some(p)) = t.event_send(n, Some(log.pkt())) {
                    log.handed_back(p);
                }
            }
        }
        13 => {
            let g = t.pin();
            if let Some(n) = t.lookup_noref(k, dev, &g) {
                t.confirm(n).unwrap();
            }
        }
        14 => {
            let _ = t.add_permanent(k, dev, &MAC_A);
        }
        _ => {
            // An RCU reader: it may list an entry unlinked (and even
            // released) after it loaded the chain, so no refcount claim.
            let d = t.dump();
            assert!(d.len() <= 6, "more entries than keys: {d:#?}");
        }
    }
}

fn soak() {
    let log = Log::new();
    let t = table_with(test_config(), &log);
    t.add_device(DEV2, DeviceConfig::ethernet([2, 0, 0, 0, 0, 2], 0x0800))
        .expect("second device");
    let t = Arc::new(t);
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let (t, log) = (t.clone(), log.clone());
            thread::spawn(move || {
                for _ in 0..OPS {
                    random_op(&t, &log);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("model thread");
    }
    let t = Arc::into_inner(t).expect("threads joined");
    teardown_checks(t, &log);
}

#[test]
fn s5_random_operations_soak() {
    check_pass("S5 random soak", soak, iters(100_000), 3);
}

/// Replay a schedule printed by a failing run:
/// `NEIGHCACHE_SHUTTLE_REPLAY=<schedule> NEIGHCACHE_SHUTTLE_TRACE=1 cargo test
/// --release --features shuttle --test shuttle s5_random_soak::replay -- --nocapture`
/// (without the variable this test does nothing).
#[test]
fn replay() {
    if let Ok(s) = std::env::var("NEIGHCACHE_SHUTTLE_REPLAY") {
        shuttle::replay(soak, &s);
    }
}
