//! `ndisc_recv_ns`: a received Neighbor Solicitation, in the kernel's
//! steps (Linux 6.x), each a function below:
//!
//! 1. [`answerer`]: who answers for the target. One of our addresses: we
//!    do. An address a [`Proxy`](crate::proto::Proxy) entry covers, with
//!    `forwarding` and `proxy_ndp`: the proxy does, but a multicast NS
//!    first waits `proxy_delay` (`pneigh_enqueue`) unless it was unicast
//!    to us, the delay is 0, or it already waited. Anything else is
//!    dropped (`SKB_DROP_REASON_IPV6_NDISC_NS_OTHERHOST`).
//! 2. [`dad_answer`]: a solicitation from `::` (DAD, RFC 4861 §7.2.4) is
//!    answered to all-nodes (S=0, O=1 for ours, O=0 for a proxy) and
//!    cached nowhere.
//! 3. [`sender_entry`]: the sender's entry, created when the NS was unicast
//!    or carries a source link-layer option (`__neigh_lookup(.., creat)`),
//!    is set STALE with WEAK_OVERRIDE|OVERRIDE (`ndisc_update`).
//! 4. [`answer`]: if the sender has an entry, the NA (S=1; for our own
//!    address O=1 and a target link-layer option only if the NS was
//!    multicast; a proxy's O=0 from our address, R from its entry) goes out
//!    **through that entry** (`ndisc_send_na` → `neigh_output`), which moves
//!    it on (STALE to DELAY, or resolution for an entry without address).
//!
//! This module owns the NS rule; it reaches the table only through
//! `proto::cache` and the table's public API.

use super::tx::{na_packet, proxy_na};
use super::{NaReply, NdCtx, NdPacket, NdRx, ALL_NODES};
use crate::proto::cache;
use crate::proto::error::ProtoError;
use crate::proto::eth::{self, Mac, PacketType};
use crate::proto::proxy::Proxied;
use crate::proto::{CacheAction, Untouched};
use crate::{NeighOps, NudState, UpdateFlags};
use std::net::{IpAddr, Ipv6Addr};

/// Who answers a solicitation.
enum Answerer {
    /// We do: the target is ours.
    Us,
    /// A proxy entry does, now; `router` is its flag (`pndisc_is_router`).
    Proxy { router: bool },
    /// A proxy entry does, after its delay: the frame was queued.
    Later(Proxied),
}

/// Apply `ndisc_recv_ns` for an NS from `p.src` for `target`.
pub(super) fn recv_ns<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    p: NdPacket,
    target: Ipv6Addr,
    sllao: Option<Mac>,
) -> Result<NdRx, ProtoError> {
    let mut rx = cx.rx(p);
    let inc = p.dst.is_multicast();
    let proxied = match answerer(cx, target, inc)? {
        Answerer::Us => None,
        Answerer::Proxy { router } => Some(router),
        Answerer::Later(queued) => {
            rx.cache = CacheAction::Untouched(Untouched::ProxyQueued);
            rx.proxy = Some(queued);
            return Ok(rx);
        }
    };
    if p.src.is_unspecified() {
        rx.cache = CacheAction::Untouched(Untouched::DadProbe);
        rx.reply = dad_answer(cx, target, proxied);
    } else {
        rx.cache = sender_entry(cx, p.src, sllao, inc);
        // `if (neigh) ndisc_send_na(..)`: only with an entry to send through.
        if matches!(rx.cache, CacheAction::Updated { .. }) {
            rx.reply = answer(cx, target, p.src, proxied, inc);
        }
    }
    rx.proxy = proxied.and(rx.reply.as_ref()).map(|_| Proxied::Answered);
    Ok(rx)
}

/// Step 1: `ipv6_get_ifaddr`, else `pndisc_is_router` with `forwarding`
/// and `proxy_ndp`, else `NS_OTHERHOST`.
fn answerer<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    target: Ipv6Addr,
    inc: bool,
) -> Result<Answerer, ProtoError> {
    if cx.iface.owns_v6(target) {
        return Ok(Answerer::Us);
    }
    let dev = cx.iface.dev;
    let entry = cx
        .proxy
        .filter(|_| cx.policy.forwarding && cx.policy.proxy_ndp)
        .and_then(|c| Some((c, c.proxy.lookup(IpAddr::V6(target), dev)?)));
    let Some((ctx, e)) = entry else {
        return Err(ProtoError::NotOurAddress(IpAddr::V6(target)));
    };
    let delay = ctx.proxy.parms(dev).map_or(0, |d| d.delay);
    if !ctx.redo && cx.pkt_type != PacketType::Host && inc && delay != 0 {
        return Ok(Answerer::Later(ctx.proxy.enqueue(dev, cx.frame, ctx.now)));
    }
    Ok(Answerer::Proxy { router: e.router })
}

/// Step 2: `ndisc_send_na(dev, &in6addr_linklocal_allnodes, target,
/// is_router, false, ifp != NULL, true)`, straight to the all-nodes MAC.
fn dad_answer<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    target: Ipv6Addr,
    proxied: Option<bool>,
) -> Option<NaReply> {
    let packet = match proxied {
        Some(r) => proxy_na(cx.iface, target, ALL_NODES, r, false, true)?,
        None => na_packet(
            cx.iface,
            target,
            ALL_NODES,
            cx.policy.forwarding,
            false,
            true,
            true,
        ),
    };
    Some(NaReply {
        dst: ALL_NODES,
        packet,
        eth_dst: Some(eth::ipv6_multicast_mac(&ALL_NODES)),
    })
}

/// Step 3: the sender's entry, created if the NS was unicast or has an
/// SLLAO, STALE with WEAK_OVERRIDE|OVERRIDE.
fn sender_entry<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    src: Ipv6Addr,
    sllao: Option<Mac>,
    inc: bool,
) -> CacheAction {
    cache::find_and_update(
        cx.table,
        src,
        cx.iface.dev,
        !inc || sllao.is_some(),
        Untouched::NoSourceLladdr,
        sllao.as_ref(),
        NudState::STALE,
        UpdateFlags::WEAK_OVERRIDE | UpdateFlags::OVERRIDE,
    )
}

/// Step 4: `ndisc_send_na(dev, saddr, target, is_router, true, ifp &&
/// inc, inc)`, through the sender's entry.
fn answer<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    target: Ipv6Addr,
    src: Ipv6Addr,
    proxied: Option<bool>,
    inc: bool,
) -> Option<NaReply> {
    let packet = match proxied {
        Some(r) => proxy_na(cx.iface, target, src, r, true, inc)?,
        None => na_packet(cx.iface, target, src, cx.policy.forwarding, true, inc, inc),
    };
    Some(NaReply {
        dst: src,
        packet,
        eth_dst: None,
    })
}
