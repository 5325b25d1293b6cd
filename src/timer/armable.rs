//! What the concurrent wheel arms: the handle word embedded in an owner
//! ([`TimerHandle`]), the standalone [`Timer`] (a handle plus its handler
//! argument), and the sealed [`Armable`] trait through which the wheel reads
//! either.
//!
//! Rules: the handle word is read and written only through
//! [`TimerHandle::load`] / [`TimerHandle::store`], under the locking
//! protocol in `mod.rs`. An owner that embeds a bare [`TimerHandle`] (the
//! neighbour entry) derives the handler argument from where the handle
//! lives, so it does not store it a second time.

use core::fmt;
use core::ops::Deref;

use super::handle::Loc;
use crate::sync::{self, Ordering};

/// The atomic handle word of a timer: which slab node of which base it is
/// (or was last) armed in. 8 bytes. The concurrent layer's only per-timer
/// state outside the wheel.
pub struct TimerHandle {
    /// Packed [`Loc`]: see `handle.rs` for the layout.
    loc: sync::AtomicU64,
}

impl TimerHandle {
    /// An unarmed handle with home base `base` (see [`Timer::new`]).
    pub(crate) fn new(base: usize) -> Self {
        TimerHandle {
            loc: sync::AtomicU64::new(Loc::unarmed(base).0),
        }
    }

    /// Read the handle word. Relaxed: the value is either a hint (re-checked
    /// under the base lock, whose acquire orders it after every write made
    /// under that lock) or used under the lock of the base it names, where
    /// it cannot change (every writer holds that lock). Pairs with the base
    /// mutex's unlock after `store`.
    #[inline]
    pub(super) fn load(&self) -> Loc {
        // Relaxed: a hint, or read under the named base's lock (pairs with
        // that lock's unlock after the `store` that wrote it).
        Loc(self.loc.load(Ordering::Relaxed))
    }

    /// Write the handle word. Relaxed: callers hold the lock of the base
    /// named before and after the write; that lock's unlock (release)
    /// publishes it to the next `lock_timer_base` of either base, which
    /// pairs with it through its lock (acquire).
    #[inline]
    pub(super) fn store(&self, loc: Loc) {
        // Relaxed: published by the base locks' unlock; pairs with the next
        // `lock_timer_base` (its lock, then `load`).
        self.loc.store(loc.0, Ordering::Relaxed);
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = self.load();
        f.debug_struct("TimerHandle")
            .field("slot", &loc.slot())
            .field("gen", &loc.gen())
            .field("pending_hint", &loc.pending())
            .finish()
    }
}

/// A timer embedded in its owner (the kernel's `struct timer_list`).
///
/// 16 bytes, no heap allocation: the handler argument and one atomic word
/// naming the slab node of the base the timer is (or was last) armed on. The
/// wheel never keeps a reference to a `Timer`; it only reads it during the
/// calls it is passed to.
///
/// # A timer belongs to one wheel
///
/// Once armed, the handle names a node of one
/// [`TimerWheel`](super::TimerWheel); pass the timer only to that wheel.
/// Passing it to another wheel is a logic error with bounded effects, never
/// undefined behaviour, a hang outside the documented `del_timer_sync` rule,
/// or an undocumented panic: the other wheel reads the handle as naming one
/// of *its* nodes. Node generations start at a per-wheel random offset, so
/// almost always no node matches and the timer looks idle there
/// (`mod_timer` arms it on that wheel too, repointing the handle; the first
/// wheel's node stays armed, fires with the timer's argument and is then
/// freed; `timer_pending` may clear the handle's pending hint, after which
/// the first wheel's `del_timer` no longer sees it). With probability about
/// 2^-31 per call the handle does match a node of the other wheel, and the
/// call then acts on that wheel's timer: it may cancel it, move it, report
/// it pending, panic `add_timer: timer already pending`, or
/// (`timer_destroyed`) mark it destroyed so that the wheel's
/// destroyed-object checks panic later; `del_timer_sync` then waits for that
/// timer's handler, so like every `del_timer_sync` it must not be called
/// from a handler with a foreign timer.
pub struct Timer {
    handle: TimerHandle,
    /// Handler argument used when the timer is next armed from idle.
    data: usize,
}

impl Timer {
    /// A new, unarmed timer whose handler argument is `data` and whose home
    /// base is `base` (truncated to 32 bits, then taken modulo the number of
    /// bases; `setup_timer`).
    pub fn new(data: usize, base: usize) -> Self {
        Timer {
            handle: TimerHandle::new(base),
            data,
        }
    }

    /// Set the handler argument (`setup_timer`); only before first arming.
    ///
    /// (It takes effect the next time the timer is armed while neither
    /// pending nor running its handler.)
    pub fn set_data(&mut self, data: usize) {
        self.data = data;
    }

    /// The handler argument this timer was set up with.
    pub fn data(&self) -> usize {
        self.data
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = self.handle.load();
        f.debug_struct("Timer")
            .field("data", &self.data)
            .field("slot", &loc.slot())
            .field("gen", &loc.gen())
            .field("pending_hint", &loc.pending())
            .finish()
    }
}

/// Something a [`TimerWheel`](super::TimerWheel) can arm: a [`Timer`], or
/// anything that dereferences to one (`&Timer`, `Box<Timer>`,
/// `Arc<Timer>`). Sealed; inside the crate the neighbour entry arms its
/// bare 8-byte `TimerHandle`, whose handler argument is the entry's
/// address, derived from where the handle lives.
pub trait Armable: sealed::Sealed {}

impl<T: sealed::Sealed + ?Sized> Armable for T {}

/// The crate-private half of [`Armable`].
pub(crate) mod sealed {
    use super::{Deref, Timer, TimerHandle};

    /// How the wheel reads an armable timer.
    pub trait Sealed {
        /// The handle word.
        fn handle(&self) -> &TimerHandle;
        /// The handler argument to record when armed from idle.
        fn data(&self) -> usize;
    }

    impl Sealed for Timer {
        #[inline]
        fn handle(&self) -> &TimerHandle {
            &self.handle
        }
        #[inline]
        fn data(&self) -> usize {
            self.data
        }
    }

    impl<T: Deref<Target = Timer>> Sealed for T {
        #[inline]
        fn handle(&self) -> &TimerHandle {
            &self.handle
        }
        #[inline]
        fn data(&self) -> usize {
            self.data
        }
    }
}
