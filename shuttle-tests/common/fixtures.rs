//! Fixtures: the devices, addresses and the small deterministic table every
//! scenario uses.

use super::log::{Log, TestOps};
use neighcache::{DevId, DeviceConfig, NeighParms, NeighTable, TableConfig, Tick};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The device every scenario uses.
pub const DEV: DevId = DevId(1);
/// A second device (S2: the one that is not flushed).
pub const DEV2: DevId = DevId(2);
/// Our own MAC on [`DEV`].
pub const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// The MAC address ARP replies carry.
pub const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];
/// `delay_probe_time` of the model tables (ticks).
pub const DELAY: Tick = 300;

/// An IPv4 key `10.0.0.i`.
pub fn ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, i)
}

/// The table type of every scenario.
pub type Table = NeighTable<Ipv4Addr, TestOps>;

/// Small, deterministic parameters: `delay_probe_time` [`DELAY`], 100-tick
/// retransmits, one unicast and one multicast probe, 1-tick `gc_staletime`,
/// no `locktime`.
pub fn test_parms() -> NeighParms {
    NeighParms {
        base_reachable_time: 1000,
        retrans_time: 100,
        delay_probe_time: DELAY,
        gc_staletime: 1,
        ucast_probes: 1,
        mcast_probes: 1,
        mcast_reprobes: 0,
        app_probes: 0,
        unres_qlen: 4,
        locktime: 0,
        ..NeighParms::default()
    }
}

/// A table configuration for models: [`test_parms`], GC from the first
/// entry (`gc_thresh1 = 0`), a periodic GC that `run_timers` never triggers
/// by itself during a model (scenarios call `gc()`), a fixed hash seed (a
/// replayed schedule must see the same table), one timer base.
pub fn test_config() -> TableConfig {
    TableConfig {
        parms: test_parms(),
        gc_interval: 1_000_000,
        gc_thresh1: 0,
        gc_thresh2: 512,
        gc_thresh3: 1024,
        initial_hash_shift: 1,
        timer_bases: 1,
        seed: 0x5eed_2c51_a97f,
        ..TableConfig::default()
    }
}

/// A table with [`DEV`] registered, its clock at tick 1 and its first
/// (empty) periodic GC pass done, so that `run_timers` runs no GC until
/// `gc_interval` later.
pub fn table_with(cfg: TableConfig, log: &Arc<Log>) -> Table {
    let t = NeighTable::new(cfg, TestOps { log: log.clone() }).expect("valid config");
    t.add_device(DEV, DeviceConfig::ethernet(SRC_MAC, 0x0800))
        .expect("new device");
    t.run_timers(1).expect("time moves forward");
    t
}

/// Advance the table's clock to at least `now` (a concurrent advance to a
/// later tick wins; that is not an error for a model thread).
pub fn advance_to(t: &Table, now: Tick) {
    match t.run_timers(now) {
        Ok(_) | Err(neighcache::NeighError::TimeWentBackwards { .. }) => {}
        Err(e) => panic!("run_timers: {e}"),
    }
}
