//! The server over real HTTP: an in-process server on a free loopback port,
//! or the built `flagstone` binary as a child process, driven by reqwest.
// Helpers outside #[test] functions are not covered by clippy.toml's
// allow-*-in-tests; in a test binary a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "integration tests report failures by panicking"
)]

mod agreement;
mod auth;
mod cloudbees;
mod concurrency;
mod confidence;
mod confidence_abtest;
mod confidence_errors;
mod confidence_list;
mod durability;
mod edge;
mod hostile;
mod launchdarkly;
mod launchdarkly_legacy;
mod launchdarkly_results;
mod native;
mod ofrep;
mod reports;
mod sticky;
#[cfg(feature = "redis")]
mod sticky_redis;
mod support;
