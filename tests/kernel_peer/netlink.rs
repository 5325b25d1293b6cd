//! Reading (and, for the mirror tests, changing) the kernel's neighbour
//! table over rtnetlink, the way `ip -j neigh show` / `ip neigh replace`
//! do, with the rust-netlink crates (`netlink-sys` for the socket,
//! `netlink-packet-route` for the messages): cheap enough (tens of
//! microseconds) to poll every couple of milliseconds. Owns the socket and
//! the requests; only the fields the tests compare are kept.

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE,
    NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourExtFlags, NeighbourFlags, NeighbourMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use std::io;
use std::net::IpAddr;

/// One kernel neighbour entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KNeigh {
    pub dst: IpAddr,
    pub ifindex: i32,
    /// `NUD_*` bits.
    pub state: u16,
    pub lladdr: Option<[u8; 6]>,
    pub probes: Option<u32>,
}

/// One kernel neighbour entry with its flags, as the mirror tests compare
/// it (`NTF_*` of the header, `NTF_EXT_MANAGED`, `NDA_PROTOCOL`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[allow(dead_code)] // only the mirror tests (feature `netlink`) read all
pub struct KEntry {
    pub ifindex: u32,
    pub dst: IpAddr,
    pub state: u16,
    pub lladdr: Option<Vec<u8>>,
    pub router: bool,
    pub ext_learned: bool,
    pub managed: bool,
    pub protocol: Option<u8>,
    pub proxy: bool,
}

/// An rtnetlink socket in the namespace of the thread that opened it.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        Ok(Rtnl {
            sock,
            seq: 0,
            buf: Vec::with_capacity(1 << 17),
        })
    }

    /// A socket that receives the kernel's neighbour notifications
    /// (`RTNLGRP_NEIGH`, what `ip monitor neigh` reads), non-blocking.
    #[allow(dead_code)]
    pub fn listen() -> io::Result<Rtnl> {
        let r = Rtnl::open()?;
        r.sock.add_membership(3)?;
        r.sock.set_rx_buf_sz(32 << 20)?;
        r.sock.set_non_blocking(true)?;
        Ok(r)
    }

    /// The notifications waiting on a [`listen`](Self::listen) socket, in
    /// order: (`RTM_DELNEIGH`?, entry).
    #[allow(dead_code)]
    pub fn notifications(&mut self) -> io::Result<Vec<(bool, KEntry)>> {
        let mut out = Vec::new();
        loop {
            self.buf.clear();
            match self.sock.recv(&mut self.buf, 0) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) => return Err(e),
            }
            let mut off = 0;
            while off < self.buf.len() {
                let len = NetlinkBuffer::new_checked(&self.buf[off..])
                    .map_err(|e| io::Error::other(format!("netlink framing: {e}")))?
                    .length() as usize;
                let bytes = &self.buf[off..off + len];
                off += (len + 3) & !3;
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes)
                    .map_err(|e| io::Error::other(format!("netlink message: {e}")))?;
                match m.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) => {
                        out.extend(entry_of(n).map(|e| (false, e)))
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelNeighbour(n)) => {
                        out.extend(entry_of(n).map(|e| (true, e)))
                    }
                    _ => {}
                }
            }
        }
    }

    fn send(&mut self, flags: u16, msg: RouteNetlinkMessage) -> io::Result<u32> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        m.finalize();
        let mut bytes = vec![0; m.buffer_len()];
        m.serialize(&mut bytes);
        self.sock.send(&bytes, 0)?;
        Ok(self.seq)
    }

    /// Receive until the reply to `seq` ends (`NLMSG_DONE`, or the error /
    /// acknowledgement of a request); every neighbour message on the way.
    fn replies(&mut self, seq: u32) -> io::Result<Vec<NeighbourMessage>> {
        let mut out = Vec::new();
        loop {
            self.buf.clear();
            self.sock.recv(&mut self.buf, 0)?;
            let mut off = 0;
            while off < self.buf.len() {
                let len = NetlinkBuffer::new_checked(&self.buf[off..])
                    .map_err(|e| io::Error::other(format!("netlink framing: {e}")))?
                    .length() as usize;
                let bytes = &self.buf[off..off + len];
                off += (len + 3) & !3;
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes)
                    .map_err(|e| io::Error::other(format!("netlink message: {e}")))?;
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(c) => Err(io::Error::from_raw_os_error(-c.get())),
                        };
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) => {
                        out.push(n)
                    }
                    _ => {}
                }
            }
        }
    }

    fn dump_raw(&mut self, family: u8) -> io::Result<Vec<NeighbourMessage>> {
        self.dump_flags(family, NeighbourFlags::empty())
    }

    fn dump_flags(
        &mut self,
        family: u8,
        flags: NeighbourFlags,
    ) -> io::Result<Vec<NeighbourMessage>> {
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::from(family);
        m.header.flags = flags;
        let seq = self.send(
            NLM_F_REQUEST | NLM_F_DUMP,
            RouteNetlinkMessage::GetNeighbour(m),
        )?;
        self.replies(seq)
    }

    /// Every neighbour of `family` (`libc::AF_INET`/`AF_INET6`).
    pub fn dump(&mut self, family: u8) -> io::Result<Vec<KNeigh>> {
        Ok(self
            .dump_raw(family)?
            .into_iter()
            .filter_map(|m| {
                let mut k = KNeigh {
                    dst: dst_of(&m)?,
                    ifindex: m.header.ifindex as i32,
                    state: m.header.state.into(),
                    lladdr: None,
                    probes: None,
                };
                for a in &m.attributes {
                    match a {
                        NeighbourAttribute::LinkLayerAddress(l) => {
                            k.lladdr = <[u8; 6]>::try_from(&l[..]).ok()
                        }
                        NeighbourAttribute::Probes(p) => k.probes = Some(*p),
                        _ => {}
                    }
                }
                Some(k)
            })
            .collect())
    }

    /// Every neighbour of `family` with its flags, sorted.
    #[allow(dead_code)]
    pub fn entries(&mut self, family: u8) -> io::Result<Vec<KEntry>> {
        let mut v: Vec<KEntry> = self
            .dump_raw(family)?
            .into_iter()
            .filter_map(entry_of)
            .collect();
        v.sort();
        Ok(v)
    }

    /// `ip neigh replace DST lladdr LL dev IFINDEX nud STATE`, acknowledged.
    #[allow(dead_code)]
    pub fn replace(
        &mut self,
        ifindex: u32,
        dst: IpAddr,
        lladdr: &[u8],
        state: u16,
    ) -> io::Result<()> {
        let seq = self.send(
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
            RouteNetlinkMessage::NewNeighbour(neigh_msg(ifindex, dst, lladdr, state)),
        )?;
        self.replies(seq).map(drop)
    }
}

fn neigh_msg(ifindex: u32, dst: IpAddr, lladdr: &[u8], state: u16) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = match dst {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.ifindex = ifindex;
    m.header.state = state.into();
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::from(dst)));
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(lladdr.to_vec()));
    m
}

/// A well-formed `RTM_NEWNEIGH`, as the kernel would notify it.
#[allow(dead_code)]
pub fn new_neigh_bytes(ifindex: u32, dst: IpAddr, lladdr: &[u8], state: u16) -> Vec<u8> {
    let msg = RouteNetlinkMessage::NewNeighbour(neigh_msg(ifindex, dst, lladdr, state));
    let mut m = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(msg));
    m.finalize();
    let mut b = vec![0; m.buffer_len()];
    m.serialize(&mut b);
    b
}

fn entry_of(m: NeighbourMessage) -> Option<KEntry> {
    let f = m.header.flags;
    let mut k = KEntry {
        ifindex: m.header.ifindex,
        dst: dst_of(&m)?,
        state: m.header.state.into(),
        lladdr: None,
        router: f.contains(NeighbourFlags::Router),
        ext_learned: f.contains(NeighbourFlags::ExtLearned),
        managed: false,
        protocol: None,
        proxy: f.contains(NeighbourFlags::Proxy),
    };
    for a in m.attributes {
        match a {
            NeighbourAttribute::LinkLayerAddress(l) => k.lladdr = Some(l),
            NeighbourAttribute::ExtFlags(x) => k.managed = x.contains(NeighbourExtFlags::Managed),
            NeighbourAttribute::Protocol(p) => k.protocol = Some(p.into()),
            _ => {}
        }
    }
    Some(k)
}

fn dst_of(m: &NeighbourMessage) -> Option<IpAddr> {
    m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    })
}
