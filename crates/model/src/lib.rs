//! Flagstone's resource model: the JSON config people write, parsed and validated.
//!
//! A config document holds flags (with variants and rules), segments
//! (targeting and allocation), CloudBees target groups, rollouts, A/B tests
//! and CloudBees experiments (spec §1). The pipeline starts here:
//! [`parse_config`] checks shape (unknown keys are rejected with their JSON
//! path), then [`validate()`] reports every remaining problem at once, each
//! with its path. `flagstone-core` compiles a valid config into an engine.
//!
//! ```
//! use flagstone_model::{parse_config, validate};
//!
//! let config = parse_config(r#"{
//!   "flags": [{"name": "flags/banner", "variants": [{"name": "flags/banner/variants/on", "value": true}],
//!     "rules": [{"name": "flags/banner/rules/r", "segment": "segments/beta",
//!       "assignmentSpec": {"bucketCount": 100, "assignments": [
//!         {"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 120}]}]}}]}],
//!   "segments": [{"name": "segments/beta"}]
//! }"#)?;
//! let report = validate(&config);
//! assert_eq!(
//!     report.errors[0].to_string(),
//!     "flags[0].rules[0].assignmentSpec.assignments[0].bucketRanges[0]: end 120 exceeds bucket count 100"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Names and references
//! A resource's `name` is its full name (`flags/{id}`, `segments/{id}`,
//! `targetGroups/{id}`, `rollouts/{id}`, `abtests/{id}`); a reference may use
//! the full name or the bare id ([`names`]). Rollouts and A/B tests lower to
//! a segment of their own id, so their ids share the segments' namespace.
//!
//! # Decisions where the specification is silent
//! - Shares become buckets by rounding to the nearest bucket
//!   ([`fraction::Fraction::buckets_of`]).
//! - A scheduled reach lower than the step before is a warning, not an error
//!   (it is the rollback path).
//! - Target groups combine their conditions with `and` or `or`; `not` is
//!   for group criteria only.
//!
//! # Input safety
//! Parsing is bounded: documents of at most 128 MiB, JSON nested at most 256
//! deep (checked without recursion before deserialising), expressions at
//! most 64 deep; regexes are compiled with a size limit during validation.
//! Validation then checks counts and lengths before anything else: at most
//! 100,000 flags (and as many of each other resource), 1,000 rules and
//! 1,000 variants per flag, 1,000 criteria per targeting, names of 512 bytes
//! and attribute names of 1,024 bytes. A config over a count limit gets only
//! those errors, so refusing it costs one linear pass; a 50 MB config of
//! 10,000 flags is well inside every limit.
//! Every bound is in [`limits`]; none of this code panics on input.
#![deny(missing_docs)]

pub mod allocate;
pub mod config;
pub mod experiment;
pub mod flag;
pub mod fraction;
pub mod graph;
pub mod limits;
pub mod lower;
pub mod names;
pub mod parse;
pub mod pattern;
pub mod segment;
pub mod targeting;
pub mod validate;
pub mod version;
pub mod workflow;

pub use config::Config;
pub use parse::{ParseError, parse_config};
pub use validate::{Valid, Validation, ValidationError, ValidationWarning, check, validate};
