//! `flagstone aggregate` on Apache DataFusion: the same rules as
//! [`flagstone_warehouse::aggregate_jsonl`], as SQL run in process on every core, over JSON
//! lines, Parquet or CSV, within a memory limit past which sorts and aggregations spill to disk.
//!
//! The rules (`docs/spec/cli.md` §4.9): for one flag, the earliest exposure of a unit wins;
//! events before it, events of units never exposed, and exposures and events outside the
//! window are ignored; a unit's value is the sum of its events' values; a metric whose counted
//! values are all 0 or 1 is binary. One difference: two exposures of a unit at the same instant
//! to different variants are decided by the variant's name here, by the order of the lines
//! in `aggregate_jsonl`.
//!
//! ```
//! use flagstone_datafusion::{Engine, Format, aggregate_files};
//! use flagstone_warehouse::Options;
//! let dir = tempfile::tempdir()?;
//! let exposures = dir.path().join("exposures.jsonl");
//! let events = dir.path().join("events.jsonl");
//! let line = |unit: &str, variant: &str| format!(
//!     r#"{{"flag":"flags/f","variant":"flags/f/variants/{variant}","unit":"{unit}","time":"2026-03-01T10:00:00Z"}}"#);
//! std::fs::write(&exposures, format!("{}\n{}\n", line("a", "control"), line("b", "treatment")))?;
//! std::fs::write(&events, r#"{"unit":"b","metric":"revenue","value":2.5,"time":"2026-03-01T11:00:00Z"}"#)?;
//! let request = aggregate_files(&exposures, &events, &Options::default(), &Engine::default())?;
//! assert_eq!(request.metrics[0].data["treatment"].sum, Some(2.5));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{
    CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionConfig, SessionContext,
};
use flagstone_stats::MeanStats;
use flagstone_stats::analysis::AnalysisRequest;
use flagstone_warehouse::{
    AggregateError, MetricSums, Options, Place, VariantSums, build_request, short_variant,
};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// The format of an input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`, `.json`).
    Jsonl,
    /// Apache Parquet (`.parquet`).
    Parquet,
    /// CSV with a header line (`.csv`).
    Csv,
}

impl Format {
    /// The format a file's extension says, if it says one.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// How DataFusion runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Engine {
    /// The input format; by each file's extension when unset.
    pub format: Option<Format>,
    /// The memory the query may use, in bytes, past which it spills to disk; half the machine's
    /// memory when unset.
    pub memory_limit: Option<usize>,
    /// Threads (and partitions); every core when unset.
    pub threads: Option<usize>,
}

/// Why the aggregation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DfError {
    /// The input breaks a rule of the aggregation (several flags, fewer than two variants...).
    #[error(transparent)]
    Input(#[from] AggregateError),
    /// A file's format is neither given nor known from its extension.
    #[error("{0}: expected a .jsonl, .ndjson, .json, .parquet or .csv file, or --format")]
    UnknownFormat(String),
    /// DataFusion failed: a file that does not read, a value that does not convert, or memory.
    #[error("{context}: {source}")]
    Engine {
        /// What was being done.
        context: String,
        /// DataFusion's error.
        source: DataFusionError,
    },
}

fn engine(context: impl Into<String>) -> impl FnOnce(DataFusionError) -> DfError {
    let context = context.into();
    move |source| DfError::Engine { context, source }
}

/// Half the machine's memory, from `/proc/meminfo`; 1 GiB when it cannot be read.
fn default_memory_limit() -> usize {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
    });
    total_kib.map_or(1 << 30, |kib| kib.saturating_mul(1024) / 2)
}

fn exposures_schema() -> Schema {
    Schema::new(vec![
        Field::new("flag", DataType::Utf8, true),
        Field::new("variant", DataType::Utf8, true),
        Field::new("unit", DataType::Utf8, true),
        Field::new("time", DataType::Utf8, true),
    ])
}

fn events_schema() -> Schema {
    Schema::new(vec![
        Field::new("unit", DataType::Utf8, true),
        Field::new("metric", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new("time", DataType::Utf8, true),
    ])
}

async fn register(
    ctx: &SessionContext,
    name: &str,
    path: &Path,
    format: Option<Format>,
    schema: &Schema,
) -> Result<(), DfError> {
    let shown = path.display().to_string();
    let format = format
        .or_else(|| Format::from_path(path))
        .ok_or_else(|| DfError::UnknownFormat(shown.clone()))?;
    // The extension filter applies to directories; a single file is read whatever its name.
    let ext =
        path.extension().and_then(|e| e.to_str()).map(|e| format!(".{e}")).unwrap_or_default();
    let result = match format {
        Format::Jsonl => {
            let options = JsonReadOptions::default().schema(schema).file_extension(&ext);
            ctx.register_json(name, &shown, options).await
        }
        Format::Csv => {
            let options =
                CsvReadOptions::new().has_header(true).schema(schema).file_extension(&ext);
            ctx.register_csv(name, &shown, options).await
        }
        Format::Parquet => {
            let options = ParquetReadOptions::default().file_extension(&ext);
            ctx.register_parquet(name, &shown, options).await
        }
    };
    result.map_err(engine(shown))
}

/// Which of the two inputs a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// Exposures: `flag`, `variant`, `unit`, `time`.
    Exposures,
    /// Events: `unit`, `metric`, `value`, `time`.
    Events,
}

/// Writes an exposures or events file (JSON lines or CSV) as one Parquet file with the
/// columns `aggregate_files` reads, `time` as text.
///
/// # Errors
/// [`DfError`] for an unknown format or a file that does not read or write.
pub fn to_parquet(
    input: &Path,
    output: &Path,
    table: Table,
    format: Option<Format>,
) -> Result<(), DfError> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
            DfError::Engine {
                context: "starting the runtime".to_owned(),
                source: DataFusionError::IoError(e),
            }
        })?;
    runtime.block_on(async {
        let ctx = SessionContext::new();
        let schema = match table {
            Table::Exposures => exposures_schema(),
            Table::Events => events_schema(),
        };
        register(&ctx, "input", input, format, &schema).await?;
        let shown = output.display().to_string();
        let df = ctx.sql("SELECT * FROM input").await.map_err(engine(shown.clone()))?;
        let options = DataFrameWriteOptions::new().with_single_file_output(true);
        df.write_parquet(&shown, options, None).await.map_err(engine(shown))?;
        Ok(())
    })
}

fn literal_time(time: jiff::Timestamp) -> String {
    format!("CAST('{time}' AS TIMESTAMP)")
}

/// SQL string literal, quotes doubled.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

async fn collect(ctx: &SessionContext, sql: &str, what: &str) -> Result<Vec<RecordBatch>, DfError> {
    let df = ctx.sql(sql).await.map_err(engine(what))?;
    df.collect().await.map_err(engine(what))
}

fn column(batch: &RecordBatch, i: usize, to: &DataType, what: &str) -> Result<ArrayRef, DfError> {
    let col = batch.column(i);
    cast(col, to).map_err(|e| DfError::Engine {
        context: what.to_owned(),
        source: DataFusionError::ArrowError(Box::new(e), None),
    })
}

/// Aggregates exposures and events files with DataFusion, by the rules of
/// [`flagstone_warehouse::aggregate_jsonl`] (see the crate's documentation for the one
/// difference). JSON lines and CSV are read with the engine's field names (`flag`, `variant`,
/// `unit`, `time`; `unit`, `metric`, `value`, `time`); Parquet with the same column names.
///
/// # Errors
/// [`DfError`]: an unknown format, a file DataFusion cannot read or convert (it names the
/// file or the step), memory past the limit that cannot spill, or the input's own problems
/// (several flags without [`Options::flag`], fewer than two variants).
pub fn aggregate_files(
    exposures: &Path,
    events: &Path,
    options: &Options,
    engine_options: &Engine,
) -> Result<AnalysisRequest, DfError> {
    let threads = engine_options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| DfError::Engine {
            context: "starting the runtime".to_owned(),
            source: DataFusionError::IoError(e),
        })?;
    runtime.block_on(run(exposures, events, options, engine_options, threads))
}

async fn run(
    exposures: &Path,
    events: &Path,
    options: &Options,
    engine_options: &Engine,
    threads: usize,
) -> Result<AnalysisRequest, DfError> {
    let limit = engine_options.memory_limit.unwrap_or_else(default_memory_limit);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(limit)))
        .build_arc()
        .map_err(engine("memory pool"))?;
    let mut config = SessionConfig::new().with_target_partitions(threads);
    // Sort-merge joins spill; hash joins cannot.
    config.options_mut().optimizer.prefer_hash_join = false;
    // What a sort keeps back for merging its spill files: a share of a small limit.
    let reserve = &mut config.options_mut().execution.sort_spill_reservation_bytes;
    *reserve = (*reserve).min(limit / 16);
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let exposures_name = exposures.display().to_string();
    // DataFusion reads a path that does not exist as an empty table.
    if let Err(source) = std::fs::metadata(exposures) {
        return Err(AggregateError::Read { place: Place::source(exposures_name), source }.into());
    }
    register(&ctx, "exposures", exposures, engine_options.format, &exposures_schema()).await?;
    let window = options.window;
    let mut in_window = vec!["variant IS NOT NULL".to_owned()];
    if let Some(start) = window.start {
        in_window.push(format!("t >= {}", literal_time(start)));
    }
    if let Some(end) = window.end {
        in_window.push(format!("t < {}", literal_time(end)));
    }
    let in_window = in_window.join(" AND ");
    let flag_filter = options
        .flag
        .as_deref()
        .map_or_else(String::new, |f| format!("WHERE flag = {}", literal(f)));

    // 1. Flags and variants: the checks `aggregate_jsonl` makes.
    let overview = format!(
        "SELECT flag, variant, SUM(CASE WHEN {in_window} THEN 1 ELSE 0 END) AS n \
         FROM (SELECT flag, variant, CAST(time AS TIMESTAMP) AS t FROM exposures {flag_filter}) \
         GROUP BY flag, variant"
    );
    let mut flags: BTreeSet<String> = BTreeSet::new();
    let mut variants: BTreeSet<String> = BTreeSet::new();
    for batch in collect(&ctx, &overview, &exposures_name).await? {
        let flag = column(&batch, 0, &DataType::Utf8, &exposures_name)?;
        let variant = column(&batch, 1, &DataType::Utf8, &exposures_name)?;
        let n = column(&batch, 2, &DataType::Int64, &exposures_name)?;
        let (flag, variant, n) =
            (flag.as_string::<i32>(), variant.as_string::<i32>(), n.as_primitive::<Int64Type>());
        for i in 0..batch.num_rows() {
            if flag.is_valid(i) {
                flags.insert(flag.value(i).to_owned());
            }
            if variant.is_valid(i) && n.value(i) > 0 {
                variants.insert(short_variant(variant.value(i)).to_owned());
            }
        }
    }
    if flags.len() > 1 {
        return Err(AggregateError::SeveralFlags {
            place: Place::source(exposures_name),
            flags: flags.into_iter().collect(),
        }
        .into());
    }
    if variants.len() < 2 {
        return Err(AggregateError::TooFewVariants {
            place: Place::source(exposures_name),
            found: variants.len(),
        }
        .into());
    }

    // 2. Each unit's first exposure, written to a temporary Parquet file (streamed, so that
    //    memory stays bounded however many units there are).
    let scratch = tempdir()?;
    let assigned_path = scratch.join("assigned");
    let assigned = format!(
        "SELECT unit, MIN(t) AS t, first_value(variant ORDER BY t, variant) AS variant \
         FROM (SELECT unit, variant, CAST(time AS TIMESTAMP) AS t FROM exposures {flag_filter}) \
         WHERE {in_window} GROUP BY unit"
    );
    let df = ctx.sql(&assigned).await.map_err(engine(exposures_name.clone()))?;
    let written = df
        .write_parquet(&assigned_path.display().to_string(), DataFrameWriteOptions::new(), None)
        .await
        .map_err(engine(exposures_name.clone()));
    let result = async {
        written?;
        let shown = assigned_path.display().to_string();
        ctx.register_parquet("assigned", &shown, ParquetReadOptions::default())
            .await
            .map_err(engine("the units' first exposures"))?;
        per_variant(&ctx, events, options, engine_options, &variants).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn tempdir() -> Result<std::path::PathBuf, DfError> {
    let base = std::env::temp_dir();
    for attempt in 0..100_u32 {
        let dir = base.join(format!("flagstone-aggregate-{}-{attempt}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(DfError::Engine {
                    context: format!("{}: creating a scratch directory", dir.display()),
                    source: DataFusionError::IoError(e),
                });
            }
        }
    }
    Err(DfError::Engine {
        context: "creating a scratch directory".to_owned(),
        source: DataFusionError::Execution("no free name".to_owned()),
    })
}

async fn per_variant(
    ctx: &SessionContext,
    events: &Path,
    options: &Options,
    engine_options: &Engine,
    variants: &BTreeSet<String>,
) -> Result<AnalysisRequest, DfError> {
    let units_sql = "SELECT variant, COUNT(*) AS n FROM assigned GROUP BY variant";
    let mut units: BTreeMap<String, u64> = variants.iter().map(|v| (v.clone(), 0)).collect();
    for batch in collect(ctx, units_sql, "counting units").await? {
        let variant = column(&batch, 0, &DataType::Utf8, "counting units")?;
        let n = column(&batch, 1, &DataType::Int64, "counting units")?;
        let (variant, n) = (variant.as_string::<i32>(), n.as_primitive::<Int64Type>());
        for i in 0..batch.num_rows() {
            let slot = units.entry(short_variant(variant.value(i)).to_owned()).or_insert(0);
            *slot += u64::try_from(n.value(i)).unwrap_or(0);
        }
    }
    let events_name = events.display().to_string();
    let mut metrics: BTreeMap<String, MetricSums> = options
        .metrics
        .iter()
        .map(|m| (m.clone(), MetricSums { id: m.clone(), binary: true, variants: BTreeMap::new() }))
        .collect();
    if !events.exists() {
        return Ok(build_request(&units, metrics.into_values().collect()));
    }
    register(ctx, "events", events, engine_options.format, &events_schema()).await?;
    let metric_filter = if options.metrics.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = options.metrics.iter().map(|m| literal(m)).collect();
        format!("WHERE metric IN ({})", list.join(", "))
    };
    if options.metrics.is_empty() {
        // Every metric seen in the events is listed, even without a counted event.
        let sql = "SELECT DISTINCT metric FROM events WHERE metric IS NOT NULL";
        for batch in collect(ctx, sql, &events_name).await? {
            let metric = column(&batch, 0, &DataType::Utf8, &events_name)?;
            let metric = metric.as_string::<i32>();
            for i in 0..batch.num_rows() {
                let id = metric.value(i).to_owned();
                metrics.entry(id.clone()).or_insert(MetricSums {
                    id,
                    binary: true,
                    variants: BTreeMap::new(),
                });
            }
        }
    }
    let mut bounds = vec!["e.t >= a.t".to_owned()];
    if let Some(start) = options.window.start {
        bounds.push(format!("e.t >= {}", literal_time(start)));
    }
    if let Some(end) = options.window.end {
        bounds.push(format!("e.t < {}", literal_time(end)));
    }
    // One row per unit and metric, streamed: the sums over units are compensated here, so
    // that they do not depend on the order DataFusion's partitions finish in.
    let sql = format!(
        "WITH e AS (SELECT unit, metric, value, CAST(time AS TIMESTAMP) AS t FROM events {metric_filter}) \
         SELECT a.variant, e.metric, SUM(e.value) AS v, \
           BOOL_AND(e.value = 0 OR e.value = 1) AS bin \
         FROM e JOIN assigned a ON e.unit = a.unit \
         WHERE {} \
         GROUP BY a.unit, a.variant, e.metric",
        bounds.join(" AND ")
    );
    let mut stats: BTreeMap<(String, String), (MeanStats, u64)> = BTreeMap::new();
    let df = ctx.sql(&sql).await.map_err(engine(events_name.clone()))?;
    let mut stream = df.execute_stream().await.map_err(engine(events_name.clone()))?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(engine(events_name.clone()))?;
        let variant = column(&batch, 0, &DataType::Utf8, &events_name)?;
        let metric = column(&batch, 1, &DataType::Utf8, &events_name)?;
        let v = column(&batch, 2, &DataType::Float64, &events_name)?;
        let bin = column(&batch, 3, &DataType::Boolean, &events_name)?;
        let (variant, metric) = (variant.as_string::<i32>(), metric.as_string::<i32>());
        let (v, bin) = (v.as_primitive::<Float64Type>(), bin.as_boolean());
        for i in 0..batch.num_rows() {
            if !metric.is_valid(i) || !variant.is_valid(i) {
                continue;
            }
            let id = metric.value(i);
            if !metrics.contains_key(id) {
                let sums =
                    MetricSums { id: id.to_owned(), binary: true, variants: BTreeMap::new() };
                metrics.insert(id.to_owned(), sums);
            }
            if let Some(entry) = metrics.get_mut(id) {
                entry.binary &= !bin.is_valid(i) || bin.value(i);
            }
            let key = (id.to_owned(), short_variant(variant.value(i)).to_owned());
            let slot = stats.entry(key).or_default();
            let value = v.value(i);
            slot.0.push(value);
            slot.1 += u64::from(value > 0.0);
        }
    }
    for ((id, variant), (s, successes)) in stats {
        if let Some(entry) = metrics.get_mut(&id) {
            let sums = VariantSums { sum: s.sum(), sum_squares: s.sum_squares(), successes };
            entry.variants.insert(variant, sums);
        }
    }
    // A non-finite value cannot come from JSON; from Parquet or CSV it is bad input.
    for m in metrics.values() {
        if m.variants
            .values()
            .any(|v: &VariantSums| !v.sum.is_finite() || !v.sum_squares.is_finite())
        {
            return Err(AggregateError::NotFinite { place: Place::source(events_name) }.into());
        }
    }
    Ok(build_request(&units, metrics.into_values().collect()))
}
