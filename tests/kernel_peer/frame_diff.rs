//! The frame differential's tests: the run against the kernel (root,
//! namespaces; skipped like the others without them) and a check of the
//! corpus's `fixcsum` (no root). The topology and the run are `wire`'s,
//! the verdict `wire_verdict`'s, the corpus `corpus`'s.

use crate::{corpus, setup, wire, wire_verdict};

#[test]
fn frame_differential_against_the_kernel() {
    let Some(_g) = setup("frame_differential_against_the_kernel") else {
        return;
    };
    let started = std::time::Instant::now();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernel_peer/frames");
    let scenarios = corpus::load(&dir);
    let frames: usize = scenarios.iter().map(|s| s.frames()).sum();
    assert!(frames >= 200, "the corpus has {frames} frames");
    // One thread on one CPU injects every frame and its barrier (see `wire`).
    let rows = std::thread::spawn(move || {
        // SAFETY: sched_getcpu has no preconditions; a zeroed cpu_set_t is
        // valid, CPU_SET writes within it, and sched_setaffinity reads it
        // for this thread (0) only.
        unsafe {
            let cpu = libc::sched_getcpu().max(0) as usize;
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
        wire::run(&scenarios)
    })
    .join()
    .expect("frame differential");
    let bad = wire_verdict::report(&rows);
    println!(
        "\n{} frames in {} scenarios, {:.1} s",
        rows.len(),
        rows.iter()
            .map(|r| r.id.split('/').next().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        bad.is_empty(),
        "frame differential:\n  {}",
        bad.join("\n  ")
    );
}

/// `frame LABEL fixcsum HEX` fills exactly the checksums the corpus's
/// generator wrote (no root needed).
#[test]
fn corpus_fixcsum_restores_the_checksums() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernel_peer/frames");
    let scenarios = corpus::load(&dir);
    let frame = |sc: &str, label: &str| {
        scenarios
            .iter()
            .find(|s| s.name == sc)
            .and_then(|s| {
                s.steps.iter().find_map(|st| match st {
                    corpus::Step::Frame { label: l, bytes } if l == label => Some(bytes.clone()),
                    _ => None,
                })
            })
            .unwrap_or_else(|| panic!("{sc}/{label}"))
    };
    for (sc, label, at) in [
        ("ns-multicast", "sllao", vec![14 + 40 + 2]),
        ("ns-hop-by-hop", "router-alert", vec![14 + 48 + 2]),
        (
            "echo4-from-neighbour",
            "unresolved",
            vec![14 + 10, 14 + 20 + 2],
        ),
    ] {
        let good = frame(sc, label);
        let mut f = good.clone();
        for i in &at {
            f[*i..*i + 2].fill(0);
        }
        assert_ne!(f, good);
        corpus::fix_checksums(&mut f);
        assert_eq!(f, good, "{sc}/{label}");
    }
}
