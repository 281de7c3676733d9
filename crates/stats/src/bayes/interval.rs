//! Credible intervals of the difference and the relative difference of two posteriors, found
//! by inverting the integrals of `P(X − Y ≤ v)` and `P(X / Y ≤ v)` over the narrower posterior.

use super::{BetaPosterior, Posterior, QUAD_TOL};
use crate::quadrature::{even_breaks, integrate_to_grain};
use crate::special::TailSide;

/// Solves `P(V ≤ v) = q` (side Lower) or `P(V > v) = q` (side Upper) for a distribution given
/// by its `cdf`/`sf`, by bisection refined with false position, starting around `guess`.
fn invert<C: Fn(f64) -> f64, S: Fn(f64) -> f64>(
    cdf: C,
    sf: S,
    q: f64,
    side: TailSide,
    guess: f64,
    scale: f64,
    min: f64,
) -> f64 {
    // f is increasing in v for both sides.
    let f = |v: f64| match side {
        TailSide::Lower => cdf(v) - q,
        TailSide::Upper => q - sf(v),
    };
    let scale = if scale > 0.0 && scale.is_finite() { scale } else { 1e-3 };
    let (mut lo, mut hi) = (guess - scale, guess + scale);
    if lo <= min {
        lo = min + 0.5 * (guess - min).max(0.0);
    }
    let mut f_lo = f(lo);
    let mut step = scale;
    for _ in 0..200 {
        if f_lo <= 0.0 {
            break;
        }
        hi = lo;
        step *= 2.0;
        lo = if lo - step > min { lo - step } else { min + 0.5 * (lo - min) };
        f_lo = f(lo);
    }
    let mut f_hi = f(hi);
    step = scale;
    for _ in 0..200 {
        if f_hi >= 0.0 {
            break;
        }
        lo = hi;
        f_lo = f_hi;
        step *= 2.0;
        hi += step;
        f_hi = f(hi);
    }
    // Illinois false position: superlinear, and always keeps a bracket.
    let mut last_side = 0_i8;
    for _ in 0..100 {
        // Relative to the spread, down to the spacing of f64: near ±1 a width of 1e-12
        // is a thousand standard deviations of a posterior as narrow as 1e-15.
        let size = lo.abs().max(hi.abs());
        if hi - lo <= (1e-12 * (1.0 + size)).min(1e-9 * scale).max(4.0 * f64::EPSILON * size) {
            break;
        }
        let mut mid =
            if f_hi > f_lo { lo - f_lo * (hi - lo) / (f_hi - f_lo) } else { 0.5 * (lo + hi) };
        if !(mid > lo && mid < hi) {
            mid = 0.5 * (lo + hi);
        }
        let fm = f(mid);
        if fm == 0.0 {
            return mid;
        }
        if fm < 0.0 {
            lo = mid;
            f_lo = fm;
            if last_side == -1 {
                f_hi *= 0.5;
            }
            last_side = -1;
        } else {
            hi = mid;
            f_hi = fm;
            if last_side == 1 {
                f_lo *= 0.5;
            }
            last_side = 1;
        }
    }
    0.5 * (lo + hi)
}

/// The two posteriors of a difference, set up for the integrals of its tails: over the
/// narrower one (whose density the quadrature must resolve; the wider one's tail is smooth at
/// the f64 spacing), and over `1 − X` when the narrower one lies near 1
/// ([`Posterior::near_one`]). A posterior 1e-15 wide integrated the other way round is a step
/// a few f64 spacings wide that the quadrature bisects to the spacing, hundreds of times per
/// interval.
struct Pair {
    /// Treatment and control, both mirrored when `mirrored`.
    t: BetaPosterior,
    c: BetaPosterior,
    mirrored: bool,
    over_control: bool,
    breaks: Vec<f64>,
}

impl Pair {
    fn new(treatment: &BetaPosterior, control: &BetaPosterior) -> Self {
        let over_control = control.variance() <= treatment.variance();
        let narrow = if over_control { control } else { treatment };
        let mirrored = narrow.near_one();
        let (t, c) = if mirrored {
            (treatment.mirrored(), control.mirrored())
        } else {
            (*treatment, *control)
        };
        let (lo, hi) = if over_control { c.support() } else { t.support() };
        Pair { t, c, mirrored, over_control, breaks: even_breaks(lo, hi, 16) }
    }

    /// `∫ f_outer(x) g(x) dx`, where `g` shifts its argument by `v`.
    fn integrate(&self, v: f64, g: impl Fn(f64) -> f64) -> f64 {
        let outer = if self.over_control { &self.c } else { &self.t };
        let grain = 2.0 * f64::EPSILON * v.abs();
        integrate_to_grain(|x| outer.pdf(x) * g(x), &self.breaks, QUAD_TOL, grain)
    }

    /// `P(T − C ≤ v)` (`below`) or `P(T − C > v)` in the pair's own coordinates.
    fn difference_tail(&self, v: f64, below: bool) -> f64 {
        let (t, c) = (&self.t, &self.c);
        match (self.over_control, below) {
            (true, true) => self.integrate(v, |x| t.cdf(x + v)),
            (true, false) => self.integrate(v, |x| t.sf(x + v)),
            (false, true) => self.integrate(v, |x| c.sf(x - v)),
            (false, false) => self.integrate(v, |x| c.cdf(x - v)),
        }
    }

    /// `P(X_t ≤ (1 + r)X_c)` (`below`) or its complement, in the original coordinates, for
    /// `r > −1`. Mirrored, `X_t ≤ (1 + r)X_c` reads `Y_t ≥ (1 + r)Y_c − r`, or
    /// `Y_c ≤ (Y_t + r)/(1 + r)`, with `Y = 1 − X`.
    fn ratio_tail(&self, r: f64, below: bool) -> f64 {
        let (t, c) = (&self.t, &self.c);
        let k = 1.0 + r;
        match (self.mirrored, self.over_control, below) {
            (false, true, true) => self.integrate(r, |x| t.cdf(k * x)),
            (false, true, false) => self.integrate(r, |x| t.sf(k * x)),
            (false, false, true) => self.integrate(r, |x| c.sf(x / k)),
            (false, false, false) => self.integrate(r, |x| c.cdf(x / k)),
            (true, true, true) => self.integrate(r, |y| t.sf(r.mul_add(y, y - r))),
            (true, true, false) => self.integrate(r, |y| t.cdf(r.mul_add(y, y - r))),
            (true, false, true) => self.integrate(r, |y| c.cdf((y + r) / k)),
            (true, false, false) => self.integrate(r, |y| c.sf((y + r) / k)),
        }
    }
}

/// Equal-tailed credible interval of the relative difference `(X_t − X_c)/X_c`, by inverting
/// `P((X_t − X_c)/X_c ≤ r) = ∫ f_c(x) F_t((1 + r)x) dx` (or the same integral over the
/// treatment, or over `1 − X` when the narrower one lies near 1).
pub fn relative_difference_interval(
    treatment: &BetaPosterior,
    control: &BetaPosterior,
    alpha: f64,
) -> (f64, f64) {
    let pair = Pair::new(treatment, control);
    let cdf = |r: f64| pair.ratio_tail(r, true);
    let sf = |r: f64| pair.ratio_tail(r, false);
    let (mt, mc) = (treatment.mean(), control.mean());
    let guess = mt / mc - 1.0;
    let scale =
        (treatment.variance() / (mc * mc) + mt * mt * control.variance() / mc.powi(4)).sqrt();
    let q = 0.5 * alpha;
    (
        invert(cdf, sf, q, TailSide::Lower, guess, 2.0 * scale, -1.0),
        invert(cdf, sf, q, TailSide::Upper, guess, 2.0 * scale, -1.0),
    )
}

/// Equal-tailed credible interval of the absolute difference `X_t − X_c`, by inverting
/// `P(X_t − X_c ≤ d) = ∫ f_c(x) F_t(x + d) dx` (or the same integral over the treatment, or
/// over `1 − X`, where the difference changes sign).
pub fn difference_interval(
    treatment: &BetaPosterior,
    control: &BetaPosterior,
    alpha: f64,
) -> (f64, f64) {
    let pair = Pair::new(treatment, control);
    // Mirrored, T − C = −(X_t − X_c).
    let cdf = |d: f64| {
        if pair.mirrored { pair.difference_tail(-d, false) } else { pair.difference_tail(d, true) }
    };
    let sf = |d: f64| {
        if pair.mirrored { pair.difference_tail(-d, true) } else { pair.difference_tail(d, false) }
    };
    let guess = treatment.mean() - control.mean();
    let scale = (treatment.variance() + control.variance()).sqrt();
    let q = 0.5 * alpha;
    (
        invert(cdf, sf, q, TailSide::Lower, guess, 2.0 * scale, -1.0),
        invert(cdf, sf, q, TailSide::Upper, guess, 2.0 * scale, -1.0),
    )
}
