//! The invariants checked after every scenario: a settled table
//! ([`quiescent_checks`]) and a torn-down one ([`teardown_checks`]).

use super::fixtures::{Table, DELAY};
use super::log::Log;
use neighcache::NeighStats;
use std::sync::Arc;

/// Invariants of a settled table: every model thread joined, no handle
/// held, and the wheel run far past every timer (so a timer that was still
/// armed when the threads joined has fired: a resolution restarted by
/// `event_send` just as the old handler gave up leaves such a stray timer on
/// a FAILED, possibly unlinked, entry, as in the kernel, and it holds a
/// reference until it fires). Then: every allocated entry is linked (no dead
/// entry kept alive, "invisible and out of control" in the 2015 commit
/// message), each entry's reference count is the table's link plus one for
/// an armed timer, exactly the entries in a timer state (`NUD_IN_TIMER`) have
/// one, no key appears twice, and nothing is queued on an entry that is not
/// resolving.
pub fn quiescent_checks(t: &Table) {
    let s = t.stats();
    let dump = t.dump();
    assert_eq!(
        s.entries,
        dump.len(),
        "allocated entries that are not linked: {s:?}\n{dump:#?}"
    );
    let mut seen = std::collections::HashSet::new();
    let mut in_timer = 0;
    for e in &dump {
        assert!(
            seen.insert((e.key, e.dev)),
            "duplicate entry for {} {}",
            e.key,
            e.dev
        );
        let timer = e.state.is(neighcache::NudState::IN_TIMER);
        in_timer += timer as usize;
        assert_eq!(
            e.refcnt,
            1 + timer as usize,
            "refcount of a quiescent entry is not link + timer: {e:?}"
        );
        if e.queue_len > 0 {
            assert_eq!(
                e.state,
                neighcache::NudState::INCOMPLETE,
                "packets queued on an entry that is not resolving: {e:?}"
            );
        }
    }
    assert_eq!(
        t.timers().pending(),
        in_timer,
        "armed timers != entries in a timer state\n{dump:#?}"
    );
    assert_eq!(
        s.packets_queued_now(),
        dump.iter().map(|e| e.queue_len as u64).sum::<u64>(),
        "queued-packet count disagrees with the queues: {s:?}"
    );
}

/// Run the wheel far past every timer the scenarios can arm (the longest
/// chain, REACHABLE -> DELAY -> PROBE -> FAILED, is under 3,000 ticks).
pub fn settle(t: &Table) {
    t.run_timers(t.jiffies() + 20 * DELAY)
        .expect("time moves forward");
}

/// Teardown checks, run on the main model thread after every other thread
/// joined: settle the wheel and check [`quiescent_checks`], then flush
/// everything, run the wheel far past every timer again, then
/// `allocs == destroys`, nothing linked, no timer pending, nothing queued,
/// and every packet accounted for exactly once.
pub fn teardown_checks(t: Table, log: &Arc<Log>) -> NeighStats {
    settle(&t);
    quiescent_checks(&t);
    t.flush_dev(None);
    let far = t.jiffies() + 20 * DELAY;
    t.run_timers(far).expect("time moves forward");
    let s = t.stats();
    assert_eq!(s.allocs, s.destroys, "entries leaked: {s:?}");
    assert_eq!(s.entries, 0, "entries counted after flush: {s:?}");
    assert_eq!(t.len(), 0, "entries still linked after flush");
    assert_eq!(t.timers().pending(), 0, "timers pending after flush");
    assert_eq!(s.packets_queued_now(), 0, "packets still queued: {s:?}");
    assert_eq!(s.packets_in(), log.given(), "packets_in != packets given");
    assert_eq!(s.packets_out(), log.given(), "packets_out != packets given");
    drop(t);
    log.assert_all_accounted();
    s
}
