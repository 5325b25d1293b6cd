//! Running scenarios: [`check_pass`] (PCT and random, printing iterations
//! and seconds) and [`find_bug`] (search a bug variant, insist on the named
//! failure, print the failing schedule and replay it), and
//! [`replay_timeline`] (replay a failing schedule with the kernel-named
//! trace on and print it as a timeline).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Iterations for a passing scenario, per checker: `NEIGHCACHE_SHUTTLE_ITERS`
/// or the scenario's `default` (50,000 or 100,000: the whole shuttle suite
/// then takes about a minute and a half on 2 cores in `--release`; SPEC.md
/// §13 asks for at least 10,000).
pub fn iters(default: usize) -> usize {
    std::env::var("NEIGHCACHE_SHUTTLE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Iterations a bug search may use: `NEIGHCACHE_SHUTTLE_BUG_ITERS` or 1,000
/// (SPEC.md §13: PCT must find each bug variant within 1,000).
pub fn bug_iters() -> usize {
    std::env::var("NEIGHCACHE_SHUTTLE_BUG_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// Run `f` under `shuttle::check_pct(f, iters, depth)` and
/// `shuttle::check_random(f, iters)`, printing iterations and seconds. The
/// two checkers run at once on two OS threads (each shuttle run is
/// single-threaded; CI has 2 cores); a failure in either fails the test with
/// shuttle's report (failing schedule or seed) on stderr.
pub fn check_pass<F>(name: &str, f: F, iters: usize, depth: usize)
where
    F: Fn() + Send + Sync + Clone + 'static,
{
    let g = f.clone();
    let random = std::thread::Builder::new()
        .name(format!("{name} check_random"))
        .spawn(move || {
            let t = Instant::now();
            shuttle::check_random(g, iters);
            t.elapsed().as_secs_f64()
        })
        .expect("spawn the check_random thread");
    let t = Instant::now();
    shuttle::check_pct(f, iters, depth);
    let pct = t.elapsed().as_secs_f64();
    println!("{name}: check_pct(depth {depth}): {iters} iterations passed in {pct:.2} s");
    let rnd = random
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
    println!("{name}: check_random: {iters} iterations passed in {rnd:.2} s");
}

/// A failure found by [`find_bug`].
#[derive(Debug)]
pub struct Found {
    /// 1-based iteration on which the failure happened.
    pub iteration: usize,
    /// The panic message.
    pub message: String,
    /// The serialized schedule (input to `shuttle::replay`).
    pub schedule: String,
    /// Seconds the search took.
    pub seconds: f64,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// The directory failing schedules are written to, one per test process.
///
/// Shuttle installs its panic hook once per process, with the `Config` of
/// the first `Runner`; the hook is what writes the schedule. Bug searches
/// live in their own test binaries (no passing scenario runs first in the
/// process) and all use this one directory.
fn schedule_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!(
            "neighcache-shuttle-schedules-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create schedule directory");
        d
    })
}

/// Bug searches in one process run one at a time (they share the schedule
/// directory and shuttle's process-wide panic hook).
static SEARCH: Mutex<()> = Mutex::new(());

fn files(dir: &PathBuf) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Which scheduler a bug search uses.
#[derive(Clone, Copy, Debug)]
pub enum Search {
    /// `PctScheduler::new(depth, iters)`: the body of `shuttle::check_pct`.
    Pct { depth: usize },
    /// `RandomScheduler::new(iters)`: the body of `shuttle::check_random`.
    Random,
}

/// Search `f` (a bug variant) for a failure whose message contains one of
/// `expected`. Runs shuttle's `check_pct` / `check_random` logic (the same
/// scheduler, through a `Runner` whose config writes the failing schedule to
/// a file), then replays the schedule with `shuttle::replay` and requires
/// the same named failure.
///
/// Returns `Ok(found)`, or `Err(iterations)` if no failure was found. Any
/// failure that names none of `expected` fails the calling test.
pub fn find_bug<F>(
    name: &str,
    f: F,
    search: Search,
    iters: usize,
    expected: &[&str],
) -> Result<Found, usize>
where
    F: Fn() + Send + Sync + Clone + 'static,
{
    let _one_at_a_time = SEARCH.lock().unwrap_or_else(|e| e.into_inner());
    let dir = schedule_dir();
    let before = files(dir);
    let counter = Arc::new(AtomicUsize::new(0));
    let body = {
        let c = counter.clone();
        let f = f.clone();
        move || {
            c.fetch_add(1, Ordering::Relaxed);
            f()
        }
    };
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::File(Some(dir.clone()));
    let start = Instant::now();
    let r = catch_unwind(AssertUnwindSafe(|| match search {
        Search::Pct { depth } => {
            shuttle::Runner::new(shuttle::scheduler::PctScheduler::new(depth, iters), config)
                .run(body)
        }
        Search::Random => {
            shuttle::Runner::new(shuttle::scheduler::RandomScheduler::new(iters), config).run(body)
        }
    }));
    let seconds = start.elapsed().as_secs_f64();
    let payload = match r {
        Ok(n) => {
            println!("{name}: {search:?}: no failure in {n} iterations ({seconds:.2} s)");
            return Err(n);
        }
        Err(p) => p,
    };
    let message = panic_message(&*payload);
    let iteration = counter.load(Ordering::Relaxed);
    assert!(
        expected.iter().any(|e| message.contains(e)),
        "{name}: {search:?} failed on iteration {iteration} with an unexpected failure \
         (wanted one of {expected:?}): {message}"
    );
    let new: Vec<PathBuf> = files(dir)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let path = new.last().unwrap_or_else(|| {
        panic!(
            "{name}: shuttle wrote no schedule file to {}: was another Runner \
             the first in this process?",
            dir.display()
        )
    });
    let schedule = std::fs::read_to_string(path).expect("read schedule");
    println!(
        "{name}: {search:?}: found on iteration {iteration} of {iters} ({seconds:.2} s): {message}"
    );
    println!("{name}: failing schedule:\n{schedule}");

    // Replay: the same schedule must give the same named failure.
    let r = catch_unwind(AssertUnwindSafe(|| shuttle::replay(f, &schedule)));
    let replayed = match r {
        Ok(()) => panic!("{name}: replaying the failing schedule did not fail"),
        Err(p) => panic_message(&*p),
    };
    assert!(
        expected.iter().any(|e| replayed.contains(e)),
        "{name}: the replay failed differently: {replayed}"
    );
    println!("{name}: shuttle::replay of that schedule fails the same way: {replayed}");
    // The schedule files (the search's and the replay's) are printed above.
    for p in files(dir).into_iter().filter(|p| !before.contains(p)) {
        let _ = std::fs::remove_file(p);
    }
    Ok(Found {
        iteration,
        message,
        schedule,
        seconds,
    })
}

/// Replay `schedule` (a failing schedule of `f`) with the model-only
/// kernel-named trace on, and print the failing execution as a timeline,
/// one column per entry of `cols`. Returns the events; panics if the replay
/// does not fail.
pub fn replay_timeline<F>(
    name: &str,
    f: F,
    schedule: &str,
    cols: &[(&str, neighcache::trace::Col)],
) -> Vec<neighcache::trace::Event>
where
    F: Fn() + Send + Sync + 'static,
{
    type Hook = dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync;
    // The timeline ends at the failure: freeze the trace when it panics
    // (shuttle's own hook, which prints the schedule, still runs).
    let prev: Arc<Hook> = Arc::from(std::panic::take_hook());
    let p = prev.clone();
    std::panic::set_hook(Box::new(move |i| {
        neighcache::trace::freeze();
        p(i)
    }));
    neighcache::trace::start();
    let r = catch_unwind(AssertUnwindSafe(|| shuttle::replay(f, schedule)));
    let events = neighcache::trace::stop();
    std::panic::set_hook(Box::new(move |i| prev(i)));
    let msg = match r {
        Ok(()) => panic!("{name}: replaying the failing schedule did not fail"),
        Err(p) => panic_message(&*p),
    };
    println!(
        "{name}: the failing schedule, replayed with the kernel-named trace ({msg}):\n{}",
        neighcache::trace::timeline(&events, cols, 30, None)
    );
    events
}
