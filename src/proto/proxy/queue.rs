//! The delayed-answer queue of a [`Proxy`] (`pneigh_enqueue`,
//! `neigh_proxy_process`): one FIFO per device, bounded by its
//! `proxy_qlen`, each request due after a random delay below its
//! `proxy_delay`, and the ledger that accounts for every request
//! ([`ProxyStats`]). Requests leave one at a time, so the caller processes
//! each with no lock held and a panic loses none of the others. This module
//! owns the queue and must not process frames itself.

use super::{Proxy, Waiting};
use crate::neigh::DevId;
use crate::timer::Tick;

/// What happened to a request for a proxied address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proxied {
    /// Answered now: unicast to us (`PACKET_HOST`), `proxy_delay` 0, or a
    /// queued request whose delay ran out.
    Answered,
    /// Queued for `proxy_delay` (`pneigh_enqueue`): it is processed again,
    /// and answered if the entry still exists, at tick `due`.
    Queued {
        /// When it is due.
        due: Tick,
    },
    /// The device's queue held `proxy_qlen` requests: dropped and counted.
    QueueFull,
}

/// The proxy queue's ledger (kept under the proxy's lock, so a snapshot is
/// consistent). `enqueued == redone + purged + queued_now`
/// always; `overflow` requests were never queued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Requests queued for their delay.
    pub enqueued: u64,
    /// Requests dropped because the device's queue was full.
    pub overflow: u64,
    /// Queued requests taken out to be processed again.
    pub redone: u64,
    /// Queued requests dropped with their device.
    pub purged: u64,
    /// Requests waiting now.
    pub queued_now: u64,
}

/// How a receive function may answer for proxied addresses.
#[derive(Clone, Copy, Debug)]
pub struct ProxyCtx<'a> {
    /// The entries and the queue.
    pub proxy: &'a Proxy,
    /// The current tick (queued requests are due `now` + a random delay).
    pub now: Tick,
    /// This frame was queued before and its delay ran out
    /// (`LOCALLY_ENQUEUED`): answer at once.
    pub redo: bool,
}

impl Proxy {
    /// `pneigh_enqueue`: queue `frame`, received on `dev` at tick `now`, to
    /// be processed again after a random delay in `[0, proxy_delay)`, or
    /// drop it (counted) if `proxy_qlen` requests already wait.
    pub fn enqueue(&self, dev: DevId, frame: &[u8], now: Tick) -> Proxied {
        let mut st = self.state.lock();
        let r = st.next_rand();
        let st = &mut *st;
        let room = st
            .devices
            .get_mut(&dev)
            .filter(|d| d.queue.len() < d.parms.qlen);
        let Some(d) = room else {
            st.ledger.overflow += 1;
            return Proxied::QueueFull;
        };
        let due = now.saturating_add(r.checked_rem(d.parms.delay).unwrap_or(0));
        d.queue.push_back(Waiting {
            due,
            frame: frame.to_vec(),
        });
        st.ledger.enqueued += 1;
        Proxied::Queued { due }
    }

    /// `neigh_proxy_process`, one request at a time: take out the oldest
    /// request of `dev` that is due at `now`, counted as `redone`. The
    /// caller processes it (with [`ProxyCtx::redo`] set) after this returns,
    /// so a panic while processing loses no other request.
    pub fn take_due(&self, dev: DevId, now: Tick) -> Option<Vec<u8>> {
        let mut st = self.state.lock();
        let q = &mut st.devices.get_mut(&dev)?.queue;
        let at = q.iter().position(|w| w.due <= now)?;
        let w = q.remove(at)?;
        st.ledger.redone += 1;
        Some(w.frame)
    }

    /// The earliest due tick of `dev`'s queue.
    pub fn next_due(&self, dev: DevId) -> Option<Tick> {
        let st = self.state.lock();
        st.devices.get(&dev)?.queue.iter().map(|w| w.due).min()
    }

    /// The queue's ledger.
    pub fn stats(&self) -> ProxyStats {
        let st = self.state.lock();
        ProxyStats {
            queued_now: st.devices.values().map(|d| d.queue.len() as u64).sum(),
            ..st.ledger
        }
    }
}
