//! Flagstone's resource model.
#![deny(missing_docs)]

pub mod version;
