//! Experiments and iterations as LaunchDarkly shows them, with `expand`.

use super::errors::LdError;
use super::wire::{ExperimentRecord, IterationRecord, MetricInput, Status, TreatmentRecord};
use serde_json::{Map, Value, json};

/// What `expand` adds to an experiment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Expand {
    pub previous_iterations: bool,
    pub draft_iteration: bool,
    pub secondary_metrics: bool,
    pub treatments: bool,
}

impl Expand {
    /// Everything: the answer to a create, a patch, or a new iteration.
    pub(crate) const ALL: Expand = Expand {
        previous_iterations: true,
        draft_iteration: true,
        secondary_metrics: true,
        treatments: true,
    };

    /// `expand=previousIterations,draftIteration,secondaryMetrics,treatments`.
    pub(crate) fn parse(text: Option<&str>) -> Result<Expand, LdError> {
        let mut expand = Expand::default();
        for field in text.unwrap_or_default().split(',').map(str::trim).filter(|f| !f.is_empty()) {
            match field {
                "previousIterations" => expand.previous_iterations = true,
                "draftIteration" => expand.draft_iteration = true,
                "secondaryMetrics" => expand.secondary_metrics = true,
                "treatments" => expand.treatments = true,
                other => {
                    return Err(LdError::invalid(format!(
                        "expand: unknown field {other:?}; expected previousIterations, draftIteration, secondaryMetrics or treatments"
                    )));
                }
            }
        }
        Ok(expand)
    }
}

fn link(href: String) -> Value {
    json!({"href": href, "type": "application/json"})
}

/// The collection's path.
pub(crate) fn collection_path(project: &str, environment: &str) -> String {
    format!("/api/v2/projects/{project}/environments/{environment}/experiments")
}

fn metric(project: &str, m: &MetricInput) -> Value {
    // Flagstone metrics are event names, not resources: the key is the name
    // and every metric is a custom (event) metric.
    json!({
        "key": m.key,
        "name": m.key,
        "kind": "custom",
        "_links": {"self": link(format!("/api/v2/metrics/{project}/{}", m.key))},
    })
}

fn treatment(t: &TreatmentRecord) -> Value {
    json!({
        "_id": t.id,
        "name": t.name,
        "allocationPercent": t.allocation_percent,
        "baseline": t.baseline,
        "parameters": t.parameters.iter().map(|p| json!({"variationId": p.variation_id, "flagKey": p.flag_key})).collect::<Vec<_>>(),
    })
}

/// One iteration; `expand` decides treatments and secondary metrics.
pub(crate) fn iteration(project: &str, i: &IterationRecord, expand: Expand) -> Value {
    let mut out = Map::new();
    out.insert("_id".into(), json!(i.id));
    out.insert("hypothesis".into(), json!(i.hypothesis));
    out.insert("status".into(), json!(i.status));
    out.insert("createdAt".into(), json!(i.created_at));
    if let Some(ms) = i.started_at {
        out.insert("startedAt".into(), json!(ms));
    }
    if let Some(ms) = i.ended_at {
        out.insert("endedAt".into(), json!(ms));
    }
    if let Some(id) = &i.winning_treatment_id {
        out.insert("winningTreatmentId".into(), json!(id));
    }
    if let Some(reason) = &i.winning_reason {
        out.insert("winningReason".into(), json!(reason));
    }
    out.insert("canReshuffleTraffic".into(), json!(i.can_reshuffle_traffic));
    let flags: Map<String, Value> = i
        .flags
        .iter()
        .map(|(key, f)| {
            (
                key.clone(),
                json!({
                    "targetingRule": f.get("ruleId").cloned().unwrap_or(Value::Null),
                    "flagConfigVersion": f.get("flagConfigVersion").cloned().unwrap_or(Value::Null),
                    "_links": {"self": link(format!("/api/v2/flags/{project}/{key}"))},
                }),
            )
        })
        .collect();
    out.insert("flags".into(), Value::Object(flags));
    let primary = i.primary_metric();
    if let Some(m) = primary {
        out.insert("primaryMetric".into(), metric(project, m));
    }
    if expand.treatments {
        out.insert("treatments".into(), i.treatments.iter().map(treatment).collect());
    }
    if expand.secondary_metrics {
        let secondary: Vec<Value> = i
            .metrics
            .iter()
            .filter(|m| primary.is_none_or(|p| p.key != m.key))
            .map(|m| metric(project, m))
            .collect();
        out.insert("secondaryMetrics".into(), Value::Array(secondary));
    }
    Value::Object(out)
}

/// One experiment; `expand` as documented (all omitted by default).
pub(crate) fn experiment(
    project: &str,
    environment: &str,
    record: &ExperimentRecord,
    expand: Expand,
) -> Value {
    let base = collection_path(project, environment);
    let mut out = Map::new();
    out.insert("_id".into(), json!(record.id));
    out.insert("key".into(), json!(record.key));
    out.insert("name".into(), json!(record.name));
    if let Some(d) = &record.description {
        out.insert("description".into(), json!(d));
    }
    if let Some(m) = &record.maintainer_id {
        out.insert("_maintainerId".into(), json!(m));
    }
    out.insert("_creationDate".into(), json!(record.creation_date));
    out.insert(
        "_links".into(),
        json!({
            "parent": link(format!("/api/v2/projects/{project}/environments/{environment}")),
            "self": link(format!("{base}/{}", record.key)),
        }),
    );
    let iteration_expand = Expand { previous_iterations: false, draft_iteration: false, ..expand };
    if let Some(current) = record.current() {
        out.insert("currentIteration".into(), iteration(project, current, iteration_expand));
    }
    if expand.draft_iteration
        && let Some(draft) = record.draft_idx().and_then(|i| record.iterations.get(i))
    {
        out.insert("draftIteration".into(), iteration(project, draft, iteration_expand));
    }
    if expand.previous_iterations {
        let previous: Vec<Value> =
            record.previous().iter().map(|i| iteration(project, i, iteration_expand)).collect();
        out.insert("previousIterations".into(), Value::Array(previous));
    }
    Value::Object(out)
}

/// The status an experiment is filtered by: its current iteration's.
pub(crate) fn status_of(record: &ExperimentRecord) -> Status {
    record.current().map_or(Status::NotStarted, |i| i.status)
}
