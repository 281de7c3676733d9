//! `flagstone aggregate`: joins exposures with metric events per unit and writes an
//! AnalysisRequest skeleton with the sufficient statistics.
//!
//! The rules are those of [`flagstone_warehouse`]: the earliest exposure of a unit wins,
//! events before it are ignored, a metric whose values are all 0 or 1 is binary. `--from` and
//! `--until` bound the analysis window (exposures and events at or after `--from`, strictly
//! before `--until`).
//!
//! By default the join runs on Apache DataFusion ([`flagstone_datafusion`]): JSON lines,
//! Parquet or CSV, every core, spilling past `--memory-limit`. When it fails on JSON lines,
//! the line-by-line reader runs to name the file, line and JSON path of the problem.
//! `--engine lines` runs that reader alone (JSON lines only); when stderr is a terminal, a
//! line there then shows its progress.

use crate::exit::bad_input;
use anyhow::Context;
use clap::{Args, ValueEnum};
use flagstone_datafusion::{DfError, Engine, Format, aggregate_files};
use flagstone_stats::analysis::AnalysisRequest;
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
    /// The engine: DataFusion (every core, spills), or the line-by-line reader (JSON lines).
    #[arg(long, value_enum, default_value = "datafusion")]
    engine: EngineArg,
    /// The input format; by each file's extension (.jsonl/.ndjson/.json, .parquet, .csv) by
    /// default.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// The memory DataFusion may use before it spills to disk: bytes, or with K, M or G
    /// (powers of 1024); half the machine's memory by default.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
}

/// Which engine joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// Apache DataFusion, in process.
    Datafusion,
    /// The line-by-line reader over JSON lines, single-threaded, memory growing with units.
    Lines,
}

/// The input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet.
    Parquet,
    /// CSV with a header line.
    Csv,
}

fn parse_size(text: &str) -> Result<usize, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let shift = match unit.to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(format!("expected a size such as 512M or 2G, got {text:?}")),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("expected a size such as 512M or 2G, got {text:?}"))
}

/// Runs `flagstone aggregate`.
pub fn run(args: &AggregateArgs) -> anyhow::Result<()> {
    let options = Options {
        flag: args.flag.clone(),
        metrics: args.metrics.clone(),
        window: Window { start: args.from, end: args.until },
    };
    let request = match args.engine {
        EngineArg::Lines => lines(args, &options)?,
        EngineArg::Datafusion => {
            let engine = Engine {
                format: args.format.map(|f| match f {
                    FormatArg::Jsonl => Format::Jsonl,
                    FormatArg::Parquet => Format::Parquet,
                    FormatArg::Csv => Format::Csv,
                }),
                memory_limit: args.memory_limit,
                threads: None,
            };
            match aggregate_files(&args.exposures, &args.events, &options, &engine) {
                Ok(request) => request,
                Err(DfError::Engine { context, source }) if is_jsonl(args) => {
                    // Name the line: the reader finds the first bad one, if that is the cause.
                    lines(args, &options)?;
                    return Err(anyhow::anyhow!("{context}: {source}"));
                }
                Err(DfError::Engine { context, source }) => {
                    return Err(bad_input(format!("{context}: {source}")));
                }
                Err(e) => return Err(bad_input(e.to_string())),
            }
        }
    };
    let text = serde_json::to_string_pretty(&request).context("serialising the request")?;
    println!("{text}");
    Ok(())
}

fn is_jsonl(args: &AggregateArgs) -> bool {
    let jsonl = |p: &std::path::Path| Format::from_path(p) == Some(Format::Jsonl);
    args.format.map_or_else(|| jsonl(&args.exposures), |f| f == FormatArg::Jsonl)
}

/// The line-by-line reader, with its progress on stderr when that is a terminal.
fn lines(args: &AggregateArgs, options: &Options) -> anyhow::Result<AnalysisRequest> {
    let shown = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let request = aggregate_jsonl_with_progress(&args.exposures, &args.events, options, |p| {
        if shown {
            show(&p, started.elapsed());
        }
    })
    .map_err(|e| bad_input(e.to_string()))?;
    if shown {
        eprintln!();
    }
    Ok(request)
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
