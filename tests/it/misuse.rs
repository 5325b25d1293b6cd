//! Misuse of the public API, as an adversarial program would try it (issue
//! 10, "Soundness and hardening"), part 1: ownership and input. Entries and
//! handles used with the wrong table (also after their table is gone, and
//! from another thread), the table's timer wheel out of reach, wrong
//! link-layer address lengths, impossible devices, unknown and removed
//! devices, and administrative updates that would strand packets.
//!
//! The other misuse suites: `tests/it/misuse_limits.rs` (time domain,
//! configuration boundaries, hash flooding) and `tests/it/misuse_callbacks.rs`
//! (panicking and re-entrant callbacks, lying packets); random sequences of
//! all of it: `tests/it/api_state_machine.rs`.
//!
//! Every scenario ends with `check` (packet ledger, refcounts, timers) and
//! `teardown` (`allocs == destroys`, every packet freed), from
//! `tests/it/common/adversary.rs`. Each test says what the code did before the
//! fixes of commit 0b4dba6 where it differed.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use crate::common;
use common::adversary::{ip4 as ip, *};
use common::{test_config, DEV, MAC_A, MAC_B};
use neighcache::{
    DevId, DeviceConfig, DropReason, EventSend, LinkHeader, NeighError, NeighOps, NeighTable,
    NudState as S, Probe, UpdateFlags as F, Xmit, HZ,
};
use std::net::Ipv4Addr;

// ----- class 1: entries of one table used with another ---------------------

/// A second device side with the same packet type, so an entry of an
/// `Adv` table type-checks against this table too.
struct Other;
impl NeighOps<Ipv4Addr> for Other {
    type Packet = APkt;
    fn transmit(&self, _: DevId, _: &[u8], _: APkt) {
        panic!("Other: transmit")
    }
    fn solicit(&self, _: DevId, _: &Ipv4Addr, _: Probe) {
        panic!("Other: solicit")
    }
    fn error_report(&self, _: DevId, _: &Ipv4Addr, _: APkt) {
        panic!("Other: error_report")
    }
}

/// Every method of table B that takes an entry refuses an entry of table A
/// (handle or noref) and changes nothing in either table: `output` and
/// `event_send` drop the packet as `ForeignEntry` through B's `discard`;
/// `update` (whatever the state, flags or address length), `confirm` and
/// `set_probe_once` return `Err(ForeignEntry)`. Then the crash
/// sequence: A removes the entry it lent B, the handle goes, a grace period
/// passes, and both wheels run: nothing fires on freed memory, and A's
/// unrelated INCOMPLETE entry keeps its timer and keeps probing.
///
/// Before 0b4dba6: `b.output(&h, ..)` armed A's entry's timer on B's wheel;
/// after `a.remove` and the grace period, `b.run_timers` ran the handler on
/// freed memory (valgrind: invalid read), and `a.remove` deleted X's timer.
#[test]
fn foreign_entries_are_refused_by_every_method() {
    let (a, la) = adv();
    let (b, lb) = adv();
    let x = ip(0, 1);
    let n = ip(0, 2);
    assert_eq!(a.resolve_output(x, DEV, la.pkt()), Xmit::Queued);
    let h = a.lookup_or_create(n, DEV).unwrap();
    resolve(&a, &la, ip(0, 3), MAC_A);
    let g = a.pin();
    let reachable = a.lookup_noref(ip(0, 3), DEV, &g).unwrap();
    let incomplete = a.lookup_noref(x, DEV, &g).unwrap();
    let before = (a.stats(), a.dump(), a.timers().pending());
    let mut refused = 0;
    for e in [&*h, reachable, incomplete] {
        let (pkt, id) = {
            let p = lb.pkt();
            let id = p.id;
            (p, id)
        };
        let bg = b.pin();
        assert_eq!(
            b.output(e, pkt, &bg),
            Xmit::Dropped(DropReason::ForeignEntry)
        );
        assert_eq!(
            lb.delivery(id),
            [Delivery::Discard(DropReason::ForeignEntry)]
        );
        assert_eq!(
            b.event_send(e, Some(lb.pkt())),
            EventSend::Dropped(DropReason::ForeignEntry)
        );
        assert_eq!(
            b.event_send(e, None),
            EventSend::Dropped(DropReason::ForeignEntry)
        );
        refused += 2;
        for st in [
            S::REACHABLE,
            S::INCOMPLETE,
            S::FAILED,
            S::NONE,
            S::PERMANENT,
        ] {
            for flags in [F::NONE, F::OVERRIDE | F::ADMIN] {
                for addr in [&MAC_B[..], &[][..], &[0; 21][..]] {
                    let r = b.update(e, Some(addr), st, flags);
                    assert_eq!(r, Err(NeighError::ForeignEntry), "{st:?} {addr:?}");
                }
                assert_eq!(b.update(e, None, st, flags), Err(NeighError::ForeignEntry));
            }
        }
        assert_eq!(b.confirm(e), Err(NeighError::ForeignEntry));
        assert_eq!(b.set_probe_once(e), Err(NeighError::ForeignEntry));
    }
    // A table of another ops type but the same packet type refuses them too.
    let o = NeighTable::new(test_config(), Other).unwrap();
    o.add_device(DEV, eth()).unwrap();
    let og = o.pin();
    let lo = Log::<Ipv4Addr>::default();
    assert_eq!(
        o.output(&h, lo.pkt(), &og),
        Xmit::Dropped(DropReason::ForeignEntry)
    );
    assert_eq!(
        o.update(&h, Some(&MAC_A), S::REACHABLE, F::ADMIN),
        Err(NeighError::ForeignEntry)
    );
    assert_eq!(
        (o.stats().dropped_foreign, o.timers().pending(), o.len()),
        (1, 0, 0)
    );
    drop(og);
    // Nothing changed in A; B counted only the refused packets.
    assert_eq!((a.stats(), a.dump(), a.timers().pending()), before);
    let sb = check(&b, &lb, &[]);
    assert_eq!(
        (sb.dropped_foreign, sb.allocs, b.timers().pending()),
        (refused, 0, 0)
    );
    drop(g);
    // The sequence.
    a.remove(n, DEV).unwrap();
    drop(h);
    neighcache::rcu::barrier();
    assert_eq!(b.run_timers(b.jiffies() + 5000), Ok(0));
    assert_eq!(
        a.timers().pending(),
        2,
        "X's and the REACHABLE entry's timers"
    );
    let probes = la.solicits().len();
    a.run_timers(a.jiffies() + 1000).unwrap();
    assert_eq!(la.solicits().len(), probes + 1, "X still probes");
    check(&a, &la, &[]);
    teardown(a, &la);
    teardown(b, &lb);
}

/// An entry found with `lookup_noref` stays readable while the guard lives,
/// even after its table is dropped (the drop flushes it: NONE, dead). Table
/// B still refuses it everywhere, and its reclamation after the guard (the
/// entry tells its old wheel, still alive through the device) is clean.
#[test]
fn entry_of_a_dropped_table_under_a_guard_is_refused() {
    let (a, la) = adv();
    let (b, lb) = adv();
    resolve(&a, &la, ip(1, 1), MAC_A);
    assert_eq!(a.resolve_output(ip(1, 2), DEV, la.pkt()), Xmit::Queued);
    let g = a.pin();
    let e1 = a.lookup_noref(ip(1, 1), DEV, &g).unwrap();
    let e2 = a.lookup_noref(ip(1, 2), DEV, &g).unwrap();
    let calls = la.total_calls();
    drop(a); // the last Arc: teardown flushes both entries
    assert_eq!(
        la.total_calls(),
        calls + 1,
        "the queued packet was discarded"
    );
    assert_eq!(la.delivery(1), [Delivery::Discard(DropReason::DeviceDown)]);
    assert_eq!(la.issued(), la.freed());
    for e in [e1, e2] {
        assert!(e.is_dead());
        assert_eq!((e.state(), e.refcnt(), e.lladdr()), (S::NONE, 0, None));
        assert_eq!(
            b.output(e, lb.pkt(), &g),
            Xmit::Dropped(DropReason::ForeignEntry)
        );
        assert_eq!(
            b.event_send(e, None),
            EventSend::Dropped(DropReason::ForeignEntry)
        );
        let r = b.update(e, Some(&MAC_B), S::REACHABLE, F::OVERRIDE | F::ADMIN);
        assert_eq!(r, Err(NeighError::ForeignEntry));
        assert_eq!(b.confirm(e), Err(NeighError::ForeignEntry));
        assert_eq!(b.set_probe_once(e), Err(NeighError::ForeignEntry));
    }
    drop(g);
    neighcache::rcu::barrier();
    b.run_timers(b.jiffies() + 10 * HZ).unwrap();
    assert_eq!(check(&b, &lb, &[]).dropped_foreign, 2);
    teardown(b, &lb);
}

// ----- class 4: bad input must not change the table ------------------------

/// A link-layer address of the wrong length (0, 1, 5, 7, 20, 21 and 64
/// bytes for a 6-byte device) is `BadLladdrLen` on every path — ARP reply
/// and request for a new and an existing key, `add_permanent`, `update` —
/// and leaves no entry, timer, probe or state change behind. A device whose
/// header is its 20-byte address accepts exactly 20 bytes (`MAX_ADDR_LEN`).
///
/// Before 0b4dba6: a request and `add_permanent` returned the error but left
/// a new NONE entry; a reply returned `Ok(())`.
#[test]
fn wrong_address_lengths_are_refused_and_leave_no_trace() {
    let (t, log) = adv();
    resolve(&t, &log, ip(2, 1), MAC_A);
    let h = t.lookup(ip(2, 1), DEV).unwrap();
    let before = (t.stats(), t.dump(), t.timers().pending(), log.total_calls());
    for len in [0usize, 1, 5, 7, 20, 21, 64] {
        let addr = vec![0x02; len];
        let bad = Err(NeighError::BadLladdrLen {
            dev: DEV,
            expected: 6,
            got: len,
        });
        for key in [ip(2, 1), ip(2, 2)] {
            for reply in [true, false] {
                assert_eq!(t.receive_arp(key, DEV, &addr, reply), bad, "{len} {reply}");
            }
            assert_eq!(t.add_permanent(key, DEV, &addr), bad);
        }
        for st in [S::REACHABLE, S::STALE, S::PERMANENT, S::FAILED] {
            assert_eq!(t.update(&h, Some(&addr), st, F::OVERRIDE | F::ADMIN), bad);
        }
    }
    assert_eq!(
        (t.stats(), t.dump(), t.timers().pending(), log.total_calls()),
        before
    );
    assert_eq!(h.lladdr().unwrap().as_bytes(), MAC_A);
    // The longest address a device may have.
    let wide = DeviceConfig {
        addr_len: 20,
        header: LinkHeader::Lladdr,
        ..eth()
    };
    let ib = DevId(7);
    t.add_device(ib, wide).unwrap();
    let err = |got| {
        Err(NeighError::BadLladdrLen {
            dev: ib,
            expected: 20,
            got,
        })
    };
    assert_eq!(t.add_permanent(ip(2, 3), ib, &[1; 21]), err(21));
    assert_eq!(t.receive_arp(ip(2, 3), ib, &[1; 6], false), err(6));
    t.add_permanent(ip(2, 3), ib, &[1; 20]).unwrap();
    let g = t.pin();
    let e = t.lookup_noref(ip(2, 3), ib, &g).unwrap();
    assert_eq!(e.header().unwrap().as_bytes(), [1; 20]);
    assert_eq!(t.output(e, log.pkt(), &g), Xmit::Sent);
    drop(g);
    check(&t, &log, &[&*h]);
    drop(h);
    teardown(t, &log);
}

/// Devices that cannot hold their addresses are refused at registration:
/// more than `MAX_ADDR_LEN` bytes, Ethernet with other than 6, a NOARP
/// address of another length, a duplicate id, invalid per-device parameters.
#[test]
fn impossible_devices_are_refused() {
    let (t, log) = adv();
    let d = DevId(9);
    let lladdr = |n| DeviceConfig {
        addr_len: n,
        header: LinkHeader::Lladdr,
        ..eth()
    };
    let bad = |expected, got| {
        Err(NeighError::BadLladdrLen {
            dev: d,
            expected,
            got,
        })
    };
    assert_eq!(t.add_device(d, lladdr(21)), bad(20, 21));
    assert_eq!(t.add_device(d, lladdr(usize::MAX)), bad(20, usize::MAX));
    assert_eq!(
        t.add_device(
            d,
            DeviceConfig {
                addr_len: 5,
                ..eth()
            }
        ),
        bad(6, 5)
    );
    let noarp = DeviceConfig {
        noarp: true,
        noarp_lladdr: neighcache::LlAddr::new(&[1; 4]),
        ..eth()
    };
    assert_eq!(t.add_device(d, noarp), bad(6, 4));
    assert_eq!(t.add_device(DEV, eth()), Err(NeighError::DeviceExists(DEV)));
    let mut p = test_config().parms;
    p.retrans_time = 0;
    assert!(
        matches!(t.add_device(d, eth().with_parms(p)), Err(NeighError::Config(e)) if e.field == "retrans_time")
    );
    assert_eq!(
        t.resolve_output(ip(3, 1), d, log.pkt()),
        Xmit::Dropped(DropReason::UnknownDevice)
    );
    // A device with a zero-length address is valid and resolves (header
    // empty: its frames need no link-layer destination).
    t.add_device(d, lladdr(0)).unwrap();
    assert_eq!(t.resolve_output(ip(3, 1), d, log.pkt()), Xmit::Queued);
    t.receive_arp(ip(3, 1), d, &[], true).unwrap();
    assert_eq!(log.count(Delivery::Tx), 1);
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// A device that was never registered, and one that was removed, are
/// `UnknownDevice` on every method that names a device (`resolve_output`
/// drops the packet as `UnknownDevice`), and nothing is created. Entries of
/// the removed device that a handle still holds are dead: `update` and
/// `set_probe_once` say `Dead`, output drops as `Dead`. Re-registering the
/// device starts afresh.
///
/// Before 0b4dba6: `receive_arp(reply)` on an unknown device returned `Ok`.
#[test]
fn unknown_and_removed_devices_are_refused_everywhere() {
    let (t, log) = adv();
    resolve(&t, &log, ip(4, 1), MAC_A);
    assert_eq!(t.resolve_output(ip(4, 2), ETH1, log.pkt()), Xmit::Queued);
    let held = t.lookup(ip(4, 2), ETH1).unwrap();
    assert_eq!(t.remove_device(ETH1), Ok(1));
    assert_eq!(log.delivery(1), [Delivery::Discard(DropReason::DeviceDown)]);
    assert!(held.is_dead());
    let before = (t.len(), t.stats().allocs, t.timers().pending());
    for d in [NODEV, ETH1] {
        let unknown = Err(NeighError::UnknownDevice(d));
        let p = log.pkt();
        let id = p.id;
        assert_eq!(
            t.resolve_output(ip(4, 3), d, p),
            Xmit::Dropped(DropReason::UnknownDevice)
        );
        assert_eq!(
            log.delivery(id),
            [Delivery::Discard(DropReason::UnknownDevice)]
        );
        assert!(t.lookup(ip(4, 2), d).is_none());
        assert_eq!(t.lookup_or_create(ip(4, 3), d).err(), unknown.clone().err());
        let g = t.pin();
        assert!(t.lookup_or_create_noref(ip(4, 3), d, &g).is_err());
        drop(g);
        assert_eq!(t.receive_arp(ip(4, 3), d, &MAC_A, true), unknown);
        assert_eq!(t.receive_arp(ip(4, 3), d, &MAC_A, false), unknown);
        assert_eq!(t.receive_arp(ip(4, 3), d, &[1], false), unknown);
        assert_eq!(t.add_permanent(ip(4, 3), d, &MAC_A), unknown);
        assert_eq!(t.remove(ip(4, 2), d), unknown);
        assert_eq!(t.remove_device(d), Err(NeighError::UnknownDevice(d)));
        assert_eq!(t.flush_dev(Some(d)), 0);
        assert_eq!(t.reachable_time(d), None);
    }
    assert_eq!((t.len(), t.stats().allocs, t.timers().pending()), before);
    assert_eq!(
        t.update(&held, Some(&MAC_B), S::REACHABLE, F::OVERRIDE),
        Err(NeighError::Dead)
    );
    assert_eq!(t.set_probe_once(&held), Err(NeighError::Dead));
    let g = t.pin();
    assert_eq!(
        t.output(&held, log.pkt(), &g),
        Xmit::Dropped(DropReason::Dead)
    );
    drop(g);
    check(&t, &log, &[&*held]);
    drop(held);
    t.add_device(ETH1, eth()).unwrap();
    assert_eq!(t.resolve_output(ip(4, 2), ETH1, log.pkt()), Xmit::Queued);
    t.receive_arp(ip(4, 2), ETH1, &MAC_B, true).unwrap();
    check(&t, &log, &[]);
    teardown(t, &log);
}

/// Administrative updates that would strand packets: to INCOMPLETE starts
/// resolution as a packet would (timer, probe), so packets queued afterwards
/// are reported when it fails; on a device with no multicast or app probes
/// it is `InvalidState`. To NONE reports the queue at once. Masks and
/// missing addresses are typed errors. (Kernel `neigh_update` arms nothing
/// for INCOMPLETE; before 0b4dba6 neither did this, and packets queued after
/// it waited forever.)
#[test]
fn admin_updates_never_strand_packets() {
    let (t, log) = adv();
    let h = t.lookup_or_create(ip(5, 1), DEV).unwrap();
    t.update(&h, None, S::INCOMPLETE, F::ADMIN).unwrap();
    assert_eq!(
        (h.state(), t.timers().pending(), log.calls(Cb::Solicit)),
        (S::INCOMPLETE, 1, 1)
    );
    let g = t.pin();
    assert_eq!(t.output(&h, log.pkt(), &g), Xmit::Queued);
    drop(g);
    run_for(&t, 10 * HZ);
    assert_eq!(
        (h.state(), log.count(Delivery::ErrorReport)),
        (S::FAILED, 1)
    );
    // NONE reports at once.
    assert_eq!(t.resolve_output(ip(5, 2), DEV, log.pkt()), Xmit::Queued);
    assert_eq!(t.resolve_output(ip(5, 2), DEV, log.pkt()), Xmit::Queued);
    let h2 = t.lookup(ip(5, 2), DEV).unwrap();
    t.update(&h2, None, S::NONE, F::ADMIN).unwrap();
    assert_eq!(log.count(Delivery::ErrorReport), 3);
    check(&t, &log, &[&*h, &*h2]);
    // Typed refusals.
    for st in [S::INCOMPLETE | S::REACHABLE, S::from_bits(0xff), S::VALID] {
        assert_eq!(
            t.update(&h2, Some(&MAC_A), st, F::ADMIN),
            Err(NeighError::InvalidState(st))
        );
    }
    assert_eq!(
        t.update(&h2, None, S::REACHABLE, F::ADMIN),
        Err(NeighError::NoLladdr)
    );
    t.add_permanent(ip(5, 3), DEV, &MAC_A).unwrap();
    let p = t.lookup(ip(5, 3), DEV).unwrap();
    assert_eq!(
        t.update(&p, Some(&MAC_B), S::REACHABLE, F::OVERRIDE),
        Err(NeighError::NotPermitted)
    );
    // No multicast or app probe on the device: INCOMPLETE cannot resolve.
    let mut parms = test_config().parms;
    (parms.mcast_probes, parms.app_probes) = (0, 0);
    t.add_device(DevId(5), eth().with_parms(parms)).unwrap();
    let u = t.lookup_or_create(ip(5, 4), DevId(5)).unwrap();
    let r = t.update(&u, None, S::INCOMPLETE, F::ADMIN);
    assert_eq!(r, Err(NeighError::InvalidState(S::INCOMPLETE)));
    assert_eq!(u.state(), S::NONE);
    check(&t, &log, &[&*h, &*h2, &*p, &*u]);
    drop((h, h2, p, u));
    teardown(t, &log);
}

/// Foreign use from another thread while the owner works: one thread hands
/// table A's entries (found lock-free, so some are dead by the time they are
/// used) to table B's output, `event_send`, `update`, `confirm` and
/// `set_probe_once` in a loop, while A's owner resolves, fails, removes and
/// flushes those very entries and runs A's timers, and B runs its own
/// traffic. Every foreign call is refused; afterwards both tables' books and
/// refcounts are exact.
#[test]
fn foreign_use_from_another_thread() {
    let (a, la) = adv();
    let (b, lb) = adv();
    let keys: Vec<Ipv4Addr> = (0..16).map(|i| ip(11, i)).collect();
    for &k in &keys {
        a.resolve_output(k, DEV, la.pkt());
    }
    // Counted handles on four of them, so the foreign thread always has
    // entries to misuse (live, or made dead by the owner meanwhile).
    let handles: Vec<_> = keys[..4]
        .iter()
        .map(|&k| a.lookup(k, DEV).unwrap())
        .collect();
    std::thread::scope(|s| {
        let (a, b, lb, keys) = (&a, &b, &lb, &keys);
        s.spawn(move || {
            for round in 0..300u32 {
                let g = a.pin();
                let found = keys.iter().filter_map(|&k| a.lookup_noref(k, DEV, &g));
                for e in handles.iter().map(|h| &**h).chain(found) {
                    let bg = b.pin();
                    let foreign = Xmit::Dropped(DropReason::ForeignEntry);
                    assert_eq!(b.output(e, lb.pkt(), &bg), foreign);
                    let r = b.event_send(e, Some(lb.pkt()));
                    assert_eq!(r, EventSend::Dropped(DropReason::ForeignEntry));
                    let r = b.update(e, Some(&MAC_B), S::REACHABLE, F::OVERRIDE);
                    assert_eq!(r, Err(NeighError::ForeignEntry));
                    assert_eq!(b.confirm(e), Err(NeighError::ForeignEntry));
                    assert_eq!(b.set_probe_once(e), Err(NeighError::ForeignEntry));
                }
                b.resolve_output(ip(12, (round % 8) as u8), DEV, lb.pkt());
                b.run_timers(b.jiffies() + 100).unwrap();
            }
        });
        s.spawn(|| {
            for round in 0..300u32 {
                let k = keys[round as usize % keys.len()];
                a.resolve_output(k, DEV, la.pkt());
                if round % 3 == 0 {
                    let _ = a.receive_arp(k, DEV, &MAC_A, round % 2 == 0);
                }
                if round % 7 == 0 {
                    let _ = a.remove(keys[(round as usize * 5) % keys.len()], DEV);
                }
                if round % 50 == 25 {
                    a.flush_dev(Some(DEV));
                }
                a.run_timers(a.jiffies() + 150).unwrap();
            }
        });
    });
    let foreign = b.stats().dropped_foreign;
    assert!(
        foreign >= 300 * 4 * 2,
        "{foreign}: a foreign call was not refused"
    );
    for (t, log) in [(&a, &la), (&b, &lb)] {
        t.run_timers(t.jiffies() + 60 * HZ).unwrap();
        check(t, log, &[]);
    }
    assert_eq!(b.stats().allocs, 8, "B created only its own entries");
    teardown(a, &la);
    teardown(b, &lb);
}

// ----- class 2: the table's timer wheel ---------------------------------------

/// The table's wheel is reachable only through a read-only view
/// (`timers()`: `pending`, `next_expiry`), so safe code cannot arm a timer
/// whose handler argument the table would take for an entry's address.
/// (Before 0b4dba6, `t.timer_wheel().add_timer(&Timer::new(0x10, 0), 1);
/// t.run_timers(5)` dereferenced 0x10: SIGSEGV. That call no longer
/// compiles, which no runtime test can show.) The standalone wheel stays
/// public for other users, and with a bogus argument it only hands the
/// argument back: it never dereferences it.
#[test]
fn only_the_table_arms_timers_on_its_wheel() {
    use neighcache::timer::{Timer, TimerWheel};
    let w = TimerWheel::new(1, 0);
    let bogus = Timer::new(0x10, 0);
    w.add_timer(&bogus, 1);
    let mut seen = Vec::new();
    assert_eq!(w.run_timers(5, |d| seen.push(d)), Ok(1));
    assert_eq!(seen, [0x10]);
    let (t, log) = adv();
    assert_eq!(t.resolve_output(ip(13, 1), DEV, log.pkt()), Xmit::Queued);
    let view = t.timers();
    assert_eq!(
        (view.pending(), view.next_expiry()),
        (1, Some(t.jiffies() + HZ))
    );
    check(&t, &log, &[]);
    teardown(t, &log);
}
