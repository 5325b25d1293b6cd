//! Placeholder: replaced by the timer wheel bench.
fn main() {}
