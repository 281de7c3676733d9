//! Flagstone's evaluation engine: compile a config once, evaluate flags in nanoseconds.
//!
//! ```
//! use flagstone_core::{Engine, EvaluationContext, Reason};
//!
//! let config = flagstone_model::parse_config(r#"{
//!   "flags": [{
//!     "name": "flags/dark-mode",
//!     "variants": [{"name": "flags/dark-mode/variants/on", "value": {"enabled": true}}],
//!     "rules": [{
//!       "name": "flags/dark-mode/rules/nordics",
//!       "segment": "segments/nordics",
//!       "assignmentSpec": {"bucketCount": 100, "assignments": [
//!         {"assignmentId": "half", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 50}]},
//!         {"assignmentId": "rest", "clientDefault": {}, "bucketRanges": [{"lower": 50, "upper": 100}]}
//!       ]}
//!     }]
//!   }],
//!   "segments": [{
//!     "name": "segments/nordics",
//!     "targeting": {"criteria": {"nordic": {"attribute": {"attributeName": "country",
//!       "setRule": {"values": [{"stringValue": "SE"}, {"stringValue": "NO"}]}}}}}
//!   }]
//! }"#)?;
//! let engine = Engine::compile(&config).map_err(|e| format!("{e:?}"))?;
//! let flag = engine.flag_id("dark-mode").ok_or("unknown flag")?;
//!
//! let user = serde_json::json!({"targeting_key": "user-42", "country": "SE"});
//! let resolution = engine.evaluate(flag, &EvaluationContext::from_json(&user));
//! assert_eq!(resolution.reason, Reason::Match);
//! // The same user always gets the same bucket.
//! let again = engine.evaluate(flag, &EvaluationContext::from_json(&user));
//! assert_eq!(resolution.bucket, again.bucket);
//!
//! let elsewhere = serde_json::json!({"targeting_key": "user-42", "country": "FR"});
//! let resolution = engine.evaluate(flag, &EvaluationContext::from_json(&elsewhere));
//! assert_eq!(resolution.reason, Reason::NoSegmentMatch);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Pipeline
//! [`Engine::compile`] validates a [`flagstone_model::Config`] once
//! ([`flagstone_model::validate::check`]: names resolved, rollouts, A/B tests and
//! CloudBees experiments lowered into segments and rules, regexes built, reference
//! cycles rejected and chains bounded by [`MAX_REFERENCE_DEPTH`]), then builds
//! the runtime form from the valid config ([`Engine::from_valid`]: indices, not
//! names; sorted sets; flattened expressions). [`Engine::evaluate`] then walks the rules with no
//! allocation and no lock; [`Engine::explain`] walks the same path and records
//! it. [`EngineHandle`] swaps engines atomically.
//!
//! # Semantics decided here
//! - A rule whose assignments give every bucket the same outcome does not
//!   hash: its resolution has no `bucket`, and a missing unit is fine when the
//!   segment's allocation is whole too (spec §2.2a).
//! - Case-insensitive string rules compare with Unicode simple case folding
//!   (the `regex` crate's `(?i)`), so they never allocate.
//! - A set may mix types; the context value is compared with the members of
//!   its own type (strings also with timestamps and versions).
//! - `in-array` compares with the operand's scalar elements; nested arrays and
//!   objects in the operand never match.
//! - A dependency's memo holds 8 flags per call; further dependencies are
//!   evaluated again rather than allocating (the cost limit assumes no memo).
//! - Integer units must fit in 64 bits: a larger JSON integer has lost
//!   digits in parsing, so it is a [`Reason::TargetingKeyError`] rather than
//!   a silently moved bucket. Send such keys as strings.
//! - Sticky assignments are read for every rule of the engine that reads a
//!   materialization, so dependencies see them too ([`sticky`]).
//!
//! # Conformance
//! Where the public evaluation suites of Unleash, flagd, Eppo, GrowthBook and
//! LaunchDarkly disagree, Flagstone's choice and its reason are written in
//! `docs/conformance.md` (strict types, two-valued `not`, SemVer dialect,
//! dates); `flagstone conformance` reports agreement per source and operator.
//! Rules can bucket exactly like Unleash or flagd with `assignmentSpec.scheme`
//! (see [`bucket`]).
//!
//! # Input safety
//! Evaluation never panics and never allocates on the plain path (context
//! versions are read borrowed; strings that do not look like dates never
//! reach the time parser; only a date-shaped string that is not a valid date,
//! read by a timestamp rule, allocates for the parser's error). Units are
//! strings or integers of at most 100 characters; regexes are compiled once
//! with a 1 MiB size limit (and run on a DFA table of at most 256 KiB, 8 MiB
//! per engine, when theirs fits); expressions nest at most 64 deep; reference
//! chains pass at most [`MAX_REFERENCE_DEPTH`] flags and segments, and no
//! flag's worst-case evaluation visits more than [`MAX_EVALUATION_COST`]
//! criteria (diamonds of references are counted with multiplicity). Parsing limits are in
//! [`flagstone_model::limits`].
#![deny(missing_docs)]

pub mod bucket;
mod compile;
mod compiled;
mod context;
mod engine;
mod explain;
pub mod exposure;
mod handle;
mod matcher;
mod pattern;
mod resolution;
pub mod sticky;
mod walk;

pub use compile::CompileError;
pub use context::{EvaluationContext, UnitError};
pub use engine::{Engine, MAX_EVALUATION_COST, MAX_REFERENCE_DEPTH};
pub use explain::{AllocationTrace, AssignmentTrace, CriterionTrace, Explanation, RuleTrace};
pub use handle::{EngineHandle, UpdateError};
pub use matcher::Outcome;
pub use resolution::{AccessError, FlagId, OpenFeature, Reason, Resolution};
pub use sticky::{AssignmentStore, InMemoryStore, StickyEvaluation};
