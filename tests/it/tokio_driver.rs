//! `TokioTimers` under Tokio's paused clock: timers fire on their exact
//! tick, the task sleeps until the next event (not a poll per tick), a timer
//! armed while it sleeps is noticed at the next recheck or at once with
//! `wake`, `run_timers` errors are counted and not fatal, a handler panic
//! is re-raised by `stop`, and dropping the handle aborts the task.
//!
//! Paused time makes every instant exact: the driver maps one millisecond
//! of Tokio time to one tick, so assertions are on virtual ticks, never on
//! wall-clock durations.
#![cfg(all(feature = "tokio", not(any(feature = "loom", feature = "shuttle"))))]

use neighcache::{
    DevId, DeviceConfig, DriverError, NeighError, NeighOps, NeighParms, NeighTable, NudState,
    Probe, TableConfig, Tick, TimerTarget, TokioTimers, Xmit, DEFAULT_RECHECK,
};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, sleep_until, Instant};

const DEV: DevId = DevId(1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// Records when (ms of Tokio time after `origin`) each solicitation and
/// error report happened; `solicit` panics once `panic` is set.
struct Ops {
    origin: Instant,
    events: Mutex<Vec<(u64, &'static str)>>,
    panic: AtomicBool,
}

impl Ops {
    fn at(&self, what: &'static str) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.events.lock().unwrap().push((ms, what));
    }
    fn events(&self) -> Vec<(u64, &'static str)> {
        self.events.lock().unwrap().clone()
    }
}

impl NeighOps<Ipv4Addr> for Ops {
    type Packet = Vec<u8>;
    fn transmit(&self, _dev: DevId, _hh: &[u8], _pkt: Vec<u8>) {}
    fn solicit(&self, _dev: DevId, _key: &Ipv4Addr, probe: Probe) {
        // Relaxed: set by the test before the time it matters.
        if self.panic.load(Ordering::Relaxed) {
            panic!("solicit handler panicked");
        }
        self.at(if probe == Probe::Multicast {
            "probe"
        } else {
            "other"
        });
    }
    fn error_report(&self, _dev: DevId, _key: &Ipv4Addr, _pkt: Vec<u8>) {
        self.at("failed");
    }
}

type Table = NeighTable<Ipv4Addr, Ops>;

/// A table whose timers are 1 s probes and whose periodic work (GC, the
/// reachable-time re-draw) is at most once a minute, starting at tick 0 now.
fn table() -> Arc<Table> {
    let cfg = TableConfig {
        gc_interval: 60_000,
        parms: NeighParms {
            retrans_time: 1000,
            base_reachable_time: 120_000,
            ..NeighParms::default()
        },
        ..TableConfig::default()
    };
    let ops = Ops {
        origin: Instant::now(),
        events: Mutex::new(Vec::new()),
        panic: AtomicBool::new(false),
    };
    let t = Arc::new(NeighTable::new(cfg, ops).unwrap());
    t.add_device(DEV, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .unwrap();
    t
}

fn send(t: &Table) {
    assert_eq!(t.resolve_output(PEER, DEV, vec![0; 20]), Xmit::Queued);
}

fn state(t: &Table) -> Option<NudState> {
    t.dump()
        .into_iter()
        .find(|e| e.key == PEER)
        .map(|e| e.state)
}

#[tokio::test(start_paused = true)]
async fn timers_fire_on_their_exact_tick() {
    let t = table();
    // A recheck that divides nothing: exact ticks come from sleeping until
    // next_event(), not from the recheck grid.
    let d = TokioTimers::spawn(t.clone(), Duration::from_millis(7)).unwrap();
    send(&t);
    sleep(Duration::from_secs(10)).await;
    let ev = t.ops().events();
    let probes: Vec<u64> = ev.iter().filter(|e| e.1 == "probe").map(|e| e.0).collect();
    let failed: Vec<u64> = ev.iter().filter(|e| e.1 == "failed").map(|e| e.0).collect();
    assert!(probes.len() >= 2, "{ev:?}");
    assert_eq!(probes[0], 0, "the first probe is sent inline");
    for w in probes.windows(2) {
        assert_eq!(
            w[1] - w[0],
            1000,
            "re-probed exactly retrans_time later: {ev:?}"
        );
    }
    assert_eq!(failed, vec![probes.last().unwrap() + 1000], "{ev:?}");
    assert_eq!(state(&t), Some(NudState::FAILED));
    d.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_table_is_not_polled() {
    let t = table();
    let d = TokioTimers::spawn(t.clone(), Duration::from_secs(3600)).unwrap();
    sleep(Duration::from_secs(600)).await;
    let s = d.stats();
    // Periodic work at most once a minute: about ten runs in ten minutes,
    // and as many sleeps; a driver polling per tick would wake 600,000 times.
    assert!(s.runs >= 2 && s.runs <= 15, "{s:?}");
    assert!(s.wakeups <= 15, "{s:?}");
    assert!(
        t.jiffies() >= 540_000,
        "the table's clock followed: {}",
        t.jiffies()
    );
    d.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_timer_armed_while_the_driver_sleeps_fires_on_time() {
    let t = table();
    let d = TokioTimers::spawn(t.clone(), DEFAULT_RECHECK).unwrap();
    // The driver sleeps toward the next periodic work, a minute away, and
    // runs the table every 10 ms (its clock reads 1230 at 1234)...
    sleep(Duration::from_millis(1234)).await;
    assert_eq!(t.jiffies(), 1230);
    // ... when a packet arms a timer 1 s ahead of that: the recheck at
    // 1240 sees it, and it fires on its tick.
    send(&t);
    sleep(Duration::from_millis(1500)).await;
    let probes: Vec<u64> = t
        .ops()
        .events()
        .into_iter()
        .filter(|e| e.1 == "probe")
        .map(|e| e.0)
        .collect();
    assert_eq!(probes, vec![1234, 2230]);
    d.stop().await;
}

#[tokio::test(start_paused = true)]
async fn wake_makes_the_driver_look_at_once() {
    let t = table();
    // No recheck to speak of: only the next event or a wake ends a sleep.
    let d = TokioTimers::spawn(t.clone(), Duration::from_secs(3600)).unwrap();
    sleep(Duration::from_millis(500)).await;
    // The table last ran at tick 0: the timer is armed at 0 + 1000. Without
    // the wake the driver would sleep through it to the periodic work at
    // 60 s; with it, it looks again now and fires the timer on its tick.
    assert_eq!(t.jiffies(), 0);
    send(&t);
    d.wake();
    sleep(Duration::from_millis(1200)).await;
    let probes: Vec<u64> = t
        .ops()
        .events()
        .into_iter()
        .filter(|e| e.1 == "probe")
        .map(|e| e.0)
        .collect();
    assert_eq!(probes, vec![500, 1000]);
    d.stop().await;
}

/// A target whose next event is always "now" and whose first `fail` runs
/// return an error.
struct Flaky {
    fail: u64,
    calls: AtomicU64,
    clock: AtomicU64,
}

impl TimerTarget for Flaky {
    fn run_timers(&self, now: Tick) -> Result<usize, NeighError> {
        // Relaxed (both): the test's own counters, read after a join point.
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        if n < self.fail {
            return Err(NeighError::TimeWentBackwards {
                jiffies: u64::MAX,
                now,
            });
        }
        self.clock.store(now, Ordering::Relaxed);
        Ok(1)
    }
    fn next_event(&self) -> Tick {
        0
    }
    fn jiffies(&self) -> Tick {
        // Relaxed: see run_timers.
        self.clock.load(Ordering::Relaxed)
    }
}

#[tokio::test(start_paused = true)]
async fn errors_are_counted_not_fatal_and_one_tick_runs_once() {
    let f = Arc::new(Flaky {
        fail: 3,
        calls: AtomicU64::new(0),
        clock: AtomicU64::new(1000),
    });
    let d = TokioTimers::spawn(f.clone(), DEFAULT_RECHECK).unwrap();
    sleep(Duration::from_millis(100)).await;
    let s = d.stats();
    assert_eq!(s.errors, 3, "{s:?}");
    assert!(!d.is_finished(), "an error does not end the task");
    // Always due, yet run once per tick (ticks 1000..=1100): no spinning.
    assert!(s.runs >= 100 && s.runs <= 101, "{s:?}");
    assert_eq!(s.fired, s.runs - 3);
    assert!(f.jiffies() >= 1099, "{}", f.jiffies());
    d.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_is_raised_by_stop_and_the_table_survives() {
    let t = table();
    let d = TokioTimers::spawn(t.clone(), DEFAULT_RECHECK).unwrap();
    send(&t);
    // Relaxed: read by the driver on this same (current-thread) runtime.
    t.ops().panic.store(true, Ordering::Relaxed);
    sleep(Duration::from_secs(2)).await;
    assert!(d.is_finished(), "the panic ended the task");
    let joined = tokio::spawn(d.stop()).await;
    let e = joined.expect_err("stop re-raises the handler's panic");
    let msg = e.into_panic();
    let msg = msg
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| msg.downcast_ref::<String>().map(|s| s.as_str()))
        .unwrap_or("");
    assert_eq!(msg, "solicit handler panicked");
    // The table's panic contract: consistent and usable afterwards.
    // Relaxed: this thread is the only one left using the table.
    t.ops().panic.store(false, Ordering::Relaxed);
    for _ in 0..10 {
        t.run_timers(t.jiffies() + 1000).unwrap();
    }
    assert_eq!(state(&t), Some(NudState::FAILED));
    let s = t.stats();
    assert_eq!(s.packets_in(), s.packets_out());
}

#[tokio::test(start_paused = true)]
async fn dropping_aborts_and_stop_ends_the_task() {
    let t = table();
    let d = TokioTimers::spawn(t.clone(), DEFAULT_RECHECK).unwrap();
    send(&t);
    sleep(Duration::from_millis(10)).await;
    drop(d);
    let at_drop = t.jiffies();
    sleep(Duration::from_secs(5)).await;
    assert_eq!(t.jiffies(), at_drop, "nothing ran after the drop");
    assert_eq!(state(&t), Some(NudState::INCOMPLETE));

    // A new driver continues from the table's own clock (tick `at_drop`
    // now), so the probe timer 1 s ahead fires 1 s from now.
    let d = TokioTimers::spawn(t.clone(), DEFAULT_RECHECK).unwrap();
    sleep(Duration::from_millis(1100)).await;
    assert!(
        t.jiffies() >= at_drop + 1000,
        "a new driver runs the due timer"
    );
    d.stop().await;
    let at_stop = t.jiffies();
    sleep_until(Instant::now() + Duration::from_secs(5)).await;
    assert_eq!(t.jiffies(), at_stop, "nothing ran after stop");
}

#[test]
fn starting_needs_a_runtime_and_a_recheck() {
    let t = Arc::new(NeighTable::new(TableConfig::default(), neighcache_noop()).unwrap());
    assert_eq!(
        TokioTimers::spawn(t.clone(), DEFAULT_RECHECK).unwrap_err(),
        DriverError::NoRuntime
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    assert_eq!(
        TokioTimers::spawn_on(rt.handle(), t, Duration::ZERO).unwrap_err(),
        DriverError::ZeroRecheck
    );
}

/// Ops that do nothing (no Tokio time needed).
fn neighcache_noop() -> Noop {
    Noop
}

struct Noop;

impl NeighOps<Ipv4Addr> for Noop {
    type Packet = Vec<u8>;
    fn transmit(&self, _dev: DevId, _hh: &[u8], _pkt: Vec<u8>) {}
    fn solicit(&self, _dev: DevId, _key: &Ipv4Addr, _probe: Probe) {}
    fn error_report(&self, _dev: DevId, _key: &Ipv4Addr, _pkt: Vec<u8>) {}
}

/// More timers due at one tick than one `run_timers` call may fire
/// (`TIMER_RUN_LIMIT`): the driver runs again at once while the table
/// reports a backlog, so every one fires on its tick, not over the next
/// ticks. (Fails with the once-per-tick rule applied to cut runs: 256 fire
/// at 1000 ms, 256 at 1001, 88 at 1002.)
#[tokio::test(start_paused = true)]
async fn a_backlog_is_run_at_once_on_the_same_tick() {
    const N: u32 = 600;
    assert!(N as usize > 2 * neighcache::TIMER_RUN_LIMIT.handlers);
    let t = table();
    for i in 0..N {
        let key = Ipv4Addr::from(0xc612_1000 + i);
        assert_eq!(t.resolve_output(key, DEV, vec![0; 20]), Xmit::Queued);
    }
    let d = TokioTimers::spawn(t.clone(), DEFAULT_RECHECK).unwrap();
    sleep(Duration::from_millis(1500)).await;
    let ev = t.ops().events();
    let at = |ms: u64| ev.iter().filter(|e| **e == (ms, "probe")).count();
    assert_eq!(at(0), N as usize, "the inline probes");
    assert_eq!(at(1000), N as usize, "every re-probe on its tick");
    assert!(t.stats().timer_runs_cut >= 2);
    d.stop().await;
}
