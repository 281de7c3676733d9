//! The HTTP surface: shared state, the router, the request log and the guard
//! (authentication and rate limits), and native error rendering.

use crate::auth::{Auth, Denied, Principal};
use crate::limits::{Limits, RateLimits, retry_after_seconds};
use crate::metrics::Metrics;
use crate::namespace::Namespaces;
use crate::write::Problem;
use crate::{dialects, ingest, ofrep, sync};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::sync::watch;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::SizeAbove;
use tower_http::timeout::TimeoutLayer;

/// Answers smaller than this are sent as they are: gzip costs more than it saves.
const COMPRESS_ABOVE_BYTES: u64 = 4096;

/// Everything a request handler may need.
#[derive(Debug)]
pub(crate) struct App {
    pub namespaces: Arc<Namespaces>,
    pub auth: Auth,
    pub rate: RateLimits,
    pub limits: Limits,
    pub metrics: Metrics,
    /// Log-based analysis inputs, cached per revision and data watermark.
    pub results: crate::results::LogResults,
    /// An edge replica: no writes.
    pub read_only: bool,
    /// The namespaces an edge replica follows (ready once each has a revision).
    pub followed: Vec<crate::NamespaceName>,
    pub shutdown: watch::Receiver<bool>,
    pub serving: AtomicBool,
    /// The sticky-assignment store of OFREP evaluations, when configured.
    pub assignments: Option<crate::assignments::Assignments>,
}

pub(crate) type AppState = Arc<App>;

/// The token id of a request, carried on its response for the request log.
#[derive(Clone, Debug)]
struct TokenId(Arc<str>);

/// The router with every layer.
pub(crate) fn router(app: AppState) -> Router {
    let timeout = app.limits.request_timeout;
    let sync_timeout = app.limits.max_wait + timeout;
    let api = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(ofrep::routes())
        .merge(ingest::routes())
        .merge(dialects::native::routes(app.read_only))
        .merge(dialects::cloudbees::routes(app.read_only))
        .merge(dialects::confidence::routes(app.read_only))
        .merge(dialects::launchdarkly::routes(app.read_only))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout));
    let long = sync::routes()
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, sync_timeout));
    api.merge(long)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .layer(DefaultBodyLimit::max(app.limits.max_body_bytes))
        .layer(CompressionLayer::new().compress_when(SizeAbove::new(COMPRESS_ABOVE_BYTES)))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(app): State<AppState>) -> Response {
    if !app.serving.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let waiting: Vec<String> = app
        .followed
        .iter()
        .filter(|ns| app.namespaces.get(ns).is_none_or(|n| n.published().revision == 0))
        .map(ToString::to_string)
        .collect();
    if waiting.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let text = format!("waiting for the first snapshot of {}\n", waiting.join(", "));
        (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
    }
}

async fn metrics(
    State(app): State<AppState>,
    axum::Extension(principal): axum::Extension<Principal>,
) -> Response {
    if !principal.has(crate::auth::Scope::Admin) {
        return ApiError::denied(Denied::Scope { token: principal.id.to_string(), scope: "admin" })
            .into_response();
    }
    for (name, revision) in app.namespaces.list() {
        app.metrics.revision(&name.to_string(), revision);
    }
    let mut response = app.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// One log line and the metrics of every request; never the token itself.
async fn observe(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    // Known methods only, so a client cannot grow the metrics without bound.
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS") => m.to_owned(),
        _ => "OTHER".to_owned(),
    };
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    let token = response.extensions().get::<TokenId>().map_or("-", |t| &*t.0);
    tracing::info!(
        target: "flagstone::request",
        method = %method,
        route = %route,
        status,
        latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        token,
    );
    app.metrics.request(&route, &method, status, elapsed.as_secs_f64());
    response
}

/// Authentication and the per-token rate limit, before any handler.
async fn guard(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(request).await;
    }
    let ofrep = path.starts_with("/ofrep/");
    // LaunchDarkly's routes answer in its own codes (`unauthorized`), Confidence's in Google's.
    let launchdarkly = path.starts_with("/api/v2/");
    let confidence = dialects::confidence::owns(path);
    let principal = match app.auth.authenticate(request.headers()) {
        Ok(principal) => principal,
        Err(denied) => {
            let mut response = if confidence {
                dialects::confidence::refused(StatusCode::UNAUTHORIZED, denied.to_string())
            } else {
                render_denied(ofrep, launchdarkly, StatusCode::UNAUTHORIZED, &denied)
            };
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    };
    let token = TokenId(principal.id.clone());
    if let Err(wait) = app.rate.check(&principal.id) {
        let seconds = retry_after_seconds(wait);
        let message = format!("rate limit exceeded; retry after {seconds} s");
        let mut response = if ofrep {
            ofrep::general_error(StatusCode::TOO_MANY_REQUESTS, message)
        } else if confidence {
            dialects::confidence::refused(StatusCode::TOO_MANY_REQUESTS, message)
        } else {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message).into_response()
        };
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response.extensions_mut().insert(token);
        return response;
    }
    request.extensions_mut().insert(principal);
    let mut response = next.run(request).await;
    response.extensions_mut().insert(token);
    response
}

fn render_denied(ofrep: bool, launchdarkly: bool, status: StatusCode, denied: &Denied) -> Response {
    if ofrep {
        ofrep::general_error(status, denied.to_string())
    } else if launchdarkly {
        dialects::launchdarkly::denied(denied)
    } else {
        ApiError::denied(denied.clone()).into_response()
    }
}

/// A native API error: `{"code", "message", "problems"?}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    problems: Vec<Problem>,
    etag: Option<String>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[Problem]>::is_empty")]
    problems: &'a [Problem],
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), problems: Vec::new(), etag: None }
    }

    pub(crate) fn invalid(problems: Vec<Problem>) -> Self {
        let message = format!("{} problem(s); nothing was written", problems.len());
        ApiError { problems, ..ApiError::new(StatusCode::BAD_REQUEST, "invalid", message) }
    }

    pub(crate) fn with_etag(mut self, etag: Option<String>) -> Self {
        self.etag = etag;
        self
    }

    pub(crate) fn denied(denied: Denied) -> Self {
        let (status, code) = match denied {
            Denied::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Denied::Scope { .. } | Denied::Namespace { .. } => {
                (StatusCode::FORBIDDEN, "permission_denied")
            }
            Denied::BadHeader(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        };
        ApiError::new(status, code, denied.to_string())
    }

    /// Its status, message and problems, for a dialect that renders errors its own way.
    pub(crate) fn parts(&self) -> (StatusCode, &str, &[Problem]) {
        (self.status, &self.message, &self.problems)
    }

    pub(crate) fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(error = %message, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { code: self.code, message: &self.message, problems: &self.problems };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(etag) = self.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        response
    }
}

/// A request body, or the error for why it could not be read (413 when too large).
pub(crate) fn body_bytes(
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, (StatusCode, String)> {
    body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body is over the size limit".to_owned()
        } else {
            format!("cannot read the request body: {}", rejection.body_text())
        };
        (status, message)
    })
}

/// The entity tags of `If-Match` / `If-None-Match`, split at commas.
pub(crate) fn tags(headers: &HeaderMap, name: header::HeaderName) -> Option<Vec<String>> {
    let mut all = Vec::new();
    for value in headers.get_all(name) {
        let text = value.to_str().ok()?;
        all.extend(text.split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()));
    }
    (!all.is_empty()).then_some(all)
}

/// Whether an `If-None-Match` list holds a tag (weak comparison).
pub(crate) fn none_match_hits(headers: &HeaderMap, etag: &str) -> bool {
    tags(headers, header::IF_NONE_MATCH).is_some_and(|tags| {
        tags.iter().any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
    })
}
