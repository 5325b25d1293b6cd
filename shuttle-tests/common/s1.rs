//! S1: the seed's race (kernel commit 2c51a97f76d2) inside a full system.
//!
//! Entry A is STALE, unreferenced and unused since tick 1; entry B is
//! INCOMPLETE with a queued packet. Four model threads then run at once:
//!
//! * a **sender** handles a batch the way a data plane does: it pins once,
//!   resolves the next hops A and B (`lookup_noref`, creation on a miss, as
//!   `ip_finish_output2`), then outputs a packet to B and one to A;
//! * a **replier** applies the ARP reply for B (`receive_arp`);
//! * **GC** runs a periodic pass with `gc_staletime` = 1 tick;
//! * the **timer runner** advances the clock (`run_timers`) twice.
//!
//! After the threads join, the main thread runs the wheel ten
//! `delay_probe_time`s ahead, so that it reaches every timer armed during
//! the race.
//!
//! The bug (pre-2015, `set_bug_variant(true)`): the sender finds A, GC
//! (A is unused for longer than `gc_staletime`) unlinks A and drops its
//! last reference (destroy retires it), then the sender's `event_send` on
//! the STALE, dead A moves it to DELAY and arms its timer, taking a
//! reference from zero. When the sender unpins, A is reclaimed with its
//! timer armed; the wheel then panics with `armed timer on a destroyed
//! object` when it cascades or expires that timer (the seed's `BUG_ON` in
//! `cascade()`), or, if the handler ran before the reclaim, the handler's
//! release destroys A a second time (`neigh_destroy: double destroy`).
//!
//! The fix: `event_send` sees `dead` under the entry lock and sends with the
//! old address without arming anything. Then every packet is accounted for
//! exactly once and every entry is destroyed at teardown.

use super::*;
use neighcache::{NudState, UpdateFlags, Xmit};
use shuttle::thread;
use std::sync::Arc;

/// The failures that are the seed's crash in this model: the wheel's check
/// on a timer whose owner was freed (the kernel's `BUG_ON` in `cascade()`,
/// or the same check on expiry), or the second destroy the commit message
/// describes. A plain `rcu: use after grace period` is deliberately not
/// accepted: the test must depend on the wheel's check.
pub const NAMED_FAILURES: &[&str] = &[
    "armed timer on a destroyed object",
    "neigh_destroy: double destroy",
    "rcu: double retire",
];

/// S1's timeline: one column per model thread (shuttle numbers them in
/// spawn order after the main thread), the timer softirq on its own.
pub const COLUMNS: &[(&str, neighcache::trace::Col)] = &[
    ("sender (data plane)", neighcache::trace::Col::Thread(1)),
    ("replier (ARP reply)", neighcache::trace::Col::Thread(2)),
    (
        "GC (neigh_periodic_work)",
        neighcache::trace::Col::Thread(3),
    ),
    ("timer softirq", neighcache::trace::Col::Softirq),
];

/// One execution of S1; `bug` selects the pre-2015 code.
pub fn seed_race(bug: bool) {
    let log = Log::new();
    let t = table_with(test_config(), &log);
    t.set_bug_variant(bug);
    let (a, b) = (ip(1), ip(2));
    {
        let n = t.lookup_or_create(a, DEV).expect("create A");
        t.update(&n, Some(&MAC_A), NudState::STALE, UpdateFlags::OVERRIDE)
            .expect("A becomes STALE");
    }
    assert_eq!(t.resolve_output(b, DEV, log.pkt()), Xmit::Queued);
    let t0 = 10;
    advance_to(&t, t0);
    let t = Arc::new(t);
    neighcache::trace::clear(); // the race (and its timeline) begins

    let sender = {
        let (t, log) = (t.clone(), log.clone());
        thread::spawn(move || {
            // A data plane's batch: resolve both next hops, then transmit,
            // all in one read-side section.
            let g = t.pin();
            let na = t.lookup_or_create_noref(a, DEV, &g).expect("known device");
            let nb = t.lookup_or_create_noref(b, DEV, &g).expect("known device");
            t.output(nb, log.pkt(), &g);
            t.output(na, log.pkt(), &g);
        })
    };
    let replier = {
        let t = t.clone();
        thread::spawn(move || {
            t.receive_arp(b, DEV, &MAC_A, true)
                .expect("valid ARP reply");
        })
    };
    let gc = {
        let t = t.clone();
        thread::spawn(move || {
            t.gc();
        })
    };
    let runner = {
        let t = t.clone();
        thread::spawn(move || {
            advance_to(&t, t0 + 3);
            advance_to(&t, t0 + 6);
        })
    };
    for h in [sender, replier, gc, runner] {
        h.join().expect("model thread");
    }
    let t = Arc::into_inner(t).expect("threads joined");
    // Far enough for the wheel to cascade and expire every timer armed above
    // (the bug variant fails here).
    advance_to(&t, t.jiffies() + 10 * DELAY);
    if bug {
        // The search is for the crash only. Other executions of the bug
        // variant end quietly, including those that show the commit's
        // "problem 1": an update or event_send took a reference between GC's
        // check and its release, so the dead entry lives on, unlinked, held
        // by its own timer (the invariants below would flag it).
        return;
    }
    teardown_checks(t, &log);
}
