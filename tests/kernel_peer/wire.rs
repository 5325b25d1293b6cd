//! The frame differential's two hosts and its run. The kernel's host K is a
//! namespace with `vk` (02:00:00:00:00:01, 198.18.0.1/24, 2001:db8::1/64,
//! fe80::ff:fe00:1); its peer A (`va`, no addresses, IPv6 off, ARP off)
//! only injects frames and taps what K sends. Ours is a `proto::Host` with
//! the same interface and the same sysctls, fed the same frames in process,
//! its frames recorded.
//!
//! After each frame the kernel must have finished with it before we look:
//! a *barrier* follows it, an ICMPv6 echo request from fe80::beef (a
//! PERMANENT neighbour of K, filtered out of the views) whose reply K sends
//! only once the backlog before it is processed (one thread, pinned to one
//! CPU, injects both: the kernel's per-CPU backlog is FIFO). What K sends
//! between the frame and the barrier's reply is its answer.
//!
//! Settings both sides share: `accept_dad` 0, `router_solicitations` 0,
//! `accept_ra` 0 (no routes from RAs: ours has none), `proxy_delay` 0,
//! `delay_first_probe_time` 1 s, everything else the kernel's default. The
//! kernel also has what our host cannot express: a route to
//! 2001:db8:5::/64 through fe80::1 (Redirects are honoured only from the
//! current first hop) and routes for the proxied addresses through another
//! device (proxy ARP answers only for those).
//!
//! Owns the setup, the steps and the observation; the verdict is
//! `wire_verdict`'s.

use crate::corpus::{Scenario, Step};
use crate::netns::Netns;
use crate::tap::Tap;
use crate::wire_verdict::{self as verdict, Entry, Row};
use neighcache::proto::eth::{self, Mac};
use neighcache::proto::proxy::{Prefix, Proxy, ProxyParms};
use neighcache::proto::{ArpAccept, FrameSink, Host, Iface, Policy, UntrackedNa, START_TICK};
use neighcache::{DevId, NeighParms, NudState, TableConfig, TimerTarget, UpdateFlags};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const K_MAC: Mac = [2, 0, 0, 0, 0, 1];
const A_MAC: Mac = [2, 0, 0, 0, 0, 0xfe];
const BARRIER_MAC: Mac = [2, 0, 0, 0, 0xbe, 0xef];
pub const BARRIER_IP: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xbeef);
pub const BARRIER_ID: u16 = 0xbeef;
const K_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 1);
const PROXY_ROUTES: [&str; 2] = ["198.18.0.50/32", "2001:db8::50/128"];

/// The sysctl files behind each corpus name (in K).
fn sysctl_paths(name: &str) -> &'static [&'static str] {
    match name {
        "arp_accept" => &["net/ipv4/conf/vk/arp_accept"],
        "drop_gratuitous_arp" => &["net/ipv4/conf/vk/drop_gratuitous_arp"],
        "drop_unsolicited_na" => &["net/ipv6/conf/vk/drop_unsolicited_na"],
        "accept_untracked_na" => &["net/ipv6/conf/vk/accept_untracked_na"],
        // IN_DEV_FORWARD and the IPv6 `all` switch (which sets vk's too).
        "forwarding" => &[
            "net/ipv4/conf/all/forwarding",
            "net/ipv6/conf/all/forwarding",
        ],
        // `all` too: ip6_forward hands a unicast NS for a proxied address
        // to input only with the `all` flag.
        "proxy_ndp" => &["net/ipv6/conf/all/proxy_ndp", "net/ipv6/conf/vk/proxy_ndp"],
        _ => &["net/ipv6/conf/vk/accept_redirects"],
    }
}

fn default_sysctl(name: &str) -> u8 {
    u8::from(name == "accept_redirects")
}

/// Records every frame our host sends.
#[derive(Default)]
pub struct Rec(Mutex<Vec<Vec<u8>>>);

impl FrameSink for Rec {
    fn send_frame(&self, _dev: DevId, head: &[u8], body: &[u8]) -> io::Result<()> {
        self.0.lock().unwrap().push([head, body].concat());
        Ok(())
    }
}

/// The kernel as the host under test.
pub struct Kernel {
    k: Netns,
    _a: Netns,
    tap: Tap,
    udp: [UdpSocket; 2],
    vk_index: u32,
    sysctl: HashMap<&'static str, u8>,
    proxies: Vec<IpAddr>,
    seq: u16,
}

fn kv(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

impl Kernel {
    pub fn new() -> Result<Kernel, String> {
        let k = Netns::create("wk")?;
        let a = Netns::create("wa")?;
        k.sysctl(&[
            kv("net/ipv6/conf/all/accept_dad", 0),
            kv("net/ipv6/conf/default/accept_dad", 0),
            kv("net/ipv6/conf/default/router_solicitations", 0),
            kv("net/ipv6/conf/default/accept_ra", 0),
        ])?;
        a.sysctl(&[
            kv("net/ipv6/conf/all/disable_ipv6", 1),
            kv("net/ipv6/conf/default/disable_ipv6", 1),
        ])?;
        let mac = |m: &Mac| eth::fmt_mac(m);
        crate::netns::ip(&[
            "link",
            "add",
            "name",
            "vk",
            "netns",
            &k.name,
            "address",
            &mac(&K_MAC),
            "type",
            "veth",
            "peer",
            "name",
            "va",
            "netns",
            &a.name,
            "address",
            &mac(&A_MAC),
        ])?;
        k.ip(&["link", "add", "dm0", "type", "veth", "peer", "name", "dm1"])?;
        k.ip(&["addr", "add", "198.18.0.1/24", "dev", "vk"])?;
        k.ip(&["addr", "add", "2001:db8::1/64", "dev", "vk", "nodad"])?;
        for d in ["lo", "vk", "dm0", "dm1"] {
            k.ip(&["link", "set", d, "up"])?;
        }
        a.ip(&["link", "set", "va", "arp", "off", "up"])?;
        k.sysctl(&[
            kv("net/ipv4/neigh/vk/proxy_delay", 0),
            kv("net/ipv6/neigh/vk/proxy_delay", 0),
            kv("net/ipv4/neigh/vk/delay_first_probe_time", 1),
            kv("net/ipv6/neigh/vk/delay_first_probe_time", 1),
        ])?;
        for r in PROXY_ROUTES {
            k.ip(&["route", "add", r, "dev", "dm0"])?;
        }
        // The link-local address exists once vk is up (no DAD).
        let t0 = Instant::now();
        while !k
            .ip(&["-6", "addr", "show", "dev", "vk", "scope", "link"])?
            .contains("fe80::ff:fe00:1")
        {
            if t0.elapsed() > Duration::from_secs(5) {
                return Err("vk has no link-local address".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        k.ip(&[
            "-6",
            "route",
            "add",
            "2001:db8:5::/64",
            "via",
            "fe80::1",
            "dev",
            "vk",
        ])?;
        let tap = a.run(|| Tap::open("va")).map_err(|e| e.to_string())?;
        let udp = k.run(|| -> io::Result<[UdpSocket; 2]> {
            Ok([UdpSocket::bind("0.0.0.0:0")?, UdpSocket::bind("[::]:0")?])
        });
        let udp = udp.map_err(|e| e.to_string())?;
        let vk_index = k.run(|| {
            // SAFETY: a NUL-terminated literal.
            unsafe { libc::if_nametoindex(c"vk".as_ptr()) }
        });
        Ok(Kernel {
            k,
            _a: a,
            tap,
            udp,
            vk_index,
            sysctl: HashMap::new(),
            proxies: Vec::new(),
            seq: 0,
        })
    }

    /// Back to the start: an empty cache (the barrier's neighbour apart),
    /// no proxy entries, these sysctls and the defaults for the others.
    pub fn reset(&mut self, sysctls: &[(&'static str, u8)]) {
        let mut batch = String::from("neigh flush dev vk nud all\n");
        for p in self.proxies.drain(..) {
            batch += &format!("neigh del proxy {p} dev vk\n");
        }
        batch += &format!(
            "neigh replace {BARRIER_IP} lladdr {} dev vk nud permanent\n",
            eth::fmt_mac(&BARRIER_MAC)
        );
        self.batch(&batch);
        let mut writes = Vec::new();
        for name in crate::corpus::SYSCTLS {
            let v = sysctls
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(default_sysctl(name), |(_, v)| *v);
            if self.sysctl.get(name) != Some(&v) {
                writes.extend(sysctl_paths(name).iter().map(|p| kv(p, v)));
                self.sysctl.insert(name, v);
            }
        }
        if !writes.is_empty() {
            self.k.sysctl(&writes).expect("sysctl in K");
        }
        self.barrier();
    }

    fn batch(&self, cmds: &str) {
        use std::io::Write as _;
        let mut child = std::process::Command::new("ip")
            .args(["-n", &self.k.name, "-force", "-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ip -batch");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(cmds.as_bytes())
            .unwrap();
        child.wait().expect("ip -batch");
    }

    pub fn apply(&mut self, step: &Step) {
        match step {
            Step::Sysctl(..) | Step::Frame { .. } => unreachable!("handled by the runner"),
            Step::Proxy(p) => {
                self.batch(&format!("neigh add proxy {p} dev vk\n"));
                self.proxies.push(*p);
            }
            Step::Neigh {
                addr,
                mac,
                state,
                router,
            } => {
                let r = if *router { " router" } else { "" };
                let m = eth::fmt_mac(mac);
                self.batch(&format!(
                    "neigh replace {addr} lladdr {m} dev vk nud {state}{r}\n"
                ));
            }
            Step::Send(to) => {
                let (sock, at) = match to {
                    IpAddr::V4(a) => (&self.udp[0], SocketAddr::new((*a).into(), 9)),
                    IpAddr::V6(a) => (
                        &self.udp[1],
                        SocketAddr::V6(SocketAddrV6::new(*a, 9, 0, self.vk_index)),
                    ),
                };
                sock.send_to(b"x", at).expect("send from K");
            }
            Step::Wait(ms) => std::thread::sleep(Duration::from_millis(*ms)),
        }
        self.barrier();
    }

    /// Inject `frame` into K; returns what K sent before the barrier's
    /// reply (frames sent earlier are drained first).
    pub fn inject(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        self.tap.drain(|_| {});
        self.tap.send(frame).expect("inject into K");
        self.barrier()
    }

    /// Send the barrier and collect K's frames until its reply.
    fn barrier(&mut self) -> Vec<Vec<u8>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.tap
            .send(&verdict::barrier_frame(seq))
            .expect("barrier");
        let mut got = Vec::new();
        let mut done = false;
        let t0 = Instant::now();
        while !done {
            let left = Duration::from_secs(3).saturating_sub(t0.elapsed());
            assert!(!left.is_zero(), "the kernel did not answer barrier {seq}");
            self.tap.wait(left);
            self.tap.drain(|f| {
                if f.outgoing || done {
                    return;
                }
                if verdict::is_barrier_reply(&f.data, seq) {
                    done = true;
                } else {
                    got.push(f.data);
                }
            });
        }
        got
    }

    pub fn view(&self) -> Vec<Entry> {
        let out = self
            .k
            .ip(&["neigh", "show", "dev", "vk", "nud", "all"])
            .expect("ip neigh show");
        verdict::parse_ip_neigh(&out)
    }
}

/// neighcache's `Host` as the host under test.
pub struct Ours {
    host: Host<Rec>,
    elapsed: u64,
}

impl Ours {
    pub fn new(sysctls: &[(&'static str, u8)]) -> Ours {
        let get = |n: &str| {
            sysctls
                .iter()
                .find(|(k, _)| *k == n)
                .map_or(default_sysctl(n), |(_, v)| *v)
        };
        let policy = Policy {
            arp_accept: match get("arp_accept") {
                0 => ArpAccept::Never,
                1 => ArpAccept::Always,
                _ => ArpAccept::SameSubnet,
            },
            drop_gratuitous_arp: get("drop_gratuitous_arp") != 0,
            drop_unsolicited_na: get("drop_unsolicited_na") != 0,
            accept_untracked_na: match get("accept_untracked_na") {
                0 => UntrackedNa::Never,
                1 => UntrackedNa::Always,
                _ => UntrackedNa::SameSubnet,
            },
            forwarding: get("forwarding") != 0,
            proxy_ndp: get("proxy_ndp") != 0,
            accept_redirects: get("accept_redirects") != 0,
        };
        let dev = DevId(1);
        let mut iface = Iface::new(dev, "vk", K_MAC)
            .with_ipv4("198.18.0.1".parse().unwrap(), 24)
            .with_ipv6("2001:db8::1".parse().unwrap(), 64);
        iface.link_local = true;
        assert_eq!(iface.link_local_addr(), Some(K_LL));
        let config = TableConfig {
            parms: NeighParms {
                delay_probe_time: 1000,
                ..NeighParms::default()
            },
            ..TableConfig::default()
        };
        let proxy = Arc::new(Proxy::with_seed(1));
        let parms = ProxyParms {
            delay: 0,
            ..ProxyParms::default()
        };
        proxy.add_device(dev, parms).unwrap();
        let host = Host::with_proxy(iface, policy, config, Rec::default(), None, proxy);
        Ours {
            host: host.expect("our host"),
            elapsed: 0,
        }
    }

    pub fn apply(&mut self, step: &Step) {
        let (h, dev) = (&self.host, DevId(1));
        match step {
            Step::Sysctl(..) | Step::Frame { .. } => unreachable!("handled by the runner"),
            Step::Proxy(p) => {
                h.proxy()
                    .add(Prefix::host(*p).unwrap(), Some(dev), false)
                    .unwrap();
            }
            Step::Neigh {
                addr,
                mac,
                state,
                router,
            } => {
                let state = match *state {
                    "reachable" => NudState::REACHABLE,
                    "stale" => NudState::STALE,
                    "probe" => NudState::PROBE,
                    "failed" => NudState::FAILED,
                    _ => NudState::PERMANENT,
                };
                let mut f =
                    UpdateFlags::ADMIN | UpdateFlags::OVERRIDE | UpdateFlags::OVERRIDE_ISROUTER;
                if *router {
                    f = f | UpdateFlags::ISROUTER;
                }
                let r = match addr {
                    IpAddr::V4(a) => {
                        let n = h.v4().lookup_or_create(*a, dev).unwrap();
                        h.v4().update(&n, Some(mac), state, f)
                    }
                    IpAddr::V6(a) => {
                        let n = h.v6().lookup_or_create(*a, dev).unwrap();
                        h.v6().update(&n, Some(mac), state, f)
                    }
                };
                r.unwrap_or_else(|e| panic!("ours: neigh {addr} {state}: {e}"));
            }
            Step::Send(to) => {
                h.send_udp(*to, 4000, 9, b"x").expect("send from ours");
            }
            Step::Wait(ms) => {
                self.elapsed += ms;
                h.run_timers(START_TICK + self.elapsed).unwrap();
            }
        }
        self.take();
    }

    fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.host.sink().0.lock().unwrap())
    }

    pub fn inject(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        let _ = self.host.receive(frame);
        self.take()
    }

    pub fn view(&self) -> Vec<Entry> {
        verdict::ours_view(&self.host.v4().dump(), &self.host.v6().dump())
    }
}

/// Run every scenario on both hosts; one row per frame.
pub fn run(scenarios: &[Scenario]) -> Vec<Row> {
    let mut kernel = Kernel::new().expect("frame differential topology");
    let mut rows = Vec::new();
    for sc in scenarios {
        let sysctls: Vec<(&'static str, u8)> = sc
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Sysctl(n, v) => Some((*n, *v)),
                _ => None,
            })
            .collect();
        kernel.reset(&sysctls);
        let mut ours = Ours::new(&sysctls);
        for step in &sc.steps {
            match step {
                Step::Sysctl(..) => {}
                Step::Frame { label, bytes } => {
                    let k_sent = kernel.inject(bytes);
                    let o_sent = ours.inject(bytes);
                    rows.push(Row::new(
                        sc,
                        label,
                        (kernel.view(), &k_sent),
                        (ours.view(), &o_sent),
                    ));
                }
                _ => {
                    kernel.apply(step);
                    ours.apply(step);
                }
            }
        }
    }
    rows
}
