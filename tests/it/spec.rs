//! The shared case corpus (`tests/data/spec/*.json`) run against the engine.
//!
//! Each file holds a config and cases `{name, flag?, context, now?, variant,
//! reason, rule?, bucket?}`; expectations are written by hand from spec §2.
//! The CLI runs the same corpus in `crates/cli/tests/spec_cli.rs`.

use flagstone_core::{Engine, EvaluationContext};
use flagstone_tests::{data_dir, files_with_extension};
use serde_json::Value;

/// The default evaluation time of the corpus.
const NOW: &str = "2026-06-01T00:00:00Z";

/// Evaluates one case and returns a description of every mismatch.
fn check(engine: &Engine, case: &Value, default_flag: &str) -> Vec<String> {
    let name = case["name"].as_str().unwrap_or("?");
    let flag = case["flag"].as_str().unwrap_or(default_flag);
    let now: jiff::Timestamp = case["now"].as_str().unwrap_or(NOW).parse().unwrap();
    let ctx = EvaluationContext::from_json(&case["context"]).at(now);
    let r = engine.evaluate_name(flag, &ctx);
    let mut problems = Vec::new();
    let mut expect = |field: &str, actual: Value| {
        if let Some(expected) = case.get(field)
            && *expected != actual
        {
            problems.push(format!("{name}: {field}: expected {expected}, got {actual}"));
        }
    };
    expect("variant", r.variant.map_or(Value::Null, Value::from));
    expect("reason", Value::from(r.reason.as_str()));
    expect("rule", r.rule.map_or(Value::Null, Value::from));
    expect("bucket", r.bucket.map_or(Value::Null, Value::from));
    // explain walks the same path and must agree.
    if let Some(id) = engine.flag_id(flag) {
        let e = engine.explain(id, &ctx);
        if e.reason != r.reason || e.variant.as_deref() != r.variant {
            problems.push(format!("{name}: explain says {:?} {:?}", e.reason, e.variant));
        }
    }
    problems
}

#[test]
fn spec_corpus() {
    let files = files_with_extension(&data_dir().join("spec"), "json");
    assert!(files.len() >= 6, "spec corpus missing");
    let mut problems = Vec::new();
    let mut n_cases = 0;
    for file in files {
        let suite: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let config = flagstone_model::parse_config(&suite["config"].to_string()).unwrap();
        let engine =
            Engine::compile(&config).unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
        let default_flag = config.flags.first().map(|f| f.name.clone()).unwrap_or_default();
        for case in suite["cases"].as_array().unwrap() {
            n_cases += 1;
            problems.extend(
                check(&engine, case, &default_flag)
                    .into_iter()
                    .map(|p| format!("{}: {p}", file.file_name().unwrap().to_string_lossy())),
            );
        }
    }
    assert!(n_cases > 200, "only {n_cases} cases");
    assert!(
        problems.is_empty(),
        "{} of {n_cases} cases failed:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
