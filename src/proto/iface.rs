//! The interface the protocol layer speaks for ([`Iface`]: device id, MAC,
//! one IPv4 and one IPv6 address) and the kernel-style receive policy
//! ([`Policy`]: the `arp_accept`, `drop_gratuitous_arp`,
//! `drop_unsolicited_na`, `accept_untracked_na`, `accept_redirects`,
//! `forwarding` and `proxy_ndp` sysctls).
//!
//! This module owns identity and configuration, and the address
//! classification ARP and ND need ("is this ours", "on link", "unicast").

use super::eth::{self, Mac};
use crate::DevId;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPv4 address with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4If {
    /// The address.
    pub addr: Ipv4Addr,
    /// Prefix length (0..=32).
    pub prefix_len: u8,
}

impl Ipv4If {
    fn mask(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n.min(32))),
        }
    }

    /// Is `ip` in this address's subnet?
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.addr)) & self.mask() == 0
    }

    /// The subnet's directed broadcast address (none for /31 and /32).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        (self.prefix_len < 31).then(|| Ipv4Addr::from(u32::from(self.addr) | !self.mask()))
    }
}

/// An IPv6 address with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6If {
    /// The address.
    pub addr: Ipv6Addr,
    /// Prefix length (0..=128).
    pub prefix_len: u8,
}

impl Ipv6If {
    /// Is `ip` in this address's prefix?
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        let n = u32::from(self.prefix_len.min(128));
        let mask = if n == 0 { 0 } else { u128::MAX << (128 - n) };
        (u128::from(ip) ^ u128::from(self.addr)) & mask == 0
    }
}

/// The interface: what the kernel finds in `dev` and its `in_device` /
/// `inet6_dev`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    /// The device id used in the neighbour tables (the ifindex).
    pub dev: DevId,
    /// Interface name, for output.
    pub name: String,
    /// Our MAC address.
    pub mac: Mac,
    /// Our IPv4 address, if any.
    pub ipv4: Option<Ipv4If>,
    /// Our IPv6 address, if any (answered in NS, used as the source of
    /// our solicitations).
    pub ipv6: Option<Ipv6If>,
    /// Also answer for the EUI-64 link-local address derived from `mac`.
    pub link_local: bool,
}

impl Iface {
    /// An interface with no addresses.
    pub fn new(dev: DevId, name: impl Into<String>, mac: Mac) -> Self {
        Iface {
            dev,
            name: name.into(),
            mac,
            ipv4: None,
            ipv6: None,
            link_local: false,
        }
    }

    /// The same interface owning `addr/prefix_len`.
    pub fn with_ipv4(mut self, addr: Ipv4Addr, prefix_len: u8) -> Self {
        self.ipv4 = Some(Ipv4If { addr, prefix_len });
        self
    }

    /// The same interface owning `addr/prefix_len`.
    pub fn with_ipv6(mut self, addr: Ipv6Addr, prefix_len: u8) -> Self {
        self.ipv6 = Some(Ipv6If { addr, prefix_len });
        self
    }

    /// Our EUI-64 link-local address, if enabled.
    pub fn link_local_addr(&self) -> Option<Ipv6Addr> {
        self.link_local.then(|| eth::link_local(&self.mac))
    }

    /// Is `ip` our IPv4 address?
    pub fn owns_v4(&self, ip: Ipv4Addr) -> bool {
        self.ipv4.is_some_and(|a| a.addr == ip)
    }

    /// Is `ip` one of our IPv6 addresses?
    pub fn owns_v6(&self, ip: Ipv6Addr) -> bool {
        self.ipv6.is_some_and(|a| a.addr == ip) || self.link_local_addr() == Some(ip)
    }

    /// Source address of our IPv6 solicitations (`ndisc_solicit`: the
    /// queued packet's source when it is ours; here always our address,
    /// else the link-local one).
    pub fn ipv6_source(&self) -> Option<Ipv6Addr> {
        self.ipv6.map(|a| a.addr).or_else(|| self.link_local_addr())
    }

    /// Our source address for packets to `dst` (`ipv6_dev_get_saddr` with
    /// our one or two addresses): the link-local one for a link-local or
    /// link-scope multicast destination if we have it, else our address.
    pub fn ipv6_source_for(&self, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        let link_scope = dst.segments()[0] & 0xffc0 == 0xfe80
            || (dst.is_multicast() && dst.segments()[0] & 0x000f == 2);
        if link_scope {
            self.link_local_addr().or(self.ipv6.map(|a| a.addr))
        } else {
            self.ipv6_source()
        }
    }

    /// `inet_addr_type(sip) == RTN_UNICAST` from this host's view: not
    /// ours, not 0.0.0.0, not a broadcast (limited or our subnet's), not
    /// multicast, not loopback.
    pub fn is_unicast_v4(&self, ip: Ipv4Addr) -> bool {
        !(self.owns_v4(ip)
            || ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_multicast()
            || ip.is_loopback()
            || self.ipv4.and_then(|a| a.broadcast()) == Some(ip))
    }

    /// Is `ip` on the link (in our IPv4 subnet)?
    pub fn on_link_v4(&self, ip: Ipv4Addr) -> bool {
        self.ipv4.is_some_and(|a| a.contains(ip))
    }

    /// Is `ip` on the link (in our IPv6 prefix, or link-local)?
    pub fn on_link_v6(&self, ip: Ipv6Addr) -> bool {
        self.ipv6.is_some_and(|a| a.contains(ip)) || ip.segments()[0] & 0xffc0 == 0xfe80
    }
}

/// `arp_accept`: may an unsolicited ARP create an entry?
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArpAccept {
    /// 0: never (the kernel default). Existing entries are still updated.
    #[default]
    Never,
    /// 1: gratuitous ARPs and replies from unicast senders create entries.
    Always,
    /// 2: as 1, only for senders in our IPv4 subnet.
    SameSubnet,
}

/// `accept_untracked_na` (routers only, RFC 9131): may an NA for an
/// address without an entry create one?
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UntrackedNa {
    /// 0: never (the kernel default).
    #[default]
    Never,
    /// 1: yes, as STALE.
    Always,
    /// 2: only if the sender is in our IPv6 prefix.
    SameSubnet,
}

/// The receive policy, named after the sysctls it mirrors. The default is
/// the kernel's default (every switch off but `accept_redirects`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `net.ipv4.conf.<dev>.arp_accept`.
    pub arp_accept: ArpAccept,
    /// `net.ipv4.conf.<dev>.drop_gratuitous_arp`.
    pub drop_gratuitous_arp: bool,
    /// `net.ipv6.conf.<dev>.drop_unsolicited_na`.
    pub drop_unsolicited_na: bool,
    /// `net.ipv6.conf.<dev>.accept_untracked_na`.
    pub accept_untracked_na: UntrackedNa,
    /// `forwarding`: we are a router (R flag in our NAs; untracked NAs are
    /// considered only by routers; proxy entries are answered only by
    /// routers, `IN_DEV_FORWARD` / `cnf.forwarding`).
    pub forwarding: bool,
    /// `net.ipv6.conf.<dev>.proxy_ndp`: answer Neighbor Solicitations for
    /// proxied addresses (with `forwarding`). Proxy ARP needs no such
    /// switch, as in the kernel: an entry is enough.
    pub proxy_ndp: bool,
    /// `net.ipv6.conf.<dev>.accept_redirects` (on by default): a Redirect
    /// from a router may update the target's entry (RFC 4861 §8.3). A
    /// router (`forwarding`) ignores Redirects whatever this says.
    pub accept_redirects: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            arp_accept: ArpAccept::Never,
            drop_gratuitous_arp: false,
            drop_unsolicited_na: false,
            accept_untracked_na: UntrackedNa::Never,
            forwarding: false,
            proxy_ndp: false,
            accept_redirects: true,
        }
    }
}

impl Policy {
    /// `arp_accept(in_dev, sip)`.
    pub fn arp_accept_allows(&self, iface: &Iface, sip: Ipv4Addr) -> bool {
        match self.arp_accept {
            ArpAccept::Never => false,
            ArpAccept::Always => true,
            ArpAccept::SameSubnet => iface.on_link_v4(sip),
        }
    }

    /// `accept_untracked_na(dev, saddr)`.
    pub fn untracked_na_allows(&self, iface: &Iface, saddr: Ipv6Addr) -> bool {
        match self.accept_untracked_na {
            UntrackedNa::Never => false,
            UntrackedNa::Always => true,
            UntrackedNa::SameSubnet => iface.ipv6.is_some_and(|a| a.contains(saddr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_classification() {
        let i = Iface::new(DevId(1), "t", [2, 0, 0, 0, 0, 1])
            .with_ipv4(Ipv4Addr::new(198, 18, 0, 1), 24)
            .with_ipv6("2001:db8::1".parse().unwrap(), 64);
        assert!(i.owns_v4(Ipv4Addr::new(198, 18, 0, 1)));
        assert!(i.on_link_v4(Ipv4Addr::new(198, 18, 0, 200)));
        assert!(!i.on_link_v4(Ipv4Addr::new(198, 19, 0, 2)));
        assert!(i.is_unicast_v4(Ipv4Addr::new(198, 18, 0, 2)));
        for ip in [
            Ipv4Addr::new(198, 18, 0, 255),
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(224, 0, 0, 1),
            Ipv4Addr::new(127, 0, 0, 1),
        ] {
            assert!(!i.is_unicast_v4(ip), "{ip}");
        }
        assert!(i.on_link_v6("2001:db8::99".parse().unwrap()));
        assert!(i.on_link_v6("fe80::1".parse().unwrap()));
        assert!(!i.on_link_v6("2001:db9::1".parse().unwrap()));
        assert!(!i.owns_v6(eth::link_local(&i.mac)));
        let global: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
        assert_eq!(i.ipv6_source_for(all_nodes), Some(global));
        let ll = Iface {
            link_local: true,
            ..i
        };
        assert!(ll.owns_v6(eth::link_local(&ll.mac)));
        let lla = eth::link_local(&ll.mac);
        assert_eq!(ll.ipv6_source_for(all_nodes), Some(lla));
        assert_eq!(ll.ipv6_source_for("fe80::9".parse().unwrap()), Some(lla));
        assert_eq!(
            ll.ipv6_source_for("2001:db8::9".parse().unwrap()),
            Some(global)
        );
        assert_eq!(ll.ipv6_source_for("ff05::2".parse().unwrap()), Some(global));
        assert_eq!(
            Ipv4If {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                prefix_len: 31
            }
            .broadcast(),
            None
        );
    }

    #[test]
    fn policy_defaults_are_the_kernels() {
        let p = Policy::default();
        let i = Iface::new(DevId(1), "t", [2, 0, 0, 0, 0, 1]);
        assert!(!p.arp_accept_allows(&i, Ipv4Addr::new(198, 18, 0, 2)));
        assert!(!p.untracked_na_allows(&i, "2001:db8::2".parse().unwrap()));
        assert!(!p.drop_gratuitous_arp && !p.drop_unsolicited_na && !p.forwarding);
        assert!(!p.proxy_ndp && p.accept_redirects);
    }
}
