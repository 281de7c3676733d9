//! From LaunchDarkly's experiment to the model's A/B test, and the
//! iteration bookkeeping (current, draft, previous).

use super::errors::LdError;
use super::wire::{
    ExperimentRecord, FlagInput, IterationInput, IterationRecord, Status, TreatmentRecord,
    from_body, now_ms, rfc3339, uuid,
};
use crate::names::Kind;
use crate::namespace::Published;
use flagstone_model::names::{is_valid_id, variant_id};
use flagstone_model::workflow::WorkflowState;
use serde_json::{Map, Value, json};

/// The largest share a treatment or all of them together may take, in percent.
const WHOLE: f64 = 100.0;

/// Checks a posted iteration against the namespace's flags and turns it into
/// a record: the flag its treatments run on, and the iteration
/// (`not_started`). `at` is the JSON path of the iteration in the body.
pub(crate) fn iteration(
    input: IterationInput,
    published: &Published,
    namespace: &str,
    at: &str,
) -> Result<(String, IterationRecord), LdError> {
    let bad = |path: String, what: String| LdError::invalid(format!("{at}{path}: {what}"));
    if input.metrics.is_empty() {
        return Err(bad(".metrics".into(), "expected at least one metric".into()));
    }
    if input.metrics.iter().filter(|m| m.primary).count() > 1 {
        return Err(bad(".metrics".into(), "expected at most one primary metric".into()));
    }
    for (i, metric) in input.metrics.iter().enumerate() {
        if !is_valid_id(&metric.key) {
            return Err(bad(
                format!(".metrics[{i}].key"),
                format!(
                    "{:?} is not a metric key: expected a non-empty key without '/'",
                    metric.key
                ),
            ));
        }
    }
    for (key, value) in &input.flags {
        from_body::<FlagInput>(value.clone()).map_err(|_| {
            bad(
                format!(".flags.{key}"),
                "expected {\"ruleId\": string, \"flagConfigVersion\": integer}".into(),
            )
        })?;
    }
    if input.treatments.is_empty() {
        return Err(bad(".treatments".into(), "expected at least one treatment".into()));
    }
    let mut flag_key: Option<String> = None;
    let mut total = 0.0;
    let mut treatments = Vec::with_capacity(input.treatments.len());
    for (i, t) in input.treatments.into_iter().enumerate() {
        let here = format!(".treatments[{i}]");
        let share: f64 =
            t.allocation_percent.trim().parse().ok().filter(|p: &f64| p.is_finite()).ok_or_else(
                || {
                    bad(
                        format!("{here}.allocationPercent"),
                        format!(
                            "expected a percentage from \"0\" to \"100\", got {:?}",
                            t.allocation_percent
                        ),
                    )
                },
            )?;
        if !(0.0..=WHOLE).contains(&share) {
            return Err(bad(
                format!("{here}.allocationPercent"),
                format!(
                    "expected a percentage from \"0\" to \"100\", got {:?}",
                    t.allocation_percent
                ),
            ));
        }
        total += share;
        let [parameter] = t.parameters.as_slice() else {
            return Err(bad(
                format!("{here}.parameters"),
                format!(
                    "expected exactly one {{flagKey, variationId}}: a Flagstone A/B test runs on one flag, found {}",
                    t.parameters.len()
                ),
            ));
        };
        let at_param = format!("{here}.parameters[0]");
        match &flag_key {
            Some(first) if *first != parameter.flag_key => {
                return Err(bad(
                    format!("{at_param}.flagKey"),
                    format!(
                        "every treatment must use the same flag ({first:?}): a Flagstone A/B test runs on one flag"
                    ),
                ));
            }
            Some(_) => {}
            None => flag_key = Some(parameter.flag_key.clone()),
        }
        let variant =
            variant_of(published, namespace, parameter.flag_key.as_str(), &parameter.variation_id)
                .map_err(|what| bad(at_param.clone(), what))?;
        treatments.push(TreatmentRecord {
            id: uuid(),
            name: t.name,
            baseline: t.baseline,
            allocation_percent: t.allocation_percent,
            parameters: t.parameters,
            variant,
        });
    }
    if total > WHOLE + 1e-9 {
        return Err(bad(
            ".treatments".into(),
            format!("allocationPercent adds up to {total}, above 100"),
        ));
    }
    if total <= 0.0 {
        return Err(bad(
            ".treatments".into(),
            "at least one treatment needs an allocationPercent above \"0\"".into(),
        ));
    }
    let flag_key = flag_key.unwrap_or_default();
    let iteration = IterationRecord {
        id: super::wire::hex_id(12),
        hypothesis: input.hypothesis,
        status: Status::NotStarted,
        created_at: now_ms(),
        started_at: None,
        ended_at: None,
        winning_treatment_id: None,
        winning_reason: None,
        change_justification: None,
        can_reshuffle_traffic: input.can_reshuffle_traffic.unwrap_or(true),
        metrics: input.metrics,
        treatments,
        flags: input.flags,
    };
    Ok((flag_key, iteration))
}

/// The full name of the variant a `variationId` names: a variant id of the
/// flag (`flags/{flag}/variants/{variationId}`) or a full variant name.
fn variant_of(
    published: &Published,
    namespace: &str,
    flag_key: &str,
    variation_id: &str,
) -> Result<String, String> {
    let Some(flag) = published.resource(Kind::Flags, flag_key) else {
        return Err(format!(
            "flagKey: flag {flag_key:?} does not exist in {namespace}; create it first"
        ));
    };
    let flag_name = format!("flags/{flag_key}");
    let variants: Vec<&str> = flag
        .document
        .get("variants")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().filter_map(|v| v.get("name").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    let found = variants
        .iter()
        .find(|name| **name == variation_id || variant_id(&flag_name, name) == Some(variation_id));
    match found {
        Some(name) => Ok((*name).to_owned()),
        None => {
            let ids: Vec<&str> =
                variants.iter().filter_map(|n| variant_id(&flag_name, n)).collect();
            Err(format!(
                "variationId: {variation_id:?} is not a variant of flag {flag_key:?}; its variants are {ids:?}"
            ))
        }
    }
}

impl ExperimentRecord {
    /// The current iteration: the last one started, else the first not started.
    pub(crate) fn current_idx(&self) -> Option<usize> {
        self.iterations
            .iter()
            .rposition(|i| i.status != Status::NotStarted)
            .or_else(|| self.iterations.iter().position(|i| i.status == Status::NotStarted))
    }

    pub(crate) fn current(&self) -> Option<&IterationRecord> {
        self.current_idx().and_then(|i| self.iterations.get(i))
    }

    /// The iteration created but not started after the current one, if any.
    pub(crate) fn draft_idx(&self) -> Option<usize> {
        let current = self.current_idx()?;
        let started = self.iterations.get(current)?.status != Status::NotStarted;
        if !started {
            return None;
        }
        self.iterations
            .iter()
            .enumerate()
            .skip(current + 1)
            .find(|(_, i)| i.status == Status::NotStarted)
            .map(|(idx, _)| idx)
    }

    /// The iterations before the current one, oldest first.
    pub(crate) fn previous(&self) -> &[IterationRecord] {
        let end = self.current_idx().unwrap_or(0);
        self.iterations.get(..end).unwrap_or_default()
    }

    /// Adds a not-started iteration; one not started yet is replaced (nothing ran in it).
    pub(crate) fn add_iteration(&mut self, iteration: IterationRecord) {
        match self.iterations.iter().position(|i| i.status == Status::NotStarted) {
            Some(idx) => {
                if let Some(slot) = self.iterations.get_mut(idx) {
                    *slot = iteration;
                }
            }
            None => self.iterations.push(iteration),
        }
    }
}

/// The A/B test's state for the record's current iteration.
pub(crate) fn state_of(record: &ExperimentRecord) -> WorkflowState {
    match record.current().map(|i| i.status) {
        Some(Status::Running) => WorkflowState::Live,
        Some(Status::Stopped) => WorkflowState::Ended,
        Some(Status::NotStarted) | None => WorkflowState::Draft,
    }
}

/// The A/B test `abtests/{key}` the experiment runs as: the current
/// iteration's treatments (weights are the allocation percentages, the
/// allocation their sum), metrics and hypothesis, every iteration, and the
/// state of the current one. Fields the experiment does not define (targeting,
/// exclusivity, allocated ranges) are kept from `existing`.
pub(crate) fn abtest_document(record: &ExperimentRecord, existing: Option<&Value>) -> Value {
    let mut doc = match existing {
        Some(Value::Object(fields)) => fields.clone(),
        _ => Map::new(),
    };
    let Some(current) = record.current() else {
        return Value::Object(doc);
    };
    let mut total = 0.0;
    let treatments: Vec<Value> = current
        .treatments
        .iter()
        .filter_map(|t| {
            let share: f64 = t.allocation_percent.trim().parse().ok()?;
            // A treatment given no traffic is not an arm of the test.
            (share > 0.0).then(|| {
                total += share;
                json!({"variant": t.variant, "weight": share, "baseline": t.baseline})
            })
        })
        .collect();
    let mut allocation = match doc.remove("allocation") {
        Some(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    allocation.insert("proportion".into(), json!((total / WHOLE).min(1.0)));
    let iterations: Vec<Value> = record
        .iterations
        .iter()
        .filter(|i| {
            i.status != Status::NotStarted || Some(i.id.as_str()) == Some(current.id.as_str())
        })
        .map(|i| {
            let mut it = Map::new();
            it.insert("status".into(), json!(i.status));
            if let Some(ms) = i.started_at {
                it.insert("startedAt".into(), json!(rfc3339(ms)));
            }
            if let Some(ms) = i.ended_at {
                it.insert("endedAt".into(), json!(rfc3339(ms)));
            }
            if !i.hypothesis.is_empty() {
                it.insert("hypothesis".into(), json!(i.hypothesis));
            }
            Value::Object(it)
        })
        .collect();
    let metrics: Vec<Value> =
        current.metrics.iter().map(|m| json!({"metric": format!("metrics/{}", m.key)})).collect();
    doc.insert("name".into(), json!(format!("abtests/{}", record.key)));
    doc.insert("displayName".into(), json!(record.name));
    doc.insert("state".into(), json!(state_of(record).as_str()));
    doc.insert("flag".into(), json!(format!("flags/{}", record.flag_key)));
    doc.insert("treatments".into(), Value::Array(treatments));
    doc.insert("allocation".into(), Value::Object(allocation));
    doc.insert("hypothesis".into(), json!(current.hypothesis));
    doc.insert("metrics".into(), Value::Array(metrics));
    doc.insert("iterations".into(), Value::Array(iterations));
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iteration(status: Status, id: &str) -> IterationRecord {
        IterationRecord {
            id: id.into(),
            hypothesis: String::new(),
            status,
            created_at: 0,
            started_at: None,
            ended_at: None,
            winning_treatment_id: None,
            winning_reason: None,
            change_justification: None,
            can_reshuffle_traffic: true,
            metrics: vec![],
            treatments: vec![],
            flags: Map::new(),
        }
    }

    fn record(iterations: Vec<IterationRecord>) -> ExperimentRecord {
        ExperimentRecord {
            id: "x".into(),
            key: "k".into(),
            name: "n".into(),
            description: None,
            maintainer_id: None,
            creation_date: 0,
            flag_key: "f".into(),
            iterations,
            last_comment: None,
        }
    }

    #[test]
    fn current_draft_and_previous() {
        let r = record(vec![iteration(Status::NotStarted, "a")]);
        assert_eq!(r.current().map(|i| i.id.as_str()), Some("a"));
        assert_eq!(r.draft_idx(), None);
        assert!(r.previous().is_empty());
        assert_eq!(state_of(&r), WorkflowState::Draft);

        let r = record(vec![
            iteration(Status::Stopped, "a"),
            iteration(Status::Running, "b"),
            iteration(Status::NotStarted, "c"),
        ]);
        assert_eq!(r.current().map(|i| i.id.as_str()), Some("b"));
        assert_eq!(r.draft_idx(), Some(2));
        assert_eq!(r.previous().len(), 1);
        assert_eq!(state_of(&r), WorkflowState::Live);

        let mut r = record(vec![iteration(Status::Stopped, "a")]);
        assert_eq!(state_of(&r), WorkflowState::Ended);
        r.add_iteration(iteration(Status::NotStarted, "b"));
        r.add_iteration(iteration(Status::NotStarted, "c"));
        let ids: Vec<&str> = r.iterations.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
    }
}
