//! Spotify Confidence's workflow API: rollout and A/B test instances, AIP
//! style, over the `rollouts` and `abtests` collections (DESIGN §7,
//! `docs/confidence.md`).
//!
//! - `GET|POST /v1/workflows/{rollout|abtest}/instances` (list, create)
//! - `GET|PATCH|DELETE /v1/workflows/{rollout|abtest}/instances/{id}`
//! - `POST /v1/workflows/{…}/instances/{id}:updateSegment|:launch|:pause|:resume|:end`
//! - `GET|PUT /v1/workflows/{…}/instances/{id}/analysisInputs`
//! - `GET /v2/workflows/{…}/instances/{id}/analysisResults/{result}` (and under `/v1`);
//!   with `Accept: text/html`, or as `…/analysisResults/{result}:report`, the
//!   analysis as one self-contained HTML page (`flagstone analyze --format html`'s)
//!
//! Paths act on the token's namespace (`X-Flagstone-Namespace` picks one
//! for a token of every namespace). An instance is a record beside the
//! config holding the Confidence document; each write translates it into
//! the model resource `rollouts/{id}` or `abtests/{id}` and writes both in
//! one batch, so what a request acknowledges is what the engine serves.
//! Errors are Google JSON errors whose `fieldViolations` name the
//! request's own fields.

mod error;
mod handlers;
mod instance;
mod list;
mod logs;
mod mask;
mod results;
mod translate;

use crate::http::AppState;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The Confidence routes (`/v1/workflows/…`, `/v2/workflows/…`); an edge
/// replica answers writes with 405.
pub(crate) fn routes(read_only: bool) -> Router<AppState> {
    let base = "/v1/workflows/{workflow}/instances";
    let one = format!("{base}/{{instance}}");
    let inputs = format!("{one}/analysisInputs");
    let results_v1 = format!("{one}/analysisResults/{{result}}");
    let results_v2 = "/v2/workflows/{workflow}/instances/{instance}/analysisResults/{result}";
    if read_only {
        return Router::new()
            .route(base, get(handlers::list).post(handlers::read_only))
            .route(
                &one,
                get(handlers::get)
                    .patch(handlers::read_only)
                    .post(handlers::read_only)
                    .delete(handlers::read_only),
            )
            .route(&inputs, get(results::get_inputs).put(handlers::read_only))
            .route(&results_v1, get(results::get_result))
            .route(results_v2, get(results::get_result));
    }
    Router::new()
        .route(base, get(handlers::list).post(handlers::create))
        .route(
            &one,
            get(handlers::get)
                .patch(handlers::patch)
                .post(handlers::custom)
                .delete(handlers::delete),
        )
        .route(&inputs, get(results::get_inputs).put(results::put_inputs))
        .route(&results_v1, get(results::get_result))
        .route(results_v2, get(results::get_result))
}

/// Whether a path is the Confidence dialect's, so the guard answers its
/// refusals (401, 429) in Google's error shape.
pub(crate) fn owns(path: &str) -> bool {
    path.starts_with("/v1/workflows/") || path.starts_with("/v2/workflows/")
}

/// A refusal before any handler ran (401 `UNAUTHENTICATED`, 429 `RESOURCE_EXHAUSTED`).
pub(crate) fn refused(status: StatusCode, message: String) -> Response {
    let name = match status {
        StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
        StatusCode::TOO_MANY_REQUESTS => "RESOURCE_EXHAUSTED",
        StatusCode::FORBIDDEN => "PERMISSION_DENIED",
        _ => "INVALID_ARGUMENT",
    };
    error::GoogleError::new(status, name, message).into_response()
}
