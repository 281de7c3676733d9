//! The result: the `flagstone analyze` output, serialised (camelCase on the wire).

use serde::Serialize;

use crate::frequentist::Interval;
use crate::numeric::finite;

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
    /// Why the check is undefined (no units, or fewer than two variants with a positive
    /// expected share).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undefined_reason: Option<String>,
    /// Why the allocation mismatches without a test: units in a variant whose expected share
    /// is 0 (then `chi2` is `null` and `pValue` 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mismatch_reason: Option<String>,
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

impl ComparisonResult {
    /// A comparison with nothing computed yet: every number `null`, status undefined, at
    /// `adjusted_alpha`.
    pub(super) fn undefined(treatment: String, control: String, adjusted_alpha: f64) -> Self {
        ComparisonResult {
            treatment,
            control,
            control_mean: None,
            treatment_mean: None,
            absolute: IntervalResult::default(),
            relative: IntervalResult::default(),
            statistic: None,
            dof: None,
            p_value: None,
            log10_p_value: None,
            adjusted_alpha,
            status: Status::Undefined,
            powered_effect: None,
            required_sample_size: None,
            achieved_power: None,
            undefined_reason: None,
            sequential: None,
        }
    }
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
