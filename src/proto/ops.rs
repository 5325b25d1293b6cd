//! The device side of a neighbour table on an Ethernet interface: a
//! [`NeighOps`] that turns the cache's callbacks into frames.
//!
//! * `transmit(dev, hh, pkt)`: the cached Ethernet header followed by the IP
//!   packet goes to the [`FrameSink`] (two slices, no copy).
//! * `solicit(dev, key, probe)`: `arp_solicit` / `ndisc_solicit` — the
//!   broadcast or solicited-node multicast request for INCOMPLETE, the
//!   unicast one for PROBE ([`arp::solicit_frame`], [`ndisc::solicit_frame`]).
//! * `error_report`: counted (the kernel turns it into ICMP host
//!   unreachable for the sender); an optional hook sees each packet.
//!
//! This module owns that translation and nothing else.

use super::error::{Counter, ProtoStats};
use super::iface::Iface;
use super::{arp, ndisc};
use crate::{DevId, DropReason, NeighOps, Probe};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where frames go: a raw socket, a test recorder, a ring.
pub trait FrameSink: Send + Sync + 'static {
    /// Send one Ethernet frame made of `head` followed by `body` on `dev`.
    fn send_frame(&self, dev: DevId, head: &[u8], body: &[u8]) -> io::Result<()>;
}

impl<S: FrameSink> FrameSink for Arc<S> {
    fn send_frame(&self, dev: DevId, head: &[u8], body: &[u8]) -> io::Result<()> {
        (**self).send_frame(dev, head, body)
    }
}

/// A hook called with every packet the cache gives up on (resolution
/// failed): the destination and the IP packet.
pub type ErrorHook = Arc<dyn Fn(DevId, IpAddr, &[u8]) + Send + Sync>;

/// [`NeighOps`] for an Ethernet interface, for both IPv4 (ARP) and IPv6
/// (ND) tables; packets are IP packets (`Vec<u8>`).
pub struct WireOps<S: FrameSink> {
    iface: Arc<Iface>,
    sink: S,
    stats: Arc<ProtoStats>,
    error_reports: AtomicU64,
    discards: AtomicU64,
    on_error: Option<ErrorHook>,
}

impl<S: FrameSink> WireOps<S> {
    /// Ops for `iface` sending through `sink`, counting into `stats`.
    pub fn new(iface: Arc<Iface>, sink: S, stats: Arc<ProtoStats>) -> Self {
        WireOps {
            iface,
            sink,
            stats,
            error_reports: AtomicU64::new(0),
            discards: AtomicU64::new(0),
            on_error: None,
        }
    }

    /// The same ops calling `hook` for every packet whose resolution failed.
    pub fn with_error_hook(mut self, hook: ErrorHook) -> Self {
        self.on_error = Some(hook);
        self
    }

    /// The interface.
    pub fn iface(&self) -> &Iface {
        &self.iface
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Packets handed to `error_report` (queued while resolving, then the
    /// resolution failed).
    pub fn error_reports(&self) -> u64 {
        // Relaxed: a statistic.
        self.error_reports.load(Ordering::Relaxed)
    }

    /// Packets handed to `discard` (any other drop).
    pub fn discards(&self) -> u64 {
        // Relaxed: a statistic.
        self.discards.load(Ordering::Relaxed)
    }

    /// Send a complete frame, counting it.
    pub fn send(&self, dev: DevId, head: &[u8], body: &[u8]) {
        self.stats.inc(Counter::TxFrames);
        if self.sink.send_frame(dev, head, body).is_err() {
            self.stats.inc(Counter::TxFailed);
        }
    }

    fn solicit_with(&self, dev: DevId, frame: Option<Vec<u8>>, probe: Probe, sent: Counter) {
        match frame {
            Some(f) => {
                self.stats.inc(sent);
                self.send(dev, &f, &[]);
            }
            None if probe == Probe::App => self.stats.inc(Counter::AppProbes),
            None => {}
        }
    }

    fn report(&self, dev: DevId, dst: IpAddr, pkt: &[u8]) {
        // Relaxed: a statistic.
        self.error_reports.fetch_add(1, Ordering::Relaxed);
        if let Some(h) = &self.on_error {
            h(dev, dst, pkt);
        }
    }
}

impl<S: FrameSink> NeighOps<Ipv4Addr> for WireOps<S> {
    type Packet = Vec<u8>;

    fn transmit(&self, dev: DevId, hh: &[u8], pkt: Vec<u8>) {
        self.send(dev, hh, &pkt);
    }

    fn solicit(&self, dev: DevId, key: &Ipv4Addr, probe: Probe) {
        let f = arp::solicit_frame(&self.iface, *key, probe);
        self.solicit_with(dev, f, probe, Counter::ArpRequests);
    }

    fn error_report(&self, dev: DevId, key: &Ipv4Addr, pkt: Vec<u8>) {
        self.report(dev, IpAddr::V4(*key), &pkt);
    }

    fn discard(&self, _dev: DevId, _key: &Ipv4Addr, _pkt: Vec<u8>, _reason: DropReason) {
        // Relaxed: a statistic.
        self.discards.fetch_add(1, Ordering::Relaxed);
    }
}

impl<S: FrameSink> NeighOps<Ipv6Addr> for WireOps<S> {
    type Packet = Vec<u8>;

    fn transmit(&self, dev: DevId, hh: &[u8], pkt: Vec<u8>) {
        self.send(dev, hh, &pkt);
    }

    fn solicit(&self, dev: DevId, key: &Ipv6Addr, probe: Probe) {
        let f = ndisc::solicit_frame(&self.iface, *key, probe);
        self.solicit_with(dev, f, probe, Counter::NsSent);
    }

    fn error_report(&self, dev: DevId, key: &Ipv6Addr, pkt: Vec<u8>) {
        self.report(dev, IpAddr::V6(*key), &pkt);
    }

    fn discard(&self, _dev: DevId, _key: &Ipv6Addr, _pkt: Vec<u8>, _reason: DropReason) {
        // Relaxed: a statistic.
        self.discards.fetch_add(1, Ordering::Relaxed);
    }
}
