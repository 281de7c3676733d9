//! The `flagstone` command: a thin binary over the library crates.
//!
//! Exit codes: 0 ok, 2 bad input (the message names the file, the JSON path
//! and what was expected), 1 any other failure.

mod exit;
mod input;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args),
    };
    exit::report(result)
}
