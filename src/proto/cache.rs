//! The neighbour step every receive rule ends in (`__neigh_lookup` +
//! `neigh_update`), through the table's public API: find the entry a frame
//! speaks of, create it only where the rule says so, apply the update, and
//! report what happened as a [`CacheAction`], with `created` true exactly
//! when no entry existed before this frame.
//!
//! This module owns that step only; which key, state and flags to use is
//! the caller's rule (`proto::arp`, `proto::ndisc`).

use super::eth::Mac;
use super::{CacheAction, Untouched};
use crate::{
    DevId, NeighError, NeighHandle, NeighKey, NeighOps, NeighTable, NudState, UpdateFlags,
};

/// An entry found or created, and whether it was created.
pub(crate) type Found<'t, K, O> = Option<(NeighHandle<'t, K, O>, bool)>;

/// The entry for `key` on `dev`, created if missing and `create`:
/// `Ok(None)` when missing and not created. The flag is true when this
/// call created it (no entry was found first; if another thread created
/// one in between, that one is returned and still reported as created).
pub(crate) fn entry<K: NeighKey, O: NeighOps<K>>(
    table: &NeighTable<K, O>,
    key: K,
    dev: DevId,
    create: bool,
) -> Result<Found<'_, K, O>, NeighError> {
    if let Some(n) = table.lookup(key, dev) {
        return Ok(Some((n, false)));
    }
    if !create {
        return Ok(None);
    }
    table.lookup_or_create(key, dev).map(|n| Some((n, true)))
}

/// `neigh_update` on `n` with `lladdr`, `state` and `flags`.
pub(crate) fn update<K: NeighKey, O: NeighOps<K>>(
    table: &NeighTable<K, O>,
    n: &NeighHandle<'_, K, O>,
    created: bool,
    lladdr: Option<&Mac>,
    state: NudState,
    flags: UpdateFlags,
) -> CacheAction {
    let result = table.update(n, lladdr.map(|m| &m[..]), state, flags);
    CacheAction::Updated {
        state,
        flags: Some(flags),
        created,
        result,
    }
}

/// [`entry`] then [`update`]: `Untouched(missing)` when there is no entry
/// and `create` is false, `Refused` when the table could not give one.
#[allow(clippy::too_many_arguments)] // the key, the rule's choices, the update
pub(crate) fn find_and_update<K: NeighKey, O: NeighOps<K>>(
    table: &NeighTable<K, O>,
    key: K,
    dev: DevId,
    create: bool,
    missing: Untouched,
    lladdr: Option<&Mac>,
    state: NudState,
    flags: UpdateFlags,
) -> CacheAction {
    match entry(table, key, dev, create) {
        Ok(Some((n, created))) => update(table, &n, created, lladdr, state, flags),
        Ok(None) => CacheAction::Untouched(missing),
        Err(e) => CacheAction::Refused(e),
    }
}
