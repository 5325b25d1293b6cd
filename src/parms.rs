//! Parameters (`struct neigh_parms` and the table's GC thresholds) with the
//! kernel's `arp_tbl` defaults and validation.
//!
//! This module owns configuration only: values, defaults and the checks that
//! reject nonsense with a typed [`ConfigError`], at construction and when a
//! value is changed at run time (`NeighTable::set_device_parms`,
//! `NeighTable::set_config`). It must not hold runtime state.

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

/// What the kernel adds to a packet's length in `skb->truesize` (x86-64,
/// 6.x: `SKB_DATA_ALIGN(sizeof(struct sk_buff))` 256 +
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` 320): the default
/// [`Packet::truesize`](crate::Packet::truesize) overhead.
pub const SKB_TRUESIZE_OVERHEAD: usize = 576;

/// `SKB_TRUESIZE(ETH_FRAME_LEN)`: the unit in which the kernel converts
/// between `unres_qlen` (packets) and `unres_qlen_bytes` (2,090 bytes).
pub const ETH_FRAME_TRUESIZE: usize = 1514 + SKB_TRUESIZE_OVERHEAD;

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
    /// unresolved entry, each packet charged its
    /// [`Packet::truesize`](crate::Packet::truesize); the oldest packets
    /// are dropped beyond it (a packet alone larger than the limit is still
    /// queued, as in the kernel).
    pub unres_qlen_bytes: usize,
    /// An optional extra limit in packets per unresolved entry. Linux 6.x
    /// has none: its `unres_qlen` is a view of the byte limit
    /// ([`NeighParms::queue_len_packets`], "queue 101" in `ip ntable`), so the
    /// default is `usize::MAX` (no packet limit).
    pub unres_qlen: usize,
    /// `locktime` (1 s): an ARP reply with a different address overrides
    /// the cached one only when the entry was last updated more than this
    /// long ago (proxy/ARP flux protection).
    pub locktime: Tick,
    /// `interval_probe_time_ms` (5 s): how often entries marked
    /// [`NeighFlags::MANAGED`](crate::NeighFlags::MANAGED) are re-probed
    /// (`neigh_managed_work`). The table's default parameters
    /// ([`TableConfig::parms`]) govern it, as the kernel's `tbl->parms`
    /// does; must be positive.
    pub interval_probe_time: Tick,
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
            unres_qlen: usize::MAX,
            locktime: HZ,
            interval_probe_time: 5 * HZ,
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
        check_time("interval_probe_time", self.interval_probe_time, false)?;
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
        if self.unres_qlen == 0 {
            return Err(ConfigError {
                field: "unres_qlen",
                value: 0,
                reason: "must be positive (usize::MAX: no packet limit, as in Linux 6.x)",
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

    /// The kernel's `unres_qlen` view of the byte limit:
    /// `unres_qlen_bytes / SKB_TRUESIZE(ETH_FRAME_LEN)` (101 by default).
    pub fn queue_len_packets(&self) -> usize {
        self.unres_qlen_bytes / ETH_FRAME_TRUESIZE
    }

    /// The same parameters with the byte limit set as the kernel sets it
    /// from `unres_qlen` (`NDTPA_QUEUE_LEN`, the sysctl):
    /// `packets * SKB_TRUESIZE(ETH_FRAME_LEN)`.
    pub fn with_queue_len_packets(mut self, packets: usize) -> Self {
        self.unres_qlen_bytes = packets.saturating_mul(ETH_FRAME_TRUESIZE);
        self
    }

    /// The values as words, for the lock-free parameter snapshot of a
    /// device (`neigh::device::ParmsCell`).
    pub(crate) fn to_words(self) -> [u64; PARMS_WORDS] {
        [
            self.base_reachable_time,
            self.retrans_time,
            self.delay_probe_time,
            self.gc_staletime,
            u64::from(self.ucast_probes) | u64::from(self.mcast_probes) << 32,
            u64::from(self.mcast_reprobes) | u64::from(self.app_probes) << 32,
            self.unres_qlen_bytes as u64,
            self.unres_qlen as u64,
            self.locktime,
            self.interval_probe_time,
        ]
    }

    /// The inverse of [`to_words`](Self::to_words).
    pub(crate) fn from_words(w: [u64; PARMS_WORDS]) -> Self {
        NeighParms {
            base_reachable_time: w[0],
            retrans_time: w[1],
            delay_probe_time: w[2],
            gc_staletime: w[3],
            ucast_probes: w[4] as u32,
            mcast_probes: (w[4] >> 32) as u32,
            mcast_reprobes: w[5] as u32,
            app_probes: (w[5] >> 32) as u32,
            unres_qlen_bytes: w[6] as usize,
            unres_qlen: w[7] as usize,
            locktime: w[8],
            interval_probe_time: w[9],
        }
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

/// Words in [`NeighParms::to_words`].
pub(crate) const PARMS_WORDS: usize = 10;

/// Table-wide configuration: the default [`NeighParms`] plus GC thresholds
/// and sizing.
///
/// Everything except `initial_hash_shift`, `timer_bases` and `seed` can be
/// changed at run time with `NeighTable::set_config` (the kernel's
/// `RTM_SETNEIGHTBL` / `net.ipv4.neigh.default.*` sysctls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableConfig {
    /// Parameters of devices registered without their own.
    pub parms: NeighParms,
    /// `gc_interval` (30 s): period of the periodic GC pass. (Linux 6.x
    /// ignores its `gc_interval` and runs the pass every
    /// `base_reachable_time / 2`; SPEC.md "3.10 vs now".)
    pub gc_interval: Tick,
    /// `gc_thresh1` (128): below this many entries the periodic pass
    /// collects nothing.
    pub gc_thresh1: usize,
    /// `gc_thresh2` (512): with this many GC-eligible entries (not
    /// PERMANENT, not externally learned: the kernel's `gc_entries`), a
    /// create runs forced GC if the last complete one was more than 5 s
    /// ago; forced GC collects down to this many.
    pub gc_thresh2: usize,
    /// `gc_thresh3` (1024): hard limit on GC-eligible entries; a create at
    /// this count runs forced GC and fails with `TableFull` if nothing could
    /// be collected. (All entries together are also limited to
    /// [`MAX_ENTRIES`].)
    pub gc_thresh3: usize,
    /// log2 of the initial number of hash buckets (kernel: 3).
    pub initial_hash_shift: u32,
    /// Number of timer wheel bases (the kernel has one per CPU).
    pub timer_bases: usize,
    /// Seed of the table's randomness (the hash key and the reachable-time
    /// draws). `0` (the default) draws a fresh key from the operating system
    /// for every table, and again whenever the table re-keys itself because
    /// a chain grew long, which is what keeps an attacker who chooses
    /// addresses from building long hash chains. A non-zero seed makes both
    /// reproducible (tests, simulations) and gives that defence up: use it
    /// only where addresses are not chosen by an adversary.
    pub seed: u64,
    /// Table-wide solicitation limit: probes per second refilled into a
    /// token bucket of [`solicit_burst`](Self::solicit_burst) tokens shared
    /// by every entry. `0` (the default, as in Linux, which limits probes
    /// per entry only) turns it off. A probe finding the bucket empty is
    /// not sent and counts in `NeighStats::solicits_ratelimited`; it still
    /// counts against its entry's probe budget, so resolution fails on
    /// schedule as if the probe had been lost on the wire.
    pub solicit_rate: u32,
    /// Size of the solicitation token bucket (the largest burst of probes);
    /// at least 1 when `solicit_rate` is set.
    pub solicit_burst: u32,
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
            solicit_rate: 0,
            solicit_burst: 0,
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
        if self.solicit_rate > 1_000_000 {
            return Err(ConfigError {
                field: "solicit_rate",
                value: self.solicit_rate.into(),
                reason: "more than 10^6 probes per second",
            });
        }
        if self.solicit_rate > 0 && self.solicit_burst == 0 {
            return Err(ConfigError {
                field: "solicit_burst",
                value: 0,
                reason: "must be positive when solicit_rate is set",
            });
        }
        Ok(())
    }

    /// Check `new` as a run-time replacement of `self`: valid, and the same
    /// in the fields fixed at construction (`initial_hash_shift`,
    /// `timer_bases`, `seed`).
    pub fn validate_change(&self, new: &TableConfig) -> Result<(), ConfigError> {
        new.validate()?;
        let fixed = |field: &'static str, old: u64, new: u64| {
            if old == new {
                Ok(())
            } else {
                Err(ConfigError {
                    field,
                    value: new,
                    reason: "fixed when the table is built",
                })
            }
        };
        fixed(
            "initial_hash_shift",
            self.initial_hash_shift.into(),
            new.initial_hash_shift.into(),
        )?;
        fixed(
            "timer_bases",
            self.timer_bases as u64,
            new.timer_bases as u64,
        )?;
        fixed("seed", self.seed, new.seed)
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
        // `ip ntable` shows "queue 101" for 212992 bytes.
        assert_eq!(c.parms.queue_len_packets(), 101);
        assert_eq!(c.parms.unres_qlen, usize::MAX, "no packet limit in 6.x");
    }

    #[test]
    fn words_round_trip() {
        let p = NeighParms {
            ucast_probes: 7,
            mcast_probes: 255,
            mcast_reprobes: 1,
            app_probes: 2,
            unres_qlen: usize::MAX,
            ..NeighParms::default()
        };
        assert_eq!(NeighParms::from_words(p.to_words()), p);
    }

    #[test]
    fn runtime_changes_keep_construction_fields() {
        let c = TableConfig::default();
        let mut n = c;
        n.gc_thresh3 = 2048;
        c.validate_change(&n).unwrap();
        n.timer_bases = 2;
        assert_eq!(c.validate_change(&n).unwrap_err().field, "timer_bases");
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
        assert_eq!(
            bad(|c| c.parms.interval_probe_time = 0),
            "interval_probe_time"
        );
        assert_eq!(bad(|c| c.solicit_rate = 10), "solicit_burst");
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
