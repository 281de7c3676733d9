//! Experiment results per metric, from `flagstone-stats`' Bayesian analysis
//! of an iteration's sufficient statistics; and the upload of those
//! statistics (a Flagstone addition).

use super::errors::LdError;
use super::experiments::{Answer, actor, load, namespace, namespace_name, parse_body};
use super::wire::{
    ExperimentRecord, IterationRecord, STATISTICS, Status, TreatmentRecord, from_body, now_ms,
};
use crate::auth::{Principal, Scope};
use crate::dialects::native::run_write;
use crate::http::AppState;
use crate::namespace::{Namespace, Published};
use crate::results::{LogInputs, LogQuery, LogResults};
use crate::write::{Change, Precondition};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use flagstone_stats::Method as StatsMethod;
use flagstone_stats::analysis::{AnalysisRequest, analyze};
use flagstone_warehouse::Window;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The name under which a treatment's variant appears in sufficient
/// statistics: its variant id (as `flagstone aggregate` writes it) or its
/// full variant name.
fn label_of<'a>(variant: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let short = variant.rsplit_once("/variants/").map_or(variant, |(_, id)| id);
    names.into_iter().find(|n| *n == short || *n == variant)
}

/// The treatments that take traffic.
fn arms(iteration: &IterationRecord) -> impl Iterator<Item = &TreatmentRecord> {
    iteration
        .treatments
        .iter()
        .filter(|t| t.allocation_percent.trim().parse::<f64>().is_ok_and(|p| p > 0.0))
}

/// `PUT …/experiments/{key}/statistics`: the running iteration's
/// sufficient statistics, an AnalysisRequest as `flagstone aggregate`
/// prints it. A stopped iteration is frozen and takes none.
pub(crate) async fn put_statistics(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment, key)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = namespace_name(&project, &environment)?;
    let published = namespace(&app, &principal, Scope::Write, &name)?.published();
    let (_, record) = load(&published, &key)?;
    let body = parse_body(body)?;
    let request: AnalysisRequest = from_body(body.clone())?;
    let current = record.current().filter(|i| i.status == Status::Running).ok_or_else(|| {
        LdError::conflict(format!(
            "experiment {key:?} has no running iteration; a stopped iteration's results are frozen"
        ))
    })?;
    let names: Vec<&str> = request.variants.iter().map(|v| v.name.as_str()).collect();
    for t in arms(current) {
        if label_of(&t.variant, names.iter().copied()).is_none() {
            return Err(LdError::invalid(format!(
                "variants: no entry for treatment {:?} (variant {}); the statistics name {names:?}",
                t.name, t.variant
            )));
        }
    }
    // Refuse now what the results could not analyse later.
    for metric in &current.metrics {
        if let Some((request, _)) = bayesian_request(current, request.clone(), &metric.key) {
            analyze(&request).map_err(|e| LdError::invalid(format!("statistics: {e}")))?;
        }
    }
    let document = json!({"iterationId": current.id, "uploadedAt": now_ms(), "request": body});
    let change = Change::PutRecord {
        collection: STATISTICS.to_owned(),
        id: current.id.clone(),
        document,
        precondition: Precondition::None,
    };
    run_write(&app, name, change, actor(&principal, &method, &uri)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An iteration's sufficient statistics and when its data was last seen
/// (Unix milliseconds): uploaded ones, else the server's own logs.
pub(crate) fn statistics(
    results: &LogResults,
    namespace: &Namespace,
    published: &Published,
    record: &ExperimentRecord,
    iteration: &IterationRecord,
    metric: &str,
) -> Option<(AnalysisRequest, i64)> {
    if let Some(stored) = published.record(STATISTICS, &iteration.id) {
        let request = serde_json::from_value(stored.document.get("request")?.clone()).ok()?;
        let seen = stored.document.get("uploadedAt").and_then(Value::as_i64).unwrap_or_default();
        return Some((request, seen));
    }
    from_logs(results, namespace, published.revision, record, iteration, metric)
}

/// What the namespace's logs say about an iteration (through the server's
/// cache): the exposures of the experiment's A/B test rule and the
/// iteration's metrics' events within its window `[startedAt, endedAt)`.
/// Every metric of the iteration is in the one query, so asking for each
/// metric reads the logs once. A stopped iteration's window is closed, so
/// its results no longer change. `None` before the iteration starts.
pub(crate) fn log_inputs(
    results: &LogResults,
    namespace: &Namespace,
    revision: u64,
    record: &ExperimentRecord,
    iteration: &IterationRecord,
) -> Option<Arc<LogInputs>> {
    let instant = |ms: i64| jiff::Timestamp::from_millisecond(ms).ok();
    let window = Window {
        start: Some(instant(iteration.started_at?)?),
        end: iteration.ended_at.and_then(instant),
    };
    let metrics = iteration.metrics.iter().map(|m| m.key.clone()).collect();
    let mut query = LogQuery::new(format!("flags/{}", record.flag_key), metrics, window);
    query.rule = Some(format!("abtests/{}", record.key));
    match results.inputs(namespace, revision, &query) {
        Ok(inputs) => Some(inputs),
        Err(e) => {
            tracing::warn!(error = %e, experiment = %record.key, "log-based results");
            None
        }
    }
}

/// Sufficient statistics of one metric from the namespace's logs
/// ([`log_inputs`]) and when it was last seen. `None` before the metric is
/// seen or while fewer than two variants were exposed.
fn from_logs(
    results: &LogResults,
    namespace: &Namespace,
    revision: u64,
    record: &ExperimentRecord,
    iteration: &IterationRecord,
    metric: &str,
) -> Option<(AnalysisRequest, i64)> {
    let inputs = log_inputs(results, namespace, revision, record, iteration)?;
    let seen = inputs.last_event.get(metric)?.as_millisecond();
    Some((inputs.request.clone()?, seen))
}

/// The Bayesian request for one metric of an iteration: the metric, the
/// treatments' variants in treatment order (a treatment without data is
/// left out) and the baseline as control. `None` when no data names the
/// metric, the baseline has no data, or fewer than two treatments have data.
fn bayesian_request<'i>(
    iteration: &'i IterationRecord,
    request: AnalysisRequest,
    metric_key: &str,
) -> Option<(AnalysisRequest, Vec<&'i TreatmentRecord>)> {
    bayesian_request_of(iteration, request, &[metric_key])
}

/// [`bayesian_request`] for several metrics (those the data names, in the
/// data's order).
pub(crate) fn bayesian_request_of<'i>(
    iteration: &'i IterationRecord,
    mut request: AnalysisRequest,
    metric_keys: &[&str],
) -> Option<(AnalysisRequest, Vec<&'i TreatmentRecord>)> {
    let wanted =
        |id: &str| metric_keys.iter().any(|k| *k == id || id.strip_prefix("metrics/") == Some(*k));
    request.metrics.retain(|m| wanted(&m.id));
    if request.metrics.is_empty() {
        return None;
    }
    let names: Vec<String> = request.variants.iter().map(|v| v.name.clone()).collect();
    let mut variants = Vec::new();
    let mut treatments = Vec::new();
    for t in arms(iteration) {
        let Some(label) = label_of(&t.variant, names.iter().map(String::as_str)) else { continue };
        if let Some(v) = request.variants.iter().find(|v| v.name == label) {
            let mut v = v.clone();
            v.expected_share = t.allocation_percent.trim().parse().unwrap_or(v.expected_share);
            variants.push(v);
            treatments.push(t);
        }
    }
    let baseline = iteration.baseline()?;
    request.control = label_of(&baseline.variant, names.iter().map(String::as_str))?.to_owned();
    if variants.len() < 2 {
        return None;
    }
    request.variants = variants;
    request.method = StatsMethod::Bayesian;
    Some((request, treatments))
}

/// The Bayesian analysis of one metric of an iteration, rendered as
/// LaunchDarkly's `treatmentResults` in treatment order (a treatment
/// without data has 0 units and no estimates); empty without data.
fn treatment_results(
    iteration: &IterationRecord,
    request: AnalysisRequest,
    metric_key: &str,
) -> Result<Vec<Value>, LdError> {
    let Some((request, treatments)) = bayesian_request(iteration, request, metric_key) else {
        return Ok(Vec::new());
    };
    let result = analyze(&request).map_err(|e| LdError::invalid(format!("statistics: {e}")))?;
    let Some(metric) = result.results.first() else {
        return Ok(Vec::new());
    };
    let id_of = |variant: &str| {
        request
            .variants
            .iter()
            .position(|v| v.name == variant)
            .and_then(|i| treatments.get(i))
            .map_or_else(|| variant.to_owned(), |t| t.id.clone())
    };
    let rendered = arms(iteration)
        .map(|t| {
            let found = treatments.iter().position(|x| x.id == t.id);
            let Some(r) = found.and_then(|i| metric.treatment_results.get(i)) else {
                return json!({
                    "treatmentId": t.id, "treatmentName": t.name, "mean": null,
                    "credibleInterval": null, "pBest": null, "relativeDifferences": [], "units": 0,
                });
            };
            json!({
                "treatmentId": t.id,
                "treatmentName": t.name,
                "mean": r.mean,
                "credibleInterval": r.credible_interval.map(|c| json!({"upper": c.upper, "lower": c.lower})),
                "pBest": r.p_best,
                "relativeDifferences": r.relative_differences.iter().map(|d| json!({
                    "fromTreatmentId": id_of(&d.from_treatment_id),
                    "lower": d.lower,
                    "upper": d.upper,
                })).collect::<Vec<_>>(),
                "units": r.units,
            })
        })
        .collect();
    Ok(rendered)
}

/// The iteration results are for: `iterationId`, else the current one.
pub(crate) fn chosen<'a>(
    record: &'a ExperimentRecord,
    query: &HashMap<String, String>,
) -> Result<&'a IterationRecord, LdError> {
    match query.get("iterationId") {
        Some(id) => record.iterations.iter().find(|i| i.id == *id).ok_or_else(|| {
            LdError::not_found(format!(
                "iterationId: experiment {:?} has no iteration {id:?}",
                record.key
            ))
        }),
        None => record.current().ok_or_else(|| {
            LdError::not_found(format!("experiment {:?} has no iteration", record.key))
        }),
    }
}

/// `GET …/experiments/{key}/metrics/{metricKey}/results[?iterationId=]`.
pub(crate) async fn get_results(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment, key, metric_key)): Path<(String, String, String, String)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    uri: Uri,
) -> Answer {
    let query = super::experiments::query(query)?;
    if let Some(k) = query.keys().find(|k| k.as_str() != "iterationId") {
        return Err(LdError::invalid(format!(
            "{k}: unknown query parameter; expected iterationId"
        )));
    }
    let name = namespace_name(&project, &environment)?;
    let ns = namespace(&app, &principal, Scope::Read, &name)?;
    let published = ns.published();
    let (_, record) = load(&published, &key)?;
    let iteration = chosen(&record, &query)?;
    if !iteration.metrics.iter().any(|m| m.key == metric_key) {
        return Err(LdError::not_found(format!(
            "metric {metric_key:?} is not a metric of iteration {} of experiment {key:?}",
            iteration.id
        )));
    }
    let iteration = iteration.clone();
    // Reading the logs and the analysis block: off the async threads.
    let (results, seen) = tokio::task::spawn_blocking(move || {
        match statistics(&app.results, &ns, &published, &record, &iteration, &metric_key) {
            Some((request, seen)) => {
                let results = treatment_results(&iteration, request, &metric_key)?;
                let seen = (!results.is_empty()).then_some(seen);
                Ok::<_, LdError>((results, seen))
            }
            None => Ok((Vec::new(), None)),
        }
    })
    .await
    .map_err(LdError::internal)??;
    let metric_seen = match seen {
        Some(timestamp) => json!({"ever": true, "timestamp": timestamp}),
        None => json!({"ever": false}),
    };
    let links = json!({"self": {"href": uri.to_string(), "type": "application/json"}});
    let body = json!({"_links": links, "treatmentResults": results, "metricSeen": metric_seen});
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn treatment(id: &str, baseline: bool) -> TreatmentRecord {
        TreatmentRecord {
            id: id.into(),
            name: id.into(),
            baseline,
            allocation_percent: "30".into(),
            parameters: vec![],
            variant: format!("flags/f/variants/{id}"),
        }
    }

    fn request(variants: &[&str]) -> AnalysisRequest {
        let data: serde_json::Map<String, Value> = variants
            .iter()
            .map(|v| ((*v).to_owned(), json!({"n": 100, "successes": 10})))
            .collect();
        serde_json::from_value(json!({
            "control": variants[0],
            "variants": variants.iter().map(|v| json!({"name": v, "expectedShare": 1})).collect::<Vec<_>>(),
            "metrics": [{"id": "m", "type": "binary", "data": data}]
        }))
        .unwrap()
    }

    #[test]
    fn treatments_without_data_are_left_out() {
        let iteration: IterationRecord = serde_json::from_value(json!({
            "_id": "i", "hypothesis": "", "status": "running", "createdAt": 0,
            "canReshuffleTraffic": true, "metrics": [{"key": "m", "primary": true}],
            "treatments": [], "flags": {}
        }))
        .unwrap();
        let iteration = IterationRecord {
            treatments: vec![treatment("a", true), treatment("b", false), treatment("c", false)],
            ..iteration
        };
        let (req, arms) = bayesian_request(&iteration, request(&["a", "c"]), "m").unwrap();
        assert_eq!(req.control, "a");
        assert_eq!(arms.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        let rendered = treatment_results(&iteration, request(&["a", "c"]), "m").unwrap();
        assert_eq!(rendered.len(), 3);
        assert_eq!(rendered[1]["units"], 0);
        assert_eq!(rendered[1]["pBest"], Value::Null);
        assert_eq!(rendered[2]["units"], 100);
        // Without the baseline's data, or with one arm, there is nothing to compare.
        assert!(bayesian_request(&iteration, request(&["b", "c"]), "m").is_none());
        assert!(bayesian_request(&iteration, request(&["a"]), "m").is_none());
        assert!(bayesian_request(&iteration, request(&["a", "b"]), "other").is_none());
    }

    #[test]
    fn labels_match_ids_or_full_names() {
        let names = ["control", "flags/f/variants/b"];
        assert_eq!(label_of("flags/f/variants/control", names), Some("control"));
        assert_eq!(label_of("flags/f/variants/b", names), Some("flags/f/variants/b"));
        assert_eq!(label_of("flags/f/variants/c", names), None);
    }
}
