//! Applying what the kernel reports: neighbours to the table (through
//! `set_exact` and `remove_exact`), links to the table's devices, proxy entries
//! to a `Proxy`, and the end of a resync (removing what the dump lacked).
//!
//! Rules: the table is changed only through its public API; every message
//! that is skipped is counted in exactly one `MirrorStats` field and
//! changes nothing; an entry carrying our `NDA_PROTOCOL` is never applied
//! (the loop rule); only entries the kernel reported (`kernel_keys`) are
//! ever removed by the mirror; every key written is noted in
//! `applied_since_drain` so that the push direction takes its events as
//! the mirror's own.

use super::decode::{BadInput, KernelLink, KernelNeigh};
use super::mirror::{KernelMirror, Link};
use super::Family;
use crate::error::NeighError;
use crate::neigh::{Applied, DevId, DeviceConfig, LinkHeader, LlAddr, NeighOps, MAX_ADDR_LEN};
use std::collections::HashSet;

impl<K: Family, O: NeighOps<K>> KernelMirror<K, O> {
    pub(super) fn count_bad(&mut self, b: BadInput) {
        let c = match b {
            BadInput::Truncated => &mut self.stats.bad_truncated,
            BadInput::Malformed => &mut self.stats.bad_malformed,
            BadInput::BadAddressLength => &mut self.stats.bad_address_len,
            BadInput::NoDestination => &mut self.stats.bad_no_destination,
        };
        *c += 1;
        if b == BadInput::Truncated {
            // The rest of the datagram, whatever it said, is lost.
            self.need_resync = true;
        }
    }

    /// An `RTM_NEWNEIGH` (`del` false) or `RTM_DELNEIGH`, notified or
    /// dumped.
    pub(super) fn on_neigh(&mut self, del: bool, n: KernelNeigh) {
        if n.family != K::AF {
            return;
        }
        self.stats.unknown_attrs += u64::from(n.unknown_attrs);
        if n.protocol == Some(self.cfg.protocol) {
            self.stats.own_skipped += 1;
            return;
        }
        let Some(key) = K::from_ip(n.dst) else {
            self.stats.bad_malformed += 1;
            return;
        };
        let Some(link) = self.links.get(&n.ifindex) else {
            self.stats.unknown_ifindex += 1;
            return;
        };
        if !link.mirrored || !self.cfg.from_kernel {
            return;
        }
        let addressless = link.address.as_ref().is_none_or(|a| a.is_empty());
        let dev = DevId(n.ifindex);
        if n.proxy {
            self.on_proxy(del, key, dev, n.flags.contains(crate::NeighFlags::ROUTER));
            return;
        }
        if self.cfg.to_kernel {
            self.applied_since_drain.insert((dev, key));
        }
        if del {
            if self.kernel_keys.remove(&(dev, key)) {
                self.remove_entry(key, dev);
            }
            return;
        }
        if n.state_overflow {
            self.stats.bad_state += 1;
            return;
        }
        // A device without addresses (addr_len 0) may send none.
        let lladdr = match n.lladdr.as_deref() {
            None if addressless => Some(&[][..]),
            a => a,
        };
        match self.table.set_exact(key, dev, n.state, lladdr, n.flags) {
            Ok(a) => {
                let c = match a {
                    Applied::Created => &mut self.stats.created,
                    Applied::Changed => &mut self.stats.changed,
                    Applied::Unchanged => &mut self.stats.unchanged,
                };
                *c += 1;
                self.kernel_keys.insert((dev, key));
                // The kernel's now: no longer ours to push.
                self.pushed.remove(&(dev, key));
            }
            Err(NeighError::BadLladdrLen { .. } | NeighError::NoLladdr) => {
                self.stats.bad_lladdr += 1
            }
            Err(NeighError::InvalidState(_)) => self.stats.bad_state += 1,
            Err(NeighError::UnknownDevice(_)) => self.stats.unknown_ifindex += 1,
            Err(_) => self.stats.table_errors += 1,
        }
    }

    fn remove_entry(&mut self, key: K, dev: DevId) {
        match self.table.remove_exact(key, dev) {
            Ok(()) => self.stats.deleted += 1,
            // Gone already (a flush, the table's own GC): nothing to do.
            Err(NeighError::NotFound | NeighError::UnknownDevice(_)) => {}
            Err(_) => self.stats.table_errors += 1,
        }
    }

    /// A proxy entry (`NTF_PROXY`).
    #[allow(unused_variables)]
    fn on_proxy(&mut self, del: bool, key: K, dev: DevId, router: bool) {
        #[cfg(feature = "proto")]
        if let Some(p) = self.cfg.proxy.clone() {
            use crate::proto::proxy::{Prefix, ProxyParms};
            let Ok(prefix) = Prefix::host(key.to_ip()) else {
                self.stats.bad_malformed += 1;
                return;
            };
            // Registered on first use; an existing registration is kept.
            let _ = p.add_device(dev, ProxyParms::default());
            let r = if del {
                self.proxy_keys.remove(&(dev, key));
                p.delete(prefix, Some(dev)).map(drop)
            } else {
                self.proxy_keys.insert((dev, key));
                p.add(prefix, Some(dev), router).map(drop)
            };
            match r {
                Ok(()) => self.stats.proxy_applied += 1,
                Err(_) if del => {}
                Err(_) => self.stats.table_errors += 1,
            }
            return;
        }
        self.stats.proxy_skipped += 1;
    }

    pub(super) fn proxy_enabled(&self) -> bool {
        #[cfg(feature = "proto")]
        {
            self.cfg.proxy.is_some()
        }
        #[cfg(not(feature = "proto"))]
        {
            false
        }
    }

    /// The end of a resync: remove the mirrored entries (and proxies) the
    /// dump did not report and no notification during it touched.
    pub(super) fn remove_missing(
        &mut self,
        seen: &HashSet<(DevId, K)>,
        touched: &HashSet<(DevId, K)>,
    ) {
        let keep = |k: &(DevId, K)| seen.contains(k) || touched.contains(k);
        let gone: Vec<(DevId, K)> = self
            .kernel_keys
            .iter()
            .filter(|k| !keep(k))
            .copied()
            .collect();
        for (dev, key) in gone {
            self.kernel_keys.remove(&(dev, key));
            if self.cfg.to_kernel {
                self.applied_since_drain.insert((dev, key));
            }
            self.remove_entry(key, dev);
        }
        if self.proxy_enabled() {
            let gone: Vec<(DevId, K)> = self
                .proxy_keys
                .iter()
                .filter(|k| !keep(k))
                .copied()
                .collect();
            for (dev, key) in gone {
                self.on_proxy(true, key, dev, false);
            }
        }
    }

    /// An `RTM_NEWLINK` (`del` false) or `RTM_DELLINK`; `from_dump`: a
    /// reply to our link dump (a link that was there already).
    pub(super) fn on_link(&mut self, del: bool, l: KernelLink, from_dump: bool) {
        let old = self.links.get(&l.ifindex).cloned();
        let dev = DevId(l.ifindex);
        if del {
            if let Some(old) = self.links.remove(&l.ifindex) {
                if old.mirrored {
                    self.drop_device(dev);
                }
            }
            return;
        }
        let want = self.selected(&l.name) && device_config::<K>(&l).is_some();
        let same_addr = old
            .as_ref()
            .is_some_and(|o| o.address == l.address && o.noarp == l.noarp);
        let was = old.as_ref().is_some_and(|o| o.mirrored);
        if was && (!want || !same_addr) {
            // Renamed away, or its address changed (the kernel flushes the
            // device's entries then: `neigh_changeaddr`).
            self.drop_device(dev);
        }
        let mut mirrored = was && want && same_addr;
        if want && !mirrored {
            if let Some(cfg) = device_config::<K>(&l) {
                match self.table.add_device(dev, cfg) {
                    Ok(()) | Err(NeighError::DeviceExists(_)) => {
                        mirrored = true;
                        self.stats.links_added += 1;
                        #[cfg(feature = "proto")]
                        if let Some(p) = &self.cfg.proxy {
                            let _ = p.add_device(dev, crate::proto::proxy::ProxyParms::default());
                        }
                        if !from_dump {
                            // A renamed link may bring entries: read them.
                            self.need_dump = true;
                        }
                    }
                    Err(_) => self.stats.table_errors += 1,
                }
            }
        }
        self.links.insert(
            l.ifindex,
            Link {
                address: l.address,
                noarp: l.noarp,
                mirrored,
            },
        );
    }

    /// Forget a device: its entries are flushed from the table.
    fn drop_device(&mut self, dev: DevId) {
        if self.table.remove_device(dev).is_ok() {
            self.stats.links_removed += 1;
        }
        #[cfg(feature = "proto")]
        if let Some(p) = &self.cfg.proxy {
            let _ = p.remove_device(dev);
        }
        self.kernel_keys.retain(|(d, _)| *d != dev);
        self.proxy_keys.retain(|(d, _)| *d != dev);
        self.pushed.retain(|(d, _), _| *d != dev);
    }
}

/// The table device for a link: Ethernet for 6-byte addresses, the bare
/// address otherwise (`None` for an address longer than the table takes).
pub(super) fn device_config<K: Family>(l: &KernelLink) -> Option<DeviceConfig> {
    let addr = l.address.as_deref().unwrap_or(&[]);
    let mut cfg = match <[u8; 6]>::try_from(addr) {
        Ok(mac) => DeviceConfig::ethernet(mac, K::ETHERTYPE),
        Err(_) if addr.len() <= MAX_ADDR_LEN => DeviceConfig {
            addr_len: addr.len(),
            header: LinkHeader::Lladdr,
            noarp: false,
            noarp_lladdr: None,
            parms: None,
        },
        Err(_) => return None,
    };
    cfg.noarp = l.noarp;
    if l.noarp {
        cfg.noarp_lladdr = LlAddr::new(addr);
    }
    Some(cfg)
}
