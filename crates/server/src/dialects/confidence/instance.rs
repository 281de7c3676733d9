//! A workflow instance: its record (the Confidence document with its
//! bookkeeping), how it is shown, its lifecycle, and its translation into
//! the model resource (`rollouts/{id}` or `abtests/{id}`).
//!
//! The record (`confidence.rollouts/{id}`, `confidence.abtests/{id}`) holds
//! `{"instance": {...}, "segment": {...}}`: `instance` is every field the
//! client wrote (modules verbatim) plus `state`, `stateHistory` and
//! `transitionStatus`; `segment` is what `:updateSegment` wrote. The model
//! resource is always derived from the record, in the same write.

use super::error::{FieldMap, GoogleError, Violation};
use crate::names::Kind;
use crate::store::StoredRecord;
use flagstone_model::workflow::{Transition, WorkflowState};
use serde_json::{Map, Value, json};

/// Which workflow: `/v1/workflows/{rollout|abtest}/instances`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workflow {
    Rollout,
    AbTest,
}

/// Fields every instance may carry that the server computes (AIP-203 output only).
pub(crate) const OUTPUT_ONLY: &[&str] = &[
    "name",
    "state",
    "createTime",
    "updateTime",
    "creator",
    "updater",
    "jobQueue",
    "pendingTransition",
    "checks",
    "stateHistory",
    "possibleTransitions",
    "lockedDataKeys",
    "workflowVersion",
    "transitionStatus",
    "deleteTime",
    "stats.analysisResult",
    "stats.analysisResults",
    "reviews.reviewId",
    "reviews.status",
    "samplesize.error",
    "samplesize.requiredSampleSize",
    "samplesize.state",
    "report.name",
];

/// Top-level fields a client writes, besides the workflow's own module.
const COMMON_FIELDS: &[&str] = &[
    "displayName",
    "owner",
    "labels",
    "surfaces",
    "decision",
    "explore",
    "exposure",
    "flags",
    "hypothesis",
    "metrics",
    "planning",
    "recommendations",
    "report",
    "reviews",
    "samplesize",
    "stats",
];

/// Model field → request field, rollouts.
const ROLLOUT_FIELDS: FieldMap = &[
    ("name", "name"),
    ("displayName", "displayName"),
    ("state", "state"),
    ("flag", "rollout.flag"),
    ("variant", "rollout.variant"),
    ("reach", "rollout.reach"),
    ("targeting", "segment.targeting"),
    ("targetingKeySelector", "flags.targetingKeySelector"),
    ("materializationSpec", "flags"),
    ("materializationSpec.readMaterialization", "flags.materialization"),
    ("materializationSpec.writeMaterialization", "flags.materialization"),
];

/// Model field → request field, A/B tests.
const ABTEST_FIELDS: FieldMap = &[
    ("name", "name"),
    ("displayName", "displayName"),
    ("state", "state"),
    ("flag", "abtest.flag"),
    ("treatments", "abtest.treatments"),
    ("allocation", "segment.allocation"),
    ("allocatedRanges", "segment.allocation"),
    ("targeting", "segment.targeting"),
    ("targetingKeySelector", "flags.targetingKeySelector"),
    ("hypothesis", "hypothesis.text"),
    ("metrics", "metrics.metrics"),
    ("materializationSpec", "flags"),
    ("materializationSpec.readMaterialization", "flags.materialization"),
    ("materializationSpec.writeMaterialization", "flags.materialization"),
];

impl Workflow {
    pub(crate) fn from_path(segment: &str) -> Option<Workflow> {
        match segment {
            "rollout" => Some(Workflow::Rollout),
            "abtest" => Some(Workflow::AbTest),
            _ => None,
        }
    }

    /// `rollout` / `abtest`, as in paths and as the workflow's module.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Workflow::Rollout => "rollout",
            Workflow::AbTest => "abtest",
        }
    }

    /// The record collection.
    pub(crate) fn collection(self) -> &'static str {
        match self {
            Workflow::Rollout => "confidence.rollouts",
            Workflow::AbTest => "confidence.abtests",
        }
    }

    /// The model collection.
    pub(crate) fn kind(self) -> Kind {
        match self {
            Workflow::Rollout => Kind::Rollouts,
            Workflow::AbTest => Kind::AbTests,
        }
    }

    /// The list response's key.
    pub(crate) fn plural(self) -> &'static str {
        match self {
            Workflow::Rollout => "rollouts",
            Workflow::AbTest => "abtests",
        }
    }

    pub(crate) fn fields(self) -> FieldMap {
        match self {
            Workflow::Rollout => ROLLOUT_FIELDS,
            Workflow::AbTest => ABTEST_FIELDS,
        }
    }

    /// `workflows/rollout/instances/{id}`.
    pub(crate) fn name(self, id: &str) -> String {
        format!("workflows/{}/instances/{id}", self.key())
    }

    /// Whether a top-level field is one a client writes.
    pub(crate) fn is_module(self, field: &str) -> bool {
        field == self.key() || COMMON_FIELDS.contains(&field)
    }

    /// Checks one path of an update mask: 400 naming it when it is output
    /// only or not a field of the instance.
    pub(crate) fn check_mask_path(self, path: &str) -> Result<(), Violation> {
        let output_only = OUTPUT_ONLY
            .iter()
            .find(|o| path == **o || path.strip_prefix(**o).is_some_and(|r| r.starts_with('.')));
        if let Some(field) = output_only {
            return Err(Violation::new(
                "updateMask",
                if path == *field {
                    format!("{path} is output only and cannot be updated")
                } else {
                    format!("{path}: {field} is output only and cannot be updated")
                },
            ));
        }
        let top = path.split('.').next().unwrap_or_default();
        if path.split('.').any(str::is_empty) || !self.is_module(top) {
            return Err(Violation::new(
                "updateMask",
                format!("{path}: not a field of a {} instance", self.key()),
            ));
        }
        Ok(())
    }
}

/// A fresh instance id: 20 lowercase letters and digits.
pub(crate) fn new_id() -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        // 252 = 7 · 36: rejecting the rest keeps every character equally likely.
        for b in bytes.into_iter().filter(|&b| b < 252) {
            if out.len() < 20 {
                out.push(char::from(ALPHABET[usize::from(b % 36)]));
            }
        }
    }
    out
}

/// Whether a path id looks like an instance id (so it cannot name another record).
pub(crate) fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The Confidence spelling of a state.
pub(crate) fn state_name(state: WorkflowState) -> &'static str {
    match state {
        WorkflowState::Draft => "draft",
        WorkflowState::Live => "live",
        WorkflowState::Paused => "paused",
        WorkflowState::Ended => "ended",
    }
}

fn parse_state(name: &str) -> WorkflowState {
    match name {
        "live" => WorkflowState::Live,
        "paused" => WorkflowState::Paused,
        "ended" => WorkflowState::Ended,
        _ => WorkflowState::Draft,
    }
}

/// The custom methods that move a state, in Confidence's spelling.
pub(crate) fn transition_of(verb: &str) -> Option<Transition> {
    match verb {
        "launch" => Some(Transition::Launch),
        "pause" => Some(Transition::Pause),
        "resume" => Some(Transition::Resume),
        "end" => Some(Transition::End),
        _ => None,
    }
}

/// The custom methods allowed from a state (setting the reach is an update, not listed).
pub(crate) fn possible_transitions(state: WorkflowState) -> Vec<&'static str> {
    state
        .possible_transitions()
        .iter()
        .filter(|t| **t != Transition::SetReach)
        .map(|t| t.as_str())
        .collect()
}

/// A stored instance, taken apart.
#[derive(Clone, Debug)]
pub(crate) struct Instance {
    pub id: String,
    /// Modules and bookkeeping as stored.
    pub fields: Map<String, Value>,
    /// What `:updateSegment` wrote: `name`, `targeting`, `allocation`.
    pub segment: Map<String, Value>,
}

fn object(value: Option<&Value>) -> Map<String, Value> {
    value.and_then(Value::as_object).cloned().unwrap_or_default()
}

impl Instance {
    pub(crate) fn from_record(record: &StoredRecord) -> Instance {
        Instance {
            id: record.id.clone(),
            fields: object(record.document.get("instance")),
            segment: object(record.document.get("segment")),
        }
    }

    /// A new draft instance from a create body's writable fields.
    pub(crate) fn create(
        workflow: Workflow,
        id: String,
        body: Map<String, Value>,
        now: &str,
        actor: &str,
    ) -> Instance {
        let mut fields: Map<String, Value> =
            body.into_iter().filter(|(k, _)| workflow.is_module(k)).collect();
        for nested in OUTPUT_ONLY.iter().filter(|p| p.contains('.')) {
            super::mask::clear(&mut fields, nested);
        }
        fields.insert("state".into(), json!("draft"));
        fields.insert(
            "stateHistory".into(),
            json!([{"state": "draft", "time": now, "actor": actor}]),
        );
        let mut instance = Instance { id, fields, segment: Map::new() };
        instance.ensure_stats(workflow);
        instance
    }

    /// `stats.analysisResult`: the one analysis result of this instance.
    fn ensure_stats(&mut self, workflow: Workflow) {
        let name = format!("{}/analysisResults/{}", workflow.name(&self.id), self.id);
        let stats = self.fields.entry("stats").or_insert_with(|| json!({}));
        if !stats.is_object() {
            *stats = json!({});
        }
        if let Value::Object(stats) = stats {
            stats.insert("analysisResult".into(), Value::String(name));
        }
    }

    pub(crate) fn state(&self) -> WorkflowState {
        parse_state(self.fields.get("state").and_then(Value::as_str).unwrap_or("draft"))
    }

    /// Moves the state, or 400 `FAILED_PRECONDITION` naming the allowed moves.
    pub(crate) fn transition(
        &mut self,
        workflow: Workflow,
        verb: &str,
        transition: Transition,
        now: &str,
        actor: &str,
    ) -> Result<(), GoogleError> {
        let state = self.state();
        let next = state.after(transition).map_err(|_| {
            let allowed = possible_transitions(state);
            let allowed = if allowed.is_empty() {
                format!("no transitions are possible from {}", state_name(state))
            } else {
                format!("possible transitions: {}", allowed.join(", "))
            };
            GoogleError::failed_precondition(
                &workflow.name(&self.id),
                "STATE",
                format!("cannot {verb} a {} {}: {allowed}", state_name(state), workflow.key()),
            )
        })?;
        self.fields.insert("state".into(), json!(state_name(next)));
        let entry =
            json!({"state": state_name(next), "time": now, "actor": actor, "transition": verb});
        match self.fields.get_mut("stateHistory") {
            Some(Value::Array(history)) => history.push(entry),
            _ => {
                self.fields.insert("stateHistory".into(), json!([entry]));
            }
        }
        self.fields.insert(
            "transitionStatus".into(),
            json!({"transition": verb, "status": "SUCCEEDED", "time": now}),
        );
        Ok(())
    }

    /// Restores output-only nested fields after a module was replaced.
    pub(crate) fn keep_output_only(&mut self, workflow: Workflow, old: &Instance) {
        for nested in OUTPUT_ONLY.iter().filter(|p| p.contains('.')) {
            super::mask::clear(&mut self.fields, nested);
            if let Some(value) = super::mask::get(&Value::Object(old.fields.clone()), nested) {
                super::mask::apply(&mut self.fields, &nest(nested, value.clone()), nested);
            }
        }
        self.ensure_stats(workflow);
    }

    /// The record document.
    pub(crate) fn document(&self) -> Value {
        json!({"instance": self.fields, "segment": self.segment})
    }

    /// The instance as the API shows it.
    pub(crate) fn render(&self, workflow: Workflow, record: &StoredRecord) -> Value {
        let state = self.state();
        let mut out = Map::new();
        out.insert("name".into(), json!(workflow.name(&self.id)));
        out.insert(
            "displayName".into(),
            self.fields.get("displayName").cloned().unwrap_or(json!("")),
        );
        out.insert("state".into(), json!(state_name(state)));
        out.insert("createTime".into(), json!(record.create_time));
        out.insert("updateTime".into(), json!(record.update_time));
        out.insert("creator".into(), json!(record.created_by));
        out.insert("updater".into(), json!(record.updated_by));
        out.insert(
            "owner".into(),
            self.fields.get("owner").cloned().unwrap_or(json!(record.created_by)),
        );
        out.insert("possibleTransitions".into(), json!(possible_transitions(state)));
        out.insert("workflowVersion".into(), json!("1"));
        for (key, value) in &self.fields {
            if !out.contains_key(key) {
                out.insert(key.clone(), value.clone());
            }
        }
        if let Some(name) = self.segment.get("name") {
            if let Some(Value::Object(flags)) = out.get_mut("flags") {
                flags.insert("segment".into(), name.clone());
            } else {
                out.insert("flags".into(), json!({"segment": name}));
            }
        }
        Value::Object(out)
    }
}

fn nest(path: &str, value: Value) -> Value {
    path.rsplit('.').fold(value, |inner, key| json!({ key: inner }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_twenty_lowercase_letters_and_digits() {
        for _ in 0..50 {
            let id = new_id();
            assert_eq!(id.len(), 20);
            assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{id}");
        }
        assert_ne!(new_id(), new_id());
    }

    #[test]
    fn masks_name_output_only_and_unknown_fields() {
        let w = Workflow::Rollout;
        assert!(w.check_mask_path("rollout.reach").is_ok());
        assert!(w.check_mask_path("displayName").is_ok());
        let e = w.check_mask_path("state").unwrap_err();
        assert_eq!(e.description, "state is output only and cannot be updated");
        assert!(w.check_mask_path("stats.analysisResult").is_err());
        assert!(w.check_mask_path("abtest").is_err());
        assert!(w.check_mask_path("rollout..reach").is_err());
        assert!(Workflow::AbTest.check_mask_path("abtest.treatments").is_ok());
    }
}
