//! The aggregation as one SQL query, written for a warehouse's dialect.
//!
//! The shape is GrowthBook's and Eppo's: CTEs down to one row per unit (`unit_values`), then
//! per-variant `COUNT`, `SUM` and `SUM(x*x)`, one `UNION ALL` branch per metric. Input tables:
//! exposures with columns `flag`, `variant`, `unit`, `time` (a timestamp) and events with
//! `unit`, `metric`, `value` (a float), `time` — the fields of the engine's JSON lines.

use crate::definition::Definition;
use crate::metric::{MetricDef, is_safe_name};
use std::fmt::Write as _;

/// A SQL dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Google BigQuery (GoogleSQL).
    BigQuery,
    /// Snowflake.
    Snowflake,
    /// DuckDB.
    DuckDb,
    /// Apache Spark SQL (also Databricks).
    Spark,
    /// PostgreSQL (also Redshift for the functions used here).
    Postgres,
}

impl Dialect {
    /// Every dialect, in the order the CLI lists them.
    pub const ALL: [Dialect; 5] =
        [Dialect::BigQuery, Dialect::Snowflake, Dialect::DuckDb, Dialect::Spark, Dialect::Postgres];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::BigQuery => "bigquery",
            Dialect::Snowflake => "snowflake",
            Dialect::DuckDb => "duckdb",
            Dialect::Spark => "spark",
            Dialect::Postgres => "postgres",
        }
    }

    fn float(self) -> &'static str {
        match self {
            Dialect::BigQuery => "FLOAT64",
            Dialect::Postgres => "DOUBLE PRECISION",
            Dialect::Snowflake | Dialect::DuckDb | Dialect::Spark => "DOUBLE",
        }
    }

    fn string(self) -> &'static str {
        match self {
            Dialect::BigQuery | Dialect::Spark => "STRING",
            Dialect::Postgres => "TEXT",
            Dialect::Snowflake | Dialect::DuckDb => "VARCHAR",
        }
    }

    fn timestamp(self, time: jiff::Timestamp) -> String {
        let text = time.strftime("%Y-%m-%d %H:%M:%S%.f+00:00").to_string();
        match self {
            Dialect::Postgres | Dialect::DuckDb => format!("TIMESTAMPTZ '{text}'"),
            Dialect::BigQuery | Dialect::Spark => format!("TIMESTAMP '{text}'"),
            Dialect::Snowflake => format!("TO_TIMESTAMP_TZ('{text}')"),
        }
    }

    fn minus_hours(self, expr: &str, hours: u32) -> String {
        match self {
            Dialect::Postgres => format!("{expr} - INTERVAL '{hours} hours'"),
            Dialect::DuckDb => format!("{expr} - INTERVAL {hours} HOUR"),
            Dialect::BigQuery => format!("TIMESTAMP_SUB({expr}, INTERVAL {hours} HOUR)"),
            Dialect::Snowflake => format!("DATEADD(hour, -{hours}, {expr})"),
            Dialect::Spark => format!("{expr} - INTERVAL {hours} HOURS"),
        }
    }

    fn utc_day(self, expr: &str) -> String {
        match self {
            Dialect::Postgres => format!("CAST(({expr} AT TIME ZONE 'UTC') AS DATE)"),
            Dialect::DuckDb => format!("CAST(timezone('UTC', {expr}) AS DATE)"),
            Dialect::BigQuery => format!("DATE({expr}, 'UTC')"),
            Dialect::Snowflake => format!("TO_DATE(CONVERT_TIMEZONE('UTC', {expr}))"),
            Dialect::Spark => format!("TO_DATE(TO_UTC_TIMESTAMP({expr}, CURRENT_TIMEZONE()))"),
        }
    }
}

impl std::str::FromStr for Dialect {
    type Err = SqlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Dialect::ALL.into_iter().find(|d| d.name() == text).ok_or_else(|| SqlError {
            message: format!(
                "dialect: expected one of bigquery, snowflake, duckdb, spark, postgres, got {text:?}"
            ),
        })
    }
}

/// A query that cannot be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    /// What is wrong, naming the option.
    pub message: String,
}

/// Whether a table reference is a plain (possibly qualified, possibly quoted) name.
fn is_table_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '`' | '$'))
}

fn quote(text: &str) -> String {
    format!("'{text}'")
}

/// Writes the query (no trailing semicolon, so that it can be wrapped in `COPY (…)`).
///
/// # Errors
/// [`SqlError`] for no metrics, a metric id repeated, a table name that is not a plain name,
/// a flag with characters outside letters, digits and `_ - . / :`, or a window that ends before
/// it starts.
pub fn render(
    dialect: Dialect,
    exposures_table: &str,
    events_table: &str,
    definition: &Definition,
) -> Result<String, SqlError> {
    let fail = |message: String| SqlError { message };
    for (option, table) in [("--exposures", exposures_table), ("--events", events_table)] {
        if !is_table_name(table) {
            return Err(fail(format!(
                "{option}: expected a table name (letters, digits, _ - . $ and quotes), got {table:?}"
            )));
        }
    }
    if definition.metrics.is_empty() {
        return Err(fail("--metric: expected at least one metric".to_owned()));
    }
    for (i, m) in definition.metrics.iter().enumerate() {
        if definition.metrics.iter().skip(i + 1).any(|o| o.id() == m.id()) {
            return Err(fail(format!("--metric: {:?} is given twice", m.id())));
        }
    }
    if let Some(flag) = definition.flag.as_deref()
        && !is_safe_name(flag)
    {
        return Err(fail(format!(
            "--flag: expected letters, digits and _ - . / : only, got {flag:?}"
        )));
    }
    let window = definition.window;
    if let (Some(start), Some(end)) = (window.start, window.end)
        && start >= end
    {
        return Err(fail(format!("window: expected the start ({start}) before the end ({end})")));
    }

    let float = dialect.float();
    let mut sources: Vec<&str> = Vec::new();
    for m in &definition.metrics {
        for s in m.sources() {
            if !sources.contains(&s) {
                sources.push(s);
            }
        }
    }
    let col = |name: &str| sources.iter().position(|s| *s == name).unwrap_or(0);

    let mut q = String::new();
    // `write!` to a String cannot fail.
    let _ = writeln!(
        q,
        "-- flagstone aggregation ({}): one row per unit, then per-variant sums",
        dialect.name()
    );
    let _ = writeln!(q, "WITH exposures_in AS (");
    let _ = writeln!(q, "  SELECT unit, variant, time");
    let _ = writeln!(q, "  FROM {exposures_table}");
    let _ = writeln!(q, "  WHERE variant IS NOT NULL");
    if let Some(flag) = definition.flag.as_deref() {
        let _ = writeln!(q, "    AND flag = {}", quote(flag));
    }
    if let Some(start) = window.start {
        let _ = writeln!(q, "    AND time >= {}", dialect.timestamp(start));
    }
    if let Some(end) = window.end {
        let _ = writeln!(q, "    AND time < {}", dialect.timestamp(end));
    }
    let _ = writeln!(q, "),");
    let _ = writeln!(q, "variants AS (SELECT DISTINCT variant FROM exposures_in),");
    let _ = writeln!(q, "units AS (");
    let _ = writeln!(q, "  SELECT unit, MIN(variant) AS variant, MIN(time) AS first_exposure,");
    let _ = writeln!(q, "    COUNT(DISTINCT variant) AS variant_count");
    let _ = writeln!(q, "  FROM exposures_in");
    let _ = writeln!(q, "  GROUP BY unit");
    let _ = writeln!(q, "),");
    let _ = writeln!(q, "assigned AS (");
    let _ = writeln!(q, "  SELECT unit, variant, first_exposure,");
    let _ = writeln!(q, "    {} AS exposure_day", dialect.utc_day("first_exposure"));
    let _ = writeln!(q, "  FROM units");
    let _ = writeln!(q, "  WHERE variant_count = 1");
    let _ = writeln!(q, "),");
    let _ = writeln!(q, "metric_events AS (");
    let _ = writeln!(q, "  SELECT unit, metric, value, time");
    let _ = writeln!(q, "  FROM {events_table}");
    let list: Vec<String> = sources.iter().map(|s| quote(s)).collect();
    let _ = writeln!(q, "  WHERE metric IN ({})", list.join(", "));
    if let Some(end) = window.end {
        let _ = writeln!(q, "    AND time < {}", dialect.timestamp(end));
    }
    let _ = writeln!(q, "),");
    let _ = writeln!(q, "unit_values AS (");
    let _ = writeln!(q, "  SELECT a.unit, a.variant, a.exposure_day,");
    let mut columns: Vec<String> = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        columns.push(format!(
            "    COALESCE(SUM(CASE WHEN e.metric = {} AND e.time >= a.first_exposure THEN e.value END), 0) AS post_{i}",
            quote(s)
        ));
        if definition.covariate_hours.is_some() {
            columns.push(format!(
                "    COALESCE(SUM(CASE WHEN e.metric = {} AND e.time < a.first_exposure THEN e.value END), 0) AS pre_{i}",
                quote(s)
            ));
        }
    }
    let _ = writeln!(q, "{}", columns.join(",\n"));
    let _ = writeln!(q, "  FROM assigned a");
    let lower = match definition.covariate_hours {
        Some(hours) => dialect.minus_hours("a.first_exposure", hours),
        None => "a.first_exposure".to_owned(),
    };
    let _ = writeln!(q, "  LEFT JOIN metric_events e ON e.unit = a.unit AND e.time >= {lower}");
    let _ = writeln!(q, "  GROUP BY a.unit, a.variant, a.exposure_day");
    let _ = writeln!(q, ")");

    let day = if definition.by_day { "u.exposure_day" } else { "CAST(NULL AS DATE)" };
    let group = if definition.by_day { "v.variant, u.exposure_day" } else { "v.variant" };
    let sum = |expr: &str| format!("CAST(COALESCE(SUM({expr}), 0) AS {float})");
    let null = format!("CAST(NULL AS {float})");
    let mut branches: Vec<String> = Vec::new();
    for m in &definition.metrics {
        let (kind, y, y2, den, cov) = match m {
            MetricDef::Mean { id } => {
                let y = format!("u.post_{}", col(id));
                let c = format!("u.pre_{}", col(id));
                let cov = [sum(&c), sum(&format!("{c} * {c}")), sum(&format!("{c} * {y}"))];
                ("mean", sum(&y), sum(&format!("{y} * {y}")), None, Some(cov))
            }
            MetricDef::Binary { id } => {
                let y = format!("u.post_{} > 0", col(id));
                let c = format!("u.pre_{} > 0", col(id));
                let ind = |cond: &str| sum(&format!("CASE WHEN {cond} THEN 1 ELSE 0 END"));
                let cov = [ind(&c), ind(&c), ind(&format!("{c} AND {y}"))];
                ("binary", ind(&y), ind(&y), None, Some(cov))
            }
            MetricDef::Ratio { numerator, denominator, .. } => {
                let y = format!("u.post_{}", col(numerator));
                let d = format!("u.post_{}", col(denominator));
                let den = [sum(&d), sum(&format!("{d} * {d}")), sum(&format!("{y} * {d}"))];
                ("ratio", sum(&y), sum(&format!("{y} * {y}")), Some(den), None)
            }
        };
        let den = den.unwrap_or_else(|| [null.clone(), null.clone(), null.clone()]);
        let cov = match cov {
            Some(cov) if definition.covariate_hours.is_some() => cov,
            _ => [null.clone(), null.clone(), null.clone()],
        };
        let mut b = String::new();
        let _ = writeln!(
            b,
            "SELECT {day} AS exposure_day, v.variant AS variant, {} AS metric, {} AS metric_type,",
            quote(m.id()),
            quote(kind)
        );
        let _ = writeln!(b, "  COUNT(u.unit) AS n,");
        let _ = writeln!(b, "  {y} AS sum,");
        let _ = writeln!(b, "  {y2} AS sum_squares,");
        let _ = writeln!(b, "  {} AS denominator_sum,", den[0]);
        let _ = writeln!(b, "  {} AS denominator_sum_squares,", den[1]);
        let _ = writeln!(b, "  {} AS cross_products,", den[2]);
        let _ = writeln!(b, "  {} AS covariate_sum,", cov[0]);
        let _ = writeln!(b, "  {} AS covariate_sum_squares,", cov[1]);
        let _ = writeln!(b, "  {} AS covariate_cross_products", cov[2]);
        let _ = writeln!(b, "FROM variants v");
        let _ = writeln!(b, "LEFT JOIN unit_values u ON u.variant = v.variant");
        let _ = write!(b, "GROUP BY {group}");
        branches.push(b);
    }
    let string = dialect.string();
    let excluded_day = if definition.by_day {
        dialect.utc_day("first_exposure")
    } else {
        "CAST(NULL AS DATE)".to_owned()
    };
    let mut b = String::new();
    let _ = writeln!(
        b,
        "SELECT {excluded_day} AS exposure_day, CAST(NULL AS {string}) AS variant, CAST(NULL AS {string}) AS metric, 'excluded' AS metric_type,"
    );
    let _ = writeln!(
        b,
        "  COUNT(*) AS n, CAST(0 AS {float}) AS sum, CAST(0 AS {float}) AS sum_squares,"
    );
    let _ = writeln!(
        b,
        "  {null} AS denominator_sum, {null} AS denominator_sum_squares, {null} AS cross_products,"
    );
    let _ = writeln!(
        b,
        "  {null} AS covariate_sum, {null} AS covariate_sum_squares, {null} AS covariate_cross_products"
    );
    let _ = writeln!(b, "FROM units");
    let _ = writeln!(b, "WHERE variant_count > 1");
    if definition.by_day {
        let _ = writeln!(b, "GROUP BY {excluded_day}");
    }
    let _ = write!(b, "HAVING COUNT(*) > 0");
    branches.push(b);
    q.push_str(&branches.join("\nUNION ALL\n"));
    q.push_str("\nORDER BY metric_type, metric, variant, exposure_day");
    Ok(q)
}
