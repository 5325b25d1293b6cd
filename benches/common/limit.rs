//! `lookup_hit`'s `limit` id: the physical limit of a single-key hit in a
//! design whose entries cannot live inside the bucket array (`lookup_noref`
//! hands out references that stay valid under RCU): two dependent random
//! loads over a working set the size of the table's. A bucket array of
//! 8-byte slots, as many as the table has buckets, each naming a 128-byte
//! cell (key, device, header) in one dense array, as the entry slab packs
//! entries. One multiply picks the slot (linear probing, at the table's
//! half load); no pin, no state check, no seqlock: only the two misses and
//! the frame copy every contender does.

use crate::common::{emit, eth_header, Pkt, DEV, MAC_A};
use neighcache::neigh::HH_MAX;
use std::net::Ipv4Addr;

/// One 128-byte cell: what a hit reads.
#[repr(C, align(128))]
struct Cell {
    key: u32,
    dev: u32,
    len: u8,
    hh: [u8; HH_MAX],
}

const _: () = assert!(std::mem::size_of::<Cell>() == 128);

/// The two-load structure.
pub struct Limit {
    /// Cell index + 1 per slot; 0 is empty.
    slots: Vec<u64>,
    cells: Vec<Cell>,
    shift: u32,
}

impl Limit {
    /// `keys` in a bucket array of `buckets` slots (a power of two, at least
    /// as many as the keys: the table's own count at this size, twice the
    /// keys from 64 buckets up).
    pub fn new(keys: &[Ipv4Addr], buckets: usize) -> Limit {
        assert!(buckets.is_power_of_two() && buckets >= keys.len());
        let h = eth_header(MAC_A);
        let mut hh = [0u8; HH_MAX];
        hh[..h.header().len()].copy_from_slice(h.header());
        let mut l = Limit {
            slots: vec![0; buckets],
            cells: Vec::with_capacity(keys.len()),
            shift: 64 - buckets.trailing_zeros(),
        };
        for &k in keys {
            l.cells.push(Cell {
                key: u32::from(k),
                dev: DEV.0,
                len: h.header().len() as u8,
                hh,
            });
            let mask = buckets - 1;
            let mut i = l.slot(u32::from(k));
            while l.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            l.slots[i] = l.cells.len() as u64;
        }
        l
    }

    #[inline(always)]
    fn slot(&self, key: u32) -> usize {
        let x = (u64::from(key) | u64::from(DEV.0) << 32).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (x >> self.shift) as usize
    }

    /// Find `k` and build its frame.
    #[inline]
    pub fn hit(&self, k: Ipv4Addr, seq: u32) {
        let key = u32::from(k);
        let mask = self.slots.len() - 1;
        let mut i = self.slot(key);
        loop {
            let c = &self.cells[(self.slots[i] - 1) as usize];
            if c.key == key && c.dev == DEV.0 {
                emit(&c.hh[..c.len as usize], Pkt(seq));
                return;
            }
            i = (i + 1) & mask;
        }
    }
}
