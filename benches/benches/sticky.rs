//! Sticky assignments: a stored hit through the in-memory store, and a
//! persistent-store batch read of 100 flags for one unit (spec §2.8).

use criterion::{Criterion, criterion_group, criterion_main};
use flagstone_benches::{engine, matching_context, two_criteria};
use flagstone_core::sticky::{AssignmentStore, MaterializationKey, MaterializationWrite};
use flagstone_core::{EvaluationContext, InMemoryStore};
use flagstone_store::RedbStore;
use serde_json::json;
use std::hint::black_box;

fn sticky_flag(i: usize) -> serde_json::Value {
    json!({
        "name": format!("flags/s{i}"),
        "variants": [{"name": format!("flags/s{i}/variants/on"), "value": {"enabled": true}},
                     {"name": format!("flags/s{i}/variants/off"), "value": {"enabled": false}}],
        "rules": [{"name": format!("flags/s{i}/rules/r"), "segment": "segments/s",
            "materializationSpec": {"readMaterialization": "m", "writeMaterialization": "m"},
            "assignmentSpec": {"bucketCount": 10000, "assignments": [
                {"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 5000}]},
                {"assignmentId": "off", "variant": {"variant": "off"}, "bucketRanges": [{"lower": 5000, "upper": 10000}]}]}}]
    })
}

fn sticky(c: &mut Criterion) {
    let ctx_json = matching_context();
    let ctx = EvaluationContext::from_json(&ctx_json);
    let unit = ctx_json["targeting_key"].as_str().unwrap_or_default().to_owned();

    let one = engine(
        &json!({"flags": [sticky_flag(0)], "segments": [{"name": "segments/s", "targeting": {"criteria": two_criteria()}}]}),
    );
    let id = one.flag_id("s0").unwrap_or_else(|| unreachable!());
    let memory = InMemoryStore::new();
    // Store the unit on the other side of its bucket, so a hit is visibly sticky.
    let stored = MaterializationWrite {
        key: MaterializationKey { materialization: "m".into(), unit: unit.clone() },
        rule: "flags/s0/rules/r".into(),
        variant: "flags/s0/variants/off".into(),
    };
    let _ = memory.put_many(&[stored]);
    let mut group = c.benchmark_group("evaluate");
    group.bench_function("sticky_hit_memory", |b| {
        b.iter(|| one.evaluate_sticky(black_box(&[id]), black_box(&ctx), &memory))
    });
    group.finish();

    let path = std::env::temp_dir().join(format!("flagstone-bench-{}.redb", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let store = RedbStore::open(&path).unwrap_or_else(|e| unreachable!("{e}"));
    let writes: Vec<MaterializationWrite> = (0..100)
        .map(|i| MaterializationWrite {
            key: MaterializationKey { materialization: format!("m{i}"), unit: unit.clone() },
            rule: format!("flags/s{i}/rules/r"),
            variant: format!("flags/s{i}/variants/on"),
        })
        .collect();
    let _ = store.put_many(&writes);
    let keys: Vec<MaterializationKey> = writes.iter().map(|w| w.key.clone()).collect();
    let mut group = c.benchmark_group("store");
    group.bench_function("redb_get_100_flags", |b| b.iter(|| store.get_many(black_box(&keys))));
    group.finish();
    drop(store);
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, sticky);
criterion_main!(benches);
