//! Sample-ratio mismatch: Pearson's χ² goodness-of-fit of observed units against the
//! expected allocation.

use crate::error::StatsError;
use crate::special::chi_squared_upper_tail;

/// p-value below which the allocation is flagged as mismatched.
pub const SRM_THRESHOLD: f64 = 0.001;

/// The result of [`srm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Srm {
    /// Pearson's statistic `Σ (o − e)²/e`.
    pub chi2: f64,
    /// Degrees of freedom, variants − 1.
    pub df: u32,
    /// Upper tail of χ²(df) at `chi2`.
    pub p_value: f64,
    /// `p_value < 0.001`.
    pub mismatch: bool,
}

/// Pearson's χ² test of `observed` units against `expected_shares` (relative weights,
/// normalised by their sum). `Ok(None)` when no unit was observed.
///
/// # Errors
/// Lengths differ, fewer than two variants, or a share that is not positive and finite.
pub fn srm(observed: &[u64], expected_shares: &[f64]) -> Result<Option<Srm>, StatsError> {
    if observed.len() != expected_shares.len() {
        return Err(StatsError::invalid("variants", "expected one share per observed count"));
    }
    if observed.len() < 2 {
        return Err(StatsError::invalid("variants", "expected at least two variants"));
    }
    for (i, &s) in expected_shares.iter().enumerate() {
        if !(s > 0.0 && s.is_finite()) {
            return Err(StatsError::invalid(
                format!("[{i}].expectedShare"),
                format!("expected a positive share, got {s}"),
            ));
        }
    }
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    if total == 0.0 {
        return Ok(None);
    }
    let share_sum: f64 = expected_shares.iter().sum();
    let chi2: f64 = observed
        .iter()
        .zip(expected_shares)
        .map(|(&o, &s)| {
            let e = total * s / share_sum;
            let d = o as f64 - e;
            d * d / e
        })
        .sum();
    let df = u32::try_from(observed.len() - 1).unwrap_or(u32::MAX);
    let p_value = chi_squared_upper_tail(chi2, f64::from(df));
    Ok(Some(Srm { chi2, df, p_value, mismatch: p_value < SRM_THRESHOLD }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_split_reference() {
        // Pearson (1900) goodness of fit: 50 500 vs 49 500 at 50/50 gives
        // χ² = 2·500²/50 000 = 10, p = P(χ²₁ ≥ 10) = erfc(√5) = 0.001565.
        let s = srm(&[50_500, 49_500], &[1.0, 1.0]).unwrap().unwrap();
        assert!((s.chi2 - 10.0).abs() < 1e-12);
        assert_eq!(s.df, 1);
        assert!((s.p_value - statrs::function::erf::erfc(5.0_f64.sqrt())).abs() < 1e-12);
        assert!(!s.mismatch);
        let s = srm(&[51_000, 49_000], &[0.5, 0.5]).unwrap().unwrap();
        assert!(s.mismatch);
    }

    #[test]
    fn weights_are_relative_and_edge_cases() {
        let a = srm(&[100, 200, 300], &[1.0, 2.0, 3.0]).unwrap().unwrap();
        assert_eq!(a.chi2, 0.0);
        assert_eq!(a.p_value, 1.0);
        assert_eq!(srm(&[0, 0], &[1.0, 1.0]).unwrap(), None);
        assert!(srm(&[1], &[1.0]).is_err());
        assert_eq!(srm(&[1, 2], &[1.0, 0.0]).unwrap_err().path(), "[1].expectedShare");
    }
}
