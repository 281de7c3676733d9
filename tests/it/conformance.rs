//! The third-party conformance cases of `tests/data/conformance` (its README says where they come from).
//!
//! Every case of `conditions.jsonl` and `compound.jsonl` is mapped onto Flagstone criteria by
//! `flagstone-conformance`, evaluated, and compared with the source engine's result. A mismatch
//! must be listed with its policy reason in `tests/conformance/differences.toml`, and every entry
//! there must still be true. The report (per source and operator) is printed with `--nocapture`
//! and written to `conformance-report.txt` in the target directory;
//! `flagstone conformance --cases tests/data/conformance` prints the same report.

use flagstone_conformance::case::{CASE_FILES, parse_cases};
use flagstone_conformance::differences::Differences;
use flagstone_tests::workspace_root;
use std::path::PathBuf;

/// The corpus is part of the repository.
fn cases_dir() -> PathBuf {
    workspace_root().join("tests").join("data").join("conformance")
}

fn differences_file() -> PathBuf {
    workspace_root().join("tests").join("conformance").join("differences.toml")
}

/// The target directory of this build (`CARGO_TARGET_DIR` when set).
fn report_file() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map_or(tmp.clone(), PathBuf::from).join("conformance-report.txt")
}

#[test]
fn third_party_cases_pass_or_are_documented_differences() {
    let dir = cases_dir();
    let mut cases = Vec::new();
    for file in CASE_FILES {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read conformance cases {} ({e}): the conformance corpus is part of the repository",
                path.display()
            )
        });
        cases.extend(parse_cases(&text, file).unwrap_or_else(|e| panic!("{}: {e}", dir.display())));
    }
    assert!(cases.len() > 1000, "only {} cases in {}", cases.len(), dir.display());

    let path = differences_file();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e})", path.display()));
    let differences =
        Differences::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

    let run = flagstone_conformance::run(&cases, &differences);
    let report = run.report();
    println!("{report}");
    let out = report_file();
    if let Err(e) = std::fs::write(&out, &report) {
        eprintln!("cannot write {}: {e}", out.display());
    }
    let failures: Vec<String> = run
        .failures()
        .map(|o| {
            format!(
                "{}: expected {}, Flagstone: {}",
                o.case.id,
                o.case.expected,
                o.actual.describe()
            )
        })
        .collect();
    let stale: Vec<String> = run.stale.iter().map(ToString::to_string).collect();
    assert!(
        failures.is_empty() && stale.is_empty(),
        "{} unexplained mismatches and {} stale entries in {} (full report in {}):\n{}\n{}",
        failures.len(),
        stale.len(),
        path.display(),
        out.display(),
        failures.join("\n"),
        stale.join("\n")
    );
}
