//! `ndisc_recv_na`: a received Neighbor Advertisement, in the kernel's
//! steps (Linux 6.x), each a function below:
//!
//! 1. policy: `drop_unsolicited_na` drops an NA with S=0 first, before
//!    anything else (it takes precedence over `accept_untracked_na`);
//! 2. [`ours`]: an NA for one of our addresses is someone claiming it
//!    (the kernel logs it, or fails a tentative address's DAD) and is
//!    dropped;
//! 3. the target's entry ([`untracked_accepted`]); without one, only a router
//!    (`forwarding`) whose `accept_untracked_na` allows the sender creates
//!    it, STALE, and only from an NA with a target link-layer option
//!    (RFC 9131); otherwise the NA is dropped;
//! 4. [`left_alone`]: a FAILED entry is not touched, nor the entry of an
//!    address we proxy when the NA carries our own MAC (our own proxy
//!    answer seen again: "either the proxied node is off link or it has
//!    already sent a NA to us");
//! 5. the update: REACHABLE if S=1, STALE if S=0 (and STALE for a created
//!    entry); WEAK_OVERRIDE always (a different address on a CONNECTED
//!    entry without O makes it STALE, address kept), OVERRIDE if O=1,
//!    OVERRIDE_ISROUTER always and ISROUTER if R=1 (the router flag
//!    follows R).
//!
//! This module owns the NA rule; it reaches the table only through
//! `proto::cache` and the table's public API.

use super::{NdCtx, NdPacket, NdRx};
use crate::proto::cache;
use crate::proto::error::ProtoError;
use crate::proto::eth::Mac;
use crate::proto::{CacheAction, Untouched};
use crate::{NeighHandle, NeighOps, NudState, UpdateFlags};
use std::net::{IpAddr, Ipv6Addr};

/// The R, S and O flags.
pub(super) type Flags = (bool, bool, bool);

/// Apply `ndisc_recv_na` for an NA about `target`.
pub(super) fn recv_na<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    p: NdPacket,
    target: Ipv6Addr,
    (router, solicited, override_): Flags,
    tllao: Option<Mac>,
) -> Result<NdRx, ProtoError> {
    if !solicited && cx.policy.drop_unsolicited_na {
        return Err(ProtoError::UnsolicitedNaDropped);
    }
    ours(cx, target)?;
    let mut rx = cx.rx(p);
    let create = untracked_accepted(cx, p.src, tllao);
    let (n, created) = match cache::entry(cx.table, target, cx.iface.dev, create) {
        Ok(Some(found)) => found,
        Ok(None) => return Err(ProtoError::UntrackedAdvertisement(target)),
        Err(e) => {
            rx.cache = CacheAction::Refused(e);
            return Ok(rx);
        }
    };
    if let Some(why) = left_alone(cx, &n, target, tllao) {
        rx.cache = CacheAction::Untouched(why);
        return Ok(rx);
    }
    let state = if solicited && !created {
        NudState::REACHABLE
    } else {
        NudState::STALE
    };
    let mut flags = UpdateFlags::WEAK_OVERRIDE | UpdateFlags::OVERRIDE_ISROUTER;
    if override_ {
        flags = flags | UpdateFlags::OVERRIDE;
    }
    if router {
        flags = flags | UpdateFlags::ISROUTER;
    }
    rx.cache = cache::update(cx.table, &n, created, tllao.as_ref(), state, flags);
    Ok(rx)
}

/// Step 2: an advertisement of one of our addresses.
fn ours<O: NeighOps<Ipv6Addr>>(cx: &NdCtx<'_, O>, target: Ipv6Addr) -> Result<(), ProtoError> {
    if cx.iface.owns_v6(target) {
        return Err(ProtoError::DuplicateAddress(IpAddr::V6(target)));
    }
    Ok(())
}

/// Step 3: may an NA for an address without an entry create one
/// (`accept_untracked_na` on a router, with a target link-layer option)?
fn untracked_accepted<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    src: Ipv6Addr,
    tllao: Option<Mac>,
) -> bool {
    tllao.is_some() && cx.policy.forwarding && cx.policy.untracked_na_allows(cx.iface, src)
}

/// Step 4: a FAILED entry, or our own proxy advertisement.
fn left_alone<O: NeighOps<Ipv6Addr>>(
    cx: &NdCtx<'_, O>,
    n: &NeighHandle<'_, Ipv6Addr, O>,
    target: Ipv6Addr,
    tllao: Option<Mac>,
) -> Option<Untouched> {
    if n.state() == NudState::FAILED {
        return Some(Untouched::FailedEntry);
    }
    let own_proxy_na = tllao == Some(cx.iface.mac)
        && cx.policy.forwarding
        && cx.policy.proxy_ndp
        && cx
            .proxy
            .is_some_and(|c| c.proxy.lookup(IpAddr::V6(target), cx.iface.dev).is_some());
    own_proxy_na.then_some(Untouched::OwnProxyAdvert)
}
