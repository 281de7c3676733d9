//! `flagstone analyze`: an AnalysisRequest (JSON) in, an AnalysisResult (JSON, a table or an
//! HTML report) out.

use crate::exit::bad_input;
use crate::input::{Source, parse_json, read_text};
use anyhow::Context;
use clap::{Args, ValueEnum};
use flagstone_report::ReportOptions;
use flagstone_stats::analysis::{AnalysisRequest, AnalysisResult, IntervalResult, analyze};
use flagstone_warehouse::rows;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Output format of `flagstone analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The AnalysisResult as pretty-printed JSON.
    Json,
    /// A readable table: metric, treatment, estimate, interval, p-value, status.
    Table,
    /// One self-contained HTML page: per metric a forest plot, the status in words and the
    /// numbers, with sample-ratio and power warnings.
    Html,
}

/// Arguments of `flagstone analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The AnalysisRequest file (JSON).
    #[arg(long, required_unless_present = "from_csv", conflicts_with = "from_csv")]
    input: Option<PathBuf>,
    /// The rows of `flagstone sql`'s query as CSV with a header (`docs/analytics.md`), instead of
    /// a request: analysed with the defaults `aggregate` writes.
    #[arg(long, value_name = "FILE")]
    from_csv: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

/// Runs `flagstone analyze`.
pub fn run(args: &AnalyzeArgs) -> anyhow::Result<()> {
    let (request, origin) = match (&args.input, &args.from_csv) {
        (Some(input), _) => (parse_json::<AnalysisRequest>(Source::File(input))?, input),
        (None, Some(csv)) => (from_csv(csv)?, csv),
        (None, None) => return Err(bad_input("expected --input or --from-csv")),
    };
    let result = analyze(&request).map_err(|e| bad_input(format!("{}: {e}", origin.display())))?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &result).context("writing the result")?;
            writeln!(out).context("writing the result")?;
        }
        Format::Table => out.write_all(table(&result).as_bytes()).context("writing the result")?,
        Format::Html => {
            let page = flagstone_report::render_html(&request, &result, &ReportOptions::default());
            out.write_all(page.as_bytes()).context("writing the report")?;
        }
    }
    Ok(())
}

/// Reads the warehouse query's rows into a request; notes the excluded units on stderr.
fn from_csv(path: &Path) -> anyhow::Result<AnalysisRequest> {
    let name = path.display().to_string();
    let text = read_text(path)?;
    let rows = rows::from_csv(&name, &text).map_err(|e| bad_input(e.to_string()))?;
    let excluded = rows::excluded_units(&rows);
    if excluded > 0 {
        eprintln!("note: {excluded} units exposed to more than one variant were left out");
    }
    rows::to_request(&name, &rows).map_err(|e| bad_input(e.to_string()))
}

fn fmt_value(v: Option<f64>, percent: bool) -> String {
    match v {
        None => "-".to_owned(),
        Some(x) if percent => format!("{:+.2}%", 100.0 * x),
        Some(x) => format!("{x:+.6}"),
    }
}

fn fmt_interval(i: &IntervalResult, percent: bool) -> String {
    let end = |v: Option<f64>, inf: &str| {
        v.map_or_else(|| inf.to_owned(), |x| fmt_value(Some(x), percent))
    };
    if i.estimate.is_none() {
        return "-".to_owned();
    }
    format!("[{}, {}]", end(i.ci_lower, "-inf"), end(i.ci_upper, "+inf"))
}

fn fmt_p(p: Option<f64>, log10: Option<f64>) -> String {
    match (p, log10) {
        (Some(p), _) if p >= 1e-4 => format!("{p:.4}"),
        (Some(p), _) if p > 0.0 => format!("{p:.2e}"),
        (_, Some(l)) => format!("1e{l:.1}"),
        _ => "-".to_owned(),
    }
}

/// Renders the result as a fixed-width table; relative estimates in percent when defined.
pub fn table(result: &AnalysisResult) -> String {
    let mut rows: Vec<[String; 6]> =
        vec![["metric", "treatment", "estimate", "interval", "p", "status"].map(str::to_owned)];
    for metric in &result.results {
        for c in &metric.comparisons {
            let relative = c.relative.estimate.is_some();
            let interval = if relative { &c.relative } else { &c.absolute };
            let status = serde_json::to_value(c.status).ok();
            let status = status.as_ref().and_then(|s| s.as_str()).unwrap_or("");
            rows.push([
                metric.id.clone(),
                c.treatment.clone(),
                fmt_value(interval.estimate, relative),
                fmt_interval(interval, relative),
                fmt_p(c.p_value, c.log10_p_value),
                status.trim_start_matches("METRIC_RESULT_STATUS_").to_owned(),
            ]);
        }
    }
    let mut widths = [0_usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> =
            row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if let (Some(p), true) = (result.srm.p_value, result.srm.mismatch) {
        out.push_str(&format!("SRM: mismatch (p = {p:.2e})\n"));
    }
    for note in &result.annotations {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
