//! Sample-ratio mismatch: Pearson's χ² goodness-of-fit of observed units against the
//! expected allocation.

use crate::error::{StatsError, UndefinedReason};
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

/// The result of [`srm_allocation`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SrmCheck {
    /// Pearson's test on the variants with a positive expected share.
    Tested(Srm),
    /// A variant whose expected share is 0 has units: a mismatch without a test (its expected
    /// count is 0, so `χ²` is infinite and the p-value 0). `df` is that of the variants with
    /// a positive share.
    UnitsInZeroShare {
        /// The first such variant, an index into the input.
        variant_idx: usize,
        /// Its units.
        units: u64,
        /// Degrees of freedom of the variants with a positive share, their number − 1.
        df: u32,
    },
    /// No test can be run: no units at all, or fewer than two variants with a positive share.
    Undefined(UndefinedReason),
}

/// [`srm`] for an allocation that may give some variants a share of 0 (a variant turned off
/// or not yet ramped up). Those without units are left out of the test, so the degrees of
/// freedom shrink; units in one of them are an immediate mismatch.
///
/// # Errors
/// Lengths differ, fewer than two variants, or a share that is negative or not finite.
pub fn srm_allocation(observed: &[u64], expected_shares: &[f64]) -> Result<SrmCheck, StatsError> {
    if observed.len() != expected_shares.len() {
        return Err(StatsError::invalid("variants", "expected one share per observed count"));
    }
    if observed.len() < 2 {
        return Err(StatsError::invalid("variants", "expected at least two variants"));
    }
    for (i, &s) in expected_shares.iter().enumerate() {
        if !(s >= 0.0 && s.is_finite()) {
            return Err(StatsError::invalid(
                format!("[{i}].expectedShare"),
                format!("expected a non-negative share, got {s}"),
            ));
        }
    }
    let (kept_observed, kept_shares): (Vec<u64>, Vec<f64>) =
        observed.iter().zip(expected_shares).filter(|(_, s)| **s > 0.0).unzip();
    let df = u32::try_from(kept_observed.len().saturating_sub(1)).unwrap_or(u32::MAX);
    let stray = observed.iter().zip(expected_shares).position(|(&o, &s)| s == 0.0 && o > 0);
    if let Some(variant_idx) = stray {
        let units = observed.get(variant_idx).copied().unwrap_or(0);
        return Ok(SrmCheck::UnitsInZeroShare { variant_idx, units, df });
    }
    if observed.iter().all(|&o| o == 0) {
        return Ok(SrmCheck::Undefined(UndefinedReason::NoUnits));
    }
    if kept_observed.len() < 2 {
        return Ok(SrmCheck::Undefined(UndefinedReason::SingleVariant));
    }
    Ok(match srm(&kept_observed, &kept_shares)? {
        Some(s) => SrmCheck::Tested(s),
        None => SrmCheck::Undefined(UndefinedReason::NoUnits),
    })
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

    #[test]
    fn zero_shares_leave_the_test() {
        // Reference: Pearson's χ² goodness of fit on the remaining arms by hand:
        // 5 100 vs 4 900 at 1:1 gives χ² = 2·100²/5 000 = 4 on 1 df,
        // p = P(χ²₁ ≥ 4) = erfc(√2) = 0.045_500_263_896_358_41 (mpmath 1.3).
        let SrmCheck::Tested(s) = srm_allocation(&[5_100, 0, 4_900], &[1.0, 0.0, 1.0]).unwrap()
        else {
            panic!("expected a test")
        };
        assert!((s.chi2 - 4.0).abs() < 1e-12);
        assert_eq!(s.df, 1);
        assert!((s.p_value - 0.045_500_263_896_358_41).abs() < 1e-12 * s.p_value);
        assert!(!s.mismatch);
        // Three arms with one of them empty at share 0 equal the two-arm test.
        assert_eq!(
            srm_allocation(&[5_100, 0, 4_900], &[1.0, 0.0, 1.0]).unwrap(),
            SrmCheck::Tested(srm(&[5_100, 4_900], &[1.0, 1.0]).unwrap().unwrap())
        );
        // Units where none were expected are a mismatch at once.
        assert_eq!(
            srm_allocation(&[5_000, 3, 5_000], &[1.0, 0.0, 1.0]).unwrap(),
            SrmCheck::UnitsInZeroShare { variant_idx: 1, units: 3, df: 1 }
        );
        assert_eq!(
            srm_allocation(&[10, 0], &[1.0, 0.0]).unwrap(),
            SrmCheck::Undefined(UndefinedReason::SingleVariant)
        );
        assert_eq!(
            srm_allocation(&[0, 0], &[1.0, 0.0]).unwrap(),
            SrmCheck::Undefined(UndefinedReason::NoUnits)
        );
        assert_eq!(srm_allocation(&[1, 2], &[1.0, -1.0]).unwrap_err().path(), "[1].expectedShare");
    }
}
