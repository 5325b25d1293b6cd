//! Comparing the kernel's run with ours, row by row, with stated
//! tolerances, and sorting every difference into: a match, a known and
//! documented difference that the table's maintainers will remove (listed
//! in [`EXPECTED_UNTIL_FIXED`]), or an unexplained mismatch (the test
//! fails). Owns the rows, the tolerances and the table printing.
//!
//! Tolerance of a timed row = the kernel's timer slack for the delays
//! involved + ours (2 ms per timer: the 1 ms timer thread and the 1 ms
//! tick) + twice the sampling period (one per side) + the worst poll
//! wake-up lateness measured during the run + 5 ms for syscalls. The
//! kernel's slack (HZ read from /proc/config.gz) is what its timer wheel
//! (kernel/time/timer.c, `calc_wheel_index`) allows: an expiry is rounded
//! up to the granularity of the wheel level it falls in (1, 8, 64, 512
//! jiffies for delays below 63, 504, 4032 jiffies and beyond), plus one
//! jiffy for the tick edge. At HZ=250: 8 ms below 252 ms, 36 ms up to
//! 2.016 s, 260 ms up to 16 s.

use crate::scenario::{Obs, Val, POLL};
use crate::topo::{Fam, MCAST, RETRANS_MS, UCAST};
use std::fmt::Write as _;

/// A difference from Linux 6.x that the table still has on purpose until
/// the maintainers port the change (notes/kernel-6x-neigh.md). When an item
/// is implemented, delete it here: rows it used to explain must then match.
pub struct KnownDiff {
    pub id: &'static str,
    pub source: &'static str,
    pub what: &'static str,
}

/// Known differences from Linux 6.x. Empty: the table follows 6.x in every
/// behaviour the scenario measures (SPEC.md "3.10 vs now" lists what it
/// still does differently on purpose, none of which this scenario sees).
/// The two entries that were here, `hz2-floor` (19e16d220f0a) and
/// `stale-demotes` (6.x `__neigh_update`), were removed when the table
/// adopted those rules; a future known difference is added here with the
/// rows it explains (`Row::known`).
pub const EXPECTED_UNTIL_FIXED: &[KnownDiff] = &[];

/// What ours would measure under a known difference.
#[derive(Clone, Copy)]
// No row expects a known difference today (`EXPECTED_UNTIL_FIXED` is empty).
#[allow(dead_code)]
pub enum Predict {
    /// A duration: (value, tolerance) in ms.
    Ms(f64, f64),
    Text(&'static str),
}

/// Inputs of the tolerances.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    pub hz: u64,
    pub jitter_ms: f64,
}

impl Ctx {
    /// The kernel timer wheel's worst lateness for one timer of `d_ms`.
    pub fn kslack(&self, d_ms: f64) -> f64 {
        let jiffy = 1000.0 / self.hz as f64;
        let j = (d_ms / jiffy).ceil();
        let gran = if j < 63.0 {
            1.0
        } else if j < 504.0 {
            8.0
        } else if j < 4032.0 {
            64.0
        } else {
            512.0
        };
        (gran + 1.0) * jiffy
    }

    /// Tolerance for a duration made of `timers` kernel timers of `d_ms`.
    pub fn tol(&self, timers: u32, d_ms: f64) -> f64 {
        let poll = POLL.as_secs_f64() * 1000.0;
        timers as f64 * (self.kslack(d_ms) + 2.0) + 2.0 * poll + self.jitter_ms + 5.0
    }

    /// Tolerance of ours alone (a prediction of our value under a known
    /// difference; none is listed today).
    #[allow(dead_code)]
    pub fn ours_tol(&self, timers: u32) -> f64 {
        let poll = POLL.as_secs_f64() * 1000.0;
        timers as f64 * 2.0 + 2.0 * poll + self.jitter_ms + 5.0
    }
}

pub enum Kind {
    /// Timed: tolerance from the context.
    Ms(fn(&Ctx) -> f64),
    /// Counted or named: must be equal; `exact` pins the required value.
    Exact(Option<Val>),
}

/// A known difference that may explain a row, and what ours then measures.
pub type Explained = (&'static str, fn(&Ctx) -> Predict);

pub struct Row {
    pub id: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    /// Known differences that may explain a mismatch, with what ours would
    /// then measure.
    pub known: &'static [Explained],
}

fn rows() -> Vec<Row> {
    use Kind::*;
    let reach = |c: &Ctx| c.tol(1, 3000.0);
    vec![
        Row {
            id: "resolve_ms",
            label: "first packet -> REACHABLE (ms)",
            kind: Ms(|c| c.tol(0, 0.0)),
            known: &[],
        },
        Row {
            id: "resolve_probes",
            label: "broadcast/multicast probes to resolve",
            kind: Exact(Some(Val::Count(1))),
            known: &[],
        },
        Row {
            id: "reachable_late_ms",
            label: "REACHABLE -> STALE beyond reachable_time (ms)",
            kind: Ms(reach),
            known: &[],
        },
        Row {
            id: "delay_after_peer_request",
            label: "DELAY + peer's request for our address -> state",
            kind: Exact(Some(Val::Text("DELAY".into()))),
            known: &[],
        },
        Row {
            id: "delay_ms",
            label: "DELAY -> PROBE (ms)",
            kind: Ms(|c| c.tol(1, 1000.0)),
            known: &[],
        },
        Row {
            id: "probe_ucast_answered",
            label: "unicast probes until REACHABLE (wire)",
            kind: Exact(Some(Val::Count(1))),
            known: &[],
        },
        Row {
            id: "reachable_late2_ms",
            label: "REACHABLE -> STALE beyond reachable_time, 2nd (ms)",
            kind: Ms(reach),
            known: &[],
        },
        Row {
            id: "delay2_ms",
            label: "DELAY -> PROBE, peer silent (ms)",
            kind: Ms(|c| c.tol(1, 1000.0)),
            known: &[],
        },
        Row {
            id: "probe_to_failed_ms",
            label: "PROBE -> FAILED, peer silent (ms)",
            kind: Ms(|c| c.tol(UCAST, RETRANS_MS as f64)),
            known: &[],
        },
        Row {
            id: "failed_ucast_probes",
            label: "unicast probes before FAILED (wire)",
            kind: Exact(Some(Val::Count(UCAST as u64))),
            known: &[],
        },
        Row {
            id: "ucast_interval_ms",
            label: "unicast probe interval (wire, ms)",
            kind: Ms(|c| c.tol(1, RETRANS_MS as f64)),
            known: &[],
        },
        Row {
            id: "incomplete_to_failed_ms",
            label: "FAILED -> send -> INCOMPLETE -> FAILED (ms)",
            kind: Ms(|c| c.tol(MCAST, RETRANS_MS as f64)),
            known: &[],
        },
        Row {
            id: "failed_mcast_probes",
            label: "broadcast/multicast probes before FAILED (wire)",
            kind: Exact(Some(Val::Count(MCAST as u64))),
            known: &[],
        },
        Row {
            id: "mcast_interval_ms",
            label: "broadcast/multicast probe interval (wire, ms)",
            kind: Ms(|c| c.tol(1, RETRANS_MS as f64)),
            known: &[],
        },
        Row {
            id: "reported",
            label: "queued packets reported unreachable",
            kind: Exact(Some(Val::Count(2))),
            known: &[],
        },
        Row {
            id: "resolve2_ms",
            label: "peer back: send -> REACHABLE (ms)",
            kind: Ms(|c| c.tol(0, 0.0)),
            known: &[],
        },
        Row {
            id: "announce_ms",
            label: "announced MAC change: announcement -> new lladdr (ms)",
            kind: Ms(|c| c.tol(0, 0.0)),
            known: &[],
        },
        Row {
            id: "announce_state",
            label: "announced MAC change -> state",
            kind: Exact(Some(Val::Text("STALE".into()))),
            known: &[],
        },
        Row {
            id: "silent_probe_to_failed_ms",
            label: "silent MAC change: PROBE -> FAILED (ms)",
            kind: Ms(|c| c.tol(UCAST, RETRANS_MS as f64)),
            known: &[],
        },
        Row {
            id: "silent_probes_to_old_mac",
            label: "silent MAC change: unicast probes to the old MAC",
            kind: Exact(Some(Val::Count(UCAST as u64))),
            known: &[],
        },
        Row {
            id: "silent_recovery_ms",
            label: "silent MAC change: send -> REACHABLE (ms)",
            kind: Ms(|c| c.tol(0, 0.0)),
            known: &[],
        },
        Row {
            id: "silent_recovered_mac",
            label: "silent MAC change: address after recovery",
            kind: Exact(Some(Val::Text("new MAC".into()))),
            known: &[],
        },
    ]
}

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Match,
    Known(&'static str),
    Mismatch(String),
    Skipped(String),
}

fn fmt_val(v: Option<&Val>) -> String {
    match v {
        Some(Val::Ms(x)) => format!("{x:.1}"),
        Some(Val::Count(n)) => n.to_string(),
        Some(Val::Text(t)) => t.clone(),
        Some(Val::Missing(why)) => format!("missing ({why})"),
        Some(Val::Skipped(why)) => format!("skipped ({why})"),
        None => "missing".into(),
    }
}

fn judge(row: &Row, c: &Ctx, k: Option<&Val>, o: Option<&Val>) -> (Verdict, String) {
    let listed = |id: &str| EXPECTED_UNTIL_FIXED.iter().any(|d| d.id == id);
    for v in [k, o].into_iter().flatten() {
        if let Val::Skipped(why) = v {
            return (Verdict::Skipped(why.clone()), String::new());
        }
    }
    match (&row.kind, k, o) {
        (Kind::Ms(tol), Some(Val::Ms(k)), Some(Val::Ms(o))) => {
            let t = tol(c);
            if (o - k).abs() <= t {
                return (Verdict::Match, format!("±{t:.0}"));
            }
            for (id, p) in row.known {
                if let Predict::Ms(v, pt) = p(c) {
                    if listed(id) && (o - v).abs() <= pt {
                        return (Verdict::Known(id), format!("±{t:.0}; {id}: {v:.0}±{pt:.0}"));
                    }
                }
            }
            (
                Verdict::Mismatch(format!("differ by {:.1} ms, tolerance {t:.0}", o - k)),
                format!("±{t:.0}"),
            )
        }
        (Kind::Exact(want), Some(k), Some(o))
            if !matches!(k, Val::Missing(_)) && !matches!(o, Val::Missing(_)) =>
        {
            if let Some(w) = want.as_ref().filter(|w| *w != k) {
                return (
                    Verdict::Mismatch(format!(
                        "the kernel gave {}, expected {}",
                        fmt_val(Some(k)),
                        fmt_val(Some(w))
                    )),
                    String::new(),
                );
            }
            if o == k {
                return (Verdict::Match, String::new());
            }
            for (id, p) in row.known {
                let hit = match (p(c), o) {
                    (Predict::Text(t), Val::Text(s)) => t == s,
                    _ => false,
                };
                if listed(id) && hit {
                    return (Verdict::Known(id), String::new());
                }
            }
            (Verdict::Mismatch("values differ".into()), String::new())
        }
        _ => (
            Verdict::Mismatch("not measured on both sides".into()),
            String::new(),
        ),
    }
}

/// The comparison of one family: printable table and verdicts.
pub struct Report {
    pub text: String,
    pub unexplained: Vec<String>,
    pub known_seen: Vec<&'static str>,
}

pub fn compare(fam: Fam, c: &Ctx, kernel: &Obs, ours: &Obs) -> Report {
    let mut text = String::new();
    let mut unexplained = Vec::new();
    let mut known_seen = Vec::new();
    let _ = writeln!(
        text,
        "\n{} | transition | kernel | ours | tolerance | verdict",
        fam.name()
    );
    let _ = writeln!(text, "---|---|---:|---:|---|---");
    for row in rows() {
        let (k, o) = (kernel.vals.get(row.id), ours.vals.get(row.id));
        let (v, tol) = judge(&row, c, k, o);
        let vs = match &v {
            Verdict::Match => "match".to_string(),
            Verdict::Known(id) => {
                known_seen.push(*id);
                format!("KNOWN ({id})")
            }
            Verdict::Mismatch(why) => {
                unexplained.push(format!("{} {}: {why}", fam.name(), row.label));
                format!("MISMATCH ({why})")
            }
            Verdict::Skipped(why) => format!("skipped ({why})"),
        };
        let _ = writeln!(
            text,
            "{} | {} | {} | {} | {} | {}",
            fam.name(),
            row.label,
            fmt_val(k),
            fmt_val(o),
            tol,
            vs
        );
    }
    for (side, obs) in [("kernel", kernel), ("ours", ours)] {
        if let Some(Val::Missing(why)) = obs.vals.get("aborted_at") {
            unexplained.push(format!("{} {side} run aborted: {why}", fam.name()));
        }
    }
    Report {
        text,
        unexplained,
        known_seen,
    }
}
