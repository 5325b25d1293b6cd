//! A [`Host`]'s receive path: every frame goes through the one acceptance
//! decision ([`accept`]) before ARP, ND or the echo responder see it;
//! refusals are counted (one [`ProtoError`] each) and change nothing. Also
//! the delayed proxy answers, which are received frames processed again.
//!
//! The echo responder answers from the address the request was sent to
//! (or, for a request to a group, our unicast address for the sender:
//! RFC 4443 §4.2), through the cache, and only a sender on the link: this
//! host has no routes, and the kernel answers an off-link sender through a
//! route or not at all, never by resolving it on the link (counted as
//! [`Counter::EchoOffLink`]). IPv4 requests to a broadcast or multicast
//! address are not answered (`icmp_echo_ignore_broadcasts`, on by
//! default). Stricter than Linux: a request whose code is not 0 is not
//! answered (it is `Local::Other`; Linux answers it).
//!
//! This module owns dispatch and the echo responder; the rules are in
//! `proto::accept`, `proto::arp`, `proto::ndisc` and `proto::ip`.

use super::{Host, RxEvent};
use crate::proto::accept::{self, Delivery};
use crate::proto::arp;
use crate::proto::error::{Counter, ProtoError};
use crate::proto::eth::{self, PacketType, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use crate::proto::ip::{self, Local};
use crate::proto::ndisc::{self, NdCtx, NdRx};
use crate::proto::ops::FrameSink;
use crate::proto::proxy::ProxyCtx;
use crate::proto::L4Checksum;
use crate::Tick;
use std::net::IpAddr;

impl<S: FrameSink> Host<S> {
    /// Handle one received Ethernet frame: ARP and Neighbor Discovery
    /// update the tables and are answered; echo requests for us are
    /// answered through the cache; refused frames are counted and returned
    /// as the error. Layer-4 checksums are verified.
    pub fn receive(&self, frame: &[u8]) -> Result<RxEvent, ProtoError> {
        self.receive_with(frame, L4Checksum::Verify)
    }

    /// [`receive`](Self::receive), trusting layer-4 checksums if `csum`
    /// says the device vouched for them (see [`L4Checksum`]).
    pub fn receive_with(&self, frame: &[u8], csum: L4Checksum) -> Result<RxEvent, ProtoError> {
        self.dispatch(frame, csum, false)
    }

    /// Process the requests of our device's proxy queue that are due at
    /// `now` (`neigh_proxy_process`), one at a time, each answered as a
    /// request that waited (`LOCALLY_ENQUEUED`). Returns how many were
    /// processed. A panicking sink or table callback propagates; the
    /// requests not yet taken out stay queued.
    pub fn run_proxy(&self, now: Tick) -> usize {
        let mut n = 0;
        while let Some(frame) = self.proxy.take_due(self.iface.dev, now) {
            n += 1;
            // Refusals are counted in the protocol statistics.
            let _ = self.dispatch(&frame, L4Checksum::Trusted, true);
        }
        n
    }

    fn proxy_ctx(&self, now: Tick, redo: bool) -> Option<ProxyCtx<'_>> {
        Some(ProxyCtx {
            proxy: &self.proxy,
            now,
            redo,
        })
    }

    /// `redo`: a proxied request whose delay ran out (not counted as
    /// received again).
    fn dispatch(&self, frame: &[u8], csum: L4Checksum, redo: bool) -> Result<RxEvent, ProtoError> {
        if let Ok((h, _)) = eth::parse(frame) {
            if h.ethertype == ETHERTYPE_ARP {
                let rx = arp::receive_with_proxy(
                    &self.v4,
                    &self.iface,
                    &self.policy,
                    self.proxy_ctx(self.v4.jiffies(), redo),
                    frame,
                    &self.stats,
                )?;
                if let Some(r) = &rx.reply {
                    self.send_frame(r);
                }
                return Ok(RxEvent::Arp(rx));
            }
        }
        if !redo {
            self.stats.inc(Counter::RxFrames);
        }
        let ev = self.stats.track(self.receive_ip(frame, csum, redo))?;
        match &ev {
            RxEvent::Nd(rx) => {
                if !redo {
                    self.stats.inc(Counter::RxNdisc);
                }
                self.send_na(rx);
            }
            RxEvent::Local(_) => self.stats.inc(Counter::RxLocal),
            _ => self.stats.inc(Counter::RxIgnored),
        }
        Ok(ev)
    }

    fn receive_ip(
        &self,
        frame: &[u8],
        csum: L4Checksum,
        redo: bool,
    ) -> Result<RxEvent, ProtoError> {
        let (h, pkt_type, payload) = eth::parse_for(frame, &self.iface.mac)?;
        match h.ethertype {
            ETHERTYPE_IPV4 => {
                let rx = accept::ipv4(&self.iface, payload)?;
                if rx.delivery != Delivery::Local {
                    // Broadcast and all-hosts: nothing here answers them.
                    return Ok(RxEvent::Ignored);
                }
                let local = ip::local_v4(&rx, csum)?;
                self.answer_echo(&local, IpAddr::V4(rx.dst), rx.delivery);
                Ok(RxEvent::Local(local))
            }
            ETHERTYPE_IPV6 => {
                let proxy = Some(&*self.proxy);
                let rx = accept::ipv6(&self.iface, &self.policy, proxy, pkt_type, payload)?;
                let nd_type = rx
                    .payload
                    .first()
                    .copied()
                    .filter(|&t| accept::is_nd_type(t));
                if rx.protocol == accept::ICMPV6 && nd_type.is_some() {
                    return self.receive_nd(frame, pkt_type, &rx, csum, redo);
                }
                let local = ip::local_v6(&rx, csum)?;
                self.answer_echo(&local, IpAddr::V6(rx.dst), rx.delivery);
                Ok(RxEvent::Local(local))
            }
            t => Err(ProtoError::UnsupportedEtherType(t)),
        }
    }

    fn receive_nd(
        &self,
        frame: &[u8],
        pkt_type: PacketType,
        rx: &accept::Ipv6Rx<'_>,
        csum: L4Checksum,
        redo: bool,
    ) -> Result<RxEvent, ProtoError> {
        let cx = NdCtx {
            table: &self.v6,
            iface: &self.iface,
            policy: &self.policy,
            proxy: self.proxy_ctx(self.v6.jiffies(), redo),
            frame,
            pkt_type,
        };
        Ok(RxEvent::Nd(ndisc::process(&cx, rx, csum)?))
    }

    /// Send the NA an ND message asked for: straight to a multicast MAC,
    /// or through the cache.
    fn send_na(&self, rx: &NdRx) {
        let Some(r) = &rx.reply else {
            return;
        };
        self.stats.inc(Counter::NaSent);
        if rx.proxy.is_some() {
            self.stats.inc(Counter::ProxyReplies);
        }
        match r.eth_dst {
            Some(mac) => {
                let f = eth::build(mac, self.iface.mac, ETHERTYPE_IPV6, r.packet.len(), |b| {
                    b.copy_from_slice(&r.packet)
                });
                self.send_frame(&f);
            }
            None => {
                self.v6
                    .resolve_output(r.dst, self.iface.dev, r.packet.clone());
            }
        }
    }

    /// `icmp_echo` / `icmpv6_echo_reply` for an accepted request sent to
    /// `to`: from `to` itself when that is one of our addresses
    /// (`fib_compute_spec_dst`, `icmpv6_echo_reply`'s `saddr`), else (a
    /// group) from our address for the sender; through the cache, to an
    /// on-link sender only.
    fn answer_echo(&self, local: &Local, to: IpAddr, delivery: Delivery) {
        let Local::EchoRequest {
            src,
            ident,
            seq,
            data,
        } = local
        else {
            return;
        };
        if self.check_on_link(*src).is_err() {
            self.stats.inc(Counter::EchoOffLink);
            return;
        }
        let our = match delivery {
            Delivery::Local => Ok(to),
            _ => self.source_for(*src),
        };
        if let Ok(our) = our {
            let pkt = ip::echo(our, *src, *ident, *seq, data, true);
            self.stats.inc(Counter::EchoReplies);
            self.send_ip(*src, pkt);
        }
    }

    pub(super) fn send_frame(&self, f: &[u8]) {
        self.stats.inc(Counter::TxFrames);
        if self.sink.send_frame(self.iface.dev, f, &[]).is_err() {
            self.stats.inc(Counter::TxFailed);
        }
    }
}
