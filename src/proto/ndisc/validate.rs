//! Validating a received Neighbor Discovery message, after the IP layer
//! accepted its packet ([`accept::ipv6`](crate::proto::accept::ipv6)):
//! `icmpv6_rcv`'s checksum, `ndisc_rcv`'s checks (hop limit 255, code 0),
//! each message's fixed part (RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2,
//! §8.1), and `ndisc_parse_options`.
//!
//! Options as Linux treats them: a zero length, or one running past the
//! end, fails the whole message; of duplicate options the first wins and
//! the others are not looked at; unknown ones are skipped; a link-layer
//! address option is validated only by the message that uses it (NS, RS
//! and RA their source option, NA and Redirect their target option), and
//! must be 8 bytes on Ethernet (`ndisc_opt_addr_data`). Stricter than
//! Linux: the address in a used option must be unicast and non-zero
//! ([`ProtoError::BadLinkLayerAddress`]), which Linux would cache.
//!
//! This module owns message validation only; it touches no table.

use super::{NdMsg, NdPacket};
use crate::proto::accept::{is_link_local, is_nd_type, Ipv6Rx, ICMPV6};
use crate::proto::error::{Layer, ProtoError};
use crate::proto::eth::{self, Mac};
use crate::proto::L4Checksum;
use smoltcp::wire::Icmpv6Packet;
use std::net::{IpAddr, Ipv6Addr};

/// ND option: source link-layer address.
pub const OPT_SLLAO: u8 = 1;
/// ND option: target link-layer address.
pub const OPT_TLLAO: u8 = 2;
/// NS/NA fixed part: ICMPv6 header (8) + target (16).
pub const FIXED_LEN: usize = 24;
/// Router Solicitation fixed part (RFC 4861 §4.1).
pub const RS_LEN: usize = 8;
/// Router Advertisement fixed part (§4.2): header, reachable time, retrans timer.
pub const RA_LEN: usize = 16;
/// Redirect fixed part (§4.5): header, target, destination.
pub const REDIRECT_LEN: usize = 40;

const NS: u8 = 135;
const NA: u8 = 136;
const RS: u8 = 133;
const RA: u8 = 134;

/// The first source and target link-layer address options, unvalidated.
#[derive(Default)]
struct Options<'a> {
    sllao: Option<&'a [u8]>,
    tllao: Option<&'a [u8]>,
}

/// Validate the ND message carried by `ip`; the ICMPv6 checksum is
/// verified unless `csum` trusts it.
pub(crate) fn message(ip: &Ipv6Rx<'_>, csum: L4Checksum) -> Result<NdPacket, ProtoError> {
    if ip.protocol != ICMPV6 {
        return Err(ProtoError::UnsupportedNextHeader(ip.protocol));
    }
    let icmp = ip.payload;
    if icmp.len() < 8 {
        return Err(ProtoError::truncated(Layer::Icmpv6, icmp.len(), 8));
    }
    let (src, dst) = (ip.src, ip.dst);
    if csum == L4Checksum::Verify && !Icmpv6Packet::new_unchecked(icmp).verify_checksum(&src, &dst)
    {
        return Err(ProtoError::BadChecksum(Layer::Icmpv6));
    }
    let ty = icmp[0];
    if !is_nd_type(ty) {
        return Err(ProtoError::NotNeighborDiscovery(ty));
    }
    // ndisc_rcv: a routed ND message is not from the link.
    if ip.hop_limit != 255 {
        return Err(ProtoError::BadHopLimit(ip.hop_limit));
    }
    if icmp[1] != 0 {
        return Err(ProtoError::BadIcmpCode(icmp[1]));
    }
    let need = match ty {
        NS | NA => FIXED_LEN,
        RS => RS_LEN,
        RA => RA_LEN,
        _ => REDIRECT_LEN, // 137, the last ND type
    };
    if icmp.len() < need {
        return Err(ProtoError::truncated(Layer::Icmpv6, icmp.len(), need));
    }
    let addr = |at: usize| {
        let mut o = [0u8; 16];
        o.copy_from_slice(&icmp[at..at + 16]);
        Ipv6Addr::from(o)
    };
    let msg = match ty {
        NS => solicitation(src, dst, addr(8), &icmp[need..])?,
        NA => advertisement(dst, icmp[4], addr(8), &icmp[need..])?,
        RS => NdMsg::RouterSolicit {
            sllao: lladdr(options(&icmp[need..])?.sllao)?,
        },
        RA => {
            // RFC 4861 §6.1.2: routers advertise from their link-local address.
            if !is_link_local(&src) {
                return Err(ProtoError::NotLinkLocal(src));
            }
            NdMsg::RouterAdvert {
                sllao: lladdr(options(&icmp[need..])?.sllao)?,
            }
        }
        _ => redirect(src, addr(8), addr(24), &icmp[need..])?, // 137
    };
    Ok(NdPacket { src, dst, msg })
}

/// An NS/NA target must be a unicast address: multicast is the RFC's rule
/// (§7.1.1, §7.1.2); `::` and `::1` are this layer's (Linux would look
/// them up, and with `accept_untracked_na` create an entry for them).
fn check_target(target: Ipv6Addr) -> Result<(), ProtoError> {
    if target.is_multicast() || target.is_unspecified() || target.is_loopback() {
        return Err(ProtoError::BadTargetAddress(IpAddr::V6(target)));
    }
    Ok(())
}

/// `ndisc_recv_ns`'s checks (RFC 4861 §7.1.1).
fn solicitation(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    opts: &[u8],
) -> Result<NdMsg, ProtoError> {
    check_target(target)?;
    let dad = src.is_unspecified();
    // DAD goes to the solicited-node group, without a source option.
    if dad && !eth::is_solicited_node(&dst) {
        return Err(ProtoError::BadDadSolicitation);
    }
    let sllao = lladdr(options(opts)?.sllao)?;
    if dad && sllao.is_some() {
        return Err(ProtoError::BadDadSolicitation);
    }
    Ok(NdMsg::Solicit { target, sllao })
}

/// `ndisc_recv_na`'s checks (RFC 4861 §7.1.2).
fn advertisement(
    dst: Ipv6Addr,
    flags: u8,
    target: Ipv6Addr,
    opts: &[u8],
) -> Result<NdMsg, ProtoError> {
    check_target(target)?;
    let solicited = flags & 0x40 != 0;
    if solicited && dst.is_multicast() {
        return Err(ProtoError::SolicitedNaToMulticast);
    }
    Ok(NdMsg::Advert {
        target,
        router: flags & 0x80 != 0,
        solicited,
        override_: flags & 0x20 != 0,
        tllao: lladdr(options(opts)?.tllao)?,
    })
}

/// `ndisc_redirect_rcv` + `rt6_do_redirect`'s checks (RFC 4861 §8.1).
fn redirect(
    src: Ipv6Addr,
    target: Ipv6Addr,
    dest: Ipv6Addr,
    opts: &[u8],
) -> Result<NdMsg, ProtoError> {
    if !is_link_local(&src) {
        return Err(ProtoError::NotLinkLocal(src));
    }
    let opts = options(opts)?;
    if dest.is_multicast() || dest.is_unspecified() || dest.is_loopback() {
        return Err(ProtoError::BadRedirect("the destination is not unicast"));
    }
    if target != dest && !is_link_local(&target) {
        return Err(ProtoError::BadRedirect(
            "the target is neither the destination nor link-local unicast",
        ));
    }
    Ok(NdMsg::Redirect {
        target,
        dest,
        tllao: lladdr(opts.tllao)?,
    })
}

/// `ndisc_parse_options`: the framing of every option, the first of each
/// link-layer address kind kept.
fn options(mut opts: &[u8]) -> Result<Options<'_>, ProtoError> {
    let mut found = Options::default();
    while !opts.is_empty() {
        if opts.len() < 2 {
            return Err(ProtoError::truncated(Layer::NdOption, opts.len(), 2));
        }
        let (kind, len) = (opts[0], opts[1]);
        let bytes = usize::from(len) * 8;
        if len == 0 || bytes > opts.len() {
            return Err(ProtoError::BadNdOption { kind, len });
        }
        let slot = match kind {
            OPT_SLLAO => Some(&mut found.sllao),
            OPT_TLLAO => Some(&mut found.tllao),
            _ => None,
        };
        if let Some(slot) = slot {
            // Duplicates: the kernel keeps the first and ignores the rest.
            slot.get_or_insert(&opts[..bytes]);
        }
        opts = &opts[bytes..];
    }
    Ok(found)
}

/// `ndisc_opt_addr_data` for Ethernet (the option must be 8 bytes), plus
/// this layer's unicast check.
fn lladdr(opt: Option<&[u8]>) -> Result<Option<Mac>, ProtoError> {
    let Some(opt) = opt else {
        return Ok(None);
    };
    let mac: Mac = match opt.get(2..8) {
        Some(m) if opt.len() == 8 => m.try_into().unwrap_or([0; 6]),
        _ => {
            return Err(ProtoError::LinkLayerOptionLength {
                kind: opt[0],
                len: opt[1],
            })
        }
    };
    if !eth::is_unicast(&mac) {
        return Err(ProtoError::BadLinkLayerAddress(mac));
    }
    Ok(Some(mac))
}
