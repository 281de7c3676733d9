//! Statistics benches (spec §3.4): frequentist comparisons, the exact Bayesian two-arm
//! comparison, a whole 100-metric × 5-variant request, and group-sequential bounds.

use criterion::{Criterion, criterion_group, criterion_main};
use flagstone_stats::analysis::{AnalysisRequest, analyze};
use flagstone_stats::bayes::{
    BetaPosterior, BetaPrior, compare_binary, relative_difference_interval,
};
use flagstone_stats::sequential::{
    FutilityDesign, GroupSequentialDesign, Spending, efficacy_bounds, futility_bounds,
};
use flagstone_stats::{ArmSummary, BinaryStats, MeanStats, Method, RelativeCi, TestSpec, compare};
use std::hint::black_box;

fn request_100x5() -> AnalysisRequest {
    let variants = ["control", "a", "b", "c", "d"];
    let metrics: Vec<serde_json::Value> = (0..100_u64)
        .map(|m| {
            let data: serde_json::Map<String, serde_json::Value> = variants
                .iter()
                .zip(0_u64..)
                .map(|(v, i)| {
                    let n = 20_000 + 37 * i + m;
                    let stats = match m % 3 {
                        0 => serde_json::json!({"n": n, "successes": n / 10 + 13 * i}),
                        1 => serde_json::json!({"n": n, "sum": 12.5 * n as f64 + 40.0 * i as f64, "sumSquares": 200.0 * n as f64}),
                        _ => serde_json::json!({
                            "n": n,
                            "numerator": {"sum": 3.0 * n as f64 + 5.0 * i as f64, "sumSquares": 20.0 * n as f64},
                            "denominator": {"sum": 2.0 * n as f64, "sumSquares": 5.0 * n as f64},
                            "crossProducts": 9.0 * n as f64
                        }),
                    };
                    ((*v).to_owned(), stats)
                })
                .collect();
            let ty = match m % 3 {
                0 => "binary",
                1 => "mean",
                _ => "ratio",
            };
            let kind = if m % 5 == 0 { "GUARDRAIL" } else { "SUCCESS" };
            let mut metric = serde_json::json!({
                "id": format!("metric-{m}"),
                "type": ty,
                "kind": kind,
                "minimumDetectableEffect": 0.02,
                "data": data
            });
            if kind == "GUARDRAIL" {
                metric["nonInferiorityMargin"] = serde_json::json!(0.01);
            }
            metric
        })
        .collect();
    let value = serde_json::json!({
        "control": "control",
        "correction": "holm",
        "variants": variants.iter().map(|v| serde_json::json!({"name": v, "expectedShare": 1})).collect::<Vec<_>>(),
        "metrics": metrics
    });
    serde_json::from_value(value).unwrap_or_else(|e| unreachable!("bench request: {e}"))
}

fn bench_stats(c: &mut Criterion) {
    let mut group = c.benchmark_group("stats");

    let control = BinaryStats::new(100_000, 10_000).unwrap_or_default();
    let treatment = BinaryStats::new(100_000, 10_250).unwrap_or_default();
    group.bench_function("ztest_binary", |b| {
        b.iter(|| {
            let c = ArmSummary::binary(black_box(&control));
            let t = ArmSummary::binary(black_box(&treatment));
            match (c, t) {
                (Ok(c), Ok(t)) => {
                    compare(&c, &t, &TestSpec::default(), black_box(0.05), RelativeCi::Delta).ok()
                }
                _ => None,
            }
        });
    });

    let mc = MeanStats::new(5_000, 61_000.0, 800_000.0).unwrap_or_default();
    let mt = MeanStats::new(4_900, 60_500.0, 790_000.0).unwrap_or_default();
    let t_spec = TestSpec { method: Method::TTest, ..TestSpec::default() };
    group.bench_function("ttest_mean", |b| {
        b.iter(|| {
            let c = ArmSummary::mean(black_box(&mc));
            let t = ArmSummary::mean(black_box(&mt));
            match (c, t) {
                (Ok(c), Ok(t)) => compare(&c, &t, &t_spec, black_box(0.05), RelativeCi::Delta).ok(),
                _ => None,
            }
        });
    });

    let bc = BinaryStats::new(10_000, 1_000).unwrap_or_default();
    let bt = BinaryStats::new(10_000, 1_080).unwrap_or_default();
    let prior = BetaPrior::default();
    group.bench_function("bayes_binary_2arm", |b| {
        b.iter(|| {
            compare_binary(black_box(&prior), black_box(&bc), black_box(&bt), black_box(0.05))
        });
    });

    let pc = BetaPosterior::from_counts(&prior, &bc);
    let pt = BetaPosterior::from_counts(&prior, &bt);
    group.bench_function("bayes_binary_relative_ci", |b| {
        b.iter(|| relative_difference_interval(black_box(&pt), black_box(&pc), black_box(0.05)));
    });

    let request = request_100x5();
    if let Err(e) = analyze(&request) {
        unreachable!("the bench request is valid: {e}");
    }
    group.bench_function("analyze_100x5", |b| b.iter(|| analyze(black_box(&request))));
    group.finish();
}

/// Group-sequential bounds for 30 equally spaced looks (spec §3.2; issue budget 5 ms): the
/// default design (two-sided 0.05, power family ρ = 2) and O'Brien–Fleming-type spending.
fn bench_sequential(c: &mut Criterion) {
    let mut group = c.benchmark_group("stats");
    let fractions: Vec<f64> = (1..=30).map(|k| f64::from(k) / 30.0).collect();
    let power = GroupSequentialDesign::default();
    group.bench_function("gst_bounds_30", |b| {
        b.iter(|| efficacy_bounds(black_box(&fractions), black_box(&power)))
    });
    let obf = GroupSequentialDesign { spending: Spending::OBrienFleming, ..power };
    group.bench_function("gst_bounds_30_obf", |b| {
        b.iter(|| efficacy_bounds(black_box(&fractions), black_box(&obf)))
    });
    // Non-binding futility bounds for 5 equal looks, beta 0.2 spent O'Brien–Fleming-like,
    // against one-sided O'Brien–Fleming efficacy bounds.
    let five: Vec<f64> = (1..=5).map(|k| f64::from(k) / 5.0).collect();
    let one_sided =
        GroupSequentialDesign { alpha: 0.025, sides: flagstone_stats::Sides::Greater, ..obf };
    let upper = match efficacy_bounds(&five, &one_sided) {
        Ok(bounds) => bounds.z_bounds,
        Err(e) => unreachable!("the bench design is valid: {e}"),
    };
    let futility = FutilityDesign { beta: 0.2, spending: Spending::OBrienFleming, drift: 2.8 };
    group.bench_function("futility_bounds_5_obf", |b| {
        b.iter(|| futility_bounds(black_box(&five), black_box(&upper), black_box(&futility)))
    });
    group.finish();
}

criterion_group!(benches, bench_stats, bench_sequential);
criterion_main!(benches);
