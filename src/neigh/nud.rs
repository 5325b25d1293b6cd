//! NUD (Neighbour Unreachability Detection) states, the kernel's state masks,
//! the `neigh_update` flags and the entry flags (`NTF_*`).
//!
//! This module owns the *vocabulary* of the state machine: the states are
//! bits, as in `include/net/neighbour.h`, so the kernel's masks
//! (`NUD_IN_TIMER`, `NUD_VALID`, `NUD_CONNECTED`) are plain bit tests. The
//! transitions themselves live with the code that performs them, one file
//! per event in `neigh::table` (`output.rs` for `__neigh_event_send`,
//! `update.rs` for `neigh_update` and `__neigh_set_probe_once`,
//! `nud_timer.rs` for `neigh_timer_handler`, `flush.rs` for removal).

use core::fmt;

/// A NUD state (one bit set), or a mask of several.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NudState(pub(crate) u8);

impl NudState {
    /// `NUD_NONE`: no state yet (just created, or reset by a device flush).
    pub const NONE: NudState = NudState(0x00);
    /// `NUD_INCOMPLETE`: resolution in progress, packets queue.
    pub const INCOMPLETE: NudState = NudState(0x01);
    /// `NUD_REACHABLE`: confirmed recently; output uses the cached header.
    pub const REACHABLE: NudState = NudState(0x02);
    /// `NUD_STALE`: address known but unconfirmed; the next packet arms DELAY.
    pub const STALE: NudState = NudState(0x04);
    /// `NUD_DELAY`: waiting for an upper-layer confirmation before probing.
    pub const DELAY: NudState = NudState(0x08);
    /// `NUD_PROBE`: unicast probes in flight.
    pub const PROBE: NudState = NudState(0x10);
    /// `NUD_FAILED`: resolution failed; queued packets were reported.
    pub const FAILED: NudState = NudState(0x20);
    /// `NUD_NOARP`: the device needs no resolution.
    pub const NOARP: NudState = NudState(0x40);
    /// `NUD_PERMANENT`: administratively configured, never expires.
    pub const PERMANENT: NudState = NudState(0x80);

    /// `NUD_IN_TIMER`: states whose entry has an armed timer.
    pub const IN_TIMER: NudState = NudState(0x01 | 0x02 | 0x08 | 0x10);
    /// `NUD_VALID`: states in which the link-layer address is known.
    pub const VALID: NudState = NudState(0x80 | 0x40 | 0x02 | 0x10 | 0x04 | 0x08);
    /// `NUD_CONNECTED`: states in which output needs no event.
    pub const CONNECTED: NudState = NudState(0x80 | 0x40 | 0x02);

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// From raw bits (any combination is accepted; masks are bit sets).
    pub const fn from_bits(bits: u8) -> Self {
        NudState(bits)
    }

    /// Does `self` share a bit with `mask` (the kernel's `state & MASK`)?
    pub const fn is(self, mask: NudState) -> bool {
        self.0 & mask.0 != 0
    }

    /// The kernel's name for a single state, as `ip neigh` prints it.
    pub fn name(self) -> &'static str {
        match self {
            NudState::NONE => "NONE",
            NudState::INCOMPLETE => "INCOMPLETE",
            NudState::REACHABLE => "REACHABLE",
            NudState::STALE => "STALE",
            NudState::DELAY => "DELAY",
            NudState::PROBE => "PROBE",
            NudState::FAILED => "FAILED",
            NudState::NOARP => "NOARP",
            NudState::PERMANENT => "PERMANENT",
            _ => "MASK",
        }
    }

    /// Is this exactly one state (or NONE), rather than a mask?
    pub const fn is_single(self) -> bool {
        self.0.count_ones() <= 1
    }
}

impl fmt::Debug for NudState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            f.write_str(self.name())
        } else {
            write!(f, "NudState({:#04x})", self.0)
        }
    }
}

impl fmt::Display for NudState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl core::ops::BitOr for NudState {
    type Output = NudState;
    fn bitor(self, rhs: NudState) -> NudState {
        NudState(self.0 | rhs.0)
    }
}

/// Flags of `neigh_update` (`NEIGH_UPDATE_F_*`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UpdateFlags(pub(crate) u32);

impl UpdateFlags {
    /// No flags.
    pub const NONE: UpdateFlags = UpdateFlags(0);
    /// `NEIGH_UPDATE_F_OVERRIDE`: a different lladdr replaces the cached one.
    pub const OVERRIDE: UpdateFlags = UpdateFlags(0x0000_0001);
    /// `NEIGH_UPDATE_F_WEAK_OVERRIDE`: a different lladdr on a CONNECTED
    /// entry only makes it STALE (NDP "override" bit clear).
    pub const WEAK_OVERRIDE: UpdateFlags = UpdateFlags(0x0000_0002);
    /// `NEIGH_UPDATE_F_OVERRIDE_ISROUTER`: the ISROUTER flag may change.
    pub const OVERRIDE_ISROUTER: UpdateFlags = UpdateFlags(0x0000_0004);
    /// `NEIGH_UPDATE_F_MANAGED` (with ADMIN only): mark the entry
    /// [`NeighFlags::MANAGED`] (kept resolved by periodic probing); the
    /// update then only clears PERMANENT and changes nothing else, as in
    /// the kernel. An ADMIN update without it clears the flag.
    pub const MANAGED: UpdateFlags = UpdateFlags(0x0000_0010);
    /// `NEIGH_UPDATE_F_EXT_LEARNED` (with ADMIN only): mark the entry
    /// [`NeighFlags::EXT_LEARNED`] (learned from another source: never
    /// collected by GC). An ADMIN update without it clears the flag.
    pub const EXT_LEARNED: UpdateFlags = UpdateFlags(0x0000_0020);
    /// `NEIGH_UPDATE_F_ISROUTER`: the neighbour is a router (NDP).
    pub const ISROUTER: UpdateFlags = UpdateFlags(0x4000_0000);
    /// `NEIGH_UPDATE_F_ADMIN`: administrative change; may touch NOARP and
    /// PERMANENT entries.
    pub const ADMIN: UpdateFlags = UpdateFlags(0x8000_0000);

    /// Does `self` contain every bit of `other`?
    pub const fn contains(self, other: UpdateFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for UpdateFlags {
    type Output = UpdateFlags;
    fn bitor(self, rhs: UpdateFlags) -> UpdateFlags {
        UpdateFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for UpdateFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::OVERRIDE, "OVERRIDE"),
            (Self::WEAK_OVERRIDE, "WEAK_OVERRIDE"),
            (Self::OVERRIDE_ISROUTER, "OVERRIDE_ISROUTER"),
            (Self::MANAGED, "MANAGED"),
            (Self::EXT_LEARNED, "EXT_LEARNED"),
            (Self::ISROUTER, "ISROUTER"),
            (Self::ADMIN, "ADMIN"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(fl, _)| self.contains(*fl))
            .map(|(_, n)| *n)
            .collect();
        write!(
            f,
            "UpdateFlags({})",
            if set.is_empty() {
                "NONE".to_string()
            } else {
                set.join("|")
            }
        )
    }
}

/// An entry's flags (the kernel's `neigh->flags`, `NTF_*`), as `ip neigh`
/// shows them: `router`, `extern_learn`, `managed`. The values are the
/// kernel's.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NeighFlags(pub(crate) u32);

impl NeighFlags {
    /// No flags.
    pub const NONE: NeighFlags = NeighFlags(0);
    /// `NTF_EXT_LEARNED`: added from another source (a control plane,
    /// hardware); never collected by GC nor counted against its
    /// thresholds.
    pub const EXT_LEARNED: NeighFlags = NeighFlags(0x10);
    /// `NTF_ROUTER`: the neighbour is a router (an NDP advertisement's R
    /// flag, or an administrative update).
    pub const ROUTER: NeighFlags = NeighFlags(0x80);
    /// `NTF_MANAGED` (`NTF_EXT_MANAGED << NTF_EXT_SHIFT`, Linux 5.16): kept
    /// resolved by probing every `interval_probe_time`, with or without
    /// traffic.
    pub const MANAGED: NeighFlags = NeighFlags(0x100);

    const ALL: [(NeighFlags, u8, &'static str); 3] = [
        (Self::ROUTER, 0x01, "router"),
        (Self::EXT_LEARNED, 0x02, "extern_learn"),
        (Self::MANAGED, 0x04, "managed"),
    ];

    /// The raw bits (the kernel's values).
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Does `self` contain every bit of `other`?
    pub const fn contains(self, other: NeighFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Is no flag set?
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The flags in the one byte the entry lock protects.
    pub(crate) fn to_byte(self) -> u8 {
        Self::ALL
            .iter()
            .filter(|(f, _, _)| self.contains(*f))
            .fold(0, |b, (_, bit, _)| b | bit)
    }

    /// The inverse of [`to_byte`](Self::to_byte).
    pub(crate) fn from_byte(b: u8) -> Self {
        Self::ALL
            .iter()
            .filter(|(_, bit, _)| b & bit != 0)
            .fold(NeighFlags::NONE, |f, (x, _, _)| f | *x)
    }

    /// The flags as `ip neigh` prints them, space separated.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::ALL
            .into_iter()
            .filter(move |(f, _, _)| self.contains(*f))
            .map(|(_, _, n)| n)
    }
}

impl core::ops::BitOr for NeighFlags {
    type Output = NeighFlags;
    fn bitor(self, rhs: NeighFlags) -> NeighFlags {
        NeighFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for NeighFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.names().collect();
        write!(
            f,
            "NeighFlags({})",
            if names.is_empty() {
                "NONE".to_string()
            } else {
                names.join("|")
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::NudState as S;

    #[test]
    fn masks_match_the_kernel() {
        // include/net/neighbour.h
        assert_eq!(S::IN_TIMER.bits(), 0x1b);
        assert_eq!(S::VALID.bits(), 0xde);
        assert_eq!(S::CONNECTED.bits(), 0xc2);
        assert!(S::STALE.is(S::VALID) && !S::STALE.is(S::CONNECTED) && !S::STALE.is(S::IN_TIMER));
        assert!(S::DELAY.is(S::IN_TIMER) && S::DELAY.is(S::VALID));
        assert!(!S::FAILED.is(S::VALID) && !S::INCOMPLETE.is(S::VALID));
        assert_eq!(format!("{:?}", S::PROBE), "PROBE");
    }

    #[test]
    fn flags_are_the_kernels_and_fit_a_byte() {
        use super::NeighFlags as N;
        // include/uapi/linux/neighbour.h
        assert_eq!(N::ROUTER.bits(), 0x80);
        assert_eq!(N::EXT_LEARNED.bits(), 0x10);
        assert_eq!(N::MANAGED.bits(), 1 << 8);
        let all = N::ROUTER | N::EXT_LEARNED | N::MANAGED;
        assert_eq!(N::from_byte(all.to_byte()), all);
        assert_eq!(N::from_byte(N::MANAGED.to_byte()), N::MANAGED);
        assert_eq!(
            format!("{all:?}"),
            "NeighFlags(router|extern_learn|managed)"
        );
    }
}
