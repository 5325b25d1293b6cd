//! An `AF_PACKET` raw socket bound to one interface (Linux): whole Ethernet
//! frames in and out, the kernel's packet type of each received frame, and
//! multicast group membership.
//!
//! Built on `socket2` (socket lifetime, timeouts, vectored send) plus
//! `libc` for what `socket2` does not wrap: `sockaddr_ll`, `recvfrom` with
//! the link-layer address, and the `SOL_PACKET` options. This module owns
//! the socket and every `unsafe` call it needs.

use super::eth::{Mac, PacketType};
use super::ops::FrameSink;
use super::L4Checksum;
use crate::DevId;
use core::fmt;
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};
use std::ffi::CString;
use std::io::{self, IoSlice};
use std::mem::{size_of, size_of_val};
use std::os::fd::AsRawFd;
use std::time::Duration;

// Kernel ABI constants (include/uapi/linux/if_packet.h, if_ether.h), kept
// here so that an older `libc` without them still builds.
const ETH_P_ALL: u16 = 0x0003;
const SOL_PACKET: libc::c_int = 263;
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_MR_MULTICAST: libc::c_int = 0;
const PACKET_MR_ALLMULTI: libc::c_int = 2;
const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_CSUM_VALID: u32 = 1 << 7;
const PACKET_HOST: u8 = 0;
const PACKET_BROADCAST: u8 = 1;
const PACKET_MULTICAST: u8 = 2;

/// `struct tpacket_auxdata`, the `PACKET_AUXDATA` control message.
#[repr(C)]
#[derive(Clone, Copy)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

/// What [`PacketSocket::recv`] learned about a frame besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvInfo {
    /// Bytes received.
    pub len: usize,
    /// How the frame was addressed (`sll_pkttype`).
    pub pkt_type: PacketType,
    /// `Trusted` when the kernel says the layer-4 checksum was verified by
    /// the device or never computed (a local sender on a virtual link).
    pub checksum: L4Checksum,
}

#[repr(C)]
struct PacketMreq {
    mr_ifindex: libc::c_int,
    mr_type: libc::c_ushort,
    mr_alen: libc::c_ushort,
    mr_address: [u8; 8],
}

/// Why [`PacketSocket::open`] failed.
#[derive(Debug)]
pub enum OpenError {
    /// No interface of that name in this network namespace.
    NoSuchInterface(String),
    /// Raw sockets need `CAP_NET_RAW` (run as root).
    PermissionDenied(io::Error),
    /// The interface is not Ethernet (no 6-byte hardware address).
    NotEthernet(String),
    /// Any other system error.
    Io(io::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NoSuchInterface(n) => write!(f, "no such interface: {n}"),
            OpenError::PermissionDenied(e) => {
                write!(
                    f,
                    "cannot open a raw socket ({e}): run as root (needs CAP_NET_RAW)"
                )
            }
            OpenError::NotEthernet(n) => write!(f, "{n} is not an Ethernet interface"),
            OpenError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// A raw socket on one interface.
#[derive(Debug)]
pub struct PacketSocket {
    sock: Socket,
    ifindex: u32,
    mac: Mac,
    name: String,
}

fn ll_addr(ifindex: u32) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is a platform `sockaddr_*` type that fits in the
    // storage (`view_as` asserts the size).
    let sll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    sll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    sll.sll_protocol = ETH_P_ALL.to_be();
    sll.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: the family is AF_PACKET and the storage holds an initialised
    // `sockaddr_ll` of the length given.
    unsafe { SockAddr::new(storage, size_of::<libc::sockaddr_ll>() as libc::socklen_t) }
}

fn setsockopt<T>(sock: &Socket, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of the size passed; the fd is open.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl PacketSocket {
    /// Open a raw socket on `ifname` in the calling thread's network
    /// namespace, receiving every frame (`ETH_P_ALL`) except our own
    /// outgoing ones.
    pub fn open(ifname: &str) -> Result<Self, OpenError> {
        let c = CString::new(ifname).map_err(|_| OpenError::NoSuchInterface(ifname.into()))?;
        // SAFETY: `c` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
        if ifindex == 0 {
            return Err(OpenError::NoSuchInterface(ifname.into()));
        }
        let proto = Protocol::from(i32::from(ETH_P_ALL.to_be()));
        let sock = Socket::new(Domain::PACKET, Type::RAW, Some(proto)).map_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                OpenError::PermissionDenied(e)
            } else {
                OpenError::Io(e)
            }
        })?;
        sock.bind(&ll_addr(ifindex)).map_err(OpenError::Io)?;
        // Our own transmissions are not input (Linux >= 4.20; older kernels
        // reject the option and we filter by packet type instead).
        let _ = setsockopt(
            &sock,
            SOL_PACKET,
            PACKET_IGNORE_OUTGOING,
            &1 as &libc::c_int,
        );
        setsockopt(&sock, SOL_PACKET, PACKET_AUXDATA, &1 as &libc::c_int).map_err(OpenError::Io)?;
        let local = sock.local_addr().map_err(OpenError::Io)?;
        let mut storage = local.as_storage();
        // SAFETY: the socket is AF_PACKET, so its name is a `sockaddr_ll`.
        let sll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
        if sll.sll_halen != 6 {
            return Err(OpenError::NotEthernet(ifname.into()));
        }
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&sll.sll_addr[..6]);
        Ok(PacketSocket {
            sock,
            ifindex,
            mac,
            name: ifname.into(),
        })
    }

    /// The interface index (use it as the table's [`DevId`]).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface's MAC address.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Receive frames sent to the multicast MAC `mac` (`PACKET_ADD_MEMBERSHIP`).
    pub fn join_multicast(&self, mac: &Mac) -> io::Result<()> {
        let mut mr = PacketMreq {
            mr_ifindex: self.ifindex as libc::c_int,
            mr_type: PACKET_MR_MULTICAST as libc::c_ushort,
            mr_alen: 6,
            mr_address: [0; 8],
        };
        mr.mr_address[..6].copy_from_slice(mac);
        setsockopt(&self.sock, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr)
    }

    /// Receive every multicast frame of the interface
    /// (`PACKET_MR_ALLMULTI`): needed to hear Neighbor Solicitations for a
    /// proxied IPv6 prefix, whose solicited-node groups cannot be listed.
    pub fn join_all_multicast(&self) -> io::Result<()> {
        let mr = PacketMreq {
            mr_ifindex: self.ifindex as libc::c_int,
            mr_type: PACKET_MR_ALLMULTI as libc::c_ushort,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        setsockopt(&self.sock, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr)
    }

    /// Bound how long [`recv`](Self::recv) blocks (`None`: forever).
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(d)
    }

    /// Receive one frame into `buf`; returns its length and how it was
    /// addressed. Outgoing frames (if the kernel ignored
    /// `PACKET_IGNORE_OUTGOING`) come back as `OtherHost`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<RecvInfo> {
        // SAFETY: all-zero is a valid `sockaddr_ll` and `msghdr`.
        let (mut sll, mut msg): (libc::sockaddr_ll, libc::msghdr) =
            unsafe { (core::mem::zeroed(), core::mem::zeroed()) };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // u64 words: the control buffer must be aligned for `cmsghdr`.
        let mut control = [0u64; 16];
        msg.msg_name = (&mut sll as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control) as _;
        // SAFETY: every pointer in `msg` refers to a live, writable buffer
        // of the length given (`buf`, `sll`, `control`); the fd is open.
        let n = unsafe { libc::recvmsg(self.sock.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut checksum = L4Checksum::Verify;
        // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR/NXTHDR stay
        // within `msg_controllen` bytes of `control`, and an auxdata payload
        // is read unaligned from inside that buffer, only from a message
        // whose length covers the whole struct.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let whole = libc::CMSG_LEN(size_of::<TpacketAuxdata>() as u32) as usize;
                if (*c).cmsg_level == SOL_PACKET
                    && (*c).cmsg_type == PACKET_AUXDATA
                    && (*c).cmsg_len as usize >= whole
                {
                    let aux = libc::CMSG_DATA(c).cast::<TpacketAuxdata>().read_unaligned();
                    if aux.tp_status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID) != 0 {
                        checksum = L4Checksum::Trusted;
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        let pkt_type = match sll.sll_pkttype {
            PACKET_HOST => PacketType::Host,
            PACKET_BROADCAST => PacketType::Broadcast,
            PACKET_MULTICAST => PacketType::Multicast,
            _ => PacketType::OtherHost,
        };
        Ok(RecvInfo {
            len: n as usize,
            pkt_type,
            checksum,
        })
    }

    /// Send one frame made of `head` and `body`.
    pub fn send(&self, head: &[u8], body: &[u8]) -> io::Result<()> {
        let bufs = [IoSlice::new(head), IoSlice::new(body)];
        let n = self.sock.send_vectored(&bufs)?;
        if n != head.len() + body.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short raw send"));
        }
        Ok(())
    }
}

impl FrameSink for PacketSocket {
    fn send_frame(&self, _dev: DevId, head: &[u8], body: &[u8]) -> io::Result<()> {
        self.send(head, body)
    }
}
