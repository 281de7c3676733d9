//! `flagstone aggregate`: joins exposures (the engine's JSONL) with metric events per unit and
//! writes an AnalysisRequest skeleton with the sufficient statistics.
//!
//! Rules: the earliest exposure of a unit wins (ties: the first line); events before that
//! exposure, and events of units never exposed, are ignored; a unit's value for a metric is
//! the sum of its events' values, 0 when it has none. A metric whose event values are all 0 or
//! 1 is written as `binary` (success = the unit has a positive sum), any other as `mean`.
//! Variant names of the form `flags/{flag}/variants/{id}` are shortened to `{id}`. The control
//! is the variant named `control` when there is one, else the first in name order.
//!
//! Both files are read line by line ([`crate::input::jsonl`]); an exposure line has the shape
//! the engine writes ([`Exposure`]), unknown keys rejected, and an event line has exactly
//! `unit`, `metric`, `value` and `time`.

use crate::exit::bad_input;
use crate::input::{Line, jsonl};
use anyhow::Context;
use clap::Args;
use flagstone_core::exposure::Exposure;
use flagstone_stats::analysis::{
    AnalysisRequest, Count, Direction, MetricKind, MetricSpec, MetricType, StatsSpec, VariantSpec,
};
use flagstone_stats::correction::Correction;
use flagstone_stats::{MeanStats, Method, RelativeCi};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Arguments of `flagstone aggregate`.
#[derive(Debug, Args)]
pub struct AggregateArgs {
    /// Exposures as `flagstone eval --exposures` writes them, one JSON object per line.
    #[arg(long)]
    exposures: PathBuf,
    /// Metric events, one `{"unit","metric","value","time"}` object per line.
    #[arg(long)]
    events: PathBuf,
    /// Only these metrics (repeatable); all metrics seen in the events by default.
    #[arg(long = "metric")]
    metrics: Vec<String>,
    /// The flag to analyse, required when the exposures hold more than one.
    #[arg(long)]
    flag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    unit: String,
    metric: String,
    value: f64,
    time: String,
}

fn parse_time(file: &Path, line_no: usize, text: &str) -> anyhow::Result<jiff::Timestamp> {
    text.parse::<jiff::Timestamp>().map_err(|e| {
        bad_input(format!(
            "{}:{line_no}: time: expected an RFC 3339 timestamp, got {text:?} ({e})",
            file.display()
        ))
    })
}

fn short_variant(name: &str) -> &str {
    name.rsplit_once("/variants/").map_or(name, |(_, id)| id)
}

struct Assignment {
    variant_idx: usize,
    time: jiff::Timestamp,
}

/// Runs `flagstone aggregate`.
pub fn run(args: &AggregateArgs) -> anyhow::Result<()> {
    let request = aggregate(args)?;
    let text = serde_json::to_string_pretty(&request).context("serialising the request")?;
    println!("{text}");
    Ok(())
}

fn aggregate(args: &AggregateArgs) -> anyhow::Result<AnalysisRequest> {
    // Exposures first: the join needs each unit's first exposure before any event.
    let mut variant_names: Vec<String> = Vec::new();
    let mut units: HashMap<String, Assignment> = HashMap::new();
    let mut flags_seen: BTreeSet<String> = BTreeSet::new();
    for line in jsonl::<Exposure>(&args.exposures)? {
        let Line { number: line_no, value: exposure } = line?;
        if args.flag.as_deref().is_some_and(|f| f != exposure.flag) {
            continue;
        }
        flags_seen.insert(exposure.flag.clone());
        let Some(variant) = exposure.variant.as_deref() else { continue };
        let time = parse_time(&args.exposures, line_no, &exposure.time)?;
        let variant = short_variant(variant);
        let variant_idx = match variant_names.iter().position(|v| v == variant) {
            Some(i) => i,
            None => {
                variant_names.push(variant.to_owned());
                variant_names.len() - 1
            }
        };
        match units.get_mut(&exposure.unit) {
            Some(a) if a.time <= time => {}
            Some(a) => *a = Assignment { variant_idx, time },
            None => {
                units.insert(exposure.unit, Assignment { variant_idx, time });
            }
        }
    }
    if flags_seen.len() > 1 {
        let list: Vec<&str> = flags_seen.iter().map(String::as_str).collect();
        return Err(bad_input(format!(
            "{}: exposures hold several flags ({}); choose one with --flag",
            args.exposures.display(),
            list.join(", ")
        )));
    }
    if variant_names.len() < 2 {
        return Err(bad_input(format!(
            "{}: expected exposures to at least two variants, found {}",
            args.exposures.display(),
            variant_names.len()
        )));
    }

    // Events: per metric, per unit, the sum of values after the unit's exposure.
    let wanted: BTreeSet<&str> = args.metrics.iter().map(String::as_str).collect();
    let mut per_metric: BTreeMap<String, (HashMap<String, f64>, bool)> =
        args.metrics.iter().map(|m| (m.clone(), (HashMap::new(), true))).collect();
    for line in jsonl::<Event>(&args.events)? {
        let Line { number: line_no, value: event } = line?;
        if !event.value.is_finite() {
            return Err(bad_input(format!(
                "{}:{line_no}: value: expected a finite number",
                args.events.display()
            )));
        }
        if !wanted.is_empty() && !wanted.contains(event.metric.as_str()) {
            continue;
        }
        let time = parse_time(&args.events, line_no, &event.time)?;
        let entry = per_metric.entry(event.metric).or_insert_with(|| (HashMap::new(), true));
        let Some(assignment) = units.get(&event.unit) else { continue };
        if time < assignment.time {
            continue;
        }
        entry.1 &= event.value == 0.0 || event.value == 1.0;
        *entry.0.entry(event.unit).or_insert(0.0) += event.value;
    }

    // Variants: control first, then by name.
    let mut order: Vec<usize> = (0..variant_names.len()).collect();
    order.sort_by(|&a, &b| variant_names[a].cmp(&variant_names[b]));
    if let Some(pos) = order.iter().position(|&i| variant_names[i] == "control") {
        let c = order.remove(pos);
        order.insert(0, c);
    }
    let mut exposed = vec![0_u64; variant_names.len()];
    for a in units.values() {
        if let Some(slot) = exposed.get_mut(a.variant_idx) {
            *slot += 1;
        }
    }
    let control = order.first().and_then(|&i| variant_names.get(i)).cloned().unwrap_or_default();

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
            let data = order
                .iter()
                .filter_map(|&vi| {
                    let name = variant_names.get(vi)?.clone();
                    let n = Count(exposed.get(vi).copied().unwrap_or(0));
                    let s = stats.get(vi)?;
                    let spec = if binary {
                        StatsSpec {
                            n,
                            successes: Some(Count(successes.get(vi).copied().unwrap_or(0))),
                            ..StatsSpec::default()
                        }
                    } else {
                        StatsSpec {
                            n,
                            sum: Some(s.sum()),
                            sum_squares: Some(s.sum_squares()),
                            ..StatsSpec::default()
                        }
                    };
                    Some((name, spec))
                })
                .collect();
            MetricSpec {
                id,
                metric_type: if binary { MetricType::Binary } else { MetricType::Mean },
                kind: MetricKind::Success,
                preferred_direction: Direction::Increase,
                sides: None,
                minimum_detectable_effect: None,
                non_inferiority_margin: None,
                data,
            }
        })
        .collect();

    Ok(AnalysisRequest {
        alpha: 0.05,
        power: 0.8,
        method: Method::ZTest,
        correction: Correction::Bonferroni,
        relative_ci: RelativeCi::Delta,
        control,
        prior: None,
        variants: order
            .iter()
            .filter_map(|&vi| {
                Some(VariantSpec {
                    name: variant_names.get(vi)?.clone(),
                    expected_share: 1.0,
                    units: Some(Count(exposed.get(vi).copied().unwrap_or(0))),
                })
            })
            .collect(),
        metrics,
        sequential: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_resource_names_are_shortened() {
        assert_eq!(short_variant("flags/checkout/variants/treatment"), "treatment");
        assert_eq!(short_variant("control"), "control");
    }
}
