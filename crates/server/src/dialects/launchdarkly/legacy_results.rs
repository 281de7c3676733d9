//! Legacy experiment results (`totals`, `series`, `stats`), their reset, and
//! the upload of their sufficient statistics (a Flagstone addition).
//!
//! - `GET /api/v2/flags/{projectKey}/{flagKey}/experiments/{environmentKey}/{metricKey}`
//! - `DELETE …/{metricKey}/results`
//! - `PUT …/{metricKey}/statistics`

use super::errors::LdError;
use super::experiments::{Answer, actor, parse_body};
use super::legacy::{LEGACY, LegacyRecord, Reset, environment, record_of, variations};
use super::wire::{from_body, now_ms};
use crate::auth::{Principal, Scope};
use crate::dialects::native::run_write;
use crate::http::AppState;
use crate::names::Kind;
use crate::namespace::Published;
use crate::results::{Bucket, LogQuery, MAX_BUCKETS, Series};
use crate::write::{Change, Precondition};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use flagstone_stats::analysis::{AnalysisRequest, MetricType, analyze};
use flagstone_stats::special::normal_quantile_upper;
use flagstone_stats::{ArmSummary, BinaryStats, MeanStats, Method as StatsMethod};
use flagstone_warehouse::Window;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The record collection of uploaded legacy statistics, keyed `{flagKey}~{metricKey}`.
const LEGACY_STATISTICS: &str = "launchdarkly.legacy-statistics";
/// The confidence of the intervals and the significance of the tests.
const ALPHA: f64 = 0.05;

fn statistics_id(flag: &str, metric: &str) -> String {
    format!("{flag}~{metric}")
}

/// `granularity` in milliseconds.
fn granularity(text: Option<&str>) -> Result<(&'static str, i64), LdError> {
    match text.unwrap_or("day") {
        "hour" => Ok(("hour", 3_600_000)),
        "day" => Ok(("day", 86_400_000)),
        "week" => Ok(("week", 7 * 86_400_000)),
        other => {
            Err(LdError::invalid(format!("granularity: {other:?}; expected hour, day or week")))
        }
    }
}

/// One variation's numbers over some span.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Arm {
    impressions: u64,
    count: f64,
    value: f64,
    rate: Option<f64>,
    interval: Option<(f64, f64)>,
}

/// The numbers of one variation (by label) for the request's only metric.
fn arm(request: &AnalysisRequest, label: &str) -> Arm {
    let Some(metric) = request.metrics.first() else { return Arm::default() };
    let Some(data) = metric.data.get(label) else { return Arm::default() };
    let units = request.variants.iter().find(|v| v.name == label).and_then(|v| v.units);
    let n = data.n.0;
    let impressions = units.map_or(n, |u| u.0);
    let (count, value, summary) = match metric.metric_type {
        MetricType::Binary => {
            let successes = data.successes.map_or(0, |c| c.0);
            let summary =
                BinaryStats::new(n, successes).ok().and_then(|s| ArmSummary::binary(&s).ok());
            (successes as f64, successes as f64, summary)
        }
        _ => {
            let sum = data.sum.unwrap_or_default();
            let summary = MeanStats::new(n, sum, data.sum_squares.unwrap_or_default())
                .ok()
                .and_then(|s| ArmSummary::mean(&s).ok());
            (n as f64, sum, summary)
        }
    };
    let z = normal_quantile_upper(ALPHA / 2.0);
    let interval = summary.map(|s| {
        let half = z * (s.unit_variance / s.n).sqrt();
        (s.mean - half, s.mean + half)
    });
    Arm { impressions, count, value, rate: summary.map(|s| s.mean), interval }
}

fn interval(i: Option<(f64, f64)>) -> Value {
    i.map_or(Value::Null, |(lower, upper)| json!({"upper": upper, "lower": lower}))
}

/// One comparison of a variation with the baseline: the pooled χ² test
/// (Pearson's χ² for a binary metric) and the sample size per arm that
/// detects the observed improvement with 80 % power.
#[derive(Clone, Copy, Debug, Default)]
struct Test {
    p_value: Option<f64>,
    chi2: Option<f64>,
    improvement: Option<f64>,
    min_sample_size: Option<f64>,
}

fn pair(request: &AnalysisRequest, baseline: &str, label: &str) -> Test {
    let mut pair = request.clone();
    pair.method = StatsMethod::ChiSquared;
    pair.alpha = ALPHA;
    pair.control = baseline.to_owned();
    pair.variants.retain(|v| v.name == baseline || v.name == label);
    let comparison = |req: &AnalysisRequest| {
        analyze(req)
            .ok()
            .and_then(|r| r.results.into_iter().next())
            .and_then(|m| m.comparisons.into_iter().next())
    };
    let Some(first) = comparison(&pair) else { return Test::default() };
    let improvement = first.relative.estimate;
    let min_sample_size = improvement.filter(|i| *i != 0.0).and_then(|i| {
        for m in &mut pair.metrics {
            m.minimum_detectable_effect = Some(i.abs());
        }
        comparison(&pair).and_then(|c| c.required_sample_size)
    });
    Test { p_value: first.p_value, chi2: first.statistic, improvement, min_sample_size }
}

/// `totals` and `stats` of a request with one metric.
fn totals(
    request: &AnalysisRequest,
    labels: &[String],
    baseline_idx: usize,
) -> (Vec<Value>, Value) {
    let arms: Vec<Arm> = labels.iter().map(|l| arm(request, l)).collect();
    let baseline = labels.get(baseline_idx).cloned().unwrap_or_default();
    let tests: Vec<Option<Test>> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i != baseline_idx).then(|| pair(request, &baseline, l)))
        .collect();
    let totals = arms
        .iter()
        .zip(&tests)
        .map(|(a, t)| {
            let t = t.unwrap_or_default();
            json!({
                "cumulativeValue": a.value,
                "cumulativeCount": a.count,
                "cumulativeImpressionCount": a.impressions,
                "cumulativeConversionRate": a.rate,
                "cumulativeConfidenceInterval": interval(a.interval),
                "pValue": t.p_value,
                "improvement": t.improvement,
                "minSampleSize": t.min_sample_size,
            })
        })
        .collect();
    let winning = arms
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.rate.map(|r| (i, r)))
        .fold(None::<(usize, f64)>, |best, (i, r)| match best {
            Some((_, b)) if b >= r => best,
            _ => Some((i, r)),
        })
        .map(|(i, _)| i);
    // The test behind `stats`: the comparison with the smallest p-value.
    let decisive = tests
        .iter()
        .flatten()
        .filter(|t| t.p_value.is_some())
        .min_by(|a, b| a.p_value.partial_cmp(&b.p_value).unwrap_or(std::cmp::Ordering::Equal));
    let met = tests.iter().enumerate().filter_map(|(i, t)| t.map(|t| (i, t))).all(|(i, t)| {
        let n = |idx: usize| arms.get(idx).map_or(0, |a| a.impressions) as f64;
        t.min_sample_size.is_some_and(|m| n(i) >= m && n(baseline_idx) >= m)
    });
    let stats = json!({
        "pValue": decisive.and_then(|t| t.p_value),
        "chi2": decisive.and_then(|t| t.chi2),
        "winningVariationIdx": winning,
        "minSampleSizeMet": met,
    });
    (totals, stats)
}

/// The periods whose data counts for the experiment: while the
/// environment recorded the metric, after its last reset, within `[from, to)`.
fn periods(
    record: &LegacyRecord,
    metric: &str,
    env: &str,
    span: (Option<i64>, Option<i64>),
) -> Vec<(Option<jiff::Timestamp>, Option<jiff::Timestamp>)> {
    let reset = record
        .resets
        .iter()
        .filter(|r| r.metric_key == metric && r.environment == env)
        .map(|r| r.at)
        .max();
    let instant = |ms: Option<i64>| ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
    record
        .recordings
        .iter()
        .filter(|r| r.metric_key == metric && r.environment == env)
        .map(|r| {
            let start = [Some(r.from), reset, span.0].into_iter().flatten().max();
            let end = [r.to, span.1].into_iter().flatten().min();
            (instant(start), instant(end))
        })
        .collect()
}

/// `series`: per bucket, each variation's numbers in the bucket and up to its end.
fn series(buckets: &[Bucket], labels: &[String]) -> Vec<Value> {
    buckets
        .iter()
        .map(|bucket| {
            let data: Vec<Value> = labels
                .iter()
                .map(|l| {
                    let one = bucket.within.as_ref().map(|r| arm(r, l)).unwrap_or_default();
                    let all = bucket.cumulative.as_ref().map(|r| arm(r, l)).unwrap_or_default();
                    json!({
                        "value": one.value,
                        "count": one.count,
                        "cumulativeValue": all.value,
                        "cumulativeCount": all.count,
                        "conversionRate": one.rate,
                        "cumulativeConversionRate": all.rate,
                        "confidenceInterval": interval(one.interval),
                        "cumulativeConfidenceInterval": interval(all.interval),
                    })
                })
                .collect();
            json!({"Time": bucket.start_ms, "VariationData": data})
        })
        .collect()
}

/// The namespace's legacy record of the flag, once the experiment exists there.
fn experiment(
    published: &Published,
    flag: &str,
    metric: &str,
    env: &str,
) -> Result<LegacyRecord, LdError> {
    if published.resource(Kind::Flags, flag).is_none() {
        return Err(LdError::not_found(format!(
            "flag {flag:?} does not exist in this environment"
        )));
    }
    match record_of(published, flag)? {
        Some((_, record)) if record.has(metric, env) => Ok(record),
        _ => Err(LdError::not_found(format!(
            "flag {flag:?} has no legacy experiment on metric {metric:?}"
        ))),
    }
}

fn span(query: &HashMap<String, String>) -> Result<(Option<i64>, Option<i64>), LdError> {
    let ms = |key: &str| {
        query
            .get(key)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    LdError::invalid(format!("{key}: expected Unix milliseconds, got {v:?}"))
                })
            })
            .transpose()
    };
    Ok((ms("from")?, ms("to")?))
}

/// What a legacy results request computes off the async threads.
struct Computed {
    totals: Vec<Value>,
    series: Vec<Value>,
    stats: Value,
    /// When the metric was last seen (Unix ms).
    seen: Option<i64>,
}

/// `GET /api/v2/flags/{projectKey}/{flagKey}/experiments/{environmentKey}/{metricKey}`.
pub(crate) async fn get_legacy_results(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, flag, env, metric)): Path<(String, String, String, String)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    uri: Uri,
) -> Answer {
    let query = super::experiments::query(query)?;
    if let Some(k) = query.keys().find(|k| !matches!(k.as_str(), "from" | "to" | "granularity")) {
        return Err(LdError::invalid(format!(
            "{k}: unknown query parameter; expected from, to or granularity"
        )));
    }
    let (shown_granularity, step) = granularity(query.get("granularity").map(String::as_str))?;
    let span = span(&query)?;
    let ns = environment(&app, &principal, Scope::Read, &project, &env)?;
    let published = ns.published();
    let record = experiment(&published, &flag, &metric, &env)?;
    let labels: Vec<String> = variations(&published, &flag).into_iter().map(|(id, _)| id).collect();
    let metadata: Vec<Value> = labels.iter().map(|id| json!({"key": id})).collect();
    let baseline_idx = record.experiments.baseline_idx;
    let revision = published.revision;
    let uploaded =
        published.record(LEGACY_STATISTICS, &statistics_id(&flag, &metric)).and_then(|r| {
            Some((
                serde_json::from_value::<AnalysisRequest>(r.document.get("request")?.clone())
                    .ok()?,
                r.document.get("uploadedAt")?.as_i64()?,
            ))
        });
    let computed = tokio::task::spawn_blocking(move || -> Result<Computed, LdError> {
        if let Some((mut request, at)) = uploaded {
            request.metrics.retain(|m| m.id == metric);
            let (totals, stats) = totals(&request, &labels, baseline_idx);
            let seen = (!request.metrics.is_empty()).then_some(at);
            return Ok(Computed { totals, series: Vec::new(), stats, seen });
        }
        let mut query = LogQuery::new(format!("flags/{flag}"), vec![metric.clone()], Window::default());
        query.periods = Some(periods(&record, &metric, &env, span));
        query.step_ms = Some(step);
        let inputs = app
            .results
            .inputs(&ns, revision, &query)
            .map_err(|e| LdError::invalid(format!("the server's logs cannot be aggregated: {e}")))?;
        let (totals, stats) = match &inputs.request {
            Some(r) => totals(r, &labels, baseline_idx),
            None => (Vec::new(), json!({"pValue": null, "chi2": null, "winningVariationIdx": null, "minSampleSizeMet": false})),
        };
        let series = match &inputs.series {
            Series::Buckets(buckets) => series(buckets, &labels),
            Series::None => Vec::new(),
            Series::TooMany(buckets) => {
                return Err(LdError::invalid(format!(
                    "granularity: {buckets} buckets, more than {MAX_BUCKETS}; ask for a coarser granularity or a shorter from/to"
                )));
            }
        };
        let seen = inputs.last_event.get(&metric).map(|t| t.as_millisecond());
        Ok(Computed { totals, series, stats, seen })
    })
    .await
    .map_err(LdError::internal)??;
    let Computed { totals, series, stats, seen } = computed;
    let metric_seen = match seen {
        Some(ts) => json!({"ever": true, "timestamp": ts}),
        None => json!({"ever": false}),
    };
    Ok(Json(json!({
        "_links": {"self": {"href": uri.to_string(), "type": "application/json"}},
        "metadata": metadata,
        "totals": totals,
        "series": series,
        "stats": stats,
        "granularity": shown_granularity,
        "metricSeen": metric_seen,
    }))
    .into_response())
}

/// `DELETE …/{metricKey}/results`: data before now no longer counts, and
/// uploaded statistics are deleted; the experiment stays.
pub(crate) async fn reset_legacy_results(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, flag, env, metric)): Path<(String, String, String, String)>,
    method: Method,
    uri: Uri,
) -> Answer {
    let ns = environment(&app, &principal, Scope::Write, &project, &env)?;
    let published = ns.published();
    let mut record = experiment(&published, &flag, &metric, &env)?;
    let etag = published.record(LEGACY, &flag).map(|r| r.etag.clone()).unwrap_or_default();
    record.resets.retain(|r| !(r.metric_key == metric && r.environment == env));
    record.resets.push(Reset {
        metric_key: metric.clone(),
        environment: env.clone(),
        at: now_ms(),
    });
    let mut changes = vec![Change::PutRecord {
        collection: LEGACY.to_owned(),
        id: flag.clone(),
        document: serde_json::to_value(&record).map_err(LdError::internal)?,
        precondition: Precondition::IfMatch(vec![etag]),
    }];
    let id = statistics_id(&flag, &metric);
    if published.record(LEGACY_STATISTICS, &id).is_some() {
        changes.push(Change::DeleteRecord {
            collection: LEGACY_STATISTICS.to_owned(),
            id,
            precondition: Precondition::None,
        });
    }
    run_write(&app, ns.name().clone(), Change::Batch(changes), actor(&principal, &method, &uri))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT …/{metricKey}/statistics`: the experiment's sufficient statistics
/// in this environment, an AnalysisRequest as `flagstone aggregate` prints it.
pub(crate) async fn put_legacy_statistics(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, flag, env, metric)): Path<(String, String, String, String)>,
    method: Method,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let ns = environment(&app, &principal, Scope::Write, &project, &env)?;
    let published = ns.published();
    experiment(&published, &flag, &metric, &env)?;
    let body = parse_body(body)?;
    let request: AnalysisRequest = from_body(body.clone())?;
    if !request.metrics.iter().any(|m| m.id == metric) {
        return Err(LdError::invalid(format!("metrics: no metric with id {metric:?}")));
    }
    if let Some(m) =
        request.metrics.iter().find(|m| m.id == metric && m.metric_type == MetricType::Ratio)
    {
        return Err(LdError::invalid(format!(
            "metrics: {:?} is a ratio metric; legacy experiments take binary or mean metrics",
            m.id
        )));
    }
    let change = Change::PutRecord {
        collection: LEGACY_STATISTICS.to_owned(),
        id: statistics_id(&flag, &metric),
        document: json!({"uploadedAt": now_ms(), "request": body}),
        precondition: Precondition::None,
    };
    run_write(&app, ns.name().clone(), change, actor(&principal, &method, &uri)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialects::launchdarkly::legacy::Recording;

    #[test]
    fn periods_count_what_the_record_counts() {
        let recording = |metric: &str, env: &str, from: i64, to: Option<i64>| Recording {
            metric_key: metric.into(),
            environment: env.into(),
            from,
            to,
        };
        let record = LegacyRecord {
            recordings: vec![
                recording("m", "e", 100, Some(200)),
                recording("m", "e", 300, None),
                recording("m", "other", 0, None),
                recording("n", "e", 0, None),
            ],
            resets: vec![
                Reset { metric_key: "m".into(), environment: "e".into(), at: 150 },
                Reset { metric_key: "m".into(), environment: "other".into(), at: 400 },
            ],
            ..LegacyRecord::default()
        };
        for span in [(None, None), (Some(120), Some(350)), (Some(500), None), (None, Some(50))] {
            let query = LogQuery {
                periods: Some(periods(&record, "m", "e", span)),
                ..LogQuery::new("flags/f".into(), vec![], Window::default())
            };
            for ms in (0..600).step_by(5) {
                let expected = record.counts("m", "e", ms)
                    && span.0.is_none_or(|f| ms >= f)
                    && span.1.is_none_or(|t| ms < t);
                let instant = jiff::Timestamp::from_millisecond(ms).unwrap();
                assert_eq!(query.counts(instant), expected, "{span:?} at {ms}");
            }
        }
    }
}
