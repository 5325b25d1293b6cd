//! The soak's numbers: latency histograms (HDR, 3 significant digits), the
//! per-second row, the progress line and the final summary with the packet
//! ledger check. Owns formatting and the checks; runs no table operation.

use crate::world::Ledger;
use hdrhistogram::Histogram;
use neighcache::NeighStats;

/// A latency histogram in nanoseconds, 1 ns to 100 s.
#[derive(Clone)]
pub struct Lat(Histogram<u64>);

impl Lat {
    pub fn new() -> Lat {
        Lat(Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("static bounds are valid"))
    }

    /// Record one operation of `ns` nanoseconds (longer than the bound is
    /// recorded as the bound).
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.0.saturating_record(ns.max(1));
    }

    pub fn add(&mut self, o: &Lat) {
        // Same bounds on both sides: cannot fail.
        let _ = self.0.add(&o.0);
    }

    pub fn reset(&mut self) {
        self.0.reset();
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at quantile `q` (0 when empty).
    pub fn q(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.value_at_quantile(q)
        }
    }

    pub fn max(&self) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.max()
        }
    }
}

/// `850ns`, `1.72us`, `12.3ms`, `1.20s`.
pub fn dur(ns: u64) -> String {
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.2}us", f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2}ms", f / 1e6)
    } else {
        format!("{:.2}s", f / 1e9)
    }
}

/// One second of the run, as printed and plotted (longer when a call
/// stalled the main thread past a second boundary: then the rates are per
/// second of that longer interval and its row is stamped with its end).
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// Whole seconds since the start of the run, at the report.
    pub t: u64,
    pub entries: usize,
    pub pkts: u64,
    pub churn: u64,
    pub rss: u64,
    pub pkt_p50: u64,
    pub pkt_p99: u64,
    pub pkt_p999: u64,
    pub pkt_max: u64,
    pub churn_p50: u64,
    pub churn_p99: u64,
    pub churn_p999: u64,
    pub churn_max: u64,
    pub timers_max: u64,
    /// The longest single call of any kind in this second.
    pub pause: u64,
    /// The longest single call of any kind since the start.
    pub pause_seen: u64,
}

pub fn header() -> String {
    format!(
        "{:>4} {:>9} {:>8} {:>7} {:>7} | {:>33} | {:>33} | {:>8} {:>8} {:>8}",
        "t s",
        "entries",
        "pkts/s",
        "churn/s",
        "RSS MiB",
        "lookup+output p50 / p99 / p99.9 / max",
        "create/update/remove p50 / p99 / p99.9 / max",
        "timers",
        "pause",
        "longest"
    )
}

impl Row {
    pub fn line(&self) -> String {
        format!(
            "{:>4} {:>9} {:>8} {:>7} {:>7.1} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8}",
            self.t,
            self.entries,
            self.pkts,
            self.churn,
            mib(self.rss),
            dur(self.pkt_p50),
            dur(self.pkt_p99),
            dur(self.pkt_p999),
            dur(self.pkt_max),
            dur(self.churn_p50),
            dur(self.churn_p99),
            dur(self.churn_p999),
            dur(self.churn_max),
            dur(self.timers_max),
            dur(self.pause),
            dur(self.pause_seen),
        )
    }
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The process's resident set (`VmRSS`), in bytes; 0 where there is no
/// `/proc/self/status` (not Linux).
pub fn rss() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// One summary row: `name count p50 p99 p99.9 max`.
pub fn summary_row(name: &str, l: &Lat) {
    println!(
        "  {name:<34} {:>12} {:>9} {:>9} {:>9} {:>9}",
        l.count(),
        dur(l.q(0.5)),
        dur(l.q(0.99)),
        dur(l.q(0.999)),
        dur(l.max())
    );
}

/// Print the packet ledger and check it: every packet handed in was
/// transmitted, reported or dropped, and the table's counters say the same.
/// Returns the failures (empty when exact).
pub fn ledger(handed_in: u64, seen: Ledger, s: &NeighStats) -> Vec<String> {
    let dropped_other = s.dropped() - s.dropped_res_failed;
    println!("packet ledger (the device side's counts | the table's counters):");
    println!(
        "  handed to output calls      {handed_in:>12} | packets_in {:>12}",
        s.packets_in()
    );
    println!(
        "  transmitted                 {:>12} | sent {} + flushed {} = {}",
        seen.transmitted,
        s.sent,
        s.flushed,
        s.sent + s.flushed
    );
    println!(
        "  error_report                {:>12} | dropped_res_failed {}",
        seen.error_reported, s.dropped_res_failed
    );
    println!(
        "  dropped by the table        {:>12} | other drops {dropped_other} (queue overflow {}, dead {}, device down {}, destroyed {}, table full {}, failed {}, unwound {})",
        seen.dropped,
        s.unres_discards,
        s.dropped_dead,
        s.dropped_device_down,
        s.dropped_destroyed,
        s.dropped_table_full,
        s.dropped_failed,
        s.dropped_unwound
    );
    println!(
        "  still queued                {:>12} | packets_queued_now {}",
        handed_in.saturating_sub(seen.total()),
        s.packets_queued_now()
    );
    let mut bad = Vec::new();
    let mut check = |ok: bool, what: &str| {
        if !ok {
            bad.push(what.to_string());
        }
    };
    check(handed_in == s.packets_in(), "handed in != packets_in");
    check(
        seen.transmitted == s.sent + s.flushed,
        "transmitted != sent + flushed",
    );
    check(
        seen.error_reported == s.dropped_res_failed,
        "error_report calls != dropped_res_failed",
    );
    check(
        seen.dropped == dropped_other,
        "packets dropped != the table's other drops",
    );
    check(
        s.packets_queued_now() == 0,
        "packets still queued after the flush",
    );
    check(
        handed_in == seen.total(),
        "handed in != transmitted + reported + dropped",
    );
    bad
}
