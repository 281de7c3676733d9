//! Flagstone's evaluation engine.
#![deny(missing_docs)]

pub mod bucket;
