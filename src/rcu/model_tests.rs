//! The model RCU's own tests: its failure modes (each must be the named,
//! deterministic panic or loom report, never undefined behaviour) and where
//! it runs destructors.
use super::*;
use crate::sync::Ordering::Relaxed;
use std::sync::atomic::Ordering as StdOrdering;

fn model(f: impl Fn() + Send + Sync + 'static) {
    #[cfg(feature = "loom")]
    loom::model(f);
    #[cfg(all(feature = "shuttle", not(feature = "loom")))]
    shuttle::check_dfs(f, None);
}

/// Counts drops of the value it carries.
struct Tracked(std::sync::Arc<plain::AtomicU8>);
impl Drop for Tracked {
    fn drop(&mut self) {
        // Relaxed: model threads are serialised.
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
#[should_panic(expected = "rcu: double retire")]
fn retiring_twice_panics() {
    model(|| {
        let a = Atomic::new(1u32);
        let g = pin();
        let p = a.load(Relaxed, &g);
        // SAFETY: the second retire is the misuse under test; the model
        // panics before it can reclaim twice.
        unsafe {
            g.defer_destroy(p);
            g.defer_destroy(p);
        }
    });
}

#[test]
#[should_panic(expected = "rcu: use after grace period")]
fn use_after_the_grace_period_panics() {
    model(|| {
        let a = Atomic::new(7u32);
        let raw = {
            let g = pin();
            let p = a.load(Relaxed, &g);
            // SAFETY: nothing else can reach `a`'s value afterwards.
            unsafe { g.defer_destroy(p) };
            p.as_raw()
        }; // the grace period ends here: the value is reclaimed
        let _g = pin();
        // SAFETY: this is the misuse under test; the model checks the
        // cell before it dereferences it.
        let _ = unsafe { *Shared::from(raw).deref() };
    });
}

#[test]
fn a_reader_pinned_before_the_retire_holds_the_value() {
    model(|| {
        let drops = std::sync::Arc::new(plain::AtomicU8::new(0));
        let a = Atomic::new(Tracked(drops.clone()));
        let reader = pin();
        let seen = a.load(Relaxed, &reader);
        {
            let writer = pin();
            let p = a.load(Relaxed, &writer);
            // SAFETY: `a` is not used to reach the value again.
            unsafe { writer.defer_destroy(p) };
        }
        let count = || drops.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `reader` was pinned before the retire.
        assert!(unsafe { seen.as_ref() }.is_some());
        assert_eq!(count(), 0, "reclaimed while a reader was pinned");
        drop(reader);
        assert_eq!(count(), 1, "not reclaimed when the last reader unpinned");
    });
}

/// Under loom, a use of an object that is not ordered before the end of its
/// grace period is reported even when it happened first, so that the poison
/// check cannot see it: here a thread that never pinned reads the object (as
/// a `NeighHandle` holder may) and only then does another retire it, with
/// nothing ordering the two (the hand-over flag is a plain std atomic, which
/// the model checker does not see).
#[cfg(feature = "loom")]
#[test]
#[should_panic(expected = "Causality violation")]
fn an_unordered_use_before_the_reclaim_is_reported() {
    model(|| {
        let a = std::sync::Arc::new(Atomic::new(5u32));
        let raw = {
            let g = pin();
            a.load(Relaxed, &g).as_raw() as usize
        };
        let used = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let u1 = used.clone();
        let reader = loom::thread::spawn(move || {
            assert_live(raw as *const u32);
            u1.store(true, StdOrdering::Relaxed);
        });
        while !used.load(StdOrdering::Relaxed) {
            loom::thread::yield_now();
        }
        let g = pin();
        // SAFETY: the misuse under test: `reader` held no guard (nor
        // anything else that orders its use before the reclaim).
        unsafe { g.defer_destroy(Shared::from(raw as *const u32)) };
        drop(g);
        reader.join().unwrap();
    });
}

fn spawn(f: impl FnOnce() + Send + 'static) -> impl FnOnce() {
    #[cfg(feature = "loom")]
    let h = loom::thread::spawn(f);
    #[cfg(all(feature = "shuttle", not(feature = "loom")))]
    let h = shuttle::thread::spawn(f);
    move || h.join().unwrap()
}

/// The current model thread (model threads share OS threads, so neither
/// `std::thread::current` nor a thread-local tells them apart).
fn current() -> String {
    #[cfg(feature = "loom")]
    let id = loom::thread::current().id();
    #[cfg(all(feature = "shuttle", not(feature = "loom")))]
    let id = shuttle::thread::current().id();
    format!("{id:?}")
}

/// Where destructors ran, over all executions (plain std: bookkeeping
/// outside the model; model threads are serialised).
#[derive(Default)]
struct Seen {
    pinner: std::sync::Mutex<String>,
    pinner_inside_pin: std::sync::atomic::AtomicBool,
    in_pin: std::sync::atomic::AtomicUsize,
    elsewhere: std::sync::atomic::AtomicUsize,
}

/// Takes `lock` in its destructor, as an entry's `Drop` takes a timer base
/// lock, and records where it ran.
struct Reporter(std::sync::Arc<Mutex<()>>, std::sync::Arc<Seen>);
impl Drop for Reporter {
    fn drop(&mut self) {
        drop(self.0.lock());
        let seen = &self.1;
        let by_pinner = *seen.pinner.lock().unwrap() == current()
            && seen.pinner_inside_pin.load(StdOrdering::Relaxed);
        let counter = if by_pinner {
            &seen.in_pin
        } else {
            &seen.elsewhere
        };
        counter.fetch_add(1, StdOrdering::Relaxed);
    }
}

/// Retire an object whose destructor takes `lock`, and unpin.
fn retire_reporter(lock: std::sync::Arc<Mutex<()>>, seen: std::sync::Arc<Seen>) {
    let a = Atomic::new(Reporter(lock, seen));
    let g = pin();
    let p = a.load(Relaxed, &g);
    // SAFETY: `a` is not used to reach the value again.
    unsafe { g.defer_destroy(p) };
}

/// crossbeam runs an expired destructor inside a later `pin()` on any
/// thread; the model explores that (the destructor runs inside the other
/// thread's `pin`) as well as the earliest point (the thread that ended the
/// grace period runs it right after its unpin). Both happen in some
/// execution, and the destructor runs exactly once in each.
#[test]
fn a_destructor_runs_after_the_grace_period_or_inside_another_threads_pin() {
    let seen = std::sync::Arc::new(Seen::default());
    let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (s1, execs) = (seen.clone(), executions.clone());
    model(move || {
        execs.fetch_add(1, StdOrdering::Relaxed);
        let lock = std::sync::Arc::new(Mutex::new(()));
        let s2 = s1.clone();
        let pinner = spawn(move || {
            *s2.pinner.lock().unwrap() = current();
            s2.pinner_inside_pin.store(true, StdOrdering::Relaxed);
            let g = pin();
            s2.pinner_inside_pin.store(false, StdOrdering::Relaxed);
            drop(g);
        });
        retire_reporter(lock, s1.clone());
        pinner();
    });
    let in_pin = seen.in_pin.load(StdOrdering::Relaxed);
    let elsewhere = seen.elsewhere.load(StdOrdering::Relaxed);
    let runs = executions.load(StdOrdering::Relaxed);
    assert_eq!(in_pin + elsewhere, runs, "not exactly once per execution");
    assert!(in_pin > 0, "never ran inside the other thread's pin()");
    assert!(elsewhere > 0, "never ran at the end of the grace period");
}

/// The pattern crossbeam makes dangerous: pinning while holding a lock that
/// a deferred destructor takes. A `pin` may run that destructor on the
/// spot, and the thread then waits for itself. The model finds it.
#[test]
#[should_panic(expected = "deadlock")]
fn pinning_while_holding_a_lock_a_destructor_takes_deadlocks() {
    model(|| {
        let lock = std::sync::Arc::new(Mutex::new(()));
        let l1 = lock.clone();
        let pinner = spawn(move || {
            let held = l1.lock();
            let g = pin();
            // Unlock before unpinning: only the `pin` can run the
            // destructor under the lock.
            drop(held);
            drop(g);
        });
        retire_reporter(lock, Default::default());
        pinner();
    });
}
