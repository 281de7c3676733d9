//! `flagstone validate`: every problem of a config, each with its JSON path.

use crate::exit::bad_input;
use crate::input::load_config;
use clap::Args;
use flagstone_model::{Config, validate};
use std::path::PathBuf;

/// Arguments of `flagstone validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The config file (JSON).
    #[arg(long)]
    config: PathBuf,
}

/// Prints warnings and errors to stderr (`path: message`, sorted by path)
/// and a one-line summary to stdout when the config is valid.
pub fn run(args: &ValidateArgs) -> anyhow::Result<()> {
    let config = load_config(&args.config)?;
    let report = validate(&config);
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    for error in &report.errors {
        eprintln!("{error}");
    }
    // Validation is complete: whatever it accepts, `eval` compiles (compile cannot fail
    // on a valid config).
    if !report.is_ok() {
        let n = report.errors.len();
        return Err(bad_input(format!("{}: {n} error{} found", args.config.display(), plural(n))));
    }
    println!(
        "{}: ok: {} ({} warning{})",
        args.config.display(),
        summary(&config),
        report.warnings.len(),
        plural(report.warnings.len())
    );
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Counts per resource kind: `6 flags, 3 segments, …`.
fn summary(config: &Config) -> String {
    let counts = [
        (config.flags.len(), "flag", "flags"),
        (config.segments.len(), "segment", "segments"),
        (config.target_groups.len(), "target group", "target groups"),
        (config.rollouts.len(), "rollout", "rollouts"),
        (config.abtests.len(), "A/B test", "A/B tests"),
        (config.experiments.len(), "experiment", "experiments"),
    ];
    counts
        .iter()
        .map(|&(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
        .collect::<Vec<_>>()
        .join(", ")
}
