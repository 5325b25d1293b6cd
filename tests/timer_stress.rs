//! Multi-thread stress test with real threads (bounded to about two
//! seconds): several threads arm, re-arm, migrate and delete shared timers
//! while others run the bases; handlers re-arm themselves. Every arming must
//! end in exactly one firing or one successful delete, no handler of one
//! timer may run twice at once, and `del_timer_sync` must not return while
//! the handler runs.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use neighcache::timer::{Timer, TimerError, TimerWheel};

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
