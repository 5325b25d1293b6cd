//! The contenders of the lookup benches (`benches/lookup.rs`): one trait,
//! [`Target`], and how each structure serves a hit, a write, the churn
//! sweep and a full-table scan, doing the same work after the lookup
//! (copy the header into a frame buffer, [`emit`]).

use crate::common::{emit, eth_header, resolved_table, Hdr, Pkt, Table, DEV, MAC_A, MAC_B};
use neighcache::{DevId, NudState, UpdateFlags};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::Ipv4Addr;

pub type Key = (Ipv4Addr, DevId);

/// One contender: how it serves a hit, and (for the mix) a write, the
/// removal of the churn keys and a scan of the whole table.
pub trait Target: Sync {
    fn hit(&self, k: Ipv4Addr, seq: u32);
    fn create(&self, k: Ipv4Addr);
    fn update(&self, k: Ipv4Addr, alt: bool);
    /// Remove the churn keys (the mix's background thread, every 5 ms).
    fn remove_churn(&self, churn: &[Ipv4Addr]);
    /// Visit every entry as a periodic GC pass does (neighcache: `gc()`;
    /// the maps: `retain` keeping everything).
    fn scan(&self);
}

pub fn hdr(alt: bool) -> Hdr {
    eth_header(if alt { MAC_B } else { MAC_A })
}

/// `lookup_noref` + `output` (the data plane's pattern, one pin per packet).
pub struct Noref<'a>(pub &'a Table);

impl Target for Noref<'_> {
    #[inline]
    fn hit(&self, k: Ipv4Addr, seq: u32) {
        let t = self.0;
        let guard = t.pin();
        let n = t.lookup_noref(k, DEV, &guard).expect("hit");
        black_box(t.output(n, Pkt(seq), &guard));
    }
    fn create(&self, k: Ipv4Addr) {
        black_box(self.0.lookup_or_create(k, DEV).is_ok());
    }
    fn update(&self, k: Ipv4Addr, alt: bool) {
        let t = self.0;
        let guard = t.pin();
        if let Some(n) = t.lookup_noref(k, DEV, &guard) {
            let mac = if alt { MAC_B } else { MAC_A };
            let _ = t.update(n, Some(&mac), NudState::REACHABLE, UpdateFlags::OVERRIDE);
        }
    }
    fn remove_churn(&self, churn: &[Ipv4Addr]) {
        for &k in churn {
            let _ = self.0.remove(k, DEV);
        }
    }
    fn scan(&self) {
        black_box(self.0.gc());
    }
}

/// The refcounted `lookup` (inc-not-zero) and its release on drop.
pub struct Ref<'a>(pub &'a Table);

impl Target for Ref<'_> {
    #[inline]
    fn hit(&self, k: Ipv4Addr, _seq: u32) {
        let h = self.0.lookup(k, DEV).expect("hit");
        black_box(&*h);
    }
    fn create(&self, k: Ipv4Addr) {
        Noref(self.0).create(k)
    }
    fn update(&self, k: Ipv4Addr, alt: bool) {
        Noref(self.0).update(k, alt)
    }
    fn remove_churn(&self, churn: &[Ipv4Addr]) {
        Noref(self.0).remove_churn(churn)
    }
    fn scan(&self) {
        Noref(self.0).scan()
    }
}

/// A plain `HashMap` (SipHash, std's default), read-only: the floor.
pub struct Plain(pub HashMap<Key, Hdr>);

impl Target for Plain {
    #[inline]
    fn hit(&self, k: Ipv4Addr, seq: u32) {
        let v = self.0.get(&(k, DEV)).expect("hit");
        emit(v.header(), Pkt(seq));
    }
    fn create(&self, _: Ipv4Addr) {
        unreachable!("read-only")
    }
    fn update(&self, _: Ipv4Addr, _: bool) {
        unreachable!("read-only")
    }
    fn remove_churn(&self, _: &[Ipv4Addr]) {
        unreachable!("read-only")
    }
    fn scan(&self) {
        unreachable!("read-only")
    }
}

pub struct Rw(pub RwLock<HashMap<Key, Hdr>>);

impl Target for Rw {
    #[inline]
    fn hit(&self, k: Ipv4Addr, seq: u32) {
        let m = self.0.read();
        let v = m.get(&(k, DEV)).expect("hit");
        emit(v.header(), Pkt(seq));
    }
    fn create(&self, k: Ipv4Addr) {
        self.0.write().entry((k, DEV)).or_insert_with(|| hdr(false));
    }
    fn update(&self, k: Ipv4Addr, alt: bool) {
        if let Some(v) = self.0.write().get_mut(&(k, DEV)) {
            *v = hdr(alt);
        }
    }
    fn remove_churn(&self, churn: &[Ipv4Addr]) {
        for &k in churn {
            self.0.write().remove(&(k, DEV));
        }
    }
    fn scan(&self) {
        self.0
            .write()
            .retain(|_, v| black_box(!v.header().is_empty()));
    }
}

pub struct Mx(pub Mutex<HashMap<Key, Hdr>>);

impl Target for Mx {
    #[inline]
    fn hit(&self, k: Ipv4Addr, seq: u32) {
        let m = self.0.lock();
        let v = m.get(&(k, DEV)).expect("hit");
        emit(v.header(), Pkt(seq));
    }
    fn create(&self, k: Ipv4Addr) {
        self.0.lock().entry((k, DEV)).or_insert_with(|| hdr(false));
    }
    fn update(&self, k: Ipv4Addr, alt: bool) {
        if let Some(v) = self.0.lock().get_mut(&(k, DEV)) {
            *v = hdr(alt);
        }
    }
    fn remove_churn(&self, churn: &[Ipv4Addr]) {
        for &k in churn {
            self.0.lock().remove(&(k, DEV));
        }
    }
    fn scan(&self) {
        self.0
            .lock()
            .retain(|_, v| black_box(!v.header().is_empty()));
    }
}

pub struct Dash(pub dashmap::DashMap<Key, Hdr>);

impl Target for Dash {
    #[inline]
    fn hit(&self, k: Ipv4Addr, seq: u32) {
        let v = self.0.get(&(k, DEV)).expect("hit");
        emit(v.header(), Pkt(seq));
    }
    fn create(&self, k: Ipv4Addr) {
        self.0.entry((k, DEV)).or_insert_with(|| hdr(false));
    }
    fn update(&self, k: Ipv4Addr, alt: bool) {
        if let Some(mut v) = self.0.get_mut(&(k, DEV)) {
            *v = hdr(alt);
        }
    }
    fn remove_churn(&self, churn: &[Ipv4Addr]) {
        for &k in churn {
            self.0.remove(&(k, DEV));
        }
    }
    fn scan(&self) {
        self.0.retain(|_, v| black_box(!v.header().is_empty()));
    }
}

pub struct Papaya(pub papaya::HashMap<Key, Hdr>);

impl Target for Papaya {
    #[inline]
    fn hit(&self, k: Ipv4Addr, seq: u32) {
        let m = self.0.pin();
        let v = m.get(&(k, DEV)).expect("hit");
        emit(v.header(), Pkt(seq));
    }
    fn create(&self, k: Ipv4Addr) {
        self.0.pin().get_or_insert_with((k, DEV), || hdr(false));
    }
    fn update(&self, k: Ipv4Addr, alt: bool) {
        self.0.pin().insert((k, DEV), hdr(alt));
    }
    fn remove_churn(&self, churn: &[Ipv4Addr]) {
        let m = self.0.pin();
        for &k in churn {
            m.remove(&(k, DEV));
        }
    }
    fn scan(&self) {
        self.0
            .pin()
            .retain(|_, v| black_box(!v.header().is_empty()));
    }
}

/// Every structure, holding the same resolved neighbours.
pub struct Contenders {
    pub table: Table,
    pub plain: Plain,
    pub rw: Rw,
    pub mx: Mx,
    pub dash: Dash,
    pub papaya: Papaya,
}

pub fn build(keys: &[Ipv4Addr]) -> Contenders {
    let map: HashMap<Key, Hdr> = keys.iter().map(|&k| ((k, DEV), hdr(false))).collect();
    let dash = dashmap::DashMap::new();
    let pap = papaya::HashMap::new();
    {
        let p = pap.pin();
        for &k in keys {
            dash.insert((k, DEV), hdr(false));
            p.insert((k, DEV), hdr(false));
        }
    }
    let table = resolved_table(keys);
    crate::common::settle();
    Contenders {
        table,
        plain: Plain(map.clone()),
        rw: Rw(RwLock::new(map.clone())),
        mx: Mx(Mutex::new(map)),
        dash: Dash(dash),
        papaya: Papaya(pap),
    }
}
