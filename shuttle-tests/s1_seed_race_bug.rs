//! S1 (pre-2015 bug variant): PCT finds the seed's crash within 1,000
//! iterations, the failing schedule is printed and replayed with
//! `shuttle::replay`, and the replay is printed as a kernel-named timeline
//! (sender | replier | GC | timer softirq). Scenario: `common/s1.rs`.
//!
//! This binary holds only bug searches: shuttle's panic hook, which writes
//! the failing schedule, takes the configuration of the first runner in the
//! process (see `common::find_bug`).

mod common;

use common::{find_bug, replay_timeline, Search};

#[test]
fn s1_seed_race_bug_found_by_pct_and_replayed() {
    let iters = common::bug_iters();
    let f = || common::s1::seed_race(true);
    for depth in [2, 3] {
        // Depth 2 searches with the trace on: its trace points read the
        // entry's state and refcount (scheduling points in shuttle), so a
        // schedule found with it on replays with it on.
        if depth == 2 {
            neighcache::trace::start();
        }
        let found = find_bug(
            "S1 bug",
            f,
            Search::Pct { depth },
            iters,
            common::s1::NAMED_FAILURES,
        );
        neighcache::trace::stop();
        let found = found.unwrap_or_else(|n| {
            panic!("S1 bug: PCT depth {depth} did not find the seed's crash in {n} iterations")
        });
        assert!(found.iteration <= iters);
        if depth == 2 {
            // How it happened: the replayed schedule as a kernel-named timeline.
            let events = replay_timeline("S1 bug", f, &found.schedule, common::s1::COLUMNS);
            assert!(
                events
                    .iter()
                    .any(|e| e.func == "neigh_add_timer" && e.what.contains("from zero"))
                    || events.iter().any(|e| e.func == "neigh_release"),
                "the timeline shows no reference taken from zero: {events:?}"
            );
        }
    }
    // Random scheduling: reported, not required (SPEC.md §13 asks it of PCT).
    let _ = find_bug(
        "S1 bug",
        f,
        Search::Random,
        iters,
        common::s1::NAMED_FAILURES,
    );
}
