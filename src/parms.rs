//! Parameters (`struct neigh_parms` and the table's GC thresholds) with the
//! kernel's `arp_tbl` defaults and validation.
//!
//! This module owns configuration only: values, defaults and the checks that
//! reject nonsense at construction time with a typed [`ConfigError`]. It must
//! not hold runtime state.

use crate::timer::Tick;
use core::fmt;

/// Ticks per second: the cache counts time in milliseconds (`HZ = 1000`).
pub const HZ: Tick = 1000;

/// Longest accepted time parameter (one day), to reject absurd values that
/// would overflow deadline arithmetic or park entries forever.
pub const MAX_TIME: Tick = 24 * 3600 * HZ;

/// Largest accepted `gc_thresh3`: every linked entry may have a timer armed,
/// and all of them may hash to one timer base, which holds at most this many
/// timers. So every configuration the validator accepts can run.
pub const MAX_ENTRIES: usize = crate::timer::MAX_TIMERS_PER_BASE;

/// Per-device (or per-table default) neighbour parameters, in ticks (ms).
///
/// Defaults are the kernel's `arp_tbl` ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighParms {
    /// `base_reachable_time` (30 s): REACHABLE lasts a random 0.5x..1.5x of it.
    pub base_reachable_time: Tick,
    /// `retrans_time` (1 s): interval between probes.
    pub retrans_time: Tick,
    /// `delay_probe_time` (5 s): how long DELAY waits before probing.
    pub delay_probe_time: Tick,
    /// `gc_staletime` (60 s): unused entries older than this are collectable.
    pub gc_staletime: Tick,
    /// `ucast_solicit` (3): unicast probes before giving up (PROBE state).
    pub ucast_probes: u32,
    /// `mcast_solicit` (3): broadcast/multicast probes when INCOMPLETE.
    pub mcast_probes: u32,
    /// `mcast_resolicit` (0): multicast probes after the unicast ones in PROBE.
    pub mcast_reprobes: u32,
    /// `app_solicit` (0): probes delegated to a user-space daemon.
    pub app_probes: u32,
    /// `unres_qlen_bytes` (SK_WMEM_MAX = 212992): bytes queued per
    /// unresolved entry; the oldest packet is dropped beyond it.
    pub unres_qlen_bytes: usize,
    /// `unres_qlen` (101): packets queued per unresolved entry.
    pub unres_qlen: usize,
    /// `locktime` (1 s): an lladdr change is ignored this soon after the
    /// last update unless it is an override (proxy/ARP flux protection).
    pub locktime: Tick,
}

impl Default for NeighParms {
    fn default() -> Self {
        NeighParms {
            base_reachable_time: 30 * HZ,
            retrans_time: HZ,
            delay_probe_time: 5 * HZ,
            gc_staletime: 60 * HZ,
            ucast_probes: 3,
            mcast_probes: 3,
            mcast_reprobes: 0,
            app_probes: 0,
            unres_qlen_bytes: 212_992,
            unres_qlen: 101,
            locktime: HZ,
        }
    }
}

/// An invalid configuration value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The parameter's name (the kernel's sysctl name).
    pub field: &'static str,
    /// The rejected value.
    pub value: u64,
    /// Why it was rejected.
    pub reason: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} = {}: {}",
            self.field, self.value, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

fn check_time(field: &'static str, v: Tick, allow_zero: bool) -> Result<(), ConfigError> {
    if v == 0 && !allow_zero {
        return Err(ConfigError {
            field,
            value: v,
            reason: "must be positive",
        });
    }
    if v > MAX_TIME {
        return Err(ConfigError {
            field,
            value: v,
            reason: "longer than one day",
        });
    }
    Ok(())
}

impl NeighParms {
    /// Check every value; the table refuses parameters that fail this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_time("base_reachable_time", self.base_reachable_time, false)?;
        check_time("retrans_time", self.retrans_time, false)?;
        check_time("delay_probe_time", self.delay_probe_time, false)?;
        check_time("gc_staletime", self.gc_staletime, false)?;
        check_time("locktime", self.locktime, true)?;
        for (field, v) in [
            ("ucast_solicit", self.ucast_probes),
            ("mcast_solicit", self.mcast_probes),
            ("mcast_resolicit", self.mcast_reprobes),
            ("app_solicit", self.app_probes),
        ] {
            if v > 255 {
                return Err(ConfigError {
                    field,
                    value: v.into(),
                    reason: "more than 255 probes",
                });
            }
        }
        if self.mcast_probes + self.app_probes + self.ucast_probes == 0 {
            return Err(ConfigError {
                field: "mcast_solicit",
                value: 0,
                reason: "no probe of any kind: nothing could ever resolve",
            });
        }
        if self.unres_qlen == 0 || self.unres_qlen > 1 << 20 {
            return Err(ConfigError {
                field: "unres_qlen",
                value: self.unres_qlen as u64,
                reason: "must be 1..=1048576",
            });
        }
        if self.unres_qlen_bytes == 0 || self.unres_qlen_bytes > 1 << 30 {
            return Err(ConfigError {
                field: "unres_qlen_bytes",
                value: self.unres_qlen_bytes as u64,
                reason: "must be 1..=1 GiB",
            });
        }
        Ok(())
    }

    /// Can an INCOMPLETE entry resolve: is there a multicast or application
    /// probe to ask with (a unicast probe needs a known address)?
    pub fn can_resolve(&self) -> bool {
        self.mcast_probes + self.app_probes > 0
    }

    /// `neigh_max_probes`: probes before INCOMPLETE (`in_probe` false) or
    /// PROBE (`in_probe` true) becomes FAILED.
    pub fn max_probes(&self, in_probe: bool) -> u32 {
        self.ucast_probes
            + self.app_probes
            + if in_probe {
                self.mcast_reprobes
            } else {
                self.mcast_probes
            }
    }
}

/// Table-wide configuration: the default [`NeighParms`] plus GC thresholds
/// and sizing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableConfig {
    /// Parameters of devices registered without their own.
    pub parms: NeighParms,
    /// `gc_interval` (30 s): period of the periodic GC pass.
    pub gc_interval: Tick,
    /// `gc_thresh1` (128): below this many entries GC never runs.
    pub gc_thresh1: usize,
    /// `gc_thresh2` (512): above this, a create runs forced GC if the last
    /// one was more than 5 s ago.
    pub gc_thresh2: usize,
    /// `gc_thresh3` (1024): hard limit; a create at this size runs forced GC
    /// and fails with `TableFull` if nothing could be collected.
    pub gc_thresh3: usize,
    /// log2 of the initial number of hash buckets (kernel: 3).
    pub initial_hash_shift: u32,
    /// Number of timer wheel bases (the kernel has one per CPU).
    pub timer_bases: usize,
    /// Seed of the table's randomness (the hash key and the reachable-time
    /// draws). `0` (the default) draws a fresh key from the operating system
    /// for every table, which is what keeps an attacker who chooses
    /// addresses from building long hash chains. A non-zero seed makes both
    /// reproducible (tests, simulations) and gives that defence up: use it
    /// only where addresses are not chosen by an adversary.
    pub seed: u64,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            parms: NeighParms::default(),
            gc_interval: 30 * HZ,
            gc_thresh1: 128,
            gc_thresh2: 512,
            gc_thresh3: 1024,
            initial_hash_shift: 3,
            timer_bases: 1,
            seed: 0,
        }
    }
}

impl TableConfig {
    /// Check every value, including the default parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.parms.validate()?;
        check_time("gc_interval", self.gc_interval, false)?;
        if self.gc_thresh3 == 0 || self.gc_thresh3 > MAX_ENTRIES {
            return Err(ConfigError {
                field: "gc_thresh3",
                value: self.gc_thresh3 as u64,
                reason: "must be 1..=2^24 - 1 (one timer base holds at most that many timers)",
            });
        }
        if self.gc_thresh2 > self.gc_thresh3 {
            return Err(ConfigError {
                field: "gc_thresh2",
                value: self.gc_thresh2 as u64,
                reason: "above gc_thresh3",
            });
        }
        if self.gc_thresh1 > self.gc_thresh2 {
            return Err(ConfigError {
                field: "gc_thresh1",
                value: self.gc_thresh1 as u64,
                reason: "above gc_thresh2",
            });
        }
        if self.initial_hash_shift > 24 {
            return Err(ConfigError {
                field: "initial_hash_shift",
                value: self.initial_hash_shift.into(),
                reason: "more than 2^24 buckets",
            });
        }
        if self.timer_bases == 0 || self.timer_bases > 256 {
            return Err(ConfigError {
                field: "timer_bases",
                value: self.timer_bases as u64,
                reason: "must be 1..=256",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_arp_tbl() {
        let c = TableConfig::default();
        c.validate().unwrap();
        assert_eq!(c.parms.base_reachable_time, 30_000);
        assert_eq!((c.gc_thresh1, c.gc_thresh2, c.gc_thresh3), (128, 512, 1024));
        assert_eq!(c.parms.max_probes(false), 6);
    }

    #[test]
    fn nonsense_is_rejected_with_the_field_name() {
        let bad = |f: fn(&mut TableConfig)| {
            let mut c = TableConfig::default();
            f(&mut c);
            c.validate().unwrap_err().field
        };
        assert_eq!(bad(|c| c.parms.retrans_time = 0), "retrans_time");
        assert_eq!(
            bad(|c| c.parms.base_reachable_time = MAX_TIME + 1),
            "base_reachable_time"
        );
        assert_eq!(bad(|c| c.gc_thresh2 = 2000), "gc_thresh2");
        assert_eq!(bad(|c| c.parms.unres_qlen = 0), "unres_qlen");
        assert_eq!(bad(|c| c.timer_bases = 0), "timer_bases");
        assert_eq!(
            bad(|c| {
                c.parms.mcast_probes = 0;
                c.parms.ucast_probes = 0;
            }),
            "mcast_solicit"
        );
    }
}
