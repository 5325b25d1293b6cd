//! Decoding what arrives on the rtnetlink socket: a datagram is split into
//! netlink messages and each is parsed with `netlink-packet-core` /
//! `netlink-packet-route` into the few facts the mirror applies (a
//! neighbour, a link, the end of a dump, an error), or into a [`BadInput`]
//! saying why it was skipped.
//!
//! Rules: pure functions of the bytes (no socket, no table); nothing here
//! panics or allocates without bound on any input (a message's length is
//! checked against the datagram before it is parsed; the crates' parsers
//! return errors); a neighbour attribute the crate does not know is counted
//! and skipped while the rest of the message applies (newer kernels add
//! attributes); every other defect skips the whole message, and a framing
//! defect the rest of the datagram (its boundaries are lost).

use netlink_packet_core::{
    DecodeError, NetlinkBuffer, NetlinkMessage, NetlinkPayload, NlasIterator, NLMSG_DONE,
    NLMSG_ERROR,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourExtFlags, NeighbourFlags, NeighbourMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::IpAddr;

use crate::neigh::{NeighFlags, NudState};

pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_NEWNEIGH: u16 = 28;
pub(crate) const RTM_DELNEIGH: u16 = 29;
/// `NDA_DST`.
const NDA_DST: u16 = 1;
/// The size of `struct ndmsg`.
const NDMSG_LEN: usize = 12;

/// Why a message (or the rest of a datagram) was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadInput {
    /// The netlink header is truncated or its length runs past the datagram
    /// (the rest of the datagram is skipped too).
    Truncated,
    /// The message does not parse (the crate's decoder refused it).
    Malformed,
    /// `NDA_DST` is not 4 bytes for AF_INET or 16 for AF_INET6.
    BadAddressLength,
    /// A neighbour message without `NDA_DST`.
    NoDestination,
}

/// A neighbour as the kernel reports it (`RTM_NEWNEIGH` / `RTM_DELNEIGH`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelNeigh {
    /// `ndm_family`: `AF_INET` or `AF_INET6`, others as sent.
    pub family: u8,
    /// `ndm_ifindex`.
    pub ifindex: u32,
    /// `NDA_DST`.
    pub dst: IpAddr,
    /// `ndm_state` (the kernel sends one state; a mask is refused when
    /// applied).
    pub state: NudState,
    /// `ndm_state` did not fit a NUD state byte (refused when applied).
    pub state_overflow: bool,
    /// `NDA_LLADDR`, as sent (its length is checked against the device
    /// when applied).
    pub lladdr: Option<Vec<u8>>,
    /// Router, externally learned, managed (`NTF_ROUTER`,
    /// `NTF_EXT_LEARNED`, `NTF_EXT_MANAGED` in `NDA_FLAGS_EXT`).
    pub flags: NeighFlags,
    /// `NTF_PROXY`: a proxy entry (`pneigh`), not a neighbour.
    pub proxy: bool,
    /// `NDA_PROTOCOL`, if sent: who installed the entry.
    pub protocol: Option<u8>,
    /// Attributes the crate does not know (skipped).
    pub unknown_attrs: u32,
}

/// A link as the kernel reports it (`RTM_NEWLINK` / `RTM_DELLINK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelLink {
    /// `ifi_index`.
    pub ifindex: u32,
    /// `IFLA_IFNAME` (empty if absent).
    pub name: String,
    /// `IFLA_ADDRESS` (the device's link-layer address), if sent.
    pub address: Option<Vec<u8>>,
    /// `IFF_NOARP`.
    pub noarp: bool,
}

/// One decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// `RTM_NEWNEIGH` (`del` false) or `RTM_DELNEIGH`.
    Neigh {
        /// `RTM_DELNEIGH`.
        del: bool,
        /// The neighbour.
        n: KernelNeigh,
    },
    /// `RTM_NEWLINK` (`del` false) or `RTM_DELLINK`.
    Link {
        /// `RTM_DELLINK`.
        del: bool,
        /// The link.
        l: KernelLink,
    },
    /// `NLMSG_DONE`: the end of the dump with this sequence number.
    Done,
    /// `NLMSG_ERROR`: an error (`code` < 0) or an acknowledgement (0).
    Error {
        /// The negative errno, or 0.
        code: i32,
    },
    /// Another message type (ignored, not an error).
    Other,
    /// A defective message, skipped.
    Bad(BadInput),
}

/// One message of a datagram, with the header fields the mirror uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`: the port of the socket whose request caused it (0 for
    /// the kernel's own changes).
    pub pid: u32,
    /// What it says.
    pub what: Decoded,
}

/// Split `datagram` into messages and decode each. A framing defect ends
/// the walk with one `Bad(Truncated)`.
pub fn decode_datagram(datagram: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < datagram.len() {
        let rest = &datagram[off..];
        let (len, seq, pid) = match NetlinkBuffer::new_checked(rest) {
            Ok(b) => (b.length() as usize, b.sequence_number(), b.port_number()),
            Err(_) => {
                out.push(Message {
                    seq: 0,
                    pid: 0,
                    what: Decoded::Bad(BadInput::Truncated),
                });
                break;
            }
        };
        // `new_checked` refused lengths below the header and past `rest`.
        let what = decode_message(&rest[..len]);
        out.push(Message { seq, pid, what });
        // NLMSG_ALIGN; a last message may omit its padding.
        off = off.saturating_add((len + 3) & !3);
    }
    out
}

/// Decode one whole netlink message (header included).
pub fn decode_message(msg: &[u8]) -> Decoded {
    let Ok(buf) = NetlinkBuffer::new_checked(msg) else {
        return Decoded::Bad(BadInput::Truncated);
    };
    let ty = buf.message_type();
    let wanted = matches!(
        ty,
        NLMSG_DONE | NLMSG_ERROR | RTM_NEWLINK | RTM_DELLINK | RTM_NEWNEIGH | RTM_DELNEIGH
    );
    if !wanted {
        return Decoded::Other;
    }
    let parsed = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(msg) {
        Ok(m) => m,
        Err(e) => return Decoded::Bad(classify(ty, buf.payload(), &e)),
    };
    match parsed.payload {
        NetlinkPayload::Done(_) => Decoded::Done,
        NetlinkPayload::Error(e) => Decoded::Error { code: e.raw_code() },
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(m)) => neigh(false, m),
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelNeighbour(m)) => neigh(true, m),
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => link(false, m),
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m)) => link(true, m),
        _ => Decoded::Other,
    }
}

/// Why the crate refused a message: an `NDA_DST` of the wrong length for
/// the family is told apart (walked with the crate's attribute iterator).
fn classify(ty: u16, payload: &[u8], _e: &DecodeError) -> BadInput {
    if !(ty == RTM_NEWNEIGH || ty == RTM_DELNEIGH) || payload.len() < NDMSG_LEN {
        return BadInput::Malformed;
    }
    let want = match AddressFamily::from(payload[0]) {
        AddressFamily::Inet => 4,
        AddressFamily::Inet6 => 16,
        _ => return BadInput::Malformed,
    };
    for nla in NlasIterator::new(&payload[NDMSG_LEN..]) {
        let Ok(nla) = nla else {
            return BadInput::Malformed;
        };
        if nla.kind() == NDA_DST && nla.value().len() != want {
            return BadInput::BadAddressLength;
        }
    }
    BadInput::Malformed
}

fn neigh(del: bool, m: NeighbourMessage) -> Decoded {
    let h = &m.header;
    let raw_state = u16::from(h.state);
    let mut n = KernelNeigh {
        family: u8::from(h.family),
        ifindex: h.ifindex,
        dst: IpAddr::from([0, 0, 0, 0]),
        state: NudState::from_bits(raw_state as u8),
        state_overflow: raw_state > 0xff,
        lladdr: None,
        flags: NeighFlags::NONE,
        proxy: h.flags.contains(NeighbourFlags::Proxy),
        protocol: None,
        unknown_attrs: 0,
    };
    if h.flags.contains(NeighbourFlags::Router) {
        n.flags = n.flags | NeighFlags::ROUTER;
    }
    if h.flags.contains(NeighbourFlags::ExtLearned) {
        n.flags = n.flags | NeighFlags::EXT_LEARNED;
    }
    let mut dst = None;
    for a in m.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => dst = Some(v4.into()),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => dst = Some(v6.into()),
            // Another family: its address is not ours to read.
            NeighbourAttribute::Destination(_) => {}
            NeighbourAttribute::LinkLayerAddress(l) => n.lladdr = Some(l),
            NeighbourAttribute::Protocol(p) => n.protocol = Some(u8::from(p)),
            NeighbourAttribute::ExtFlags(f) if f.contains(NeighbourExtFlags::Managed) => {
                n.flags = n.flags | NeighFlags::MANAGED;
            }
            NeighbourAttribute::Other(_) => n.unknown_attrs += 1,
            // Known and not mirrored: cache info, probes, VLAN, VNI...
            _ => {}
        }
    }
    match dst {
        Some(d) => {
            n.dst = d;
            Decoded::Neigh { del, n }
        }
        None if !matches!(
            AddressFamily::from(n.family),
            AddressFamily::Inet | AddressFamily::Inet6
        ) =>
        {
            // A bridge FDB entry or another family's message: not ours.
            Decoded::Other
        }
        None => Decoded::Bad(BadInput::NoDestination),
    }
}

fn link(del: bool, m: LinkMessage) -> Decoded {
    let mut l = KernelLink {
        ifindex: m.header.index,
        name: String::new(),
        address: None,
        noarp: m.header.flags.contains(LinkFlags::Noarp),
    };
    for a in m.attributes {
        match a {
            LinkAttribute::IfName(s) => l.name = s,
            LinkAttribute::Address(a) => l.address = Some(a),
            _ => {}
        }
    }
    Decoded::Link { del, l }
}
