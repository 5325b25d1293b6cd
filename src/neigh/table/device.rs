//! Devices as the table sees them: their configuration, parameters,
//! randomised reachable time and the link-layer header they build
//! (`header_ops->cache`), and the table's device registry.
//!
//! Rules: the registry is the `devices` map under the table lock; a
//! `Device` is immutable once registered except its `reachable_time`, which
//! periodic GC re-draws. Input naming a device is validated here before the
//! table changes anything.

use super::{NeighTable, TableLocked};
use crate::error::NeighError;
use crate::neigh::lladdr::{Hh, LlAddr, HH_MAX, MAX_ADDR_LEN};
use crate::neigh::{DevId, NeighKey, NeighOps};
use crate::parms::NeighParms;
use crate::sync::{self, plain, Ordering};
use crate::timer::{Tick, TimerWheel};

/// How a device frames packets: what header the cache builds and caches for
/// each resolved neighbour (the kernel's `header_ops->cache`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkHeader {
    /// Ethernet II: destination (the neighbour), source, ethertype.
    Ethernet {
        /// The device's own MAC address.
        src: [u8; 6],
        /// The ethertype of the protocol (0x0800 IPv4, 0x86dd IPv6).
        ethertype: u16,
    },
    /// The header is the neighbour's address alone.
    Lladdr,
}

/// A device as the table sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Link-layer address length (`dev->addr_len`); updates with another
    /// length are refused with `BadLladdrLen`.
    pub addr_len: usize,
    /// The header built for resolved neighbours.
    pub header: LinkHeader,
    /// The device needs no resolution: entries are created NOARP with
    /// `noarp_lladdr` (loopback, point-to-point links).
    pub noarp: bool,
    /// Address used for NOARP entries (`addr_len` bytes; zeros if `None`).
    pub noarp_lladdr: Option<LlAddr>,
    /// Per-device parameters; `None` uses the table's.
    pub parms: Option<NeighParms>,
}

impl DeviceConfig {
    /// An Ethernet device with MAC `src` carrying `ethertype`.
    pub fn ethernet(src: [u8; 6], ethertype: u16) -> Self {
        DeviceConfig {
            addr_len: 6,
            header: LinkHeader::Ethernet { src, ethertype },
            noarp: false,
            noarp_lladdr: None,
            parms: None,
        }
    }

    /// The same device with its own parameters.
    pub fn with_parms(mut self, parms: NeighParms) -> Self {
        self.parms = Some(parms);
        self
    }
}

/// A registered device: configuration plus the shared timer wheel, so that an
/// entry can report its own destruction to the wheel wherever it is freed.
pub(crate) struct Device {
    pub(crate) id: DevId,
    pub(crate) cfg: DeviceConfig,
    pub(crate) parms: NeighParms,
    /// `parms->reachable_time`: base_reachable_time randomised to 0.5x-1.5x,
    /// re-drawn by the periodic GC.
    pub(crate) reachable_time: plain::AtomicU64,
    pub(crate) wheel: sync::Arc<TimerWheel>,
}

impl Device {
    pub(crate) fn reachable_time(&self) -> Tick {
        // Relaxed: a tuning value; any recent draw is as good as another.
        self.reachable_time.load(Ordering::Relaxed)
    }

    /// Length of the header this device caches (`dev->hard_header_len`).
    pub(crate) fn hh_len(&self) -> usize {
        match self.cfg.header {
            LinkHeader::Ethernet { .. } => 14,
            LinkHeader::Lladdr => self.cfg.addr_len,
        }
    }

    /// Build the header for `lladdr` (`header_ops->cache`). Both header
    /// kinds start with the neighbour's address, so the address is always
    /// the header's first `addr_len` bytes.
    pub(crate) fn build_header(&self, lladdr: &LlAddr) -> Hh {
        let mut hh = Hh {
            len: self.hh_len() as u8,
            bytes: [0; HH_MAX],
        };
        let a = lladdr.as_bytes();
        hh.bytes[..a.len()].copy_from_slice(a);
        if let LinkHeader::Ethernet { src, ethertype } = self.cfg.header {
            hh.bytes[6..12].copy_from_slice(&src);
            hh.bytes[12..14].copy_from_slice(&ethertype.to_be_bytes());
        }
        hh
    }
}

/// `lladdr` as an address of `device`, or `BadLladdrLen`.
pub(super) fn check_lladdr(device: &Device, lladdr: &[u8]) -> Result<LlAddr, NeighError> {
    if lladdr.len() != device.cfg.addr_len {
        return Err(NeighError::BadLladdrLen {
            dev: device.id,
            expected: device.cfg.addr_len,
            got: lladdr.len(),
        });
    }
    Ok(LlAddr::new(lladdr).expect("addr_len <= MAX_ADDR_LEN (checked by add_device)"))
}

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// Register a device. Its parameters (or the table's) are validated.
    pub fn add_device(&self, dev: DevId, cfg: DeviceConfig) -> Result<(), NeighError> {
        let parms = cfg.parms.unwrap_or(self.config.parms);
        parms.validate()?;
        let max = match cfg.header {
            LinkHeader::Ethernet { .. } => 6,
            LinkHeader::Lladdr => MAX_ADDR_LEN,
        };
        if cfg.addr_len > max
            || (matches!(cfg.header, LinkHeader::Ethernet { .. }) && cfg.addr_len != 6)
        {
            return Err(NeighError::BadLladdrLen {
                dev,
                expected: max,
                got: cfg.addr_len,
            });
        }
        if let Some(a) = cfg.noarp_lladdr {
            if a.as_bytes().len() != cfg.addr_len {
                return Err(NeighError::BadLladdrLen {
                    dev,
                    expected: cfg.addr_len,
                    got: a.as_bytes().len(),
                });
            }
        }
        let mut tbl = self.lock.lock();
        if tbl.devices.contains_key(&dev) {
            return Err(NeighError::DeviceExists(dev));
        }
        let reach = tbl.rand_reach_time(parms.base_reachable_time);
        let device = Device {
            id: dev,
            cfg,
            parms,
            reachable_time: plain::AtomicU64::new(reach),
            wheel: self.wheel.clone(),
        };
        tbl.devices.insert(dev, sync::Arc::new(device));
        Ok(())
    }

    /// The device's current randomised reachable time (`parms->reachable_time`).
    #[doc(hidden)]
    pub fn reachable_time(&self, dev: DevId) -> Option<Tick> {
        self.lock
            .lock()
            .devices
            .get(&dev)
            .map(|d| d.reachable_time())
    }

    pub(super) fn device(
        &self,
        tbl: &TableLocked,
        dev: DevId,
    ) -> Result<sync::Arc<Device>, NeighError> {
        tbl.devices
            .get(&dev)
            .cloned()
            .ok_or(NeighError::UnknownDevice(dev))
    }

    /// Validate input naming a device before anything is created: the
    /// device is registered and `lladdr` (if any) has its address length.
    pub(super) fn check_input(&self, dev: DevId, lladdr: Option<&[u8]>) -> Result<(), NeighError> {
        let device = self.device(&self.lock.lock(), dev)?;
        match lladdr {
            Some(a) => check_lladdr(&device, a).map(drop),
            None => Ok(()),
        }
    }
}
