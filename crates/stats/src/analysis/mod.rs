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
pub use request::{CorrectionName, MethodName, RelativeCiName, SidesName};
pub use result::{
    AnalysisResult, ComparisonResult, CredibleInterval, IntervalResult, MetricOutcome,
    MetricResult, MetricStatus, RelativeDifference, SequentialDecision, SequentialResult,
    SrmResult, StatsSettings, Status, TreatmentResult,
};

use crate::correction::adjusted_alphas;
use crate::error::{StatsError, UndefinedReason};
use crate::frequentist::{DifferenceTest, Method, TestSpec};
use crate::numeric::finite;
use crate::srm;
use crate::sufficient::{ArmSummary, CupedArm, cuped};

use bayesian::bayesian_metric;
use frequentist::{Pending, power_numbers, status_for};
use sequential::{BoundsCache, SequentialPlan, metric_look, sequential_bound, sequential_plan};
use validate::{ArmData, Metric, validate};

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
    let relative_ci = req.relative_ci;

    let all_summaries: Vec<Vec<Result<ArmSummary, UndefinedReason>>> = metrics
        .iter()
        .enumerate()
        .map(|(mi, m)| summaries(m, req.method, &mut annotations, mi))
        .collect();

    if req.method == Method::Bayesian {
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
            Method::TTest => Method::TTest,
            Method::ChiSquared if is_plain_binary => Method::ChiSquared,
            Method::ChiSquared => {
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
    let correction = req.correction;
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
                method: method_label(plan.as_ref(), *method),
                alpha: req.alpha,
                adjusted_alpha: req.alpha,
                correction: req.correction.as_str(),
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

fn name_of(req: &AnalysisRequest, idx: usize) -> String {
    req.variants.get(idx).map(|v| v.name.clone()).unwrap_or_default()
}

fn metric_type(m: &Metric<'_>) -> &'static str {
    match m.spec.kind {
        MetricKind::Success => "METRIC_TYPE_SUCCESS",
        MetricKind::Guardrail => "METRIC_TYPE_GUARDRAIL",
    }
}

#[cfg(test)]
mod tests;
