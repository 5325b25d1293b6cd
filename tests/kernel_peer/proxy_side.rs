//! The proxy differential's topology: a requester Q (always the Linux
//! kernel) and a proxying host X joined by a veth pair (`vq` in Q, `vx` in
//! X). X is either the kernel (`ip neigh add proxy`, `proxy_arp` with a
//! route, `forwarding`, `proxy_ndp`, `proxy_delay`) or neighcache (a
//! `proto::Host` with a `Proxy` on an AF_PACKET socket, X's kernel without
//! addresses). Both answer for 198.18.1.50 and 2001:db8:1::50 (exact) and
//! 198.18.1.64/26 (the kernel: `proxy_arp` + a route through another
//! device; ours: a prefix entry). Q's side measures, identically for both:
//! how its own kernel resolves a proxied address (rtnetlink polled every
//! millisecond), and how fast a unicast request sent from a raw socket in Q
//! is answered. Owns setup, teardown (the namespaces' Drop guards) and
//! those two measurements.

use crate::netlink::Rtnl;
use crate::netns::Netns;
use crate::topo::fmt_mac;
use neighcache::proto::arp::{self, ArpOp, ArpPacket};
use neighcache::proto::eth::{self, Mac};
use neighcache::proto::packet::PacketSocket;
use neighcache::proto::proxy::{Prefix, Proxy, ProxyParms};
use neighcache::proto::{ndisc, Host, HostClock, Iface, Policy};
use neighcache::{DevId, NudState, TableConfig, TimerThread};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const Q_MAC: Mac = [2, 0, 0, 0, 1, 1];
pub const X_MAC: Mac = [2, 0, 0, 0, 1, 2];
pub const Q4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
pub const X4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
/// Proxied exactly (`pneigh`).
pub const P4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 50);
/// In the proxied prefix 198.18.1.64/26.
pub const R4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 70);
/// On the link, not proxied.
pub const N4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 30);
pub const Q6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const X6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
pub const P6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x50);
pub const N6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x30);

fn kv(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// neighcache as X: a host with a proxy, its receive thread and its timer
/// thread (1 ms).
struct OursProxy {
    host: Arc<Host<PacketSocket>>,
    stop: Arc<AtomicBool>,
    rx: Option<JoinHandle<()>>,
    _timers: TimerThread,
}

impl OursProxy {
    fn new(x: &Netns) -> OursProxy {
        let sock = x.run(|| PacketSocket::open("vx").expect("raw socket in X"));
        let dev = DevId(sock.ifindex());
        let iface = Iface::new(dev, "vx", sock.mac())
            .with_ipv4(X4, 24)
            .with_ipv6(X6, 64);
        let policy = Policy {
            forwarding: true,
            proxy_ndp: true,
            ..Policy::default()
        };
        let proxy = Arc::new(Proxy::new());
        proxy.add_device(dev, ProxyParms::default()).unwrap();
        for p in ["198.18.1.50", "2001:db8:1::50", "198.18.1.64/26"] {
            proxy
                .add(p.parse::<Prefix>().unwrap(), Some(dev), false)
                .unwrap();
        }
        let host = Host::with_proxy(iface, policy, TableConfig::default(), sock, None, proxy);
        let host = Arc::new(host.expect("host"));
        for m in host.multicast_macs() {
            host.sink().join_multicast(&m).unwrap();
        }
        host.sink()
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let timers = host.spawn_timers(HostClock::new(), Duration::from_millis(1));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, st) = (host.clone(), stop.clone());
        let rx = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            // Relaxed: a stop flag; the join in Drop synchronises.
            while !st.load(Ordering::Relaxed) {
                if let Ok(info) = h.sink().recv(&mut buf) {
                    let _ = h.receive_with(&buf[..info.len], info.checksum);
                }
            }
        });
        OursProxy {
            host,
            stop,
            rx: Some(rx),
            _timers: timers,
        }
    }
}

impl Drop for OursProxy {
    fn drop(&mut self) {
        // Relaxed: see the receive loop.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.rx.take() {
            let _ = t.join();
        }
    }
}

/// One side of the differential: Q and X (kernel or ours).
pub struct Side {
    pub name: &'static str,
    q: Netns,
    x: Netns,
    ours: Option<OursProxy>,
    udp: [UdpSocket; 2],
    rtnl_q: Mutex<Rtnl>,
    rtnl_x: Mutex<Rtnl>,
    raw: PacketSocket,
    /// The worst lateness of a 1 ms poll sleep so far (µs).
    late_us: std::sync::atomic::AtomicU64,
}

impl Side {
    pub fn new(tag: &str, ours: bool) -> Result<Side, String> {
        let q = Netns::create(&format!("{tag}-q"))?;
        let x = Netns::create(&format!("{tag}-x"))?;
        let mut pre = vec![
            kv("net/ipv6/conf/all/accept_dad", 0),
            kv("net/ipv6/conf/default/accept_dad", 0),
        ];
        q.sysctl(&pre)?;
        if ours {
            pre.push(kv("net/ipv6/conf/all/disable_ipv6", 1));
            pre.push(kv("net/ipv6/conf/default/disable_ipv6", 1));
        }
        x.sysctl(&pre)?;
        crate::netns::ip(&[
            "link",
            "add",
            "name",
            "vq",
            "netns",
            &q.name,
            "address",
            &fmt_mac(&Q_MAC),
            "type",
            "veth",
            "peer",
            "name",
            "vx",
            "netns",
            &x.name,
            "address",
            &fmt_mac(&X_MAC),
        ])?;
        q.ip(&["addr", "add", "198.18.1.1/24", "dev", "vq"])?;
        q.ip(&["addr", "add", "2001:db8:1::1/64", "dev", "vq", "nodad"])?;
        if !ours {
            x.ip(&["addr", "add", "198.18.1.2/24", "dev", "vx"])?;
            x.ip(&["addr", "add", "2001:db8:1::2/64", "dev", "vx", "nodad"])?;
            // The hosts X stands for are behind another device (a veth pair
            // inside X): proxy ARP answers only for routes leaving elsewhere.
            x.ip(&["link", "add", "dm0", "type", "veth", "peer", "name", "dm1"])?;
            x.sysctl(&[
                kv("net/ipv4/ip_forward", 1),
                kv("net/ipv6/conf/all/forwarding", 1),
                // `all` too: ip6_forward hands a *unicast* NS for a proxied
                // address to ndisc only when the `all` flag is set (it
                // forwards it otherwise); ndisc_recv_ns accepts either.
                kv("net/ipv6/conf/all/proxy_ndp", 1),
                kv("net/ipv6/conf/vx/proxy_ndp", 1),
                kv("net/ipv4/conf/vx/proxy_arp", 1),
            ])?;
        }
        for (ns, dev) in [(&q, "vq"), (&x, "vx")] {
            ns.ip(&["link", "set", "lo", "up"])?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        if !ours {
            for d in ["dm0", "dm1"] {
                x.ip(&["link", "set", d, "up"])?;
            }
            x.ip(&["route", "add", "198.18.1.50/32", "dev", "dm0"])?;
            x.ip(&["route", "add", "198.18.1.64/26", "dev", "dm0"])?;
            x.ip(&["-6", "route", "add", "2001:db8:1::50/128", "dev", "dm0"])?;
            x.ip(&["neigh", "add", "proxy", "198.18.1.50", "dev", "vx"])?;
            x.ip(&["-6", "neigh", "add", "proxy", "2001:db8:1::50", "dev", "vx"])?;
        }
        let ours = ours.then(|| OursProxy::new(&x));
        let udp = q.run(|| {
            [
                UdpSocket::bind("0.0.0.0:0").unwrap(),
                UdpSocket::bind("[::]:0").unwrap(),
            ]
        });
        let rtnl_q = Mutex::new(q.run(|| Rtnl::open().unwrap()));
        let rtnl_x = Mutex::new(x.run(|| Rtnl::open().unwrap()));
        let raw = q.run(|| PacketSocket::open("vq").expect("raw socket in Q"));
        raw.set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let name = if ours.is_some() { "ours" } else { "kernel" };
        Ok(Side {
            name,
            q,
            x,
            ours,
            udp,
            rtnl_q,
            rtnl_x,
            raw,
            late_us: Default::default(),
        })
    }

    /// X's `proxy_delay` for both families, in ms (a multiple of 10: the
    /// kernel's sysctl is in centiseconds).
    pub fn set_delay(&self, ms: u64) -> Result<(), String> {
        match &self.ours {
            Some(o) => {
                let dev = o.host.iface().dev;
                let parms = ProxyParms {
                    delay: ms,
                    ..ProxyParms::default()
                };
                o.host
                    .proxy()
                    .set_parms(dev, parms)
                    .map_err(|e| e.to_string())
            }
            None => self.x.sysctl(&[
                kv("net/ipv4/neigh/vx/proxy_delay", ms / 10),
                kv("net/ipv6/neigh/vx/proxy_delay", ms / 10),
            ]),
        }
    }

    /// Q's entry for `ip`: state and address.
    fn q_entry(&self, ip: IpAddr) -> Option<(NudState, Option<Mac>)> {
        let af = if ip.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        } as u8;
        let all = self.rtnl_q.lock().unwrap().dump(af).unwrap();
        all.into_iter()
            .find(|k| k.dst == ip)
            .map(|k| (NudState::from_bits(k.state as u8), k.lladdr))
    }

    /// X's entry for the requester Q (created by the request it answered).
    pub fn x_entry_for_q(&self, ip: IpAddr) -> Option<NudState> {
        match &self.ours {
            Some(o) => match ip {
                IpAddr::V4(k) => o
                    .host
                    .v4()
                    .dump()
                    .into_iter()
                    .find(|e| e.key == k)
                    .map(|e| e.state),
                IpAddr::V6(k) => o
                    .host
                    .v6()
                    .dump()
                    .into_iter()
                    .find(|e| e.key == k)
                    .map(|e| e.state),
            },
            None => {
                let af = if ip.is_ipv4() {
                    libc::AF_INET
                } else {
                    libc::AF_INET6
                } as u8;
                let all = self.rtnl_x.lock().unwrap().dump(af).unwrap();
                all.into_iter()
                    .find(|k| k.dst == ip && k.lladdr.is_some())
                    .map(|k| NudState::from_bits(k.state as u8))
            }
        }
    }

    /// Q forgets `ip`, sends it a datagram (its kernel resolves it), and
    /// waits up to 2.5 s for a REACHABLE entry: the time it took (ms, with
    /// the 1 ms polling), the address and the state, or `None`.
    pub fn resolve(&self, ip: IpAddr) -> Option<(f64, Mac, NudState)> {
        let _ = self.q.ip(&["neigh", "del", &ip.to_string(), "dev", "vq"]);
        let s = &self.udp[usize::from(ip.is_ipv6())];
        let t0 = Instant::now();
        s.send_to(b"proxy differential", (ip, 9)).unwrap();
        while t0.elapsed() < Duration::from_millis(2500) {
            if let Some((st, Some(mac))) = self.q_entry(ip) {
                if st.is(NudState::REACHABLE) {
                    return Some((t0.elapsed().as_secs_f64() * 1e3, mac, st));
                }
            }
            let t = Instant::now();
            std::thread::sleep(Duration::from_millis(1));
            let late = t.elapsed().as_micros().saturating_sub(1000) as u64;
            // Relaxed: a statistic read after the side's thread is joined.
            self.late_us.fetch_max(late, Ordering::Relaxed);
        }
        None
    }

    /// The worst lateness of a poll so far (ms): how late this side can
    /// notice an answer on a shared machine.
    pub fn late_ms(&self) -> f64 {
        // Relaxed: see `resolve`.
        self.late_us.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// A unicast request for `ip` from a raw socket in Q to X's MAC (an ARP
    /// request, or an NS with a source link-layer option): the time to the
    /// answer (ms) and, for ND, the NA's flags byte; `None` if there is no
    /// answer within `wait`.
    pub fn unicast(&self, ip: IpAddr, wait: Duration) -> Option<(f64, u8)> {
        let frame = match ip {
            IpAddr::V4(t) => arp::frame(
                X_MAC,
                Q_MAC,
                &ArpPacket {
                    op: ArpOp::Request,
                    sender_mac: Q_MAC,
                    sender_ip: Q4,
                    target_mac: [0; 6],
                    target_ip: t,
                },
            ),
            IpAddr::V6(t) => {
                let pkt = ndisc::ns_packet(&Iface::new(DevId(0), "vq", Q_MAC), Q6, t, t);
                eth::build(X_MAC, Q_MAC, eth::ETHERTYPE_IPV6, pkt.len(), |b| {
                    b.copy_from_slice(&pkt)
                })
            }
        };
        let mut buf = vec![0u8; 2048];
        while self.raw.recv(&mut buf).is_ok() {} // drain
        let t0 = Instant::now();
        self.raw.send(&frame, &[]).unwrap();
        while t0.elapsed() < wait {
            let Ok(info) = self.raw.recv(&mut buf) else {
                continue;
            };
            let f = &buf[..info.len];
            if f.len() < 42 || f[0..6] != Q_MAC {
                continue;
            }
            let hit = match ip {
                IpAddr::V4(t) => {
                    f[12..14] == [8, 6] && f[20..22] == [0, 2] && f[28..32] == t.octets()
                }
                IpAddr::V6(t) => {
                    f.len() >= 78
                        && f[12..14] == [0x86, 0xdd]
                        && f[20] == 58
                        && f[54] == 136
                        && f[62..78] == t.octets()
                }
            };
            if hit {
                let flags = if ip.is_ipv6() { f[58] } else { 0 };
                return Some((t0.elapsed().as_secs_f64() * 1e3, flags));
            }
        }
        None
    }
}
