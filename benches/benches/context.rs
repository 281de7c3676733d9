//! Context benches: what building an [`EvaluationContext`] costs per request.

use criterion::{Criterion, criterion_group, criterion_main};
use flagstone_benches::matching_context;
use flagstone_core::EvaluationContext;
use serde_json::json;
use std::hint::black_box;

fn context(c: &mut Criterion) {
    let mut group = c.benchmark_group("context");
    let five = json!({"targeting_key": "user-7f3a9c2e-1b4d-4e8f-9a0b-2c3d4e5f6a7b", "country": "SE",
        "plan": "pro", "email": "ana.lindqvist@acme.example", "app_version": "3.4.1"});
    group.bench_function("from_json_5_attributes", |b| {
        b.iter(|| EvaluationContext::from_json(black_box(&five)))
    });
    let six = matching_context();
    group.bench_function("from_json_6_attributes", |b| {
        b.iter(|| EvaluationContext::from_json(black_box(&six)))
    });
    group.bench_function("get_5_attributes", |b| {
        let ctx = EvaluationContext::from_json(&five);
        b.iter(|| black_box(&ctx).get(black_box("app_version")))
    });
    group.finish();
}

criterion_group!(benches, context);
criterion_main!(benches);
