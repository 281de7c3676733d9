//! CloudBees Feature Management experiments, in their configuration-as-code shape.
//!
//! An experiment is an if / else-if chain of conditions, each with a value;
//! the experiment's own `value` is the final else. Platforms put their own
//! chains in front, for units whose `platform` attribute names them.
//!
//! The shapes are CloudBees' own, so that its documented examples are accepted
//! verbatim: `labels` is a string (a list is accepted too), a group condition
//! names one target group or a list of them by their CloudBees names (`QA`,
//! `Beta Users`, resolved to `targetGroups/{name}`), `apiVersion` and the
//! deprecated `platforms[].flag` are accepted and kept. Percentages in splits
//! and schedules are CloudBees percentages in `[0, 100]` (`25` is a quarter of
//! the units).

use crate::targeting::{
    DependencyCriterion, GroupCriterion, GroupOperator, PropertyCondition, VersionCriterion,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::fmt;

/// The stickiness property CloudBees uses when none is given.
pub const DEFAULT_STICKINESS_PROPERTY: &str = "rox.distinct_id";

/// The attribute that platform conditions read.
pub const PLATFORM_ATTRIBUTE: &str = "platform";

/// What a split or schedule percentage of 100 stands for: every unit.
pub const WHOLE_PERCENTAGE: f64 = 100.0;

/// A CloudBees experiment: one flag and the chain of conditions that sets it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Experiment {
    /// CasC files carry `type: experiment`; accepted and kept.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The API version CloudBees requests carry (`"1.0"`); accepted and kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The flag's id (`default.showBanner`); the flag is `flags/{flag}`.
    pub flag: String,
    /// A name for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The values the flag can take; `[false, true]` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_values: Option<Vec<serde_json::Value>>,
    /// When false the flag has no rules and callers get their default.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The context property that keeps a unit in its split bucket.
    #[serde(default = "default_stickiness")]
    pub stickiness_property: String,
    /// Per-platform chains, tried before the default chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Platform>,
    /// The default chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ExperimentCondition>,
    /// The value when no condition matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ExperimentValue>,
    /// Free-form labels: one string, as CloudBees writes them, or a list.
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub labels: StringOrList,
}

fn yes() -> bool {
    true
}

fn default_stickiness() -> String {
    DEFAULT_STICKINESS_PROPERTY.to_owned()
}

impl Experiment {
    /// The full name of the flag this experiment defines.
    pub fn flag_name(&self) -> String {
        format!("flags/{}", self.flag)
    }

    /// The available values, with the CloudBees default `[false, true]`.
    pub fn values(&self) -> Vec<serde_json::Value> {
        self.available_values
            .clone()
            .unwrap_or_else(|| vec![serde_json::Value::Bool(false), serde_json::Value::Bool(true)])
    }
}

/// The name of the variant that stands for an available value: the string
/// itself, or the value's JSON text for non-strings (`true`, `3`).
pub fn variant_id_for_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One string or a list of strings, kept in the form it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StringOrList {
    /// A single string.
    One(String),
    /// A list (possibly empty).
    Many(Vec<String>),
}

impl Default for StringOrList {
    fn default() -> Self {
        StringOrList::Many(Vec::new())
    }
}

impl StringOrList {
    /// The strings, one or many.
    pub fn as_slice(&self) -> &[String] {
        match self {
            StringOrList::One(s) => std::slice::from_ref(s),
            StringOrList::Many(v) => v,
        }
    }

    /// Whether there is no string at all (an empty list).
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

impl Serialize for StringOrList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            StringOrList::One(s) => s.serialize(serializer),
            StringOrList::Many(v) => v.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = StringOrList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<StringOrList, E> {
                Ok(StringOrList::One(s.to_owned()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<StringOrList, E> {
                Ok(StringOrList::One(s))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StringOrList, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(StringOrList::Many(items))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A CloudBees group condition: `{"operator": "or", "name": ["QA", "Beta Users"]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperimentGroup {
    /// `or` (default): any group; `and`: all; `not`: none.
    #[serde(default)]
    pub operator: GroupOperator,
    /// The target groups: CloudBees names (`QA`) or full names (`targetGroups/QA`).
    /// `names`, the spelling of the engine's own group criterion, is accepted too.
    #[serde(alias = "names")]
    pub name: StringOrList,
}

impl ExperimentGroup {
    /// The engine's group criterion for this condition.
    pub fn criterion(&self) -> GroupCriterion {
        GroupCriterion { operator: self.operator, names: self.name.as_slice().to_vec() }
    }
}

/// A platform's own chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Platform {
    /// Matched against the context's `platform` attribute.
    pub name: String,
    /// A flag name that overrides the experiment's for this platform; deprecated by
    /// CloudBees, accepted and kept, and not acted upon (the platform's chain defines
    /// the experiment's own flag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// Conditions tried for this platform.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ExperimentCondition>,
    /// The platform's value when none of its conditions matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ExperimentValue>,
}

/// One link of the chain: its parts are AND-ed; a condition with no parts matches everyone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperimentCondition {
    /// Another flag's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency: Option<DependencyCriterion>,
    /// Target group membership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<ExperimentGroup>,
    /// App version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionCriterion>,
    /// A property condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<PropertyCondition>,
    /// What matching units get.
    pub value: ExperimentValue,
}

/// What a condition (or the experiment) gives.
#[derive(Clone, Debug, PartialEq)]
pub enum ExperimentValue {
    /// One value for everyone: a string, number or boolean.
    Single(serde_json::Value),
    /// Percentages of units per option.
    Split(Vec<SplitPart>),
    /// A percentage of units that grows over time.
    Schedule(Vec<ScheduledPart>),
}

/// One option of a split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SplitPart {
    /// The value given.
    pub option: serde_json::Value,
    /// The share of units in percent, in `[0, 100]`.
    pub percentage: f64,
}

/// One step of a scheduled value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduledPart {
    /// RFC 3339 instant from which the percentage applies.
    pub from: String,
    /// The share of units that get the option in percent, in `[0, 100]`.
    pub percentage: f64,
    /// The value given; `true` when absent (a boolean flag turned on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option: Option<serde_json::Value>,
}

impl Serialize for ExperimentValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ExperimentValue::Single(v) => v.serialize(serializer),
            ExperimentValue::Split(parts) => parts.serialize(serializer),
            ExperimentValue::Schedule(parts) => parts.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ExperimentValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        let serde_json::Value::Array(items) = raw else {
            return match raw {
                serde_json::Value::Object(_) | serde_json::Value::Null => Err(de::Error::custom(
                    "expected a string, number or boolean, a split [{option, percentage}] or a schedule [{from, percentage}]",
                )),
                scalar => Ok(ExperimentValue::Single(scalar)),
            };
        };
        let is_schedule = items.first().and_then(|i| i.get("from")).is_some();
        let parsed = if is_schedule {
            serde_json::from_value(serde_json::Value::Array(items)).map(ExperimentValue::Schedule)
        } else {
            serde_json::from_value(serde_json::Value::Array(items)).map(ExperimentValue::Split)
        };
        parsed.map_err(|e| {
            let shape = if is_schedule {
                "schedule [{from, percentage, option?}]"
            } else {
                "split [{option, percentage}]"
            };
            de::Error::custom(format_args!("invalid {shape}: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_scalars_splits_or_schedules() {
        let v: ExperimentValue = serde_json::from_str("true").unwrap();
        assert_eq!(v, ExperimentValue::Single(serde_json::json!(true)));
        let v: ExperimentValue = serde_json::from_str(
            r#"[{"option":true,"percentage":50},{"option":false,"percentage":50}]"#,
        )
        .unwrap();
        assert!(matches!(v, ExperimentValue::Split(ref p) if p.len() == 2));
        let v: ExperimentValue =
            serde_json::from_str(r#"[{"from":"2026-01-01T00:00:00Z","percentage":10}]"#).unwrap();
        assert!(matches!(v, ExperimentValue::Schedule(ref p) if p.len() == 1));
        let err = serde_json::from_str::<ExperimentValue>(r#"{"a":1}"#).unwrap_err();
        assert!(err.to_string().contains("expected a string, number or boolean"));
        let err = serde_json::from_str::<ExperimentValue>(r#"[{"option":1,"pct":1}]"#).unwrap_err();
        assert!(err.to_string().contains("invalid split"), "{err}");
    }

    #[test]
    fn labels_and_group_names_are_one_string_or_a_list() {
        let one: StringOrList = serde_json::from_str(r#""Default""#).unwrap();
        assert_eq!(one.as_slice(), ["Default"]);
        assert_eq!(serde_json::to_string(&one).unwrap(), r#""Default""#);
        let many: StringOrList = serde_json::from_str(r#"["QA","Beta Users"]"#).unwrap();
        assert_eq!(many.as_slice(), ["QA", "Beta Users"]);
        assert_eq!(serde_json::to_string(&many).unwrap(), r#"["QA","Beta Users"]"#);
        let err = serde_json::from_str::<StringOrList>("3").unwrap_err();
        assert!(err.to_string().contains("expected a string or a list of strings"), "{err}");
        let g: ExperimentGroup = serde_json::from_str(r#"{"name":"internalEmployees"}"#).unwrap();
        assert_eq!(g.criterion().names, ["internalEmployees"]);
        assert_eq!(g.criterion().operator, GroupOperator::Or);
    }

    #[test]
    fn variant_ids_for_values() {
        assert_eq!(variant_id_for_value(&serde_json::json!("blue")), "blue");
        assert_eq!(variant_id_for_value(&serde_json::json!(true)), "true");
        assert_eq!(variant_id_for_value(&serde_json::json!(3)), "3");
    }
}
