//! The Bayesian analysis: Beta–Binomial for binary metrics, a normal model otherwise.

use crate::bayes::{self, BetaPosterior, BetaPrior, EffectPrior, NormalPosterior, Posterior};
use crate::correction::Correction;
use crate::error::UndefinedReason;
use crate::frequentist::Method;
use crate::numeric::finite;
use crate::sufficient::{ArmSummary, BinaryStats};

use super::request::{Direction, PriorSpec};
use super::result::{
    ComparisonResult, CredibleInterval, IntervalResult, MetricOutcome, MetricResult, MetricStatus,
    RelativeDifference, StatsSettings, Status, TreatmentResult,
};
use super::validate::{ArmData, Metric};
use super::{Analysis, interval_status, method_label, metric_type, overall_status};

/// The Bayesian results of every metric.
pub(super) fn results(analysis: &Analysis<'_>) -> Vec<MetricResult> {
    analysis
        .metrics
        .iter()
        .zip(&analysis.summaries)
        .map(|(m, sums)| bayesian_metric(analysis, m, sums))
        .collect()
}

/// Bayesian analysis of one metric: Beta–Binomial for binary metrics, normal otherwise.
fn bayesian_metric(
    analysis: &Analysis<'_>,
    m: &Metric<'_>,
    sums: &[Result<ArmSummary, UndefinedReason>],
) -> MetricResult {
    let alpha = analysis.req.alpha;
    let binary: Option<Vec<BinaryStats>> = m
        .arms
        .iter()
        .map(|a| if let ArmData::Binary(s, _) = a { Some(*s) } else { None })
        .collect();
    let Arms { comparisons, treatment_results } = match binary {
        Some(counts) => beta_binomial_arms(analysis, m, &counts),
        None => normal_arms(analysis, m, sums),
    };
    let statuses: Vec<Status> = comparisons.iter().map(|c| c.status).collect();
    MetricResult {
        id: m.spec.id.clone(),
        stats_settings: StatsSettings {
            method: method_label(None, Method::Bayesian),
            alpha,
            adjusted_alpha: alpha,
            correction: Correction::None.as_str(),
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

/// A metric's comparisons (one per treatment) and per-arm results (one per variant).
struct Arms {
    comparisons: Vec<ComparisonResult>,
    treatment_results: Vec<TreatmentResult>,
}

impl Arms {
    fn with_capacity(analysis: &Analysis<'_>, m: &Metric<'_>) -> Self {
        Arms {
            comparisons: Vec::with_capacity(analysis.treatments.len()),
            treatment_results: Vec::with_capacity(m.arms.len()),
        }
    }
}

/// What a treatment's posterior says against the control's, for its [`TreatmentResult`].
struct AgainstControl {
    p_beat_control: Option<f64>,
    expected_loss: Option<f64>,
    relative: Option<CredibleInterval>,
}

impl AgainstControl {
    fn record(self, tr: &mut TreatmentResult, control: &str) {
        tr.p_beat_control = self.p_beat_control;
        tr.expected_loss = self.expected_loss;
        tr.relative_differences.extend(self.relative.map(|ci| RelativeDifference {
            from_treatment_id: control.to_owned(),
            lower: ci.lower,
            upper: ci.upper,
        }));
    }
}

/// A per-arm result with the posterior mean and interval; the fields against the control are
/// left for [`AgainstControl::record`].
fn treatment_result(
    treatment_id: String,
    mean: Option<f64>,
    credible_interval: Option<CredibleInterval>,
    p_best: Option<f64>,
    units: u64,
) -> TreatmentResult {
    TreatmentResult {
        treatment_id,
        mean,
        credible_interval,
        p_best,
        p_beat_control: None,
        expected_loss: None,
        relative_differences: Vec::new(),
        units,
    }
}

/// Beta–Binomial: a Beta posterior per arm, each treatment against the control.
fn beta_binomial_arms(analysis: &Analysis<'_>, m: &Metric<'_>, counts: &[BinaryStats]) -> Arms {
    let req = analysis.req;
    let increase_good = m.spec.preferred_direction == Direction::Increase;
    let prior = match req.prior {
        Some(PriorSpec::Beta { alpha, beta }) => BetaPrior { alpha, beta },
        _ => BetaPrior::default(),
    };
    let posts: Vec<BetaPosterior> =
        counts.iter().map(|s| BetaPosterior::from_counts(&prior, s)).collect();
    let t0 = std::time::Instant::now();
    let p_best = bayes::prob_best(&posts, increase_good);
    eprintln!("DBG prob_best {:?} {:?} {:.3}ms", posts, p_best, t0.elapsed().as_secs_f64() * 1e3);
    let control =
        posts.get(analysis.control_idx).copied().unwrap_or(BetaPosterior { alpha: 1.0, beta: 1.0 });
    let mut arms = Arms::with_capacity(analysis, m);
    for (vi, post) in posts.iter().enumerate() {
        let (lo, hi) = post.interval(req.alpha);
        let mut tr = treatment_result(
            analysis.name_of(vi),
            finite(post.mean()),
            finite_interval(lo, hi),
            p_best.get(vi).copied().and_then(finite),
            counts.get(vi).map_or(0, BinaryStats::n),
        );
        if vi != analysis.control_idx {
            let (row, against) = beta_comparison(analysis, m, vi, post, &control);
            against.record(&mut tr, &req.control);
            arms.comparisons.push(row);
        }
        arms.treatment_results.push(tr);
    }
    arms
}

/// One treatment's Beta posterior against the control's.
fn beta_comparison(
    analysis: &Analysis<'_>,
    m: &Metric<'_>,
    vi: usize,
    post: &BetaPosterior,
    control: &BetaPosterior,
) -> (ComparisonResult, AgainstControl) {
    let alpha = analysis.req.alpha;
    let increase_good = m.spec.preferred_direction == Direction::Increase;
    let t0 = std::time::Instant::now();
    let p_greater = bayes::prob_greater(post, control);
    let t1 = t0.elapsed().as_secs_f64() * 1e3;
    let (rl, rh) = bayes::relative_difference_interval(post, control, alpha);
    let t2 = t0.elapsed().as_secs_f64() * 1e3;
    let (dl, dh) = bayes::difference_interval(post, control, alpha);
    let t3 = t0.elapsed().as_secs_f64() * 1e3;
    eprintln!("DBG cmp {post:?} {control:?} greater {t1:.3} rel {t2:.3} diff {t3:.3}");
    let loss = if increase_good {
        bayes::expected_loss(post, control)
    } else {
        bayes::expected_loss(control, post)
    };
    let against = AgainstControl {
        p_beat_control: finite(if increase_good { p_greater } else { 1.0 - p_greater }),
        expected_loss: finite(loss),
        relative: finite_interval(rl, rh),
    };
    let mut row =
        ComparisonResult::undefined(analysis.name_of(vi), analysis.req.control.clone(), alpha);
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
            (post.variance() / (cm * cm) + post.mean().powi(2) * control.variance() / cm.powi(4))
                .sqrt(),
        ),
        ci_lower: rel_ci.map(|ci| ci.lower),
        ci_upper: rel_ci.map(|ci| ci.upper),
    };
    row.status = match abs_ci {
        Some(ci) => bayes_status(m, Some(ci.lower), Some(ci.upper), cm),
        None => Status::Undefined,
    };
    (row, against)
}

/// The normal model: a normal posterior per arm mean, and each treatment's relative effect
/// against the control under the request's prior.
fn normal_arms(
    analysis: &Analysis<'_>,
    m: &Metric<'_>,
    sums: &[Result<ArmSummary, UndefinedReason>],
) -> Arms {
    let req = analysis.req;
    let (alpha, control_idx) = (req.alpha, analysis.control_idx);
    let increase_good = m.spec.preferred_direction == Direction::Increase;
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
    let mut arms = Arms::with_capacity(analysis, m);
    for (vi, post) in arm_posts.iter().enumerate() {
        let mut tr = treatment_result(
            analysis.name_of(vi),
            post.and_then(|p| finite(p.mean)),
            post.filter(|p| p.sd > 0.0).and_then(|p| {
                let (lower, upper) = p.interval(alpha);
                finite_interval(lower, upper)
            }),
            p_best.as_ref().and_then(|v| v.get(vi).copied()).and_then(finite),
            m.arms.get(vi).map_or(0, ArmData::n),
        );
        if vi == control_idx {
            arms.treatment_results.push(tr);
            continue;
        }
        let mut row = ComparisonResult::undefined(analysis.name_of(vi), req.control.clone(), alpha);
        let treatment = sums.get(vi).and_then(|s| s.as_ref().ok()).copied();
        match (control, treatment) {
            (Some(c), Some(t)) => {
                if let Some(against) = normal_comparison(analysis, m, &c, &t, &mut row) {
                    against.record(&mut tr, &req.control);
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
        arms.comparisons.push(row);
        arms.treatment_results.push(tr);
    }
    arms
}

/// Fills `row` with a treatment's relative-effect posterior against the control; `None`, with
/// the reason in `row`, when the standard error or the control mean is zero.
fn normal_comparison(
    analysis: &Analysis<'_>,
    m: &Metric<'_>,
    c: &ArmSummary,
    t: &ArmSummary,
    row: &mut ComparisonResult,
) -> Option<AgainstControl> {
    let alpha = analysis.req.alpha;
    let increase_good = m.spec.preferred_direction == Direction::Increase;
    let prior = match analysis.req.prior {
        Some(PriorSpec::Normal { mean, stddev }) => EffectPrior::Normal { mean, sd: stddev },
        _ => EffectPrior::Flat,
    };
    row.control_mean = finite(c.mean);
    row.treatment_mean = finite(t.mean);
    let se = (c.variance_of_mean() + t.variance_of_mean()).sqrt();
    let cm = c.mean.abs();
    if se.is_nan() || se <= 0.0 {
        row.undefined_reason = Some(UndefinedReason::ZeroStandardError.to_string());
        return None;
    } else if cm == 0.0 {
        row.undefined_reason = Some(UndefinedReason::ZeroControlMean.to_string());
        return None;
    }
    let rel_se = (t.variance_of_mean() / (cm * cm)
        + t.mean * t.mean * c.variance_of_mean() / cm.powi(4))
    .sqrt();
    let rel = bayes::relative_effect_posterior((t.mean - c.mean) / cm, rel_se, &prior);
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
    let oriented =
        if increase_good { abs } else { NormalPosterior { mean: -abs.mean, sd: abs.sd } };
    Some(AgainstControl {
        p_beat_control: finite(oriented.prob_positive()),
        expected_loss: finite(oriented.expected_shortfall_below_zero()),
        relative: finite_interval(rl, rh),
    })
}

/// An interval whose ends are both finite and in order, or none: a posterior too wide or too
/// far out for `f64` (sums near 1e308, counts near 2^64) has no reportable interval, and the
/// contract's `lower` and `upper` are numbers, never NaN, infinite or reversed.
fn finite_interval(lower: f64, upper: f64) -> Option<CredibleInterval> {
    (lower.is_finite() && upper.is_finite() && lower <= upper)
        .then_some(CredibleInterval { lower, upper })
}

/// Status from a credible interval of the absolute difference.
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
    use super::super::tests::{binary_metric, check};

    #[test]
    fn extreme_posteriors_resolve_or_are_undefined_never_reversed_or_infinite() {
        // Found by the analyze_request fuzzer: counts near 2^64 sent the interval search
        // past f64 ([7.1e45, -1]), and an infinite posterior sd gave [-inf, inf]. The control
        // is Beta(2^64, 1), within 6e-20 of 1, the treatment Beta(99, 2^53 − 96); integrated
        // over 1 − x the interval resolves to the f64 spacing at −1 (1.1e-16). Reference:
        // −1 + G/(α + β − 1) with G the 2.5 % and 97.5 % quantiles of Gamma(99), 80.46231485
        // and 119.43061029 (mpmath gammainc, 50 digits; the Gamma limit of the Beta quantile
        // is off by O(α/β) = 1e-14 relative, 1e-28 here): −0.9999999999999911 and
        // −0.9999999999999868.
        let out = check(
            r#""method": "bayesian","#,
            &["c", "t"],
            &[binary_metric("m", "", &[("c", u64::MAX, u64::MAX), ("t", (1 << 53) + 1, 98)])],
        );
        let cmp = &out["results"][0]["comparisons"][0];
        assert_eq!(cmp["status"], "METRIC_RESULT_STATUS_SIGNIFICANT_NEGATIVE", "{cmp:#}");
        for (key, want) in
            [("ciLower", -0.999_999_999_999_991_1), ("ciUpper", -0.999_999_999_999_986_8)]
        {
            let got = cmp["absolute"][key].as_f64().unwrap();
            assert!((got - want).abs() <= 4e-16, "{key}: {got} against {want}");
            let got = cmp["relative"][key].as_f64().unwrap();
            assert!((got - want).abs() <= 4e-16, "relative {key}: {got} against {want}");
        }
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
}
