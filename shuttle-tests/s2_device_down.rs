//! S2: device down (`flush_dev`) under traffic and timers.
//!
//! Device 1 has an unresolved entry A (two packets queued) and a resolved,
//! STALE entry C; device 2 has an unresolved entry D (one packet queued).
//! Four model threads then run at once:
//!
//! * a **sender** outputs one packet each to A, C (device 1) and D
//!   (device 2), pinning per packet;
//! * a **replier** applies ARP replies for A and D;
//! * the **flusher** takes device 1 down (`flush_dev(Some(dev1))`);
//! * the **timer runner** advances the clock past the first retransmit
//!   (probes fire, the DELAY timer C may have armed fires) and again.
//!
//! Checked after the threads join: D (the other device) survived the flush;
//! once the wheel has run past every timer, the settled-table invariants
//! (`common::quiescent_checks`: no dead entry kept alive, refcount = link +
//! armed timer, armed timers = entries in a timer state, no duplicate key);
//! then, after teardown, no entry
//! leaked (`allocs == destroys`), nothing is still queued, and every packet,
//! including those queued when the device went down, was transmitted,
//! discarded or error-reported **exactly once**, with none lost or leaked.

use crate::common;

use common::*;
use neighcache::{DeviceConfig, DropReason, NeighError, NudState, UpdateFlags, Xmit};
use shuttle::thread;
use std::sync::Arc;

fn device_down() {
    let log = Log::new();
    let t = table_with(test_config(), &log);
    t.add_device(DEV2, DeviceConfig::ethernet([2, 0, 0, 0, 0, 2], 0x0800))
        .expect("second device");
    let (a, c, d) = (ip(1), ip(3), ip(4));
    assert_eq!(t.resolve_output(a, DEV, log.pkt()), Xmit::Queued);
    assert_eq!(t.resolve_output(a, DEV, log.pkt()), Xmit::Queued);
    assert_eq!(t.resolve_output(d, DEV2, log.pkt()), Xmit::Queued);
    {
        let n = t.lookup_or_create(c, DEV).expect("create C");
        t.update(&n, Some(&MAC_A), NudState::STALE, UpdateFlags::OVERRIDE)
            .expect("C becomes STALE");
    }
    let t0 = 10;
    advance_to(&t, t0);
    let t = Arc::new(t);

    let sender = {
        let (t, log) = (t.clone(), log.clone());
        thread::spawn(move || {
            t.resolve_output(a, DEV, log.pkt());
            t.resolve_output(c, DEV, log.pkt());
            t.resolve_output(d, DEV2, log.pkt());
        })
    };
    let replier = {
        let t = t.clone();
        thread::spawn(move || {
            // A's entry may be flushed between the reply's lookup and its
            // update: the fixed code refuses with `Dead`.
            match t.receive_arp(a, DEV, &MAC_A, true) {
                Ok(()) | Err(NeighError::Dead) => {}
                Err(e) => panic!("ARP reply for A: {e}"),
            }
            t.receive_arp(d, DEV2, &MAC_A, true).expect("valid reply");
        })
    };
    let flusher = {
        let t = t.clone();
        thread::spawn(move || {
            t.flush_dev(Some(DEV));
        })
    };
    let runner = {
        let t = t.clone();
        thread::spawn(move || {
            advance_to(&t, t0 + 600);
            advance_to(&t, t0 + 1200);
        })
    };
    for h in [sender, replier, flusher, runner] {
        h.join().expect("model thread");
    }
    let t = Arc::into_inner(t).expect("threads joined");
    assert!(
        t.lookup(d, DEV2).is_some(),
        "flushing device 1 removed device 2's entry"
    );
    let s = teardown_checks(t, &log);
    // The two packets queued on A before the flush: transmitted by the reply,
    // or dropped by the flush (or failed resolution), never both.
    assert!(
        log.count(Fate::Sent)
            + log.count(Fate::Discard(DropReason::DeviceDown))
            + log.count(Fate::ErrorReport)
            >= 2,
        "A's queued packets vanished: {s:?}"
    );
}

#[test]
fn s2_device_down_under_traffic() {
    check_pass("S2 device down", device_down, iters(50_000), 3);
}
