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
    /// `run_timers` was given a time before the table's current time.
    TimeWentBackwards {
        /// The table's current tick.
        jiffies: Tick,
        /// The tick supplied.
        now: Tick,
    },
    /// `run_timers` was given a time beyond the timer wheel's domain
    /// ([`MAX_TICK`](crate::timer::MAX_TICK)).
    TickOutOfRange {
        /// The tick supplied.
        now: Tick,
        /// The largest tick allowed.
        max: Tick,
    },
    /// `update` to a state that is not a single NUD state.
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
            NeighError::TimeWentBackwards { jiffies, now } => {
                write!(
                    f,
                    "time went backwards: table at tick {jiffies}, asked for {now}"
                )
            }
            NeighError::TickOutOfRange { now, max } => {
                write!(f, "tick {now} is beyond the timer wheel's MAX_TICK ({max})")
            }
            NeighError::InvalidState(s) => write!(f, "not a single NUD state: {s:?}"),
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
