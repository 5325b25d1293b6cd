//! The packed timer handle word stored in [`super::Timer`]: which slab node
//! of which base a timer is (or was last) armed in.
//!
//! Owns the bit layout, defined **once** below as a list of [`Field`]s from
//! which every shift, mask and limit is derived (`MAX_BASES`, the slot limit,
//! the generation mask). Plain values, no lock: the word itself is read and
//! written by `mod.rs` under the rules of its locking protocol.
//!
//! Layout of the `u64` once the timer was armed at least once:
//!
//! ```text
//!  63      62..32        31..24   23..0
//! [pend] [generation:31] [base:8] [slot:24]
//! ```
//!
//! A timer that was never armed has `slot == NO_SLOT` and keeps its *home*
//! base (the `base` argument of `Timer::new`, truncated to 32 bits) in the
//! [`HOME`] field, which overlays `base` and `generation` (a never-armed
//! handle has neither); the wheel reduces it modulo the number of bases.
//!
//! The pending bit is a hint maintained under the base lock: it is set when
//! the timer is armed and cleared by `del_timer`. The wheel never writes the
//! handle when a timer *expires* (the owner may be gone by then), so after an
//! expiry the bit is stale; the authoritative state is the slab node named by
//! `(base, slot, generation)`, which is freed (generation bumped) on expiry.
//!
//! # Why a stale handle never names another timer's node
//!
//! A handle goes stale when its node is freed (expiry or delete): the node's
//! generation moves on, so `Base::valid` no longer matches. The generation
//! has 31 bits, so without care it would come back to the same value after
//! 2^31 reuses of one slot, and a handle left untouched that long (a
//! neighbour entry in STALE, with no timer, for the half hour a busy base
//! needs to recycle one slot 2^31 times) would then match whatever timer
//! occupies the node: `del_timer_sync` would cancel that timer, `mod_timer`
//! would move it, and the neighbour table would drop a timer reference it
//! does not own. The base therefore **retires** a slot instead of letting
//! its generation wrap (`Base::free`): each slot serves exactly 2^31 armings,
//! then stays unused forever, so a `(base, slot, generation)` triple names at
//! most one arming in the lifetime of a base. The cost is one 32-byte node
//! per 2^31 armings of one slot; retirements count against the slot limit,
//! which needs 2^55 armings on one base to matter.

/// One field of the handle word: `bits` bits starting at bit `shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Field {
    /// Lowest bit of the field.
    pub(super) shift: u32,
    /// Width in bits (1..=63).
    pub(super) bits: u32,
}

impl Field {
    /// The field at the bottom of the word.
    const fn first(bits: u32) -> Field {
        Field { shift: 0, bits }
    }

    /// The field directly above `self`.
    const fn then(self, bits: u32) -> Field {
        Field {
            shift: self.end(),
            bits,
        }
    }

    /// One past the highest bit of the field.
    pub(super) const fn end(self) -> u32 {
        self.shift + self.bits
    }

    /// The largest value the field holds (all ones).
    pub(super) const fn max(self) -> u64 {
        (1 << self.bits) - 1
    }

    /// The field's bits within the word.
    pub(super) const fn mask(self) -> u64 {
        self.max() << self.shift
    }

    /// Extract the field from `word`.
    #[inline]
    const fn get(self, word: u64) -> u64 {
        (word >> self.shift) & self.max()
    }

    /// `value` placed in the field (`value` must fit).
    #[inline]
    fn put(self, value: u64) -> u64 {
        debug_assert!(value <= self.max(), "{value} does not fit {self:?}");
        value << self.shift
    }
}

/// The slab slot (index into the base's node slab).
pub(super) const SLOT: Field = Field::first(24);
/// The base the node lives in.
pub(super) const BASE: Field = SLOT.then(8);
/// The node's generation when the handle was written.
pub(super) const GEN: Field = BASE.then(31);
/// The pending hint.
pub(super) const PENDING: Field = GEN.then(1);
/// The home base of a never-armed timer (overlays `BASE` and `GEN`).
pub(super) const HOME: Field = Field {
    shift: BASE.shift,
    bits: 32,
};

/// The fields of an armed handle, which tile the word.
#[cfg(test)]
const ARMED_FIELDS: [Field; 4] = [SLOT, BASE, GEN, PENDING];

const _: () = assert!(PENDING.end() == u64::BITS, "fields must fill the word");
const _: () = assert!(HOME.shift == BASE.shift && HOME.end() <= PENDING.shift);

/// Slot value meaning "never armed" (all ones).
pub(super) const NO_SLOT: u32 = SLOT.max() as u32;
/// Number of slab slots per base (`0..NO_SLOT`).
pub(super) const MAX_SLOTS: usize = NO_SLOT as usize;
/// Number of bases the base field can name.
pub(super) const MAX_BASES: usize = 1 << BASE.bits;
/// Generation mask.
pub(super) const GEN_MASK: u32 = GEN.max() as u32;

/// A decoded view of the handle word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loc(pub(super) u64);

impl Loc {
    /// The handle of a timer that was never armed, with home base `home`.
    #[inline]
    pub(super) fn unarmed(home: usize) -> Loc {
        Loc(HOME.put(u64::from(home as u32)) | SLOT.put(u64::from(NO_SLOT)))
    }

    /// The handle of a timer armed in `slot` (generation `gen`) of `base`.
    #[inline]
    pub(super) fn armed(base: usize, slot: u32, gen: u32) -> Loc {
        debug_assert!(base < MAX_BASES && slot < NO_SLOT);
        Loc(PENDING.put(1)
            | GEN.put(u64::from(gen & GEN_MASK))
            | BASE.put(base as u64)
            | SLOT.put(u64::from(slot)))
    }

    /// The slab slot, or `None` if the timer was never armed.
    #[inline]
    pub(super) fn slot(self) -> Option<u32> {
        let s = SLOT.get(self.0) as u32;
        (s != NO_SLOT).then_some(s)
    }

    /// The base this handle names, for a wheel of `nbases` bases.
    #[inline]
    pub(super) fn base(self, nbases: usize) -> usize {
        let field = if self.slot().is_none() { HOME } else { BASE };
        field.get(self.0) as usize % nbases
    }

    /// The generation of the named slot.
    #[inline]
    pub(super) fn gen(self) -> u32 {
        GEN.get(self.0) as u32
    }

    /// The pending hint bit.
    #[inline]
    pub(super) fn pending(self) -> bool {
        self.0 & PENDING.mask() != 0
    }

    /// The same handle with the pending hint cleared.
    #[inline]
    pub(super) fn without_pending(self) -> Loc {
        Loc(self.0 & !PENDING.mask())
    }

    /// The same handle with the pending hint set.
    #[inline]
    pub(super) fn with_pending(self) -> Loc {
        Loc(self.0 | PENDING.mask())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_tile_the_word_without_overlap() {
        let mut seen = 0u64;
        let mut next_shift = 0;
        for f in ARMED_FIELDS {
            assert!((1..64).contains(&f.bits), "{f:?}");
            assert_eq!(f.shift, next_shift, "{f:?} leaves a gap or overlaps");
            assert_eq!(seen & f.mask(), 0, "{f:?} overlaps");
            assert_eq!(f.mask().count_ones(), f.bits);
            seen |= f.mask();
            next_shift = f.end();
        }
        assert_eq!(seen, u64::MAX, "fields do not cover the word");
        // The home base lives in bits that a never-armed handle leaves free.
        assert_eq!(HOME.mask() & (SLOT.mask() | PENDING.mask()), 0);
        assert_eq!(HOME.mask() & !(BASE.mask() | GEN.mask()), 0);
        assert_eq!(MAX_BASES, 256);
        assert_eq!(MAX_SLOTS, (1 << 24) - 1);
        assert_eq!(GEN_MASK, 0x7FFF_FFFF);
    }

    #[test]
    fn pack_roundtrip() {
        let l = Loc::armed(MAX_BASES - 1, NO_SLOT - 1, GEN_MASK);
        assert_eq!(l.slot(), Some(NO_SLOT - 1));
        assert_eq!(l.base(MAX_BASES), MAX_BASES - 1);
        assert_eq!(l.gen(), GEN_MASK);
        assert!(l.pending());
        assert!(!l.without_pending().pending());
        assert_eq!(l.without_pending().with_pending(), l);
        let z = Loc::armed(0, 0, 0);
        assert_eq!((z.slot(), z.base(1), z.gen()), (Some(0), 0, 0));
        let u = Loc::unarmed(1000);
        assert_eq!(u.slot(), None);
        assert_eq!(u.base(7), 1000 % 7);
        assert!(!u.pending());
        let big = Loc::unarmed(u32::MAX as usize);
        assert_eq!(big.slot(), None);
        assert_eq!(big.base(MAX_BASES), u32::MAX as usize % MAX_BASES);
        assert!(!big.pending());
    }
}
