//! Resolution both ways between neighcache and the kernel, ARP and NDP;
//! pings both ways; hostile frames from the peer; and the first-packet-to-
//! REACHABLE time of both sides (printed, not asserted: the machine is
//! shared).

use crate::netlink::Rtnl;
use crate::netns::Netns;
use crate::resolver::{KernelResolver, OursResolver, Resolver};
use crate::topo::{self, Capture, Fam, Pair, P6, P_MAC, R4, R6, R_MAC};
use neighcache::proto::eth::{self, BROADCAST, ETHERTYPE_IPV6};
use neighcache::proto::{arp, ip, ndisc, Counter, ErrorKind, Iface};
use neighcache::{DevId, NudState};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

fn until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The peer's entry for our address, from its own table.
fn peer_view(p: &Netns, fam: Fam) -> Option<(NudState, Option<[u8; 6]>)> {
    let af = if fam == Fam::V4 {
        libc::AF_INET
    } else {
        libc::AF_INET6
    } as u8;
    let all = p.run(move || Rtnl::open().unwrap().dump(af).unwrap());
    all.into_iter()
        .find(|k| k.dst == fam.ours())
        .map(|k| (NudState::from_bits(k.state as u8), k.lladdr))
}

/// An ICMP echo from P to `dst` over a raw socket; true if answered.
fn ping_from_peer(p: &Netns, dst: IpAddr) -> bool {
    p.run(move || {
        let (domain, proto, src) = match dst {
            IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, IpAddr::V4(topo::P4)),
            IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, IpAddr::V6(P6)),
        };
        let s = Socket::new(domain, Type::RAW, Some(proto)).expect("raw ICMP socket in P");
        let ident = 0x4e43;
        let pkt = ip::echo(src, dst, ident, 1, b"neighcache", false);
        let icmp = &pkt[if dst.is_ipv4() { 20 } else { 40 }..];
        s.send_to(icmp, &SockAddr::from(SocketAddr::new(dst, 0)))
            .expect("send echo");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
            let Ok(n) = s.recv(&mut buf) else { continue };
            // SAFETY: recv initialised the first `n` bytes.
            let b: Vec<u8> = buf[..n]
                .iter()
                .map(|x| unsafe { x.assume_init() })
                .collect();
            let icmp = if dst.is_ipv4() {
                &b[usize::from(b[0] & 0xf) * 4..]
            } else {
                &b[..]
            };
            let reply = if dst.is_ipv4() { 0 } else { 129 };
            if icmp.len() >= 8 && icmp[0] == reply && icmp[4..6] == ident.to_be_bytes() {
                return true;
            }
        }
        false
    })
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Time from a first packet to REACHABLE, `n` times, polling the table as
/// fast as it can be read.
fn resolve_times(r: &dyn Resolver, fam: Fam, n: usize, forget: impl Fn()) -> Vec<f64> {
    (0..n)
        .map(|_| {
            forget();
            std::thread::sleep(Duration::from_millis(5));
            let t0 = Instant::now();
            r.send(fam);
            // Spin (yielding): the reply is processed within microseconds.
            while r.snap(fam).is_none_or(|s| s.state != NudState::REACHABLE) {
                assert!(t0.elapsed() < Duration::from_secs(2), "resolved");
                std::thread::yield_now();
            }
            t0.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

pub fn run() {
    let o = Pair::new("bo", true).expect("ours pair");
    let k = Pair::new("bk", false).expect("kernel pair");
    let _sinks = (topo::udp_sinks(&o.p), topo::udp_sinks(&k.p));
    let ours = OursResolver::new(&o.r);
    let kern = KernelResolver::new(&k.r);

    // We resolve the kernel. A resolution that fails (the peer's IPv6 can
    // take about a second to answer after its link comes up, longer than
    // three probes at retrans_time 300 ms: 0.9 s, as Linux's own) is
    // retried by the next packet, as an application's retransmission would.
    for fam in [Fam::V4, Fam::V6] {
        let start = Instant::now();
        ours.send(fam);
        let s = until(Duration::from_secs(4), || {
            let s = ours.snap(fam);
            if s.is_some_and(|s| s.state == NudState::FAILED) {
                eprintln!(
                    "{}: resolution failed after {:?}, sending again",
                    fam.name(),
                    start.elapsed()
                );
                ours.send(fam);
            }
            s.filter(|s| s.state == NudState::REACHABLE)
        });
        assert_eq!(
            s.and_then(|s| s.mac),
            Some(P_MAC),
            "{}: we resolve the kernel",
            fam.name()
        );
    }

    // The kernel resolves us; its datagrams reach us.
    let rx0 = ours.host.stats().get(Counter::RxLocal);
    o.p.run(|| {
        UdpSocket::bind("0.0.0.0:0")
            .unwrap()
            .send_to(b"from P", (R4, 9))
            .unwrap();
        UdpSocket::bind("[::]:0")
            .unwrap()
            .send_to(b"from P", (R6, 9))
            .unwrap();
    });
    for fam in [Fam::V4, Fam::V6] {
        let v = until(Duration::from_secs(2), || {
            peer_view(&o.p, fam).filter(|(s, _)| s.is(NudState::REACHABLE | NudState::DELAY))
        });
        assert_eq!(
            v.and_then(|v| v.1),
            Some(R_MAC),
            "{}: the kernel resolves us",
            fam.name()
        );
    }
    let got = until(Duration::from_secs(1), || {
        (ours.host.stats().get(Counter::RxLocal) >= rx0 + 2).then_some(())
    });
    assert!(got.is_some(), "the peer's datagrams reached us");

    // Pings both ways.
    assert!(
        ping_from_peer(&o.p, IpAddr::V4(R4)),
        "the kernel pings us (IPv4)"
    );
    assert!(
        ping_from_peer(&o.p, IpAddr::V6(R6)),
        "the kernel pings us (IPv6)"
    );
    let rx1 = ours.host.stats().get(Counter::RxLocal);
    ours.host
        .send_echo(IpAddr::V4(topo::P4), 1, 1, b"ping")
        .unwrap();
    ours.host.send_echo(IpAddr::V6(P6), 1, 1, b"ping").unwrap();
    let got = until(Duration::from_secs(1), || {
        (ours.host.stats().get(Counter::RxLocal) >= rx1 + 2).then_some(())
    });
    assert!(got.is_some(), "the kernel answers our pings");

    // Hostile frames from the peer: counted, cached nowhere.
    let cap = Capture::start(&o.p);
    let e0 = ours.host.stats();
    let mut bad_arp = arp::frame(
        BROADCAST,
        P_MAC,
        &arp::ArpPacket {
            op: arp::ArpOp::Request,
            sender_mac: P_MAC,
            sender_ip: topo::P4,
            target_mac: [0; 6],
            target_ip: R4,
        },
    );
    bad_arp[18] = 8; // hln 8
    cap.inject(&bad_arp);
    let mcast_sender = arp::frame(
        R_MAC,
        P_MAC,
        &arp::ArpPacket {
            op: arp::ArpOp::Reply,
            sender_mac: [0x01, 0, 0x5e, 0, 0, 1],
            sender_ip: "198.18.0.77".parse().unwrap(),
            target_mac: R_MAC,
            target_ip: R4,
        },
    );
    cap.inject(&mcast_sender);
    let p = Iface::new(DevId(0), "vp", P_MAC).with_ipv6("2001:db8::99".parse().unwrap(), 64);
    let untracked = ndisc::na_packet(
        &p,
        "2001:db8::99".parse().unwrap(),
        R6,
        false,
        true,
        true,
        true,
    );
    cap.inject(&eth::build(
        R_MAC,
        P_MAC,
        ETHERTYPE_IPV6,
        untracked.len(),
        |b| b.copy_from_slice(&untracked),
    ));
    let mut ns = ndisc::ns_packet(&p, P6, R6, R6);
    ns[7] = 64; // hop limit: a routed NS
    cap.inject(&eth::build(R_MAC, P_MAC, ETHERTYPE_IPV6, ns.len(), |b| {
        b.copy_from_slice(&ns)
    }));
    let kinds = [
        ErrorKind::ArpAddressLength,
        ErrorKind::BadLinkLayerAddress,
        ErrorKind::UntrackedAdvertisement,
        ErrorKind::BadHopLimit,
    ];
    let counted = until(Duration::from_secs(1), || {
        let e = ours.host.stats();
        kinds
            .iter()
            .all(|k| e.errors(*k) == e0.errors(*k) + 1)
            .then_some(())
    });
    assert!(
        counted.is_some(),
        "hostile frames counted: {}",
        ours.host.stats()
    );
    assert!(ours
        .host
        .v4()
        .dump()
        .iter()
        .all(|e| e.key != "198.18.0.77".parse::<std::net::Ipv4Addr>().unwrap()));
    assert!(ours
        .host
        .v6()
        .dump()
        .iter()
        .all(|e| e.key != "2001:db8::99".parse::<std::net::Ipv6Addr>().unwrap()));
    drop(cap);

    // First packet -> REACHABLE, both sides.
    println!("\nfirst packet -> REACHABLE (µs, 20 runs each, entry deleted before each run):");
    println!("family | side | median | p90 | max");
    println!("---|---|---:|---:|---:");
    for fam in [Fam::V4, Fam::V6] {
        let dev = ours.host.iface().dev;
        let mut o_t = resolve_times(&ours, fam, 20, || {
            let _ = match fam.peer() {
                IpAddr::V4(a) => ours.host.v4().remove(a, dev),
                IpAddr::V6(a) => ours.host.v6().remove(a, dev),
            };
        });
        let peer = fam.peer().to_string();
        let mut k_t = resolve_times(&kern, fam, 20, || {
            let _ = k.r.ip(&["neigh", "del", &peer, "dev", "vr"]);
        });
        for (side, v) in [("kernel", &mut k_t), ("ours", &mut o_t)] {
            let (med, p90, max) = (percentile(v, 0.5), percentile(v, 0.9), percentile(v, 1.0));
            println!("{} | {side} | {med:.0} | {p90:.0} | {max:.0}", fam.name());
        }
    }
}
