//! Flagstone integration tests: one test binary.
