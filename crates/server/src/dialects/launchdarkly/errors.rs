//! LaunchDarkly's error shape, `{"code", "message"}`, with its documented
//! statuses and codes (400 `invalid_request`, 401 `unauthorized`, 403
//! `forbidden`, 404 `not_found`, 405 `method_not_allowed`, 409 `conflict`,
//! 429 `rate_limited`).

use crate::auth::Denied;
use crate::http::ApiError;
use crate::write::Problem;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failed LaunchDarkly request.
#[derive(Debug)]
pub(crate) struct LdError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl LdError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        LdError { status, code, message: message.into() }
    }

    /// 400 `invalid_request`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        LdError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 404 `not_found`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        LdError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        LdError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 401 or 403 for a refused token.
    pub(crate) fn denied(denied: &Denied) -> Self {
        match denied {
            Denied::Unauthenticated => {
                LdError::new(StatusCode::UNAUTHORIZED, "unauthorized", denied.to_string())
            }
            Denied::BadHeader(_) => LdError::invalid(denied.to_string()),
            _ => LdError::new(StatusCode::FORBIDDEN, "forbidden", denied.to_string()),
        }
    }

    /// 400 listing every problem of a write the model refused, one per line.
    pub(crate) fn problems(problems: &[Problem]) -> Self {
        let lines: Vec<String> =
            problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        LdError::invalid(format!("nothing was written: {}", lines.join("; ")))
    }

    pub(crate) fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(error = %message, "internal error");
        LdError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "internal error; see the server log",
        )
    }
}

/// A native error from a shared helper (the write path, body reading), in LaunchDarkly's codes.
impl From<ApiError> for LdError {
    fn from(error: ApiError) -> Self {
        let (status, message, problems) = error.parts();
        if !problems.is_empty() {
            return LdError::problems(problems);
        }
        let code = match status {
            StatusCode::BAD_REQUEST => "invalid_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
            StatusCode::TOO_MANY_REQUESTS => "rate_limited",
            _ => "internal_server_error",
        };
        // A lost race with another writer is a conflict in LaunchDarkly's terms.
        let status =
            if status == StatusCode::PRECONDITION_FAILED { StatusCode::CONFLICT } else { status };
        LdError::new(status, code, message.to_owned())
    }
}

impl IntoResponse for LdError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"code": self.code, "message": self.message}))).into_response()
    }
}

/// 405 for a method a route does not take.
pub(crate) async fn method_not_allowed() -> LdError {
    LdError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// 405 on an edge replica, which takes no writes.
pub(crate) async fn read_only_replica() -> LdError {
    LdError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this server is an edge replica; write to its upstream",
    )
}
