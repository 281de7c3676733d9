//! The `flagstone` command: a thin binary over the library crates.
//!
//! Exit codes: 0 ok, 2 bad input (the message names the file, the JSON path
//! and what was expected), 1 any other failure.

mod aggregate;
mod analyze;
mod exit;
mod input;
mod power;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Flagstone: feature flags, rollouts and experiments.
#[derive(Debug, Parser)]
#[command(name = "flagstone", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a config and report every problem with its JSON path.
    Validate(validate::ValidateArgs),
    /// Analyse an experiment: frequentist or Bayesian results per metric and treatment.
    Analyze(analyze::AnalyzeArgs),
    /// Sample size per arm, minimum detectable effect, or achieved power.
    Power(power::PowerArgs),
    /// Join exposures with metric events into an AnalysisRequest skeleton.
    Aggregate(aggregate::AggregateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Analyze(args) => analyze::run(&args),
        Command::Power(args) => power::run(&args),
        Command::Aggregate(args) => aggregate::run(&args),
    };
    exit::report(result)
}
