//! Shared fixtures for Flagstone's criterion benches: configs built as JSON,
//! compiled once, and contexts that reach the path each bench measures.

use flagstone_core::Engine;
use serde_json::{Value, json};

/// Compiles a config given as JSON.
///
/// # Panics
/// When the fixture is invalid: a bench cannot run on a broken fixture.
#[expect(clippy::panic, reason = "a broken fixture must stop the bench")]
pub fn engine(config: &Value) -> Engine {
    let config = match flagstone_model::parse_config(&config.to_string()) {
        Ok(c) => c,
        Err(e) => panic!("fixture does not parse: {e}"),
    };
    match Engine::compile(&config) {
        Ok(engine) => engine,
        Err(errors) => panic!("fixture does not compile: {errors:?}"),
    }
}

/// The criteria shared by the evaluate benches: country in a set, plan equal.
pub fn two_criteria() -> Value {
    json!({
        "country": {"attribute": {"attributeName": "country", "setRule": {"values": [
            {"stringValue": "SE"}, {"stringValue": "NO"}, {"stringValue": "DK"}, {"stringValue": "FI"}]}}},
        "plan": {"attribute": {"attributeName": "plan", "eqRule": {"value": {"stringValue": "pro"}}}}
    })
}

/// A flag `flags/{id}` with variants `on`/`off`, one rule on `segment`, and `assignments`.
pub fn flag(id: &str, segment: &str, bucket_count: u32, assignments: Value) -> Value {
    json!({
        "name": format!("flags/{id}"),
        "variants": [
            {"name": format!("flags/{id}/variants/on"), "value": {"enabled": true}},
            {"name": format!("flags/{id}/variants/off"), "value": {"enabled": false}}
        ],
        "rules": [{
            "name": format!("flags/{id}/rules/r"),
            "segment": segment,
            "assignmentSpec": {"bucketCount": bucket_count, "assignments": assignments}
        }]
    })
}

/// One assignment of every bucket to `on`.
pub fn all_on(bucket_count: u32) -> Value {
    json!([{"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": bucket_count}]}])
}

/// A 50/50 split of 10,000 buckets.
pub fn split_10k() -> Value {
    json!([
        {"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 5000}]},
        {"assignmentId": "off", "variant": {"variant": "off"}, "bucketRanges": [{"lower": 5000, "upper": 10000}]}
    ])
}

/// A context that matches [`two_criteria`].
pub fn matching_context() -> Value {
    json!({"targeting_key": "user-7f3a9c2e-1b4d-4e8f-9a0b-2c3d4e5f6a7b", "country": "SE", "plan": "pro",
           "email": "ana.lindqvist@acme.example", "app_version": "3.4.1", "beta": true})
}

/// A config of `n_flags` flags with `n_rules` rules each (the compile bench).
pub fn many_flags(n_flags: usize, n_rules: usize) -> Value {
    let flags: Vec<Value> = (0..n_flags)
        .map(|i| {
            let rules: Vec<Value> = (0..n_rules)
                .map(|r| {
                    json!({
                        "name": format!("flags/f{i}/rules/r{r}"),
                        "segment": format!("segments/s{}", (i + r) % 50),
                        "assignmentSpec": {"bucketCount": 10000, "assignments": split_10k()}
                    })
                })
                .collect();
            json!({
                "name": format!("flags/f{i}"),
                "variants": [
                    {"name": format!("flags/f{i}/variants/on"), "value": {"enabled": true, "n": i}},
                    {"name": format!("flags/f{i}/variants/off"), "value": {"enabled": false}}
                ],
                "rules": rules
            })
        })
        .collect();
    let segments: Vec<Value> = (0..50)
        .map(|s| {
            json!({"name": format!("segments/s{s}"), "targeting": {"criteria": two_criteria(),
                "expression": {"or": {"operands": [{"ref": "country"}, {"not": {"ref": "plan"}}]}}}})
        })
        .collect();
    json!({"flags": flags, "segments": segments})
}
