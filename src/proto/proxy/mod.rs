//! Proxy ARP and proxy ND (the kernel's `pneigh`): answering ARP requests
//! and Neighbor Solicitations for addresses that are not ours, on behalf of
//! hosts elsewhere, and the delayed-answer queue (`proxy_delay`,
//! `proxy_qlen`).
//!
//! [`Proxy`] holds, per device, the addresses to answer for (`ip neigh add
//! proxy ADDR dev DEV`, or for every device), the device's parameters and
//! its queue of requests waiting for their random delay. The receive rules
//! that consult it are in `proto::arp` (`arp_process`) and `proto::ndisc`
//! (`ndisc_recv_ns`); [`Host`](super::Host) wires the three together and
//! runs the queue from its timers.
//!
//! Why here and not in `neigh`: a proxy entry is never a neighbour entry. It
//! is consulted only by the ARP/NS receive rules, its queue holds received
//! *frames* that are processed again (`proxy_redo`), and it needs nothing
//! from the table but its public API (the requester's entry is created as
//! for any request for us, through `lookup_or_create` + `update`). The core
//! table knows neither frames nor requests.
//!
//! **The delay, as the kernel.** A request for a proxied address is answered
//! at once when it was unicast to our MAC (`PACKET_HOST`: a neighbour
//! re-validating its entry), when the device's `proxy_delay` is 0, or when
//! it already waited; otherwise — a broadcast ARP request, a multicast NS —
//! it is queued (`pneigh_enqueue`) with a uniform random delay in
//! `[0, proxy_delay)` (default 0.8 s; RFC 4861's `MAX_ANYCAST_DELAY_TIME`
//! spirit: let the real owner answer first) and, when due, processed again
//! in full (`proxy_redo`): if its entry went meanwhile, it is not answered.
//! ARP creates the requester's entry before queueing, ND only when it
//! answers, as `arp_process` and `ndisc_recv_ns` do. Each device has its
//! own bound, `proxy_qlen` (64); a request beyond it is dropped and counted
//! (the 6.x per-device `qlen`). Proxying needs `forwarding`, and for ND
//! `proxy_ndp` ([`Policy`](super::Policy)).
//!
//! Differences from the kernel, on purpose:
//!
//! * **Prefixes.** `pneigh` entries are exact addresses; the kernel answers
//!   for a range only through `proxy_arp` = 1 and a route to it through
//!   another device (`arp_fwd_proxy`), and not at all for IPv6. Here an
//!   entry may be a prefix (`198.18.2.0/24`, `2001:db8:2::/64`): it stands
//!   for that sysctl-plus-route (IPv4) and for what `ndppd` does (IPv6).
//!   The most specific entry wins; at equal length a device's own entry
//!   beats an every-device one.
//! * **Lookups** match (address, device) exactly; the kernel's
//!   `pneigh_create` looks up with the every-device wildcard, so adding a
//!   device's entry when an every-device one exists updates the latter.
//! * **Queue bound.** At most `proxy_qlen` requests wait per device; the
//!   kernel's test (`qlen > proxy_qlen` before queueing) admits one more.
//! * **Devices.** A proxy answers only on devices registered with it
//!   ([`Host`](super::Host) registers its own); a device's entries and queue
//!   go with [`Proxy::remove_device`] (`pneigh_ifdown`).
//!
//! ```
//! use neighcache::proto::proxy::{Prefix, Proxied, ProxyParms};
//! use neighcache::proto::{FrameSink, Host, Iface, Policy};
//! use neighcache::{DevId, TableConfig};
//!
//! struct Wire; // a raw socket in a daemon
//! impl FrameSink for Wire {
//!     fn send_frame(&self, _dev: DevId, _head: &[u8], _body: &[u8]) -> std::io::Result<()> {
//!         Ok(())
//!     }
//! }
//! let eth0 = DevId(2);
//! let iface = Iface::new(eth0, "eth0", [2, 0, 0, 0, 0, 1]).with_ipv4("198.18.0.1".parse()?, 24);
//! // Proxying is a router's job: forwarding (and proxy_ndp for IPv6).
//! let policy = Policy { forwarding: true, proxy_ndp: true, ..Policy::default() };
//! let host = Host::new(iface, policy, TableConfig::default(), Wire)?;
//! // ip neigh add proxy 198.18.0.50 dev eth0; and a whole prefix.
//! host.proxy().add("198.18.0.50".parse()?, Some(eth0), false)?;
//! host.proxy().add("198.18.0.64/26".parse::<Prefix>()?, Some(eth0), false)?;
//! // net.ipv4.neigh.eth0.proxy_delay = 0: answer broadcast requests at once.
//! host.proxy().set_parms(eth0, ProxyParms { delay: 0, ..ProxyParms::default() })?;
//! assert!(host.proxy().lookup("198.18.0.70".parse()?, eth0).is_some());
//! // Received requests for them are answered with our MAC by
//! // `host.receive(frame)`; delayed answers are sent by the host's timers
//! // (`host.spawn_timers(..)`, or a `TokioTimers`).
//! # let _ = Proxied::Answered;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This module owns the entries, the parameters and the queue, under one
//! lock that no user code ever runs under (frames are taken out one at a
//! time and processed by the caller after unlocking). It must not touch the
//! neighbour table. `prefix` holds the values (prefixes, entries,
//! parameters, errors), `queue` the delayed answers; this file the
//! [`Proxy`] and its entries.

mod prefix;
mod queue;

pub use prefix::{
    Added, Prefix, ProxyEntry, ProxyError, ProxyParms, DEFAULT_PROXY_DELAY, DEFAULT_PROXY_QLEN,
    MAX_PROXY_QLEN,
};
pub use queue::{Proxied, ProxyCtx, ProxyStats};

use crate::neigh::DevId;
use crate::timer::Tick;
use core::fmt;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

struct Waiting {
    due: Tick,
    frame: Vec<u8>,
}

struct Device {
    parms: ProxyParms,
    queue: VecDeque<Waiting>,
}

struct State {
    devices: HashMap<DevId, Device>,
    /// Exact addresses: (address, device) -> router flag.
    hosts: HashMap<(IpAddr, Option<DevId>), bool>,
    /// Ranges, longest first, a device's before every-device at equal length.
    ranges: Vec<ProxyEntry>,
    rng: u64,
    /// The queue's ledger (`queued_now` is computed when read).
    ledger: ProxyStats,
}

impl State {
    fn next_rand(&mut self) -> u64 {
        crate::neigh::key::splitmix64(&mut self.rng)
    }
}

/// The proxy entries of one or more devices, their parameters and their
/// delayed-answer queues. Share it (`Arc`) between the hosts of several
/// devices for every-device entries.
pub struct Proxy {
    state: Mutex<State>,
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy::new()
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("entries", &self.entries())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Proxy {
    /// No devices, no entries; delays drawn from a random seed.
    pub fn new() -> Proxy {
        Proxy::with_seed(
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
        )
    }

    /// The same with a fixed seed for the delays (tests, simulations).
    pub fn with_seed(seed: u64) -> Proxy {
        Proxy {
            state: Mutex::new(State {
                devices: HashMap::new(),
                hosts: HashMap::new(),
                ranges: Vec::new(),
                rng: seed,
                ledger: ProxyStats::default(),
            }),
        }
    }

    /// Register `dev` with `parms` (validated).
    pub fn add_device(&self, dev: DevId, parms: ProxyParms) -> Result<(), ProxyError> {
        parms.validate()?;
        let mut st = self.state.lock();
        if st.devices.contains_key(&dev) {
            return Err(ProxyError::DeviceExists(dev));
        }
        st.devices.insert(
            dev,
            Device {
                parms,
                queue: VecDeque::new(),
            },
        );
        Ok(())
    }

    /// Register `dev` with the default parameters unless it is registered.
    pub(crate) fn ensure_device(&self, dev: DevId) {
        let _ = self.add_device(dev, ProxyParms::default());
    }

    /// Change `dev`'s parameters (requests already queued keep their due
    /// tick).
    pub fn set_parms(&self, dev: DevId, parms: ProxyParms) -> Result<(), ProxyError> {
        parms.validate()?;
        let mut st = self.state.lock();
        let d = st
            .devices
            .get_mut(&dev)
            .ok_or(ProxyError::UnknownDevice(dev))?;
        d.parms = parms;
        Ok(())
    }

    /// `dev`'s parameters, if it is registered.
    pub fn parms(&self, dev: DevId) -> Option<ProxyParms> {
        self.state.lock().devices.get(&dev).map(|d| d.parms)
    }

    /// `pneigh_ifdown` + `pneigh_queue_purge`: forget `dev`, its own
    /// entries and its queue (queued requests count as `purged`). Returns
    /// how many entries went.
    pub fn remove_device(&self, dev: DevId) -> Result<usize, ProxyError> {
        let mut st = self.state.lock();
        let d = st
            .devices
            .remove(&dev)
            .ok_or(ProxyError::UnknownDevice(dev))?;
        st.ledger.purged += d.queue.len() as u64;
        let before = st.hosts.len() + st.ranges.len();
        st.hosts.retain(|(_, d), _| *d != Some(dev));
        st.ranges.retain(|e| e.dev != Some(dev));
        Ok(before - st.hosts.len() - st.ranges.len())
    }

    /// `ip neigh add proxy PREFIX [dev DEV] [router]`: answer for `prefix`
    /// on `dev` (`None`: every registered device). An existing entry has its
    /// flag replaced. `Err(UnknownDevice)` if `dev` is not registered.
    pub fn add(
        &self,
        prefix: Prefix,
        dev: Option<DevId>,
        router: bool,
    ) -> Result<Added, ProxyError> {
        let mut st = self.state.lock();
        if let Some(d) = dev {
            if !st.devices.contains_key(&d) {
                return Err(ProxyError::UnknownDevice(d));
            }
        }
        if prefix.is_host() {
            let old = st.hosts.insert((prefix.addr(), dev), router);
            return Ok(if old.is_some() {
                Added::Updated
            } else {
                Added::Created
            });
        }
        if let Some(e) = st
            .ranges
            .iter_mut()
            .find(|e| e.prefix == prefix && e.dev == dev)
        {
            e.router = router;
            return Ok(Added::Updated);
        }
        let e = ProxyEntry {
            prefix,
            dev,
            router,
        };
        // Longest first; at equal length a device's entry before an
        // every-device one.
        let rank = |e: &ProxyEntry| (u8::MAX - e.prefix.prefix_len(), e.dev.is_none());
        let at = st.ranges.partition_point(|x| rank(x) <= rank(&e));
        st.ranges.insert(at, e);
        Ok(Added::Created)
    }

    /// `ip neigh del proxy PREFIX [dev DEV]`: the entry for exactly this
    /// prefix and device. `Err(NotFound)` if there is none.
    pub fn delete(&self, prefix: Prefix, dev: Option<DevId>) -> Result<(), ProxyError> {
        let mut st = self.state.lock();
        if prefix.is_host() {
            return st
                .hosts
                .remove(&(prefix.addr(), dev))
                .map(drop)
                .ok_or(ProxyError::NotFound);
        }
        let at = st
            .ranges
            .iter()
            .position(|e| e.prefix == prefix && e.dev == dev)
            .ok_or(ProxyError::NotFound)?;
        st.ranges.remove(at);
        Ok(())
    }

    /// `pneigh_lookup`: the entry answering for `ip` on `dev`, if `dev` is
    /// registered. Exact addresses first (the device's, then every
    /// device's), then the longest matching prefix.
    pub fn lookup(&self, ip: IpAddr, dev: DevId) -> Option<ProxyEntry> {
        let st = self.state.lock();
        if !st.devices.contains_key(&dev) {
            return None;
        }
        for d in [Some(dev), None] {
            if let Some(&router) = st.hosts.get(&(ip, d)) {
                let prefix = Prefix::host(ip).ok()?;
                return Some(ProxyEntry {
                    prefix,
                    dev: d,
                    router,
                });
            }
        }
        st.ranges
            .iter()
            .find(|e| e.dev.is_none_or(|d| d == dev) && e.prefix.contains(ip))
            .copied()
    }

    /// Has `dev` joined the solicited-node group `group` for a proxied
    /// address (`pndisc_constructor` joins each exact address's group)?
    /// Any IPv6 prefix entry for `dev` joins them all (the interface must
    /// receive every multicast frame, [`Host::needs_all_multicast`]).
    ///
    /// [`Host::needs_all_multicast`]: super::Host::needs_all_multicast
    pub fn joins_solicited_node(&self, group: std::net::Ipv6Addr, dev: DevId) -> bool {
        let st = self.state.lock();
        if !st.devices.contains_key(&dev) {
            return false;
        }
        let mine = |d: Option<DevId>| d.is_none_or(|d| d == dev);
        let host = st.hosts.keys().any(|(ip, d)| match ip {
            IpAddr::V6(a) => mine(*d) && crate::proto::eth::solicited_node(a) == group,
            IpAddr::V4(_) => false,
        });
        host || st
            .ranges
            .iter()
            .any(|e| mine(e.dev) && e.prefix.addr().is_ipv6())
    }

    /// Every entry (`ip neigh show proxy`), exact addresses first.
    pub fn entries(&self) -> Vec<ProxyEntry> {
        let st = self.state.lock();
        let mut v: Vec<ProxyEntry> = st
            .hosts
            .iter()
            .filter_map(|(&(ip, dev), &router)| {
                Some(ProxyEntry {
                    prefix: Prefix::host(ip).ok()?,
                    dev,
                    router,
                })
            })
            .collect();
        v.sort_by_key(|e| (e.prefix.addr(), e.dev.map(|d| d.0)));
        v.extend(st.ranges.iter().copied());
        v
    }
}
