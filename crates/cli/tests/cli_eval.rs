//! Golden tests of `flagstone eval` and `flagstone validate`, and the spec
//! corpus (`tests/data/spec`) run through the binary's batch mode.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use flagstone_tests::cli::{check_bad_input, check_ok, run};
use serde_json::Value;
use std::io::Write;

const BIN: &str = env!("CARGO_BIN_EXE_flagstone");

#[test]
fn eval_the_example() {
    let args = ["eval", "--config", "examples/config.json", "--context", "@examples/context.json"];
    let at = |now: &'static str| [&args[..], &["--now", now]].concat();
    check_ok(BIN, &at("2026-11-21T12:00:00Z"), "eval/example.json");
    // Before the rollout's first step its own reach (5%) applies; after the last, everyone.
    check_ok(
        BIN,
        &[&at("2026-10-01T00:00:00Z")[..], &["--flag", "search-ranking"]].concat(),
        "eval/before-schedule.json",
    );
    check_ok(
        BIN,
        &[&at("2026-12-24T00:00:00Z")[..], &["--flag", "search-ranking"]].concat(),
        "eval/after-schedule.json",
    );
    let explained = [
        &at("2026-11-21T12:00:00Z")[..],
        &["--flag", "premium-banner", "--flag", "nope", "--explain"],
    ]
    .concat();
    check_ok(BIN, &explained, "eval/explain.json");
}

#[test]
fn eval_bad_input() {
    check_bad_input(
        BIN,
        &["eval", "--config", "examples/config.json", "--context", "{not json"],
        "eval/bad-context.stderr",
    );
    check_bad_input(
        BIN,
        &["eval", "--config", "examples/config.json", "--context", "[1]"],
        "eval/context-not-object.stderr",
    );
    check_bad_input(
        BIN,
        &["eval", "--config", "examples/config.json", "--context", "{}", "--now", "yesterday"],
        "eval/bad-now.stderr",
    );
    check_bad_input(
        BIN,
        &["eval", "--config", "tests/data/invalid/unknown-variant.json", "--context", "{}"],
        "eval/invalid-config.stderr",
    );
    let dir = std::env::temp_dir().join(format!("flagstone-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jsonl = dir.join("contexts.jsonl");
    std::fs::write(&jsonl, "{\"targeting_key\": \"a\"}\n\n{\"targeting_key\": \"b\"\n").unwrap();
    let r = run(
        BIN,
        &["eval", "--config", "examples/config.json", "--contexts", jsonl.to_str().unwrap()],
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout.lines().count(), 1, "the good line before the bad one is printed");
    assert!(r.stderr.contains("contexts.jsonl:3: not a JSON object"), "{}", r.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn validate_golden() {
    check_ok(BIN, &["validate", "--config", "examples/config.json"], "validate/example.stdout");
    check_bad_input(
        BIN,
        &["validate", "--config", "tests/data/invalid/unknown-reference.json"],
        "validate/unknown-reference.stderr",
    );
    check_bad_input(
        BIN,
        &["validate", "--config", "tests/data/invalid/parse-unknown-key.json"],
        "validate/unknown-key.stderr",
    );
    check_bad_input(
        BIN,
        &["validate", "--config", "no/such/file.json"],
        "validate/missing-file.stderr",
    );
}

/// Every spec-corpus case through `eval --contexts`: same answers as the library.
#[test]
fn spec_corpus_through_the_cli() {
    let dir = std::env::temp_dir().join(format!("flagstone-spec-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = flagstone_tests::data_dir().join("spec");
    let mut n_cases = 0;
    for file in flagstone_tests::files_with_extension(&spec, "json") {
        let suite: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let config_path = dir.join("config.json");
        std::fs::write(&config_path, suite["config"].to_string()).unwrap();
        let default_flag =
            suite["config"]["flags"][0]["name"].as_str().unwrap_or_default().to_owned();
        let cases = suite["cases"].as_array().unwrap();
        // One run per (flag, now): the batch mode resolves the flags for every line.
        let mut groups: std::collections::BTreeMap<(String, String), Vec<&Value>> =
            Default::default();
        for case in cases {
            let flag = case["flag"].as_str().unwrap_or(&default_flag).to_owned();
            let now = case["now"].as_str().unwrap_or("2026-06-01T00:00:00Z").to_owned();
            groups.entry((flag, now)).or_default().push(case);
        }
        for ((flag, now), cases) in groups {
            let contexts = dir.join("contexts.jsonl");
            let mut f = std::fs::File::create(&contexts).unwrap();
            for case in &cases {
                writeln!(f, "{}", case["context"]).unwrap();
            }
            drop(f);
            let r = run(
                BIN,
                &[
                    "eval",
                    "--config",
                    config_path.to_str().unwrap(),
                    "--contexts",
                    contexts.to_str().unwrap(),
                    "--flag",
                    &flag,
                    "--now",
                    &now,
                ],
            );
            assert_eq!(r.code, 0, "{}: {}", file.display(), r.stderr);
            let lines: Vec<&str> = r.stdout.lines().collect();
            assert_eq!(lines.len(), cases.len(), "{}", file.display());
            for (case, line) in cases.iter().zip(lines) {
                let out: Value = serde_json::from_str(line).unwrap();
                let got = &out["resolutions"][0];
                let name = case["name"].as_str().unwrap_or("?");
                assert_eq!(got["variant"], case["variant"], "{}: {name}", file.display());
                assert_eq!(got["reason"], case["reason"], "{}: {name}", file.display());
                if let Some(bucket) = case.get("bucket") {
                    assert_eq!(&got["bucket"], bucket, "{}: {name}", file.display());
                }
                n_cases += 1;
            }
        }
    }
    assert!(n_cases > 200, "only {n_cases} cases");
    let _ = std::fs::remove_dir_all(&dir);
}
