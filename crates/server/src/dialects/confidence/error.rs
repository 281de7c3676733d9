//! Google JSON errors (AIP-193), and the mapping of the write path's
//! config paths back to the paths of the request that caused them.

use crate::auth::Denied;
use crate::write::{Problem, WriteError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One bad field of a request: its path in the request and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    pub field: String,
    pub description: String,
}

impl Violation {
    pub(crate) fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Violation { field: field.into(), description: description.into() }
    }
}

/// A Google JSON error: `{"error": {"code", "message", "status", "details"}}`.
#[derive(Debug)]
pub(crate) struct GoogleError {
    code: StatusCode,
    status: &'static str,
    message: String,
    details: Vec<Value>,
}

pub(crate) type Answer = Result<Response, GoogleError>;

impl GoogleError {
    pub(crate) fn new(code: StatusCode, status: &'static str, message: impl Into<String>) -> Self {
        GoogleError { code, status, message: message.into(), details: Vec::new() }
    }

    /// 400 `INVALID_ARGUMENT` with a `BadRequest` detail listing every violation.
    pub(crate) fn invalid(violations: Vec<Violation>) -> Self {
        let message = match violations.as_slice() {
            [one] if one.field.is_empty() => one.description.clone(),
            [one] => format!("{}: {}", one.field, one.description),
            many => format!("{} invalid fields; nothing was written", many.len()),
        };
        let field_violations: Vec<Value> = violations
            .iter()
            .map(|v| json!({"field": v.field, "description": v.description}))
            .collect();
        GoogleError {
            details: vec![json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": field_violations,
            })],
            ..GoogleError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
        }
    }

    /// 400 `INVALID_ARGUMENT` for one field.
    pub(crate) fn field(field: impl Into<String>, description: impl Into<String>) -> Self {
        GoogleError::invalid(vec![Violation::new(field, description)])
    }

    /// 400 `FAILED_PRECONDITION` with a `PreconditionFailure` detail.
    pub(crate) fn failed_precondition(
        subject: &str,
        kind: &str,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        GoogleError {
            details: vec![json!({
                "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
                "violations": [{"type": kind, "subject": subject, "description": message}],
            })],
            ..GoogleError::new(StatusCode::BAD_REQUEST, "FAILED_PRECONDITION", message)
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        GoogleError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        GoogleError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error; see the server log",
        )
    }

    pub(crate) fn denied(denied: Denied) -> Self {
        match denied {
            Denied::Unauthenticated => {
                GoogleError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", denied.to_string())
            }
            Denied::Scope { .. } | Denied::Namespace { .. } => {
                GoogleError::new(StatusCode::FORBIDDEN, "PERMISSION_DENIED", denied.to_string())
            }
            Denied::BadHeader(_) => {
                GoogleError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", denied.to_string())
            }
        }
    }

    /// The error of a refused write; `map` turns a config problem into a request violation.
    pub(crate) fn write(error: WriteError, map: impl Fn(&Problem) -> Violation) -> Self {
        match error {
            WriteError::Invalid(problems) => {
                GoogleError::invalid(problems.iter().map(map).collect())
            }
            WriteError::PreconditionFailed { .. } => GoogleError::new(
                StatusCode::CONFLICT,
                "ABORTED",
                "the instance changed while this request was applied; nothing was written, retry",
            ),
            WriteError::NotFound => GoogleError::not_found("no such instance"),
            other => GoogleError::internal(other),
        }
    }
}

impl IntoResponse for GoogleError {
    fn into_response(self) -> Response {
        let mut error = json!({
            "code": self.code.as_u16(),
            "message": self.message,
            "status": self.status,
        });
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details);
        }
        (self.code, Json(json!({ "error": error }))).into_response()
    }
}

/// How one config field of a model resource maps to the request's fields.
pub(crate) type FieldMap = &'static [(&'static str, &'static str)];

/// Maps a problem of the assembled config back to the request: a problem
/// inside `resource` (`rollouts/abc`) at `rollouts[3].reach` becomes
/// `rollout.reach` by `fields` (longest model prefix first); a problem
/// elsewhere keeps its config path in the description.
pub(crate) fn locate(problem: &Problem, resource: &str, fields: FieldMap) -> Violation {
    if problem.resource.as_deref() != Some(resource) {
        return Violation::new("", format!("{}: {}", problem.path, problem.message));
    }
    // `rollouts[3].targeting.criteria.x` → `targeting.criteria.x`
    let inner = problem
        .path
        .split_once(']')
        .map(|(_, rest)| rest.strip_prefix('.').unwrap_or(rest))
        .unwrap_or_default();
    // serde names a missing field in its message, at the object's path.
    let missing = problem
        .message
        .split_once("missing field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(field, _)| field);
    let inner = match (inner.is_empty(), missing) {
        (true, Some(field)) => field.to_owned(),
        (false, Some(field)) => format!("{inner}.{field}"),
        (_, None) => inner.to_owned(),
    };
    Violation::new(request_path(&inner, fields), problem.message.clone())
}

/// The request path of a model path, by the longest matching prefix in `fields`.
pub(crate) fn request_path(model: &str, fields: FieldMap) -> String {
    let mut best: Option<(&str, &str)> = None;
    for &(from, to) in fields {
        let matches = model == from
            || model.strip_prefix(from).is_some_and(|r| r.starts_with('.') || r.starts_with('['));
        if matches && best.is_none_or(|(b, _)| from.len() > b.len()) {
            best = Some((from, to));
        }
    }
    match best {
        Some((from, to)) => format!("{to}{}", model.get(from.len()..).unwrap_or_default()),
        None => model.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: FieldMap = &[
        ("reach", "rollout.reach"),
        ("targeting", "segment.targeting"),
        ("metrics", "metrics.metrics"),
        ("metrics[].kind", "unused"),
    ];

    #[test]
    fn config_paths_become_request_paths() {
        let mut p = Problem::new("rollouts[3].reach", "expected a number in [0, 1]");
        p.resource = Some("rollouts/abc".into());
        assert_eq!(locate(&p, "rollouts/abc", FIELDS).field, "rollout.reach");
        let mut p = Problem::new(
            "rollouts[0].targeting.criteria.country.attribute.eqRule",
            "unknown field `valu`",
        );
        p.resource = Some("rollouts/abc".into());
        assert_eq!(
            locate(&p, "rollouts/abc", FIELDS).field,
            "segment.targeting.criteria.country.attribute.eqRule"
        );
        let mut p = Problem::new("rollouts[0]", "missing field `flag`");
        p.resource = Some("rollouts/abc".into());
        assert_eq!(locate(&p, "rollouts/abc", FIELDS).field, "flag");
        assert_eq!(request_path("metrics[2].metric", FIELDS), "metrics.metrics[2].metric");
        assert_eq!(request_path("reachable", FIELDS), "reachable");
        let elsewhere = Problem::new("flags[0].rules", "bad");
        let v = locate(&elsewhere, "rollouts/abc", FIELDS);
        assert_eq!(v.field, "");
        assert_eq!(v.description, "flags[0].rules: bad");
    }
}
