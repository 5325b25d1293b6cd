//! Reading the sockets: draining the notifications, and the dumps (links at
//! the start; neighbours at the start, after an overrun and on request)
//! with the rule that makes a resync exact and quiet.
//!
//! The resync rule: (1) apply every notification waiting; (2) dump the
//! kernel's neighbours on the request socket, collecting them; (3) collect
//! the notifications that arrived meanwhile; (4) apply the dump's entries
//! that no notification of (3) names (an entry equal already changes
//! nothing and raises no event), then (3)'s notifications in order (for the
//! entries they name, the last one is at least as new as the dump: every
//! change after the dump read an entry is announced after it); (5) remove
//! the kernel's entries that neither names. If the notification socket
//! overran again during (2)-(3), (5) is skipped and the round repeats, at
//! most [`MAX_RESYNC_ROUNDS`] times per call. After an overrun, the links
//! are dumped again before (2): a lost `RTM_NEWLINK` or `RTM_DELLINK` is in
//! no neighbour dump, so links the dump lists are applied as notified and
//! links it lacks are removed with their entries.
//!
//! Rules: dumps are asked and read on `dump_sock`, which joins no group,
//! so a dump's replies are never dropped for notifications; every wait is
//! bounded by [`DUMP_TIMEOUT`]; a failed dump (an error reply) changes
//! nothing and is retried like an overrun.

use super::decode::{decode_datagram, Decoded, KernelLink, KernelNeigh};
use super::mirror::{KernelMirror, MirrorError, DUMP_TIMEOUT};
use super::socket::Recv;
use super::Family;
use crate::neigh::{DevId, NeighOps};
use std::collections::HashSet;
use std::time::Instant;

/// Dumps in a row that one call may make while the kernel keeps
/// overrunning the notification socket; past it, the next call resumes.
const MAX_RESYNC_ROUNDS: u32 = 4;
/// Messages one drain reads at most (a storm cannot keep a call forever).
const MAX_DRAIN: usize = 1 << 20;

/// Neighbour messages collected instead of applied: (`RTM_DELNEIGH`?, entry).
pub(super) type Collected = Vec<(bool, KernelNeigh)>;

impl<K: Family, O: NeighOps<K>> KernelMirror<K, O> {
    /// Read the notification socket until nothing waits (at most
    /// [`MAX_DRAIN`] messages): neighbour messages are applied, or
    /// collected into `collect`; the rest is applied. An overrun or a cut
    /// datagram sets `need_resync`. Returns the messages read.
    pub(super) fn drain(
        &mut self,
        mut collect: Option<&mut Collected>,
    ) -> Result<usize, MirrorError> {
        let mut read = 0;
        while read < MAX_DRAIN {
            let msgs = match self.sock.recv()? {
                Recv::Data(d) => decode_datagram(d),
                Recv::Empty => break,
                Recv::Overrun => {
                    self.need_resync = true;
                    continue;
                }
                Recv::Truncated => {
                    self.stats.bad_truncated += 1;
                    self.need_resync = true;
                    continue;
                }
                Recv::Foreign => {
                    self.stats.not_from_kernel += 1;
                    continue;
                }
            };
            read += msgs.len();
            for m in msgs {
                match (&mut collect, m.what) {
                    (Some(v), Decoded::Neigh { del, n }) => {
                        self.stats.messages += 1;
                        v.push((del, n));
                    }
                    (_, what) => self.handle(super::decode::Message { what, ..m }),
                }
            }
        }
        Ok(read)
    }

    /// Read the reply to dump request `seq` to the end: its neighbour
    /// messages and its links, or `None` if the kernel refused.
    fn dump_reply(
        &mut self,
        seq: u32,
    ) -> Result<Option<(Collected, Vec<KernelLink>)>, MirrorError> {
        let deadline = Instant::now() + DUMP_TIMEOUT;
        let (mut out, mut links) = (Vec::new(), Vec::new());
        loop {
            let msgs = match self.dump_sock.recv_by(deadline)? {
                None => return Err(MirrorError::Timeout),
                Some(Recv::Data(d)) => decode_datagram(d),
                Some(Recv::Empty) => continue,
                // Only replies arrive here; a lost or cut one spoils the dump.
                Some(Recv::Overrun | Recv::Truncated) => return Ok(None),
                Some(Recv::Foreign) => {
                    self.stats.not_from_kernel += 1;
                    continue;
                }
            };
            for m in msgs {
                if m.seq != seq {
                    continue;
                }
                self.stats.messages += 1;
                match m.what {
                    Decoded::Done => return Ok(Some((out, links))),
                    Decoded::Error { .. } => return Ok(None),
                    Decoded::Neigh { del, n } => out.push((del, n)),
                    Decoded::Link { del: false, l } => links.push(l),
                    Decoded::Bad(b) => self.count_bad(b),
                    _ => {}
                }
            }
        }
    }

    /// Read every link (at the start, and after an overrun): each is
    /// applied as notified, and the links the mirror knew that the dump
    /// lacks are removed (their `RTM_DELLINK` was lost). `Ok(false)` if
    /// the kernel refused the dump (nothing changed).
    pub(super) fn read_links(&mut self) -> Result<bool, MirrorError> {
        let seq = self.dump_sock.dump_links()?;
        let Some((_, links)) = self.dump_reply(seq)? else {
            return Ok(false);
        };
        let listed: HashSet<u32> = links.iter().map(|l| l.ifindex).collect();
        let gone: Vec<u32> = self
            .links
            .keys()
            .filter(|i| !listed.contains(i))
            .copied()
            .collect();
        for l in links {
            self.on_link(false, l, true);
        }
        for ifindex in gone {
            let l = KernelLink {
                ifindex,
                name: String::new(),
                address: None,
                noarp: false,
            };
            self.on_link(true, l, true);
        }
        Ok(true)
    }

    /// The kernel's neighbours (and proxies, with a `Proxy`), or `None`.
    fn dump_neighs(&mut self) -> Result<Option<Collected>, MirrorError> {
        let seq = self.dump_sock.dump_neighs(K::AF, false)?;
        let Some((mut all, _)) = self.dump_reply(seq)? else {
            return Ok(None);
        };
        if self.proxy_enabled() {
            let seq = self.dump_sock.dump_neighs(K::AF, true)?;
            let Some((p, _)) = self.dump_reply(seq)? else {
                return Ok(None);
            };
            all.extend(p);
        }
        self.stats.dumps += 1;
        Ok(Some(all))
    }

    /// Make the table equal to the kernel's (the rule in the module docs).
    pub(super) fn resync(&mut self) -> Result<(), MirrorError> {
        self.need_dump = false;
        if !self.cfg.from_kernel {
            self.need_resync = false;
            return Ok(());
        }
        for round in 0..MAX_RESYNC_ROUNDS {
            if round > 0 {
                self.stats.resyncs += 1;
            }
            self.drain(None)?;
            // What was lost before now is in the dumps below: the links
            // first, after an overrun (a lost link message is in no
            // neighbour dump).
            if self.need_resync && !self.read_links()? {
                continue;
            }
            self.need_resync = false;
            let Some(dumped) = self.dump_neighs()? else {
                continue;
            };
            let mut during = Collected::new();
            self.drain(Some(&mut during))?;
            let touched: HashSet<(DevId, K)> =
                during.iter().filter_map(|(_, n)| self.key_of(n)).collect();
            let mut seen = HashSet::new();
            for (_, n) in dumped {
                if let Some(k) = self.key_of(&n) {
                    seen.insert(k);
                    if touched.contains(&k) {
                        continue;
                    }
                }
                self.on_neigh(false, n);
            }
            for (del, n) in during {
                self.on_neigh(del, n);
            }
            if !self.need_resync {
                self.remove_missing(&seen, &touched);
                return Ok(());
            }
        }
        // Still overrunning: the next call goes on.
        self.need_resync = true;
        Ok(())
    }

    /// The table key a neighbour message names, if the mirror applies it.
    fn key_of(&self, n: &KernelNeigh) -> Option<(DevId, K)> {
        if n.family != K::AF || n.protocol == Some(self.cfg.protocol) {
            return None;
        }
        self.links.get(&n.ifindex).filter(|l| l.mirrored)?;
        Some((DevId(n.ifindex), K::from_ip(n.dst)?))
    }
}
