//! Non-binding futility bounds by beta spending (Jennison & Turnbull, *Group Sequential
//! Methods with Applications to Clinical Trials*, 2000, §7.2; the spending functions of Lan &
//! DeMets 1983 applied to the type-II error).
//!
//! The efficacy bounds come first and ignore futility, so stopping for futility or not never
//! changes the type-I error (non-binding). The futility bound `a_k` of look `k` is then the
//! `z` below which the trial stops for futility, chosen so that under the alternative (the
//! statistic `Z_k` has mean `drift·√t_k`) the chance of first stopping for futility at look
//! `k`, without having crossed either bound before, is the increment `β(t_k) − β(t_{k−1})`
//! of the spending function. The chance is computed by the recursion of Armitage, McPherson
//! and Rowe (Jennison & Turnbull §19.2) on the `z` scale with Simpson's rule.

use super::Spending;
use crate::error::StatsError;
use crate::special::{normal_cdf, normal_pdf, normal_quantile_upper};

/// Standard deviations of the statistic's mean kept on either side of it: the density
/// beyond is below `1e-31`.
const WINDOW_SD: f64 = 12.0;

/// The most grid intervals per look, which bounds the cost at `looks · NODES_MAX²`.
const NODES_MAX: usize = 6000;

/// A beta-spending futility design.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FutilityDesign {
    /// The type-II error spent over the trial, in `(0, 1)`.
    pub beta: f64,
    /// How beta is spent over the information fraction (the alpha-spending families).
    pub spending: Spending,
    /// The alternative's drift: the mean of the `z` statistic at information fraction 1
    /// (`δ/SE` at the final sample size), finite.
    pub drift: f64,
}

/// Futility bounds, one entry per look.
#[derive(Debug, Clone, PartialEq)]
pub struct FutilityBounds {
    /// The bound of each look (`z < bound` stops for futility); `−∞` when the look's beta
    /// increment underflows `f64`, and never above the look's efficacy bound.
    pub z_bounds: Vec<f64>,
    /// Beta spent up to and including each look.
    pub cumulative_beta_spent: Vec<f64>,
}

/// The non-binding futility bounds at the information `fractions` of a one-sided design
/// (`Z ≥ efficacy[k]` rejects at look `k`; `+∞` for a look that cannot reject).
///
/// # Errors
/// [`StatsError::Invalid`] when the fractions do not increase strictly inside `(0, 1]`, when
/// there is not one efficacy bound per look, or when `beta` or `drift` are out of range.
///
/// # Examples
/// ```
/// use flagstone_stats::Sides;
/// use flagstone_stats::sequential::{
///     FutilityDesign, GroupSequentialDesign, Spending, efficacy_bounds, futility_bounds,
/// };
/// let efficacy = GroupSequentialDesign {
///     alpha: 0.025, sides: Sides::Greater, spending: Spending::OBrienFleming,
/// };
/// let upper = efficacy_bounds(&[0.5, 1.0], &efficacy)?;
/// let design = FutilityDesign { beta: 0.1, spending: Spending::OBrienFleming, drift: 2.8 };
/// let lower = futility_bounds(&[0.5, 1.0], &upper.z_bounds, &design)?;
/// assert!((lower.z_bounds[0] - -0.073_659).abs() < 1e-6);
/// assert!((lower.z_bounds[1] - 1.484_307).abs() < 1e-6);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn futility_bounds(
    fractions: &[f64],
    efficacy: &[f64],
    design: &FutilityDesign,
) -> Result<FutilityBounds, StatsError> {
    validate(fractions, efficacy, design)?;
    let mut z_bounds = Vec::with_capacity(fractions.len());
    let mut cumulative_beta_spent = Vec::with_capacity(fractions.len());
    // The sub-density of Z at the previous look on its continuation region, as Simpson nodes
    // and weights (density × weight), and that look's fraction.
    let mut nodes: Vec<(f64, f64)> = Vec::new();
    let mut previous_t = 0.0_f64;
    let mut spent = 0.0_f64;
    for (&t, &upper) in fractions.iter().zip(efficacy) {
        let cumulative = design.spending.cumulative(design.beta, t).clamp(spent, design.beta);
        let target = cumulative - spent;
        let mean = design.drift * t.sqrt();
        let bound = if previous_t == 0.0 {
            // First look: Z₁ ~ N(drift·√t₁, 1), so the bound is closed-form.
            if target > 0.0 { mean - normal_quantile_upper(target) } else { f64::NEG_INFINITY }
        } else if target > 0.0 {
            solve(&nodes, previous_t, t, design.drift, target, upper)
        } else {
            f64::NEG_INFINITY
        };
        let bound = bound.min(upper);
        z_bounds.push(bound);
        spent = cumulative;
        cumulative_beta_spent.push(spent);
        nodes = if previous_t == 0.0 {
            grid(bound, upper, mean, fractions, |z| normal_pdf(z - mean))
        } else {
            let from = std::mem::take(&mut nodes);
            let step = Step::new(previous_t, t, design.drift);
            grid(bound, upper, mean, fractions, |z| {
                from.iter()
                    .map(|&(u, fw)| fw * normal_pdf((z - step.mean(u)) / step.sd))
                    .sum::<f64>()
                    / step.sd
            })
        };
        previous_t = t;
    }
    Ok(FutilityBounds { z_bounds, cumulative_beta_spent })
}

/// The transition from one look to the next: `Z_k | Z_{k−1} = u` is normal with mean
/// `(u√t_{k−1} + drift·Δt)/√t_k` and standard deviation `√(Δt/t_k)`.
struct Step {
    a: f64,
    b: f64,
    sd: f64,
}

impl Step {
    fn new(t0: f64, t1: f64, drift: f64) -> Step {
        let dt = t1 - t0;
        Step { a: (t0 / t1).sqrt(), b: drift * dt / t1.sqrt(), sd: (dt / t1).sqrt() }
    }

    fn mean(&self, u: f64) -> f64 {
        self.a * u + self.b
    }
}

/// The `x` at which the chance of continuing to this look and having `Z < x` there is
/// `target`, by bisection; `upper` when even `x = upper` does not reach it.
fn solve(nodes: &[(f64, f64)], t0: f64, t1: f64, drift: f64, target: f64, upper: f64) -> f64 {
    let step = Step::new(t0, t1, drift);
    let below = |x: f64| {
        nodes.iter().map(|&(u, fw)| fw * normal_cdf((x - step.mean(u)) / step.sd)).sum::<f64>()
    };
    let mean = drift * t1.sqrt();
    let mut lo = mean - WINDOW_SD - 1.0 / step.sd;
    let mut hi = if upper.is_finite() { upper } else { mean + WINDOW_SD };
    if below(hi) <= target {
        return hi;
    }
    if below(lo) >= target {
        return lo;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if below(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi.abs().max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Simpson nodes `(z, density(z)·weight)` on the continuation region `[lower, upper]`, cut to
/// [`WINDOW_SD`] around the mean, fine enough for the narrowest step of the design.
fn grid(
    lower: f64,
    upper: f64,
    mean: f64,
    fractions: &[f64],
    density: impl Fn(f64) -> f64,
) -> Vec<(f64, f64)> {
    let lo = lower.max(mean - WINDOW_SD);
    let hi = upper.min(mean + WINDOW_SD);
    if hi.is_nan() || lo.is_nan() || hi <= lo {
        return Vec::new();
    }
    let narrowest = fractions
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => Some(((b - a) / b).sqrt()),
            _ => None,
        })
        .fold(1.0_f64, f64::min);
    let h_wanted = (narrowest / 8.0).min(0.02);
    let intervals = ((hi - lo) / h_wanted).ceil();
    // Even, at least 2, at most NODES_MAX (the cast is of a finite, bounded value).
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped")]
    let intervals = (intervals.clamp(2.0, NODES_MAX as f64) as usize).next_multiple_of(2);
    let h = (hi - lo) / intervals as f64;
    (0..=intervals)
        .map(|i| {
            let z = lo + h * i as f64;
            let w = if i == 0 || i == intervals {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            (z, density(z) * w * h / 3.0)
        })
        .collect()
}

fn validate(
    fractions: &[f64],
    efficacy: &[f64],
    design: &FutilityDesign,
) -> Result<(), StatsError> {
    if fractions.is_empty() || fractions.len() > super::MAX_LOOKS {
        return Err(StatsError::invalid(
            "fractions",
            format!("expected 1 to {} looks, got {}", super::MAX_LOOKS, fractions.len()),
        ));
    }
    if efficacy.len() != fractions.len() || efficacy.iter().any(|b| b.is_nan()) {
        return Err(StatsError::invalid("efficacy", "expected one efficacy bound per look"));
    }
    let mut previous = 0.0;
    for (k, &t) in fractions.iter().enumerate() {
        if !(t > previous && t <= 1.0) {
            return Err(StatsError::invalid(
                format!("fractions[{k}]"),
                format!("expected an increasing fraction in (0, 1], got {t}"),
            ));
        }
        previous = t;
    }
    if !(design.beta > 0.0 && design.beta < 1.0) {
        return Err(StatsError::invalid(
            "beta",
            format!("expected a number in (0, 1), got {}", design.beta),
        ));
    }
    if !design.drift.is_finite() {
        return Err(StatsError::invalid(
            "drift",
            format!("expected a finite drift, got {}", design.drift),
        ));
    }
    design.spending.validate()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frequentist::Sides;
    use crate::sequential::{GroupSequentialDesign, efficacy_bounds};

    fn obf_efficacy(fractions: &[f64]) -> Vec<f64> {
        let design = GroupSequentialDesign {
            alpha: 0.025,
            sides: Sides::Greater,
            spending: Spending::OBrienFleming,
        };
        efficacy_bounds(fractions, &design).unwrap().z_bounds
    }

    #[test]
    fn two_looks_match_bivariate_normal_quadrature() {
        // Reference: mpmath 1.3 at 30 digits. One-sided alpha 0.025 and beta 0.1, both spent
        // with Lan & DeMets' O'Brien–Fleming function 2 − 2Φ(z_{a/2}/√t), drift 2.8, looks at
        // t = 0.5 and 1. Look 1: a₁ = 2.8·√0.5 + Φ⁻¹(β(0.5)), β(0.5) = 0.020009253716118036.
        // Look 2: a₂ solves ∫_{a₁}^{b₁} φ(z − 2.8√0.5) Φ((a₂ − z√0.5 − 1.4)/√0.5) dz
        // = 0.1 − β(0.5) (Jennison & Turnbull §19.2), with b₁ = 2.9625880427275668.
        let fractions = [0.5, 1.0];
        let efficacy = obf_efficacy(&fractions);
        assert!((efficacy[0] - 2.962_588_042_727_567).abs() < 1e-6);
        let design = FutilityDesign { beta: 0.1, spending: Spending::OBrienFleming, drift: 2.8 };
        let out = futility_bounds(&fractions, &efficacy, &design).unwrap();
        // Achieved: 1.8e-11 at look 1 (from the spent beta), 5.3e-10 at look 2.
        assert!((out.z_bounds[0] - -0.073_658_839_940_142_88).abs() < 1e-10, "{:?}", out.z_bounds);
        assert!((out.z_bounds[1] - 1.484_307_429_708_347).abs() < 1e-8, "{:?}", out.z_bounds);
        // The spending function's normal tail is good to about 1e-10 relative (8.6e-13 here).
        assert!((out.cumulative_beta_spent[0] - 0.020_009_253_716_118_036).abs() < 1e-11);
        assert!((out.cumulative_beta_spent[1] - 0.1).abs() < 1e-15);
    }

    #[test]
    fn futility_bounds_rise_and_stay_below_efficacy() {
        let fractions = [0.2, 0.4, 0.6, 0.8, 1.0];
        let efficacy = obf_efficacy(&fractions);
        let design =
            FutilityDesign { beta: 0.2, spending: Spending::Power { rho: 2.0 }, drift: 3.0 };
        let out = futility_bounds(&fractions, &efficacy, &design).unwrap();
        for (k, (a, b)) in out.z_bounds.iter().zip(&efficacy).enumerate() {
            assert!(a.is_finite() && a <= b, "look {k}: {a} vs {b}");
        }
        assert!(out.z_bounds.windows(2).all(|w| w[0] < w[1]), "{:?}", out.z_bounds);
        assert!(futility_bounds(&[0.5, 0.4], &[3.0, 2.0], &design).is_err());
        assert!(
            futility_bounds(&[0.5, 1.0], &[3.0, 2.0], &FutilityDesign { beta: 1.0, ..design })
                .is_err()
        );
    }
}
