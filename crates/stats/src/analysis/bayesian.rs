//! The Bayesian analysis: Beta–Binomial for binary metrics, a normal model otherwise.

use crate::bayes::{self, BetaPosterior, BetaPrior, EffectPrior, NormalPosterior, Posterior};
use crate::correction::Correction;
use crate::error::UndefinedReason;
use crate::frequentist::Method;
use crate::numeric::finite;
use crate::sufficient::{ArmSummary, BinaryStats};

use super::request::{AnalysisRequest, Direction, PriorSpec};
use super::result::{
    ComparisonResult, CredibleInterval, IntervalResult, MetricOutcome, MetricResult, MetricStatus,
    RelativeDifference, StatsSettings, Status, TreatmentResult,
};
use super::validate::{ArmData, Metric};
use super::{interval_status, method_label, metric_type, name_of, overall_status};

/// Bayesian analysis of one metric: Beta–Binomial for binary metrics, normal otherwise.
pub(super) fn bayesian_metric(
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
