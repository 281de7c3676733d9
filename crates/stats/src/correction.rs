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

/// Adjusted alpha per comparison for sequential tests, which have no fixed-horizon p-value
/// to rank: `rejects(i, level)` says whether comparison `i` crosses its sequential bound
/// built at `level` (bounds fall as the level rises, so this is monotone in `level`).
///
/// - Holm is the graphical step-down of Maurer & Bretz (2013, "Multiple testing in group
///   sequential trials using graphical approaches", *Statistics in Biopharmaceutical
///   Research* 5(4)) with equal weights: start every comparison at `α/m`; whenever one
///   crosses at its level, reject it and pass its alpha on equally, so the others are
///   re-tested at `α/(m − r)` with `r` rejected; a rejected comparison keeps the level it was
///   rejected at, and the rest get the last level. Among several that cross at one level, the
///   smallest `ln_p_values` goes first, so with one look this is Holm's procedure exactly.
/// - Benjamini–Hochberg is the step-up on the same crossings: with `k` the largest count such
///   that at least `k` comparisons cross at `kα/m`, every comparison is at `max(k, 1)·α/m`;
///   with one look this is the procedure of Benjamini & Hochberg (1995).
/// - Bonferroni and none are as in [`adjusted_alphas`].
///
/// Undefined comparisons (`None` in `ln_p_values`) count in `m` and never cross.
///
/// # Errors
/// The first error of `rejects`.
pub fn sequential_adjusted_alphas<E>(
    correction: Correction,
    alpha: f64,
    ln_p_values: &[Option<f64>],
    mut rejects: impl FnMut(usize, f64) -> Result<bool, E>,
) -> Result<Vec<f64>, E> {
    let m = ln_p_values.len();
    if m == 0 {
        return Ok(Vec::new());
    }
    let mf = m as f64;
    let defined = |i: usize| ln_p_values.get(i).copied().flatten();
    match correction {
        Correction::None | Correction::Bonferroni => {
            Ok(adjusted_alphas(correction, alpha, ln_p_values))
        }
        Correction::Holm => {
            let mut out = vec![alpha / mf; m];
            let mut rejected = vec![false; m];
            for r in 0..m {
                let level = alpha / (mf - r as f64);
                let mut first: Option<(usize, f64)> = None;
                for i in 0..m {
                    let Some(ln_p) = defined(i) else { continue };
                    if rejected.get(i).copied().unwrap_or(true) || !rejects(i, level)? {
                        continue;
                    }
                    if first.is_none_or(|(_, best)| ln_p < best) {
                        first = Some((i, ln_p));
                    }
                }
                match first {
                    Some((i, _)) => {
                        if let (Some(flag), Some(slot)) = (rejected.get_mut(i), out.get_mut(i)) {
                            *flag = true;
                            *slot = level;
                        }
                    }
                    None => {
                        for (slot, _) in out.iter_mut().zip(&rejected).filter(|(_, r)| !**r) {
                            *slot = level;
                        }
                        break;
                    }
                }
            }
            Ok(out)
        }
        Correction::BenjaminiHochberg => {
            for k in (1..=m).rev() {
                let level = k as f64 * alpha / mf;
                let mut crossing = 0_usize;
                for i in 0..m {
                    if defined(i).is_some() && rejects(i, level)? {
                        crossing += 1;
                    }
                }
                if crossing >= k {
                    return Ok(vec![level; m]);
                }
            }
            Ok(vec![alpha / mf; m])
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

    /// With one look, crossing the bound at `level` is `p ≤ level`.
    fn one_look(ps: &[f64], correction: Correction) -> Vec<f64> {
        let crosses = |i: usize, level: f64| Ok::<_, ()>(ps[i] <= level);
        sequential_adjusted_alphas(correction, 0.05, &ln(ps), crosses).unwrap()
    }

    #[test]
    fn sequential_corrections_at_one_look_are_the_fixed_ones() {
        // The worked examples above (Holm 1979; Benjamini & Hochberg 1995) and the 15
        // p-values of Benjamini & Hochberg (1995) §3.2, where Holm rejects 3 and BH 4.
        let bh_1995 = [
            0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
            0.5719, 0.6528, 0.7590, 1.0,
        ];
        for ps in
            [&[0.01, 0.04, 0.03, 0.005][..], &[0.042, 0.001, 0.06, 0.008, 0.039, 0.041], &bh_1995]
        {
            for c in [Correction::Holm, Correction::BenjaminiHochberg, Correction::Bonferroni] {
                assert_eq!(one_look(ps, c), adjusted_alphas(c, 0.05, &ln(ps)), "{c:?} {ps:?}");
            }
        }
        let holm = one_look(&bh_1995, Correction::Holm);
        let rejected = bh_1995.iter().zip(&holm).filter(|(p, a)| p <= a).count();
        assert_eq!(rejected, 3);
        let bh = one_look(&bh_1995, Correction::BenjaminiHochberg);
        assert_eq!(bh_1995.iter().zip(&bh).filter(|(p, a)| p <= a).count(), 4);
    }

    #[test]
    fn sequential_holm_recycles_alpha_through_the_bounds() {
        use crate::frequentist::Sides;
        use crate::sequential::{GroupSequentialDesign, Spending, efficacy_bounds};
        // Two comparisons at the second of two looks (t = 0.5, 1), O'Brien–Fleming, two-sided.
        // z = 2.3 crosses the final bound at α/2 = 0.025 (2.2414 fixed; 2.2457 with the
        // look at 0.5), so the other, z = 2.0, is re-tested at the full 0.05 (bound 1.9686,
        // the rpact value cited in `sequential`'s tests) and crosses too.
        let z = [2.0, 2.3];
        let crosses = |i: usize, level: f64| {
            let design = GroupSequentialDesign {
                alpha: level,
                sides: Sides::TwoSided,
                spending: Spending::OBrienFleming,
            };
            let bounds = efficacy_bounds(&[0.5, 1.0], &design)?;
            Ok::<_, crate::StatsError>(z[i] >= bounds.z_bounds[1])
        };
        let ln_p = [Some(0.0455_f64.ln()), Some(0.0214_f64.ln())];
        let out = sequential_adjusted_alphas(Correction::Holm, 0.05, &ln_p, crosses).unwrap();
        assert_eq!(out, vec![0.05, 0.025]);
        // Bonferroni would leave z = 2.0 at 0.025, below its bound.
        assert!(!crosses(0, 0.025).unwrap());
    }
}
