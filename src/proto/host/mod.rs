//! [`Host`]: one Ethernet interface as a small IP host — an IPv4 (ARP) and
//! an IPv6 (ND) neighbour table with [`WireOps`], receive dispatch (ARP,
//! Neighbor Discovery, echo requests and other packets for us, each first
//! accepted or refused as a host's IP layer would: `rx`), an echo
//! responder, helpers to originate UDP and echo packets through the cache
//! (`resolve_output`: queued while resolving, sent with the cached header),
//! and proxy ARP/ND through a [`Proxy`] whose delayed answers run on the
//! host's timers (`Host` is a [`TimerTarget`]: its two tables and its
//! device's proxy queue, on one clock).
//!
//! This file owns the host, its construction and its send side; `rx` its
//! receive side. The wire rules are in `proto::accept`, `proto::arp` and
//! `proto::ndisc`, the proxy entries and queue in `proto::proxy`, the
//! socket is the caller's [`FrameSink`].

mod rx;

use super::arp::{self, ArpRx};
use super::error::{ProtoStats, ProtoStatsSnapshot};
use super::eth::{self, Mac, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use super::iface::{Iface, Policy};
use super::ip::{self, Local};
use super::ndisc::{self, NdRx};
use super::ops::{ErrorHook, FrameSink, WireOps};
use super::proxy::Proxy;
use crate::{
    Clock, DeviceConfig, MonotonicClock, NeighError, NeighTable, TableConfig, Tick, TimerTarget,
    TimerThread, Xmit,
};
use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

/// The IPv4 table of a [`Host`].
pub type Table4<S> = NeighTable<Ipv4Addr, WireOps<Arc<S>>>;
/// The IPv6 table of a [`Host`].
pub type Table6<S> = NeighTable<Ipv6Addr, WireOps<Arc<S>>>;

/// The tick a [`Host`]'s tables start at: three days. Like the kernel's
/// `INITIAL_JIFFIES`, a start far from zero keeps "long ago" timestamps
/// meaningful from the first second: an entry's `confirmed` is initialised
/// to `now - 2 * base_reachable_time`, which saturates at 0 on a table whose
/// clock starts at 0, so during its first `2 * base_reachable_time` a DELAY
/// entry would count as confirmed and skip its probe.
pub const START_TICK: Tick = 3 * 24 * 3600 * 1000;

/// A millisecond clock reading [`START_TICK`] when created.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostClock(MonotonicClock);

impl HostClock {
    /// A clock reading `START_TICK` now.
    pub fn new() -> Self {
        HostClock(MonotonicClock::new())
    }
}

impl Clock for HostClock {
    fn now(&self) -> Tick {
        START_TICK + self.0.now()
    }
}

/// What a received frame was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RxEvent {
    /// An ARP packet.
    Arp(ArpRx),
    /// A Neighbor Discovery message (NS, NA, RS, RA, Redirect).
    Nd(NdRx),
    /// A packet for us: one of our addresses, or (IPv6) a group we joined
    /// (echo requests from the link are answered).
    Local(Local),
    /// An IPv4 packet to a broadcast address or to all-hosts: accepted, and
    /// nothing here answers it.
    Ignored,
}

/// Why a packet could not be originated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The interface has no address of the destination's family.
    NoSourceAddress(IpAddr),
    /// The destination is not on the link (this host has no routes).
    NotOnLink(IpAddr),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NoSourceAddress(a) => write!(f, "no source address for {a}"),
            SendError::NotOnLink(a) => write!(f, "{a} is not on the link (no routes)"),
        }
    }
}

impl std::error::Error for SendError {}

/// One interface with its two neighbour tables.
pub struct Host<S: FrameSink> {
    iface: Arc<Iface>,
    policy: Policy,
    stats: Arc<ProtoStats>,
    sink: Arc<S>,
    v4: Arc<Table4<S>>,
    v6: Arc<Table6<S>>,
    proxy: Arc<Proxy>,
}

impl<S: FrameSink> Host<S> {
    /// A host for `iface` with receive `policy`, tables built from `config`
    /// (its `parms` are the interface's), sending through `sink`.
    pub fn new(
        iface: Iface,
        policy: Policy,
        config: TableConfig,
        sink: S,
    ) -> Result<Self, NeighError> {
        Self::with_error_hook(iface, policy, config, sink, None)
    }

    /// As [`new`](Self::new), calling `hook` for every packet whose
    /// resolution failed (the kernel sends ICMP host unreachable).
    pub fn with_error_hook(
        iface: Iface,
        policy: Policy,
        config: TableConfig,
        sink: S,
        hook: Option<ErrorHook>,
    ) -> Result<Self, NeighError> {
        Self::with_proxy(iface, policy, config, sink, hook, Arc::new(Proxy::new()))
    }

    /// As [`with_error_hook`](Self::with_error_hook), answering for the
    /// entries of `proxy` (shared with other hosts for every-device
    /// entries). The interface's device is registered with it (default
    /// `proxy_delay` and `proxy_qlen`) unless it already is.
    pub fn with_proxy(
        iface: Iface,
        policy: Policy,
        config: TableConfig,
        sink: S,
        hook: Option<ErrorHook>,
        proxy: Arc<Proxy>,
    ) -> Result<Self, NeighError> {
        let iface = Arc::new(iface);
        let sink = Arc::new(sink);
        let stats = Arc::new(ProtoStats::new());
        let ops = || {
            let o = WireOps::new(iface.clone(), sink.clone(), stats.clone());
            match &hook {
                Some(h) => o.with_error_hook(h.clone()),
                None => o,
            }
        };
        let v4 = Arc::new(NeighTable::with_start(config, ops(), START_TICK)?);
        let v6 = Arc::new(NeighTable::with_start(config, ops(), START_TICK)?);
        v4.add_device(iface.dev, DeviceConfig::ethernet(iface.mac, ETHERTYPE_IPV4))?;
        v6.add_device(iface.dev, DeviceConfig::ethernet(iface.mac, ETHERTYPE_IPV6))?;
        proxy.ensure_device(iface.dev);
        Ok(Host {
            iface,
            policy,
            stats,
            sink,
            v4,
            v6,
            proxy,
        })
    }

    /// The proxy entries this host answers for, and their queue
    /// (`ip neigh add proxy ADDR dev DEV`: `host.proxy().add(..)`).
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// The interface.
    pub fn iface(&self) -> &Iface {
        &self.iface
    }

    /// The receive policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The IPv4 (ARP) table.
    pub fn v4(&self) -> &Arc<Table4<S>> {
        &self.v4
    }

    /// The IPv6 (ND) table.
    pub fn v6(&self) -> &Arc<Table6<S>> {
        &self.v6
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The protocol counters.
    pub fn stats(&self) -> ProtoStatsSnapshot {
        self.stats.snapshot()
    }

    /// Start a timer thread running this host ([`TimerTarget`]: both
    /// tables and the proxy queue) every `period`, from `clock`, which must
    /// read at least [`START_TICK`]. It stops when dropped.
    pub fn spawn_timers(self: &Arc<Self>, clock: HostClock, period: Duration) -> TimerThread {
        TimerThread::spawn(self.clone(), clock, period)
    }

    /// The multicast MACs the interface must receive: all-nodes, all-routers
    /// when forwarding, and the solicited-node groups of our IPv6 addresses
    /// and of the IPv6 addresses we proxy on it (a proxied IPv6 *prefix*
    /// needs every multicast frame:
    /// [`needs_all_multicast`](Self::needs_all_multicast)).
    pub fn multicast_macs(&self) -> Vec<Mac> {
        let mut v = vec![eth::ipv6_multicast_mac(&ndisc::ALL_NODES)];
        if self.policy.forwarding {
            v.push(eth::ipv6_multicast_mac(&Ipv6Addr::new(
                0xff02, 0, 0, 0, 0, 0, 0, 2,
            )));
        }
        let proxied = self.proxy.entries().into_iter().filter_map(|e| {
            let mine = e.dev.is_none_or(|d| d == self.iface.dev);
            match e.prefix.addr() {
                IpAddr::V6(a) if mine && e.prefix.is_host() => Some(a),
                _ => None,
            }
        });
        let addrs = self
            .iface
            .ipv6
            .map(|a| a.addr)
            .into_iter()
            .chain(self.iface.link_local_addr())
            .chain(proxied);
        for a in addrs {
            let m = eth::ipv6_multicast_mac(&eth::solicited_node(&a));
            if !v.contains(&m) {
                v.push(m);
            }
        }
        v
    }

    /// Does the interface need every multicast frame (`PACKET_MR_ALLMULTI`)?
    /// Yes when we proxy an IPv6 prefix on it: its solicitations go to
    /// solicited-node groups we cannot enumerate.
    pub fn needs_all_multicast(&self) -> bool {
        self.proxy.entries().iter().any(|e| {
            e.dev.is_none_or(|d| d == self.iface.dev)
                && e.prefix.addr().is_ipv6()
                && !e.prefix.is_host()
        })
    }

    /// Our source address for talking to `dst`.
    pub fn source_for(&self, dst: IpAddr) -> Result<IpAddr, SendError> {
        match dst {
            IpAddr::V4(_) => self.iface.ipv4.map(|a| IpAddr::V4(a.addr)),
            IpAddr::V6(d) if d.segments()[0] & 0xffc0 == 0xfe80 => {
                self.iface.ipv6_source_for(d).map(IpAddr::V6)
            }
            IpAddr::V6(_) => self.iface.ipv6.map(|a| IpAddr::V6(a.addr)),
        }
        .ok_or(SendError::NoSourceAddress(dst))
    }

    /// Check that `dst` can be reached on the link.
    pub fn check_on_link(&self, dst: IpAddr) -> Result<(), SendError> {
        let on = match dst {
            IpAddr::V4(d) => self.iface.on_link_v4(d),
            IpAddr::V6(d) => self.iface.on_link_v6(d),
        };
        if on {
            Ok(())
        } else {
            Err(SendError::NotOnLink(dst))
        }
    }

    /// Send an IP packet to the on-link neighbour `next_hop` through its
    /// table (`ip_finish_output2`'s neighbour step).
    pub fn send_ip(&self, next_hop: IpAddr, packet: Vec<u8>) -> Xmit {
        match next_hop {
            IpAddr::V4(k) => self.v4.resolve_output(k, self.iface.dev, packet),
            IpAddr::V6(k) => self.v6.resolve_output(k, self.iface.dev, packet),
        }
    }

    /// Send a UDP datagram to `dst` (on the link).
    pub fn send_udp(
        &self,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        payload: &[u8],
    ) -> Result<Xmit, SendError> {
        self.check_on_link(dst)?;
        let src = self.source_for(dst)?;
        Ok(self.send_ip(dst, ip::udp(src, dst, sport, dport, payload)))
    }

    /// Send an ICMP(v6) echo request to `dst` (on the link).
    pub fn send_echo(
        &self,
        dst: IpAddr,
        ident: u16,
        seq: u16,
        data: &[u8],
    ) -> Result<Xmit, SendError> {
        self.check_on_link(dst)?;
        let src = self.source_for(dst)?;
        Ok(self.send_ip(dst, ip::echo(src, dst, ident, seq, data, false)))
    }

    /// Announce our addresses: a gratuitous ARP and an unsolicited NA.
    pub fn announce(&self) {
        let frames = [
            arp::announce_frame(&self.iface),
            ndisc::announce_frame(&self.iface, self.policy.forwarding),
        ];
        for f in frames.into_iter().flatten() {
            self.send_frame(&f);
        }
    }
}

/// The host's timers: both tables and its device's proxy queue, on one
/// clock (drive it with [`Host::spawn_timers`] or any [`TimerTarget`]
/// driver).
impl<S: FrameSink> TimerTarget for Host<S> {
    /// Run both tables to `now`, then the proxy requests due by then.
    /// Every part runs even if another fails; the first error is returned.
    fn run_timers(&self, now: Tick) -> Result<usize, NeighError> {
        let a = self.v4.run_timers(now);
        let b = self.v6.run_timers(now);
        let c = self.run_proxy(now);
        Ok(a? + b? + c)
    }

    fn next_event(&self) -> Tick {
        let dev = self.iface.dev;
        let tables = self.v4.next_event().min(self.v6.next_event());
        self.proxy.next_due(dev).map_or(tables, |t| t.min(tables))
    }

    fn jiffies(&self) -> Tick {
        self.v4.jiffies().min(self.v6.jiffies())
    }

    /// Either table's timer backlog (the proxy queue's run always finishes).
    fn backlog(&self) -> bool {
        self.v4.timer_backlog() || self.v6.timer_backlog()
    }
}
