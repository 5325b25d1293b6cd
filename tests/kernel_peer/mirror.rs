//! The kernel-mirror tests' fixture (feature `netlink`): a namespace M whose
//! kernel table is mirrored (`v0`, 10.77.0.1/24 and fd77::1/64) and a peer
//! namespace P (`v1`, 10.77.0.2, .3 and fd77::2, ::3) that answers ARP/NDP,
//! so that M's kernel resolves on the wire and makes its own NUD
//! transitions; the mirror's table; and the comparison of the table with
//! the kernel's dump (`ip neigh show`), entry by entry.
//!
//! Compared: every entry of `v0` except those the kernel creates without
//! telling anyone (multicast and broadcast destinations, NOARP by
//! construction, which `ip neigh show` hides too). Owns setup and
//! comparison; the scenarios are `mirror_changes`, `mirror_bulk`,
//! `mirror_push`.

use crate::netlink::{KEntry, Rtnl};
use crate::netns::Netns;
use neighcache::netlink::{Family, KernelMirror, MirrorConfig};
use neighcache::{DevId, NeighOps, NeighTable, Probe, TableConfig};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A table that only mirrors: it sends nothing.
pub struct Quiet;
impl<K: Family> NeighOps<K> for Quiet {
    type Packet = Vec<u8>;
    fn transmit(&self, _: DevId, _: &[u8], _: Vec<u8>) {}
    fn solicit(&self, _: DevId, _: &K, _: Probe) {}
    fn error_report(&self, _: DevId, _: &K, _: Vec<u8>) {}
}

pub type Table<K> = NeighTable<K, Quiet>;

/// What is compared of one entry: state bits, address (VALID states
/// only, as both tables report), router, externally learned, managed.
pub type Image = (u8, Option<Vec<u8>>, bool, bool, bool);

pub struct Env {
    pub m: Netns,
    /// The peer (kept: dropping it deletes the namespace).
    #[allow(dead_code)]
    pub p: Netns,
    /// `v0`'s ifindex in M.
    pub ifindex: u32,
}

/// M's neighbour parameters on `v0`: fast, so that the kernel's own
/// transitions happen within a test.
pub const BASE_REACHABLE_MS: u64 = 600;
pub const RETRANS_MS: u64 = 100;

impl Env {
    pub fn new(tag: &str) -> Env {
        let m = Netns::create(&format!("{tag}m")).expect("namespace M");
        let p = Netns::create(&format!("{tag}p")).expect("namespace P");
        crate::netns::ip(&[
            "link", "add", "name", "v0", "netns", &m.name, "type", "veth", "peer", "name", "v1",
            "netns", &p.name,
        ])
        .expect("veth pair");
        for (ns, dev, a4, a6) in [
            (&m, "v0", vec!["10.77.0.1/24"], vec!["fd77::1/64"]),
            (
                &p,
                "v1",
                vec!["10.77.0.2/24", "10.77.0.3/24"],
                vec!["fd77::2/64", "fd77::3/64"],
            ),
        ] {
            for a in a4 {
                ns.ip(&["addr", "add", a, "dev", dev])
                    .expect("IPv4 address");
            }
            for a in a6 {
                ns.ip(&["addr", "add", a, "dev", dev, "nodad"])
                    .expect("IPv6 address");
            }
            ns.ip(&["link", "set", dev, "up"]).expect("link up");
            ns.ip(&["link", "set", "lo", "up"]).expect("lo up");
        }
        let mut kv = Vec::new();
        for fam in ["ipv4", "ipv6"] {
            let d = format!("net/{fam}/neigh/v0");
            kv.push((
                format!("{d}/base_reachable_time_ms"),
                BASE_REACHABLE_MS.to_string(),
            ));
            kv.push((format!("{d}/retrans_time_ms"), RETRANS_MS.to_string()));
            kv.push((format!("{d}/delay_first_probe_time"), "1".to_string()));
            kv.push((format!("{d}/ucast_solicit"), "2".to_string()));
            kv.push((format!("{d}/mcast_solicit"), "2".to_string()));
        }
        m.sysctl(&kv).expect("M's neighbour parameters");
        let out = m
            .ip(&["-o", "link", "show", "v0"])
            .expect("ip link show v0");
        let ifindex = out
            .split(':')
            .next()
            .and_then(|s| s.trim().parse().ok())
            .expect("v0's ifindex");
        Env { m, p, ifindex }
    }

    /// `ip -n M ARGS`, which must succeed.
    pub fn ip(&self, args: &str) {
        let v: Vec<&str> = args.split_whitespace().collect();
        self.m.ip(&v).unwrap_or_else(|e| panic!("{e}"));
    }

    /// `ip -n M -batch -` with `lines` on its standard input.
    pub fn batch(&self, lines: &str) {
        use std::io::Write;
        let mut child = std::process::Command::new("ip")
            .args(["-n", &self.m.name, "-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ip -batch");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(lines.as_bytes())
            .expect("ip -batch input");
        let st = child.wait().expect("ip -batch");
        assert!(st.success(), "ip -batch failed");
    }

    /// Send one UDP datagram from M to `dst` (makes M's kernel resolve it).
    pub fn poke(&self, dst: IpAddr) {
        self.m.run(move || {
            let any: IpAddr = match dst {
                IpAddr::V4(_) => "0.0.0.0".parse().expect("addr"),
                IpAddr::V6(_) => "::".parse().expect("addr"),
            };
            let s = std::net::UdpSocket::bind((any, 0)).expect("UDP socket in M");
            let _ = s.send_to(b"mirror", (dst, 9));
        })
    }

    /// A table sized for 10,000+ entries (the mirror creates them through
    /// the table's API, which counts them against its GC thresholds).
    pub fn table<K: Family>() -> Arc<Table<K>> {
        let tc = TableConfig {
            gc_thresh1: 1 << 20,
            gc_thresh2: 1 << 20,
            gc_thresh3: 1 << 20,
            ..TableConfig::default()
        };
        Arc::new(NeighTable::new(tc, Quiet).expect("table"))
    }

    /// Open a mirror of `v0` inside M.
    pub fn mirror<K: Family>(
        &self,
        table: &Arc<Table<K>>,
        cfg: MirrorConfig,
    ) -> KernelMirror<K, Quiet> {
        let t = table.clone();
        self.m
            .run(move || KernelMirror::open(t, cfg))
            .expect("KernelMirror::open")
    }

    /// `v0` only.
    pub fn cfg(&self) -> MirrorConfig {
        MirrorConfig {
            interfaces: vec!["v0".into()],
            ..MirrorConfig::default()
        }
    }

    /// An rtnetlink socket in M.
    pub fn rtnl(&self) -> Rtnl {
        self.m.run(|| Rtnl::open().expect("rtnetlink in M"))
    }

    /// M's kernel entries of `v0` for family `K`, as compared.
    pub fn kernel<K: Family>(&self, rt: &mut Rtnl) -> BTreeMap<IpAddr, Image> {
        rt.entries(K::AF)
            .expect("RTM_GETNEIGH")
            .into_iter()
            .filter(|e| e.ifindex == self.ifindex && compared(e.dst))
            .map(|e| (e.dst, image(&e)))
            .collect()
    }
}

/// Is `dst` one the kernel tells about (not a multicast or broadcast
/// destination, which it creates NOARP without a notification)?
pub fn compared(dst: IpAddr) -> bool {
    match dst {
        IpAddr::V4(a) => !a.is_multicast() && !a.is_broadcast() && a.octets()[3] != 255,
        IpAddr::V6(a) => !a.is_multicast(),
    }
}

pub fn image(e: &KEntry) -> Image {
    let valid = e.state & 0xde != 0; // NUD_VALID
    (
        e.state as u8,
        e.lladdr.clone().filter(|_| valid),
        e.router,
        e.ext_learned,
        e.managed,
    )
}

/// The table's entries of `dev`, as compared.
pub fn table_view<K: Family>(t: &Table<K>, dev: u32) -> BTreeMap<IpAddr, Image> {
    use neighcache::NeighFlags as F;
    t.dump()
        .into_iter()
        .filter(|e| e.dev == DevId(dev) && compared(e.key.to_ip()))
        .map(|e| {
            (
                e.key.to_ip(),
                (
                    e.state.bits(),
                    e.lladdr.map(|a| a.as_bytes().to_vec()),
                    e.flags.contains(F::ROUTER),
                    e.flags.contains(F::EXT_LEARNED),
                    e.flags.contains(F::MANAGED),
                ),
            )
        })
        .collect()
}

/// Could the table's `t` be the kernel's `k` before a transition the
/// kernel makes without announcing it (SPEC.md §17): REACHABLE or STALE ->
/// DELAY (the timer, `__neigh_event_send`), none/NONE/FAILED -> INCOMPLETE?
fn silently(k: &Image, t: Option<&Image>) -> bool {
    const INCOMPLETE: u8 = 0x01;
    const DELAY: u8 = 0x08;
    match (k.0, t) {
        (DELAY, Some(t)) => {
            matches!(t.0, 0x02 | 0x04) && (&t.1, t.2, t.3, t.4) == (&k.1, k.2, k.3, k.4)
        }
        (INCOMPLETE, None) => true,
        (INCOMPLETE, Some(t)) => matches!(t.0, 0x00 | 0x20) && (t.2, t.3, t.4) == (k.2, k.3, k.4),
        _ => false,
    }
}

/// The differences between two views, one line each; with `silent_ok`,
/// the kernel's unannounced transitions (`silently`) are not differences.
pub fn diff(
    k: &BTreeMap<IpAddr, Image>,
    t: &BTreeMap<IpAddr, Image>,
    silent_ok: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for (ip, ki) in k {
        if silent_ok && silently(ki, t.get(ip)) {
            continue;
        }
        match t.get(ip) {
            None => out.push(format!("{ip}: kernel {ki:?}, table has none")),
            Some(ti) if ti != ki => out.push(format!("{ip}: kernel {ki:?}, table {ti:?}")),
            _ => {}
        }
    }
    for (ip, ti) in t {
        if !k.contains_key(ip) {
            out.push(format!("{ip}: table {ti:?}, kernel has none"));
        }
    }
    out
}

/// Wait until the table equals the kernel (`within`; with `silent_ok`, up
/// to the kernel's unannounced transitions); the time it took, or the
/// differences left.
pub fn converge<K: Family>(
    env: &Env,
    rt: &mut Rtnl,
    t: &Table<K>,
    within: Duration,
    silent_ok: bool,
) -> Result<Duration, Vec<String>> {
    let start = Instant::now();
    loop {
        let d = diff(&env.kernel::<K>(rt), &table_view(t, env.ifindex), silent_ok);
        if d.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > within {
            return Err(d);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Percentile `p` (0-100) of sorted `v`.
pub fn pct(v: &[Duration], p: usize) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v[(v.len() * p / 100).min(v.len() - 1)]
}
