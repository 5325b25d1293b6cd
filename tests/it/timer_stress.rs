//! Tests with real threads.
//!
//! * A stress test (bounded to about two seconds): several threads arm,
//!   re-arm, migrate and delete shared timers while others run the bases;
//!   handlers re-arm themselves. Every arming must end in exactly one firing
//!   or one successful delete, no handler of one timer may run twice at
//!   once, and `del_timer_sync` must not return while the handler runs.
//! * Deleting and re-arming while a handler runs.
//! * The concurrent-caller contract of `run_timers` (a caller fails only if
//!   it is behind the latest tick any caller asked for; overtaken callers
//!   succeed; timers fire exactly once at their tick).
//! * Long cascades release the base lock every `RUN_BUDGET` moves; arming
//!   and deleting while a runner is paused in the middle of one.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use neighcache::timer::{Tick, Timer, TimerError, TimerWheel, RUN_BUDGET};

const BASES: usize = 4;
const SHARED: usize = 256;
const WORKERS: usize = 3;
const PRIVATE: usize = 32;
const RUNNERS: usize = 2;
const RUN_FOR: Duration = Duration::from_millis(1500);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default)]
struct Counts {
    arms: AtomicUsize,
    fires: AtomicUsize,
    dels: AtomicUsize,
    in_handler: AtomicBool,
}

struct World {
    wheel: TimerWheel,
    clock: AtomicU64,
    timers: Vec<Timer>,
    counts: Vec<Counts>,
    stop: AtomicBool,
    draining: AtomicBool,
    backwards: AtomicUsize,
}

impl World {
    fn handler(&self, data: usize, rng: &mut Rng) {
        let c = &self.counts[data];
        assert!(
            !c.in_handler.swap(true, SeqCst),
            "handler of timer {data} running twice at once"
        );
        c.fires.fetch_add(1, SeqCst);
        // Shared timers sometimes re-arm themselves (the neighbour timer
        // handler pattern); private ones never do (del_timer_sync contract).
        if data < SHARED && !self.draining.load(SeqCst) && rng.below(4) == 0 {
            let e = self.clock.load(SeqCst) + rng.below(600);
            if !self.wheel.mod_timer(&self.timers[data], e) {
                c.arms.fetch_add(1, SeqCst);
            }
        }
        c.in_handler.store(false, SeqCst);
    }
}

#[test]
fn stress_arm_rearm_delete_run() {
    let w = Arc::new(World {
        wheel: TimerWheel::new(BASES, 0),
        clock: AtomicU64::new(0),
        timers: (0..SHARED + WORKERS * PRIVATE)
            .map(|i| Timer::new(i, i % BASES))
            .collect(),
        counts: (0..SHARED + WORKERS * PRIVATE)
            .map(|_| Counts::default())
            .collect(),
        stop: AtomicBool::new(false),
        draining: AtomicBool::new(false),
        backwards: AtomicUsize::new(0),
    });
    let mut handles = Vec::new();
    for k in 0..WORKERS {
        let w = w.clone();
        handles.push(thread::spawn(move || {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((k as u64 + 1) * 0x1234_5678));
            let mine = SHARED + k * PRIVATE..SHARED + (k + 1) * PRIVATE;
            let mut ops = 0u64;
            while !w.stop.load(SeqCst) {
                ops += 1;
                let now = w.clock.load(SeqCst);
                let i = rng.below(SHARED as u64) as usize;
                let (t, c) = (&w.timers[i], &w.counts[i]);
                match rng.below(10) {
                    0..=3 => {
                        let e = now + rng.below(2000);
                        if !w.wheel.mod_timer(t, e) {
                            c.arms.fetch_add(1, SeqCst);
                        }
                    }
                    4..=5 => {
                        let e = now + rng.below(20_000);
                        let b = rng.below(BASES as u64) as usize;
                        if !w.wheel.mod_timer_on(t, e, b) {
                            c.arms.fetch_add(1, SeqCst);
                        }
                    }
                    6..=7 => {
                        if w.wheel.del_timer(t) {
                            c.dels.fetch_add(1, SeqCst);
                        }
                    }
                    8 => {
                        let _ = w.wheel.timer_pending(t);
                    }
                    _ => {
                        // A private timer: add, then del_timer_sync; after it
                        // returns the handler must not be running.
                        let p = mine.start + rng.below(PRIVATE as u64) as usize;
                        let (pt, pc) = (&w.timers[p], &w.counts[p]);
                        if !w.wheel.timer_pending(pt) {
                            w.wheel.add_timer(pt, now + rng.below(50));
                            pc.arms.fetch_add(1, SeqCst);
                        }
                        if rng.below(2) == 0 {
                            thread::yield_now();
                        }
                        if w.wheel.del_timer_sync(pt) {
                            pc.dels.fetch_add(1, SeqCst);
                        }
                        assert!(!pc.in_handler.load(SeqCst), "del_timer_sync returned early");
                        assert!(!w.wheel.timer_pending(pt));
                    }
                }
            }
            ops
        }));
    }
    for k in 0..RUNNERS {
        let w = w.clone();
        handles.push(thread::spawn(move || {
            let mut rng = Rng(0xDEAD_BEEF ^ ((k as u64 + 7) * 0x9876_5431));
            let mut runs = 0u64;
            while !w.stop.load(SeqCst) {
                runs += 1;
                let now = w.clock.fetch_add(rng.below(40), SeqCst);
                let mut hrng = Rng(rng.next() | 1);
                let r = if rng.below(2) == 0 {
                    w.wheel.run_timers(now, |d| w.handler(d, &mut hrng))
                } else {
                    let b = rng.below(BASES as u64) as usize;
                    w.wheel.run_timers_on(b, now, |d| w.handler(d, &mut hrng))
                };
                match r {
                    Ok(_) => {}
                    // Two runners may read the clock out of order.
                    Err(TimerError::TimeWentBackwards { clk, now }) => {
                        assert!(now < clk);
                        w.backwards.fetch_add(1, SeqCst);
                    }
                    Err(e) => panic!("{e}"),
                }
                thread::yield_now();
            }
            runs
        }));
    }
    let t0 = Instant::now();
    thread::sleep(RUN_FOR);
    w.stop.store(true, SeqCst);
    let work: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert!(
        work.iter().all(|&n| n > 0),
        "a thread made no progress: {work:?}"
    );

    // Drain: everything still armed fires exactly once.
    w.draining.store(true, SeqCst);
    let end = w.clock.load(SeqCst) + (1 << 33);
    let mut rng = Rng(1);
    w.wheel.run_timers(end, |d| w.handler(d, &mut rng)).unwrap();
    assert_eq!(w.wheel.pending(), 0);
    assert_eq!(w.wheel.next_expiry(), None);

    let (mut arms, mut fires, mut dels) = (0, 0, 0);
    for (i, c) in w.counts.iter().enumerate() {
        let (a, f, d) = (
            c.arms.load(SeqCst),
            c.fires.load(SeqCst),
            c.dels.load(SeqCst),
        );
        assert_eq!(a, f + d, "timer {i}: {a} armings, {f} firings, {d} deletes");
        assert!(!w.wheel.timer_pending(&w.timers[i]));
        arms += a;
        fires += f;
        dels += d;
    }
    eprintln!(
        "stress: ops {:?}, armings {arms}, firings {fires}, deletes {dels}, \
         backwards clock reads {}",
        work,
        w.backwards.load(SeqCst)
    );
    assert!(fires > 100 && dels > 100, "too little happened");
}

#[test]
fn delete_while_running() {
    let w = Arc::new(TimerWheel::new(1, 0));
    let t = Arc::new(Timer::new(5, 0));
    w.add_timer(&t, 10);
    let entered = Arc::new(Barrier::new(2));
    let done = Arc::new(AtomicBool::new(false));
    let runner = {
        let (w, entered, done) = (w.clone(), entered.clone(), done.clone());
        thread::spawn(move || {
            w.run_timers(10, |_| {
                entered.wait();
                thread::sleep(Duration::from_millis(50));
                done.store(true, Ordering::SeqCst);
            })
            .unwrap()
        })
    };
    entered.wait();
    // Running, not pending.
    assert!(!w.timer_pending(&t));
    assert!(!w.del_timer(&t));
    assert!(!done.load(Ordering::SeqCst));
    assert!(!w.del_timer_sync(&t));
    assert!(done.load(Ordering::SeqCst), "del_timer_sync returned early");
    assert_eq!(runner.join().unwrap(), 1);
}

#[test]
fn rearm_while_running_from_other_thread_stays_on_base() {
    let w = Arc::new(TimerWheel::new(2, 0));
    let t = Arc::new(Timer::new(5, 0));
    w.add_timer(&t, 10);
    let entered = Arc::new(Barrier::new(2));
    let leave = Arc::new(Barrier::new(2));
    let runner = {
        let (w, entered, leave) = (w.clone(), entered.clone(), leave.clone());
        thread::spawn(move || {
            w.run_timers_on(0, 10, |_| {
                entered.wait();
                leave.wait();
            })
            .unwrap()
        })
    };
    entered.wait();
    // Handler running on base 0: a migrating mod_timer stays on base 0.
    assert!(!w.mod_timer_on(&t, 20, 1));
    assert!(w.timer_pending(&t));
    leave.wait();
    assert_eq!(runner.join().unwrap(), 1);
    assert_eq!(w.run_timers_on(1, 30, |_| panic!("migrated")), Ok(0));
    assert_eq!(w.run_timers_on(0, 30, |_| {}), Ok(1));
}

/// The overtaking case: caller A (now = 100) is still running base 0 when
/// caller B (now = 200, asked later) runs every base. A then finds bases
/// 1.. already past 100: it skips them and succeeds (it used to fail with
/// `TimeWentBackwards`), and base 0's run, which B raised to 200, fires
/// every timer due by 200 exactly once, at its tick.
#[test]
fn overtaken_caller_succeeds_and_nothing_is_lost() {
    const BASES: usize = 4;
    let w = Arc::new(TimerWheel::new(BASES, 0));
    let timers: Arc<Vec<Timer>> = Arc::new((0..8).map(|i| Timer::new(i, i % BASES)).collect());
    let at = |i: usize| if i == 0 { 50 } else { 60 + 30 * i as Tick };
    for (i, t) in timers.iter().enumerate() {
        w.add_timer(t, at(i)); // 0..=4 due by 200
    }
    let fired = Arc::new(Mutex::new(Vec::new()));
    let (entered, leave) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let a = {
        let (w, fired, entered, leave) = (w.clone(), fired.clone(), entered.clone(), leave.clone());
        thread::spawn(move || {
            w.run_timers_ticked(100, |d, tick| {
                fired.lock().unwrap().push((d, tick));
                if d == 0 {
                    entered.wait();
                    leave.wait();
                }
            })
        })
    };
    entered.wait(); // A is in timer 0's handler, base 0, lock released
    let n = w
        .run_timers_ticked(200, |d, tick| fired.lock().unwrap().push((d, tick)))
        .unwrap();
    leave.wait();
    let na = a
        .join()
        .unwrap()
        .expect("an overtaken caller must not fail");
    assert_eq!(n + na, 5);
    let mut got = fired.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, (0..5).map(|i| (i, at(i))).collect::<Vec<_>>());
    assert_eq!(w.pending(), 3);
    // A caller behind the latest tick asked for does fail, and changes nothing.
    let w2 = w.clone();
    let late = thread::spawn(move || w2.run_timers(150, |_| panic!("fired")));
    assert_eq!(
        late.join().unwrap(),
        Err(TimerError::TimeWentBackwards { clk: 200, now: 150 })
    );
    assert!((0..BASES).all(|b| w.clk(b) == 200));
}

/// Many threads run the wheel with `now` values taken from a shared clock
/// (so they arrive out of order). Every error is for a `now` behind a tick
/// some caller asked for, and every timer fires exactly once, at its tick.
#[test]
fn concurrent_callers_fire_each_timer_once_at_its_tick() {
    const BASES: usize = 4;
    const TIMERS: usize = 3000;
    const END: Tick = 300_000;
    let w = Arc::new(TimerWheel::new(BASES, 0));
    let timers: Vec<Timer> = (0..TIMERS).map(|i| Timer::new(i, i % BASES)).collect();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let expiry: Vec<Tick> = (0..TIMERS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + x % END
        })
        .collect();
    for (t, &e) in timers.iter().zip(&expiry) {
        w.add_timer(t, e);
    }
    let clock = Arc::new(AtomicU64::new(0));
    let fired: Arc<Vec<AtomicU64>> = Arc::new((0..TIMERS).map(|_| AtomicU64::new(0)).collect());
    let times: Arc<Vec<AtomicU64>> = Arc::new((0..TIMERS).map(|_| AtomicU64::new(0)).collect());
    let errors = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..3u64)
        .map(|k| {
            let (w, clock, fired, times, errors) = (
                w.clone(),
                clock.clone(),
                fired.clone(),
                times.clone(),
                errors.clone(),
            );
            thread::spawn(move || {
                let mut r = 0x9E37_79B9 ^ (k + 1);
                loop {
                    r = r.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let now = (clock.fetch_add(1 + (r >> 33) % 700, SeqCst)).min(END);
                    let h = |d: usize, tick: Tick| {
                        fired[d].fetch_add(1, Ordering::Relaxed);
                        times[d].store(tick, Ordering::Relaxed);
                    };
                    let res = if k == 0 {
                        w.run_timers_on_ticked((r >> 40) as usize, now, h)
                    } else {
                        w.run_timers_ticked(now, h)
                    };
                    match res {
                        Ok(_) => {}
                        Err(TimerError::TimeWentBackwards { clk, now: n }) => {
                            assert!(n < clk && clk <= clock.load(SeqCst));
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("{e}"),
                    }
                    if now == END {
                        break;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // A caller that lost a race may have left its base to a later one; a
    // final run covers every base.
    w.run_timers_ticked(END, |d, tick| {
        fired[d].fetch_add(1, Ordering::Relaxed);
        times[d].store(tick, Ordering::Relaxed);
    })
    .unwrap();
    for i in 0..TIMERS {
        assert_eq!(fired[i].load(Ordering::Relaxed), 1, "timer {i}");
        assert_eq!(times[i].load(Ordering::Relaxed), expiry[i], "timer {i}");
    }
    assert_eq!(w.pending(), 0);
    eprintln!(
        "concurrent callers: {} TimeWentBackwards",
        errors.load(Ordering::Relaxed)
    );
}

/// A run that cascades many timers without calling a handler releases the
/// base lock every `RUN_BUDGET` moves, and the timers still fire exactly.
#[test]
fn long_cascades_release_the_lock_and_stay_exact() {
    const N: usize = 5_000;
    let w = TimerWheel::with_capacity(1, 0, N);
    let timers: Vec<Timer> = (0..N).map(|i| Timer::new(i, 0)).collect();
    let at = |i: usize| (1u64 << 40) + 3 * i as Tick;
    for (i, t) in timers.iter().enumerate() {
        w.add_timer(t, at(i)); // all in one tv7 slot
    }
    assert_eq!(w.run_timers((1 << 40) - 1, |_| panic!("fired")), Ok(0));
    assert_eq!(w.work().cascaded, 0);
    let mut got = Vec::new();
    w.run_timers_ticked(at(N), |d, tick| got.push((d, tick)))
        .unwrap();
    assert_eq!(got, (0..N).map(|i| (i, at(i))).collect::<Vec<_>>());
    let work = w.work();
    assert!(
        work.lock_breaks >= (N as u64) / u64::from(RUN_BUDGET) - 1,
        "{work:?}"
    );
    assert_eq!(work.in_use, 0);
}

/// A runner cascading thousands of timers releases the base lock every
/// `RUN_BUDGET` moves; meanwhile another thread re-arms and deletes those
/// very timers. Every arming ends in exactly one firing or one delete, and
/// an untouched timer fires exactly at its tick.
#[test]
fn arming_and_deleting_during_a_paused_cascade() {
    const N: usize = 20_000;
    const AT: Tick = 1 << 40;
    const LATER: Tick = 1 << 41;
    let w = Arc::new(TimerWheel::with_capacity(1, 0, N));
    let timers: Arc<Vec<Timer>> = Arc::new((0..N).map(|i| Timer::new(i, 0)).collect());
    for (i, t) in timers.iter().enumerate() {
        w.add_timer(t, AT + i as Tick % 4096); // one tv7 slot
    }
    w.run_timers(AT - 1, |_| {}).unwrap();
    let arms: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(1)).collect());
    let dels: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
    let touched: Arc<Vec<AtomicBool>> = Arc::new((0..N).map(|_| AtomicBool::new(false)).collect());
    let started = Arc::new(Barrier::new(2));
    let worker = {
        let (w, timers, arms, dels, touched, started) = (
            w.clone(),
            timers.clone(),
            arms.clone(),
            dels.clone(),
            touched.clone(),
            started.clone(),
        );
        thread::spawn(move || {
            started.wait();
            let mut i = 7usize;
            for k in 0..N {
                i = (i + 7919) % N;
                touched[i].store(true, SeqCst);
                if k % 3 == 0 {
                    if w.del_timer(&timers[i]) {
                        dels[i].fetch_add(1, SeqCst);
                    }
                } else if !w.mod_timer(&timers[i], LATER + k as Tick) {
                    arms[i].fetch_add(1, SeqCst);
                }
            }
        })
    };
    let fires: Vec<AtomicUsize> = (0..N).map(|_| AtomicUsize::new(0)).collect();
    let ticks: Vec<AtomicU64> = (0..N).map(|_| AtomicU64::new(0)).collect();
    let record = |d: usize, tick: Tick| {
        fires[d].fetch_add(1, SeqCst);
        ticks[d].store(tick, SeqCst);
    };
    started.wait();
    w.run_timers_ticked(AT + 4096, record).unwrap();
    worker.join().unwrap();
    w.run_timers_ticked(LATER + N as Tick, record).unwrap();
    assert_eq!(w.pending(), 0);
    for i in 0..N {
        let (a, f, d) = (
            arms[i].load(SeqCst),
            fires[i].load(SeqCst),
            dels[i].load(SeqCst),
        );
        assert_eq!(a, f + d, "timer {i}: {a} armings, {f} firings, {d} deletes");
        if !touched[i].load(SeqCst) {
            assert_eq!(ticks[i].load(SeqCst), AT + i as Tick % 4096, "timer {i}");
        }
    }
    assert!(w.work().lock_breaks > 0);
    assert_eq!(w.work().in_use, 0);
}
