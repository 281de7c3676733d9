//! Compatibility bucketing schemes through the engine: every Unleash and
//! flagd (fractional v2) vector of the conformance corpus, as a rule
//! with `assignmentSpec.scheme`, puts the unit where the source put it.

use flagstone_core::{Engine, EvaluationContext, Reason};
use serde_json::{Value, json};

fn corpus() -> Vec<Value> {
    let path = flagstone_tests::workspace_root().join("tests/data/conformance/bucketing.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e} (the conformance corpus is part of the repository)", path.display())
    });
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Ranges for weights in order: `[(name, lower, upper)]`.
fn ranges(weights: &[Value]) -> Vec<(String, u64, u64)> {
    let mut lower = 0;
    weights
        .iter()
        .map(|w| {
            let upper = lower + w[1].as_u64().unwrap();
            let r = (w[0].as_str().unwrap().to_owned(), lower, upper);
            lower = upper;
            r
        })
        .collect()
}

/// The variant the engine gives `unit` under a one-rule flag with this spec.
fn evaluate(spec: Value, variants: &[String], unit: &str) -> Option<String> {
    let config = json!({
        "flags": [{"name": "flags/f",
            "variants": variants.iter().map(|v| json!({"name": format!("flags/f/variants/{v}")})).collect::<Vec<_>>(),
            "rules": [{"name": "flags/f/rules/r", "segment": "segments/all", "assignmentSpec": spec}]}],
        "segments": [{"name": "segments/all"}]
    });
    let engine = Engine::compile(&flagstone_model::parse_config(&config.to_string()).unwrap())
        .unwrap_or_else(|e| panic!("{e:?}\n{config}"));
    let ctx_json = json!({"targeting_key": unit});
    let r = engine.evaluate_name("flags/f", &EvaluationContext::from_json(&ctx_json));
    assert!(matches!(r.reason, Reason::Match | Reason::NoSegmentMatch), "{r:?}");
    r.variant.map(|v| v.trim_start_matches("flags/f/variants/").to_owned())
}

fn assignments(ranges: &[(String, u64, u64)]) -> Value {
    ranges
        .iter()
        .filter(|(_, l, u)| l < u)
        .map(|(name, l, u)| json!({"assignmentId": name, "variant": {"variant": name}, "bucketRanges": [{"lower": l, "upper": u}]}))
        .collect()
}

#[test]
fn unleash_and_flagd_vectors_bucket_as_their_sources() {
    let mut checked = [0usize; 3];
    for case in corpus() {
        let id = case["id"].as_str().unwrap();
        let input = case["input_string"].as_str().unwrap_or_default();
        match case["algorithm"].as_str() {
            Some("unleash_normalized_hash") => {
                // The engine hashes "{group}:{unit}"; any split at a ':' gives the same string.
                let (group, unit) = input.split_once(':').unwrap();
                let pct = case["rollout_percentage"].as_u64().unwrap();
                let spec = json!({"bucketCount": 100, "scheme": "unleash", "group": group,
                    "assignments": assignments(&[("on".to_owned(), 0, pct)])});
                let got = evaluate(spec, &["on".to_owned()], unit);
                assert_eq!(got.is_some(), case["expected_in_rollout"].as_bool().unwrap(), "{id}");
                checked[0] += 1;
            }
            Some("unleash_variant") => {
                let (group, unit) = input.split_once(':').unwrap();
                let ranges = ranges(case["weights"].as_array().unwrap());
                let total = ranges.last().unwrap().2;
                let names: Vec<String> = ranges.iter().map(|r| r.0.clone()).collect();
                let spec = json!({"bucketCount": total, "scheme": "unleash", "group": group,
                    "seed": case["seed"], "assignments": assignments(&ranges)});
                assert_eq!(
                    evaluate(spec, &names, unit).as_deref(),
                    case["expected_variant"].as_str(),
                    "{id}"
                );
                checked[1] += 1;
            }
            Some("flagd_fractional_v2") if case.get("weights").is_some() && !input.is_empty() => {
                // flagd hashes "{flagKey}{unit}": split off the last character as the unit.
                let cut = input.char_indices().last().map(|(i, _)| i).unwrap();
                let (group, unit) = input.split_at(cut);
                let ranges = ranges(case["weights"].as_array().unwrap());
                let total = ranges.last().unwrap().2;
                let names: Vec<String> = ranges.iter().map(|r| r.0.clone()).collect();
                let spec = json!({"bucketCount": total, "scheme": "flagd", "group": group,
                    "assignments": assignments(&ranges)});
                assert_eq!(
                    evaluate(spec, &names, unit).as_deref(),
                    case["expected_variant"].as_str(),
                    "{id}"
                );
                checked[2] += 1;
            }
            _ => {}
        }
    }
    assert!(checked.iter().all(|&n| n > 0), "checked {checked:?}");
    eprintln!(
        "unleash rollout {}, unleash variant {}, flagd v2 {}",
        checked[0], checked[1], checked[2]
    );
}
