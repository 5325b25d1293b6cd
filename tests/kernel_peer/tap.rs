//! A timestamped tap on one interface: an AF_PACKET socket that sees every
//! frame in both directions, each with the time the kernel queued it
//! (`SO_TIMESTAMPNS`: stamped when the frame entered the receive path, or
//! when it was handed to the device for an outgoing one), not the time a
//! user thread got round to reading it. Read only on demand and without
//! blocking ([`Tap::drain`]), so a caller that drains after an event caused
//! by a frame (the peer answered it, hence its kernel had queued it to this
//! socket first: taps run before the protocol handlers) is sure to see that
//! frame, however late any thread was scheduled. Owns the socket only; what
//! the frames mean is `topo::Capture`'s business.

use std::io;
use std::mem::{size_of, size_of_val};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ETH_P_ALL: u16 = 0x0003;
/// Room for every frame the tests can leave unread between two drains
/// (`SO_RCVBUFFORCE`, root): a few hundred small frames per run.
const RCVBUF: libc::c_int = 4 << 20;

/// One frame seen on the interface.
pub struct Frame {
    /// When the kernel queued it (converted from `CLOCK_REALTIME`).
    pub t: Instant,
    /// Sent by this side of the link (`PACKET_OUTGOING`).
    pub outgoing: bool,
    pub data: Vec<u8>,
}

pub struct Tap {
    fd: OwnedFd,
}

fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn set_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: setsockopt on an open socket with a live c_int.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    check(rc, "setsockopt")
}

/// A kernel (`CLOCK_REALTIME`) timestamp as an `Instant`: both clocks are
/// read back to back now, so the error is that of the two reads (well
/// under a microsecond) unless the wall clock is stepped meanwhile.
fn to_instant(ts: libc::timespec) -> Instant {
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    now.checked_sub(wall.saturating_sub(at)).unwrap_or(now)
}

impl Tap {
    /// Open a tap on `ifname` in the calling thread's network namespace.
    pub fn open(ifname: &str) -> io::Result<Tap> {
        let name = std::ffi::CString::new(ifname).unwrap();
        // SAFETY: `name` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                i32::from(ETH_P_ALL.to_be()),
            )
        };
        check(raw, "socket(AF_PACKET)")?;
        // SAFETY: `raw` is a freshly opened descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: binding to a sockaddr_ll of the size given.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        check(rc, "bind")?;
        set_int(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
        set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RCVBUF)?;
        Ok(Tap { fd })
    }

    /// Hand every frame queued on the socket to `f`, oldest first, without
    /// blocking. Every frame queued before the call is returned.
    pub fn drain(&self, mut f: impl FnMut(Frame)) {
        let mut buf = [0u8; 2048];
        loop {
            // SAFETY: all-zero is a valid sockaddr_ll and msghdr.
            let (mut sll, mut msg): (libc::sockaddr_ll, libc::msghdr) =
                unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // u64 words: aligned for cmsghdr.
            let mut ctl = [0u64; 16];
            msg.msg_name = (&mut sll as *mut libc::sockaddr_ll).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = ctl.as_mut_ptr().cast();
            msg.msg_controllen = size_of_val(&ctl) as _;
            // SAFETY: every pointer in `msg` refers to a live, writable
            // buffer of the length given; the fd is open.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return; // EAGAIN: nothing more queued
            }
            let mut stamp = None;
            // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR/NXTHDR stay
            // within `msg_controllen` bytes of `ctl`; a timespec is read
            // unaligned from a message whose length covers it.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    let whole = libc::CMSG_LEN(size_of::<libc::timespec>() as u32) as usize;
                    if (*c).cmsg_level == libc::SOL_SOCKET
                        && (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                        && (*c).cmsg_len as usize >= whole
                    {
                        stamp = Some(libc::CMSG_DATA(c).cast::<libc::timespec>().read_unaligned());
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            f(Frame {
                // The kernel stamps every frame once SO_TIMESTAMPNS is on;
                // if it ever did not, the read time is the best left.
                t: stamp.map_or_else(Instant::now, to_instant),
                outgoing: sll.sll_pkttype == libc::PACKET_OUTGOING,
                data: buf[..n as usize].to_vec(),
            });
        }
    }

    /// Block until a frame is queued or `timeout` passes.
    pub fn wait(&self, timeout: Duration) {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        unsafe { libc::poll(&mut p, 1, timeout.as_millis() as libc::c_int) };
    }

    /// Send one whole frame out of the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sending a buffer we own on a bound socket.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != frame.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short raw send"));
        }
        Ok(())
    }
}
