//! Adversarial fixtures for the misuse suites (`tests/misuse*.rs`,
//! `tests/it/api_state_machine.rs`): a device side ([`Adv`]) that records every
//! packet it is handed, can be told to panic in any callback and can call
//! back into its table (a hook), packets whose `len()` lies or panics
//! ([`APkt`]), and the invariant checks every scenario ends with
//! ([`check`], [`teardown`]).
//!
//! Everything here uses the public API only, as an outside program would.

use neighcache::{
    DevId, DeviceConfig, DropReason, NeighKey, NeighOps, NeighStats, NeighTable, Neighbour,
    NudState, Packet, Probe, TableConfig, Tick, Xmit,
};
use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Once};

/// The IPv4 table every misuse scenario attacks.
pub type Table = NeighTable<Ipv4Addr, Adv<Ipv4Addr>>;
/// Its entries.
pub type Entry = Neighbour<Ipv4Addr, APkt>;

/// A second registered device, and one that never is.
pub const ETH1: DevId = DevId(2);
pub const NODEV: DevId = DevId(99);

/// The four `NeighOps` callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cb {
    Transmit,
    Solicit,
    ErrorReport,
    Discard,
}

impl Cb {
    pub const ALL: [Cb; 4] = [Cb::Transmit, Cb::Solicit, Cb::ErrorReport, Cb::Discard];

    /// The message the callback panics with when armed: a scenario asserts
    /// that the panic it caught is exactly this one (the callback's own).
    pub fn panic_msg(self) -> String {
        format!("adversary: {self:?} panics")
    }
}

/// What a packet's `Packet::len` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Len {
    /// An honest length.
    Fixed(usize),
    /// `usize::MAX`, every time.
    Max,
    /// 0, then `usize::MAX`, then 0, ... (changes between calls).
    Flip,
    /// Panics with [`LEN_PANIC`].
    Panic,
}

pub const LEN_PANIC: &str = "adversary: Packet::len panics";

/// A packet with an id (so every delivery can be matched to its packet) and
/// a drop counter (so a packet the cache forgets shows up as never freed).
pub struct APkt {
    pub id: u64,
    len: Len,
    len_calls: AtomicUsize,
    freed: Arc<AtomicU64>,
}

impl Packet for APkt {
    fn len(&self) -> usize {
        let n = self.len_calls.fetch_add(1, Relaxed);
        match self.len {
            Len::Fixed(l) => l,
            Len::Max => usize::MAX,
            Len::Flip if n % 2 == 0 => 0,
            Len::Flip => usize::MAX,
            Len::Panic => panic!("{LEN_PANIC}"),
        }
    }
}

impl std::fmt::Debug for APkt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "APkt#{}", self.id)
    }
}

/// Packets are equal when they are the same packet (ids are unique per log).
impl PartialEq for APkt {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Drop for APkt {
    fn drop(&mut self) {
        self.freed.fetch_add(1, Relaxed);
    }
}

/// How a packet left the cache through a callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Tx,
    ErrorReport,
    Discard(DropReason),
}

/// A hook run inside every callback (re-entrance): it gets the callback and
/// the key (`None` for `transmit`, which is not told), and usually holds a
/// `Weak` of its table.
pub type Hook<K> = Arc<dyn Fn(Cb, Option<K>) + Send + Sync>;

/// Everything one table's device side saw.
pub struct Log<K> {
    issued: AtomicU64,
    /// Packets `event_send` handed back to the caller (`EventSend::Send`).
    returned: AtomicU64,
    freed: Arc<AtomicU64>,
    deliveries: Mutex<HashMap<u64, Vec<Delivery>>>,
    solicits: Mutex<Vec<(DevId, K, Probe)>>,
    calls: [AtomicU64; 4],
    /// `(callback, calls to let through first)`, or `any` for every callback.
    panic_at: Mutex<Option<(Option<Cb>, u64)>>,
    panicked: AtomicU64,
    hook: Mutex<Option<Hook<K>>>,
}

impl<K: NeighKey> Default for Log<K> {
    fn default() -> Self {
        Log {
            issued: AtomicU64::new(0),
            returned: AtomicU64::new(0),
            freed: Arc::new(AtomicU64::new(0)),
            deliveries: Mutex::new(HashMap::new()),
            solicits: Mutex::new(Vec::new()),
            calls: Default::default(),
            panic_at: Mutex::new(None),
            panicked: AtomicU64::new(0),
            hook: Mutex::new(None),
        }
    }
}

impl<K: NeighKey> Log<K> {
    /// A fresh packet of 100 bytes, counted as issued.
    pub fn pkt(&self) -> APkt {
        self.pkt_len(Len::Fixed(100))
    }

    /// A fresh packet whose `len()` behaves as `len`.
    pub fn pkt_len(&self, len: Len) -> APkt {
        let id = self.issued.fetch_add(1, Relaxed);
        APkt {
            id,
            len,
            len_calls: AtomicUsize::new(0),
            freed: self.freed.clone(),
        }
    }

    /// Packets created (each handed to exactly one output call).
    pub fn issued(&self) -> u64 {
        self.issued.load(Relaxed)
    }

    /// A packet `event_send` handed back (`EventSend::Send(Some(p))`): the
    /// caller transmits it itself; the cache counted nothing for it.
    pub fn returned(&self, pkt: APkt) {
        self.returned.fetch_add(1, Relaxed);
        drop(pkt);
    }

    /// Packets handed to the cache and kept by it (issued, less those
    /// handed back).
    pub fn handed_in(&self) -> u64 {
        self.issued() - self.returned.load(Relaxed)
    }

    /// Packets whose memory was released.
    pub fn freed(&self) -> u64 {
        self.freed.load(Relaxed)
    }

    /// Panic in the `(after + 1)`-th next call of `cb` (`None`: of any
    /// callback), once.
    pub fn panic_on(&self, cb: Option<Cb>, after: u64) {
        *self.panic_at.lock().unwrap() = Some((cb, after));
    }

    /// Is a panic still armed (not yet fired)?
    pub fn armed(&self) -> bool {
        self.panic_at.lock().unwrap().is_some()
    }

    pub fn disarm(&self) {
        *self.panic_at.lock().unwrap() = None;
    }

    /// Panics fired so far.
    pub fn panicked(&self) -> u64 {
        self.panicked.load(Relaxed)
    }

    pub fn set_hook(&self, hook: Option<Hook<K>>) {
        *self.hook.lock().unwrap() = hook;
    }

    /// Calls of `cb` so far.
    pub fn calls(&self, cb: Cb) -> u64 {
        self.calls[cb as usize].load(Relaxed)
    }

    /// Calls of every callback so far.
    pub fn total_calls(&self) -> u64 {
        Cb::ALL.iter().map(|&c| self.calls(c)).sum()
    }

    pub fn solicits(&self) -> Vec<(DevId, K, Probe)> {
        self.solicits.lock().unwrap().clone()
    }

    /// How packet `id` left the cache (empty: it has not).
    pub fn delivery(&self, id: u64) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }

    /// Packets delivered as `d`.
    pub fn count(&self, d: Delivery) -> u64 {
        let m = self.deliveries.lock().unwrap();
        m.values().flatten().filter(|&&x| x == d).count() as u64
    }

    fn deliver(&self, pkt: APkt, how: Delivery) {
        self.deliveries
            .lock()
            .unwrap()
            .entry(pkt.id)
            .or_default()
            .push(how);
    }
}

thread_local! {
    /// Hook nesting on this thread: hooks may call the table, which calls
    /// back; beyond this depth callbacks stop calling the hook.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// The adversarial device side.
pub struct Adv<K> {
    pub log: Arc<Log<K>>,
}

impl<K: NeighKey> Adv<K> {
    fn call(&self, cb: Cb, key: Option<K>) {
        self.log.calls[cb as usize].fetch_add(1, Relaxed);
        let hook = self.log.hook.lock().unwrap().clone();
        if let Some(h) = hook {
            if DEPTH.get() < 3 {
                DEPTH.set(DEPTH.get() + 1);
                // Restore the depth however the hook is left.
                struct Down;
                impl Drop for Down {
                    fn drop(&mut self) {
                        DEPTH.set(DEPTH.get() - 1);
                    }
                }
                let _down = Down;
                h(cb, key);
            }
        }
        let fire = {
            let mut p = self.log.panic_at.lock().unwrap();
            match *p {
                Some((c, 0)) if c.is_none_or(|c| c == cb) => {
                    *p = None;
                    true
                }
                Some((c, ref mut n)) if c.is_none_or(|c| c == cb) => {
                    *n -= 1;
                    false
                }
                _ => false,
            }
        };
        if fire {
            self.log.panicked.fetch_add(1, Relaxed);
            panic!("{}", cb.panic_msg());
        }
    }
}

impl<K: NeighKey> NeighOps<K> for Adv<K> {
    type Packet = APkt;
    fn transmit(&self, _dev: DevId, _hh: &[u8], pkt: APkt) {
        // Record first: the packet was moved in, so it counts as delivered
        // even if this callback then panics.
        self.log.deliver(pkt, Delivery::Tx);
        self.call(Cb::Transmit, None);
    }
    fn solicit(&self, dev: DevId, key: &K, probe: Probe) {
        self.log.solicits.lock().unwrap().push((dev, *key, probe));
        self.call(Cb::Solicit, Some(*key));
    }
    fn error_report(&self, _dev: DevId, key: &K, pkt: APkt) {
        self.log.deliver(pkt, Delivery::ErrorReport);
        self.call(Cb::ErrorReport, Some(*key));
    }
    fn discard(&self, _dev: DevId, key: &K, pkt: APkt, reason: DropReason) {
        self.log.deliver(pkt, Delivery::Discard(reason));
        self.call(Cb::Discard, Some(*key));
    }
}

// ----- builders ------------------------------------------------------------

/// The Ethernet device every scenario registers.
pub fn eth() -> DeviceConfig {
    DeviceConfig::ethernet(super::SRC_MAC, 0x0800)
}

/// A table on `cfg` whose clock starts at `start`, with [`super::DEV`] and
/// [`ETH1`] registered, and its log.
pub fn adv_table_at(cfg: TableConfig, start: Tick) -> (Arc<Table>, Arc<Log<Ipv4Addr>>) {
    quiet_adversary_panics();
    let log = Arc::new(Log::default());
    let t = NeighTable::with_start(cfg, Adv { log: log.clone() }, start).expect("valid config");
    t.add_device(super::DEV, eth()).unwrap();
    t.add_device(ETH1, eth()).unwrap();
    (Arc::new(t), log)
}

/// [`adv_table_at`] at tick 1,000,000 (so "long ago" is representable).
pub fn adv_table(cfg: TableConfig) -> (Arc<Table>, Arc<Log<Ipv4Addr>>) {
    adv_table_at(cfg, 1_000_000)
}

/// [`adv_table`] with the default parameters and a fixed seed.
pub fn adv() -> (Arc<Table>, Arc<Log<Ipv4Addr>>) {
    adv_table(super::test_config())
}

/// A hook that runs `f` with the table while the table is alive (the hook
/// holds only a `Weak`, so it never keeps the table alive or sees it being
/// dropped).
pub fn hook(
    t: &Arc<Table>,
    f: impl Fn(&Table, Cb, Option<Ipv4Addr>) + Send + Sync + 'static,
) -> Option<Hook<Ipv4Addr>> {
    let w = Arc::downgrade(t);
    Some(Arc::new(move |cb, key| {
        if let Some(t) = w.upgrade() {
            f(&t, cb, key)
        }
    }))
}

// ----- panics --------------------------------------------------------------

/// Keep the adversary's own panics (expected) out of the test output; any
/// other panic is printed as usual.
pub fn quiet_adversary_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !payload_msg(info.payload()).starts_with("adversary: ") {
                default(info)
            }
        }));
    });
}

/// A panic payload as text.
pub fn payload_msg(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Run `f`, returning its value or its panic message.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| payload_msg(&*p))
}

/// Run `f`, which must panic with exactly `msg` (the armed callback's own
/// panic, propagated unchanged to the caller).
pub fn expect_panic<R>(msg: &str, f: impl FnOnce() -> R) {
    match catch(f) {
        Ok(_) => panic!("expected the panic {msg:?}, the call returned normally"),
        Err(m) => assert_eq!(m, msg, "a panic other than the callback's own"),
    }
}

// ----- invariants ----------------------------------------------------------

/// The table's invariants between calls (nothing in progress), given the
/// test's own counted handles `held` (entries of `t` only; noref entries
/// hold no reference and are not listed):
///
/// * **ledger**: every packet handed in is counted once
///   (`packets_in == issued`); every delivery the ops saw matches a counter
///   (transmits = `sent + flushed`, error reports = `dropped_res_failed`,
///   each discard reason = its counter); no packet was delivered twice; each
///   packet was delivered, counted `Unwound`, or is still queued; and the
///   packets whose memory is still alive are exactly the queued ones;
/// * **refcounts** (as `shuttle-tests/common::quiescent_checks`): each linked
///   entry holds the table's link, one reference if it is in a timer state,
///   and the test's handles; each dead entry held by the test holds only
///   those handles; armed timers = entries in a timer state; entries
///   allocated = linked + dead-but-held;
/// * packets are queued only on INCOMPLETE entries, and the queues add up to
///   `packets_queued_now()`.
pub fn check(t: &Table, log: &Log<Ipv4Addr>, held: &[&Entry]) -> NeighStats {
    let s = t.stats();
    assert_eq!(
        s.packets_in(),
        log.handed_in(),
        "a packet was not counted in: {s:?}"
    );
    assert!(s.packets_out() <= s.packets_in(), "more out than in: {s:?}");
    let queued = s.packets_queued_now();
    {
        let d = log.deliveries.lock().unwrap();
        let twice: Vec<_> = d.iter().filter(|(_, v)| v.len() > 1).collect();
        assert!(twice.is_empty(), "packets delivered twice: {twice:?}");
        let n = |x: Delivery| d.values().flatten().filter(|&&y| y == x).count() as u64;
        assert_eq!(n(Delivery::Tx), s.sent + s.flushed, "transmits: {s:?}");
        assert_eq!(n(Delivery::ErrorReport), s.dropped_res_failed, "{s:?}");
        for (r, c) in [
            (DropReason::QueueOverflow, s.unres_discards),
            (DropReason::Dead, s.dropped_dead),
            (DropReason::DeviceDown, s.dropped_device_down),
            (DropReason::Destroyed, s.dropped_destroyed),
            (DropReason::TableFull, s.dropped_table_full),
            (DropReason::UnknownDevice, s.dropped_unknown_device),
            (DropReason::Failed, s.dropped_failed),
            (DropReason::ForeignEntry, s.dropped_foreign),
            (DropReason::ResolutionFailed, 0),
            (DropReason::Unwound, 0),
        ] {
            assert_eq!(n(Delivery::Discard(r)), c, "discards for {r:?}: {s:?}");
        }
        assert_eq!(
            log.handed_in(),
            d.len() as u64 + s.dropped_unwound + queued,
            "a packet was neither delivered, counted unwound, nor queued: {s:?}"
        );
    }
    assert_eq!(
        log.issued() - log.freed(),
        queued,
        "packets alive != packets queued (leaked or freed twice): {s:?}"
    );
    let dump = t.dump();
    assert_eq!(
        queued,
        dump.iter().map(|e| e.queue_len as u64).sum::<u64>(),
        "queued-packet count disagrees with the queues: {s:?}"
    );
    let g = t.pin();
    let mine = |n: &Entry| held.iter().filter(|h| std::ptr::eq(**h, n)).count();
    let mut in_timer = 0;
    for e in &dump {
        let n = t
            .lookup_noref(e.key, e.dev, &g)
            .expect("a dumped entry is linked");
        assert!(!n.is_dead(), "linked entry marked dead: {e}");
        let timer = usize::from(e.state.is(NudState::IN_TIMER));
        in_timer += timer;
        assert_eq!(
            e.refcnt,
            1 + timer + mine(n),
            "refcount is not link + timer + handles: {e}"
        );
        if e.queue_len > 0 {
            assert_eq!(
                e.state,
                NudState::INCOMPLETE,
                "queue on a non-resolving entry: {e}"
            );
        }
    }
    let mut dead: Vec<&Entry> = held.iter().copied().filter(|h| h.is_dead()).collect();
    dead.sort_by_key(|h| *h as *const Entry);
    dead.dedup_by_key(|h| *h as *const Entry);
    for h in &dead {
        assert_eq!(
            h.refcnt(),
            mine(h),
            "a dead entry holds more than its handles"
        );
        assert!(
            !h.state().is(NudState::IN_TIMER),
            "dead entry in a timer state"
        );
    }
    assert_eq!(
        t.timers().pending(),
        in_timer,
        "armed timers != timer states"
    );
    assert_eq!(
        s.entries,
        dump.len() + dead.len(),
        "allocated != linked + held: {s:?}"
    );
    assert_eq!(s.allocs - s.destroys, s.entries as u64, "{s:?}");
    s
}

/// Close the books on a table the test holds no handle on: flush every
/// entry, then `allocs == destroys`, nothing queued or armed, every packet
/// delivered once or counted `Unwound`, every packet freed; then drop the
/// table (it must be the last `Arc`), which must make no callback, and
/// leave no packet alive.
pub fn teardown(t: Arc<Table>, log: &Log<Ipv4Addr>) {
    log.disarm();
    log.set_hook(None);
    t.flush_dev(None);
    let s = check(&t, log, &[]);
    assert_eq!(s.allocs, s.destroys, "entries leaked: {s:?}");
    assert_eq!((s.entries, t.timers().pending()), (0, 0));
    assert_eq!(s.packets_queued_now(), 0);
    let calls = log.total_calls();
    assert_eq!(Arc::strong_count(&t), 1, "the test still shares the table");
    drop(t);
    assert_eq!(
        log.total_calls(),
        calls,
        "callbacks during teardown of an empty table"
    );
    assert_eq!(log.issued(), log.freed(), "packets leaked");
}

/// Run the table's timers for `total` ticks in steps of 250 (as a timer
/// thread would), so each handler sees a time close to its deadline.
pub fn run_for(t: &Table, total: Tick) {
    let end = t.jiffies() + total;
    while t.jiffies() < end {
        t.run_timers((t.jiffies() + 250).min(end)).unwrap();
    }
}

/// `10.0.a.b`.
pub fn ip4(a: u8, b: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, a, b)
}

/// Resolve `key` on DEV to `mac`: one packet queued, then an ARP reply.
pub fn resolve(t: &Table, log: &Log<Ipv4Addr>, key: Ipv4Addr, mac: [u8; 6]) {
    assert_eq!(t.resolve_output(key, super::DEV, log.pkt()), Xmit::Queued);
    t.receive_arp(key, super::DEV, &mac, true).unwrap();
    assert_eq!(
        t.lookup(key, super::DEV).unwrap().state(),
        NudState::REACHABLE
    );
}
