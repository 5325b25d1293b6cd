//! The frame differential's verdict: what each side's neighbour view and
//! answers were after a frame, whether they agree, the differences we
//! keep on purpose ([`EXPECTED`], enforced both ways: an unlisted
//! difference fails the test, and so does a listed one that no longer
//! shows), and the agreement table. Owns comparison and reporting only.

use crate::corpus::Scenario;
use crate::wire::{BARRIER_ID, BARRIER_IP, K_MAC};
use neighcache::proto::arp;
use neighcache::proto::eth::{self, Mac};
use neighcache::{NeighInfo, NudState};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A difference kept on purpose: the frame (`scenario/label`), what our
/// host must show after it (its cache and what it sent, as the table
/// prints them), and why.
pub struct Known {
    pub id: &'static str,
    pub ours: &'static str,
    pub why: &'static str,
}

/// Every frame on which neighcache differs from Linux on purpose. A frame
/// listed here must differ (else the test fails: remove it), and our side
/// must be exactly `ours` (else the test fails: a listed difference must
/// not hide a change of ours); a frame that differs must be listed (else
/// the test fails: fix it or list it).
pub const EXPECTED: &[Known] = &[
    Known {
        id: "arp-sip-subnet-broadcast/request-for-us",
        ours: "cache [] sent []",
        why: "stricter: our subnet's broadcast address is never a sender (RFC 1122 3.2.1.3, \
              accept::check_source_v4); Linux with rp_filter 0 answers and keeps a NOARP entry",
    },
    Known {
        id: "arp-sha-multicast/request-for-us",
        ours: "cache [] sent []",
        why: "stricter: a multicast sender MAC is refused (BadLinkLayerAddress); Linux caches it",
    },
    Known {
        id: "arp-sha-broadcast/request-for-us",
        ours: "cache [] sent []",
        why: "stricter: a broadcast sender MAC is refused (BadLinkLayerAddress); Linux caches it",
    },
    Known {
        id: "arp-from-our-mac/request-for-us",
        ours: "cache [] sent []",
        why: "stricter: a frame from our own MAC is refused (OwnSourceMac); Linux caches the \
              sender at our MAC",
    },
    Known {
        id: "echo4-martian-subnet-broadcast/from-198.18.0.255",
        ours: "cache [] sent []",
        why: "stricter: RFC 1122 3.2.1.3 (a broadcast source is discarded); Linux with \
              rp_filter 0 broadcasts the echo reply",
    },
    Known {
        id: "na-hostile/tllao-multicast",
        ours: "cache [2001:db8::2 INCOMPLETE] sent []",
        why: "stricter: a multicast target link-layer address is refused; Linux caches it and \
              sends the queued datagram to 33:33:00:00:00:01",
    },
    Known {
        id: "ns-sllao-multicast-mac/multicast",
        ours: "cache [] sent []",
        why: "stricter: a multicast source link-layer address is refused; Linux caches it",
    },
    Known {
        id: "ns-from-our-mac/sllao-ours",
        ours: "cache [] sent []",
        why: "stricter: a frame from our own MAC is refused (OwnSourceMac); Linux caches the \
              sender at our MAC",
    },
    Known {
        id: "ns-from-our-address/spoofed",
        ours: "cache [] sent []",
        why: "stricter: an IPv6 source that is one of our addresses is a duplicate \
              (DuplicateAddress); Linux's IP layer does not check it and caches its own address",
    },
    Known {
        id: "ra-from-our-link-local/spoofed",
        ours: "cache [] sent []",
        why: "stricter: as above, an RA from our own link-local address is refused; Linux \
              caches its own address as a router",
    },
    Known {
        id: "ns-ext-hbh-discard-icmp-option/ns",
        ours: "cache [] sent []",
        why: "no ICMP errors: this layer drops the packet; Linux sends a Parameter Problem \
              (option type 10xxxxxx, even to a group) and resolves the sender to send it",
    },
    Known {
        id: "ns-ext-hbh-discard-icmp-option-unicast/ns",
        ours: "cache [] sent []",
        why: "no ICMP errors (as above, unicast)",
    },
    Known {
        id: "ns-ext-routing-segments-left/ns",
        ours: "cache [] sent []",
        why: "no ICMP errors: Linux answers a type-0 routing header with segments left by a \
              Parameter Problem (accept_source_route off), resolving the sender",
    },
    Known {
        id: "echo4-code-1/echo",
        ours: "cache [198.18.0.2 02:00:00:00:00:02 REACHABLE] sent []",
        why: "stricter: an echo request whose code is not 0 is not answered (smoltcp's parser \
              refuses it); Linux answers it, echoing the code",
    },
    Known {
        id: "echo6-code-1/echo",
        ours: "cache [2001:db8::2 02:00:00:00:00:02 REACHABLE] sent []",
        why: "stricter: as above, ICMPv6",
    },
    Known {
        id: "ns-subnet-router-anycast/multicast",
        ours: "cache [] sent []",
        why: "no anycast addresses: a Linux router joins its prefix's subnet-router anycast \
              address (RFC 4291 2.6.1) and answers an NS for it (O=0); this layer owns only its \
              unicast addresses and drops the NS (NotOurDestination)",
    },
    Known {
        id: "echo4-ip-option-malformed/length-1",
        ours: "cache [198.18.0.2 02:00:00:00:00:02 REACHABLE] sent []",
        why: "no ICMP errors: both drop an IPv4 option of length 1; Linux also sends a \
              Parameter Problem (ip_options_compile)",
    },
    Known {
        id: "echo4-ip-option-malformed/cipso",
        ours: "cache [198.18.0.2 02:00:00:00:00:02 REACHABLE] sent []",
        why: "no ICMP errors: both drop a CIPSO option (no CIPSO domain); Linux also sends a \
              Parameter Problem",
    },
    Known {
        id: "echo4-ip-option-malformed/timestamp-overflow",
        ours: "cache [198.18.0.2 02:00:00:00:00:02 REACHABLE] sent []",
        why: "no ICMP errors: both drop a timestamp option whose overflow counter is full; \
              Linux also sends a Parameter Problem",
    },
    Known {
        id: "redirect-unrouted-destination/dest-2001:db8:77::1",
        ours: "cache [fe80::1 02:00:00:00:00:0a router STALE, fe80::2 02:00:00:00:00:02 router STALE] sent []",
        why: "no routing table: a Redirect from a router we know is taken for any destination; \
              Linux takes it only from the current first hop of that destination (RFC 4861 8.1)",
    },
];

/// One neighbour as `ip neigh show` lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub key: IpAddr,
    pub state: String,
    pub lladdr: Option<Mac>,
    pub router: bool,
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.key)?;
        if let Some(m) = &self.lladdr {
            write!(f, " {}", eth::fmt_mac(m))?;
        }
        if self.router {
            f.write_str(" router")?;
        }
        write!(f, " {}", self.state)
    }
}

/// Entries the comparison leaves out: the barrier's neighbour, multicast
/// keys (the kernel keeps NOARP entries for the groups it sends to), NOARP
/// (broadcast) and NONE entries (no information; `ip neigh show` without
/// `nud all` hides them too).
fn compared(e: &Entry) -> bool {
    let multicast = match e.key {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_multicast(),
    };
    e.key != IpAddr::V6(BARRIER_IP) && !multicast && e.state != "NOARP" && e.state != "NONE"
}

/// Parse `ip neigh show dev vk nud all`.
pub fn parse_ip_neigh(out: &str) -> Vec<Entry> {
    let mut v: Vec<Entry> = out
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let key: IpAddr = w.first()?.parse().ok()?;
            let lladdr = w
                .iter()
                .position(|x| *x == "lladdr")
                .and_then(|i| eth::parse_mac(w.get(i + 1)?));
            // iproute2 prints no state for NONE.
            let last = w.last()?;
            let state = if last.chars().all(|c| c.is_ascii_uppercase()) {
                last.to_string()
            } else {
                "NONE".to_string()
            };
            Some(Entry {
                key,
                state,
                lladdr,
                router: w.contains(&"router"),
            })
        })
        .filter(compared)
        .collect();
    v.sort();
    v
}

fn entry<K: Into<IpAddr> + Copy>(e: &NeighInfo<K>) -> Entry {
    let valid = e.state.is(NudState::VALID);
    Entry {
        key: e.key.into(),
        state: e.state.to_string(),
        lladdr: e
            .lladdr
            .filter(|_| valid)
            .and_then(|a| a.as_bytes().try_into().ok()),
        router: e.router,
    }
}

/// Our host's entries, as the kernel's are compared.
pub fn ours_view(v4: &[NeighInfo<Ipv4Addr>], v6: &[NeighInfo<Ipv6Addr>]) -> Vec<Entry> {
    let mut v: Vec<Entry> = v4
        .iter()
        .map(entry)
        .chain(v6.iter().map(entry))
        .filter(compared)
        .collect();
    v.sort();
    v
}

/// The barrier: an echo request from fe80::beef to K's link-local address.
pub fn barrier_frame(seq: u16) -> Vec<u8> {
    let dst = eth::link_local(&K_MAC);
    let mut msg = vec![128, 0, 0, 0];
    msg.extend(BARRIER_ID.to_be_bytes());
    msg.extend(seq.to_be_bytes());
    let mut ip = vec![0x60, 0, 0, 0, 0, msg.len() as u8, 58, 64];
    ip.extend(BARRIER_IP.octets());
    ip.extend(dst.octets());
    ip.extend(msg);
    let mut f = eth::build(K_MAC, [2, 0, 0, 0, 0xbe, 0xef], 0x86dd, ip.len(), |b| {
        b.copy_from_slice(&ip)
    });
    crate::corpus::fix_checksums(&mut f);
    f
}

/// K's echo reply to barrier `seq`.
pub fn is_barrier_reply(f: &[u8], seq: u16) -> bool {
    f.len() >= 62
        && f[12..14] == [0x86, 0xdd]
        && f[20] == 58
        && f[38..54] == BARRIER_IP.octets()
        && f[54] == 129
        && f[58..60] == BARRIER_ID.to_be_bytes()
        && f[60..62] == seq.to_be_bytes()
}

fn v6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let o: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(o))
}

/// A frame a host sent, in words; `None` for what the comparison ignores
/// (MLD, Router Solicitations, IGMP: the kernel sends those on its own).
pub fn describe(f: &[u8]) -> Option<String> {
    let (h, p) = eth::parse(f).ok()?;
    let to = eth::fmt_mac(&h.dst);
    Some(match h.ethertype {
        eth::ETHERTYPE_ARP => {
            let a = arp::parse_arp(p).ok()?;
            let op = if a.op == arp::ArpOp::Request {
                "request"
            } else {
                "reply"
            };
            format!(
                "ARP {op} {} ({}) -> {} to {to}",
                a.sender_ip,
                eth::fmt_mac(&a.sender_mac),
                a.target_ip
            )
        }
        eth::ETHERTYPE_IPV4 if p.len() >= 20 => {
            let (src, dst) = (
                Ipv4Addr::from(<[u8; 4]>::try_from(&p[12..16]).ok()?),
                Ipv4Addr::from(<[u8; 4]>::try_from(&p[16..20]).ok()?),
            );
            let ihl = usize::from(p[0] & 0xf) * 4;
            match (p[9], p.get(ihl)) {
                (2, _) => return None,
                (17, _) => format!("UDP {src} -> {dst} to {to}"),
                (1, Some(0)) => format!("ICMP echo reply {src} -> {dst} to {to}"),
                (proto, _) => format!("IPv4 proto {proto} {src} -> {dst} to {to}"),
            }
        }
        eth::ETHERTYPE_IPV6 if p.len() >= 40 => {
            let (src, dst) = (v6_at(p, 8)?, v6_at(p, 24)?);
            let (mut nh, mut at) = (p[6], 40);
            while matches!(nh, 0 | 43 | 60) {
                nh = *p.get(at)?;
                at += (usize::from(*p.get(at + 1)?) + 1) * 8;
            }
            let m = p.get(at..)?;
            let lladdr = |kind: u8, from: usize| {
                let mut o = m.get(from..)?;
                while o.len() >= 8 && o[1] != 0 {
                    if o[0] == kind {
                        return Some(eth::fmt_mac(o[2..8].try_into().ok()?));
                    }
                    o = o.get(usize::from(o[1]) * 8..)?;
                }
                None
            };
            match (nh, m.first()) {
                (17, _) => format!("UDP {src} -> {dst} to {to}"),
                (58, Some(129)) => format!("ICMPv6 echo reply {src} -> {dst} to {to}"),
                (58, Some(130..=133 | 143)) => return None,
                (58, Some(135)) => format!(
                    "NS {} {src} -> {dst} sllao {:?} to {to}",
                    v6_at(m, 8)?,
                    lladdr(1, 24)
                ),
                (58, Some(136)) => {
                    let fl = m.get(4)?;
                    let flag = |b: u8, c: char| if fl & b != 0 { c } else { '-' };
                    format!(
                        "NA {} {}{}{} {src} -> {dst} tllao {:?} to {to}",
                        v6_at(m, 8)?,
                        flag(0x80, 'R'),
                        flag(0x40, 'S'),
                        flag(0x20, 'O'),
                        lladdr(2, 24)
                    )
                }
                (n, t) => format!("IPv6 {n}/{t:?} {src} -> {dst} to {to}"),
            }
        }
        t => format!("ethertype {t:#06x} to {to}"),
    })
}

/// What one side showed after a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub view: Vec<Entry>,
    pub sent: Vec<String>,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v: Vec<String> = self.view.iter().map(|e| e.to_string()).collect();
        write!(
            f,
            "cache [{}] sent [{}]",
            v.join(", "),
            self.sent.join("; ")
        )
    }
}

impl Seen {
    fn new(view: Vec<Entry>, sent: &[Vec<u8>]) -> Seen {
        let mut sent: Vec<String> = sent.iter().filter_map(|f| describe(f)).collect();
        sent.sort();
        Seen { view, sent }
    }
}

/// One frame's comparison.
pub struct Row {
    pub file: String,
    pub id: String,
    pub kernel: Seen,
    pub ours: Seen,
}

impl Row {
    pub fn new(
        sc: &Scenario,
        label: &str,
        kernel: (Vec<Entry>, &[Vec<u8>]),
        ours: (Vec<Entry>, &[Vec<u8>]),
    ) -> Row {
        Row {
            file: sc.file.clone(),
            id: format!("{}/{label}", sc.name),
            kernel: Seen::new(kernel.0, kernel.1),
            ours: Seen::new(ours.0, ours.1),
        }
    }

    pub fn agrees(&self) -> bool {
        self.kernel == self.ours
    }

    fn detail(&self) -> String {
        format!(
            "{}\n      kernel: {}\n      ours:   {}",
            self.id, self.kernel, self.ours
        )
    }
}

/// Print the agreement table and every difference; returns the failures
/// (unexplained differences, and listed ones that no longer show).
pub fn report(rows: &[Row]) -> Vec<String> {
    let mut by_file: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    let mut bad = Vec::new();
    let mut seen_expected = Vec::new();
    for r in rows {
        let c = by_file.entry(&r.file).or_default();
        c[0] += 1;
        let known = EXPECTED.iter().find(|k| k.id == r.id);
        match (r.agrees(), known) {
            (true, None) => c[1] += 1,
            (true, Some(_)) => {}
            (false, Some(k)) if r.ours.to_string() == k.ours => {
                c[2] += 1;
                seen_expected.push(k.id);
            }
            (false, Some(k)) => {
                c[3] += 1;
                bad.push(format!(
                    "listed difference, but ours is not what the list says ({}): {}",
                    k.ours,
                    r.detail()
                ));
            }
            (false, None) => {
                c[3] += 1;
                bad.push(format!("unexplained: {}", r.detail()));
            }
        }
    }
    println!("\nframe differential: Linux vs neighcache, frame by frame");
    println!("corpus | frames | agree | expected differences | unexplained");
    println!("---|---:|---:|---:|---:");
    let mut total = [0; 4];
    for (f, c) in &by_file {
        println!("{f} | {} | {} | {} | {}", c[0], c[1], c[2], c[3]);
        for i in 0..4 {
            total[i] += c[i];
        }
    }
    println!(
        "all | {} | {} | {} | {}",
        total[0], total[1], total[2], total[3]
    );
    println!("\nexpected differences (wire_verdict::EXPECTED):");
    for k in EXPECTED {
        let row = rows.iter().find(|r| r.id == k.id);
        match row {
            Some(r) if seen_expected.contains(&k.id) => {
                println!("  {}\n      why: {}", r.detail(), k.why)
            }
            Some(r) if r.agrees() => bad.push(format!(
                "listed difference no longer shows (remove it from EXPECTED): {}",
                k.id
            )),
            // Differs, but not as listed: reported above.
            Some(_) => {}
            None => bad.push(format!("listed difference names no frame: {}", k.id)),
        }
    }
    bad
}
