//! The mirror under load: 10,000 entries added and then deleted in one
//! `ip -batch` each converge exactly, with the default receive buffer and
//! with one small enough that the kernel drops notifications (`ENOBUFS`),
//! which the mirror recovers from with resyncs that apply only the
//! difference (each entry gets one event per real change); and the latency
//! from a kernel change to the table's change over 1,000 changes. Times
//! are printed, never asserted.

use crate::mirror::{self, Env};
use neighcache::netlink::MirrorConfig;
use neighcache::{EventFilter, EventKind, NudState, Received};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

pub const BULK: u32 = 10_000;

fn bulk_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 78, (i >> 8) as u8, i as u8)
}

fn lines(del: bool) -> String {
    let mut s = String::new();
    for i in 0..BULK {
        if del {
            let _ = writeln!(s, "neigh del {} dev v0", bulk_addr(i));
        } else {
            let _ = writeln!(
                s,
                "neigh add {} lladdr 02:00:00:00:{:02x}:{:02x} dev v0 nud permanent",
                bulk_addr(i),
                (i >> 8) as u8,
                i as u8
            );
        }
    }
    s
}

/// Add then delete `BULK` entries in one batch each, the mirror's socket
/// buffer `rcvbuf`; returns the failures. `overrun`: the run must overrun.
pub fn run(env: &Env, label: &str, rcvbuf: Option<usize>, overrun: bool) -> Vec<String> {
    let mut bad = Vec::new();
    let mut rt = env.rtnl();
    let table = Env::table::<Ipv4Addr>();
    let events = table
        .subscribe(1 << 18, EventFilter::All)
        .expect("subscribe");
    let m = env
        .mirror(
            &table,
            MirrorConfig {
                rcvbuf,
                ..env.cfg()
            },
        )
        .spawn()
        .expect("mirror thread");
    for (phase, del) in [("added", false), ("deleted", true)] {
        let input = lines(del);
        let t0 = Instant::now();
        env.batch(&input);
        let kernel_done = t0.elapsed();
        match mirror::converge(env, &mut rt, &table, Duration::from_secs(30), false) {
            Ok(_) => println!(
                "  {label}: {BULK} entries {phase} in one ip -batch: the kernel took {:.0} ms, \
                 the table equal to the kernel's dump {:.0} ms after the batch started \
                 (resyncs so far {})",
                kernel_done.as_secs_f64() * 1e3,
                t0.elapsed().as_secs_f64() * 1e3,
                m.stats().resyncs
            ),
            Err(d) => bad.push(format!(
                "{label} {phase}: not equal after 30 s ({} differences), first: {:?}",
                d.len(),
                d.first()
            )),
        }
    }
    let stats = m.stop().expect("mirror stopped cleanly").stats();
    println!("  {label}: counters {stats:?}");
    if overrun && stats.resyncs == 0 {
        bad.push(format!(
            "{label}: the socket never overran (rcvbuf {rcvbuf:?})"
        ));
    }
    // One event per real change: each entry became PERMANENT once and was
    // deleted once; at most one FAILED step (announced by the kernel's
    // `ip neigh del`, absent when a resync found it gone).
    let mut per: HashMap<IpAddr, [u32; 3]> = HashMap::new();
    let mut lost = 0;
    while let Some(r) = events.try_recv() {
        match r {
            Received::Event(e) => {
                let c = per.entry(e.key.into()).or_default();
                match e.kind {
                    EventKind::Change if e.state == NudState::PERMANENT => c[0] += 1,
                    EventKind::Change if e.state == NudState::FAILED => c[1] += 1,
                    EventKind::Delete => c[2] += 1,
                    _ => {}
                }
            }
            Received::Lost(n) => lost += n,
        }
    }
    if lost > 0 {
        bad.push(format!("{label}: the test's event queue lost {lost}"));
    }
    let odd: Vec<String> = per
        .iter()
        .filter(|(ip, c)| {
            let ours = matches!(ip, IpAddr::V4(a) if a.octets()[..2] == [10, 78]);
            !ours || c[0] != 1 || c[1] > 1 || c[2] != 1
        })
        .take(5)
        .map(|(ip, c)| format!("{ip}: {c:?} (to PERMANENT, to FAILED, deleted)"))
        .collect();
    if per.len() != BULK as usize || !odd.is_empty() {
        bad.push(format!(
            "{label}: events are not one per real change: {} keys, e.g. {odd:?}",
            per.len()
        ));
    }
    bad
}

/// 1,000 changes made over rtnetlink, each waited for in the table:
/// p50/p99/max of kernel request -> table event, printed.
pub fn latency(env: &Env) -> Vec<String> {
    const N: u32 = 1000;
    let mut rt = env.rtnl();
    let table = Env::table::<Ipv4Addr>();
    let m = env
        .mirror(&table, env.cfg())
        .spawn()
        .expect("mirror thread");
    let events = table
        .subscribe(1 << 12, EventFilter::All)
        .expect("subscribe");
    let mut lat = Vec::with_capacity(N as usize);
    let mut missed = 0;
    for i in 0..N {
        let dst = Ipv4Addr::new(10, 79, (i >> 8) as u8, i as u8);
        let mac = [2, 0, 0, 9, (i >> 8) as u8, i as u8];
        let t0 = Instant::now();
        rt.replace(env.ifindex, dst.into(), &mac, 0x80)
            .expect("RTM_NEWNEIGH");
        let seen = loop {
            match events.try_recv() {
                Some(Received::Event(e))
                    if e.key == dst
                        && e.kind == EventKind::Change
                        && e.state == NudState::PERMANENT =>
                {
                    break true
                }
                Some(_) => {}
                None if t0.elapsed() > Duration::from_secs(2) => break false,
                None => std::hint::spin_loop(),
            }
        };
        if seen {
            lat.push(t0.elapsed());
        } else {
            missed += 1;
        }
    }
    drop(m);
    env.ip("neigh flush dev v0 nud permanent");
    lat.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "  latency, kernel change (RTM_NEWNEIGH sent) -> table event, {} changes: \
         p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, max {:.0} us",
        lat.len(),
        us(mirror::pct(&lat, 50)),
        us(mirror::pct(&lat, 90)),
        us(mirror::pct(&lat, 99)),
        us(lat.last().copied().unwrap_or_default()),
    );
    if missed > 0 {
        vec![format!(
            "latency: {missed} of {N} changes never reached the table"
        )]
    } else {
        Vec::new()
    }
}
