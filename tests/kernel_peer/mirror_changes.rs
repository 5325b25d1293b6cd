//! Every kind of `ip neigh` change, and the NUD transitions M's kernel
//! makes on its own while resolving P, appear in the mirror exactly: after
//! each step the table equals the kernel's dump (up to the transitions the
//! kernel makes without announcing them: to DELAY, to INCOMPLETE), and at
//! the end each
//! entry's sequence of changes in the table (its events) equals the
//! sequence the kernel announced (`ip monitor neigh`, read on a socket of
//! our own), consecutive repeats collapsed on both sides. Proxy entries,
//! which the kernel does not announce, reach the `Proxy` at a refresh.

use crate::mirror::{self, Env, Image};
use crate::netlink::Rtnl;
use neighcache::netlink::{Family, MirrorConfig};
use neighcache::proto::proxy::Proxy;
use neighcache::{DevId, EventFilter, EventKind, NeighFlags, Received};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `10.77.0.N` or `fd77::N`.
fn a<K: Family>(n: u8) -> IpAddr {
    if K::AF == libc::AF_INET as u8 {
        IpAddr::V4(Ipv4Addr::new(10, 77, 0, n))
    } else {
        IpAddr::V6(Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, u16::from(n)))
    }
}

enum Step {
    Ip(String),
    Poke(IpAddr),
    Sleep(Duration),
}

/// One entry's history: its images, `None` for a deletion.
type History = Vec<Option<Image>>;

fn push(h: &mut History, i: Option<Image>) {
    if h.last() != Some(&i) {
        h.push(i);
    }
}

/// Runs the scenario for family `K`; returns the failures.
pub fn run<K: Family>(env: &Env) -> Vec<String> {
    let fam = if K::AF == libc::AF_INET as u8 {
        "IPv4"
    } else {
        "IPv6"
    };
    let mut bad = Vec::new();
    let mut listener = env.m.run(|| Rtnl::listen().expect("listener in M"));
    let mut rt = env.rtnl();
    let table = Env::table::<K>();
    let proxy = Arc::new(Proxy::new());
    let cfg = MirrorConfig {
        proxy: Some(proxy.clone()),
        ..env.cfg()
    };
    let m = env.mirror(&table, cfg);
    let events = table
        .subscribe(1 << 16, EventFilter::All)
        .expect("subscribe");
    let m = m.spawn().expect("mirror thread");
    let mac = |n: u8| format!("02:00:00:00:00:{n:02x}");
    let ip = |s: String| Step::Ip(s);
    let steps: Vec<(&str, Step)> = vec![
        (
            "add reachable",
            ip(format!(
                "neigh add {} lladdr {} dev v0 nud reachable",
                a::<K>(10),
                mac(0x10)
            )),
        ),
        (
            "replace: new address, stale",
            ip(format!(
                "neigh replace {} lladdr {} dev v0 nud stale",
                a::<K>(10),
                mac(0x11)
            )),
        ),
        // DELAY at once: M's kernel probes the silent address (PROBE, FAILED).
        (
            "change to delay",
            ip(format!("neigh change {} dev v0 nud delay", a::<K>(10))),
        ),
        (
            "the kernel's probes fail: PROBE, FAILED",
            Step::Sleep(Duration::from_millis(800)),
        ),
        (
            "add permanent",
            ip(format!(
                "neigh add {} lladdr {} dev v0 nud permanent",
                a::<K>(11),
                mac(0x11)
            )),
        ),
        (
            "add noarp",
            ip(format!(
                "neigh add {} lladdr {} dev v0 nud noarp",
                a::<K>(12),
                mac(0x12)
            )),
        ),
        (
            "add router",
            ip(format!(
                "neigh add {} lladdr {} dev v0 nud stale router",
                a::<K>(13),
                mac(0x13)
            )),
        ),
        (
            "add extern_learn",
            ip(format!(
                "neigh add {} lladdr {} dev v0 nud noarp extern_learn",
                a::<K>(14),
                mac(0x14)
            )),
        ),
        (
            "replace extern_learn by reachable router",
            ip(format!(
                "neigh replace {} lladdr {} dev v0 nud reachable router",
                a::<K>(14),
                mac(0x15)
            )),
        ),
        (
            "add managed (the kernel resolves it on the wire)",
            ip(format!("neigh add {} dev v0 managed", a::<K>(2))),
        ),
        ("managed resolved", Step::Sleep(Duration::from_millis(300))),
        ("delete", ip(format!("neigh del {} dev v0", a::<K>(13)))),
        (
            "delete permanent",
            ip(format!("neigh del {} dev v0", a::<K>(11))),
        ),
        ("traffic: INCOMPLETE, REACHABLE", Step::Poke(a::<K>(3))),
        ("resolved", Step::Sleep(Duration::from_millis(200))),
        (
            "aged: REACHABLE -> STALE",
            Step::Sleep(Duration::from_millis(mirror::BASE_REACHABLE_MS * 2)),
        ),
        (
            "traffic again: DELAY, PROBE, REACHABLE",
            Step::Poke(a::<K>(3)),
        ),
        ("re-confirmed", Step::Sleep(Duration::from_millis(1500))),
        ("no answer: INCOMPLETE, FAILED", Step::Poke(a::<K>(99))),
        ("failed", Step::Sleep(Duration::from_millis(800))),
        ("flush", ip("neigh flush dev v0".to_string())),
    ];
    for (what, step) in steps {
        match step {
            Step::Ip(s) => env.ip(&s),
            Step::Poke(dst) => env.poke(dst),
            Step::Sleep(d) => std::thread::sleep(d),
        }
        match mirror::converge(env, &mut rt, &table, Duration::from_secs(3), true) {
            Ok(t) => println!(
                "  {fam} {what}: equal after {:.1} ms",
                t.as_secs_f64() * 1e3
            ),
            Err(d) => bad.push(format!(
                "{fam} {what}: not equal after 3 s:\n      {}",
                d.join("\n      ")
            )),
        }
    }
    // Proxy entries: no notification; a refresh reads them.
    let dev = DevId(env.ifindex);
    let p50 = a::<K>(50);
    for (add, cmd) in [(true, "add"), (false, "del")] {
        env.ip(&format!("neigh {cmd} proxy {p50} dev v0"));
        m.refresh();
        let t0 = Instant::now();
        while proxy.lookup(p50, dev).is_some() != add && t0.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(2));
        }
        if proxy.lookup(p50, dev).is_some() != add {
            bad.push(format!("{fam} proxy {cmd}: the Proxy does not follow"));
        }
    }
    std::thread::sleep(Duration::from_millis(50));
    let stats = m.stop().expect("mirror stopped cleanly").stats();
    // The histories: the kernel's announcements against the table's events.
    let mut kernel: BTreeMap<IpAddr, History> = BTreeMap::new();
    for (del, e) in listener.notifications().expect("notifications") {
        if e.ifindex == env.ifindex
            && !e.proxy
            && mirror::compared(e.dst)
            && K::from_ip(e.dst).is_some()
        {
            push(
                kernel.entry(e.dst).or_default(),
                (!del).then(|| mirror::image(&e)),
            );
        }
    }
    let mut ours: BTreeMap<IpAddr, History> = BTreeMap::new();
    while let Some(r) = events.try_recv() {
        let Received::Event(e) = r else {
            bad.push(format!("{fam}: the test's event queue overflowed"));
            continue;
        };
        if e.kind == EventKind::New || !mirror::compared(e.key.to_ip()) {
            continue;
        }
        let img = (e.kind != EventKind::Delete).then(|| {
            (
                e.state.bits(),
                e.lladdr.map(|l| l.as_bytes().to_vec()),
                e.flags.contains(NeighFlags::ROUTER),
                e.flags.contains(NeighFlags::EXT_LEARNED),
                e.flags.contains(NeighFlags::MANAGED),
            )
        });
        push(ours.entry(e.key.to_ip()).or_default(), img);
    }
    let show = |h: &History| {
        h.iter()
            .map(|i| match i {
                None => "deleted".to_string(),
                Some((s, l, r, x, mg)) => format!(
                    "{}{}{}{}{}",
                    neighcache::NudState::from_bits(*s).name(),
                    l.as_ref().map_or(String::new(), |l| format!(" {l:02x?}")),
                    if *r { " router" } else { "" },
                    if *x { " extern_learn" } else { "" },
                    if *mg { " managed" } else { "" }
                ),
            })
            .collect::<Vec<_>>()
            .join(" -> ")
    };
    let keys: std::collections::BTreeSet<&IpAddr> = kernel.keys().chain(ours.keys()).collect();
    for k in keys {
        let (kh, oh) = (
            kernel.get(k).cloned().unwrap_or_default(),
            ours.get(k).cloned().unwrap_or_default(),
        );
        if kh == oh {
            println!("  {fam} {k}: {}", show(&kh));
        } else {
            bad.push(format!(
                "{fam} {k}: kernel announced {}\n      the table went {}",
                show(&kh),
                show(&oh)
            ));
        }
    }
    println!("  {fam} mirror counters: {stats:?}");
    if stats.resyncs != 0 {
        bad.push(format!(
            "{fam}: {} resyncs in a quiet scenario",
            stats.resyncs
        ));
    }
    bad
}

/// Interfaces that appear and go while the mirror runs are followed: a
/// selected one is registered (and its entries mirrored), an unselected one
/// is not, and a deleted one is removed with its entries.
pub fn links(env: &Env) -> Vec<String> {
    let mut bad = Vec::new();
    let table = Env::table::<Ipv4Addr>();
    let cfg = MirrorConfig {
        interfaces: vec!["v0".into(), "lk0".into()],
        ..MirrorConfig::default()
    };
    let m = env.mirror(&table, cfg).spawn().expect("mirror thread");
    env.ip("link add lk0 type veth peer name lk1");
    env.ip("link set lk0 up");
    env.ip("link set lk1 up");
    let idx = |name: &str| -> u32 {
        let out = env
            .m
            .ip(&["-o", "link", "show", name])
            .expect("ip link show");
        out.split(':')
            .next()
            .and_then(|s| s.trim().parse().ok())
            .expect("ifindex")
    };
    let (lk0, lk1) = (DevId(idx("lk0")), DevId(idx("lk1")));
    let dst = Ipv4Addr::new(10, 88, 0, 1);
    env.ip(&format!(
        "neigh add {dst} lladdr 02:00:00:00:88:01 dev lk0 nud permanent"
    ));
    env.ip(&format!(
        "neigh add {dst} lladdr 02:00:00:00:88:02 dev lk1 nud permanent"
    ));
    let wait = |f: &dyn Fn() -> bool| {
        let t0 = Instant::now();
        while !f() && t0.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(2));
        }
        f()
    };
    if !wait(&|| table.lookup(dst, lk0).is_some()) {
        bad.push("links: a selected interface created later is not mirrored".into());
    }
    if table.device_parms(lk1).is_some() || table.lookup(dst, lk1).is_some() {
        bad.push("links: an unselected interface is mirrored".into());
    }
    env.ip("link del lk0");
    if !wait(&|| table.device_parms(lk0).is_none() && table.lookup(dst, lk0).is_none()) {
        bad.push("links: a deleted interface stays in the table".into());
    }
    let s = m.stop().expect("mirror stopped cleanly").stats();
    println!(
        "  links: lk0 followed in and out ({} added, {} removed; unknown_ifindex {})",
        s.links_added, s.links_removed, s.unknown_ifindex
    );
    if (s.links_added, s.links_removed) != (2, 1) {
        bad.push(format!("links: counters {s:?}"));
    }
    bad
}

/// Links that come and go while the notification socket is overrunning
/// (their `RTM_NEWLINK`/`RTM_DELLINK` lost) are found by the resync: a
/// selected link created then is followed with its entries, a deleted one
/// leaves the table.
pub fn links_lost_in_an_overrun(env: &Env) -> Vec<String> {
    let mut bad = Vec::new();
    env.ip("link add lk3 type veth peer name lk4");
    env.ip("link set lk3 up");
    let table = Env::table::<Ipv4Addr>();
    let cfg = MirrorConfig {
        interfaces: vec!["v0".into(), "lk3".into(), "lk5".into()],
        rcvbuf: Some(4096),
        ..MirrorConfig::default()
    };
    let mut m = env.mirror(&table, cfg);
    let idx = |name: &str| -> u32 {
        let out = env
            .m
            .ip(&["-o", "link", "show", name])
            .expect("ip link show");
        out.split(':')
            .next()
            .and_then(|s| s.trim().parse().ok())
            .expect("ifindex")
    };
    let lk3 = DevId(idx("lk3"));
    if table.device_parms(lk3).is_none() {
        bad.push("links after an overrun: lk3 is not followed at the start".into());
    }
    // Nothing is read while the kernel fills the 4 KiB buffer, then the
    // links change: their notifications are lost.
    let mut lines = String::new();
    for i in 0..200u32 {
        lines += &format!(
            "neigh add 10.79.{}.{} lladdr 02:00:00:00:79:01 dev v0 nud permanent\n",
            i / 250,
            i % 250 + 1
        );
    }
    env.batch(&lines);
    env.ip("link del lk3");
    env.ip("link add lk5 type veth peer name lk6");
    env.ip("link set lk5 up");
    let dst = Ipv4Addr::new(10, 89, 0, 1);
    env.ip(&format!(
        "neigh add {dst} lladdr 02:00:00:00:89:01 dev lk5 nud permanent"
    ));
    let lk5 = DevId(idx("lk5"));
    m.process().expect("process");
    let s = m.stats();
    println!(
        "  links lost in an overrun: resyncs {}, lk3 gone {}, lk5 followed {}",
        s.resyncs,
        table.device_parms(lk3).is_none(),
        table.lookup(dst, lk5).is_some()
    );
    if s.resyncs == 0 {
        bad.push(format!(
            "links after an overrun: no overrun happened: {s:?}"
        ));
    }
    if table.device_parms(lk3).is_some() {
        bad.push("links after an overrun: the deleted lk3 stays in the table".into());
    }
    if table.lookup(dst, lk5).is_none() {
        bad.push("links after an overrun: lk5, created meanwhile, is not followed".into());
    }
    env.ip("link del lk5");
    env.ip("neigh flush dev v0");
    bad
}
