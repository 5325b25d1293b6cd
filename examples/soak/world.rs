//! What the soak's table talks to: the packet type, the device side and the
//! packet ledger. Owns the per-thread packet counters and the solicitation
//! queue; knows nothing about timing or reporting.
//!
//! Every packet the soak hands to the table ends in exactly one of three
//! places, each counted here: `transmit` (sent at once or flushed after
//! resolution), `error_report` (its resolution failed), or the packet's own
//! `Drop` (the table dropped it: queue overflow, a dead entry, teardown).
//! The counters are thread-locals (no shared cache line written on the
//! measured path); each thread reports its own with [`Ledger::mine`].

use neighcache::{DevId, NeighOps, Packet, Probe};
use std::cell::Cell;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Mutex;

thread_local! {
    static TRANSMITTED: Cell<u64> = const { Cell::new(0) };
    static ERROR_REPORTED: Cell<u64> = const { Cell::new(0) };
    static DROPPED: Cell<u64> = const { Cell::new(0) };
}

fn bump(c: &'static std::thread::LocalKey<Cell<u64>>) {
    c.with(|c| c.set(c.get() + 1));
}

/// A packet: a sequence number. Counts itself as dropped unless the device
/// side took it (`transmit`, `error_report`).
pub struct Pkt(pub u32);

impl Packet for Pkt {
    fn len(&self) -> usize {
        64
    }
}

impl Drop for Pkt {
    fn drop(&mut self) {
        bump(&DROPPED);
    }
}

impl Pkt {
    /// The device side took the packet: it is not a drop.
    fn consumed(self) {
        std::mem::forget(self);
    }
}

/// Where each packet handed to the table ended, as the device side saw it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ledger {
    pub transmitted: u64,
    pub error_reported: u64,
    pub dropped: u64,
}

impl Ledger {
    /// The calling thread's counts.
    pub fn mine() -> Ledger {
        Ledger {
            transmitted: TRANSMITTED.with(Cell::get),
            error_reported: ERROR_REPORTED.with(Cell::get),
            dropped: DROPPED.with(Cell::get),
        }
    }

    /// The sum of two threads' counts.
    pub fn add(self, o: Ledger) -> Ledger {
        Ledger {
            transmitted: self.transmitted + o.transmitted,
            error_reported: self.error_reported + o.error_reported,
            dropped: self.dropped + o.dropped,
        }
    }

    /// Packets that left the table.
    pub fn total(&self) -> u64 {
        self.transmitted + self.error_reported + self.dropped
    }
}

/// The device side: transmit builds the frame (header + payload) on the
/// stack, as the benches' contenders do; solicitations are queued for the
/// main thread, which answers them as the neighbour would.
pub struct SoakOps {
    solicits: Mutex<Vec<Ipv4Addr>>,
}

impl SoakOps {
    pub fn new() -> Self {
        SoakOps {
            solicits: Mutex::new(Vec::new()),
        }
    }

    /// Move the queued solicitations into `into` (emptied first).
    pub fn take_solicits(&self, into: &mut Vec<Ipv4Addr>) {
        into.clear();
        let mut q = self.solicits.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *q, into);
    }
}

impl NeighOps<Ipv4Addr> for SoakOps {
    type Packet = Pkt;

    #[inline]
    fn transmit(&self, _dev: DevId, hh: &[u8], pkt: Pkt) {
        let mut frame = [0u8; 24];
        let n = hh.len().min(20);
        frame[..n].copy_from_slice(&hh[..n]);
        frame[20..].copy_from_slice(&pkt.0.to_ne_bytes());
        black_box(&frame);
        bump(&TRANSMITTED);
        pkt.consumed();
    }

    fn solicit(&self, _dev: DevId, key: &Ipv4Addr, _probe: Probe) {
        self.solicits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(*key);
    }

    fn error_report(&self, _dev: DevId, _key: &Ipv4Addr, pkt: Pkt) {
        bump(&ERROR_REPORTED);
        pkt.consumed();
    }
}
