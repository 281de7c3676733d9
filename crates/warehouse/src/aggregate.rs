//! The reference aggregation: exposures joined with metric events per unit, in memory.

use crate::error::{AggregateError, Place};
use crate::jsonl::JsonLines;
use crate::{Event, Options, Window};
use flagstone_core::exposure::Exposure;
use flagstone_stats::MeanStats;
use flagstone_stats::analysis::{
    AnalysisRequest, Count, Direction, MetricKind, MetricSpec, MetricType, StatsSpec, VariantSpec,
};
use flagstone_stats::correction::Correction;
use flagstone_stats::{Method, RelativeCi};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// An event line: exactly these keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventLine {
    unit: String,
    metric: String,
    value: f64,
    time: String,
}

/// The short name of a variant: `flags/{flag}/variants/{id}` → `{id}`; other names unchanged.
pub fn short_variant(name: &str) -> &str {
    name.rsplit_once("/variants/").map_or(name, |(_, id)| id)
}

fn parse_time(
    place: impl FnOnce() -> Place,
    text: &str,
) -> Result<jiff::Timestamp, AggregateError> {
    text.parse::<jiff::Timestamp>().map_err(|e| AggregateError::Time {
        place: place(),
        text: text.to_owned(),
        reason: e.to_string(),
    })
}

impl Window {
    /// Whether `time` is in the window: at or after `start`, strictly before `end`.
    pub fn contains(&self, time: jiff::Timestamp) -> bool {
        self.start.is_none_or(|s| time >= s) && self.end.is_none_or(|e| time < e)
    }

    fn check(&self) -> Result<(), AggregateError> {
        match (self.start, self.end) {
            (Some(start), Some(end)) if start >= end => {
                Err(AggregateError::EmptyWindow { start, end })
            }
            _ => Ok(()),
        }
    }
}

struct Assignment {
    variant_idx: usize,
    time: jiff::Timestamp,
}

/// The join's state: exposures first (each unit's first exposure), then events.
struct Join<'o> {
    options: &'o Options,
    variant_names: Vec<String>,
    units: HashMap<String, Assignment>,
    flags_seen: BTreeSet<String>,
    /// Per metric: per unit, the sum of its counted events; and whether all were 0 or 1.
    per_metric: BTreeMap<String, (HashMap<String, f64>, bool)>,
}

impl<'o> Join<'o> {
    fn new(options: &'o Options) -> Result<Self, AggregateError> {
        options.window.check()?;
        Ok(Join {
            options,
            variant_names: Vec::new(),
            units: HashMap::new(),
            flags_seen: BTreeSet::new(),
            per_metric: options
                .metrics
                .iter()
                .map(|m| (m.clone(), (HashMap::new(), true)))
                .collect(),
        })
    }

    fn exposure(
        &mut self,
        exposure: Exposure,
        place: impl FnOnce() -> Place,
    ) -> Result<(), AggregateError> {
        if self.options.flag.as_deref().is_some_and(|f| f != exposure.flag) {
            return Ok(());
        }
        if !self.flags_seen.contains(&exposure.flag) {
            self.flags_seen.insert(exposure.flag.clone());
        }
        let Some(variant) = exposure.variant.as_deref() else { return Ok(()) };
        let time = parse_time(place, &exposure.time)?;
        if !self.options.window.contains(time) {
            return Ok(());
        }
        let variant = short_variant(variant);
        let variant_idx = match self.variant_names.iter().position(|v| v == variant) {
            Some(i) => i,
            None => {
                self.variant_names.push(variant.to_owned());
                self.variant_names.len() - 1
            }
        };
        match self.units.get_mut(&exposure.unit) {
            Some(a) if a.time <= time => {}
            Some(a) => *a = Assignment { variant_idx, time },
            None => {
                self.units.insert(exposure.unit, Assignment { variant_idx, time });
            }
        }
        Ok(())
    }

    fn check_exposures(&self, place: impl Fn() -> Place) -> Result<(), AggregateError> {
        if self.flags_seen.len() > 1 {
            return Err(AggregateError::SeveralFlags {
                place: place(),
                flags: self.flags_seen.iter().cloned().collect(),
            });
        }
        if self.variant_names.len() < 2 {
            return Err(AggregateError::TooFewVariants {
                place: place(),
                found: self.variant_names.len(),
            });
        }
        Ok(())
    }

    /// Whether the event's metric is wanted (then it is listed even with no counted event).
    fn wants(&mut self, metric: &str) -> bool {
        if !self.options.metrics.is_empty() && !self.options.metrics.iter().any(|m| m == metric) {
            return false;
        }
        if !self.per_metric.contains_key(metric) {
            self.per_metric.insert(metric.to_owned(), (HashMap::new(), true));
        }
        true
    }

    fn event(&mut self, event: Event) {
        if !self.wants(&event.metric) || !self.options.window.contains(event.time) {
            return;
        }
        let Some(assignment) = self.units.get(&event.unit) else { return };
        if event.time < assignment.time {
            return;
        }
        if let Some(entry) = self.per_metric.get_mut(&event.metric) {
            entry.1 &= event.value == 0.0 || event.value == 1.0;
            *entry.0.entry(event.unit).or_insert(0.0) += event.value;
        }
    }

    fn finish(self) -> AnalysisRequest {
        let Join { variant_names, units, per_metric, .. } = self;
        let mut exposed = vec![0_u64; variant_names.len()];
        for a in units.values() {
            if let Some(slot) = exposed.get_mut(a.variant_idx) {
                *slot += 1;
            }
        }
        let variants: BTreeMap<String, u64> =
            variant_names.iter().cloned().zip(exposed.iter().copied()).collect();
        let metrics = per_metric
            .into_iter()
            .map(|(id, (values, binary))| {
                let mut stats = vec![MeanStats::default(); variant_names.len()];
                let mut successes = vec![0_u64; variant_names.len()];
                for (unit, value) in &values {
                    let Some(a) = units.get(unit) else { continue };
                    if let (Some(s), Some(c)) =
                        (stats.get_mut(a.variant_idx), successes.get_mut(a.variant_idx))
                    {
                        s.push(*value);
                        *c += u64::from(*value > 0.0);
                    }
                }
                let variants = variant_names
                    .iter()
                    .zip(stats.iter().zip(&successes))
                    .map(|(name, (s, &successes))| {
                        let sums =
                            VariantSums { sum: s.sum(), sum_squares: s.sum_squares(), successes };
                        (name.clone(), sums)
                    })
                    .collect();
                MetricSums { id, binary, variants }
            })
            .collect();
        build_request(&variants, metrics)
    }
}

/// One variant's sums of one metric, over its units' values (a unit without events is 0).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VariantSums {
    /// `Σx`.
    pub sum: f64,
    /// `Σx²`.
    pub sum_squares: f64,
    /// Units with a positive value.
    pub successes: u64,
}

/// One metric's sums per variant, as `flagstone aggregate` computes them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricSums {
    /// The metric.
    pub id: String,
    /// Whether every counted event value was 0 or 1 (then it is written as binary).
    pub binary: bool,
    /// Per variant (short name); a variant missing here has no counted events.
    pub variants: BTreeMap<String, VariantSums>,
}

/// Writes the analysis request `flagstone aggregate` prints: `variants` maps each variant
/// (short name) to its exposed units; the control is `control` when there is one, else the
/// first in name order; variants are listed control first, then by name.
pub fn build_request(
    variants: &BTreeMap<String, u64>,
    metrics: Vec<MetricSums>,
) -> AnalysisRequest {
    let mut order: Vec<&String> = variants.keys().collect();
    if let Some(pos) = order.iter().position(|v| v.as_str() == "control") {
        let c = order.remove(pos);
        order.insert(0, c);
    }
    let control = order.first().map(|v| (*v).clone()).unwrap_or_default();
    let units = |name: &str| Count(variants.get(name).copied().unwrap_or(0));
    let metrics = metrics
        .into_iter()
        .map(|m| {
            let data = order
                .iter()
                .map(|&name| {
                    let n = units(name);
                    let s = m.variants.get(name).copied().unwrap_or_default();
                    let spec = if m.binary {
                        StatsSpec { n, successes: Some(Count(s.successes)), ..StatsSpec::default() }
                    } else {
                        StatsSpec {
                            n,
                            sum: Some(s.sum),
                            sum_squares: Some(s.sum_squares),
                            ..StatsSpec::default()
                        }
                    };
                    (name.clone(), spec)
                })
                .collect();
            MetricSpec {
                id: m.id,
                metric_type: if m.binary { MetricType::Binary } else { MetricType::Mean },
                kind: MetricKind::Success,
                preferred_direction: Direction::Increase,
                sides: None,
                minimum_detectable_effect: None,
                non_inferiority_margin: None,
                data,
            }
        })
        .collect();
    let variants = order
        .iter()
        .map(|&name| VariantSpec {
            name: name.clone(),
            expected_share: 1.0,
            units: Some(units(name)),
        })
        .collect();
    default_request(control, variants, metrics)
}

/// The request `analyze` reads, with `flagstone aggregate`'s settings: a z-test at α 0.05 and
/// power 0.8, Bonferroni, delta-method relative intervals, no prior, no sequential design.
pub(crate) fn default_request(
    control: String,
    variants: Vec<VariantSpec>,
    metrics: Vec<MetricSpec>,
) -> AnalysisRequest {
    AnalysisRequest {
        alpha: 0.05,
        power: 0.8,
        method: Method::ZTest,
        correction: Correction::Bonferroni,
        relative_ci: RelativeCi::Delta,
        control,
        prior: None,
        variants,
        metrics,
        sequential: None,
    }
}

/// Aggregates a JSON-lines exposures file (the shape the engine writes) and a JSON-lines
/// events file (`{"unit","metric","value","time"}`, nothing else) into an analysis request.
///
/// A missing events file is read as no events.
///
/// # Errors
/// [`AggregateError`] naming the file, the line and the JSON path of bad input, or the
/// exposures file when they hold several flags (and [`Options::flag`] is unset) or fewer than
/// two variants.
pub fn aggregate_jsonl(
    exposures: &Path,
    events: &Path,
    options: &Options,
) -> Result<AnalysisRequest, AggregateError> {
    aggregate_jsonl_with_progress(exposures, events, options, |_| {})
}

/// Which file a [`Progress`] report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The exposures, read first.
    Exposures,
    /// The events.
    Events,
}

/// How far [`aggregate_jsonl_with_progress`] has read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The file being read.
    pub stage: Stage,
    /// Its lines read so far, blank ones included.
    pub lines: usize,
    /// Its bytes read so far.
    pub bytes: u64,
    /// Its size when opened (0 when unknown or missing).
    pub size: u64,
}

/// How many lines between two progress reports.
const PROGRESS_EVERY: usize = 1 << 14;

/// [`aggregate_jsonl`], reporting progress every 16,384 lines and at the end of each file.
///
/// # Errors
/// As [`aggregate_jsonl`].
pub fn aggregate_jsonl_with_progress(
    exposures: &Path,
    events: &Path,
    options: &Options,
    mut progress: impl FnMut(Progress),
) -> Result<AnalysisRequest, AggregateError> {
    let mut join = Join::new(options)?;
    let mut report = |stage: Stage, (lines, bytes, size): (usize, u64, u64)| {
        progress(Progress { stage, lines, bytes, size });
    };
    let mut lines = JsonLines::<Exposure>::open(exposures, false)?;
    let source = lines.source().to_owned();
    while let Some(line) = lines.next() {
        let (line_no, exposure) = line?;
        join.exposure(exposure, || Place::line(source.clone(), line_no))?;
        if line_no % PROGRESS_EVERY == 0 {
            report(Stage::Exposures, lines.position());
        }
    }
    report(Stage::Exposures, lines.position());
    join.check_exposures(|| Place::source(source.clone()))?;
    let mut lines = JsonLines::<EventLine>::open(events, true)?;
    let source = lines.source().to_owned();
    while let Some(line) = lines.next() {
        let (line_no, event) = line?;
        if line_no % PROGRESS_EVERY == 0 {
            report(Stage::Events, lines.position());
        }
        if !event.value.is_finite() {
            return Err(AggregateError::NotFinite { place: Place::line(source.clone(), line_no) });
        }
        if !join.wants(&event.metric) {
            continue;
        }
        let time = parse_time(|| Place::line(source.clone(), line_no), &event.time)?;
        join.event(Event { unit: event.unit, metric: event.metric, value: event.value, time });
    }
    report(Stage::Events, lines.position());
    Ok(join.finish())
}

/// Aggregates exposures and events held in memory (a server's logs) by the same rules as
/// [`aggregate_jsonl`]. Errors name the source `exposures` or `events` and the record's
/// position from 1 as its line.
///
/// # Errors
/// [`AggregateError`] for an exposure time that is not RFC 3339, a value that is not finite,
/// several flags without [`Options::flag`], or fewer than two variants.
pub fn aggregate(
    exposures: impl IntoIterator<Item = Exposure>,
    events: impl IntoIterator<Item = Event>,
    options: &Options,
) -> Result<AnalysisRequest, AggregateError> {
    let mut join = Join::new(options)?;
    for (i, exposure) in exposures.into_iter().enumerate() {
        join.exposure(exposure, || Place::line("exposures", i + 1))?;
    }
    join.check_exposures(|| Place::source("exposures"))?;
    for (i, event) in events.into_iter().enumerate() {
        if !event.value.is_finite() {
            return Err(AggregateError::NotFinite { place: Place::line("events", i + 1) });
        }
        join.event(event);
    }
    Ok(join.finish())
}
