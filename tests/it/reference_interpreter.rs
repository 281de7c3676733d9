//! Properties: the compiled engine agrees with a small
//! reference interpreter, and explain agrees with evaluate, for random
//! configs and contexts.
//!
//! The reference is written straight from spec §2 over the *model* types:
//! it finds everything by name, recurses plainly, builds nothing in advance and
//! memoises nothing. It shares only two things with the engine, both tested on
//! their own: `bucket_of` (§2.4) and `Version` (lenient parsing and SemVer
//! precedence, §2.3). It even has its own tiny regex matcher, for the subset of
//! patterns the generator writes, so that it does not lean on the `regex` crate
//! the engine uses.
//!
//! Where the specification is silent the reference follows the decisions written in the
//! docs of `flagstone_core` and the model:
//! - a rule with one assignment covering all its buckets reports no bucket;
//! - a segment's allocation is whole when it is not archived, has no
//!   `allocatedRanges` and its proportion is at least 1 (exclusivity tags only
//!   matter to `allocate`); an `ARCHIVED` segment holds nobody;
//! - `ne` is "present, and not `eq`" (so it is true across JSON types);
//! - `in-array` compares with the operand's scalar elements only;
//! - case-insensitive string rules fold case character by character (the
//!   generator only writes characters whose simple case folding is their
//!   lowercase).
//!
//! Only the config's own flags, segments and target groups are generated:
//! rollouts, A/B tests and experiments are lowered by compile and have their
//! own tests.
//!
//! Composite strategies are boxed: unboxed, their value trees are large enough
//! to overflow a test thread's stack in debug builds now and then.

use flagstone_core::bucket::bucket_of;
use flagstone_core::{Engine, EvaluationContext, Reason};
use flagstone_model::Config;
use flagstone_model::flag::{
    Assignment, AssignmentSpec, BucketRange, Flag, FlagState, Outcome, Rule, Variant,
};
use flagstone_model::fraction::Fraction;
use flagstone_model::names::{Collection, variant_full_name};
use flagstone_model::segment::{
    ALLOCATION_BUCKETS, Allocation, GroupCondition, Segment, SegmentState, TargetGroup,
};
use flagstone_model::targeting::{
    AttributeCriterion, AttributeRule, Bound, Criterion, DependencyCriterion,
    DependencyExpectation, EqRule, Expression, GroupCriterion, GroupOperator, InnerRule, Operands,
    PropertyCondition, PropertyOperator, RangeRule, RegexRule, SetRule, StringRule, Targeting,
    Value, VersionCriterion, VersionLiteral,
};
use flagstone_model::validate;
use flagstone_model::version::Version;
use proptest::option::weighted;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value as Json, json};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::num::NonZeroU32;

// ============================================================================
// The reference interpreter
// ============================================================================

/// What the reference says one flag resolves to.
#[derive(Clone, Debug, PartialEq)]
struct Expected {
    reason: Reason,
    variant: Option<String>,
    rule: Option<String>,
    segment: Option<String>,
    assignment_id: Option<String>,
    bucket: Option<u32>,
}

impl Expected {
    fn bare(reason: Reason) -> Self {
        Expected {
            reason,
            variant: None,
            rule: None,
            segment: None,
            assignment_id: None,
            bucket: None,
        }
    }
}

/// The unit read at a targeting key selector (§2.2a).
enum Unit {
    Missing,
    Key(String),
    Invalid,
}

/// A context attribute (§2.1): the literal top-level key, else a dot path.
/// JSON null counts as missing (§2.3).
fn lookup<'a>(ctx: &'a Json, name: &str) -> Option<&'a Json> {
    let object = ctx.as_object()?;
    let found = match object.get(name) {
        Some(value) => Some(value),
        None => {
            let mut at = ctx;
            for part in name.split('.') {
                at = at.as_object()?.get(part)?;
            }
            Some(at)
        }
    };
    found.filter(|v| !v.is_null())
}

/// §2.2a: a string of at most 100 characters, or an integer in base 10.
fn unit_of(value: Option<&Json>) -> Unit {
    match value {
        None => Unit::Missing,
        Some(Json::String(s)) if s.chars().count() <= 100 => Unit::Key(s.clone()),
        Some(Json::Number(n)) if n.is_i64() || n.is_u64() => Unit::Key(n.to_string()),
        Some(_) => Unit::Invalid,
    }
}

/// Case folding for case-insensitive rules, one character at a time.
fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn fold_if(s: &str, case_insensitive: bool) -> String {
    if case_insensitive { fold(s) } else { s.to_owned() }
}

/// An unanchored regex search for the generator's pattern subset: alternatives
/// separated by `|`, each an optional `^`, literal characters or `.` (any
/// character but a newline), and an optional `$`.
fn regex_search(pattern: &str, case_insensitive: bool, text: &str) -> bool {
    let text: Vec<char> = fold_if(text, case_insensitive).chars().collect();
    pattern.split('|').any(|alternative| {
        let (at_start, rest) = match alternative.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, alternative),
        };
        let (at_end, body) = match rest.strip_suffix('$') {
            Some(body) => (true, body),
            None => (false, rest),
        };
        let atoms: Vec<char> = fold_if(body, case_insensitive).chars().collect();
        let last_start = if at_start { 0 } else { text.len() };
        (0..=last_start).any(|start| {
            let end = start + atoms.len();
            end <= text.len()
                && (!at_end || end == text.len())
                && atoms.iter().zip(&text[start..end]).all(|(a, c)| match a {
                    '.' => *c != '\n',
                    a => a == c,
                })
        })
    })
}

fn timestamp(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

fn version(s: &str) -> Option<Version> {
    Version::parse(s).ok()
}

/// Whether a rule value equals a context value (§2.3: the rule value's type
/// decides how the context value is read; numbers compare numerically).
fn value_equals(rule: &Value, ctx: &Json, case_insensitive: bool) -> bool {
    match (rule, ctx) {
        (Value::BoolValue(b), Json::Bool(x)) => b == x,
        (Value::NumberValue(n), Json::Number(x)) => x.as_f64() == Some(*n),
        (Value::StringValue(s), Json::String(x)) => {
            fold_if(s, case_insensitive) == fold_if(x, case_insensitive)
        }
        (Value::TimestampValue(t), Json::String(x)) => {
            matches!((timestamp(t), timestamp(x)), (Some(t), Some(x)) if t == x)
        }
        (Value::VersionValue(v), Json::String(x)) => {
            matches!((version(&v.version), version(x)), (Some(v), Some(x)) if v == x)
        }
        _ => false,
    }
}

/// The order of a context value against a range bound of the same kind.
fn compare(bound: &Value, ctx: &Json) -> Option<Ordering> {
    match (bound, ctx) {
        (Value::NumberValue(b), Json::Number(x)) => x.as_f64()?.partial_cmp(b),
        (Value::TimestampValue(b), Json::String(x)) => Some(timestamp(x)?.cmp(&timestamp(b)?)),
        (Value::VersionValue(b), Json::String(x)) => Some(version(x)?.cmp(&version(&b.version)?)),
        _ => None,
    }
}

fn in_range(range: &RangeRule, ctx: &Json) -> bool {
    let above = range.start.as_ref().is_none_or(|b| match compare(&b.value, ctx) {
        Some(Ordering::Greater) => true,
        Some(Ordering::Equal) => b.inclusive,
        _ => false,
    });
    let below = range.end.as_ref().is_none_or(|b| match compare(&b.value, ctx) {
        Some(Ordering::Less) => true,
        Some(Ordering::Equal) => b.inclusive,
        _ => false,
    });
    above && below
}

/// An attribute rule applied to a context value (`None`: missing or null).
fn attribute_rule(rule: &AttributeRule, value: Option<&Json>) -> bool {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        // Missing: every rule is false except allRule (vacuously true).
        return matches!(rule, AttributeRule::All(_));
    };
    let string = |f: &dyn Fn(&str) -> bool| value.as_str().is_some_and(f);
    match rule {
        AttributeRule::Any(inner) => value
            .as_array()
            .is_some_and(|items| items.iter().any(|item| attribute_rule(&inner.rule, Some(item)))),
        AttributeRule::All(inner) => value
            .as_array()
            .is_some_and(|items| items.iter().all(|item| attribute_rule(&inner.rule, Some(item)))),
        // Any other rule on a list is false.
        _ if value.is_array() => false,
        AttributeRule::Eq(r) => value_equals(&r.value, value, r.case_insensitive == Some(true)),
        AttributeRule::Set(r) => {
            r.values.iter().any(|v| value_equals(v, value, r.case_insensitive == Some(true)))
        }
        AttributeRule::Range(r) => in_range(r, value),
        AttributeRule::StartsWith(r) => {
            let ci = r.case_insensitive == Some(true);
            string(&|x| fold_if(x, ci).starts_with(&fold_if(&r.value, ci)))
        }
        AttributeRule::EndsWith(r) => {
            let ci = r.case_insensitive == Some(true);
            string(&|x| fold_if(x, ci).ends_with(&fold_if(&r.value, ci)))
        }
        AttributeRule::Contains(r) => {
            let ci = r.case_insensitive == Some(true);
            string(&|x| fold_if(x, ci).contains(&fold_if(&r.value, ci)))
        }
        AttributeRule::Regex(r) => {
            string(&|x| regex_search(&r.pattern, r.case_insensitive == Some(true), x))
        }
    }
}

/// CloudBees equality: same JSON type, numbers numerically.
fn same_type_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Bool(a), Json::Bool(b)) => a == b,
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (Json::String(a), Json::String(b)) => a == b,
        _ => false,
    }
}

/// A property condition (also `version` criteria) on a context value.
fn property(op: PropertyOperator, operand: &Json, value: Option<&Json>) -> bool {
    use PropertyOperator as P;
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return op == P::IsUndefined;
    };
    let numbers = || value.as_number()?.as_f64()?.partial_cmp(&operand.as_f64()?);
    let versions = || Some(version(value.as_str()?)?.cmp(&version(operand.as_str()?)?));
    match op {
        P::IsUndefined => false,
        P::IsTrue => *value == Json::Bool(true),
        P::IsFalse => *value == Json::Bool(false),
        P::Eq => same_type_equal(operand, value),
        P::Ne => !same_type_equal(operand, value),
        P::Gt => numbers() == Some(Ordering::Greater),
        P::Gte => matches!(numbers(), Some(Ordering::Greater | Ordering::Equal)),
        P::Lt => numbers() == Some(Ordering::Less),
        P::Lte => matches!(numbers(), Some(Ordering::Less | Ordering::Equal)),
        P::Regex => match (operand.as_str(), value.as_str()) {
            (Some(pattern), Some(text)) => regex_search(pattern, false, text),
            _ => false,
        },
        P::InArray => {
            operand.as_array().is_some_and(|items| items.iter().any(|i| same_type_equal(i, value)))
        }
        P::SemverEq => versions() == Some(Ordering::Equal),
        P::SemverNe => matches!(versions(), Some(Ordering::Less | Ordering::Greater)),
        P::SemverGt => versions() == Some(Ordering::Greater),
        P::SemverGte => matches!(versions(), Some(Ordering::Greater | Ordering::Equal)),
        P::SemverLt => versions() == Some(Ordering::Less),
        P::SemverLte => matches!(versions(), Some(Ordering::Less | Ordering::Equal)),
    }
}

/// JSON equality with numbers compared numerically (dependency values).
fn json_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Whether a segment holds every unit without hashing (§2.2a "whole").
fn is_whole(segment: &Segment) -> bool {
    segment.state != SegmentState::Archived
        && segment.allocated_ranges.is_empty()
        && segment.allocation.proportion.get() >= 1.0
}

/// The assignment that covers every bucket of a rule, if one does.
fn covering_assignment(spec: &AssignmentSpec) -> Option<&Assignment> {
    spec.assignments.iter().find(|a| {
        a.bucket_ranges.iter().map(|r| u64::from(r.len())).sum::<u64>()
            == u64::from(spec.bucket_count)
    })
}

/// The reference interpreter over one config and one context.
struct Reference<'c> {
    config: &'c Config,
    ctx: &'c Json,
}

impl<'c> Reference<'c> {
    fn flag(&self, reference: &str) -> Option<&'c Flag> {
        let full = Collection::Flags.full_name(reference);
        self.config.flags.iter().find(|f| f.name == full)
    }

    fn segment(&self, reference: &str) -> Option<&'c Segment> {
        let full = Collection::Segments.full_name(reference);
        self.config.segments.iter().find(|s| s.name == full)
    }

    fn group(&self, reference: &str) -> Option<&'c TargetGroup> {
        let full = Collection::TargetGroups.full_name(reference);
        self.config.target_groups.iter().find(|g| g.name == full)
    }

    fn get(&self, name: &str) -> Option<&'c Json> {
        lookup(self.ctx, name)
    }

    /// §2.2: resolves one flag.
    fn resolve(&self, flag_name: &str) -> Expected {
        let Some(flag) = self.flag(flag_name) else {
            return Expected::bare(Reason::FlagNotFound);
        };
        if flag.state == FlagState::Archived {
            return Expected::bare(Reason::FlagArchived);
        }
        for rule in flag.rules.iter().filter(|r| r.enabled) {
            let unit = match unit_of(self.get(&rule.targeting_key_selector)) {
                Unit::Invalid => return Expected::bare(Reason::TargetingKeyError),
                Unit::Missing => None,
                Unit::Key(key) => Some(key),
            };
            let Some(segment) = self.segment(&rule.segment) else { continue };
            let spec = &rule.assignment_spec;
            let everyone = covering_assignment(spec);
            if unit.is_none() && !(everyone.is_some() && is_whole(segment)) {
                continue;
            }
            if !self.segment_holds(segment, unit.as_deref()) {
                continue;
            }
            let (bucket, assignment) = match (everyone, &unit) {
                (Some(a), _) => (None, Some(a)),
                (None, Some(unit)) => {
                    let id = segment.name.strip_prefix("segments/").unwrap_or(&segment.name);
                    let n = NonZeroU32::new(spec.bucket_count).unwrap();
                    let b = bucket_of(id, unit, n);
                    let a = spec
                        .assignments
                        .iter()
                        .find(|a| a.bucket_ranges.iter().any(|r| r.contains(b)));
                    (Some(b), a)
                }
                (None, None) => continue,
            };
            let Some(assignment) = assignment else { continue };
            let variant = match &assignment.outcome {
                Outcome::Fallthrough => continue,
                Outcome::ClientDefault => None,
                Outcome::Variant(v) => Some(variant_full_name(&flag.name, v).into_owned()),
            };
            return Expected {
                reason: Reason::Match,
                variant,
                rule: Some(rule.name.clone()),
                segment: Some(segment.name.clone()),
                assignment_id: Some(assignment.assignment_id.clone()),
                bucket,
            };
        }
        Expected::bare(Reason::NoSegmentMatch)
    }

    /// §2.2b: the segment's targeting is true and the unit is in its allocation.
    fn segment_holds(&self, segment: &Segment, unit: Option<&str>) -> bool {
        self.targeting(&segment.targeting, unit) && self.allocated(segment, unit)
    }

    /// §2.6.
    fn allocated(&self, segment: &Segment, unit: Option<&str>) -> bool {
        if segment.state == SegmentState::Archived {
            return false;
        }
        if is_whole(segment) {
            return true;
        }
        let n = NonZeroU32::new(ALLOCATION_BUCKETS).unwrap();
        let Some(bucket) = unit.map(|u| bucket_of(&self.config.allocation_salt, u, n)) else {
            return false;
        };
        if segment.allocated_ranges.is_empty() {
            let threshold = (segment.allocation.proportion.get() * 1e6).round();
            f64::from(bucket) < threshold
        } else {
            segment.allocated_ranges.iter().any(|r| r.contains(bucket))
        }
    }

    /// §1: empty targeting is everyone; no expression ANDs every criterion.
    fn targeting(&self, targeting: &Targeting, unit: Option<&str>) -> bool {
        match &targeting.expression {
            None => targeting.criteria.values().all(|c| self.criterion(c, unit)),
            Some(e) => self.expression(e, targeting, unit),
        }
    }

    fn expression(&self, e: &Expression, targeting: &Targeting, unit: Option<&str>) -> bool {
        match e {
            Expression::Ref(id) => {
                targeting.criteria.get(id).is_some_and(|c| self.criterion(c, unit))
            }
            Expression::Not(inner) => !self.expression(inner, targeting, unit),
            Expression::And(ops) => {
                ops.operands.iter().all(|o| self.expression(o, targeting, unit))
            }
            Expression::Or(ops) => ops.operands.iter().any(|o| self.expression(o, targeting, unit)),
        }
    }

    fn criterion(&self, criterion: &Criterion, unit: Option<&str>) -> bool {
        match criterion {
            Criterion::Attribute(a) => attribute_rule(&a.rule, self.get(&a.attribute_name)),
            Criterion::Segment(s) => {
                self.segment(&s.segment).is_some_and(|other| self.segment_holds(other, unit))
            }
            Criterion::Group(g) => {
                let mut each =
                    g.names.iter().map(|n| self.group(n).is_some_and(|g| self.target_group(g)));
                match g.operator {
                    GroupOperator::Or => each.any(|m| m),
                    GroupOperator::And => each.all(|m| m),
                    GroupOperator::Not => !each.any(|m| m),
                }
            }
            Criterion::Version(v) => {
                property(v.operator, &Json::String(v.semver.clone()), self.get(&v.attribute_name))
            }
            Criterion::Property(p) => property(p.operator, &p.operand, self.get(&p.name)),
            Criterion::Dependency(d) => {
                let Some(got) = self.resolve(&d.flag).variant else { return false };
                match &d.expect {
                    DependencyExpectation::Variant(want) => {
                        let flag = Collection::Flags.full_name(&d.flag);
                        variant_full_name(&flag, want) == got
                    }
                    DependencyExpectation::Value(want) => self
                        .flag(&d.flag)
                        .and_then(|f| f.variants.iter().find(|v| v.name == got))
                        .is_some_and(|v| json_equal(&v.value, want)),
                }
            }
        }
    }

    /// A target group: the AND (or OR) of its conditions.
    fn target_group(&self, group: &TargetGroup) -> bool {
        let mut each = group
            .conditions
            .iter()
            .map(|c| property(c.operator, &c.operand, self.get(&c.property)));
        match group.operator {
            GroupOperator::Or => each.any(|m| m),
            GroupOperator::And => each.all(|m| m),
            GroupOperator::Not => !each.any(|m| m),
        }
    }
}

#[test]
fn reference_regex_subset() {
    let cases = [
        ("ab", false, "xaby", true),
        ("^ab", false, "xab", false),
        ("ab$", false, "xab", true),
        ("ab$", false, "abx", false),
        ("^$", false, "", true),
        ("^$", false, "a", false),
        ("a.c", false, "abc", true),
        ("a.c", false, "a\nc", false),
        ("x|^b", false, "bcd", true),
        ("SÉ", true, "xsé", true),
        ("SÉ", false, "xsé", false),
        ("", false, "anything", true),
    ];
    for (pattern, ci, text, expected) in cases {
        assert_eq!(regex_search(pattern, ci, text), expected, "{pattern:?} on {text:?}");
    }
}

// ============================================================================
// Generators
// ============================================================================

/// Attribute names rules read: typed attributes, a nested path, a literal key
/// with a dot, an object and one that is never present.
const ATTRIBUTES: &[&str] = &[
    "country",
    "age",
    "beta",
    "tags",
    "scores",
    "user.plan",
    "user",
    "app_version",
    "signup",
    "rox.distinct_id",
    "nothing",
];

/// Where rules read their unit.
const SELECTORS: &[&str] =
    &["targeting_key", "targeting_key", "targeting_key", "user.id", "rox.distinct_id"];

// Small vocabularies shared by rules and contexts, so that rules often hold.
const RULE_STRINGS: &[&str] = &["SE", "se", "NO", "ab", "É", "", "ẞ", "1.2"];
const RULE_NUMBERS: &[f64] = &[0.0, 1.0, 1.5, 18.0, 42.0, -3.0];
const TIMESTAMPS: &[&str] = &[
    "2026-01-01T00:00:00Z",
    "2026-01-01T02:00:00+02:00",
    "2025-06-15T12:30:00Z",
    "2027-01-01T00:00:00.5Z",
];
const VERSIONS: &[&str] = &["1.2", "2.0.0", "v2.0.0-rc.1", "1.10.0", "1.2.3+meta", "3"];
const FRAGMENTS: &[&str] = &["S", "s", "é", "ab", "SE", "", "ß", "1."];

const CTX_STRINGS: &[&str] =
    &["SE", "Se", "se", "NO", "ab", "abé", "é", "ß", "", "1.2", "1x2", "2026-01-01T00:00:00Z"];
const CTX_VERSIONS: &[&str] = &[
    "1.2",
    "1.2.0",
    "v2.0.0-rc.1",
    "2.0.0",
    "2.0.0-alpha",
    "1.10.0",
    "1.2.3+build.5",
    "V3",
    "01.2.3",
    "1.2.3.4",
    "abc",
];
const CTX_TIMESTAMPS: &[&str] = &[
    "2026-01-01T00:00:00Z",
    "2026-01-01T02:00:00+02:00",
    "2025-12-31T23:59:59Z",
    "2025-06-15T12:30:00Z",
    "2027-01-01T00:00:00.5Z",
    "2026-13-01T00:00:00Z",
    "yesterday",
];

fn strs(items: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    select(items).prop_map(str::to_owned)
}

fn ctx_number() -> impl Strategy<Value = Json> {
    select(vec![
        json!(0),
        json!(1),
        json!(1.0),
        json!(-3),
        json!(1.5),
        json!(18),
        json!(17.999),
        json!(42),
        json!(-0.0),
        json!(u64::MAX),
    ])
}

fn ctx_string() -> impl Strategy<Value = Json> {
    prop_oneof![5 => strs(CTX_STRINGS), 1 => "[abeSsé]{0,4}"].prop_map(Json::String)
}

fn ctx_scalar() -> impl Strategy<Value = Json> {
    prop_oneof![
        3 => ctx_string(),
        2 => ctx_number(),
        1 => any::<bool>().prop_map(Json::Bool),
        1 => Just(Json::Null),
        1 => strs(CTX_VERSIONS).prop_map(Json::String),
        1 => strs(CTX_TIMESTAMPS).prop_map(Json::String),
    ]
}

/// Any value at all: scalars, lists, objects.
fn ctx_any() -> BoxedStrategy<Json> {
    prop_oneof![
        4 => ctx_scalar(),
        1 => prop::collection::vec(ctx_scalar(), 0..4).prop_map(Json::Array),
        1 => ctx_scalar().prop_map(|plan| json!({"plan": plan})),
    ]
    .boxed()
}

/// Mostly a value of the attribute's own type, sometimes anything.
fn typed(s: impl Strategy<Value = Json>) -> impl Strategy<Value = Json> {
    prop_oneof![4 => s, 1 => ctx_any()]
}

/// A targeting key: usually a string or integer, sometimes a float, a bool,
/// null, a structure or a string just under or over 100 characters.
fn key() -> BoxedStrategy<Json> {
    prop_oneof![
        8 => "[a-z0-9é-]{0,10}".prop_map(Json::String),
        2 => any::<i64>().prop_map(Json::from),
        1 => any::<u64>().prop_map(Json::from),
        1 => select(vec![json!(1.5), json!(2.0), json!(true), json!(null), json!([1]), json!({"a": 1})]),
        1 => select(vec![
            "x".repeat(100),
            "x".repeat(101),
            "é".repeat(100),
            "é".repeat(101)
        ])
        .prop_map(Json::String),
    ]
    .boxed()
}

fn context() -> BoxedStrategy<Json> {
    (
        weighted(0.85, key()),
        weighted(0.8, typed(ctx_string())),
        weighted(0.7, typed(ctx_number())),
        weighted(0.6, typed(any::<bool>().prop_map(Json::Bool))),
        weighted(0.6, typed(prop::collection::vec(ctx_string(), 0..4).prop_map(Json::Array))),
        weighted(0.5, typed(prop::collection::vec(ctx_number(), 0..4).prop_map(Json::Array))),
        weighted(0.6, (weighted(0.8, typed(ctx_string())), weighted(0.6, key()))),
        weighted(0.8, typed(strs(CTX_VERSIONS).prop_map(Json::String))),
        weighted(0.7, typed(strs(CTX_TIMESTAMPS).prop_map(Json::String))),
        weighted(0.5, typed(ctx_string())),
        weighted(0.3, typed(ctx_string())),
    )
        .prop_map(
            |(
                key,
                country,
                age,
                beta,
                tags,
                scores,
                user,
                app,
                signup,
                rox_literal,
                rox_nested,
            )| {
                let mut ctx = serde_json::Map::new();
                let mut put = |name: &str, value: Option<Json>| {
                    if let Some(value) = value {
                        ctx.insert(name.to_owned(), value);
                    }
                };
                put("targeting_key", key);
                put("country", country);
                put("age", age);
                put("beta", beta);
                put("tags", tags);
                put("scores", scores);
                put("app_version", app);
                put("signup", signup);
                put("rox.distinct_id", rox_literal);
                put("rox", rox_nested.map(|v| json!({"distinct_id": v})));
                if let Some((plan, id)) = user {
                    let mut user = serde_json::Map::new();
                    user.extend(plan.map(|p| ("plan".to_owned(), p)));
                    user.extend(id.map(|i| ("id".to_owned(), i)));
                    ctx.insert("user".to_owned(), Json::Object(user));
                }
                Json::Object(ctx)
            },
        )
        .boxed()
}

fn string_value() -> impl Strategy<Value = Value> + Clone {
    strs(RULE_STRINGS).prop_map(Value::StringValue)
}

fn number_value() -> impl Strategy<Value = Value> + Clone {
    select(RULE_NUMBERS).prop_map(Value::NumberValue)
}

fn bool_value() -> impl Strategy<Value = Value> + Clone {
    any::<bool>().prop_map(Value::BoolValue)
}

fn time_value() -> impl Strategy<Value = Value> + Clone {
    strs(TIMESTAMPS).prop_map(Value::TimestampValue)
}

fn version_value() -> impl Strategy<Value = Value> + Clone {
    strs(VERSIONS).prop_map(|version| Value::VersionValue(VersionLiteral { version }))
}

/// A rule value of any type.
fn rule_value() -> impl Strategy<Value = Value> {
    prop_oneof![bool_value(), number_value(), string_value(), time_value(), version_value()]
}

/// Patterns in the subset that [`regex_search`] understands.
fn regex_pattern() -> impl Strategy<Value = String> {
    prop::collection::vec((any::<bool>(), "[abeSé1.]{0,3}", any::<bool>()), 1..3).prop_map(
        |alternatives| {
            let parts: Vec<String> = alternatives
                .into_iter()
                .map(|(start, body, end)| {
                    format!("{}{body}{}", if start { "^" } else { "" }, if end { "$" } else { "" })
                })
                .collect();
            parts.join("|")
        },
    )
}

/// Written true in 40 % of rules, else absent (the round-trip test covers a written false).
fn case_insensitive() -> impl Strategy<Value = Option<bool>> {
    prop::bool::weighted(0.4).prop_map(|ci| ci.then_some(true))
}

fn eq_rule(value: impl Strategy<Value = Value>) -> impl Strategy<Value = AttributeRule> {
    (value, case_insensitive())
        .prop_map(|(value, case_insensitive)| AttributeRule::Eq(EqRule { value, case_insensitive }))
}

/// A set of values mostly of one type, sometimes mixed.
fn set_rule(value: impl Strategy<Value = Value>) -> impl Strategy<Value = AttributeRule> {
    let member = prop_oneof![4 => value, 1 => rule_value()];
    (prop::collection::vec(member, 0..4), case_insensitive()).prop_map(
        |(values, case_insensitive)| AttributeRule::Set(SetRule { values, case_insensitive }),
    )
}

fn range_rule(bound: impl Strategy<Value = Value> + Clone) -> impl Strategy<Value = AttributeRule> {
    // 0: both bounds, 1: only a start, 2: only an end.
    (bound.clone(), bound, 0u8..3, any::<bool>(), any::<bool>()).prop_map(
        |(start, end, sides, start_incl, end_incl)| {
            AttributeRule::Range(RangeRule {
                start: (sides != 2).then_some(Bound { value: start, inclusive: start_incl }),
                end: (sides != 1).then_some(Bound { value: end, inclusive: end_incl }),
            })
        },
    )
}

fn string_rule() -> BoxedStrategy<AttributeRule> {
    let fragment = || (strs(FRAGMENTS), case_insensitive());
    prop_oneof![
        2 => eq_rule(string_value()),
        2 => set_rule(string_value()),
        1 => fragment().prop_map(|(value, case_insensitive)| {
            AttributeRule::StartsWith(StringRule { value, case_insensitive })
        }),
        1 => fragment().prop_map(|(value, case_insensitive)| {
            AttributeRule::EndsWith(StringRule { value, case_insensitive })
        }),
        1 => fragment().prop_map(|(value, case_insensitive)| {
            AttributeRule::Contains(StringRule { value, case_insensitive })
        }),
        2 => (regex_pattern(), case_insensitive())
            .prop_map(|(pattern, case_insensitive)| AttributeRule::Regex(RegexRule { pattern, case_insensitive })),
    ]
    .boxed()
}

fn number_rule() -> BoxedStrategy<AttributeRule> {
    prop_oneof![2 => eq_rule(number_value()), 1 => set_rule(number_value()), 2 => range_rule(number_value())]
        .boxed()
}

fn bool_rule() -> BoxedStrategy<AttributeRule> {
    prop_oneof![2 => eq_rule(bool_value()), 1 => set_rule(bool_value())].boxed()
}

fn time_rule() -> BoxedStrategy<AttributeRule> {
    prop_oneof![eq_rule(time_value()), set_rule(time_value()), range_rule(time_value())].boxed()
}

fn version_rule() -> BoxedStrategy<AttributeRule> {
    prop_oneof![eq_rule(version_value()), set_rule(version_value()), range_rule(version_value())]
        .boxed()
}

/// `anyRule` / `allRule` around an element rule, once in a while nested.
fn list_rule(element: BoxedStrategy<AttributeRule>) -> impl Strategy<Value = AttributeRule> {
    let any = |rule| AttributeRule::Any(Box::new(InnerRule { rule }));
    let all = |rule| AttributeRule::All(Box::new(InnerRule { rule }));
    prop_oneof![
        3 => element.clone().prop_map(any),
        3 => element.clone().prop_map(all),
        1 => element.prop_map(move |rule| any(all(rule))),
    ]
}

/// Usually the attribute that holds values of the rule's type, sometimes any.
fn attribute_name(natural: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![5 => strs(natural), 1 => strs(ATTRIBUTES)]
}

const STRING_ATTRIBUTES: &[&str] = &["country", "user.plan", "rox.distinct_id"];

fn attribute_criterion() -> BoxedStrategy<AttributeCriterion> {
    prop_oneof![
        4 => (attribute_name(STRING_ATTRIBUTES), string_rule()),
        3 => (attribute_name(&["age"]), number_rule()),
        1 => (attribute_name(&["beta"]), bool_rule()),
        2 => (attribute_name(&["signup"]), time_rule()),
        2 => (attribute_name(&["app_version"]), version_rule()),
        2 => (attribute_name(&["tags"]), list_rule(string_rule())),
        2 => (attribute_name(&["scores"]), list_rule(number_rule())),
    ]
    .prop_map(|(attribute_name, rule)| AttributeCriterion { attribute_name, rule })
    .boxed()
}

fn semver_operator() -> impl Strategy<Value = PropertyOperator> {
    use PropertyOperator as P;
    select(vec![P::SemverEq, P::SemverNe, P::SemverGt, P::SemverGte, P::SemverLt, P::SemverLte])
}

/// A property condition: an attribute, an operator and an operand of the type it takes.
fn property_condition() -> BoxedStrategy<PropertyCondition> {
    use PropertyOperator as P;
    let bool_json = || any::<bool>().prop_map(Json::Bool);
    let array = |item: BoxedStrategy<Json>| prop::collection::vec(item, 0..4).prop_map(Json::Array);
    prop_oneof![
        1 => (strs(ATTRIBUTES), Just(P::IsUndefined), Just(Json::Null)),
        2 => (attribute_name(&["beta"]), select(vec![P::IsTrue, P::IsFalse]), Just(Json::Null)),
        2 => (attribute_name(STRING_ATTRIBUTES), select(vec![P::Eq, P::Ne]), ctx_string()),
        1 => (attribute_name(&["age"]), select(vec![P::Eq, P::Ne]), ctx_number()),
        1 => (attribute_name(&["beta"]), select(vec![P::Eq, P::Ne]), bool_json()),
        3 => (attribute_name(&["age"]), select(vec![P::Gt, P::Gte, P::Lt, P::Lte]), ctx_number()),
        2 => (attribute_name(STRING_ATTRIBUTES), Just(P::Regex), regex_pattern().prop_map(Json::String)),
        1 => (attribute_name(STRING_ATTRIBUTES), Just(P::InArray), array(ctx_string().boxed())),
        1 => (attribute_name(&["age"]), Just(P::InArray), array(ctx_number().boxed())),
        4 => (attribute_name(&["app_version"]), semver_operator(), strs(VERSIONS).prop_map(Json::String)),
    ]
    .prop_map(|(name, operator, operand)| PropertyCondition { name, operator, operand }).boxed()
}

/// A criterion; references to other resources are indices resolved by [`build`].
#[derive(Clone, Debug)]
enum CriterionSpec {
    Concrete(Criterion),
    Segment { segment: Index, bare: bool },
    Group { operator: GroupOperator, groups: Vec<Index>, bare: bool },
    Dependency { flag: Index, bare: bool, expect: DependencySpec },
}

#[derive(Clone, Debug)]
enum DependencySpec {
    Variant { variant: Index, bare: bool },
    ValueOf(Index),
    Value(Json),
}

fn criterion_spec() -> BoxedStrategy<CriterionSpec> {
    let attribute =
        attribute_criterion().prop_map(|a| CriterionSpec::Concrete(Criterion::Attribute(a)));
    let version = (attribute_name(&["app_version"]), semver_operator(), strs(VERSIONS)).prop_map(
        |(attribute_name, operator, semver)| {
            CriterionSpec::Concrete(Criterion::Version(VersionCriterion {
                attribute_name,
                operator,
                semver,
            }))
        },
    );
    let property =
        property_condition().prop_map(|p| CriterionSpec::Concrete(Criterion::Property(p)));
    let segment = (any::<Index>(), any::<bool>())
        .prop_map(|(segment, bare)| CriterionSpec::Segment { segment, bare });
    let group = (
        select(vec![GroupOperator::Or, GroupOperator::And, GroupOperator::Not]),
        prop::collection::vec(any::<Index>(), 1..3),
        any::<bool>(),
    )
        .prop_map(|(operator, groups, bare)| CriterionSpec::Group { operator, groups, bare });
    let expect = prop_oneof![
        2 => (any::<Index>(), any::<bool>())
            .prop_map(|(variant, bare)| DependencySpec::Variant { variant, bare }),
        1 => any::<Index>().prop_map(DependencySpec::ValueOf),
        1 => select(vec![json!(true), json!(1), json!({"enabled": true})]).prop_map(DependencySpec::Value),
    ];
    let dependency = (any::<Index>(), any::<bool>(), expect)
        .prop_map(|(flag, bare, expect)| CriterionSpec::Dependency { flag, bare, expect });
    prop_oneof![
        6 => attribute,
        1 => version,
        4 => property,
        1 => segment,
        1 => group,
        2 => dependency,
    ]
    .boxed()
}

#[derive(Clone, Debug)]
enum ExprSpec {
    Ref(Index),
    Not(Box<ExprSpec>),
    And(Vec<ExprSpec>),
    Or(Vec<ExprSpec>),
}

fn expr_spec() -> BoxedStrategy<ExprSpec> {
    any::<Index>()
        .prop_map(ExprSpec::Ref)
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| ExprSpec::Not(Box::new(e))),
                prop::collection::vec(inner.clone(), 0..3).prop_map(ExprSpec::And),
                prop::collection::vec(inner, 0..3).prop_map(ExprSpec::Or),
            ]
        })
        .boxed()
}

#[derive(Clone, Debug)]
struct SegmentSpec {
    criteria: Vec<CriterionSpec>,
    expression: Option<ExprSpec>,
    proportion: f64,
    exclusivity_tags: Vec<String>,
    allocated: Vec<(u32, u32)>,
    state: SegmentState,
}

fn segment_spec() -> BoxedStrategy<SegmentSpec> {
    (
        prop::collection::vec(criterion_spec(), 0..4),
        weighted(0.5, expr_spec()),
        prop_oneof![4 => Just(1.0), 3 => select(vec![0.0, 0.25, 0.5, 0.75])],
        prop_oneof![5 => Just(Vec::new()), 1 => Just(vec!["exp".to_owned()])],
        prop_oneof![
            5 => Just(Vec::new()),
            1 => prop::collection::vec((0u32..1_000_000, 1u32..600_000), 1..3),
        ],
        prop_oneof![
            6 => Just(SegmentState::Ok),
            1 => Just(SegmentState::Allocated),
            1 => Just(SegmentState::Unallocated),
            1 => Just(SegmentState::Archived),
        ],
    )
        .prop_map(|(criteria, expression, proportion, exclusivity_tags, allocated, state)| {
            SegmentSpec { criteria, expression, proportion, exclusivity_tags, allocated, state }
        })
        .boxed()
}

#[derive(Clone, Debug)]
enum OutcomeSpec {
    Variant { variant: Index, bare: bool },
    Fallthrough,
    ClientDefault,
}

#[derive(Clone, Debug)]
struct RuleSpec {
    segment: Index,
    bare_segment: bool,
    enabled: bool,
    selector: String,
    bucket_count: u32,
    /// Cut points splitting the buckets into pieces.
    cuts: Vec<Index>,
    /// Which assignment each piece goes to; `None` leaves a gap.
    pieces: Vec<Option<Index>>,
    outcomes: Vec<OutcomeSpec>,
}

fn rule_spec() -> BoxedStrategy<RuleSpec> {
    let outcome = prop_oneof![
        4 => (any::<Index>(), any::<bool>())
            .prop_map(|(variant, bare)| OutcomeSpec::Variant { variant, bare }),
        1 => Just(OutcomeSpec::Fallthrough),
        1 => Just(OutcomeSpec::ClientDefault),
    ];
    (
        any::<Index>(),
        any::<bool>(),
        prop::bool::weighted(0.9),
        strs(SELECTORS),
        select(vec![1u32, 2, 10, 100, 10_000, 1_000_000]),
        prop::collection::vec(any::<Index>(), 0..4),
        prop::collection::vec(weighted(0.8, any::<Index>()), 1..5),
        prop::collection::vec(outcome, 1..4),
    )
        .prop_map(
            |(segment, bare_segment, enabled, selector, bucket_count, cuts, pieces, outcomes)| {
                RuleSpec {
                    segment,
                    bare_segment,
                    enabled,
                    selector,
                    bucket_count,
                    cuts,
                    pieces,
                    outcomes,
                }
            },
        )
        .boxed()
}

#[derive(Clone, Debug)]
struct FlagSpec {
    variants: Vec<Json>,
    rules: Vec<RuleSpec>,
    archived: bool,
}

fn flag_spec() -> BoxedStrategy<FlagSpec> {
    let value = select(vec![
        json!({"enabled": true}),
        json!({"enabled": false}),
        json!(true),
        json!(1),
        json!(1.0),
        json!("blue"),
    ]);
    (
        prop::collection::vec(value, 1..4),
        prop::collection::vec(rule_spec(), 0..4),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(variants, rules, archived)| FlagSpec { variants, rules, archived })
        .boxed()
}

#[derive(Clone, Debug)]
enum NodeSpec {
    Segment(SegmentSpec),
    Flag(FlagSpec),
}

#[derive(Clone, Debug)]
struct ConfigSpec {
    salt: String,
    groups: Vec<(GroupOperator, Vec<PropertyCondition>)>,
    /// Segments and flags in an order where each refers only to earlier ones,
    /// so that the reference graph is acyclic.
    nodes: Vec<NodeSpec>,
}

fn config_spec() -> BoxedStrategy<ConfigSpec> {
    let group = (
        select(vec![GroupOperator::And, GroupOperator::Or]),
        prop::collection::vec(property_condition(), 0..3),
    );
    let node = prop_oneof![
        3 => segment_spec().prop_map(NodeSpec::Segment),
        2 => flag_spec().prop_map(NodeSpec::Flag),
    ];
    (
        select(vec!["flagstone".to_owned(), "MegaSalt".to_owned()]),
        prop::collection::vec(group, 1..3),
        prop::collection::vec(node, 2..9),
    )
        .prop_map(|(salt, groups, nodes)| ConfigSpec { salt, groups, nodes })
        .boxed()
}

fn reference_to(collection: Collection, full: &str, bare: bool) -> String {
    match collection.id_of(full) {
        Some(id) if bare => id.to_owned(),
        _ => full.to_owned(),
    }
}

fn build_criterion(
    spec: &CriterionSpec,
    segments: &[Segment],
    flags: &[Flag],
    n_groups: usize,
) -> Criterion {
    match spec {
        CriterionSpec::Concrete(c) => c.clone(),
        CriterionSpec::Segment { segment, bare } => {
            let name = &segments[segment.index(segments.len())].name;
            Criterion::Segment(flagstone_model::targeting::SegmentCriterion {
                segment: reference_to(Collection::Segments, name, *bare),
            })
        }
        CriterionSpec::Group { operator, groups, bare } => Criterion::Group(GroupCriterion {
            operator: *operator,
            names: groups
                .iter()
                .map(|g| {
                    let full = format!("targetGroups/g{}", g.index(n_groups));
                    reference_to(Collection::TargetGroups, &full, *bare)
                })
                .collect(),
        }),
        CriterionSpec::Dependency { flag, bare, expect } => {
            if flags.is_empty() {
                // No earlier flag to depend on: a criterion that is always true.
                return Criterion::Property(PropertyCondition {
                    name: "nothing".to_owned(),
                    operator: PropertyOperator::IsUndefined,
                    operand: Json::Null,
                });
            }
            let flag = &flags[flag.index(flags.len())];
            let expect = match expect {
                DependencySpec::Variant { variant, bare } => {
                    let full = &flag.variants[variant.index(flag.variants.len())].name;
                    let id = full.rsplit('/').next().unwrap_or(full);
                    DependencyExpectation::Variant(if *bare { id.to_owned() } else { full.clone() })
                }
                DependencySpec::ValueOf(variant) => DependencyExpectation::Value(
                    flag.variants[variant.index(flag.variants.len())].value.clone(),
                ),
                DependencySpec::Value(v) => DependencyExpectation::Value(v.clone()),
            };
            Criterion::Dependency(DependencyCriterion {
                flag: reference_to(Collection::Flags, &flag.name, *bare),
                expect,
            })
        }
    }
}

fn build_expression(spec: &ExprSpec, n_criteria: usize) -> Expression {
    let all = |specs: &[ExprSpec]| Operands {
        operands: specs.iter().map(|s| build_expression(s, n_criteria)).collect(),
    };
    match spec {
        ExprSpec::Ref(_) if n_criteria == 0 => Expression::And(Operands::default()),
        ExprSpec::Ref(i) => Expression::Ref(format!("c{}", i.index(n_criteria))),
        ExprSpec::Not(inner) => Expression::Not(Box::new(build_expression(inner, n_criteria))),
        ExprSpec::And(specs) => Expression::And(all(specs)),
        ExprSpec::Or(specs) => Expression::Or(all(specs)),
    }
}

fn build_segment(
    spec: &SegmentSpec,
    name: String,
    segments: &[Segment],
    flags: &[Flag],
    n_groups: usize,
) -> Segment {
    let criteria: BTreeMap<String, Criterion> = spec
        .criteria
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("c{i}"), build_criterion(c, segments, flags, n_groups)))
        .collect();
    let expression = spec.expression.as_ref().map(|e| build_expression(e, criteria.len()));
    // Sorted, disjoint, inside [0, 1,000,000).
    let mut ranges: Vec<(u32, u32)> = spec.allocated.clone();
    ranges.sort_unstable();
    let mut allocated_ranges: Vec<BucketRange> = Vec::new();
    for (lower, len) in ranges {
        let upper = lower.saturating_add(len).min(ALLOCATION_BUCKETS);
        if allocated_ranges.last().is_none_or(|r| lower >= r.upper) && lower < upper {
            allocated_ranges.push(BucketRange { lower, upper });
        }
    }
    Segment {
        name,
        description: String::new(),
        targeting: Targeting { criteria, expression },
        allocation: Allocation {
            proportion: Fraction::new(spec.proportion).unwrap(),
            exclusivity_tags: spec.exclusivity_tags.clone(),
            exclusive_to: Vec::new(),
        },
        allocated_ranges,
        state: spec.state,
    }
}

fn build_rule(
    spec: &RuleSpec,
    flag: &str,
    j: usize,
    segments: &[Segment],
    variants: &[Variant],
) -> Rule {
    let n = spec.bucket_count;
    let mut bounds: Vec<u32> = if n > 1 {
        spec.cuts.iter().map(|c| 1 + c.index(n as usize - 1) as u32).collect()
    } else {
        Vec::new()
    };
    bounds.push(0);
    bounds.push(n);
    bounds.sort_unstable();
    bounds.dedup();
    let mut assignments: Vec<Assignment> = spec
        .outcomes
        .iter()
        .enumerate()
        .map(|(k, o)| Assignment {
            assignment_id: format!("a{k}"),
            outcome: match o {
                OutcomeSpec::Variant { variant, bare } => {
                    let full = &variants[variant.index(variants.len())].name;
                    let id = full.rsplit('/').next().unwrap_or(full);
                    Outcome::Variant(if *bare { id.to_owned() } else { full.clone() })
                }
                OutcomeSpec::Fallthrough => Outcome::Fallthrough,
                OutcomeSpec::ClientDefault => Outcome::ClientDefault,
            },
            bucket_ranges: Vec::new(),
        })
        .collect();
    for (p, piece) in bounds.windows(2).enumerate() {
        if let Some(target) = spec.pieces[p % spec.pieces.len()] {
            let k = target.index(assignments.len());
            assignments[k].bucket_ranges.push(BucketRange { lower: piece[0], upper: piece[1] });
        }
    }
    let segment = &segments[spec.segment.index(segments.len())].name;
    Rule {
        name: format!("{flag}/rules/r{j}"),
        segment: reference_to(Collection::Segments, segment, spec.bare_segment),
        enabled: spec.enabled,
        targeting_key_selector: spec.selector.clone(),
        assignment_spec: AssignmentSpec::new(n, assignments),
        materialization_spec: None,
        environments: Vec::new(),
    }
}

fn build(spec: &ConfigSpec) -> Config {
    let target_groups: Vec<TargetGroup> = spec
        .groups
        .iter()
        .enumerate()
        .map(|(i, (operator, conditions))| TargetGroup {
            name: format!("targetGroups/g{i}"),
            description: String::new(),
            operator: *operator,
            conditions: conditions
                .iter()
                .map(|c| GroupCondition {
                    property: c.name.clone(),
                    operator: c.operator,
                    operand: c.operand.clone(),
                })
                .collect(),
        })
        .collect();
    let everyone = Segment {
        name: "segments/everyone".to_owned(),
        description: String::new(),
        targeting: Targeting::default(),
        allocation: Allocation::default(),
        allocated_ranges: Vec::new(),
        state: SegmentState::Ok,
    };
    let mut segments = vec![everyone];
    let mut flags: Vec<Flag> = Vec::new();
    for node in &spec.nodes {
        match node {
            NodeSpec::Segment(s) => {
                let name = format!("segments/s{}", segments.len());
                let segment = build_segment(s, name, &segments, &flags, target_groups.len());
                segments.push(segment);
            }
            NodeSpec::Flag(f) => {
                let name = format!("flags/f{}", flags.len());
                let variants: Vec<Variant> = f
                    .variants
                    .iter()
                    .enumerate()
                    .map(|(k, value)| Variant {
                        name: format!("{name}/variants/v{k}"),
                        value: value.clone(),
                        description: String::new(),
                    })
                    .collect();
                let rules = f
                    .rules
                    .iter()
                    .enumerate()
                    .map(|(j, r)| build_rule(r, &name, j, &segments, &variants))
                    .collect();
                flags.push(Flag {
                    name,
                    description: String::new(),
                    state: if f.archived { FlagState::Archived } else { FlagState::Active },
                    variants,
                    rules,
                    labels: BTreeMap::new(),
                });
            }
        }
    }
    Config {
        allocation_salt: spec.salt.clone(),
        flags,
        segments,
        target_groups,
        ..Config::default()
    }
}

/// A config and a few contexts to evaluate every flag for.
fn case() -> BoxedStrategy<(Config, Vec<Json>)> {
    let context = prop_oneof![30 => context(), 1 => Just(json!("not an object"))];
    (config_spec().prop_map(|s| build(&s)), prop::collection::vec(context, 1..12)).boxed()
}

// ============================================================================
// Properties
// ============================================================================

/// The evaluation time; nothing generated here reads it.
fn now() -> jiff::Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn compile(config: &Config) -> Result<Engine, TestCaseError> {
    prop_assume!(validate(config).is_ok(), "generated config does not validate");
    Engine::compile(config).map_err(|e| {
        TestCaseError::fail(format!(
            "a valid config does not compile: {e:?}\nconfig: {}",
            serde_json::to_string(config).unwrap()
        ))
    })
}

/// Property (c): for every flag and context the engine gives what the reference gives.
fn check_against_reference(config: &Config, contexts: &[Json]) -> Result<(), TestCaseError> {
    let engine = compile(config)?;
    for ctx_json in contexts {
        let ctx = EvaluationContext::from_json(ctx_json).at(now());
        let reference = Reference { config, ctx: ctx_json };
        for flag in &config.flags {
            let id = engine.flag_id(&flag.name).unwrap();
            let r = engine.evaluate(id, &ctx);
            let actual = Expected {
                reason: r.reason,
                variant: r.variant.map(str::to_owned),
                rule: r.rule.map(str::to_owned),
                segment: r.segment.map(str::to_owned),
                assignment_id: r.assignment_id.map(str::to_owned),
                bucket: r.bucket,
            };
            let expected = reference.resolve(&flag.name);
            prop_assert_eq!(
                &actual,
                &expected,
                "flag {} (left: engine, right: reference)\ncontext: {}\nconfig: {}",
                flag.name,
                ctx_json,
                serde_json::to_string(config).unwrap()
            );
        }
        let missing = engine.evaluate_name("flags/not-in-config", &ctx);
        prop_assert_eq!(missing.reason, reference.resolve("flags/not-in-config").reason);
    }
    Ok(())
}

/// Property (b): explain walks the same path as evaluate.
fn check_explain(config: &Config, contexts: &[Json]) -> Result<(), TestCaseError> {
    let engine = compile(config)?;
    for ctx_json in contexts {
        let ctx = EvaluationContext::from_json(ctx_json).at(now());
        for flag in &config.flags {
            let id = engine.flag_id(&flag.name).unwrap();
            let r = engine.evaluate(id, &ctx);
            let e = engine.explain(id, &ctx);
            let at = || format!("flag {}, context {ctx_json}", flag.name);
            prop_assert_eq!(e.reason, r.reason, "{}", at());
            prop_assert_eq!(e.variant.as_deref(), r.variant, "{}", at());
            let (last, earlier) = match e.rules.split_last() {
                Some((last, earlier)) => (Some(last), earlier),
                None => (None, &[][..]),
            };
            // Every rule before the last was passed over, with a reason.
            for trace in earlier {
                prop_assert!(trace.skipped.is_some(), "{}: {trace:?}", at());
            }
            match r.reason {
                Reason::Match => {
                    let last = last.ok_or_else(|| TestCaseError::fail(at()))?;
                    prop_assert_eq!(last.skipped, None, "{}: decided but skipped", at());
                    prop_assert_eq!(Some(last.rule.as_str()), r.rule, "{}", at());
                    prop_assert_eq!(Some(last.segment.as_str()), r.segment, "{}", at());
                    let assignment = last.assignment.as_ref();
                    prop_assert_eq!(
                        assignment.and_then(|a| a.assignment_id.as_deref()),
                        r.assignment_id,
                        "{}",
                        at()
                    );
                    prop_assert_eq!(assignment.and_then(|a| a.bucket), r.bucket, "{}", at());
                }
                Reason::NoSegmentMatch => {
                    prop_assert_eq!(e.rules.len(), flag.rules.len(), "{}", at());
                    if let Some(last) = last {
                        prop_assert!(last.skipped.is_some(), "{}: {last:?}", at());
                    }
                }
                Reason::TargetingKeyError => {
                    let last = last.ok_or_else(|| TestCaseError::fail(at()))?;
                    prop_assert!(last.skipped.is_some(), "{}: {last:?}", at());
                }
                Reason::FlagArchived => prop_assert!(e.rules.is_empty(), "{}", at()),
                other => prop_assert!(false, "{}: unexpected reason {other:?}", at()),
            }
        }
    }
    Ok(())
}

/// Found by the property: spec §2.3 says `eq`/`set` on numbers compare
/// numerically, so `-0.0` is in a set holding `0` (as it equals an `eqRule` of 0).
#[test]
fn negative_zero_is_in_a_set_of_zero() {
    let config = flagstone_model::parse_config(
        r#"{
          "flags": [{"name": "flags/f", "variants": [{"name": "flags/f/variants/on", "value": true}],
            "rules": [{"name": "flags/f/rules/r", "segment": "segments/zero",
              "assignmentSpec": {"bucketCount": 1, "assignments": [{"assignmentId": "a",
                "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]}],
          "segments": [{"name": "segments/zero", "targeting": {"criteria": {"c": {"attribute": {
            "attributeName": "age", "setRule": {"values": [{"numberValue": 0}]}}}}}}]
        }"#,
    )
    .unwrap();
    let contexts = [json!({"age": -0.0}), json!({"age": 0}), json!({"age": 0.0})];
    for ctx in &contexts {
        assert_eq!(Reference { config: &config, ctx }.resolve("flags/f").reason, Reason::Match);
    }
    check_against_reference(&config, &contexts).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn engine_agrees_with_reference((config, contexts) in case()) {
        check_against_reference(&config, &contexts)?;
    }

    #[test]
    fn explain_agrees_with_evaluate((config, contexts) in case()) {
        check_explain(&config, &contexts)?;
    }
}

/// A label for the kind of a criterion, for the coverage test.
fn criterion_kind(c: &Criterion) -> String {
    fn rule_kind(rule: &AttributeRule) -> String {
        match rule {
            AttributeRule::Eq(r) => format!("eqRule {}", r.value.type_name()),
            AttributeRule::Set(_) => "setRule".into(),
            AttributeRule::Range(r) => {
                let bound = r.start.as_ref().or(r.end.as_ref());
                format!("rangeRule {}", bound.map_or("", |b| b.value.type_name()))
            }
            AttributeRule::StartsWith(_) => "startsWithRule".into(),
            AttributeRule::EndsWith(_) => "endsWithRule".into(),
            AttributeRule::Contains(_) => "containsRule".into(),
            AttributeRule::Regex(_) => "regexRule".into(),
            AttributeRule::Any(inner) => format!("anyRule {}", rule_kind(&inner.rule)),
            AttributeRule::All(inner) => format!("allRule {}", rule_kind(&inner.rule)),
        }
    }
    match c {
        Criterion::Attribute(a) => match &a.rule {
            // Nested rules are counted by their outer kind.
            AttributeRule::Any(_) => "anyRule".into(),
            AttributeRule::All(_) => "allRule".into(),
            rule => rule_kind(rule),
        },
        Criterion::Segment(_) => "segment".into(),
        Criterion::Group(g) => format!("group {:?}", g.operator),
        Criterion::Version(_) => "version".into(),
        Criterion::Property(p) => format!("property {}", p.operator.as_str()),
        Criterion::Dependency(d) => match d.expect {
            DependencyExpectation::Variant(_) => "dependency variant".into(),
            DependencyExpectation::Value(_) => "dependency value".into(),
        },
    }
}

/// Counts how often each kind of criterion is false and true.
type CriterionCounts = BTreeMap<String, [usize; 2]>;

fn assert_both_outcomes(counts: &CriterionCounts, kinds: &[String], at_least: usize) {
    for kind in kinds {
        let [n_false, n_true] = counts.get(kind).copied().unwrap_or_default();
        assert!(
            n_false >= at_least && n_true >= at_least,
            "criterion kind {kind:?} was false {n_false} and true {n_true} times: {counts:?}"
        );
    }
}

/// The generator is useful: nearly every config validates (at least 80 %,
/// so the properties are about served configs), the reference sees every reason, splits, uniform rules and
/// client defaults, and criteria that refer to other resources come out both
/// true and false.
#[test]
fn generated_configs_validate_and_cover_every_outcome() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let (mut n_valid, mut n_cases) = (0, 0);
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut criteria = CriterionCounts::new();
    for _ in 0..200 {
        let (config, contexts) = strategy.new_tree(&mut runner).unwrap().current();
        n_cases += 1;
        if !validate(&config).is_ok() {
            continue;
        }
        n_valid += 1;
        for ctx in &contexts {
            let reference = Reference { config: &config, ctx };
            for flag in &config.flags {
                let r = reference.resolve(&flag.name);
                let kind = match (&r.reason, &r.variant, r.bucket) {
                    (Reason::Match, Some(_), Some(_)) => "match, split",
                    (Reason::Match, Some(_), None) => "match, uniform",
                    (Reason::Match, None, _) => "match, client default",
                    (Reason::NoSegmentMatch, ..) => "no segment match",
                    (Reason::FlagArchived, ..) => "archived",
                    (Reason::TargetingKeyError, ..) => "targeting key error",
                    _ => "other",
                };
                *outcomes.entry(kind).or_default() += 1;
            }
            let unit = match unit_of(lookup(ctx, "targeting_key")) {
                Unit::Key(key) => Some(key),
                _ => None,
            };
            for segment in &config.segments {
                for c in segment.targeting.criteria.values() {
                    let holds = reference.criterion(c, unit.as_deref());
                    criteria.entry(criterion_kind(c)).or_default()[usize::from(holds)] += 1;
                }
            }
        }
    }
    assert!(
        n_valid * 100 >= n_cases * 95,
        "only {n_valid} of {n_cases} generated configs validate"
    );
    for kind in [
        "match, split",
        "match, uniform",
        "match, client default",
        "no segment match",
        "archived",
        "targeting key error",
    ] {
        let n = outcomes.get(kind).copied().unwrap_or(0);
        assert!(n >= 50, "only {n} resolutions of kind {kind:?}: {outcomes:?}");
    }
    let kinds =
        ["segment", "group Or", "group And", "group Not", "dependency variant", "dependency value"]
            .map(str::to_owned);
    assert_both_outcomes(&criteria, &kinds, 5);
}

/// Every kind of attribute rule, version criterion and property condition the
/// generator writes is sometimes true and sometimes false on generated contexts.
#[test]
fn generated_criteria_are_sometimes_true_and_sometimes_false() {
    let mut runner = TestRunner::deterministic();
    let strategy = (
        prop_oneof![
            3 => attribute_criterion().prop_map(Criterion::Attribute),
            2 => property_condition().prop_map(Criterion::Property),
        ],
        prop::collection::vec(context(), 8),
    );
    let config = Config::default();
    let mut counts = CriterionCounts::new();
    for _ in 0..600 {
        let (criterion, contexts) = strategy.new_tree(&mut runner).unwrap().current();
        for ctx in &contexts {
            let holds = Reference { config: &config, ctx }.criterion(&criterion, None);
            counts.entry(criterion_kind(&criterion)).or_default()[usize::from(holds)] += 1;
        }
    }
    let mut kinds: Vec<String> = [
        "setRule",
        "startsWithRule",
        "endsWithRule",
        "containsRule",
        "regexRule",
        "anyRule",
        "allRule",
    ]
    .map(str::to_owned)
    .to_vec();
    for t in ["boolValue", "numberValue", "stringValue", "timestampValue", "versionValue"] {
        kinds.push(format!("eqRule {t}"));
    }
    for t in ["numberValue", "timestampValue", "versionValue"] {
        kinds.push(format!("rangeRule {t}"));
    }
    for op in PropertyOperator::ALL {
        kinds.push(format!("property {}", op.as_str()));
    }
    assert_both_outcomes(&counts, &kinds, 3);
}
