//! Sync: the snapshot endpoint with long-polling, and the edge follower.
//!
//! `GET /v1/namespaces/{project}/{environment}/snapshot` answers the whole
//! config with its revision as `ETag`; with `If-None-Match` naming the
//! current revision it answers 304, after waiting up to `?wait=` for a newer
//! revision. An edge replica (`--upstream`) long-polls it and takes each new
//! snapshot through the one write path, so a snapshot that does not compile
//! is never served and the last good one is on disk for the next start.

use crate::auth::{Principal, Scope};
use crate::http::{ApiError, AppState, none_match_hits};
use crate::json;
use crate::names::NamespaceName;
use crate::write::{Actor, Change, WriteError, etag_of};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::watch;

/// The revision header of snapshots.
pub const REVISION_HEADER: &str = "x-flagstone-revision";

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/namespaces/{project}/{environment}/snapshot", get(snapshot))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotQuery {
    wait: Option<String>,
}

/// A wait such as `30s`, `500ms`, `2m` or `30` (seconds).
pub fn parse_wait(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

async fn snapshot(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, environment)): Path<(String, String)>,
    query: Result<Query<SnapshotQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let name = NamespaceName::new(&project, &environment)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    principal.require(Scope::Read, &name).map_err(ApiError::denied)?;
    let namespace = app.namespaces.get(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("namespace {name} does not exist"),
        )
    })?;
    let wait = match &query.wait {
        None => Duration::ZERO,
        Some(text) => parse_wait(text).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("wait: expected a duration such as 30s or 500ms, got {text:?}"),
            )
        })?,
    }
    .min(app.limits.max_wait);
    let mut changes = namespace.subscribe();
    let mut published = namespace.published();
    if none_match_hits(&headers, &etag_of(published.revision)) && !wait.is_zero() {
        let seen = published.revision;
        let mut shutdown = app.shutdown.clone();
        let _ = tokio::time::timeout(wait, async {
            loop {
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() || *changes.borrow() != seen { break },
                    _ = shutdown.changed() => break,
                }
            }
        })
        .await;
        published = namespace.published();
    }
    let etag = etag_of(published.revision);
    let mut response = if none_match_hits(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], published.config_text().to_string())
            .into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response.headers_mut().insert(REVISION_HEADER, HeaderValue::from(published.revision));
    Ok(response)
}

/// Where an edge replica gets its snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// The upstream server's base URL (`http://host:8180`).
    pub url: String,
    /// Its token (needs `read` on the followed namespaces).
    pub token: Option<String>,
    /// The namespaces to follow.
    pub namespaces: Vec<NamespaceName>,
    /// How long each long-poll asks the upstream to wait.
    pub wait: Duration,
}

/// Follows one namespace until shutdown.
pub(crate) async fn follow(app: AppState, upstream: Upstream, name: NamespaceName) {
    let mut shutdown = app.shutdown.clone();
    let client = match reqwest::Client::builder()
        .timeout(upstream.wait + Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "upstream client");
            return;
        }
    };
    let base = upstream.url.trim_end_matches('/');
    let url = format!(
        "{base}/v1/namespaces/{}/{}/snapshot?wait={}ms",
        name.project(),
        name.environment(),
        upstream.wait.as_millis()
    );
    let mut backoff = Duration::from_millis(100);
    let mut rejected: Option<u64> = None;
    let mut was_down = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let held = app.namespaces.get(&name).map_or(0, |ns| ns.published().revision);
        let known = rejected.map_or(held, |r| r.max(held));
        let mut request = client.get(&url);
        if known > 0 {
            request = request.header(header::IF_NONE_MATCH, etag_of(known));
        }
        if let Some(token) = &upstream.token {
            request = request.bearer_auth(token);
        }
        let result = tokio::select! {
            result = request.send() => result,
            _ = shutdown.changed() => break,
        };
        let pause = match result {
            Ok(response) if response.status() == StatusCode::NOT_MODIFIED => {
                was_down = false;
                None
            }
            Ok(response) if response.status() == StatusCode::OK => {
                was_down = false;
                match take(&app, &name, response).await {
                    Ok(Some(revision)) => {
                        tracing::info!(namespace = %name, revision, "took upstream snapshot");
                        rejected = None;
                        None
                    }
                    Ok(None) => None,
                    Err(Taken::Rejected { revision, message }) => {
                        tracing::error!(namespace = %name, revision, error = %message, "upstream snapshot rejected; keeping the last good one");
                        rejected = Some(revision);
                        Some(backoff)
                    }
                    Err(Taken::Failed(message)) => {
                        tracing::warn!(namespace = %name, error = %message, "upstream snapshot");
                        Some(backoff)
                    }
                }
            }
            Ok(response) => {
                tracing::warn!(namespace = %name, status = response.status().as_u16(), "upstream answered");
                Some(backoff)
            }
            Err(e) => {
                if !was_down {
                    tracing::warn!(namespace = %name, error = %e, "upstream unreachable; serving the last snapshot");
                    was_down = true;
                }
                Some(backoff)
            }
        };
        match pause {
            None => backoff = Duration::from_millis(100),
            Some(pause) => {
                backoff = (backoff * 2).min(Duration::from_secs(5));
                if sleep_or_shutdown(pause, &mut shutdown).await {
                    break;
                }
            }
        }
    }
}

async fn sleep_or_shutdown(pause: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(pause) => false,
        _ = shutdown.changed() => true,
    }
}

enum Taken {
    Rejected { revision: u64, message: String },
    Failed(String),
}

async fn take(
    app: &AppState,
    name: &NamespaceName,
    response: reqwest::Response,
) -> Result<Option<u64>, Taken> {
    let revision = response
        .headers()
        .get(REVISION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| Taken::Failed(format!("{REVISION_HEADER}: missing or not a number")))?;
    let body = response.bytes().await.map_err(|e| Taken::Failed(e.to_string()))?;
    let document = json::parse(&body, json::MAX_BODY_DEPTH)
        .map_err(|e| Taken::Rejected { revision, message: e.to_string() })?;
    let namespaces = app.namespaces.clone();
    let shown = name.to_string();
    let name = name.clone();
    let actor = Actor { id: "upstream".into(), method: "REPLICATE".into(), path: String::new() };
    let written = tokio::task::spawn_blocking(move || {
        let namespace =
            namespaces.get_or_create(&name).map_err(|e| Taken::Failed(e.to_string()))?;
        match namespace.write(Change::Replicate { document, revision }, &actor) {
            Ok(written) => Ok(Some(written.revision)),
            // An upstream behind the replica (restored from a backup, or another
            // server): keep what is served and ask again after a pause.
            Err(WriteError::Stale { current, offered }) => Err(Taken::Failed(format!(
                "upstream revision {offered} is not newer than the replica's {current}"
            ))),
            Err(WriteError::Invalid(problems)) => Err(Taken::Rejected {
                revision,
                message: problems
                    .iter()
                    .map(|p| format!("{}: {}", p.path, p.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
            Err(other) => Err(Taken::Failed(other.to_string())),
        }
    })
    .await
    .map_err(|e| Taken::Failed(e.to_string()))??;
    if let Some(revision) = written {
        app.metrics.revision(&shown, revision);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits() {
        assert_eq!(parse_wait("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_wait("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_wait("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_wait("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_wait("soon"), None);
        assert_eq!(parse_wait("1h"), None);
    }
}
