//! Error-free floating-point building blocks: compensated (double-double) sums and the
//! centred cross product `Σab − ΣaΣb/n` that keeps its digits when the mean is large
//! against the spread.

/// `a + b = s + e` exactly (Knuth's TwoSum).
#[inline]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// `a · b = p + e` exactly (fused multiply-add).
#[inline]
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// A sum kept as an unevaluated pair `hi + lo` (double-double), so that adding millions of
/// values, or merging shards in any order, loses no more than one rounding at the end.
///
/// ```
/// use flagstone_stats::CompensatedSum;
/// let mut s = CompensatedSum::default();
/// for _ in 0..10 {
///     s.add(0.1);
/// }
/// assert_eq!(s.value(), 1.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CompensatedSum {
    hi: f64,
    lo: f64,
}

impl CompensatedSum {
    /// The sum holding exactly `value`.
    pub fn new(value: f64) -> Self {
        CompensatedSum { hi: value, lo: 0.0 }
    }

    /// Adds one value.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let (s, e) = two_sum(self.hi, x);
        let (hi, lo) = two_sum(s, e + self.lo);
        self.hi = hi;
        self.lo = lo;
    }

    /// Adds `x²` without rounding the square first.
    #[inline]
    pub fn add_square(&mut self, x: f64) {
        self.add_product(x, x);
    }

    /// Adds `x · y` without rounding the product first.
    #[inline]
    pub fn add_product(&mut self, x: f64, y: f64) {
        let (p, e) = two_prod(x, y);
        let (s, e2) = two_sum(self.hi, p);
        let (hi, lo) = two_sum(s, e2 + e + self.lo);
        self.hi = hi;
        self.lo = lo;
    }

    /// Adds another compensated sum (merging shards).
    #[inline]
    pub fn merge(&mut self, other: &CompensatedSum) {
        let (s, e) = two_sum(self.hi, other.hi);
        let (hi, lo) = two_sum(s, e + self.lo + other.lo);
        self.hi = hi;
        self.lo = lo;
    }

    /// The sum rounded to the nearest `f64`.
    #[inline]
    pub fn value(&self) -> f64 {
        self.hi + self.lo
    }

    pub(crate) fn hi(&self) -> f64 {
        self.hi
    }

    pub(crate) fn lo(&self) -> f64 {
        self.lo
    }
}

/// `sum / n` as a double-double pair `(hi, lo)`: `hi` is the rounded quotient and `lo` the
/// rounded rest, so that the difference of two nearly equal means keeps its digits.
pub(crate) fn quotient(sum: &CompensatedSum, n: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 0.0);
    }
    let hi = sum.hi() / n;
    // Exact residual of the division (fused multiply-add) plus the low part of the sum.
    let residual = (-hi).mul_add(n, sum.hi()) + sum.lo();
    let lo = residual / n;
    if hi.is_finite() && lo.is_finite() { (hi, lo) } else { (sum.value() / n, 0.0) }
}

/// `a + b` as a double-double pair `(s, e)` (TwoSum), for callers outside this module.
pub(crate) fn sum_pair(a: f64, b: f64) -> (f64, f64) {
    two_sum(a, b)
}

/// `Σab − (Σa)(Σb)/n` with the product and the division carried in extra precision.
///
/// The subtraction of two nearly equal large numbers is where the naive formula loses its
/// digits; here `Σab − p` is exact by Sterbenz's lemma whenever the two are within a factor
/// of two, and every rounding error of `p` is carried in the correction term.
pub(crate) fn centered_cross(
    n: f64,
    sum_a: &CompensatedSum,
    sum_b: &CompensatedSum,
    sum_ab: &CompensatedSum,
) -> f64 {
    if n <= 0.0 {
        return 0.0;
    }
    let mean_b = sum_b.hi() / n;
    // Exact residual of the division plus the low part: sum_b = mean_b·n + residual.
    let residual = (-mean_b).mul_add(n, sum_b.hi()) + sum_b.lo();
    let (p, p_err) = two_prod(sum_a.hi(), mean_b);
    let a_total = sum_a.hi() + sum_a.lo();
    let correction = p_err + sum_a.lo() * mean_b + a_total * (residual / n);
    (sum_ab.hi() - p) + (sum_ab.lo() - correction)
}

/// Returns `Some(x)` when `x` is finite.
#[inline]
pub(crate) fn finite(x: f64) -> Option<f64> {
    if x.is_finite() { Some(x) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensated_sum_of_tenths_is_exact() {
        let mut s = CompensatedSum::default();
        let mut naive = 0.0;
        for _ in 0..1_000_000 {
            s.add(0.1);
            naive += 0.1;
        }
        assert_eq!(s.value(), 100_000.0);
        assert_ne!(naive, 100_000.0, "the naive sum drifts; the test would be vacuous");
    }

    #[test]
    fn centered_cross_matches_two_pass() {
        let xs: Vec<f64> = (0..1000).map(|i| 1e8 + f64::from(i % 7) * 0.25).collect();
        let n = xs.len() as f64;
        let mut s = CompensatedSum::default();
        let mut ss = CompensatedSum::default();
        for &x in &xs {
            s.add(x);
            ss.add_square(x);
        }
        let mean = xs.iter().sum::<f64>() / n;
        let two_pass: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        let got = centered_cross(n, &s, &s, &ss);
        assert!((got - two_pass).abs() <= 1e-9 * two_pass, "{got} vs {two_pass}");
    }
}
