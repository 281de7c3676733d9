//! Multiple-testing corrections across every metric × treatment comparison of a request.
//!
//! Each correction is expressed as a per-comparison adjusted alpha, so that the interval of
//! every comparison can be built at its own level and statuses follow from intervals: the
//! interval excludes the null exactly when the corrected test rejects.

use serde::{Deserialize, Serialize};

/// A multiple-testing correction. On the wire (`correction` of an analysis request) it is the
/// kebab-case name of [`Correction::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Correction {
    /// `α/m` for every comparison (the default; controls the family-wise error rate).
    #[default]
    Bonferroni,
    /// Holm's step-down procedure (Holm 1979): rank `k` is tested at `α/(m − k + 1)` until the
    /// first acceptance; every later rank gets that acceptance's level.
    Holm,
    /// Benjamini–Hochberg step-up (1995, controls the false discovery rate): with `k` the
    /// largest rank whose p-value is at most `kα/m`, every comparison is tested at
    /// `max(k, 1)·α/m`.
    BenjaminiHochberg,
    /// No correction.
    None,
}

impl Correction {
    /// The wire name: `bonferroni`, `holm`, `benjamini-hochberg` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Correction::Bonferroni => "bonferroni",
            Correction::Holm => "holm",
            Correction::BenjaminiHochberg => "benjamini-hochberg",
            Correction::None => "none",
        }
    }
}

/// Adjusted alpha per comparison, in input order. `ln_p_values` are natural logarithms of the
/// p-values (so that underflowed p-values still rank); `None` is an undefined comparison,
/// which counts in `m` and ranks last.
pub fn adjusted_alphas(
    correction: Correction,
    alpha: f64,
    ln_p_values: &[Option<f64>],
) -> Vec<f64> {
    let m = ln_p_values.len();
    if m == 0 {
        return Vec::new();
    }
    let mf = m as f64;
    let ln_p = |i: usize| ln_p_values.get(i).copied().flatten().unwrap_or(0.0);
    let mut order: Vec<usize> = (0..m).collect();
    // Stable: ties keep request order.
    order.sort_by(|&a, &b| ln_p(a).total_cmp(&ln_p(b)));
    match correction {
        Correction::None => vec![alpha; m],
        Correction::Bonferroni => vec![alpha / mf; m],
        Correction::Holm => {
            let mut out = vec![alpha / mf; m];
            let mut accepted_level: Option<f64> = None;
            for (rank0, &idx) in order.iter().enumerate() {
                let level = accepted_level.unwrap_or(alpha / (mf - rank0 as f64));
                if accepted_level.is_none() && ln_p(idx) > level.ln() {
                    accepted_level = Some(level);
                }
                if let Some(slot) = out.get_mut(idx) {
                    *slot = level;
                }
            }
            out
        }
        Correction::BenjaminiHochberg => {
            let mut k = 0_usize;
            for (rank0, &idx) in order.iter().enumerate() {
                let rank = rank0 + 1;
                if ln_p(idx) <= (rank as f64 * alpha / mf).ln() {
                    k = rank;
                }
            }
            vec![k.max(1) as f64 * alpha / mf; m]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ln(ps: &[f64]) -> Vec<Option<f64>> {
        ps.iter().map(|p| Some(p.ln())).collect()
    }

    #[test]
    fn bonferroni_and_none() {
        assert_eq!(
            adjusted_alphas(Correction::Bonferroni, 0.05, &ln(&[0.01, 0.2])),
            vec![0.025, 0.025]
        );
        assert_eq!(adjusted_alphas(Correction::None, 0.05, &ln(&[0.01, 0.2])), vec![0.05, 0.05]);
        assert!(adjusted_alphas(Correction::Holm, 0.05, &[]).is_empty());
    }

    #[test]
    fn holm_worked_example() {
        // Holm (1979), as in Wright (1992) "Adjusted P-values for simultaneous inference":
        // p = (0.01, 0.04, 0.03, 0.005), α = 0.05, m = 4. Sorted: 0.005 ≤ .05/4 rejects,
        // 0.01 ≤ .05/3 rejects, 0.03 > .05/2 accepts, so 0.03 and 0.04 are tested at .025.
        let out = adjusted_alphas(Correction::Holm, 0.05, &ln(&[0.01, 0.04, 0.03, 0.005]));
        let expected = [0.05 / 3.0, 0.025, 0.025, 0.0125];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-15, "{out:?}");
        }
    }

    #[test]
    fn benjamini_hochberg_worked_example() {
        // Benjamini & Hochberg (1995): p = (0.001, 0.008, 0.039, 0.041, 0.042, 0.06), α = 0.05,
        // m = 6: kα/m thresholds .0083, .0167, .025, .0333, .0417, .05; the largest k with
        // p_(k) ≤ kα/m is 2 (0.042 > 0.0417), so everything is tested at 2·0.05/6.
        let out = adjusted_alphas(
            Correction::BenjaminiHochberg,
            0.05,
            &ln(&[0.042, 0.001, 0.06, 0.008, 0.039, 0.041]),
        );
        assert!(out.iter().all(|a| (a - 0.1 / 6.0).abs() < 1e-15), "{out:?}");
    }

    #[test]
    fn undefined_comparisons_count_but_rank_last() {
        let out = adjusted_alphas(Correction::Holm, 0.05, &[None, Some(0.001_f64.ln())]);
        assert_eq!(out[1], 0.025);
        assert_eq!(out[0], 0.05);
    }
}
