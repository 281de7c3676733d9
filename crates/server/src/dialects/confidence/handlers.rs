//! The instance handlers: create, get, list, update, `:updateSegment` and
//! the lifecycle actions.

use super::error::{Answer, GoogleError, Violation, locate};
use super::instance::{Instance, OUTPUT_ONLY, Workflow, is_id, new_id, transition_of};
use super::list::{Facts, decode_token, encode_token, page_size, parse_filter};
use super::mask;
use super::translate::metric_field;
use crate::auth::{Principal, Scope};
use crate::http::{AppState, body_bytes};
use crate::json;
use crate::names::NamespaceName;
use crate::namespace::Published;
use crate::store::StoredRecord;
use crate::write::{Actor, Change, Precondition, Written};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// What every handler works out first: who, where, which workflow.
pub(super) struct Call {
    pub app: AppState,
    pub principal: Principal,
    pub namespace: NamespaceName,
    pub workflow: Workflow,
}

impl Call {
    pub(super) fn new(
        app: AppState,
        principal: Principal,
        headers: &HeaderMap,
        workflow: &str,
        scope: Scope,
    ) -> Result<Call, GoogleError> {
        let workflow = Workflow::from_path(workflow).ok_or_else(|| {
            GoogleError::not_found(format!(
                "workflows/{workflow}: no such workflow; expected rollout or abtest"
            ))
        })?;
        let namespace = principal.implied_namespace(headers).map_err(GoogleError::denied)?;
        principal.require(scope, &namespace).map_err(GoogleError::denied)?;
        Ok(Call { app, principal, namespace, workflow })
    }

    /// The namespace's published state; `None` before its first write.
    pub(super) fn published(&self) -> Option<Arc<Published>> {
        self.app.namespaces.get(&self.namespace).map(|n| n.published())
    }

    /// The stored record of an instance, or 404.
    pub(super) fn record(&self, id: &str) -> Result<Arc<StoredRecord>, GoogleError> {
        let missing =
            || GoogleError::not_found(format!("{} does not exist", self.workflow.name(id)));
        if !is_id(id) {
            return Err(missing());
        }
        let published = self.published().ok_or_else(missing)?;
        published.record(self.workflow.collection(), id).cloned().ok_or_else(missing)
    }

    pub(super) fn actor(&self, method: &Method, uri: &Uri) -> Actor {
        Actor {
            id: self.principal.id.to_string(),
            method: method.to_string(),
            path: uri.path().to_owned(),
        }
    }

    /// Writes a change on a blocking thread; config problems are mapped
    /// back to the request's fields for the instance `id`.
    pub(super) async fn commit(
        &self,
        id: &str,
        change: Change,
        actor: Actor,
    ) -> Result<Written, GoogleError> {
        let namespaces = self.app.namespaces.clone();
        let name = self.namespace.clone();
        let result = tokio::task::spawn_blocking(move || {
            let namespace = namespaces.get_or_create(&name).map_err(GoogleError::internal)?;
            Ok::<_, GoogleError>(namespace.write(change, &actor))
        })
        .await
        .map_err(GoogleError::internal)??;
        let workflow = self.workflow;
        let resource = workflow.kind().full_name(id);
        let written = result.map_err(|e| {
            GoogleError::write(e, |problem| {
                let v = locate(problem, &resource, workflow.fields());
                Violation { field: metric_field(v.field), description: v.description }
            })
        })?;
        self.app.metrics.revision(&self.namespace.to_string(), written.revision);
        Ok(written)
    }

    /// Writes an instance: its model resource and its record, in one batch.
    pub(super) async fn save(
        &self,
        instance: &Instance,
        precondition: Precondition,
        actor: Actor,
    ) -> Result<Arc<StoredRecord>, GoogleError> {
        let change = Change::Batch(vec![
            Change::PutResource {
                kind: self.workflow.kind(),
                id: instance.id.clone(),
                document: instance.model(self.workflow),
                precondition: Precondition::None,
            },
            Change::PutRecord {
                collection: self.workflow.collection().to_owned(),
                id: instance.id.clone(),
                document: instance.document(),
                precondition,
            },
        ]);
        let written = self.commit(&instance.id, change, actor).await?;
        written.record.ok_or_else(|| GoogleError::internal("an instance write returned no record"))
    }
}

pub(super) async fn read_only() -> GoogleError {
    GoogleError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "FAILED_PRECONDITION",
        "this server is an edge replica; write to its upstream",
    )
}

/// A JSON object body, or 400.
pub(super) fn parse_object(
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, Value>, GoogleError> {
    let bytes = body_bytes(body).map_err(|(status, message)| {
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "RESOURCE_EXHAUSTED"
        } else {
            "INVALID_ARGUMENT"
        };
        GoogleError::new(status, code, message)
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match json::parse(&bytes, json::MAX_BODY_DEPTH) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(GoogleError::field("", "expected a JSON object")),
        Err(e) => Err(GoogleError::field("", format!("malformed JSON: {e}"))),
    }
}

pub(super) fn query(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    allowed: &[&str],
) -> Result<HashMap<String, String>, GoogleError> {
    let Query(query) = query.map_err(|e| GoogleError::field("", e.body_text()))?;
    if let Some(unknown) = query.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(GoogleError::field(
            unknown.clone(),
            format!("unknown query parameter; expected one of {}", allowed.join(", ")),
        ));
    }
    Ok(query)
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

pub(super) async fn create(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(workflow): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let call = Call::new(app, principal, &headers, &workflow, Scope::Write)?;
    let body = parse_object(body)?;
    let unknown: Vec<Violation> = body
        .keys()
        .filter(|k| !call.workflow.is_module(k) && !OUTPUT_ONLY.contains(&k.as_str()))
        .map(|k| {
            Violation::new(k.clone(), format!("not a field of a {} instance", call.workflow.key()))
        })
        .collect();
    if !unknown.is_empty() {
        return Err(GoogleError::invalid(unknown));
    }
    let published = call.published();
    let id = loop {
        let id = new_id();
        if published.as_ref().is_none_or(|p| p.record(call.workflow.collection(), &id).is_none()) {
            break id;
        }
    };
    let actor = call.actor(&method, &uri);
    let instance = Instance::create(call.workflow, id, body, &now(), &actor.id);
    let record = call.save(&instance, Precondition::IfNoneMatchAny, actor).await?;
    Ok(Json(instance.render(call.workflow, &record)).into_response())
}

pub(super) async fn get(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((workflow, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let call = Call::new(app, principal, &headers, &workflow, Scope::Read)?;
    let record = call.record(&id)?;
    let instance = Instance::from_record(&record);
    Ok(Json(instance.render(call.workflow, &record)).into_response())
}

pub(super) async fn list(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(workflow): Path<String>,
    headers: HeaderMap,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    let call = Call::new(app, principal, &headers, &workflow, Scope::Read)?;
    let params = query(params, &["pageSize", "pageToken", "filter"])?;
    let size = page_size(params.get("pageSize").map(String::as_str))?;
    let filter_text = params.get("filter").map_or("", |f| f.trim());
    let filter = parse_filter(filter_text)?;
    let scope = call.workflow.key();
    let after = match params.get("pageToken").filter(|t| !t.is_empty()) {
        Some(token) => Some(decode_token(scope, filter_text, token)?),
        None => None,
    };
    let mut items = Vec::new();
    let mut next = String::new();
    if let Some(published) = call.published() {
        let mut last = None;
        for record in published.records(call.workflow.collection()) {
            if after.is_some_and(|a| record.position <= a) {
                continue;
            }
            let instance = Instance::from_record(record);
            let name = call.workflow.name(&instance.id);
            let flag_path = format!("{}.flag", call.workflow.key());
            let fields = Value::Object(instance.fields.clone());
            let facts = Facts {
                state: super::instance::state_name(instance.state()),
                flag: mask::get(&fields, &flag_path)
                    .or_else(|| mask::get(&fields, "flags.flag"))
                    .and_then(Value::as_str),
                display_name: instance
                    .fields
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                name: &name,
                creator: &record.created_by,
            };
            if !filter.matches(&facts) {
                continue;
            }
            if items.len() == size {
                // One more matches: there is a next page, after the last one shown.
                next = last.map(|p| encode_token(scope, filter_text, p)).unwrap_or_default();
                break;
            }
            items.push(instance.render(call.workflow, record));
            last = Some(record.position);
        }
    }
    Ok(Json(json!({ call.workflow.plural(): items, "nextPageToken": next })).into_response())
}

/// `PATCH …/instances/{id}?updateMask=…` (AIP-134).
#[allow(clippy::too_many_arguments, reason = "axum extractors, one per part of the request")]
pub(super) async fn patch(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((workflow, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let call = Call::new(app, principal, &headers, &workflow, Scope::Write)?;
    let params = query(params, &["updateMask"])?;
    let record = call.record(&id)?;
    let old = Instance::from_record(&record);
    let body = parse_object(body)?;
    let workflow = call.workflow;
    let paths = match params.get("updateMask").map(|m| mask::parse(m)) {
        Some(paths) if !paths.is_empty() => {
            let violations: Vec<Violation> = paths
                .iter()
                .filter(|p| p.as_str() != "*")
                .filter_map(|p| workflow.check_mask_path(p).err())
                .collect();
            if !violations.is_empty() {
                return Err(GoogleError::invalid(violations));
            }
            if paths.iter().any(|p| p == "*") {
                // Full replacement of everything a client writes.
                let mut all: Vec<String> = old.fields.keys().cloned().collect();
                all.extend(body.keys().cloned());
                all.retain(|k| workflow.is_module(k));
                all.sort();
                all.dedup();
                all
            } else {
                paths
            }
        }
        // AIP-134: no mask updates the populated fields; output-only ones are ignored.
        _ => mask::populated(&body)
            .into_iter()
            .filter(|p| workflow.check_mask_path(p).is_ok())
            .collect(),
    };
    let body = Value::Object(body);
    let mut instance = old.clone();
    for path in &paths {
        mask::apply(&mut instance.fields, &body, path);
    }
    instance.keep_output_only(workflow, &old);
    if workflow == Workflow::Rollout
        && old.state() == flagstone_model::workflow::WorkflowState::Ended
        && mask::get(&Value::Object(instance.fields.clone()), "rollout.reach")
            != mask::get(&Value::Object(old.fields.clone()), "rollout.reach")
    {
        return Err(GoogleError::failed_precondition(
            &workflow.name(&id),
            "STATE",
            "cannot change the reach of an ended rollout: no transitions are possible from ended",
        ));
    }
    let precondition = Precondition::IfMatch(vec![record.etag.clone()]);
    let record = call.save(&instance, precondition, call.actor(&method, &uri)).await?;
    Ok(Json(instance.render(workflow, &record)).into_response())
}

/// `DELETE …/instances/{id}` (AIP-135): the instance, its model resource
/// and its uploaded analysis inputs go in one write; `{}`.
pub(super) async fn delete(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((workflow, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    let call = Call::new(app, principal, &headers, &workflow, Scope::Write)?;
    let record = call.record(&id)?;
    let mut changes = vec![Change::DeleteRecord {
        collection: call.workflow.collection().to_owned(),
        id: id.clone(),
        precondition: Precondition::IfMatch(vec![record.etag.clone()]),
    }];
    if let Some(published) = call.published() {
        // A resource deleted behind the instance's back leaves nothing to delete.
        if published.resource(call.workflow.kind(), &id).is_some() {
            changes.push(Change::DeleteResource {
                kind: call.workflow.kind(),
                id: id.clone(),
                precondition: Precondition::None,
            });
        }
        let inputs = super::results::inputs_id(call.workflow, &id);
        if published.record(super::results::INPUTS, &inputs).is_some() {
            changes.push(Change::DeleteRecord {
                collection: super::results::INPUTS.to_owned(),
                id: inputs,
                precondition: Precondition::None,
            });
        }
    }
    call.commit(&id, Change::Batch(changes), call.actor(&method, &uri)).await?;
    Ok(Json(json!({})).into_response())
}

/// `POST …/instances/{id}:{verb}`: the custom methods (AIP-136).
pub(super) async fn custom(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((workflow, target)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let call = Call::new(app, principal, &headers, &workflow, Scope::Write)?;
    let Some((id, verb)) = target.split_once(':') else {
        return Err(GoogleError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "INVALID_ARGUMENT",
            format!(
                "POST {}: expected a custom method such as :launch; create instances with POST on the collection",
                call.workflow.name(&target)
            ),
        ));
    };
    let record = call.record(id)?;
    let body = parse_object(body)?;
    let actor = call.actor(&method, &uri);
    let precondition = Precondition::IfMatch(vec![record.etag.clone()]);
    let mut instance = Instance::from_record(&record);
    if verb == "updateSegment" {
        update_segment(call.workflow, &mut instance, body)?;
        let record = call.save(&instance, precondition, actor).await?;
        let segment = Instance::from_record(&record).segment;
        return Ok(Json(Value::Object(segment)).into_response());
    }
    let Some(transition) = transition_of(verb) else {
        return Err(GoogleError::not_found(format!(
            ":{verb}: no such method; expected :updateSegment, :launch, :pause, :resume or :end"
        )));
    };
    if let Some(key) = body.keys().next() {
        return Err(GoogleError::field(key.clone(), format!(":{verb} takes no fields")));
    }
    instance.transition(call.workflow, verb, transition, &now(), &actor.id)?;
    call.save(&instance, precondition, actor).await?;
    // Action methods answer an empty result, as documented.
    Ok(Json(json!({})).into_response())
}

/// Applies `{updateMask, segment}`, the mask relative to the segment.
fn update_segment(
    workflow: Workflow,
    instance: &mut Instance,
    mut body: Map<String, Value>,
) -> Result<(), GoogleError> {
    let mask_text = match body.remove("updateMask") {
        None => String::new(),
        Some(Value::String(mask)) => mask,
        Some(other) => {
            return Err(GoogleError::field(
                "updateMask",
                format!("expected a field mask string such as \"targeting\", got {other}"),
            ));
        }
    };
    let segment = match body.remove("segment") {
        Some(Value::Object(segment)) => segment,
        Some(other) => {
            return Err(GoogleError::field("segment", format!("expected an object, got {other}")));
        }
        None => return Err(GoogleError::field("segment", "required")),
    };
    if let Some(key) = body.keys().next() {
        return Err(GoogleError::field(
            key.clone(),
            "unknown field; expected updateMask and segment",
        ));
    }
    let writable: &[&str] = match workflow {
        Workflow::Rollout => &["targeting", "name"],
        Workflow::AbTest => &["targeting", "allocation", "name"],
    };
    let check = |path: &str| -> Result<(), Violation> {
        let top = path.split('.').next().unwrap_or_default();
        if writable.contains(&top) && !path.split('.').any(str::is_empty) {
            return Ok(());
        }
        Err(Violation::new(
            "updateMask",
            format!(
                "{path}: not a field of a {} segment; expected paths under {}",
                workflow.key(),
                writable.join(", ")
            ),
        ))
    };
    let paths = mask::parse(&mask_text);
    let paths = if paths.is_empty() {
        mask::populated(&segment).into_iter().filter(|p| check(p).is_ok()).collect()
    } else {
        let violations: Vec<Violation> = paths.iter().filter_map(|p| check(p).err()).collect();
        if !violations.is_empty() {
            return Err(GoogleError::invalid(violations));
        }
        paths
    };
    if segment.get("name").is_some_and(|name| !name.is_string()) {
        return Err(GoogleError::field("segment.name", "expected a segment name string"));
    }
    let segment = Value::Object(segment);
    for path in &paths {
        mask::apply(&mut instance.segment, &segment, path);
    }
    // The segment's name is recorded whenever the request gives one.
    if let Some(name) = segment.get("name") {
        instance.segment.insert("name".into(), name.clone());
    }
    Ok(())
}
