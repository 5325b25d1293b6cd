//! The node store of a [`WheelCore`](super::WheelCore): a vector of
//! fixed-size chunks, so that growing it never moves the nodes already in
//! it. (A plain `Vec` doubles: at a million timers, arming one more copied
//! 32 MiB and faulted in 64 MiB under the base lock, an O(n) pause for every
//! thread arming a timer and for `run_timers`; SPEC.md §7, "Run budget".)
//!
//! Rules: plain data, no lock, no atomic. This file owns the storage only
//! (index, push, iterate); what a node means, and which nodes are free, is
//! `slab.rs`'s.

use super::slab::Node;
use core::ops::{Index, IndexMut};

/// Nodes per chunk (`2^CHUNK_BITS`): 4096 nodes of 32 bytes, 128 KiB.
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Indexed like a `Vec<Node>`; `push` allocates a new chunk when the last
/// is full and never reallocates one (each chunk is created with its full
/// capacity), so growth costs O(1) node copies: only the small vector of
/// chunk pointers doubles (8 bytes per 4096 nodes).
#[derive(Debug, Default)]
pub(crate) struct Nodes {
    chunks: Vec<Vec<Node>>,
    len: usize,
}

impl Nodes {
    /// Room for `n` nodes before the first new chunk.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let k = n.div_ceil(CHUNK);
        Nodes {
            chunks: (0..k).map(|_| Vec::with_capacity(CHUNK)).collect(),
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&Node> {
        (i < self.len).then(|| &self[i])
    }

    /// Append a node (slot `len()`).
    #[inline]
    pub(crate) fn push(&mut self, n: Node) {
        let c = self.len >> CHUNK_BITS;
        if c == self.chunks.len() {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let chunk = &mut self.chunks[c];
        debug_assert!(chunk.len() < CHUNK && chunk.capacity() >= CHUNK);
        chunk.push(n);
        self.len += 1;
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Node> {
        self.chunks.iter().flatten()
    }
}

impl Index<usize> for Nodes {
    type Output = Node;
    #[inline]
    fn index(&self, i: usize) -> &Node {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

impl IndexMut<usize> for Nodes {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut Node {
        &mut self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timer::seq::WheelCore;

    #[test]
    fn growth_never_moves_a_node() {
        let mut w = WheelCore::new(0);
        let k = w.insert(5, 0);
        let first: *const Node = w.node(0);
        for i in 1..3 * CHUNK + 7 {
            w.insert(10 + i as u64, i);
        }
        assert!(core::ptr::eq(first, w.node(0)), "the first node moved");
        assert_eq!(w.nodes.len(), 3 * CHUNK + 7);
        assert_eq!(w.nodes.iter().count(), 3 * CHUNK + 7);
        assert_eq!(w.expires(k), Some(5));
        let mut fired = 0;
        w.advance(10 + 3 * CHUNK as u64 + 7, |_, _| fired += 1)
            .unwrap();
        assert_eq!(fired, 3 * CHUNK + 7);
    }
}
