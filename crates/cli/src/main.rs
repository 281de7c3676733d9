//! The `flagstone` command: a thin binary over the library crates.
//!
//! Exit codes: 0 ok, 2 bad input (the message names the file, the JSON path
//! and what was expected), 1 any other failure.

mod aggregate;
mod allocate;
mod analyze;
mod bounds;
mod conformance;
mod diff;
mod edit;
mod eval;
mod exit;
mod input;
mod power;
mod serve;
mod sql;
mod token;
mod validate;
mod workflow;
mod write;

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
    /// Resolve flags for a context (or a JSON-lines file of contexts).
    Eval(eval::EvalArgs),
    /// Check a config and report every problem with its JSON path.
    Validate(validate::ValidateArgs),
    /// Analyse an experiment: frequentist or Bayesian results per metric and treatment.
    Analyze(analyze::AnalyzeArgs),
    /// Sample size per arm, minimum detectable effect, or achieved power.
    Power(power::PowerArgs),
    /// Group-sequential efficacy bounds for planned looks (Lan-DeMets alpha spending).
    Bounds(bounds::BoundsArgs),
    /// Join exposures with metric events into an AnalysisRequest skeleton.
    Aggregate(aggregate::AggregateArgs),
    /// Print the aggregation as SQL for a warehouse (BigQuery, Snowflake, DuckDB, Spark, Postgres).
    Sql(sql::SqlArgs),
    /// Give unallocated segments and A/B tests disjoint allocation buckets.
    Allocate(allocate::AllocateArgs),
    /// Lifecycle of a rollout: launch, pause, resume, end, set-reach.
    Rollout(workflow::RolloutArgs),
    /// Lifecycle of an A/B test: launch, pause, resume, end, set-reach.
    Abtest(workflow::AbTestArgs),
    /// Run the third-party conformance cases; report per source and operator.
    Conformance(conformance::ConformanceArgs),
    /// Serve the native API, OFREP and snapshots over HTTP (until SIGTERM or SIGINT).
    Serve(serve::ServeArgs),
    /// Make API tokens for the server's token file.
    Token(token::TokenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => eval::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Analyze(args) => analyze::run(&args),
        Command::Power(args) => power::run(&args),
        Command::Bounds(args) => bounds::run(&args),
        Command::Aggregate(args) => aggregate::run(&args),
        Command::Sql(args) => sql::run(&args),
        Command::Allocate(args) => allocate::run(&args),
        Command::Rollout(args) => workflow::run_rollout(&args),
        Command::Abtest(args) => workflow::run_abtest(&args),
        Command::Conformance(args) => conformance::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Token(args) => token::run(&args),
    };
    exit::report(result)
}
