//! OFREP (OpenFeature Remote Evaluation Protocol 0.3.0): evaluation over HTTP.
//!
//! `POST /ofrep/v1/evaluate/flags/{key}` and `POST /ofrep/v1/evaluate/flags`
//! take `{"context": {...}}`; `targetingKey` is the `targeting_key` attribute.
//! A key `flag.path` reads a field of the variant's value. Statuses and
//! codes are decided in [`outcome`], in one place. With an assignment store
//! (`--assignments`), flags that can reach a rule with a `materializationSpec`
//! are evaluated sticky through [`crate::assignments`]; the others never wait
//! for the store.

use crate::auth::{Principal, Scope};
use crate::http::{AppState, body_bytes, none_match_hits};
use crate::json;
use crate::namespace::Namespace;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use flagstone_core::exposure::Exposure;
use flagstone_core::{AccessError, Engine, EvaluationContext, FlagId, Reason, Resolution};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The deepest context accepted.
pub const MAX_CONTEXT_DEPTH: usize = 64;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ofrep/v1/evaluate/flags/{key}", post(evaluate_one))
        .route("/ofrep/v1/evaluate/flags", post(evaluate_all))
}

/// `{"errorDetails"}`: OFREP's general error, for 401, 403, 429 and 500.
pub(crate) fn general_error(status: StatusCode, details: String) -> Response {
    (status, Json(serde_json::json!({ "errorDetails": details }))).into_response()
}

/// An evaluation failure, `{key?, errorCode, errorDetails}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Failure<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    error_code: &'static str,
    error_details: String,
}

fn failure(status: StatusCode, key: Option<&str>, code: &'static str, details: String) -> Response {
    (status, Json(Failure { key, error_code: code, error_details: details })).into_response()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'e> {
    flagstone_reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segment: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignment_id: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<u32>,
    /// A stored sticky assignment answered (no assignment id, no bucket then).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    materialized: bool,
}

/// A successful evaluation; without `value` the caller's code default applies.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Success<'e> {
    key: &'e str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'e Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'e str>,
    reason: &'static str,
    metadata: Metadata<'e>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Item<'e> {
    Success(Success<'e>),
    Failure(Failure<'e>),
}

/// What one flag evaluation answers, and with which status.
fn outcome<'e>(key: &'e str, path: &str, resolution: &Resolution<'e>) -> (StatusCode, Item<'e>) {
    let of = resolution.openfeature();
    if resolution.reason == Reason::FlagNotFound {
        let details = format!("flag {key:?} was not found");
        let item = Item::Failure(Failure {
            key: Some(key),
            error_code: "FLAG_NOT_FOUND",
            error_details: details,
        });
        return (StatusCode::NOT_FOUND, item);
    }
    if let Some(code) = of.error_code {
        let details = match resolution.reason {
            Reason::TargetingKeyError => {
                "the targeting key must be a string or an integer of at most 100 characters"
                    .to_owned()
            }
            other => format!("evaluation failed: {}", other.as_str()),
        };
        return (
            StatusCode::BAD_REQUEST,
            Item::Failure(Failure { key: Some(key), error_code: code, error_details: details }),
        );
    }
    let value = match (resolution.value, path.is_empty()) {
        (None, _) => None,
        (Some(value), true) => Some(value),
        (Some(value), false) => match field_at(value, path) {
            Ok(field) => Some(field),
            Err(e) => {
                let details = format!("{key}: {e} (at {path:?})");
                return (
                    StatusCode::BAD_REQUEST,
                    Item::Failure(Failure {
                        key: Some(key),
                        error_code: e.error_code(),
                        error_details: details,
                    }),
                );
            }
        },
    };
    let variant = resolution
        .variant
        .map(|name| flagstone_model::names::variant_id(resolution.flag, name).unwrap_or(name));
    let metadata = Metadata {
        flagstone_reason: resolution.reason.as_str(),
        rule: resolution.rule,
        segment: resolution.segment,
        assignment_id: resolution.assignment_id,
        bucket: resolution.bucket,
        materialized: resolution.materialized,
    };
    (StatusCode::OK, Item::Success(Success { key, value, variant, reason: of.reason, metadata }))
}

/// The field at a dot path: missing, or reached through a value that is not an object.
fn field_at<'e>(value: &'e Value, path: &str) -> Result<&'e Value, AccessError> {
    let mut at = value;
    for part in path.split('.') {
        let object = at.as_object().ok_or(AccessError::TypeMismatch)?;
        at = object.get(part).ok_or(AccessError::Missing)?;
    }
    Ok(at)
}

/// The flag a key names and the path into its value: the longest prefix
/// (at a `.`) that is a flag wins, so flag ids that contain dots still work.
fn split_key<'k>(engine: &Engine, key: &'k str) -> Option<(flagstone_core::FlagId, &'k str)> {
    if let Some(id) = engine.flag_id(key) {
        return Some((id, ""));
    }
    key.rmatch_indices('.').find_map(|(at, _)| {
        let (flag, rest) = key.split_at(at);
        engine.flag_id(flag).map(|id| (id, rest.get(1..).unwrap_or("")))
    })
}

/// The evaluation context of a request body: `{"context": {...}}`.
fn context_of(
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, Value>, (StatusCode, &'static str, String)> {
    let bytes =
        body_bytes(body).map_err(|(status, message)| (status, "INVALID_CONTEXT", message))?;
    let value = json::parse(&bytes, MAX_CONTEXT_DEPTH + 2)
        .map_err(|e| (StatusCode::BAD_REQUEST, "PARSE_ERROR", format!("request body: {e}")))?;
    let Value::Object(mut request) = value else {
        return Err((
            StatusCode::BAD_REQUEST,
            "INVALID_CONTEXT",
            "request body: expected an object".into(),
        ));
    };
    let mut context = match request.remove("context") {
        Some(Value::Object(context)) => context,
        Some(_) => {
            return Err((
                StatusCode::BAD_REQUEST,
                "INVALID_CONTEXT",
                "context: expected an object".into(),
            ));
        }
        None => {
            return Err((StatusCode::BAD_REQUEST, "INVALID_CONTEXT", "context: required".into()));
        }
    };
    if let Some(key) = context.remove("targetingKey") {
        context.entry("targeting_key").or_insert(key);
    }
    Ok(context)
}

struct Target {
    namespace: Arc<Namespace>,
}

fn target(
    app: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    key: Option<&str>,
) -> Result<Target, Response> {
    let name = principal
        .implied_namespace(headers)
        .map_err(|e| failure(StatusCode::BAD_REQUEST, key, "GENERAL", e.to_string()))?;
    principal
        .require(Scope::Evaluate, &name)
        .map_err(|e| general_error(StatusCode::FORBIDDEN, e.to_string()))?;
    let namespace = app.namespaces.get(&name).ok_or_else(|| match key {
        Some(key) => failure(
            StatusCode::NOT_FOUND,
            Some(key),
            "FLAG_NOT_FOUND",
            format!("namespace {name} does not exist"),
        ),
        None => general_error(StatusCode::NOT_FOUND, format!("namespace {name} does not exist")),
    })?;
    Ok(Target { namespace })
}

fn record(
    app: &AppState,
    namespace: &Namespace,
    resolution: &Resolution<'_>,
    ctx: &EvaluationContext<'_>,
    now: jiff::Timestamp,
) {
    let flag =
        if resolution.reason == Reason::FlagNotFound { "(not found)" } else { resolution.flag };
    app.metrics.evaluation(&namespace.name().to_string(), flag, resolution.reason.as_str());
    if let Some(exposure) = Exposure::from_resolution(resolution, ctx, now) {
        namespace.exposures().record(exposure);
    }
}

/// A stable entity tag of an answer: the namespace, revision, context and body.
fn etag(namespace: &Namespace, revision: u64, context: &Map<String, Value>, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(namespace.name().to_string().as_bytes());
    hash.update(revision.to_be_bytes());
    let mut canonical = String::new();
    canonical_json(&Value::Object(context.clone()), &mut canonical);
    hash.update(canonical.as_bytes());
    hash.update(body);
    let digest = hash.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// JSON with object keys sorted, so equal contexts hash equal whatever their key order.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    canonical_json(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn answer(status: StatusCode, body: Vec<u8>, etag: &str, headers: &HeaderMap) -> Response {
    let etag_value = HeaderValue::from_str(etag).ok();
    if status == StatusCode::OK && none_match_hits(headers, etag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Some(value) = etag_value {
            response.headers_mut().insert(header::ETAG, value);
        }
        return response;
    }
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(value) = etag_value.filter(|_| status == StatusCode::OK) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

async fn evaluate_one(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Target { namespace } = match target(&app, &principal, &headers, Some(&key)) {
        Ok(t) => t,
        Err(response) => return response,
    };
    let context = match context_of(body) {
        Ok(context) => context,
        Err((status, code, details)) => return failure(status, Some(&key), code, details),
    };
    let published = namespace.published();
    let engine = &published.engine;
    let ctx = EvaluationContext::new(&context);
    let now = jiff::Timestamp::now();
    let (status, item) = match split_key(engine, &key) {
        Some((id, path)) => {
            let resolution = match &app.assignments {
                Some(store) if engine.uses_store(&[id]) => {
                    let shown = namespace.name().to_string();
                    let mut batch = store.evaluate(&app.metrics, &shown, engine, &[id], &ctx).await;
                    batch.pop().unwrap_or_else(|| engine.evaluate(id, &ctx))
                }
                _ => engine.evaluate(id, &ctx),
            };
            record(&app, &namespace, &resolution, &ctx, now);
            outcome(&key, path, &resolution)
        }
        None => {
            let resolution = engine.evaluate_name(&key, &ctx);
            record(&app, &namespace, &resolution, &ctx, now);
            outcome(&key, "", &resolution)
        }
    };
    let body = match serde_json::to_vec(&item) {
        Ok(body) => body,
        Err(e) => return general_error(StatusCode::INTERNAL_SERVER_ERROR, format!("encode: {e}")),
    };
    let tag = etag(&namespace, published.revision, &context, &body);
    answer(status, body, &tag, &headers)
}

/// One flag of a bulk answer, keyed by its id.
fn bulk_item<'e>(resolution: &Resolution<'e>) -> Item<'e> {
    let key = resolution.flag.strip_prefix("flags/").unwrap_or(resolution.flag);
    outcome(key, "", resolution).1
}

#[derive(Serialize)]
struct Bulk<'e> {
    flags: Vec<Item<'e>>,
    metadata: BulkMetadata,
}

#[derive(Serialize)]
struct BulkMetadata {
    namespace: String,
    revision: u64,
}

async fn evaluate_all(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Target { namespace } = match target(&app, &principal, &headers, None) {
        Ok(t) => t,
        Err(response) => return response,
    };
    let context = match context_of(body) {
        Ok(context) => context,
        Err((status, code, details)) => return failure(status, None, code, details),
    };
    let published = namespace.published();
    let engine = &published.engine;
    let ctx = EvaluationContext::new(&context);
    let now = jiff::Timestamp::now();
    let mut flags = Vec::with_capacity(engine.n_flags());
    let sticky = match &app.assignments {
        Some(store) => {
            let ids: Vec<FlagId> = engine.flag_ids().collect();
            if engine.uses_store(&ids) {
                let shown = namespace.name().to_string();
                Some(store.evaluate(&app.metrics, &shown, engine, &ids, &ctx).await)
            } else {
                None
            }
        }
        None => None,
    };
    match sticky {
        Some(resolutions) => {
            for resolution in resolutions {
                record(&app, &namespace, &resolution, &ctx, now);
                flags.push(bulk_item(&resolution));
            }
        }
        None => {
            for resolution in engine.evaluate_all(&ctx) {
                record(&app, &namespace, &resolution, &ctx, now);
                flags.push(bulk_item(&resolution));
            }
        }
    }
    let bulk = Bulk {
        flags,
        metadata: BulkMetadata {
            namespace: namespace.name().to_string(),
            revision: published.revision,
        },
    };
    let body = match serde_json::to_vec(&bulk) {
        Ok(body) => body,
        Err(e) => return general_error(StatusCode::INTERNAL_SERVER_ERROR, format!("encode: {e}")),
    };
    let tag = etag(&namespace, published.revision, &context, &body);
    answer(StatusCode::OK, body, &tag, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_distinguish_missing_from_mismatched() {
        let value = json!({"enabled": true, "limits": {"daily": 3}});
        assert_eq!(field_at(&value, "enabled"), Ok(&json!(true)));
        assert_eq!(field_at(&value, "limits.daily"), Ok(&json!(3)));
        assert_eq!(field_at(&value, "nope"), Err(AccessError::Missing));
        assert_eq!(field_at(&value, "enabled.x"), Err(AccessError::TypeMismatch));
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let mut a = String::new();
        canonical_json(&json!({"b": 1, "a": [{"y": 2, "x": 1}]}), &mut a);
        assert_eq!(a, r#"{"a":[{"x":1,"y":2}],"b":1}"#);
    }
}
