//! A device as the neighbour layer sees it (`struct net_device` plus its
//! `neigh_parms`): its link configuration, the header it builds for a
//! neighbour (`header_ops->cache`), its run-time parameters and its
//! randomised reachable time.
//!
//! Rules: this module sits below both the entry (`neigh::entry`, which
//! holds an `Arc<Device>`) and the table (`neigh::table`, which keeps the
//! registry), and imports from neither. A `Device`'s link configuration is
//! immutable once built; its parameters change only through
//! [`ParmsCell::set`], whose caller holds the table lock (so there is one
//! writer), and are read lock-free as one consistent snapshot; its
//! `reachable_time` is re-drawn under the table lock. The registry, and the
//! validation of input that names a device, are `table::devices`.

use crate::error::NeighError;
use crate::neigh::lladdr::{Hh, LlAddr, HH_MAX};
use crate::neigh::DevId;
use crate::parms::{NeighParms, PARMS_WORDS};
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

/// A device's parameters, changed at run time under the table lock and read
/// without it as one consistent snapshot: a sequence count over words
/// (a seqlock without a data race, as the entry's header). Writers are
/// serialised by the table lock; a reader retries while a write overlaps,
/// so it never sees half of one set and half of another.
///
/// The sequence count is a modelled atomic, so loom and shuttle see a
/// change conflict with every reader and explore both orders (race matrix
/// L10, L11). The words are unmodelled (`sync::plain`) by default: under
/// the model checkers a write then runs between two scheduling points, and
/// a reader that meets an odd count yields and retries; a table whose
/// parameters never change costs the model two reads of a count nobody
/// writes, which conflict with nothing. Modelled words would add a
/// scheduling point per word to every parameter read of every row, so a
/// model build makes them loom (or shuttle) atomics only for the devices of
/// a table that asks (`NeighTable::model_parms_words`, race matrix L19):
/// there the checker interleaves and reorders the word accesses themselves
/// and sees a torn snapshot when any of the four orderings below is
/// weakened. `parms_snapshots_are_never_torn` also runs the protocol with
/// real threads.
pub(crate) struct ParmsCell {
    seq: sync::AtomicU32,
    words: [ParmsWord; PARMS_WORDS],
    /// Model builds only: L19's rule (`Rule::ParmsSeqlockRecheck`), taken
    /// from the table when the device was registered.
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    recheck: bool,
}

/// One parameter word: an unmodelled atomic (see [`ParmsCell`]).
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
type ParmsWord = plain::AtomicU64;

/// One parameter word (model builds): unmodelled, or a modelled atomic for
/// the devices of a table that asked (race matrix L19).
#[cfg(any(feature = "loom", feature = "shuttle"))]
enum ParmsWord {
    Plain(plain::AtomicU64),
    Modelled(sync::AtomicU64),
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
impl ParmsWord {
    fn load(&self, o: Ordering) -> u64 {
        match self {
            ParmsWord::Plain(w) => w.load(o),
            ParmsWord::Modelled(w) => w.load(o),
        }
    }

    fn store(&self, v: u64, o: Ordering) {
        match self {
            ParmsWord::Plain(w) => w.store(v, o),
            ParmsWord::Modelled(w) => w.store(v, o),
        }
    }
}

impl ParmsCell {
    /// A cell holding `p`, its words unmodelled.
    #[cfg(not(any(feature = "loom", feature = "shuttle")))]
    pub(crate) fn new(p: NeighParms) -> Self {
        ParmsCell {
            seq: sync::AtomicU32::new(0),
            words: p.to_words().map(plain::AtomicU64::new),
        }
    }

    /// Model builds: a cell holding `p`, its words modelled atomics if
    /// `modelled`, its readers re-checking the sequence unless `recheck` is
    /// false (L19's broken variant).
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    pub(crate) fn new(p: NeighParms, modelled: bool, recheck: bool) -> Self {
        ParmsCell {
            seq: sync::AtomicU32::new(0),
            words: p.to_words().map(|v| {
                if modelled {
                    ParmsWord::Modelled(sync::AtomicU64::new(v))
                } else {
                    ParmsWord::Plain(plain::AtomicU64::new(v))
                }
            }),
            recheck,
        }
    }

    /// Does a reader re-check the sequence count (L19's rule)? Always in a
    /// default build.
    #[inline(always)]
    fn keeps_recheck(&self) -> bool {
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        {
            self.recheck
        }
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        {
            true
        }
    }

    /// A consistent snapshot.
    pub(crate) fn get(&self) -> NeighParms {
        loop {
            // Acquire: pairs with the Release store that ends a write in
            // `set`, so the words read below are at least that new.
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                // Relaxed: validated by the sequence re-check below.
                let w = core::array::from_fn(|i| self.words[i].load(Ordering::Relaxed));
                // Acquire: orders the word loads before the re-check (pairs
                // with the writer's Release fence after its odd store).
                sync::fence(Ordering::Acquire);
                // Relaxed: ordered by the fence above.
                let unchanged = self.seq.load(Ordering::Relaxed) == s1;
                // L19 broken (model builds only): trust the words loaded.
                if unchanged || !self.keeps_recheck() {
                    return NeighParms::from_words(w);
                }
            }
            core::hint::spin_loop();
            sync::spin_wait();
        }
    }

    /// Replace the parameters. The caller holds the table lock, which makes
    /// it the only writer (`NeighTable::set_device_parms`).
    pub(crate) fn set(&self, p: NeighParms) {
        // Relaxed: writers are serialised by the table lock.
        let s = self.seq.load(Ordering::Relaxed);
        // Relaxed + the fence below: the odd count is ordered before the
        // word stores.
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // Release: pairs with the reader's Acquire fence.
        sync::fence(Ordering::Release);
        for (w, v) in self.words.iter().zip(p.to_words()) {
            // Only the words that change are stored: a reader cannot tear
            // a word whose value stays, and L19 then explores the changed
            // words alone (each stored word doubles the values its reader
            // may load). Relaxed: this is the only writer (the table
            // lock), so the load returns its own last store.
            if w.load(Ordering::Relaxed) != v {
                // Relaxed: published by the Release store below.
                w.store(v, Ordering::Relaxed);
            }
        }
        // Release: pairs with the reader's Acquire load of the count.
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }
}

/// A registered device: configuration plus the shared timer wheel, so that an
/// entry can report its own destruction to the wheel wherever it is freed.
pub(crate) struct Device {
    pub(crate) id: DevId,
    pub(crate) cfg: DeviceConfig,
    /// The device's `neigh_parms`: see [`Device::parms`].
    pub(crate) parms: ParmsCell,
    /// `parms->reachable_time`: base_reachable_time randomised to 0.5x-1.5x,
    /// re-drawn by the periodic GC and by a parameter change.
    pub(crate) reachable_time: plain::AtomicU64,
    pub(crate) wheel: sync::Arc<TimerWheel>,
}

impl Device {
    /// The device's parameters now (one consistent snapshot). Each
    /// operation takes one snapshot and decides with it, so a concurrent
    /// change governs the entry's next event, never half of this one.
    #[inline]
    pub(crate) fn parms(&self) -> NeighParms {
        self.parms.get()
    }

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
pub(crate) fn check_lladdr(device: &Device, lladdr: &[u8]) -> Result<LlAddr, NeighError> {
    if lladdr.len() != device.cfg.addr_len {
        return Err(NeighError::BadLladdrLen {
            dev: device.id,
            expected: device.cfg.addr_len,
            got: lladdr.len(),
        });
    }
    Ok(LlAddr::new(lladdr).expect("addr_len <= MAX_ADDR_LEN (checked by add_device)"))
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::ParmsCell;
    use crate::parms::NeighParms;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Readers racing a writer that alternates between two parameter sets
    /// (every field different) always see one set or the other, never a
    /// mix: the seqlock's promise, with real threads.
    #[test]
    fn parms_snapshots_are_never_torn() {
        let a = NeighParms::default();
        let b = NeighParms {
            base_reachable_time: 7,
            retrans_time: 8,
            delay_probe_time: 9,
            gc_staletime: 10,
            ucast_probes: 11,
            mcast_probes: 12,
            mcast_reprobes: 13,
            app_probes: 14,
            unres_qlen_bytes: 15,
            unres_qlen: 16,
            locktime: 17,
            interval_probe_time: 18,
        };
        let cell = ParmsCell::new(a);
        let stop = AtomicBool::new(false);
        let reads = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        while !stop.load(Ordering::Relaxed) {
                            let p = cell.get();
                            assert!(p == a || p == b, "torn snapshot: {p:?}");
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            // Write until both sides have done plenty (the scheduler may
            // run either alone for a while).
            let mut i = 0u64;
            let done = |i| i >= 50_000 && reads.load(Ordering::Relaxed) >= 400_000;
            // (A reader that found a torn snapshot has stopped: stop too.)
            while !done(i) && !readers.iter().any(|r| r.is_finished()) {
                cell.set(if i % 2 == 0 { b } else { a });
                i += 1;
            }
            stop.store(true, Ordering::Relaxed);
            for r in readers {
                r.join().unwrap();
            }
        });
    }
}
