//! Flagstone integration tests: one test binary.
// Helpers outside #[test] functions are not covered by clippy.toml's
// allow-*-in-tests; in a test binary a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "integration tests report failures by panicking"
)]

mod alloc;
mod cloudbees_docs;
mod conformance;
mod fuzz_replay;
mod handle;
mod reference_graph;
mod reference_interpreter;
mod roundtrip;
mod schemes;
mod spec;
mod stress;
mod validation;
mod workflows;
