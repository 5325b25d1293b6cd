//! Budgeted runs (SPEC.md §7, "Run budget"): `TimerWheel::run_timers_limited`
//! and the table's `TIMER_RUN_LIMIT`. With more due than one call may do,
//! a call never exceeds its budget (counted in handlers and units of wheel
//! work, never in time), and over successive calls every timer still fires
//! exactly once, in tick order, at the tick it was due (never early), with
//! `more`/`backlog()` true exactly while due work is left. The table's
//! drivers call again at once while a backlog is left.

use crate::common::{table_with, test_config, TestOps, DEV};
use neighcache::timer::{RunLimit, Tick, Timer, TimerWheel};
use neighcache::{ManualClock, NeighParms, NeighTable, TableConfig, TIMER_RUN_LIMIT};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One handler call: which timer, the tick the wheel fired it at, and the
/// `now` of the call that ran it.
#[derive(Debug, Clone, Copy)]
struct Fire {
    data: usize,
    tick: Tick,
    now: Tick,
}

/// Expiries that overload any small budget: 3,000 timers at one tick (a
/// work list longer than the budget), 2,000 spread over tv1, and 2,000 in
/// one tv3 slot (a cascade of 2,000 timers, then tv2 cascades).
fn expiries() -> Vec<Tick> {
    let mut e = Vec::new();
    e.extend(std::iter::repeat_n(300, 3000));
    e.extend((0..2000).map(|i| 100 + (i % 200) as Tick));
    e.extend((0..2000).map(|i| 70_000 + (i % 700) as Tick));
    e
}

/// Drive `w` with `limit` through `nows` (each repeated until the call
/// reports no more work), checking the per-call bounds; returns the fires.
fn drive(w: &TimerWheel, limit: RunLimit, nows: &[Tick]) -> Vec<Fire> {
    let mut fires = Vec::new();
    let start = w.work();
    let mut charged = 0;
    for &now in nows {
        let mut calls = 0;
        loop {
            let work0 = w.work();
            let mut this = Vec::new();
            let r = w
                .run_timers_limited(now, limit, |data, tick| this.push(Fire { data, tick, now }))
                .unwrap();
            let work1 = w.work();
            assert_eq!(r.fired, this.len());
            assert!(r.fired <= limit.handlers, "{r:?} over {limit:?}");
            assert!(r.units <= limit.units, "{r:?} over {limit:?}");
            // Checked against the wheel's own counters too: a tick is
            // charged when it starts and counted when it completes, so a
            // call may complete one tick that an earlier call paid for.
            let did = (work1.ticks - work0.ticks) + (work1.cascaded - work0.cascaded);
            assert!(did <= limit.units + 1, "{did} units of work in {r:?}");
            charged += r.units;
            // No concurrent runner: `more` is exactly "work due is left".
            assert_eq!(r.more, w.backlog(), "{r:?}");
            if r.more {
                assert!(w.next_work() <= now, "backlog but next_work is later");
            } else {
                assert!(w.next_work() > now);
            }
            fires.extend(this);
            calls += 1;
            assert!(calls < 100_000, "no progress at now {now}");
            if !r.more {
                break;
            }
        }
    }
    // Nothing is left half done: every unit charged is a tick or a move.
    let end = w.work();
    assert_eq!(
        charged,
        (end.ticks - start.ticks) + (end.cascaded - start.cascaded)
    );
    fires
}

/// Every timer fired once, at its expiry exactly, never after the `now` of
/// the call that ran it, and in non-decreasing tick order per base.
fn check_exact(e: &[Tick], fires: &[Fire]) {
    let mut seen = vec![0; e.len()];
    for f in fires {
        seen[f.data] += 1;
        assert_eq!(
            f.tick, e[f.data],
            "timer {} fired at the wrong tick",
            f.data
        );
        assert!(f.tick <= f.now, "timer {} fired early: {f:?}", f.data);
    }
    assert!(seen.iter().all(|&n| n == 1), "a timer fired twice or never");
    for w in fires.windows(2) {
        assert!(w[0].tick <= w[1].tick, "out of order: {w:?}");
    }
}

#[test]
fn a_limited_run_stays_in_budget_and_loses_nothing() {
    let e = expiries();
    for limit in [
        RunLimit {
            handlers: 64,
            units: 100,
        },
        RunLimit {
            handlers: 1,
            units: 1,
        },
        RunLimit {
            handlers: 1000,
            units: 7,
        },
    ] {
        let w = TimerWheel::new(1, 0);
        let tm: Vec<Timer> = (0..e.len()).map(|i| Timer::new(i, 0)).collect();
        for (t, &x) in tm.iter().zip(&e) {
            w.add_timer(t, x);
        }
        let fires = drive(&w, limit, &[50, 299, 300, 1000, 100_000]);
        check_exact(&e, &fires);
        assert_eq!(w.pending(), 0);
        // Ticks were left due by earlier calls: the 3,000 timers at 300 take
        // several calls at now = 300 (not a later now: nothing was lost).
        let at_300 = fires.iter().filter(|f| f.tick == 300).count();
        assert_eq!(at_300, 3000);
        assert!(fires.iter().filter(|f| f.tick == 300).all(|f| f.now == 300));
    }
}

#[test]
fn a_cut_run_resumes_at_any_later_now_and_stays_in_order() {
    // One call per `now`, budget far below the due work: the backlog is
    // carried from call to call while time moves on; whatever is due is
    // run before anything due later, with its own tick.
    let e = expiries();
    let w = TimerWheel::new(1, 0);
    let tm: Vec<Timer> = (0..e.len()).map(|i| Timer::new(i, 0)).collect();
    for (t, &x) in tm.iter().zip(&e) {
        w.add_timer(t, x);
    }
    let limit = RunLimit {
        handlers: 50,
        units: 60,
    };
    let mut fires = Vec::new();
    let mut now = 0;
    let mut cut = 0;
    while w.pending() > 0 || w.backlog() {
        now += 10;
        let r = w
            .run_timers_limited(now, limit, |data, tick| {
                fires.push(Fire { data, tick, now })
            })
            .unwrap();
        assert!(r.fired <= 50 && r.units <= 60, "{r:?}");
        cut += usize::from(r.more);
        assert!(now < 10_000_000, "no progress");
    }
    assert!(cut > 50, "the budget never cut a run ({cut})");
    check_exact(&e, &fires);
    assert!(
        fires.iter().any(|f| f.now > f.tick + 10),
        "nothing ran late"
    );
}

#[test]
fn timers_armed_during_a_backlog_fire_at_their_tick_or_later_never_earlier() {
    let w = TimerWheel::new(1, 0);
    let tm: Vec<Timer> = (0..2000).map(|i| Timer::new(i, 0)).collect();
    for t in &tm[..1000] {
        w.add_timer(t, 500);
    }
    let limit = RunLimit {
        handlers: 100,
        units: 100,
    };
    let mut fires = Vec::new();
    let r = w
        .run_timers_limited(600, limit, |d, tick| fires.push((d, tick, 600)))
        .unwrap();
    assert!(r.more && r.fired == 0, "{r:?}");
    // Armed while the timers due at 500 wait: in the past (fires after them),
    // at the clock, and ahead of it.
    for (i, t) in tm[1000..].iter().enumerate() {
        w.add_timer(t, [10, 600, 601, 700][i % 4]);
    }
    for now in [600, 601, 650, 700, 5000] {
        while w
            .run_timers_limited(now, limit, |d, tick| fires.push((d, tick, now)))
            .unwrap()
            .more
        {}
    }
    assert!(!w.backlog() && w.pending() == 0, "{}", w.pending());
    assert_eq!(fires.len(), 2000);
    for &(d, tick, now) in &fires {
        let want = if d < 1000 {
            500
        } else {
            [10, 600, 601, 700][(d - 1000) % 4]
        };
        assert!(
            tick >= want && tick <= now,
            "timer {d}: due {want}, fired {tick} at {now}"
        );
        if d < 1000 || want > 600 {
            assert_eq!(tick, want, "timer {d}");
        }
    }
    for w2 in fires.windows(2) {
        assert!(w2[0].1 <= w2[1].1, "out of order: {w2:?}");
    }
    // The first call stopped inside the cascade of tick 256 (tv2 slot 1
    // holds the 1,000 timers due at 500): a timer armed in the past then
    // fires at that tick, the wheel's next, before the backlog due later.
    let past: Vec<Tick> = fires
        .iter()
        .filter(|f| f.0 >= 1000 && (f.0 - 1000) % 4 == 0)
        .map(|f| f.1)
        .collect();
    assert_eq!(past, vec![256; 250]);
    // The timers due at 500 fired after those and before the ones due later.
    let at_500: Vec<usize> = (0..fires.len()).filter(|&i| fires[i].0 < 1000).collect();
    assert_eq!(at_500, (250..1250).collect::<Vec<_>>());
}

#[test]
fn every_base_makes_progress_under_a_shared_budget() {
    let w = TimerWheel::new(3, 0);
    let tm: Vec<Timer> = (0..3000).map(|i| Timer::new(i, 0)).collect();
    for (i, t) in tm.iter().enumerate() {
        w.mod_timer_on(t, 100, i % 3);
    }
    let limit = RunLimit {
        handlers: 90,
        units: 1000,
    };
    let mut per_base = [0usize; 3];
    for now in 100..105 {
        w.run_timers_limited(now, limit, |d, _| per_base[d % 3] += 1)
            .unwrap();
    }
    // Calls at different ticks start at different bases.
    assert!(per_base.iter().all(|&n| n > 0), "{per_base:?}");
    let fires = drive(&w, limit, &[105, 200]);
    assert_eq!(fires.len() + per_base.iter().sum::<usize>(), 3000);
}

type Table = NeighTable<Ipv4Addr, TestOps>;

/// `n` entries in INCOMPLETE, each with its resolution timer armed for the
/// same tick (`now + retrans_time`).
fn incomplete(n: u32, cfg: TableConfig) -> Table {
    let t = table_with(cfg);
    for i in 0..n {
        let key = Ipv4Addr::from(0x0a01_0000 + i);
        t.resolve_output(key, DEV, crate::common::pkt(u64::from(i)));
    }
    assert_eq!(t.timers().pending(), n as usize);
    t
}

fn config() -> TableConfig {
    TableConfig {
        gc_thresh3: 1 << 16,
        parms: NeighParms {
            // One multicast probe after the inline one, then FAILED.
            mcast_probes: 2,
            ..test_config().parms
        },
        ..test_config()
    }
}

#[test]
fn a_table_run_fires_at_most_its_limit_and_the_rest_follow() {
    const N: u32 = 1000;
    let t = incomplete(N, config());
    t.ops().take();
    let due = t.timers().next_expiry().unwrap();
    let mut calls = 0;
    let mut fired = 0;
    loop {
        let n = t.run_timers(due).unwrap();
        assert!(n <= TIMER_RUN_LIMIT.handlers, "{n}");
        fired += n;
        calls += 1;
        if !t.timer_backlog() {
            break;
        }
        assert!(t.next_event() <= t.jiffies(), "a backlog is work due now");
    }
    assert_eq!(fired, N as usize);
    assert_eq!(calls, (N as usize).div_ceil(TIMER_RUN_LIMIT.handlers));
    // Each handler sent its second probe.
    let ev = t.ops().take();
    assert_eq!(TestOps::solicits(&ev).len(), N as usize);
    let s = t.stats();
    assert_eq!(s.timer_runs_cut, calls as u64 - 1);
    // The first call's handlers were on time; every later one was deferred.
    assert_eq!(
        s.timers_deferred,
        u64::from(N) - TIMER_RUN_LIMIT.handlers as u64
    );
    assert!(t.next_event() > t.jiffies());
}

#[test]
fn the_timer_thread_clears_a_backlog_without_waiting_a_period() {
    const N: u32 = 2000;
    let t = Arc::new(incomplete(N, config()));
    let due = t.timers().next_expiry().unwrap();
    // The clock stands at the deadline and the period is an hour: only
    // immediate re-runs can fire all the timers.
    let clock = ManualClock::new(due);
    let th = t.spawn_timer_thread(clock, Duration::from_secs(3600));
    let give_up = Instant::now() + Duration::from_secs(120);
    // The inline probes plus one per handler.
    let solicits = || TestOps::solicits(&t.ops().events.lock().unwrap()).len();
    while solicits() < 2 * N as usize {
        assert!(Instant::now() < give_up, "the backlog was not cleared");
        std::thread::sleep(Duration::from_millis(1));
    }
    th.stop();
    assert!(t.stats().timer_runs_cut > 0);
    assert!(!t.timer_backlog());
    assert_eq!(solicits(), 2 * N as usize);
}

/// Budgeted runners racing each other and an arming thread: a cut run
/// leaves a cascade paused and the base not busy, so the next runner (any
/// thread) continues it while timers are armed, moved and deleted. Every
/// timer fires exactly once for its last arming, never before its tick
/// (the wheel's clock had reached it); none is lost.
#[test]
fn racing_budgeted_runners_and_armers_lose_nothing() {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::Barrier;
    const N: usize = 6000;
    let w = Arc::new(TimerWheel::new(2, 0));
    let tm: Arc<Vec<Timer>> = Arc::new((0..N).map(|i| Timer::new(i, 0)).collect());
    // Half armed up front in two tv2/tv3 slots (long cascades), half by
    // the arming thread while the runners go.
    for (i, t) in tm[..N / 2].iter().enumerate() {
        w.mod_timer_on(t, if i % 2 == 0 { 600 } else { 20_000 }, i % 2);
    }
    let fired: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
    // The tick each timer fired at, and the latest expiry it was armed with.
    let at: Arc<Vec<AtomicU64>> = Arc::new((0..N).map(|_| AtomicU64::new(0)).collect());
    let want: Arc<Vec<AtomicU64>> = Arc::new(
        (0..N)
            .map(|i| {
                AtomicU64::new(if i >= N / 2 {
                    0
                } else if i % 2 == 0 {
                    600
                } else {
                    20_000
                })
            })
            .collect(),
    );
    let clock = Arc::new(AtomicU64::new(0));
    let go = Arc::new(Barrier::new(5));
    let limit = RunLimit {
        handlers: 7,
        units: 13,
    };
    let mut runners = Vec::new();
    for r in 0..3u64 {
        let (w, fired, at, clock, go) = (
            w.clone(),
            fired.clone(),
            at.clone(),
            clock.clone(),
            go.clone(),
        );
        runners.push(std::thread::spawn(move || {
            go.wait();
            for step in 0..4000u64 {
                // Relaxed (test): the wheel orders what matters.
                let now = clock
                    .fetch_max(step * 8 + r, Ordering::Relaxed)
                    .max(step * 8 + r);
                let _ = w.run_timers_limited(now, limit, |d, tick| {
                    // Never early: the wheel's clock (the latest `now`
                    // asked) has reached the tick. (Not necessarily this
                    // call's `now`: a runner also covers the later `now`
                    // of a caller that found the base busy.)
                    let asked = clock.load(Ordering::Relaxed);
                    assert!(tick <= asked, "timer {d} fired at {tick}, clock {asked}");
                    fired[d].fetch_add(1, Ordering::Relaxed);
                    at[d].store(tick, Ordering::Relaxed);
                });
            }
        }));
    }
    let armer = {
        let (w, tm, want, clock, go) = (
            w.clone(),
            tm.clone(),
            want.clone(),
            clock.clone(),
            go.clone(),
        );
        std::thread::spawn(move || {
            go.wait();
            for i in N / 2..N {
                // Always ahead of every clock: the timer fires at its expiry.
                let e = clock.load(Ordering::Relaxed) + 300 + (i % 500) as Tick;
                want[i].store(e, Ordering::Relaxed);
                w.mod_timer_on(&tm[i], e, i % 2);
                if i % 7 == 0 {
                    // Move an up-front timer (pending, or already fired: then
                    // re-armed) well ahead of the clock.
                    let j = i - N / 2;
                    let e = clock.load(Ordering::Relaxed) + 1000;
                    if w.del_timer(&tm[j]) {
                        want[j].store(e, Ordering::Relaxed);
                        w.mod_timer(&tm[j], e);
                    }
                }
            }
        })
    };
    go.wait();
    armer.join().unwrap();
    for r in runners {
        r.join().unwrap();
    }
    // Drain: every timer still pending is due by then.
    let end = clock.load(Ordering::Relaxed) + 30_000;
    while w
        .run_timers_limited(end, limit, |d, tick| {
            fired[d].fetch_add(1, Ordering::Relaxed);
            at[d].store(tick, Ordering::Relaxed);
        })
        .unwrap()
        .more
    {}
    assert_eq!(w.pending(), 0);
    let mut exact = 0;
    for i in 0..N {
        let (f, t, e) = (
            fired[i].load(Ordering::Relaxed),
            at[i].load(Ordering::Relaxed),
            want[i].load(Ordering::Relaxed),
        );
        assert_eq!(f, 1, "timer {i} fired {f} times");
        // An expiry the clock had already passed when it was armed (the
        // arming thread descheduled between reading the clock and arming)
        // fires at the wheel's next tick: late, never early.
        assert!(t >= e, "timer {i} fired at {t}, due {e}");
        exact += usize::from(t == e);
    }
    assert!(exact > N / 2, "only {exact} fired on their tick");
}
