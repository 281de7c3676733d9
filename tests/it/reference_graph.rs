//! Reference graphs are bounded when the config is validated: depth and worst-case cost;
//! and workflows attach to every kind of flag.

use flagstone_core::{CompileError, Engine, EvaluationContext, MAX_REFERENCE_DEPTH, Reason};
use flagstone_model::validate::{ErrorKind, ValidationError};
use serde_json::{Value, json};

fn compile(config: &Value) -> Result<Engine, Vec<CompileError>> {
    Engine::compile(&flagstone_model::parse_config(&config.to_string()).unwrap())
}

fn flag_on(segment: &str) -> Value {
    json!({"name": "flags/f", "variants": [{"name": "flags/f/variants/on", "value": true}],
        "rules": [{"name": "flags/f/rules/r", "segment": segment, "assignmentSpec": {"bucketCount": 1,
            "assignments": [{"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]})
}

/// Segments s0 → s1 → … → s{n-1}, each referring `fan` times to the next.
fn chain(n: usize, fan: usize) -> Value {
    let segments: Vec<Value> = (0..n)
        .map(|i| {
            let criteria: serde_json::Map<String, Value> = if i + 1 < n {
                (0..fan)
                    .map(|k| {
                        (format!("r{k}"), json!({"segment": {"segment": format!("s{}", i + 1)}}))
                    })
                    .collect()
            } else {
                serde_json::Map::new()
            };
            json!({"name": format!("segments/s{i}"), "targeting": {"criteria": criteria}})
        })
        .collect();
    json!({"flags": [flag_on("segments/s0")], "segments": segments})
}

#[test]
fn a_diamond_of_references_is_rejected_by_its_cost_not_evaluated() {
    // 2^40 criterion visits if evaluated naively.
    let errors = compile(&chain(40, 2)).unwrap_err();
    assert!(
        matches!(&errors[0], CompileError::Invalid(e) if matches!(e.kind, ErrorKind::EvaluationCost { .. })),
        "{errors:?}"
    );
    assert!(errors[0].to_string().starts_with("flags[0]: evaluation may visit"), "{}", errors[0]);
    // A modest fan-out is fine and evaluates.
    let engine = compile(&chain(10, 2)).unwrap();
    let ctx = json!({"targeting_key": "u"});
    assert_eq!(
        engine.evaluate_name("flags/f", &EvaluationContext::from_json(&ctx)).reason,
        Reason::Match
    );
}

#[test]
fn long_reference_chains_are_rejected_with_the_chain_named() {
    let errors = compile(&chain(20_000, 1)).unwrap_err();
    let CompileError::Invalid(ValidationError {
        kind: ErrorKind::ReferenceDepth { depth, limit, chain: names },
        ..
    }) = &errors[0]
    else {
        panic!("{errors:?}")
    };
    assert_eq!((*depth, *limit), (20_001, MAX_REFERENCE_DEPTH));
    assert_eq!(names.first().map(String::as_str), Some("flags/f"));
    assert_eq!(names.get(1).map(String::as_str), Some("segments/s0"));
    // Just inside the limit: the flag and 63 segments.
    let engine = compile(&chain(MAX_REFERENCE_DEPTH - 1, 1)).unwrap();
    let ctx = json!({"targeting_key": "u"});
    assert_eq!(
        engine.evaluate_name("flags/f", &EvaluationContext::from_json(&ctx)).reason,
        Reason::Match
    );
    assert!(compile(&chain(MAX_REFERENCE_DEPTH, 1)).is_err());
}

#[test]
fn workflows_attach_to_experiment_flags_and_their_segments_always_exist() {
    let config = json!({
        "flags": [flag_on("segments/r")],
        "experiments": [{"flag": "co", "enabled": false}],
        "rollouts": [
            {"name": "rollouts/co-on", "state": "LIVE", "flag": "co", "variant": "true", "reach": "1"},
            // A draft rollout's segment exists (it matches its targeting), though the draft serves nothing.
            {"name": "rollouts/r", "state": "DRAFT", "flag": "flags/f", "variant": "on", "reach": "1",
             "targeting": {"criteria": {"se": {"attribute": {"attributeName": "country", "eqRule": {"value": {"stringValue": "SE"}}}}}},
             "schedule": [{"from": "2026-01-01T00:00:00Z", "reach": "1"}]}
        ]
    });
    let engine = compile(&config).unwrap();
    let se = json!({"targeting_key": "u", "country": "SE"});
    let ctx = EvaluationContext::from_json(&se);
    let r = engine.evaluate_name("flags/co", &ctx);
    assert_eq!((r.reason, r.variant), (Reason::Match, Some("flags/co/variants/true")));
    assert_eq!(r.rule, Some("rollouts/co-on"));
    assert_eq!(engine.evaluate_name("flags/f", &ctx).reason, Reason::Match);
    let no = json!({"targeting_key": "u", "country": "NO"});
    assert_eq!(
        engine.evaluate_name("flags/f", &EvaluationContext::from_json(&no)).reason,
        Reason::NoSegmentMatch
    );
}

#[test]
fn a_scheduled_single_variant_rollout_is_a_targeting_match_not_a_split() {
    let config = json!({
        "flags": [{"name": "flags/f", "variants": [{"name": "flags/f/variants/on"}]}],
        "rollouts": [{"name": "rollouts/r", "state": "LIVE", "flag": "f", "variant": "on", "reach": "0",
            "schedule": [{"from": "2026-01-01T00:00:00Z", "reach": "1"}]}]
    });
    let engine = compile(&config).unwrap();
    let ctx_json = json!({"targeting_key": "u"});
    let ctx = EvaluationContext::from_json(&ctx_json).at("2026-06-01T00:00:00Z".parse().unwrap());
    let r = engine.evaluate_name("flags/f", &ctx);
    assert_eq!(r.reason, Reason::Match);
    assert_eq!(r.openfeature().reason, "TARGETING_MATCH");
}
