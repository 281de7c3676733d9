//! Mergeable sufficient statistics and the per-arm summaries derived from them.
//!
//! Every statistic is a sum over units, so shards and days merge by addition in any order.
//! Sums of reals are [`CompensatedSum`]s: merging keeps the low-order digits that a plain
//! `f64` sum would drop, and variances come from [`centered_cross`], so a metric with mean
//! 1.2e4 and standard deviation 0.5 over 1.2e6 units keeps its digits.

use crate::error::{StatsError, UndefinedReason};
use crate::numeric::{CompensatedSum, centered_cross, quotient, sum_pair};

fn check_finite(path: &str, value: f64) -> Result<(), StatsError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(StatsError::invalid(path, format!("expected a finite number, got {value}")))
    }
}

/// Counts of a binary (conversion) metric: units and units with a success.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BinaryStats {
    n: u64,
    successes: u64,
}

impl BinaryStats {
    /// Statistics from counts.
    ///
    /// # Errors
    /// `successes` must not exceed `n`.
    pub fn new(n: u64, successes: u64) -> Result<Self, StatsError> {
        if successes > n {
            return Err(StatsError::invalid(
                "successes",
                format!("expected at most n = {n} successes, got {successes}"),
            ));
        }
        Ok(BinaryStats { n, successes })
    }

    /// Adds one unit.
    pub fn push(&mut self, success: bool) {
        self.n += 1;
        self.successes += u64::from(success);
    }

    /// Adds another shard's counts (saturating, so it cannot overflow).
    pub fn merge(&mut self, other: &BinaryStats) {
        self.n = self.n.saturating_add(other.n);
        self.successes = self.successes.saturating_add(other.successes);
    }

    /// Number of units.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// Number of units with a success.
    pub fn successes(&self) -> u64 {
        self.successes
    }
}

/// First and second raw moments of a per-unit value: `Σx` and `Σx²`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    sum: CompensatedSum,
    sum_squares: CompensatedSum,
}

impl Moments {
    /// Moments from sums.
    ///
    /// # Errors
    /// Both sums must be finite and `sum_squares` non-negative.
    pub fn new(sum: f64, sum_squares: f64) -> Result<Self, StatsError> {
        check_finite("sum", sum)?;
        check_finite("sumSquares", sum_squares)?;
        if sum_squares < 0.0 {
            return Err(StatsError::invalid(
                "sumSquares",
                format!("expected a non-negative sum of squares, got {sum_squares}"),
            ));
        }
        Ok(Moments { sum: CompensatedSum::new(sum), sum_squares: CompensatedSum::new(sum_squares) })
    }

    fn push(&mut self, x: f64) {
        self.sum.add(x);
        self.sum_squares.add_square(x);
    }

    fn merge(&mut self, other: &Moments) {
        self.sum.merge(&other.sum);
        self.sum_squares.merge(&other.sum_squares);
    }

    /// `Σx`.
    pub fn sum(&self) -> f64 {
        self.sum.value()
    }

    /// `Σx²`.
    pub fn sum_squares(&self) -> f64 {
        self.sum_squares.value()
    }

    /// `Σ(x − x̄)²` over `n` units, in compensated arithmetic.
    fn centered(&self, n: f64) -> f64 {
        centered_cross(n, &self.sum, &self.sum, &self.sum_squares).max(0.0)
    }
}

/// Sums of a real-valued (mean) metric: `n`, `Σx`, `Σx²`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeanStats {
    n: u64,
    moments: Moments,
}

impl MeanStats {
    /// Statistics from sums.
    ///
    /// # Errors
    /// Sums must be finite, `sum_squares` non-negative, and consistent with `n`
    /// (`(Σx)² ≤ n·Σx²` up to rounding; both 0 when `n` is 0).
    pub fn new(n: u64, sum: f64, sum_squares: f64) -> Result<Self, StatsError> {
        let moments = Moments::new(sum, sum_squares)?;
        let nf = n as f64;
        if n == 0 && (sum != 0.0 || sum_squares != 0.0) {
            return Err(StatsError::invalid("n", "expected sums of 0 when n is 0"));
        }
        if sum * sum > nf * sum_squares * (1.0 + 1e-9) {
            return Err(StatsError::invalid(
                "sumSquares",
                format!("expected sumSquares ≥ sum²/n = {}, got {sum_squares}", sum * sum / nf),
            ));
        }
        Ok(MeanStats { n, moments })
    }

    /// Adds one unit's value (non-finite values are rejected by the caller).
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        self.moments.push(x);
    }

    /// Adds another shard's sums.
    pub fn merge(&mut self, other: &MeanStats) {
        self.n = self.n.saturating_add(other.n);
        self.moments.merge(&other.moments);
    }

    /// Number of units.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// `Σx`.
    pub fn sum(&self) -> f64 {
        self.moments.sum()
    }

    /// `Σx²`.
    pub fn sum_squares(&self) -> f64 {
        self.moments.sum_squares()
    }

    /// The sample mean, `None` when `n` is 0.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.moments.sum() / self.n as f64)
    }

    /// The unbiased sample variance, `None` when `n < 2`.
    pub fn variance(&self) -> Option<f64> {
        (self.n >= 2).then(|| self.moments.centered(self.n as f64) / (self.n - 1) as f64)
    }
}

/// Sums of a ratio metric `Σnumerator / Σdenominator` with per-unit numerator `x` and
/// denominator `y`: `n`, moments of both and `Σxy`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RatioStats {
    n: u64,
    numerator: Moments,
    denominator: Moments,
    cross_products: CompensatedSum,
}

impl RatioStats {
    /// Statistics from sums.
    ///
    /// # Errors
    /// `cross_products` must be finite and satisfy Cauchy–Schwarz against the sums of squares.
    pub fn new(
        n: u64,
        numerator: Moments,
        denominator: Moments,
        cross_products: f64,
    ) -> Result<Self, StatsError> {
        check_finite("crossProducts", cross_products)?;
        let bound = (numerator.sum_squares() * denominator.sum_squares()).sqrt();
        if cross_products.abs() > bound * (1.0 + 1e-9) + 1e-12 {
            return Err(StatsError::invalid(
                "crossProducts",
                format!("expected |crossProducts| ≤ √(Σx²·Σy²) = {bound}, got {cross_products}"),
            ));
        }
        Ok(RatioStats {
            n,
            numerator,
            denominator,
            cross_products: CompensatedSum::new(cross_products),
        })
    }

    /// Adds one unit's numerator and denominator.
    pub fn push(&mut self, numerator: f64, denominator: f64) {
        self.n += 1;
        self.numerator.push(numerator);
        self.denominator.push(denominator);
        self.cross_products.add_product(numerator, denominator);
    }

    /// Adds another shard's sums.
    pub fn merge(&mut self, other: &RatioStats) {
        self.n = self.n.saturating_add(other.n);
        self.numerator.merge(&other.numerator);
        self.denominator.merge(&other.denominator);
        self.cross_products.merge(&other.cross_products);
    }

    /// Number of units.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// Moments of the numerator.
    pub fn numerator(&self) -> &Moments {
        &self.numerator
    }

    /// Moments of the denominator.
    pub fn denominator(&self) -> &Moments {
        &self.denominator
    }

    /// `Σ numerator·denominator`.
    pub fn cross_products(&self) -> f64 {
        self.cross_products.value()
    }
}

/// A pre-experiment covariate for CUPED: `Σc`, `Σc²` and `Σ c·y` with the metric value `y`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Covariate {
    moments: Moments,
    cross_products: CompensatedSum,
}

impl Covariate {
    /// A covariate from sums.
    ///
    /// # Errors
    /// Sums must be finite and `sum_squares` non-negative.
    pub fn new(sum: f64, sum_squares: f64, cross_products: f64) -> Result<Self, StatsError> {
        let moments = Moments::new(sum, sum_squares)?;
        check_finite("crossProducts", cross_products)?;
        Ok(Covariate { moments, cross_products: CompensatedSum::new(cross_products) })
    }

    /// Adds one unit's covariate `c` and metric value `y`.
    pub fn push(&mut self, c: f64, y: f64) {
        self.moments.push(c);
        self.cross_products.add_product(c, y);
    }

    /// Adds another shard's sums.
    pub fn merge(&mut self, other: &Covariate) {
        self.moments.merge(&other.moments);
        self.cross_products.merge(&other.cross_products);
    }

    /// `Σc`.
    pub fn sum(&self) -> f64 {
        self.moments.sum()
    }

    /// `Σc²`.
    pub fn sum_squares(&self) -> f64 {
        self.moments.sum_squares()
    }

    /// `Σ c·y`.
    pub fn cross_products(&self) -> f64 {
        self.cross_products.value()
    }
}

/// What a comparison needs from one arm: the (possibly adjusted) mean estimate and the
/// per-unit variance, so that the variance of the mean is `unit_variance / n`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmSummary {
    /// Number of units.
    pub n: f64,
    /// The arm's estimate: a proportion, a mean or a ratio.
    pub mean: f64,
    /// The low part of the estimate: `mean + mean_lo` is its double-double value, so that the
    /// difference of two large, nearly equal means loses no digits; 0 where the estimate is
    /// not carried in extra precision (ratios).
    pub mean_lo: f64,
    /// Per-unit variance; `unit_variance / n` is the squared standard error of `mean`.
    pub unit_variance: f64,
}

impl ArmSummary {
    /// Binary metric: `p = successes/n`, unit variance `p(1 − p)` (the Wald/z-test variance).
    ///
    /// # Errors
    /// [`UndefinedReason::NoUnits`] when `n` is 0.
    pub fn binary(stats: &BinaryStats) -> Result<Self, UndefinedReason> {
        if stats.n == 0 {
            return Err(UndefinedReason::NoUnits);
        }
        let n = stats.n as f64;
        let (p, p_lo) = quotient(&CompensatedSum::new(stats.successes as f64), n);
        Ok(ArmSummary { n, mean: p, mean_lo: p_lo, unit_variance: p * (1.0 - p) })
    }

    /// Mean metric: sample mean and unbiased sample variance.
    ///
    /// # Errors
    /// [`UndefinedReason::NoUnits`] or [`UndefinedReason::TooFewUnits`] when `n < 2`.
    pub fn mean(stats: &MeanStats) -> Result<Self, UndefinedReason> {
        match stats.n {
            0 => Err(UndefinedReason::NoUnits),
            1 => Err(UndefinedReason::TooFewUnits),
            _ => {
                let n = stats.n as f64;
                let (mean, mean_lo) = quotient(&stats.moments.sum, n);
                Ok(ArmSummary {
                    n,
                    mean,
                    mean_lo,
                    unit_variance: stats.moments.centered(n) / (n - 1.0),
                })
            }
        }
    }

    /// Ratio metric `R = Σx/Σy` with the delta-method variance
    /// `(V_x − 2R·C_xy + R²·V_y)/ȳ²` per unit (Deng, Knoblich & Lu 2018, "Applying the Delta
    /// Method in Metric Analytics", eq. 3).
    ///
    /// # Errors
    /// [`UndefinedReason::TooFewUnits`] when `n < 2`, [`UndefinedReason::ZeroDenominator`]
    /// when `Σy` is 0.
    pub fn ratio(stats: &RatioStats) -> Result<Self, UndefinedReason> {
        match stats.n {
            0 => return Err(UndefinedReason::NoUnits),
            1 => return Err(UndefinedReason::TooFewUnits),
            _ => {}
        }
        let n = stats.n as f64;
        let sum_y = stats.denominator.sum();
        if sum_y == 0.0 {
            return Err(UndefinedReason::ZeroDenominator);
        }
        let ratio = stats.numerator.sum() / sum_y;
        let mean_y = sum_y / n;
        let var_x = stats.numerator.centered(n) / (n - 1.0);
        let var_y = stats.denominator.centered(n) / (n - 1.0);
        let cov_xy =
            centered_cross(n, &stats.numerator.sum, &stats.denominator.sum, &stats.cross_products)
                / (n - 1.0);
        let unit_variance =
            ((var_x - 2.0 * ratio * cov_xy + ratio * ratio * var_y) / (mean_y * mean_y)).max(0.0);
        Ok(ArmSummary { n, mean: ratio, mean_lo: 0.0, unit_variance })
    }

    /// Squared standard error of the mean estimate.
    pub fn variance_of_mean(&self) -> f64 {
        self.unit_variance / self.n
    }
}

/// One arm's input to CUPED: the metric's `n`, `Σy`, `Σy²` and its covariate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CupedArm {
    /// Number of units.
    pub n: u64,
    /// Moments of the metric value `y`.
    pub metric: Moments,
    /// The covariate's sums, with `Σ c·y`.
    pub covariate: Covariate,
}

impl CupedArm {
    /// A binary metric's arm (`Σy = Σy² = successes`).
    pub fn binary(stats: &BinaryStats, covariate: Covariate) -> Self {
        let s = stats.successes as f64;
        CupedArm {
            n: stats.n,
            metric: Moments { sum: CompensatedSum::new(s), sum_squares: CompensatedSum::new(s) },
            covariate,
        }
    }

    /// A mean metric's arm.
    pub fn mean(stats: &MeanStats, covariate: Covariate) -> Self {
        CupedArm { n: stats.n, metric: stats.moments, covariate }
    }
}

/// Result of [`cuped`]: one summary per arm and whether the adjustment was applied.
#[derive(Debug, Clone, PartialEq)]
pub struct CupedSummaries {
    /// Per-arm adjusted summaries (in input order).
    pub arms: Vec<Result<ArmSummary, UndefinedReason>>,
    /// The pooled θ, `None` when the covariate had no variance and the metric was left
    /// unadjusted.
    pub theta: Option<f64>,
}

/// CUPED (Deng, Xu, Kohavi & Walker 2013, "Improving the Sensitivity of Online Controlled
/// Experiments by Utilizing Pre-Experiment Data", eq. 4): `ŷ = ȳ − θ(c̄ − c̄_all)` with the
/// pooled within-arm `θ = Σ S_cy / Σ S_cc`, and per-unit variance `(S_yy − 2θS_cy + θ²S_cc)/(n−1)`.
/// When the covariate has no variance in any arm, the metric is returned unadjusted (with
/// sample variances) and `theta` is `None`.
pub fn cuped(arms: &[CupedArm]) -> CupedSummaries {
    let mut s_cc = 0.0;
    let mut s_cy = 0.0;
    let mut total_c = CompensatedSum::default();
    let mut total_n = 0.0;
    for arm in arms {
        let n = arm.n as f64;
        s_cc += arm.covariate.moments.centered(n);
        s_cy += centered_cross(
            n,
            &arm.covariate.moments.sum,
            &arm.metric.sum,
            &arm.covariate.cross_products,
        );
        total_c.merge(&arm.covariate.moments.sum);
        total_n += n;
    }
    let theta = (s_cc > 0.0 && s_cc.is_finite()).then(|| s_cy / s_cc).filter(|t| t.is_finite());
    let grand_c = if total_n > 0.0 { total_c.value() / total_n } else { 0.0 };
    let summaries = arms
        .iter()
        .map(|arm| {
            match arm.n {
                0 => return Err(UndefinedReason::NoUnits),
                1 => return Err(UndefinedReason::TooFewUnits),
                _ => {}
            }
            let n = arm.n as f64;
            let (mean_y, mean_y_lo) = quotient(&arm.metric.sum, n);
            let s_yy = arm.metric.centered(n);
            let Some(theta) = theta else {
                return Ok(ArmSummary {
                    n,
                    mean: mean_y,
                    mean_lo: mean_y_lo,
                    unit_variance: s_yy / (n - 1.0),
                });
            };
            let mean_c = arm.covariate.sum() / n;
            let s_cc = arm.covariate.moments.centered(n);
            let s_cy = centered_cross(
                n,
                &arm.covariate.moments.sum,
                &arm.metric.sum,
                &arm.covariate.cross_products,
            );
            let adjusted = (s_yy - 2.0 * theta * s_cy + theta * theta * s_cc).max(0.0);
            let (mean, mean_err) = sum_pair(mean_y, -(theta * (mean_c - grand_c)));
            Ok(ArmSummary {
                n,
                mean,
                mean_lo: Some(mean_err + mean_y_lo).filter(|lo| lo.is_finite()).unwrap_or(0.0),
                unit_variance: adjusted / (n - 1.0),
            })
        })
        .collect();
    CupedSummaries { arms: summaries, theta }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stand-in for N(0, 1) draws: the Box–Muller transform of a Weyl sequence.
    fn pseudo_normal(i: u64) -> f64 {
        let u1 = ((i as f64 + 0.5) * 0.618_033_988_749_894_9).fract().max(1e-12);
        let u2 = ((i as f64 + 0.5) * 0.414_213_562_373_095_1).fract();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    #[test]
    fn variance_keeps_its_digits_for_large_mean_small_spread() {
        // The DESIGN §3.1 case: n = 1.2e6, mean 1.2e4, sd 0.5. A naive Σx² − (Σx)²/n in f64 loses
        // about 9 of 16 digits here; the two-pass variance is the reference.
        let n = 1_200_000_u64;
        let values: Vec<f64> = (0..n).map(|i| 1.2e4 + 0.5 * pseudo_normal(i)).collect();
        let mut stats = MeanStats::default();
        for &x in &values {
            stats.push(x);
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let mut two_pass = CompensatedSum::default();
        for &x in &values {
            two_pass.add_square(x - mean);
        }
        let reference = two_pass.value() / (n - 1) as f64;
        let ours = stats.variance().unwrap_or(f64::NAN);
        assert!((ours - reference).abs() <= 1e-10 * reference, "{ours} vs {reference}");
        assert!((reference.sqrt() - 0.5).abs() < 0.01);

        // Through the wire format (plain f64 sums) the digits are bounded by one rounding of Σx².
        let wire = MeanStats::new(n, stats.sum(), stats.sum_squares()).unwrap();
        let from_wire = wire.variance().unwrap_or(f64::NAN);
        assert!((from_wire - reference).abs() <= 1e-6 * reference, "{from_wire} vs {reference}");

        // Sharded accumulation merges to the same digits.
        let mut shards = [MeanStats::default(), MeanStats::default(), MeanStats::default()];
        for (i, &x) in values.iter().enumerate() {
            shards[i % 3].push(x);
        }
        let mut merged = shards[0];
        merged.merge(&shards[1]);
        merged.merge(&shards[2]);
        let merged_var = merged.variance().unwrap_or(f64::NAN);
        assert!((merged_var - reference).abs() <= 1e-10 * reference);
    }

    #[test]
    fn rejects_inconsistent_statistics() {
        assert_eq!(BinaryStats::new(5, 6).unwrap_err().path(), "successes");
        assert_eq!(MeanStats::new(4, 10.0, 1.0).unwrap_err().path(), "sumSquares");
        assert_eq!(MeanStats::new(0, 1.0, 1.0).unwrap_err().path(), "n");
        assert_eq!(MeanStats::new(3, f64::NAN, 1.0).unwrap_err().path(), "sum");
        assert!(Moments::new(1.0, -1.0).is_err());
    }

    #[test]
    fn summaries_need_enough_units() {
        assert_eq!(ArmSummary::binary(&BinaryStats::default()), Err(UndefinedReason::NoUnits));
        assert!(ArmSummary::binary(&BinaryStats::new(1, 1).unwrap()).is_ok());
        assert_eq!(
            ArmSummary::mean(&MeanStats::new(1, 2.0, 4.0).unwrap()),
            Err(UndefinedReason::TooFewUnits)
        );
        let zero_den = RatioStats::new(3, Moments::new(1.0, 1.0).unwrap(), Moments::default(), 0.0);
        assert_eq!(ArmSummary::ratio(&zero_den.unwrap()), Err(UndefinedReason::ZeroDenominator));
    }

    #[test]
    fn ratio_delta_method_matches_direct_computation() {
        // Per-unit (x, y): revenue over sessions. The reference applies eq. 3 of Deng et al.
        // with two-pass moments.
        let units = [(3.0, 2.0), (0.0, 1.0), (5.0, 4.0), (1.0, 1.0), (2.0, 3.0)];
        let mut stats = RatioStats::default();
        for &(x, y) in &units {
            stats.push(x, y);
        }
        let n = units.len() as f64;
        let mx = units.iter().map(|u| u.0).sum::<f64>() / n;
        let my = units.iter().map(|u| u.1).sum::<f64>() / n;
        let vx = units.iter().map(|u| (u.0 - mx).powi(2)).sum::<f64>() / (n - 1.0);
        let vy = units.iter().map(|u| (u.1 - my).powi(2)).sum::<f64>() / (n - 1.0);
        let cxy = units.iter().map(|u| (u.0 - mx) * (u.1 - my)).sum::<f64>() / (n - 1.0);
        let r = mx / my;
        let expected = (vx - 2.0 * r * cxy + r * r * vy) / (my * my);
        let s = ArmSummary::ratio(&stats).unwrap();
        assert!((s.mean - r).abs() < 1e-15);
        assert!((s.unit_variance - expected).abs() < 1e-12 * expected);
    }

    #[test]
    fn cuped_reduces_variance_and_falls_back_without_covariate_variance() {
        // y = c + noise: the covariate explains most of the variance.
        let mut arms = Vec::new();
        for arm in 0..2_u64 {
            let mut y = MeanStats::default();
            let mut cov = Covariate::default();
            for i in 0..1000_u64 {
                let c = 10.0 + pseudo_normal(i + 7919 * arm);
                let v = c + 0.1 * pseudo_normal(i + 104_729 + arm);
                y.push(v);
                cov.push(c, v);
            }
            arms.push(CupedArm::mean(&y, cov));
        }
        let out = cuped(&arms);
        let theta = out.theta.unwrap();
        assert!((theta - 1.0).abs() < 0.05, "{theta}");
        let plain = ArmSummary::mean(
            &MeanStats::new(1000, arms[0].metric.sum(), arms[0].metric.sum_squares()).unwrap(),
        )
        .unwrap();
        let adjusted = out.arms[0].unwrap();
        assert!(adjusted.unit_variance < 0.05 * plain.unit_variance);

        // A constant covariate has no variance: unadjusted, θ = None.
        let constant: Vec<CupedArm> = arms
            .iter()
            .map(|a| CupedArm {
                covariate: Covariate::new(1000.0, 1000.0, a.metric.sum()).unwrap(),
                ..*a
            })
            .collect();
        let out = cuped(&constant);
        assert_eq!(out.theta, None);
        assert!((out.arms[0].unwrap().unit_variance - plain.unit_variance).abs() < 1e-12);
    }
}
