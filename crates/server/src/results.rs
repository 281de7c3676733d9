//! Analysis inputs from the server's own logs, for every dialect's results.
//!
//! A dialect describes what it analyses as a [`LogQuery`] (a flag, optionally
//! one rule's exposures, the metrics, the analysis window, the periods that
//! count, optional time buckets) and asks [`LogResults::inputs`]. The answer
//! is `flagstone-warehouse`'s aggregate of the namespace's exposure log and
//! metric event log (the rules of `flagstone aggregate`), with the latest
//! counted event per metric and, when asked, per-bucket aggregates.
//!
//! # Caching
//! Each answer is kept per (namespace, query) together with the stamp it was
//! computed at: the config revision the caller read, and the *watermark* of
//! the two logs, their byte lengths (and modification times) once the
//! exposure log is flushed. The logs are only appended to, so the same
//! watermark means the same bytes: the aggregate reads exactly the first
//! `len` bytes of each file (a line cut by a write in progress is left for
//! the next request), and a repeated request with the same stamp is answered
//! from memory without opening the logs. New exposures or events, or a new
//! revision, change the stamp and the answer is recomputed and replaces the
//! old one. At most [`CACHE_ENTRIES`] queries and [`CACHE_REQUESTS`]
//! analysis requests (one per answer, two per time bucket) are kept; the
//! least recently used go first. Two requests that miss at once both read
//! the logs; the later answer is kept.

use crate::metrics::Metrics;
use crate::names::NamespaceName;
use crate::namespace::Namespace;
use flagstone_core::exposure::Exposure;
use flagstone_stats::analysis::AnalysisRequest;
use flagstone_warehouse::{AggregateError, Event, Options, Window, aggregate};
use prometheus_client::metrics::counter::Counter;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

/// The most queries whose answers are kept.
pub const CACHE_ENTRIES: usize = 256;
/// The most analysis requests kept over all answers (an answer holds one,
/// plus two per time bucket): a bound on memory whatever the queries.
pub const CACHE_REQUESTS: usize = 16_384;
/// The most time buckets one answer holds.
pub const MAX_BUCKETS: i64 = 1_000;

/// What to analyse from a namespace's logs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LogQuery {
    /// The flag, `flags/{id}`.
    pub flag: String,
    /// Only exposures by this rule (e.g. `abtests/{id}`); every rule's when `None`.
    pub rule: Option<String>,
    /// The metrics; every metric seen in the events when empty.
    pub metrics: Vec<String>,
    /// The analysis window `[start, end)` (open ends are unbounded).
    pub window: (Option<jiff::Timestamp>, Option<jiff::Timestamp>),
    /// Only exposures and events at instants in one of these `[start, end)`
    /// periods count; every instant when `None`.
    pub periods: Option<Vec<(Option<jiff::Timestamp>, Option<jiff::Timestamp>)>>,
    /// Per-bucket aggregates, buckets this many milliseconds long.
    pub step_ms: Option<i64>,
}

impl LogQuery {
    /// A query of a flag's exposures and the metrics' events in `window`.
    pub(crate) fn new(flag: String, metrics: Vec<String>, window: Window) -> Self {
        LogQuery {
            flag,
            rule: None,
            metrics,
            window: (window.start, window.end),
            periods: None,
            step_ms: None,
        }
    }

    fn warehouse_window(&self) -> Window {
        Window { start: self.window.0, end: self.window.1 }
    }

    /// Whether an instant falls in one of the periods.
    pub(crate) fn counts(&self, time: jiff::Timestamp) -> bool {
        self.periods.as_ref().is_none_or(|periods| {
            periods.iter().any(|(s, e)| s.is_none_or(|s| time >= s) && e.is_none_or(|e| time < e))
        })
    }

    fn options(&self, window: Window) -> Options {
        Options { flag: Some(self.flag.clone()), metrics: self.metrics.clone(), window }
    }
}

/// One time bucket's aggregates.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bucket {
    /// Its start, Unix milliseconds.
    pub start_ms: i64,
    /// The aggregate of the bucket alone.
    pub within: Option<AnalysisRequest>,
    /// The aggregate of everything before the bucket's end.
    pub cumulative: Option<AnalysisRequest>,
}

/// The per-bucket aggregates of an answer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Series {
    /// No buckets were asked for.
    None,
    /// The buckets, in time order (empty without data).
    Buckets(Vec<Bucket>),
    /// The data spans more than [`MAX_BUCKETS`] buckets of the step.
    TooMany(i64),
}

/// What the logs say for a query.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LogInputs {
    /// The sufficient statistics of the window; `None` while fewer than two
    /// variants were exposed.
    pub request: Option<AnalysisRequest>,
    /// Per metric, its latest event counted by the window and periods (of
    /// any unit, exposed or not).
    pub last_event: BTreeMap<String, jiff::Timestamp>,
    /// Per-bucket aggregates when the query has a step.
    pub series: Series,
}

impl LogInputs {
    /// How many analysis requests the answer holds (its share of the cache).
    fn weight(&self) -> usize {
        let buckets = match &self.series {
            Series::Buckets(b) => b.len(),
            Series::None | Series::TooMany(_) => 0,
        };
        1 + 2 * buckets
    }
}

/// How far the logs were durably written: lengths and modification times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    len: u64,
    modified: Option<SystemTime>,
}

impl Mark {
    fn of(path: &Path) -> Mark {
        match std::fs::metadata(path) {
            Ok(m) => Mark { len: m.len(), modified: m.modified().ok() },
            Err(_) => Mark { len: 0, modified: None },
        }
    }
}

/// What an answer was computed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    revision: u64,
    exposures: Mark,
    events: Mark,
}

#[derive(Debug)]
struct Entry {
    stamp: Stamp,
    inputs: Arc<LogInputs>,
    used: u64,
}

/// The cache of log-based analysis inputs (one per server).
#[derive(Debug)]
pub(crate) struct LogResults {
    entries: Mutex<HashMap<(NamespaceName, LogQuery), Entry>>,
    clock: AtomicU64,
    reads: AtomicU64,
    capacity: usize,
    weight_limit: usize,
    /// The server's counters of reads and hits.
    metrics: Option<(Counter, Counter)>,
}

impl LogResults {
    /// An empty cache counting reads and hits in the server's metrics.
    pub(crate) fn new(metrics: &Metrics) -> Self {
        LogResults {
            metrics: Some(metrics.results_counters()),
            ..LogResults::with_capacity(CACHE_ENTRIES, CACHE_REQUESTS)
        }
    }

    fn with_capacity(capacity: usize, weight_limit: usize) -> Self {
        LogResults {
            entries: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            capacity: capacity.max(1),
            weight_limit,
            metrics: None,
        }
    }

    /// How many times the logs were read (cache misses).
    #[cfg(test)]
    pub(crate) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The query's inputs from the namespace's logs as of now, for the
    /// config at `revision` (blocking: flushes the exposure log and may read
    /// both logs).
    ///
    /// # Errors
    /// The warehouse's error when a log line it was given cannot be
    /// aggregated (an exposure time that is not RFC 3339).
    pub(crate) fn inputs(
        &self,
        namespace: &Namespace,
        revision: u64,
        query: &LogQuery,
    ) -> Result<Arc<LogInputs>, AggregateError> {
        // The writer thread holds recent exposures for up to 200 ms; wait for them.
        if !namespace.exposures().flush() {
            tracing::warn!(namespace = %namespace.name(), "exposure log flush timed out");
        }
        let (exposures, events) = (namespace.exposures().path(), namespace.events().path());
        let stamp = Stamp { revision, exposures: Mark::of(exposures), events: Mark::of(events) };
        let key = (namespace.name().clone(), query.clone());
        let used = self.clock.fetch_add(1, Ordering::Relaxed);
        {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = entries.get_mut(&key).filter(|e| e.stamp == stamp) {
                entry.used = used;
                if let Some((_, hits)) = &self.metrics {
                    hits.inc();
                }
                return Ok(entry.inputs.clone());
            }
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        if let Some((reads, _)) = &self.metrics {
            reads.inc();
        }
        let inputs =
            Arc::new(compute((exposures, stamp.exposures.len), (events, stamp.events.len), query)?);
        let weight = inputs.weight();
        if weight > self.weight_limit {
            return Ok(inputs);
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(&key);
        // Least recently used first, until the new answer fits.
        while entries.len() >= self.capacity
            || entries.values().map(|e| e.inputs.weight()).sum::<usize>() + weight
                > self.weight_limit
        {
            let oldest = entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone());
            match oldest {
                Some(oldest) => entries.remove(&oldest),
                None => break,
            };
        }
        entries.insert(key, Entry { stamp, inputs: inputs.clone(), used });
        Ok(inputs)
    }
}

/// The records of the first `len` bytes of a JSON-lines log the server
/// wrote. A last line without its newline (a write in progress) is left
/// out; a line that does not parse is skipped and counted in `skipped`.
fn log_lines<'a, T: DeserializeOwned>(
    path: &Path,
    len: u64,
    skipped: &'a std::cell::Cell<u64>,
) -> impl Iterator<Item = T> + 'a {
    let mut reader = File::open(path).ok().map(|f| BufReader::new(f.take(len)));
    let mut line = Vec::new();
    std::iter::from_fn(move || {
        loop {
            let r = reader.as_mut()?;
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) if line.last() != Some(&b'\n') => return None,
                Ok(_) => match serde_json::from_slice(&line) {
                    Ok(record) => return Some(record),
                    Err(_) => skipped.set(skipped.get() + 1),
                },
            }
        }
    })
}

/// The answer to a query from the logs' first bytes (no cache).
fn compute(
    exposures: (&Path, u64),
    events: (&Path, u64),
    query: &LogQuery,
) -> Result<LogInputs, AggregateError> {
    let skipped = std::cell::Cell::new(0);
    let window = query.warehouse_window();
    let wanted =
        |metric: &str| query.metrics.is_empty() || query.metrics.iter().any(|m| m == metric);
    let exposure_counts = |e: &Exposure| {
        e.flag == query.flag
            && query.rule.as_ref().is_none_or(|r| *r == e.rule)
            && (query.periods.is_none()
                || e.time.parse::<jiff::Timestamp>().is_ok_and(|t| query.counts(t)))
    };
    let last_event = RefCell::new(BTreeMap::<String, jiff::Timestamp>::new());
    let event_of = |e: crate::events::Event| {
        if !wanted(&e.metric) {
            return None;
        }
        let time: jiff::Timestamp = e.time.parse().ok()?;
        if !query.counts(time) {
            return None;
        }
        if window.contains(time) {
            let mut last = last_event.borrow_mut();
            let at = last.entry(e.metric.clone()).or_insert(time);
            *at = (*at).max(time);
        }
        Some(Event { unit: e.unit, metric: e.metric, value: e.value, time })
    };
    let exposure_lines = log_lines::<Exposure>(exposures.0, exposures.1, &skipped);
    let event_lines = log_lines::<crate::events::Event>(events.0, events.1, &skipped);
    let (request, series) = match query.step_ms {
        None => {
            let mut events = event_lines.filter_map(event_of);
            let request = aggregate(
                exposure_lines.filter(exposure_counts),
                events.by_ref(),
                &query.options(window),
            );
            // Without two variants the join stops before the events: still see them.
            events.for_each(drop);
            (settle(request)?, Series::None)
        }
        Some(step) => {
            // Buckets need the records more than once: hold them.
            let held_exposures: Vec<Exposure> = exposure_lines.filter(exposure_counts).collect();
            let held_events: Vec<Event> = event_lines.filter_map(event_of).collect();
            let of = |w: Window| {
                settle(aggregate(
                    held_exposures.iter().cloned(),
                    held_events.iter().cloned(),
                    &query.options(w),
                ))
            };
            let series = buckets(&held_exposures, &held_events, step, window, &of)?;
            (of(window)?, series)
        }
    };
    if skipped.get() > 0 {
        tracing::warn!(lines = skipped.get(), "log lines that do not parse were skipped");
    }
    Ok(LogInputs { request, last_event: last_event.into_inner(), series })
}

/// Fewer than two variants (or an empty window) is "nothing to analyse yet".
fn settle(
    result: Result<AnalysisRequest, AggregateError>,
) -> Result<Option<AnalysisRequest>, AggregateError> {
    match result {
        Ok(request) => Ok(Some(request)),
        Err(AggregateError::TooFewVariants { .. } | AggregateError::EmptyWindow { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Per bucket of `step` ms from the first record's bucket to the last's:
/// the bucket's aggregate and the aggregate up to its end (each within the
/// query's window).
fn buckets(
    exposures: &[Exposure],
    events: &[Event],
    step: i64,
    window: Window,
    of: &dyn Fn(Window) -> Result<Option<AnalysisRequest>, AggregateError>,
) -> Result<Series, AggregateError> {
    let step = step.max(1);
    let times = exposures
        .iter()
        .filter_map(|e| e.time.parse::<jiff::Timestamp>().ok())
        .chain(events.iter().map(|e| e.time))
        .filter(|t| window.contains(*t))
        .map(jiff::Timestamp::as_millisecond);
    let (Some(first), Some(last)) = (times.clone().min(), times.max()) else {
        return Ok(Series::Buckets(Vec::new()));
    };
    let start = first.div_euclid(step) * step;
    let count = (last - start) / step + 1;
    if count > MAX_BUCKETS {
        return Ok(Series::TooMany(count));
    }
    let instant = |ms: i64| jiff::Timestamp::from_millisecond(ms).ok();
    let clip_end = |end: Option<jiff::Timestamp>| match (end, window.end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut out = Vec::new();
    for b in 0..count {
        let (lo, hi) = (start + b * step, start + (b + 1) * step);
        let lo_t = instant(lo).map(|l| window.start.map_or(l, |s| l.max(s)));
        let within = of(Window { start: lo_t, end: clip_end(instant(hi)) })?;
        let cumulative = of(Window { start: window.start, end: clip_end(instant(hi)) })?;
        out.push(Bucket { start_ms: lo, within, cumulative });
    }
    Ok(Series::Buckets(out))
}

#[cfg(test)]
mod tests;
