//! A kernel-style hierarchical *cascading* timer wheel (Linux 3.x
//! `kernel/timer.c`), extended to span its whole tick domain.
//!
//! # What this module owns
//!
//! Two layers. The sequential core ([`WheelCore`], `seq/`): one base's slab,
//! the ten wheel levels (tv1: 256 slots; tv2..tv10: 64 slots each; together
//! 2^62 ticks), cascading and expiry, `&mut self` only, no lock and no
//! atomic; usable on its own by a single-threaded event loop. The
//! concurrent layer ([`TimerWheel`], this file, `arm.rs`, `run.rs`): timer
//! bases (one lock each, like the kernel's per-CPU `tvec_base`), each a
//! `WheelCore` behind its mutex, the per-timer handle words, handler
//! dispatch outside the lock, run budgets, timer migration between bases,
//! and the `cascade()` integrity checks' effect on a running base. Neither
//! knows about neighbours: a timer's handler argument is an opaque `usize`,
//! and the caller supplies the handler to [`TimerWheel::run_timers`].
//!
//! | file | owns | lock |
//! |------|------|------|
//! | `mod.rs` | the public types, constants and errors; construction; a base's concurrent state; `lock_timer_base` | none of its own |
//! | `armable.rs` | the handle word (`TimerHandle`: its loads and stores), [`Timer`], the sealed [`Armable`] | none (the protocol below) |
//! | `arm.rs` | `add_timer`, `mod_timer*` (`__mod_timer`, migration), `del_timer*`, `timer_pending`, `timer_destroyed` | the base lock(s) the handle names |
//! | `run.rs` | `run_timers*` (`__run_timers`): the time domain check, the run loop, handler dispatch, the per-call budget ([`RunLimit`]), `backlog`, `next_work` | the base lock, released around handlers and offered to a waiter every [`RUN_BUDGET`] units of work |
//! | `seq/mod.rs` | [`WheelCore`]'s public sequential API | none: `&mut self` |
//! | `seq/slab.rs` | one base's slab, generations, lists, bitmaps, work list | none: `&mut self` |
//! | `seq/nodes.rs` | the slab's node store: chunks that never move | none: `&mut self` |
//! | `seq/levels.rs` | levels: `internal_add_timer`, `cascade`, tick processing, look-ahead | none: `&mut self` |
//! | `handle.rs` | the handle word's bit layout | none (plain values) |
//!
//! # Time domain
//!
//! Ticks are `u64` in `0..=`[`MAX_TICK`] (2^62). Every `run_timers*`
//! variant rejects a `now` above it ([`TimerError::TickOutOfRange`]), and
//! [`TimerWheel::try_new`] a start tick above it. An *expiry* may be any
//! `u64`: one above `MAX_TICK` is pending forever (it never fires, since the
//! clock cannot reach it) and costs nothing while the wheel runs. No tick
//! arithmetic in the wheel can overflow (`seq/levels.rs` bounds each sum).
//!
//! # Design
//!
//! A [`Timer`] is a 16-byte handle embedded in its owner: the handler
//! argument plus one atomic word packing `(pending hint, generation, base,
//! slot)` (an owner that can derive the argument from its own address
//! embeds the bare 8-byte word, `TimerHandle`, as the neighbour entry
//! does). Everything the wheel needs about an armed timer (expiry, list
//! links, handler argument, home base id, owner-destroyed flag) lives in a
//! *node* in the slab of the base it is armed on. The wheel therefore never
//! dereferences the owner's memory: the owner may be freed while its timer
//! is armed (the bug this crate models), and the wheel then detects it
//! through [`TimerWheel::timer_destroyed`] with a deterministic panic naming
//! the kernel symptom, never undefined behaviour.
//!
//! A node lives from arming until it is neither pending nor running its
//! handler; then it is freed and its generation bumped, which makes every
//! handle naming it stale (= not pending). While a handler runs its node is
//! kept, so a handler that re-arms its own timer re-uses the same node and
//! `del_timer_sync` can see that the handler of *this* timer is running.
//!
//! # Kernel map
//!
//! | here | kernel |
//! |------|--------|
//! | [`TimerWheel::add_timer`] | `add_timer` |
//! | [`TimerWheel::mod_timer`], [`TimerWheel::mod_timer_on`] | `mod_timer` / `__mod_timer` |
//! | [`TimerWheel::del_timer`] | `del_timer` |
//! | [`TimerWheel::del_timer_sync`] | `del_timer_sync` / `try_to_del_timer_sync` |
//! | [`TimerWheel::timer_pending`] | `timer_pending` |
//! | [`TimerWheel::timer_destroyed`] | `debug_object_free` (debugobjects) |
//! | [`TimerWheel::run_timers_on`] | `__run_timers` |
//! | [`TimerWheel::next_expiry`] | `get_next_timer_interrupt` |
//! | `lock_timer_base` (private) | `lock_timer_base` |
//! | `Base::internal_add_timer` (private) | `internal_add_timer` |
//! | `Base::cascade` (private) | `cascade` |
//!
//! # Locking protocol
//!
//! The handle word is written only while holding the lock of the base it
//! names before the write *and* the lock of the base it names after it (the
//! same lock unless migrating; when migrating both locks are taken in base
//! index order). `lock_timer_base` reads the word, locks the base it names,
//! and re-reads it under the lock: if it still names that base it is stable
//! until unlock, otherwise it unlocks and retries. The handle is read without
//! a lock only by `timer_pending` and `del_timer` (as a fast-path hint) and by
//! `lock_timer_base` (to pick the lock). The only other atomic is the
//! wheel's time high-water mark (`run.rs`).

mod arm;
mod armable;
mod handle;
mod run;
mod seq;

use core::fmt;
use core::ops::{Deref, DerefMut};

use crate::sync::{self, plain, CachePadded, Mutex, MutexGuard, Ordering};
use handle::Loc;

pub(crate) use armable::sealed;
pub(crate) use armable::TimerHandle;
pub use armable::{Armable, Timer};
pub use run::{RunLimit, RunReport, NEXT_WORK_SCAN, RUN_BUDGET};
pub use seq::{TimerKey, WheelCore};

/// One base of a [`TimerWheel`] (the kernel's `struct tvec_base`): the
/// sequential [`WheelCore`] plus what the concurrent layer adds. Only touched
/// under its mutex.
#[derive(Debug)]
struct Base {
    core: WheelCore,
    /// The latest `now` any caller asked this base to reach.
    clk: Tick,
    /// A thread is inside `__run_timers` for this base.
    busy: bool,
    /// Times a runner offered this lock to a waiter mid-run
    /// ([`WheelWork::lock_breaks`]).
    lock_breaks: u64,
}

impl Base {
    /// The slot the handle `loc` names, if it still holds that arming.
    #[inline]
    fn valid(&self, loc: Loc) -> Option<u32> {
        self.core.valid(loc.slot()?, loc.gen())
    }
}

impl Deref for Base {
    type Target = WheelCore;
    #[inline]
    fn deref(&self) -> &WheelCore {
        &self.core
    }
}

impl DerefMut for Base {
    #[inline]
    fn deref_mut(&mut self) -> &mut WheelCore {
        &mut self.core
    }
}

/// Time in ticks (the kernel's `jiffies`). The neighbour cache uses 1 tick =
/// 1 ms.
pub type Tick = u64;

/// The last tick of the time domain: `run_timers*` accept `now` in
/// `0..=MAX_TICK` and reject larger values with
/// [`TimerError::TickOutOfRange`]. (2^62 ms is 146 million years; the wheel
/// spans exactly this range, see [`WHEEL_LEVELS`].)
pub const MAX_TICK: Tick = 1 << 62;

/// The most bases a [`TimerWheel`] can have (the base index is 8 bits of the
/// handle word).
pub const MAX_BASES: usize = handle::MAX_BASES;

/// The most timers that can be pending or running their handler on one base
/// at once (2^24 - 1: the slot index is 24 bits of the handle word). Arming
/// one more panics (`timer wheel: too many timers on one base`; see
/// [`TimerWheel::add_timer`]). A slot whose 31-bit generation is used up
/// (after 2^31 armings of that slot) is retired and counts against this
/// limit; that takes 2^55 armings on one base to matter.
pub const MAX_TIMERS_PER_BASE: usize = handle::MAX_SLOTS;

/// Number of tv1 slots (`TVR_SIZE`).
pub const TV1_SLOTS: usize = 1 << seq::TVR_BITS;

/// Number of slots in each of tv2..tv10 (`TVN_SIZE`).
pub const TVN_SLOTS: usize = 1 << seq::TVN_BITS;

/// Number of wheel levels: tv1 (8 index bits) and nine 64-slot levels
/// (6 bits each), spanning `2^(8 + 9 * 6) = 2^62` ticks.
pub const WHEEL_LEVELS: usize = seq::LEVELS;

/// The farthest distance (`expires - next tick`) the levels represent
/// exactly (`MAX_TVAL`, 2^62 - 1). Only an expiry of exactly [`MAX_TICK`]
/// armed while the wheel is at tick 0 is farther: it is placed at this
/// distance, as the kernel clamps, and still fires at its exact tick.
pub const MAX_TVAL: Tick = seq::MAX_TVAL;

/// What a [`TimerWheel`] call rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimerError {
    /// A `run_timers*` call asked for a tick before the latest one any
    /// caller had already asked this wheel for (see
    /// [`TimerWheel::run_timers`] for the concurrent-caller contract).
    TimeWentBackwards {
        /// The latest tick asked for before this call.
        clk: Tick,
        /// The tick that was asked for.
        now: Tick,
    },
    /// A `now` or start tick above [`MAX_TICK`].
    TickOutOfRange {
        /// The tick that was passed.
        tick: Tick,
        /// [`MAX_TICK`].
        max: Tick,
    },
    /// A wheel needs `1..=MAX_BASES` bases.
    BaseCount {
        /// The number of bases asked for.
        bases: usize,
        /// [`MAX_BASES`].
        max: usize,
    },
}

impl fmt::Display for TimerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TimerError::TimeWentBackwards { clk, now } => {
                write!(f, "run_timers: time went backwards (clk {clk}, now {now})")
            }
            TimerError::TickOutOfRange { tick, max } => {
                write!(f, "timer wheel: tick {tick} is beyond MAX_TICK ({max})")
            }
            TimerError::BaseCount { bases, max } => {
                write!(f, "TimerWheel: need 1..={max} bases, got {bases}")
            }
        }
    }
}

impl std::error::Error for TimerError {}

/// A set of timer bases, each behind its own lock (the kernel's per-CPU
/// `tvec_base`s), sharing one clock.
pub struct TimerWheel {
    bases: Box<[CachePadded<Mutex<Base>>]>,
    /// The latest `now` any `run_timers*` caller has asked for (the wheel's
    /// time high-water mark; `run.rs`).
    asked: CachePadded<sync::AtomicU64>,
    /// Model builds only: the rules removed from this wheel (`variant`).
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    broken: crate::variant::Broken,
}

impl fmt::Debug for TimerWheel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("bases", &self.bases.len())
            .finish_non_exhaustive()
    }
}

/// Work the wheel has done since it was created, summed over its bases: a
/// test hook for asserting that a run's cost is bounded by the timers it
/// moves, not by the ticks it covers. Not part of the stable API.
#[doc(hidden)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WheelWork {
    /// Ticks processed one by one (`__run_timers` loop iterations); empty
    /// stretches are skipped without counting.
    pub ticks: u64,
    /// Timers moved down a level by `cascade`.
    pub cascaded: u64,
    /// Times a runner offered a base lock to a waiter (`sync::bump`) after
    /// [`RUN_BUDGET`] units of work without a handler call.
    pub lock_breaks: u64,
    /// Slab slots retired because their generation was used up.
    pub retired: u64,
    /// Nodes in use now (pending, or running their handler): with no
    /// handler running this equals [`TimerWheel::pending`], else a node
    /// leaked or was left RUNNING.
    pub in_use: u64,
}

/// A generation offset for a new base: different wheels (and bases) number
/// their nodes differently, so a handle passed to the wrong wheel almost
/// never matches a node there (see [`Timer`]). Not a security measure.
fn gen_offset(base: usize) -> u32 {
    static WHEELS: plain::AtomicU64 = plain::AtomicU64::new(0);
    // Relaxed: only the uniqueness of the ticket matters; pairs with nothing.
    let ticket = WHEELS.fetch_add(1, Ordering::Relaxed);
    // splitmix64 finaliser.
    let mut z = ticket
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(base as u64);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

impl TimerWheel {
    /// `bases` bases starting at tick `start`.
    ///
    /// # Panics
    ///
    /// If `bases` is 0 or more than [`MAX_BASES`], or `start` is above
    /// [`MAX_TICK`] (the message is the [`TimerError`];
    /// [`TimerWheel::try_new`] returns it instead).
    pub fn new(bases: usize, start: Tick) -> Self {
        Self::with_capacity(bases, start, 0)
    }

    /// Like [`TimerWheel::new`], with room for `per_base` armed timers on
    /// each base before the slabs grow.
    ///
    /// # Panics
    ///
    /// As [`TimerWheel::new`].
    pub fn with_capacity(bases: usize, start: Tick, per_base: usize) -> Self {
        Self::try_with_capacity(bases, start, per_base).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`TimerWheel::new`] returning [`TimerError::BaseCount`] or
    /// [`TimerError::TickOutOfRange`] instead of panicking.
    pub fn try_new(bases: usize, start: Tick) -> Result<Self, TimerError> {
        Self::try_with_capacity(bases, start, 0)
    }

    /// [`TimerWheel::with_capacity`] returning an error instead of
    /// panicking.
    pub fn try_with_capacity(
        bases: usize,
        start: Tick,
        per_base: usize,
    ) -> Result<Self, TimerError> {
        if !(1..=MAX_BASES).contains(&bases) {
            return Err(TimerError::BaseCount {
                bases,
                max: MAX_BASES,
            });
        }
        seq::check_tick(start)?;
        Ok(TimerWheel {
            bases: (0..bases)
                .map(|i| {
                    CachePadded::new(Mutex::new(Base {
                        core: WheelCore::with_parts(i, start, per_base, gen_offset(i)),
                        clk: start,
                        busy: false,
                        lock_breaks: 0,
                    }))
                })
                .collect(),
            asked: CachePadded::new(sync::AtomicU64::new(start)),
            #[cfg(any(feature = "loom", feature = "shuttle"))]
            broken: Default::default(),
        })
    }

    /// Model builds only: remove rule `r` (L7: [`Rule::LockTimerBase`])
    /// from this wheel, or restore it. Call before the model threads start.
    ///
    /// [`Rule::LockTimerBase`]: crate::variant::Rule::LockTimerBase
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    #[doc(hidden)]
    pub fn break_rule(&self, r: crate::variant::Rule, broken: bool) {
        self.broken.set(r, broken);
    }

    /// Is rule `r` in force on this wheel? Always true in a default build.
    #[inline(always)]
    pub(crate) fn keeps(&self, r: crate::variant::Rule) -> bool {
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        {
            self.broken.keeps(r)
        }
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        {
            let _ = r;
            true
        }
    }

    /// Number of bases.
    pub fn bases(&self) -> usize {
        self.bases.len()
    }

    /// `lock_timer_base`: lock the base `t` names, starting from the hint
    /// `loc`. Returns the base index, the guard and the handle as read under
    /// the lock (stable until the guard drops).
    #[inline]
    fn lock_timer_base(&self, t: &TimerHandle, mut loc: Loc) -> (usize, MutexGuard<'_, Base>, Loc) {
        let n = self.bases.len();
        loop {
            let b = loc.base(n);
            let g = self.bases[b].lock();
            let now = t.load();
            if now.base(n) == b {
                return (b, g, now);
            }
            drop(g);
            loc = now;
        }
    }

    /// Earliest pending expiry over all bases (exact; a timer armed in the
    /// past reports its own expiry, although it fires at the next tick; an
    /// expiry above [`MAX_TICK`] is reported although it never fires).
    pub fn next_expiry(&self) -> Option<Tick> {
        self.bases
            .iter()
            .filter_map(|b| b.lock().next_expiry())
            .min()
    }

    /// Number of pending timers (including those beyond [`MAX_TICK`]).
    pub fn pending(&self) -> usize {
        self.bases.iter().map(|b| b.lock().count).sum()
    }

    /// The latest `now` base `base` (modulo the number of bases) was asked
    /// to run to (its start tick before any run).
    pub fn clk(&self, base: usize) -> Tick {
        self.bases[base % self.bases.len()].lock().clk
    }

    /// Work counters summed over the bases (test hook; see [`WheelWork`]).
    #[doc(hidden)]
    pub fn work(&self) -> WheelWork {
        self.bases.iter().fold(WheelWork::default(), |mut w, b| {
            let g = b.lock();
            let c = g.counters;
            w.in_use += g.in_use();
            w.ticks += c.ticks;
            w.cascaded += c.cascaded;
            w.lock_breaks += g.lock_breaks;
            w.retired += c.retired;
            w
        })
    }
}
