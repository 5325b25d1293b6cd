//! The packed timer handle word stored in [`super::Timer`].
//!
//! Layout of the `u64` (armed at least once):
//!
//! ```text
//!  63      62..32        31..24   23..0
//! [pend] [generation:31] [base:8] [slot:24]
//! ```
//!
//! A timer that was never armed has `slot == NO_SLOT` and keeps its *home*
//! base (the `base` argument of `Timer::new`, truncated to 32 bits) in bits
//! 24..56; the wheel reduces it modulo the number of bases.
//!
//! The pending bit is a hint maintained under the base lock: it is set when
//! the timer is armed and cleared by `del_timer`. The wheel never writes the
//! handle when a timer *expires* (the owner may be gone by then), so after an
//! expiry the bit is stale; the authoritative state is the slab node named by
//! `(base, slot, generation)`, which is freed (generation bumped) on expiry.

/// Bits of the slot index.
pub(super) const SLOT_BITS: u32 = 24;
/// Slot value meaning "never armed".
pub(super) const NO_SLOT: u32 = (1 << SLOT_BITS) - 1;
/// Largest number of slab slots per base.
pub(super) const MAX_SLOTS: usize = NO_SLOT as usize;
/// Generation mask (31 bits).
pub(super) const GEN_MASK: u32 = 0x7FFF_FFFF;
const BASE_SHIFT: u32 = 24;
const GEN_SHIFT: u32 = 32;
const PENDING: u64 = 1 << 63;

/// A decoded view of the handle word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loc(pub(super) u64);

impl Loc {
    /// The handle of a timer that was never armed, with home base `home`.
    #[inline]
    pub(super) fn unarmed(home: usize) -> Loc {
        Loc((u64::from(home as u32) << BASE_SHIFT) | u64::from(NO_SLOT))
    }

    /// The handle of a timer armed in `slot` (generation `gen`) of `base`.
    #[inline]
    pub(super) fn armed(base: usize, slot: u32, gen: u32) -> Loc {
        debug_assert!(base < 256 && slot < NO_SLOT);
        Loc(PENDING
            | (u64::from(gen & GEN_MASK) << GEN_SHIFT)
            | ((base as u64) << BASE_SHIFT)
            | u64::from(slot))
    }

    /// The slab slot, or `None` if the timer was never armed.
    #[inline]
    pub(super) fn slot(self) -> Option<u32> {
        let s = (self.0 as u32) & NO_SLOT;
        (s != NO_SLOT).then_some(s)
    }

    /// The base this handle names, for a wheel of `nbases` bases.
    #[inline]
    pub(super) fn base(self, nbases: usize) -> usize {
        if self.slot().is_none() {
            ((self.0 >> BASE_SHIFT) as u32) as usize % nbases
        } else {
            ((self.0 >> BASE_SHIFT) & 0xFF) as usize % nbases
        }
    }

    /// The generation of the named slot.
    #[inline]
    pub(super) fn gen(self) -> u32 {
        ((self.0 >> GEN_SHIFT) as u32) & GEN_MASK
    }

    /// The pending hint bit.
    #[inline]
    pub(super) fn pending(self) -> bool {
        self.0 & PENDING != 0
    }

    /// The same handle with the pending hint cleared.
    #[inline]
    pub(super) fn without_pending(self) -> Loc {
        Loc(self.0 & !PENDING)
    }

    /// The same handle with the pending hint set.
    #[inline]
    pub(super) fn with_pending(self) -> Loc {
        Loc(self.0 | PENDING)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip() {
        let l = Loc::armed(255, NO_SLOT - 1, GEN_MASK);
        assert_eq!(l.slot(), Some(NO_SLOT - 1));
        assert_eq!(l.base(256), 255);
        assert_eq!(l.gen(), GEN_MASK);
        assert!(l.pending());
        assert!(!l.without_pending().pending());
        assert_eq!(l.without_pending().with_pending(), l);
        let u = Loc::unarmed(1000);
        assert_eq!(u.slot(), None);
        assert_eq!(u.base(7), 1000 % 7);
        assert!(!u.pending());
    }
}
