//! The `analyze` entry point: an [`AnalysisRequest`] (the JSON contract of DESIGN §4, camelCase)
//! in, an [`AnalysisResult`] out.
//!
//! Decisions where the design is silent, recorded here:
//! - `minimumDetectableEffect` and `nonInferiorityMargin` are relative to `|control mean|`;
//!   `poweredEffect` is relative too. With a margin, power is computed for a true effect of 0
//!   against the margin.
//! - A margin makes the test one-sided in the preferred direction (an explicit contrary
//!   `sides` is rejected). Any metric with a margin gets the non-inferiority statuses.
//!   `INFERIOR` means the mirror one-sided bound (same alpha) lies beyond the margin.
//! - Holm and Benjamini–Hochberg give each comparison its own adjusted alpha; it is reported
//!   per comparison (`adjustedAlpha`), and `statsSettings.adjustedAlpha` is the smallest of the
//!   metric's comparisons.
//! - `chi-squared` applies to binary metrics without covariate; other metrics fall back to the
//!   z-test with an annotation. The `bayesian` method reports no p-values; its status comes
//!   from the credible interval.
//! - A metric's overall status: for success metrics without margin, positive if any treatment
//!   is, else negative if any, else not significant, else undefined; for guardrails and
//!   margins, the most alarming: inferior, negative, undefined, inconclusive/not significant,
//!   then non-inferior/positive.
//! - `log10PValue` is always reported when the p-value is defined, so it also ranks p-values
//!   that underflow to 0.
//! - `sequential` (see [`SequentialSpec`]) applies to the z-test with Bonferroni or no
//!   correction: each comparison's alpha is corrected first, then turned into a group-sequential
//!   bound or an always-valid critical value, and the interval is built with that value in
//!   place of `z_{α/2}`, so status follows from the interval as before. Sample sizes are total
//!   units across all variants: the metric's `n` summed over the variants is the current look.
//!   Group-sequential results keep the nominal p-value and report the nominal level of the
//!   current look as `adjustedAlpha` (reject exactly when `pValue ≤ adjustedAlpha`);
//!   always-valid results report the always-valid p-value and the corrected alpha. Power numbers
//!   stay fixed-horizon planning numbers at the corrected alpha.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bayes::{self, BetaPosterior, BetaPrior, EffectPrior, NormalPosterior, Posterior};
use crate::correction::{Correction, adjusted_alphas};
use crate::error::{StatsError, UndefinedReason};
use crate::frequentist::{
    Comparison, DifferenceTest, Interval, Method, RelativeCi, Sides, TestSpec,
};
use crate::numeric::finite;
use crate::power::{self, EffectModel, PowerSpec};
use crate::sequential::{self, AlwaysValid, GroupSequentialDesign, Spending};
use crate::srm;
use crate::sufficient::{
    ArmSummary, BinaryStats, Covariate, CupedArm, MeanStats, Moments, RatioStats, cuped,
};

// ---------------------------------------------------------------------------------------------
// Request

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

/// The test family requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodName {
    /// z-test (default).
    #[default]
    ZTest,
    /// Welch's t-test.
    TTest,
    /// Pooled two-proportion (Pearson χ²).
    ChiSquared,
    /// Beta–Binomial / normal Bayesian analysis.
    Bayesian,
}

/// Multiple-testing correction on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorrectionName {
    /// Bonferroni (default).
    #[default]
    Bonferroni,
    /// Holm step-down.
    Holm,
    /// Benjamini–Hochberg step-up.
    BenjaminiHochberg,
    /// No correction.
    None,
}

/// Relative interval style on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelativeCiName {
    /// Delta method (default).
    #[default]
    Delta,
    /// Absolute interval scaled by the control mean.
    Scaled,
}

/// Sides on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SidesName {
    /// Two-sided.
    TwoSided,
    /// Upper one-sided.
    Greater,
    /// Lower one-sided.
    Less,
}

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
    pub sides: Option<SidesName>,
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
    pub method: MethodName,
    /// Multiple-testing correction.
    #[serde(default)]
    pub correction: CorrectionName,
    /// Relative interval style.
    #[serde(default)]
    pub relative_ci: RelativeCiName,
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

// ---------------------------------------------------------------------------------------------
// Result

/// Sample-ratio mismatch check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SrmResult {
    /// Pearson's χ².
    pub chi2: Option<f64>,
    /// Degrees of freedom.
    pub df: Option<u32>,
    /// p-value.
    pub p_value: Option<f64>,
    /// `pValue < 0.001`.
    pub mismatch: bool,
    /// Why the check is undefined (no units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undefined_reason: Option<String>,
}

/// Estimate, standard error and interval; `null` ends are unbounded (one-sided) or undefined.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntervalResult {
    /// Point estimate.
    pub estimate: Option<f64>,
    /// Standard error (posterior sd for the Bayesian method).
    pub std_err: Option<f64>,
    /// Lower end.
    pub ci_lower: Option<f64>,
    /// Upper end.
    pub ci_upper: Option<f64>,
}

impl From<&Interval> for IntervalResult {
    fn from(i: &Interval) -> Self {
        IntervalResult {
            estimate: finite(i.estimate),
            std_err: finite(i.std_err),
            ci_lower: i.lower.and_then(finite),
            ci_upper: i.upper.and_then(finite),
        }
    }
}

/// Status of a comparison or a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Interval wholly on the preferred side of zero.
    #[serde(rename = "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE")]
    SignificantPositive,
    /// Interval wholly on the other side of zero.
    #[serde(rename = "METRIC_RESULT_STATUS_SIGNIFICANT_NEGATIVE")]
    SignificantNegative,
    /// Interval contains zero.
    #[serde(rename = "METRIC_RESULT_STATUS_NOT_SIGNIFICANT")]
    NotSignificant,
    /// Interval wholly better than the margin.
    #[serde(rename = "METRIC_RESULT_STATUS_NON_INFERIOR")]
    NonInferior,
    /// The mirror bound is worse than the margin.
    #[serde(rename = "METRIC_RESULT_STATUS_INFERIOR")]
    Inferior,
    /// Neither.
    #[serde(rename = "METRIC_RESULT_STATUS_INCONCLUSIVE")]
    Inconclusive,
    /// Not computable; see `undefinedReason`.
    #[serde(rename = "METRIC_RESULT_STATUS_UNDEFINED")]
    Undefined,
}

/// One treatment against the control.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonResult {
    /// Treatment variant.
    pub treatment: String,
    /// Control variant.
    pub control: String,
    /// Control estimate (adjusted under CUPED).
    pub control_mean: Option<f64>,
    /// Treatment estimate.
    pub treatment_mean: Option<f64>,
    /// `t − c`.
    pub absolute: IntervalResult,
    /// `(t − c)/|c|`.
    pub relative: IntervalResult,
    /// z, t or χ².
    pub statistic: Option<f64>,
    /// Degrees of freedom (t, χ²).
    pub dof: Option<f64>,
    /// p-value (0 when it underflows; see `log10PValue`).
    pub p_value: Option<f64>,
    /// `log10` of the p-value, finite when the p-value underflows.
    pub log10_p_value: Option<f64>,
    /// Alpha the interval was built at, after correction.
    pub adjusted_alpha: f64,
    /// Status from the interval.
    pub status: Status,
    /// Relative effect detectable with `power` at the current sample sizes.
    pub powered_effect: Option<f64>,
    /// Units per arm needed to detect the MDE (or the margin) with `power`.
    pub required_sample_size: Option<f64>,
    /// Power to detect the MDE (or the margin) at the current sample sizes.
    pub achieved_power: Option<f64>,
    /// Why something above is `null`.
    pub undefined_reason: Option<String>,
    /// The sequential test behind the interval (only with `sequential`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequential: Option<SequentialResult>,
}

/// What a sequential test decided at this look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SequentialDecision {
    /// The statistic crossed the bound: the null (or the margin) is rejected now.
    Reject,
    /// Not crossed; the test may go on.
    Continue,
    /// Not crossed at the final look (information fraction 1): stop without rejecting.
    Stop,
}

/// The sequential bound applied to one comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SequentialResult {
    /// 1-based number of this look (group-sequential only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub look: Option<usize>,
    /// `n / max(n, finalExpectedSampleSize)` (group-sequential only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub information_fraction: Option<f64>,
    /// Alpha spent up to this look, both tails (group-sequential only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cumulative_alpha_spent: Option<f64>,
    /// The critical value in standard errors; `null` when nothing can be rejected yet.
    pub z_bound: Option<f64>,
    /// Reject, continue or stop.
    pub decision: SequentialDecision,
}

/// `{lower, upper}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CredibleInterval {
    /// Lower end.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
}

/// Relative difference interval against another arm.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelativeDifference {
    /// The arm compared against (the control).
    pub from_treatment_id: String,
    /// Lower end.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
}

/// Per-arm results, LaunchDarkly style.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TreatmentResult {
    /// Variant name.
    pub treatment_id: String,
    /// Posterior mean (Bayesian) or sample estimate.
    pub mean: Option<f64>,
    /// Equal-tailed credible interval (Bayesian only).
    pub credible_interval: Option<CredibleInterval>,
    /// Probability of being the best arm in the preferred direction (Bayesian only).
    pub p_best: Option<f64>,
    /// Probability of beating the control in the preferred direction (Bayesian, not control).
    pub p_beat_control: Option<f64>,
    /// Expected loss of shipping this arm instead of the control (Bayesian, not control).
    pub expected_loss: Option<f64>,
    /// Relative difference against the control (Bayesian, not control).
    pub relative_differences: Vec<RelativeDifference>,
    /// Units.
    pub units: u64,
}

/// Test settings echoed per metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsSettings {
    /// `METHOD_Z_TEST`, `METHOD_T_TEST`, `METHOD_CHI_SQUARED`, `METHOD_BAYESIAN`, or with
    /// `sequential` `METHOD_GROUP_SEQUENTIAL` or `METHOD_ALWAYS_VALID`.
    pub method: &'static str,
    /// Requested alpha.
    pub alpha: f64,
    /// The smallest adjusted alpha among the metric's comparisons.
    pub adjusted_alpha: f64,
    /// Correction name.
    pub correction: &'static str,
}

/// `{status, metricType}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatus {
    /// Overall status of the metric.
    pub status: Status,
    /// `METRIC_TYPE_SUCCESS` or `METRIC_TYPE_GUARDRAIL`.
    pub metric_type: &'static str,
}

/// `{status: {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricOutcome {
    /// The metric's status.
    pub status: MetricStatus,
}

/// Results for one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    /// Metric id.
    pub id: String,
    /// Settings used.
    pub stats_settings: StatsSettings,
    /// One per treatment, in `variants` order.
    pub comparisons: Vec<ComparisonResult>,
    /// One per variant, in `variants` order.
    pub treatment_results: Vec<TreatmentResult>,
    /// Overall status.
    pub result: MetricOutcome,
}

/// The output of `flagstone analyze`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisResult {
    /// Sample-ratio mismatch check.
    pub srm: SrmResult,
    /// One per metric, in request order.
    pub results: Vec<MetricResult>,
    /// Notes about fallbacks and adjustments.
    pub annotations: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Validation

enum ArmData {
    Binary(BinaryStats, Option<Covariate>),
    Mean(MeanStats, Option<Covariate>),
    Ratio(RatioStats),
}

impl ArmData {
    fn n(&self) -> u64 {
        match self {
            ArmData::Binary(s, _) => s.n(),
            ArmData::Mean(s, _) => s.n(),
            ArmData::Ratio(s) => s.n(),
        }
    }

    fn covariate(&self) -> Option<&Covariate> {
        match self {
            ArmData::Binary(_, c) | ArmData::Mean(_, c) => c.as_ref(),
            ArmData::Ratio(_) => None,
        }
    }
}

fn require<T>(value: Option<T>, path: &str, field: &str, ty: &str) -> Result<T, StatsError> {
    value.ok_or_else(|| {
        StatsError::invalid(
            format!("{path}.{field}"),
            format!("missing; expected for a {ty} metric"),
        )
    })
}

fn reject(present: bool, path: &str, field: &str, ty: &str) -> Result<(), StatsError> {
    if present {
        Err(StatsError::invalid(
            format!("{path}.{field}"),
            format!("not allowed for a {ty} metric"),
        ))
    } else {
        Ok(())
    }
}

fn parse_arm(spec: &StatsSpec, ty: MetricType, path: &str) -> Result<ArmData, StatsError> {
    let covariate = spec
        .covariate
        .map(|c| {
            Covariate::new(c.sum, c.sum_squares, c.cross_products)
                .map_err(|e| e.at(&format!("{path}.covariate")))
        })
        .transpose()?;
    let n = spec.n.0;
    match ty {
        MetricType::Binary => {
            let name = "binary";
            reject(spec.sum.is_some(), path, "sum", name)?;
            reject(spec.sum_squares.is_some(), path, "sumSquares", name)?;
            reject(
                spec.numerator.is_some() || spec.denominator.is_some(),
                path,
                "numerator",
                name,
            )?;
            reject(spec.cross_products.is_some(), path, "crossProducts", name)?;
            let s = require(spec.successes, path, "successes", name)?;
            Ok(ArmData::Binary(BinaryStats::new(n, s.0).map_err(|e| e.at(path))?, covariate))
        }
        MetricType::Mean => {
            let name = "mean";
            reject(spec.successes.is_some(), path, "successes", name)?;
            reject(
                spec.numerator.is_some() || spec.denominator.is_some(),
                path,
                "numerator",
                name,
            )?;
            reject(spec.cross_products.is_some(), path, "crossProducts", name)?;
            let sum = require(spec.sum, path, "sum", name)?;
            let ss = require(spec.sum_squares, path, "sumSquares", name)?;
            Ok(ArmData::Mean(MeanStats::new(n, sum, ss).map_err(|e| e.at(path))?, covariate))
        }
        MetricType::Ratio => {
            let name = "ratio";
            reject(spec.successes.is_some(), path, "successes", name)?;
            reject(spec.sum.is_some(), path, "sum", name)?;
            reject(spec.sum_squares.is_some(), path, "sumSquares", name)?;
            reject(spec.covariate.is_some(), path, "covariate", name)?;
            let num = require(spec.numerator, path, "numerator", name)?;
            let den = require(spec.denominator, path, "denominator", name)?;
            let cross = require(spec.cross_products, path, "crossProducts", name)?;
            let num = Moments::new(num.sum, num.sum_squares)
                .map_err(|e| e.at(&format!("{path}.numerator")))?;
            let den = Moments::new(den.sum, den.sum_squares)
                .map_err(|e| e.at(&format!("{path}.denominator")))?;
            Ok(ArmData::Ratio(RatioStats::new(n, num, den, cross).map_err(|e| e.at(path))?))
        }
    }
}

struct Metric<'a> {
    spec: &'a MetricSpec,
    /// In `variants` order.
    arms: Vec<ArmData>,
    sides: Sides,
    null_relative_shift: f64,
    has_margin: bool,
}

fn validate(req: &AnalysisRequest) -> Result<(usize, Vec<Metric<'_>>), StatsError> {
    if !(req.alpha > 0.0 && req.alpha < 1.0) {
        return Err(StatsError::invalid(
            "alpha",
            format!("expected a number in (0, 1), got {}", req.alpha),
        ));
    }
    if !(req.power > 0.0 && req.power < 1.0) {
        return Err(StatsError::invalid(
            "power",
            format!("expected a number in (0, 1), got {}", req.power),
        ));
    }
    if req.variants.len() < 2 {
        return Err(StatsError::invalid(
            "variants",
            "expected at least two variants (a control and a treatment)",
        ));
    }
    for (i, v) in req.variants.iter().enumerate() {
        if req.variants.iter().take(i).any(|w| w.name == v.name) {
            return Err(StatsError::invalid(
                format!("variants[{i}].name"),
                format!("duplicate variant {:?}", v.name),
            ));
        }
        if !(v.expected_share > 0.0 && v.expected_share.is_finite()) {
            return Err(StatsError::invalid(
                format!("variants[{i}].expectedShare"),
                format!("expected a positive weight, got {}", v.expected_share),
            ));
        }
    }
    let names: Vec<&str> = req.variants.iter().map(|v| v.name.as_str()).collect();
    let control = names.iter().position(|n| *n == req.control).ok_or_else(|| {
        StatsError::invalid(
            "control",
            format!("expected one of the variants ({}), got {:?}", names.join(", "), req.control),
        )
    })?;
    match req.prior {
        Some(PriorSpec::Beta { alpha, beta }) => {
            BetaPrior::new(alpha, beta).map_err(|e| e.at("prior"))?;
        }
        Some(PriorSpec::Normal { mean, stddev })
            if !(mean.is_finite() && stddev > 0.0 && stddev.is_finite()) =>
        {
            return Err(StatsError::invalid(
                "prior.stddev",
                "expected a finite mean and a positive stddev",
            ));
        }
        Some(PriorSpec::Normal { .. }) => {}
        None => {}
    }
    let mut metrics = Vec::with_capacity(req.metrics.len());
    for (mi, m) in req.metrics.iter().enumerate() {
        let mpath = format!("metrics[{mi}]");
        if req.metrics.iter().take(mi).any(|o| o.id == m.id) {
            return Err(StatsError::invalid(
                format!("{mpath}.id"),
                format!("duplicate metric id {:?}", m.id),
            ));
        }
        if let Some(key) = m.data.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(StatsError::invalid(
                format!("{mpath}.data.{key}"),
                format!("unknown variant; expected one of {}", names.join(", ")),
            ));
        }
        let mut arms = Vec::with_capacity(names.len());
        for name in &names {
            let path = format!("{mpath}.data.{name}");
            let spec = m.data.get(*name).ok_or_else(|| {
                StatsError::invalid(
                    format!("{mpath}.data"),
                    format!("missing statistics for variant {name:?}"),
                )
            })?;
            arms.push(parse_arm(spec, m.metric_type, &path)?);
        }
        let with_cov = arms.iter().filter(|a| a.covariate().is_some()).count();
        if with_cov != 0 && with_cov != arms.len() {
            return Err(StatsError::invalid(
                format!("{mpath}.data"),
                "expected a covariate for every variant or for none",
            ));
        }
        if let Some(mde) = m.minimum_detectable_effect
            && !(mde > 0.0 && mde.is_finite())
        {
            return Err(StatsError::invalid(
                format!("{mpath}.minimumDetectableEffect"),
                format!("expected a positive relative effect, got {mde}"),
            ));
        }
        let preferred = match m.preferred_direction {
            Direction::Increase => Sides::Greater,
            Direction::Decrease => Sides::Less,
        };
        let (sides, shift, has_margin) = match m.non_inferiority_margin {
            Some(nim) => {
                if !(nim >= 0.0 && nim.is_finite()) {
                    return Err(StatsError::invalid(
                        format!("{mpath}.nonInferiorityMargin"),
                        format!("expected a non-negative relative margin, got {nim}"),
                    ));
                }
                let sides = preferred;
                if m.sides.is_some_and(|s| to_sides(s) != preferred) {
                    return Err(StatsError::invalid(
                        format!("{mpath}.sides"),
                        "a non-inferiority margin is tested one-sided in the preferred direction",
                    ));
                }
                let shift = if preferred == Sides::Greater { -nim } else { nim };
                (sides, shift, true)
            }
            None => (m.sides.map_or(Sides::TwoSided, to_sides), 0.0, false),
        };
        metrics.push(Metric { spec: m, arms, sides, null_relative_shift: shift, has_margin });
    }
    Ok((control, metrics))
}

fn to_sides(s: SidesName) -> Sides {
    match s {
        SidesName::TwoSided => Sides::TwoSided,
        SidesName::Greater => Sides::Greater,
        SidesName::Less => Sides::Less,
    }
}

// ---------------------------------------------------------------------------------------------
// Analysis

fn method_label(m: MethodName) -> &'static str {
    match m {
        MethodName::ZTest => "METHOD_Z_TEST",
        MethodName::TTest => "METHOD_T_TEST",
        MethodName::ChiSquared => "METHOD_CHI_SQUARED",
        MethodName::Bayesian => "METHOD_BAYESIAN",
    }
}

fn correction_label(c: CorrectionName) -> &'static str {
    match c {
        CorrectionName::Bonferroni => "bonferroni",
        CorrectionName::Holm => "holm",
        CorrectionName::BenjaminiHochberg => "benjamini-hochberg",
        CorrectionName::None => "none",
    }
}

/// Per-arm summaries for a metric (CUPED applied when every arm has a covariate).
fn summaries(
    metric: &Metric<'_>,
    method: MethodName,
    annotations: &mut Vec<String>,
    mi: usize,
) -> Vec<Result<ArmSummary, UndefinedReason>> {
    let has_cov = metric.arms.first().is_some_and(|a| a.covariate().is_some());
    if has_cov && method != MethodName::Bayesian {
        let cuped_arms: Vec<CupedArm> = metric
            .arms
            .iter()
            .filter_map(|a| match a {
                ArmData::Binary(s, Some(c)) => Some(CupedArm::binary(s, *c)),
                ArmData::Mean(s, Some(c)) => Some(CupedArm::mean(s, *c)),
                _ => None,
            })
            .collect();
        let out = cuped(&cuped_arms);
        match out.theta {
            Some(theta) => annotations
                .push(format!("metrics[{mi}]: CUPED applied with pooled theta {theta:.6}")),
            None => annotations
                .push(format!("metrics[{mi}]: covariate has no variance; CUPED not applied")),
        }
        return out.arms;
    }
    if has_cov {
        annotations.push(format!("metrics[{mi}]: covariate ignored by the Bayesian method"));
    }
    metric
        .arms
        .iter()
        .map(|a| match a {
            ArmData::Binary(s, _) => ArmSummary::binary(s),
            ArmData::Mean(s, _) => ArmSummary::mean(s),
            ArmData::Ratio(s) => ArmSummary::ratio(s),
        })
        .collect()
}

struct Pending {
    metric_idx: usize,
    treatment_idx: usize,
    test: Result<DifferenceTest, UndefinedReason>,
}

fn status_for(comparison: &Comparison, metric: &Metric<'_>) -> Status {
    let increase_good = metric.spec.preferred_direction == Direction::Increase;
    if metric.has_margin {
        let null = comparison.test.null_difference;
        let (non_inferior, inferior) = if increase_good {
            (
                comparison.absolute.lower.is_some_and(|l| l > null),
                comparison.mirror_bound().is_some_and(|u| u < null),
            )
        } else {
            (
                comparison.absolute.upper.is_some_and(|u| u < null),
                comparison.mirror_bound().is_some_and(|l| l > null),
            )
        };
        return if non_inferior {
            Status::NonInferior
        } else if inferior {
            Status::Inferior
        } else {
            Status::Inconclusive
        };
    }
    interval_status(comparison.absolute.lower, comparison.absolute.upper, increase_good)
}

fn interval_status(lower: Option<f64>, upper: Option<f64>, increase_good: bool) -> Status {
    let up = lower.is_some_and(|l| l > 0.0);
    let down = upper.is_some_and(|u| u < 0.0);
    match (up, down, increase_good) {
        (true, _, true) | (_, true, false) => Status::SignificantPositive,
        (true, _, false) | (_, true, true) => Status::SignificantNegative,
        _ => Status::NotSignificant,
    }
}

fn overall_status(statuses: &[Status], metric: &Metric<'_>) -> Status {
    let any = |s: Status| statuses.contains(&s);
    let guard = metric.has_margin || metric.spec.kind == MetricKind::Guardrail;
    if guard {
        for s in [
            Status::Inferior,
            Status::SignificantNegative,
            Status::Undefined,
            Status::Inconclusive,
            Status::NotSignificant,
            Status::NonInferior,
            Status::SignificantPositive,
        ] {
            if any(s) {
                return s;
            }
        }
    } else {
        for s in [Status::SignificantPositive, Status::SignificantNegative, Status::NotSignificant]
        {
            if any(s) {
                return s;
            }
        }
    }
    Status::Undefined
}

/// Power numbers for a comparison: `(poweredEffect, requiredSampleSize, achievedPower)`.
fn power_numbers(
    metric: &Metric<'_>,
    control: &ArmSummary,
    treatment: &ArmSummary,
    alpha: f64,
    target_power: f64,
) -> (Result<f64, UndefinedReason>, Option<f64>, Option<f64>) {
    let c = control.mean.abs();
    if c == 0.0 {
        return (Err(UndefinedReason::ZeroControlMean), None, None);
    }
    let spec = PowerSpec { alpha, sides: metric.sides };
    let sign = if metric.sides == Sides::Less { -1.0 } else { 1.0 };
    let binary = matches!(metric.arms.first(), Some(ArmData::Binary(_, None)));
    let model = if binary && (0.0..1.0).contains(&control.mean) {
        EffectModel::Binary { baseline: control.mean }
    } else {
        let v = control.unit_variance.max(f64::MIN_POSITIVE);
        EffectModel::Normal {
            control_variance: v,
            treatment_variance: treatment.unit_variance.max(v * 1e-12),
        }
    };
    let powered =
        match power::minimum_detectable_effect(&model, target_power, control.n, treatment.n, &spec)
        {
            Ok(Ok(d)) => Ok(d.abs() / c),
            Ok(Err(r)) => Err(r),
            Err(_) => Err(UndefinedReason::ZeroStandardError),
        };
    // With a margin, the effect to detect is the distance from a true 0 to the margin.
    let relative_effect = if metric.has_margin {
        Some(metric.null_relative_shift.abs()).filter(|m| *m > 0.0)
    } else {
        metric.spec.minimum_detectable_effect
    };
    let Some(effect) = relative_effect else { return (powered, None, None) };
    let delta = sign * effect * c;
    let required =
        power::sample_size_per_arm(&model, delta, target_power, &spec).ok().and_then(finite);
    let achieved =
        power::achieved_power(&model, delta, control.n, treatment.n, &spec).ok().and_then(finite);
    (powered, required, achieved)
}

/// Runs the whole analysis.
///
/// # Errors
/// [`StatsError::Invalid`] with the JSON path of the first invalid value.
///
/// # Examples
/// ```
/// use flagstone_stats::analysis::{AnalysisRequest, analyze};
/// let request: AnalysisRequest = serde_json::from_str(r#"{
///   "control": "control",
///   "variants": [{"name": "control", "expectedShare": 1}, {"name": "treatment", "expectedShare": 1}],
///   "metrics": [{"id": "checkout", "type": "binary",
///     "data": {"control": {"n": 10000, "successes": 1000}, "treatment": {"n": 10000, "successes": 1100}}}]
/// }"#)?;
/// let result = analyze(&request)?;
/// let json = serde_json::to_value(&result)?;
/// assert_eq!(json["results"][0]["comparisons"][0]["status"], "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE");
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn analyze(req: &AnalysisRequest) -> Result<AnalysisResult, StatsError> {
    let (control_idx, metrics) = validate(req)?;
    let plan = sequential_plan(req)?;
    let mut annotations = Vec::new();
    let looks = match &plan {
        Some(SequentialPlan::Group { looks, final_expected, .. }) => metrics
            .iter()
            .enumerate()
            .map(|(mi, m)| metric_look(m, mi, looks, *final_expected, &mut annotations))
            .collect::<Result<Vec<_>, _>>()?,
        _ => vec![None; metrics.len()],
    };

    // SRM on assigned units (or the largest n seen for the variant).
    let observed: Vec<u64> = req
        .variants
        .iter()
        .enumerate()
        .map(|(vi, v)| {
            v.units.map_or_else(
                || metrics.iter().filter_map(|m| m.arms.get(vi).map(ArmData::n)).max().unwrap_or(0),
                |u| u.0,
            )
        })
        .collect();
    let shares: Vec<f64> = req.variants.iter().map(|v| v.expected_share).collect();
    let srm = match srm::srm(&observed, &shares).map_err(|e| e.at("variants"))? {
        Some(s) => SrmResult {
            chi2: finite(s.chi2),
            df: Some(s.df),
            p_value: finite(s.p_value),
            mismatch: s.mismatch,
            undefined_reason: None,
        },
        None => SrmResult {
            chi2: None,
            df: None,
            p_value: None,
            mismatch: false,
            undefined_reason: Some(UndefinedReason::NoUnits.to_string()),
        },
    };
    if srm.mismatch {
        annotations.push("srm: observed units differ from the expected shares (p < 0.001); results may be biased".to_owned());
    }

    let treatments: Vec<usize> = (0..req.variants.len()).filter(|&i| i != control_idx).collect();
    let relative_ci = match req.relative_ci {
        RelativeCiName::Delta => RelativeCi::Delta,
        RelativeCiName::Scaled => RelativeCi::Scaled,
    };

    let all_summaries: Vec<Vec<Result<ArmSummary, UndefinedReason>>> = metrics
        .iter()
        .enumerate()
        .map(|(mi, m)| summaries(m, req.method, &mut annotations, mi))
        .collect();

    if req.method == MethodName::Bayesian {
        let results = metrics
            .iter()
            .zip(&all_summaries)
            .map(|(m, sums)| bayesian_metric(req, m, sums, control_idx, &treatments))
            .collect();
        return Ok(AnalysisResult { srm, results, annotations });
    }

    // Phase 1: alpha-independent tests for every metric × treatment.
    let mut methods = Vec::with_capacity(metrics.len());
    let mut pending = Vec::with_capacity(metrics.len() * treatments.len());
    for (mi, (m, sums)) in metrics.iter().zip(&all_summaries).enumerate() {
        let is_plain_binary = matches!(m.arms.first(), Some(ArmData::Binary(_, None)));
        let method = match req.method {
            MethodName::TTest => Method::TTest,
            MethodName::ChiSquared if is_plain_binary => Method::ChiSquared,
            MethodName::ChiSquared => {
                annotations.push(format!(
                    "metrics[{mi}]: chi-squared applies to binary metrics without covariate; used METHOD_Z_TEST"
                ));
                Method::ZTest
            }
            _ => Method::ZTest,
        };
        if method == Method::ChiSquared && m.has_margin {
            annotations.push(format!(
                "metrics[{mi}]: the pooled test assumes equal proportions; the shifted non-inferiority null uses the unpooled statistic"
            ));
        }
        methods.push(method);
        let spec = TestSpec { method, sides: m.sides, null_relative_shift: m.null_relative_shift };
        let control = sums.get(control_idx).copied().unwrap_or(Err(UndefinedReason::MissingData));
        for &ti in &treatments {
            let treatment = sums.get(ti).copied().unwrap_or(Err(UndefinedReason::MissingData));
            let test =
                control.and_then(|c| treatment.and_then(|t| DifferenceTest::new(&c, &t, &spec)));
            pending.push(Pending { metric_idx: mi, treatment_idx: ti, test });
        }
    }

    // Phase 2: corrections, then intervals at each comparison's adjusted alpha.
    let correction = match req.correction {
        CorrectionName::Bonferroni => Correction::Bonferroni,
        CorrectionName::Holm => Correction::Holm,
        CorrectionName::BenjaminiHochberg => Correction::BenjaminiHochberg,
        CorrectionName::None => Correction::None,
    };
    let ln_ps: Vec<Option<f64>> = pending
        .iter()
        .map(|p| p.test.as_ref().ok().map(|t| t.p_value.ln_p).filter(|l| !l.is_nan()))
        .collect();
    let alphas = adjusted_alphas(correction, req.alpha, &ln_ps);

    let mut results: Vec<MetricResult> = metrics
        .iter()
        .zip(&methods)
        .map(|(m, method)| MetricResult {
            id: m.spec.id.clone(),
            stats_settings: StatsSettings {
                method: match (&plan, method) {
                    (Some(SequentialPlan::Group { .. }), _) => "METHOD_GROUP_SEQUENTIAL",
                    (Some(SequentialPlan::AlwaysValid { .. }), _) => "METHOD_ALWAYS_VALID",
                    (None, Method::ZTest) => "METHOD_Z_TEST",
                    (None, Method::TTest) => "METHOD_T_TEST",
                    (None, Method::ChiSquared) => "METHOD_CHI_SQUARED",
                },
                alpha: req.alpha,
                adjusted_alpha: req.alpha,
                correction: correction_label(req.correction),
            },
            comparisons: Vec::with_capacity(treatments.len()),
            treatment_results: Vec::new(),
            result: MetricOutcome {
                status: MetricStatus { status: Status::Undefined, metric_type: metric_type(m) },
            },
        })
        .collect();

    let mut bounds_cache = BoundsCache::default();
    for (p, &alpha) in pending.iter().zip(&alphas) {
        let (Some(m), Some(out), Some(sums)) = (
            metrics.get(p.metric_idx),
            results.get_mut(p.metric_idx),
            all_summaries.get(p.metric_idx),
        ) else {
            continue;
        };
        let look = looks.get(p.metric_idx).and_then(Option::as_ref);
        let control = sums.get(control_idx).and_then(|s| s.as_ref().ok());
        let treatment = sums.get(p.treatment_idx).and_then(|s| s.as_ref().ok());
        let mut row = ComparisonResult {
            treatment: name_of(req, p.treatment_idx),
            control: req.control.clone(),
            control_mean: control.and_then(|c| finite(c.mean)),
            treatment_mean: treatment.and_then(|t| finite(t.mean)),
            absolute: IntervalResult::default(),
            relative: IntervalResult::default(),
            statistic: None,
            dof: None,
            p_value: None,
            log10_p_value: None,
            adjusted_alpha: alpha,
            status: Status::Undefined,
            powered_effect: None,
            required_sample_size: None,
            achieved_power: None,
            undefined_reason: None,
            sequential: None,
        };
        match &p.test {
            Err(reason) => row.undefined_reason = Some(reason.to_string()),
            Ok(test) => {
                let (c, p_value) = match &plan {
                    None => (test.at_alpha(alpha, relative_ci), test.p_value),
                    Some(plan) => {
                        let bound =
                            sequential_bound(plan, look, m, test, alpha, &mut bounds_cache)?;
                        row.adjusted_alpha = bound.nominal_alpha;
                        row.sequential = Some(bound.result);
                        let c = test.at_critical(bound.critical, bound.nominal_alpha, relative_ci);
                        (c, bound.p_value.unwrap_or(test.p_value))
                    }
                };
                row.absolute = IntervalResult::from(&c.absolute);
                match &c.relative {
                    Ok(r) => row.relative = IntervalResult::from(r),
                    Err(reason) => row.undefined_reason = Some(reason.to_string()),
                }
                row.statistic = finite(test.statistic);
                row.dof = test.dof.and_then(finite);
                row.p_value = finite(p_value.p);
                row.log10_p_value = finite(p_value.log10_p());
                row.status = status_for(&c, m);
                let (powered, required, achieved) =
                    power_numbers(m, &test.control, &test.treatment, alpha, req.power);
                match powered {
                    Ok(v) => row.powered_effect = finite(v),
                    Err(reason) => {
                        row.undefined_reason.get_or_insert_with(|| reason.to_string());
                    }
                }
                row.required_sample_size = required.map(f64::ceil);
                row.achieved_power = achieved;
            }
        }
        out.stats_settings.adjusted_alpha =
            out.stats_settings.adjusted_alpha.min(row.adjusted_alpha);
        out.comparisons.push(row);
    }

    for ((out, m), sums) in results.iter_mut().zip(&metrics).zip(&all_summaries) {
        let statuses: Vec<Status> = out.comparisons.iter().map(|c| c.status).collect();
        out.result.status.status = overall_status(&statuses, m);
        out.treatment_results = req
            .variants
            .iter()
            .enumerate()
            .map(|(vi, v)| TreatmentResult {
                treatment_id: v.name.clone(),
                mean: sums.get(vi).and_then(|s| s.as_ref().ok()).and_then(|s| finite(s.mean)),
                credible_interval: None,
                p_best: None,
                p_beat_control: None,
                expected_loss: None,
                relative_differences: Vec::new(),
                units: m.arms.get(vi).map_or(0, ArmData::n),
            })
            .collect();
    }
    Ok(AnalysisResult { srm, results, annotations })
}

// ---------------------------------------------------------------------------------------------
// Sequential testing

/// The request's `sequential`, checked.
enum SequentialPlan {
    Group { final_expected: f64, looks: Vec<f64>, spending: Spending },
    AlwaysValid { tuning: f64 },
}

fn method_name(m: MethodName) -> &'static str {
    match m {
        MethodName::ZTest => "z-test",
        MethodName::TTest => "t-test",
        MethodName::ChiSquared => "chi-squared",
        MethodName::Bayesian => "bayesian",
    }
}

fn sequential_plan(req: &AnalysisRequest) -> Result<Option<SequentialPlan>, StatsError> {
    let Some(spec) = &req.sequential else { return Ok(None) };
    if req.method != MethodName::ZTest {
        return Err(StatsError::invalid(
            "method",
            format!(
                "sequential tests use the z statistic; expected \"z-test\", got {:?}",
                method_name(req.method)
            ),
        ));
    }
    if !matches!(req.correction, CorrectionName::Bonferroni | CorrectionName::None) {
        return Err(StatsError::invalid(
            "correction",
            format!(
                "sequential tests take bonferroni or none, got {:?}",
                correction_label(req.correction)
            ),
        ));
    }
    let plan = match spec {
        SequentialSpec::GroupSequential { final_expected_sample_size, looks, spending } => {
            let looks: Vec<f64> = looks.iter().map(|n| n.0 as f64).collect();
            let final_expected = final_expected_sample_size.0 as f64;
            // Checks order and size now; the current look is added per metric.
            sequential::information_fractions(&looks, final_expected)
                .map_err(|e| e.at("sequential"))?;
            if looks.len() >= sequential::MAX_LOOKS {
                return Err(StatsError::invalid(
                    "sequential.looks",
                    format!("expected fewer than {} earlier looks", sequential::MAX_LOOKS),
                ));
            }
            let spending = match spending {
                Some(text) => text.parse::<Spending>().map_err(|e| e.at("sequential"))?,
                None => Spending::default(),
            };
            SequentialPlan::Group { final_expected, looks, spending }
        }
        SequentialSpec::AlwaysValid { tuning } => {
            AlwaysValid::new(0.05, Sides::TwoSided, *tuning).map_err(|e| e.at("sequential"))?;
            SequentialPlan::AlwaysValid { tuning: *tuning }
        }
    };
    Ok(Some(plan))
}

/// The information fractions of a metric's looks, the current one (all its units) last;
/// `None` for a metric without units, whose comparisons are undefined anyway.
fn metric_look(
    m: &Metric<'_>,
    mi: usize,
    looks: &[f64],
    final_expected: f64,
    annotations: &mut Vec<String>,
) -> Result<Option<Vec<f64>>, StatsError> {
    let current: f64 = m.arms.iter().map(|a| a.n() as f64).sum();
    if current == 0.0 {
        return Ok(None);
    }
    if let Some((j, &last)) = looks.iter().enumerate().next_back()
        && current <= last
    {
        return Err(StatsError::invalid(
            format!("metrics[{mi}].data"),
            format!(
                "expected more units than the last look (sequential.looks[{j}] = {last}), got {current}"
            ),
        ));
    }
    if current >= final_expected {
        annotations.push(format!(
            "metrics[{mi}]: {current} units reach finalExpectedSampleSize {final_expected}; this look is the final analysis"
        ));
    }
    let mut sizes = looks.to_vec();
    sizes.push(current);
    sequential::information_fractions(&sizes, final_expected)
        .map(Some)
        .map_err(|e| e.at("sequential"))
}

/// Group-sequential bounds already computed in this request: metrics with the same looks and
/// level share them.
#[derive(Default)]
struct BoundsCache {
    entries: Vec<(Vec<f64>, GroupSequentialDesign, sequential::Bounds)>,
}

impl BoundsCache {
    fn get(
        &mut self,
        fractions: &[f64],
        design: GroupSequentialDesign,
    ) -> Result<&sequential::Bounds, StatsError> {
        let found = self.entries.iter().position(|(f, d, _)| f == fractions && *d == design);
        let idx = match found {
            Some(idx) => idx,
            None => {
                let bounds = sequential::efficacy_bounds(fractions, &design)?;
                self.entries.push((fractions.to_vec(), design, bounds));
                self.entries.len() - 1
            }
        };
        self.entries
            .get(idx)
            .map(|(_, _, b)| b)
            .ok_or_else(|| StatsError::invalid("sequential", "internal: bounds cache miss"))
    }
}

/// The sequential critical value of one comparison and what goes into its result.
struct SequentialBound {
    critical: f64,
    nominal_alpha: f64,
    p_value: Option<crate::special::Tail>,
    result: SequentialResult,
}

/// Whether the z statistic is beyond `critical` in the tested direction.
fn crossed(test: &DifferenceTest, critical: f64) -> bool {
    let z = test.statistic;
    match test.spec.sides {
        Sides::TwoSided => z.abs() >= critical,
        Sides::Greater => z >= critical,
        Sides::Less => -z >= critical,
    }
}

fn sequential_bound(
    plan: &SequentialPlan,
    fractions: Option<&Vec<f64>>,
    m: &Metric<'_>,
    test: &DifferenceTest,
    alpha: f64,
    cache: &mut BoundsCache,
) -> Result<SequentialBound, StatsError> {
    match plan {
        SequentialPlan::Group { spending, .. } => {
            // A defined test has units, so its metric has looks; the fallback, one final look,
            // is the fixed-horizon test.
            debug_assert!(fractions.is_some(), "a defined comparison has a look");
            let fractions = fractions.map(Vec::as_slice).unwrap_or(&[1.0]);
            let design = GroupSequentialDesign { alpha, sides: m.sides, spending: *spending };
            let bounds = cache.get(fractions, design)?;
            let critical = bounds.z_bounds.last().copied().unwrap_or(f64::INFINITY);
            let t = fractions.last().copied().unwrap_or(1.0);
            let decision = if crossed(test, critical) {
                SequentialDecision::Reject
            } else if t >= 1.0 {
                SequentialDecision::Stop
            } else {
                SequentialDecision::Continue
            };
            Ok(SequentialBound {
                critical,
                nominal_alpha: bounds.adjusted_alpha.last().copied().unwrap_or(0.0),
                p_value: None,
                result: SequentialResult {
                    look: Some(fractions.len()),
                    information_fraction: Some(t),
                    cumulative_alpha_spent: bounds.cumulative_alpha_spent.last().copied(),
                    z_bound: finite(critical),
                    decision,
                },
            })
        }
        SequentialPlan::AlwaysValid { tuning } => {
            let cs = AlwaysValid::new(alpha, m.sides, *tuning)?;
            let n = test.control.n + test.treatment.n;
            let critical = cs.critical(n);
            let decision = if crossed(test, critical) {
                SequentialDecision::Reject
            } else {
                SequentialDecision::Continue
            };
            Ok(SequentialBound {
                critical,
                nominal_alpha: alpha,
                p_value: Some(cs.p_value(test.statistic, n)),
                result: SequentialResult {
                    look: None,
                    information_fraction: None,
                    cumulative_alpha_spent: None,
                    z_bound: finite(critical),
                    decision,
                },
            })
        }
    }
}

fn name_of(req: &AnalysisRequest, idx: usize) -> String {
    req.variants.get(idx).map(|v| v.name.clone()).unwrap_or_default()
}

fn metric_type(m: &Metric<'_>) -> &'static str {
    match m.spec.kind {
        MetricKind::Success => "METRIC_TYPE_SUCCESS",
        MetricKind::Guardrail => "METRIC_TYPE_GUARDRAIL",
    }
}

/// Bayesian analysis of one metric: Beta–Binomial for binary metrics, normal otherwise.
fn bayesian_metric(
    req: &AnalysisRequest,
    m: &Metric<'_>,
    sums: &[Result<ArmSummary, UndefinedReason>],
    control_idx: usize,
    treatments: &[usize],
) -> MetricResult {
    let alpha = req.alpha;
    let increase_good = m.spec.preferred_direction == Direction::Increase;
    let binary: Option<Vec<BinaryStats>> = m
        .arms
        .iter()
        .map(|a| if let ArmData::Binary(s, _) = a { Some(*s) } else { None })
        .collect();
    let mut comparisons = Vec::with_capacity(treatments.len());
    let mut treatment_results = Vec::with_capacity(m.arms.len());

    let blank = |ti: usize| ComparisonResult {
        treatment: name_of(req, ti),
        control: req.control.clone(),
        control_mean: None,
        treatment_mean: None,
        absolute: IntervalResult::default(),
        relative: IntervalResult::default(),
        statistic: None,
        dof: None,
        p_value: None,
        log10_p_value: None,
        adjusted_alpha: alpha,
        status: Status::Undefined,
        powered_effect: None,
        required_sample_size: None,
        achieved_power: None,
        undefined_reason: None,
        sequential: None,
    };

    if let Some(counts) = binary {
        let prior = match req.prior {
            Some(PriorSpec::Beta { alpha, beta }) => BetaPrior { alpha, beta },
            _ => BetaPrior::default(),
        };
        let posts: Vec<BetaPosterior> =
            counts.iter().map(|s| BetaPosterior::from_counts(&prior, s)).collect();
        let p_best = bayes::prob_best(&posts, increase_good);
        let control =
            posts.get(control_idx).copied().unwrap_or(BetaPosterior { alpha: 1.0, beta: 1.0 });
        for (vi, post) in posts.iter().enumerate() {
            let (lo, hi) = post.interval(alpha);
            let mut tr = TreatmentResult {
                treatment_id: name_of(req, vi),
                mean: finite(post.mean()),
                credible_interval: finite_interval(lo, hi),
                p_best: p_best.get(vi).copied().and_then(finite),
                p_beat_control: None,
                expected_loss: None,
                relative_differences: Vec::new(),
                units: counts.get(vi).map_or(0, BinaryStats::n),
            };
            if vi != control_idx {
                let p_greater = bayes::prob_greater(post, &control);
                let (rl, rh) = bayes::relative_difference_interval(post, &control, alpha);
                let (dl, dh) = bayes::difference_interval(post, &control, alpha);
                let loss = if increase_good {
                    bayes::expected_loss(post, &control)
                } else {
                    bayes::expected_loss(&control, post)
                };
                tr.p_beat_control = finite(if increase_good { p_greater } else { 1.0 - p_greater });
                tr.expected_loss = finite(loss);
                tr.relative_differences.extend(finite_interval(rl, rh).map(|ci| {
                    RelativeDifference {
                        from_treatment_id: req.control.clone(),
                        lower: ci.lower,
                        upper: ci.upper,
                    }
                }));
                let mut row = blank(vi);
                row.control_mean = finite(control.mean());
                row.treatment_mean = finite(post.mean());
                let diff = post.mean() - control.mean();
                let sd = (post.variance() + control.variance()).sqrt();
                let (abs_ci, rel_ci) = (finite_interval(dl, dh), finite_interval(rl, rh));
                if abs_ci.is_none() || rel_ci.is_none() {
                    row.undefined_reason = Some(UndefinedReason::Unresolved.to_string());
                }
                row.absolute = IntervalResult {
                    estimate: finite(diff),
                    std_err: finite(sd),
                    ci_lower: abs_ci.map(|ci| ci.lower),
                    ci_upper: abs_ci.map(|ci| ci.upper),
                };
                let cm = control.mean();
                row.relative = IntervalResult {
                    estimate: finite(diff / cm),
                    std_err: finite(
                        (post.variance() / (cm * cm)
                            + post.mean().powi(2) * control.variance() / cm.powi(4))
                        .sqrt(),
                    ),
                    ci_lower: rel_ci.map(|ci| ci.lower),
                    ci_upper: rel_ci.map(|ci| ci.upper),
                };
                row.status = match abs_ci {
                    Some(ci) => bayes_status(m, Some(ci.lower), Some(ci.upper), cm),
                    None => Status::Undefined,
                };
                comparisons.push(row);
            }
            treatment_results.push(tr);
        }
    } else {
        let prior = match req.prior {
            Some(PriorSpec::Normal { mean, stddev }) => EffectPrior::Normal { mean, sd: stddev },
            _ => EffectPrior::Flat,
        };
        let arm_posts: Vec<Option<NormalPosterior>> = sums
            .iter()
            .map(|s| {
                s.as_ref()
                    .ok()
                    .map(|a| NormalPosterior { mean: a.mean, sd: a.variance_of_mean().sqrt() })
            })
            .collect();
        let all_defined: Option<Vec<NormalPosterior>> =
            arm_posts.iter().map(|p| p.filter(|q| q.sd > 0.0 && q.sd.is_finite())).collect();
        let p_best = all_defined.map(|posts| bayes::prob_best(&posts, increase_good));
        let control = sums.get(control_idx).and_then(|s| s.as_ref().ok()).copied();
        for (vi, post) in arm_posts.iter().enumerate() {
            let mut tr = TreatmentResult {
                treatment_id: name_of(req, vi),
                mean: post.and_then(|p| finite(p.mean)),
                credible_interval: post.filter(|p| p.sd > 0.0).and_then(|p| {
                    let (lower, upper) = p.interval(alpha);
                    finite_interval(lower, upper)
                }),
                p_best: p_best.as_ref().and_then(|v| v.get(vi).copied()).and_then(finite),
                p_beat_control: None,
                expected_loss: None,
                relative_differences: Vec::new(),
                units: m.arms.get(vi).map_or(0, ArmData::n),
            };
            if vi == control_idx {
                treatment_results.push(tr);
                continue;
            }
            let mut row = blank(vi);
            let treatment = sums.get(vi).and_then(|s| s.as_ref().ok()).copied();
            match (control, treatment) {
                (Some(c), Some(t)) => {
                    row.control_mean = finite(c.mean);
                    row.treatment_mean = finite(t.mean);
                    let se = (c.variance_of_mean() + t.variance_of_mean()).sqrt();
                    let cm = c.mean.abs();
                    if se.is_nan() || se <= 0.0 {
                        row.undefined_reason = Some(UndefinedReason::ZeroStandardError.to_string());
                    } else if cm == 0.0 {
                        row.undefined_reason = Some(UndefinedReason::ZeroControlMean.to_string());
                    } else {
                        let rel_se = (t.variance_of_mean() / (cm * cm)
                            + t.mean * t.mean * c.variance_of_mean() / cm.powi(4))
                        .sqrt();
                        let rel = bayes::relative_effect_posterior(
                            (t.mean - c.mean) / cm,
                            rel_se,
                            &prior,
                        );
                        let (rl, rh) = rel.interval(alpha);
                        row.relative = IntervalResult {
                            estimate: finite(rel.mean),
                            std_err: finite(rel.sd),
                            ci_lower: finite(rl),
                            ci_upper: finite(rh),
                        };
                        let abs = NormalPosterior { mean: rel.mean * cm, sd: rel.sd * cm };
                        let (al, ah) = abs.interval(alpha);
                        row.absolute = IntervalResult {
                            estimate: finite(abs.mean),
                            std_err: finite(abs.sd),
                            ci_lower: finite(al),
                            ci_upper: finite(ah),
                        };
                        row.status = bayes_status(m, Some(al), Some(ah), cm);
                        let oriented = if increase_good {
                            abs
                        } else {
                            NormalPosterior { mean: -abs.mean, sd: abs.sd }
                        };
                        tr.p_beat_control = finite(oriented.prob_positive());
                        tr.expected_loss = finite(oriented.expected_shortfall_below_zero());
                        tr.relative_differences.extend(finite_interval(rl, rh).map(|ci| {
                            RelativeDifference {
                                from_treatment_id: req.control.clone(),
                                lower: ci.lower,
                                upper: ci.upper,
                            }
                        }));
                    }
                }
                _ => {
                    let reason = sums
                        .get(control_idx)
                        .and_then(|s| s.err())
                        .or_else(|| sums.get(vi).and_then(|s| s.err()));
                    row.undefined_reason =
                        Some(reason.unwrap_or(UndefinedReason::MissingData).to_string());
                }
            }
            comparisons.push(row);
            treatment_results.push(tr);
        }
    }
    let statuses: Vec<Status> = comparisons.iter().map(|c| c.status).collect();
    MetricResult {
        id: m.spec.id.clone(),
        stats_settings: StatsSettings {
            method: method_label(MethodName::Bayesian),
            alpha,
            adjusted_alpha: alpha,
            correction: correction_label(CorrectionName::None),
        },
        comparisons,
        treatment_results,
        result: MetricOutcome {
            status: MetricStatus {
                status: overall_status(&statuses, m),
                metric_type: metric_type(m),
            },
        },
    }
}

/// Status from a credible interval of the absolute difference.
/// An interval whose ends are both finite and in order, or none: a posterior too wide or too
/// far out for `f64` (sums near 1e308, counts near 2^64) has no reportable interval, and the
/// contract's `lower` and `upper` are numbers, never NaN, infinite or reversed.
fn finite_interval(lower: f64, upper: f64) -> Option<CredibleInterval> {
    (lower.is_finite() && upper.is_finite() && lower <= upper)
        .then_some(CredibleInterval { lower, upper })
}

fn bayes_status(
    m: &Metric<'_>,
    lower: Option<f64>,
    upper: Option<f64>,
    control_abs_mean: f64,
) -> Status {
    let increase_good = m.spec.preferred_direction == Direction::Increase;
    if m.has_margin {
        let null = m.null_relative_shift * control_abs_mean;
        let (ni, inf) = if increase_good {
            (lower.is_some_and(|l| l > null), upper.is_some_and(|u| u < null))
        } else {
            (upper.is_some_and(|u| u < null), lower.is_some_and(|l| l > null))
        };
        return if ni {
            Status::NonInferior
        } else if inf {
            Status::Inferior
        } else {
            Status::Inconclusive
        };
    }
    interval_status(lower, upper, increase_good)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary_metric(id: &str, extra: &str, arms: &[(&str, u64, u64)]) -> String {
        let data: Vec<String> = arms
            .iter()
            .map(|(v, n, s)| format!(r#""{v}": {{"n": {n}, "successes": {s}}}"#))
            .collect();
        format!(r#"{{"id": "{id}", "type": "binary", {extra} "data": {{{}}}}}"#, data.join(", "))
    }

    /// Runs a request assembled from `settings` and `metrics`, returning the result as JSON.
    fn check(settings: &str, variants: &[&str], metrics: &[String]) -> serde_json::Value {
        let vs: Vec<String> =
            variants.iter().map(|v| format!(r#"{{"name": "{v}", "expectedShare": 1}}"#)).collect();
        let text = format!(
            r#"{{{settings} "control": "{}", "variants": [{}], "metrics": [{}]}}"#,
            variants[0],
            vs.join(", "),
            metrics.join(", ")
        );
        let req: AnalysisRequest = serde_json::from_str(&text).unwrap();
        serde_json::to_value(analyze(&req).unwrap()).unwrap()
    }

    fn error(text: &str) -> String {
        let req: AnalysisRequest = serde_json::from_str(text).unwrap();
        analyze(&req).unwrap_err().to_string()
    }

    #[test]
    fn holm_alphas_are_reported_per_comparison() {
        let out = check(
            r#""correction": "holm","#,
            &["c", "a", "b"],
            &[binary_metric(
                "m",
                "",
                &[("c", 10_000, 1000), ("a", 10_000, 1200), ("b", 10_000, 1010)],
            )],
        );
        let cmp = &out["results"][0]["comparisons"];
        assert_eq!(cmp[0]["adjustedAlpha"], 0.025);
        assert_eq!(cmp[1]["adjustedAlpha"], 0.05);
        assert_eq!(out["results"][0]["statsSettings"]["adjustedAlpha"], 0.025);
        assert_eq!(cmp[0]["status"], "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE");
        assert_eq!(
            out["results"][0]["result"]["status"]["status"],
            "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE"
        );
    }

    #[test]
    fn guardrail_margins_give_non_inferiority_statuses() {
        let guard = |s: u64| {
            binary_metric(
                "errors",
                r#""kind": "GUARDRAIL", "preferredDirection": "DECREASE", "nonInferiorityMargin": 0.1,"#,
                &[("c", 100_000, 10_000), ("t", 100_000, s)],
            )
        };
        let status = |s| {
            check("", &["c", "t"], &[guard(s)])["results"][0]["comparisons"][0]["status"].clone()
        };
        assert_eq!(status(10_000), "METRIC_RESULT_STATUS_NON_INFERIOR");
        assert_eq!(status(12_000), "METRIC_RESULT_STATUS_INFERIOR");
        assert_eq!(status(10_950), "METRIC_RESULT_STATUS_INCONCLUSIVE");
        let out = check("", &["c", "t"], &[guard(12_000)]);
        assert_eq!(
            out["results"][0]["comparisons"][0]["absolute"]["ciLower"],
            serde_json::Value::Null
        );
        assert_eq!(out["results"][0]["result"]["status"]["metricType"], "METRIC_TYPE_GUARDRAIL");
    }

    #[test]
    fn undefined_is_explicit() {
        let out =
            check("", &["c", "t"], &[binary_metric("m", "", &[("c", 100, 0), ("t", 100, 0)])]);
        let cmp = &out["results"][0]["comparisons"][0];
        assert_eq!(cmp["status"], "METRIC_RESULT_STATUS_UNDEFINED");
        assert_eq!(cmp["pValue"], serde_json::Value::Null);
        assert!(cmp["undefinedReason"].as_str().is_some_and(|r| r.contains("standard error")));
        // p = 1 in both arms is just as undefined; p = 0 vs p = 0.05 is not.
        let out =
            check("", &["c", "t"], &[binary_metric("m", "", &[("c", 100, 100), ("t", 100, 100)])]);
        assert_eq!(out["results"][0]["comparisons"][0]["status"], "METRIC_RESULT_STATUS_UNDEFINED");
        let out =
            check("", &["c", "t"], &[binary_metric("m", "", &[("c", 100, 5), ("t", 100, 0)])]);
        assert_eq!(
            out["results"][0]["comparisons"][0]["status"],
            "METRIC_RESULT_STATUS_SIGNIFICANT_NEGATIVE"
        );
    }

    #[test]
    fn extreme_posteriors_give_undefined_intervals_never_reversed_or_infinite() {
        // Found by the analyze_request fuzzer: counts near 2^64 sent the interval search
        // past f64 ([7.1e45, -1]), and an infinite posterior sd gave [-inf, inf].
        let out = check(
            r#""method": "bayesian","#,
            &["c", "t"],
            &[binary_metric("m", "", &[("c", u64::MAX, u64::MAX), ("t", (1 << 53) + 1, 98)])],
        );
        let cmp = &out["results"][0]["comparisons"][0];
        assert_eq!(cmp["status"], "METRIC_RESULT_STATUS_UNDEFINED");
        assert_eq!(cmp["absolute"]["ciLower"], serde_json::Value::Null);
        assert!(cmp["undefinedReason"].as_str().is_some_and(|r| r.contains("too extreme")));
        for t in out["results"][0]["treatmentResults"].as_array().unwrap() {
            for d in t["relativeDifferences"].as_array().unwrap() {
                assert!(d["lower"].as_f64().unwrap() <= d["upper"].as_f64().unwrap(), "{d}");
            }
            if let Some(ci) = t["credibleInterval"].as_object() {
                assert!(ci["lower"].as_f64().unwrap() <= ci["upper"].as_f64().unwrap(), "{t}");
            }
        }
        let huge = r#"{"id": "r", "type": "mean", "data": {
            "c": {"n": 2, "sum": 1e300, "sumSquares": 1e308},
            "t": {"n": 2, "sum": -1e300, "sumSquares": 1e308}}}"#;
        let out = check(r#""method": "bayesian","#, &["c", "t"], &[huge.to_owned()]);
        for t in out["results"][0]["treatmentResults"].as_array().unwrap() {
            let ci = &t["credibleInterval"];
            assert!(ci.is_null() || (ci["lower"].is_number() && ci["upper"].is_number()), "{t}");
        }
    }

    #[test]
    fn srm_flags_mismatched_allocation() {
        let out = check(
            "",
            &["c", "t"],
            &[binary_metric("m", "", &[("c", 51_000, 100), ("t", 49_000, 100)])],
        );
        assert_eq!(out["srm"]["mismatch"], true);
        assert_eq!(out["srm"]["df"], 1);
        assert!(!out["annotations"].as_array().unwrap().is_empty());
    }

    #[test]
    fn bayesian_treatment_results() {
        let out = check(
            r#""method": "bayesian","#,
            &["c", "a", "b"],
            &[binary_metric("m", "", &[("c", 1000, 100), ("a", 1000, 130), ("b", 1000, 90)])],
        );
        let tr = out["results"][0]["treatmentResults"].as_array().unwrap();
        let total: f64 = tr.iter().map(|t| t["pBest"].as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9);
        assert_eq!(tr[0]["pBeatControl"], serde_json::Value::Null);
        assert!(tr[1]["pBeatControl"].as_f64().unwrap() > 0.95);
        assert_eq!(tr[1]["relativeDifferences"][0]["fromTreatmentId"], "c");
        assert_eq!(out["results"][0]["statsSettings"]["method"], "METHOD_BAYESIAN");
    }

    fn comparison(out: &serde_json::Value) -> &serde_json::Value {
        &out["results"][0]["comparisons"][0]
    }

    #[test]
    fn group_sequential_uses_the_current_bound() {
        // 6,000 units now after looks at 2,000 and 4,000 of a planned 10,000: t = 0.2, 0.4, 0.6.
        let settings = r#""sequential": {"kind": "group-sequential", "finalExpectedSampleSize": 10000, "looks": [2000, 4000]},"#;
        // z ≈ 2.2: significant at a fixed horizon, not against the bound at the third look.
        let metric = binary_metric("m", "", &[("c", 3000, 300), ("t", 3000, 352)]);
        let fixed = check("", &["c", "t"], std::slice::from_ref(&metric));
        assert_eq!(comparison(&fixed)["status"], "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE");
        assert!(comparison(&fixed).get("sequential").is_none());
        let out = check(settings, &["c", "t"], &[metric]);
        assert_eq!(out["results"][0]["statsSettings"]["method"], "METHOD_GROUP_SEQUENTIAL");
        let cmp = comparison(&out);
        let bounds =
            sequential::efficacy_bounds(&[0.2, 0.4, 0.6], &GroupSequentialDesign::default())
                .unwrap();
        let bound = bounds.z_bounds[2];
        assert_eq!(cmp["sequential"]["look"], 3);
        assert_eq!(cmp["sequential"]["informationFraction"], 0.6);
        assert_eq!(cmp["sequential"]["zBound"].as_f64(), Some(bound));
        assert_eq!(cmp["sequential"]["decision"], "CONTINUE");
        assert_eq!(cmp["adjustedAlpha"].as_f64(), Some(bounds.adjusted_alpha[2]));
        assert_eq!(cmp["status"], "METRIC_RESULT_STATUS_NOT_SIGNIFICANT");
        let z = cmp["statistic"].as_f64().unwrap();
        assert!(z > 1.96 && z < bound, "z {z}, bound {bound}");
        // The interval is the estimate ± bound · SE.
        let abs = &cmp["absolute"];
        let half = abs["ciUpper"].as_f64().unwrap() - abs["estimate"].as_f64().unwrap();
        assert!((half / abs["stdErr"].as_f64().unwrap() - bound).abs() < 1e-9);
        // A stronger effect crosses.
        let strong = binary_metric("m", "", &[("c", 3000, 300), ("t", 3000, 390)]);
        let out = check(settings, &["c", "t"], &[strong]);
        assert_eq!(comparison(&out)["sequential"]["decision"], "REJECT");
        assert_eq!(comparison(&out)["status"], "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE");
    }

    #[test]
    fn group_sequential_final_look_overrun_and_bonferroni() {
        let settings = r#""sequential": {"kind": "group-sequential", "finalExpectedSampleSize": 5000, "looks": [2000], "spending": "obrien-fleming"},"#;
        let metric =
            binary_metric("m", "", &[("c", 3000, 300), ("a", 3000, 310), ("b", 3000, 305)]);
        let out = check(settings, &["c", "a", "b"], &[metric]);
        let cmp = comparison(&out);
        // 9,000 units overrun 5,000: t = 2000/9000 and 1; two treatments: alpha 0.025 each.
        let design = GroupSequentialDesign {
            alpha: 0.025,
            sides: Sides::TwoSided,
            spending: Spending::OBrienFleming,
        };
        let bounds = sequential::efficacy_bounds(&[2000.0 / 9000.0, 1.0], &design).unwrap();
        assert_eq!(cmp["sequential"]["zBound"].as_f64(), Some(bounds.z_bounds[1]));
        assert_eq!(cmp["sequential"]["informationFraction"], 1.0);
        assert_eq!(cmp["sequential"]["decision"], "STOP");
        assert_eq!(cmp["sequential"]["cumulativeAlphaSpent"], 0.025);
        let notes = out["annotations"].as_array().unwrap();
        assert!(notes.iter().any(|n| n.as_str().is_some_and(|n| n.contains("final analysis"))));
    }

    #[test]
    fn always_valid_reports_the_sequence_and_its_p_value() {
        let settings = r#""sequential": {"kind": "always-valid"},"#;
        let metric = binary_metric("m", "", &[("c", 10_000, 1000), ("t", 10_000, 1100)]);
        let out = check(settings, &["c", "t"], &[metric]);
        assert_eq!(out["results"][0]["statsSettings"]["method"], "METHOD_ALWAYS_VALID");
        let cmp = comparison(&out);
        let cs = AlwaysValid::new(0.05, Sides::TwoSided, 5000.0).unwrap();
        let z = cmp["statistic"].as_f64().unwrap();
        assert_eq!(cmp["sequential"]["zBound"].as_f64(), Some(cs.critical(20_000.0)));
        assert_eq!(cmp["pValue"].as_f64(), Some(cs.p_value(z, 20_000.0).p));
        assert_eq!(cmp["adjustedAlpha"], 0.05);
        // z ≈ 2.3 is significant at a fixed horizon but not always-valid at 20,000 units.
        assert!(z > 1.96 && z < cs.critical(20_000.0));
        assert_eq!(cmp["status"], "METRIC_RESULT_STATUS_NOT_SIGNIFICANT");
        assert_eq!(cmp["sequential"]["decision"], "CONTINUE");
        assert!(cmp["pValue"].as_f64().unwrap() > 0.05);
        // Guardrail with a margin: one-sided sequence against the shifted null.
        let guard = binary_metric(
            "g",
            r#""kind": "GUARDRAIL", "preferredDirection": "DECREASE", "nonInferiorityMargin": 0.1,"#,
            &[("c", 100_000, 10_000), ("t", 100_000, 10_000)],
        );
        let out = check(
            r#""sequential": {"kind": "always-valid", "tuning": 100000},"#,
            &["c", "t"],
            &[guard],
        );
        assert_eq!(comparison(&out)["status"], "METRIC_RESULT_STATUS_NON_INFERIOR");
        assert_eq!(comparison(&out)["sequential"]["decision"], "REJECT");
        assert_eq!(comparison(&out)["absolute"]["ciLower"], serde_json::Value::Null);
    }

    #[test]
    fn sequential_input_errors_name_the_path() {
        let base = r#""control": "c", "variants": [{"name": "c", "expectedShare": 1}, {"name": "t", "expectedShare": 1}], "metrics": [{"id": "m", "type": "binary", "data": {"c": {"n": 100, "successes": 10}, "t": {"n": 100, "successes": 12}}}]"#;
        let gs = |extra: &str, seq: &str| {
            error(&format!(
                r#"{{{extra} "sequential": {{"kind": "group-sequential", "finalExpectedSampleSize": 1000{seq}}}, {base}}}"#
            ))
        };
        assert!(
            gs(r#""method": "t-test","#, "")
                .starts_with("method: sequential tests use the z statistic")
        );
        assert!(gs(r#""correction": "holm","#, "").starts_with("correction:"));
        assert!(gs("", r#", "looks": [50, 50]"#).starts_with("sequential.looks[1]:"));
        assert!(
            gs("", r#", "looks": [300]"#)
                .starts_with("metrics[0].data: expected more units than the last look")
        );
        assert!(gs("", r#", "spending": "linear""#).starts_with("sequential.spending:"));
        assert!(gs("", r#", "spending": "power:-1""#).starts_with("sequential.spending:"));
        let e =
            error(&format!(r#"{{"sequential": {{"kind": "always-valid", "tuning": 0}}, {base}}}"#));
        assert!(e.starts_with("sequential.tuning:"), "{e}");
        let unknown: Result<AnalysisRequest, _> = serde_json::from_str(&format!(
            r#"{{"sequential": {{"kind": "always-valid", "window": 3}}, {base}}}"#
        ));
        assert!(unknown.is_err());
    }

    #[test]
    fn invalid_input_names_the_path() {
        let base =
            r#""variants": [{"name": "c", "expectedShare": 1}, {"name": "t", "expectedShare": 1}]"#;
        let e = error(&format!(
            r#"{{"control": "c", {base}, "metrics": [{{"id": "m", "type": "mean", "data": {{"c": {{"n": 2, "sum": 1, "sumSquares": 1}}, "t": {{"n": 2, "successes": 1}}}}}}]}}"#
        ));
        assert_eq!(e, "metrics[0].data.t.successes: not allowed for a mean metric");
        let e = error(&format!(r#"{{"control": "x", {base}, "metrics": []}}"#));
        assert!(e.starts_with("control: expected one of the variants"), "{e}");
        let e = error(&format!(r#"{{"alpha": 1.5, "control": "c", {base}, "metrics": []}}"#));
        assert!(e.starts_with("alpha:"), "{e}");
        let e = error(&format!(
            r#"{{"control": "c", {base}, "metrics": [{}]}}"#,
            binary_metric(
                "m",
                r#""nonInferiorityMargin": 0.1, "sides": "less","#,
                &[("c", 10, 1), ("t", 10, 1)]
            )
        ));
        assert!(e.starts_with("metrics[0].sides:"), "{e}");
    }
}
