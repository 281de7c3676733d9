//! The request: the `flagstone analyze` input, deserialised (camelCase on the wire).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::correction::Correction;
use crate::frequentist::{Method, RelativeCi, Sides};
use crate::sequential;

/// A non-negative integer count; accepts integral JSON numbers such as `1e9`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count(pub u64);

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a non-negative integer count")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Count, E> {
                u64::try_from(v).map(Count).map_err(|_| {
                    E::custom(format!("expected a non-negative integer count, got {v}"))
                })
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Count, E> {
                if v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_992.0 {
                    Ok(Count(v as u64))
                } else {
                    Err(E::custom(format!("expected a non-negative integer count, got {v}")))
                }
            }
        }
        d.deserialize_any(V)
    }
}

// The wire enums of a request are the domain enums themselves (their serde names are the
// wire names).

/// A prior: Beta for binary metrics, normal on the relative effect for the others.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PriorSpec {
    /// `{"alpha", "beta"}`.
    Beta {
        /// First shape parameter.
        alpha: f64,
        /// Second shape parameter.
        beta: f64,
    },
    /// `{"mean", "stddev"}` of the relative effect.
    Normal {
        /// Prior mean.
        mean: f64,
        /// Prior standard deviation.
        stddev: f64,
    },
}

/// A variant of the experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariantSpec {
    /// Variant name, the key of each metric's `data`.
    pub name: String,
    /// Relative allocation weight.
    pub expected_share: f64,
    /// Units assigned, for the SRM check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Count>,
}

/// Metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// `{n, successes}`.
    Binary,
    /// `{n, sum, sumSquares}`.
    Mean,
    /// `{n, numerator, denominator, crossProducts}`.
    Ratio,
}

/// Metric role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MetricKind {
    /// A metric the experiment hopes to move.
    #[default]
    Success,
    /// A metric that must not get worse.
    Guardrail,
}

/// Which direction is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Direction {
    /// Higher is better.
    #[default]
    Increase,
    /// Lower is better.
    Decrease,
}

/// `{sum, sumSquares}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MomentsSpec {
    /// `Σx`.
    pub sum: f64,
    /// `Σx²`.
    pub sum_squares: f64,
}

/// CUPED covariate `{sum, sumSquares, crossProducts}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CovariateSpec {
    /// `Σc`.
    pub sum: f64,
    /// `Σc²`.
    pub sum_squares: f64,
    /// `Σ c·y`.
    pub cross_products: f64,
}

/// One arm's sufficient statistics; which fields are required depends on the metric type.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatsSpec {
    /// Units.
    pub n: Count,
    /// Binary: units with a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successes: Option<Count>,
    /// Mean: `Σx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// Mean: `Σx²`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum_squares: Option<f64>,
    /// Ratio: numerator moments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator: Option<MomentsSpec>,
    /// Ratio: denominator moments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<MomentsSpec>,
    /// Ratio: `Σ numerator·denominator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_products: Option<f64>,
    /// Optional CUPED covariate (binary and mean metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covariate: Option<CovariateSpec>,
}

/// A metric to analyse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSpec {
    /// Metric id, echoed in the result.
    pub id: String,
    /// Metric type.
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    /// Success (default) or guardrail.
    #[serde(default)]
    pub kind: MetricKind,
    /// Which direction is good (default `INCREASE`).
    #[serde(default)]
    pub preferred_direction: Direction,
    /// Explicit alternative; default two-sided, or one-sided with a margin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sides: Option<Sides>,
    /// Relative MDE for power and sample size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_detectable_effect: Option<f64>,
    /// Relative non-inferiority margin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_inferiority_margin: Option<f64>,
    /// Statistics per variant name.
    pub data: BTreeMap<String, StatsSpec>,
}

fn default_alpha() -> f64 {
    0.05
}

fn default_power() -> f64 {
    0.8
}

fn default_tuning() -> f64 {
    sequential::DEFAULT_TUNING
}

/// Sequential testing for an experiment that is read more than once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum SequentialSpec {
    /// `{"kind": "group-sequential", "finalExpectedSampleSize", "looks", "spending"?}`:
    /// Lan–DeMets efficacy bounds at the information fractions of the looks so far.
    GroupSequential {
        /// Planned total units across all variants at the final analysis.
        final_expected_sample_size: Count,
        /// Total units across all variants at each earlier look, in order (the current look is
        /// the data of this request).
        #[serde(default)]
        looks: Vec<Count>,
        /// `"power:RHO"` (default `"power:2"`) or `"obrien-fleming"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spending: Option<String>,
    },
    /// `{"kind": "always-valid", "tuning": 5000}`: asymptotic confidence sequences, valid at
    /// any number of looks.
    AlwaysValid {
        /// The sample size `N*` (total units of a comparison) where the sequence is tightest.
        #[serde(default = "default_tuning")]
        tuning: f64,
    },
}

/// The input of `flagstone analyze`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisRequest {
    /// Family-wise significance level (default 0.05).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Target power for sample-size planning (default 0.8).
    #[serde(default = "default_power")]
    pub power: f64,
    /// Test family.
    #[serde(default)]
    pub method: Method,
    /// Multiple-testing correction.
    #[serde(default)]
    pub correction: Correction,
    /// Relative interval style.
    #[serde(default)]
    pub relative_ci: RelativeCi,
    /// Name of the control variant.
    pub control: String,
    /// Prior for the Bayesian method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<PriorSpec>,
    /// The variants, in output order.
    pub variants: Vec<VariantSpec>,
    /// The metrics, in output order.
    pub metrics: Vec<MetricSpec>,
    /// Sequential testing; absent for a fixed-horizon analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<SequentialSpec>,
}
