//! Flagstone's statistics.
#![deny(missing_docs)]
