//! Sufficient statistics from the server's own logs: the namespace's
//! exposures of the instance's flag joined with its metric events by
//! `flagstone-warehouse` (the rules of `flagstone aggregate`), over the
//! window from the instance's first launch to its end (open while it runs).
//!
//! The logs are read through the server's cache (`crate::results`): the
//! exposure log is flushed first, so every evaluation answered before the
//! request counts, and a request with no new data is answered from memory.
//! Exposures of the flag's other rules count too: the comparison is of the
//! variants units of the flag got.

use super::error::GoogleError;
use super::handlers::Call;
use super::instance::{Instance, Workflow};
use crate::results::LogQuery;
use flagstone_stats::analysis::AnalysisRequest;
use flagstone_warehouse::Window;
use serde_json::Value;

/// The analysis request of an instance from the logs; `None` when there is nothing to analyse yet.
pub(super) async fn inputs(
    call: &Call,
    instance: &Instance,
) -> Result<Option<AnalysisRequest>, GoogleError> {
    let module = match call.workflow {
        Workflow::Rollout => "rollout",
        Workflow::AbTest => "abtest",
    };
    let flag = instance.fields.get(module).and_then(|m| m.get("flag")).and_then(Value::as_str);
    let Some(flag) = flag else { return Ok(None) };
    let flag = if flag.starts_with("flags/") { flag.to_owned() } else { format!("flags/{flag}") };
    let Some(namespace) = call.app.namespaces.get(&call.namespace) else { return Ok(None) };
    let history = instance.fields.get("stateHistory").and_then(Value::as_array);
    let time_of = |state: &str| {
        history.and_then(|h| {
            h.iter()
                .find(|e| e.get("state").and_then(Value::as_str) == Some(state))
                .and_then(|e| e.get("time"))
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        })
    };
    let Some(start) = time_of("live") else { return Ok(None) };
    let window = Window { start: Some(start), end: time_of("ended") };
    let revision = namespace.published().revision;
    let app = call.app.clone();
    let query = LogQuery::new(flag, Vec::new(), window);
    let joined =
        tokio::task::spawn_blocking(move || app.results.inputs(&namespace, revision, &query))
            .await
            .map_err(GoogleError::internal)?;
    match joined {
        // Fewer than two variants seen (or none): nothing to compare yet.
        Ok(inputs) => Ok(inputs.request.clone()),
        Err(other) => Err(GoogleError::failed_precondition(
            &call.workflow.name(&instance.id),
            "LOGS",
            format!("the server's logs cannot be aggregated: {other}"),
        )),
    }
}
