//! The loom race matrix (SPEC.md §8) as one test binary with its own
//! harness: `cargo test --release --features loom` prints a verdict line
//! per test and, at the end, the matrix (row, the bug variant's named
//! failure and the execution it was found on, the fix's executions).
//!
//! Rules: every row has a `…_fix_holds` test and a `…_bug_is_found` test
//! (or SPEC.md §8 says why no broken variant exists); a bug test passes only
//! when the model finds its named failure; tests are registered in their
//! file's `tests()`. Filters, `--list`, `--exact`, `--skip` and
//! `--test-threads` work as with libtest.

mod burst;
mod common;
mod dead_check;
mod ordering;
mod queue;
mod runtime;
mod table;
mod table_timers;
mod timers;

fn main() {
    let mut all = Vec::new();
    all.extend(dead_check::tests());
    all.extend(timers::tests());
    all.extend(table::tests());
    all.extend(queue::tests());
    all.extend(runtime::tests());
    all.extend(burst::tests());
    all.extend(ordering::tests());
    all.extend(table_timers::tests());
    common::run_suite("loom race matrix", all);
}
