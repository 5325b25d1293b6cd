//! The table's device registry (`neigh_parms` per device, the sysctl /
//! `RTM_SETNEIGHTBL` analogue): registering a device, changing its
//! parameters at run time, and validating input that names a device.
//!
//! Rules: the registry is the `devices` map under the table lock. A
//! parameter change happens only under the table lock (the one writer of
//! [`ParmsCell`](crate::neigh::device::ParmsCell)). Input naming a device is
//! validated here before the table changes anything. The device type itself
//! is `neigh::device`.

use super::{NeighTable, TableLocked};
use crate::error::NeighError;
use crate::neigh::device::{check_lladdr, Device, DeviceConfig, LinkHeader, ParmsCell};
use crate::neigh::lladdr::MAX_ADDR_LEN;
use crate::neigh::{DevId, NeighKey, NeighOps};
use crate::parms::NeighParms;
use crate::sync::{self, plain, Ordering};
use crate::timer::Tick;
use crate::variant::Rule;

impl<K: NeighKey, O: NeighOps<K>> NeighTable<K, O> {
    /// Register a device. Its parameters (or a copy of the table's
    /// defaults, as `neigh_parms_alloc` makes) are validated.
    pub fn add_device(&self, dev: DevId, cfg: DeviceConfig) -> Result<(), NeighError> {
        let parms = match cfg.parms {
            Some(p) => p,
            None => self.lock.lock().cfg.parms,
        };
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
            parms: self.parms_cell(parms),
            reachable_time: plain::AtomicU64::new(reach),
            wheel: self.wheel.clone(),
        };
        tbl.devices.insert(dev, sync::Arc::new(device));
        Ok(())
    }

    /// A new device's parameter cell. Model builds: with the table's
    /// choice of modelled words and L19's rule.
    fn parms_cell(&self, parms: NeighParms) -> ParmsCell {
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        {
            // Relaxed: set before the model threads start (see `Broken`).
            let modelled = self.parms_words_modelled.load(Ordering::Relaxed);
            ParmsCell::new(parms, modelled, self.keeps(Rule::ParmsSeqlockRecheck))
        }
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        {
            // `keeps` is the constant true here: readers always re-check.
            debug_assert!(self.keeps(Rule::ParmsSeqlockRecheck));
            ParmsCell::new(parms)
        }
    }

    /// Model builds only: the devices registered after this call keep their
    /// run-time parameter words in modelled atomics, so the model checker
    /// interleaves and reorders the parameter seqlock's word accesses (race
    /// matrix L19). Off by default: each modelled word is a scheduling
    /// point in every parameter read. Call before the model threads start;
    /// [`Rule::ParmsSeqlockRecheck`] is likewise taken at registration.
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    #[doc(hidden)]
    pub fn model_parms_words(&self, on: bool) {
        // Relaxed: as `parms_cell`'s load.
        self.parms_words_modelled.store(on, Ordering::Relaxed);
    }

    /// Change a device's parameters at run time (`net.ipv4.neigh.<dev>.*`,
    /// `RTM_SETNEIGHTBL` with `NDTPA_IFINDEX`). `parms` is validated as at
    /// registration (`Err(Config)`, `Err(UnknownDevice)`; nothing changes on
    /// an error). Every entry of the device decides its next event with
    /// the new values: timers already armed keep their expiry, and the
    /// handler then applies the new parameters (as in the kernel, whose
    /// handler reads them when it runs). `reachable_time` is re-drawn from
    /// the new `base_reachable_time` at once (`neightbl_set` does the same),
    /// so a new base does not wait for the periodic re-draw.
    pub fn set_device_parms(&self, dev: DevId, parms: NeighParms) -> Result<(), NeighError> {
        parms.validate()?;
        let mut tbl = self.lock.lock();
        let device = self.device(&tbl, dev)?;
        device.parms.set(parms);
        let reach = tbl.rand_reach_time(parms.base_reachable_time);
        // Relaxed: see `Device::reachable_time`.
        device.reachable_time.store(reach, Ordering::Relaxed);
        Ok(())
    }

    /// A device's parameters now (`None` for an unknown device).
    pub fn device_parms(&self, dev: DevId) -> Option<NeighParms> {
        self.lock.lock().devices.get(&dev).map(|d| d.parms())
    }

    /// The device's current randomised reachable time
    /// (`parms->reachable_time`): `base_reachable_time` drawn in [0.5x,
    /// 1.5x), re-drawn by the periodic GC every 300 s (the first time 20
    /// reachable times after the table's start) and by `set_device_parms`.
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
