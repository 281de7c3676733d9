//! `flagstone conformance` over the third-party cases in `tests/data/conformance`.

/// Helpers; inside `cfg(test)` so that they may panic like the tests they serve.
#[cfg(test)]
mod support {
    use std::path::Path;
    use std::process::{Command, Output};

    /// Runs `flagstone` from the workspace root.
    pub fn flagstone(args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_flagstone"))
            .args(args)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            .output()
            .expect("run flagstone")
    }
}

use support::flagstone;

#[test]
fn reports_every_source_with_the_checked_in_differences() {
    let out = flagstone(&["conformance", "--cases", "tests/data/conformance"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("Flagstone conformance: "), "{stdout}");
    for source in ["eppo", "flagd", "growthbook", "launchdarkly", "unleash"] {
        assert!(stdout.lines().any(|l| l.starts_with(source) && l.contains("(all)")), "{source}");
    }
    assert!(stdout.contains("Unexplained mismatches (0)"), "{stdout}");
}

#[test]
fn a_missing_case_directory_is_bad_input() {
    let out = flagstone(&["conformance", "--cases", "no/such/dir"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no/such/dir/conditions.jsonl: cannot read"), "{stderr}");
}

#[test]
fn mismatches_without_a_documented_reason_fail() {
    // An empty list of differences: every policy difference becomes a failure (exit 1).
    let out = flagstone(&[
        "conformance",
        "--cases",
        "tests/data/conformance",
        "--differences",
        "/dev/null",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unexplained mismatches and 0 stale entries"), "{stderr}");
    assert!(!stdout.contains("Unexplained mismatches (0)"), "{stdout}");
}
