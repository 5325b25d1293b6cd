//! Shared test fixtures: a recording device side and table builders.
//!
//! Vocabulary shared by every test suite (`tests/`, `loom-tests/`,
//! `shuttle-tests/`, `benches/`): `DEV` device, `SRC_MAC` ours,
//! `MAC_A`/`MAC_B` peers, `Pkt`/`pkt(id)` packets, `TestOps` the recording
//! device side, `test_config()`, `table()`/`table_with(cfg)`,
//! `advance_by(t, dt)` (relative) / `advance_to(t, now)` (absolute).
//! `adversary.rs` adds the misuse suites' ops (`Adv`) and checks.
#![allow(dead_code)]

use neighcache::{
    DevId, DeviceConfig, DropReason, NeighOps, NeighTable, Packet, Probe, TableConfig,
};
use std::net::Ipv4Addr;
use std::sync::Mutex;

/// A test packet: an id, and a length for the byte limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkt {
    pub id: u64,
    pub len: usize,
}

impl Packet for Pkt {
    fn len(&self) -> usize {
        self.len
    }
}

pub fn pkt(id: u64) -> Pkt {
    Pkt { id, len: 100 }
}

/// Everything the cache did to the outside world, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Tx {
        dev: DevId,
        hh: Vec<u8>,
        id: u64,
    },
    Solicit {
        dev: DevId,
        key: Ipv4Addr,
        probe: Probe,
    },
    ErrorReport {
        key: Ipv4Addr,
        id: u64,
    },
    Discard {
        key: Ipv4Addr,
        id: u64,
        reason: DropReason,
    },
}

#[derive(Default)]
pub struct TestOps {
    pub events: Mutex<Vec<Event>>,
}

impl TestOps {
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
    pub fn tx_ids(ev: &[Event]) -> Vec<u64> {
        ev.iter()
            .filter_map(|e| {
                if let Event::Tx { id, .. } = e {
                    Some(*id)
                } else {
                    None
                }
            })
            .collect()
    }
    pub fn solicits(ev: &[Event]) -> Vec<Probe> {
        ev.iter()
            .filter_map(|e| {
                if let Event::Solicit { probe, .. } = e {
                    Some(*probe)
                } else {
                    None
                }
            })
            .collect()
    }
    pub fn errors(ev: &[Event]) -> Vec<u64> {
        ev.iter()
            .filter_map(|e| {
                if let Event::ErrorReport { id, .. } = e {
                    Some(*id)
                } else {
                    None
                }
            })
            .collect()
    }
    pub fn discards(ev: &[Event]) -> Vec<(u64, DropReason)> {
        ev.iter()
            .filter_map(|e| {
                if let Event::Discard { id, reason, .. } = e {
                    Some((*id, *reason))
                } else {
                    None
                }
            })
            .collect()
    }
}

impl NeighOps<Ipv4Addr> for TestOps {
    type Packet = Pkt;
    fn transmit(&self, dev: DevId, hh: &[u8], pkt: Pkt) {
        assert!(
            hh.len() == 14 && hh[6..12] == SRC_MAC && hh[..6] != [0; 6],
            "transmitted with an unwritten link-layer header: {hh:02x?}"
        );
        self.events.lock().unwrap().push(Event::Tx {
            dev,
            hh: hh.to_vec(),
            id: pkt.id,
        });
    }
    fn solicit(&self, dev: DevId, key: &Ipv4Addr, probe: Probe) {
        self.events.lock().unwrap().push(Event::Solicit {
            dev,
            key: *key,
            probe,
        });
    }
    fn error_report(&self, _dev: DevId, key: &Ipv4Addr, pkt: Pkt) {
        self.events.lock().unwrap().push(Event::ErrorReport {
            key: *key,
            id: pkt.id,
        });
    }
    fn discard(&self, _dev: DevId, key: &Ipv4Addr, pkt: Pkt, reason: DropReason) {
        self.events.lock().unwrap().push(Event::Discard {
            key: *key,
            id: pkt.id,
            reason,
        });
    }
}

pub const DEV: DevId = DevId(1);
pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xbb];

pub fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

/// The Ethernet header the cache should build for `mac`.
pub fn hh(mac: [u8; 6]) -> Vec<u8> {
    let mut v = mac.to_vec();
    v.extend_from_slice(&SRC_MAC);
    v.extend_from_slice(&0x0800u16.to_be_bytes());
    v
}

pub fn table_with(cfg: TableConfig) -> NeighTable<Ipv4Addr, TestOps> {
    let t = NeighTable::with_start(cfg, TestOps::default(), 1_000_000).unwrap();
    t.add_device(DEV, DeviceConfig::ethernet(SRC_MAC, 0x0800))
        .unwrap();
    t
}

pub fn test_config() -> TableConfig {
    TableConfig {
        seed: 42,
        ..TableConfig::default()
    }
}

pub fn table() -> NeighTable<Ipv4Addr, TestOps> {
    table_with(test_config())
}

/// Advance the table's clock by `dt` ticks (and clear any backlog, as a
/// driver does: SPEC.md §7, "Run budget").
pub fn advance_by(t: &NeighTable<Ipv4Addr, TestOps>, dt: u64) -> usize {
    advance_to(t, t.jiffies() + dt)
}

/// Advance the clock to tick `now` (absolute), then run again at `now`
/// while a call stopped at `TIMER_RUN_LIMIT` with timers due, as a driver
/// does. Returns the timers fired.
pub fn advance_to(t: &NeighTable<Ipv4Addr, TestOps>, now: u64) -> usize {
    let mut fired = t.run_timers(now).unwrap();
    while t.timer_backlog() {
        fired += t.run_timers(now).unwrap();
    }
    fired
}

/// Advance in steps of `step` ticks for `total` ticks (so handlers see
/// intermediate times, as a periodic timer thread would).
pub fn advance_by_steps(t: &NeighTable<Ipv4Addr, TestOps>, total: u64, step: u64) {
    let end = t.jiffies() + total;
    while t.jiffies() < end {
        let next = (t.jiffies() + step).min(end);
        advance_to(t, next);
    }
}

pub mod adversary;
