//! The two resolving hosts a scenario can drive the same way: the Linux
//! kernel in R (UDP sockets, its neighbour table read over rtnetlink, its
//! ICMP errors counted on the sockets' error queues) and neighcache in R
//! (a `Host` on an AF_PACKET socket, with its receive loop and timer
//! threads). Owns that abstraction; the scenario is in `scenario`.

use crate::netlink::Rtnl;
use crate::netns::Netns;
use crate::topo::{Fam, BASE_REACHABLE_MS, DELAY_PROBE_MS, MCAST, RETRANS_MS, UCAST};
use neighcache::proto::packet::PacketSocket;
use neighcache::proto::{Host, HostClock, Iface, Policy};
use neighcache::{DevId, NeighParms, NudState, TableConfig, TimerThread};
use std::net::{IpAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// P's entry in R's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snap {
    pub state: NudState,
    pub mac: Option<[u8; 6]>,
}

/// A resolving host.
pub trait Resolver: Send + Sync {
    /// Send one UDP datagram to P's address of `fam`, port 9.
    fn send(&self, fam: Fam);
    /// P's entry, if any.
    fn snap(&self, fam: Fam) -> Option<Snap>;
    /// The current randomised `reachable_time`.
    fn reachable_ms(&self, fam: Fam) -> Option<u64>;
    /// Packets reported unreachable so far (kernel: ICMP errors on the
    /// socket's error queue; ours: `error_report` calls).
    fn reported(&self, fam: Fam) -> u64;
    /// Delete P's entry of `fam` if there is one (`ip neigh del`; ours:
    /// `remove`).
    fn forget(&self, fam: Fam);
}

/// The neighbour parameters of both sides, as a `NeighParms`.
pub fn fast_parms() -> NeighParms {
    NeighParms {
        base_reachable_time: BASE_REACHABLE_MS,
        delay_probe_time: DELAY_PROBE_MS,
        retrans_time: RETRANS_MS,
        ucast_probes: UCAST,
        mcast_probes: MCAST,
        ..NeighParms::default()
    }
}

pub struct KernelResolver {
    ns: String,
    udp: [UdpSocket; 2],
    rtnl: Mutex<Rtnl>,
    errors: Mutex<[u64; 2]>,
}

fn idx(fam: Fam) -> usize {
    (fam == Fam::V6) as usize
}

fn set_recverr(s: &UdpSocket, v6: bool) {
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on an open socket with a live c_int.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "IP_RECVERR: {}", std::io::Error::last_os_error());
}

/// Take every pending error off `s`'s error queue; returns how many. This
/// also clears `sk_err`, so the next send is not failed by an old error.
fn drain_errors(s: &UdpSocket) -> u64 {
    let mut n = 0;
    loop {
        let mut buf = [0u8; 512];
        let mut ctl = [0u64; 64];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: all-zero is a valid msghdr.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&ctl) as _;
        // SAFETY: `msg` points to our live buffers of the sizes given.
        let r = unsafe {
            libc::recvmsg(
                s.as_raw_fd(),
                &mut msg,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if r < 0 {
            return n;
        }
        n += 1;
    }
}

impl KernelResolver {
    pub fn new(r: &Netns) -> KernelResolver {
        let (udp, rtnl) = r.run(|| {
            let u4 = UdpSocket::bind("198.18.0.1:0").expect("bind in R");
            let u6 = UdpSocket::bind("[2001:db8::1]:0").expect("bind in R");
            set_recverr(&u4, false);
            set_recverr(&u6, true);
            u4.connect("198.18.0.2:9").unwrap();
            u6.connect("[2001:db8::2]:9").unwrap();
            ([u4, u6], Rtnl::open().expect("rtnetlink in R"))
        });
        KernelResolver {
            ns: r.name.clone(),
            udp,
            rtnl: Mutex::new(rtnl),
            errors: Mutex::new([0; 2]),
        }
    }

    fn drain(&self, fam: Fam) {
        let n = drain_errors(&self.udp[idx(fam)]);
        self.errors.lock().unwrap()[idx(fam)] += n;
    }
}

impl Resolver for KernelResolver {
    fn send(&self, fam: Fam) {
        self.drain(fam);
        let _ = self.udp[idx(fam)].send(b"neighcache kernel-peer");
    }

    fn snap(&self, fam: Fam) -> Option<Snap> {
        let af = if fam == Fam::V4 {
            libc::AF_INET
        } else {
            libc::AF_INET6
        } as u8;
        let all = self
            .rtnl
            .lock()
            .unwrap()
            .dump(af)
            .expect("RTM_GETNEIGH dump");
        all.into_iter().find(|k| k.dst == fam.peer()).map(|k| Snap {
            state: NudState::from_bits(k.state as u8),
            mac: k
                .lladdr
                .filter(|_| NudState::from_bits(k.state as u8).is(NudState::VALID)),
        })
    }

    fn reachable_ms(&self, fam: Fam) -> Option<u64> {
        let name = if fam == Fam::V4 {
            "arp_cache"
        } else {
            "ndisc_cache"
        };
        let out = crate::netns::ip(&["-n", &self.ns, "ntable", "show", "dev", "vr", "name", name])
            .ok()?;
        let mut w = out.split_whitespace();
        while let Some(t) = w.next() {
            if t == "reachable" {
                return w.next()?.parse().ok();
            }
        }
        None
    }

    fn reported(&self, fam: Fam) -> u64 {
        self.drain(fam);
        self.errors.lock().unwrap()[idx(fam)]
    }

    fn forget(&self, fam: Fam) {
        let peer = fam.peer().to_string();
        let _ = crate::netns::ip(&["-n", &self.ns, "neigh", "del", &peer, "dev", "vr"]);
    }
}

/// neighcache owning R's addresses on `vr` through a raw socket.
pub struct OursResolver {
    pub host: Arc<Host<PacketSocket>>,
    stop: Arc<AtomicBool>,
    rx: Mutex<Option<JoinHandle<()>>>,
    _timers: TimerThread,
}

impl OursResolver {
    pub fn new(r: &Netns) -> OursResolver {
        let sock = r.run(|| PacketSocket::open("vr").expect("raw socket in R"));
        let iface = Iface::new(DevId(sock.ifindex()), "vr", sock.mac())
            .with_ipv4("198.18.0.1".parse().unwrap(), 24)
            .with_ipv6("2001:db8::1".parse().unwrap(), 64);
        let cfg = TableConfig {
            parms: fast_parms(),
            ..TableConfig::default()
        };
        let host = Arc::new(Host::new(iface, Policy::default(), cfg, sock).expect("host"));
        for m in host.multicast_macs() {
            host.sink().join_multicast(&m).unwrap();
        }
        host.sink()
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let timers = host.spawn_timers(HostClock::new(), Duration::from_millis(1));
        // The first `run_timers` runs the periodic GC, which re-draws
        // `reachable_time` (the table's first re-draw is due at its start):
        // let it happen before any measurement reads that value.
        let started = |t: neighcache::Tick| t > neighcache::proto::START_TICK;
        while !(started(host.v4().jiffies()) && started(host.v6().jiffies())) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (h, st) = (host.clone(), stop.clone());
        let rx = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !st.load(Ordering::Relaxed) {
                if let Ok(info) = h.sink().recv(&mut buf) {
                    let _ = h.receive_with(&buf[..info.len], info.checksum);
                }
            }
        });
        OursResolver {
            host,
            stop,
            rx: Mutex::new(Some(rx)),
            _timers: timers,
        }
    }
}

impl Drop for OursResolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.rx.lock().unwrap().take() {
            let _ = t.join();
        }
    }
}

impl Resolver for OursResolver {
    fn send(&self, fam: Fam) {
        let _ = self
            .host
            .send_udp(fam.peer(), 40000, 9, b"neighcache kernel-peer");
    }

    fn snap(&self, fam: Fam) -> Option<Snap> {
        let snap = |state: NudState, ll: Option<neighcache::LlAddr>| Snap {
            state,
            mac: ll.map(|a| a.as_bytes().try_into().unwrap()),
        };
        match fam.peer() {
            IpAddr::V4(k) => self
                .host
                .v4()
                .dump()
                .into_iter()
                .find(|e| e.key == k)
                .map(|e| snap(e.state, e.lladdr)),
            IpAddr::V6(k) => self
                .host
                .v6()
                .dump()
                .into_iter()
                .find(|e| e.key == k)
                .map(|e| snap(e.state, e.lladdr)),
        }
    }

    fn reachable_ms(&self, fam: Fam) -> Option<u64> {
        let dev = self.host.iface().dev;
        match fam {
            Fam::V4 => self.host.v4().reachable_time(dev),
            Fam::V6 => self.host.v6().reachable_time(dev),
        }
    }

    fn reported(&self, fam: Fam) -> u64 {
        match fam {
            Fam::V4 => self.host.v4().ops().error_reports(),
            Fam::V6 => self.host.v6().ops().error_reports(),
        }
    }

    fn forget(&self, fam: Fam) {
        let dev = self.host.iface().dev;
        let _ = match fam.peer() {
            IpAddr::V4(a) => self.host.v4().remove(a, dev),
            IpAddr::V6(a) => self.host.v6().remove(a, dev),
        };
    }
}
