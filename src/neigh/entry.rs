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
//! * `nud_state` and the cached header `hh` are written only under the entry
//!   lock and read without it on the output path. The header is a seqlock
//!   over atomic words (a kernel-style seqlock over plain bytes would be a
//!   data race in Rust); the address is the header's first `addr_len`
//!   bytes, so it is stored once.
//! * Layout: the first cache line is everything a hit reads, the second the
//!   rest (checked at compile time below; SPEC.md §6). The timer is a bare
//!   handle word whose handler argument (the entry's address) is derived
//!   from its fixed offset, not stored.
//!
//! The state machine that drives these fields is in `neigh::table`; this
//! module must not implement transitions.

use super::device::Device;
use super::lladdr::{Hh, LlAddr, HH_MAX, MAX_ADDR_LEN};
use crate::neigh::{DevId, NudState};
use crate::rcu::Atomic;
use crate::sync::{self, plain, Mutex, Ordering};
use crate::timer::{sealed, Tick, TimerHandle};
use std::collections::VecDeque;

/// Header words on the entry's hot line: an Ethernet header (14 bytes)
/// fits, so a hit reads one line.
const HOT_HH_WORDS: usize = 2;
/// Header bytes stored: the hot words plus the 4-byte tail word on the cold
/// line. The longest header a device can ask for is its address alone
/// (`LinkHeader::Lladdr`, at most [`MAX_ADDR_LEN`] bytes); Ethernet's is 14.
const HH_STORED: usize = HOT_HH_WORDS * 8 + 4;
const _: () = assert!(MAX_ADDR_LEN <= HH_STORED && 14 <= HH_STORED && HH_STORED <= HH_MAX);

/// The most references an entry may have; one more aborts the process (as
/// `Arc` does), so the 32-bit count can never wrap to zero under a live
/// holder. Reaching it takes 2^31 leaked handles.
const MAX_REFCOUNT: u32 = i32::MAX as u32;

/// Fields protected by the entry lock (`neigh->lock`).
pub(crate) struct EntryLocked<P> {
    /// Unlinked from the table; set once, under this lock.
    pub(crate) dead: bool,
    /// `neigh_destroy` ran (refcount reached zero); set once.
    pub(crate) destroyed: bool,
    /// `neigh->flags` (`NTF_ROUTER`, `NTF_EXT_LEARNED`, `NTF_MANAGED`) in
    /// one byte (`NeighFlags::to_byte`).
    pub(crate) flags: u8,
    /// The entry's item on the table's `gc_list` (`gc_list::GcList`;
    /// written under the table lock too): three bytes, so that with the
    /// three flag bytes and `probes` they fill one word and the entry stays
    /// 128 B.
    pub(crate) gc_link: GcLink,
    /// Probes sent in the current resolution (`neigh->probes`). 16 bits:
    /// a resolution sends at most `max_probes` (each probe kind is at most
    /// 255, `NeighParms::validate`) before the entry fails; see
    /// [`probe_count`].
    pub(crate) probes: u16,
    /// Last state change (`neigh->updated`).
    pub(crate) updated: Tick,
    /// Packets waiting for resolution (`neigh->arp_queue`); allocated only
    /// while an entry has queued packets.
    pub(crate) arp_queue: Option<Box<ArpQueue<P>>>,
}

/// Where an entry's item lies on the table's `gc_list`: a 24-bit item
/// index plus one (0: off the list). The list holds linked entries only,
/// at most [`MAX_ENTRIES`](crate::parms::MAX_ENTRIES) (at most `2^24 - 1`,
/// checked below), and hands out the lowest free item, so an index is
/// below that count and the index plus one fits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GcLink([u8; 3]);

const _: () = assert!(crate::parms::MAX_ENTRIES < 1 << 24);

impl GcLink {
    /// Off the list.
    pub(crate) const NONE: GcLink = GcLink([0; 3]);

    /// The item index, if the entry is on the list.
    #[inline]
    pub(crate) fn get(self) -> Option<u32> {
        let [a, b, c] = self.0;
        u32::from_le_bytes([a, b, c, 0]).checked_sub(1)
    }

    /// On the list at item `idx` (below `2^24 - 1`).
    #[inline]
    pub(crate) fn at(idx: u32) -> GcLink {
        debug_assert!(
            idx < (1 << 24) - 1,
            "gc_list item index {idx} beyond 24 bits"
        );
        let [a, b, c, _] = (idx + 1).to_le_bytes();
        GcLink([a, b, c])
    }
}

/// A probe count as `EntryLocked::probes` keeps it (saturating; counts
/// stay far below the limit, see there).
#[inline]
pub(crate) fn probe_count(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// The unresolved queue and its byte count (`arp_queue_len_bytes`). Each
/// packet is stored with the length it had when queued, so the byte count
/// never depends on `Packet::len` answering the same twice.
pub(crate) struct ArpQueue<P> {
    pub(crate) pkts: VecDeque<(usize, P)>,
    pub(crate) bytes: usize,
}

impl<P> EntryLocked<P> {
    /// Take every queued packet, leaving no queue allocated.
    pub(crate) fn take_queue(&mut self) -> VecDeque<(usize, P)> {
        self.arp_queue.take().map(|q| q.pkts).unwrap_or_default()
    }

    /// Packets queued.
    pub(crate) fn queue_len(&self) -> usize {
        self.arp_queue.as_ref().map_or(0, |q| q.pkts.len())
    }
}

/// Zero-sized marker that starts the cold part on the next cache line
/// (whatever the key's size). Model builds use a larger alignment so that
/// their bigger modelled atomics still leave the cold part at one offset for
/// both key types.
#[cfg_attr(not(any(feature = "loom", feature = "shuttle")), repr(align(64)))]
#[cfg_attr(any(feature = "loom", feature = "shuttle"), repr(align(512)))]
#[derive(Default)]
struct ColdLine;

/// The entry's timer: the wheel's bare 8-byte handle word. Its handler
/// argument is the entry's address, which the wheel learns from where the
/// handle lives (`TIMER_OFFSET` bytes into the entry) instead of a stored
/// copy (`Timer::data`, 8 more bytes per entry).
pub(crate) struct EntryTimer(TimerHandle);

/// Where `timer` lives in every entry: one offset for both key types and
/// every packet type (checked below), because only hot fields, which do not
/// depend on the packet type, and the cache-line marker precede it.
const TIMER_OFFSET: usize = core::mem::offset_of!(Neighbour<std::net::Ipv4Addr, ()>, timer);
const _: () = {
    use core::mem::offset_of;
    use std::net::Ipv6Addr;
    assert!(offset_of!(Neighbour<Ipv6Addr, ()>, timer) == TIMER_OFFSET);
    assert!(offset_of!(Neighbour<Ipv6Addr, Vec<u8>>, timer) == TIMER_OFFSET);
};

impl sealed::Sealed for EntryTimer {
    #[inline]
    fn handle(&self) -> &TimerHandle {
        &self.0
    }

    /// The address of the entry this timer is embedded in (every
    /// `EntryTimer` is the `timer` field of a `Neighbour`: the type is
    /// crate-private and only `Neighbour::new` makes one). Plain address
    /// arithmetic; the table's handler turns it back into the entry.
    #[inline]
    fn data(&self) -> usize {
        self as *const Self as usize - TIMER_OFFSET
    }
}

/// A neighbour entry: one (protocol address, device) pair.
///
/// Obtained from [`NeighTable::lookup_noref`](crate::NeighTable::lookup_noref)
/// (valid while the read guard lives) or through a
/// [`NeighHandle`](crate::NeighHandle) (refcounted).
///
/// Layout: two cache lines (128 bytes for IPv4 and IPv6 keys alike; checked
/// at compile time below). The first is the *hot* line, everything the hit
/// path reads: key, device, owning table, state, header length, the header
/// sequence and first header words (an Ethernet header fits), the chain
/// link and `used`. The second is *cold*: the timer handle, refcount, the
/// header's tail word, `confirmed`, the device and the entry lock with the
/// unresolved queue. A hit (`lookup_noref` + `output`) touches only the hot
/// line; a refcounted lookup also the cold one.
#[repr(C, align(64))]
pub struct Neighbour<K, P> {
    // ---- the hot line ----
    pub(crate) key: K,
    pub(crate) dev: DevId,
    /// Id of the table that owns the entry (`NeighTable::id`). Every call
    /// that takes an entry compares it first: an entry of another table is
    /// refused (SPEC.md §3, "Entries belong to one table").
    pub(crate) table: u32,
    /// Written under the entry lock; read lock-free by output.
    pub(crate) nud_state: sync::AtomicU8,
    /// The device's header length, copied here so the hit path need not
    /// touch the device (`dev->hard_header_len`).
    hh_len: u8,
    /// Sequence count of the inline header: odd while a writer (holding the
    /// entry lock) rewrites `hh` and `hh_tail`.
    pub(crate) hh_seq: sync::AtomicU32,
    /// The bucket chain (`neigh->next`), an RCU list link.
    pub(crate) next: Atomic<Neighbour<K, P>>,
    /// The cached header (`hh_cache`), written under the entry lock, read
    /// lock-free through the seqlock: its first 16 bytes (`hh_tail` holds
    /// bytes 16..20). Its first `addr_len` bytes are the neighbour's address
    /// (`neigh->ha`).
    pub(crate) hh: [sync::AtomicU64; HOT_HH_WORDS],
    /// `neigh->used`: last output; written only when it changes (once per
    /// tick at most), so a hit does not dirty the line in the common case.
    pub(crate) used: plain::AtomicU64,
    // ---- the cold line ----
    _cold: ColdLine,
    /// The entry timer (`neigh->timer`); first on the cold line.
    pub(crate) timer: EntryTimer,
    /// References (SPEC.md §3): the table's link, an armed timer, handles.
    refcnt: sync::AtomicU32,
    /// Header bytes 16..20 (headers longer than 16 bytes), under `hh_seq`.
    hh_tail: sync::AtomicU32,
    /// `neigh->confirmed`: last reachability confirmation.
    pub(crate) confirmed: plain::AtomicU64,
    pub(crate) device: sync::Arc<Device>,
    pub(crate) lock: Mutex<EntryLocked<P>>,
}

/// The hot-line and size claims, checked by the compiler for both key types
/// (default build: the model checkers' atomics are larger).
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
const _: () = {
    use core::mem::{offset_of, size_of};
    use std::net::{Ipv4Addr, Ipv6Addr};
    macro_rules! hot_line {
        ($k:ty) => {{
            type N = Neighbour<$k, ()>;
            let ends = [
                offset_of!(N, key) + size_of::<$k>(),
                offset_of!(N, dev) + size_of::<DevId>(),
                offset_of!(N, table) + size_of::<u32>(),
                offset_of!(N, nud_state) + 1,
                offset_of!(N, hh_len) + 1,
                offset_of!(N, hh_seq) + size_of::<u32>(),
                offset_of!(N, next) + size_of::<usize>(),
                offset_of!(N, hh) + HOT_HH_WORDS * 8,
                offset_of!(N, used) + size_of::<u64>(),
            ];
            let mut i = 0;
            while i < ends.len() {
                assert!(ends[i] <= 64, "a hot field is beyond the first cache line");
                i += 1;
            }
            assert!(offset_of!(N, timer) == 64, "the cold part starts on line 2");
            assert!(core::mem::align_of::<N>() == 64);
            assert!(size_of::<N>() == 128, "an entry is two cache lines");
            assert!(size_of::<Neighbour<$k, Vec<u8>>>() == 128);
        }};
    }
    hot_line!(Ipv4Addr);
    hot_line!(Ipv6Addr);
};

impl<K: Copy, P> Neighbour<K, P> {
    pub(crate) fn new(
        key: K,
        table: u32,
        device: sync::Arc<Device>,
        now: Tick,
        refcnt: u32,
        base: usize,
    ) -> Self {
        let n = Neighbour {
            key,
            dev: device.id,
            table,
            nud_state: sync::AtomicU8::new(NudState::NONE.bits()),
            hh_len: device.hh_len() as u8,
            hh_seq: sync::AtomicU32::new(0),
            next: Atomic::null(),
            hh: core::array::from_fn(|_| sync::AtomicU64::new(0)),
            used: plain::AtomicU64::new(now),
            _cold: ColdLine,
            timer: EntryTimer(TimerHandle::new(base)),
            refcnt: sync::AtomicU32::new(refcnt),
            hh_tail: sync::AtomicU32::new(0),
            // Kernel `___neigh_create`: confirmed = jiffies - (base_reachable_time
            // << 1), i.e. "not confirmed recently". Wrapping, as jiffies are: on a
            // table younger than that the value lies "before tick 0", and the
            // table compares timestamps with wrapping arithmetic (SPEC.md §2).
            confirmed: plain::AtomicU64::new(
                now.wrapping_sub(device.parms().base_reachable_time << 1),
            ),
            device,
            lock: Mutex::new(EntryLocked {
                dead: false,
                destroyed: false,
                flags: 0,
                gc_link: GcLink::NONE,
                probes: 0,
                updated: now,
                arp_queue: None,
            }),
        };
        if n.device.cfg.noarp {
            // `arp_constructor`: NOARP devices need no resolution.
            let d = &n.device;
            let lladdr = d
                .cfg
                .noarp_lladdr
                .unwrap_or_else(|| LlAddr::prefix(&[0u8; MAX_ADDR_LEN], d.cfg.addr_len));
            let g = n.lock.lock();
            n.publish_hh(&g, &d.build_header(&lladdr));
            n.set_state(&g, NudState::NOARP);
        }
        n
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
        // Relaxed (weakened from Acquire, SPEC.md §16): the state publishes
        // nothing a lock-free reader reads except the header, and every
        // reader reads the header through `read_hh`, whose Acquire fence
        // synchronises with the Release store in `set_state` that this load
        // read (a Relaxed load followed by an Acquire fence does): a reader
        // that sees a VALID state and then loads header words older than
        // that store sees the sequence count move at its re-check and
        // retries. L9/hh and L18 (the state stored by another thread than
        // the header) pass with it Relaxed. Everything else a state change
        // goes with is read under the entry lock. A lock-free reader that
        // used the state to read anything else would need an Acquire of its
        // own.
        NudState(self.nud_state.load(Ordering::Relaxed))
    }

    /// Set the state; caller holds the entry lock.
    pub(crate) fn set_state(&self, _locked: &EntryLocked<P>, s: NudState) {
        // Release: pairs with the Acquire fence in `read_hh` that follows a
        // lock-free reader's (Relaxed) load of this state, so a reader that
        // sees it reads a header published before it (L18).
        self.nud_state.store(s.0, Ordering::Release);
    }

    /// Read the cached header lock-free (seqlock over atomics: no data race,
    /// retried if a writer overlapped). Meaningful only in a VALID state.
    #[inline]
    pub(crate) fn read_hh(&self) -> Hh {
        let len = usize::from(self.hh_len);
        loop {
            // Acquire: pairs with the Release store that ends a write in
            // `publish_hh`, so the words read below are at least that new.
            let s1 = self.hh_seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                let mut bytes = [0u8; HH_MAX];
                for (i, w) in self.hh.iter().enumerate() {
                    // Relaxed: validated by the sequence re-check below.
                    let w = w.load(Ordering::Relaxed);
                    bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
                }
                if len > HOT_HH_WORDS * 8 {
                    // Relaxed: validated by the sequence re-check below.
                    let t = self.hh_tail.load(Ordering::Relaxed);
                    bytes[HOT_HH_WORDS * 8..HH_STORED].copy_from_slice(&t.to_ne_bytes());
                }
                // Acquire: orders the word loads above before the re-check
                // (pairs with the writer's Release fence after its odd store).
                sync::fence(Ordering::Acquire);
                // Relaxed: ordered by the fence above.
                if self.hh_seq.load(Ordering::Relaxed) == s1 {
                    return Hh {
                        len: len as u8,
                        bytes,
                    };
                }
            }
            core::hint::spin_loop();
            sync::spin_wait();
        }
    }

    /// Publish a new header; caller holds the entry lock (the only writer).
    pub(crate) fn publish_hh(&self, _locked: &EntryLocked<P>, hh: &Hh) {
        // Relaxed: the entry lock serialises writers; readers re-check.
        let s = self.hh_seq.load(Ordering::Relaxed);
        // Relaxed: ordered before the word stores by the fence below.
        self.hh_seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // Release: orders the odd count before the word stores (pairs with
        // the reader's Acquire fence: a reader that loaded any new word then
        // sees the odd count, or a later one, and retries).
        sync::fence(Ordering::Release);
        // Nothing between the two count stores may panic (the count would
        // stay odd): the conversions below cannot fail (fixed sizes), and
        // fall back to zeros rather than unwrap.
        for (c, w) in hh.bytes.chunks_exact(8).zip(self.hh.iter()) {
            let word = u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
            // Relaxed: published by the Release store below.
            w.store(word, Ordering::Relaxed);
        }
        let tail = &hh.bytes[HOT_HH_WORDS * 8..HH_STORED];
        let tail = u32::from_ne_bytes(tail.try_into().unwrap_or([0; 4]));
        // Relaxed: published by the Release store below.
        self.hh_tail.store(tail, Ordering::Relaxed);
        // Release: pairs with the reader's Acquire load of the sequence.
        self.hh_seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// The link-layer address from the cached header (the caller knows the
    /// state is VALID, or holds the lock that keeps it so).
    pub(crate) fn read_lladdr(&self) -> LlAddr {
        LlAddr::prefix(self.read_hh().as_bytes(), self.device.cfg.addr_len)
    }

    /// The link-layer address, if known (the state is VALID).
    pub fn lladdr(&self) -> Option<LlAddr> {
        self.state().is(NudState::VALID).then(|| self.read_lladdr())
    }

    /// The cached link-layer header (what output prepends), if resolved.
    #[inline]
    pub fn header(&self) -> Option<Hh> {
        self.state().is(NudState::VALID).then(|| self.read_hh())
    }

    /// Current reference count (diagnostics; racy by nature).
    pub fn refcnt(&self) -> usize {
        // Relaxed: a diagnostic snapshot; pairs with nothing.
        self.refcnt.load(Ordering::Relaxed) as usize
    }

    /// `neigh->used`: the last tick a packet was output through the entry.
    pub fn used(&self) -> Tick {
        // Relaxed: a timestamp heuristic (GC staleness); orders nothing.
        self.used.load(Ordering::Relaxed)
    }

    /// `neigh->confirmed`: the last reachability confirmation. An entry
    /// never confirmed reads `created - 2 * base_reachable_time`, which on a
    /// table younger than that wraps below tick 0 (as jiffies do): compare
    /// it with wrapping arithmetic, or use `NeighInfo::confirmed_ago`.
    pub fn confirmed(&self) -> Tick {
        // Relaxed: as `used`.
        self.confirmed.load(Ordering::Relaxed)
    }

    /// Model builds only: panic (`rcu: use after grace period`) if this
    /// entry's memory was reclaimed. For model tests that check a lock-free
    /// lookup never hands out a freed entry; a default build has no such
    /// hook (its guards make the question moot).
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    #[doc(hidden)]
    pub fn assert_live(&self) {
        crate::rcu::assert_live(self as *const Self);
    }

    /// Has the entry been unlinked from its table (`neigh->dead`)?
    pub fn is_dead(&self) -> bool {
        self.lock.lock().dead
    }

    /// `neigh_hold`: take a reference. The caller must already own one
    /// (or, for the timer, hold the entry lock of a live entry) — exactly the
    /// rule the pre-2015 kernel broke.
    #[inline]
    pub(crate) fn hold(&self) {
        // Relaxed: the caller already holds a reference, so the count cannot
        // concurrently reach zero (the same argument as `Arc::clone`); pairs
        // with nothing.
        if self.refcnt.fetch_add(1, Ordering::Relaxed) >= MAX_REFCOUNT {
            std::process::abort();
        }
    }

    /// Increment-if-not-zero (`refcount_inc_not_zero`): the refcounted lookup.
    pub(crate) fn try_hold(&self) -> bool {
        // Relaxed: only a hint for the CAS below.
        let mut c = self.refcnt.load(Ordering::Relaxed);
        loop {
            if c == 0 {
                return false;
            }
            if c >= MAX_REFCOUNT {
                std::process::abort();
            }
            // Relaxed on success (weakened from Acquire, SPEC.md §16), as the
            // kernel's `refcount_inc_not_zero`, whose increments order
            // nothing because whatever found the object does
            // (include/linux/refcount.h): the entry was found through `lookup_noref`'s Acquire loads under a
            // guard, so its initialisation is visible and its memory stays
            // allocated; what the new holder reads later is atomics with
            // their own orderings or sits behind the entry lock; and
            // every holder's uses happen before the destroy through `put`'s
            // Release decrements and Acquire fence (this increment, an RMW,
            // continues their release sequence). L8 passes with it Relaxed,
            // in the model RCU and against the real crossbeam-epoch
            // (L8/epoch). Relaxed on failure: retried.
            match self
                .refcnt
                .compare_exchange_weak(c, c + 1, Ordering::Relaxed, Ordering::Relaxed)
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
    }
}
