//! Proxy ARP and proxy ND in the protocol layer, against a host whose frames
//! are recorded. The requester Q and the proxying host X are the ones of a
//! capture on Linux 6.18 (Q 02:..:01:01 198.18.1.1 2001:db8:1::1, X
//! 02:..:01:02 198.18.1.2 2001:db8:1::2, X proxying 198.18.1.50 and
//! 2001:db8:1::50 on its veth with forwarding, `proxy_ndp` and
//! `proxy_delay` 0): our answers to the kernel's requests are byte for byte
//! the kernel's. Then one test per rule: forwarding/proxy_ndp, the delay
//! and its exceptions, DAD, per-device, every-device and prefix entries,
//! the router flag, the queue's bound and ledger, and a panicking sink.
#![cfg(all(feature = "proto", not(any(feature = "loom", feature = "shuttle"))))]

use crate::proto_common;

use neighcache::proto::arp::{self, ArpOp, ArpPacket};
use neighcache::proto::eth::{self, Mac, BROADCAST};
use neighcache::proto::proxy::{Prefix, Proxied, Proxy, ProxyParms};
use neighcache::proto::{
    ndisc, CacheAction, Counter, FrameSink, Host, Iface, Policy, ProtoError, RxEvent, Untouched,
    START_TICK,
};
use neighcache::{DevId, NudState, TimerTarget};
use proto_common::{cfg, hex, ipv6_frame, Rec};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const Q_MAC: Mac = [2, 0, 0, 0, 1, 1];
const X_MAC: Mac = [2, 0, 0, 0, 1, 2];
const Q4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const X4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
const P4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 50);
const DEV: DevId = DevId(7);

fn q6() -> Ipv6Addr {
    "2001:db8:1::1".parse().unwrap()
}
fn x6() -> Ipv6Addr {
    "2001:db8:1::2".parse().unwrap()
}
fn p6() -> Ipv6Addr {
    "2001:db8:1::50".parse().unwrap()
}

/// Linux 6.18 (Q) asking for 198.18.1.50: broadcast ARP request.
fn kernel_request() -> Vec<u8> {
    hex("ffffffffffff02000000010108060001080006040001020000000101c6120101000000000000c6120132")
}

/// Linux 6.18 (X, proxying 198.18.1.50 on its veth) answering it: a reply
/// from 198.18.1.50 at X's MAC.
fn kernel_proxy_reply() -> Vec<u8> {
    hex("02000000010102000000010208060001080006040002020000000102c6120132020000000101c6120101")
}

/// Linux 6.18 (Q) soliciting 2001:db8:1::50 (multicast, with SLLAO).
fn kernel_ns() -> Vec<u8> {
    hex(
        "3333ff00005002000000010186dd6000000000203aff20010db8000100000000000000000001ff020000\
         0000000000000001ff00005087001a890000000020010db800010000000000000000005001010200000001\
         01",
    )
}

/// Linux 6.18 (X, `proxy_ndp`) answering it: from X's own address, S=1,
/// O=0, R=0, target link-layer option with X's MAC.
fn kernel_proxy_na() -> Vec<u8> {
    hex(
        "02000000010102000000010286dd6000000000203aff20010db800010000000000000000000220010db8\
         0001000000000000000000018800a9204000000020010db800010000000000000000005002010200000001\
         02",
    )
}

fn x_iface(dev: DevId) -> Iface {
    Iface::new(dev, "vx", X_MAC)
        .with_ipv4(X4, 24)
        .with_ipv6(x6(), 64)
}

fn router() -> Policy {
    Policy {
        forwarding: true,
        proxy_ndp: true,
        ..Policy::default()
    }
}

/// X on `dev` with `policy`, sharing `proxy`, sink `sink`.
fn host_on<S: FrameSink>(dev: DevId, policy: Policy, proxy: Arc<Proxy>, sink: S) -> Host<S> {
    Host::with_proxy(x_iface(dev), policy, cfg(), sink, None, proxy).unwrap()
}

/// X proxying 198.18.1.50 and 2001:db8:1::50 on DEV with `delay`.
fn proxy_host(policy: Policy, delay: u64) -> Host<Rec> {
    let h = host_on(DEV, policy, Arc::new(Proxy::with_seed(3)), Rec::default());
    let parms = ProxyParms {
        delay,
        ..ProxyParms::default()
    };
    h.proxy().set_parms(DEV, parms).unwrap();
    for a in [IpAddr::V4(P4), IpAddr::V6(p6())] {
        h.proxy()
            .add(Prefix::host(a).unwrap(), Some(DEV), false)
            .unwrap();
    }
    h
}

/// An ARP request from Q for `tip` (sender `sip`), to `eth_dst`.
fn request(eth_dst: Mac, sip: Ipv4Addr, tip: Ipv4Addr) -> Vec<u8> {
    let p = ArpPacket {
        op: ArpOp::Request,
        sender_mac: Q_MAC,
        sender_ip: sip,
        target_mac: [0; 6],
        target_ip: tip,
    };
    arp::frame(eth_dst, Q_MAC, &p)
}

/// An NS from Q (`src`; `::` for DAD) for `target` to `dst`.
fn ns(src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let q = Iface::new(DEV, "vq", Q_MAC);
    let pkt = ndisc::ns_packet(&q, src, dst, target);
    let eth_dst = if dst.is_multicast() {
        eth::ipv6_multicast_mac(&dst)
    } else {
        X_MAC
    };
    ipv6_frame(eth_dst, Q_MAC, &pkt)
}

fn arp_rx(r: Result<RxEvent, ProtoError>) -> arp::ArpRx {
    match r.unwrap() {
        RxEvent::Arp(a) => a,
        other => panic!("not ARP: {other:?}"),
    }
}

fn nd_rx(r: Result<RxEvent, ProtoError>) -> ndisc::NdRx {
    match r.unwrap() {
        RxEvent::Nd(a) => a,
        other => panic!("not ND: {other:?}"),
    }
}

fn state4<S: FrameSink>(h: &Host<S>, ip: Ipv4Addr) -> Option<NudState> {
    h.v4()
        .dump()
        .into_iter()
        .find(|e| e.key == ip)
        .map(|e| e.state)
}

fn state6<S: FrameSink>(h: &Host<S>, ip: Ipv6Addr) -> Option<NudState> {
    h.v6()
        .dump()
        .into_iter()
        .find(|e| e.key == ip)
        .map(|e| e.state)
}

/// Run the host (tables and proxy queue) to `t` ms after its start.
fn at<S: FrameSink>(h: &Host<S>, t: u64) -> usize {
    TimerTarget::run_timers(h, START_TICK + t).unwrap()
}

/// The NA's flags byte (R 0x80, S 0x40, O 0x20), IPv6 source and whether
/// it has a target link-layer address option.
fn na_fields(f: &[u8]) -> (u8, Ipv6Addr, bool) {
    let src: [u8; 16] = f[22..38].try_into().unwrap();
    (f[58], src.into(), f.len() > 14 + 40 + 24)
}

#[test]
fn our_proxy_answers_are_byte_for_byte_the_kernels() {
    let h = proxy_host(router(), 0);
    let rx = arp_rx(h.receive(&kernel_request()));
    assert_eq!(rx.proxy, Some(Proxied::Answered));
    assert_eq!(h.sink().take(), vec![kernel_proxy_reply()]);
    // neigh_event_ns: the requester is cached STALE.
    assert_eq!(state4(&h, Q4), Some(NudState::STALE));

    let rx = nd_rx(h.receive(&kernel_ns()));
    assert_eq!(rx.proxy, Some(Proxied::Answered));
    // Sent through the cache: Q's entry (from the SLLAO) moves to DELAY.
    assert_eq!(h.sink().take(), vec![kernel_proxy_na()]);
    assert_eq!(state6(&h, q6()), Some(NudState::DELAY));
    assert_eq!(h.stats().get(Counter::ProxyReplies), 2);
}

#[test]
fn proxying_needs_forwarding_and_for_nd_proxy_ndp() {
    let h = proxy_host(Policy::default(), 0);
    let rx = arp_rx(h.receive(&kernel_request()));
    assert_eq!((rx.proxy, rx.reply), (None, None));
    assert_eq!(rx.cache, CacheAction::Untouched(Untouched::NoEntry));
    assert_eq!(
        h.receive(&kernel_ns()),
        Err(ProtoError::NotOurAddress(IpAddr::V6(p6())))
    );
    let h = proxy_host(
        Policy {
            proxy_ndp: false,
            ..router()
        },
        0,
    );
    assert_eq!(
        arp_rx(h.receive(&kernel_request())).proxy,
        Some(Proxied::Answered)
    );
    assert!(h.receive(&kernel_ns()).is_err());
    assert!(h.v6().dump().is_empty(), "nothing cached for a refused NS");
}

#[test]
fn broadcast_requests_wait_proxy_delay_unicast_ones_do_not() {
    let h = proxy_host(router(), 800);
    let rx = arp_rx(h.receive(&kernel_request()));
    let Some(Proxied::Queued { due }) = rx.proxy else {
        panic!("{:?}", rx.proxy)
    };
    assert!((START_TICK..START_TICK + 800).contains(&due), "{due}");
    assert!(h.sink().take().is_empty());
    // As arp_process: the requester is cached before the request is queued.
    assert_eq!(state4(&h, Q4), Some(NudState::STALE));
    let (drv_next, t) = (h.next_event(), due - START_TICK);
    assert!(drv_next <= due, "the host's next event includes the queue");
    if t > 0 {
        assert_eq!(at(&h, t - 1), 0);
        assert!(h.sink().take().is_empty());
    }
    assert_eq!(at(&h, t), 1);
    assert_eq!(h.sink().take(), vec![kernel_proxy_reply()]);
    // Unicast to us (a re-probe): answered at once.
    let rx = arp_rx(h.receive(&request(X_MAC, Q4, P4)));
    assert_eq!(rx.proxy, Some(Proxied::Answered));
    assert_eq!(h.sink().take(), vec![kernel_proxy_reply()]);

    // ND: the multicast NS is queued before anything is cached.
    let rx = nd_rx(h.receive(&kernel_ns()));
    let Some(Proxied::Queued { due }) = rx.proxy else {
        panic!("{:?}", rx.proxy)
    };
    assert_eq!(rx.cache, CacheAction::Untouched(Untouched::ProxyQueued));
    assert_eq!(state6(&h, q6()), None);
    at(&h, due - START_TICK);
    assert_eq!(h.sink().take(), vec![kernel_proxy_na()]);
    // A unicast NS: at once, S=1 O=0, no target link-layer option.
    let rx = nd_rx(h.receive(&ns(q6(), p6(), p6())));
    assert_eq!(rx.proxy, Some(Proxied::Answered));
    let out = h.sink().take();
    assert_eq!(out.len(), 1);
    assert_eq!(na_fields(&out[0]), (0x40, x6(), false));
    let s = h.proxy().stats();
    assert_eq!((s.enqueued, s.redone, s.queued_now), (2, 2, 0));
    assert_eq!(
        h.stats().get(Counter::RxFrames),
        4,
        "a redone frame is received once"
    );
}

#[test]
fn nd_to_a_proxied_address_must_be_sent_to_our_mac_and_may_be_link_local() {
    // ip6_forward drops a frame not sent to our MAC before its proxy check:
    // a unicast NS for a proxied address in a broadcast or multicast frame
    // is never answered (Linux 6.18, p-proxy-nd-unicast-l2-* in the
    // frame corpus).
    let h = proxy_host(router(), 0);
    let q = Iface::new(DEV, "vq", Q_MAC);
    let group_mac = eth::ipv6_multicast_mac(&eth::solicited_node(&p6()));
    for eth_dst in [BROADCAST, group_mac] {
        let f = ipv6_frame(eth_dst, Q_MAC, &ndisc::ns_packet(&q, q6(), p6(), p6()));
        let r = h.receive(&f);
        assert!(
            matches!(r, Err(ProtoError::NotOurDestination(_))),
            "{eth_dst:02x?}: {r:?}"
        );
        assert!(h.sink().take().is_empty());
        assert_eq!(state6(&h, q6()), None);
    }
    // ip6_forward_proxy_check hands ND to input before its link-local
    // check: a unicast NS for a proxied link-local address is answered.
    let ll: Ipv6Addr = "fe80::50".parse().unwrap();
    h.proxy()
        .add(Prefix::host(IpAddr::V6(ll)).unwrap(), Some(DEV), false)
        .unwrap();
    let q_ll: Ipv6Addr = "fe80::1:1".parse().unwrap();
    let rx = nd_rx(h.receive(&ns(q_ll, ll, ll)));
    assert_eq!(rx.proxy, Some(Proxied::Answered));
    assert_eq!(h.sink().take().len(), 1);
}

#[test]
fn no_answer_for_dad_probes_or_self_announcements_but_nd_dad_is_defended() {
    let h = proxy_host(router(), 0);
    for f in [
        request(BROADCAST, Ipv4Addr::UNSPECIFIED, P4),
        request(BROADCAST, P4, P4),
    ] {
        let rx = arp_rx(h.receive(&f));
        assert_eq!((rx.proxy, rx.reply), (None, None), "{:?}", rx.packet);
    }
    h.proxy()
        .add(Prefix::host(IpAddr::V6(p6())).unwrap(), Some(DEV), true)
        .unwrap();
    let dad = ns(Ipv6Addr::UNSPECIFIED, eth::solicited_node(&p6()), p6());
    let rx = nd_rx(h.receive(&dad));
    assert_eq!(rx.cache, CacheAction::Untouched(Untouched::DadProbe));
    let r = rx.reply.unwrap();
    assert_eq!(r.dst, ndisc::ALL_NODES);
    let f = eth::build(
        r.eth_dst.unwrap(),
        X_MAC,
        eth::ETHERTYPE_IPV6,
        r.packet.len(),
        |b| b.copy_from_slice(&r.packet),
    );
    // ndisc_send_na(.., router = the entry's flag, solicited 0, override 0, tllao).
    assert_eq!(na_fields(&f), (0x80, x6(), true));
}

#[test]
fn entries_per_device_for_every_device_and_prefixes() {
    let proxy = Arc::new(Proxy::with_seed(1));
    let (d7, d8) = (DevId(7), DevId(8));
    let h7 = host_on(d7, router(), proxy.clone(), Rec::default());
    let h8 = host_on(d8, router(), proxy.clone(), Rec::default());
    for d in [d7, d8] {
        proxy
            .set_parms(d, ProxyParms { delay: 0, qlen: 4 })
            .unwrap();
    }
    let pf = |s: &str| s.parse::<Prefix>().unwrap();
    proxy.add(pf("198.18.1.50"), Some(d7), false).unwrap();
    proxy.add(pf("198.18.1.60"), None, false).unwrap();
    proxy.add(pf("198.18.1.64/26"), Some(d8), false).unwrap();
    proxy.add(pf("2001:db8:1::/64"), None, true).unwrap();
    let answers = |h: &Host<Rec>, tip: &str| {
        let rx = arp_rx(h.receive(&request(BROADCAST, Q4, tip.parse().unwrap())));
        h.sink().take();
        rx.proxy == Some(Proxied::Answered)
    };
    assert!(answers(&h7, "198.18.1.50") && !answers(&h8, "198.18.1.50"));
    assert!(answers(&h7, "198.18.1.60") && answers(&h8, "198.18.1.60"));
    assert!(answers(&h8, "198.18.1.70") && !answers(&h7, "198.18.1.70"));
    assert!(!answers(&h8, "198.18.1.130"));
    // Our own address is ours, not proxied.
    assert_eq!(arp_rx(h7.receive(&request(BROADCAST, Q4, X4))).proxy, None);
    // An every-device IPv6 prefix with the router flag: R=1.
    let rx = nd_rx(h8.receive(&ns(q6(), eth::solicited_node(&p6()), p6())));
    assert_eq!(rx.proxy, Some(Proxied::Answered));
    let out = h8.sink().take();
    assert_eq!(na_fields(&out[0]), (0xc0, x6(), true));
    assert!(h8.needs_all_multicast());
    proxy.remove_device(d8).unwrap();
    assert!(
        !answers(&h8, "198.18.1.60"),
        "a removed device answers nothing"
    );
    assert!(answers(&h7, "198.18.1.60"));
}

#[test]
fn solicited_node_groups_of_proxied_addresses_are_joined() {
    let h = proxy_host(router(), 0);
    let m = h.multicast_macs();
    assert!(m.contains(&eth::ipv6_multicast_mac(&eth::solicited_node(&p6()))));
    assert!(!h.needs_all_multicast());
}

#[test]
fn deleting_an_entry_cancels_a_queued_answer() {
    let h = proxy_host(router(), 800);
    let rx = arp_rx(h.receive(&kernel_request()));
    let Some(Proxied::Queued { due }) = rx.proxy else {
        panic!()
    };
    h.proxy()
        .delete(Prefix::host(IpAddr::V4(P4)).unwrap(), Some(DEV))
        .unwrap();
    assert_eq!(at(&h, due - START_TICK), 1, "processed again...");
    assert!(h.sink().take().is_empty(), "... and not answered");
    assert_eq!(h.proxy().stats().redone, 1);
}

#[test]
fn the_queue_is_bounded_and_every_request_accounted() {
    let h = proxy_host(router(), 800);
    h.proxy()
        .set_parms(
            DEV,
            ProxyParms {
                delay: 800,
                qlen: 2,
            },
        )
        .unwrap();
    let got: Vec<Option<Proxied>> = (0..3)
        .map(|_| arp_rx(h.receive(&kernel_request())).proxy)
        .collect();
    assert!(matches!(got[0], Some(Proxied::Queued { .. })));
    assert!(matches!(got[1], Some(Proxied::Queued { .. })));
    assert_eq!(got[2], Some(Proxied::QueueFull));
    let s = h.proxy().stats();
    assert_eq!((s.enqueued, s.overflow, s.queued_now), (2, 1, 2));
    h.proxy().remove_device(DEV).unwrap();
    let s = h.proxy().stats();
    assert_eq!((s.purged, s.queued_now), (2, 0));
    assert_eq!(s.enqueued, s.redone + s.purged + s.queued_now);
    assert_eq!(at(&h, 1000), 0);
    assert!(h.sink().take().is_empty());
}

/// Records frames; panics on a send while `armed`.
#[derive(Default)]
struct Fragile {
    armed: AtomicBool,
    frames: Mutex<Vec<Vec<u8>>>,
}

impl FrameSink for Fragile {
    fn send_frame(&self, _dev: DevId, head: &[u8], body: &[u8]) -> io::Result<()> {
        // Relaxed: set by the test thread that also sends.
        if self.armed.swap(false, Ordering::Relaxed) {
            panic!("sink panicked");
        }
        self.frames.lock().unwrap().push([head, body].concat());
        Ok(())
    }
}

#[test]
fn a_panicking_sink_loses_no_queued_request() {
    let proxy = Arc::new(Proxy::with_seed(5));
    let h = host_on(DEV, router(), proxy.clone(), Fragile::default());
    proxy
        .add(Prefix::host(IpAddr::V4(P4)).unwrap(), None, false)
        .unwrap();
    for _ in 0..3 {
        arp_rx(h.receive(&kernel_request()));
    }
    assert_eq!(proxy.stats().queued_now, 3);
    // Relaxed: the sink runs on this thread.
    h.sink().armed.store(true, Ordering::Relaxed);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| at(&h, 800)));
    assert!(r.is_err(), "the sink's panic propagates");
    // The request being answered counts as processed; the others wait.
    let s = proxy.stats();
    assert_eq!((s.redone, s.queued_now), (1, 2));
    assert_eq!(s.enqueued, s.redone + s.purged + s.queued_now);
    assert_eq!(at(&h, 801), 2);
    assert_eq!(h.sink().frames.lock().unwrap().len(), 2);
    assert_eq!(proxy.stats().queued_now, 0);
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn a_tokio_driver_answers_queued_requests_on_their_tick() {
    let h = Arc::new(proxy_host(router(), 800));
    let d = neighcache::TokioTimers::spawn(h.clone(), neighcache::DEFAULT_RECHECK).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let rx = arp_rx(h.receive(&kernel_request()));
    let Some(Proxied::Queued { due }) = rx.proxy else {
        panic!()
    };
    let origin = tokio::time::Instant::now() - std::time::Duration::from_millis(5);
    let at_tick = origin + std::time::Duration::from_millis(due - START_TICK);
    tokio::time::sleep_until(at_tick - std::time::Duration::from_millis(1)).await;
    assert!(h.sink().take().is_empty(), "not before its tick");
    tokio::time::sleep_until(at_tick + std::time::Duration::from_millis(1)).await;
    assert_eq!(h.sink().take(), vec![kernel_proxy_reply()]);
    d.stop().await;
}
