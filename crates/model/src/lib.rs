//! Flagstone's resource model: the JSON config people write, parsed and validated.
#![deny(missing_docs)]

pub mod allocate;
pub mod config;
pub mod experiment;
pub mod flag;
pub mod fraction;
pub mod graph;
pub mod limits;
pub mod names;
pub mod parse;
pub mod segment;
pub mod targeting;
pub mod validate;
pub mod version;
pub mod workflow;

pub use config::Config;
pub use parse::{ParseError, parse_config};
pub use validate::{Validation, ValidationError, ValidationWarning, validate};
