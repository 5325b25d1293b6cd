//! Shared helpers for the shuttle scenarios (`shuttle-tests/*.rs`).
//!
//! * [`Log`], [`TPkt`], [`TestOps`]: a device side that records what happens
//!   to every packet, so a scenario can check that each packet handed to the
//!   cache is transmitted, discarded or error-reported **exactly once** and
//!   that no packet object is leaked inside the cache.
//! * [`model_config`]: a small, deterministic table configuration (fixed hash
//!   seed, short timers, GC that collects stale entries at once).
//! * [`check_pass`]: run a scenario under `shuttle::check_pct` and
//!   `shuttle::check_random`, printing iterations and seconds.
//! * [`find_bug`]: search a bug variant with PCT (and random), insist on the
//!   named failure, print the failing schedule and replay it with
//!   `shuttle::replay`.
//!
//! Test bookkeeping (the packet log, iteration counters) uses plain `std`
//! atomics and a `std` mutex that shuttle does not model: it orders nothing
//! in the system under test, it is only ever touched with no cache lock
//! held, and shuttle runs every model thread on one OS thread, so it cannot
//! race. Modelling it would only add scheduling points.
#![allow(dead_code)]

use neighcache::{
    DevId, DeviceConfig, DropReason, NeighOps, NeighParms, NeighStats, NeighTable, Packet, Probe,
    TableConfig, Tick,
};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The device every scenario uses.
pub const DEV: DevId = DevId(1);
/// A second device (S2: the one that is not flushed).
pub const DEV2: DevId = DevId(2);
/// The MAC address ARP replies carry.
pub const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];
/// `delay_probe_time` of the model tables (ticks).
pub const DELAY: Tick = 300;

/// An IPv4 key `10.0.0.i`.
pub fn key(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, i)
}

/// What happened to a packet, as reported to [`TestOps`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// `transmit`.
    Sent,
    /// `error_report` (resolution failed).
    ErrorReport,
    /// `discard` with a reason.
    Discard(DropReason),
    /// Handed back to the caller by `event_send` (`EventSend::Send`): the
    /// caller transmits it, the cache never counted it.
    HandedBack,
}

/// Per-execution record of packets.
#[derive(Default)]
pub struct Log {
    next_id: AtomicU64,
    fates: Mutex<HashMap<u64, Fate>>,
    /// Packet objects dropped (anywhere).
    freed: AtomicU64,
    /// Solicitations sent.
    pub solicits: AtomicU64,
}

impl Log {
    pub fn new() -> Arc<Log> {
        Arc::new(Log::default())
    }

    /// A new packet with a fresh id.
    pub fn pkt(self: &Arc<Self>) -> TPkt {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        TPkt {
            id,
            log: self.clone(),
        }
    }

    fn report(&self, pkt: TPkt, fate: Fate) {
        let mut f = self.fates.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = f.insert(pkt.id, fate) {
            panic!(
                "packet {} reported twice: first {old:?}, then {fate:?}",
                pkt.id
            );
        }
        drop(f);
        drop(pkt);
    }

    /// The caller got `pkt` back from `event_send` (and sends it itself).
    pub fn handed_back(&self, pkt: TPkt) {
        self.report(pkt, Fate::HandedBack);
    }

    /// Packets given to the cache (created, less those handed back).
    pub fn given(&self) -> u64 {
        self.created() - self.count(Fate::HandedBack)
    }

    /// Packets created.
    pub fn created(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed)
    }

    /// Packets reported (each exactly once, or `report` panicked).
    pub fn reported(&self) -> u64 {
        self.fates.lock().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    /// Packet objects dropped.
    pub fn freed(&self) -> u64 {
        self.freed.load(Ordering::Relaxed)
    }

    /// How many packets met `fate`.
    pub fn count(&self, fate: Fate) -> u64 {
        let f = self.fates.lock().unwrap_or_else(|e| e.into_inner());
        f.values().filter(|&&x| x == fate).count() as u64
    }

    /// Every packet created was reported exactly once and freed: none lost
    /// (freed without a report), none leaked (still held by the cache).
    pub fn assert_all_accounted(&self) {
        let created = self.created();
        let f = self.fates.lock().unwrap_or_else(|e| e.into_inner());
        for id in 0..created {
            assert!(
                f.contains_key(&id),
                "packet {id} lost: never transmitted, discarded or error-reported \
                 ({} of {created} reported)",
                f.len()
            );
        }
        assert_eq!(f.len() as u64, created, "reports for unknown packets");
        drop(f);
        assert_eq!(
            self.freed(),
            created,
            "packet objects leaked inside the cache (freed {} of {created})",
            self.freed()
        );
    }
}

/// A test packet: an id, and a link to the log so that its drop is counted.
pub struct TPkt {
    pub id: u64,
    log: Arc<Log>,
}

impl Drop for TPkt {
    fn drop(&mut self) {
        self.log.freed.fetch_add(1, Ordering::Relaxed);
    }
}

impl Packet for TPkt {
    fn len(&self) -> usize {
        64
    }
}

/// The device side: records every packet's fate in the [`Log`].
pub struct TestOps {
    pub log: Arc<Log>,
}

impl NeighOps<Ipv4Addr> for TestOps {
    type Packet = TPkt;

    fn transmit(&self, _dev: DevId, hh: &[u8], pkt: TPkt) {
        assert_eq!(hh.len(), 14, "transmit without a complete Ethernet header");
        assert!(
            hh[..6] != [0; 6] && hh[12..] == [0x08, 0x00],
            "transmitted with an unwritten link-layer header: {hh:02x?}"
        );
        self.log.report(pkt, Fate::Sent);
    }

    fn solicit(&self, _dev: DevId, _key: &Ipv4Addr, _probe: Probe) {
        self.log.solicits.fetch_add(1, Ordering::Relaxed);
    }

    fn error_report(&self, _dev: DevId, _key: &Ipv4Addr, pkt: TPkt) {
        self.log.report(pkt, Fate::ErrorReport);
    }

    fn discard(&self, _dev: DevId, _key: &Ipv4Addr, pkt: TPkt, reason: DropReason) {
        self.log.report(pkt, Fate::Discard(reason));
    }
}

/// The table type of every scenario.
pub type Table = NeighTable<Ipv4Addr, TestOps>;

/// Small, deterministic parameters: `delay_probe_time` [`DELAY`], 100-tick
/// retransmits, one unicast and one multicast probe, 1-tick `gc_staletime`,
/// no `locktime`.
pub fn model_parms() -> NeighParms {
    NeighParms {
        base_reachable_time: 1000,
        retrans_time: 100,
        delay_probe_time: DELAY,
        gc_staletime: 1,
        ucast_probes: 1,
        mcast_probes: 1,
        mcast_reprobes: 0,
        app_probes: 0,
        unres_qlen: 4,
        locktime: 0,
        ..NeighParms::default()
    }
}

/// A table configuration for models: [`model_parms`], GC from the first
/// entry (`gc_thresh1 = 0`), a periodic GC that `run_timers` never triggers
/// by itself during a model (scenarios call `gc()`), a fixed hash seed (a
/// replayed schedule must see the same table), one timer base.
pub fn model_config() -> TableConfig {
    TableConfig {
        parms: model_parms(),
        gc_interval: 1_000_000,
        gc_thresh1: 0,
        gc_thresh2: 512,
        gc_thresh3: 1024,
        initial_hash_shift: 1,
        timer_bases: 1,
        seed: 0x5eed_2c51_a97f,
    }
}

/// A table with [`DEV`] registered, its clock at tick 1 and its first
/// (empty) periodic GC pass done, so that `run_timers` runs no GC until
/// `gc_interval` later.
pub fn new_table(cfg: TableConfig, log: &Arc<Log>) -> Table {
    let t = NeighTable::new(cfg, TestOps { log: log.clone() }).expect("valid config");
    t.add_device(DEV, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .expect("new device");
    t.run_timers(1).expect("time moves forward");
    t
}

/// Advance the table's clock to at least `now` (a concurrent advance to a
/// later tick wins; that is not an error for a model thread).
pub fn advance(t: &Table, now: Tick) {
    match t.run_timers(now) {
        Ok(_) | Err(neighcache::NeighError::TimeWentBackwards { .. }) => {}
        Err(e) => panic!("run_timers: {e}"),
    }
}

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

pub mod s1;
