//! Flagstone integration tests: one test binary.

mod roundtrip;
mod validation;
