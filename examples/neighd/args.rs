//! Command-line parsing of `neighd` (no dependencies): the interface, our
//! addresses, the destinations, the traffic pattern and the neighbour
//! parameters. Owns parsing and `--help` only.

use neighcache::proto::proxy::{Prefix, ProxyParms};
use neighcache::{NeighParms, HZ};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const USAGE: &str = "\
usage: neighd IFACE [options]

A user-space neighbour daemon on a raw AF_PACKET socket (Linux, root).
It owns the addresses below on IFACE: answers ARP, Neighbor Solicitations
and pings for them, sends to --send destinations through the neighbour
cache, and prints every neighbour transition like `ip monitor neigh`.
SIGUSR1 prints the table (`ip neigh show`); Ctrl-C exits cleanly.

options:
  --ipv4 ADDR/LEN         our IPv4 address (e.g. 198.18.0.1/24)
  --ipv6 ADDR/LEN         our IPv6 address (e.g. 2001:db8::1/64)
  --link-local            also answer for our EUI-64 fe80:: address
  --send ADDR             originate traffic to ADDR (on-link; repeatable)
  --proto udp|icmp        what to send (default icmp)
  --port N                UDP destination port (default 9, discard)
  --interval MS           one packet per destination every MS (default 1000)
  --count N               stop sending after N packets per destination
  --flood SECS            after resolving every destination, send UDP as
                          fast as possible for SECS and print frames/s
  --size N                payload bytes (default 32)
  --fast                  fast-failover parameters: base_reachable 2 s,
                          delay_probe 1 s, retrans 300 ms, ucast 3, mcast 3
  --base-reachable MS --delay-probe MS --retrans MS --ucast N --mcast N
                          individual neighbour parameters
  --proxy ADDR[/LEN]      answer ARP requests / Neighbor Solicitations for
                          ADDR (or every address of the prefix) with our
                          MAC (proxy ARP/ND; repeatable; implies
                          --forwarding and proxy_ndp)
  --proxy-delay MS        random delay bound for broadcast/multicast
                          requests to proxied addresses (default 800;
                          0 answers at once)
  --proxy-qlen N          requests that may wait for it (default 64)
  --forwarding            act as a router (R flag in our NAs)
  --announce              send a gratuitous ARP and an unsolicited NA at start
  --poll-ms MS            how often transitions are looked for (default 1)
  --duration SECS         exit after SECS
  --quiet                 no per-transition lines
  -h, --help              this text
";

#[derive(Clone, Debug)]
pub struct Args {
    pub iface: String,
    pub ipv4: Option<(Ipv4Addr, u8)>,
    pub ipv6: Option<(Ipv6Addr, u8)>,
    pub link_local: bool,
    pub send: Vec<IpAddr>,
    pub icmp: bool,
    pub port: u16,
    pub interval_ms: u64,
    pub count: Option<u64>,
    pub flood_secs: Option<f64>,
    pub size: usize,
    pub parms: NeighParms,
    pub announce: bool,
    pub proxies: Vec<Prefix>,
    pub proxy_parms: ProxyParms,
    pub forwarding: bool,
    pub poll_ms: u64,
    pub duration: Option<f64>,
    pub quiet: bool,
}

fn cidr<A: std::str::FromStr>(s: &str, max: u8) -> Result<(A, u8), String> {
    let (a, l) = s.split_once('/').ok_or(format!("{s}: expected ADDR/LEN"))?;
    let a = a.parse().map_err(|_| format!("{a}: not an address"))?;
    let l: u8 = l.parse().map_err(|_| format!("{l}: not a prefix length"))?;
    if l > max {
        return Err(format!("/{l}: prefix length above {max}"));
    }
    Ok((a, l))
}

fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or(format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag} {v}: not a number"))
}

/// `Ok(None)`: `--help` was asked for.
pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut a = Args {
        iface: String::new(),
        ipv4: None,
        ipv6: None,
        link_local: false,
        send: Vec::new(),
        icmp: true,
        port: 9,
        interval_ms: 1000,
        count: None,
        flood_secs: None,
        size: 32,
        parms: NeighParms::default(),
        announce: false,
        proxies: Vec::new(),
        proxy_parms: ProxyParms::default(),
        forwarding: false,
        poll_ms: 1,
        duration: None,
        quiet: false,
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--ipv4" => a.ipv4 = Some(cidr(&it.next().ok_or("--ipv4 needs ADDR/LEN")?, 32)?),
            "--ipv6" => a.ipv6 = Some(cidr(&it.next().ok_or("--ipv6 needs ADDR/LEN")?, 128)?),
            "--link-local" => a.link_local = true,
            "--send" => {
                let v: String = it.next().ok_or("--send needs an address")?;
                a.send.push(
                    v.parse()
                        .map_err(|_| format!("--send {v}: not an address"))?,
                );
            }
            "--proto" => match it.next().as_deref() {
                Some("udp") => a.icmp = false,
                Some("icmp") => a.icmp = true,
                other => return Err(format!("--proto {other:?}: expected udp or icmp")),
            },
            "--port" => a.port = num("--port", it.next())?,
            "--interval" => a.interval_ms = num("--interval", it.next())?,
            "--count" => a.count = Some(num("--count", it.next())?),
            "--flood" => a.flood_secs = Some(num("--flood", it.next())?),
            "--size" => a.size = num("--size", it.next())?,
            "--fast" => {
                a.parms = NeighParms {
                    base_reachable_time: 2 * HZ,
                    delay_probe_time: HZ,
                    retrans_time: 300,
                    ucast_probes: 3,
                    mcast_probes: 3,
                    ..a.parms
                }
            }
            "--base-reachable" => a.parms.base_reachable_time = num(&arg, it.next())?,
            "--delay-probe" => a.parms.delay_probe_time = num(&arg, it.next())?,
            "--retrans" => a.parms.retrans_time = num(&arg, it.next())?,
            "--ucast" => a.parms.ucast_probes = num(&arg, it.next())?,
            "--mcast" => a.parms.mcast_probes = num(&arg, it.next())?,
            "--announce" => a.announce = true,
            "--proxy" => {
                let v: String = it.next().ok_or("--proxy needs ADDR or ADDR/LEN")?;
                a.proxies
                    .push(v.parse().map_err(|e| format!("--proxy {v}: {e}"))?);
            }
            "--proxy-delay" => a.proxy_parms.delay = num(&arg, it.next())?,
            "--proxy-qlen" => a.proxy_parms.qlen = num(&arg, it.next())?,
            "--forwarding" => a.forwarding = true,
            "--poll-ms" => a.poll_ms = num("--poll-ms", it.next())?,
            "--duration" => a.duration = Some(num("--duration", it.next())?),
            "--quiet" => a.quiet = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s} (see --help)")),
            s if a.iface.is_empty() => a.iface = s.to_string(),
            s => return Err(format!("unexpected argument {s} (one interface only)")),
        }
    }
    if a.iface.is_empty() {
        return Err("missing IFACE (see --help)".into());
    }
    if a.ipv4.is_none() && a.ipv6.is_none() {
        return Err("give --ipv4 and/or --ipv6: the addresses this daemon owns".into());
    }
    a.parms.validate().map_err(|e| e.to_string())?;
    a.proxy_parms.validate().map_err(|e| e.to_string())?;
    Ok(Some(a))
}
