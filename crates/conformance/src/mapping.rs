//! A neutral case as a Flagstone config: one flag whose single rule targets one segment, and the
//! segment's targeting expresses the case's condition with Flagstone criteria.
//!
//! The mapping is what a user moving from the source engine would write. It translates config
//! literals (an Unleash numeric operand `"12"` becomes `{"numberValue": 12}`, a LaunchDarkly
//! epoch-millisecond date becomes a `timestampValue`), and it never looks at the context or at the
//! expected result: whatever Flagstone's policy does with the context is what is compared.
//!
//! | neutral | Flagstone |
//! | --- | --- |
//! | `eq`, `neq` | `eqRule` (`neq`: `not`) |
//! | `num_eq` | `eqRule` with a `numberValue` |
//! | `in`, `not_in` | `setRule` (`not_in`: `not`) |
//! | `starts_with`, `ends_with`, `contains` | `or` of one string rule per operand |
//! | `regex` | `regexRule` |
//! | `lt`, `lte`, `gt`, `gte` | `rangeRule` on a `numberValue` |
//! | `before`, `after` | `rangeRule` on a `timestampValue`, exclusive |
//! | `semver_eq` ... `semver_gte`, `semver_neq` | `version` criterion, `semver-*` operator |
//! | `semver_tilde`, `semver_caret` | `rangeRule` on `versionValue`s: `[M.m.0-0, M.(m+1).0-0)`, `[M.0.0-0, (M+1).0.0-0)` |
//! | `is_null` | `property` `is-undefined` (`false`: `not`) |
//! | `contains_all` | `and` of one `anyRule` per operand |
//! | `negate` | `not` |
//! | `all`, `any`, `none`, `not` | `and`, `or`, `not` of `or`, `not` |
//! | `attribute_path` | a dot path |
//!
//! LaunchDarkly and GrowthBook apply an operator to each element of a list attribute. For their
//! cases each attribute rule `R` becomes `or(R, anyRule(R))`, which a Flagstone user writes for
//! the same effect (a rule other than `anyRule` / `allRule` is false on a list, spec §2.3).
//!
//! `in_cidr` has no Flagstone rule, and deep equality of lists and objects, string ordering and
//! non-scalar operands have no Flagstone literal: those cases are [`Unmappable`].

use crate::case::{Case, Condition, Leaf};
use flagstone_model::version::Version;
use serde_json::{Map, Value, json};

/// The flag of every generated config.
pub const FLAG: &str = "flags/conformance";
/// The segment whose targeting expresses the case.
pub const SEGMENT: &str = "segments/conformance";
/// The rule's targeting key selector: a key no case uses, so no unit is read (the rule does not
/// bucket) and a context's own `targeting_key` cannot cause a `TARGETING_KEY_ERROR`.
pub const UNIT_SELECTOR: &str = "__conformance_unit";

/// Sources whose operators apply to each element of a list attribute (README, cross-cutting rules).
pub const LIST_ANY_SOURCES: [&str; 2] = ["launchdarkly", "growthbook"];

/// A condition Flagstone's config cannot express; the message says what is missing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unmappable(pub String);

fn unmappable<T>(message: impl Into<String>) -> Result<T, Unmappable> {
    Err(Unmappable(message.into()))
}

/// The whole config for `case`: one flag, one rule, one segment.
///
/// # Errors
/// [`Unmappable`] when the condition has no Flagstone equivalent.
///
/// # Examples
/// ```
/// use flagstone_conformance::{case::parse_cases, mapping::config};
/// let line = r#"{"source": "unleash", "id": "u:1", "attribute": "env", "operator": "not_in", "operand": ["dev"], "context": {}, "expected": true}"#;
/// let case = &parse_cases(line, "conditions.jsonl")?[0];
/// let config = config(case)?;
/// let segment = &config["segments"][0]["targeting"];
/// assert_eq!(segment["expression"], serde_json::json!({"not": {"ref": "c0"}}));
/// assert_eq!(segment["criteria"]["c0"]["attribute"]["setRule"]["values"][0]["stringValue"], "dev");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn config(case: &Case) -> Result<Value, Unmappable> {
    Ok(json!({
        "flags": [{
            "name": FLAG,
            "variants": [{"name": format!("{FLAG}/variants/match"), "value": true}],
            "rules": [{
                "name": format!("{FLAG}/rules/case"),
                "segment": SEGMENT,
                "targetingKeySelector": UNIT_SELECTOR,
                "assignmentSpec": {"bucketCount": 1, "assignments": [{
                    "assignmentId": "match",
                    "variant": {"variant": "match"},
                    "bucketRanges": [{"lower": 0, "upper": 1}]
                }]}
            }]
        }],
        "segments": [{"name": SEGMENT, "targeting": targeting(case)?}]
    }))
}

/// The segment targeting for `case`: `{"criteria": {...}, "expression": ...}`.
///
/// # Errors
/// [`Unmappable`] when the condition has no Flagstone equivalent.
pub fn targeting(case: &Case) -> Result<Value, Unmappable> {
    let mut builder = Builder {
        list_any: LIST_ANY_SOURCES.contains(&case.source.as_str()),
        criteria: Map::new(),
    };
    let expression = builder.condition(&case.condition)?;
    Ok(json!({"criteria": builder.criteria, "expression": expression}))
}

struct Builder {
    list_any: bool,
    criteria: Map<String, Value>,
}

fn not(e: Value) -> Value {
    json!({"not": e})
}

fn and(operands: Vec<Value>) -> Value {
    json!({"and": {"operands": operands}})
}

fn or(operands: Vec<Value>) -> Value {
    json!({"or": {"operands": operands}})
}

/// A rule object such as `{"eqRule": {...}}`, with `caseInsensitive` only when asked for.
fn rule(kind: &str, mut body: Map<String, Value>, case_insensitive: bool) -> Map<String, Value> {
    if case_insensitive {
        body.insert("caseInsensitive".into(), Value::Bool(true));
    }
    let mut rule = Map::new();
    rule.insert(kind.into(), Value::Object(body));
    rule
}

fn body(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

impl Builder {
    /// Adds a criterion and returns the expression that refers to it.
    fn add(&mut self, criterion: Value) -> Value {
        let id = format!("c{}", self.criteria.len());
        self.criteria.insert(id.clone(), criterion);
        json!({"ref": id})
    }

    /// An attribute rule; for list-any sources, `or(rule, anyRule(rule))`.
    fn attribute(&mut self, name: &str, rule: Map<String, Value>) -> Value {
        let mut direct = rule.clone();
        direct.insert("attributeName".into(), Value::String(name.to_owned()));
        let direct = self.add(json!({"attribute": direct}));
        if !self.list_any {
            return direct;
        }
        let any = self.add(json!({"attribute": {
            "attributeName": name,
            "anyRule": {"rule": rule},
        }}));
        or(vec![direct, any])
    }

    fn condition(&mut self, c: &Condition) -> Result<Value, Unmappable> {
        let all = |this: &mut Self, cs: &[Condition]| -> Result<Vec<Value>, Unmappable> {
            cs.iter().map(|c| this.condition(c)).collect()
        };
        Ok(match c {
            Condition::Leaf(leaf) => self.leaf(leaf)?,
            Condition::All(cs) => and(all(self, cs)?),
            Condition::Any(cs) => or(all(self, cs)?),
            Condition::None(cs) => not(or(all(self, cs)?)),
            Condition::Not(c) => not(self.condition(c)?),
        })
    }

    fn leaf(&mut self, leaf: &Leaf) -> Result<Value, Unmappable> {
        let name = attribute_name(leaf)?;
        let name = name.as_str();
        let ci = leaf.case_insensitive;
        let operand = &leaf.operand;
        let op = leaf.operator.as_str();
        let expr = match op {
            "eq" | "neq" => {
                let eq =
                    self.attribute(name, rule("eqRule", body([("value", scalar(operand)?)]), ci));
                if op == "neq" { not(eq) } else { eq }
            }
            "num_eq" => {
                let value = json!({"numberValue": number(operand)?});
                self.attribute(name, rule("eqRule", body([("value", value)]), false))
            }
            "in" | "not_in" => {
                let values =
                    list(op, operand)?.iter().map(scalar).collect::<Result<Vec<_>, _>>()?;
                let set =
                    self.attribute(name, rule("setRule", body([("values", values.into())]), ci));
                if op == "not_in" { not(set) } else { set }
            }
            "starts_with" | "ends_with" | "contains" => {
                let kind = match op {
                    "starts_with" => "startsWithRule",
                    "ends_with" => "endsWithRule",
                    _ => "containsRule",
                };
                let mut any_of = Vec::new();
                for item in list(op, operand)? {
                    let Some(s) = item.as_str() else {
                        return unmappable(format!(
                            "{op} operand {item} is not a string: a {kind} value is a string"
                        ));
                    };
                    any_of.push(self.attribute(name, rule(kind, body([("value", s.into())]), ci)));
                }
                or(any_of)
            }
            "regex" => {
                let Some(pattern) = operand.as_str() else {
                    return unmappable(format!("regex operand {operand} is not a string"));
                };
                self.attribute(name, rule("regexRule", body([("pattern", pattern.into())]), ci))
            }
            "lt" | "lte" | "gt" | "gte" => {
                let bound = match op {
                    "lt" => "endExclusive",
                    "lte" => "endInclusive",
                    "gt" => "startExclusive",
                    _ => "startInclusive",
                };
                let value = json!({"numberValue": number(operand)?});
                self.attribute(name, rule("rangeRule", body([(bound, value)]), false))
            }
            "before" | "after" => {
                let bound = if op == "before" { "endExclusive" } else { "startExclusive" };
                let value = json!({"timestampValue": timestamp(operand)?});
                self.attribute(name, rule("rangeRule", body([(bound, value)]), false))
            }
            "semver_eq" | "semver_neq" | "semver_lt" | "semver_lte" | "semver_gt"
            | "semver_gte" => {
                let operator = match op {
                    "semver_eq" => "semver-eq",
                    "semver_neq" => "semver-ne",
                    "semver_lt" => "semver-lt",
                    "semver_lte" => "semver-lte",
                    "semver_gt" => "semver-gt",
                    _ => "semver-gte",
                };
                let Some(semver) = operand.as_str() else {
                    return unmappable(format!(
                        "{op} operand {operand} is not a string: a version criterion's semver is a string"
                    ));
                };
                self.add(json!({"version": {
                    "attributeName": name, "operator": operator, "semver": semver,
                }}))
            }
            "semver_tilde" | "semver_caret" => {
                let (lower, upper) = version_range(op, operand)?;
                let range = body([
                    ("startInclusive", json!({"versionValue": {"version": lower}})),
                    ("endExclusive", json!({"versionValue": {"version": upper}})),
                ]);
                self.attribute(name, rule("rangeRule", range, false))
            }
            "is_null" => {
                let Some(is_null) = operand.as_bool() else {
                    return unmappable(format!("is_null operand {operand} is not a boolean"));
                };
                let undefined =
                    self.add(json!({"property": {"name": name, "operator": "is-undefined"}}));
                if is_null { undefined } else { not(undefined) }
            }
            "contains_all" => {
                let mut every = Vec::new();
                for item in list(op, operand)? {
                    let eq = rule("eqRule", body([("value", scalar(item)?)]), ci);
                    every.push(self.add(json!({"attribute": {
                        "attributeName": name,
                        "anyRule": {"rule": eq},
                    }})));
                }
                and(every)
            }
            "in_cidr" => return unmappable("in_cidr: Flagstone has no IP network rule"),
            other => return unmappable(format!("unknown operator {other:?}")),
        };
        Ok(if leaf.negate { not(expr) } else { expr })
    }
}

/// The attribute as a Flagstone name: the path's steps joined with dots.
fn attribute_name(leaf: &Leaf) -> Result<String, Unmappable> {
    match &leaf.attribute_path {
        None => Ok(leaf.attribute.clone()),
        Some(steps) => {
            if let Some(step) = steps.iter().find(|s| s.is_empty() || s.contains('.')) {
                return unmappable(format!(
                    "attribute path step {step:?} cannot be written as a dot path"
                ));
            }
            Ok(steps.join("."))
        }
    }
}

/// A JSON scalar as a typed rule value.
fn scalar(v: &Value) -> Result<Value, Unmappable> {
    Ok(match v {
        Value::String(s) => json!({"stringValue": s}),
        Value::Number(n) => json!({"numberValue": n}),
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Array(_) | Value::Object(_) => {
            return unmappable(format!(
                "operand {v} is not a scalar: Flagstone rules compare scalars, not deep equality"
            ));
        }
        Value::Null => return unmappable("operand null has no typed rule value"),
    })
}

fn list<'v>(op: &str, v: &'v Value) -> Result<&'v [Value], Unmappable> {
    match v.as_array() {
        Some(items) => Ok(items),
        None => unmappable(format!("{op} operand {v} is not a list")),
    }
}

/// A numeric operand; a numeric string (Unleash writes `"12"`) is translated once, here.
fn number(v: &Value) -> Result<Value, Unmappable> {
    match v {
        Value::Number(n) => Ok(Value::Number(n.clone())),
        Value::String(s) => {
            match s.trim().parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                Some(n) => Ok(Value::Number(n)),
                None => unmappable(format!(
                    "operand {v} is not a number: Flagstone ranges order numbers, timestamps and versions, not strings"
                )),
            }
        }
        _ => unmappable(format!("operand {v} is not a number")),
    }
}

/// A date operand: an RFC 3339 string as is, epoch milliseconds as RFC 3339.
fn timestamp(v: &Value) -> Result<String, Unmappable> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => match n.as_i64().map(jiff::Timestamp::from_millisecond) {
            Some(Ok(t)) => Ok(t.to_string()),
            _ => unmappable(format!("date operand {v} is not epoch milliseconds")),
        },
        _ => unmappable(format!("date operand {v} is not a date")),
    }
}

/// flagd's `~` (same major and minor) and `^` (same major) as half-open version ranges whose
/// lower ends are the lowest pre-release of the first version inside.
fn version_range(op: &str, v: &Value) -> Result<(String, String), Unmappable> {
    let Some(version) = v.as_str().and_then(|s| Version::parse(s).ok()) else {
        return unmappable(format!("{op} operand {v} is not a version"));
    };
    let (major, minor) = (version.major(), version.minor());
    let range = if op == "semver_tilde" {
        minor
            .checked_add(1)
            .map(|next| (format!("{major}.{minor}.0-0"), format!("{major}.{next}.0-0")))
    } else {
        major.checked_add(1).map(|next| (format!("{major}.0.0-0"), format!("{next}.0.0-0")))
    };
    range.ok_or_else(|| Unmappable(format!("{op} operand {v} has no next version")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::parse_cases;

    fn targeting_of(line: &str) -> Result<Value, Unmappable> {
        targeting(&parse_cases(line, "t.jsonl").unwrap()[0])
    }

    #[test]
    fn list_any_sources_also_try_each_element() {
        let t = targeting_of(
            r#"{"source": "launchdarkly", "id": "l:1", "attribute": "a", "operator": "starts_with", "operand": ["x"], "negate": true, "context": {}, "expected": true}"#,
        )
        .unwrap();
        assert_eq!(
            t["expression"],
            json!({"not": {"or": {"operands": [{"or": {"operands": [{"ref": "c0"}, {"ref": "c1"}]}}]}}})
        );
        assert_eq!(
            t["criteria"]["c1"]["attribute"]["anyRule"]["rule"]["startsWithRule"]["value"],
            "x"
        );
    }

    #[test]
    fn literals_are_translated_once() {
        let t = targeting_of(
            r#"{"source": "unleash", "id": "u:1", "attribute": "n", "operator": "gte", "operand": "12", "context": {}, "expected": true}"#,
        )
        .unwrap();
        assert_eq!(
            t["criteria"]["c0"]["attribute"]["rangeRule"]["startInclusive"]["numberValue"],
            12.0
        );
        let t = targeting_of(
            r#"{"source": "launchdarkly", "id": "l:1", "attribute": "d", "operator": "before", "operand": 1512543600000, "context": {}, "expected": true}"#,
        )
        .unwrap();
        assert_eq!(
            t["criteria"]["c0"]["attribute"]["rangeRule"]["endExclusive"]["timestampValue"],
            "2017-12-06T07:00:00Z"
        );
    }

    #[test]
    fn flagd_ranges_start_at_the_lowest_pre_release() {
        assert_eq!(
            version_range("semver_tilde", &json!("1.2.3")).unwrap(),
            ("1.2.0-0".to_owned(), "1.3.0-0".to_owned())
        );
        assert_eq!(
            version_range("semver_caret", &json!("v2")).unwrap(),
            ("2.0.0-0".to_owned(), "3.0.0-0".to_owned())
        );
        assert!(version_range("semver_caret", &json!("1.2.3.4")).is_err());
    }

    #[test]
    fn what_has_no_equivalent_says_why() {
        let err = targeting_of(
            r#"{"source": "unleash", "id": "u:1", "attribute": "ip", "operator": "in_cidr", "operand": ["10.0.0.0/8"], "context": {}, "expected": true}"#,
        )
        .unwrap_err();
        assert!(err.0.contains("no IP network rule"), "{err}");
        let err = targeting_of(
            r#"{"source": "growthbook", "id": "g:1", "attribute": "w", "operator": "gt", "operand": "alphabet", "context": {}, "expected": true}"#,
        )
        .unwrap_err();
        assert!(err.0.contains("not strings"), "{err}");
    }
}
