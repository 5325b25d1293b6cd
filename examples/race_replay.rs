//! The race as a lesson: `cargo run --release --features loom --example race_replay`.
//!
//! For the seed race (row L1, the 2015 kernel crash) it prints the
//! two-CPU timeline that crashes, the kernel's crash report next to the
//! model's, and the same interleaving under the fix. `-- L2` ... `-- L13`,
//! `-- T3` pick another row of the race matrix (SPEC.md §8), `-- --list` lists
//! them. Each lesson runs loom (`loom::model::Builder::check`) on the
//! scenario the test suite uses (`loom-tests/`), with the rule the row
//! protects removed (a model-only switch, absent from default builds), then
//! with it in force. The walkthrough is `docs/race-walkthrough.md`.
//!
//! Rules: the scenarios and checks are the test suite's own (included by
//! path), so the lesson shows exactly what the tests prove.

#[allow(dead_code)]
#[path = "../loom-tests/burst.rs"]
mod burst;
#[path = "../loom-tests/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../loom-tests/queue.rs"]
mod queue;
#[allow(dead_code)]
#[path = "../loom-tests/runtime.rs"]
mod runtime;
#[allow(dead_code)]
#[path = "../loom-tests/table.rs"]
mod table;
#[allow(dead_code)]
#[path = "../loom-tests/table_timers.rs"]
mod table_timers;
#[allow(dead_code)]
#[path = "../loom-tests/timers.rs"]
mod timers;

use common::*;

/// One row's lesson.
struct Lesson {
    row: &'static str,
    /// What the scenario does.
    scenario: &'static str,
    /// The rule removed in the broken variant.
    removed: &'static str,
    /// The invariant the rule keeps.
    invariant: &'static str,
    expected: &'static [&'static str],
    cols: Columns,
    bug: fn(),
    fix: fn(),
}

const LESSONS: &[Lesson] = &[
    Lesson {
        row: "L1",
        scenario: "CPU1 finds a STALE entry with the lock-free __ipv4_neigh_lookup_noref() and sends a packet (__neigh_event_send) while CPU0's GC pass (neigh_periodic_work) unlinks and releases the entry",
        removed: "the `dead` check under the entry lock in __neigh_event_send (the pre-2015 kernel, before commit 2c51a97f76d2)",
        invariant: "a dead (unlinked) entry is never re-armed: no timer, no reference taken from zero",
        expected: DESTROYED,
        cols: COLUMNS,
        bug: || dead_check_scenario(Act::Output, true),
        fix: || dead_check_scenario(Act::Output, false),
    },
    Lesson {
        row: "L2",
        scenario: "CPU1 handles an ARP reply for an entry found lock-free (neigh_update → REACHABLE arms the timer) while CPU0's GC removes it",
        removed: "the `dead` check in neigh_update",
        invariant: "neigh_update on a dead entry changes nothing (Err(Dead))",
        expected: DESTROYED,
        cols: COLUMNS,
        bug: || dead_check_scenario(Act::Update, true),
        fix: || dead_check_scenario(Act::Update, false),
    },
    Lesson {
        row: "L3",
        scenario: "CPU1 gives a FAILED entry one more probe (__neigh_set_probe_once arms the timer) while CPU0's GC removes it",
        removed: "the `dead` check in __neigh_set_probe_once",
        invariant: "set_probe_once on a dead entry returns at once",
        expected: DESTROYED,
        cols: COLUMNS,
        bug: || dead_check_scenario(Act::ProbeOnce, true),
        fix: || dead_check_scenario(Act::ProbeOnce, false),
    },
    Lesson {
        row: "L4",
        scenario: "the timer softirq runs a DELAY entry's handler (→ PROBE, re-arm) while CPU0 flushes the device (neigh_flush_dev)",
        removed: "the flush's state reset under the entry lock (the state is left DELAY)",
        invariant: "a handler already running sees no timer state and does not re-arm a flushed entry",
        expected: timers::L4_FAILURE,
        cols: timers::L4_COLUMNS,
        bug: || timers::l4_scenario(true),
        fix: || timers::l4_scenario(false),
    },
    Lesson {
        row: "L5",
        scenario: "two CPUs create the same new key at once (__neigh_lookup → __neigh_create)",
        removed: "the re-check under the table lock in ___neigh_create",
        invariant: "one entry per key",
        expected: table::L5_FAILURE,
        cols: table::TWO_CPUS,
        bug: || table::create_race(false, true),
        fix: || table::create_race(false, false),
    },
    Lesson {
        row: "L6",
        scenario: "CPU1 looks a key up lock-free while CPU0's create grows the hash (neigh_hash_grow moves entries, tail first, into a future array)",
        removed: "the walk of the future array after a miss (the kernel tolerates this false miss)",
        invariant: "a present key is never reported missing",
        expected: table::L6_FAILURE,
        cols: table::L6_COLUMNS,
        bug: || table::l6_scenario(true),
        fix: || table::l6_scenario(false),
    },
    Lesson {
        row: "L7",
        scenario: "two CPUs migrate one pending timer to two different bases at once (mod_timer on another CPU)",
        removed: "lock_timer_base's re-read of the timer's base under the locks (the migration trusts what it read before locking)",
        invariant: "a timer is armed on one base at a time and fires once per arm",
        expected: timers::L7_FAILURE,
        cols: timers::L7_COLUMNS,
        bug: || timers::l7_two_migrations(true),
        fix: || timers::l7_two_migrations(false),
    },
    Lesson {
        row: "L8",
        scenario: "CPU1's refcounted neigh_lookup races CPU0's GC dropping the last reference",
        removed: "increment-if-not-zero (a plain increment)",
        invariant: "a lookup never revives an entry whose refcount reached zero; one destroy",
        expected: table::L8_FAILURES,
        cols: table::L8_COLUMNS,
        bug: || table::l8_scenario(true),
        fix: || table::l8_scenario(false),
    },
    Lesson {
        row: "L9",
        scenario: "CPU1 sends lock-free to an INCOMPLETE entry while CPU0 handles the reply (neigh_update writes the header and publishes REACHABLE)",
        removed: "the publication order (the state is published before the header)",
        invariant: "a sender that sees a CONNECTED state reads a written header",
        expected: queue::L9_FAILURE,
        cols: queue::L9_COLUMNS,
        bug: || queue::l9_output_vs_reply(true),
        fix: || queue::l9_output_vs_reply(false),
    },
    Lesson {
        row: "L10",
        scenario: "the timer softirq re-arms an INCOMPLETE entry (neigh_timer_handler) while CPU0 changes the device's parameters (neightbl_set: more probes, a longer retransmit time)",
        removed: "deciding with one parameters snapshot (the probe budget is read from a second one)",
        invariant: "the handler acts on the old parameters or the new ones, never a mix",
        expected: runtime::L10_FAILURE,
        cols: runtime::L10_COLUMNS,
        bug: || runtime::l10_scenario(true, &SEEN),
        fix: || runtime::l10_scenario(false, &SEEN),
    },
    Lesson {
        row: "L12",
        scenario: "CPU1 handles the reply for an INCOMPLETE entry while the timer softirq fails it (budget spent), with an `ip monitor`-style subscriber",
        removed: "reporting a change under the entry lock that made it (the handler's event is built after unlocking)",
        invariant: "each event of an entry continues the previous one",
        expected: runtime::L12_FAILURE,
        cols: runtime::L12_COLUMNS,
        bug: || runtime::l12_scenario(true, &SEEN),
        fix: || runtime::l12_scenario(false, &SEEN),
    },
    Lesson {
        row: "L13",
        scenario: "CPU1 looks two keys up in one burst (lookup_noref_burst, prefetching) while CPU0's create grows the hash",
        removed: "the burst's resize re-check before trusting a miss (L6's rule, shared)",
        invariant: "a present key is never reported missing by a burst",
        expected: burst::L13_FAILURE,
        cols: burst::L13_COLUMNS,
        bug: || burst::l13_growth(true),
        fix: || burst::l13_growth(false),
    },
    Lesson {
        row: "T3",
        scenario: "two CPUs call the table's run_timers with different `now` at once (a timer thread and a daemon's own call)",
        removed: "answering a caller that the other overtook on the wheel with Ok(0) (it is reported as TimeWentBackwards)",
        invariant: "a caller fails only if the table's clock had passed its `now` when it started",
        expected: table_timers::T3_FAILURE,
        cols: table_timers::T3_COLUMNS,
        bug: || table_timers::t3_scenario(true),
        fix: || table_timers::t3_scenario(false),
    },
];

/// Which orders L10 and L12 explored (bookkeeping the scenarios need).
static SEEN: runtime::Seen = runtime::Seen::new();

/// The kernel's report of the 2015 crash (CentOS 3.10.0-514, from the crash
/// analysis the project started from), trimmed.
const KERNEL_CRASH: &str = "\
kernel BUG at kernel/timer.c:1105!
invalid opcode: 0000 [#1] SMP
CPU: 0 PID: 0 Comm: swapper/0 ... 3.10.0-514.26.2.el7.x86_64
RIP: 0010:[<ffffffff81096fd2>]  cascade+0xb2/0xc0
Call Trace:
 <IRQ>
 run_timer_softirq+0x2b5/0x340
 __do_softirq+0xef/0x280
 ...
(the BUG_ON: tbase_get_base(timer->base) != base, on a neighbour's timer)";

fn lesson(l: &Lesson) {
    println!("=== {}: {}", l.row, l.scenario);
    println!("    rule removed in the broken variant: {}", l.removed);
    println!("    invariant the rule keeps:          {}\n", l.invariant);
    println!("--- 1. With the rule removed, loom explores interleavings until one fails.");
    let bug = l.bug;
    let events = bug_is_found_with(l.row, None, l.expected, Some(l.cols), bug);
    if l.expected == DESTROYED {
        println!("--- 2. The kernel's crash (2015) and ours, side by side.\n");
        let ours = VERDICTS
            .lock()
            .unwrap()
            .last()
            .map(|v| v.failure.clone())
            .unwrap_or_default();
        println!("kernel (dmesg):\n{}\n", indent(KERNEL_CRASH));
        println!(
            "model (loom, deterministic):\n{}\n",
            indent(&format!(
                "panic: {ours}\n(the reclaimed entry's destructor marked its still-armed timer; cascade() found it)"
            ))
        );
    } else {
        println!("--- 2. The named failure: {}\n", l.expected.join(" | "));
    }
    println!("--- 3. The same schedule under the fix.");
    // loom's own replay of the failing path (checkpoint) where it was
    // tried and works: L1-L3 (see `replay_under_fix`).
    let via_checkpoint = l.expected == DESTROYED;
    let (k, _) = replay_under_fix(l.row, l.expected, l.cols, l.bug, l.fix, via_checkpoint);
    println!(
        "    (the failing execution had {} events; the fixed code followed it for {k})\n",
        events.len()
    );
    println!("--- 4. And every interleaving under the fix:");
    fix_holds(l.row, None, l.fix);
    println!();
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "L1".to_string());
    if arg == "--list" || arg == "-h" || arg == "--help" {
        println!("usage: race_replay [ROW | all | --list]   (default L1)\n");
        for l in LESSONS {
            println!("  {:<3} {}", l.row, l.scenario);
        }
        return;
    }
    let chosen: Vec<&Lesson> = if arg.eq_ignore_ascii_case("all") {
        LESSONS.iter().collect()
    } else {
        LESSONS
            .iter()
            .filter(|l| l.row.eq_ignore_ascii_case(&arg))
            .collect()
    };
    if chosen.is_empty() {
        eprintln!("no row {arg:?}; try --list");
        std::process::exit(2);
    }
    for l in chosen {
        lesson(l);
    }
}
