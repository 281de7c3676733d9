//! `flagstone conformance`: the third-party evaluation cases (Unleash, flagd, Eppo, GrowthBook,
//! LaunchDarkly) run against Flagstone, reported per source and operator.
//!
//! The mapping and the classification live in `flagstone-conformance`, shared with the
//! conformance test of the integration-test crate; this command only reads the files and prints.

use crate::exit::bad_input;
use crate::input::read_text;
use clap::Args;
use flagstone_conformance::case::{CASE_FILES, parse_cases};
use flagstone_conformance::differences::Differences;
use std::path::{Path, PathBuf};

/// Where the repository keeps its documented differences, relative to its root.
const DEFAULT_DIFFERENCES: &str = "tests/conformance/differences.toml";

/// Arguments of `flagstone conformance`.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// The directory with `conditions.jsonl` and `compound.jsonl` (`tests/data/conformance` in the repository).
    #[arg(long)]
    cases: PathBuf,
    /// The documented differences [default: tests/conformance/differences.toml, when present].
    #[arg(long)]
    differences: Option<PathBuf>,
}

/// Prints the report: per source and operator, passed / documented difference / known bug /
/// failed, then every documented difference with its reason, every failure and stale entry.
///
/// # Errors
/// Bad input (exit 2) when a case file or the differences file cannot be read or parsed;
/// exit 1 when a case mismatches without a documented reason or an entry is stale.
pub fn run(args: &ConformanceArgs) -> anyhow::Result<()> {
    let mut cases = Vec::new();
    for file in CASE_FILES {
        let path = args.cases.join(file);
        let text = read_text(&path)?;
        let parsed = parse_cases(&text, file)
            .map_err(|e| bad_input(format!("{}: {e}", args.cases.display())))?;
        cases.extend(parsed);
    }
    let differences = match &args.differences {
        Some(path) => load_differences(path)?,
        None if Path::new(DEFAULT_DIFFERENCES).is_file() => {
            load_differences(Path::new(DEFAULT_DIFFERENCES))?
        }
        None => {
            eprintln!("note: no {DEFAULT_DIFFERENCES} here; every mismatch counts as failed");
            Differences::default()
        }
    };
    let run = flagstone_conformance::run(&cases, &differences);
    print!("{}", run.report());
    let n_failed = run.failures().count();
    if n_failed > 0 || !run.stale.is_empty() {
        anyhow::bail!(
            "{n_failed} unexplained mismatch{} and {} stale entr{} in the differences",
            if n_failed == 1 { "" } else { "es" },
            run.stale.len(),
            if run.stale.len() == 1 { "y" } else { "ies" }
        );
    }
    Ok(())
}

fn load_differences(path: &Path) -> anyhow::Result<Differences> {
    let text = read_text(path)?;
    Differences::parse(&text).map_err(|e| bad_input(format!("{}: {e}", path.display())))
}
