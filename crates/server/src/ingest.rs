//! `POST /v1/events:batch`: metric events `{"events": [{unit, metric, value, time}]}`
//! appended to the namespace's event log, for `flagstone aggregate`.

use crate::auth::{Principal, Scope};
use crate::events::Event;
use crate::http::{ApiError, AppState, body_bytes};
use crate::json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

/// The most events one batch may carry.
pub const MAX_BATCH: usize = 10_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/events:batch", post(batch))
}

async fn batch(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = principal.implied_namespace(&headers).map_err(ApiError::denied)?;
    principal.require(Scope::Evaluate, &name).map_err(ApiError::denied)?;
    let namespace = app.namespaces.get(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("namespace {name} does not exist"),
        )
    })?;
    let bytes = body_bytes(body)
        .map_err(|(status, message)| ApiError::new(status, "bad_request", message))?;
    let value = json::parse(&bytes, 8)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))?;
    let Some(Value::Array(items)) = value.get("events") else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "events: expected an array",
        ));
    };
    if items.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("events: {} events, over the limit of {MAX_BATCH}", items.len()),
        ));
    }
    let now = jiff::Timestamp::now().to_string();
    let mut events = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("events[{i}]");
        match serde_json::from_value::<Event>(item.clone()) {
            Ok(mut event) => {
                problems.extend(event.problems(&path, &now));
                events.push(event);
            }
            Err(e) => problems.push(crate::write::Problem::new(path, e.to_string())),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let n = events.len();
    tokio::task::spawn_blocking(move || namespace.events().append(&events))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": n }))))
}
