//! Following the Linux kernel's neighbour table over rtnetlink, both ways
//! (feature `netlink`, Linux).
//!
//! A [`KernelMirror`] keeps a [`NeighTable`](crate::NeighTable) equal to
//! the kernel's neighbour table for the chosen interfaces and one family
//! (the table's: `Ipv4Addr` or `Ipv6Addr`), and optionally pushes the
//! table's own entries into the kernel, for a data plane that shares a host
//! with Linux (VPP's `linux-cp`, Open vSwitch's `tnl-neigh-cache`, a DPDK
//! router, an EVPN control plane):
//!
//! * **From the kernel.** It dumps the links (`RTM_GETLINK`) and the
//!   neighbours (`RTM_GETNEIGH`), joins `RTNLGRP_LINK` and `RTNLGRP_NEIGH`,
//!   and applies every `RTM_NEWNEIGH` through
//!   [`NeighTable::set_exact`](crate::NeighTable::set_exact) (state,
//!   address, router / externally learned / managed flags, PERMANENT and
//!   NOARP entries) and every `RTM_DELNEIGH` through
//!   [`NeighTable::remove_exact`](crate::NeighTable::remove_exact). A device is
//!   `DevId(ifindex)`; interfaces that appear or go while it runs are
//!   registered and removed (`RTM_NEWLINK`/`RTM_DELLINK`). Proxy entries
//!   (`ip neigh add proxy`) go to a [`Proxy`](crate::proto::proxy::Proxy)
//!   when one is given ([`MirrorConfig::proxy`], feature `proto`); the
//!   kernel does not announce those, so they are read at each dump
//!   ([`KernelMirror::refresh`]). Transitions the kernel makes without
//!   announcing them (to DELAY, NONE to INCOMPLETE) reach the table with
//!   the kernel's next notification for the entry, or the next dump.
//! * **Overrun.** When the socket reports `ENOBUFS` (the kernel dropped
//!   notifications), it dumps again (on a second socket, whose replies
//!   cannot be dropped for notifications): the links (a link message lost
//!   is in no neighbour dump), then the neighbours: an entry already
//!   equal is left alone ([`Applied::Unchanged`](crate::Applied), no
//!   event), so subscribers see one event per real change; entries the
//!   dump lacks (and no notification during it created) are removed.
//!   [`MirrorStats::resyncs`] counts these.
//! * **To the kernel.** With [`MirrorConfig::to_kernel`], the table's own
//!   entries (those the kernel did not report) are installed as `ip neigh
//!   replace ADDR lladdr LL dev DEV nud noarp extern_learn [router]
//!   protocol P` while they are VALID, and deleted when they are not,
//!   driven by the table's events.
//! * **No loop.** Entries pushed carry `NDA_PROTOCOL` =
//!   [`MirrorConfig::protocol`], and the mirror never applies an entry with
//!   that mark; it never pushes an entry the kernel reported.
//! * **Bad input.** Datagrams not sent by the kernel are dropped; malformed
//!   or truncated messages, addresses of the wrong length, states that are
//!   not one NUD state and unknown interface indexes are counted
//!   ([`MirrorStats`]) and skipped, changing nothing else; unknown
//!   attributes are counted and skipped while the rest applies.
//!
//! The mirror is synchronous: [`KernelMirror::process`] reads what is
//! waiting and applies it (poll [`KernelMirror::fd`] in an event loop), or
//! [`KernelMirror::spawn`] runs it on a thread of its own.
//!
//! Rules: this module touches the table only through its public API;
//! everything read from the socket is decoded by `decode` (pure, no panic)
//! and applied by `apply`, which counts and skips bad input
//! ([`MirrorStats`]) without changing anything else; the dumps and the
//! resync rule are `resync`; the sockets and their requests are `socket`;
//! the reverse direction is `push`; configuration, counters and the thread
//! are `mirror`.
//!
//! ```no_run
//! use neighcache::netlink::{KernelMirror, MirrorConfig};
//! use neighcache::{DevId, NeighOps, NeighTable, Probe, TableConfig};
//! use std::net::Ipv4Addr;
//! use std::sync::Arc;
//!
//! struct Dataplane; // transmits on the data plane's ports
//! impl NeighOps<Ipv4Addr> for Dataplane {
//!     type Packet = Vec<u8>;
//!     fn transmit(&self, _dev: DevId, _hh: &[u8], _pkt: Vec<u8>) {}
//!     fn solicit(&self, _dev: DevId, _key: &Ipv4Addr, _probe: Probe) {}
//!     fn error_report(&self, _dev: DevId, _key: &Ipv4Addr, _pkt: Vec<u8>) {}
//! }
//! let table = Arc::new(NeighTable::new(TableConfig::default(), Dataplane)?);
//! let config = MirrorConfig { interfaces: vec!["eth0".into()], ..MirrorConfig::default() };
//! // Dumps eth0's neighbours into the table, then follows every change.
//! let mirror = KernelMirror::open(table.clone(), config)?.spawn()?;
//! // ... the data plane looks up `table` (lookup_noref + output) ...
//! println!("{:?}", mirror.stats());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
mod decode;
mod mirror;
mod push;
mod resync;
mod socket;
#[cfg(test)]
mod tests;

pub use decode::{
    decode_datagram, decode_message, BadInput, Decoded, KernelLink, KernelNeigh, Message,
};
pub use mirror::{
    KernelMirror, MirrorConfig, MirrorError, MirrorStats, MirrorThread, DEFAULT_PROTOCOL,
    DUMP_TIMEOUT,
};

use crate::neigh::NeighKey;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::net::Ipv4Addr {}
    impl Sealed for std::net::Ipv6Addr {}
}

/// The address family of a mirrored table's keys: [`Ipv4Addr`]
/// (`AF_INET`, ARP) or [`Ipv6Addr`] (`AF_INET6`, NDP). Sealed.
pub trait Family: NeighKey + sealed::Sealed {
    /// `AF_INET` or `AF_INET6`.
    const AF: u8;
    /// The ethertype of the family's packets (a device's header).
    const ETHERTYPE: u16;
    /// The key, if `ip` is of this family.
    fn from_ip(ip: IpAddr) -> Option<Self>;
    /// The key as an address.
    fn to_ip(self) -> IpAddr;
}

impl Family for Ipv4Addr {
    const AF: u8 = libc::AF_INET as u8;
    const ETHERTYPE: u16 = 0x0800;
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(self)
    }
}

impl Family for Ipv6Addr {
    const AF: u8 = libc::AF_INET6 as u8;
    const ETHERTYPE: u16 = 0x86dd;
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(self)
    }
}
