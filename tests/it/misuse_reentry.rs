//! Misuse of the public API, part 4: callbacks that re-enter the table, and
//! packets whose `Packet::len` lies or panics.
//!
//! Callbacks are made with no cache lock held (`NeighOps` docs), so a
//! callback may call any table method: answer a solicitation at once
//! (`receive_arp`), flush every device, remove the very entry being
//! processed, take and drop handles, run the timers from inside a timer
//! handler, remove devices while a device is being removed. None of that
//! may deadlock, lose or duplicate a packet, or leak a reference. A
//! packet's `len()` is user code too: it may change between calls, say
//! `usize::MAX`, or panic.
//!
//! After every scenario: `check` (exact ledger, refcounts, timers) and
//! `teardown` (`allocs == destroys`, every packet freed); see
//! `tests/it/common/adversary.rs`.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::adversary::*;
use common::{test_config, DEV, MAC_A, MAC_B};
use neighcache::{DropReason, EventSend, NudState as S, TableConfig, UpdateFlags as F, Xmit, HZ};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};

const K1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const K2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn queue(t: &Table, log: &Log<Ipv4Addr>, key: Ipv4Addr, dev: neighcache::DevId, n: usize) {
    for _ in 0..n {
        assert_eq!(t.resolve_output(key, dev, log.pkt()), Xmit::Queued);
    }
}

/// A daemon that answers a solicitation from its own cache, inside
/// `solicit`: the reply resolves the entry and flushes the packet that
/// triggered the solicitation before `resolve_output` returns.
#[test]
fn a_solicitation_answered_inside_the_callback() {
    let (t, log) = adv();
    log.set_hook(hook(&t, |t, cb, key| {
        if let (Cb::Solicit, Some(k)) = (cb, key) {
            t.receive_arp(k, DEV, &MAC_A, true).unwrap();
        }
    }));
    assert_eq!(t.resolve_output(K1, DEV, log.pkt()), Xmit::Queued);
    assert_eq!(log.delivery(0), [Delivery::Tx]);
    assert_eq!(t.lookup(K1, DEV).unwrap().state(), S::REACHABLE);
    run_for(&t, 60 * HZ);
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// `transmit`, called while a reply flushes three queued packets, flushes
/// every device: the entry dies under the flush, but the packets already
/// taken off its queue are still transmitted, once each; the other entry's
/// packet is discarded as `DeviceDown`.
#[test]
fn transmit_flushes_every_device_during_a_flush() {
    let (t, log) = adv();
    queue(&t, &log, K1, DEV, 3);
    queue(&t, &log, K2, ETH1, 1);
    log.set_hook(hook(&t, |t, cb, _| {
        if cb == Cb::Transmit {
            t.flush_dev(None);
        }
    }));
    t.receive_arp(K1, DEV, &MAC_A, true).unwrap();
    assert_eq!(
        (0..3).flat_map(|i| log.delivery(i)).collect::<Vec<_>>(),
        [Delivery::Tx; 3]
    );
    assert_eq!(log.delivery(3), [Delivery::Discard(DropReason::DeviceDown)]);
    assert_eq!(t.len(), 0);
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// `error_report` restarts resolution of the neighbour that just failed
/// (a new packet for it), and runs the timers far ahead from inside the
/// timer handler that reported: no deadlock (the nested `run_timers` finds
/// its base busy and leaves the firing to the outer call), and the books
/// balance.
#[test]
fn error_report_restarts_resolution_and_runs_the_timers() {
    let (t, log) = adv();
    let weak: Weak<Log<Ipv4Addr>> = Arc::downgrade(&log);
    let nested = Arc::new(AtomicU64::new(0));
    let n2 = nested.clone();
    log.set_hook(hook(&t, move |t, cb, key| {
        if let (Cb::ErrorReport, Some(k), Some(log)) = (cb, key, weak.upgrade()) {
            t.resolve_output(k, DEV, log.pkt());
            n2.fetch_add(
                t.run_timers(t.jiffies() + 2 * HZ).unwrap() as u64 + 1,
                Relaxed,
            );
        }
    }));
    queue(&t, &log, K1, DEV, 2);
    run_for(&t, 20 * HZ);
    assert!(nested.load(Relaxed) >= 2, "error_report ran at least twice");
    assert_eq!(t.lookup(K1, DEV).unwrap().state(), S::INCOMPLETE);
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// `discard`, called while a device is removed, flushes every device and
/// removes the other device too: both devices end up unregistered, every
/// queued packet is discarded once as `DeviceDown`.
#[test]
fn discard_removes_devices_during_remove_device() {
    let (t, log) = adv();
    queue(&t, &log, K1, DEV, 2);
    queue(&t, &log, K2, ETH1, 2);
    log.set_hook(hook(&t, |t, cb, _| {
        if cb == Cb::Discard {
            t.flush_dev(None);
            let _ = t.remove_device(ETH1);
        }
    }));
    assert_eq!(t.remove_device(DEV), Ok(1));
    assert_eq!(log.count(Delivery::Discard(DropReason::DeviceDown)), 4);
    assert_eq!(
        t.remove_device(ETH1),
        Err(neighcache::NeighError::UnknownDevice(ETH1))
    );
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// Every callback that names a key takes two handles on its entry, removes
/// the entry, drops one handle, tries to update through the other (`Dead`)
/// and drops it: while the entry is being created and probed
/// (`resolve_output`), inside the DELAY -> PROBE timer handler, and while
/// its queue is reported. The entry is destroyed exactly when the last of
/// these references goes.
#[test]
fn callbacks_remove_the_entry_they_are_called_for() {
    let (t, log) = adv();
    log.set_hook(hook(&t, |t, _, key| {
        if let Some(h) = key.and_then(|k| t.lookup(k, DEV)) {
            let h2 = h.clone();
            let _ = t.remove(h.key(), DEV);
            drop(h);
            let r = t.update(&h2, Some(&MAC_B), S::REACHABLE, F::OVERRIDE);
            assert_eq!(r, Err(neighcache::NeighError::Dead));
        }
    }));
    assert_eq!(t.resolve_output(K1, DEV, log.pkt()), Xmit::Queued);
    assert_eq!(log.delivery(0), [Delivery::ErrorReport]);
    assert!(t.lookup(K1, DEV).is_none());
    // DELAY -> PROBE: the handler's unicast probe removes the entry.
    log.set_hook(None);
    t.event_ns(K2, DEV, &MAC_A).unwrap();
    assert_eq!(t.resolve_output(K2, DEV, log.pkt()), Xmit::Sent);
    log.set_hook(hook(&t, |t, cb, key| {
        if let (Cb::Solicit, Some(k)) = (cb, key) {
            let h = t.lookup(k, DEV).unwrap();
            t.remove(k, DEV).unwrap();
            assert!(h.is_dead());
        }
    }));
    run_for(&t, 10 * HZ);
    assert!(t.is_empty());
    let s = check(&t, &log, &[]);
    assert_eq!((s.allocs, s.destroys), (2, 2));
    teardown(t, &log);
}

/// Every callback calls a different table method (a fixed rotation over
/// all of them: create and drop handles, output, ARP, update, remove,
/// confirm, `set_probe_once`, `flush_dev` of one device and of all,
/// `remove_device` and `add_device`, `run_timers`, GC, dumps) while a
/// workload resolves, fails and flushes neighbours on two devices.
#[test]
fn every_callback_calls_every_method() {
    let (t, log) = adv_table(TableConfig {
        gc_thresh1: 0,
        ..test_config()
    });
    let weak = Arc::downgrade(&log);
    let turn = Arc::new(AtomicU64::new(0));
    log.set_hook(hook(&t, move |t, _, key| {
        let Some(log) = weak.upgrade() else { return };
        let i = turn.fetch_add(1, Relaxed);
        let k = key.unwrap_or(Ipv4Addr::new(10, 0, 1, (i % 7) as u8));
        let dev = if i % 2 == 0 { DEV } else { ETH1 };
        match i % 14 {
            0 => drop(t.lookup_or_create(k, dev)),
            1 => drop(t.resolve_output(k, dev, log.pkt())),
            2 => drop(t.receive_arp(k, dev, &MAC_B, i % 4 == 0)),
            3 => drop(t.remove(k, dev)),
            4 => drop(t.lookup(k, dev).map(|h| t.confirm(&h))),
            5 => drop(t.lookup(k, dev).map(|h| t.set_probe_once(&h))),
            6 => drop(t.flush_dev(Some(dev))),
            7 => drop(t.run_timers(t.jiffies() + 700)),
            8 => drop(t.gc()),
            9 => drop((t.dump(), t.stats(), t.len(), t.next_event())),
            10 => drop(
                t.remove_device(ETH1)
                    .and_then(|_| t.add_device(ETH1, eth())),
            ),
            11 => drop(
                t.lookup(k, dev)
                    .map(|h| t.update(&h, None, S::NONE, F::ADMIN)),
            ),
            12 => drop(t.add_permanent(k, dev, &MAC_A)),
            _ => drop(t.flush_dev(None)),
        }
    }));
    for round in 0..40u8 {
        for i in 0..8 {
            let (k, dev) = (
                Ipv4Addr::new(10, 0, 2, i),
                if i % 2 == 0 { DEV } else { ETH1 },
            );
            t.resolve_output(k, dev, log.pkt());
            if (round + i) % 3 == 0 {
                let _ = t.receive_arp(k, dev, &MAC_A, true);
            }
        }
        run_for(&t, 700);
    }
    run_for(&t, 60 * HZ);
    assert!(log.total_calls() > 100, "the workload made callbacks");
    check(&t, &log, &[]);
    teardown(t, &log);
}

// ----- lying packets ---------------------------------------------------------

/// `len()` answering `usize::MAX`, or 0 and `usize::MAX` by turns: the
/// queue keeps the length each packet had when queued, saturates its byte
/// count, evicts the oldest packet whenever the new total exceeds
/// `unres_qlen_bytes` (so a `usize::MAX` packet only ever waits alone),
/// and never overflows (debug builds check arithmetic).
#[test]
fn lying_lengths_are_taken_at_queueing_time() {
    let (t, log) = adv();
    let ids: Vec<u64> = [Len::Max, Len::Fixed(100), Len::Max, Len::Flip, Len::Flip]
        .into_iter()
        .map(|l| {
            let p = log.pkt_len(l);
            let id = p.id;
            assert_eq!(t.resolve_output(K1, DEV, p), Xmit::Queued);
            id
        })
        .collect();
    let overflow = Delivery::Discard(DropReason::QueueOverflow);
    for &id in &ids[..3] {
        assert_eq!(log.delivery(id), [overflow]);
    }
    t.receive_arp(K1, DEV, &MAC_A, true).unwrap();
    for &id in &ids[3..] {
        assert_eq!(log.delivery(id), [Delivery::Tx]);
    }
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// `len()` panicking wherever the cache asks for it (on a new neighbour, on
/// an INCOMPLETE one, on a STALE one, through `event_send`): the panic
/// reaches the caller unchanged, the packet is freed and counted once
/// (queued and `Unwound`), nothing else changes, and the table goes on. On
/// the hit path the cache never asks, and the packet is sent.
#[test]
fn a_panicking_len_loses_no_packet() {
    let (t, log) = adv();
    resolve(&t, &log, K1, MAC_A);
    t.event_ns(K2, DEV, &MAC_A).unwrap(); // STALE
    assert_eq!(
        t.resolve_output(K1, DEV, log.pkt_len(Len::Panic)),
        Xmit::Sent
    );
    let k3 = Ipv4Addr::new(10, 0, 0, 3);
    let mut unwound = 0;
    for key in [k3, k3, K2] {
        expect_panic(LEN_PANIC, || {
            t.resolve_output(key, DEV, log.pkt_len(Len::Panic))
        });
        unwound += 1;
        assert_eq!(check(&t, &log, &[]).dropped_unwound, unwound);
    }
    let h = t.lookup(k3, DEV).unwrap();
    expect_panic(LEN_PANIC, || {
        t.event_send(&h, Some(log.pkt_len(Len::Panic)))
    });
    assert_eq!(check(&t, &log, &[&*h]).dropped_unwound, unwound + 1);
    assert!(matches!(
        t.event_send(&h, Some(log.pkt())),
        EventSend::Queued
    ));
    drop(h);
    t.receive_arp(k3, DEV, &MAC_B, true).unwrap();
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// A panic raised inside a nested call: `solicit` answers by a reply whose
/// flush calls `transmit`, which panics. The panic crosses two table calls
/// (`receive_arp` inside the callback, `resolve_output` outside) and reaches
/// the caller unchanged; both calls settle their books.
#[test]
fn a_panic_inside_a_nested_call_crosses_both_calls() {
    let (t, log) = adv();
    queue(&t, &log, K1, DEV, 2);
    log.set_hook(hook(&t, |t, cb, key| {
        if let (Cb::Solicit, Some(k)) = (cb, key) {
            let _ = t.receive_arp(k, DEV, &MAC_A, true);
        }
    }));
    log.panic_on(Some(Cb::Transmit), 0);
    expect_panic(&Cb::Transmit.panic_msg(), || {
        t.resolve_output(K2, DEV, log.pkt());
    });
    let s = check(&t, &log, &[]);
    assert_eq!((s.flushed, s.dropped_unwound), (1, 0));
    assert_eq!(t.lookup(K2, DEV).unwrap().state(), S::REACHABLE);
    teardown(t, &log);
}

/// Output calls made while the caller's thread unwinds (from a `Drop`, say
/// a guard that hands its pending packets to the cache): packets dropped
/// before any queue (foreign entry, dead entry, unknown device) make no
/// callback, as the `NeighOps` contract says of an unwinding thread, and
/// are still counted once (queued and `Unwound`), so the ledger holds. A
/// packet to a resolved neighbour is still transmitted: the caller asked.
#[test]
fn output_while_the_caller_unwinds_keeps_the_books() {
    let (t, log) = adv();
    let (b, lb) = adv();
    resolve(&t, &log, K1, MAC_A);
    let dead = t.lookup_or_create(K2, DEV).unwrap();
    t.remove(K2, DEV).unwrap();
    let g = b.pin();
    let foreign = b.lookup_or_create_noref(K1, DEV, &g).unwrap();
    struct Flusher<'a>(&'a Table, &'a Log<Ipv4Addr>, &'a Entry, &'a Entry);
    impl Drop for Flusher<'_> {
        fn drop(&mut self) {
            let (t, log, g) = (self.0, self.1, self.0.pin());
            t.output(self.2, log.pkt(), &g); // dead
            t.output(self.3, log.pkt(), &g); // foreign
            t.resolve_output(K2, NODEV, log.pkt()); // unknown device
            t.resolve_output(K1, DEV, log.pkt()); // resolved: sent
        }
    }
    let calls = log.total_calls();
    let r = catch(|| {
        let _f = Flusher(&t, &log, &dead, foreign);
        panic!("adversary: the caller's own panic");
    });
    assert_eq!(r.unwrap_err(), "adversary: the caller's own panic");
    assert_eq!(log.total_calls(), calls + 1, "only the transmit");
    let s = check(&t, &log, &[&*dead]);
    assert_eq!((s.dropped_unwound, s.sent), (3, 1), "{s:?}");
    drop((g, dead));
    teardown(t, &log);
    teardown(b, &lb);
}
