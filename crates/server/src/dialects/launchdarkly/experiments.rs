//! The experiment routes: list, create, get, semantic patch, new iteration.

use super::errors::LdError;
use super::rep::{self, Expand, collection_path};
use super::translate::{abtest_document, iteration, state_of};
use super::wire::{
    EXPERIMENTS, ExperimentPost, ExperimentRecord, IterationInput, SemanticPatch, Status,
    from_body, hex_id, now_ms,
};
use crate::auth::{Principal, Scope};
use crate::dialects::native::run_write;
use crate::http::{AppState, body_bytes};
use crate::json;
use crate::names::{Kind, NamespaceName};
use crate::namespace::{Namespace, Published};
use crate::store::StoredRecord;
use crate::write::{Actor, Change, Precondition};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use flagstone_model::names::is_valid_id;
use flagstone_model::workflow::{Transition, WorkflowState};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) type Answer = Result<Response, LdError>;

/// The most experiments one list request returns.
pub const MAX_LIMIT: usize = 200;
/// Experiments per page when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 20;

pub(crate) fn namespace_name(project: &str, environment: &str) -> Result<NamespaceName, LdError> {
    NamespaceName::new(project, environment).map_err(|e| LdError::invalid(e.to_string()))
}

/// The namespace, once the caller may act on it with `scope`.
pub(crate) fn namespace(
    app: &AppState,
    principal: &Principal,
    scope: Scope,
    name: &NamespaceName,
) -> Result<Arc<Namespace>, LdError> {
    principal.require(scope, name).map_err(|d| LdError::denied(&d))?;
    app.namespaces
        .get(name)
        .ok_or_else(|| LdError::not_found(format!("project and environment {name} do not exist")))
}

pub(crate) fn actor(principal: &Principal, method: &Method, uri: &Uri) -> Actor {
    Actor { id: principal.id.to_string(), method: method.to_string(), path: uri.path().to_owned() }
}

pub(crate) fn parse_body(body: Result<Bytes, BytesRejection>) -> Result<Value, LdError> {
    let bytes = body_bytes(body).map_err(|(status, message)| {
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request_too_large"
        } else {
            "invalid_request"
        };
        LdError::new(status, code, message)
    })?;
    json::parse(&bytes, json::MAX_BODY_DEPTH)
        .map_err(|e| LdError::invalid(format!("body is not valid JSON: {e}")))
}

/// The stored experiment `key` and its record.
pub(crate) fn load(
    published: &Published,
    key: &str,
) -> Result<(Arc<StoredRecord>, ExperimentRecord), LdError> {
    let stored = published
        .record(EXPERIMENTS, key)
        .ok_or_else(|| LdError::not_found(format!("experiment {key:?} does not exist")))?;
    let record: ExperimentRecord = serde_json::from_value(stored.document.clone())
        .map_err(|e| LdError::internal(format!("stored experiment {key}: {e}")))?;
    Ok((stored.clone(), record))
}

/// Writes the record, and with `resource` the A/B test it runs as, in one batch.
pub(crate) async fn save(
    app: &AppState,
    name: NamespaceName,
    published: &Published,
    record: &ExperimentRecord,
    precondition: Precondition,
    resource: bool,
    actor: Actor,
) -> Result<(), LdError> {
    let document = serde_json::to_value(record).map_err(LdError::internal)?;
    let mut changes = Vec::with_capacity(2);
    if resource {
        let existing = published.resource(Kind::AbTests, &record.key).map(|r| &r.document);
        // A create must not take over an A/B test written meanwhile through another API.
        let test_precondition = match precondition {
            Precondition::IfNoneMatchAny => Precondition::IfNoneMatchAny,
            _ => Precondition::None,
        };
        changes.push(Change::PutResource {
            kind: Kind::AbTests,
            id: record.key.clone(),
            document: abtest_document(record, existing),
            precondition: test_precondition,
        });
    }
    changes.push(Change::PutRecord {
        collection: EXPERIMENTS.to_owned(),
        id: record.key.clone(),
        document,
        precondition,
    });
    run_write(app, name, Change::Batch(changes), actor).await?;
    Ok(())
}

/// The query parameters, or 400 in LaunchDarkly's shape.
pub(crate) fn query(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, LdError> {
    query.map(|Query(q)| q).map_err(|e| LdError::invalid(format!("query: {}", e.body_text())))
}

fn query_keys(query: &HashMap<String, String>, known: &[&str]) -> Result<(), LdError> {
    match query.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(LdError::invalid(format!(
            "{k}: unknown query parameter; expected one of {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

fn number(query: &HashMap<String, String>, key: &str) -> Result<Option<usize>, LdError> {
    query
        .get(key)
        .map(|v| {
            v.parse::<usize>().map_err(|_| {
                LdError::invalid(format!("{key}: expected a non-negative integer, got {v:?}"))
            })
        })
        .transpose()
}

/// `filter=flagKey:…,metricKey:…,status:…` as a predicate (every term must hold).
fn filter(text: Option<&str>) -> Result<impl Fn(&ExperimentRecord) -> bool, LdError> {
    let mut terms: Vec<(String, String)> = Vec::new();
    for term in text.unwrap_or_default().split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let Some((field, value)) = term.split_once(':') else {
            return Err(LdError::invalid(format!(
                "filter: {term:?} is not field:value; expected flagKey:…, metricKey:… or status:…"
            )));
        };
        match field {
            "flagKey" | "metricKey" => {}
            "status" if Status::parse(value).is_some() => {}
            "status" => {
                return Err(LdError::invalid(format!(
                    "filter: status {value:?}; expected not_started, running or stopped"
                )));
            }
            other => {
                return Err(LdError::invalid(format!(
                    "filter: unknown field {other:?}; expected flagKey, metricKey or status"
                )));
            }
        }
        terms.push((field.to_owned(), value.to_owned()));
    }
    Ok(move |record: &ExperimentRecord| {
        terms.iter().all(|(field, value)| match field.as_str() {
            "flagKey" => record.flag_key == *value,
            "metricKey" => {
                record.current().is_some_and(|i| i.metrics.iter().any(|m| m.key == *value))
            }
            _ => Status::parse(value) == Some(rep::status_of(record)),
        })
    })
}

pub(crate) async fn list_experiments(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment)): Path<(String, String)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    let query = super::experiments::query(query)?;
    query_keys(&query, &["filter", "expand", "limit", "offset"])?;
    let name = namespace_name(&project, &environment)?;
    let published = namespace(&app, &principal, Scope::Read, &name)?.published();
    let expand = Expand::parse(query.get("expand").map(String::as_str))?;
    let keep = filter(query.get("filter").map(String::as_str))?;
    let limit = number(&query, "limit")?.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = number(&query, "offset")?.unwrap_or(0);
    let mut matching = Vec::new();
    for stored in published.records(EXPERIMENTS) {
        let record: ExperimentRecord = serde_json::from_value(stored.document.clone())
            .map_err(|e| LdError::internal(format!("stored experiment {}: {e}", stored.id)))?;
        if keep(&record) {
            matching.push(record);
        }
    }
    let total = matching.len();
    let items: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| rep::experiment(&project, &environment, r, expand))
        .collect();
    let base = collection_path(&project, &environment);
    let page = |at: usize| {
        let mut params = vec![format!("limit={limit}"), format!("offset={at}")];
        for key in ["filter", "expand"] {
            if let Some(v) = query.get(key) {
                params.push(format!("{key}={v}"));
            }
        }
        json!({"href": format!("{base}?{}", params.join("&")), "type": "application/json"})
    };
    let mut links = Map::new();
    links.insert("self".into(), page(offset));
    links.insert("first".into(), page(0));
    links.insert("last".into(), page(total.saturating_sub(1) / limit * limit));
    if offset + limit < total {
        links.insert("next".into(), page(offset + limit));
    }
    if offset > 0 {
        links.insert("prev".into(), page(offset.saturating_sub(limit)));
    }
    Ok(Json(json!({"items": items, "total_count": total, "_links": links})).into_response())
}

pub(crate) async fn create_experiment(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = namespace_name(&project, &environment)?;
    let published = namespace(&app, &principal, Scope::Write, &name)?.published();
    let post: ExperimentPost = from_body(parse_body(body)?)?;
    if !is_valid_key(&post.key) {
        return Err(LdError::invalid(format!(
            "key: {:?} is not an experiment key; expected letters, digits, '.', '_' or '-'",
            post.key
        )));
    }
    if post.name.trim().is_empty() {
        return Err(LdError::invalid("name: expected a non-empty name"));
    }
    if published.record(EXPERIMENTS, &post.key).is_some() {
        return Err(LdError::conflict(format!("experiment {:?} already exists", post.key)));
    }
    if published.resource(Kind::AbTests, &post.key).is_some() {
        return Err(LdError::conflict(format!(
            "A/B test abtests/{} already exists; choose another experiment key",
            post.key
        )));
    }
    let (flag_key, first) = iteration(post.iteration, &published, &name.to_string(), "iteration")?;
    let record = ExperimentRecord {
        id: hex_id(12),
        key: post.key,
        name: post.name,
        description: post.description,
        maintainer_id: post.maintainer_id,
        creation_date: now_ms(),
        flag_key,
        iterations: vec![first],
        last_comment: None,
    };
    let who = actor(&principal, &method, &uri);
    save(&app, name, &published, &record, Precondition::IfNoneMatchAny, true, who).await?;
    let body = rep::experiment(&project, &environment, &record, Expand::ALL);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// LaunchDarkly keys: letters, digits, `.`, `_`, `-` (so also a valid resource id).
fn is_valid_key(key: &str) -> bool {
    is_valid_id(key)
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub(crate) async fn get_experiment(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment, key)): Path<(String, String, String)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    let query = super::experiments::query(query)?;
    query_keys(&query, &["expand"])?;
    let expand = Expand::parse(query.get("expand").map(String::as_str))?;
    let name = namespace_name(&project, &environment)?;
    let published = namespace(&app, &principal, Scope::Read, &name)?.published();
    let (_, record) = load(&published, &key)?;
    Ok(Json(rep::experiment(&project, &environment, &record, expand)).into_response())
}

/// Whether `Content-Type` names the semantic patch domain model.
fn is_semantic_patch(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    media.eq_ignore_ascii_case("application/json")
        && parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("domain-model")
                    && v.trim().trim_matches('"') == "launchdarkly.semanticpatch"
            })
        })
}

/// One instruction's fields, with unknown ones refused.
fn fields<'a>(
    at: &str,
    instruction: &'a Map<String, Value>,
    known: &[&str],
) -> Result<&'a Map<String, Value>, LdError> {
    if let Some(k) = instruction.keys().find(|k| *k != "kind" && !known.contains(&k.as_str())) {
        return Err(LdError::invalid(format!(
            "{at}.{k}: unknown parameter; expected {}",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        )));
    }
    Ok(instruction)
}

fn text<'a>(
    at: &str,
    fields: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, LdError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(LdError::invalid(format!("{at}.{key}: expected a string, got {other}"))),
    }
}

/// Applies the instructions in order to a copy of the record. Returns
/// whether the A/B test changes too.
fn apply(record: &mut ExperimentRecord, patch: &SemanticPatch) -> Result<bool, LdError> {
    if patch.instructions.is_empty() {
        return Err(LdError::invalid("instructions: expected at least one instruction"));
    }
    let mut resource = false;
    for (i, instruction) in patch.instructions.iter().enumerate() {
        let at = format!("instructions[{i}]");
        let kind = instruction.get("kind").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "updateName" => {
                let f = fields(&at, instruction, &["value"])?;
                let value =
                    text(&at, f, "value")?.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                        LdError::invalid(format!("{at}.value: expected the new name"))
                    })?;
                record.name = value.to_owned();
                resource = true;
            }
            "updateDescription" => {
                let f = fields(&at, instruction, &["value"])?;
                let value = text(&at, f, "value")?.ok_or_else(|| {
                    LdError::invalid(format!("{at}.value: expected the new description"))
                })?;
                record.description = Some(value.to_owned());
            }
            "startIteration" => {
                let f = fields(&at, instruction, &["changeJustification"])?;
                let justification = text(&at, f, "changeJustification")?;
                start(record, justification, &at)?;
                resource = true;
            }
            "stopIteration" => {
                let f = fields(&at, instruction, &["winningTreatmentId", "winningReason"])?;
                let winner = text(&at, f, "winningTreatmentId")?;
                let reason = text(&at, f, "winningReason")?;
                stop(record, winner, reason, &at)?;
                resource = true;
            }
            "" => return Err(LdError::invalid(format!("{at}.kind: expected a string"))),
            other => {
                return Err(LdError::invalid(format!(
                    "{at}.kind: unknown kind {other:?}; expected updateName, updateDescription, startIteration or stopIteration"
                )));
            }
        }
    }
    Ok(resource)
}

/// Starts the iteration not started yet; a running one is stopped first,
/// which LaunchDarkly allows only with a `changeJustification`.
fn start(
    record: &mut ExperimentRecord,
    justification: Option<&str>,
    at: &str,
) -> Result<(), LdError> {
    let target =
        record.iterations.iter().position(|i| i.status == Status::NotStarted).ok_or_else(|| {
            LdError::invalid(format!(
                "{at}: no iteration to start; create one with POST …/experiments/{}/iterations",
                record.key
            ))
        })?;
    let now = now_ms();
    if state_of(record) == WorkflowState::Live {
        if justification.is_none_or(|j| j.trim().is_empty()) {
            return Err(LdError::invalid(format!(
                "{at}.changeJustification: required to start an iteration while one is running"
            )));
        }
        stop(record, None, None, at)?;
    }
    // Each iteration is a new run of the A/B test: it starts from DRAFT.
    WorkflowState::Draft
        .after(Transition::Launch)
        .map_err(|e| LdError::invalid(format!("{at}: {e}")))?;
    let iteration = record
        .iterations
        .get_mut(target)
        .ok_or_else(|| LdError::internal("iteration index out of range"))?;
    iteration.status = Status::Running;
    iteration.started_at = Some(now);
    iteration.change_justification = justification.map(str::to_owned);
    Ok(())
}

fn stop(
    record: &mut ExperimentRecord,
    winner: Option<&str>,
    reason: Option<&str>,
    at: &str,
) -> Result<(), LdError> {
    state_of(record)
        .after(Transition::End)
        .map_err(|e| LdError::invalid(format!("{at}: no running iteration to stop ({e})")))?;
    let idx = record
        .current_idx()
        .ok_or_else(|| LdError::invalid(format!("{at}: no running iteration to stop")))?;
    let current = record
        .iterations
        .get_mut(idx)
        .ok_or_else(|| LdError::internal("iteration index out of range"))?;
    if let Some(id) = winner
        && !current.treatments.iter().any(|t| t.id == id)
    {
        let ids: Vec<&str> = current.treatments.iter().map(|t| t.id.as_str()).collect();
        return Err(LdError::invalid(format!(
            "{at}.winningTreatmentId: {id:?} is not a treatment of the running iteration; its treatments are {ids:?}"
        )));
    }
    current.status = Status::Stopped;
    current.ended_at = Some(now_ms());
    current.winning_treatment_id = winner.map(str::to_owned);
    current.winning_reason = reason.map(str::to_owned);
    Ok(())
}

#[allow(clippy::too_many_arguments, reason = "one extractor per part of the request")]
pub(crate) async fn patch_experiment(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment, key)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = namespace_name(&project, &environment)?;
    let published = namespace(&app, &principal, Scope::Write, &name)?.published();
    if !is_semantic_patch(&headers) {
        return Err(LdError::invalid(
            "Content-Type: experiments are updated by semantic patch; expected application/json; domain-model=launchdarkly.semanticpatch",
        ));
    }
    let (stored, mut record) = load(&published, &key)?;
    let patch: SemanticPatch = from_body(parse_body(body)?)?;
    let resource = apply(&mut record, &patch)?;
    record.last_comment = patch.comment.clone();
    let precondition = Precondition::IfMatch(vec![stored.etag.clone()]);
    let who = actor(&principal, &method, &uri);
    save(&app, name, &published, &record, precondition, resource, who).await?;
    Ok(Json(rep::experiment(&project, &environment, &record, Expand::ALL)).into_response())
}

pub(crate) async fn create_iteration(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment, key)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = namespace_name(&project, &environment)?;
    let published = namespace(&app, &principal, Scope::Write, &name)?.published();
    let (stored, mut record) = load(&published, &key)?;
    let input: IterationInput = from_body(parse_body(body)?)?;
    let (flag_key, new) = iteration(input, &published, &name.to_string(), "body")?;
    if flag_key != record.flag_key {
        return Err(LdError::invalid(format!(
            "treatments: experiment {key:?} runs on flag {:?}, not {flag_key:?}",
            record.flag_key
        )));
    }
    let shown = rep::iteration(&project, &new, Expand::ALL);
    let never_started = record.iterations.iter().all(|i| i.status == Status::NotStarted);
    record.add_iteration(new);
    let precondition = Precondition::IfMatch(vec![stored.etag.clone()]);
    let who = actor(&principal, &method, &uri);
    // Before any start the new iteration is the current one, so the A/B test follows it.
    save(&app, name, &published, &record, precondition, never_started, who).await?;
    Ok((StatusCode::CREATED, Json(shown)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn semantic_patch_content_type() {
        let mut headers = HeaderMap::new();
        assert!(!is_semantic_patch(&headers));
        for (value, ok) in [
            ("application/json; domain-model=launchdarkly.semanticpatch", true),
            ("application/json;domain-model=\"launchdarkly.semanticpatch\"", true),
            ("application/json", false),
            ("application/json-patch+json", false),
            ("text/plain; domain-model=launchdarkly.semanticpatch", false),
        ] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_semantic_patch(&headers), ok, "{value}");
        }
    }

    #[test]
    fn keys() {
        assert!(is_valid_key("example-experiment"));
        assert!(is_valid_key("a.b_c-1"));
        assert!(!is_valid_key("a/b"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key("a b"));
    }

    #[test]
    fn filters() {
        assert!(filter(Some("flagKey:my-flag,status:running,metricKey:page-load-ms")).is_ok());
        assert!(filter(Some("status:paused")).is_err());
        assert!(filter(Some("owner:me")).is_err());
        assert!(filter(Some("flagKey")).is_err());
    }
}
