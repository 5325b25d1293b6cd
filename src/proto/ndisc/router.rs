//! The neighbour effects of the router messages (Linux 6.x; this layer
//! keeps no routing table, so nothing else of them is applied):
//!
//! * Router Solicitation (`ndisc_recv_rs`, RFC 4861 §6.2.6): only a router
//!   (`forwarding`) listens; a solicitation from a source other than `::`
//!   with a source link-layer option creates or updates the sender's entry
//!   STALE (WEAK_OVERRIDE|OVERRIDE|OVERRIDE_ISROUTER: the router flag is
//!   cleared, a soliciting node is a host).
//! * Router Advertisement (`ndisc_router_discovery`, §6.3.4): from a
//!   link-local source (checked in `validate`), whatever `accept_ra` says,
//!   the router's entry is created or updated STALE if new or changed, and
//!   its router flag set (WEAK_OVERRIDE|OVERRIDE|OVERRIDE_ISROUTER|ISROUTER).
//! * Redirect (`ndisc_redirect_rcv` → `rt6_do_redirect`, §8.3): ignored by
//!   a router and with `accept_redirects` off; otherwise the target's
//!   entry is created or updated STALE from the target link-layer option,
//!   with the router flag set unless the target is the destination itself
//!   (on-link).
//!
//! Where this is stricter than Linux, on purpose: an entry is created only
//! from a message that carries a link-layer address (Linux creates one
//! without an address, state NONE, which `ip neigh show` does not list and
//! which only costs a slot); and a Redirect is accepted only from a source
//! whose entry has the router flag — Linux accepts it only from the
//! current first hop for the destination, which needs a routing table this
//! layer does not have, so here any router we know may redirect any
//! destination.
//!
//! This module owns those three rules; it reaches the table only through
//! `proto::cache` and the table's public API.

use super::{NdCtx, NdPacket, NdRx};
use crate::proto::cache;
use crate::proto::error::ProtoError;
use crate::proto::eth::Mac;
use crate::proto::{CacheAction, Untouched};
use crate::{NeighFlags, NeighOps, NudState, UpdateFlags};
use std::net::Ipv6Addr;

/// `ndisc_recv_rs`.
pub(super) fn recv_rs<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    p: NdPacket,
    sllao: Option<Mac>,
) -> NdRx {
    let mut rx = cx.rx(p);
    rx.cache = if !cx.policy.forwarding {
        CacheAction::Untouched(Untouched::NotARouter)
    } else if p.src.is_unspecified() {
        // "Don't update NCE if src = ::".
        CacheAction::Untouched(Untouched::NoEntry)
    } else {
        cache::find_and_update(
            cx.table,
            p.src,
            cx.iface.dev,
            sllao.is_some(),
            Untouched::NoLinkLayerOption,
            sllao.as_ref(),
            NudState::STALE,
            UpdateFlags::WEAK_OVERRIDE | UpdateFlags::OVERRIDE | UpdateFlags::OVERRIDE_ISROUTER,
        )
    };
    rx
}

/// `ndisc_router_discovery`'s neighbour step.
pub(super) fn recv_ra<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    p: NdPacket,
    sllao: Option<Mac>,
) -> NdRx {
    let mut rx = cx.rx(p);
    rx.cache = cache::find_and_update(
        cx.table,
        p.src,
        cx.iface.dev,
        sllao.is_some(),
        Untouched::NoLinkLayerOption,
        sllao.as_ref(),
        NudState::STALE,
        UpdateFlags::WEAK_OVERRIDE
            | UpdateFlags::OVERRIDE
            | UpdateFlags::OVERRIDE_ISROUTER
            | UpdateFlags::ISROUTER,
    );
    rx
}

/// `rt6_do_redirect`'s neighbour step (its message checks are in
/// `validate`).
pub(super) fn recv_redirect<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    p: NdPacket,
    target: Ipv6Addr,
    dest: Ipv6Addr,
    tllao: Option<Mac>,
) -> Result<NdRx, ProtoError> {
    if cx.policy.forwarding || !cx.policy.accept_redirects {
        return Err(ProtoError::RedirectIgnored);
    }
    if cx.iface.owns_v6(target) {
        return Err(ProtoError::BadRedirect(
            "the target is one of our addresses",
        ));
    }
    let known_router = cx
        .table
        .lookup(p.src, cx.iface.dev)
        .is_some_and(|n| n.flags().contains(NeighFlags::ROUTER));
    if !known_router {
        return Err(ProtoError::RedirectNotFromRouter(p.src));
    }
    let on_link = target == dest;
    let mut flags = UpdateFlags::WEAK_OVERRIDE | UpdateFlags::OVERRIDE;
    if !on_link {
        flags = flags | UpdateFlags::OVERRIDE_ISROUTER | UpdateFlags::ISROUTER;
    }
    let mut rx = cx.rx(p);
    rx.cache = cache::find_and_update(
        cx.table,
        target,
        cx.iface.dev,
        tllao.is_some(),
        Untouched::NoLinkLayerOption,
        tllao.as_ref(),
        NudState::STALE,
        flags,
    );
    Ok(rx)
}
