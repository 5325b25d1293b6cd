//! Race matrix L4 and L7: timers against removal, and the wheel itself.

mod common;
use common::*;
use loom::sync::Arc;
use neighcache::timer::{Timer, TimerWheel};
use neighcache::{NudState, UpdateFlags};
use std::sync::atomic::{AtomicUsize, Ordering};

/// L4: the timer handler (DELAY -> PROBE, re-arm, probe) runs while the
/// device goes down (`neigh_flush_dev`: del_timer, dead, state reset). The
/// handler must not re-arm a flushed entry; the timer's reference must be
/// released exactly once; nothing leaks.
#[test]
fn l4_timer_handler_vs_flush_fix_holds() {
    fix_holds("L4", None, || {
        let t = Arc::new(table());
        {
            let n = t.lookup_or_create(KEY, DEV).unwrap();
            t.update(&n, Some(&MAC_A), NudState::STALE, UpdateFlags::OVERRIDE)
                .unwrap();
            t.event_send(&n, None); // STALE -> DELAY, timer at +300
            assert_eq!(n.state(), NudState::DELAY);
        }
        let t1 = t.clone();
        let a = loom::thread::spawn(move || {
            t1.run_timers(START + 300).unwrap();
        });
        t.flush_dev(Some(DEV));
        a.join().unwrap();
        run_all_timers(&t);
        assert_eq!(t.timers().pending(), 0, "handler re-armed a flushed entry");
        assert!(t.is_empty());
        let s = t.stats();
        assert_eq!((s.allocs, s.destroys), (1, 1), "{s:?}");
    });
}

/// L7: `mod_timer` migrating a timer to another base while the old base's
/// wheel runs and cascades (tv2 -> tv1). Every arm fires exactly once, the
/// cascade's base check never trips, and nothing stays pending.
#[test]
fn l7_mod_timer_migration_vs_run_timers_fix_holds() {
    fix_holds("L7", None, || {
        let w = Arc::new(TimerWheel::new(2, 0));
        let tm = Arc::new(Timer::new(7, 0));
        w.add_timer(&tm, 300); // tv2: reaches tv1 through cascade() at tick 256
        let fired = Arc::new(AtomicUsize::new(0));
        let (w1, tm1) = (w.clone(), tm.clone());
        let a = loom::thread::spawn(move || w1.mod_timer_on(&tm1, 400, 1));
        let f1 = fired.clone();
        w.run_timers_on(0, 300, |d| {
            assert_eq!(d, 7);
            f1.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        let was_pending = a.join().unwrap();
        let f2 = fired.clone();
        w.run_timers(1000, |_| {
            f2.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        // mod_timer on a pending timer modifies one arm; on a fired one it
        // is a second arm.
        let arms = if was_pending { 1 } else { 2 };
        assert_eq!(fired.load(Ordering::Relaxed), arms);
        assert_eq!(w.pending(), 0);
    });
}
