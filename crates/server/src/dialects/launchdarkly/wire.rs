//! Request bodies as LaunchDarkly documents them, and the experiment record
//! stored beside the model's A/B test (`launchdarkly.experiments`).

use super::errors::LdError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The record collection of experiments, keyed by experiment key.
pub(crate) const EXPERIMENTS: &str = "launchdarkly.experiments";
/// The record collection of uploaded sufficient statistics, keyed by iteration id.
pub(crate) const STATISTICS: &str = "launchdarkly.statistics";

/// Parses a body into `T`; an error names the JSON path and what was expected.
pub(crate) fn from_body<T: DeserializeOwned>(body: Value) -> Result<T, LdError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { "body".to_owned() } else { path };
        LdError::invalid(format!("{path}: {}", e.inner()))
    })
}

/// Parses a value found at `at` (a JSON path) into `T`; an error names the full path.
pub(crate) fn from_value_at<T: DeserializeOwned>(value: Value, at: &str) -> Result<T, LdError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let place = if path == "." { at.to_owned() } else { format!("{at}.{path}") };
        LdError::invalid(format!("{place}: {}", e.inner()))
    })
}

/// `POST …/experiments`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ExperimentPost {
    pub name: String,
    pub key: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub maintainer_id: Option<String>,
    pub iteration: IterationInput,
}

/// `POST …/iterations`, and the `iteration` of an experiment.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct IterationInput {
    pub hypothesis: String,
    #[serde(default)]
    pub can_reshuffle_traffic: Option<bool>,
    pub metrics: Vec<MetricInput>,
    pub treatments: Vec<TreatmentInput>,
    pub flags: Map<String, Value>,
}

/// One metric of an iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MetricInput {
    pub key: String,
    #[serde(default)]
    pub primary: bool,
}

/// One treatment as posted.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TreatmentInput {
    pub name: String,
    #[serde(default)]
    pub baseline: bool,
    #[serde(deserialize_with = "percent")]
    pub allocation_percent: String,
    pub parameters: Vec<Parameter>,
}

/// `{flagKey, variationId}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Parameter {
    pub flag_key: String,
    pub variation_id: String,
}

/// `{ruleId, flagConfigVersion}` of one flag of an iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FlagInput {
    pub rule_id: String,
    pub flag_config_version: i64,
}

/// `allocationPercent`: a decimal string as documented (`"10"`); a JSON
/// number is taken too and kept as its text.
fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a percentage as a string such as \"10\", got {other}"
        ))),
    }
}

/// The status of an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    NotStarted,
    Running,
    Stopped,
}

impl Status {
    pub(crate) fn parse(text: &str) -> Option<Status> {
        match text {
            "not_started" => Some(Status::NotStarted),
            "running" => Some(Status::Running),
            "stopped" => Some(Status::Stopped),
            _ => None,
        }
    }
}

/// The stored experiment: what LaunchDarkly shows, with its iterations in
/// creation order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExperimentRecord {
    #[serde(rename = "_id")]
    pub id: String,
    pub key: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintainer_id: Option<String>,
    /// Unix milliseconds.
    pub creation_date: i64,
    /// The key of the flag whose variants are the treatments.
    pub flag_key: String,
    pub iterations: Vec<IterationRecord>,
    /// The `comment` of the last semantic patch; the namespace history keeps each one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_comment: Option<String>,
}

/// One stored iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IterationRecord {
    #[serde(rename = "_id")]
    pub id: String,
    pub hypothesis: String,
    pub status: Status,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winning_treatment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winning_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_justification: Option<String>,
    pub can_reshuffle_traffic: bool,
    pub metrics: Vec<MetricInput>,
    pub treatments: Vec<TreatmentRecord>,
    pub flags: Map<String, Value>,
}

impl IterationRecord {
    /// The primary metric: the one marked primary, else the first.
    pub(crate) fn primary_metric(&self) -> Option<&MetricInput> {
        self.metrics.iter().find(|m| m.primary).or_else(|| self.metrics.first())
    }

    /// The baseline treatment.
    pub(crate) fn baseline(&self) -> Option<&TreatmentRecord> {
        self.treatments.iter().find(|t| t.baseline)
    }
}

/// One stored treatment, with the Flagstone variant its parameters name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TreatmentRecord {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub baseline: bool,
    pub allocation_percent: String,
    pub parameters: Vec<Parameter>,
    /// `flags/{flag}/variants/{id}`.
    pub variant: String,
}

/// A semantic patch: `{comment?, instructions: [{kind, …}]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SemanticPatch {
    #[serde(default)]
    pub comment: Option<String>,
    pub instructions: Vec<Map<String, Value>>,
}

/// A fresh id of `bytes` random bytes in lowercase hex (LaunchDarkly's
/// `_id`s are 24 hex digits).
pub(crate) fn hex_id(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::fill(raw.as_mut_slice());
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random (version 4) UUID, as LaunchDarkly gives treatments.
pub(crate) fn uuid() -> String {
    let mut raw = [0u8; 16];
    rand::fill(&mut raw);
    raw[6] = (raw[6] & 0x0f) | 0x40;
    raw[8] = (raw[8] & 0x3f) | 0x80;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let part = |a: usize, b: usize| hex.get(a..b).unwrap_or_default().to_owned();
    format!("{}-{}-{}-{}-{}", part(0, 8), part(8, 12), part(12, 16), part(16, 20), part(20, 32))
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Unix milliseconds as RFC 3339 (for the model's iterations).
pub(crate) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_have_the_documented_shapes() {
        let id = hex_id(12);
        assert_eq!(id.len(), 24);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        assert_ne!(uuid(), u);
    }

    #[test]
    fn errors_name_the_path() {
        let body = json!({"name": "a", "key": "a", "iteration": {"hypothesis": "h",
            "metrics": [], "flags": {}, "treatments": [{"name": "t", "allocationPercent": true, "parameters": []}]}});
        let e = from_body::<ExperimentPost>(body).unwrap_err();
        let text = format!("{e:?}");
        assert!(text.contains("iteration.treatments[0].allocationPercent"), "{text}");
        let e = from_body::<ExperimentPost>(json!({"name": "a", "key": "a", "x": 1})).unwrap_err();
        assert!(format!("{e:?}").contains("unknown field"), "{e:?}");
    }
}
