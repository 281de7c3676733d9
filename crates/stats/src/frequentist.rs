//! Frequentist comparison of a treatment arm against the control: z-test (default), Welch's
//! t-test and the pooled two-proportion test, with absolute and relative intervals.
//!
//! A comparison is computed in two steps so that multiple-testing corrections can sit in
//! between: [`DifferenceTest::new`] gives the estimate, standard error and p-value (which do
//! not depend on alpha); [`DifferenceTest::at_alpha`] gives the intervals at the adjusted
//! alpha.

use serde::{Deserialize, Serialize};

use crate::error::UndefinedReason;
use crate::special::{self, Tail};
use crate::sufficient::ArmSummary;

/// The analysis method: the test statistic's reference distribution, or Bayesian. On the wire
/// (`method` of an analysis request) it is the kebab-case name of [`Method::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Difference of means with the unpooled standard error for test and interval
    /// (`METHOD_Z_TEST`, the default).
    #[default]
    ZTest,
    /// Welch's t-test with Satterthwaite degrees of freedom (`METHOD_T_TEST`).
    TTest,
    /// Pooled two-proportion test, equal to Pearson's χ² on the 2×2 table
    /// (`METHOD_CHI_SQUARED`); binary metrics only. The interval uses the unpooled standard
    /// error (the pooled one is only valid under the null).
    ChiSquared,
    /// Beta–Binomial / normal Bayesian analysis (`METHOD_BAYESIAN`), run by
    /// [`analyze`](crate::analysis::analyze) with the posteriors of [`bayes`](crate::bayes).
    /// A [`DifferenceTest`] has no Bayesian statistic and uses the z-test's, whose interval is
    /// the normal posterior's under a flat prior.
    Bayesian,
}

impl Method {
    /// The wire name: `z-test`, `t-test`, `chi-squared` or `bayesian`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::ZTest => "z-test",
            Method::TTest => "t-test",
            Method::ChiSquared => "chi-squared",
            Method::Bayesian => "bayesian",
        }
    }
}

/// The alternative hypothesis. On the wire (`sides` of a metric) it is the kebab-case name of
/// [`Sides::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sides {
    /// `H1: Δ ≠ null`.
    #[default]
    TwoSided,
    /// `H1: Δ > null`; the interval is `[lower, +∞)`.
    Greater,
    /// `H1: Δ < null`; the interval is `(−∞, upper]`.
    Less,
}

impl Sides {
    /// The wire name: `two-sided`, `greater` or `less`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sides::TwoSided => "two-sided",
            Sides::Greater => "greater",
            Sides::Less => "less",
        }
    }
}

/// How the relative difference's interval is formed. On the wire (`relativeCi` of an analysis
/// request) it is the kebab-case name of [`RelativeCi::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelativeCi {
    /// Delta method for `(t − c)/|c|` (the default).
    #[default]
    Delta,
    /// The absolute interval divided by `|c|` (the Spotify convention; ignores the control's
    /// uncertainty in the denominator).
    Scaled,
}

impl RelativeCi {
    /// The wire name: `delta` or `scaled`.
    pub fn as_str(self) -> &'static str {
        match self {
            RelativeCi::Delta => "delta",
            RelativeCi::Scaled => "scaled",
        }
    }
}

/// What to test: method, sides and the null hypothesis.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TestSpec {
    /// The test.
    pub method: Method,
    /// The alternative.
    pub sides: Sides,
    /// The null difference as a fraction of `|control mean|`: `−nim` for a non-inferiority
    /// margin on an increase-is-better metric, `+nim` for decrease-is-better, 0 otherwise.
    pub null_relative_shift: f64,
}

/// An estimate with its standard error and interval; `None` ends are unbounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Point estimate.
    pub estimate: f64,
    /// Standard error of the estimate.
    pub std_err: f64,
    /// Lower end, `None` for `−∞`.
    pub lower: Option<f64>,
    /// Upper end, `None` for `+∞`.
    pub upper: Option<f64>,
}

/// Alpha-independent part of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DifferenceTest {
    /// The control arm.
    pub control: ArmSummary,
    /// The treatment arm.
    pub treatment: ArmSummary,
    /// The test that was run.
    pub spec: TestSpec,
    /// `treatment.mean − control.mean`.
    pub difference: f64,
    /// Unpooled standard error of the difference (used for intervals).
    pub std_err: f64,
    /// The null difference on the absolute scale.
    pub null_difference: f64,
    /// Test statistic: z, t, or χ² (= z² on one degree of freedom).
    pub statistic: f64,
    /// Degrees of freedom: Satterthwaite's for the t-test, 1 for χ², `None` for z.
    pub dof: Option<f64>,
    /// The p-value, with its logarithm for when it underflows.
    pub p_value: Tail,
    /// Why the interval is undefined although the test is not: the pooled χ² test has a
    /// p-value where the unpooled standard error of the interval is 0 (one unit per arm, or
    /// proportions of 0 and 1). `None` when the interval is defined.
    pub interval_undefined: Option<UndefinedReason>,
    /// Signed statistic on the normal/t scale, for the one-sided mirror bound.
    signed: f64,
}

/// A finished comparison at one alpha.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The alpha-independent test.
    pub test: DifferenceTest,
    /// Alpha used for the intervals.
    pub alpha: f64,
    /// The critical value used (`z` or `t` quantile).
    pub critical: f64,
    /// Absolute difference `t − c`.
    pub absolute: Interval,
    /// Relative difference `(t − c)/|c|`, undefined when the control mean is 0.
    pub relative: Result<Interval, UndefinedReason>,
}

impl DifferenceTest {
    /// Runs the test.
    ///
    /// # Errors
    /// [`UndefinedReason::ZeroStandardError`] when neither arm varies;
    /// [`UndefinedReason::TooFewUnits`] for a t-test with fewer than 2 units in an arm.
    pub fn new(
        control: &ArmSummary,
        treatment: &ArmSummary,
        spec: &TestSpec,
    ) -> Result<Self, UndefinedReason> {
        if control.n <= 0.0 || treatment.n <= 0.0 {
            return Err(UndefinedReason::NoUnits);
        }
        let var_c = control.variance_of_mean();
        let var_t = treatment.variance_of_mean();
        let std_err = (var_c + var_t).sqrt();
        // Double-double: the high parts of two close means subtract exactly (Sterbenz), and
        // the low parts carry the digits the rounded means lost.
        let difference = (treatment.mean - control.mean) + (treatment.mean_lo - control.mean_lo);
        let null_difference = spec.null_relative_shift * control.mean.abs();
        let pooled_null = spec.method == Method::ChiSquared && null_difference == 0.0;
        let interval_undefined = if std_err.is_nan() || std_err <= 0.0 || !std_err.is_finite() {
            // Only the pooled test has a variance of its own, defined under H0 whenever the
            // pooled proportion is strictly between 0 and 1.
            if !pooled_null {
                return Err(UndefinedReason::ZeroStandardError);
            }
            Some(UndefinedReason::ZeroStandardError)
        } else {
            None
        };
        let (signed, dof) = match spec.method {
            Method::ZTest | Method::Bayesian => ((difference - null_difference) / std_err, None),
            Method::TTest => {
                if control.n < 2.0 || treatment.n < 2.0 {
                    return Err(UndefinedReason::TooFewUnits);
                }
                let dof = (var_c + var_t).powi(2)
                    / (var_c * var_c / (control.n - 1.0) + var_t * var_t / (treatment.n - 1.0));
                ((difference - null_difference) / std_err, Some(dof))
            }
            Method::ChiSquared => {
                // The pooled variance is the variance under H0: p_t = p_c; with a shifted null
                // it does not apply and the unpooled (Wald) statistic is used.
                let se = if null_difference == 0.0 {
                    let pooled = (control.mean * control.n + treatment.mean * treatment.n)
                        / (control.n + treatment.n);
                    (pooled * (1.0 - pooled) * (1.0 / control.n + 1.0 / treatment.n)).sqrt()
                } else {
                    std_err
                };
                if se.is_nan() || se <= 0.0 || !se.is_finite() {
                    return Err(UndefinedReason::ZeroStandardError);
                }
                ((difference - null_difference) / se, Some(1.0))
            }
        };
        let p_value = match (spec.sides, dof, spec.method) {
            (Sides::TwoSided, Some(d), Method::TTest) => special::t_two_sided(signed, d),
            (Sides::Greater, Some(d), Method::TTest) => special::t_upper_tail(signed, d),
            (Sides::Less, Some(d), Method::TTest) => special::t_upper_tail(-signed, d),
            (Sides::TwoSided, _, _) => special::normal_two_sided(signed),
            (Sides::Greater, _, _) => special::normal_upper_tail(signed),
            (Sides::Less, _, _) => special::normal_upper_tail(-signed),
        };
        let statistic = if spec.method == Method::ChiSquared { signed * signed } else { signed };
        Ok(DifferenceTest {
            control: *control,
            treatment: *treatment,
            spec: *spec,
            difference,
            std_err: if interval_undefined.is_some() { 0.0 } else { std_err },
            null_difference,
            statistic,
            dof,
            p_value,
            interval_undefined,
            signed,
        })
    }

    /// The critical value for `alpha`: `z` or `t` quantile, at `alpha/2` when two-sided.
    pub fn critical(&self, alpha: f64) -> f64 {
        let tail = if self.spec.sides == Sides::TwoSided { 0.5 * alpha } else { alpha };
        match (self.spec.method, self.dof) {
            (Method::TTest, Some(dof)) => special::t_quantile_upper(tail, dof),
            _ => special::normal_quantile_upper(tail),
        }
    }

    /// Intervals at `alpha`.
    pub fn at_alpha(&self, alpha: f64, relative_ci: RelativeCi) -> Comparison {
        self.at_critical(self.critical(alpha), alpha, relative_ci)
    }

    /// Intervals with a given critical value in place of the fixed-horizon quantile: a
    /// group-sequential bound or the half-width of an always-valid confidence sequence, in
    /// standard errors. `alpha` is recorded as the level the critical value stands for. An
    /// infinite critical value gives unbounded intervals.
    pub fn at_critical(&self, critical: f64, alpha: f64, relative_ci: RelativeCi) -> Comparison {
        let absolute = self.bounds(self.difference, self.std_err, critical);
        let c = self.control.mean.abs();
        let relative = if c > 0.0 {
            match relative_ci {
                RelativeCi::Delta => {
                    let var = self.treatment.variance_of_mean() / (c * c)
                        + self.treatment.mean
                            * self.treatment.mean
                            * self.control.variance_of_mean()
                            / (c * c * c * c);
                    Ok(self.bounds(self.difference / c, var.sqrt(), critical))
                }
                RelativeCi::Scaled => Ok(Interval {
                    estimate: absolute.estimate / c,
                    std_err: absolute.std_err / c,
                    lower: absolute.lower.map(|l| l / c),
                    upper: absolute.upper.map(|u| u / c),
                }),
            }
        } else {
            Err(UndefinedReason::ZeroControlMean)
        };
        Comparison { test: *self, alpha, critical, absolute, relative }
    }

    fn bounds(&self, estimate: f64, std_err: f64, critical: f64) -> Interval {
        let half = half_width(critical, std_err);
        let (lower, upper) = match self.spec.sides {
            Sides::TwoSided => (Some(estimate - half), Some(estimate + half)),
            Sides::Greater => (Some(estimate - half), None),
            Sides::Less => (None, Some(estimate + half)),
        };
        Interval { estimate, std_err, lower, upper }
    }
}

impl Comparison {
    /// The one-sided bound on the side the interval leaves open, at the same critical value:
    /// `estimate + critical·SE` for `Greater`, `estimate − critical·SE` for `Less`. A
    /// non-inferiority comparison is inferior when this bound lies beyond the margin (the
    /// one-sided test in the other direction rejects at the same alpha).
    pub fn mirror_bound(&self) -> Option<f64> {
        let half = half_width(self.critical, self.absolute.std_err);
        match self.test.spec.sides {
            Sides::TwoSided => None,
            Sides::Greater => Some(self.absolute.estimate + half),
            Sides::Less => Some(self.absolute.estimate - half),
        }
    }
}

/// `critical · std_err`, unbounded whenever the critical value is (even at a zero standard
/// error, where the product would be NaN).
fn half_width(critical: f64, std_err: f64) -> f64 {
    if critical == f64::INFINITY { f64::INFINITY } else { critical * std_err }
}

/// Both steps at once.
///
/// # Errors
/// As [`DifferenceTest::new`], and [`DifferenceTest::interval_undefined`] when the test is
/// defined but its interval is not.
///
/// # Examples
/// ```
/// use flagstone_stats::{ArmSummary, BinaryStats, TestSpec, RelativeCi, compare};
/// let control = ArmSummary::binary(&BinaryStats::new(10_000, 1_000)?).map_err(|e| e.to_string())?;
/// let treatment = ArmSummary::binary(&BinaryStats::new(10_000, 1_100)?).map_err(|e| e.to_string())?;
/// let c = compare(&control, &treatment, &TestSpec::default(), 0.05, RelativeCi::Delta)
///     .map_err(|e| e.to_string())?;
/// assert!(c.test.p_value.p < 0.05);
/// assert!(c.absolute.lower.is_some_and(|l| l > 0.0));
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compare(
    control: &ArmSummary,
    treatment: &ArmSummary,
    spec: &TestSpec,
    alpha: f64,
    relative_ci: RelativeCi,
) -> Result<Comparison, UndefinedReason> {
    let test = DifferenceTest::new(control, treatment, spec)?;
    match test.interval_undefined {
        Some(reason) => Err(reason),
        None => Ok(test.at_alpha(alpha, relative_ci)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sufficient::{BinaryStats, MeanStats};

    fn binary(n: u64, s: u64) -> ArmSummary {
        ArmSummary::binary(&BinaryStats::new(n, s).unwrap()).unwrap()
    }

    fn check(c: &Comparison, p: f64, lower: f64, upper: f64, tol: f64) {
        assert!(
            (c.test.p_value.p - p).abs() <= tol * p.max(1e-300),
            "p {} vs {p}",
            c.test.p_value.p
        );
        assert!(
            (c.absolute.lower.unwrap() - lower).abs() <= tol * lower.abs(),
            "lower {:?}",
            c.absolute.lower
        );
        assert!(
            (c.absolute.upper.unwrap() - upper).abs() <= tol * upper.abs(),
            "upper {:?}",
            c.absolute.upper
        );
    }

    #[test]
    fn large_close_means_keep_their_digits() {
        // Means about 1.2e4 that differ by 1e-3, sd 0.5, 1.2e6 units per arm. Reference:
        // mpmath 1.3 at 50 digits on the exact f64 inputs, mean Σx/n, unbiased variance
        // (Σx² − (Σx)²/n)/(n − 1), z = Φ⁻¹(0.975); the naive difference of the rounded means
        // is 8.7e-10 relative off, 3.3e-9 on the lower end.
        let c = MeanStats::new(1_200_000, 14_400_148_148.146_801, 172_803_555_873_812.84).unwrap();
        let t = MeanStats::new(1_200_017, 14_400_353_350.262_566, 172_806_032_724_893.25).unwrap();
        let (c, t) = (ArmSummary::mean(&c).unwrap(), ArmSummary::mean(&t).unwrap());
        let out = compare(&c, &t, &TestSpec::default(), 0.05, RelativeCi::Delta).unwrap();
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
        let a = out.absolute;
        assert!(rel(a.estimate, 9.999_999_993_374_309e-4) < 1e-12, "{}", a.estimate);
        assert!(rel(a.std_err, 6.454_949_364_042_605e-4) < 1e-12, "{}", a.std_err);
        assert!(rel(a.lower.unwrap(), -2.651_468_282_178_924e-4) < 1e-9, "{:?}", a.lower);
        assert!(rel(a.upper.unwrap(), 2.265_146_826_892_754e-3) < 1e-9, "{:?}", a.upper);
    }

    #[test]
    fn two_proportion_z_test_reference() {
        // Unpooled Wald test (Agresti, "Categorical Data Analysis", 3rd ed., eq. 3.2):
        // p_c = 0.10, p_t = 0.11, n = 10 000 each; SE = √(.09/1e4 + .0979/1e4) = 0.00433474336,
        // z = 2.30694165, p = erfc(z/√2) = 0.0210580732.
        let c = compare(
            &binary(10_000, 1_000),
            &binary(10_000, 1_100),
            &TestSpec::default(),
            0.05,
            RelativeCi::Delta,
        )
        .unwrap();
        let se = (0.09_f64 / 1e4 + 0.0979 / 1e4).sqrt();
        assert!((c.test.std_err - se).abs() < 1e-15);
        let z = 0.01 / se;
        assert!((c.test.statistic - z).abs() < 1e-12);
        check(
            &c,
            0.021_058_073_216_077_88,
            0.01 - 1.959_963_984_540_054 * se,
            0.01 + 1.959_963_984_540_054 * se,
            1e-4,
        );
    }

    #[test]
    fn pooled_test_equals_pearson_chi_squared() {
        // Pearson's χ² on the 2×2 table [[1000, 9000], [1100, 8900]] (Agresti eq. 3.10):
        // Σ (O − E)²/E with E from the margins.
        let c = compare(
            &binary(10_000, 1_000),
            &binary(10_000, 1_100),
            &TestSpec { method: Method::ChiSquared, ..TestSpec::default() },
            0.05,
            RelativeCi::Delta,
        )
        .unwrap();
        let observed = [1000.0, 9000.0, 1100.0, 8900.0];
        let expected = [1050.0, 8950.0, 1050.0, 8950.0];
        let chi2: f64 =
            observed.iter().zip(expected).map(|(o, e): (&f64, f64)| (o - e).powi(2) / e).sum();
        assert!((c.test.statistic - chi2).abs() < 1e-9 * chi2, "{} vs {chi2}", c.test.statistic);
        assert_eq!(c.test.dof, Some(1.0));
        let p = special::chi_squared_upper_tail(chi2, 1.0);
        assert!((c.test.p_value.p - p).abs() < 1e-9);
    }

    #[test]
    fn welch_t_test_reference() {
        // Welch (1947) with Satterthwaite dof, worked from the textbook formulas:
        // control n=10 mean 20 var 4; treatment n=12 mean 22 var 9.
        let control = ArmSummary { n: 10.0, mean: 20.0, mean_lo: 0.0, unit_variance: 4.0 };
        let treatment = ArmSummary { n: 12.0, mean: 22.0, mean_lo: 0.0, unit_variance: 9.0 };
        let c = compare(
            &control,
            &treatment,
            &TestSpec { method: Method::TTest, ..TestSpec::default() },
            0.05,
            RelativeCi::Delta,
        )
        .unwrap();
        let (vc, vt) = (0.4_f64, 0.75_f64);
        let dof = (vc + vt).powi(2) / (vc * vc / 9.0 + vt * vt / 11.0);
        assert!((c.test.dof.unwrap() - dof).abs() < 1e-12);
        assert!((dof - 19.190_545_987_541_22).abs() < 1e-9, "{dof}");
        let t = 2.0 / (vc + vt).sqrt();
        assert!((c.test.statistic - t).abs() < 1e-12);
        // 2·P(T ≥ 1.865009616) on 19.1905 dof = I_{ν/(ν+t²)}(ν/2, ½) = 0.07754643868 (mpmath).
        assert!(
            (c.test.p_value.p - 0.077_546_438_682_058_67).abs() < 1e-12,
            "{}",
            c.test.p_value.p
        );
        let crit = special::t_quantile_upper(0.025, dof);
        assert!((c.absolute.lower.unwrap() - (2.0 - crit * (vc + vt).sqrt())).abs() < 1e-12);
    }

    #[test]
    fn z_close_to_forty_five_reports_log10_p() {
        let control = ArmSummary { n: 1e6, mean: 0.0, mean_lo: 0.0, unit_variance: 1.0 };
        let treatment =
            ArmSummary { n: 1e6, mean: 44.7 * (2e-6_f64).sqrt(), mean_lo: 0.0, unit_variance: 1.0 };
        let c =
            compare(&control, &treatment, &TestSpec::default(), 0.05, RelativeCi::Delta).unwrap();
        assert!((c.test.statistic - 44.7).abs() < 1e-9);
        assert_eq!(c.test.p_value.p, 0.0);
        let log10 = c.test.p_value.log10_p();
        assert!(log10 < -435.0 && log10 > -437.0, "{log10}");
        assert_eq!(c.relative, Err(UndefinedReason::ZeroControlMean));
    }

    #[test]
    fn undefined_cases() {
        let zero = binary(100, 0);
        assert_eq!(
            DifferenceTest::new(&zero, &zero, &TestSpec::default()),
            Err(UndefinedReason::ZeroStandardError)
        );
        let all = binary(100, 100);
        assert_eq!(
            DifferenceTest::new(&all, &all, &TestSpec::default()),
            Err(UndefinedReason::ZeroStandardError)
        );
        // A zero-variance arm alone is fine.
        assert!(DifferenceTest::new(&zero, &binary(100, 5), &TestSpec::default()).is_ok());
        let one = ArmSummary { n: 1.0, mean: 1.0, mean_lo: 0.0, unit_variance: 0.5 };
        let t = TestSpec { method: Method::TTest, ..TestSpec::default() };
        assert_eq!(
            DifferenceTest::new(&one, &binary(10, 5), &t),
            Err(UndefinedReason::TooFewUnits)
        );
    }

    #[test]
    fn identical_arms_are_not_significant() {
        let a = binary(1_000_000_000, 100_000_000);
        let c = compare(&a, &a, &TestSpec::default(), 0.05, RelativeCi::Delta).unwrap();
        assert_eq!(c.test.difference, 0.0);
        assert_eq!(c.test.p_value.p, 1.0);
        assert!(c.absolute.lower.unwrap() < 0.0 && c.absolute.upper.unwrap() > 0.0);
    }

    #[test]
    fn one_sided_intervals_are_open_and_margins_shift_the_null() {
        let control = ArmSummary::mean(&MeanStats::new(100, 1000.0, 10_400.0).unwrap()).unwrap();
        let treatment = ArmSummary::mean(&MeanStats::new(100, 990.0, 10_200.0).unwrap()).unwrap();
        let spec =
            TestSpec { sides: Sides::Greater, null_relative_shift: -0.05, ..TestSpec::default() };
        let c = compare(&control, &treatment, &spec, 0.05, RelativeCi::Delta).unwrap();
        assert_eq!(c.absolute.upper, None);
        assert!((c.test.null_difference + 0.5).abs() < 1e-12);
        // z = (−0.1 + 0.5)/SE; the p-value is the upper tail of that.
        let z = (-0.1 + 0.5) / c.test.std_err;
        assert!((c.test.p_value.p - special::normal_upper_tail(z).p).abs() < 1e-15);
        assert!(c.mirror_bound().unwrap() > c.absolute.estimate);
        let scaled = DifferenceTest::new(&control, &treatment, &spec)
            .unwrap()
            .at_alpha(0.05, RelativeCi::Scaled);
        let rel = scaled.relative.unwrap();
        assert!((rel.lower.unwrap() - c.absolute.lower.unwrap() / 10.0).abs() < 1e-15);
        assert_eq!(rel.upper, None);
    }

    #[test]
    fn delta_method_relative_standard_error() {
        // Var((t−c)/c) ≈ σ_t²/c² + t²σ_c²/c⁴ (first-order Taylor expansion of t/c; e.g.
        // Casella & Berger, "Statistical Inference", 2nd ed., Example 5.5.27).
        let control = ArmSummary { n: 100.0, mean: 10.0, mean_lo: 0.0, unit_variance: 4.0 };
        let treatment = ArmSummary { n: 100.0, mean: 11.0, mean_lo: 0.0, unit_variance: 9.0 };
        let c =
            compare(&control, &treatment, &TestSpec::default(), 0.05, RelativeCi::Delta).unwrap();
        let rel = c.relative.unwrap();
        let expected = (0.09_f64 / 100.0 + 121.0 * 0.04 / 10_000.0).sqrt();
        assert!((rel.std_err - expected).abs() < 1e-15);
        assert!((rel.estimate - 0.1).abs() < 1e-15);
    }
}
