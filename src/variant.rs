//! Broken variants for the race matrix (SPEC.md §8): each [`Rule`] names
//! one rule a row of the matrix protects, and a model build can remove it
//! from one table (or one timer wheel) to show what fails without it.
//!
//! Rules of this module: the switch exists only under the `loom` /
//! `shuttle` features. A default build has the [`Rule`] names (crate
//! private) but no field, no setter and no way to remove a rule: `keeps`
//! there is the constant `true`, so every `if self.keeps(..)` folds to the
//! fixed code and the broken branch is not compiled in (SPEC.md §8 says how
//! this is checked). Call sites are one-liners that name their row.

/// A rule of the race matrix that a model build can remove.
#[cfg_attr(any(feature = "loom", feature = "shuttle"), doc(hidden))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Rule {
    /// L1-L3 (the 2015 fix, 2c51a97f76d2): `__neigh_event_send`,
    /// `neigh_update` and `__neigh_set_probe_once` check `dead` under the
    /// entry lock. Removed: the pre-2015 kernel.
    DeadCheck = 1 << 0,
    /// L4: `neigh_flush_dev` resets the state (to NONE) under the entry
    /// lock, so a timer handler already running sees no timer state.
    /// Removed: the handler re-arms the flushed entry.
    FlushResetsState = 1 << 1,
    /// L5: `___neigh_create` looks the key up again under the table lock.
    /// Removed: two racing creators link two entries for one key.
    CreateRechecks = 1 << 2,
    /// L6: during a resize, a `lookup_noref` that misses in an array looks
    /// in its future array (`rhashtable`'s `future_tbl`). Removed: a key
    /// already moved is missed (the kernel's false miss during
    /// `neigh_hash_grow`, there for another reason).
    LookupFollowsFuture = 1 << 3,
    /// L7: `__mod_timer` migrating a timer re-reads the timer's base under
    /// the locks it took (`lock_timer_base`). Removed: it trusts the base
    /// it read before locking.
    LockTimerBase = 1 << 4,
    /// L8: the refcounted `neigh_lookup` takes its reference with
    /// increment-if-not-zero. Removed: a plain increment.
    IncNotZero = 1 << 5,
    /// L9: `neigh_update` publishes the header before the state that makes
    /// it usable. Removed: the state first.
    HeaderBeforeState = 1 << 6,
    /// L10: `neigh_timer_handler` decides with one snapshot of the device's
    /// parameters. Removed: the probe budget is read from a second one.
    ParmsOneSnapshot = 1 << 7,
    /// L12: an entry's change is reported under the entry lock that made
    /// it. Removed: the timer handler's FAILED event is built after
    /// unlocking and re-locking.
    EventsUnderLock = 1 << 8,
    /// T3: a `NeighTable::run_timers` caller that a later caller overtook
    /// on the wheel returns `Ok(0)` (the later run covers its `now`).
    /// Removed: it reports `TimeWentBackwards` though the table's clock was
    /// not past its `now` when it started.
    OvertakenCallerOk = 1 << 9,
    /// L19: a lock-free reader of a device's parameters re-checks the
    /// sequence count after loading the words, and retries if a write
    /// overlapped. Removed: it returns the words it loaded, which may mix
    /// two writes (a torn snapshot). A device takes it from its table when
    /// it is registered.
    ParmsSeqlockRecheck = 1 << 10,
    /// L6: a resize links a moved entry into its future chain before it
    /// cuts it from the old one. Removed: cut first, so the entry is in
    /// neither array for a moment and a lookup misses it.
    MoveLinksFirst = 1 << 11,
}

impl Rule {
    /// Every rule, in row order.
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    pub const ALL: [Rule; 12] = [
        Rule::DeadCheck,
        Rule::FlushResetsState,
        Rule::CreateRechecks,
        Rule::LookupFollowsFuture,
        Rule::LockTimerBase,
        Rule::IncNotZero,
        Rule::HeaderBeforeState,
        Rule::ParmsOneSnapshot,
        Rule::EventsUnderLock,
        Rule::OvertakenCallerOk,
        Rule::ParmsSeqlockRecheck,
        Rule::MoveLinksFirst,
    ];
}

/// The rules removed from one table or wheel (model builds only): a bit
/// per [`Rule`], set before the model threads start.
#[cfg(any(feature = "loom", feature = "shuttle"))]
#[derive(Debug, Default)]
pub(crate) struct Broken(crate::sync::plain::AtomicU32);

#[cfg(any(feature = "loom", feature = "shuttle"))]
impl Broken {
    /// Remove `r` (or restore it).
    pub(crate) fn set(&self, r: Rule, broken: bool) {
        // Relaxed: set before the model threads are spawned (their spawn
        // orders it before every read).
        if broken {
            self.0.fetch_or(r as u32, crate::sync::Ordering::Relaxed);
        } else {
            self.0
                .fetch_and(!(r as u32), crate::sync::Ordering::Relaxed);
        }
    }

    /// Is `r` in force?
    #[inline]
    pub(crate) fn keeps(&self, r: Rule) -> bool {
        // Relaxed: see `set`.
        self.0.load(crate::sync::Ordering::Relaxed) & r as u32 == 0
    }
}
