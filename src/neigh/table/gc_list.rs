//! The `gc_list` (`tbl->gc_list`): the GC-eligible entries, oldest first,
//! as a doubly linked list of items in a chunked slab.
//!
//! Rules: owned by the table lock (`Locked::gc`); an entry's place on it
//! (`EntryLocked::gc_link`) is written only here, under the table lock and
//! that entry's lock. Every operation is O(1) (allocation takes the lowest
//! chunk with room, a scan of at most 64 bitmap words): no pass over the
//! items and no copy of them, ever. This file knows nothing of entries
//! beyond their `gc_link` and of GC policy (`gc.rs`).
//!
//! The kernel threads a `list_head` through each entry; ours has no room in
//! its two cache lines (SPEC.md §6), so each item is `(key, device, prev,
//! next)` in a slab of fixed-size chunks (growth never moves an item) and
//! the entry keeps its item index in three spare bytes. Freed items go on
//! their chunk's free list and are reused lowest chunk first, so a list
//! that shrinks drains its last chunks, which are then returned to the
//! allocator (one empty chunk is kept as a spare, so a list that hovers at
//! a chunk boundary does not allocate and free a chunk per insert).

use crate::neigh::entry::{EntryLocked, GcLink};
use crate::neigh::DevId;

/// Items per chunk: 64 KiB of IPv4 items, 112 KiB of IPv6 ones.
pub(super) const CHUNK: usize = 4096;
/// Most chunks: every item index fits the entry's 24 bits.
const MAX_CHUNKS: usize = (1 << 24) / CHUNK;
/// No item (list ends, empty free lists).
const NIL: u32 = u32::MAX;

/// One item: an entry on the list (its key and device, so the walk can
/// find it in the hash), or a free item (then `next` links the chunk's
/// free list, as a local index).
#[derive(Clone, Copy)]
struct Item<K> {
    key: K,
    dev: DevId,
    prev: u32,
    next: u32,
}

struct Chunk<K> {
    /// Items handed out so far (the rest of the capacity was never used);
    /// grows to at most [`CHUNK`] without moving (the capacity is reserved
    /// once it passes a small first size, see `alloc`).
    items: Vec<Item<K>>,
    /// Head of this chunk's free list (local index) or `NIL`.
    free: u32,
    /// Items of this chunk on the list.
    live: u32,
}

impl<K> Chunk<K> {
    fn has_room(&self) -> bool {
        self.free != NIL || self.items.len() < CHUNK
    }
}

/// `tbl->gc_list`: the GC-eligible entries (not PERMANENT, not externally
/// learned) in the order they became eligible; `len` is `gc_entries`.
pub(crate) struct GcList<K> {
    chunks: Vec<Chunk<K>>,
    /// Bit `c` set: chunk `c` has a free or never-used item.
    room: Vec<u64>,
    head: u32,
    tail: u32,
    live: usize,
}

impl<K: Copy> GcList<K> {
    pub(crate) fn new() -> Self {
        GcList {
            chunks: Vec::new(),
            room: vec![0; MAX_CHUNKS / 64],
            head: NIL,
            tail: NIL,
            live: 0,
        }
    }

    /// `gc_entries`.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Append the entry (`key`, `dev`) whose lock `g` the caller holds at
    /// the tail (`list_add_tail`), unless it is on the list.
    pub(super) fn insert<P>(&mut self, key: K, dev: DevId, g: &mut EntryLocked<P>) {
        if g.gc_link.get().is_some() {
            return;
        }
        let idx = self.alloc(Item {
            key,
            dev,
            prev: self.tail,
            next: NIL,
        });
        match self.tail {
            NIL => self.head = idx,
            t => self.item_mut(t).next = idx,
        }
        self.tail = idx;
        self.live += 1;
        g.gc_link = GcLink::at(idx);
    }

    /// Take the entry whose lock `g` the caller holds off the list
    /// (`list_del_init`), if it is on it.
    pub(super) fn remove<P>(&mut self, g: &mut EntryLocked<P>) {
        let Some(idx) = g.gc_link.get() else {
            return;
        };
        g.gc_link = GcLink::NONE;
        let Item { prev, next, .. } = *self.item(idx);
        match prev {
            NIL => self.head = next,
            p => self.item_mut(p).next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.item_mut(n).prev = prev,
        }
        self.live -= 1;
        self.free(idx);
    }

    /// The oldest item.
    pub(super) fn first(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    /// Item `idx` (from `first` or a previous `get`): its entry's key and
    /// device, and the next (younger) item. A walk reads the next item
    /// before it removes this one, so it may remove the item it stands on.
    pub(super) fn get(&self, idx: u32) -> (K, DevId, Option<u32>) {
        let it = self.item(idx);
        (it.key, it.dev, (it.next != NIL).then_some(it.next))
    }

    /// Bytes the list holds from the allocator (items and chunk headers;
    /// tests).
    #[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
    fn bytes(&self) -> usize {
        self.chunks.capacity() * core::mem::size_of::<Chunk<K>>()
            + self
                .chunks
                .iter()
                .map(|c| c.items.capacity() * core::mem::size_of::<Item<K>>())
                .sum::<usize>()
            + self.room.len() * 8
    }

    fn item(&self, idx: u32) -> &Item<K> {
        let i = idx as usize;
        &self.chunks[i / CHUNK].items[i % CHUNK]
    }

    fn item_mut(&mut self, idx: u32) -> &mut Item<K> {
        let i = idx as usize;
        &mut self.chunks[i / CHUNK].items[i % CHUNK]
    }

    fn set_room(&mut self, c: usize, room: bool) {
        let (w, b) = (c / 64, 1u64 << (c % 64));
        if room {
            self.room[w] |= b;
        } else {
            self.room[w] &= !b;
        }
    }

    /// Store `item` in the lowest chunk with room (a new chunk if none) and
    /// return its index.
    fn alloc(&mut self, item: Item<K>) -> u32 {
        let c = match self.room.iter().position(|&w| w != 0) {
            Some(w) => w * 64 + self.room[w].trailing_zeros() as usize,
            None => {
                // Fewer than 2^24 items are ever live (MAX_ENTRIES, see
                // `GcLink`), so every chunk up to MAX_CHUNKS is full here
                // only if that bound were broken.
                assert!(self.chunks.len() < MAX_CHUNKS, "gc_list: 2^24 items");
                self.chunks.push(Chunk {
                    items: Vec::with_capacity(64),
                    free: NIL,
                    live: 0,
                });
                self.set_room(self.chunks.len() - 1, true);
                self.chunks.len() - 1
            }
        };
        let ch = &mut self.chunks[c];
        let local = if ch.free != NIL {
            let l = ch.free;
            ch.free = ch.items[l as usize].next;
            ch.items[l as usize] = item;
            l as usize
        } else {
            if ch.items.len() == ch.items.capacity() {
                // Doubling up to one chunk: at most CHUNK items are ever
                // copied, and only while the chunk is young.
                let want = (2 * ch.items.capacity()).min(CHUNK);
                ch.items.reserve_exact(want - ch.items.len());
            }
            ch.items.push(item);
            ch.items.len() - 1
        };
        ch.live += 1;
        if !ch.has_room() {
            self.set_room(c, false);
        }
        (c * CHUNK + local) as u32
    }

    /// Put item `idx` (already unlinked) on its chunk's free list, and
    /// return trailing chunks that are empty to the allocator, keeping one.
    fn free(&mut self, idx: u32) {
        let (c, local) = (idx as usize / CHUNK, (idx as usize % CHUNK) as u32);
        let ch = &mut self.chunks[c];
        ch.items[local as usize].next = ch.free;
        ch.free = local;
        ch.live -= 1;
        self.set_room(c, true);
        while let [.., spare, last] = &self.chunks[..] {
            if spare.live != 0 || last.live != 0 {
                break;
            }
            self.chunks.pop();
            self.set_room(self.chunks.len(), false);
        }
    }

    /// Chunks held (tests).
    #[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
    fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// The keys, oldest first (tests).
    #[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
    pub(super) fn keys(&self) -> Vec<K> {
        let mut v = Vec::new();
        let mut at = self.first();
        while let Some(i) = at {
            let (k, _, next) = self.get(i);
            v.push(k);
            at = next;
        }
        v
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn locked() -> EntryLocked<()> {
        EntryLocked {
            dead: false,
            destroyed: false,
            flags: 0,
            gc_link: GcLink::NONE,
            probes: 0,
            updated: 0,
            arp_queue: None,
        }
    }

    /// A list of `n` entries 0..n, with their locks.
    fn filled(n: u32) -> (GcList<u32>, Vec<EntryLocked<()>>) {
        let mut l = GcList::new();
        let mut g: Vec<_> = (0..n).map(|_| locked()).collect();
        for (k, g) in g.iter_mut().enumerate() {
            l.insert(k as u32, DevId(1), g);
        }
        (l, g)
    }

    /// The figures SPEC.md §9 gives: bytes per item, and the entry's lock
    /// unchanged at 24 bytes (so the entry stays 128 B).
    #[test]
    fn item_and_lock_sizes() {
        use core::mem::size_of;
        assert_eq!(size_of::<Item<Ipv4Addr>>(), 16);
        assert_eq!(size_of::<Item<Ipv6Addr>>(), 28);
        assert_eq!(size_of::<EntryLocked<Vec<u8>>>(), 24);
    }

    /// The link round-trips every 24-bit index below the limit.
    #[test]
    fn gc_link_round_trips() {
        assert_eq!(GcLink::NONE.get(), None);
        for i in [0, 1, 255, 256, 65_535, 65_536, (1 << 24) - 2] {
            assert_eq!(GcLink::at(i).get(), Some(i));
        }
    }

    /// Order is insertion order; a removal anywhere (head, middle, tail)
    /// keeps the others' order and the count exact; re-inserting appends;
    /// inserting an entry on the list or removing one off it does nothing.
    #[test]
    fn order_counts_and_removal_anywhere() {
        let (mut l, mut g) = filled(6);
        assert_eq!(l.keys(), [0, 1, 2, 3, 4, 5]);
        l.remove(&mut g[3]);
        assert_eq!(l.keys(), [0, 1, 2, 4, 5]);
        l.remove(&mut g[0]);
        l.remove(&mut g[5]);
        assert_eq!((l.keys(), l.len()), (vec![1, 2, 4], 3));
        l.remove(&mut g[5]);
        assert_eq!(l.len(), 3, "removing twice is a no-op");
        l.insert(1, DevId(1), &mut g[1]);
        assert_eq!(l.keys(), [1, 2, 4], "inserting twice is a no-op");
        l.insert(0, DevId(1), &mut g[0]);
        assert_eq!((l.keys(), l.len()), (vec![1, 2, 4, 0], 4));
        for i in [1, 2, 4, 0] {
            l.remove(&mut g[i]);
        }
        assert_eq!((l.keys(), l.len(), l.first()), (vec![], 0, None));
        assert!(g.iter().all(|g| g.gc_link == GcLink::NONE));
    }

    /// Freed items are reused (lowest chunk first) instead of growing the
    /// slab, and a long churn at a fixed size keeps the slab at that size.
    #[test]
    fn freed_items_are_reused() {
        let (mut l, mut g) = filled(3 * CHUNK as u32);
        assert_eq!(l.chunks(), 3);
        let idx = g[5].gc_link.get();
        l.remove(&mut g[5]);
        l.insert(5, DevId(1), &mut g[5]);
        assert_eq!(g[5].gc_link.get(), idx, "the freed item, reused");
        assert_eq!(*l.keys().last().unwrap(), 5, "but at the tail");
        // Churn: remove the oldest, insert it again, 10 chunks' worth.
        for r in 0..10 * CHUNK {
            let k = l.get(l.first().unwrap()).0 as usize;
            l.remove(&mut g[k]);
            l.insert(k as u32, DevId(1), &mut g[k]);
            assert_eq!(l.len(), 3 * CHUNK, "round {r}");
        }
        assert_eq!(l.chunks(), 3);
    }

    /// A list that empties returns its chunks but one; one that shrinks
    /// to a chunk's worth of young items keeps their chunks only.
    #[test]
    fn a_drained_list_returns_its_chunks() {
        let (mut l, mut g) = filled(5 * CHUNK as u32 + 7);
        assert_eq!(l.chunks(), 6);
        let full = l.bytes();
        for g in g.iter_mut().take(4 * CHUNK) {
            l.remove(g);
        }
        // Chunks 0..4 are empty but lie below live ones: kept, and reused
        // first, so the list refills them before it grows.
        assert_eq!(l.chunks(), 6);
        for (k, g) in g.iter_mut().enumerate().take(4 * CHUNK) {
            l.insert(k as u32, DevId(1), g);
        }
        assert_eq!(l.chunks(), 6);
        // Now drain the newest items first: the tail chunks go.
        for g in g.iter_mut().rev() {
            l.remove(g);
        }
        assert_eq!((l.len(), l.chunks()), (0, 1));
        assert!(l.bytes() < full / 4, "{} of {full}", l.bytes());
        // And it works again from empty.
        l.insert(9, DevId(1), &mut g[9]);
        assert_eq!(l.keys(), [9]);
    }
}
