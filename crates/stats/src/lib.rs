//! Flagstone's statistics: frequentist and Bayesian analysis of experiments from mergeable
//! sufficient statistics.
//!
//! The crate is pure math on plain structs: no I/O, no other workspace crate. Inputs are
//! per-arm sums ([`BinaryStats`], [`MeanStats`], [`RatioStats`], optional [`Covariate`] for
//! CUPED) that merge associatively across shards and days. [`analysis::analyze`] runs a whole
//! request (the `flagstone analyze` JSON contract); the pieces are usable on their own:
//! [`compare`] (z, Welch t, pooled χ²), [`correction`], [`power`], [`srm`], [`bayes`].
//!
//! ```
//! use flagstone_stats::analysis::{AnalysisRequest, analyze};
//! let request: AnalysisRequest = serde_json::from_str(r#"{
//!   "control": "control",
//!   "variants": [{"name": "control", "expectedShare": 1}, {"name": "b", "expectedShare": 1}],
//!   "metrics": [{"id": "revenue", "type": "mean", "kind": "GUARDRAIL", "nonInferiorityMargin": 0.02,
//!     "data": {"control": {"n": 5000, "sum": 50000, "sumSquares": 1000000},
//!              "b": {"n": 5000, "sum": 50500, "sumSquares": 1010000}}}]
//! }"#)?;
//! let result = analyze(&request)?;
//! let c = &result.results[0].comparisons[0];
//! assert_eq!(c.absolute.ci_upper, None); // one-sided: the upper end is unbounded
//! assert!(c.p_value.is_some_and(|p| (0.0..=1.0).contains(&p)));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Input safety
//!
//! No function panics on any input. Statistics are validated on construction (finite sums,
//! `successes ≤ n`, Cauchy–Schwarz between sums) and invalid input is a [`StatsError`] naming
//! the JSON path. Quantities that cannot be computed (zero standard error, zero control mean,
//! fewer than two units where a variance is needed) are reported as [`UndefinedReason`]s, never
//! as NaN and never as significant. Iterative routines (continued fractions, root finding,
//! adaptive quadrature) have fixed iteration caps.
//!
//! # Numerics
//!
//! Sums are compensated (double-double), variances come from a centred cross product formed in
//! extra precision, p-values come from `erfc` and the incomplete beta function (never
//! `1 − cdf`), and a p-value that underflows `f64` still has a finite `log10PValue`.
//! Bayesian results are deterministic: closed forms and Gauss–Kronrod quadrature, no sampling.
//!
//! # Features
//!
//! None.
#![deny(missing_docs)]

mod error;
mod frequentist;
#[doc(hidden)]
pub mod invariants;
mod numeric;
mod quadrature;
pub mod special;
mod sufficient;

pub use error::{StatsError, UndefinedReason};
pub use frequentist::{
    Comparison, DifferenceTest, Interval, Method, RelativeCi, Sides, TestSpec, compare,
};
pub use numeric::CompensatedSum;
pub use sufficient::{
    ArmSummary, BinaryStats, Covariate, CupedArm, CupedSummaries, MeanStats, Moments, RatioStats,
    cuped,
};
pub mod analysis;
pub mod bayes;
pub mod correction;
pub mod power;
pub mod sequential;
pub mod srm;
