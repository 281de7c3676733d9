//! Targeting: named criteria combined by an expression (spec §1).
//!
//! The wire shapes follow Spotify Confidence: `{"criteria": {id: Criterion},
//! "expression": {"and": {"operands": [{"ref": id}, …]}}}`, with the CloudBees
//! condition kinds (group, version, property, dependency) as further criteria.

use serde::{Deserialize, Serialize};

mod wire;
use std::collections::BTreeMap;
use wire::{AttributeCriterionWire, AttributeRuleWire, DependencyWire, RangeRuleWire};

/// The attribute that version criteria read when none is named.
pub const DEFAULT_VERSION_ATTRIBUTE: &str = "app_version";

/// Who a segment, rollout or A/B test targets.
///
/// Empty targeting matches everyone. With criteria and no expression, all
/// criteria are AND-ed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Targeting {
    /// Criteria by id, referred to from the expression with `{"ref": id}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub criteria: BTreeMap<String, Criterion>,
    /// How the criteria combine; absent means all criteria AND-ed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<Expression>,
}

impl Targeting {
    /// Whether this targeting matches everyone (no criteria, no expression).
    pub fn is_everyone(&self) -> bool {
        self.criteria.is_empty() && self.expression.is_none()
    }
}

/// A boolean expression over criteria.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Expression {
    /// The outcome of the criterion with this id.
    Ref(String),
    /// The negation of the inner expression (two-valued logic).
    Not(Box<Expression>),
    /// True when every operand is true (true for no operands).
    And(Operands),
    /// True when any operand is true (false for no operands).
    Or(Operands),
}

/// The operands of `and` / `or`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operands {
    /// The sub-expressions.
    #[serde(default)]
    pub operands: Vec<Expression>,
}

impl Expression {
    /// The nesting depth: a `ref` is 1, each `not` / `and` / `or` adds 1.
    ///
    /// Iterative, so that a hostile depth cannot exhaust the stack.
    pub fn depth(&self) -> usize {
        let mut max = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((expr, depth)) = stack.pop() {
            max = max.max(depth);
            match expr {
                Expression::Ref(_) => {}
                Expression::Not(inner) => stack.push((inner, depth + 1)),
                Expression::And(ops) | Expression::Or(ops) => {
                    stack.extend(ops.operands.iter().map(|op| (op, depth + 1)));
                }
            }
        }
        max
    }

    /// Calls `f` with every criterion id this expression refers to.
    pub fn for_each_ref(&self, mut f: impl FnMut(&str)) {
        let mut stack = vec![self];
        while let Some(expr) = stack.pop() {
            match expr {
                Expression::Ref(id) => f(id),
                Expression::Not(inner) => stack.push(inner),
                Expression::And(ops) | Expression::Or(ops) => stack.extend(ops.operands.iter()),
            }
        }
    }
}

/// One named condition of a targeting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Criterion {
    /// A rule on one attribute of the context.
    Attribute(AttributeCriterion),
    /// Another segment's targeting AND its allocation.
    Segment(SegmentCriterion),
    /// Membership in CloudBees target groups.
    Group(GroupCriterion),
    /// A SemVer comparison on a version attribute.
    Version(VersionCriterion),
    /// A CloudBees property condition.
    Property(PropertyCondition),
    /// Another flag's resolution for the same context.
    Dependency(DependencyCriterion),
}

/// A rule on one attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AttributeCriterionWire", into = "AttributeCriterionWire")]
pub struct AttributeCriterion {
    /// The attribute: a literal top-level key, else a dot path (`user.plan`).
    pub attribute_name: String,
    /// What the attribute's value must satisfy.
    pub rule: AttributeRule,
}

/// What an attribute's value must satisfy (exactly one rule kind).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AttributeRuleWire", into = "AttributeRuleWire")]
pub enum AttributeRule {
    /// Equal to the value (numbers compare numerically).
    Eq(EqRule),
    /// Equal to one of the values.
    Set(SetRule),
    /// Inside a range of numbers, timestamps or versions.
    Range(RangeRule),
    /// A string starting with the value.
    StartsWith(StringRule),
    /// A string ending with the value.
    EndsWith(StringRule),
    /// A string containing the value.
    Contains(StringRule),
    /// A string in which the pattern is found (unanchored search).
    Regex(RegexRule),
    /// A list with at least one element satisfying the inner rule.
    Any(Box<InnerRule>),
    /// A list whose elements all satisfy the inner rule (true for an empty or missing list).
    All(Box<InnerRule>),
}

/// `eqRule`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EqRule {
    /// The value to compare with.
    pub value: Value,
    /// Compare strings without regard to case (Unicode simple case folding); absent is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_insensitive: Option<bool>,
}

/// `setRule`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetRule {
    /// The accepted values.
    pub values: Vec<Value>,
    /// Compare strings without regard to case; absent is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_insensitive: Option<bool>,
}

/// `rangeRule`: at most one start bound and at most one end bound, at least one of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RangeRuleWire", into = "RangeRuleWire")]
pub struct RangeRule {
    /// The lower bound, if any.
    pub start: Option<Bound>,
    /// The upper bound, if any.
    pub end: Option<Bound>,
}

/// One end of a range.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// The bound's value: a number, timestamp or version.
    pub value: Value,
    /// Whether a value equal to the bound is inside.
    pub inclusive: bool,
}

/// `startsWithRule`, `endsWithRule`, `containsRule`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StringRule {
    /// The string to look for.
    pub value: String,
    /// Compare without regard to case; absent is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_insensitive: Option<bool>,
}

/// `regexRule`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegexRule {
    /// A pattern in Rust `regex` syntax, searched unanchored.
    pub pattern: String,
    /// Match without regard to case; absent is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_insensitive: Option<bool>,
}

/// The inner rule of `anyRule` / `allRule`: `{"rule": AttributeRule}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InnerRule {
    /// The rule applied to each element.
    pub rule: AttributeRule,
}

/// A typed value in a rule (Confidence style).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Value {
    /// `{"boolValue": true}`
    BoolValue(bool),
    /// `{"numberValue": 1.5}`
    NumberValue(f64),
    /// `{"stringValue": "SE"}`
    StringValue(String),
    /// `{"timestampValue": "2026-01-01T00:00:00Z"}` (RFC 3339)
    TimestampValue(String),
    /// `{"versionValue": {"version": "1.2.3"}}`
    VersionValue(VersionLiteral),
    /// `{"listValue": {"values": [...]}}`
    ListValue(ListValue),
}

impl Value {
    /// The wire key of this value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::BoolValue(_) => "boolValue",
            Value::NumberValue(_) => "numberValue",
            Value::StringValue(_) => "stringValue",
            Value::TimestampValue(_) => "timestampValue",
            Value::VersionValue(_) => "versionValue",
            Value::ListValue(_) => "listValue",
        }
    }
}

/// The body of `versionValue`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionLiteral {
    /// The version text.
    pub version: String,
}

/// The body of `listValue`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListValue {
    /// The elements.
    #[serde(default)]
    pub values: Vec<Value>,
}

/// `segment` criterion: `{"segment": "segments/beta"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SegmentCriterion {
    /// The referenced segment.
    pub segment: String,
}

/// How a group criterion combines its target groups, or a target group its conditions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupOperator {
    /// Any matches.
    #[default]
    Or,
    /// All match.
    And,
    /// None matches.
    Not,
}

/// `group` criterion: membership in target groups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupCriterion {
    /// `or` (default): any group; `and`: all; `not`: none.
    #[serde(default)]
    pub operator: GroupOperator,
    /// The target groups.
    pub names: Vec<String>,
}

/// `version` criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionCriterion {
    /// The attribute holding the version; `app_version` by default.
    #[serde(default = "default_version_attribute")]
    pub attribute_name: String,
    /// One of the six `semver-*` operators.
    pub operator: PropertyOperator,
    /// The version to compare with.
    pub semver: String,
}

fn default_version_attribute() -> String {
    DEFAULT_VERSION_ATTRIBUTE.to_owned()
}

/// `property` criterion (CloudBees): `{"name", "operator", "operand"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PropertyCondition {
    /// The property (attribute) name.
    pub name: String,
    /// The comparison.
    pub operator: PropertyOperator,
    /// The operand; unused by `is-undefined`, `is-true`, `is-false`.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub operand: serde_json::Value,
}

/// CloudBees property operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PropertyOperator {
    /// The property is missing or null.
    IsUndefined,
    /// The property is the boolean `true`.
    IsTrue,
    /// The property is the boolean `false`.
    IsFalse,
    /// Same JSON type and equal.
    Eq,
    /// Present, and not `eq`.
    Ne,
    /// Number greater than the operand.
    Gt,
    /// Number greater than or equal.
    Gte,
    /// Number less than.
    Lt,
    /// Number less than or equal.
    Lte,
    /// String in which the operand pattern is found.
    Regex,
    /// Equal to one of the operand array's elements.
    InArray,
    /// Version equal (precedence).
    SemverEq,
    /// Version not equal.
    SemverNe,
    /// Version greater.
    SemverGt,
    /// Version greater or equal.
    SemverGte,
    /// Version less.
    SemverLt,
    /// Version less or equal.
    SemverLte,
}

impl PropertyOperator {
    /// Every operator, in the order of the CloudBees documentation.
    pub const ALL: [PropertyOperator; 17] = [
        PropertyOperator::IsUndefined,
        PropertyOperator::IsTrue,
        PropertyOperator::IsFalse,
        PropertyOperator::Eq,
        PropertyOperator::Ne,
        PropertyOperator::Gt,
        PropertyOperator::Gte,
        PropertyOperator::Lt,
        PropertyOperator::Lte,
        PropertyOperator::Regex,
        PropertyOperator::InArray,
        PropertyOperator::SemverEq,
        PropertyOperator::SemverNe,
        PropertyOperator::SemverGt,
        PropertyOperator::SemverGte,
        PropertyOperator::SemverLt,
        PropertyOperator::SemverLte,
    ];

    /// Whether this is one of the six `semver-*` operators.
    pub fn is_semver(self) -> bool {
        matches!(
            self,
            PropertyOperator::SemverEq
                | PropertyOperator::SemverNe
                | PropertyOperator::SemverGt
                | PropertyOperator::SemverGte
                | PropertyOperator::SemverLt
                | PropertyOperator::SemverLte
        )
    }

    /// Whether the operator reads no operand.
    pub fn is_unary(self) -> bool {
        matches!(
            self,
            PropertyOperator::IsUndefined | PropertyOperator::IsTrue | PropertyOperator::IsFalse
        )
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PropertyOperator::IsUndefined => "is-undefined",
            PropertyOperator::IsTrue => "is-true",
            PropertyOperator::IsFalse => "is-false",
            PropertyOperator::Eq => "eq",
            PropertyOperator::Ne => "ne",
            PropertyOperator::Gt => "gt",
            PropertyOperator::Gte => "gte",
            PropertyOperator::Lt => "lt",
            PropertyOperator::Lte => "lte",
            PropertyOperator::Regex => "regex",
            PropertyOperator::InArray => "in-array",
            PropertyOperator::SemverEq => "semver-eq",
            PropertyOperator::SemverNe => "semver-ne",
            PropertyOperator::SemverGt => "semver-gt",
            PropertyOperator::SemverGte => "semver-gte",
            PropertyOperator::SemverLt => "semver-lt",
            PropertyOperator::SemverLte => "semver-lte",
        }
    }
}

/// `dependency` criterion: another flag gives a variant (or a value).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DependencyWire", into = "DependencyWire")]
pub struct DependencyCriterion {
    /// The flag resolved for the same context.
    pub flag: String,
    /// What its resolution must give.
    pub expect: DependencyExpectation,
}

/// What a dependency expects of the other flag.
#[derive(Clone, Debug, PartialEq)]
pub enum DependencyExpectation {
    /// This variant (full name or id).
    Variant(String),
    /// A variant whose value equals this JSON value.
    Value(serde_json::Value),
}

impl AttributeRule {
    /// Whether this rule compares strings without regard to case.
    pub fn is_case_insensitive(&self) -> bool {
        self.case_insensitive_flag().is_some_and(|flag| flag.unwrap_or(false))
    }

    /// The rule's own `caseInsensitive`, for the string rules (through `anyRule` /
    /// `allRule` to their inner rule); `None` for a rule that has none (`rangeRule`).
    fn case_insensitive_flag(&self) -> Option<Option<bool>> {
        match self {
            AttributeRule::Eq(r) => Some(r.case_insensitive),
            AttributeRule::Set(r) => Some(r.case_insensitive),
            AttributeRule::StartsWith(r)
            | AttributeRule::EndsWith(r)
            | AttributeRule::Contains(r) => Some(r.case_insensitive),
            AttributeRule::Regex(r) => Some(r.case_insensitive),
            AttributeRule::Any(inner) | AttributeRule::All(inner) => {
                inner.rule.case_insensitive_flag()
            }
            AttributeRule::Range(_) => None,
        }
    }

    /// Applies a `caseInsensitive` written beside the rule on the attribute criterion.
    ///
    /// Both places are accepted; written in both, they must agree. A rule without
    /// case (`rangeRule`) takes none.
    fn set_case_insensitive(&mut self, beside: bool) -> Result<(), String> {
        let slot = match self {
            AttributeRule::Eq(r) => &mut r.case_insensitive,
            AttributeRule::Set(r) => &mut r.case_insensitive,
            AttributeRule::StartsWith(r)
            | AttributeRule::EndsWith(r)
            | AttributeRule::Contains(r) => &mut r.case_insensitive,
            AttributeRule::Regex(r) => &mut r.case_insensitive,
            AttributeRule::Any(inner) | AttributeRule::All(inner) => {
                return inner.rule.set_case_insensitive(beside);
            }
            AttributeRule::Range(_) => {
                return Err("caseInsensitive applies to string rules only (eqRule, setRule, \
                            startsWithRule, endsWithRule, containsRule, regexRule), not rangeRule"
                    .to_owned());
            }
        };
        match *slot {
            Some(inside) if inside != beside => Err(format!(
                "caseInsensitive {beside} beside the rule disagrees with caseInsensitive \
                 {inside} inside it"
            )),
            _ => {
                *slot = Some(beside);
                Ok(())
            }
        }
    }
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_criterion_round_trips() {
        let json = r#"{"attributeName":"country","setRule":{"values":[{"stringValue":"SE"}],"caseInsensitive":true}}"#;
        let c: AttributeCriterion = serde_json::from_str(json).unwrap();
        assert_eq!(c.attribute_name, "country");
        assert!(matches!(c.rule, AttributeRule::Set(ref s) if s.case_insensitive == Some(true)));
        assert!(c.rule.is_case_insensitive());
        assert_eq!(serde_json::to_string(&c).unwrap(), json);
    }

    #[test]
    fn every_property_operator_is_listed_once_with_its_wire_name() {
        let names: std::collections::BTreeSet<&str> =
            PropertyOperator::ALL.iter().map(|op| op.as_str()).collect();
        assert_eq!(names.len(), PropertyOperator::ALL.len());
        for op in PropertyOperator::ALL {
            let wire = serde_json::to_value(op).unwrap();
            assert_eq!(wire, serde_json::json!(op.as_str()));
            assert_eq!(serde_json::from_value::<PropertyOperator>(wire).unwrap(), op);
        }
    }

    #[test]
    fn case_insensitive_beside_the_rule_is_the_same_as_inside_it() {
        let inside: AttributeCriterion = serde_json::from_str(
            r#"{"attributeName":"email","endsWithRule":{"value":"@ACME.example","caseInsensitive":true}}"#,
        )
        .unwrap();
        for beside in [
            r#"{"attributeName":"email","caseInsensitive":true,"endsWithRule":{"value":"@ACME.example"}}"#,
            r#"{"attributeName":"email","caseInsensitive":true,"endsWithRule":{"value":"@ACME.example","caseInsensitive":true}}"#,
        ] {
            let c: AttributeCriterion = serde_json::from_str(beside).unwrap();
            assert_eq!(c, inside, "{beside}");
        }
        let any: AttributeCriterion = serde_json::from_str(
            r#"{"attributeName":"tags","caseInsensitive":true,"anyRule":{"rule":{"eqRule":{"value":{"stringValue":"VIP"}}}}}"#,
        )
        .unwrap();
        assert!(any.rule.is_case_insensitive());
        let off: AttributeCriterion = serde_json::from_str(
            r#"{"attributeName":"email","caseInsensitive":false,"containsRule":{"value":"x"}}"#,
        )
        .unwrap();
        assert!(!off.rule.is_case_insensitive());
    }

    #[test]
    fn case_insensitive_in_both_places_must_agree() {
        let err = serde_json::from_str::<AttributeCriterion>(
            r#"{"attributeName":"email","caseInsensitive":true,"eqRule":{"value":{"stringValue":"a"},"caseInsensitive":false}}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("caseInsensitive true beside the rule disagrees with caseInsensitive false inside it"),
            "{err}"
        );
        let err = serde_json::from_str::<AttributeCriterion>(
            r#"{"attributeName":"age","caseInsensitive":true,"rangeRule":{"startInclusive":{"numberValue":1}}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("caseInsensitive applies to string rules only"), "{err}");
    }

    #[test]
    fn attribute_criterion_needs_exactly_one_rule() {
        let none =
            serde_json::from_str::<AttributeCriterion>(r#"{"attributeName":"a"}"#).unwrap_err();
        assert!(none.to_string().contains("expected exactly one of eqRule"), "{none}");
        let two = r#"{"attributeName":"a","eqRule":{"value":{"boolValue":true}},"regexRule":{"pattern":"x"}}"#;
        let err = serde_json::from_str::<AttributeCriterion>(two).unwrap_err();
        assert!(err.to_string().contains("found 2"), "{err}");
    }

    #[test]
    fn range_rule_bounds() {
        let r: RangeRule = serde_json::from_str(
            r#"{"startInclusive":{"numberValue":1},"endExclusive":{"numberValue":2}}"#,
        )
        .unwrap();
        assert!(r.start.as_ref().unwrap().inclusive);
        assert!(!r.end.as_ref().unwrap().inclusive);
        let both = r#"{"startInclusive":{"numberValue":1},"startExclusive":{"numberValue":2}}"#;
        assert!(serde_json::from_str::<RangeRule>(both).is_err());
        assert!(serde_json::from_str::<RangeRule>("{}").is_err());
    }

    #[test]
    fn expression_depth_and_refs() {
        let e: Expression = serde_json::from_str(
            r#"{"and":{"operands":[{"ref":"a"},{"not":{"or":{"operands":[{"ref":"b"}]}}}]}}"#,
        )
        .unwrap();
        assert_eq!(e.depth(), 4);
        let mut refs = Vec::new();
        e.for_each_ref(|r| refs.push(r.to_owned()));
        refs.sort();
        assert_eq!(refs, ["a", "b"]);
    }

    #[test]
    fn dependency_needs_variant_or_value() {
        let d: DependencyCriterion =
            serde_json::from_str(r#"{"flag":"flags/a","variant":"on"}"#).unwrap();
        assert_eq!(d.expect, DependencyExpectation::Variant("on".into()));
        assert!(serde_json::from_str::<DependencyCriterion>(r#"{"flag":"flags/a"}"#).is_err());
    }
}
