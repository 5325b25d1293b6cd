//! `ip monitor neigh` and `ip neigh show` style output from
//! [`NeighTable::dump`](crate::NeighTable::dump) snapshots.
//!
//! The table has no event API yet, so [`Monitor`] diffs successive dumps:
//! every change of state, address or router flag, every new entry and every
//! removal becomes one [`NeighEvent`]. A change that starts and ends between
//! two polls is not seen (poll often: the daemon uses 1-2 ms). This module
//! owns formatting and diffing only.

use crate::{DevId, LlAddr, NeighInfo, NeighKey, NudState};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One observed change of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighEvent<K> {
    /// Protocol address.
    pub key: K,
    /// Device.
    pub dev: DevId,
    /// Link-layer address now (the last known one for a deletion).
    pub lladdr: Option<LlAddr>,
    /// State now (the last state for a deletion).
    pub state: NudState,
    /// Router flag now.
    pub router: bool,
    /// The entry disappeared.
    pub deleted: bool,
}

impl<K: NeighKey> NeighEvent<K> {
    /// The event as `ip monitor neigh` prints it, with `ifname` for the
    /// device: `198.18.0.2 dev veth0 lladdr 02:00:00:00:00:02 REACHABLE`.
    pub fn line(&self, ifname: &str) -> String {
        let mut s = String::new();
        if self.deleted {
            s.push_str("Deleted ");
        }
        s.push_str(&entry_line(
            &self.key,
            ifname,
            self.lladdr,
            self.router,
            self.state,
        ));
        s
    }
}

fn entry_line<K: NeighKey>(
    key: &K,
    ifname: &str,
    lladdr: Option<LlAddr>,
    router: bool,
    state: NudState,
) -> String {
    let mut s = format!("{key} dev {ifname}");
    if let Some(a) = lladdr {
        let _ = write!(s, " lladdr {a}");
    }
    if router {
        s.push_str(" router");
    }
    let _ = write!(s, " {}", state.name());
    s
}

/// One row of `ip neigh show` (`ip -s` adds the counters in brackets:
/// `used/confirmed/updated` in ms, probes, queued packets).
pub fn show_line<K: NeighKey>(e: &NeighInfo<K>, ifname: &str, stats: bool) -> String {
    let mut s = entry_line(&e.key, ifname, e.lladdr, e.router, e.state);
    if stats {
        let _ = write!(
            s,
            " [used {}/{}/{} ms, probes {}, queued {}, ref {}]",
            e.used_ago, e.confirmed_ago, e.updated_ago, e.probes, e.queue_len, e.refcnt
        );
    }
    s
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Row {
    lladdr: Option<LlAddr>,
    state: NudState,
    router: bool,
}

/// Turns successive dumps into change events.
#[derive(Clone, Default)]
pub struct Monitor<K: NeighKey> {
    prev: BTreeMap<(DevId, K), Row>,
}

impl<K: NeighKey> Monitor<K> {
    /// A monitor that has seen nothing (the first poll reports every entry).
    pub fn new() -> Self {
        Monitor {
            prev: BTreeMap::new(),
        }
    }

    /// Compare `dump` with the previous one and return the changes, new
    /// entries and changed ones first (in key order), then deletions.
    pub fn poll(&mut self, dump: Vec<NeighInfo<K>>) -> Vec<NeighEvent<K>> {
        let mut next = BTreeMap::new();
        let mut ev = Vec::new();
        for e in dump {
            let row = Row {
                lladdr: e.lladdr,
                state: e.state,
                router: e.router,
            };
            if self.prev.get(&(e.dev, e.key)) != Some(&row) {
                ev.push(NeighEvent {
                    key: e.key,
                    dev: e.dev,
                    lladdr: row.lladdr,
                    state: row.state,
                    router: row.router,
                    deleted: false,
                });
            }
            next.insert((e.dev, e.key), row);
        }
        for ((dev, key), row) in &self.prev {
            if !next.contains_key(&(*dev, *key)) {
                ev.push(NeighEvent {
                    key: *key,
                    dev: *dev,
                    lladdr: row.lladdr,
                    state: row.state,
                    router: row.router,
                    deleted: true,
                });
            }
        }
        self.prev = next;
        ev
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn info(state: NudState, mac: Option<u8>) -> NeighInfo<Ipv4Addr> {
        NeighInfo {
            key: Ipv4Addr::new(198, 18, 0, 2),
            dev: DevId(3),
            lladdr: mac.and_then(|m| LlAddr::new(&[2, 0, 0, 0, 0, m])),
            state,
            refcnt: 1,
            used_ago: 0,
            confirmed_ago: 0,
            updated_ago: 0,
            probes: 0,
            queue_len: 0,
            router: false,
            flags: crate::NeighFlags::NONE,
        }
    }

    #[test]
    fn changes_become_ip_monitor_lines() {
        let mut m = Monitor::new();
        let ev = m.poll(vec![info(NudState::INCOMPLETE, None)]);
        assert_eq!(ev[0].line("veth0"), "198.18.0.2 dev veth0 INCOMPLETE");
        assert!(m.poll(vec![info(NudState::INCOMPLETE, None)]).is_empty());
        let ev = m.poll(vec![info(NudState::REACHABLE, Some(2))]);
        assert_eq!(
            ev[0].line("veth0"),
            "198.18.0.2 dev veth0 lladdr 02:00:00:00:00:02 REACHABLE"
        );
        let ev = m.poll(vec![]);
        assert_eq!(
            ev[0].line("veth0"),
            "Deleted 198.18.0.2 dev veth0 lladdr 02:00:00:00:00:02 REACHABLE"
        );
        assert!(show_line(&info(NudState::STALE, Some(2)), "v", true).ends_with("ref 1]"));
    }
}
