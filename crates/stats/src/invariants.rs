//! Property tests of the invariants that every result must keep (STYLE §8).

use crate::bayes::{BetaPosterior, prob_best, prob_greater};
use crate::frequentist::{Method, RelativeCi, Sides, TestSpec, compare};
use crate::sufficient::{ArmSummary, BinaryStats, MeanStats, RatioStats};
use proptest::prelude::*;

fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-12 * scale.max(1.0)
}

fn sides() -> impl Strategy<Value = Sides> {
    prop_oneof![Just(Sides::TwoSided), Just(Sides::Greater), Just(Sides::Less)]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![Just(Method::ZTest), Just(Method::TTest), Just(Method::ChiSquared)]
}

fn arm() -> impl Strategy<Value = ArmSummary> {
    (2.0..1e7_f64, 0.0..1.0_f64, 0.0..1.0_f64).prop_map(|(n, p, v)| ArmSummary {
        n: n.floor(),
        mean: p,
        unit_variance: v * 0.25,
    })
}

proptest! {
    #[test]
    fn merge_is_associative(xs in prop::collection::vec(-1e6..1e6_f64, 0..60), cut1 in 0usize..60, cut2 in 0usize..60) {
        let (a, b) = (cut1.min(xs.len()), cut2.min(xs.len()));
        let (i, j) = (a.min(b), a.max(b));
        let build = |s: &[f64]| {
            let mut m = MeanStats::default();
            let mut r = RatioStats::default();
            let mut bin = BinaryStats::default();
            for &x in s {
                m.push(x);
                r.push(x, x.abs() + 1.0);
                bin.push(x > 0.0);
            }
            (m, r, bin)
        };
        let (p, q, r) = (build(&xs[..i]), build(&xs[i..j]), build(&xs[j..]));
        let mut left = p;
        left.0.merge(&q.0); left.0.merge(&r.0);
        left.1.merge(&q.1); left.1.merge(&r.1);
        left.2.merge(&q.2); left.2.merge(&r.2);
        let mut qr = q;
        qr.0.merge(&r.0); qr.1.merge(&r.1); qr.2.merge(&r.2);
        let mut right = p;
        right.0.merge(&qr.0); right.1.merge(&qr.1); right.2.merge(&qr.2);
        let scale: f64 = xs.iter().map(|x| x * x).sum::<f64>() + xs.iter().map(|x| x.abs()).sum::<f64>();
        prop_assert_eq!(left.0.n(), right.0.n());
        prop_assert!(close(left.0.sum(), right.0.sum(), scale));
        prop_assert!(close(left.0.sum_squares(), right.0.sum_squares(), scale));
        prop_assert!(close(left.1.cross_products(), right.1.cross_products(), scale));
        prop_assert_eq!(left.2, right.2);
        prop_assert_eq!(left.0.n() as usize, xs.len());
    }

    #[test]
    fn intervals_contain_the_estimate_and_p_is_a_probability(
        c in arm(), t in arm(), sides in sides(), method in method(), alpha in 1e-6..0.5_f64, shift in -0.2..0.2_f64,
    ) {
        let spec = TestSpec { method, sides, null_relative_shift: shift };
        if let Ok(cmp) = compare(&c, &t, &spec, alpha, RelativeCi::Delta) {
            let p = cmp.test.p_value.p;
            prop_assert!((0.0..=1.0).contains(&p), "p = {}", p);
            prop_assert!(cmp.test.p_value.ln_p <= 0.0 && !cmp.test.p_value.ln_p.is_nan());
            let est = cmp.absolute.estimate;
            prop_assert!(cmp.absolute.lower.is_none_or(|l| l <= est));
            prop_assert!(cmp.absolute.upper.is_none_or(|u| u >= est));
            if let Ok(rel) = cmp.relative {
                prop_assert!(rel.lower.is_none_or(|l| l <= rel.estimate));
                prop_assert!(rel.upper.is_none_or(|u| u >= rel.estimate));
            }
        }
    }

    #[test]
    fn swapping_arms_flips_signs(c in arm(), t in arm(), alpha in 1e-4..0.2_f64) {
        let spec = TestSpec::default();
        let (Ok(ab), Ok(ba)) = (compare(&c, &t, &spec, alpha, RelativeCi::Delta), compare(&t, &c, &spec, alpha, RelativeCi::Delta)) else {
            return Ok(());
        };
        prop_assert_eq!(ab.absolute.estimate, -ba.absolute.estimate);
        prop_assert_eq!(ab.test.statistic, -ba.test.statistic);
        prop_assert_eq!(ab.test.p_value.p, ba.test.p_value.p);
        let (Some(l), Some(u)) = (ab.absolute.lower, ba.absolute.upper) else { return Err(TestCaseError::fail("two-sided")) };
        prop_assert!(close(l, -u, 1.0));
    }

    #[test]
    fn bayes_probabilities_are_coherent(
        arms in prop::collection::vec((1u64..5000, 0.0..1.0_f64), 2..5),
    ) {
        let posts: Vec<BetaPosterior> = arms
            .iter()
            .map(|&(n, p)| {
                let s = (n as f64 * p).floor();
                BetaPosterior { alpha: 1.0 + s, beta: 1.0 + n as f64 - s }
            })
            .collect();
        let pb = prob_best(&posts, true);
        let total: f64 = pb.iter().sum();
        prop_assert!((total - 1.0).abs() < 1e-9, "{}", total);
        prop_assert!(pb.iter().all(|p| (0.0..=1.0).contains(p)));
        let (x, y) = (posts[0], posts[1]);
        let g = prob_greater(&x, &y);
        prop_assert!((0.0..=1.0).contains(&g));
        prop_assert!((g + prob_greater(&y, &x) - 1.0).abs() < 1e-9);
    }
}
