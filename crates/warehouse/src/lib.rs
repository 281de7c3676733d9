//! Flagstone's analytics: exposures joined with metric events per unit into the sufficient
//! statistics that `flagstone analyze` (and [`flagstone_stats::analysis::analyze`]) read.
//!
//! # Rules
//!
//! For one flag, the earliest exposure of a unit wins (ties: the first one read); events
//! before that exposure, events of units never exposed, and exposures and events outside the
//! [`Window`] are ignored. A unit's value for a metric is the sum of its counted events'
//! values, 0 when it has none. A metric whose counted values are all 0 or 1 is `binary`
//! (success = the unit has a positive sum), any other is `mean`. Variant names of the form
//! `flags/{flag}/variants/{id}` are shortened to `{id}`. The control is the variant named
//! `control` when there is one, else the first in name order.
//!
//! [`aggregate_jsonl`] reads the engine's JSON-lines files line by line; [`aggregate`] takes
//! the same records from memory (a server's logs).
//!
//! ```
//! use flagstone_core::exposure::Exposure;
//! use flagstone_warehouse::{Event, Options, Window, aggregate};
//!
//! let exposure = |unit: &str, variant: &str, time: &str| Exposure {
//!     flag: "flags/checkout".into(),
//!     variant: Some(format!("flags/checkout/variants/{variant}")),
//!     rule: "flags/checkout/rules/ab".into(),
//!     segment: "segments/all".into(),
//!     assignment_id: Some("ab".into()),
//!     unit: unit.into(),
//!     targeting_key_selector: "user_id".into(),
//!     time: time.into(),
//! };
//! let exposures = [
//!     exposure("u1", "control", "2026-03-01T10:00:00Z"),
//!     exposure("u2", "treatment", "2026-03-01T10:00:00Z"),
//! ];
//! let events = [Event {
//!     unit: "u2".into(),
//!     metric: "purchase".into(),
//!     value: 1.0,
//!     time: "2026-03-01T11:00:00Z".parse()?,
//! }];
//! let options = Options {
//!     window: Window { start: None, end: Some("2026-03-02T00:00:00Z".parse()?) },
//!     ..Options::default()
//! };
//! let request = aggregate(exposures, events, &options)?;
//! assert_eq!(request.control, "control");
//! let purchase = &request.metrics[0];
//! assert_eq!(purchase.data["treatment"].successes.map(|c| c.0), Some(1));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod aggregate;
mod definition;
mod error;
mod jsonl;
mod metric;
pub mod reference;
pub mod rows;
pub mod sql;

pub use aggregate::{
    MetricSums, Progress, Stage, VariantSums, aggregate, aggregate_jsonl,
    aggregate_jsonl_with_progress, build_request, short_variant,
};
pub use definition::Definition;
pub use error::{AggregateError, Place};
pub use jsonl::MAX_LINE_BYTES;
pub use metric::{MetricDef, MetricDefError};

/// The analysis window: exposures and events at or after `start` and strictly before `end`
/// count; an unset end is open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// The first instant counted.
    pub start: Option<jiff::Timestamp>,
    /// The first instant no longer counted.
    pub end: Option<jiff::Timestamp>,
}

/// What to aggregate. Build it with `..Options::default()` so that fields added later keep
/// your code compiling.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// The flag to analyse; required when the exposures hold more than one.
    pub flag: Option<String>,
    /// Only these metrics; every metric seen in the events when empty.
    pub metrics: Vec<String>,
    /// The analysis window.
    pub window: Window,
}

/// One metric event of one unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The unit (the exposure's `unit`).
    pub unit: String,
    /// The metric's id.
    pub metric: String,
    /// The value: 1 for a conversion, an amount for a sum.
    pub value: f64,
    /// When it happened.
    pub time: jiff::Timestamp,
}
