//! The packet log: a device side ([`TestOps`]) that records what happens to
//! every packet, so a scenario can check that each packet handed to the cache
//! is transmitted, discarded or error-reported **exactly once** and that no
//! packet object is leaked inside the cache.
//!
//! Test bookkeeping uses plain `std` atomics and a `std` mutex that shuttle
//! does not model: it orders nothing in the system under test, it is only
//! ever touched with no cache lock held, and shuttle runs every model thread
//! on one OS thread, so it cannot race.

use neighcache::{DevId, DropReason, NeighOps, Packet, Probe};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What happened to a packet, as reported to [`TestOps`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// `transmit`.
    Sent,
    /// `error_report` (resolution failed).
    ErrorReport,
    /// `discard` with a reason.
    Discard(DropReason),
    /// Handed back to the caller by `event_send` (`EventSend::Send`): the
    /// caller transmits it, the cache never counted it.
    HandedBack,
}

/// Per-execution record of packets.
#[derive(Default)]
pub struct Log {
    next_id: AtomicU64,
    fates: Mutex<HashMap<u64, Fate>>,
    /// Packet objects dropped (anywhere).
    freed: AtomicU64,
    /// Solicitations sent.
    pub solicits: AtomicU64,
}

impl Log {
    pub fn new() -> Arc<Log> {
        Arc::new(Log::default())
    }

    /// A new packet with a fresh id.
    pub fn pkt(self: &Arc<Self>) -> Pkt {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Pkt {
            id,
            log: self.clone(),
        }
    }

    fn report(&self, pkt: Pkt, fate: Fate) {
        let mut f = self.fates.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = f.insert(pkt.id, fate) {
            panic!(
                "packet {} reported twice: first {old:?}, then {fate:?}",
                pkt.id
            );
        }
        drop(f);
        drop(pkt);
    }

    /// The caller got `pkt` back from `event_send` (and sends it itself).
    pub fn handed_back(&self, pkt: Pkt) {
        self.report(pkt, Fate::HandedBack);
    }

    /// Packets given to the cache (created, less those handed back).
    pub fn given(&self) -> u64 {
        self.created() - self.count(Fate::HandedBack)
    }

    /// Packets created.
    pub fn created(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed)
    }

    /// Packets reported (each exactly once, or `report` panicked).
    pub fn reported(&self) -> u64 {
        self.fates.lock().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    /// Packet objects dropped.
    pub fn freed(&self) -> u64 {
        self.freed.load(Ordering::Relaxed)
    }

    /// How many packets met `fate`.
    pub fn count(&self, fate: Fate) -> u64 {
        let f = self.fates.lock().unwrap_or_else(|e| e.into_inner());
        f.values().filter(|&&x| x == fate).count() as u64
    }

    /// Every packet created was reported exactly once and freed: none lost
    /// (freed without a report), none leaked (still held by the cache).
    pub fn assert_all_accounted(&self) {
        let created = self.created();
        let f = self.fates.lock().unwrap_or_else(|e| e.into_inner());
        for id in 0..created {
            assert!(
                f.contains_key(&id),
                "packet {id} lost: never transmitted, discarded or error-reported \
                 ({} of {created} reported)",
                f.len()
            );
        }
        assert_eq!(f.len() as u64, created, "reports for unknown packets");
        drop(f);
        assert_eq!(
            self.freed(),
            created,
            "packet objects leaked inside the cache (freed {} of {created})",
            self.freed()
        );
    }
}

/// A test packet: an id, and a link to the log so that its drop is counted.
pub struct Pkt {
    pub id: u64,
    log: Arc<Log>,
}

impl Drop for Pkt {
    fn drop(&mut self) {
        self.log.freed.fetch_add(1, Ordering::Relaxed);
    }
}

impl Packet for Pkt {
    fn len(&self) -> usize {
        64
    }
}

/// The device side: records every packet's fate in the [`Log`].
pub struct TestOps {
    pub log: Arc<Log>,
}

impl NeighOps<Ipv4Addr> for TestOps {
    type Packet = Pkt;

    fn transmit(&self, _dev: DevId, hh: &[u8], pkt: Pkt) {
        assert_eq!(hh.len(), 14, "transmit without a complete Ethernet header");
        assert!(
            hh[..6] != [0; 6] && hh[12..] == [0x08, 0x00],
            "transmitted with an unwritten link-layer header: {hh:02x?}"
        );
        self.log.report(pkt, Fate::Sent);
    }

    fn solicit(&self, _dev: DevId, _key: &Ipv4Addr, _probe: Probe) {
        self.log.solicits.fetch_add(1, Ordering::Relaxed);
    }

    fn error_report(&self, _dev: DevId, _key: &Ipv4Addr, pkt: Pkt) {
        self.log.report(pkt, Fate::ErrorReport);
    }

    fn discard(&self, _dev: DevId, _key: &Ipv4Addr, pkt: Pkt, reason: DropReason) {
        self.log.report(pkt, Fate::Discard(reason));
    }
}
