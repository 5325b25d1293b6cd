//! The reverse direction: the table's own entries pushed into the kernel,
//! driven by the table's events, so that `ip neigh` and the rest of the
//! host see the neighbours a user-space resolver found.
//!
//! Rules: an entry is pushed while it is VALID and is the table's own: not
//! reported by the kernel (`kernel_keys`), and not written by the mirror
//! since the last read of the events (`applied_since_drain`: those events
//! are the mirror's own). It is installed as `NOARP extern_learn` with our
//! `NDA_PROTOCOL` (so the kernel neither ages nor probes it, and the mirror
//! never takes it back), replaced when its address or router flag changes,
//! and deleted when it stops being VALID or is removed. `pushed` records
//! what the kernel has, so an unchanged entry costs no request. A lost
//! event (the queue overflowed) costs a full reconciliation against
//! `dump()`. Each request's acknowledgement is read before the next
//! request is sent (the kernel queues it before `send` returns), so that a
//! pass over thousands of entries cannot overflow the socket with
//! acknowledgements; a refusal is counted and the entry is not recorded as
//! the kernel's, so that its next change is tried again.

use super::decode::{decode_datagram, Decoded};
use super::mirror::{KernelMirror, MirrorError, DUMP_TIMEOUT};
use super::socket::Recv;
use super::Family;
use crate::neigh::{DevId, EventKind, NeighFlags, NeighOps, NudState, Received};
use std::collections::HashMap;
use std::time::Instant;

/// What the kernel should have for an entry: its address and router flag
/// while VALID, nothing otherwise.
type Want = Option<(Vec<u8>, bool)>;

impl<K: Family, O: NeighOps<K>> KernelMirror<K, O> {
    /// Push what changed in the table since the last call.
    pub(super) fn push_pending(&mut self) -> Result<(), MirrorError> {
        let Some(events) = &self.events else {
            return Ok(());
        };
        let mut wants: HashMap<(DevId, K), Want> = HashMap::new();
        let mut lost = false;
        while let Some(r) = events.try_recv() {
            match r {
                Received::Event(e) => {
                    let want = (e.kind != EventKind::Delete && e.state.is(NudState::VALID))
                        .then(|| {
                            e.lladdr.map(|a| {
                                (a.as_bytes().to_vec(), e.flags.contains(NeighFlags::ROUTER))
                            })
                        })
                        .flatten();
                    // The last event of a key says what it is now.
                    wants.insert((e.dev, e.key), want);
                }
                Received::Lost(_) => lost = true,
            }
        }
        let skip = std::mem::take(&mut self.applied_since_drain);
        for (k, want) in wants {
            if !skip.contains(&k) {
                self.push_one(k, want)?;
            }
        }
        if lost {
            self.push_reconcile()?;
        }
        Ok(())
    }

    /// Make the kernel hold exactly the table's own VALID entries (at the
    /// start, and after lost events).
    pub(super) fn push_reconcile(&mut self) -> Result<(), MirrorError> {
        self.stats.push_resyncs += 1;
        self.applied_since_drain.clear();
        let mut wants: HashMap<(DevId, K), Want> = self.pushed.keys().map(|k| (*k, None)).collect();
        for e in self.table.dump() {
            let want = e
                .lladdr
                .filter(|_| e.state.is(NudState::VALID))
                .map(|a| (a.as_bytes().to_vec(), e.flags.contains(NeighFlags::ROUTER)));
            wants.insert((e.dev, e.key), want);
        }
        for (k, want) in wants {
            self.push_one(k, want)?;
        }
        Ok(())
    }

    /// Bring the kernel's copy of one entry to `want`.
    fn push_one(&mut self, (dev, key): (DevId, K), want: Want) -> Result<(), MirrorError> {
        if self.kernel_keys.contains(&(dev, key)) {
            return Ok(());
        }
        if !self.links.get(&dev.0).is_some_and(|l| l.mirrored) {
            return Ok(());
        }
        let Some(sock) = self.push_sock.as_mut() else {
            return Ok(());
        };
        let have = self.pushed.get(&(dev, key));
        if have == want.as_ref() {
            return Ok(());
        }
        let seq = match &want {
            Some((lladdr, router)) => {
                sock.push_neigh(dev.0, key.to_ip(), lladdr, *router, self.cfg.protocol)?
            }
            None => sock.delete_neigh(dev.0, key.to_ip())?,
        };
        // Whatever the answer, the kernel's copy is known only on success.
        self.pushed.remove(&(dev, key));
        if !self.push_ack(seq)? {
            self.stats.push_errors += 1;
            return Ok(());
        }
        match want {
            Some(w) => {
                self.stats.pushed += 1;
                self.pushed.insert((dev, key), w);
            }
            None => self.stats.push_deleted += 1,
        }
        Ok(())
    }

    /// Wait (at most [`DUMP_TIMEOUT`]) for the acknowledgement of push
    /// request `seq`: `Ok(true)` if the kernel applied it, `Ok(false)` if it
    /// refused it (or the answer was lost).
    fn push_ack(&mut self, seq: u32) -> Result<bool, MirrorError> {
        let deadline = Instant::now() + DUMP_TIMEOUT;
        let Some(sock) = self.push_sock.as_mut() else {
            return Ok(false);
        };
        loop {
            let msgs = match sock.recv_by(deadline)? {
                None => return Err(MirrorError::Timeout),
                Some(Recv::Data(d)) => decode_datagram(d),
                Some(Recv::Empty) => continue,
                // The push socket joins no group and has one request out:
                // a lost or cut answer is this request's.
                Some(Recv::Overrun | Recv::Truncated) => return Ok(false),
                Some(Recv::Foreign) => {
                    self.stats.not_from_kernel += 1;
                    continue;
                }
            };
            for m in msgs {
                if let (true, Decoded::Error { code }) = (m.seq == seq, m.what) {
                    return Ok(code == 0);
                }
            }
        }
    }
}
