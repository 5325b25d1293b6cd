//! A soak of one large IPv4 neighbour table through the public API: what a
//! daemon at a million neighbours pays, second by second.
//!
//! ```text
//! cargo run --release --example soak -- [--entries N] [--secs S] [--churn-rate R] [--svg PATH]
//! ```
//!
//! Three threads: one looks up and sends (`pin` + `lookup_noref` +
//! `output`, a miss through `resolve_output_in`), one churns a pool of keys
//! beside the resolved ones (create + resolve, MAC change, remove), and the
//! main thread drives the timers (`run_timers` every 10 ms with 1 tick =
//! 1 ms, so NUD timers and the periodic GC run at their real periods) and
//! answers the solicitations they send. Every call is timed into an HDR
//! histogram; `--help` lists the flags. Files: `args.rs` (flags),
//! `world.rs` (packets, device side, ledger), `report.rs` (histograms,
//! lines, checks), `plot.rs` (the SVG).

mod args;
mod plot;
mod report;
mod world;

use neighcache::parms::MAX_ENTRIES;
use neighcache::{DevId, DeviceConfig, NeighStats, NeighTable, NudState, TableConfig, UpdateFlags};
use report::{dur, mib, Lat, Row};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use world::{Ledger, Pkt, SoakOps};

type Table = NeighTable<Ipv4Addr, SoakOps>;

const DEV: DevId = DevId(1);
const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xa0];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xb0];
/// The main thread's period: `run_timers`, then the solicitation replies.
const PERIOD: Duration = Duration::from_millis(10);

/// Resolved neighbour `i`: 10.0.0.0 + i.
fn stable_key(i: usize) -> Ipv4Addr {
    Ipv4Addr::from((10u32 << 24) + i as u32)
}

/// Churned neighbour `i`: 100.64.0.0 + i (disjoint from the stable keys).
fn churn_key(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(((100u32 << 24) | (64 << 16)) + i as u32)
}

fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Does the neighbour at `key` never answer (one in `one_in`; none for 0)?
/// Its entry fails after its probes, and the packets queued on it go to
/// `error_report`.
fn silent(key: Ipv4Addr, one_in: u64) -> bool {
    let mut h = u64::from(u32::from(key));
    one_in != 0 && splitmix(&mut h) % one_in == 0
}

/// The packet thread's current second (the main thread takes it).
struct PktInterval {
    hit: Lat,
    miss: Lat,
    handed_in: u64,
}

/// The churn thread's current second.
struct ChurnInterval {
    create: Lat,
    update: Lat,
    remove: Lat,
    errors: u64,
}

struct Shared {
    table: Table,
    stop: AtomicBool,
    pkt: Mutex<PktInterval>,
    churn: Mutex<ChurnInterval>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn elapsed_ns(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn main() {
    let a = match args::Args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{}", args::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("soak: {e}\n\n{}", args::USAGE);
            std::process::exit(2);
        }
    };
    let failures = run(&a);
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("soak: FAILED: {f}");
        }
        std::process::exit(1);
    }
}

fn run(a: &args::Args) -> Vec<String> {
    // Room for every stable and churned key, so that neither forced GC nor
    // TableFull interferes: the table is as large as the run needs.
    let limit = (a.entries + 2 * a.churn_keys + 1024).min(MAX_ENTRIES);
    let cfg = TableConfig {
        gc_thresh2: limit,
        gc_thresh3: limit,
        ..TableConfig::default()
    };
    let t0 = Instant::now();
    let table = match Table::new(cfg, SoakOps::new()) {
        Ok(t) => t,
        Err(e) => return vec![format!("table: {e}")],
    };
    if let Err(e) = table.add_device(DEV, DeviceConfig::ethernet(SRC_MAC, 0x0800)) {
        return vec![format!("device: {e}")];
    }
    let rss_empty = report::rss();
    for i in 0..a.entries {
        let h = match table.lookup_or_create(stable_key(i), DEV) {
            Ok(h) => h,
            Err(e) => return vec![format!("fill: create {}: {e}", stable_key(i))],
        };
        if let Err(e) = table.update(&h, Some(&MAC_A), NudState::REACHABLE, UpdateFlags::OVERRIDE) {
            return vec![format!("fill: resolve {}: {e}", stable_key(i))];
        }
    }
    let s = table.stats();
    let rss_filled = report::rss();
    println!(
        "soak: {} resolved IPv4 entries in {:.2} s ({} buckets); RSS {:.1} MiB (+{:.1} MiB, {:.1} B per entry); \
         churn pool {} keys at {} ops/s; {} s, warm-up {} s",
        s.entries,
        t0.elapsed().as_secs_f64(),
        s.hash_buckets,
        mib(rss_filled),
        mib(rss_filled.saturating_sub(rss_empty)),
        rss_filled.saturating_sub(rss_empty) as f64 / a.entries as f64,
        a.churn_keys,
        if a.churn_rate == 0 { "unlimited".to_string() } else { a.churn_rate.to_string() },
        a.secs,
        a.warmup
    );
    let shared = Arc::new(Shared {
        table,
        stop: AtomicBool::new(false),
        pkt: Mutex::new(PktInterval {
            hit: Lat::new(),
            miss: Lat::new(),
            handed_in: 0,
        }),
        churn: Mutex::new(ChurnInterval {
            create: Lat::new(),
            update: Lat::new(),
            remove: Lat::new(),
            errors: 0,
        }),
    });
    let pkt_thread = {
        let (sh, a) = (shared.clone(), a.clone());
        std::thread::spawn(move || packets(&sh, &a))
    };
    let churn_thread = {
        let (sh, a) = (shared.clone(), a.clone());
        std::thread::spawn(move || churn(&sh, &a))
    };
    let totals = drive(&shared, a, t0);
    shared.stop.store(true, Ordering::Relaxed);
    // The main thread's own counts are added after the flush (`finish`).
    let mut seen = Ledger::default();
    for t in [pkt_thread, churn_thread] {
        match t.join() {
            Ok(l) => seen = seen.add(l),
            Err(_) => return vec!["a worker thread panicked".into()],
        }
    }
    finish(&shared, a, totals, seen)
}

/// The packet thread: pin, look up a random key (1 in 128 from the churned
/// pool, the rest resolved ones), output; a miss goes through
/// `resolve_output_in` (create, queue, solicit). Returns its ledger.
fn packets(sh: &Shared, a: &args::Args) -> Ledger {
    let mut rng = a.seed ^ 0x5041_434b;
    let mut seq = 0u32;
    while !sh.stop.load(Ordering::Relaxed) {
        for _ in 0..256 {
            let r = splitmix(&mut rng);
            let key = if r & 127 == 0 {
                churn_key((r >> 8) as usize % a.churn_keys)
            } else {
                stable_key((r >> 8) as usize % a.entries)
            };
            seq = seq.wrapping_add(1);
            let t = Instant::now();
            let guard = sh.table.pin();
            let hit = match sh.table.lookup_noref(key, DEV, &guard) {
                Some(n) => {
                    sh.table.output(n, Pkt(seq), &guard);
                    true
                }
                None => {
                    sh.table.resolve_output_in(key, DEV, Pkt(seq), &guard);
                    false
                }
            };
            drop(guard);
            let ns = elapsed_ns(t);
            let mut g = lock(&sh.pkt);
            g.handed_in += 1;
            if hit {
                g.hit.record(ns);
            } else {
                g.miss.record(ns);
            }
        }
    }
    Ledger::mine()
}

/// The churn thread: at `churn_rate` operations per second, on a random
/// pool key: create + resolve it if it is (believed) absent, else change a
/// MAC (of that key or of a resolved one) or remove it, with equal odds.
fn churn(sh: &Shared, a: &args::Args) -> Ledger {
    let mut rng = a.seed ^ 0x4348_5552;
    let mut present = vec![false; a.churn_keys];
    let start = Instant::now();
    let mut ops = 0u64;
    let t = &sh.table;
    while !sh.stop.load(Ordering::Relaxed) {
        if a.churn_rate != 0 && ops % 64 == 0 {
            // Pace: sleep while more than 1 ms ahead of the schedule.
            let due = Duration::from_secs_f64(ops as f64 / a.churn_rate as f64);
            let now = start.elapsed();
            if due > now + Duration::from_millis(1) {
                std::thread::sleep(due - now);
            }
        }
        ops += 1;
        let r = splitmix(&mut rng);
        let i = (r >> 8) as usize % a.churn_keys;
        let key = churn_key(i);
        let mac = if r & 1 == 0 { &MAC_A } else { &MAC_B };
        if !present[i] {
            let c = Instant::now();
            let h = t.lookup_or_create(key, DEV);
            let create_ns = elapsed_ns(c);
            let (update_ns, ok) = match &h {
                Ok(h) => {
                    let u = Instant::now();
                    let ok = t
                        .update(h, Some(mac), NudState::REACHABLE, UpdateFlags::OVERRIDE)
                        .is_ok();
                    (Some(elapsed_ns(u)), ok)
                }
                Err(_) => (None, false),
            };
            drop(h);
            present[i] = true;
            let mut g = lock(&sh.churn);
            g.create.record(create_ns);
            if let Some(ns) = update_ns {
                g.update.record(ns);
            }
            g.errors += u64::from(!ok);
        } else if r & 2 == 0 {
            // A MAC change, on this key or on a resolved one.
            let (k, pool) = if r & 4 == 0 {
                (key, true)
            } else {
                (stable_key((r >> 32) as usize % a.entries), false)
            };
            let u = Instant::now();
            let found = match t.lookup(k, DEV) {
                Some(h) => {
                    // Err(Dead): removed meanwhile; counted below.
                    let _ = t.update(&h, Some(mac), NudState::REACHABLE, UpdateFlags::OVERRIDE);
                    true
                }
                None => false,
            };
            let ns = elapsed_ns(u);
            if pool && !found {
                present[i] = false; // collected or removed by someone else
            }
            lock(&sh.churn).update.record(ns);
        } else {
            let u = Instant::now();
            let ok = t.remove(key, DEV).is_ok();
            let ns = elapsed_ns(u);
            present[i] = false;
            let mut g = lock(&sh.churn);
            g.remove.record(ns);
            g.errors += u64::from(!ok);
        }
    }
    Ledger::mine()
}

/// Whole-run histograms, per-second rows and the last maxima.
struct Totals {
    hit: Lat,
    miss: Lat,
    create: Lat,
    update: Lat,
    remove: Lat,
    timers: Lat,
    reply: Lat,
    handed_in: u64,
    churn_errors: u64,
    solicits: u64,
    unanswered: u64,
    rows: Vec<Row>,
}

/// The main thread: timers and replies every 10 ms, a line every second.
fn drive(sh: &Shared, a: &args::Args, t0: Instant) -> Totals {
    let t = &sh.table;
    let mut tot = Totals {
        hit: Lat::new(),
        miss: Lat::new(),
        create: Lat::new(),
        update: Lat::new(),
        remove: Lat::new(),
        timers: Lat::new(),
        reply: Lat::new(),
        handed_in: 0,
        churn_errors: 0,
        solicits: 0,
        unanswered: 0,
        rows: Vec::with_capacity(a.secs as usize + 1),
    };
    // Spare intervals, swapped with the threads' under their locks, so the
    // locks are held for a swap only.
    let mut pkt = PktInterval {
        hit: Lat::new(),
        miss: Lat::new(),
        handed_in: 0,
    };
    let mut ch = ChurnInterval {
        create: Lat::new(),
        update: Lat::new(),
        remove: Lat::new(),
        errors: 0,
    };
    let (mut timers, mut reply) = (Lat::new(), Lat::new());
    let mut solicits = Vec::new();
    let run_start = Instant::now();
    let mut next = run_start + PERIOD;
    // The next report is due at `second` seconds; the last one was at
    // `last` (a stalled call can make an interval span several seconds).
    let (mut second, mut last) = (1, Duration::ZERO);
    println!("{}", report::header());
    loop {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
            next += PERIOD;
        } else {
            // Behind (a long call): no burst of catch-up calls.
            next = now + PERIOD;
        }
        let tick = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        // As `TimerThread` does: call again at once while a call stopped at
        // its budget (`TIMER_RUN_LIMIT`); each call is recorded on its own.
        loop {
            let c = Instant::now();
            if let Err(e) = t.run_timers(tick) {
                eprintln!("soak: run_timers({tick}): {e}");
            }
            timers.record(elapsed_ns(c));
            if !t.timer_backlog() {
                break;
            }
        }
        t.ops().take_solicits(&mut solicits);
        for key in &solicits {
            tot.solicits += 1;
            if silent(*key, a.unanswered) {
                tot.unanswered += 1;
                continue;
            }
            let c = Instant::now();
            // The neighbour answers with the address it has now.
            let _ = t.receive_arp(*key, DEV, &MAC_A, true);
            reply.record(elapsed_ns(c));
        }
        let el = run_start.elapsed();
        if el < Duration::from_secs(second) {
            continue;
        }
        let span = (el - last).as_secs_f64();
        last = el;
        let per_sec = |n: u64| (n as f64 / span).round() as u64;
        std::mem::swap(&mut *lock(&sh.pkt), &mut pkt);
        std::mem::swap(&mut *lock(&sh.churn), &mut ch);
        let mut churn_all = ch.create.clone();
        churn_all.add(&ch.update);
        churn_all.add(&ch.remove);
        let row = Row {
            t: el.as_secs(),
            entries: t.stats().entries,
            pkts: per_sec(pkt.handed_in),
            churn: per_sec(churn_all.count()),
            rss: report::rss(),
            pkt_p50: pkt.hit.q(0.5),
            pkt_p99: pkt.hit.q(0.99),
            pkt_p999: pkt.hit.q(0.999),
            pkt_max: pkt.hit.max(),
            churn_p50: churn_all.q(0.5),
            churn_p99: churn_all.q(0.99),
            churn_p999: churn_all.q(0.999),
            churn_max: churn_all.max(),
            timers_max: timers.max(),
            pause: [
                pkt.hit.max(),
                pkt.miss.max(),
                churn_all.max(),
                timers.max(),
                reply.max(),
            ]
            .into_iter()
            .max()
            .unwrap_or(0),
            pause_seen: 0,
        };
        let seen = tot.rows.last().map_or(0, |r| r.pause_seen);
        let row = Row {
            pause_seen: seen.max(row.pause),
            ..row
        };
        println!("{}", row.line());
        tot.rows.push(row);
        tot.hit.add(&pkt.hit);
        tot.miss.add(&pkt.miss);
        tot.create.add(&ch.create);
        tot.update.add(&ch.update);
        tot.remove.add(&ch.remove);
        tot.timers.add(&timers);
        tot.reply.add(&reply);
        tot.handed_in += pkt.handed_in;
        tot.churn_errors += ch.errors;
        for l in [
            &mut pkt.hit,
            &mut pkt.miss,
            &mut ch.create,
            &mut ch.update,
            &mut ch.remove,
        ] {
            l.reset();
        }
        timers.reset();
        reply.reset();
        pkt.handed_in = 0;
        ch.errors = 0;
        if el.as_secs() >= a.secs {
            break;
        }
        second = el.as_secs() + 1;
    }
    tot
}

/// After the threads stopped: the last partial intervals, the summary, the
/// flush and the ledger, the RSS check and the plot. Returns the failures.
fn finish(sh: &Shared, a: &args::Args, mut tot: Totals, seen: Ledger) -> Vec<String> {
    {
        let p = lock(&sh.pkt);
        tot.hit.add(&p.hit);
        tot.miss.add(&p.miss);
        tot.handed_in += p.handed_in;
        let c = lock(&sh.churn);
        tot.create.add(&c.create);
        tot.update.add(&c.update);
        tot.remove.add(&c.remove);
        tot.churn_errors += c.errors;
    }
    let t = &sh.table;
    let before_flush: NeighStats = t.stats();
    println!();
    println!(
        "summary ({} s, {} threads busy: packets, churn; main: timers and replies)",
        a.secs, 2
    );
    println!(
        "  {:<34} {:>12} {:>9} {:>9} {:>9} {:>9}",
        "operation", "count", "p50", "p99", "p99.9", "max"
    );
    report::summary_row("lookup_noref + output (hit)", &tot.hit);
    report::summary_row("lookup miss + resolve_output_in", &tot.miss);
    report::summary_row("create (lookup_or_create)", &tot.create);
    report::summary_row("update (resolve, MAC change)", &tot.update);
    report::summary_row("remove", &tot.remove);
    report::summary_row("solicitation reply (receive_arp)", &tot.reply);
    report::summary_row("run_timers (every 10 ms)", &tot.timers);
    let pause = [
        &tot.hit,
        &tot.miss,
        &tot.create,
        &tot.update,
        &tot.remove,
        &tot.reply,
        &tot.timers,
    ]
    .iter()
    .map(|l| l.max())
    .max()
    .unwrap_or(0);
    println!("  longest pause (any single call): {}", dur(pause));
    println!(
        "  table: {} entries, {} buckets, {} grows, {} allocs, {} destroys, {} periodic GC runs, {} forced, {} table full; \
         churn errors {} (removed or collected meanwhile); solicitations {} ({} to silent neighbours, unanswered)",
        before_flush.entries,
        before_flush.hash_buckets,
        before_flush.hash_grows,
        before_flush.allocs,
        before_flush.destroys,
        before_flush.periodic_gc_runs,
        before_flush.forced_gc_runs,
        before_flush.table_fulls,
        tot.churn_errors,
        tot.solicits,
        tot.unanswered
    );
    let mut failures = Vec::new();
    // The first report at or after the warm-up, and every one after it.
    let w = tot.rows.iter().position(|r| r.t >= a.warmup);
    let warm = w.map_or(0, |i| tot.rows[i].rss);
    let peak = w
        .and_then(|i| tot.rows[i + 1..].iter().map(|r| r.rss).max())
        .unwrap_or(0);
    let last = tot.rows.last().map_or(0, |r| r.rss);
    if warm > 0 {
        let growth = (peak as f64 / warm as f64 - 1.0) * 100.0;
        println!(
            "  RSS: {:.1} MiB after the {} s warm-up, at most {:.1} MiB after it ({growth:+.2}%), {:.1} MiB at the end",
            mib(warm),
            a.warmup,
            mib(peak),
            mib(last)
        );
        if let Some(max) = a.max_rss_growth {
            if growth > max {
                failures.push(format!(
                    "RSS grew {growth:.2}% after the warm-up (limit {max}%)"
                ));
            }
        }
    } else if a.max_rss_growth.is_some() {
        failures.push("no RSS reading (VmRSS), cannot check --max-rss-growth".into());
    }
    // Drop everything still queued (counted as DeviceDown), then check that
    // every packet is accounted for, on both sides.
    t.flush_dev(None);
    let after = t.stats();
    let seen = seen.add(Ledger::mine());
    println!();
    failures.extend(report::ledger(tot.handed_in, seen, &after));
    if after.entries != 0 || after.allocs != after.destroys {
        failures.push(format!(
            "after the flush: {} entries, {} allocs vs {} destroys",
            after.entries, after.allocs, after.destroys
        ));
    }
    if let Some(path) = &a.svg {
        match plot::write(path, &tot.rows, a.warmup) {
            Ok(()) => println!("plot: {path}"),
            Err(e) => failures.push(format!("plot {path}: {e}")),
        }
    }
    println!(
        "ledger: {}",
        if failures.is_empty() {
            "exact; every check passed"
        } else {
            "see the failures below"
        }
    );
    failures
}
