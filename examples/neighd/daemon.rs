//! The daemon proper: opens the raw socket, builds the [`Host`], runs the
//! receive, timer, monitor and sender threads, handles signals (SIGINT and
//! SIGTERM stop, SIGUSR1 prints the table) and prints the final table and
//! counters. Owns process lifecycle; protocol work is `neighcache::proto`.

use crate::args::{self, Args};
use neighcache::proto::eth::{self, PacketType};
use neighcache::proto::monitor::{self, Monitor};
use neighcache::proto::packet::PacketSocket;
use neighcache::proto::{Counter, Host, HostClock, Iface, Policy, Proxy};
use neighcache::{DevId, NeighKey, NeighTable, NudState, TableConfig, Xmit};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

type H = Host<PacketSocket>;

pub fn main() -> i32 {
    let a = match args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{}", args::USAGE);
            return 0;
        }
        Err(e) => {
            eprintln!("neighd: {e}");
            return 2;
        }
    };
    match run(a) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("neighd: {e}");
            1
        }
    }
}

/// SIGINT, SIGTERM and SIGUSR1, blocked in every thread and taken with
/// `sigtimedwait` by the main thread (no async-signal-safety concerns).
struct Signals(libc::sigset_t);

impl Signals {
    fn block() -> Result<Self, String> {
        // SAFETY: `set` is a local sigset_t initialised by sigemptyset
        // before use; pthread_sigmask only reads it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1] {
                libc::sigaddset(&mut set, s);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(format!("pthread_sigmask: error {rc}"));
            }
            Ok(Signals(set))
        }
    }

    /// The next pending signal, waiting at most `d`.
    fn wait(&self, d: Duration) -> Option<libc::c_int> {
        let ts = libc::timespec {
            tv_sec: d.as_secs() as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        };
        // SAFETY: the set is initialised; a null siginfo pointer is allowed.
        let s = unsafe { libc::sigtimedwait(&self.0, std::ptr::null_mut(), &ts) };
        (s > 0).then_some(s)
    }
}

fn elapsed(t0: Instant) -> String {
    format!("[{:9.3}]", t0.elapsed().as_secs_f64())
}

fn run(a: Args) -> Result<(), String> {
    let signals = Signals::block()?;
    let sock = PacketSocket::open(&a.iface).map_err(|e| e.to_string())?;
    let mut iface = Iface::new(DevId(sock.ifindex()), &a.iface, sock.mac());
    iface.ipv4 = a
        .ipv4
        .map(|(addr, prefix_len)| neighcache::proto::Ipv4If { addr, prefix_len });
    iface.ipv6 = a
        .ipv6
        .map(|(addr, prefix_len)| neighcache::proto::Ipv6If { addr, prefix_len });
    iface.link_local = a.link_local;
    let t0 = Instant::now();
    let hook: neighcache::proto::ops::ErrorHook = Arc::new(move |_dev, dst, pkt: &[u8]| {
        println!(
            "{} {dst}: resolution failed; a queued packet of {} bytes is reported (host unreachable)",
            elapsed(t0),
            pkt.len()
        );
    });
    let config = TableConfig {
        parms: a.parms,
        ..TableConfig::default()
    };
    // Proxying is a router's job (the kernel's IN_DEV_FORWARD and
    // proxy_ndp): --proxy turns both on.
    let proxying = !a.proxies.is_empty();
    let policy = Policy {
        forwarding: a.forwarding || proxying,
        proxy_ndp: proxying,
        ..Policy::default()
    };
    let dev = iface.dev;
    let proxy = Arc::new(Proxy::new());
    proxy
        .add_device(dev, a.proxy_parms)
        .map_err(|e| e.to_string())?;
    for p in &a.proxies {
        proxy.add(*p, Some(dev), false).map_err(|e| e.to_string())?;
    }
    let host = Arc::new(
        Host::with_proxy(iface, policy, config, sock, Some(hook), proxy)
            .map_err(|e| e.to_string())?,
    );
    for m in host.multicast_macs() {
        host.sink()
            .join_multicast(&m)
            .map_err(|e| format!("join {}: {e}", eth::fmt_mac(&m)))?;
    }
    if host.needs_all_multicast() {
        host.sink()
            .join_all_multicast()
            .map_err(|e| format!("all-multicast: {e}"))?;
    }
    host.sink()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    for d in &a.send {
        host.check_on_link(*d).map_err(|e| e.to_string())?;
        host.source_for(*d).map_err(|e| e.to_string())?;
    }
    let i = host.iface();
    println!(
        "neighd: {} (ifindex {}, {}){}{}, {} destination(s)",
        i.name,
        i.dev.0,
        eth::fmt_mac(&i.mac),
        i.ipv4
            .map(|v| format!(", {}/{}", v.addr, v.prefix_len))
            .unwrap_or_default(),
        i.ipv6
            .map(|v| format!(", {}/{}", v.addr, v.prefix_len))
            .unwrap_or_default(),
        a.send.len()
    );
    let _timers = host.spawn_timers(HostClock::new(), Duration::from_millis(1));
    let stop = Arc::new(AtomicBool::new(false));
    if a.announce {
        host.announce();
    }
    let mut threads = vec![
        spawn("neighd-rx", {
            let (h, stop) = (host.clone(), stop.clone());
            let quiet = a.quiet;
            move || rx_loop(&h, &stop, t0, quiet)
        }),
        spawn("neighd-monitor", {
            let (h, stop) = (host.clone(), stop.clone());
            let (poll, quiet) = (Duration::from_millis(a.poll_ms.max(1)), a.quiet);
            move || monitor_loop(&h, &stop, t0, poll, quiet)
        }),
    ];
    if !a.send.is_empty() {
        let (h, stop, a2) = (host.clone(), stop.clone(), a.clone());
        threads.push(spawn("neighd-tx", move || match a2.flood_secs {
            Some(secs) => flood(&h, &stop, &a2, secs),
            None => sender(&h, &stop, &a2, t0),
        }));
    }
    let deadline = a.duration.map(|s| t0 + Duration::from_secs_f64(s));
    while !stop.load(Ordering::Relaxed) {
        match signals.wait(Duration::from_millis(100)) {
            Some(libc::SIGUSR1) => print_table(&host),
            Some(_) => break,
            None if deadline.is_some_and(|d| Instant::now() >= d) => break,
            None => {}
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    print_table(&host);
    Ok(())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .expect("spawn a thread")
}

fn rx_loop(h: &H, stop: &AtomicBool, t0: Instant, quiet: bool) {
    let mut buf = vec![0u8; 65536];
    let mine = h.iface().mac;
    while !stop.load(Ordering::Relaxed) {
        match h.sink().recv(&mut buf) {
            Ok(info) => {
                // Our own frames, if PACKET_IGNORE_OUTGOING is not supported.
                if info.pkt_type == PacketType::OtherHost && buf.get(6..12) == Some(&mine[..]) {
                    continue;
                }
                if let Err(e) = h.receive_with(&buf[..info.len], info.checksum) {
                    // Frames for other hosts (by MAC or by IP address) are
                    // counted, not printed: a shared link is full of them.
                    use neighcache::proto::ProtoError::{NotOurDestination, OtherHost};
                    if !quiet && !matches!(e, OtherHost | NotOurDestination(_)) {
                        println!("{} dropped a frame: {e}", elapsed(t0));
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("neighd: receive: {e}");
                stop.store(true, Ordering::Relaxed);
            }
        }
    }
}

fn monitor_loop(h: &H, stop: &AtomicBool, t0: Instant, poll: Duration, quiet: bool) {
    let (mut m4, mut m6) = (Monitor::new(), Monitor::new());
    let name = h.iface().name.clone();
    while !stop.load(Ordering::Relaxed) {
        let ev4 = m4.poll(h.v4().dump());
        let ev6 = m6.poll(h.v6().dump());
        if !quiet {
            for l in ev4
                .iter()
                .map(|e| e.line(&name))
                .chain(ev6.iter().map(|e| e.line(&name)))
            {
                println!("{} {l}", elapsed(t0));
            }
        }
        thread::sleep(poll);
    }
}

fn payload(a: &Args, seq: u64) -> Vec<u8> {
    let mut p = vec![0u8; a.size];
    for (i, b) in seq.to_be_bytes().iter().enumerate().take(a.size) {
        p[i] = *b;
    }
    p
}

fn send_one(h: &H, a: &Args, dst: IpAddr, seq: u64) -> Xmit {
    let p = payload(a, seq);
    let r = if a.icmp {
        h.send_echo(dst, std::process::id() as u16, seq as u16, &p)
    } else {
        h.send_udp(dst, 40000 + (seq % 1000) as u16, a.port, &p)
    };
    r.expect("destinations were checked at start")
}

fn sender(h: &H, stop: &AtomicBool, a: &Args, t0: Instant) {
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) && a.count.is_none_or(|c| seq < c) {
        for d in &a.send {
            let x = send_one(h, a, *d, seq);
            if let Xmit::Dropped(r) = x {
                println!("{} {d}: packet {seq} dropped ({r:?})", elapsed(t0));
            }
        }
        seq += 1;
        let until = Instant::now() + Duration::from_millis(a.interval_ms);
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(10).min(until - Instant::now()));
        }
    }
}

fn resolved<K: NeighKey, O: neighcache::NeighOps<K>>(t: &NeighTable<K, O>, k: K) -> bool {
    t.dump()
        .iter()
        .any(|e| e.key == k && e.state.is(NudState::CONNECTED))
}

/// Resolve every destination, then send UDP as fast as one thread can for
/// `secs` and report frames per second.
fn flood(h: &H, stop: &AtomicBool, a: &Args, secs: f64) {
    let t_res = Instant::now();
    loop {
        for d in &a.send {
            let _ = h.send_udp(*d, 40000, a.port, &payload(a, 0));
        }
        let done = a.send.iter().all(|d| match d {
            IpAddr::V4(k) => resolved(h.v4(), *k),
            IpAddr::V6(k) => resolved(h.v6(), *k),
        });
        if done {
            break;
        }
        if t_res.elapsed() > Duration::from_secs(5) || stop.load(Ordering::Relaxed) {
            println!("flood: not every destination resolved within 5 s; giving up");
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let pkts: Vec<(IpAddr, Vec<u8>)> = a
        .send
        .iter()
        .map(|d| {
            let src = h.source_for(*d).expect("checked");
            (
                *d,
                neighcache::proto::ip::udp(src, *d, 40000, a.port, &payload(a, 0)),
            )
        })
        .collect();
    let tx0 = h.stats().get(Counter::TxFrames);
    let fail0 = h.stats().get(Counter::TxFailed);
    let sent = AtomicU64::new(0);
    let t = Instant::now();
    let end = t + Duration::from_secs_f64(secs);
    let mut i = 0usize;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        for _ in 0..256 {
            let (d, p) = &pkts[i % pkts.len()];
            i += 1;
            if h.send_ip(*d, p.clone()) == Xmit::Sent {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let dt = t.elapsed().as_secs_f64();
    let frames = h.stats().get(Counter::TxFrames) - tx0;
    let failed = h.stats().get(Counter::TxFailed) - fail0;
    println!(
        "flood: {} frames of {} bytes in {dt:.3} s = {:.0} frames/s ({} sent through the cache, {failed} send errors)",
        frames,
        eth::HEADER_LEN + pkts[0].1.len(),
        frames as f64 / dt,
        sent.load(Ordering::Relaxed),
    );
}

fn print_table(h: &H) {
    let name = &h.iface().name;
    println!("--- ip neigh show dev {name} ---");
    for e in h.v4().dump() {
        println!("{}", monitor::show_line(&e, name, true));
    }
    for e in h.v6().dump() {
        println!("{}", monitor::show_line(&e, name, true));
    }
    for e in h.proxy().entries() {
        let router = if e.router { " router" } else { "" };
        println!("{} dev {name} proxy{router}", e.prefix);
    }
    let (s4, s6) = (h.v4().stats(), h.v6().stats());
    println!(
        "--- counters: sent {} queued {} flushed {} dropped {} probes {} failed-resolutions {}; proto: {}; proxy queue: {:?} ---",
        s4.sent + s6.sent,
        s4.queued + s6.queued,
        s4.flushed + s6.flushed,
        s4.dropped() + s6.dropped(),
        s4.solicits + s6.solicits,
        s4.res_failed + s6.res_failed,
        h.stats(),
        h.proxy().stats()
    );
}
