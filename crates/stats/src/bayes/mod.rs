//! Bayesian analysis: Beta–Binomial for binary metrics and a normal model for means.
//!
//! Everything is deterministic. `P(X > Y)` for Beta posteriors uses the closed form of
//! Miller ("Formulas for Bayesian A/B Testing", 2015; derived from Cook 2005) when one
//! parameter is an integer of moderate size, and adaptive Gauss–Kronrod quadrature otherwise;
//! `P(best)` across k arms is the one-dimensional integral `∫ f_j(x) Π_{i≠j} F_i(x) dx`; the
//! credible intervals of differences are found by inverting such integrals.

use crate::error::StatsError;
use crate::quadrature::{even_breaks, integrate};
use crate::special::{
    TailSide, beta_pdf, beta_quantile, incomplete_beta, ln_beta, normal_cdf, normal_pdf,
    normal_quantile_upper,
};
use crate::sufficient::BinaryStats;

mod interval;

pub use interval::{difference_interval, relative_difference_interval};

/// Largest closed-form summation length; past it, quadrature is cheaper.
const MAX_CLOSED_FORM_TERMS: f64 = 20_000.0;
/// Absolute tolerance of every quadrature.
const QUAD_TOL: f64 = 1e-13;

/// A Beta prior for a proportion; Beta(1, 1) (uniform) by default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaPrior {
    /// First shape parameter (prior successes).
    pub alpha: f64,
    /// Second shape parameter (prior failures).
    pub beta: f64,
}

impl Default for BetaPrior {
    fn default() -> Self {
        BetaPrior { alpha: 1.0, beta: 1.0 }
    }
}

impl BetaPrior {
    /// Validates the prior.
    ///
    /// # Errors
    /// Both parameters must be positive and finite.
    pub fn new(alpha: f64, beta: f64) -> Result<Self, StatsError> {
        for (name, v) in [("alpha", alpha), ("beta", beta)] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(StatsError::invalid(
                    name,
                    format!("expected a positive prior parameter, got {v}"),
                ));
            }
        }
        Ok(BetaPrior { alpha, beta })
    }
}

/// A posterior distribution on one arm's parameter.
pub trait Posterior {
    /// Density.
    fn pdf(&self, x: f64) -> f64;
    /// `P(X ≤ x)`.
    fn cdf(&self, x: f64) -> f64;
    /// `P(X > x)`, accurate in the upper tail.
    fn sf(&self, x: f64) -> f64;
    /// An interval holding all but a negligible (< 1e-15) part of the mass.
    fn support(&self) -> (f64, f64);
    /// Posterior mean.
    fn mean(&self) -> f64;
    /// The distribution of `1 − X`.
    fn mirrored(&self) -> Self
    where
        Self: Sized;
    /// Whether integrals over this posterior are better taken over `1 − X`: a Beta
    /// posterior whose mass lies above ½, where `f64` spaces its values `2^-53` apart
    /// whatever the posterior's width (Beta(9e15, 156) has a standard deviation of 1.4e-15,
    /// a dozen representable values), while near 0 they are as fine as the width.
    fn near_one(&self) -> bool {
        false
    }
}

/// Beta(α, β) posterior of a proportion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaPosterior {
    /// First shape parameter.
    pub alpha: f64,
    /// Second shape parameter.
    pub beta: f64,
}

/// Both shape parameters at least this large: the Beta posterior is evaluated
/// as its moment-matched normal. Its skewness is then below
/// `2/sqrt(min(α, β)) ≈ 0.0063`, the exact incomplete beta function would need
/// a continued fraction of thousands of terms per call, and the results agree
/// to about 1e-3 (tested). Timings are in `BENCHES.md`.
pub const NORMAL_APPROXIMATION_SHAPE: f64 = 1e5;

impl BetaPosterior {
    /// Whether this posterior is evaluated through its moment-matched normal
    /// (see [`NORMAL_APPROXIMATION_SHAPE`]).
    pub fn is_near_normal(&self) -> bool {
        self.alpha.min(self.beta) >= NORMAL_APPROXIMATION_SHAPE
    }

    fn as_normal(&self) -> NormalPosterior {
        NormalPosterior { mean: self.mean(), sd: self.variance().sqrt() }
    }

    /// The posterior after observing `stats` under `prior`.
    pub fn from_counts(prior: &BetaPrior, stats: &BinaryStats) -> Self {
        BetaPosterior {
            alpha: prior.alpha + stats.successes() as f64,
            beta: prior.beta + (stats.n() - stats.successes()) as f64,
        }
    }

    /// Posterior variance.
    pub fn variance(&self) -> f64 {
        let s = self.alpha + self.beta;
        self.alpha * self.beta / (s * s * (s + 1.0))
    }

    /// Equal-tailed credible interval with `alpha/2` in each tail.
    pub fn interval(&self, alpha: f64) -> (f64, f64) {
        if self.is_near_normal() {
            let n = self.as_normal();
            let z = crate::special::normal_quantile_upper(0.5 * alpha);
            return ((n.mean - z * n.sd).max(0.0), (n.mean + z * n.sd).min(1.0));
        }
        (
            beta_quantile(0.5 * alpha, TailSide::Lower, self.alpha, self.beta),
            beta_quantile(0.5 * alpha, TailSide::Upper, self.alpha, self.beta),
        )
    }

    /// The same distribution with one more success (used by the expected-loss identity).
    fn plus_one(&self) -> Self {
        BetaPosterior { alpha: self.alpha + 1.0, beta: self.beta }
    }

    fn mirrored(&self) -> Self {
        BetaPosterior { alpha: self.beta, beta: self.alpha }
    }
}

impl Posterior for BetaPosterior {
    fn pdf(&self, x: f64) -> f64 {
        if self.is_near_normal() {
            return self.as_normal().pdf(x);
        }
        beta_pdf(x, self.alpha, self.beta)
    }
    fn cdf(&self, x: f64) -> f64 {
        if self.is_near_normal() {
            return self.as_normal().cdf(x);
        }
        if x <= 0.0 {
            return 0.0;
        }
        if x >= 1.0 {
            return 1.0;
        }
        incomplete_beta(self.alpha, self.beta, x, 1.0 - x).lower
    }
    fn sf(&self, x: f64) -> f64 {
        if self.is_near_normal() {
            return self.as_normal().sf(x);
        }
        if x <= 0.0 {
            return 1.0;
        }
        if x >= 1.0 {
            return 0.0;
        }
        incomplete_beta(self.alpha, self.beta, x, 1.0 - x).upper
    }
    fn support(&self) -> (f64, f64) {
        // Near-normal shapes fall off like e^{−k²/2}; skewed small-parameter shapes have
        // gamma-like tails and need a wider window.
        let k = if self.alpha.min(self.beta) >= 100.0 { 12.0 } else { 60.0 };
        let m = self.mean();
        let s = self.variance().sqrt();
        ((m - k * s).max(0.0), (m + k * s).min(1.0))
    }
    fn mean(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }
    fn mirrored(&self) -> Self {
        BetaPosterior::mirrored(self)
    }
    fn near_one(&self) -> bool {
        self.alpha > self.beta
    }
}

/// Normal posterior of a mean (or of an effect).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormalPosterior {
    /// Posterior mean.
    pub mean: f64,
    /// Posterior standard deviation, positive.
    pub sd: f64,
}

impl Posterior for NormalPosterior {
    fn pdf(&self, x: f64) -> f64 {
        normal_pdf((x - self.mean) / self.sd) / self.sd
    }
    fn cdf(&self, x: f64) -> f64 {
        normal_cdf((x - self.mean) / self.sd)
    }
    fn sf(&self, x: f64) -> f64 {
        normal_cdf((self.mean - x) / self.sd)
    }
    fn support(&self) -> (f64, f64) {
        (self.mean - 12.0 * self.sd, self.mean + 12.0 * self.sd)
    }
    fn mean(&self) -> f64 {
        self.mean
    }
    fn mirrored(&self) -> Self {
        NormalPosterior { mean: 1.0 - self.mean, sd: self.sd }
    }
}

impl NormalPosterior {
    /// `P(X > 0)`.
    pub fn prob_positive(&self) -> f64 {
        normal_cdf(self.mean / self.sd)
    }

    /// `E[max(−X, 0)]`: the expected loss of acting as if `X` were positive,
    /// `σφ(μ/σ) − μΦ(−μ/σ)` (the normal partial expectation).
    pub fn expected_shortfall_below_zero(&self) -> f64 {
        let z = self.mean / self.sd;
        (self.sd * normal_pdf(z) - self.mean * normal_cdf(-z)).max(0.0)
    }

    /// Equal-tailed interval with `alpha/2` in each tail.
    pub fn interval(&self, alpha: f64) -> (f64, f64) {
        let z = normal_quantile_upper(0.5 * alpha);
        (self.mean - z * self.sd, self.mean + z * self.sd)
    }
}

/// `P(X_b > X_a)` by Miller's sum over `i < α_b` (α_b an integer):
/// `Σ B(α_a + i, β_a + β_b) / ((β_b + i) B(1 + i, β_b) B(α_a, β_a))`, with consecutive terms
/// related by `t_{i+1}/t_i = (α_a + i)(β_b + i)/((α_a + β_a + β_b + i)(1 + i))` and the running
/// sum rescaled so that no term underflows.
fn miller_sum(a: &BetaPosterior, b: &BetaPosterior) -> f64 {
    let terms = b.alpha.round();
    let mut ln_scale = ln_beta(a.alpha, a.beta + b.beta) - ln_beta(a.alpha, a.beta);
    let mut term = 1.0_f64;
    let mut sum = 0.0_f64;
    let mut i = 0.0_f64;
    while i < terms {
        sum += term;
        term *= (a.alpha + i) * (b.beta + i) / ((a.alpha + a.beta + b.beta + i) * (1.0 + i));
        if term > 1e200 {
            ln_scale += term.ln();
            sum /= term;
            term = 1.0;
        }
        i += 1.0;
    }
    (ln_scale + sum.ln()).exp().clamp(0.0, 1.0)
}

fn is_small_integer(v: f64) -> bool {
    v.fract() == 0.0 && v <= MAX_CLOSED_FORM_TERMS
}

/// `P(X > Y)` for independent Beta variables, exact: closed form when possible, otherwise
/// adaptive quadrature of `∫ f_Y(y) P(X > y) dy`.
///
/// # Examples
/// ```
/// use flagstone_stats::bayes::{BetaPosterior, prob_greater};
/// let a = BetaPosterior { alpha: 2.0, beta: 1.0 };
/// let b = BetaPosterior { alpha: 1.0, beta: 1.0 };
/// // P(max(U1, U2) > U3) = 2/3.
/// assert!((prob_greater(&a, &b) - 2.0 / 3.0).abs() < 1e-13);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn prob_greater(x: &BetaPosterior, y: &BetaPosterior) -> f64 {
    if x.is_near_normal() && y.is_near_normal() {
        // The difference of two near-normal posteriors is near-normal.
        let sd = (x.variance() + y.variance()).sqrt();
        return crate::special::normal_cdf((x.mean() - y.mean()) / sd);
    }
    // Four equivalent sums (by X ↔ Y and p ↔ 1 − p); take the shortest with integer length.
    let candidates = [
        (x.alpha, 0_u8), // P(X > Y) = miller(Y, X), over α_x
        (y.alpha, 1),    // 1 − miller(X, Y), over α_y
        (y.beta, 2),     // P(1−Y > 1−X) = miller(1−X, 1−Y), over β_y
        (x.beta, 3),     // 1 − miller(1−Y, 1−X), over β_x
    ];
    let best = candidates
        .iter()
        .filter(|(len, _)| is_small_integer(*len))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, 0)) => miller_sum(y, x),
        Some((_, 1)) => 1.0 - miller_sum(x, y),
        Some((_, 2)) => miller_sum(&x.mirrored(), &y.mirrored()),
        Some(_) => 1.0 - miller_sum(&y.mirrored(), &x.mirrored()),
        None => prob_greater_quadrature(x, y),
    }
}

/// `P(X > Y)` by quadrature (any parameters).
pub fn prob_greater_quadrature<P: Posterior, Q: Posterior>(x: &P, y: &Q) -> f64 {
    if y.near_one() {
        // P(X > Y) = P(1 − X < 1 − Y), integrated where 1 − Y has its digits.
        let (x, y) = (x.mirrored(), y.mirrored());
        let (lo, hi) = y.support();
        return integrate(|v| y.pdf(v) * x.cdf(v), &even_breaks(lo, hi, 24), QUAD_TOL)
            .clamp(0.0, 1.0);
    }
    let (lo, hi) = y.support();
    integrate(|v| y.pdf(v) * x.sf(v), &even_breaks(lo, hi, 24), QUAD_TOL).clamp(0.0, 1.0)
}

/// Expected loss of choosing `chosen` over `other`: `E[max(X_other − X_chosen, 0)]`, from the
/// identity `E[X_o 1{X_o > X_c}] = E[X_o]·P(X_o⁺ > X_c)` with `X_o⁺ ~ Beta(α_o + 1, β_o)`
/// (Stucchio, "Bayesian A/B Testing at VWO", 2015, eq. 5).
pub fn expected_loss(chosen: &BetaPosterior, other: &BetaPosterior) -> f64 {
    let loss = other.mean() * prob_greater(&other.plus_one(), chosen)
        - chosen.mean() * prob_greater(other, &chosen.plus_one());
    loss.max(0.0)
}

/// `P(arm j is best)` for every arm, by one-dimensional quadrature over each arm's support,
/// normalised so the probabilities sum to 1 (the raw sum differs by less than the quadrature
/// tolerance). `higher_is_better` picks the direction.
///
/// An arm whose mass lies near 1 ([`Posterior::near_one`]) is integrated over `1 − X`:
/// `P(X_j best) = P(1 − X_j lowest)`.
pub fn prob_best<P: Posterior>(arms: &[P], higher_is_better: bool) -> Vec<f64> {
    let mirrored: Vec<P> = if arms.iter().any(Posterior::near_one) {
        arms.iter().map(Posterior::mirrored).collect()
    } else {
        Vec::new()
    };
    let raw: Vec<f64> = arms
        .iter()
        .enumerate()
        .map(|(j, arm)| {
            if arm.near_one() {
                best_integral(&mirrored, j, !higher_is_better)
            } else {
                best_integral(arms, j, higher_is_better)
            }
        })
        .collect();
    let total: f64 = raw.iter().sum();
    if total > 0.0 {
        raw.iter().map(|p| p / total).collect()
    } else {
        vec![1.0 / arms.len().max(1) as f64; arms.len()]
    }
}

/// `∫ f_j(x) Π_{i≠j} F_i(x) dx` (or with the survival functions when lower is better).
fn best_integral<P: Posterior>(arms: &[P], j: usize, higher_is_better: bool) -> f64 {
    let Some(arm) = arms.get(j) else { return 0.0 };
    let (lo, hi) = arm.support();
    integrate(
        |x| {
            let mut v = arm.pdf(x);
            for (i, other) in arms.iter().enumerate() {
                if i != j && v != 0.0 {
                    v *= if higher_is_better { other.cdf(x) } else { other.sf(x) };
                }
            }
            v
        },
        &even_breaks(lo, hi, 24),
        QUAD_TOL,
    )
    .max(0.0)
}

/// The outcome of a two-arm Beta–Binomial comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinaryComparison {
    /// Control posterior.
    pub control: BetaPosterior,
    /// Treatment posterior.
    pub treatment: BetaPosterior,
    /// `P(X_t > X_c)`.
    pub prob_treatment_greater: f64,
    /// `E[max(X_c − X_t, 0)]`: loss of shipping the treatment if higher is better.
    pub loss_choosing_treatment: f64,
    /// `E[max(X_t − X_c, 0)]`: loss of keeping the control if higher is better.
    pub loss_choosing_control: f64,
    /// Equal-tailed credible interval of each posterior, `(lower, upper)`.
    pub control_interval: (f64, f64),
    /// Equal-tailed credible interval of the treatment posterior.
    pub treatment_interval: (f64, f64),
}

/// The exact two-arm comparison: posteriors, intervals, `P(T > C)` and both expected losses.
///
/// # Examples
/// ```
/// use flagstone_stats::{BinaryStats, bayes::{BetaPrior, compare_binary}};
/// let c = compare_binary(&BetaPrior::default(), &BinaryStats::new(1000, 100)?, &BinaryStats::new(1000, 130)?, 0.05);
/// assert!(c.prob_treatment_greater > 0.95);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compare_binary(
    prior: &BetaPrior,
    control: &BinaryStats,
    treatment: &BinaryStats,
    alpha: f64,
) -> BinaryComparison {
    let c = BetaPosterior::from_counts(prior, control);
    let t = BetaPosterior::from_counts(prior, treatment);
    BinaryComparison {
        control: c,
        treatment: t,
        prob_treatment_greater: prob_greater(&t, &c),
        loss_choosing_treatment: expected_loss(&t, &c),
        loss_choosing_control: expected_loss(&c, &t),
        control_interval: c.interval(alpha),
        treatment_interval: t.interval(alpha),
    }
}

/// The `(mean, sd)` of a normal prior on the relative effect, or flat.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum EffectPrior {
    /// Improper flat prior: the posterior is the likelihood.
    #[default]
    Flat,
    /// `N(mean, sd²)` on the relative effect `(t − c)/|c|`.
    Normal {
        /// Prior mean of the relative effect.
        mean: f64,
        /// Prior standard deviation of the relative effect, positive.
        sd: f64,
    },
}

/// Posterior of the relative effect given its estimate and standard error: the conjugate
/// normal update (precision-weighted mean; Gelman et al., "Bayesian Data Analysis", 3rd ed.,
/// eq. 2.12).
pub fn relative_effect_posterior(
    estimate: f64,
    std_err: f64,
    prior: &EffectPrior,
) -> NormalPosterior {
    match *prior {
        EffectPrior::Flat => NormalPosterior { mean: estimate, sd: std_err },
        EffectPrior::Normal { mean, sd } => {
            let w_data = 1.0 / (std_err * std_err);
            let w_prior = 1.0 / (sd * sd);
            let precision = w_data + w_prior;
            NormalPosterior {
                mean: (estimate * w_data + mean * w_prior) / precision,
                sd: precision.sqrt().recip(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beta(a: f64, b: f64) -> BetaPosterior {
        BetaPosterior { alpha: a, beta: b }
    }

    #[test]
    fn closed_form_reference_values() {
        // Uniform vs uniform is ½; Beta(2,1) is the max of two uniforms, so
        // P(max(U1,U2) > U3) = 2/3; P(Beta(1,2) > Beta(1,1)) = 1/3.
        // (ln Γ from statrs is good to ~1e-15, hence the 1e-13 tolerance.)
        assert!((prob_greater(&beta(1.0, 1.0), &beta(1.0, 1.0)) - 0.5).abs() < 1e-13);
        assert!((prob_greater(&beta(2.0, 1.0), &beta(1.0, 1.0)) - 2.0 / 3.0).abs() < 1e-13);
        assert!((prob_greater(&beta(1.0, 2.0), &beta(1.0, 1.0)) - 1.0 / 3.0).abs() < 1e-13);
        // Miller's formula against the quadrature for an A/B-test-sized posterior.
        let (t, c) = (beta(131.0, 871.0), beta(101.0, 901.0));
        let closed = prob_greater(&t, &c);
        let quad = prob_greater_quadrature(&t, &c);
        assert!((closed - quad).abs() < 1e-11, "{closed} vs {quad}");
        assert!((closed + prob_greater(&c, &t) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn non_integer_and_large_parameters_use_quadrature() {
        // Jeffreys prior makes parameters non-integer.
        let (t, c) = (beta(30.5, 970.5), beta(20.5, 980.5));
        let p = prob_greater(&t, &c);
        let swapped = prob_greater(&c, &t);
        assert!((p + swapped - 1.0).abs() < 1e-10);
        // n = 1e9 per arm, identical: ½.
        let big = beta(1e8 + 1.0, 9e8 + 1.0);
        assert!((prob_greater_quadrature(&big, &big) - 0.5).abs() < 1e-8);
    }

    #[test]
    fn expected_loss_reference() {
        // For uniforms, E[max(U1 − U2, 0)] = 1/6.
        assert!((expected_loss(&beta(1.0, 1.0), &beta(1.0, 1.0)) - 1.0 / 6.0).abs() < 1e-13);
        let t = beta(131.0, 871.0);
        let c = beta(101.0, 901.0);
        // E[X_t − X_c] = loss(choose c) − loss(choose t).
        let diff = expected_loss(&c, &t) - expected_loss(&t, &c);
        assert!((diff - (t.mean() - c.mean())).abs() < 1e-12);
    }

    #[test]
    fn prob_best_two_arms_equals_prob_greater() {
        let arms = [beta(101.0, 901.0), beta(131.0, 871.0)];
        let pb = prob_best(&arms, true);
        assert!((pb[1] - prob_greater(&arms[1], &arms[0])).abs() < 1e-10, "{pb:?}");
        let pb_low = prob_best(&arms, false);
        assert!((pb_low[0] - pb[1]).abs() < 1e-10);
        // Three identical arms are equally likely to be best.
        let same = [beta(50.0, 50.0); 3];
        for p in prob_best(&same, true) {
            assert!((p - 1.0 / 3.0).abs() < 1e-10);
        }
    }

    #[test]
    fn difference_intervals_bracket_the_estimates() {
        let (t, c) = (beta(131.0, 871.0), beta(101.0, 901.0));
        let (lo, hi) = relative_difference_interval(&t, &c, 0.05);
        let r = t.mean() / c.mean() - 1.0;
        assert!(lo < r && r < hi, "{lo} {r} {hi}");
        // Check the inversion: P(R ≤ lo) = 0.025.
        let (a, b) = c.support();
        let mass = integrate(|x| c.pdf(x) * t.cdf((1.0 + lo) * x), &even_breaks(a, b, 16), 1e-13);
        assert!((mass - 0.025).abs() < 1e-9, "{mass}");
        let (dlo, dhi) = difference_interval(&t, &c, 0.05);
        assert!(dlo < t.mean() - c.mean() && t.mean() - c.mean() < dhi);
        // Normal approximation is close at these sizes.
        let sd = (t.variance() + c.variance()).sqrt();
        assert!((dhi - dlo - 2.0 * 1.959_964 * sd).abs() < 0.05 * (dhi - dlo));
    }

    #[test]
    fn normal_model() {
        let post = relative_effect_posterior(0.02, 0.01, &EffectPrior::Flat);
        assert!((post.prob_positive() - normal_cdf(2.0)).abs() < 1e-15);
        // Conjugate update with equal precisions averages the means.
        let post =
            relative_effect_posterior(0.02, 0.01, &EffectPrior::Normal { mean: 0.0, sd: 0.01 });
        assert!((post.mean - 0.01).abs() < 1e-15);
        assert!((post.sd - 0.01 / 2.0_f64.sqrt()).abs() < 1e-15);
        // E[max(−X, 0)] for X ~ N(0, 1) is φ(0) = 0.398942.
        let std = NormalPosterior { mean: 0.0, sd: 1.0 };
        assert!((std.expected_shortfall_below_zero() - 0.398_942_280_401_432_7).abs() < 1e-15);
    }
}

#[cfg(test)]
mod normal_approximation_tests {
    use super::*;

    /// At the threshold the moment-matched normal agrees with the exact Beta
    /// computation: probabilities within 1e-3, interval ends within 1% of the sd.
    #[test]
    fn near_normal_posteriors_agree_with_the_exact_beta() {
        for &(a, b, shift) in &[(1e5, 9e5, 300.0), (2e5, 2e5, -200.0), (2e5, 8e6, 1000.0)] {
            let x = BetaPosterior { alpha: a + shift, beta: b };
            let y = BetaPosterior { alpha: a, beta: b };
            assert!(x.is_near_normal() && y.is_near_normal());
            // The exact values: the same parameters just below the threshold's reach,
            // evaluated by the continued fraction and quadrature.
            let exact = |p: &BetaPosterior| ExactBeta(*p);
            let p_exact = prob_greater_quadrature(&exact(&x), &exact(&y));
            let p_normal = prob_greater(&x, &y);
            assert!((p_exact - p_normal).abs() < 1e-3, "{a} {b}: {p_exact} vs {p_normal}");
            let exact_interval = (
                beta_quantile(0.025, TailSide::Lower, x.alpha, x.beta),
                beta_quantile(0.025, TailSide::Upper, x.alpha, x.beta),
            );
            let normal_interval = x.interval(0.05);
            let sd = x.variance().sqrt();
            assert!(
                (exact_interval.0 - normal_interval.0).abs() < 0.01 * sd,
                "{exact_interval:?} {normal_interval:?}"
            );
            assert!(
                (exact_interval.1 - normal_interval.1).abs() < 0.01 * sd,
                "{exact_interval:?} {normal_interval:?}"
            );
        }
    }

    /// A skewed posterior (few successes in many trials) stays exact and fast.
    #[test]
    fn skewed_large_posteriors_stay_exact() {
        let x = BetaPosterior { alpha: 12.0, beta: 1e10 };
        assert!(!x.is_near_normal());
        let y = BetaPosterior { alpha: 10.0, beta: 1e10 };
        let p = prob_greater(&x, &y);
        assert!(p > 0.5 && p < 1.0, "{p}");
    }

    /// The Beta posterior evaluated exactly whatever its size (the reference above).
    struct ExactBeta(BetaPosterior);

    impl Posterior for ExactBeta {
        fn pdf(&self, x: f64) -> f64 {
            beta_pdf(x, self.0.alpha, self.0.beta)
        }
        fn cdf(&self, x: f64) -> f64 {
            incomplete_beta(self.0.alpha, self.0.beta, x, 1.0 - x).lower
        }
        fn sf(&self, x: f64) -> f64 {
            incomplete_beta(self.0.alpha, self.0.beta, x, 1.0 - x).upper
        }
        fn support(&self) -> (f64, f64) {
            let (m, s) = (self.0.mean(), self.0.variance().sqrt());
            ((m - 12.0 * s).max(0.0), (m + 12.0 * s).min(1.0))
        }
        fn mean(&self) -> f64 {
            self.0.mean()
        }
        fn mirrored(&self) -> Self {
            ExactBeta(self.0.mirrored())
        }
    }
}
