//! Decoding and applying crafted byte buffers (no root needed): every kind
//! of bad input is counted in its own counter and changes nothing, and no
//! byte string makes the decoder panic.

use super::decode::{decode_datagram, decode_message, BadInput, Decoded};
use super::{KernelMirror, MirrorConfig, MirrorStats};
use crate::{DevId, NeighFlags, NeighOps, NeighTable, NudState, Probe, TableConfig};
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

struct Nop;
impl NeighOps<Ipv4Addr> for Nop {
    type Packet = Vec<u8>;
    fn transmit(&self, _: DevId, _: &[u8], _: Vec<u8>) {}
    fn solicit(&self, _: DevId, _: &Ipv4Addr, _: Probe) {}
    fn error_report(&self, _: DevId, _: &Ipv4Addr, _: Vec<u8>) {}
}

/// `ip neigh add DST lladdr LL dev IFINDEX nud STATE` as the kernel would
/// notify it, serialised by the crate.
fn neigh_msg(ifindex: u32, dst: IpAddr, lladdr: &[u8], state: NeighbourState) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = match dst {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.ifindex = ifindex;
    m.header.state = state;
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::from(dst)));
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(lladdr.to_vec()));
    m
}

fn bytes(msg: RouteNetlinkMessage) -> Vec<u8> {
    let mut m = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(msg));
    m.finalize();
    let mut b = vec![0; m.buffer_len()];
    m.serialize(&mut b);
    b
}

fn new_neigh(m: NeighbourMessage) -> Vec<u8> {
    bytes(RouteNetlinkMessage::NewNeighbour(m))
}

const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 7];

/// Append an attribute by hand (what a newer kernel, or a hostile sender,
/// might add) and fix the message length.
fn with_attr(mut msg: Vec<u8>, kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    msg.extend_from_slice(&(len as u16).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(value);
    msg.resize((msg.len() + 3) & !3, 0);
    let total = msg.len() as u32;
    msg[..4].copy_from_slice(&total.to_ne_bytes());
    msg
}

#[test]
fn a_kernel_notification_decodes_to_its_fields() {
    let mut m = neigh_msg(3, DST.into(), &MAC, NeighbourState::Stale);
    m.header.flags = NeighbourFlags::Router | NeighbourFlags::ExtLearned;
    let d = decode_message(&new_neigh(m));
    let Decoded::Neigh { del: false, n } = d else {
        panic!("{d:?}")
    };
    assert_eq!(
        (n.ifindex, n.dst, n.state),
        (3, IpAddr::from(DST), NudState::STALE)
    );
    assert_eq!(n.lladdr.as_deref(), Some(&MAC[..]));
    assert_eq!(n.flags, NeighFlags::ROUTER | NeighFlags::EXT_LEARNED);
    assert!(!n.proxy && n.unknown_attrs == 0 && n.protocol.is_none());
}

#[test]
fn each_defect_has_its_verdict() {
    let good = new_neigh(neigh_msg(3, DST.into(), &MAC, NeighbourState::Reachable));
    // Truncated: the header says more than the buffer holds.
    assert_eq!(
        decode_message(&good[..good.len() - 4]),
        Decoded::Bad(BadInput::Truncated)
    );
    assert_eq!(
        decode_message(&good[..10]),
        Decoded::Bad(BadInput::Truncated)
    );
    // An unknown attribute is counted; the message still applies.
    let d = decode_message(&with_attr(good.clone(), 250, &[1, 2, 3, 4]));
    assert!(
        matches!(d, Decoded::Neigh { ref n, .. } if n.unknown_attrs == 1),
        "{d:?}"
    );
    // An IPv6-sized NDA_DST in an AF_INET message.
    let mut m = neigh_msg(3, DST.into(), &MAC, NeighbourState::Reachable);
    m.attributes.remove(0);
    let d = decode_message(&with_attr(new_neigh(m.clone()), 1, &[0; 16]));
    assert_eq!(d, Decoded::Bad(BadInput::BadAddressLength));
    // No NDA_DST at all.
    assert_eq!(
        decode_message(&new_neigh(m)),
        Decoded::Bad(BadInput::NoDestination)
    );
    // An attribute whose length runs past the message.
    let mut cut = good.clone();
    let at = cut.len() - 12; // NDA_LLADDR's length (4 + 6, padded to 12)
    cut[at..at + 2].copy_from_slice(&400u16.to_ne_bytes());
    assert!(matches!(decode_message(&cut), Decoded::Bad(_)));
}

#[test]
fn one_bad_message_does_not_hide_its_neighbours_in_the_datagram() {
    let a = new_neigh(neigh_msg(3, DST.into(), &MAC, NeighbourState::Reachable));
    let mut bad = a.clone();
    bad.truncate(bad.len() - 8);
    let len = bad.len() as u32;
    bad[..4].copy_from_slice(&len.to_ne_bytes()); // well framed, cut attributes
    let mut dgram = a.clone();
    dgram.extend_from_slice(&bad);
    dgram.extend_from_slice(&a);
    let v = decode_datagram(&dgram);
    assert_eq!(v.len(), 3);
    assert!(matches!(v[0].what, Decoded::Neigh { .. }));
    assert!(matches!(v[2].what, Decoded::Neigh { .. }));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// No byte string panics the decoder.
    #[test]
    fn any_bytes_decode_without_panicking(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_datagram(&b);
    }

    /// Nor does any corruption of a real message.
    #[test]
    fn any_corruption_of_a_real_message_decodes_without_panicking(
        at in 0usize..48, v in any::<u8>(), cut in 0usize..48,
    ) {
        let mut m = neigh_msg(3, DST.into(), &MAC, NeighbourState::Reachable);
        m.attributes.push(NeighbourAttribute::Probes(3));
        let mut b = new_neigh(m);
        let at = at % b.len();
        b[at] = v;
        b.truncate(b.len() - cut.min(b.len()));
        let _ = decode_datagram(&b);
    }
}

/// A mirror of `lo` in this process's namespace (any user may open the
/// socket); the crafted messages are fed to it directly.
fn lo_mirror() -> Option<KernelMirror<Ipv4Addr, Nop>> {
    let table = Arc::new(NeighTable::new(TableConfig::default(), Nop).ok()?);
    let cfg = MirrorConfig {
        interfaces: vec!["lo".into()],
        rcvbuf: None,
        ..MirrorConfig::default()
    };
    match KernelMirror::open(table, cfg) {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("SKIPPED: no rtnetlink socket here: {e}");
            None
        }
    }
}

#[test]
fn bad_input_is_counted_and_changes_nothing() {
    let Some(mut m) = lo_mirror() else { return };
    if m.stats().links_added != 1 {
        eprintln!("SKIPPED: no `lo` in this namespace");
        return;
    }
    let lo = 1; // the loopback's ifindex in every namespace
    let before_len = m.table().len();
    let base = m.stats();
    let mut expect = base;
    let good = new_neigh(neigh_msg(lo, DST.into(), &MAC, NeighbourState::Reachable));
    type Case = (Vec<u8>, fn(&mut MirrorStats));
    let mut cases: Vec<Case> = vec![
        (good[..good.len() - 4].to_vec(), |s| s.bad_truncated += 1),
        (
            with_attr(
                {
                    let mut m = neigh_msg(lo, DST.into(), &MAC, NeighbourState::Reachable);
                    m.attributes.remove(0);
                    new_neigh(m)
                },
                1,
                &[0; 16],
            ),
            |s| s.bad_address_len += 1,
        ),
        (
            new_neigh(neigh_msg(
                lo,
                DST.into(),
                &[2, 0, 0, 7],
                NeighbourState::Reachable,
            )),
            |s| s.bad_lladdr += 1,
        ),
        (
            new_neigh(neigh_msg(999, DST.into(), &MAC, NeighbourState::Reachable)),
            |s| s.unknown_ifindex += 1,
        ),
        (
            new_neigh(neigh_msg(lo, DST.into(), &MAC, NeighbourState::Other(0x06))),
            |s| s.bad_state += 1,
        ),
        (
            new_neigh(neigh_msg(
                lo,
                DST.into(),
                &MAC,
                NeighbourState::Other(0x102),
            )),
            |s| s.bad_state += 1,
        ),
        (
            {
                let mut m = neigh_msg(lo, DST.into(), &MAC, NeighbourState::Reachable);
                m.attributes.remove(0);
                new_neigh(m)
            },
            |s| s.bad_no_destination += 1,
        ),
    ];
    for (i, (b, bump)) in cases.drain(..).enumerate() {
        m.apply_datagram(&b);
        bump(&mut expect);
        expect.messages += 1;
        assert_eq!(m.stats(), expect, "case {i}");
        assert_eq!(m.table().len(), before_len, "case {i} changed the table");
    }
    // The same entry, well formed, with an unknown attribute: applied, and
    // the attribute counted.
    m.apply_datagram(&with_attr(good, 250, &[9; 4]));
    assert_eq!(m.stats().created, base.created + 1);
    assert_eq!(m.stats().unknown_attrs, base.unknown_attrs + 1);
    let e = m.table().lookup(DST, DevId(lo)).expect("applied");
    assert_eq!(e.state(), NudState::REACHABLE);
    assert_eq!(
        e.lladdr().map(|a| a.as_bytes().to_vec()),
        Some(MAC.to_vec())
    );
    drop(e);
    // Our own mark: never applied (the loop rule).
    let mut own = neigh_msg(lo, DST.into(), &[2, 0, 0, 0, 0, 9], NeighbourState::Noarp);
    own.attributes
        .push(NeighbourAttribute::Protocol(super::DEFAULT_PROTOCOL.into()));
    m.apply_datagram(&new_neigh(own));
    assert_eq!(m.stats().own_skipped, base.own_skipped + 1);
    let e = m.table().lookup(DST, DevId(lo)).expect("still there");
    assert_eq!(e.state(), NudState::REACHABLE);
    drop(e);
    // A deletion removes it; a second one changes nothing.
    let del = bytes(RouteNetlinkMessage::DelNeighbour(neigh_msg(
        lo,
        DST.into(),
        &MAC,
        NeighbourState::Failed,
    )));
    m.apply_datagram(&del);
    m.apply_datagram(&del);
    assert_eq!(m.stats().deleted, base.deleted + 1);
    assert!(m.table().lookup(DST, DevId(lo)).is_none());
}
