//! Power analysis for the unpooled two-sample z-test: required sample size per arm, achieved
//! power and the minimum detectable effect.
//!
//! The closed forms are those of Chow, Shao & Wang, "Sample Size Calculations in Clinical
//! Research" (2nd ed.), §3.2 (means) and §4.2 (proportions):
//! `n = (z_{α'} + z_β)² · (σ_c² + σ_t²) / δ²` with `α' = α/2` two-sided, and for proportions
//! `σ_c² = p(1 − p)`, `σ_t² = (p + δ)(1 − p − δ)`. Two-sided power ignores the far tail, as the
//! closed form does, so sample size, power and MDE are exact inverses of each other.

use crate::error::{StatsError, UndefinedReason};
use crate::frequentist::Sides;
use crate::special::{normal_cdf, normal_quantile_upper};

/// The outcome model that decides how the treatment variance depends on the effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EffectModel {
    /// A proportion with baseline `p`; the treatment variance is taken at `p + δ`.
    Binary {
        /// Control proportion, in (0, 1) for power and sample size, [0, 1) for the MDE.
        baseline: f64,
    },
    /// A mean with per-unit variances that do not depend on the effect.
    Normal {
        /// Control per-unit variance.
        control_variance: f64,
        /// Treatment per-unit variance.
        treatment_variance: f64,
    },
}

/// Significance level and alternative of the planned test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerSpec {
    /// Significance level in (0, 1).
    pub alpha: f64,
    /// The planned alternative.
    pub sides: Sides,
}

impl PowerSpec {
    fn z_alpha(&self) -> f64 {
        match self.sides {
            Sides::TwoSided => normal_quantile_upper(0.5 * self.alpha),
            _ => normal_quantile_upper(self.alpha),
        }
    }

    fn check(&self) -> Result<(), StatsError> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(StatsError::invalid(
                "alpha",
                format!("expected alpha in (0, 1), got {}", self.alpha),
            ));
        }
        Ok(())
    }
}

fn check_power(power: f64) -> Result<(), StatsError> {
    if power > 0.0 && power < 1.0 {
        Ok(())
    } else {
        Err(StatsError::invalid("power", format!("expected power in (0, 1), got {power}")))
    }
}

impl EffectModel {
    /// Per-unit variances of control and treatment at absolute effect `delta`.
    fn variances(&self, delta: f64) -> Result<(f64, f64), StatsError> {
        match *self {
            EffectModel::Binary { baseline } => {
                if !(0.0..1.0).contains(&baseline) {
                    return Err(StatsError::invalid(
                        "baseline",
                        format!("expected a proportion in [0, 1), got {baseline}"),
                    ));
                }
                let t = baseline + delta;
                if !(t > 0.0 && t < 1.0) {
                    return Err(StatsError::invalid(
                        "mde",
                        format!("expected baseline + effect inside (0, 1), got {t}"),
                    ));
                }
                Ok((baseline * (1.0 - baseline), t * (1.0 - t)))
            }
            EffectModel::Normal { control_variance, treatment_variance } => {
                let positive = |v: f64| v > 0.0 && v.is_finite();
                if !positive(control_variance) || !positive(treatment_variance) {
                    return Err(StatsError::invalid(
                        "sd",
                        "expected a positive, finite standard deviation",
                    ));
                }
                Ok((control_variance, treatment_variance))
            }
        }
    }
}

/// Unrounded sample size per arm (equal allocation) to detect `delta` with `power`.
///
/// # Errors
/// Settings out of range, `delta` of 0 or pointing against a one-sided alternative, or a
/// binary `baseline + delta` outside (0, 1).
///
/// # Examples
/// ```
/// use flagstone_stats::power::{EffectModel, PowerSpec, sample_size_per_arm};
/// use flagstone_stats::Sides;
/// let spec = PowerSpec { alpha: 0.05, sides: Sides::TwoSided };
/// let n = sample_size_per_arm(&EffectModel::Binary { baseline: 0.1 }, 0.01, 0.8, &spec)?;
/// assert_eq!(n.ceil(), 14_749.0);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sample_size_per_arm(
    model: &EffectModel,
    delta: f64,
    power: f64,
    spec: &PowerSpec,
) -> Result<f64, StatsError> {
    spec.check()?;
    check_power(power)?;
    check_delta(delta, spec.sides)?;
    let (vc, vt) = model.variances(delta)?;
    let z = spec.z_alpha() + normal_quantile_upper(1.0 - power);
    Ok(z * z * (vc + vt) / (delta * delta))
}

fn check_delta(delta: f64, sides: Sides) -> Result<(), StatsError> {
    let ok = delta.is_finite()
        && match sides {
            Sides::TwoSided => delta != 0.0,
            Sides::Greater => delta > 0.0,
            Sides::Less => delta < 0.0,
        };
    if ok {
        Ok(())
    } else {
        Err(StatsError::invalid(
            "mde",
            format!("expected a non-zero effect in the direction of the alternative, got {delta}"),
        ))
    }
}

/// Power to detect `delta` with `n_control` and `n_treatment` units.
///
/// # Errors
/// As [`sample_size_per_arm`]; sample sizes must be positive.
pub fn achieved_power(
    model: &EffectModel,
    delta: f64,
    n_control: f64,
    n_treatment: f64,
    spec: &PowerSpec,
) -> Result<f64, StatsError> {
    spec.check()?;
    if !(n_control > 0.0 && n_treatment > 0.0) {
        return Err(StatsError::invalid("n", "expected a positive sample size"));
    }
    if !delta.is_finite() || delta == 0.0 {
        return Err(StatsError::invalid("mde", format!("expected a non-zero effect, got {delta}")));
    }
    let (vc, vt) = model.variances(delta)?;
    let se = (vc / n_control + vt / n_treatment).sqrt();
    let shift = match spec.sides {
        Sides::TwoSided => delta.abs() / se,
        Sides::Greater => delta / se,
        Sides::Less => -delta / se,
    };
    Ok(normal_cdf(shift - spec.z_alpha()))
}

/// The smallest absolute effect detected with `power` at the given sample sizes; negative
/// for `Sides::Less`, positive otherwise.
///
/// # Errors
/// Settings out of range; `Ok(Err(PowerUnreachable))` when no binary effect inside (0, 1)
/// reaches the power.
pub fn minimum_detectable_effect(
    model: &EffectModel,
    power: f64,
    n_control: f64,
    n_treatment: f64,
    spec: &PowerSpec,
) -> Result<Result<f64, UndefinedReason>, StatsError> {
    spec.check()?;
    check_power(power)?;
    if !(n_control > 0.0 && n_treatment > 0.0) {
        return Err(StatsError::invalid("n", "expected a positive sample size"));
    }
    let k = spec.z_alpha() + normal_quantile_upper(1.0 - power);
    let sign = if spec.sides == Sides::Less { -1.0 } else { 1.0 };
    match *model {
        EffectModel::Normal { .. } => {
            let (vc, vt) = model.variances(0.0)?;
            Ok(Ok(sign * k * (vc / n_control + vt / n_treatment).sqrt()))
        }
        EffectModel::Binary { baseline } => {
            if !(0.0..1.0).contains(&baseline) {
                return Err(StatsError::invalid(
                    "baseline",
                    format!("expected a proportion in [0, 1), got {baseline}"),
                ));
            }
            if k <= 0.0 {
                return Ok(Ok(0.0));
            }
            // Solve |δ| = k·√(p(1−p)/n_c + (p+δ)(1−p−δ)/n_t) by bisection on the magnitude;
            // f(0) ≤ 0 and f increases until the far end of the range.
            let vc = baseline * (1.0 - baseline) / n_control;
            let f = |m: f64| {
                let t = baseline + sign * m;
                m - k * (vc + t * (1.0 - t) / n_treatment).sqrt()
            };
            let max = if sign > 0.0 { 1.0 - baseline } else { baseline };
            if max <= 0.0 || f(max) < 0.0 {
                return Ok(Err(UndefinedReason::PowerUnreachable));
            }
            let (mut lo, mut hi) = (0.0_f64, max);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if mid <= lo || mid >= hi {
                    break;
                }
                if f(mid) <= 0.0 { lo = mid } else { hi = mid }
            }
            Ok(Ok(sign * hi))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: PowerSpec = PowerSpec { alpha: 0.05, sides: Sides::TwoSided };

    #[test]
    fn sample_size_binary_reference() {
        // Chow, Shao & Wang §4.2 (unpooled): (1.959964 + 0.841621)²·(0.09 + 0.0979)/0.01²
        // = 7.848879·1879 = 14 748.04, so 14 749 per arm.
        let n =
            sample_size_per_arm(&EffectModel::Binary { baseline: 0.1 }, 0.01, 0.8, &TWO).unwrap();
        let z: f64 = 1.959_963_984_540_054 + 0.841_621_233_572_914_3;
        assert!((n - z * z * 0.1879 / 1e-4).abs() < 1e-6, "{n}");
        assert_eq!(n.ceil(), 14_749.0);
    }

    #[test]
    fn sample_size_mean_reference() {
        // Chow, Shao & Wang §3.2.1 example: σ = 10, δ = 5 two-sided α = .05, power .8:
        // n = (1.96 + 0.84)²·2·100/25 ≈ 62.79, so 63 per arm.
        let model = EffectModel::Normal { control_variance: 100.0, treatment_variance: 100.0 };
        let n = sample_size_per_arm(&model, 5.0, 0.8, &TWO).unwrap();
        assert_eq!(n.ceil(), 63.0);
    }

    #[test]
    fn sample_size_power_and_mde_invert_each_other() {
        for model in [
            EffectModel::Binary { baseline: 0.2 },
            EffectModel::Normal { control_variance: 4.0, treatment_variance: 4.0 },
        ] {
            for spec in [TWO, PowerSpec { alpha: 0.01, sides: Sides::Greater }] {
                let n = sample_size_per_arm(&model, 0.03, 0.9, &spec).unwrap();
                let p = achieved_power(&model, 0.03, n, n, &spec).unwrap();
                assert!((p - 0.9).abs() < 1e-9, "{p}");
                let mde = minimum_detectable_effect(&model, 0.9, n, n, &spec).unwrap().unwrap();
                assert!((mde - 0.03).abs() < 1e-9, "{mde}");
            }
        }
    }

    #[test]
    fn bad_settings_are_errors() {
        let m = EffectModel::Binary { baseline: 0.95 };
        assert_eq!(sample_size_per_arm(&m, 0.1, 0.8, &TWO).unwrap_err().path(), "mde");
        assert_eq!(sample_size_per_arm(&m, 0.01, 1.0, &TWO).unwrap_err().path(), "power");
        let less = PowerSpec { alpha: 0.05, sides: Sides::Less };
        assert!(sample_size_per_arm(&m, 0.01, 0.8, &less).is_err());
        assert_eq!(
            minimum_detectable_effect(&EffectModel::Binary { baseline: 0.5 }, 0.8, 1.0, 1.0, &TWO)
                .unwrap(),
            Err(UndefinedReason::PowerUnreachable)
        );
    }
}
