//! The frequentist analysis: tests, corrections, intervals, statuses and power numbers.

use crate::correction::{adjusted_alphas, sequential_adjusted_alphas};
use crate::error::{StatsError, UndefinedReason};
use crate::frequentist::{Comparison, DifferenceTest, Method, Sides, TestSpec};
use crate::numeric::finite;
use crate::power::{self, EffectModel, PowerSpec};
use crate::special::Tail;
use crate::sufficient::ArmSummary;

use super::request::Direction;
use super::result::{
    ComparisonResult, IntervalResult, MetricOutcome, MetricResult, MetricStatus,
    SequentialDecision, StatsSettings, Status, TreatmentResult,
};
use super::sequential::{BoundsCache, SequentialPlan, sequential_bound};
use super::validate::{ArmData, Metric};
use super::{Analysis, interval_status, method_label, metric_type, overall_status};

/// One metric × treatment test, before the correction gives it an alpha.
struct Pending {
    metric_idx: usize,
    treatment_idx: usize,
    test: Result<DifferenceTest, UndefinedReason>,
}

/// The frequentist results of every metric: alpha-independent tests first, then the
/// correction across all of them, then each comparison's interval at its adjusted alpha (or
/// its sequential bound).
pub(super) fn results(
    analysis: &Analysis<'_>,
    plan: Option<&SequentialPlan>,
    looks: &[Option<Vec<f64>>],
    annotations: &mut Vec<String>,
) -> Result<Vec<MetricResult>, StatsError> {
    let (methods, pending) = run_tests(analysis, annotations);
    let mut bounds_cache = BoundsCache::default();
    let alphas = corrected_alphas(analysis, &pending, plan, looks, &mut bounds_cache)?;
    let mut results: Vec<MetricResult> = analysis
        .metrics
        .iter()
        .zip(&methods)
        .map(|(m, &method)| metric_result(analysis, m, plan, method))
        .collect();
    for (p, &alpha) in pending.iter().zip(&alphas) {
        let (Some(m), Some(out), Some(sums)) = (
            analysis.metrics.get(p.metric_idx),
            results.get_mut(p.metric_idx),
            analysis.summaries.get(p.metric_idx),
        ) else {
            continue;
        };
        let look = Look { plan, fractions: looks.get(p.metric_idx).and_then(Option::as_ref) };
        let row = comparison_row(analysis, p, m, sums, alpha, look, &mut bounds_cache)?;
        out.stats_settings.adjusted_alpha =
            out.stats_settings.adjusted_alpha.min(row.adjusted_alpha);
        out.comparisons.push(row);
    }
    for ((out, m), sums) in results.iter_mut().zip(&analysis.metrics).zip(&analysis.summaries) {
        finish_metric(analysis, out, m, sums);
    }
    Ok(results)
}

/// Phase 1: the test method of every metric and the alpha-independent test of every
/// metric × treatment, in that order.
fn run_tests(
    analysis: &Analysis<'_>,
    annotations: &mut Vec<String>,
) -> (Vec<Method>, Vec<Pending>) {
    let treatments = &analysis.treatments;
    let mut methods = Vec::with_capacity(analysis.metrics.len());
    let mut pending = Vec::with_capacity(analysis.metrics.len() * treatments.len());
    for (mi, (m, sums)) in analysis.metrics.iter().zip(&analysis.summaries).enumerate() {
        let method = metric_method(analysis.req.method, m, mi, annotations);
        methods.push(method);
        let spec = TestSpec { method, sides: m.sides, null_relative_shift: m.null_relative_shift };
        let control =
            sums.get(analysis.control_idx).copied().unwrap_or(Err(UndefinedReason::MissingData));
        for &ti in treatments {
            let treatment = sums.get(ti).copied().unwrap_or(Err(UndefinedReason::MissingData));
            let test =
                control.and_then(|c| treatment.and_then(|t| DifferenceTest::new(&c, &t, &spec)));
            pending.push(Pending { metric_idx: mi, treatment_idx: ti, test });
        }
    }
    (methods, pending)
}

/// The test a metric gets for the requested method: chi-squared falls back to the z-test
/// where it does not apply, with an annotation either way it deviates.
fn metric_method(
    requested: Method,
    m: &Metric<'_>,
    mi: usize,
    annotations: &mut Vec<String>,
) -> Method {
    let is_plain_binary = matches!(m.arms.first(), Some(ArmData::Binary(_, None)));
    let method = match requested {
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
    method
}

/// Phase 2: the correction's adjusted alpha of every pending test, in order.
///
/// In a sequential analysis Holm and Benjamini–Hochberg step through the comparisons that
/// cross their sequential bound at each level (alpha recycling,
/// [`sequential_adjusted_alphas`]); Bonferroni and none are the same as at a fixed horizon.
fn corrected_alphas(
    analysis: &Analysis<'_>,
    pending: &[Pending],
    plan: Option<&SequentialPlan>,
    looks: &[Option<Vec<f64>>],
    cache: &mut BoundsCache,
) -> Result<Vec<f64>, StatsError> {
    let ln_ps: Vec<Option<f64>> = pending
        .iter()
        .map(|p| p.test.as_ref().ok().map(|t| t.p_value.ln_p).filter(|l| !l.is_nan()))
        .collect();
    let (correction, alpha) = (analysis.req.correction, analysis.req.alpha);
    let Some(plan) = plan else { return Ok(adjusted_alphas(correction, alpha, &ln_ps)) };
    sequential_adjusted_alphas(correction, alpha, &ln_ps, |i, level| {
        let Some(p) = pending.get(i) else { return Ok(false) };
        let (Ok(test), Some(m)) = (&p.test, analysis.metrics.get(p.metric_idx)) else {
            return Ok(false);
        };
        let fractions = looks.get(p.metric_idx).and_then(Option::as_ref);
        let bound = sequential_bound(plan, fractions, m, test, level, cache)?;
        Ok(bound.result.decision == SequentialDecision::Reject)
    })
}

/// A metric's result before its comparisons: settings, no comparisons yet, status undefined.
fn metric_result(
    analysis: &Analysis<'_>,
    m: &Metric<'_>,
    plan: Option<&SequentialPlan>,
    method: Method,
) -> MetricResult {
    let req = analysis.req;
    MetricResult {
        id: m.spec.id.clone(),
        stats_settings: StatsSettings {
            method: method_label(plan, method),
            alpha: req.alpha,
            adjusted_alpha: req.alpha,
            correction: req.correction.as_str(),
        },
        comparisons: Vec::with_capacity(analysis.treatments.len()),
        treatment_results: Vec::new(),
        result: MetricOutcome {
            status: MetricStatus { status: Status::Undefined, metric_type: metric_type(m) },
        },
    }
}

/// The sequential plan and the information fractions of a metric's looks, if any.
#[derive(Clone, Copy)]
struct Look<'a> {
    plan: Option<&'a SequentialPlan>,
    fractions: Option<&'a Vec<f64>>,
}

/// One comparison's row: undefined with its reason, or filled from its test at `alpha`.
fn comparison_row(
    analysis: &Analysis<'_>,
    p: &Pending,
    m: &Metric<'_>,
    sums: &[Result<ArmSummary, UndefinedReason>],
    alpha: f64,
    look: Look<'_>,
    bounds_cache: &mut BoundsCache,
) -> Result<ComparisonResult, StatsError> {
    let req = analysis.req;
    let control = sums.get(analysis.control_idx).and_then(|s| s.as_ref().ok());
    let treatment = sums.get(p.treatment_idx).and_then(|s| s.as_ref().ok());
    let mut row =
        ComparisonResult::undefined(analysis.name_of(p.treatment_idx), req.control.clone(), alpha);
    row.control_mean = control.and_then(|c| finite(c.mean));
    row.treatment_mean = treatment.and_then(|t| finite(t.mean));
    match &p.test {
        Err(reason) => row.undefined_reason = Some(reason.to_string()),
        Ok(test) => fill_from_test(&mut row, analysis, m, test, alpha, look, bounds_cache)?,
    }
    Ok(row)
}

/// Fills a row from its test: the interval at the fixed-horizon alpha or the sequential
/// bound, the status it implies, and the power numbers.
fn fill_from_test(
    row: &mut ComparisonResult,
    analysis: &Analysis<'_>,
    m: &Metric<'_>,
    test: &DifferenceTest,
    alpha: f64,
    look: Look<'_>,
    bounds_cache: &mut BoundsCache,
) -> Result<(), StatsError> {
    if let Some(reason) = test.interval_undefined {
        // The pooled test has a p-value, but no interval, so no status, can be built on it.
        row.statistic = finite(test.statistic);
        row.dof = test.dof.and_then(finite);
        row.p_value = finite(test.p_value.p);
        row.log10_p_value = finite(test.p_value.log10_p());
        row.undefined_reason = Some(reason.to_string());
        return Ok(());
    }
    let relative_ci = analysis.req.relative_ci;
    let (c, p_value): (Comparison, Tail) = match look.plan {
        None => (test.at_alpha(alpha, relative_ci), test.p_value),
        Some(plan) => {
            let bound = sequential_bound(plan, look.fractions, m, test, alpha, bounds_cache)?;
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
        power_numbers(m, &test.control, &test.treatment, alpha, analysis.req.power);
    match powered {
        Ok(v) => row.powered_effect = finite(v),
        Err(reason) => {
            row.undefined_reason.get_or_insert_with(|| reason.to_string());
        }
    }
    row.required_sample_size = required.map(f64::ceil);
    row.achieved_power = achieved;
    Ok(())
}

/// A metric's overall status from its comparisons, and its per-arm results (sample
/// estimates; the Bayesian fields stay empty).
fn finish_metric(
    analysis: &Analysis<'_>,
    out: &mut MetricResult,
    m: &Metric<'_>,
    sums: &[Result<ArmSummary, UndefinedReason>],
) {
    let statuses: Vec<Status> = out.comparisons.iter().map(|c| c.status).collect();
    out.result.status.status = overall_status(&statuses, m);
    out.treatment_results = analysis
        .req
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

/// A comparison's status from its interval: the non-inferiority statuses with a margin, else
/// significance against 0.
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

#[cfg(test)]
mod tests {
    use super::super::tests::{binary_metric, check};

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
    fn pooled_chi_squared_is_defined_with_one_unit_per_arm() {
        // Pearson's χ² on the 2×2 table [[0, 1], [1, 0]] by hand:
        // χ² = N(ad − bc)²/(r₁r₂c₁c₂) = 2·(0·0 − 1·1)²/(1·1·1·1) = 2, one degree of freedom,
        // p = P(χ²₁ ≥ 2) = erfc(1) = 0.157_299_207_050_285_13 (mpmath 1.3, erfc(1)).
        let out = check(
            r#""method": "chi-squared","#,
            &["c", "t"],
            &[binary_metric("m", "", &[("c", 1, 0), ("t", 1, 1)])],
        );
        let cmp = &out["results"][0]["comparisons"][0];
        let chi2 = cmp["statistic"].as_f64().unwrap();
        let p = cmp["pValue"].as_f64().unwrap();
        assert!((chi2 - 2.0).abs() < 1e-15, "{chi2}");
        // The normal tail gives 0.157_299_207_057_285_1 here, 4.5e-11 relative off, so 1e-10.
        assert!((p - 0.157_299_207_050_285_1).abs() < 1e-10 * p, "{p}");
        assert_eq!(cmp["dof"], 1.0);
        // The unpooled interval has no variance: undefined, so never significant.
        assert_eq!(cmp["status"], "METRIC_RESULT_STATUS_UNDEFINED");
        assert_eq!(cmp["absolute"]["ciLower"], serde_json::Value::Null);
        assert!(cmp["undefinedReason"].as_str().is_some_and(|r| r.contains("standard error")));
        // Degenerate pooled proportions (0 of 1 in both arms) stay undefined, without a p-value.
        let out = check(
            r#""method": "chi-squared","#,
            &["c", "t"],
            &[binary_metric("m", "", &[("c", 1, 0), ("t", 1, 0)])],
        );
        assert_eq!(out["results"][0]["comparisons"][0]["pValue"], serde_json::Value::Null);
        // The unpooled z-test is undefined there.
        let out = check("", &["c", "t"], &[binary_metric("m", "", &[("c", 1, 0), ("t", 1, 1)])]);
        assert_eq!(out["results"][0]["comparisons"][0]["pValue"], serde_json::Value::Null);
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
}
