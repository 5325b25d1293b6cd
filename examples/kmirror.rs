//! Follow the kernel's neighbour table live and print it as it changes, in
//! the style of `ip monitor neigh` (feature `netlink`, Linux):
//!
//! ```text
//! cargo run --release --features netlink --example kmirror -- [-6] [--push] [IFACE...]
//! ```
//!
//! It dumps the kernel's entries for the interfaces named (all if none)
//! into a `NeighTable`, prints them as `ip neigh show` would, then prints
//! every change the table makes while it follows the kernel (`ip neigh add
//! 192.0.2.7 lladdr 02:00:00:00:00:07 dev eth0` in another terminal shows
//! up at once). `--push` also installs the table's own entries into the
//! kernel (none in this example, which resolves nothing itself). Counters
//! are printed every 10 s and on exit (Ctrl-C ends it).

use neighcache::netlink::{Family, KernelMirror, MirrorConfig};
use neighcache::{
    DevId, EventFilter, EventKind, NeighEvent, NeighInfo, NeighOps, NeighTable, Probe, Received,
    TableConfig,
};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A table that only mirrors: it transmits and solicits nothing.
struct Quiet;
impl<K: Family> NeighOps<K> for Quiet {
    type Packet = Vec<u8>;
    fn transmit(&self, _: DevId, _: &[u8], _: Vec<u8>) {}
    fn solicit(&self, _: DevId, _: &K, _: Probe) {}
    fn error_report(&self, _: DevId, _: &K, _: Vec<u8>) {}
}

fn ifname(dev: DevId) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname may write.
    let p = unsafe { libc::if_indextoname(dev.0, buf.as_mut_ptr()) };
    if p.is_null() {
        return format!("if{}", dev.0);
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn line<K: Family>(e: &NeighEvent<K>) -> String {
    let mut s = String::new();
    if e.kind == EventKind::Delete {
        s.push_str("Deleted ");
    }
    s += &format!("{} dev {}", e.key, ifname(e.dev));
    if let Some(a) = e.lladdr {
        s += &format!(" lladdr {a}");
    }
    for f in e.flags.names() {
        s += &format!(" {f}");
    }
    s += &format!(" {}", e.state.name());
    s
}

fn show<K: Family>(e: &NeighInfo<K>) -> String {
    let mut s = format!("{} dev {}", e.key, ifname(e.dev));
    if let Some(a) = e.lladdr {
        s += &format!(" lladdr {a}");
    }
    for f in e.flags.names() {
        s += &format!(" {f}");
    }
    s + " " + e.state.name()
}

fn run<K: Family>(cfg: MirrorConfig) -> Result<(), Box<dyn std::error::Error>> {
    // Sized for a large kernel table: the mirror's entries are created
    // through the table's API and count against its GC thresholds.
    let tc = TableConfig {
        gc_thresh2: 1 << 20,
        gc_thresh3: 1 << 20,
        ..TableConfig::default()
    };
    let table: Arc<NeighTable<K, Quiet>> = Arc::new(NeighTable::new(tc, Quiet)?);
    let events = table.subscribe(1 << 16, EventFilter::All)?;
    let mirror = KernelMirror::open(table.clone(), cfg)?;
    for e in table.dump() {
        println!("{}", show(&e));
    }
    let _ = events.drain(); // the dump, printed above
    let mirror = mirror.spawn()?;
    let mut last = Instant::now();
    loop {
        while let Some(r) = events.try_recv() {
            match r {
                // A creation is followed by the change that gives the entry
                // its state; Linux prints only that.
                Received::Event(e) if e.kind == EventKind::New => {}
                Received::Event(e) => println!("{}", line(&e)),
                Received::Lost(n) => println!("({n} changes not shown: the printer fell behind)"),
            }
        }
        if mirror.is_finished() {
            return mirror.stop().map(drop).map_err(Into::into);
        }
        if last.elapsed() > Duration::from_secs(10) {
            eprintln!("{:?}", mirror.stats());
            last = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut v6 = false;
    let mut cfg = MirrorConfig::default();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "-6" => v6 = true,
            "--push" => cfg.to_kernel = true,
            "-h" | "--help" => {
                println!("usage: kmirror [-6] [--push] [IFACE...]");
                return Ok(());
            }
            name => cfg.interfaces.push(name.to_string()),
        }
    }
    if v6 {
        run::<Ipv6Addr>(cfg)
    } else {
        run::<Ipv4Addr>(cfg)
    }
}
