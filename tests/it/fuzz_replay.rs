//! Replays every committed fuzz input, corpus seeds and minimised crashes alike, under
//! `tests/data/fuzz/<target>/` through the fuzz harnesses on stable, so that CI guards every
//! input the fuzzers ever kept. The harnesses are `fuzz/src/lib.rs` itself, included here as a
//! module: the replay runs exactly the code that libFuzzer ran.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code, reason = "the triage helpers are for people, not for the replay")]
mod harness;

use flagstone_tests::data_dir;
use std::path::PathBuf;

/// Runs `harness` on every file of `tests/data/fuzz/{target}` and names every file that fails.
fn replay(target: &str, harness: fn(&[u8])) {
    let dir = data_dir().join("fuzz").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    let mut failed = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| harness(&data)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} inputs fail:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

#[test]
fn parse_config_inputs() {
    replay("parse_config", harness::parse_config);
}

#[test]
fn compile_evaluate_inputs() {
    replay("compile_evaluate", harness::compile_evaluate);
}

#[test]
fn analyze_request_inputs() {
    replay("analyze_request", harness::analyze_request);
}

#[test]
fn context_json_inputs() {
    assert!(harness::example_engine().is_some(), "examples/config.json no longer compiles");
    replay("context_json", harness::context_json);
}
