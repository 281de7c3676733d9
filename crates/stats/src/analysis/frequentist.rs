//! The frequentist analysis: tests, corrections, intervals, statuses and power numbers.

use crate::error::UndefinedReason;
use crate::frequentist::{Comparison, DifferenceTest, Sides};
use crate::numeric::finite;
use crate::power::{self, EffectModel, PowerSpec};
use crate::sufficient::ArmSummary;

use super::interval_status;
use super::request::Direction;
use super::result::Status;
use super::validate::{ArmData, Metric};

pub(super) struct Pending {
    pub(super) metric_idx: usize,
    pub(super) treatment_idx: usize,
    pub(super) test: Result<DifferenceTest, UndefinedReason>,
}

pub(super) fn status_for(comparison: &Comparison, metric: &Metric<'_>) -> Status {
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
pub(super) fn power_numbers(
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
