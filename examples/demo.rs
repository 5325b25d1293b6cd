//! A small daemon simulation: sender threads push packets to a few hundred
//! next hops over a simulated Ethernet link. The link's peers answer ARP
//! after a short delay; some never answer, some move to a new MAC address
//! half-way through. A timer thread drives the cache's clock ten times
//! faster than real time, so a minute of neighbour life passes in seconds.
//!
//! Run: `cargo run --release --example demo`

use neighcache::{
    Clock, DevId, DeviceConfig, MonotonicClock, NeighOps, NeighTable, NudState, Packet, Probe,
    TableConfig, Tick, HZ,
};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const HOSTS: u32 = 300;
const SENDERS: usize = 4;
const SPEED: u64 = 10; // virtual ms per real ms
const VIRTUAL_SECS: u64 = 60;
const ETH0: DevId = DevId(2);

/// A packet: just its length (the demo does not build payloads).
struct Frame(usize);
impl Packet for Frame {
    fn len(&self) -> usize {
        self.0
    }
}

/// The simulated link: counts frames, and queues ARP requests for the peers.
#[derive(Default)]
struct Link {
    frames: AtomicU64,
    bytes: AtomicU64,
    unreachable: AtomicU64,
    requests: Mutex<Vec<Ipv4Addr>>,
}

impl NeighOps<Ipv4Addr> for Link {
    type Packet = Frame;
    fn transmit(&self, _dev: DevId, hh: &[u8], pkt: Frame) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add((hh.len() + pkt.0) as u64, Ordering::Relaxed);
    }
    fn solicit(&self, _dev: DevId, key: &Ipv4Addr, _probe: Probe) {
        self.requests.lock().unwrap().push(*key);
    }
    fn error_report(&self, _dev: DevId, _key: &Ipv4Addr, _pkt: Frame) {
        // The kernel would send ICMP host unreachable to the packet's source.
        self.unreachable.fetch_add(1, Ordering::Relaxed);
    }
}

fn host(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 20, (i / 250) as u8, (i % 250 + 1) as u8)
}

/// Peer behaviour: 10% never answer, 5% change MAC half-way.
fn peer_mac(i: u32, now: Tick) -> Option<[u8; 6]> {
    if i % 10 == 7 {
        return None;
    }
    let moved = i % 20 == 3 && now >= VIRTUAL_SECS * HZ / 2;
    Some([
        0x02,
        0x42,
        (i >> 8) as u8,
        i as u8,
        0,
        if moved { 0xbb } else { 0xaa },
    ])
}

fn main() {
    let mut cfg = TableConfig::default();
    cfg.parms.unres_qlen = 8;
    cfg.gc_thresh1 = 64;
    let table = Arc::new(NeighTable::new(cfg, Link::default()).expect("valid config"));
    table
        .add_device(
            ETH0,
            DeviceConfig::ethernet([0x02, 0, 0, 0, 0, 0x01], 0x0800),
        )
        .expect("new device");
    let stop = Arc::new(AtomicBool::new(false));
    let clock = MonotonicClock::new();
    println!(
        "neighcache demo: {HOSTS} next hops, {SENDERS} sender threads, {VIRTUAL_SECS} s of neighbour time at {SPEED}x"
    );

    let mut threads = Vec::new();
    for s in 0..SENDERS {
        let (t, stop) = (table.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ s as u64;
            while !stop.load(Ordering::Relaxed) {
                let g = t.pin();
                for _ in 0..256 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Skewed popularity: most traffic to a few next hops.
                    let i = ((x % 1000) * (x % 1000) / 1000 * HOSTS as u64 / 1000) as u32;
                    t.resolve_output_in(host(i), ETH0, Frame(64 + (x % 1400) as usize), &g);
                }
                drop(g);
                std::thread::sleep(Duration::from_micros(200));
            }
        }));
    }
    // The peers: answer pending ARP requests after ~20 ms of neighbour time.
    {
        let (t, stop) = (table.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut pending: Vec<(Tick, Ipv4Addr)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let now = t.jiffies();
                pending.extend(
                    t.ops()
                        .requests
                        .lock()
                        .unwrap()
                        .drain(..)
                        .map(|k| (now + 20, k)),
                );
                pending.retain(|&(due, key)| {
                    if due > now {
                        return true;
                    }
                    let o = key.octets();
                    let i = (o[2] as u32) * 250 + o[3] as u32 - 1;
                    if let Some(mac) = peer_mac(i, now) {
                        let _ = t.receive_arp(key, ETH0, &mac, true);
                    }
                    false
                });
                std::thread::sleep(Duration::from_millis(1));
            }
        }));
    }
    // The timer thread: advance the cache's clock; print progress.
    let mut next_report = 10 * HZ;
    loop {
        let now = clock.now() * SPEED;
        table.run_timers(now).expect("monotonic clock");
        if now >= next_report {
            next_report += 10 * HZ;
            let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
            for e in table.dump() {
                *by_state.entry(e.state.name()).or_default() += 1;
            }
            let s = table.stats();
            let states: Vec<String> = by_state.iter().map(|(k, v)| format!("{k} {v}")).collect();
            println!(
                "t={:>3}s  entries {:>3} [{}]  sent {:>9}  queued {:>5}  dropped {:>5}",
                now / HZ,
                s.entries,
                states.join(", "),
                s.sent + s.flushed,
                s.queued,
                s.dropped()
            );
            if now >= VIRTUAL_SECS * HZ {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("thread");
    }

    println!("\nip neigh show dev {ETH0} (first 12 of {}):", table.len());
    let dump = table.dump();
    for e in dump.iter().take(12) {
        println!("  {e}");
    }
    let moved: Vec<_> = dump
        .iter()
        .filter(|e| e.lladdr.is_some_and(|a| a.as_bytes()[5] == 0xbb))
        .map(|e| e.key.to_string())
        .collect();
    println!(
        "  ... {} entries moved to a new MAC (e.g. {})",
        moved.len(),
        moved.first().map_or("-", |s| s)
    );
    let unresolved = dump
        .iter()
        .filter(|e| e.state == NudState::INCOMPLETE || e.state == NudState::FAILED)
        .count();
    println!(
        "  ... {unresolved} INCOMPLETE/FAILED: peers that never answer (each new packet restarts resolution; {} failures)",
        table.stats().res_failed
    );

    let s = table.stats();
    println!("\nstats: {s:#?}");
    let link = table.ops();
    println!(
        "\npackets: {} handed in = {} sent + {} flushed after resolution + {} dropped + {} still queued",
        s.packets_in(),
        s.sent,
        s.flushed,
        s.dropped(),
        s.packets_queued_now()
    );
    println!(
        "link: {} frames, {} MB; {} host-unreachable reports",
        link.frames.load(Ordering::Relaxed),
        link.bytes.load(Ordering::Relaxed) / 1_000_000,
        link.unreachable.load(Ordering::Relaxed)
    );
    assert_eq!(s.packets_in(), s.packets_out() + s.packets_queued_now());
    assert_eq!(link.frames.load(Ordering::Relaxed), s.sent + s.flushed);
}
