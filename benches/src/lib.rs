//! Shared fixtures for Flagstone criterion benches.
