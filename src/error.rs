//! Typed errors of the public API.

use crate::neigh::{DevId, NudState};
use crate::parms::ConfigError;
use crate::timer::Tick;
use core::fmt;

/// What went wrong in a table operation. Bad input never panics: it is one of
/// these, or (for packets) a counted drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NeighError {
    /// The device was never registered with [`add_device`](crate::NeighTable::add_device).
    UnknownDevice(DevId),
    /// The device is already registered.
    DeviceExists(DevId),
    /// A link-layer address of the wrong length for the device.
    BadLladdrLen {
        /// The device.
        dev: DevId,
        /// The device's address length.
        expected: usize,
        /// The length supplied.
        got: usize,
    },
    /// The table is at `gc_thresh3` and forced GC freed nothing
    /// ("neighbour table overflow").
    TableFull {
        /// Entries in the table.
        entries: usize,
        /// The configured hard limit.
        gc_thresh3: usize,
    },
    /// A tick outside the table's time domain `0..=`[`MAX_TICK`](crate::timer::MAX_TICK)
    /// (`with_start`, `run_timers`).
    TickOutOfRange {
        /// The tick supplied.
        tick: Tick,
        /// The largest valid tick.
        max: Tick,
    },
    /// The entry (or handle) belongs to another table. Nothing was changed.
    ForeignEntry,
    /// Every table id of this process is in use (more than 2^32 - 2 tables
    /// were created); no table can be created.
    TableIdsExhausted,
    /// `run_timers` was given a time before the table's current time.
    TimeWentBackwards {
        /// The table's current tick.
        jiffies: Tick,
        /// The tick supplied.
        now: Tick,
    },
    /// `update` to a state that is not a single NUD state, or to INCOMPLETE
    /// on a device that has no multicast or application probes to resolve
    /// with.
    InvalidState(NudState),
    /// The entry is NOARP or PERMANENT and the update was not administrative
    /// (the kernel's `-EPERM`).
    NotPermitted,
    /// A VALID state was requested without an lladdr on an entry that has
    /// none (the kernel's `-EINVAL`).
    NoLladdr,
    /// The entry was removed from the table (its `dead` flag is set); the
    /// update was not applied.
    Dead,
    /// No entry for that key and device.
    NotFound,
    /// Invalid configuration.
    Config(ConfigError),
}

impl fmt::Display for NeighError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NeighError::UnknownDevice(d) => write!(f, "unknown device {d}"),
            NeighError::DeviceExists(d) => write!(f, "device {d} already registered"),
            NeighError::BadLladdrLen { dev, expected, got } => {
                write!(
                    f,
                    "link-layer address of {got} bytes, {dev} uses {expected}"
                )
            }
            NeighError::TableFull {
                entries,
                gc_thresh3,
            } => {
                write!(
                    f,
                    "neighbour table overflow: {entries} entries, gc_thresh3 = {gc_thresh3}"
                )
            }
            NeighError::TickOutOfRange { tick, max } => {
                write!(f, "tick {tick} is outside the time domain 0..={max}")
            }
            NeighError::ForeignEntry => write!(f, "the entry belongs to another table"),
            NeighError::TableIdsExhausted => write!(f, "no table id left in this process"),
            NeighError::TimeWentBackwards { jiffies, now } => {
                write!(
                    f,
                    "time went backwards: table at tick {jiffies}, asked for {now}"
                )
            }
            NeighError::InvalidState(s) => write!(f, "cannot update to state {s:?}"),
            NeighError::NotPermitted => write!(f, "entry is NOARP/PERMANENT; use ADMIN"),
            NeighError::NoLladdr => write!(f, "a valid state needs a link-layer address"),
            NeighError::Dead => write!(f, "entry was removed from the table"),
            NeighError::NotFound => write!(f, "no such neighbour"),
            NeighError::Config(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for NeighError {}

impl From<ConfigError> for NeighError {
    fn from(e: ConfigError) -> Self {
        NeighError::Config(e)
    }
}
