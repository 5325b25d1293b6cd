//! The proxy differential: the Linux kernel as the proxying host versus
//! neighcache, each asked by a Linux requester, with `proxy_delay` 0 and
//! 800 ms (the kernel's default), IPv4 and IPv6. Does the requester end up
//! with the same answer (the proxy's MAC, REACHABLE), at similar times?
//!
//! Rows and their tolerances (printed with the table; the test fails on any
//! row outside them):
//!
//! * **Immediate answers** (`proxy_delay` 0, and a unicast request with
//!   `proxy_delay` 800): request to REACHABLE in the requester, median of 5,
//!   or raw request to answer. Tolerance `15 ms + the worst poll lateness
//!   of the run`: two 1 ms polls (one per side), our receive thread and
//!   1 ms timer thread, syscalls on a shared 2-core machine.
//! * **Delayed answers** (`proxy_delay` 800, broadcast ARP / multicast NS,
//!   10 requests per side and family): every one answered, none later than
//!   `800 ms + the kernel's timer slack for an 800 ms timer + the immediate
//!   tolerance`. The delays are random, uniform on `[0, 800)` on both
//!   sides, so values are compared as distributions: the means may differ
//!   by `4 * sqrt(2) * 800 / sqrt(12 * 10)` = 413 ms (four standard
//!   deviations of a difference of two means: a false alarm about once in
//!   15,000 runs) plus the slack, and each side must have answered at least
//!   one request later than 200 ms (all ten below 200 ms: probability
//!   (1/4)^10, about 10^-6), which shows the delay is applied.
//! * **Values** (the MAC, the states, the NA flags, whether a non-proxied
//!   address is answered) must be equal.

use crate::proxy_side::{Side, N4, N6, P4, P6, Q4, Q6, R4, X_MAC};
use crate::topo::fmt_mac;
use crate::verdict::Ctx;
use neighcache::NudState;
use std::net::IpAddr;
use std::time::Duration;

const TRIALS_NOW: usize = 5;
const TRIALS_DELAYED: usize = 10;
const DELAY_MS: u64 = 800;

type Answer = Option<(f64, [u8; 6], NudState)>;

/// What one side measured for one family.
pub struct Obs {
    now: Vec<Answer>,
    caches_requester: Option<NudState>,
    prefix: Answer,
    delayed: Vec<Answer>,
    unicast: Option<(f64, u8)>,
    not_proxied: Option<(f64, u8)>,
}

fn measure(side: &Side, v6: bool) -> Result<Obs, String> {
    let (target, requester, other) = if v6 {
        (IpAddr::V6(P6), IpAddr::V6(Q6), IpAddr::V6(N6))
    } else {
        (IpAddr::V4(P4), IpAddr::V4(Q4), IpAddr::V4(N4))
    };
    side.set_delay(0)?;
    let mut now = vec![side.resolve(target)];
    // Right after the first answer: the proxy cached the requester (ARP:
    // STALE; ND: STALE, then DELAY as the NA left through that entry).
    let caches_requester = side.x_entry_for_q(requester);
    now.extend((1..TRIALS_NOW).map(|_| side.resolve(target)));
    let prefix = if v6 {
        None
    } else {
        side.resolve(IpAddr::V4(R4))
    };
    side.set_delay(DELAY_MS)?;
    let delayed = (0..TRIALS_DELAYED).map(|_| side.resolve(target)).collect();
    let wait = Duration::from_millis(300);
    Ok(Obs {
        now,
        caches_requester,
        prefix,
        delayed,
        unicast: side.unicast(target, wait),
        not_proxied: side.unicast(other, wait),
    })
}

/// Both families on one side.
pub fn observe(side: &Side) -> [Obs; 2] {
    [false, true].map(|v6| measure(side, v6).unwrap_or_else(|e| panic!("{}: {e}", side.name)))
}

fn ms(v: &[Answer]) -> Vec<f64> {
    v.iter().flatten().map(|a| a.0).collect()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v.get(v.len() / 2).copied()
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn show(a: &Answer) -> String {
    match a {
        Some((_, mac, st)) => format!("{} {st:?}", fmt_mac(mac)),
        None => "no answer".into(),
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}"))
}

/// One compared row.
struct Row {
    label: String,
    kernel: String,
    ours: String,
    tolerance: String,
    ok: bool,
}

/// Compare one family: the rows, printed by the caller.
fn compare(fam: &str, c: &Ctx, k: &Obs, o: &Obs) -> Vec<Row> {
    let now_tol = 15.0 + c.jitter_ms;
    let late_bound = DELAY_MS as f64 + c.kslack(DELAY_MS as f64) + now_tol;
    let mean_tol = 4.0 * 2f64.sqrt() * DELAY_MS as f64 / (12.0 * TRIALS_DELAYED as f64).sqrt()
        + c.kslack(DELAY_MS as f64);
    let mut rows = Vec::new();
    let mut row = |label: &str, kernel: String, ours: String, tolerance: String, ok: bool| {
        rows.push(Row {
            label: format!("{fam}: {label}"),
            kernel,
            ours,
            tolerance,
            ok,
        })
    };
    let same = |a: &str, b: &str| a == b;
    let within = |a: Option<f64>, b: Option<f64>, t: f64| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= t,
        _ => false,
    };
    let (mk, mo) = (median(ms(&k.now)), median(ms(&o.now)));
    row(
        "proxy_delay 0: request -> REACHABLE in the requester (ms, median of 5)",
        opt_ms(mk),
        opt_ms(mo),
        format!("±{now_tol:.0}"),
        within(mk, mo, now_tol) && ms(&k.now).len() == TRIALS_NOW && ms(&o.now).len() == TRIALS_NOW,
    );
    let (ak, ao) = (show(&k.now[0]), show(&o.now[0]));
    let expect = format!("{} REACHABLE", fmt_mac(&X_MAC));
    row(
        "proxy_delay 0: the requester's entry",
        ak.clone(),
        ao.clone(),
        String::new(),
        same(&ak, &ao) && ak == expect,
    );
    let st = |s: Option<NudState>| s.map_or("none".into(), |s| format!("{s:?}"));
    let (ck, co): (String, String) = (st(k.caches_requester), st(o.caches_requester));
    row(
        "the proxy caches the requester",
        ck.clone(),
        co.clone(),
        String::new(),
        same(&ck, &co) && k.caches_requester.is_some(),
    );
    if fam == "IPv4" {
        let (pk, po) = (show(&k.prefix), show(&o.prefix));
        row(
            "198.18.1.70 (kernel: proxy_arp + route; ours: 198.18.1.64/26 entry)",
            pk.clone(),
            po.clone(),
            String::new(),
            same(&pk, &po) && pk == expect,
        );
    }
    let (dk, dox) = (ms(&k.delayed), ms(&o.delayed));
    let answered = |v: &[f64]| format!("{}/{TRIALS_DELAYED}", v.len());
    row(
        "proxy_delay 800: broadcast/multicast requests answered",
        answered(&dk),
        answered(&dox),
        String::new(),
        dk.len() == TRIALS_DELAYED && dox.len() == TRIALS_DELAYED,
    );
    let fmax = |v: &[f64]| {
        v.iter()
            .copied()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    let fmin = |v: &[f64]| {
        v.iter()
            .copied()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))))
    };
    row(
        "proxy_delay 800: earliest / latest answer (ms)",
        format!("{} / {}", opt_ms(fmin(&dk)), opt_ms(fmax(&dk))),
        format!("{} / {}", opt_ms(fmin(&dox)), opt_ms(fmax(&dox))),
        format!("latest <= {late_bound:.0}"),
        fmax(&dk).is_some_and(|m| m <= late_bound) && fmax(&dox).is_some_and(|m| m <= late_bound),
    );
    row(
        "proxy_delay 800: mean answer time (ms)",
        opt_ms(mean(&dk)),
        opt_ms(mean(&dox)),
        format!("±{mean_tol:.0}"),
        within(mean(&dk), mean(&dox), mean_tol),
    );
    let later = |v: &[f64]| v.iter().filter(|x| **x > 200.0).count();
    row(
        "proxy_delay 800: answers later than 200 ms",
        later(&dk).to_string(),
        later(&dox).to_string(),
        ">= 1 each".into(),
        later(&dk) >= 1 && later(&dox) >= 1,
    );
    let (uk, uo) = (k.unicast.map(|u| u.0), o.unicast.map(|u| u.0));
    row(
        "proxy_delay 800: unicast request -> answer (ms)",
        opt_ms(uk),
        opt_ms(uo),
        format!("±{now_tol:.0}"),
        within(uk, uo, now_tol),
    );
    if fam == "IPv6" {
        let flags = |u: Option<(f64, u8)>| {
            u.map_or("-".into(), |(_, f)| {
                let mut s = String::new();
                for (bit, c) in [(0x80, 'R'), (0x40, 'S'), (0x20, 'O')] {
                    if f & bit != 0 {
                        s.push(c);
                    }
                }
                s
            })
        };
        let (fk, fo) = (flags(k.unicast), flags(o.unicast));
        row(
            "NA flags (answer to a unicast NS)",
            fk.clone(),
            fo.clone(),
            String::new(),
            same(&fk, &fo) && fk == "S",
        );
    }
    let yn = |u: Option<(f64, u8)>| if u.is_some() { "answered" } else { "no answer" }.to_string();
    let (nk, no) = (yn(k.not_proxied), yn(o.not_proxied));
    row(
        "an on-link address not proxied",
        nk.clone(),
        no.clone(),
        String::new(),
        same(&nk, &no) && nk == "no answer",
    );
    rows
}

/// Print the table; the unexplained differences.
pub fn report(c: &Ctx, k: &[Obs; 2], o: &[Obs; 2]) -> Vec<String> {
    println!(
        "\nproxy differential: Linux (HZ={}) vs neighcache as the proxying host, a Linux requester; \
         worst poll lateness {:.1} ms (added to the tolerances)",
        c.hz, c.jitter_ms
    );
    println!("| row | kernel | ours | tolerance | verdict |\n|---|---:|---:|---|---|");
    let mut bad = Vec::new();
    for (i, fam) in ["IPv4", "IPv6"].into_iter().enumerate() {
        for r in compare(fam, c, &k[i], &o[i]) {
            let v = if r.ok { "match" } else { "MISMATCH" };
            println!(
                "| {} | {} | {} | {} | {v} |",
                r.label, r.kernel, r.ours, r.tolerance
            );
            if !r.ok {
                bad.push(format!("{}: kernel {}, ours {}", r.label, r.kernel, r.ours));
            }
        }
    }
    for (name, obs) in [("kernel", k), ("ours", o)] {
        for (fam, ob) in ["IPv4", "IPv6"].iter().zip(obs) {
            let v: Vec<String> = ms(&ob.delayed).iter().map(|x| format!("{x:.0}")).collect();
            println!(
                "{name} {fam} proxy_delay 800 answer times (ms): {}",
                v.join(" ")
            );
        }
    }
    bad
}
