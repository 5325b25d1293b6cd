//! The neighbour entry (`struct neighbour`): reference count, `dead` flag,
//! per-entry lock, the lock-free published link-layer address and cached
//! header, timestamps and the per-entry timer.
//!
//! This module owns the entry's layout and its reference-count primitives.
//! The rules (SPEC.md, "Invariants"):
//!
//! * `refcnt` counts the table's link (1 while linked), one per armed timer
//!   (`neigh_add_timer` holds, the handler or `neigh_del_timer` releases) and
//!   one per [`NeighHandle`](crate::NeighHandle). It reaching zero destroys
//!   the entry (`neigh_destroy`), which retires its memory through RCU.
//! * `dead` is set only under the entry lock, by whoever unlinks the entry
//!   (GC, `flush_dev`, `remove`), and never cleared. Every path that arms the
//!   timer or changes the state checks it under the same lock (the 2015 fix).
//! * `nud_state` and `hw` are written only under the entry lock and read
//!   without it on the output path; `hw` is an immutable RCU object replaced
//!   (never mutated) when the address changes.
//!
//! The state machine that drives these fields is in `neigh::table` and
//! `neigh::output`; this module must not implement transitions.

use crate::neigh::{DevId, NudState};
use crate::parms::NeighParms;
use crate::rcu::{self, Atomic, Guard};
use crate::sync::{self, plain, Mutex, Ordering};
use crate::timer::{Tick, Timer, TimerWheel};
use core::fmt;
use std::collections::VecDeque;

/// Longest link-layer address (`MAX_ADDR_LEN` is 32 in the kernel; 20 covers
/// Ethernet, EUI-64 and InfiniBand).
pub const MAX_ADDR_LEN: usize = 20;

/// Longest cached link-layer header.
pub const HH_MAX: usize = 32;

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

/// How a device frames packets: what header the cache builds and caches for
/// each resolved neighbour (the kernel's `header_ops->cache`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkHeader {
    /// Ethernet II: destination (the neighbour), source, ethertype.
    Ethernet {
        /// The device's own MAC address.
        src: [u8; 6],
        /// The ethertype of the protocol (0x0800 IPv4, 0x86dd IPv6).
        ethertype: u16,
    },
    /// The header is the neighbour's address alone.
    Lladdr,
}

/// A device as the table sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Link-layer address length (`dev->addr_len`); updates with another
    /// length are refused with `BadLladdrLen`.
    pub addr_len: usize,
    /// The header built for resolved neighbours.
    pub header: LinkHeader,
    /// The device needs no resolution: entries are created NOARP with
    /// `noarp_lladdr` (loopback, point-to-point links).
    pub noarp: bool,
    /// Address used for NOARP entries (`addr_len` bytes; zeros if `None`).
    pub noarp_lladdr: Option<LlAddr>,
    /// Per-device parameters; `None` uses the table's.
    pub parms: Option<NeighParms>,
}

impl DeviceConfig {
    /// An Ethernet device with MAC `src` carrying `ethertype`.
    pub fn ethernet(src: [u8; 6], ethertype: u16) -> Self {
        DeviceConfig {
            addr_len: 6,
            header: LinkHeader::Ethernet { src, ethertype },
            noarp: false,
            noarp_lladdr: None,
            parms: None,
        }
    }

    /// The same device with its own parameters.
    pub fn with_parms(mut self, parms: NeighParms) -> Self {
        self.parms = Some(parms);
        self
    }
}

/// A registered device: configuration plus the shared timer wheel, so that an
/// entry can report its own destruction to the wheel wherever it is freed.
pub(crate) struct Device {
    pub(crate) id: DevId,
    pub(crate) cfg: DeviceConfig,
    pub(crate) parms: NeighParms,
    /// `parms->reachable_time`: base_reachable_time randomised to 0.5x-1.5x,
    /// re-drawn by the periodic GC.
    pub(crate) reachable_time: plain::AtomicU64,
    pub(crate) wheel: sync::Arc<TimerWheel>,
}

impl Device {
    pub(crate) fn reachable_time(&self) -> Tick {
        // Relaxed: a tuning value; any recent draw is as good as another.
        self.reachable_time.load(Ordering::Relaxed)
    }

    /// Build the header for `lladdr` into a new [`Hw`].
    pub(crate) fn hw(&self, lladdr: LlAddr) -> Hw {
        let mut hw = Hw {
            lladdr,
            hh_len: 0,
            hh: [0; HH_MAX],
        };
        let a = lladdr.as_bytes();
        match self.cfg.header {
            LinkHeader::Ethernet { src, ethertype } => {
                let n = a.len().min(6);
                hw.hh[..n].copy_from_slice(&a[..n]);
                hw.hh[6..12].copy_from_slice(&src);
                hw.hh[12..14].copy_from_slice(&ethertype.to_be_bytes());
                hw.hh_len = 14;
            }
            LinkHeader::Lladdr => {
                let n = a.len().min(HH_MAX);
                hw.hh[..n].copy_from_slice(&a[..n]);
                hw.hh_len = n as u8;
            }
        }
        hw
    }
}

/// The published link-layer state: address and cached header (`neigh->ha`
/// plus `hh_cache`). Immutable once published; replaced through RCU.
pub(crate) struct Hw {
    pub(crate) lladdr: LlAddr,
    hh_len: u8,
    hh: [u8; HH_MAX],
}

impl Hw {
    #[inline]
    pub(crate) fn header(&self) -> &[u8] {
        &self.hh[..self.hh_len as usize]
    }
}

/// Fields protected by the entry lock (`neigh->lock`).
pub(crate) struct Inner<P> {
    /// Unlinked from the table; set once, under this lock.
    pub(crate) dead: bool,
    /// `neigh_destroy` ran (refcount reached zero); set once.
    pub(crate) destroyed: bool,
    /// Probes sent in the current resolution (`neigh->probes`).
    pub(crate) probes: u32,
    /// Last state change (`neigh->updated`).
    pub(crate) updated: Tick,
    /// NTF_ROUTER (IPv6 routers).
    pub(crate) router: bool,
    /// Packets waiting for resolution (`neigh->arp_queue`).
    pub(crate) arp_queue: VecDeque<P>,
    /// Their total length (`arp_queue_len_bytes`).
    pub(crate) queue_bytes: usize,
}

/// A neighbour entry: one (protocol address, device) pair.
///
/// Obtained from [`NeighTable::lookup_noref`](crate::NeighTable::lookup_noref)
/// (valid while the read guard lives) or through a
/// [`NeighHandle`](crate::NeighHandle) (refcounted).
pub struct Neighbour<K, P> {
    // Read by every lookup and output: keep together.
    pub(crate) key: K,
    pub(crate) dev: DevId,
    /// Written under `inner`'s lock; read lock-free by output.
    pub(crate) nud_state: sync::AtomicU8,
    /// Written under `inner`'s lock (swap + retire); read lock-free.
    pub(crate) hw: Atomic<Hw>,
    /// `neigh->used`: last output; written only when it changes (once per
    /// tick at most), so a hit does not dirty the line in the common case.
    pub(crate) used: plain::AtomicU64,
    /// `neigh->confirmed`: last reachability confirmation.
    pub(crate) confirmed: plain::AtomicU64,
    pub(crate) refcnt: sync::AtomicUsize,
    pub(crate) timer: Timer,
    pub(crate) device: sync::Arc<Device>,
    pub(crate) inner: Mutex<Inner<P>>,
}

impl<K: Copy, P> Neighbour<K, P> {
    pub(crate) fn new(
        key: K,
        device: sync::Arc<Device>,
        now: Tick,
        refcnt: usize,
        base: usize,
    ) -> Self {
        let noarp = device.cfg.noarp;
        let (state, hw) = if noarp {
            let lladdr = device.cfg.noarp_lladdr.unwrap_or_else(|| {
                LlAddr::new(&[0u8; MAX_ADDR_LEN][..device.cfg.addr_len.min(MAX_ADDR_LEN)])
                    .expect("length clamped")
            });
            (NudState::NOARP, Atomic::new(device.hw(lladdr)))
        } else {
            (NudState::NONE, Atomic::null())
        };
        Neighbour {
            key,
            dev: device.id,
            nud_state: sync::AtomicU8::new(state.bits()),
            hw,
            used: plain::AtomicU64::new(now),
            // Kernel `neigh_alloc`: confirmed = jiffies - (base_reachable_time << 1),
            // i.e. "not confirmed recently".
            confirmed: plain::AtomicU64::new(
                now.saturating_sub(device.parms.base_reachable_time << 1),
            ),
            refcnt: sync::AtomicUsize::new(refcnt),
            timer: Timer::new(0, base),
            device,
            inner: Mutex::new(Inner {
                dead: false,
                destroyed: false,
                probes: 0,
                updated: now,
                router: false,
                arp_queue: VecDeque::new(),
                queue_bytes: 0,
            }),
        }
    }

    /// The protocol address.
    pub fn key(&self) -> K {
        self.key
    }

    /// The device.
    pub fn dev(&self) -> DevId {
        self.dev
    }

    /// The NUD state (a lock-free snapshot).
    #[inline]
    pub fn state(&self) -> NudState {
        // Acquire: pairs with the Release store in `set_state`, so a reader
        // that sees a VALID state also sees the `hw` published before it.
        NudState(self.nud_state.load(Ordering::Acquire))
    }

    /// Set the state; caller holds the entry lock.
    pub(crate) fn set_state(&self, _locked: &Inner<P>, s: NudState) {
        // Release: pairs with the Acquire load in `state`.
        self.nud_state.store(s.0, Ordering::Release);
    }

    /// The published address and header, if any (lock-free).
    #[inline]
    pub(crate) fn hw<'g>(&self, guard: &'g Guard) -> Option<&'g Hw> {
        // Acquire: pairs with the Release swap in `publish_hw`: the Hw's
        // contents are visible before its pointer.
        let p = self.hw.load(Ordering::Acquire, guard);
        // SAFETY: `hw` objects are retired only after being replaced, and the
        // guard keeps a retired object alive until it is dropped.
        unsafe { p.as_ref() }
    }

    /// Replace the published address; caller holds the entry lock.
    pub(crate) fn publish_hw(&self, _locked: &Inner<P>, hw: Hw, guard: &Guard) {
        let new = rcu::Owned::new(hw).into_shared(guard);
        // Release: pairs with the Acquire load in `hw` (publishes the new
        // header's bytes). AcqRel is not needed: the old value is only retired.
        let old = self.hw.swap(new, Ordering::Release, guard);
        if !old.is_null() {
            // SAFETY: `old` is unreachable from now on (the lock serialises
            // writers), and readers that loaded it hold guards.
            unsafe { guard.defer_destroy(old) };
        }
    }

    /// The link-layer address, if known.
    pub fn lladdr(&self, guard: &Guard) -> Option<LlAddr> {
        self.hw(guard).map(|h| h.lladdr)
    }

    /// The cached link-layer header (what output prepends), if resolved.
    #[inline]
    pub fn header<'g>(&self, guard: &'g Guard) -> Option<&'g [u8]> {
        self.hw(guard).map(|h| h.header())
    }

    /// Current reference count (diagnostics; racy by nature).
    pub fn refcnt(&self) -> usize {
        // Relaxed: a diagnostic snapshot.
        self.refcnt.load(Ordering::Relaxed)
    }

    /// `neigh->used`: the last tick a packet was output through the entry.
    pub fn used(&self) -> Tick {
        // Relaxed: a timestamp heuristic (GC staleness); orders nothing.
        self.used.load(Ordering::Relaxed)
    }

    /// `neigh->confirmed`: the last reachability confirmation.
    pub fn confirmed(&self) -> Tick {
        // Relaxed: as `used`.
        self.confirmed.load(Ordering::Relaxed)
    }

    /// Has the entry been unlinked from its table (`neigh->dead`)?
    pub fn is_dead(&self) -> bool {
        self.inner.lock().dead
    }

    /// `neigh_hold`: take a reference. The caller must already own one
    /// (or, for the timer, hold the entry lock of a live entry) — exactly the
    /// rule the pre-2015 kernel broke.
    #[inline]
    pub(crate) fn hold(&self) {
        // Relaxed: the caller already holds a reference, so the count cannot
        // concurrently reach zero (the same argument as `Arc::clone`).
        self.refcnt.fetch_add(1, Ordering::Relaxed);
    }

    /// Increment-if-not-zero (`refcount_inc_not_zero`): the refcounted lookup.
    pub(crate) fn try_hold(&self) -> bool {
        // Relaxed: only a hint for the CAS below.
        let mut c = self.refcnt.load(Ordering::Relaxed);
        loop {
            if c == 0 {
                return false;
            }
            // Acquire on success: pairs with the Release decrement of earlier
            // holders (as `Weak::upgrade`); Relaxed on failure: retried.
            match self
                .refcnt
                .compare_exchange_weak(c, c + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
    }

    /// Drop a reference; `true` if it was the last (the caller destroys).
    #[inline]
    pub(crate) fn put(&self) -> bool {
        // Release: pairs with the Acquire fence below in whichever thread
        // drops the last reference, so every holder's writes happen before
        // the destroy (the `Arc::drop` protocol).
        if self.refcnt.fetch_sub(1, Ordering::Release) != 1 {
            return false;
        }
        // Acquire: pairs with the Release decrements above.
        sync::fence(Ordering::Acquire);
        true
    }
}

impl<K, P> Drop for Neighbour<K, P> {
    /// The memory is being reclaimed (after `neigh_destroy` and a grace
    /// period). Tell the wheel, as the kernel's debugobjects would: a timer
    /// still armed now is the 2015 bug, and the wheel reports it when it next
    /// touches the timer (`cascade()`).
    fn drop(&mut self) {
        self.device.wheel.timer_destroyed(&self.timer);
        // SAFETY: the entry is being dropped, so nobody can load `hw` any
        // more; readers of an older `hw` were covered by its own retirement.
        unsafe {
            let hw = self.hw.load(Ordering::Relaxed, rcu::unprotected());
            if !hw.is_null() {
                drop(hw.into_owned());
            }
        }
    }
}

/// A row of [`NeighTable::dump`](crate::NeighTable::dump), like one line of
/// `ip neigh show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighInfo<K> {
    /// Protocol address.
    pub key: K,
    /// Device.
    pub dev: DevId,
    /// Link-layer address, if known.
    pub lladdr: Option<LlAddr>,
    /// NUD state.
    pub state: NudState,
    /// Reference count (the table's link included).
    pub refcnt: usize,
    /// Ticks since the last output.
    pub used_ago: Tick,
    /// Ticks since the last confirmation.
    pub confirmed_ago: Tick,
    /// Ticks since the last state change.
    pub updated_ago: Tick,
    /// Probes sent in the current resolution.
    pub probes: u32,
    /// Packets queued.
    pub queue_len: usize,
    /// The neighbour is a router (NDP).
    pub router: bool,
}

impl<K: fmt::Display> fmt::Display for NeighInfo<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dev {}", self.key, self.dev)?;
        if let Some(a) = self.lladdr {
            write!(f, " lladdr {a}")?;
        }
        if self.router {
            f.write_str(" router")?;
        }
        write!(
            f,
            " ref {} used {}/{}/{}",
            self.refcnt, self.used_ago, self.confirmed_ago, self.updated_ago
        )?;
        if self.probes > 0 {
            write!(f, " probes {}", self.probes)?;
        }
        if self.queue_len > 0 {
            write!(f, " queued {}", self.queue_len)?;
        }
        write!(f, " {}", self.state)
    }
}
