//! `flagstone aggregate`: joins exposures (the engine's JSONL) with metric events per unit and
//! writes an AnalysisRequest skeleton with the sufficient statistics.
//!
//! The rules are those of [`flagstone_warehouse`]: the earliest exposure of a unit wins,
//! events before it are ignored, a metric whose values are all 0 or 1 is binary. `--from` and
//! `--until` bound the analysis window (exposures and events at or after `--from`, strictly
//! before `--until`). When stderr is a terminal, a line there shows the progress: the file,
//! lines read, the share of its bytes and the elapsed time.

use crate::exit::bad_input;
use anyhow::Context;
use clap::Args;
use flagstone_warehouse::{Options, Progress, Stage, Window, aggregate_jsonl_with_progress};
use std::io::IsTerminal;
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
    let shown = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let request = aggregate_jsonl_with_progress(&args.exposures, &args.events, &options, |p| {
        if shown {
            show(&p, started.elapsed());
        }
    })
    .map_err(|e| bad_input(e.to_string()))?;
    if shown {
        eprintln!();
    }
    let text = serde_json::to_string_pretty(&request).context("serialising the request")?;
    println!("{text}");
    Ok(())
}

/// Draws one progress line on stderr: the file, lines read, percent of its bytes, elapsed.
fn show(p: &Progress, elapsed: std::time::Duration) {
    let what = match p.stage {
        Stage::Exposures => "exposures",
        Stage::Events => "events",
    };
    let percent = (p.bytes * 100).checked_div(p.size).map_or(100, |x| x.min(100));
    eprint!("\r{what}: {} lines read ({percent:>3}%), {:.1} s   ", p.lines, elapsed.as_secs_f64());
}
