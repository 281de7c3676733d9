//! The CloudBees Feature Management experiments API over the `experiments` collection.
//!
//! - `GET|PUT /public-api/applications/{applicationId}/{environmentName}/experiments`
//! - `GET|PATCH|DELETE /public-api/applications/{applicationId}/{environmentName}/experiments/{flagName}`
//!
//! `{applicationId}/{environmentName}` is the namespace, and an experiment is
//! the resource `experiments/{flag}`, stored as the JSON document that was
//! written (the model's CloudBees experiment, `docs/spec/model.md` §1.12).
//! This module only translates: every mutation ends in `Namespace::write`,
//! which parses, validates and compiles the whole config.
//!
//! # Decisions
//! - `PUT` creates or replaces and answers 200 with the experiment as stored.
//!   A body without `value` and without `availableValues` (a boolean flag)
//!   is stored with `"value": false`, the value CloudBees shows for such an
//!   experiment; so the documented `replace /value` patch has a target.
//! - `GET` of the collection lists only the experiments with at least one
//!   rule: a condition, a platform or a value.
//! - `PATCH` is a JSON Patch (RFC 6902) applied to a copy of the stored
//!   experiment: all operations or none. A malformed operation, a failing
//!   `test` or a bad pointer is 400 with the operation's index. After the
//!   patch, an array inside `platforms` is spliced into it (one level), so
//!   that `add /platforms/-` with an array of platforms adds them. The write
//!   is conditional on the version the patch was applied to: a concurrent
//!   change is 412 and nothing is written.
//! - `DELETE` removes the experiment, and with it the flag it defines, and
//!   answers 204 without a body.
//! - Errors are the native `{"code", "message", "problems"?}`; a patch
//!   failure adds `"operation"`, the index of the operation at fault.

use crate::auth::{Principal, Scope};
use crate::dialects::native::run_write;
use crate::http::{ApiError, AppState, body_bytes, tags};
use crate::json;
use crate::names::{Kind, NamespaceName};
use crate::namespace::Namespace;
use crate::store::StoredResource;
use crate::write::{Actor, Change, Precondition};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use json_patch::{PatchErrorKind, PatchOperation};
use serde_json::{Value, json};
use std::sync::Arc;

/// The collection's path; `{flag}` follows it for one experiment.
const BASE: &str = "/public-api/applications/{application}/{environment}/experiments";

/// The routes; an edge replica answers writes with 405.
pub(crate) fn routes(read_only: bool) -> Router<AppState> {
    let one = format!("{BASE}/{{flag}}");
    if read_only {
        return Router::new()
            .route(BASE, get(list_experiments).put(read_only_replica))
            .route(&one, get(get_experiment).patch(read_only_replica).delete(read_only_replica));
    }
    Router::new()
        .route(BASE, get(list_experiments).put(put_experiment))
        .route(&one, get(get_experiment).patch(patch_experiment).delete(delete_experiment))
}

/// A failure of a CloudBees request: a native error, or a patch operation that failed.
#[derive(Debug)]
enum CloudBeesError {
    Api(ApiError),
    Patch { operation: usize, message: String },
}

impl From<ApiError> for CloudBeesError {
    fn from(error: ApiError) -> Self {
        CloudBeesError::Api(error)
    }
}

impl IntoResponse for CloudBeesError {
    fn into_response(self) -> Response {
        match self {
            CloudBeesError::Api(error) => error.into_response(),
            CloudBeesError::Patch { operation, message } => {
                let body =
                    json!({"code": "patch_failed", "message": message, "operation": operation});
                (StatusCode::BAD_REQUEST, Json(body)).into_response()
            }
        }
    }
}

type Answer = Result<Response, CloudBeesError>;

async fn read_only_replica() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "read_only",
        "this server is an edge replica; write to its upstream",
    )
}

fn namespace_name(application: &str, environment: &str) -> Result<NamespaceName, ApiError> {
    NamespaceName::new(application, environment)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))
}

fn no_namespace(name: &NamespaceName) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("namespace {name} does not exist"))
}

fn no_experiment(flag: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("experiment {flag} does not exist"))
}

fn namespace(
    app: &AppState,
    principal: &Principal,
    scope: Scope,
    name: &NamespaceName,
) -> Result<Arc<Namespace>, ApiError> {
    principal.require(scope, name).map_err(ApiError::denied)?;
    app.namespaces.get(name).ok_or_else(|| no_namespace(name))
}

fn actor(principal: &Principal, method: &Method, uri: &Uri) -> Actor {
    Actor { id: principal.id.to_string(), method: method.to_string(), path: uri.path().to_owned() }
}

fn parse_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body_bytes(body).map_err(|(status, message)| {
        let code =
            if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "bad_request" };
        ApiError::new(status, code, message)
    })?;
    json::parse(&bytes, json::MAX_BODY_DEPTH)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))
}

/// The experiment as CloudBees shows it, with its entity tag and revision.
fn experiment(status: StatusCode, resource: &StoredResource) -> Response {
    let mut response = (status, Json(resource.document.clone())).into_response();
    if let Ok(value) = HeaderValue::from_str(&resource.etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response.headers_mut().insert("x-flagstone-revision", HeaderValue::from(resource.revision));
    response
}

/// Whether CloudBees lists an experiment: it has a condition, a platform or a value.
fn has_rule(document: &Value) -> bool {
    let non_empty =
        |key: &str| document.get(key).and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    non_empty("conditions") || non_empty("platforms") || document.get("value").is_some()
}

async fn list_experiments(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((application, environment)): Path<(String, String)>,
) -> Answer {
    let name = namespace_name(&application, &environment)?;
    let published = namespace(&app, &principal, Scope::Read, &name)?.published();
    let items: Vec<Value> = published
        .resources()
        .iter()
        .filter(|r| r.kind == Kind::Experiments && has_rule(&r.document))
        .map(|r| r.document.clone())
        .collect();
    Ok(Json(Value::Array(items)).into_response())
}

async fn get_experiment(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((application, environment, flag)): Path<(String, String, String)>,
) -> Answer {
    let name = namespace_name(&application, &environment)?;
    let published = namespace(&app, &principal, Scope::Read, &name)?.published();
    let resource =
        published.resource(Kind::Experiments, &flag).ok_or_else(|| no_experiment(&flag))?;
    Ok(experiment(StatusCode::OK, resource))
}

/// The flag an experiment body names, and the body with CloudBees' default value filled in.
fn creation(document: Value) -> Result<(String, Value), ApiError> {
    let Value::Object(mut fields) = document else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected an experiment object",
        ));
    };
    let Some(Value::String(flag)) = fields.get("flag") else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "flag: expected the name of the flag the experiment controls, a string",
        ));
    };
    let flag = flag.clone();
    if !fields.contains_key("value") && !fields.contains_key("availableValues") {
        fields.insert("value".to_owned(), Value::Bool(false));
    }
    Ok((flag, Value::Object(fields)))
}

async fn put_experiment(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((application, environment)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = namespace_name(&application, &environment)?;
    principal.require(Scope::Write, &name).map_err(ApiError::denied)?;
    let (id, document) = creation(parse_body(body)?)?;
    let change = Change::PutResource {
        kind: Kind::Experiments,
        id,
        document,
        precondition: Precondition::None,
    };
    let written = run_write(&app, name, change, actor(&principal, &method, &uri)).await?;
    let resource = written
        .resource
        .ok_or_else(|| ApiError::internal("a resource write returned no resource"))?;
    Ok(experiment(StatusCode::OK, &resource))
}

/// The operations of a JSON Patch, each checked on its own so a bad one is named by its index.
fn operations(document: Value) -> Result<Vec<PatchOperation>, CloudBeesError> {
    let Value::Array(items) = document else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected a JSON Patch: an array of operations",
        )
        .into());
    };
    items
        .into_iter()
        .enumerate()
        .map(|(operation, item)| {
            serde_json::from_value(item).map_err(|e| CloudBeesError::Patch {
                operation,
                message: format!("patch[{operation}]: {e}; nothing was written"),
            })
        })
        .collect()
}

fn op_name(operation: &PatchOperation) -> &'static str {
    match operation {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

/// Applies every operation to a copy of `document`, or none.
fn patched(document: &Value, ops: &[PatchOperation]) -> Result<Value, CloudBeesError> {
    let mut copy = document.clone();
    // The copy is dropped on failure, so the crate's undo log is not needed.
    json_patch::patch_unsafe(&mut copy, ops).map_err(|e| {
        let name = ops.get(e.operation).map_or("operation", op_name);
        let what = match e.kind {
            PatchErrorKind::TestFailed => "the value does not match".to_owned(),
            PatchErrorKind::InvalidFromPointer => "from: no such location".to_owned(),
            PatchErrorKind::InvalidPointer => "no such location".to_owned(),
            PatchErrorKind::CannotMoveInsideItself => "cannot move a value into itself".to_owned(),
            other => other.to_string(),
        };
        CloudBeesError::Patch {
            operation: e.operation,
            message: format!(
                "patch[{}] ({name} {:?}): {what}; nothing was written",
                e.operation,
                e.path.as_str()
            ),
        }
    })?;
    flatten_platforms(&mut copy);
    Ok(copy)
}

/// Splices arrays inside `platforms` into it, one level deep.
fn flatten_platforms(document: &mut Value) {
    let Some(Value::Array(platforms)) = document.get_mut("platforms") else {
        return;
    };
    if !platforms.iter().any(Value::is_array) {
        return;
    }
    let mut flat = Vec::with_capacity(platforms.len());
    for item in platforms.drain(..) {
        match item {
            Value::Array(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    *platforms = flat;
}

/// Whether the client's `If-Match` (if any) names the entity tag the patch applies to.
fn if_match_holds(headers: &HeaderMap, etag: &str) -> bool {
    let strip = |t: &str| t.trim().strip_prefix("W/").unwrap_or(t.trim()).to_owned();
    tags(headers, header::IF_MATCH)
        .is_none_or(|tags| tags.iter().any(|t| t == "*" || strip(t) == strip(etag)))
}

async fn patch_experiment(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((application, environment, flag)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = namespace_name(&application, &environment)?;
    let published = namespace(&app, &principal, Scope::Write, &name)?.published();
    let current =
        published.resource(Kind::Experiments, &flag).ok_or_else(|| no_experiment(&flag))?;
    if !if_match_holds(&headers, &current.etag) {
        let message =
            format!("if-match: the current entity tag is {}; nothing was written", current.etag);
        return Err(ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", message)
            .with_etag(Some(current.etag.clone()))
            .into());
    }
    let ops = operations(parse_body(body)?)?;
    let document = patched(&current.document, &ops)?;
    let precondition = Precondition::IfMatch(vec![current.etag.clone()]);
    let change = Change::PutResource { kind: Kind::Experiments, id: flag, document, precondition };
    let written = run_write(&app, name, change, actor(&principal, &method, &uri)).await?;
    let resource = written
        .resource
        .ok_or_else(|| ApiError::internal("a resource write returned no resource"))?;
    Ok(experiment(StatusCode::OK, &resource))
}

async fn delete_experiment(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((application, environment, flag)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
) -> Answer {
    let name = namespace_name(&application, &environment)?;
    let published = namespace(&app, &principal, Scope::Write, &name)?.published();
    if published.resource(Kind::Experiments, &flag).is_none() {
        return Err(no_experiment(&flag).into());
    }
    let change = Change::DeleteResource {
        kind: Kind::Experiments,
        id: flag,
        precondition: Precondition::None,
    };
    run_write(&app, name, change, actor(&principal, &method, &uri)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_flattened_one_level() {
        let mut doc =
            json!({"platforms": [{"name": "iOS"}, [{"name": "Android"}, [{"name": "x"}]]]});
        flatten_platforms(&mut doc);
        assert_eq!(
            doc,
            json!({"platforms": [{"name": "iOS"}, {"name": "Android"}, [{"name": "x"}]]})
        );
        let mut doc = json!({"platforms": "none"});
        flatten_platforms(&mut doc);
        assert_eq!(doc, json!({"platforms": "none"}));
    }

    #[test]
    fn listed_experiments_have_a_rule() {
        assert!(has_rule(&json!({"flag": "a", "value": false})));
        assert!(has_rule(&json!({"flag": "a", "conditions": [{"value": true}]})));
        assert!(has_rule(&json!({"flag": "a", "platforms": [{"name": "iOS"}]})));
        assert!(!has_rule(&json!({"flag": "a", "conditions": [], "platforms": []})));
    }

    #[test]
    fn creation_fills_the_boolean_default() {
        let (flag, doc) = creation(json!({"flag": "a"})).unwrap();
        assert_eq!(flag, "a");
        assert_eq!(doc["value"], false);
        let (_, doc) = creation(json!({"flag": "a", "availableValues": ["x"]})).unwrap();
        assert!(doc.get("value").is_none());
        let (_, doc) = creation(json!({"flag": "a", "value": true})).unwrap();
        assert_eq!(doc["value"], true);
        assert!(creation(json!({"name": "a"})).is_err());
        assert!(creation(json!([])).is_err());
    }

    #[test]
    fn a_failing_operation_is_named_by_its_index() {
        let ops = operations(json!([
            {"op": "replace", "path": "/value", "value": true},
            {"op": "test", "path": "/value", "value": false}
        ]))
        .unwrap();
        let doc = json!({"flag": "a", "value": false});
        match patched(&doc, &ops) {
            Err(CloudBeesError::Patch { operation, message }) => {
                assert_eq!(operation, 1);
                assert!(message.starts_with("patch[1] (test \"/value\")"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        match operations(json!([{"op": "replace", "path": "/value", "value": 1}, {"op": "frob"}])) {
            Err(CloudBeesError::Patch { operation, .. }) => assert_eq!(operation, 1),
            other => panic!("{other:?}"),
        }
    }
}
