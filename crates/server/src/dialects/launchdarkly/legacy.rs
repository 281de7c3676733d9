//! Legacy experiments: JSON Patch on `/experiments` of a flag
//! (`PATCH /api/v2/flags/{projectKey}/{flagKey}`).
//!
//! A flag's legacy experiments are project-wide in LaunchDarkly, while a
//! Flagstone flag lives in each `{project}/{environment}` namespace. The
//! document (`{baselineIdx, items: [{metricKey, environments}]}`) is kept as
//! the record `launchdarkly.legacy-experiments/{flagKey}` in every namespace
//! of the project that holds the flag, with the times each environment
//! recorded each metric and the results resets.

use super::errors::LdError;
use super::experiments::{Answer, actor, parse_body};
use crate::auth::{Principal, Scope};
use crate::dialects::native::run_write;
use crate::http::AppState;
use crate::names::{Kind, NamespaceName};
use crate::namespace::{Namespace, Published};
use crate::write::{Change, Precondition};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Method, Uri};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use json_patch::PatchOperation;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// The record collection, keyed by flag key.
pub(crate) const LEGACY: &str = "launchdarkly.legacy-experiments";

/// The part of a flag that legacy experiments live in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Experiments {
    #[serde(default)]
    pub baseline_idx: usize,
    #[serde(default)]
    pub items: Vec<Item>,
}

/// One legacy experiment: a metric, recorded in some environments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Item {
    pub metric_key: String,
    #[serde(default)]
    pub environments: Vec<String>,
}

/// A span of time in which an environment recorded a metric (Unix ms; `to` open while recording).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Recording {
    pub metric_key: String,
    pub environment: String,
    pub from: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
}

/// The stored document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LegacyRecord {
    pub experiments: Experiments,
    #[serde(default)]
    pub recordings: Vec<Recording>,
    /// `(metricKey, environment)` → the time of the last results reset (Unix ms).
    #[serde(default)]
    pub resets: Vec<Reset>,
}

/// A results reset: data before `at` no longer counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Reset {
    pub metric_key: String,
    pub environment: String,
    pub at: i64,
}

impl LegacyRecord {
    /// Opens and closes recordings so they follow the new `items`.
    fn follow(&mut self, new: Experiments, now: i64) {
        let recording = |items: &[Item], metric: &str, env: &str| {
            items.iter().any(|i| i.metric_key == metric && i.environments.iter().any(|e| e == env))
        };
        for r in &mut self.recordings {
            if r.to.is_none() && !recording(&new.items, &r.metric_key, &r.environment) {
                r.to = Some(now);
            }
        }
        for item in &new.items {
            for env in &item.environments {
                let open = self.recordings.iter().any(|r| {
                    r.to.is_none() && r.metric_key == item.metric_key && r.environment == *env
                });
                if !open {
                    self.recordings.push(Recording {
                        metric_key: item.metric_key.clone(),
                        environment: env.clone(),
                        from: now,
                        to: None,
                    });
                }
            }
        }
        self.experiments = new;
    }

    /// Whether `environment` recorded `metric` at `ms` and no reset came after.
    #[cfg(test)]
    pub(crate) fn counts(&self, metric: &str, environment: &str, ms: i64) -> bool {
        let reset = self
            .resets
            .iter()
            .filter(|r| r.metric_key == metric && r.environment == environment)
            .map(|r| r.at)
            .max();
        reset.is_none_or(|at| ms >= at)
            && self.recordings.iter().any(|r| {
                r.metric_key == metric
                    && r.environment == environment
                    && r.from <= ms
                    && r.to.is_none_or(|to| ms < to)
            })
    }

    /// Whether the metric has a legacy experiment that ever recorded in `environment`.
    pub(crate) fn has(&self, metric: &str, environment: &str) -> bool {
        self.experiments.items.iter().any(|i| i.metric_key == metric)
            || self
                .recordings
                .iter()
                .any(|r| r.metric_key == metric && r.environment == environment)
    }
}

/// The stored record of a flag in one namespace, if any.
pub(crate) fn record_of(
    published: &Published,
    flag: &str,
) -> Result<Option<(String, LegacyRecord)>, LdError> {
    published
        .record(LEGACY, flag)
        .map(|stored| {
            serde_json::from_value(stored.document.clone())
                .map(|r| (stored.etag.clone(), r))
                .map_err(|e| LdError::internal(format!("stored legacy experiments of {flag}: {e}")))
        })
        .transpose()
}

/// The flag's variants (ids, values), in order.
pub(crate) fn variations(published: &Published, flag: &str) -> Vec<(String, Value)> {
    let prefix = format!("flags/{flag}/variants/");
    published
        .resource(Kind::Flags, flag)
        .and_then(|r| r.document.get("variants").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| {
            let name = v.get("name")?.as_str()?;
            let id = name.strip_prefix(&prefix).unwrap_or(name).to_owned();
            Some((id, v.get("value").cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

/// The namespaces of `project` that hold the flag, each writable by the caller.
fn holders(
    app: &AppState,
    principal: &Principal,
    project: &str,
    flag: &str,
) -> Result<Vec<Arc<Namespace>>, LdError> {
    let mut found = Vec::new();
    for (name, _) in app.namespaces.list() {
        if name.project() != project {
            continue;
        }
        let Some(ns) = app.namespaces.get(&name) else { continue };
        if ns.published().resource(Kind::Flags, flag).is_none() {
            continue;
        }
        principal.require(Scope::Write, &name).map_err(|d| LdError::denied(&d))?;
        found.push(ns);
    }
    if found.is_empty() {
        return Err(LdError::not_found(format!(
            "flag {flag:?} does not exist in any environment of project {project:?}"
        )));
    }
    Ok(found)
}

/// The operations of the body: a JSON Patch array, or `{"patch": [...], "comment"?}`.
fn operations(body: Value) -> Result<Vec<PatchOperation>, LdError> {
    let items = match body {
        Value::Array(items) => items,
        Value::Object(mut fields) => match fields.remove("patch") {
            Some(Value::Array(items)) => {
                if let Some(k) = fields.keys().find(|k| *k != "comment") {
                    return Err(LdError::invalid(format!(
                        "{k}: unknown field; expected patch and comment"
                    )));
                }
                items
            }
            _ => {
                return Err(LdError::invalid(
                    "expected a JSON Patch: an array of operations, or {\"patch\": [...]}",
                ));
            }
        },
        _ => return Err(LdError::invalid("expected a JSON Patch: an array of operations")),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let op: PatchOperation = serde_json::from_value(item)
                .map_err(|e| LdError::invalid(format!("patch[{i}]: {e}; nothing was written")))?;
            let path = op.path().as_str();
            if path != "/experiments" && !path.starts_with("/experiments/") {
                return Err(LdError::invalid(format!(
                    "patch[{i}]: path {path:?}: this server changes only /experiments of a flag; manage the flag through the Flagstone API; nothing was written"
                )));
            }
            Ok(op)
        })
        .collect()
}

/// Checks the patched document against a namespace's flag.
fn check(experiments: &Experiments, published: &Published, flag: &str) -> Result<(), LdError> {
    let n = variations(published, flag).len();
    if experiments.baseline_idx >= n.max(1) {
        return Err(LdError::invalid(format!(
            "experiments.baselineIdx: {} is not a variation of flag {flag:?}, which has {n}",
            experiments.baseline_idx
        )));
    }
    for (i, item) in experiments.items.iter().enumerate() {
        if item.metric_key.is_empty() || item.metric_key.contains('/') {
            return Err(LdError::invalid(format!(
                "experiments.items[{i}].metricKey: expected a metric key"
            )));
        }
        if experiments.items.iter().take(i).any(|o| o.metric_key == item.metric_key) {
            return Err(LdError::invalid(format!(
                "experiments.items[{i}].metricKey: flag {flag:?} already has an experiment on {:?}",
                item.metric_key
            )));
        }
        for (j, env) in item.environments.iter().enumerate() {
            if item.environments.iter().take(j).any(|e| e == env) {
                return Err(LdError::invalid(format!(
                    "experiments.items[{i}].environments[{j}]: {env:?} is listed twice"
                )));
            }
        }
    }
    Ok(())
}

/// `PATCH /api/v2/flags/{projectKey}/{flagKey}`.
pub(crate) async fn patch_flag(
    State(app): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((project, flag)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let holders = holders(&app, &principal, &project, &flag)?;
    let ops = operations(parse_body(body)?)?;
    let first = holders.first().ok_or_else(|| LdError::internal("no holder"))?.published();
    let current = record_of(&first, &flag)?.map(|(_, r)| r).unwrap_or_default();
    let mut view = json!({"experiments": current.experiments});
    json_patch::patch_unsafe(&mut view, &ops).map_err(|e| {
        LdError::invalid(format!(
            "patch[{}] ({:?}): {}; nothing was written",
            e.operation,
            e.path.as_str(),
            e.kind
        ))
    })?;
    let patched = view.get("experiments").cloned().unwrap_or(Value::Null);
    let new: Experiments = super::wire::from_value_at(patched, "experiments")?;
    for ns in &holders {
        check(&new, &ns.published(), &flag)?;
    }
    let now = super::wire::now_ms();
    for ns in &holders {
        let published = ns.published();
        let (precondition, mut record) = match record_of(&published, &flag)? {
            Some((etag, record)) => (Precondition::IfMatch(vec![etag]), record),
            None => (Precondition::IfNoneMatchAny, current.clone()),
        };
        record.follow(new.clone(), now);
        let change = Change::PutRecord {
            collection: LEGACY.to_owned(),
            id: flag.clone(),
            document: serde_json::to_value(&record).map_err(LdError::internal)?,
            precondition,
        };
        run_write(&app, ns.name().clone(), change, actor(&principal, &method, &uri)).await?;
    }
    let shown: Vec<Value> = variations(&first, &flag)
        .into_iter()
        .map(|(id, value)| json!({"_id": id, "value": value}))
        .collect();
    Ok(Json(json!({
        "key": flag,
        "name": flag,
        "variations": shown,
        "experiments": new,
        "_links": {"self": {"href": format!("/api/v2/flags/{project}/{flag}"), "type": "application/json"}},
    }))
    .into_response())
}

/// The namespace of a legacy results request, readable (or writable) by the caller.
pub(crate) fn environment(
    app: &AppState,
    principal: &Principal,
    scope: Scope,
    project: &str,
    environment: &str,
) -> Result<Arc<Namespace>, LdError> {
    let name =
        NamespaceName::new(project, environment).map_err(|e| LdError::invalid(e.to_string()))?;
    super::experiments::namespace(app, principal, scope, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(metric: &str, envs: &[&str]) -> Item {
        Item {
            metric_key: metric.into(),
            environments: envs.iter().map(|e| (*e).to_owned()).collect(),
        }
    }

    #[test]
    fn recordings_follow_the_environments() {
        let mut r = LegacyRecord::default();
        r.follow(Experiments { baseline_idx: 0, items: vec![item("m", &[])] }, 10);
        assert!(r.recordings.is_empty());
        r.follow(Experiments { baseline_idx: 0, items: vec![item("m", &["production"])] }, 20);
        assert!(r.counts("m", "production", 20));
        assert!(!r.counts("m", "production", 19));
        assert!(!r.counts("m", "staging", 25));
        r.follow(Experiments { baseline_idx: 0, items: vec![item("m", &[])] }, 30);
        assert!(r.counts("m", "production", 29));
        assert!(!r.counts("m", "production", 30));
        r.follow(Experiments { baseline_idx: 0, items: vec![item("m", &["production"])] }, 40);
        assert!(r.counts("m", "production", 45));
        r.resets.push(Reset { metric_key: "m".into(), environment: "production".into(), at: 50 });
        assert!(!r.counts("m", "production", 45));
        assert!(r.counts("m", "production", 50));
        r.follow(Experiments::default(), 60);
        assert!(!r.counts("m", "production", 60));
        assert!(r.has("m", "production"));
    }

    #[test]
    fn only_experiments_may_be_patched() {
        assert!(
            operations(json!([{"op": "replace", "path": "/experiments/baselineIdx", "value": 1}]))
                .is_ok()
        );
        assert!(
            operations(
                json!({"patch": [{"op": "remove", "path": "/experiments/items/0"}], "comment": "c"})
            )
            .is_ok()
        );
        let e = operations(json!([{"op": "replace", "path": "/name", "value": "x"}])).unwrap_err();
        assert!(format!("{e:?}").contains("patch[0]"), "{e:?}");
        assert!(operations(json!({"op": "add"})).is_err());
    }
}
