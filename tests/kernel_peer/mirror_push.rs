//! Both directions at once: the table's own entries appear in M's kernel
//! (`ip neigh`: NOARP, `extern_learn`, our protocol), change and disappear
//! with ours, while the kernel's own entries are mirrored in and never
//! pushed back, and neither side's echo changes the other (no loop). And
//! datagrams sent to the mirror's socket by another process are dropped
//! and counted, changing nothing.

use crate::mirror::Env;
use crate::netlink::KEntry;
use neighcache::netlink::{MirrorConfig, DEFAULT_PROTOCOL};
use neighcache::{DevId, DeviceConfig, EventFilter, NeighFlags, NudState, UpdateFlags};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const KERNEL_OWN: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 20);
const OURS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 30);

/// Wait (2 s at most) until `f` holds for M's kernel entry of `dst` on v0.
fn kernel_until(
    env: &Env,
    rt: &mut crate::netlink::Rtnl,
    dst: Ipv4Addr,
    f: impl Fn(Option<&KEntry>) -> bool,
) -> Option<KEntry> {
    let t0 = Instant::now();
    loop {
        let all = rt.entries(libc::AF_INET as u8).expect("RTM_GETNEIGH");
        let e = all
            .into_iter()
            .find(|e| e.ifindex == env.ifindex && e.dst == IpAddr::V4(dst));
        if f(e.as_ref()) || t0.elapsed() > Duration::from_secs(2) {
            return e;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub fn both_directions(env: &Env) -> Vec<String> {
    let mut bad = Vec::new();
    let mut rt = env.rtnl();
    let table = Env::table::<Ipv4Addr>();
    let dev = DevId(env.ifindex);
    let cfg = MirrorConfig {
        to_kernel: true,
        ..env.cfg()
    };
    let m = env.mirror(&table, cfg).spawn().expect("mirror thread");
    // The kernel's own entry comes in...
    env.ip(&format!(
        "neigh add {KERNEL_OWN} lladdr 02:00:00:00:00:20 dev v0 nud reachable"
    ));
    // ...and our resolver learns one (an ARP request for us from it).
    let mac30 = [2, 0, 0, 0, 0, 0x30];
    table.event_ns(OURS, dev, &mac30).expect("event_ns");
    let e = kernel_until(env, &mut rt, OURS, |e| e.is_some());
    let want = |e: &KEntry, mac: &[u8], router: bool| {
        e.state == 0x40
            && e.ext_learned
            && e.protocol == Some(DEFAULT_PROTOCOL)
            && e.lladdr.as_deref() == Some(mac)
            && e.router == router
    };
    match &e {
        Some(e) if want(e, &mac30, false) => {
            println!("  pushed: {OURS} appears in the kernel: {e:?}")
        }
        other => bad.push(format!("push: {OURS} in the kernel is {other:?}")),
    }
    // Ours changes: a new address, and it is a router.
    let mac31 = [2, 0, 0, 0, 0, 0x31];
    let n = table.lookup(OURS, dev).expect("our entry");
    table
        .update(
            &n,
            Some(&mac31),
            NudState::REACHABLE,
            UpdateFlags::OVERRIDE | UpdateFlags::OVERRIDE_ISROUTER | UpdateFlags::ISROUTER,
        )
        .expect("update");
    drop(n);
    match kernel_until(env, &mut rt, OURS, |e| {
        e.is_some_and(|e| want(e, &mac31, true))
    }) {
        Some(e) if want(&e, &mac31, true) => println!("  pushed: the change follows: {e:?}"),
        other => bad.push(format!("push: after our change, the kernel has {other:?}")),
    }
    // No loop: after the echoes settle, nothing moves.
    std::thread::sleep(Duration::from_millis(100));
    let quiet = table
        .subscribe(1 << 10, EventFilter::All)
        .expect("subscribe");
    std::thread::sleep(Duration::from_millis(300));
    if !quiet.is_empty() {
        bad.push(format!(
            "loop: {} table events while nothing changed: {:?}",
            quiet.len(),
            quiet.drain()
        ));
    }
    let n = table.lookup(OURS, dev).expect("our entry");
    if n.state() != NudState::REACHABLE || n.flags().contains(NeighFlags::EXT_LEARNED) {
        bad.push(format!(
            "loop: our entry came back from the kernel as {} {:?}",
            n.state(),
            n.flags()
        ));
    }
    drop(n);
    let k = kernel_until(env, &mut rt, KERNEL_OWN, |e| e.is_some());
    // (Its state is the kernel's to age: REACHABLE, then DELAY or STALE.)
    if k.as_ref()
        .is_none_or(|k| k.ext_learned || k.protocol.is_some())
    {
        bad.push(format!(
            "loop: the kernel's own entry was pushed back: {k:?}"
        ));
    }
    if table.lookup(KERNEL_OWN, dev).is_none_or(|n| {
        !n.state().is(NudState::VALID) || n.flags().contains(NeighFlags::EXT_LEARNED)
    }) {
        bad.push("the kernel's own entry is not mirrored as it is".into());
    }
    // Ours goes: so does the kernel's copy.
    table.remove(OURS, dev).expect("remove");
    match kernel_until(env, &mut rt, OURS, |e| e.is_none()) {
        None => println!("  pushed: removed with ours"),
        Some(e) => bad.push(format!("push: still in the kernel after ours went: {e:?}")),
    }
    let s = m.stop().expect("mirror stopped cleanly").stats();
    println!("  both directions: counters {s:?}");
    if s.push_errors != 0 || s.pushed < 2 || s.push_deleted < 1 || s.own_skipped < 2 {
        bad.push(format!("push counters: {s:?}"));
    }
    env.ip("neigh flush dev v0");
    bad
}

/// Another process (root, in M) sends the mirror's socket crafted
/// datagrams, a well-formed `RTM_NEWNEIGH` among them: all dropped and
/// counted; the table does not change.
pub fn foreign_senders(env: &Env) -> Vec<String> {
    let mut bad = Vec::new();
    let table = Env::table::<Ipv4Addr>();
    let m = env.mirror(&table, env.cfg());
    let port = m.port();
    let before = table.dump();
    let m = m.spawn().expect("mirror thread");
    let mut well_formed = crate::netlink::new_neigh_bytes(
        env.ifindex,
        Ipv4Addr::new(10, 77, 0, 40).into(),
        &[2, 0, 0, 0, 0, 0x40],
        0x02,
    );
    let sent: Vec<Vec<u8>> = vec![vec![0xff; 3], vec![0; 64], well_formed.clone(), {
        well_formed.truncate(well_formed.len() - 6);
        well_formed
    }];
    env.m.run(move || {
        let mut s = Socket::new(NETLINK_ROUTE).expect("socket");
        s.bind_auto().expect("bind");
        for d in &sent {
            s.send_to(d, &SocketAddr::new(port, 0), 0)
                .expect("send to the mirror's port");
        }
        // And to its group, as root may.
        s.send_to(&sent[2], &SocketAddr::new(0, 1 << 2), 0)
            .expect("send to RTNLGRP_NEIGH");
    });
    let t0 = Instant::now();
    while m.stats().not_from_kernel < 5 && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let s = m.stop().expect("mirror stopped cleanly").stats();
    println!("  foreign senders: counters {s:?}");
    if s.not_from_kernel != 5 {
        bad.push(format!(
            "foreign datagrams counted {} of 5",
            s.not_from_kernel
        ));
    }
    if table.dump() != before {
        bad.push("a foreign datagram changed the table".into());
    }
    bad
}

/// Many entries of ours at once (the reconciliation at `open` pushes them
/// in one pass): every one reaches the kernel, and no acknowledgement is
/// lost (a lost one would count as a refusal the kernel never made).
pub fn bulk(env: &Env) -> Vec<String> {
    const N: u32 = 3000;
    let mut bad = Vec::new();
    let table = Env::table::<Ipv4Addr>();
    let dev = DevId(env.ifindex);
    table
        .add_device(dev, DeviceConfig::ethernet([2, 0, 0, 0, 0, 1], 0x0800))
        .expect("v0 in the table");
    let addr = |i: u32| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 78, 0, 0)) + i);
    for i in 0..N {
        let mac = [2, 0, 0, 0x78, (i >> 8) as u8, i as u8];
        table.event_ns(addr(i), dev, &mac).expect("event_ns");
    }
    let cfg = MirrorConfig {
        to_kernel: true,
        ..env.cfg()
    };
    let s = env.mirror(&table, cfg).stats();
    let mut rt = env.rtnl();
    let pushed = rt
        .entries(libc::AF_INET as u8)
        .expect("RTM_GETNEIGH")
        .into_iter()
        .filter(|e| e.ifindex == env.ifindex && e.ext_learned)
        .count();
    println!(
        "  bulk push: {N} of ours, {pushed} in the kernel; pushed {}, push_errors {}",
        s.pushed, s.push_errors
    );
    if pushed != N as usize || s.pushed != u64::from(N) || s.push_errors != 0 {
        bad.push(format!(
            "bulk push: {pushed} of {N} in the kernel, counters {s:?}"
        ));
    }
    env.ip("neigh flush dev v0");
    bad
}
