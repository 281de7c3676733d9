//! Flagstone's own API over its wire format.
//!
//! - `GET /v1/namespaces`
//! - `GET|PUT /v1/namespaces/{project}/{environment}/config`
//! - `GET /v1/namespaces/{project}/{environment}/history?after=REV&limit=N`
//! - `GET /v1/namespaces/{project}/{environment}/{collection}`
//! - `GET|PUT|DELETE /v1/namespaces/{project}/{environment}/{collection}/{id}`

use crate::auth::{Principal, Scope};
use crate::http::{ApiError, AppState, body_bytes, tags};
use crate::json;
use crate::names::{Kind, NamespaceName};
use crate::namespace::Namespace;
use crate::store::StoredResource;
use crate::write::{Actor, Change, Precondition, WriteError, Written, etag_of};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The most history entries one request returns.
pub const MAX_HISTORY_PAGE: usize = 1_000;

pub(crate) fn routes(read_only: bool) -> Router<AppState> {
    let base = "/v1/namespaces/{project}/{environment}";
    if read_only {
        return Router::new()
            .route("/v1/namespaces", get(list_namespaces))
            .route(&format!("{base}/config"), get(get_config).put(read_only_replica))
            .route(&format!("{base}/history"), get(history))
            .route(&format!("{base}/{{collection}}"), get(list_collection))
            .route(
                &format!("{base}/{{collection}}/{{id}}"),
                get(get_resource).put(read_only_replica).delete(read_only_replica),
            );
    }
    Router::new()
        .route("/v1/namespaces", get(list_namespaces))
        .route(&format!("{base}/config"), get(get_config).put(put_config))
        .route(&format!("{base}/history"), get(history))
        .route(&format!("{base}/{{collection}}"), get(list_collection))
        .route(
            &format!("{base}/{{collection}}/{{id}}"),
            get(get_resource).put(put_resource).delete(delete_resource),
        )
}

async fn read_only_replica() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "read_only",
        "this server is an edge replica; write to its upstream",
    )
}

fn namespace_name(project: &str, environment: &str) -> Result<NamespaceName, ApiError> {
    NamespaceName::new(project, environment)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))
}

fn kind_of(collection: &str) -> Result<Kind, ApiError> {
    Kind::from_key(collection).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "{collection}: unknown collection; expected one of flags, segments, targetGroups, rollouts, abtests, experiments"
            ),
        )
    })
}

fn readable(
    app: &AppState,
    principal: &Principal,
    name: &NamespaceName,
) -> Result<Arc<Namespace>, ApiError> {
    principal.require(Scope::Read, name).map_err(ApiError::denied)?;
    app.namespaces.get(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("namespace {name} does not exist"),
        )
    })
}

fn with_etag(mut response: Response, etag: &str, revision: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response.headers_mut().insert("x-flagstone-revision", HeaderValue::from(revision));
    response
}

/// A resource with its metadata, as the API shows it.
pub(crate) fn envelope(r: &StoredResource) -> Value {
    json!({
        "name": r.kind.full_name(&r.id),
        "collection": r.kind.key(),
        "id": r.id,
        "revision": r.revision,
        "etag": r.etag,
        "createTime": r.create_time,
        "updateTime": r.update_time,
        "createdBy": r.created_by,
        "updatedBy": r.updated_by,
        "document": r.document,
    })
}

async fn list_namespaces(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Json<Value> {
    let namespaces: Vec<Value> = app
        .namespaces
        .list()
        .into_iter()
        .filter(|(name, _)| principal.require(Scope::Read, name).is_ok())
        .map(|(name, revision)| json!({"name": name.to_string(), "revision": revision, "etag": etag_of(revision)}))
        .collect();
    Json(json!({ "namespaces": namespaces }))
}

async fn get_config(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let name = namespace_name(&project, &environment)?;
    let published = readable(&app, &principal, &name)?.published();
    let text = published.config_text().to_string();
    let response = ([(header::CONTENT_TYPE, "application/json")], text).into_response();
    Ok(with_etag(response, &etag_of(published.revision), published.revision))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

async fn history(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment)): Path<(String, String)>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let name = namespace_name(&project, &environment)?;
    let namespace = readable(&app, &principal, &name)?;
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_HISTORY_PAGE);
    let after = query.after.unwrap_or(0);
    let store = app.namespaces.store().clone();
    let row = namespace.row();
    let entries = tokio::task::spawn_blocking(move || store.history(row, after, limit))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let next = (entries.len() == limit).then(|| entries.last().map(|e| e.revision)).flatten();
    Ok(Json(json!({ "entries": entries, "nextAfter": next })))
}

async fn list_collection(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment, collection)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let name = namespace_name(&project, &environment)?;
    let kind = kind_of(&collection)?;
    let published = readable(&app, &principal, &name)?.published();
    let items: Vec<Value> =
        published.resources().iter().filter(|r| r.kind == kind).map(|r| envelope(r)).collect();
    let body = json!({ kind.key(): items, "revision": published.revision });
    Ok(with_etag(Json(body).into_response(), &etag_of(published.revision), published.revision))
}

async fn get_resource(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment, collection, id)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let name = namespace_name(&project, &environment)?;
    let kind = kind_of(&collection)?;
    let published = readable(&app, &principal, &name)?.published();
    let resource = published.resource(kind, &id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{} does not exist", kind.full_name(&id)),
        )
    })?;
    Ok(with_etag(Json(envelope(resource)).into_response(), &resource.etag, resource.revision))
}

fn precondition(headers: &HeaderMap) -> Precondition {
    if let Some(tags) = tags(headers, header::IF_MATCH) {
        return Precondition::IfMatch(tags);
    }
    match tags(headers, header::IF_NONE_MATCH) {
        Some(tags) if tags.iter().any(|t| t == "*") => Precondition::IfNoneMatchAny,
        _ => Precondition::None,
    }
}

fn parse_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body_bytes(body).map_err(|(status, message)| {
        ApiError::new(
            status,
            if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "bad_request" },
            message,
        )
    })?;
    json::parse(&bytes, json::MAX_BODY_DEPTH)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))
}

/// Runs a write on a blocking thread (SQLite and the compiler block) and renders its failure.
pub(crate) async fn run_write(
    app: &AppState,
    name: NamespaceName,
    change: Change,
    actor: Actor,
) -> Result<Written, ApiError> {
    let namespaces = app.namespaces.clone();
    let shown = name.to_string();
    let result = tokio::task::spawn_blocking(move || {
        let namespace = namespaces.get_or_create(&name).map_err(ApiError::internal)?;
        namespace.write(change, &actor).map_err(write_error)
    })
    .await
    .map_err(ApiError::internal)??;
    app.metrics.revision(&shown, result.revision);
    Ok(result)
}

fn write_error(error: WriteError) -> ApiError {
    match error {
        WriteError::Invalid(problems) => ApiError::invalid(problems),
        WriteError::PreconditionFailed { current } => {
            let message = error_message(&current);
            ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", message)
                .with_etag(current)
        }
        WriteError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
        }
        WriteError::Stale { .. } => {
            ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string())
        }
        other => ApiError::internal(other),
    }
}

fn error_message(current: &Option<String>) -> String {
    match current {
        Some(etag) => format!("if-match: the current entity tag is {etag}; nothing was written"),
        None => "if-match: the resource does not exist; nothing was written".to_owned(),
    }
}

fn actor(principal: &Principal, method: &Method, uri: &Uri) -> Actor {
    Actor { id: principal.id.to_string(), method: method.to_string(), path: uri.path().to_owned() }
}

async fn put_config(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let name = namespace_name(&project, &environment)?;
    principal.require(Scope::Write, &name).map_err(ApiError::denied)?;
    let document = parse_body(body)?;
    let change = Change::ReplaceConfig { document, precondition: precondition(&headers) };
    let written = run_write(&app, name, change, actor(&principal, &method, &uri)).await?;
    let etag = etag_of(written.revision);
    let body = json!({"revision": written.revision, "etag": etag, "warnings": written.warnings});
    Ok(with_etag(Json(body).into_response(), &etag, written.revision))
}

async fn put_resource(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment, collection, id)): Path<(String, String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let name = namespace_name(&project, &environment)?;
    let kind = kind_of(&collection)?;
    principal.require(Scope::Write, &name).map_err(ApiError::denied)?;
    let document = parse_body(body)?;
    let change = Change::PutResource { kind, id, document, precondition: precondition(&headers) };
    let written = run_write(&app, name, change, actor(&principal, &method, &uri)).await?;
    let status = if written.created { StatusCode::CREATED } else { StatusCode::OK };
    let Some(resource) = written.resource else {
        return Err(ApiError::internal("a resource write returned no resource"));
    };
    let mut body = envelope(&resource);
    if let Value::Object(fields) = &mut body {
        fields.insert("warnings".into(), json!(written.warnings));
        fields.insert("configRevision".into(), json!(written.revision));
    }
    Ok(with_etag((status, Json(body)).into_response(), &resource.etag, resource.revision))
}

async fn delete_resource(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment, collection, id)): Path<(String, String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = namespace_name(&project, &environment)?;
    let kind = kind_of(&collection)?;
    principal.require(Scope::Write, &name).map_err(ApiError::denied)?;
    if app.namespaces.get(&name).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("namespace {name} does not exist"),
        ));
    }
    let change = Change::DeleteResource { kind, id, precondition: precondition(&headers) };
    let written = run_write(&app, name, change, actor(&principal, &method, &uri)).await?;
    let body = json!({"configRevision": written.revision, "warnings": written.warnings});
    Ok(Json(body).into_response())
}
