//! Sequential testing: group-sequential efficacy bounds with Lan–DeMets alpha spending, and
//! always-valid confidence sequences.
//!
//! Experiments are read every day; a fixed-horizon test read daily rejects a true null far more
//! often than its nominal alpha. Two remedies are offered.
//!
//! # Group-sequential bounds
//!
//! [`efficacy_bounds`] gives, for the information fractions `t₁ < t₂ < … ≤ 1` seen so far, the
//! z-bounds `c_k` such that under the null the probability of first crossing at look `k` is
//! exactly what the spending function allows: `P(|Z_j| < c_j for j < k, |Z_k| ≥ c_k) =
//! α(t_k) − α(t_{k−1})` (one tail for one-sided designs). Spending functions ([`Spending`]),
//! with `a` the level of one tail (`alpha` one-sided, `alpha/2` per tail two-sided):
//! - power family `a·t^ρ` (Kim & DeMets 1987; ρ = 2 is the default, ρ = 1 is Pocock-like);
//! - O'Brien–Fleming type `2 − 2Φ(z_{a/2}/√t)` (Lan & DeMets 1983), the per-tail form used
//!   by gsDesign's `sfLDOF`, ldbounds and rpact's `asOF`, so that a two-sided test at
//!   `alpha = 0.05` spends `0.025` per tail and its bounds at five equally spaced looks are
//!   4.88, 3.36, 2.68, 2.29, 2.03.
//!
//! Information fractions come from sample sizes: `t = n / max(n_current, n_final_expected)`
//! ([`information_fractions`]). When an experiment overruns its planned size, the current look
//! becomes `t = 1` and earlier looks are rescaled, so the whole alpha is spent by now.
//!
//! ## Numerical method and accuracy
//!
//! The joint law of `Z_1, …, Z_K` under the null is that of a Brownian motion read at the
//! fractions: `Z_k√t_k = Z_{k−1}√t_{k−1} + √(t_k − t_{k−1})·N(0, 1)`. The sub-density `f_k` of
//! `Z_k` on paths that have not crossed yet obeys the recursion of Armitage, McPherson & Rowe
//! (1969): `f_1 = φ` and `f_k(z) = ∫_{C_{k−1}} f_{k−1}(u) · (√t_k/√Δ_k)
//! φ((z√t_k − u√t_{k−1})/√Δ_k) du` over the continuation region `C_{k−1} = (−c, c)` (or
//! `(−∞, c)`). The crossing probability at look `k` is `∫ f_{k−1}(u) Q((c√t_k −
//! u√t_{k−1})/√Δ_k) du` with `Q = 1 − Φ` computed from `erfc`.
//!
//! Each `f_k` is stored at the nodes of composite 8-point Gauss–Legendre panels covering
//! `C_k`, truncated below at `z = −8` (the null mass beyond is `6e-16` and cannot travel to
//! an upper bound). Why this is accurate to well below `1e-6` in `z`:
//! - Every integrand is a product of `f_{k−1}` (smooth on the scale `√(Δ_{k−1}/t_{k−1})`, the
//!   width of the kernel that made it) and a Gaussian kernel of width `√(Δ_k/t_{k−1})`. Panels
//!   are twice the smaller of these scales wide (at most 2). The 8-point rule is exact for
//!   polynomials of degree 15; its remainder on a panel of half-width `h` is
//!   `h¹⁷(8!)⁴/(17·(16!)³)·f⁽¹⁶⁾(ξ)`, which for a Gaussian of standard deviation `σ ≥ h` is
//!   of order `1e-16·σ`. Panel ends coincide with the bounds, so there is no end-point error of the
//!   kind Simpson's rule makes where the density is cut off.
//! - Kernel sums run over `±11` standard deviations of the product of `φ` and the kernel
//!   (`e^{−60}` relative), which keeps the cost linear in the number of nodes.
//! - The bound is the root of `ln P(c) = ln target`, found by safeguarded Newton steps (the
//!   derivative is the density at `c`) until the crossing probability is right to a relative
//!   `1e-13`; a relative error `ε` in the crossing probability moves the bound by about
//!   `ε·P/f(c) ≤ ε/c` in the tail.
//! - Tail probabilities come from statrs's `erfc`, which is good to about `1e-10` relative;
//!   that, not the quadrature, limits the bounds to about `1e-11`.
//! - The tests check the claim directly: halving the panel width moves no bound by more than
//!   `1e-9` (measured: about `3e-11`), a two-look design matches an independent adaptive
//!   Gauss–Kronrod integration of the bivariate normal, and the bounds agree with rpact's
//!   to the 8 decimals it prints.
//!
//! A look whose alpha increment underflows `f64` (below `1e-300`, e.g. an O'Brien–Fleming look
//! at `t = 0.001`) gets the bound `+∞`: nothing can be rejected there.
//!
//! # Always-valid confidence sequences
//!
//! [`AlwaysValid`] is the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha,
//! Kennedy & Ramdas ("Time-uniform central limit theory and asymptotic confidence sequences",
//! 2021/2023), built on Robbins' normal mixture with a tuning parameter `N*` (default 5,000,
//! the sample size at which the sequence is tightest). In units of the standard error, the
//! two-sided half-width at `n` units is `√((nρ² + 1)/(nρ²) · ln((nρ² + 1)/α²))` with
//! `ρ² = (−2 ln α + ln(1 − 2 ln α))/N*`. It covers the effect at every `n` at once, so it may be
//! read after every unit; the matching always-valid p-value is `min(1, 1/M_n)`, with `M_n` the
//! mixture martingale. One-sided sequences mix over a half-normal (tuned like a two-sided
//! sequence at `2α`) and solve `2Φ(x)e^{x²/2}/√(nρ² + 1) = 1/α` numerically. For a difference
//! of two means `n` counts the units of both arms (the estimator is a mean over all units of
//! inverse-probability-weighted outcomes), and the standard error is the usual unpooled one.

mod futility;

pub use futility::{FutilityBounds, FutilityDesign, futility_bounds};

use statrs::function::erf::erfc;

use crate::error::StatsError;
use crate::frequentist::Sides;
use crate::special::{self, Tail};

const SQRT_2: f64 = std::f64::consts::SQRT_2;
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Gauss–Legendre nodes on `[−1, 1]`, ascending (Abramowitz & Stegun Table 25.4, n = 8).
const GL_NODES: [f64; 8] = [
    -0.960_289_856_497_536_3,
    -0.796_666_477_413_626_7,
    -0.525_532_409_916_329,
    -0.183_434_642_495_649_8,
    0.183_434_642_495_649_8,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_3,
];
/// The matching weights (they sum to 2).
const GL_WEIGHTS: [f64; 8] = [
    0.101_228_536_290_376_3,
    0.222_381_034_453_374_5,
    0.313_706_645_877_887_3,
    0.362_683_783_378_362,
    0.362_683_783_378_362,
    0.313_706_645_877_887_3,
    0.222_381_034_453_374_5,
    0.101_228_536_290_376_3,
];

/// Lower truncation of the one-sided continuation region on the z scale.
const Z_FLOOR: f64 = -8.0;
/// Upper end of a grid whose bound is infinite: `φ` underflows `f64` soon after.
const Z_CEILING: f64 = 37.5;
/// An alpha increment below this cannot be represented as a crossing probability.
const TINY_SPEND: f64 = 1e-300;
/// Half-width, in standard deviations, of the window a kernel sum runs over.
const WINDOW_SD: f64 = 11.0;
/// Cap on the panels of one grid (fractions closer than about `1e-6` would need more).
const MAX_PANELS: usize = 1 << 14;
/// Panels per smoothness scale used by [`efficacy_bounds`].
const PANELS_PER_SCALE: f64 = 0.5;

/// The most looks a design may have (bounds cost grows linearly with the looks).
pub const MAX_LOOKS: usize = 1000;

/// Default tuning `N*` of the always-valid confidence sequence.
pub const DEFAULT_TUNING: f64 = 5000.0;

/// A Lan–DeMets alpha-spending function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spending {
    /// `a·t^ρ` (Kim & DeMets 1987): ρ = 1 is Pocock-like, ρ = 3 close to O'Brien–Fleming.
    Power {
        /// The exponent ρ (> 0).
        rho: f64,
    },
    /// `2 − 2Φ(z_{a/2}/√t)` (Lan & DeMets 1983): spends almost nothing early.
    OBrienFleming,
}

impl Default for Spending {
    fn default() -> Self {
        Spending::Power { rho: 2.0 }
    }
}

impl Spending {
    /// Alpha spent by fraction `t` in one tail whose level is `tail_alpha`.
    ///
    /// ```
    /// use flagstone_stats::sequential::Spending;
    /// assert_eq!(Spending::Power { rho: 2.0 }.cumulative(0.05, 0.5), 0.0125);
    /// let of = Spending::OBrienFleming.cumulative(0.025, 1.0);
    /// assert!((of - 0.025).abs() < 1e-15);
    /// ```
    pub fn cumulative(&self, tail_alpha: f64, t: f64) -> f64 {
        Curve::new(*self, tail_alpha).at(t)
    }

    /// Checks the parameters (the exponent must lie in `(0, 100]`).
    ///
    /// # Errors
    /// [`StatsError::Invalid`] at `spending`.
    pub fn validate(&self) -> Result<(), StatsError> {
        match *self {
            Spending::Power { rho } if !(rho > 0.0 && rho <= 100.0) => Err(StatsError::invalid(
                "spending",
                format!("expected a power-family exponent in (0, 100], got {rho}"),
            )),
            _ => Ok(()),
        }
    }
}

impl std::str::FromStr for Spending {
    type Err = StatsError;

    /// Parses `power:RHO`, `power` (ρ = 2) or `obrien-fleming`.
    fn from_str(text: &str) -> Result<Self, StatsError> {
        let spending = match text {
            "obrien-fleming" => Spending::OBrienFleming,
            "power" => Spending::default(),
            _ => {
                let rho = text.strip_prefix("power:").and_then(|r| r.parse::<f64>().ok());
                let Some(rho) = rho else {
                    return Err(StatsError::invalid(
                        "spending",
                        format!("expected \"power:RHO\" or \"obrien-fleming\", got {text:?}"),
                    ));
                };
                Spending::Power { rho }
            }
        };
        spending.validate()?;
        Ok(spending)
    }
}

impl std::fmt::Display for Spending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spending::Power { rho } => write!(f, "power:{rho}"),
            Spending::OBrienFleming => f.write_str("obrien-fleming"),
        }
    }
}

/// A spending function at a fixed tail level, with its quantile worked out once.
#[derive(Clone, Copy)]
struct Curve {
    spending: Spending,
    tail_alpha: f64,
    /// `z_{a/2}` for the O'Brien–Fleming type.
    z_half: f64,
}

impl Curve {
    fn new(spending: Spending, tail_alpha: f64) -> Curve {
        let z_half = match spending {
            Spending::OBrienFleming => special::normal_quantile_upper(0.5 * tail_alpha),
            Spending::Power { .. } => 0.0,
        };
        Curve { spending, tail_alpha, z_half }
    }

    fn at(&self, t: f64) -> f64 {
        if t.is_nan() || t <= 0.0 {
            return 0.0;
        }
        if t >= 1.0 {
            // Every spending function spends exactly alpha by t = 1.
            return self.tail_alpha;
        }
        match self.spending {
            Spending::Power { rho } => self.tail_alpha * t.powf(rho),
            // 2 − 2Φ(x) = erfc(x/√2), without the cancellation of 1 − Φ.
            Spending::OBrienFleming => erfc(self.z_half / (SQRT_2 * t.sqrt())).min(self.tail_alpha),
        }
    }
}

/// A group-sequential design: overall level, sides and spending function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupSequentialDesign {
    /// Overall type-I error rate; a two-sided design spends `alpha/2` per tail.
    pub alpha: f64,
    /// Two-sided (symmetric bounds) or one-sided (`Greater` and `Less` give the same bounds).
    pub sides: Sides,
    /// How alpha is spent over the information fraction.
    pub spending: Spending,
}

impl Default for GroupSequentialDesign {
    fn default() -> Self {
        GroupSequentialDesign { alpha: 0.05, sides: Sides::TwoSided, spending: Spending::default() }
    }
}

impl GroupSequentialDesign {
    fn tail_alpha(&self) -> f64 {
        if self.sides == Sides::TwoSided { 0.5 * self.alpha } else { self.alpha }
    }

    fn n_tails(&self) -> f64 {
        if self.sides == Sides::TwoSided { 2.0 } else { 1.0 }
    }
}

/// Efficacy bounds, one entry per look.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    /// The z-bound of each look (`|z| ≥ bound` rejects when two-sided); `+∞` when the look's
    /// alpha increment underflows `f64`.
    pub z_bounds: Vec<f64>,
    /// The nominal level of each look: `2(1 − Φ(bound))` two-sided, `1 − Φ(bound)` one-sided.
    pub adjusted_alpha: Vec<f64>,
    /// Alpha spent up to and including each look, both tails.
    pub cumulative_alpha_spent: Vec<f64>,
}

/// Information fractions `n_k / max(n_last, final_expected)` for cumulative sample sizes.
///
/// # Errors
/// [`StatsError::Invalid`] (path `looks[k]` or `finalExpectedSampleSize`) when a sample size
/// is not positive and finite, when sizes do not increase strictly, or when there are more than
/// [`MAX_LOOKS`].
///
/// # Examples
/// ```
/// use flagstone_stats::sequential::information_fractions;
/// assert_eq!(information_fractions(&[1000.0, 2000.0], 4000.0)?, vec![0.25, 0.5]);
/// // Overrun: the current look is the final one.
/// assert_eq!(information_fractions(&[1000.0, 5000.0], 4000.0)?, vec![0.2, 1.0]);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn information_fractions(
    sample_sizes: &[f64],
    final_expected: f64,
) -> Result<Vec<f64>, StatsError> {
    if !(final_expected > 0.0 && final_expected.is_finite()) {
        return Err(StatsError::invalid(
            "finalExpectedSampleSize",
            format!("expected a positive sample size, got {final_expected}"),
        ));
    }
    if sample_sizes.len() > MAX_LOOKS {
        return Err(StatsError::invalid(
            "looks",
            format!("expected at most {MAX_LOOKS} looks, got {}", sample_sizes.len()),
        ));
    }
    let mut previous = 0.0;
    for (k, &n) in sample_sizes.iter().enumerate() {
        if !(n > previous && n.is_finite()) {
            return Err(StatsError::invalid(
                format!("looks[{k}]"),
                format!(
                    "expected a sample size larger than the previous look's {previous}, got {n}"
                ),
            ));
        }
        previous = n;
    }
    let denominator = previous.max(final_expected);
    Ok(sample_sizes.iter().map(|n| (n / denominator).min(1.0)).collect())
}

/// Group-sequential efficacy bounds for the looks at `fractions` (strictly increasing, in
/// `(0, 1]`); see the [module docs](self) for the method and its accuracy.
///
/// # Errors
/// [`StatsError::Invalid`] when alpha is not in `(0, 1)` (a one-sided level must be below ½),
/// the spending exponent is not in `(0, 100]`, or the fractions are empty, not increasing, out
/// of `(0, 1]` or more than [`MAX_LOOKS`].
///
/// # Examples
/// ```
/// use flagstone_stats::Sides;
/// use flagstone_stats::sequential::{GroupSequentialDesign, Spending, efficacy_bounds};
/// let design = GroupSequentialDesign {
///     alpha: 0.05,
///     sides: Sides::TwoSided,
///     spending: Spending::OBrienFleming,
/// };
/// let bounds = efficacy_bounds(&[0.5, 1.0], &design)?;
/// assert!((bounds.z_bounds[0] - 2.962_588).abs() < 1e-6);
/// assert!((bounds.z_bounds[1] - 1.968_596).abs() < 1e-6);
/// assert!((bounds.cumulative_alpha_spent[1] - 0.05).abs() < 1e-15);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn efficacy_bounds(
    fractions: &[f64],
    design: &GroupSequentialDesign,
) -> Result<Bounds, StatsError> {
    bounds_at_resolution(fractions, design, PANELS_PER_SCALE)
}

fn validate_design(fractions: &[f64], design: &GroupSequentialDesign) -> Result<(), StatsError> {
    let tail = design.tail_alpha();
    if !(design.alpha > 0.0 && design.alpha < 1.0 && tail < 0.5) {
        return Err(StatsError::invalid(
            "alpha",
            format!("expected a level in (0, 1), below 0.5 when one-sided, got {}", design.alpha),
        ));
    }
    design.spending.validate()?;
    if fractions.is_empty() {
        return Err(StatsError::invalid("fractions", "expected at least one look"));
    }
    if fractions.len() > MAX_LOOKS {
        return Err(StatsError::invalid(
            "fractions",
            format!("expected at most {MAX_LOOKS} looks, got {}", fractions.len()),
        ));
    }
    let mut previous = 0.0;
    for (k, &t) in fractions.iter().enumerate() {
        if !(t > previous && t <= 1.0) {
            return Err(StatsError::invalid(
                format!("fractions[{k}]"),
                format!("expected a fraction in ({previous}, 1], got {t}"),
            ));
        }
        previous = t;
    }
    Ok(())
}

fn bounds_at_resolution(
    fractions: &[f64],
    design: &GroupSequentialDesign,
    panels_per_scale: f64,
) -> Result<Bounds, StatsError> {
    validate_design(fractions, design)?;
    let two_sided = design.sides == Sides::TwoSided;
    let tail_alpha = design.tail_alpha();
    let n_tails = design.n_tails();
    let mut out = Bounds {
        z_bounds: Vec::with_capacity(fractions.len()),
        adjusted_alpha: Vec::with_capacity(fractions.len()),
        cumulative_alpha_spent: Vec::with_capacity(fractions.len()),
    };
    let curve = Curve::new(design.spending, tail_alpha);
    let mut grid: Option<Grid> = None;
    let mut t_prev = 0.0;
    let mut spent_prev = 0.0;
    for (k, &t) in fractions.iter().enumerate() {
        let spent = curve.at(t).max(spent_prev);
        let target = spent - spent_prev;
        let step = Step { t_prev, t };
        let bound = if target <= TINY_SPEND {
            f64::INFINITY
        } else {
            match &grid {
                None => special::normal_quantile_upper(target),
                Some(g) => solve_bound(g, step, target, spent),
            }
        };
        out.z_bounds.push(bound);
        // P(Z_k ≥ c_k) ≤ P(crossing by look k): the clamp only removes erfc's rounding.
        out.adjusted_alpha.push((n_tails * upper_tail(bound)).min(n_tails * spent));
        out.cumulative_alpha_spent.push(n_tails * spent);
        if let Some(&t_next) = fractions.get(k + 1) {
            // The next integrand is this density times a kernel of width √(Δ_next/t); the
            // density itself is smooth on the width of the kernel that made it.
            let next_width = ((t_next - t) / t).sqrt();
            let own_width = if grid.is_some() { ((t - t_prev) / t).sqrt() } else { 1.0 };
            let scale = next_width.min(own_width).min(1.0);
            let hi = bound.min(Z_CEILING);
            let lo = if two_sided { (-bound).max(Z_FLOOR) } else { Z_FLOOR };
            let panels = panel_count(hi - lo, scale, panels_per_scale);
            grid = Some(match &grid {
                None => Grid::standard_normal(lo, hi, panels),
                Some(g) => g.propagate(step, lo, hi, panels),
            });
        }
        t_prev = t;
        spent_prev = spent;
    }
    Ok(out)
}

/// `P(Z ≥ z)` from `erfc`; 0 at `+∞`.
fn upper_tail(z: f64) -> f64 {
    if z == f64::INFINITY { 0.0 } else { 0.5 * erfc(z / SQRT_2) }
}

fn panel_count(width: f64, scale: f64, panels_per_scale: f64) -> usize {
    let wanted = (width / scale * panels_per_scale).ceil();
    if wanted.is_finite() && wanted >= 1.0 {
        // Bounded by MAX_PANELS, so the conversion cannot truncate.
        (wanted.min(MAX_PANELS as f64)) as usize
    } else {
        1
    }
}

/// Consecutive fractions `t_{k−1}`, `t_k`.
#[derive(Clone, Copy)]
struct Step {
    t_prev: f64,
    t: f64,
}

impl Step {
    /// `(√t_k, √t_{k−1}, √Δ)`.
    fn roots(&self) -> (f64, f64, f64) {
        (self.t.sqrt(), self.t_prev.sqrt(), (self.t - self.t_prev).sqrt())
    }
}

/// A sub-density stored as masses (weight × density) at quadrature nodes, ascending.
struct Grid {
    nodes: Vec<f64>,
    masses: Vec<f64>,
    /// Width of each Gauss–Legendre panel.
    panel_width: f64,
    /// Left end of the first panel.
    lo: f64,
}

impl Grid {
    /// Nodes and weights of `panels` equal Gauss–Legendre panels on `[lo, hi]`.
    fn layout(lo: f64, hi: f64, panels: usize) -> (Vec<f64>, Vec<f64>) {
        let n = panels * GL_NODES.len();
        let mut nodes = Vec::with_capacity(n);
        let mut weights = Vec::with_capacity(n);
        if hi <= lo {
            return (nodes, weights);
        }
        let width = (hi - lo) / panels as f64;
        let half = 0.5 * width;
        for p in 0..panels {
            let center = lo + (p as f64 + 0.5) * width;
            for (x, w) in GL_NODES.iter().zip(GL_WEIGHTS) {
                nodes.push(center + half * x);
                weights.push(half * w);
            }
        }
        (nodes, weights)
    }

    /// `φ` restricted to `[lo, hi]`: the sub-density after the first look.
    fn standard_normal(lo: f64, hi: f64, panels: usize) -> Grid {
        let (nodes, weights) = Grid::layout(lo, hi, panels);
        let masses = nodes.iter().zip(&weights).map(|(z, w)| w * special::normal_pdf(*z)).collect();
        Grid { nodes, masses, panel_width: (hi - lo) / panels as f64, lo }
    }

    /// Where the product of `φ(u)` and a Gaussian kernel centred at `u_k` with standard
    /// deviation `sigma` lives: `[centre − W·sd, centre + W·sd]`.
    fn window(u_k: f64, sigma: f64) -> (f64, f64) {
        let s2 = sigma * sigma;
        let centre = u_k / (1.0 + s2);
        let half = WINDOW_SD * sigma / (1.0 + s2).sqrt();
        (centre - half, centre + half)
    }

    /// The sub-density at the next look on `[lo, hi]` (the AMR recursion).
    ///
    /// For a new node `z` the kernel is a Gaussian in `u` centred at `u_K = z√t_k/√t_{k−1}`
    /// with standard deviation `σ = √Δ/√t_{k−1}`. The nodes with the same position inside their
    /// panel are evenly spaced (one panel width `h` apart), and along such a comb consecutive
    /// kernel values have ratios that themselves change by the constant factor
    /// `e^{−h²/σ²}`. So each comb costs three `exp` calls, started at the kernel's largest
    /// value inside the window and walked outwards, where values only shrink.
    fn propagate(&self, step: Step, lo: f64, hi: f64, panels: usize) -> Grid {
        let (a, b, sd) = step.roots();
        let sigma = sd / b;
        let inv_two_s2 = 0.5 / (sigma * sigma);
        let scale = a / sd * INV_SQRT_2PI;
        let (nodes, weights) = Grid::layout(lo, hi, panels);
        let masses = nodes
            .iter()
            .zip(&weights)
            .map(|(&z, &w)| {
                let u_k = z * a / b;
                let (from, to) = Grid::window(u_k, sigma);
                w * scale * self.comb_sum(u_k, inv_two_s2, from, to)
            })
            .collect();
        Grid { nodes, masses, panel_width: (hi - lo) / panels as f64, lo }
    }

    /// `Σ m_j exp(−(u_j − u_K)²/(2σ²))` over the nodes in `[from, to]`.
    fn comb_sum(&self, u_k: f64, inv_two_s2: f64, from: f64, to: f64) -> f64 {
        let n_gl = GL_NODES.len();
        let n_panels = self.nodes.len() / n_gl;
        if n_panels == 0 || to < from {
            return 0.0;
        }
        let h = self.panel_width;
        let last = n_panels - 1;
        let panel_of = |u: f64| ((u - self.lo) / h).floor().clamp(0.0, last as f64) as usize;
        let (p_from, p_to) = (panel_of(from), panel_of(to));
        let p_peak = panel_of(u_k).clamp(p_from, p_to);
        let shrink = (-2.0 * h * h * inv_two_s2).exp();
        let mut sum = 0.0;
        for q in 0..n_gl {
            let idx = p_peak * n_gl + q;
            let (Some(&u0), Some(&m0)) = (self.nodes.get(idx), self.masses.get(idx)) else {
                continue;
            };
            let d = u0 - u_k;
            let e0 = (-d * d * inv_two_s2).exp();
            if e0 == 0.0 {
                continue;
            }
            sum += m0 * e0;
            // Upwards: E(u + h)/E(u) = exp(−(2dh + h²)/(2σ²)).
            let mut e = e0;
            let mut ratio = (-(2.0 * d * h + h * h) * inv_two_s2).exp();
            for p in p_peak + 1..=p_to {
                e *= ratio;
                ratio *= shrink;
                if e == 0.0 {
                    break;
                }
                sum += self.masses.get(p * n_gl + q).copied().unwrap_or(0.0) * e;
            }
            // Downwards: E(u − h)/E(u) = exp((2dh − h²)/(2σ²)).
            let mut e = e0;
            let mut ratio = ((2.0 * d * h - h * h) * inv_two_s2).exp();
            for p in (p_from..p_peak).rev() {
                e *= ratio;
                ratio *= shrink;
                if e == 0.0 {
                    break;
                }
                sum += self.masses.get(p * n_gl + q).copied().unwrap_or(0.0) * e;
            }
        }
        sum
    }

    /// Upper crossing probability at bound `c` and its derivative in `c`.
    fn crossing(&self, step: Step, c: f64) -> (f64, f64) {
        let (a, b, sd) = step.roots();
        let (from, _) = Grid::window(c * a / b, sd / b);
        let start = self.nodes.partition_point(|&u| u < from);
        let ca = c * a;
        let inv_sd = 1.0 / sd;
        let mut p = 0.0;
        let mut density = 0.0;
        for (&u, &m) in self
            .nodes
            .get(start..)
            .unwrap_or_default()
            .iter()
            .zip(self.masses.get(start..).unwrap_or_default())
        {
            let x = (ca - u * b) * inv_sd;
            p += m * 0.5 * erfc(x / SQRT_2);
            density += m * (-0.5 * x * x).exp();
        }
        (p, -density * INV_SQRT_2PI * a * inv_sd)
    }
}

/// The bound `c` at which the upper crossing probability equals `target`.
///
/// `Q(c) − spent_before ≤ P(c) ≤ Q(c)`, so the root lies in `[Q⁻¹(spent), Q⁻¹(target)]`; Newton
/// steps on `ln P` start at the right end and bisection guards them.
fn solve_bound(grid: &Grid, step: Step, target: f64, spent: f64) -> f64 {
    let ln_target = target.ln();
    // Widened a little: erfc⁻¹ is good to about 1e-11.
    let mut lo = special::normal_quantile_upper(spent.min(0.5)).min(Z_CEILING) - 1e-8;
    let mut hi = (special::normal_quantile_upper(target) + 1e-8).min(Z_CEILING);
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return f64::INFINITY;
    }
    // The upper end must cross too little; if even the ceiling crosses too much, the bound is
    // beyond what f64 can resolve.
    let mut c = hi;
    let mut state = grid.crossing(step, c);
    if state.0 > target && hi >= Z_CEILING {
        return f64::INFINITY;
    }
    for _ in 0..100 {
        let (p, slope) = state;
        let g = if p > 0.0 { p.ln() - ln_target } else { f64::NEG_INFINITY };
        if g.abs() <= 1e-13 {
            return c;
        }
        if g > 0.0 {
            lo = c;
        } else {
            hi = c;
        }
        let dg = if p > 0.0 { slope / p } else { f64::NAN };
        let mut next = c - g / dg;
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if (next - c).abs() <= 1e-13 * c.abs().max(1.0) || hi - lo <= 1e-13 {
            return next;
        }
        c = next;
        state = grid.crossing(step, c);
    }
    c
}

/// An always-valid (anytime) confidence sequence for a difference in means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlwaysValid {
    alpha: f64,
    sides: Sides,
    tuning: f64,
    rho2: f64,
}

impl AlwaysValid {
    /// A sequence at level `alpha`, tightest near `tuning` units ([`DEFAULT_TUNING`]).
    ///
    /// # Errors
    /// [`StatsError::Invalid`] when alpha is not in `(0, 1)` (below ½ when one-sided) or the
    /// tuning is not a positive finite number of units.
    pub fn new(alpha: f64, sides: Sides, tuning: f64) -> Result<Self, StatsError> {
        let level = if sides == Sides::TwoSided { alpha } else { 2.0 * alpha };
        if !(alpha > 0.0 && level < 1.0) {
            return Err(StatsError::invalid(
                "alpha",
                format!("expected a level in (0, 1), below 0.5 when one-sided, got {alpha}"),
            ));
        }
        if !(tuning > 0.0 && tuning.is_finite()) {
            return Err(StatsError::invalid(
                "tuning",
                format!("expected a positive number of units, got {tuning}"),
            ));
        }
        // ρ that makes the two-sided sequence tightest at N* (Waudby-Smith et al.); a one-sided
        // sequence at alpha behaves like a two-sided one at 2·alpha.
        let l = -2.0 * level.ln();
        let rho2 = (l + (1.0 + l).ln()) / tuning;
        Ok(AlwaysValid { alpha, sides, tuning, rho2 })
    }

    /// The tuning `N*`.
    pub fn tuning(&self) -> f64 {
        self.tuning
    }

    /// The half-width of the sequence at `n` units (both arms together), in standard errors:
    /// the critical value that replaces `z_{α/2}`; `+∞` when `n` is not positive.
    ///
    /// ```
    /// use flagstone_stats::Sides;
    /// use flagstone_stats::sequential::AlwaysValid;
    /// let cs = AlwaysValid::new(0.05, Sides::TwoSided, 5000.0)?;
    /// let z = cs.critical(5000.0);
    /// assert!((z - 3.035_209).abs() < 1e-6, "{z}"); // vs 1.96 for a single look
    /// assert!(cs.critical(1e6) > z); // the price of looking forever grows like √ln n
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn critical(&self, n: f64) -> f64 {
        if !(n > 0.0 && n.is_finite()) {
            return f64::INFINITY;
        }
        let v = n * self.rho2;
        let stretch = ((v + 1.0) / v).sqrt();
        let ln_scale = 0.5 * v.ln_1p();
        let x = match self.sides {
            Sides::TwoSided => (2.0 * (ln_scale - self.alpha.ln())).sqrt(),
            Sides::Greater | Sides::Less => one_sided_mixture_root(ln_scale - self.alpha.ln()),
        };
        x * stretch
    }

    /// The always-valid p-value for a z statistic (estimate minus null over its standard error)
    /// at `n` units: `min(1, 1/M_n)`. It is below `alpha` exactly when the sequence at `n`
    /// excludes the null.
    pub fn p_value(&self, z: f64, n: f64) -> Tail {
        if !(n > 0.0 && n.is_finite()) || z.is_nan() {
            return Tail { p: 1.0, ln_p: 0.0 };
        }
        let v = n * self.rho2;
        let shrink = (v / (v + 1.0)).sqrt();
        let ln_scale = 0.5 * v.ln_1p();
        let ln_p = match self.sides {
            Sides::TwoSided => {
                let x = z.abs() * shrink;
                ln_scale - 0.5 * x * x
            }
            Sides::Greater | Sides::Less => {
                let x = if self.sides == Sides::Greater { z } else { -z } * shrink;
                ln_scale - 0.5 * x * x - ln_two_phi(x)
            }
        };
        let ln_p = ln_p.min(0.0);
        Tail { p: ln_p.exp(), ln_p }
    }
}

/// `ln(2Φ(x))`, accurate in both tails.
fn ln_two_phi(x: f64) -> f64 {
    // 2Φ(x) = erfc(−x/√2).
    special::ln_erfc(-x / SQRT_2)
}

/// The `x ≥ 0` with `x²/2 + ln(2Φ(x)) = rhs` (the one-sided mixture boundary).
fn one_sided_mixture_root(rhs: f64) -> f64 {
    let h = |x: f64| 0.5 * x * x + ln_two_phi(x) - rhs;
    let (mut lo, mut hi) = (0.0_f64, (2.0 * rhs.max(0.0)).sqrt() + 1.0);
    if h(lo) >= 0.0 {
        return 0.0;
    }
    while h(hi) < 0.0 && hi < 1e6 {
        hi *= 2.0;
    }
    let mut x = (2.0 * (rhs - std::f64::consts::LN_2).max(0.0)).sqrt().clamp(lo, hi);
    for _ in 0..100 {
        let g = h(x);
        if g > 0.0 {
            hi = x;
        } else {
            lo = x;
        }
        // h'(x) = x + φ(x)/Φ(x).
        let ratio = (-0.5 * x * x - LN_SQRT_2PI - (ln_two_phi(x) - std::f64::consts::LN_2)).exp();
        let mut next = x - g / (x + ratio);
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if (next - x).abs() <= 1e-15 * x.max(1.0) {
            return next;
        }
        x = next;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quadrature::{even_breaks, integrate};
    use proptest::prelude::*;
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::{RngCore, SeedableRng};

    fn design(alpha: f64, sides: Sides, spending: Spending) -> GroupSequentialDesign {
        GroupSequentialDesign { alpha, sides, spending }
    }

    fn equally_spaced(k: usize) -> Vec<f64> {
        (1..=k).map(|i| i as f64 / k as f64).collect()
    }

    /// Checks bounds against reference values to `tol` in z.
    fn check(fractions: &[f64], design: &GroupSequentialDesign, expected: &[f64], tol: f64) {
        let got = efficacy_bounds(fractions, design).unwrap().z_bounds;
        assert_eq!(got.len(), expected.len());
        for (k, (g, e)) in got.iter().zip(expected).enumerate() {
            assert!((g - e).abs() <= tol, "{design:?} {fractions:?} look {k}: {g} vs {e}");
        }
    }

    /// A standard normal variate (Box–Muller on ChaCha8 output).
    fn normal(rng: &mut ChaCha8Rng) -> f64 {
        let uniform =
            |rng: &mut ChaCha8Rng| ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let (u, v) = (uniform(rng), uniform(rng));
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    #[test]
    fn gauss_legendre_is_exact_to_degree_15() {
        for degree in 0..=15_i32 {
            let got: f64 = GL_NODES.iter().zip(GL_WEIGHTS).map(|(x, w)| w * x.powi(degree)).sum();
            let exact = if degree % 2 == 0 { 2.0 / f64::from(degree + 1) } else { 0.0 };
            assert!((got - exact).abs() < 1e-15, "degree {degree}: {got} vs {exact}");
        }
    }

    /// O'Brien–Fleming-type spending, two-sided alpha 0.05 (0.025 per tail), K = 2..5 equally
    /// spaced looks. Reference: rpact 3.3.4, `getDesignGroupSequential(kMax = K, alpha = 0.05,
    /// sided = 2, typeOfDesign = "asOF")$criticalValues`, printed with 8 decimals. To two
    /// decimals K = 5 is the familiar 4.88, 3.36, 2.68, 2.29, 2.03. Tolerance 1e-7: the
    /// printed rounding (5e-9) plus rpact's own tolerance.
    #[test]
    fn obrien_fleming_two_sided_matches_rpact_for_two_to_five_looks() {
        let of = design(0.05, Sides::TwoSided, Spending::OBrienFleming);
        let table: [&[f64]; 4] = [
            &[2.962_588_04, 1.968_595_65],
            &[3.710_302_87, 2.511_427_48, 1.993_047_48],
            &[4.332_633_65, 2.963_131_60, 2.359_044_29, 2.014_090_14],
            &[4.876_884_95, 3.357_011_92, 2.680_280_07, 2.289_816_77, 2.031_032_05],
        ];
        for (k, expected) in (2..).zip(table) {
            check(&equally_spaced(k), &of, expected, 1e-7);
        }
    }

    /// Power family, two-sided alpha 0.05. ρ = 1 (`α·t`) is the Pocock-like member: its bounds
    /// fall only from 2.58 to 2.28, where Pocock's constant bound is 2.41. Reference: rpact 3.3.4
    /// `typeOfDesign = "asKD"` (Kim–DeMets, `α·t^γ`) with `gammaA = ρ`, 8 printed decimals.
    #[test]
    fn power_family_matches_rpact() {
        let pocock_like = design(0.05, Sides::TwoSided, Spending::Power { rho: 1.0 });
        let b = efficacy_bounds(&equally_spaced(5), &pocock_like).unwrap().z_bounds;
        let spread = b.first().unwrap() - b.last().unwrap();
        assert!(spread < 0.31, "Pocock-like bounds should be nearly flat: {b:?}");
        check(
            &equally_spaced(5),
            &pocock_like,
            &[2.575_829_30, 2.491_969_22, 2.410_825_10, 2.339_142_84, 2.275_513_45],
            1e-7,
        );
        check(
            &equally_spaced(5),
            &design(0.05, Sides::TwoSided, Spending::Power { rho: 3.0 }),
            &[3.540_083_80, 2.974_310_64, 2.604_514_20, 2.306_356_78, 2.045_479_84],
            1e-7,
        );
        check(
            &equally_spaced(10),
            &GroupSequentialDesign::default(),
            &[
                3.480_756_40,
                3.152_313_87,
                2.950_822_02,
                2.793_547_47,
                2.661_089_25,
                2.544_994_44,
                2.440_634_78,
                2.345_145_96,
                2.256_611_16,
                2.173_674_71,
            ],
            1e-7,
        );
    }

    /// Unequally spaced one-sided designs from rpact's own unit tests
    /// (tests/testthat/test-f_design_group_sequential.R: designs x7a and x3; with non-binding
    /// futility their efficacy bounds do not depend on the futility bounds).
    #[test]
    fn unequal_spacing_matches_rpact_tests() {
        check(
            &[0.4, 0.75, 1.0],
            &design(0.13, Sides::Greater, Spending::OBrienFleming),
            &[2.128_073_2, 1.436_856_5, 1.246_899_4],
            1e-7,
        );
        check(
            &[0.4, 0.75, 0.85, 1.0],
            &design(0.13, Sides::Greater, Spending::OBrienFleming),
            &[2.128_073_2, 1.436_856_5, 1.422_873, 1.297_088_1],
            1e-6,
        );
        check(
            &[0.3, 0.7, 1.0],
            &design(0.03, Sides::Greater, Spending::Power { rho: 2.2 }),
            &[2.859_401_2, 2.243_570_8, 1.973_573_7],
            1e-7,
        );
    }

    /// Two looks, checked against an independent computation: adaptive Gauss–Kronrod
    /// integration of `P(Z₁ inside, Z₂ ≥ c₂) = ∫ φ(z) Q((c₂ − r z)/√(1 − r²)) dz`, `r = √(t₁/t₂)`.
    #[test]
    fn two_looks_agree_with_bivariate_normal_quadrature() {
        for (sides, spending) in [
            (Sides::TwoSided, Spending::OBrienFleming),
            (Sides::TwoSided, Spending::Power { rho: 2.0 }),
            (Sides::Greater, Spending::Power { rho: 0.5 }),
        ] {
            let d = design(0.05, sides, spending);
            let t = [0.3, 0.8];
            let b = efficacy_bounds(&t, &d).unwrap();
            let (c1, c2) = (b.z_bounds[0], b.z_bounds[1]);
            let r = (t[0] / t[1]).sqrt();
            let s = (1.0 - r * r).sqrt();
            let lower = if sides == Sides::TwoSided { -c1 } else { -12.0 };
            let upper_crossing = integrate(
                |z| special::normal_pdf(z) * upper_tail((c2 - r * z) / s),
                &even_breaks(lower, c1, 32),
                1e-16,
            );
            let tail = d.tail_alpha();
            let target = d.spending.cumulative(tail, t[1]) - d.spending.cumulative(tail, t[0]);
            assert!(
                (upper_crossing / target - 1.0).abs() < 1e-10,
                "{d:?}: {upper_crossing} vs {target}"
            );
        }
    }

    /// The accuracy argument, tested: a grid twice as fine moves no bound by more than 1e-9.
    #[test]
    fn refining_the_grid_moves_no_bound() {
        let uneven = [0.01, 0.02, 0.1, 0.11, 0.35, 0.36, 0.9, 1.0];
        let cases = [
            (equally_spaced(30), GroupSequentialDesign::default()),
            (equally_spaced(30), design(0.05, Sides::Greater, Spending::OBrienFleming)),
            (equally_spaced(12), design(0.001, Sides::TwoSided, Spending::OBrienFleming)),
            (uneven.to_vec(), design(0.05, Sides::TwoSided, Spending::OBrienFleming)),
            (uneven.to_vec(), design(0.2, Sides::Less, Spending::Power { rho: 0.7 })),
            (vec![0.5, 0.500_01, 1.0], GroupSequentialDesign::default()),
        ];
        for (fractions, d) in &cases {
            let coarse = bounds_at_resolution(fractions, d, PANELS_PER_SCALE).unwrap();
            let fine = bounds_at_resolution(fractions, d, 2.0 * PANELS_PER_SCALE).unwrap();
            for (k, (a, b)) in coarse.z_bounds.iter().zip(&fine.z_bounds).enumerate() {
                assert!((a - b).abs() <= 1e-9, "{d:?} look {k}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn bounds_fall_and_spending_accumulates() {
        for spending in [
            Spending::OBrienFleming,
            Spending::Power { rho: 1.0 },
            Spending::Power { rho: 2.0 },
            Spending::Power { rho: 3.0 },
        ] {
            for sides in [Sides::TwoSided, Sides::Greater] {
                let d = design(0.05, sides, spending);
                let b = efficacy_bounds(&equally_spaced(20), &d).unwrap();
                for w in b.z_bounds.windows(2) {
                    assert!(w[1] < w[0], "{d:?}: bounds must fall: {:?}", b.z_bounds);
                }
                for w in b.cumulative_alpha_spent.windows(2) {
                    assert!(w[1] > w[0]);
                }
                let last = b.cumulative_alpha_spent.last().unwrap();
                assert!((last - 0.05).abs() < 1e-15, "{last}");
                // Each look's nominal level lies between its own increment and the total.
                for (k, a) in b.adjusted_alpha.iter().enumerate() {
                    let before = if k == 0 { 0.0 } else { b.cumulative_alpha_spent[k - 1] };
                    let increment = b.cumulative_alpha_spent[k] - before;
                    assert!(*a >= increment * (1.0 - 1e-9) && *a <= 0.05, "{d:?} look {k}");
                }
                // More alpha, lower bounds.
                let looser =
                    efficacy_bounds(&equally_spaced(20), &design(0.1, sides, spending)).unwrap();
                for (x, y) in looser.z_bounds.iter().zip(&b.z_bounds) {
                    assert!(x < y);
                }
            }
        }
        // Two-sided at 2α differs from one-sided at α only through paths that cross the lower
        // bound and would later have crossed the upper one: a few 1e-6 here.
        let two = efficacy_bounds(&equally_spaced(8), &GroupSequentialDesign::default()).unwrap();
        let one = efficacy_bounds(
            &equally_spaced(8),
            &design(0.025, Sides::Greater, Spending::default()),
        )
        .unwrap();
        for (a, b) in two.z_bounds.iter().zip(&one.z_bounds) {
            assert!(*a <= b + 1e-9 && b - a < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn underflowing_spend_gives_an_infinite_bound_then_recovers() {
        let d = design(0.05, Sides::TwoSided, Spending::OBrienFleming);
        let b = efficacy_bounds(&[0.001, 0.5, 1.0], &d).unwrap();
        assert_eq!(b.z_bounds[0], f64::INFINITY);
        assert_eq!(b.adjusted_alpha[0], 0.0);
        let plain = efficacy_bounds(&[0.5, 1.0], &d).unwrap();
        for (a, b) in b.z_bounds[1..].iter().zip(&plain.z_bounds) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        for x in b.adjusted_alpha.iter().chain(&b.cumulative_alpha_spent) {
            assert!(x.is_finite());
        }
    }

    #[test]
    fn invalid_designs_name_the_place() {
        let d = GroupSequentialDesign::default();
        let err = |f: &[f64], d: &GroupSequentialDesign| efficacy_bounds(f, d).unwrap_err();
        assert_eq!(err(&[], &d).path(), "fractions");
        assert_eq!(err(&[0.5, 0.5], &d).path(), "fractions[1]");
        assert_eq!(err(&[0.5, 1.5], &d).path(), "fractions[1]");
        assert_eq!(err(&[f64::NAN], &d).path(), "fractions[0]");
        assert_eq!(err(&[1.0], &design(1.0, Sides::TwoSided, Spending::default())).path(), "alpha");
        assert_eq!(err(&[1.0], &design(0.5, Sides::Greater, Spending::default())).path(), "alpha");
        let bad_rho = design(0.05, Sides::TwoSided, Spending::Power { rho: 0.0 });
        assert_eq!(err(&[1.0], &bad_rho).path(), "spending");
        let many = vec![0.5; MAX_LOOKS + 1];
        assert_eq!(err(&many, &d).path(), "fractions");
        assert_eq!(information_fractions(&[10.0, 10.0], 100.0).unwrap_err().path(), "looks[1]");
        assert_eq!(
            information_fractions(&[10.0], 0.0).unwrap_err().path(),
            "finalExpectedSampleSize"
        );
    }

    /// Seeded simulation of ten equally spaced looks under H0, at the level of the z
    /// statistics (a Brownian motion read at the fractions). The group-sequential test keeps
    /// its alpha within Monte Carlo error; testing each look at 1.96 ("peeking") does not.
    #[test]
    fn ten_looks_keep_alpha_where_daily_peeking_does_not() {
        let looks = equally_spaced(10);
        let b = efficacy_bounds(&looks, &GroupSequentialDesign::default()).unwrap();
        let n_sims = 100_000;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut sequential, mut peeking) = (0_u32, 0_u32);
        for _ in 0..n_sims {
            let (mut s, mut t_prev) = (0.0, 0.0);
            let (mut hit_seq, mut hit_naive) = (false, false);
            for (&t, &c) in looks.iter().zip(&b.z_bounds) {
                s += (t - t_prev).sqrt() * normal(&mut rng);
                t_prev = t;
                let z: f64 = s / t.sqrt();
                hit_seq |= z.abs() >= c;
                hit_naive |= z.abs() >= 1.959_964;
            }
            sequential += u32::from(hit_seq);
            peeking += u32::from(hit_naive);
        }
        let n = f64::from(n_sims);
        let (rate, naive) = (f64::from(sequential) / n, f64::from(peeking) / n);
        let mc_se = (0.05 * 0.95 / n).sqrt();
        assert!(rate <= 0.05 + 3.0 * mc_se, "group-sequential type-I error {rate}");
        assert!(rate >= 0.05 - 3.0 * mc_se, "needlessly conservative: {rate}");
        // Ten looks at the fixed-horizon critical value: about 0.19 (Armitage et al. 1969).
        assert!(naive > 0.15, "peeking should inflate the type-I error: {naive}");
    }

    #[test]
    fn always_valid_critical_values_match_the_formula() {
        // Reference values from the closed form (two-sided) and a 30-digit root of the
        // half-normal mixture boundary (one-sided), α = 0.05, N* = 5000.
        let two = AlwaysValid::new(0.05, Sides::TwoSided, DEFAULT_TUNING).unwrap();
        for (n, z) in [
            (100.0, 6.694_388_617_066_04),
            (5000.0, 3.035_208_990_376_253),
            (1e6, 3.656_536_466_184_807),
        ] {
            assert!((two.critical(n) - z).abs() < 1e-12, "n {n}: {}", two.critical(n));
        }
        let one = AlwaysValid::new(0.05, Sides::Greater, DEFAULT_TUNING).unwrap();
        for (n, z) in [(5000.0, 2.766_070_883_067_32), (1e6, 3.429_181_933_905_456)] {
            assert!((one.critical(n) - z).abs() < 1e-10, "n {n}: {}", one.critical(n));
        }
        // The p-value is alpha exactly at the critical value, in every direction.
        for cs in [two, one, AlwaysValid::new(0.01, Sides::Less, 1e4).unwrap()] {
            for n in [10.0, 5000.0, 1e8] {
                let z = cs.critical(n);
                let z = if cs.sides == Sides::Less { -z } else { z };
                let p = cs.p_value(z, n).p;
                assert!((p / cs.alpha - 1.0).abs() < 1e-9, "{cs:?} n {n}: {p}");
            }
        }
        assert_eq!(two.critical(0.0), f64::INFINITY);
        assert_eq!(two.p_value(f64::NAN, 10.0).p, 1.0);
        assert!(two.p_value(60.0, 1e4).ln_p < -1000.0, "log p stays finite past underflow");
        assert_eq!(AlwaysValid::new(0.05, Sides::TwoSided, 0.0).unwrap_err().path(), "tuning");
    }

    /// Seeded simulation: a normal mean observed in blocks of 50 units for 200 looks (10,000
    /// units). The always-valid interval covers the truth at every look at once in at least
    /// 1 − α of the runs; the fixed-n interval read at every look does not.
    #[test]
    fn always_valid_sequence_covers_uniformly() {
        let mu = 0.3;
        let block: f64 = 50.0;
        let n_sims = 2000;
        for sides in [Sides::TwoSided, Sides::Greater] {
            let cs = AlwaysValid::new(0.05, sides, DEFAULT_TUNING).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let (mut missed, mut naive_missed) = (0_u32, 0_u32);
            for _ in 0..n_sims {
                let (mut sum, mut n) = (0.0_f64, 0.0_f64);
                let (mut miss, mut naive_miss) = (false, false);
                for _ in 0..200 {
                    sum += mu * block + block.sqrt() * normal(&mut rng);
                    n += block;
                    let z: f64 = (sum / n - mu) * n.sqrt();
                    let (stat, fixed) = if sides == Sides::TwoSided {
                        (z.abs(), 1.959_964)
                    } else {
                        (z, 1.644_854)
                    };
                    miss |= stat >= cs.critical(n);
                    naive_miss |= stat >= fixed;
                }
                missed += u32::from(miss);
                naive_missed += u32::from(naive_miss);
            }
            let n = f64::from(n_sims);
            let rate = f64::from(missed) / n;
            assert!(rate <= 0.05 + 3.0 * (0.05 * 0.95 / n).sqrt(), "{sides:?}: miscoverage {rate}");
            assert!(f64::from(naive_missed) / n > 0.2, "{sides:?}: peeking should miss often");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn bounds_are_never_nan(
            steps in prop::collection::vec(1e-4..1.0_f64, 1..12),
            alpha in 1e-6..0.99_f64,
            two_sided in any::<bool>(),
            rho in prop_oneof![Just(None), (0.1..8.0_f64).prop_map(Some)],
        ) {
            let total: f64 = steps.iter().sum();
            let mut acc = 0.0;
            let fractions: Vec<f64> = steps.iter().map(|s| { acc += s; (acc / total).min(1.0) }).collect();
            prop_assume!(fractions.windows(2).all(|w| w[1] > w[0]));
            let sides = if two_sided { Sides::TwoSided } else { Sides::Greater };
            let alpha = if two_sided { alpha } else { alpha * 0.5 };
            let spending = rho.map_or(Spending::OBrienFleming, |rho| Spending::Power { rho });
            let b = efficacy_bounds(&fractions, &design(alpha, sides, spending)).unwrap();
            for k in 0..fractions.len() {
                prop_assert!(b.z_bounds[k] > 0.0, "{:?}", b.z_bounds);
                prop_assert!((0.0..=b.cumulative_alpha_spent[k]).contains(&b.adjusted_alpha[k]));
                prop_assert!((0.0..=alpha * (1.0 + 1e-12)).contains(&b.cumulative_alpha_spent[k]));
            }
        }
    }
}
