//! Race matrix L14-L18 (SPEC.md §8 and §16, "Ordering coverage"): the rows that
//! give each Acquire/Release/fence of the lock-free paths a test that fails
//! when it is weakened alone.
//!
//! * L14: the header seqlock under a concurrent rewrite of a three-word
//!   header (the state stays REACHABLE, so only the seqlock orders it).
//! * L15: two grows back to back (2 -> 4 -> 8 buckets) against a reader of
//!   two old keys; the second grow moves an old entry into a future chain
//!   that an entry created after the reader started shares.
//! * L16: the periodic GC scan (an RCU walk without the table lock) and
//!   `stats()` against creates and a grow.
//! * L17: an unlink that redirects a chain head to an entry created after the
//!   reader started, against `lookup_noref`.
//! * L18: a header published by one thread and the state moved by another
//!   (three threads), against the lock-free output.
//!
//! What makes a weakened ordering visible: loom checks that the creation of
//! every loom atomic happens before any load of it, and the model RCU checks
//! that every dereference of an RCU object (and every access through a
//! `NeighHandle`) happens after its allocation and before the end of its
//! grace period (SPEC.md §4). How each row was shown to fail on its mutants:
//! `tools/ordering_mutants.py` (SPEC.md, "Ordering coverage").

use crate::common::*;
use loom::sync::Arc;
use neighcache::{DevId, DeviceConfig, LinkHeader, NeighOps, NeighTable, NudState, Probe};
use neighcache::{DropReason, UpdateFlags, Xmit};
use std::net::Ipv4Addr;
use std::sync::Mutex;

/// The device of L14: its header is the neighbour's 20-byte address alone,
/// three 8-byte words (two on the entry's hot line, one in `hh_tail`).
const DEV_L: DevId = DevId(7);
/// The two addresses L14 switches between: every byte differs, so any mix
/// of words from both (a torn read) is neither.
const ADDR_A: [u8; 20] = [0xa1; 20];
const ADDR_B: [u8; 20] = [0xb2; 20];

/// Device side of L14: `transmit` asserts the header is one whole address.
#[derive(Default)]
struct HeaderOps {
    sent: Mutex<Vec<u64>>,
}

impl NeighOps<Ipv4Addr> for HeaderOps {
    type Packet = Pkt;
    fn transmit(&self, _: DevId, hh: &[u8], p: Pkt) {
        assert!(
            hh == ADDR_A || hh == ADDR_B,
            "transmitted with a torn link-layer header: {hh:02x?}"
        );
        self.sent.lock().unwrap().push(p.0);
    }
    fn solicit(&self, _: DevId, _: &Ipv4Addr, _: Probe) {}
    fn error_report(&self, _: DevId, _: &Ipv4Addr, p: Pkt) {
        panic!("packet {} reported", p.0);
    }
    fn discard(&self, _: DevId, _: &Ipv4Addr, p: Pkt, r: DropReason) {
        panic!("packet {} discarded ({r:?})", p.0);
    }
}

/// L14: one thread changes the address of a REACHABLE entry (`neigh_update`
/// with OVERRIDE: the header is rewritten, the state stays REACHABLE) while
/// another outputs through it lock-free. The output must send one whole
/// header, the old or the new one, never a mix of their words. The state's
/// Release/Acquire orders nothing here (it is not stored), so this row
/// checks the seqlock alone: the writer's odd store and Release fence, its
/// Release even store, and the reader's Acquire load and Acquire fence.
fn l14_header_rewrite_vs_output_fix_holds() {
    fix_holds("L14", None, || {
        let t =
            Arc::new(NeighTable::with_start(test_config(), HeaderOps::default(), START).unwrap());
        let dev = DeviceConfig {
            addr_len: 20,
            header: LinkHeader::Lladdr,
            noarp: false,
            noarp_lladdr: None,
            parms: None,
        };
        t.add_device(DEV_L, dev).unwrap();
        let n = t.lookup_or_create(KEY, DEV_L).unwrap();
        t.update(
            &n,
            Some(&ADDR_A),
            NudState::REACHABLE,
            UpdateFlags::OVERRIDE,
        )
        .unwrap();
        let t1 = t.clone();
        let a = loom::thread::spawn(move || {
            let g = t1.pin();
            let e = t1.lookup_noref(KEY, DEV_L, &g).expect("linked");
            assert_eq!(t1.output(e, Pkt(1), &g), Xmit::Sent);
        });
        t.update(
            &n,
            Some(&ADDR_B),
            NudState::REACHABLE,
            UpdateFlags::OVERRIDE,
        )
        .unwrap();
        a.join().unwrap();
        assert_eq!(*t.ops().sent.lock().unwrap(), [1]);
        assert_eq!(n.state(), NudState::REACHABLE);
        assert_eq!(n.header().unwrap().as_bytes(), ADDR_B);
        drop(n);
        t.flush_dev(None);
        let s = t.stats();
        assert_eq!(s.allocs, s.destroys, "{s:?}");
    });
}

/// The top `bits` bits of the table hash of `k`: its bucket in an array of
/// `2^bits` buckets.
fn bucket(t: &NeighTable<Ipv4Addr, TestOps>, k: Ipv4Addr, bits: u32) -> u32 {
    t.key_hash(k, DEV) >> (32 - bits)
}

/// The first key of 10.0.0.0/16 that is not in `taken` and satisfies `ok`.
fn key_where(taken: &[Ipv4Addr], ok: impl Fn(Ipv4Addr) -> bool) -> Ipv4Addr {
    (1..=u16::MAX)
        .map(|i| Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8))
        .find(|k| !taken.contains(k) && ok(*k))
        .expect("a key with the wanted buckets")
}

/// Tear down and check that nothing leaked.
fn settle(t: &NeighTable<Ipv4Addr, TestOps>) {
    t.flush_dev(None);
    let s = t.stats();
    assert_eq!(s.allocs, s.destroys, "{s:?}");
}

/// L15: two grows back to back (2 -> 4 -> 8 buckets) while a reader looks up
/// two keys linked before it started. `k1` and `k2` share a bucket of the
/// 2-bucket array and split in the 4-bucket one (as in L6); `k4`, created
/// by the writer after the reader started, shares `k2`'s bucket of the
/// 8-bucket array, so the second grow moves both into one future chain. A
/// reader still walking an older array can step from a moved entry into a
/// future chain: only the Acquire load of `next` (pairing with the move's
/// Release store) orders that chain's entries' initialisation before the
/// step. Each lookup must find its key: a miss in an array continues in its
/// future array, through both resizes.
fn l15_two_grows_vs_lookup_noref_fix_holds() {
    fix_holds("L15", Some(4), || {
        let t = Arc::new(table());
        let k1 = key_where(&[], |_| true);
        let k2 = key_where(&[k1], |k| {
            bucket(&t, k, 1) == bucket(&t, k1, 1) && bucket(&t, k, 2) != bucket(&t, k1, 2)
        });
        let k3 = key_where(&[k1, k2], |_| true);
        let k4 = key_where(&[k1, k2, k3], |k| bucket(&t, k, 3) == bucket(&t, k2, 3));
        let k5 = key_where(&[k1, k2, k3, k4], |_| true);
        t.lookup_or_create(k1, DEV).unwrap();
        t.lookup_or_create(k2, DEV).unwrap(); // chain: k2 -> k1
        let t1 = t.clone();
        let reader = loom::thread::spawn(move || {
            let g = t1.pin();
            assert!(
                t1.lookup_noref(k1, DEV, &g).is_some(),
                "missed k1 during the grows"
            );
            assert!(
                t1.lookup_noref(k2, DEV, &g).is_some(),
                "missed k2 during the grows"
            );
        });
        for k in [k3, k4, k5] {
            t.lookup_or_create(k, DEV).unwrap();
        }
        reader.join().unwrap();
        let s = t.stats();
        assert_eq!((s.hash_grows, s.hash_buckets), (2, 8), "{s:?}");
        settle(&t);
    });
}

/// L16: the periodic GC pass walks the table under RCU without the table
/// lock (`scan_slice`), and `stats()` reads the bucket array, while creates
/// link entries and grow the array (2 -> 4 buckets). `k2` and `k3` share
/// `k1`'s bucket in both arrays and are linked after the scan started; `k3`
/// starts the grow and is linked into the future array first, so moving
/// `k1` (the old chain's tail) points `k1.next` at it. The scan's Acquire
/// loads of the array, the slots and `next` are what order the new array's,
/// `k2`'s and `k3`'s initialisation before the scan touches them. Nothing
/// is collectable (every entry was just used), so nothing is removed.
fn l16_gc_scan_and_stats_vs_create_and_grow_fix_holds() {
    fix_holds("L16", Some(5), || {
        let t = Arc::new(table());
        let k1 = key_where(&[], |_| true);
        let k2 = key_where(&[k1], |k| bucket(&t, k, 2) == bucket(&t, k1, 2));
        let k3 = key_where(&[k1, k2], |k| bucket(&t, k, 2) == bucket(&t, k1, 2));
        t.lookup_or_create(k1, DEV).unwrap();
        let t1 = t.clone();
        let gc = loom::thread::spawn(move || {
            assert_eq!(t1.gc().removed, 0);
            assert!(t1.stats().hash_buckets >= 2);
        });
        t.lookup_or_create(k2, DEV).unwrap(); // chain: k2 -> k1
        t.lookup_or_create(k3, DEV).unwrap(); // grows to 4; k1.next = k3
        gc.join().unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.stats().hash_grows, 1);
        settle(&t);
    });
}

/// L17: `neigh_delete` unlinks an entry whose successor was linked after a
/// reader started: the writer links `s`, then `e` in the same bucket (chain
/// `e -> s`), then removes `e`, which redirects the bucket head to `s`. A
/// reader that loads that head reaches `s` through the unlink's store alone,
/// so its Release (with the reader's Acquire) is what orders `s`'s
/// initialisation before the reader uses it.
fn l17_unlink_vs_lookup_noref_fix_holds() {
    fix_holds("L17", None, || {
        let t = Arc::new(table());
        let s = key_where(&[], |_| true);
        let e = key_where(&[s], |k| bucket(&t, k, 1) == bucket(&t, s, 1));
        let t1 = t.clone();
        let reader = loom::thread::spawn(move || {
            let g = t1.pin();
            if let Some(n) = t1.lookup_noref(s, DEV, &g) {
                assert_eq!(n.state(), NudState::NONE);
            }
        });
        t.lookup_or_create(s, DEV).unwrap();
        t.lookup_or_create(e, DEV).unwrap(); // chain: e -> s
        t.remove(e, DEV).unwrap(); // head: s
        reader.join().unwrap();
        assert_eq!(t.len(), 1);
        settle(&t);
    });
}

/// L18: the header is published by one thread (an ARP reply: REACHABLE with
/// `MAC_A`), and the state then moved by another (an administrative update
/// to DELAY, which rewrites no header), while a third outputs lock-free.
/// The output may see DELAY before anything of the reply: only the Release
/// store of that state (paired with the output's Acquire) carries the
/// reply's header to it. Every packet is sent with the resolved header, or
/// queued and flushed with it, exactly once.
fn l18_state_handoff_vs_output_fix_holds() {
    fix_holds("L18", Some(5), || {
        let t = Arc::new(table());
        t.lookup_or_create(KEY, DEV).unwrap();
        let t1 = t.clone();
        let out = loom::thread::spawn(move || {
            let g = t1.pin();
            let n = t1.lookup_noref(KEY, DEV, &g).expect("linked");
            t1.output(n, Pkt(1), &g);
        });
        let t2 = t.clone();
        let reply = loom::thread::spawn(move || {
            let n = t2.lookup(KEY, DEV).expect("linked");
            t2.update(&n, Some(&MAC_A), NudState::REACHABLE, UpdateFlags::OVERRIDE)
                .unwrap();
        });
        reply.join().unwrap();
        let n = t.lookup(KEY, DEV).expect("linked");
        t.update(&n, None, NudState::DELAY, UpdateFlags::NONE)
            .unwrap();
        out.join().unwrap();
        drop(n);
        assert_eq!(t.ops().fates(1), ["sent"]);
        settle(&t);
    });
}

/// This file's tests, in row order.
pub fn tests() -> Vec<Test> {
    crate::tests![
        l14_header_rewrite_vs_output_fix_holds,
        l15_two_grows_vs_lookup_noref_fix_holds,
        l16_gc_scan_and_stats_vs_create_and_grow_fix_holds,
        l17_unlink_vs_lookup_noref_fix_holds,
        l18_state_handoff_vs_output_fix_holds
    ]
}
