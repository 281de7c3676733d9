//! `flagstone aggregate`: joins exposures (the engine's JSONL) with metric events per unit and
//! writes an AnalysisRequest skeleton with the sufficient statistics.
//!
//! The rules are those of [`flagstone_warehouse`]: the earliest exposure of a unit wins,
//! events before it are ignored, a metric whose values are all 0 or 1 is binary. `--from` and
//! `--until` bound the analysis window (exposures and events at or after `--from`, strictly
//! before `--until`).

use crate::exit::bad_input;
use anyhow::Context;
use clap::Args;
use flagstone_warehouse::{Options, Window, aggregate_jsonl};
use std::path::PathBuf;

/// Arguments of `flagstone aggregate`.
#[derive(Debug, Args)]
pub struct AggregateArgs {
    /// Exposures as `flagstone eval --exposures` writes them, one JSON object per line.
    #[arg(long)]
    exposures: PathBuf,
    /// Metric events, one `{"unit","metric","value","time"}` object per line (a missing file
    /// is no events).
    #[arg(long)]
    events: PathBuf,
    /// Only these metrics (repeatable); all metrics seen in the events by default.
    #[arg(long = "metric")]
    metrics: Vec<String>,
    /// The flag to analyse, required when the exposures hold more than one.
    #[arg(long)]
    flag: Option<String>,
    /// Start of the analysis window (RFC 3339): exposures and events at or after it count.
    #[arg(long, value_name = "TIME")]
    from: Option<jiff::Timestamp>,
    /// End of the analysis window (RFC 3339): exposures and events strictly before it count.
    #[arg(long, value_name = "TIME")]
    until: Option<jiff::Timestamp>,
}

/// Runs `flagstone aggregate`.
pub fn run(args: &AggregateArgs) -> anyhow::Result<()> {
    let options = Options {
        flag: args.flag.clone(),
        metrics: args.metrics.clone(),
        window: Window { start: args.from, end: args.until },
    };
    let request = aggregate_jsonl(&args.exposures, &args.events, &options)
        .map_err(|e| bad_input(e.to_string()))?;
    let text = serde_json::to_string_pretty(&request).context("serialising the request")?;
    println!("{text}");
    Ok(())
}
