//! The model-only trace: short, kernel-named events ("`neigh_release`:
//! refcnt 1→0 → `neigh_destroy` → `call_rcu`") recorded per model thread,
//! in the order the model checker ran them, and printed as a timeline with
//! one column per thread (`docs/race-walkthrough.md`).
//!
//! Rules of this module: it exists only under the `loom` / `shuttle`
//! features. In a default build the `ktrace!` macro expands to nothing
//! (its arguments are not even compiled) and this module is absent, so the
//! trace costs nothing and leaves no symbol (SPEC.md §8 says how that is
//! checked). Recording is off until a test calls [`start`]; the buffer is
//! per OS thread (loom and shuttle run a model's threads as coroutines on
//! the test's OS thread), so tests running in parallel do not mix. Trace
//! points may load modelled atomics only while recording is on (which adds
//! scheduling points: a traced exploration is not the untraced one).

use std::cell::RefCell;
use std::fmt::Write as _;

/// One recorded step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The model thread that ran it (0 = the model's main thread).
    pub thread: usize,
    /// The kernel function it is named after.
    pub func: &'static str,
    /// What happened, with the facts that matter.
    pub what: String,
}

std::thread_local! {
    static BUF: RefCell<Option<Vec<Event>>> = const { RefCell::new(None) };
    /// Set by [`freeze`]: the failure happened; what unwinding does after
    /// it is not part of the story.
    static FROZEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Stop adding events until the next [`clear`] or [`start`] (a test's
/// panic hook calls this when the expected failure happens).
pub fn freeze() {
    FROZEN.with(|f| f.set(true));
}

/// Start recording on this OS thread (an empty buffer).
pub fn start() {
    FROZEN.with(|f| f.set(false));
    BUF.with(|b| *b.borrow_mut() = Some(Vec::new()));
}

/// Stop recording; returns what the buffer held.
pub fn stop() -> Vec<Event> {
    BUF.with(|b| b.borrow_mut().take()).unwrap_or_default()
}

/// Empty the buffer (call at the start of each model execution, and where
/// a scenario's race begins).
pub fn clear() {
    FROZEN.with(|f| f.set(false));
    BUF.with(|b| {
        if let Some(v) = b.borrow_mut().as_mut() {
            v.clear();
        }
    });
}

/// The events recorded since the last [`clear`] (the buffer is kept).
pub fn snapshot() -> Vec<Event> {
    BUF.with(|b| b.borrow().clone()).unwrap_or_default()
}

/// Is recording on? (Trace points format nothing otherwise.)
#[inline]
pub fn on() -> bool {
    !FROZEN.with(|f| f.get()) && BUF.with(|b| b.borrow().is_some())
}

/// Record one event from the running model thread.
pub fn record(func: &'static str, what: String) {
    let thread = crate::sync::thread_index();
    BUF.with(|b| {
        if let Some(v) = b.borrow_mut().as_mut() {
            v.push(Event { thread, func, what });
        }
    });
}

/// Functions that run in the timer softirq (shown in their own column).
const SOFTIRQ: &[&str] = &[
    "run_timers",
    "neigh_timer_handler",
    "cascade",
    "__run_timers",
];

/// Which column an event goes to: `Thread(i)` for model thread `i`,
/// `Softirq` for the timer softirq's functions on any thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    /// Events of this model thread (other than the softirq's).
    Thread(usize),
    /// `run_timers`, `neigh_timer_handler`, `cascade`.
    Softirq,
}

fn column_of(e: &Event, cols: &[(&str, Col)]) -> usize {
    let want = if SOFTIRQ.contains(&e.func) {
        Col::Softirq
    } else {
        Col::Thread(e.thread)
    };
    cols.iter()
        .position(|(_, c)| *c == want)
        .or_else(|| cols.iter().position(|(_, c)| *c == Col::Thread(e.thread)))
        .unwrap_or(0)
}

fn wrap(s: &str, w: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in s.split(' ') {
        let cur = lines.last_mut().expect("one line");
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > w {
            lines.push(word.to_string());
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
    }
    lines
}

/// Render `events` as a timeline: one column per entry of `cols` (title,
/// what goes there), one row per event in the order they ran, numbered.
/// Rows from `mark_from` on (if any) are flagged `>>` (where a replay
/// diverged).
pub fn timeline(
    events: &[Event],
    cols: &[(&str, Col)],
    width: usize,
    mark_from: Option<usize>,
) -> String {
    let mut out = String::new();
    let sep = |out: &mut String| {
        out.push_str("     +");
        for _ in cols {
            out.push_str(&"-".repeat(width + 2));
            out.push('+');
        }
        out.push('\n');
    };
    sep(&mut out);
    out.push_str("     |");
    for (title, _) in cols {
        let _ = write!(out, " {title:<width$} |");
    }
    out.push('\n');
    sep(&mut out);
    for (i, e) in events.iter().enumerate() {
        let c = column_of(e, cols);
        let text = format!("{}: {}", e.func, e.what);
        let flag = if mark_from.is_some_and(|m| i >= m) {
            ">>"
        } else {
            "  "
        };
        for (j, line) in wrap(&text, width).into_iter().enumerate() {
            if j == 0 {
                let _ = write!(out, "{flag}{:>2} |", i + 1);
            } else {
                out.push_str("     |");
            }
            for k in 0..cols.len() {
                let cell = if k == c { line.as_str() } else { "" };
                let _ = write!(out, " {cell:<width$} |");
            }
            out.push('\n');
        }
    }
    sep(&mut out);
    out
}

/// How many leading events `a` and `b` share: where a replay of `a`'s
/// schedule under other code diverged from it.
pub fn common_prefix(a: &[Event], b: &[Event]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
