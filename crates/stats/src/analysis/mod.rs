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

mod bayesian;
mod frequentist;
mod request;
mod result;
mod sequential;
mod validate;

pub use request::{
    AnalysisRequest, Count, CovariateSpec, Direction, MetricKind, MetricSpec, MetricType,
    MomentsSpec, PriorSpec, SequentialSpec, StatsSpec, VariantSpec,
};
#[doc(hidden)]
pub use result::{
    AnalysisResult, ComparisonResult, CredibleInterval, IntervalResult, MetricOutcome,
    MetricResult, MetricStatus, RelativeDifference, SequentialDecision, SequentialResult,
    SrmResult, StatsSettings, Status, TreatmentResult,
};

use crate::error::{StatsError, UndefinedReason};
use crate::frequentist::Method;
use crate::numeric::finite;
use crate::srm::{self, SrmCheck};
use crate::sufficient::{ArmSummary, CupedArm, cuped};

use sequential::{SequentialPlan, metric_looks, sequential_plan};
use validate::{ArmData, Metric, validate};

/// A validated request and what the analysis of every metric shares.
struct Analysis<'r> {
    req: &'r AnalysisRequest,
    /// In request order.
    metrics: Vec<Metric<'r>>,
    /// Per metric, one summary per arm in `variants` order.
    summaries: Vec<Vec<Result<ArmSummary, UndefinedReason>>>,
    /// Index of the control variant.
    control_idx: usize,
    /// Indices of the treatment variants, in `variants` order.
    treatments: Vec<usize>,
}

impl Analysis<'_> {
    /// The name of variant `idx`.
    fn name_of(&self, idx: usize) -> String {
        self.req.variants.get(idx).map(|v| v.name.clone()).unwrap_or_default()
    }
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
    // Annotations come in this order: sequential looks, SRM, CUPED, then the tests.
    let mut annotations = Vec::new();
    let looks = metric_looks(plan.as_ref(), &metrics, &mut annotations)?;
    let srm = srm_check(req, &metrics, &mut annotations)?;
    let summaries = metrics
        .iter()
        .enumerate()
        .map(|(mi, m)| summaries(m, req.method, &mut annotations, mi))
        .collect();
    let treatments = (0..req.variants.len()).filter(|&i| i != control_idx).collect();
    let analysis = Analysis { req, metrics, summaries, control_idx, treatments };
    let results = if req.method == Method::Bayesian {
        bayesian::results(&analysis)
    } else {
        frequentist::results(&analysis, plan.as_ref(), &looks, &mut annotations)?
    };
    Ok(AnalysisResult { srm, results, annotations })
}

/// The sample-ratio mismatch check on assigned units (or the largest `n` seen for a variant
/// without `units`), with an annotation when it flags a mismatch.
fn srm_check(
    req: &AnalysisRequest,
    metrics: &[Metric<'_>],
    annotations: &mut Vec<String>,
) -> Result<SrmResult, StatsError> {
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
    let srm = match srm::srm_allocation(&observed, &shares).map_err(|e| e.at("variants"))? {
        SrmCheck::Tested(s) => SrmResult {
            chi2: finite(s.chi2),
            df: Some(s.df),
            p_value: finite(s.p_value),
            mismatch: s.mismatch,
            undefined_reason: None,
            mismatch_reason: None,
        },
        SrmCheck::UnitsInZeroShare { variant_idx, units, df } => SrmResult {
            chi2: None,
            df: Some(df),
            p_value: Some(0.0),
            mismatch: true,
            undefined_reason: None,
            mismatch_reason: Some(format!(
                "variants[{variant_idx}] ({:?}) has {units} units but an expected share of 0",
                req.variants.get(variant_idx).map_or("", |v| v.name.as_str())
            )),
        },
        SrmCheck::Undefined(reason) => SrmResult {
            chi2: None,
            df: None,
            p_value: None,
            mismatch: false,
            undefined_reason: Some(reason.to_string()),
            mismatch_reason: None,
        },
    };
    if srm.mismatch {
        annotations.push("srm: observed units differ from the expected shares (p < 0.001); results may be biased".to_owned());
    }
    Ok(srm)
}

/// The `statsSettings.method` label: the sequential procedure when there is one, else the
/// method.
fn method_label(plan: Option<&SequentialPlan>, method: Method) -> &'static str {
    match (plan, method) {
        (Some(SequentialPlan::Group { .. }), _) => "METHOD_GROUP_SEQUENTIAL",
        (Some(SequentialPlan::AlwaysValid { .. }), _) => "METHOD_ALWAYS_VALID",
        (None, Method::ZTest) => "METHOD_Z_TEST",
        (None, Method::TTest) => "METHOD_T_TEST",
        (None, Method::ChiSquared) => "METHOD_CHI_SQUARED",
        (None, Method::Bayesian) => "METHOD_BAYESIAN",
    }
}

/// Per-arm summaries for a metric (CUPED applied when every arm has a covariate).
fn summaries(
    metric: &Metric<'_>,
    method: Method,
    annotations: &mut Vec<String>,
    mi: usize,
) -> Vec<Result<ArmSummary, UndefinedReason>> {
    let has_cov = metric.arms.first().is_some_and(|a| a.covariate().is_some());
    if has_cov && method != Method::Bayesian {
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

/// Status from an interval of the difference against 0: significant when it excludes 0,
/// positive when on the preferred side.
fn interval_status(lower: Option<f64>, upper: Option<f64>, increase_good: bool) -> Status {
    let up = lower.is_some_and(|l| l > 0.0);
    let down = upper.is_some_and(|u| u < 0.0);
    match (up, down, increase_good) {
        (true, _, true) | (_, true, false) => Status::SignificantPositive,
        (true, _, false) | (_, true, true) => Status::SignificantNegative,
        _ => Status::NotSignificant,
    }
}

/// A metric's status from its comparisons' (see the module docs for the order).
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

/// The `metricType` label of a metric's kind.
fn metric_type(m: &Metric<'_>) -> &'static str {
    match m.spec.kind {
        MetricKind::Success => "METRIC_TYPE_SUCCESS",
        MetricKind::Guardrail => "METRIC_TYPE_GUARDRAIL",
    }
}

#[cfg(test)]
mod tests;
