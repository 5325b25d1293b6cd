//! The test topology: a resolver namespace R and a peer namespace P joined
//! by a veth pair (`vr` in R, `vp` in P), with the fast-failover neighbour
//! parameters on both sides; the peer's controls (silence, MAC change with
//! or without announcement); and a tap in P (`tap`) that records the probes
//! R sends (counted and timed on the wire from the peer's side, with the
//! kernel's timestamps) and P's announcements, and injects frames.
//!
//! In a "kernel" pair R's kernel owns 198.18.0.1 and 2001:db8::1; in an
//! "ours" pair R's kernel has no address (IPv6 disabled on the link) and
//! neighcache owns them through an AF_PACKET socket. P is always the
//! Linux kernel with 198.18.0.2 and 2001:db8::2.

use crate::netns::Netns;
use crate::tap::{Frame, Tap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const R_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const P_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const R4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const P4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const R6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const P6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// The neighbour parameters used on both sides.
pub const BASE_REACHABLE_MS: u64 = 2000;
pub const DELAY_PROBE_MS: u64 = 1000;
pub const RETRANS_MS: u64 = 300;
pub const UCAST: u32 = 3;
pub const MCAST: u32 = 3;

/// Address family of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fam {
    V4,
    V6,
}

impl Fam {
    pub fn peer(self) -> IpAddr {
        match self {
            Fam::V4 => IpAddr::V4(P4),
            Fam::V6 => IpAddr::V6(P6),
        }
    }
    pub fn ours(self) -> IpAddr {
        match self {
            Fam::V4 => IpAddr::V4(R4),
            Fam::V6 => IpAddr::V6(R6),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Fam::V4 => "IPv4",
            Fam::V6 => "IPv6",
        }
    }
    fn sysdir(self) -> &'static str {
        match self {
            Fam::V4 => "ipv4",
            Fam::V6 => "ipv6",
        }
    }
}

pub fn fmt_mac(m: &[u8; 6]) -> String {
    neighcache::proto::eth::fmt_mac(m)
}

fn kv(k: String, v: impl ToString) -> (String, String) {
    (k, v.to_string())
}

fn fast_parms(dev: &str, fam: Fam) -> Vec<(String, String)> {
    let d = format!("net/{}/neigh/{dev}", fam.sysdir());
    vec![
        kv(format!("{d}/base_reachable_time_ms"), BASE_REACHABLE_MS),
        kv(format!("{d}/delay_first_probe_time"), DELAY_PROBE_MS / 1000),
        kv(format!("{d}/retrans_time_ms"), RETRANS_MS),
        kv(format!("{d}/ucast_solicit"), UCAST),
        kv(format!("{d}/mcast_solicit"), MCAST),
    ]
}

/// R and P joined by `vr` <-> `vp`.
pub struct Pair {
    pub r: Netns,
    pub p: Netns,
}

impl Pair {
    pub fn new(tag: &str, ours: bool) -> Result<Pair, String> {
        let r = Netns::create(&format!("{tag}-r"))?;
        let p = Netns::create(&format!("{tag}-p"))?;
        let mut pre = vec![
            kv("net/ipv6/conf/all/accept_dad".into(), 0),
            kv("net/ipv6/conf/default/accept_dad".into(), 0),
        ];
        p.sysctl(&pre)?;
        if ours {
            pre.push(kv("net/ipv6/conf/all/disable_ipv6".into(), 1));
            pre.push(kv("net/ipv6/conf/default/disable_ipv6".into(), 1));
        }
        r.sysctl(&pre)?;
        crate::netns::ip(&[
            "link",
            "add",
            "name",
            "vr",
            "netns",
            &r.name,
            "address",
            &fmt_mac(&R_MAC),
            "type",
            "veth",
            "peer",
            "name",
            "vp",
            "netns",
            &p.name,
            "address",
            &fmt_mac(&P_MAC),
        ])?;
        let mut ps = fast_parms("vp", Fam::V4);
        ps.extend(fast_parms("vp", Fam::V6));
        p.sysctl(&ps)?;
        let mut rs = fast_parms("vr", Fam::V4);
        if !ours {
            rs.extend(fast_parms("vr", Fam::V6));
        }
        r.sysctl(&rs)?;
        p.ip(&["addr", "add", "198.18.0.2/24", "dev", "vp"])?;
        p.ip(&["addr", "add", "2001:db8::2/64", "dev", "vp", "nodad"])?;
        if !ours {
            r.ip(&["addr", "add", "198.18.0.1/24", "dev", "vr"])?;
            r.ip(&["addr", "add", "2001:db8::1/64", "dev", "vr", "nodad"])?;
        }
        // Loopback up: without it a namespace cannot deliver to itself,
        // e.g. the ICMP host-unreachable the kernel sends to a local sender
        // whose queued packets failed to resolve.
        for (ns, dev) in [(&r, "vr"), (&p, "vp")] {
            ns.ip(&["link", "set", "lo", "up"])?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        Ok(Pair { r, p })
    }

    /// Pin R's IPv6 address PERMANENT in P, so that P's NAs to R never
    /// start P's own probing of R (whose NS would update R's entry for P
    /// and perturb the run). Re-done after each MAC change of P (the kernel
    /// flushes its ND cache on NETDEV_CHANGEADDR, permanent entries too).
    pub fn pin_r_in_peer(&self) -> Result<(), String> {
        self.p
            .ip(&[
                "-6",
                "neigh",
                "replace",
                "2001:db8::1",
                "lladdr",
                &fmt_mac(&R_MAC),
                "dev",
                "vp",
                "nud",
                "permanent",
            ])
            .map(|_| ())
    }

    /// Make P deaf to R's resolution (`arp off` for IPv4; for IPv6 its
    /// address is removed, so it answers no NS), or hear again.
    pub fn silence_peer(&self, fam: Fam, silent: bool) -> Result<(), String> {
        match (fam, silent) {
            (Fam::V4, true) => self.p.ip(&["link", "set", "vp", "arp", "off"]),
            (Fam::V4, false) => self.p.ip(&["link", "set", "vp", "arp", "on"]),
            (Fam::V6, true) => self
                .p
                .ip(&["-6", "addr", "del", "2001:db8::2/64", "dev", "vp"]),
            (Fam::V6, false) => {
                self.p
                    .ip(&["-6", "addr", "add", "2001:db8::2/64", "dev", "vp", "nodad"])
            }
        }
        .map(|_| ())
    }

    /// Whether P announces a MAC change: a gratuitous ARP (`arp_notify`)
    /// and an unsolicited NA (`ndisc_notify`).
    pub fn set_peer_notify(&self, announce: bool) -> Result<(), String> {
        let n = u8::from(announce);
        self.p.sysctl(&[
            kv("net/ipv4/conf/vp/arp_notify".into(), n),
            kv("net/ipv6/conf/vp/ndisc_notify".into(), n),
        ])
    }

    /// Change P's MAC (call [`pin_r_in_peer`](Self::pin_r_in_peer) after).
    pub fn set_peer_mac(&self, mac: [u8; 6]) -> Result<(), String> {
        self.p
            .ip(&["link", "set", "vp", "address", &fmt_mac(&mac)])
            .map(|_| ())
    }
}

/// A probe R sent, seen from P.
#[derive(Clone, Copy, Debug)]
pub struct WireProbe {
    /// When P's kernel received it (the tap's kernel timestamp).
    pub t: Instant,
    pub fam: Fam,
    pub unicast: bool,
    pub dst_mac: [u8; 6],
}

/// What a recorded frame was.
#[derive(Clone, Copy, Debug)]
enum Seen {
    /// R asking for P's address (ARP request, NS).
    Probe(WireProbe),
    /// P announcing its address (gratuitous ARP, unsolicited NA), with the
    /// MAC it announced, when it left P.
    Announce { t: Instant, fam: Fam, mac: [u8; 6] },
}

/// A tap in P recording R's probes for P's addresses and P's own
/// announcements, each with the kernel's timestamp, and used to inject
/// frames as P. Frames are read when asked for ([`Capture::probes`],
/// [`Capture::announced`] drain the socket first), so nothing the kernel
/// queued before the call is missed however late a thread runs; a
/// background thread only keeps the socket from filling up.
pub struct Capture {
    tap: Arc<Tap>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn classify(f: &Frame) -> Option<Seen> {
    let d = &f.data;
    let arp = d.len() >= 42 && d[12..14] == [8, 6];
    let icmp6 = |ty: u8| {
        d.len() >= 78
            && d[12..14] == [0x86, 0xdd]
            && d[20] == 58
            && d[54] == ty
            && d[62..78] == P6.octets()
    };
    let mac = |r: std::ops::Range<usize>| -> [u8; 6] { d[r].try_into().unwrap() };
    if !f.outgoing && d.len() >= 14 && d[6..12] == R_MAC {
        let fam = if arp && d[20..22] == [0, 1] && d[38..42] == P4.octets() {
            Fam::V4
        } else if icmp6(135) {
            Fam::V6
        } else {
            return None;
        };
        let dst_mac = mac(0..6);
        return Some(Seen::Probe(WireProbe {
            t: f.t,
            fam,
            unicast: dst_mac[0] & 1 == 0,
            dst_mac,
        }));
    }
    if f.outgoing {
        // Gratuitous ARP: sender and target address both P's.
        if arp && d[28..32] == P4.octets() && d[38..42] == P4.octets() {
            return Some(Seen::Announce {
                t: f.t,
                fam: Fam::V4,
                mac: mac(22..28),
            });
        }
        // Unsolicited NA: to all-nodes.
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets();
        if icmp6(136) && d[38..54] == all_nodes {
            return Some(Seen::Announce {
                t: f.t,
                fam: Fam::V6,
                mac: mac(6..12),
            });
        }
    }
    None
}

impl Capture {
    pub fn start(p: &Netns) -> Capture {
        let tap = Arc::new(p.run(|| Tap::open("vp").expect("tap in the peer namespace")));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tp, sn, st) = (tap.clone(), seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // Relaxed: a stop flag; the join in Drop synchronises.
            while !st.load(Ordering::Relaxed) {
                tp.wait(Duration::from_millis(20));
                Self::sync(&tp, &sn);
            }
        });
        Capture {
            tap,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Record every frame queued so far (under the lock, so that a reader
    /// never sees a partial drain).
    fn sync(tap: &Tap, seen: &Mutex<Vec<Seen>>) {
        let mut s = seen.lock().unwrap();
        tap.drain(|f| s.extend(classify(&f)));
    }

    /// Probes of `fam` that reached P in `[from, to]`.
    pub fn probes(&self, fam: Fam, from: Instant, to: Instant) -> Vec<WireProbe> {
        Self::sync(&self.tap, &self.seen);
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|s| match s {
                Seen::Probe(p) if p.fam == fam && p.t >= from && p.t <= to => Some(*p),
                _ => None,
            })
            .collect()
    }

    /// When P first announced `mac` for `fam` in `[from, to]`.
    pub fn announced(&self, fam: Fam, mac: [u8; 6], from: Instant, to: Instant) -> Option<Instant> {
        Self::sync(&self.tap, &self.seen);
        self.seen.lock().unwrap().iter().find_map(|s| match *s {
            Seen::Announce { t, fam: f, mac: m }
                if f == fam && m == mac && t >= from && t <= to =>
            {
                Some(t)
            }
            _ => None,
        })
    }

    pub fn inject(&self, frame: &[u8]) {
        self.tap.send(frame).expect("inject a frame as the peer");
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // Relaxed: see the thread.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// UDP sockets bound to port 9 in P, so that R's datagrams are consumed
/// silently: no ICMP port unreachable, hence no traffic from P to R that
/// would move R's entry for P.
pub fn udp_sinks(p: &Netns) -> Vec<std::net::UdpSocket> {
    p.run(|| {
        vec![
            std::net::UdpSocket::bind((P4, 9)).expect("bind 198.18.0.2:9"),
            std::net::UdpSocket::bind((P6, 9)).expect("bind [2001:db8::2]:9"),
        ]
    })
}
