//! Reading the kernel's neighbour table over rtnetlink (`RTM_GETNEIGH`
//! dump), the way `ip -j neigh show` does, but cheap enough (tens of
//! microseconds) to poll every couple of milliseconds. Owns the socket and
//! the message parsing; only the fields the tests compare are decoded.

use std::io;
use std::mem::size_of;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NDA_PROBES: u16 = 4;

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

/// An rtnetlink socket in the namespace of the thread that opened it.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly opened descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Rtnl {
            fd,
            seq: 0,
            buf: vec![0; 1 << 16],
        })
    }

    /// Every neighbour of `family` (`libc::AF_INET`/`AF_INET6`).
    pub fn dump(&mut self, family: u8) -> io::Result<Vec<KNeigh>> {
        self.seq += 1;
        let mut req = [0u8; 28];
        req[0..4].copy_from_slice(&28u32.to_ne_bytes());
        req[4..6].copy_from_slice(&RTM_GETNEIGH.to_ne_bytes());
        req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        req[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        req[16] = family;
        // SAFETY: sending a 28-byte buffer we own on an open socket (the
        // kernel is the default destination of an unbound netlink socket).
        let n = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        loop {
            // SAFETY: receiving into our own buffer of the given length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let data = &self.buf[..n as usize];
            let mut off = 0;
            while off + 16 <= data.len() {
                let len = u32::from_ne_bytes(data[off..off + 4].try_into().unwrap()) as usize;
                let ty = u16::from_ne_bytes(data[off + 4..off + 6].try_into().unwrap());
                let seq = u32::from_ne_bytes(data[off + 8..off + 12].try_into().unwrap());
                if len < 16 || off + len > data.len() {
                    return Err(io::Error::other("bad netlink message length"));
                }
                let msg = &data[off..off + len];
                off += (len + 3) & !3;
                if seq != self.seq {
                    continue;
                }
                match ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let err = i32::from_ne_bytes(msg[16..20].try_into().unwrap());
                        return Err(io::Error::from_raw_os_error(-err));
                    }
                    RTM_NEWNEIGH => {
                        if let Some(k) = parse_neigh(&msg[16..]) {
                            out.push(k);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

fn parse_neigh(b: &[u8]) -> Option<KNeigh> {
    if b.len() < 12 {
        return None;
    }
    let family = b[0];
    let ifindex = i32::from_ne_bytes(b[4..8].try_into().ok()?);
    let state = u16::from_ne_bytes(b[8..10].try_into().ok()?);
    let (mut dst, mut lladdr, mut probes) = (None, None, None);
    let mut off = 12;
    while off + 4 <= b.len() {
        let len = u16::from_ne_bytes(b[off..off + 2].try_into().ok()?) as usize;
        let ty = u16::from_ne_bytes(b[off + 2..off + 4].try_into().ok()?) & 0x3fff;
        if len < 4 || off + len > b.len() {
            break;
        }
        let v = &b[off + 4..off + len];
        match ty {
            NDA_DST if family == libc::AF_INET as u8 && v.len() == 4 => {
                dst = Some(IpAddr::from(<[u8; 4]>::try_from(v).ok()?))
            }
            NDA_DST if v.len() == 16 => dst = Some(IpAddr::from(<[u8; 16]>::try_from(v).ok()?)),
            NDA_LLADDR if v.len() == 6 => lladdr = v.try_into().ok(),
            NDA_PROBES if v.len() == size_of::<u32>() => {
                probes = Some(u32::from_ne_bytes(v.try_into().ok()?))
            }
            _ => {}
        }
        off += (len + 3) & !3;
    }
    Some(KNeigh {
        dst: dst?,
        ifindex,
        state,
        lladdr,
        probes,
    })
}
