//! The mirror itself: its configuration, counters and state, the read loop
//! (`process`), dumps and the overrun resync, and the thread that runs it.
//!
//! Rules: one thread at a time drives a `KernelMirror` (`&mut self`); it
//! owns its sockets, its record of which table entries are the kernel's
//! (`kernel_keys`) and which it pushed (`pushed`), and changes the table
//! only through `apply`, `resync` and `push`. Notifications are applied in
//! socket order, which is the kernel's order. Nothing here blocks longer
//! than [`DUMP_TIMEOUT`] waiting for the kernel.

use super::decode::{Decoded, Message};
use super::socket::Rtnl;
use super::Family;
use crate::neigh::{DevId, EventFilter, EventReceiver, NeighOps, NeighTable};
use crate::sync::Mutex;
use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

/// The `NDA_PROTOCOL` value pushed entries carry by default (the loop
/// mark): unassigned in Linux's `rtnetlink.h` and iproute2's `rt_protos`.
pub const DEFAULT_PROTOCOL: u8 = 0xfa;
/// How long a dump, or the acknowledgement of a pushed entry, may take
/// before [`MirrorError::Timeout`].
pub const DUMP_TIMEOUT: Duration = Duration::from_secs(10);

/// What to mirror and how.
#[derive(Clone, Debug)]
pub struct MirrorConfig {
    /// Interface names to follow; empty: every interface. A name is
    /// followed when it appears, renamed or created, and dropped when it
    /// goes.
    pub interfaces: Vec<String>,
    /// Apply the kernel's entries to the table (on by default).
    pub from_kernel: bool,
    /// Push the table's own VALID entries into the kernel as `NOARP
    /// extern_learn` entries (off by default).
    pub to_kernel: bool,
    /// The notification socket's receive buffer in bytes (`None`: the
    /// system default, `net.core.rmem_default`). Larger means fewer
    /// overruns under bursts; an overrun is recovered either way.
    pub rcvbuf: Option<usize>,
    /// `NDA_PROTOCOL` of pushed entries; entries with it are never
    /// mirrored back.
    pub protocol: u8,
    /// The event queue the push direction reads (events; a full queue
    /// costs a full reconciliation, [`MirrorStats::push_resyncs`]).
    pub push_queue: usize,
    /// Where proxy entries (`ip neigh add proxy`) go; `None`: they are
    /// counted ([`MirrorStats::proxy_skipped`]) and ignored.
    #[cfg(feature = "proto")]
    pub proxy: Option<Arc<crate::proto::proxy::Proxy>>,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        MirrorConfig {
            interfaces: Vec::new(),
            from_kernel: true,
            to_kernel: false,
            rcvbuf: Some(4 << 20),
            protocol: DEFAULT_PROTOCOL,
            push_queue: 1 << 16,
            #[cfg(feature = "proto")]
            proxy: None,
        }
    }
}

/// The mirror's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorStats {
    /// Netlink messages decoded (notifications and dump replies).
    pub messages: u64,
    /// Entries created in the table.
    pub created: u64,
    /// Entries changed in the table.
    pub changed: u64,
    /// Reports that matched the table already (no change, no event).
    pub unchanged: u64,
    /// Entries removed from the table (deleted by the kernel, or missing
    /// from a resync's dump).
    pub deleted: u64,
    /// Neighbour dumps made (the first included).
    pub dumps: u64,
    /// Dumps made because the socket overran (`ENOBUFS`) or a datagram was
    /// cut.
    pub resyncs: u64,
    /// Links registered as table devices.
    pub links_added: u64,
    /// Links removed (their entries flushed).
    pub links_removed: u64,
    /// Skipped: datagrams sent by another socket than the kernel's (a
    /// process may send to the mirror's port, or as root to its groups).
    pub not_from_kernel: u64,
    /// Skipped: a truncated message or datagram.
    pub bad_truncated: u64,
    /// Skipped: a message the decoder refused.
    pub bad_malformed: u64,
    /// Skipped: `NDA_DST` of the wrong length for the family.
    pub bad_address_len: u64,
    /// Skipped: a neighbour message without `NDA_DST`.
    pub bad_no_destination: u64,
    /// Skipped: a link-layer address of the wrong length for the device,
    /// or none for a VALID state.
    pub bad_lladdr: u64,
    /// Skipped: a state that is not one NUD state.
    pub bad_state: u64,
    /// Attributes not known to the decoder (skipped; the rest applied).
    pub unknown_attrs: u64,
    /// Skipped: a neighbour on an interface index the mirror does not know.
    pub unknown_ifindex: u64,
    /// Skipped: refused by the table (`TableFull`, a removed entry).
    pub table_errors: u64,
    /// Skipped: entries carrying our `NDA_PROTOCOL` (pushed by us).
    pub own_skipped: u64,
    /// Skipped: proxy entries with no [`MirrorConfig::proxy`].
    pub proxy_skipped: u64,
    /// Proxy entries added to or removed from the `Proxy`.
    pub proxy_applied: u64,
    /// Entries pushed into the kernel (added or replaced).
    pub pushed: u64,
    /// Pushed entries deleted from the kernel.
    pub push_deleted: u64,
    /// Push requests the kernel refused.
    pub push_errors: u64,
    /// Full reconciliations of the pushed entries (the start, and after
    /// the table's event queue overflowed).
    pub push_resyncs: u64,
}

/// Why the mirror stopped.
#[derive(Debug)]
pub enum MirrorError {
    /// The socket failed.
    Io(io::Error),
    /// The kernel did not finish a dump, or acknowledge a pushed entry,
    /// within [`DUMP_TIMEOUT`].
    Timeout,
    /// The table refused the push direction's subscription.
    Table(crate::NeighError),
}

impl core::fmt::Display for MirrorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MirrorError::Io(e) => write!(f, "rtnetlink socket: {e}"),
            MirrorError::Timeout => write!(f, "the kernel did not answer in time"),
            MirrorError::Table(e) => write!(f, "table: {e}"),
        }
    }
}

impl std::error::Error for MirrorError {}

impl From<io::Error> for MirrorError {
    fn from(e: io::Error) -> Self {
        MirrorError::Io(e)
    }
}

/// A link the mirror knows.
#[derive(Clone, Debug)]
pub(super) struct Link {
    pub(super) address: Option<Vec<u8>>,
    pub(super) noarp: bool,
    /// Selected by the configuration and registered in the table.
    pub(super) mirrored: bool,
}

/// Keeps a [`NeighTable`] equal to the kernel's neighbour table (and
/// optionally the kernel aware of the table's own entries). See the
/// [module docs](super).
pub struct KernelMirror<K: Family, O: NeighOps<K>> {
    pub(super) table: Arc<NeighTable<K, O>>,
    pub(super) cfg: MirrorConfig,
    pub(super) sock: Rtnl,
    /// The push direction's socket and event queue.
    pub(super) push_sock: Option<Rtnl>,
    pub(super) events: Option<EventReceiver<K>>,
    pub(super) links: HashMap<u32, Link>,
    /// Table entries that are the kernel's (applied from it).
    pub(super) kernel_keys: HashSet<(DevId, K)>,
    /// Proxy entries applied from the kernel.
    pub(super) proxy_keys: HashSet<(DevId, K)>,
    /// Entries pushed, with the (address, router) the kernel has for them.
    pub(super) pushed: HashMap<(DevId, K), (Vec<u8>, bool)>,
    /// Keys the mirror wrote since the push direction last read the
    /// table's events: those events are the mirror's own.
    pub(super) applied_since_drain: HashSet<(DevId, K)>,
    /// The socket that asks for dumps (it joins no group, so its replies
    /// never compete with notifications for buffer space).
    pub(super) dump_sock: Rtnl,
    /// The socket overran (or a datagram was cut): dump again.
    pub(super) need_resync: bool,
    /// A followed link appeared or changed: dump again (not an overrun).
    pub(super) need_dump: bool,
    pub(super) stats: MirrorStats,
    shared: Arc<Mutex<MirrorStats>>,
}

impl<K: Family, O: NeighOps<K>> KernelMirror<K, O> {
    /// Open the sockets in the calling thread's network namespace, read the
    /// links and (with `from_kernel`) dump the kernel's neighbours into
    /// `table`; with `to_kernel`, subscribe to the table and push its
    /// entries. Devices are registered in `table` as they are found
    /// (`DevId(ifindex)`; a device already registered is used as it is).
    pub fn open(table: Arc<NeighTable<K, O>>, cfg: MirrorConfig) -> Result<Self, MirrorError> {
        let sock = Rtnl::open(true, cfg.rcvbuf)?;
        let (push_sock, events) = if cfg.to_kernel {
            let ev = table
                .subscribe(cfg.push_queue, EventFilter::All)
                .map_err(MirrorError::Table)?;
            (Some(Rtnl::open(false, None)?), Some(ev))
        } else {
            (None, None)
        };
        let mut m = KernelMirror {
            table,
            cfg,
            sock,
            push_sock,
            events,
            links: HashMap::new(),
            kernel_keys: HashSet::new(),
            proxy_keys: HashSet::new(),
            pushed: HashMap::new(),
            applied_since_drain: HashSet::new(),
            dump_sock: Rtnl::open(false, None)?,
            need_resync: false,
            need_dump: false,
            stats: MirrorStats::default(),
            shared: Arc::new(Mutex::new(MirrorStats::default())),
        };
        if !m.read_links()? {
            return Err(MirrorError::Io(io::Error::other(
                "the kernel refused the link dump",
            )));
        }
        m.resync()?;
        if m.cfg.to_kernel {
            m.push_reconcile()?;
        }
        m.publish();
        Ok(m)
    }

    /// The table this mirror writes.
    pub fn table(&self) -> &Arc<NeighTable<K, O>> {
        &self.table
    }

    /// The counters.
    pub fn stats(&self) -> MirrorStats {
        self.stats
    }

    /// The notification socket's netlink port. Another process (as root)
    /// can send to it; what it sends is dropped unread and counted
    /// ([`MirrorStats::not_from_kernel`]): only the kernel is believed.
    pub fn port(&self) -> u32 {
        self.sock.port()
    }

    /// The notification socket, for a caller's `poll`/`epoll` (readable:
    /// call [`process`](Self::process)). With `to_kernel`, also call
    /// `process` when the table changed (or every few milliseconds).
    pub fn fd(&self) -> RawFd {
        self.sock.fd()
    }

    /// Apply everything waiting, without blocking (except to finish a
    /// dump the kernel has started): notifications, a resync if the socket
    /// overran, and, with `to_kernel`, the table's changes. Returns the
    /// number of messages read.
    pub fn process(&mut self) -> Result<usize, MirrorError> {
        if self.cfg.to_kernel {
            self.push_pending()?;
        }
        let read = self.drain(None)?;
        if self.need_resync || self.need_dump {
            if self.need_resync {
                self.stats.resyncs += 1;
            }
            self.resync()?;
        }
        if self.cfg.to_kernel {
            self.push_pending()?;
        }
        self.publish();
        Ok(read)
    }

    /// Dump the kernel's table again and apply the difference, as after an
    /// overrun (but not counted as one): the way to read proxy entries
    /// added or removed since the last dump, which the kernel does not
    /// announce (Linux 6.18 sends no `RTM_NEWNEIGH` for `pneigh`).
    pub fn refresh(&mut self) -> Result<(), MirrorError> {
        self.need_dump = true;
        self.process().map(drop)
    }

    /// Wait up to `timeout` (`None`: until something arrives) for the
    /// kernel, then [`process`](Self::process).
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<usize, MirrorError> {
        self.sock.wait_readable(timeout)?;
        self.process()
    }

    /// Run the mirror on a thread of its own until the returned handle
    /// is stopped or dropped. It wakes on every kernel message, and every
    /// 2 ms with `to_kernel` (to push the table's changes), else every
    /// 50 ms (to notice a stop).
    pub fn spawn(self) -> io::Result<MirrorThread<K, O>> {
        let control = Arc::new(Mutex::new(Control::default()));
        let shared = self.shared.clone();
        let tick = if self.cfg.to_kernel {
            Duration::from_millis(2)
        } else {
            Duration::from_millis(50)
        };
        let c = control.clone();
        let handle = std::thread::Builder::new()
            .name("neighcache-kmirror".into())
            .spawn(move || {
                let mut m = self;
                loop {
                    let now = core::mem::take(&mut *c.lock());
                    if now.stop {
                        return Ok(m);
                    }
                    m.need_dump |= now.refresh;
                    m.poll(Some(tick))?;
                }
            })?;
        Ok(MirrorThread {
            control,
            shared,
            handle: Some(handle),
        })
    }

    /// Copy the counters where a [`MirrorThread`] reads them.
    fn publish(&self) {
        *self.shared.lock() = self.stats;
    }

    /// Decode and apply one datagram as if it had arrived on the socket
    /// (the unit tests' way in).
    #[cfg(test)]
    pub(super) fn apply_datagram(&mut self, datagram: &[u8]) {
        for m in super::decode::decode_datagram(datagram) {
            self.handle(m);
        }
    }

    /// Apply one notification.
    pub(super) fn handle(&mut self, m: Message) {
        self.stats.messages += 1;
        match m.what {
            Decoded::Neigh { del, n } => self.on_neigh(del, n),
            Decoded::Link { del, l } => self.on_link(del, l, false),
            // Nothing is asked on this socket: no reply is expected.
            Decoded::Done | Decoded::Error { .. } | Decoded::Other => {}
            Decoded::Bad(b) => self.count_bad(b),
        }
    }

    /// Is every selected interface followed (`true` for an empty list)?
    pub(super) fn selected(&self, name: &str) -> bool {
        self.cfg.interfaces.is_empty() || self.cfg.interfaces.iter().any(|n| n == name)
    }
}

impl<K: Family, O: NeighOps<K>> core::fmt::Debug for KernelMirror<K, O> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KernelMirror")
            .field("family", &K::FAMILY)
            .field("links", &self.links.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// Requests to a mirror's thread, read at each pass.
#[derive(Default)]
struct Control {
    stop: bool,
    refresh: bool,
}

/// A [`KernelMirror`] running on its own thread ([`KernelMirror::spawn`]).
/// Dropping it stops the thread.
pub struct MirrorThread<K: Family, O: NeighOps<K>> {
    control: Arc<Mutex<Control>>,
    shared: Arc<Mutex<MirrorStats>>,
    handle: Option<std::thread::JoinHandle<Result<KernelMirror<K, O>, MirrorError>>>,
}

impl<K: Family, O: NeighOps<K>> MirrorThread<K, O> {
    /// The counters as of the thread's last pass.
    pub fn stats(&self) -> MirrorStats {
        *self.shared.lock()
    }

    /// Ask the thread to [`refresh`](KernelMirror::refresh) (at its next
    /// pass, within milliseconds).
    pub fn refresh(&self) {
        self.control.lock().refresh = true;
    }

    /// Has the thread stopped on an error (see [`stop`](Self::stop))?
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Stop the thread and take the mirror back, or the error that stopped
    /// it.
    pub fn stop(mut self) -> Result<KernelMirror<K, O>, MirrorError> {
        self.control.lock().stop = true;
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(p)) => std::panic::resume_unwind(p),
            None => Err(MirrorError::Io(io::Error::other("already stopped"))),
        }
    }
}

impl<K: Family, O: NeighOps<K>> Drop for MirrorThread<K, O> {
    fn drop(&mut self) {
        self.control.lock().stop = true;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl<K: Family, O: NeighOps<K>> core::fmt::Debug for MirrorThread<K, O> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MirrorThread")
            .field("stats", &self.stats())
            .finish()
    }
}
