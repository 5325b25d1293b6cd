//! The values of the proxy: [`Prefix`] (validated address ranges),
//! [`ProxyEntry`], [`ProxyParms`] (`proxy_delay`, `proxy_qlen`),
//! [`ProxyError`] and [`Added`]. This module owns validation and nothing
//! with state.

use crate::neigh::DevId;
use crate::parms::MAX_TIME;
use crate::timer::Tick;
use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// `proxy_delay` default: 0.8 s (`(8 * HZ) / 10`, both `arp_tbl` and
/// `nd_tbl`).
pub const DEFAULT_PROXY_DELAY: Tick = 800;
/// `proxy_qlen` default: 64.
pub const DEFAULT_PROXY_QLEN: usize = 64;
/// The largest `proxy_qlen` accepted.
pub const MAX_PROXY_QLEN: usize = 1 << 16;

/// An address prefix: an exact address (`/32`, `/128`) or a range. Always
/// valid: the length fits the family, no host bit is set, and it is not a
/// range of addresses no neighbour can have (multicast, loopback,
/// unspecified, broadcast).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// `addr/len`, validated.
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, ProxyError> {
        let max = max_len(addr);
        if len > max {
            return Err(ProxyError::PrefixLength { len, max });
        }
        if mask(addr, len) != addr {
            return Err(ProxyError::HostBitsSet { addr, len });
        }
        if !unicast_range(addr, len) {
            return Err(ProxyError::NotUnicast { addr, len });
        }
        Ok(Prefix { addr, len })
    }

    /// One address (`/32` or `/128`), validated.
    pub fn host(addr: IpAddr) -> Result<Prefix, ProxyError> {
        Prefix::new(addr, max_len(addr))
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Is it one address (`/32`, `/128`)?
    pub fn is_host(&self) -> bool {
        self.len == max_len(self.addr)
    }

    /// Is `ip` in this prefix (same family, same leading `len` bits)?
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.len) == self.addr
    }
}

impl fmt::Display for Prefix {
    /// `ADDR` for one address, `ADDR/LEN` otherwise (as `ip` prints).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

impl FromStr for Prefix {
    type Err = ProxyError;

    /// `ADDR` or `ADDR/LEN`.
    fn from_str(s: &str) -> Result<Prefix, ProxyError> {
        let syntax = || ProxyError::Syntax(s.to_string());
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| syntax())?;
        match l {
            Some(l) => Prefix::new(addr, l.parse().map_err(|_| syntax())?),
            None => Prefix::host(addr),
        }
    }
}

fn max_len(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

/// `a` with all but its leading `len` bits cleared (`len` <= the family's).
fn mask(a: IpAddr, len: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v) & m))
        }
        IpAddr::V6(v) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v) & m))
        }
    }
}

/// May the range `a/len` hold a neighbour's address? Refused: ranges made
/// only of "this network" (0/8) or loopback (127/8) addresses, of class D/E
/// (224/4, 240/4), the limited broadcast; IPv6 multicast (ff00::/8), `::`
/// and `::1`.
fn unicast_range(a: IpAddr, len: u8) -> bool {
    match a {
        IpAddr::V4(v) => {
            let first = v.octets()[0];
            !((len >= 8 && (first == 0 || first == 127)) || (len >= 4 && first >= 224))
        }
        IpAddr::V6(v) => {
            let host = len == 128 && (v.is_unspecified() || v.is_loopback());
            !(host || (len >= 8 && v.octets()[0] == 0xff))
        }
    }
}

/// One proxy entry: what `ip neigh show proxy` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyEntry {
    /// The addresses answered for.
    pub prefix: Prefix,
    /// The device it answers on; `None`: every registered device.
    pub dev: Option<DevId>,
    /// `NTF_ROUTER`: our Neighbor Advertisements for it carry R=1
    /// (`pndisc_is_router`). ARP has no such flag.
    pub router: bool,
}

/// A device's proxy parameters (`net.ipv{4,6}.neigh.DEV.proxy_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyParms {
    /// `proxy_delay` in ticks (ms): a broadcast/multicast request is
    /// answered after a random delay in `[0, delay)`; 0 answers at once.
    pub delay: Tick,
    /// `proxy_qlen`: requests that may wait for their delay on this device;
    /// more are dropped and counted.
    pub qlen: usize,
}

impl Default for ProxyParms {
    fn default() -> Self {
        ProxyParms {
            delay: DEFAULT_PROXY_DELAY,
            qlen: DEFAULT_PROXY_QLEN,
        }
    }
}

impl ProxyParms {
    /// Check the values: `delay` at most one day, `qlen` at most
    /// [`MAX_PROXY_QLEN`].
    pub fn validate(&self) -> Result<(), ProxyError> {
        if self.delay > MAX_TIME {
            return Err(ProxyError::Parms {
                field: "proxy_delay",
                value: self.delay,
            });
        }
        if self.qlen > MAX_PROXY_QLEN {
            return Err(ProxyError::Parms {
                field: "proxy_qlen",
                value: self.qlen as u64,
            });
        }
        Ok(())
    }
}

/// Why a proxy operation was refused. None of them changes anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyError {
    /// A prefix length longer than the family's address.
    PrefixLength {
        /// The length given.
        len: u8,
        /// 32 or 128.
        max: u8,
    },
    /// Bits set beyond the prefix length (`198.18.0.1/24`).
    HostBitsSet {
        /// The address given.
        addr: IpAddr,
        /// The length given.
        len: u8,
    },
    /// A range no neighbour's address can be in (multicast, loopback,
    /// unspecified, broadcast).
    NotUnicast {
        /// The address given.
        addr: IpAddr,
        /// The length given.
        len: u8,
    },
    /// Not `ADDR` or `ADDR/LEN`.
    Syntax(String),
    /// The device is not registered with this proxy.
    UnknownDevice(DevId),
    /// The device is already registered.
    DeviceExists(DevId),
    /// No such entry (`ip neigh del proxy`: `ENOENT`).
    NotFound,
    /// A parameter out of range.
    Parms {
        /// Its sysctl name.
        field: &'static str,
        /// The value given.
        value: u64,
    },
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::PrefixLength { len, max } => {
                write!(f, "prefix length {len} is above {max}")
            }
            ProxyError::HostBitsSet { addr, len } => {
                write!(f, "{addr}/{len}: bits set beyond the prefix length")
            }
            ProxyError::NotUnicast { addr, len } => {
                write!(f, "{addr}/{len}: no neighbour can have such an address")
            }
            ProxyError::Syntax(s) => write!(f, "{s:?}: expected ADDR or ADDR/LEN"),
            ProxyError::UnknownDevice(d) => write!(f, "device {d} is not registered"),
            ProxyError::DeviceExists(d) => write!(f, "device {d} is already registered"),
            ProxyError::NotFound => f.write_str("no such proxy entry"),
            ProxyError::Parms { field, value } => write!(f, "{field} = {value} is out of range"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// What [`Proxy::add`](super::Proxy::add) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// A new entry.
    Created,
    /// The entry existed; its flags were replaced (the kernel's
    /// `pneigh_create` on an existing entry).
    Updated,
}
