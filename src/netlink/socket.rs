//! The rtnetlink socket (`netlink-sys`) and the requests the mirror sends,
//! built with `netlink-packet-route`: link and neighbour dumps, and the
//! pushed entries (`RTM_NEWNEIGH` with `NTF_EXT_LEARNED`, `RTM_DELNEIGH`).
//!
//! Rules: owns one socket and its receive buffer; never blocks unless asked
//! to wait (`wait_readable`); a receive reports lost messages
//! (`ENOBUFS`) and truncated datagrams to its caller instead of hiding
//! them; serialisation buffers are sized by the message itself, so no
//! emit can overrun.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// `RTNLGRP_LINK`.
const RTNLGRP_LINK: u32 = 1;
/// `RTNLGRP_NEIGH`.
const RTNLGRP_NEIGH: u32 = 3;
/// The receive buffer: larger than any datagram the kernel builds for
/// rtnetlink (dump chunks are at most 32 KiB).
const RECV_BUF: usize = 1 << 17;

/// What one receive got.
pub(crate) enum Recv<'a> {
    /// A datagram.
    Data(&'a [u8]),
    /// Nothing waiting.
    Empty,
    /// The kernel dropped messages for this socket (`ENOBUFS`): resync.
    Overrun,
    /// A datagram larger than the buffer was cut (its tail is lost).
    Truncated,
    /// A datagram from another socket than the kernel's (a process may
    /// send to our port, or as root to our groups): dropped unread.
    Foreign,
}

/// An rtnetlink socket in the network namespace of the thread that opened
/// it.
pub(crate) struct Rtnl {
    sock: Socket,
    buf: Vec<u8>,
    seq: u32,
    port: u32,
}

impl Rtnl {
    /// Open and bind; join the link and neighbour groups if `groups`; set
    /// the receive buffer to `rcvbuf` bytes if given (`SO_RCVBUFFORCE`
    /// when allowed, else `SO_RCVBUF`, which the kernel caps at
    /// `rmem_max`).
    pub(crate) fn open(groups: bool, rcvbuf: Option<usize>) -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        let addr = sock.bind_auto()?;
        if groups {
            sock.add_membership(RTNLGRP_LINK)?;
            sock.add_membership(RTNLGRP_NEIGH)?;
        }
        if let Some(n) = rcvbuf {
            set_rcvbuf(sock.as_raw_fd(), n)?;
        }
        sock.set_non_blocking(true)?;
        Ok(Rtnl {
            sock,
            buf: Vec::with_capacity(RECV_BUF),
            seq: 0,
            port: addr.port_number(),
        })
    }

    /// This socket's netlink port (`nlmsg_pid` of what its requests cause).
    pub(crate) fn port(&self) -> u32 {
        self.port
    }

    /// The descriptor, for a caller's `poll`.
    pub(crate) fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Receive one datagram without blocking.
    pub(crate) fn recv(&mut self) -> io::Result<Recv<'_>> {
        self.buf.clear();
        match self.sock.recv_from(&mut self.buf, libc::MSG_TRUNC) {
            // The kernel sends from port 0; anyone else is not the kernel.
            Ok((_, from)) if from.port_number() != 0 => Ok(Recv::Foreign),
            Ok((n, _)) if n > self.buf.len() => Ok(Recv::Truncated),
            Ok(_) => Ok(Recv::Data(&self.buf)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Recv::Empty),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Recv::Overrun),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Recv::Empty),
            Err(e) => Err(e),
        }
    }

    /// Receive one datagram, waiting for it until `deadline`: `Ok(None)`
    /// once the deadline has passed with nothing to read (`Recv::Empty`
    /// after an interrupted wait: ask again).
    pub(crate) fn recv_by(&mut self, deadline: Instant) -> io::Result<Option<Recv<'_>>> {
        let left = deadline.saturating_duration_since(Instant::now());
        if !self.wait_readable(Some(left))? && Instant::now() >= deadline {
            return Ok(None);
        }
        self.recv().map(Some)
    }

    /// Wait until a datagram is waiting or `timeout` passed (`None`:
    /// forever). `Ok(true)` if readable.
    pub(crate) fn wait_readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let ms = timeout.map_or(-1, |t| {
            // Round up so that a sub-millisecond wait still waits.
            i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
        });
        let mut p = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        Ok(r > 0)
    }

    fn send(&mut self, flags: u16, msg: RouteNetlinkMessage) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        m.finalize();
        let mut bytes = vec![0u8; m.buffer_len()];
        m.serialize(&mut bytes);
        self.sock.send(&bytes, 0)?;
        Ok(self.seq)
    }

    /// Ask for every link (`RTM_GETLINK` dump); returns its sequence number.
    pub(crate) fn dump_links(&mut self) -> io::Result<u32> {
        let msg = RouteNetlinkMessage::GetLink(LinkMessage::default());
        self.send(NLM_F_REQUEST | NLM_F_DUMP, msg)
    }

    /// Ask for every neighbour of `family` (`RTM_GETNEIGH` dump), or every
    /// proxy entry with `proxy`.
    pub(crate) fn dump_neighs(&mut self, family: u8, proxy: bool) -> io::Result<u32> {
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::from(family);
        if proxy {
            m.header.flags = NeighbourFlags::Proxy;
        }
        self.send(
            NLM_F_REQUEST | NLM_F_DUMP,
            RouteNetlinkMessage::GetNeighbour(m),
        )
    }

    /// Install `dst` on `ifindex` at `lladdr`: `ip neigh replace DST lladdr
    /// LLADDR dev DEV nud noarp extern_learn [router] protocol PROTO`, with
    /// an acknowledgement.
    pub(crate) fn push_neigh(
        &mut self,
        ifindex: u32,
        dst: IpAddr,
        lladdr: &[u8],
        router: bool,
        protocol: u8,
    ) -> io::Result<u32> {
        let mut m = neigh_msg(ifindex, dst);
        m.header.state = NeighbourState::Noarp;
        m.header.flags = NeighbourFlags::ExtLearned;
        if router {
            m.header.flags |= NeighbourFlags::Router;
        }
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(lladdr.to_vec()));
        m.attributes
            .push(NeighbourAttribute::Protocol(RouteProtocol::from(protocol)));
        self.send(
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
            RouteNetlinkMessage::NewNeighbour(m),
        )
    }

    /// `ip neigh del DST dev DEV`, with an acknowledgement.
    pub(crate) fn delete_neigh(&mut self, ifindex: u32, dst: IpAddr) -> io::Result<u32> {
        let m = neigh_msg(ifindex, dst);
        self.send(
            NLM_F_REQUEST | NLM_F_ACK,
            RouteNetlinkMessage::DelNeighbour(m),
        )
    }
}

fn neigh_msg(ifindex: u32, dst: IpAddr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = match dst {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.ifindex = ifindex;
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::from(dst)));
    m
}

/// `SO_RCVBUFFORCE` (root may exceed `rmem_max`), else `SO_RCVBUF`.
fn set_rcvbuf(fd: RawFd, bytes: usize) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: `v` outlives the call and its size is passed with it.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                core::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return Ok(());
        }
    }
    Err(io::Error::last_os_error())
}

impl core::fmt::Debug for Rtnl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rtnl").field("port", &self.port).finish()
    }
}
