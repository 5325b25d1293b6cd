//! Link-layer values: hardware addresses (`neigh->ha`) and cached headers
//! (`struct hh_cache`), as plain copyable data.
//!
//! This module owns the value types only; where they live (the entry's
//! seqlock) is `entry`'s business, and how a device builds a header is
//! `neigh::device`'s.

use core::fmt;

/// Longest link-layer address (`MAX_ADDR_LEN` is 32 in the kernel; 20 covers
/// Ethernet, EUI-64 and InfiniBand).
pub const MAX_ADDR_LEN: usize = 20;

/// Longest cached link-layer header (Ethernet needs 14 bytes; a device
/// whose header is its address alone needs `addr_len`).
pub const HH_MAX: usize = 24;

/// A link-layer (hardware) address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LlAddr {
    len: u8,
    bytes: [u8; MAX_ADDR_LEN],
}

impl LlAddr {
    /// An address from its bytes; `None` if longer than [`MAX_ADDR_LEN`].
    pub fn new(bytes: &[u8]) -> Option<LlAddr> {
        if bytes.len() > MAX_ADDR_LEN {
            return None;
        }
        let mut a = LlAddr {
            len: bytes.len() as u8,
            bytes: [0; MAX_ADDR_LEN],
        };
        a.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(a)
    }

    /// The first `len` bytes of `bytes` (at most [`MAX_ADDR_LEN`] and at
    /// most `bytes.len()`: longer requests are cut, never a panic). For
    /// lengths the crate validated earlier (`add_device`).
    pub(crate) fn prefix(bytes: &[u8], len: usize) -> LlAddr {
        let n = len.min(bytes.len()).min(MAX_ADDR_LEN);
        let mut a = LlAddr {
            len: n as u8,
            bytes: [0; MAX_ADDR_LEN],
        };
        a.bytes[..n].copy_from_slice(&bytes[..n]);
        a
    }

    /// The address bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Display for LlAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.as_bytes().iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for LlAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A cached link-layer header (`struct hh_cache`), copied out of an entry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hh {
    pub(crate) len: u8,
    pub(crate) bytes: [u8; HH_MAX],
}

impl Hh {
    /// The header bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for Hh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hh({:02x?})", self.as_bytes())
    }
}
