//! `flagstone sql`: prints the aggregation as one SQL query for a warehouse, whose output rows
//! `flagstone analyze --from-csv` reads (`docs/analytics.md`).

use crate::exit::bad_input;
use anyhow::Context;
use clap::{Args, ValueEnum};
use flagstone_warehouse::sql::{Dialect, render};
use flagstone_warehouse::{Definition, MetricDef, Window};
use std::io::Write;

/// The dialects `flagstone sql` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    /// Google BigQuery.
    Bigquery,
    /// Snowflake.
    Snowflake,
    /// DuckDB.
    Duckdb,
    /// Apache Spark SQL, Databricks.
    Spark,
    /// PostgreSQL.
    Postgres,
}

impl From<DialectArg> for Dialect {
    fn from(d: DialectArg) -> Self {
        match d {
            DialectArg::Bigquery => Dialect::BigQuery,
            DialectArg::Snowflake => Dialect::Snowflake,
            DialectArg::Duckdb => Dialect::DuckDb,
            DialectArg::Spark => Dialect::Spark,
            DialectArg::Postgres => Dialect::Postgres,
        }
    }
}

/// Arguments of `flagstone sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The warehouse's SQL dialect.
    #[arg(long, value_enum)]
    dialect: DialectArg,
    /// The exposures table: columns `flag`, `variant`, `unit`, `time` (a timestamp).
    #[arg(long, value_name = "TABLE")]
    exposures: String,
    /// The events table: columns `unit`, `metric`, `value` (a float), `time`.
    #[arg(long, value_name = "TABLE")]
    events: String,
    /// A metric (repeatable, at least one): `ID` (mean), `ID:binary`, or `ID=NUM/DEN` (ratio).
    #[arg(long = "metric", value_name = "DEF", required = true)]
    metrics: Vec<String>,
    /// Only this flag's exposures.
    #[arg(long)]
    flag: Option<String>,
    /// Start of the analysis window (RFC 3339): exposures at or after it count.
    #[arg(long, value_name = "TIME")]
    from: Option<jiff::Timestamp>,
    /// End of the analysis window (RFC 3339): exposures and events strictly before it count.
    #[arg(long, value_name = "TIME")]
    until: Option<jiff::Timestamp>,
    /// CUPED: the covariate is each metric's value in this many hours before the unit's first
    /// exposure (binary and mean metrics).
    #[arg(long, value_name = "HOURS")]
    covariate_hours: Option<u32>,
    /// One row per UTC day of first exposure (partial sums that add up to the whole).
    #[arg(long)]
    by_day: bool,
}

/// Runs `flagstone sql`.
pub fn run(args: &SqlArgs) -> anyhow::Result<()> {
    let metrics = args
        .metrics
        .iter()
        .map(|m| m.parse::<MetricDef>().map_err(|e| bad_input(format!("--metric: {e}"))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let definition = Definition {
        flag: args.flag.clone(),
        metrics,
        window: Window { start: args.from, end: args.until },
        covariate_hours: args.covariate_hours,
        by_day: args.by_day,
    };
    let query = render(args.dialect.into(), &args.exposures, &args.events, &definition)
        .map_err(|e| bad_input(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{query};").context("writing the query")?;
    Ok(())
}
