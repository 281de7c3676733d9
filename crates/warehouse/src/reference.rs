//! The warehouse query's semantics in plain Rust: the oracle its SQL is tested against.

use crate::Event;
use crate::definition::Definition;
use crate::error::{AggregateError, Place};
use crate::metric::MetricDef;
use crate::rows::{Row, RowType};
use flagstone_core::exposure::Exposure;
use std::collections::{BTreeMap, BTreeSet, HashMap};

struct UnitState {
    variants: BTreeSet<String>,
    first: jiff::Timestamp,
}

/// The sums of one (day, variant, metric) group.
#[derive(Default)]
struct Sums {
    n: u64,
    sum: f64,
    sum_squares: f64,
    den_sum: f64,
    den_sum_squares: f64,
    cross: f64,
    cov_sum: f64,
    cov_sum_squares: f64,
    cov_cross: f64,
}

/// The UTC day of an instant.
pub(crate) fn utc_day(time: jiff::Timestamp) -> jiff::civil::Date {
    time.to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// Computes the rows the warehouse query returns for these exposures and events, by
/// [`Definition`]'s rules, sorted as [`crate::rows::merge`] sorts (with days in order).
///
/// # Errors
/// [`AggregateError`] for an exposure time that is not RFC 3339 or a value that is not finite;
/// places name `exposures` or `events` and the record's position from 1.
pub fn reference_rows(
    exposures: impl IntoIterator<Item = Exposure>,
    events: impl IntoIterator<Item = Event>,
    definition: &Definition,
) -> Result<Vec<Row>, AggregateError> {
    let window = definition.window;
    let mut variants: BTreeSet<String> = BTreeSet::new();
    let mut units: HashMap<String, UnitState> = HashMap::new();
    for (i, exposure) in exposures.into_iter().enumerate() {
        if definition.flag.as_deref().is_some_and(|f| f != exposure.flag) {
            continue;
        }
        let Some(variant) = exposure.variant else { continue };
        let time = exposure.time.parse::<jiff::Timestamp>().map_err(|e| AggregateError::Time {
            place: Place::line("exposures", i + 1),
            text: exposure.time.clone(),
            reason: e.to_string(),
        })?;
        if !window.contains(time) {
            continue;
        }
        variants.insert(variant.clone());
        let state = units
            .entry(exposure.unit)
            .or_insert_with(|| UnitState { variants: BTreeSet::new(), first: time });
        state.variants.insert(variant);
        state.first = state.first.min(time);
    }
    // Per included unit: post-exposure and pre-exposure sums per source metric.
    let sources: Vec<&str> = {
        let mut seen: Vec<&str> = Vec::new();
        for m in &definition.metrics {
            for s in m.sources() {
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
        }
        seen
    };
    let mut values: HashMap<&str, (Vec<f64>, Vec<f64>)> = units
        .iter()
        .filter(|(_, s)| s.variants.len() == 1)
        .map(|(u, _)| (u.as_str(), (vec![0.0; sources.len()], vec![0.0; sources.len()])))
        .collect();
    let lookback =
        definition.covariate_hours.map(|h| jiff::SignedDuration::from_hours(i64::from(h)));
    for (i, event) in events.into_iter().enumerate() {
        if !event.value.is_finite() {
            return Err(AggregateError::NotFinite { place: Place::line("events", i + 1) });
        }
        let Some(k) = sources.iter().position(|s| *s == event.metric) else { continue };
        let Some((post, pre)) = values.get_mut(event.unit.as_str()) else { continue };
        let Some(state) = units.get(&event.unit) else { continue };
        if window.end.is_some_and(|end| event.time >= end) {
            continue;
        }
        if event.time >= state.first {
            if let Some(v) = post.get_mut(k) {
                *v += event.value;
            }
        } else if let Some(l) = lookback
            && state.first.checked_sub(l).is_ok_and(|from| event.time >= from)
            && let Some(v) = pre.get_mut(k)
        {
            *v += event.value;
        }
    }
    let index = |name: &str| sources.iter().position(|s| *s == name).unwrap_or(0);
    let mut groups: BTreeMap<(Option<jiff::civil::Date>, String, usize), Sums> = BTreeMap::new();
    let mut excluded: BTreeMap<Option<jiff::civil::Date>, u64> = BTreeMap::new();
    for (unit, state) in &units {
        let day = definition.by_day.then(|| utc_day(state.first));
        if state.variants.len() != 1 {
            *excluded.entry(day).or_insert(0) += 1;
            continue;
        }
        let (Some(variant), Some((post, pre))) =
            (state.variants.first(), values.get(unit.as_str()))
        else {
            continue;
        };
        for (m, def) in definition.metrics.iter().enumerate() {
            let s = groups.entry((day, variant.clone(), m)).or_default();
            s.n += 1;
            let at = |v: &Vec<f64>, name: &str| v.get(index(name)).copied().unwrap_or(0.0);
            match def {
                MetricDef::Mean { id } => {
                    let (y, c) = (at(post, id), at(pre, id));
                    s.sum += y;
                    s.sum_squares += y * y;
                    s.cov_sum += c;
                    s.cov_sum_squares += c * c;
                    s.cov_cross += c * y;
                }
                MetricDef::Binary { id } => {
                    let y = f64::from(u8::from(at(post, id) > 0.0));
                    let c = f64::from(u8::from(at(pre, id) > 0.0));
                    s.sum += y;
                    s.sum_squares += y;
                    s.cov_sum += c;
                    s.cov_sum_squares += c;
                    s.cov_cross += c * y;
                }
                MetricDef::Ratio { numerator, denominator, .. } => {
                    let (y, d) = (at(post, numerator), at(post, denominator));
                    s.sum += y;
                    s.sum_squares += y * y;
                    s.den_sum += d;
                    s.den_sum_squares += d * d;
                    s.cross += y * d;
                }
            }
        }
    }
    // A variant without included units still has its rows, with no day.
    for variant in &variants {
        if !groups.keys().any(|(_, v, _)| v == variant) {
            for m in 0..definition.metrics.len() {
                groups.insert((None, variant.clone(), m), Sums::default());
            }
        }
    }
    let cuped = definition.covariate_hours.is_some();
    let mut rows: Vec<Row> = groups
        .into_iter()
        .filter_map(|((day, variant, m), s)| {
            let def = definition.metrics.get(m)?;
            let ratio = matches!(def, MetricDef::Ratio { .. });
            let covariate = cuped && !ratio;
            Some(Row {
                exposure_day: day,
                variant: Some(variant),
                metric: Some(def.id().to_owned()),
                metric_type: Some(match def {
                    MetricDef::Mean { .. } => RowType::Mean,
                    MetricDef::Binary { .. } => RowType::Binary,
                    MetricDef::Ratio { .. } => RowType::Ratio,
                }),
                n: s.n,
                sum: s.sum,
                sum_squares: s.sum_squares,
                denominator_sum: ratio.then_some(s.den_sum),
                denominator_sum_squares: ratio.then_some(s.den_sum_squares),
                cross_products: ratio.then_some(s.cross),
                covariate_sum: covariate.then_some(s.cov_sum),
                covariate_sum_squares: covariate.then_some(s.cov_sum_squares),
                covariate_cross_products: covariate.then_some(s.cov_cross),
            })
        })
        .collect();
    rows.extend(excluded.into_iter().map(|(day, n)| Row {
        exposure_day: day,
        metric_type: Some(RowType::Excluded),
        n,
        ..Row::default()
    }));
    sort_rows(&mut rows);
    Ok(rows)
}

/// Sorts rows by type, variant, metric and day: the order tests compare them in.
pub fn sort_rows(rows: &mut [Row]) {
    rows.sort_by(|a, b| {
        (a.metric_type, &a.variant, &a.metric, a.exposure_day).cmp(&(
            b.metric_type,
            &b.variant,
            &b.metric,
            b.exposure_day,
        ))
    });
}
