//! Why a frame was dropped ([`ProtoError`]) and the protocol layer's
//! counters ([`ProtoStats`]).
//!
//! Every frame the layer refuses is one [`ProtoError`] and one increment of
//! its [`ErrorKind`] counter, in the spirit of the kernel's `SKB_DROP_REASON_*`:
//! bad input never panics and never creates a table entry. This module owns
//! the error type and the counters only.

use core::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where in a frame a problem was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The Ethernet II header.
    Ethernet,
    /// The ARP packet.
    Arp,
    /// The IPv4 header.
    Ipv4,
    /// The IPv6 header.
    Ipv6,
    /// An IPv6 extension header (hop-by-hop, destination options, routing).
    Ipv6Extension,
    /// The ICMPv4 message.
    Icmpv4,
    /// The ICMPv6 message (NS/NA fixed part).
    Icmpv6,
    /// A Neighbor Discovery option.
    NdOption,
    /// The UDP header.
    Udp,
}

/// Why the protocol layer refused a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtoError {
    /// Shorter than its headers require.
    Truncated {
        /// The layer that did not fit.
        layer: Layer,
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// An EtherType this layer does not handle.
    UnsupportedEtherType(u16),
    /// Addressed to another host's MAC (`PACKET_OTHERHOST`); the kernel
    /// drops these before ARP/ND see them.
    OtherHost,
    /// Sent from our own MAC address: a looped-back frame or a spoofer.
    /// Stricter than Linux, which would cache the sender at our MAC.
    OwnSourceMac,
    /// ARP hardware type other than Ethernet (1) or IEEE 802 (6).
    ArpHardwareType(u16),
    /// ARP protocol type other than IPv4 (0x0800).
    ArpProtocolType(u16),
    /// `ar_hln`/`ar_pln` other than 6/4 (`arp_rcv`).
    ArpAddressLength {
        /// Hardware address length in the packet.
        hln: u8,
        /// Protocol address length in the packet.
        pln: u8,
    },
    /// ARP operation other than request (1) or reply (2).
    ArpOperation(u16),
    /// A link-layer address (ARP sender, SLLAO, TLLAO) that cannot belong
    /// to a neighbour: multicast, broadcast or all-zero. Stricter than the
    /// kernel, which would cache it.
    BadLinkLayerAddress([u8; 6]),
    /// A source or sender protocol address that cannot be another host's:
    /// multicast, broadcast (limited or our subnet's), 0.0.0.0 (IPv4
    /// martians, `ip_route_input_slow`), `::` where the RFCs do not allow
    /// it. Stricter than the kernel for the IPv4 subnet broadcast and, with
    /// `arp_accept`, for ARP senders.
    BadSenderAddress(IpAddr),
    /// A target that cannot be resolved: a multicast or loopback ARP target
    /// (`arp_process`), a multicast NS/NA target (`ndisc_recv_*`).
    BadTargetAddress(IpAddr),
    /// A gratuitous ARP dropped by policy (`drop_gratuitous_arp`).
    GratuitousDropped,
    /// A malformed IP header (wrong version, length fields that do not
    /// fit), or IPv4 options Linux drops: malformed or repeated ones, a
    /// CIPSO option (no CIPSO domain), a source route
    /// (`accept_source_route` 0).
    BadIpHeader(&'static str),
    /// An IPv6 packet handed to ND whose upper layer (after the extension
    /// headers this layer skips) is not ICMPv6.
    UnsupportedNextHeader(u8),
    /// ND hop limit other than 255 (`ndisc_rcv`: the packet was routed).
    BadHopLimit(u8),
    /// Checksum mismatch.
    BadChecksum(Layer),
    /// ICMPv6 code other than 0 in an NS/NA (`ndisc_rcv`).
    BadIcmpCode(u8),
    /// An ND option with length 0, or running past the end of the message
    /// (`ndisc_parse_options` fails the whole message).
    BadNdOption {
        /// The option type.
        kind: u8,
        /// Its length field (units of 8 bytes).
        len: u8,
    },
    /// A source/target link-layer address option whose length does not
    /// match an Ethernet address (`ndisc_opt_addr_data`).
    LinkLayerOptionLength {
        /// The option type (1 source, 2 target).
        kind: u8,
        /// Its length field (units of 8 bytes); Ethernet needs 1.
        len: u8,
    },
    /// A DAD solicitation (source ::) not sent to a solicited-node
    /// multicast address, or carrying a source link-layer address option.
    BadDadSolicitation,
    /// A solicited NA sent to a multicast destination.
    SolicitedNaToMulticast,
    /// An unsolicited NA dropped by policy (`drop_unsolicited_na`).
    UnsolicitedNaDropped,
    /// A solicitation for an address that is not ours and that we do not
    /// proxy (no entry, or not `forwarding` + `proxy_ndp`; no anycast):
    /// `SKB_DROP_REASON_IPV6_NDISC_NS_OTHERHOST`.
    NotOurAddress(IpAddr),
    /// An NA for an address with no cache entry: we never asked, and the
    /// policy does not create entries from untracked NAs.
    UntrackedAdvertisement(Ipv6Addr),
    /// Someone else claims one of our addresses (as an ARP sender, an NS
    /// source, an NA target, or the source of any IP packet). For an IPv6
    /// source this is stricter than Linux, whose IP layer does not check
    /// it (an NS from our own address makes it cache that address).
    DuplicateAddress(IpAddr),
    /// An ICMPv6 type that is not Neighbor Discovery (RS 133, RA 134, NS
    /// 135, NA 136, Redirect 137) handed to ND.
    NotNeighborDiscovery(u8),
    /// An IP packet for an address this host does not accept: a unicast
    /// address that is not ours (nor, for ND, one we proxy), a multicast
    /// group we have not joined, `::`, 0.0.0.0 (`ip6_input`,
    /// `ip6_mc_input`, `ip_route_input_slow`: not delivered locally).
    NotOurDestination(IpAddr),
    /// An IPv6 multicast destination of scope 0 (reserved) or 1
    /// (interface-local): never valid on a link (RFC 4291 §2.7 and errata
    /// 3480, `ip6_rcv_core`).
    MulticastScope(Ipv6Addr),
    /// A loopback address (`::1`, `127.0.0.0/8`) as the source or
    /// destination of a packet from the wire (RFC 4291 §2.5.3,
    /// `ip6_rcv_core`; `route_localnet` off, `ip_route_input_slow`).
    Loopback(IpAddr),
    /// An IPv6 extension header this host refuses (the header type): a
    /// hop-by-hop header that is not first, an option whose type asks for
    /// the packet to be discarded, malformed padding, more than 8 options,
    /// a routing header with segments left (`ip6_parse_tlv`,
    /// `ipv6_rthdr_rcv`).
    BadExtensionHeader(u8),
    /// A Router Advertisement or Redirect whose source is not link-local
    /// (RFC 4861 §6.1.2, §8.1; `ndisc_router_discovery`,
    /// `ndisc_redirect_rcv`).
    NotLinkLocal(Ipv6Addr),
    /// A Redirect that fails RFC 4861 §8.1: a multicast destination, or a
    /// target that is neither the destination nor link-local unicast
    /// (`rt6_do_redirect`).
    BadRedirect(&'static str),
    /// A Redirect dropped by policy: we forward, or `accept_redirects` is
    /// off (`rt6_do_redirect`).
    RedirectIgnored,
    /// A Redirect from a source that is not a router we know (no entry
    /// with the router flag). Linux checks that the source is the current
    /// first hop for the destination; this layer has no routes, so any
    /// known router is accepted for any destination.
    RedirectNotFromRouter(Ipv6Addr),
}

/// The counter an error increments (one per [`ProtoError`] variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // one-to-one with ProtoError's documented variants
pub enum ErrorKind {
    Truncated,
    UnsupportedEtherType,
    OtherHost,
    OwnSourceMac,
    ArpHardwareType,
    ArpProtocolType,
    ArpAddressLength,
    ArpOperation,
    BadLinkLayerAddress,
    BadSenderAddress,
    BadTargetAddress,
    GratuitousDropped,
    BadIpHeader,
    UnsupportedNextHeader,
    BadHopLimit,
    BadChecksum,
    BadIcmpCode,
    BadNdOption,
    LinkLayerOptionLength,
    BadDadSolicitation,
    SolicitedNaToMulticast,
    UnsolicitedNaDropped,
    NotOurAddress,
    UntrackedAdvertisement,
    DuplicateAddress,
    NotNeighborDiscovery,
    NotOurDestination,
    MulticastScope,
    Loopback,
    BadExtensionHeader,
    NotLinkLocal,
    BadRedirect,
    RedirectIgnored,
    RedirectNotFromRouter,
}

impl ErrorKind {
    /// Every kind, in counter order.
    pub const ALL: [ErrorKind; 34] = [
        ErrorKind::Truncated,
        ErrorKind::UnsupportedEtherType,
        ErrorKind::OtherHost,
        ErrorKind::OwnSourceMac,
        ErrorKind::ArpHardwareType,
        ErrorKind::ArpProtocolType,
        ErrorKind::ArpAddressLength,
        ErrorKind::ArpOperation,
        ErrorKind::BadLinkLayerAddress,
        ErrorKind::BadSenderAddress,
        ErrorKind::BadTargetAddress,
        ErrorKind::GratuitousDropped,
        ErrorKind::BadIpHeader,
        ErrorKind::UnsupportedNextHeader,
        ErrorKind::BadHopLimit,
        ErrorKind::BadChecksum,
        ErrorKind::BadIcmpCode,
        ErrorKind::BadNdOption,
        ErrorKind::LinkLayerOptionLength,
        ErrorKind::BadDadSolicitation,
        ErrorKind::SolicitedNaToMulticast,
        ErrorKind::UnsolicitedNaDropped,
        ErrorKind::NotOurAddress,
        ErrorKind::UntrackedAdvertisement,
        ErrorKind::DuplicateAddress,
        ErrorKind::NotNeighborDiscovery,
        ErrorKind::NotOurDestination,
        ErrorKind::MulticastScope,
        ErrorKind::Loopback,
        ErrorKind::BadExtensionHeader,
        ErrorKind::NotLinkLocal,
        ErrorKind::BadRedirect,
        ErrorKind::RedirectIgnored,
        ErrorKind::RedirectNotFromRouter,
    ];

    fn idx(self) -> usize {
        self as usize
    }
}

impl ProtoError {
    /// The counter this error increments.
    pub fn kind(&self) -> ErrorKind {
        use ProtoError as E;
        match self {
            E::Truncated { .. } => ErrorKind::Truncated,
            E::UnsupportedEtherType(_) => ErrorKind::UnsupportedEtherType,
            E::OtherHost => ErrorKind::OtherHost,
            E::OwnSourceMac => ErrorKind::OwnSourceMac,
            E::ArpHardwareType(_) => ErrorKind::ArpHardwareType,
            E::ArpProtocolType(_) => ErrorKind::ArpProtocolType,
            E::ArpAddressLength { .. } => ErrorKind::ArpAddressLength,
            E::ArpOperation(_) => ErrorKind::ArpOperation,
            E::BadLinkLayerAddress(_) => ErrorKind::BadLinkLayerAddress,
            E::BadSenderAddress(_) => ErrorKind::BadSenderAddress,
            E::BadTargetAddress(_) => ErrorKind::BadTargetAddress,
            E::GratuitousDropped => ErrorKind::GratuitousDropped,
            E::BadIpHeader(_) => ErrorKind::BadIpHeader,
            E::UnsupportedNextHeader(_) => ErrorKind::UnsupportedNextHeader,
            E::BadHopLimit(_) => ErrorKind::BadHopLimit,
            E::BadChecksum(_) => ErrorKind::BadChecksum,
            E::BadIcmpCode(_) => ErrorKind::BadIcmpCode,
            E::BadNdOption { .. } => ErrorKind::BadNdOption,
            E::LinkLayerOptionLength { .. } => ErrorKind::LinkLayerOptionLength,
            E::BadDadSolicitation => ErrorKind::BadDadSolicitation,
            E::SolicitedNaToMulticast => ErrorKind::SolicitedNaToMulticast,
            E::UnsolicitedNaDropped => ErrorKind::UnsolicitedNaDropped,
            E::NotOurAddress(_) => ErrorKind::NotOurAddress,
            E::UntrackedAdvertisement(_) => ErrorKind::UntrackedAdvertisement,
            E::DuplicateAddress(_) => ErrorKind::DuplicateAddress,
            E::NotNeighborDiscovery(_) => ErrorKind::NotNeighborDiscovery,
            E::NotOurDestination(_) => ErrorKind::NotOurDestination,
            E::MulticastScope(_) => ErrorKind::MulticastScope,
            E::Loopback(_) => ErrorKind::Loopback,
            E::BadExtensionHeader(_) => ErrorKind::BadExtensionHeader,
            E::NotLinkLocal(_) => ErrorKind::NotLinkLocal,
            E::BadRedirect(_) => ErrorKind::BadRedirect,
            E::RedirectIgnored => ErrorKind::RedirectIgnored,
            E::RedirectNotFromRouter(_) => ErrorKind::RedirectNotFromRouter,
        }
    }

    pub(crate) fn truncated(layer: Layer, len: usize, need: usize) -> Self {
        ProtoError::Truncated { layer, len, need }
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProtoError as E;
        match self {
            E::Truncated { layer, len, need } => {
                write!(f, "{layer:?} truncated: {len} bytes, need {need}")
            }
            E::UnsupportedEtherType(t) => write!(f, "unsupported ethertype {t:#06x}"),
            E::OtherHost => f.write_str("frame for another host"),
            E::OwnSourceMac => f.write_str("frame from our own MAC address"),
            E::ArpHardwareType(t) => write!(f, "ARP hardware type {t}"),
            E::ArpProtocolType(t) => write!(f, "ARP protocol type {t:#06x}"),
            E::ArpAddressLength { hln, pln } => write!(f, "ARP address lengths {hln}/{pln}"),
            E::ArpOperation(o) => write!(f, "ARP operation {o}"),
            E::BadLinkLayerAddress(m) => write!(f, "link-layer address {}", MacFmt(m)),
            E::BadSenderAddress(a) => write!(f, "sender address {a}"),
            E::BadTargetAddress(a) => write!(f, "target address {a}"),
            E::GratuitousDropped => f.write_str("gratuitous ARP dropped (drop_gratuitous_arp)"),
            E::BadIpHeader(why) => write!(f, "bad IP header: {why}"),
            E::UnsupportedNextHeader(n) => write!(f, "IPv6 upper layer {n} is not ICMPv6"),
            E::BadHopLimit(h) => write!(f, "ND hop limit {h} (must be 255)"),
            E::BadChecksum(l) => write!(f, "{l:?} checksum mismatch"),
            E::BadIcmpCode(c) => write!(f, "ICMPv6 code {c} in ND"),
            E::BadNdOption { kind, len } => write!(f, "ND option type {kind} length {len}"),
            E::LinkLayerOptionLength { kind, len } => {
                write!(f, "link-layer address option type {kind} length {len}")
            }
            E::BadDadSolicitation => f.write_str("malformed DAD solicitation"),
            E::SolicitedNaToMulticast => f.write_str("solicited NA to a multicast address"),
            E::UnsolicitedNaDropped => f.write_str("unsolicited NA dropped (drop_unsolicited_na)"),
            E::NotOurAddress(a) => write!(f, "solicitation for {a}, not ours"),
            E::UntrackedAdvertisement(a) => write!(f, "NA for untracked {a}"),
            E::DuplicateAddress(a) => write!(f, "another host claims our address {a}"),
            E::NotNeighborDiscovery(t) => write!(f, "ICMPv6 type {t} is not ND"),
            E::NotOurDestination(a) => write!(f, "destination {a} is not this host"),
            E::MulticastScope(a) => write!(
                f,
                "multicast destination {a} of scope {}",
                a.octets()[1] & 0xf
            ),
            E::Loopback(a) => write!(f, "loopback address {a} on the wire"),
            E::BadExtensionHeader(h) => write!(f, "IPv6 extension header {h} refused"),
            E::NotLinkLocal(a) => write!(f, "router message from {a}, not link-local"),
            E::BadRedirect(why) => write!(f, "bad Redirect: {why}"),
            E::RedirectIgnored => f.write_str("Redirect ignored (forwarding or accept_redirects)"),
            E::RedirectNotFromRouter(a) => write!(f, "Redirect from {a}, not a known router"),
        }
    }
}

impl std::error::Error for ProtoError {}

struct MacFmt<'a>(&'a [u8; 6]);
impl fmt::Display for MacFmt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Activity counters of the protocol layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Frames handed to a receive function.
    RxFrames,
    /// ARP packets accepted.
    RxArp,
    /// NS/NA accepted.
    RxNdisc,
    /// IP packets for our addresses (UDP, ICMP echo) accepted.
    RxLocal,
    /// Valid frames that were not for this layer (other IP traffic,
    /// multicast listener reports, ...).
    RxIgnored,
    /// Frames handed to the sink.
    TxFrames,
    /// Frames the sink failed to send.
    TxFailed,
    /// ARP requests sent (solicitations).
    ArpRequests,
    /// ARP replies sent.
    ArpReplies,
    /// Neighbor Solicitations sent.
    NsSent,
    /// Neighbor Advertisements sent (directly or queued through the cache).
    NaSent,
    /// `Probe::App` solicitations (no frame: the kernel asks `arpd`).
    AppProbes,
    /// ICMP echo replies sent by the responder.
    EchoReplies,
    /// ARP replies and Neighbor Advertisements sent for proxied addresses
    /// (also counted in `ArpReplies` / `NaSent`).
    ProxyReplies,
    /// ICMP(v6) echo requests for us that were not answered because the
    /// sender is not on the link: this host has no routes, and the kernel
    /// answers an off-link sender through a route or not at all, never by
    /// resolving it on the link.
    EchoOffLink,
}

impl Counter {
    /// Every counter, in order.
    pub const ALL: [Counter; 15] = [
        Counter::RxFrames,
        Counter::RxArp,
        Counter::RxNdisc,
        Counter::RxLocal,
        Counter::RxIgnored,
        Counter::TxFrames,
        Counter::TxFailed,
        Counter::ArpRequests,
        Counter::ArpReplies,
        Counter::NsSent,
        Counter::NaSent,
        Counter::AppProbes,
        Counter::EchoReplies,
        Counter::ProxyReplies,
        Counter::EchoOffLink,
    ];
}

/// Counters shared by the receive path, the ops and the host (relaxed
/// atomics: they order nothing).
#[derive(Debug)]
pub struct ProtoStats {
    counters: [AtomicU64; Counter::ALL.len()],
    errors: [AtomicU64; ErrorKind::ALL.len()],
}

impl Default for ProtoStats {
    fn default() -> Self {
        ProtoStats {
            counters: core::array::from_fn(|_| AtomicU64::new(0)),
            errors: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl ProtoStats {
    /// Zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Count one event.
    pub fn inc(&self, c: Counter) {
        // Relaxed: a statistic.
        self.counters[c as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Count a refused frame.
    pub fn error(&self, e: &ProtoError) {
        // Relaxed: a statistic.
        self.errors[e.kind().idx()].fetch_add(1, Ordering::Relaxed);
    }

    /// Count `r`'s error, if any, and pass it on.
    pub(crate) fn track<T>(&self, r: Result<T, ProtoError>) -> Result<T, ProtoError> {
        if let Err(e) = &r {
            self.error(e);
        }
        r
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> ProtoStatsSnapshot {
        // Relaxed: statistics.
        ProtoStatsSnapshot {
            counters: core::array::from_fn(|i| self.counters[i].load(Ordering::Relaxed)),
            errors: core::array::from_fn(|i| self.errors[i].load(Ordering::Relaxed)),
        }
    }
}

/// A snapshot of [`ProtoStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtoStatsSnapshot {
    counters: [u64; Counter::ALL.len()],
    errors: [u64; ErrorKind::ALL.len()],
}

impl ProtoStatsSnapshot {
    /// One activity counter.
    pub fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize]
    }

    /// Frames refused for `k`.
    pub fn errors(&self, k: ErrorKind) -> u64 {
        self.errors[k.idx()]
    }

    /// Frames refused, all reasons.
    pub fn errors_total(&self) -> u64 {
        self.errors.iter().sum()
    }
}

impl fmt::Display for ProtoStatsSnapshot {
    /// The non-zero counters, `name value` separated by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut put = |f: &mut fmt::Formatter<'_>, name: &dyn fmt::Debug, v: u64| {
            if v == 0 {
                return Ok(());
            }
            let sep = if first { "" } else { ", " };
            first = false;
            write!(f, "{sep}{name:?} {v}")
        };
        for c in Counter::ALL {
            put(f, &c, self.get(c))?;
        }
        for k in ErrorKind::ALL {
            put(f, &k, self.errors(k))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_in_counter_order() {
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(k.idx(), i);
        }
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let s = ProtoStats::new();
        let _ = s.track::<()>(Err(ProtoError::OtherHost));
        let _ = s.track::<()>(Err(ProtoError::BadHopLimit(64)));
        let _ = s.track::<()>(Err(ProtoError::BadHopLimit(1)));
        let snap = s.snapshot();
        assert_eq!(snap.errors(ErrorKind::BadHopLimit), 2);
        assert_eq!(snap.errors_total(), 3);
        assert_eq!(snap.to_string(), "OtherHost 1, BadHopLimit 2");
    }
}
