//! Shared helpers for Flagstone's integration tests.
