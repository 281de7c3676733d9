//! Workflow benches: evaluating a flag served by a live scheduled
//! rollout, and allocating 1,000 exclusive segments.
//!
//! Targets: `evaluate/rollout_scheduled` within the split target of spec
//! §2.10 (≤ 120 ns); `allocate/1k_segments` ≤ 50 ms.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use flagstone_benches::engine;
use flagstone_core::EvaluationContext;
use flagstone_model::allocate::allocate;
use serde_json::{Value, json};

/// A flag whose only rule comes from a `LIVE` rollout with one criterion and a
/// 12-step schedule (a reach step every week), evaluated between two steps so
/// that the binary search over the schedule runs on every call.
fn rollout_scheduled(c: &mut Criterion) {
    let schedule: Vec<Value> = (0..12)
        .map(|week| {
            json!({
                "from": format!("2026-{:02}-01T00:00:00Z", week + 1),
                "reach": f64::from(week + 1) / 12.0,
            })
        })
        .collect();
    let engine = engine(&json!({
        "flags": [{"name": "flags/checkout", "variants": [
            {"name": "flags/checkout/variants/new", "value": {"enabled": true}}
        ]}],
        "rollouts": [{
            "name": "rollouts/new-checkout", "flag": "flags/checkout", "variant": "new",
            "state": "LIVE", "reach": "0.01", "schedule": schedule,
            "targeting": {"criteria": {"country": {"attribute": {"attributeName": "country",
                "setRule": {"values": [{"stringValue": "SE"}, {"stringValue": "NO"}]}}}}}
        }]
    }));
    let Some(flag) = engine.flag_id("checkout") else { return };
    let ctx_json = json!({"targeting_key": "user-1234567890", "country": "SE"});
    let now = "2026-06-15T12:00:00Z".parse::<jiff::Timestamp>().unwrap_or_default();
    let ctx = EvaluationContext::from_json(&ctx_json).at(now);
    let mut group = c.benchmark_group("evaluate");
    group.bench_function("rollout_scheduled", |b| {
        b.iter(|| engine.evaluate(black_box(flag), black_box(&ctx)))
    });
    group.finish();
}

/// 1,000 `UNALLOCATED` segments in 10 exclusivity layers of 100, each taking
/// 0.9% of the units: every layer ends 90% full, so late segments search past
/// many placed ranges. Measures `allocate` alone (the clone is setup).
fn allocate_1k_segments(c: &mut Criterion) {
    let segments: Vec<Value> = (0..1000)
        .map(|i| {
            let layer = format!("layer-{}", i % 10);
            json!({
                "name": format!("segments/s{i}"), "state": "UNALLOCATED",
                "allocation": {"proportion": "0.009", "exclusivityTags": [&layer], "exclusiveTo": [&layer]}
            })
        })
        .collect();
    let Ok(config) = flagstone_model::parse_config(&json!({"segments": segments}).to_string())
    else {
        return;
    };
    let mut group = c.benchmark_group("allocate");
    group.bench_function("1k_segments", |b| {
        b.iter_batched(
            || black_box(config.clone()),
            |mut config| allocate(&mut config).map(|r| r.placements.len()),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, rollout_scheduled, allocate_1k_segments);
criterion_main!(benches);
