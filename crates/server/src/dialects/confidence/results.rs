//! Analysis inputs and results.
//!
//! `PUT …/instances/{id}/analysisInputs` stores sufficient statistics (an
//! `AnalysisRequest`, what `flagstone aggregate` prints) as the record
//! `confidence.analysis-inputs/{workflow}-{id}`. `GET
//! /v2/{instance}/analysisResults/{id}` builds the analysis request from
//! those inputs (or, without any, from the server's own exposure and event
//! logs), overrides it with the instance's settings, runs
//! `flagstone_stats::analysis::analyze` and renders its result in
//! Confidence's shape. The dialect computes no statistics itself.
//!
//! The instance's settings win over the inputs': `stats.alpha`,
//! `stats.power`, and per metric of `metrics.metrics` (matched to an input
//! metric by id, with or without the `metrics/` prefix) its
//! `metricRole.metricKind`, `minimumDetectableEffect`,
//! `nonInferiorityMargin` and `preferredDirection`. An A/B test's baseline
//! treatment is the control when the inputs hold its variant.

use super::error::{Answer, GoogleError};
use super::handlers::{Call, parse_object};
use super::instance::{Instance, Workflow};
use crate::auth::{Principal, Scope};
use crate::http::AppState;
use crate::write::{Change, Precondition};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use flagstone_stats::analysis::{AnalysisRequest, Direction, MetricKind, analyze};
use serde_json::{Map, Value, json};

/// The record collection of uploaded inputs.
pub(super) const INPUTS: &str = "confidence.analysis-inputs";

pub(super) fn inputs_id(workflow: Workflow, id: &str) -> String {
    format!("{}-{id}", workflow.key())
}

fn short(name: &str) -> &str {
    name.strip_prefix("metrics/").unwrap_or(name)
}

fn variant_short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

pub(super) async fn put_inputs(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((workflow, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let call = Call::new(app, principal, &headers, &workflow, Scope::Write)?;
    call.record(&id)?;
    let body = Value::Object(parse_object(body)?);
    // Checked for shape here; the numbers are checked by `analyze` when read.
    serde_json::from_value::<AnalysisRequest>(body.clone()).map_err(|e| {
        GoogleError::field(
            "",
            format!("expected the output of flagstone aggregate (an analysis request): {e}"),
        )
    })?;
    let change = Change::PutRecord {
        collection: INPUTS.to_owned(),
        id: inputs_id(call.workflow, &id),
        document: body.clone(),
        precondition: Precondition::None,
    };
    call.commit(&id, change, call.actor(&method, &uri)).await?;
    Ok(Json(body).into_response())
}

pub(super) async fn get_inputs(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((workflow, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let call = Call::new(app, principal, &headers, &workflow, Scope::Read)?;
    call.record(&id)?;
    let published = call.published().ok_or_else(|| GoogleError::not_found("no inputs"))?;
    let record = published.record(INPUTS, &inputs_id(call.workflow, &id)).ok_or_else(|| {
        GoogleError::not_found(format!("{}/analysisInputs: none uploaded", call.workflow.name(&id)))
    })?;
    Ok(Json(record.document.clone()).into_response())
}

/// The suffix of the analysis result's report page (an AIP-136 custom
/// method that only reads, hence `GET`).
const REPORT: &str = ":report";
/// The result is JSON or the page by the `Accept` header: caches must know.
const VARY_ACCEPT: [(axum::http::HeaderName, &str); 1] = [(axum::http::header::VARY, "accept")];

pub(super) async fn get_result(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((workflow, id, result)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Answer {
    let (result, page) = match result.strip_suffix(REPORT) {
        Some(result) => (result.to_owned(), true),
        None => (result, crate::report::wants_html(&headers)),
    };
    let call = Call::new(app, principal, &headers, &workflow, Scope::Read)?;
    let record = call.record(&id)?;
    let instance = Instance::from_record(&record);
    let name = format!("{}/analysisResults/{result}", call.workflow.name(&id));
    let own = instance.fields.get("stats").and_then(|s| s.get("analysisResult"));
    if own.and_then(Value::as_str) != Some(name.as_str()) {
        return Err(GoogleError::not_found(format!("{name} does not exist")));
    }
    let uploaded = call
        .published()
        .and_then(|p| p.record(INPUTS, &inputs_id(call.workflow, &id)).map(|r| r.document.clone()));
    let (request, source) = match uploaded {
        Some(document) => {
            let request = serde_json::from_value::<AnalysisRequest>(document)
                .map_err(|e| GoogleError::field("analysisInputs", e.to_string()))?;
            (Some(request), "uploaded analysis inputs")
        }
        None => {
            (super::logs::inputs(&call, &instance).await?, "the server's exposure and event logs")
        }
    };
    let Some(request) = request else {
        let why = "no exposures of this instance's flag in the server's logs and no analysis inputs uploaded (PUT .../analysisInputs)";
        if page {
            let (title, subtitle) = report_titles(&instance, call.workflow, &name, None);
            return Ok(crate::report::no_data(&title, &subtitle, why));
        }
        let body = json!({
            "name": name,
            "exposureFilter": "",
            "annotations": [{"context": "OVERALL", "info": [format!("no data yet: {why}")]}],
            "results": [],
        });
        return Ok((VARY_ACCEPT, Json(body)).into_response());
    };
    let (request, mut info) = configure(request, &instance, call.workflow);
    let mut analysis = analyze(&request).map_err(|e| {
        GoogleError::failed_precondition(
            &name,
            "ANALYSIS_INPUTS",
            format!("the analysis inputs cannot be analysed: {e}"),
        )
    })?;
    if page {
        // What configure left out is a note on the page too.
        analysis.annotations.splice(0..0, info);
        let (title, subtitle) = report_titles(&instance, call.workflow, &name, Some(source));
        return Ok(crate::report::page(&request, &analysis, title, subtitle));
    }
    info.insert(0, format!("Analysis completed successfully from {source}"));
    info.extend(analysis.annotations.iter().cloned());
    let results = serde_json::to_value(&analysis.results).map_err(GoogleError::internal)?;
    let srm = serde_json::to_value(&analysis.srm).map_err(GoogleError::internal)?;
    let body = json!({
        "name": name,
        "exposureFilter": "",
        "annotations": [{"context": "OVERALL", "info": info}],
        "results": results,
        "srm": srm,
        "control": request.control,
    });
    Ok((VARY_ACCEPT, Json(body)).into_response())
}

/// The report page's title (the instance's display name, else its name)
/// and subtitle (what it is, its flag, the result's name and the source).
pub(super) fn report_titles(
    instance: &Instance,
    workflow: Workflow,
    result: &str,
    source: Option<&str>,
) -> (String, String) {
    let kind = match workflow {
        Workflow::Rollout => "Rollout",
        Workflow::AbTest => "A/B test",
    };
    let instance_name = workflow.name(&instance.id);
    let shown = instance
        .fields
        .get("displayName")
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .unwrap_or(&instance_name);
    let flag = super::mask::get(
        &Value::Object(instance.fields.clone()),
        &format!("{}.flag", workflow.key()),
    )
    .and_then(Value::as_str)
    .map(|f| format!(" of {f}"))
    .unwrap_or_default();
    let from = source.map(|s| format!(", from {s}")).unwrap_or_default();
    (format!("{kind}: {shown}"), format!("{kind} {instance_name}{flag} · {result}{from}"))
}

fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The request with the instance's settings applied, and notes on what was left out.
fn configure(
    mut request: AnalysisRequest,
    instance: &Instance,
    workflow: Workflow,
) -> (AnalysisRequest, Vec<String>) {
    let mut info = Vec::new();
    let fields = Value::Object(instance.fields.clone());
    if let Some(alpha) = number(super::mask::get(&fields, "stats.alpha")) {
        request.alpha = alpha;
    }
    if let Some(power) = number(super::mask::get(&fields, "stats.power")) {
        request.power = power;
    }
    if workflow == Workflow::AbTest {
        let baseline = super::mask::get(&fields, "abtest.treatments")
            .and_then(Value::as_array)
            .and_then(|ts| {
                ts.iter()
                    .find(|t| t.get("baseline") == Some(&Value::Bool(true)))
                    .or_else(|| ts.first())
            })
            .and_then(|t| t.get("variant"))
            .and_then(Value::as_str)
            .map(variant_short);
        if let Some(control) = baseline.filter(|c| request.variants.iter().any(|v| v.name == *c)) {
            request.control = control.to_owned();
        }
    }
    let configured: Vec<&Map<String, Value>> = super::mask::get(&fields, "metrics.metrics")
        .and_then(Value::as_array)
        .map(|ms| ms.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    if configured.is_empty() {
        return (request, info);
    }
    let mut inputs = std::mem::take(&mut request.metrics);
    for m in configured {
        let Some(id) = m.get("metric").and_then(Value::as_str) else { continue };
        let Some(at) = inputs.iter().position(|i| short(&i.id) == short(id)) else {
            info.push(format!("{id}: no sufficient statistics in the inputs; left out"));
            continue;
        };
        let mut spec = inputs.swap_remove(at);
        spec.id = id.to_owned();
        let role = m.get("metricRole");
        match role.and_then(|r| r.get("metricKind")).and_then(Value::as_str) {
            Some("GUARDRAIL") => spec.kind = MetricKind::Guardrail,
            Some("SUCCESS") => spec.kind = MetricKind::Success,
            _ => {}
        }
        match m.get("preferredDirection").and_then(Value::as_str) {
            Some("DECREASE") => spec.preferred_direction = Direction::Decrease,
            Some("INCREASE") => spec.preferred_direction = Direction::Increase,
            _ => {}
        }
        if let Some(mde) = number(role.and_then(|r| r.get("minimumDetectableEffect"))) {
            spec.minimum_detectable_effect = Some(mde);
        }
        if let Some(margin) = number(role.and_then(|r| r.get("nonInferiorityMargin"))) {
            spec.non_inferiority_margin = Some(margin);
        }
        request.metrics.push(spec);
    }
    (request, info)
}
