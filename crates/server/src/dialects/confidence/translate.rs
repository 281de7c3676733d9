//! The translation of an instance into its model resource: the modules
//! that act (`rollout`, `abtest`, `flags`, `hypothesis`, `metrics` and the
//! segment) become fields of `rollouts/{id}` or `abtests/{id}`.

use super::instance::{Instance, Workflow};
use serde_json::{Map, Value, json};

impl Instance {
    pub(crate) fn module(&self, path: &str) -> Option<&Value> {
        let mut keys = path.split('.');
        let first = self.fields.get(keys.next()?)?;
        keys.try_fold(first, |v, k| v.get(k))
    }

    /// The model resource this instance lowers to.
    pub(crate) fn model(&self, workflow: Workflow) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(workflow.kind().full_name(&self.id)));
        if let Some(name) = self.fields.get("displayName") {
            m.insert("displayName".into(), name.clone());
        }
        m.insert("state".into(), json!(self.state().as_str()));
        let mut copy = |to: &str, from: Option<&Value>| {
            if let Some(value) = from {
                m.insert(to.to_owned(), value.clone());
            }
        };
        copy("targetingKeySelector", self.module("flags.targetingKeySelector"));
        copy("targeting", self.segment.get("targeting"));
        match workflow {
            Workflow::Rollout => {
                copy("flag", self.module("rollout.flag"));
                copy("variant", self.module("rollout.variant"));
                copy("reach", self.module("rollout.reach"));
            }
            Workflow::AbTest => {
                copy("flag", self.module("abtest.flag").or_else(|| self.module("flags.flag")));
                copy("allocation", self.segment.get("allocation"));
                copy("hypothesis", self.module("hypothesis.text"));
                if let Some(treatments) = self.module("abtest.treatments") {
                    m.insert("treatments".into(), treatments_of(treatments));
                }
                if let Some(metrics) = self.module("metrics.metrics") {
                    m.insert("metrics".into(), metrics_of(metrics));
                }
            }
        }
        if let Some(spec) = self.materialization() {
            m.insert("materializationSpec".into(), spec);
        }
        Value::Object(m)
    }

    /// `flags.stickyAssignments`, `intakePaused` and `ignoreTargetingForSticky`
    /// as the model's materialization spec (DESIGN §2.8): any of them reads
    /// and writes the materialization `flags.materialization` (default
    /// `materializations/{instance id}`); paused intake admits stored units
    /// only; ignoring targeting keeps a stored unit's variant when it no
    /// longer matches.
    fn materialization(&self) -> Option<Value> {
        let on = |key: &str| self.module(&format!("flags.{key}")) == Some(&Value::Bool(true));
        let (sticky, paused, ignore) =
            (on("stickyAssignments"), on("intakePaused"), on("ignoreTargetingForSticky"));
        if !(sticky || paused || ignore) {
            return None;
        }
        let name = self
            .module("flags.materialization")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map_or_else(|| format!("materializations/{}", self.id), str::to_owned);
        let mut mode = Map::new();
        if paused {
            mode.insert("materializationMustMatch".into(), json!(true));
        }
        if ignore {
            mode.insert("segmentTargetingCanBeIgnored".into(), json!(true));
        }
        Some(json!({"readMaterialization": name, "writeMaterialization": name, "mode": mode}))
    }
}

/// Confidence treatments (`{variant, weight?, baseline?, …}`) as the model's;
/// without a marked baseline the first treatment is the control.
fn treatments_of(treatments: &Value) -> Value {
    let Value::Array(items) = treatments else { return treatments.clone() };
    let any_baseline = items.iter().any(|t| t.get("baseline") == Some(&Value::Bool(true)));
    let out = items
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let Value::Object(fields) = t else { return t.clone() };
            let mut m = Map::new();
            for key in ["variant", "weight", "baseline"] {
                if let Some(value) = fields.get(key) {
                    m.insert(key.into(), value.clone());
                }
            }
            if !any_baseline && i == 0 {
                m.insert("baseline".into(), json!(true));
            }
            Value::Object(m)
        })
        .collect();
    Value::Array(out)
}

/// Confidence metrics (`{metric, metricRole {metricKind, minimumDetectableEffect,
/// nonInferiorityMargin}, preferredDirection}`) as the model's test metrics.
fn metrics_of(metrics: &Value) -> Value {
    let Value::Array(items) = metrics else { return metrics.clone() };
    let out = items
        .iter()
        .map(|item| {
            let Value::Object(fields) = item else { return item.clone() };
            let mut m = Map::new();
            let role = fields.get("metricRole");
            let pairs = [
                ("metric", fields.get("metric")),
                ("preferredDirection", fields.get("preferredDirection")),
                ("kind", role.and_then(|r| r.get("metricKind"))),
                ("minimumDetectableEffect", role.and_then(|r| r.get("minimumDetectableEffect"))),
                ("nonInferiorityMargin", role.and_then(|r| r.get("nonInferiorityMargin"))),
            ];
            for (key, value) in pairs {
                if let Some(value) = value {
                    m.insert(key.into(), value.clone());
                }
            }
            Value::Object(m)
        })
        .collect();
    Value::Array(out)
}

/// A model path inside `metrics[i]` back in the request's `metricRole` shape.
pub(crate) fn metric_field(field: String) -> String {
    for (model, request) in [
        ("].kind", "].metricRole.metricKind"),
        ("].minimumDetectableEffect", "].metricRole.minimumDetectableEffect"),
        ("].nonInferiorityMargin", "].metricRole.nonInferiorityMargin"),
    ] {
        if field.starts_with("metrics.metrics[") && field.contains(model) {
            return field.replacen(model, request, 1);
        }
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn treatments_and_metrics_translate() {
        let t =
            treatments_of(&json!([{"variant": "a", "name": "x"}, {"variant": "b", "weight": 3}]));
        assert_eq!(t, json!([{"variant": "a", "baseline": true}, {"variant": "b", "weight": 3}]));
        let m = metrics_of(
            &json!([{"metric": "metrics/m", "metricRole": {"metricKind": "GUARDRAIL", "nonInferiorityMargin": 0.02}, "preferredDirection": "DECREASE"}]),
        );
        assert_eq!(
            m,
            json!([{"metric": "metrics/m", "kind": "GUARDRAIL", "nonInferiorityMargin": 0.02, "preferredDirection": "DECREASE"}])
        );
        assert_eq!(
            metric_field("metrics.metrics[2].kind".into()),
            "metrics.metrics[2].metricRole.metricKind"
        );
    }
}
