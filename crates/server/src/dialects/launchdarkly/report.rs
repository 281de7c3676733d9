//! `GET …/experiments/{key}/report[?iterationId=]` (a Flagstone addition):
//! an iteration's results as the page `flagstone analyze --format html`
//! writes.
//!
//! The page analyses what the results endpoint analyses, every metric at
//! once: the iteration's uploaded statistics, else the server's logs within
//! the iteration's window (metrics seen there), with the Bayesian method,
//! the treatments that have data in treatment order with their allocation
//! as expected share, and the baseline as control. Variants are shown by
//! their treatment's name when the names are distinct (else by variant id).

use super::errors::LdError;
use super::experiments::{Answer, load, namespace, namespace_name};
use super::results::{bayesian_request_of, chosen, log_inputs};
use super::wire::{ExperimentRecord, IterationRecord, STATISTICS, TreatmentRecord};
use crate::auth::{Principal, Scope};
use crate::http::AppState;
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use flagstone_stats::analysis::{AnalysisRequest, analyze};
use std::collections::{BTreeSet, HashMap};

/// The statistics an iteration's page analyses, which metrics, and where they came from.
fn statistics(
    app: &AppState,
    namespace: &crate::namespace::Namespace,
    published: &crate::namespace::Published,
    record: &ExperimentRecord,
    iteration: &IterationRecord,
) -> Option<(AnalysisRequest, Vec<String>, &'static str)> {
    let keys = || iteration.metrics.iter().map(|m| m.key.clone());
    if let Some(stored) = published.record(STATISTICS, &iteration.id) {
        let request = serde_json::from_value(stored.document.get("request")?.clone()).ok()?;
        return Some((request, keys().collect(), "uploaded statistics"));
    }
    let inputs = log_inputs(&app.results, namespace, published.revision, record, iteration)?;
    let seen = keys().filter(|k| inputs.last_event.contains_key(k)).collect();
    Some((inputs.request.clone()?, seen, "the server's exposure and event logs"))
}

/// Variants renamed to their treatments' names, when those are distinct and not empty.
pub(crate) fn by_treatment_name(
    mut request: AnalysisRequest,
    treatments: &[&TreatmentRecord],
) -> AnalysisRequest {
    let names: BTreeSet<&str> = treatments.iter().map(|t| t.name.as_str()).collect();
    if names.len() != treatments.len()
        || names.iter().any(|n| n.trim().is_empty())
        || treatments.len() != request.variants.len()
    {
        return request;
    }
    let renames: HashMap<String, String> = request
        .variants
        .iter()
        .zip(treatments)
        .map(|(v, t)| (v.name.clone(), t.name.clone()))
        .collect();
    let renamed = |name: &str| renames.get(name).cloned().unwrap_or_else(|| name.to_owned());
    for v in &mut request.variants {
        v.name = renamed(&v.name);
    }
    request.control = renamed(&request.control);
    for m in &mut request.metrics {
        m.data = std::mem::take(&mut m.data).into_iter().map(|(k, v)| (renamed(&k), v)).collect();
    }
    request
}

/// The page's title (the experiment's name) and subtitle.
pub(crate) fn titles(
    record: &ExperimentRecord,
    iteration: &IterationRecord,
    source: Option<&str>,
) -> (String, String) {
    let title = if record.name.trim().is_empty() { &record.key } else { &record.name };
    let from = source.map(|s| format!(", from {s}")).unwrap_or_default();
    let subtitle = format!(
        "Experiment {} · iteration {} of flags/{}{from}",
        record.key, iteration.id, record.flag_key
    );
    (format!("Experiment: {title}"), subtitle)
}

/// `GET …/experiments/{key}/report[?iterationId=]`.
pub(crate) async fn get_report(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment, key)): Path<(String, String, String)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
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
    let iteration = chosen(&record, &query)?.clone();
    // Reading the logs, the analysis and the drawing block: off the async threads.
    tokio::task::spawn_blocking(move || {
        let found = statistics(&app, &ns, &published, &record, &iteration);
        let prepared = found.and_then(|(request, metrics, source)| {
            let keys: Vec<&str> = metrics.iter().map(String::as_str).collect();
            let (request, treatments) = bayesian_request_of(&iteration, request, &keys)?;
            Some((by_treatment_name(request, &treatments), source))
        });
        let Some((request, source)) = prepared else {
            let (title, subtitle) = titles(&record, &iteration, None);
            let why = "the iteration has no uploaded statistics (PUT …/statistics) and the server's logs hold no metric events of two treatments with data in its window";
            return Ok(crate::report::no_data(&title, &subtitle, why));
        };
        let result = analyze(&request).map_err(|e| LdError::invalid(format!("statistics: {e}")))?;
        let (title, subtitle) = titles(&record, &iteration, Some(source));
        Ok(crate::report::page(&request, &result, title, subtitle))
    })
    .await
    .map_err(LdError::internal)?
}
