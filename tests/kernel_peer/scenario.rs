//! The lifecycle scenario, run identically against a resolving Linux
//! kernel and against neighcache: resolve; REACHABLE -> STALE; send ->
//! DELAY (a request from the peer arrives meanwhile) -> PROBE -> REACHABLE;
//! peer silenced: -> STALE -> DELAY -> PROBE -> FAILED (unicast probes
//! counted on the wire), then two packets: INCOMPLETE -> FAILED (broadcast
//! probes counted, queued packets reported); peer back; a MAC change
//! announced (gratuitous ARP / unsolicited NA), then one not announced.
//!
//! States are sampled by a [`Poller`] every [`POLL`] on both sides (the
//! same method for both, so the sampling error is symmetric); probes and
//! the peer's announcements are timestamped by the peer's kernel (a tap in
//! P, `topo::Capture`). Owns the script and the measurements; the
//! comparison is in `verdict`.

use crate::resolver::{Resolver, Snap};
use crate::topo::{Capture, Fam, Pair, P4, P6, R4, R6};
use neighcache::proto::arp::{self, ArpOp, ArpPacket};
use neighcache::proto::eth::{self, BROADCAST, ETHERTYPE_IPV6};
use neighcache::proto::{ndisc, Iface};
use neighcache::{DevId, NudState};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};

/// How often both sides' states are sampled.
pub const POLL: Duration = Duration::from_millis(2);

/// A measured value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Ms(f64),
    Count(u64),
    Text(String),
    /// Not measured: the step did not happen (a failure).
    Missing(String),
    /// Not measurable this run for a reason outside both implementations
    /// (the kernel re-drew `reachable_time` mid-measurement).
    Skipped(String),
}

/// One side's measurements for one family.
#[derive(Debug)]
pub struct Obs {
    pub vals: BTreeMap<&'static str, Val>,
    /// Worst lateness of a poll wake-up beyond `POLL`, ms.
    pub jitter_ms: f64,
    /// Anything about the run a reader should know (printed under the
    /// table): e.g. an entry R had before it started.
    pub notes: Vec<String>,
}

/// Every observed change of P's entry: when, and what it became.
type History = Arc<Mutex<Vec<(Instant, Option<Snap>)>>>;

/// Samples a resolver's entry for P and records every change.
pub struct Poller {
    hist: History,
    jitter_us: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    pub fn start(r: Arc<dyn Resolver>, fam: Fam) -> Poller {
        let hist = Arc::new(Mutex::new(vec![(Instant::now(), r.snap(fam))]));
        let jitter_us = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, j, st) = (hist.clone(), jitter_us.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let s = r.snap(fam);
                let now = Instant::now();
                {
                    let mut h = h.lock().unwrap();
                    if h.last().map(|x| x.1) != Some(s) {
                        h.push((now, s));
                    }
                }
                let t = Instant::now();
                sleep(POLL);
                let late = t.elapsed().saturating_sub(POLL).as_micros() as u64;
                j.fetch_max(late, Ordering::Relaxed);
            }
        });
        Poller {
            hist,
            jitter_us,
            stop,
            thread: Some(thread),
        }
    }

    pub fn current(&self) -> Option<Snap> {
        self.hist.lock().unwrap().last().and_then(|x| x.1)
    }

    /// The first recorded change at or after `from` into a state that
    /// satisfies `pred`, waiting up to `timeout`.
    pub fn wait_enter(
        &self,
        from: Instant,
        timeout: Duration,
        pred: impl Fn(&Snap) -> bool,
    ) -> Option<(Instant, Snap)> {
        let end = Instant::now() + timeout;
        loop {
            {
                let h = self.hist.lock().unwrap();
                let hit = h
                    .iter()
                    .find(|(t, s)| *t >= from && s.as_ref().is_some_and(&pred));
                if let Some((t, s)) = hit {
                    return Some((*t, s.unwrap()));
                }
            }
            if Instant::now() >= end {
                return None;
            }
            sleep(Duration::from_millis(1));
        }
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter_us.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn is(s: NudState) -> impl Fn(&Snap) -> bool {
    move |x| x.state == s
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A request from the peer for our address, as the peer's kernel sends
/// it: a broadcast ARP request, or a unicast NS with a source link-layer
/// address option.
fn peer_request(fam: Fam, peer_mac: [u8; 6], our_mac: [u8; 6]) -> Vec<u8> {
    match fam {
        Fam::V4 => arp::frame(
            BROADCAST,
            peer_mac,
            &ArpPacket {
                op: ArpOp::Request,
                sender_mac: peer_mac,
                sender_ip: P4,
                target_mac: [0; 6],
                target_ip: R4,
            },
        ),
        Fam::V6 => {
            let p = Iface::new(DevId(0), "vp", peer_mac).with_ipv6(P6, 64);
            let pkt = ndisc::ns_packet(&p, P6, R6, R6);
            eth::build(our_mac, peer_mac, ETHERTYPE_IPV6, pkt.len(), |b| {
                b.copy_from_slice(&pkt)
            })
        }
    }
}

/// The MACs P goes through in a run: (at start, announced, silent).
pub type Macs = ([u8; 6], [u8; 6], [u8; 6]);

/// Run the scenario for `fam` on `pair` with resolver `r`.
pub fn lifecycle(pair: &Pair, cap: &Capture, r: &Arc<dyn Resolver>, fam: Fam, macs: Macs) -> Obs {
    let poll = Poller::start(r.clone(), fam);
    let mut vals = BTreeMap::new();
    let mut notes = Vec::new();
    let res = start_clean(r.as_ref(), fam, &mut notes)
        .and_then(|()| run(pair, cap, r.as_ref(), &poll, fam, macs, &mut vals));
    if let Err(step) = res {
        vals.insert("aborted_at", Val::Missing(step));
    }
    Obs {
        vals,
        jitter_ms: poll.jitter_ms(),
        notes,
    }
}

type Vals = BTreeMap<&'static str, Val>;

fn need<T>(v: Option<T>, vals: &mut Vals, id: &'static str, what: &str) -> Result<T, String> {
    v.ok_or_else(|| {
        vals.insert(id, Val::Missing(format!("timed out waiting for {what}")));
        format!("{id}: {what}")
    })
}

/// How long REACHABLE lasted beyond `reachable_time`, read as `before`
/// ahead of the step that enters REACHABLE and again now. The kernel
/// re-draws every device's reachable_time every 300 s
/// (`neigh_periodic_work`, on a clock shared by all namespaces); the
/// REACHABLE timer is armed with the value current at entry and its
/// handler compares against the value current when it runs, so a re-draw
/// between entry and STALE voids the sample. `before` is read before the
/// entry, not after it: a re-draw between the entry and a later first read
/// would go unseen, and a smaller new value would then make the old
/// value's expiry look up to two seconds late (a false mismatch).
fn lateness(r: &dyn Resolver, fam: Fam, before: Option<u64>, lasted: Duration) -> Val {
    match (before, r.reachable_ms(fam)) {
        (Some(a), Some(b)) if a == b => Val::Ms(ms(lasted) - a as f64),
        (a, b) => Val::Skipped(format!(
            "reachable_time changed {a:?} -> {b:?} during the sample"
        )),
    }
}

fn interval(probes: &[crate::topo::WireProbe]) -> Val {
    if probes.len() < 2 {
        return Val::Missing(format!("{} probe(s): no interval", probes.len()));
    }
    let span = probes[probes.len() - 1].t - probes[0].t;
    Val::Ms(ms(span) / (probes.len() - 1) as f64)
}

/// R starts without an entry for P: one left by anything before (a frame
/// from P that R learned from) would resolve from STALE by a unicast probe
/// instead of by a broadcast/multicast one. Deleted if found, and noted.
fn start_clean(r: &dyn Resolver, fam: Fam, notes: &mut Vec<String>) -> Result<(), String> {
    if let Some(x) = r.snap(fam) {
        notes.push(format!(
            "{}: R had an entry for P before step 1 ({}), deleted",
            fam.name(),
            x.state.name()
        ));
        r.forget(fam);
    }
    let t = Instant::now();
    while r.snap(fam).is_some() {
        if t.elapsed() > Duration::from_secs(1) {
            return Err("R's entry for P could not be deleted before step 1".into());
        }
        sleep(Duration::from_millis(1));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run(
    pair: &Pair,
    cap: &Capture,
    r: &dyn Resolver,
    poll: &Poller,
    fam: Fam,
    (mac0, mac2, mac3): Macs,
    vals: &mut Vals,
) -> Result<(), String> {
    let s = Duration::from_secs;
    // Probe windows. Frames carry the time P's kernel received them and are
    // read only when asked for, after the state that ends the window was
    // seen, so a window needs no margin for a late capture thread. A state
    // is seen up to one poll (plus lateness) after it was entered, so a
    // window does not start at a state R sends its probe on entering
    // (PROBE): it starts at the state before (DELAY, in which nothing is
    // sent), and ends where R stops probing (REACHABLE: P answered, hence
    // had received every probe; FAILED: R sends nothing more).
    // 1. Resolve.
    let reach = r.reachable_ms(fam);
    let t0 = Instant::now();
    r.send(fam);
    let (t_reach, _) = need(
        poll.wait_enter(t0, s(2), is(NudState::REACHABLE)),
        vals,
        "resolve_ms",
        "REACHABLE",
    )?;
    vals.insert("resolve_ms", Val::Ms(ms(t_reach - t0)));
    let n = cap
        .probes(fam, t0, t_reach)
        .iter()
        .filter(|p| !p.unicast)
        .count();
    vals.insert("resolve_probes", Val::Count(n as u64));

    // 2. REACHABLE -> STALE, against this side's own reachable_time.
    let (t_stale, _) = need(
        poll.wait_enter(t_reach, s(5), is(NudState::STALE)),
        vals,
        "reachable_late_ms",
        "STALE",
    )?;
    vals.insert(
        "reachable_late_ms",
        lateness(r, fam, reach, t_stale - t_reach),
    );

    // 3. Send: DELAY; the peer asks for our address meanwhile; PROBE; REACHABLE.
    sleep(Duration::from_millis(200));
    let reach = r.reachable_ms(fam); // for step 4's REACHABLE
    let t_s = Instant::now();
    r.send(fam);
    let (t_delay, _) = need(
        poll.wait_enter(t_s, s(1), is(NudState::DELAY)),
        vals,
        "delay_ms",
        "DELAY",
    )?;
    sleep((t_delay + Duration::from_millis(300)).saturating_duration_since(Instant::now()));
    cap.inject(&peer_request(fam, mac0, crate::topo::R_MAC));
    sleep(Duration::from_millis(60));
    let after = poll
        .current()
        .map_or("none".into(), |x| x.state.name().to_string());
    vals.insert("delay_after_peer_request", Val::Text(after));
    let mut delay_start = t_delay;
    if poll.current().is_some_and(|x| x.state == NudState::STALE) {
        let t = Instant::now();
        r.send(fam);
        delay_start = need(
            poll.wait_enter(t, s(1), is(NudState::DELAY)),
            vals,
            "delay_ms",
            "DELAY again",
        )?
        .0;
    }
    let probe_or_reach = |x: &Snap| x.state == NudState::PROBE || x.state == NudState::REACHABLE;
    let (t_next, _) = need(
        poll.wait_enter(delay_start, s(3), probe_or_reach),
        vals,
        "delay_ms",
        "PROBE",
    )?;
    vals.insert("delay_ms", Val::Ms(ms(t_next - delay_start)));
    let (t_reach2, _) = need(
        poll.wait_enter(t_next, s(2), is(NudState::REACHABLE)),
        vals,
        "probe_ucast_answered",
        "REACHABLE after PROBE",
    )?;
    let n = cap
        .probes(fam, delay_start, t_reach2)
        .iter()
        .filter(|p| p.unicast)
        .count();
    vals.insert("probe_ucast_answered", Val::Count(n as u64));

    // 4. Peer silenced: STALE, DELAY, PROBE, FAILED.
    pair.silence_peer(fam, true)?;
    let (t_stale, _) = need(
        poll.wait_enter(t_reach2, s(5), is(NudState::STALE)),
        vals,
        "reachable_late2_ms",
        "STALE",
    )?;
    vals.insert(
        "reachable_late2_ms",
        lateness(r, fam, reach, t_stale - t_reach2),
    );
    sleep(Duration::from_millis(100));
    let t_s = Instant::now();
    r.send(fam);
    let (t_d, _) = need(
        poll.wait_enter(t_s, s(1), is(NudState::DELAY)),
        vals,
        "delay2_ms",
        "DELAY",
    )?;
    let (t_p, _) = need(
        poll.wait_enter(t_d, s(3), is(NudState::PROBE)),
        vals,
        "delay2_ms",
        "PROBE",
    )?;
    vals.insert("delay2_ms", Val::Ms(ms(t_p - t_d)));
    let (t_f, _) = need(
        poll.wait_enter(t_p, s(4), is(NudState::FAILED)),
        vals,
        "probe_to_failed_ms",
        "FAILED",
    )?;
    vals.insert("probe_to_failed_ms", Val::Ms(ms(t_f - t_p)));
    let pr: Vec<_> = cap
        .probes(fam, t_d, t_f)
        .into_iter()
        .filter(|p| p.unicast)
        .collect();
    vals.insert("failed_ucast_probes", Val::Count(pr.len() as u64));
    vals.insert("ucast_interval_ms", interval(&pr));

    // 5. Two packets to the FAILED entry: INCOMPLETE, queued, FAILED, reported.
    let rep0 = r.reported(fam);
    let t_s = Instant::now();
    r.send(fam);
    r.send(fam);
    let (t_f, _) = need(
        poll.wait_enter(t_s, s(4), is(NudState::FAILED)),
        vals,
        "incomplete_to_failed_ms",
        "FAILED again",
    )?;
    vals.insert("incomplete_to_failed_ms", Val::Ms(ms(t_f - t_s)));
    let pr: Vec<_> = cap
        .probes(fam, t_s, t_f)
        .into_iter()
        .filter(|p| !p.unicast)
        .collect();
    vals.insert("failed_mcast_probes", Val::Count(pr.len() as u64));
    vals.insert("mcast_interval_ms", interval(&pr));
    sleep(Duration::from_millis(50));
    vals.insert("reported", Val::Count(r.reported(fam) - rep0));

    // 6. Peer back: resolve again.
    pair.silence_peer(fam, false)?;
    sleep(Duration::from_millis(20));
    let t_s = Instant::now();
    r.send(fam);
    let (t_r, _) = need(
        poll.wait_enter(t_s, s(2), is(NudState::REACHABLE)),
        vals,
        "resolve2_ms",
        "REACHABLE",
    )?;
    vals.insert("resolve2_ms", Val::Ms(ms(t_r - t_s)));

    // 7. MAC change announced (gratuitous ARP / unsolicited NA).
    pair.set_peer_notify(true)?;
    let t_c = Instant::now();
    pair.set_peer_mac(mac2)?;
    let (t_x, x) = need(
        poll.wait_enter(t_c, s(1), move |x| x.mac == Some(mac2)),
        vals,
        "announce_ms",
        "the announced MAC",
    )?;
    pair.pin_r_in_peer()?;
    // From the announcement leaving P, not from the `ip` command that
    // changed the MAC: how long that process takes to start is the
    // machine's business, not the resolver's.
    let v = match cap.announced(fam, mac2, t_c, t_x) {
        Some(t_a) => Val::Ms(ms(t_x - t_a)),
        None => Val::Missing("no announcement from P seen on the wire".into()),
    };
    vals.insert("announce_ms", v);
    vals.insert("announce_state", Val::Text(x.state.name().into()));

    // 8. MAC change not announced: probes to the old MAC fail; resolve anew.
    pair.set_peer_notify(false)?;
    pair.set_peer_mac(mac3)?;
    pair.pin_r_in_peer()?;
    let t_s = Instant::now();
    r.send(fam);
    let (t_d, _) = need(
        poll.wait_enter(t_s, s(1), is(NudState::DELAY)),
        vals,
        "silent_probe_to_failed_ms",
        "DELAY",
    )?;
    let (t_p, _) = need(
        poll.wait_enter(t_d, s(3), is(NudState::PROBE)),
        vals,
        "silent_probe_to_failed_ms",
        "PROBE",
    )?;
    let (t_f, _) = need(
        poll.wait_enter(t_p, s(4), is(NudState::FAILED)),
        vals,
        "silent_probe_to_failed_ms",
        "FAILED",
    )?;
    vals.insert("silent_probe_to_failed_ms", Val::Ms(ms(t_f - t_p)));
    let n = cap
        .probes(fam, t_d, t_f)
        .iter()
        .filter(|p| p.unicast && p.dst_mac == mac2)
        .count();
    vals.insert("silent_probes_to_old_mac", Val::Count(n as u64));
    let t_s = Instant::now();
    r.send(fam);
    let (t_r, x) = need(
        poll.wait_enter(t_s, s(2), is(NudState::REACHABLE)),
        vals,
        "silent_recovery_ms",
        "REACHABLE",
    )?;
    vals.insert("silent_recovery_ms", Val::Ms(ms(t_r - t_s)));
    let m = if x.mac == Some(mac3) {
        "new MAC".to_string()
    } else {
        format!("{:?}", x.mac)
    };
    vals.insert("silent_recovered_mac", Val::Text(m));
    Ok(())
}
