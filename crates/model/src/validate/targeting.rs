//! Flags, rules and targeting: bucket ranges, shares, literals and criteria.

use super::path::{At, Key, Root};
use super::{ErrorKind, Validator, WarningKind, house_style, json_type, truncate};
use crate::flag::{MAX_BUCKET_COUNT, MaterializationSpec, Outcome, Rule};
use crate::fraction::Fraction;
use crate::limits::MAX_PATTERN_LEN;
use crate::names::{Collection, rule_id};
use crate::pattern::rule_pattern;
use crate::segment::{ALLOCATION_BUCKETS, Allocation};
use crate::targeting::{
    AttributeRule, Criterion, DependencyCriterion, DependencyExpectation, Expression,
    GroupCriterion, PropertyOperator, Targeting, Value, VersionCriterion,
};
use crate::version::Version;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

impl Validator<'_> {
    pub(super) fn flag(&mut self, i: usize, flag: &crate::flag::Flag) {
        let path = Root("flags", i);
        let mut rule_ids: HashMap<&str, usize> = HashMap::new();
        for (j, rule) in flag.rules.iter().enumerate() {
            let rpath = At(&path, "rules", j);
            match rule_id(&flag.name, &rule.name) {
                Some(id) => {
                    if let Some(first) = rule_ids.insert(id, j) {
                        self.error(
                            format_args!("{rpath}.name"),
                            ErrorKind::Duplicate {
                                name: rule.name.clone(),
                                first: format!("{path}.rules[{first}]"),
                            },
                        );
                    }
                }
                None => self.error(
                    format_args!("{rpath}.name"),
                    ErrorKind::InvalidName {
                        name: rule.name.clone(),
                        expected: format!("{}/rules/{{id}}", flag.name),
                    },
                ),
            }
            if let Some(segment) = self.segment_ref(&format_args!("{rpath}.segment"), &rule.segment)
            {
                self.graph.edge(&flag.name, &segment);
            }
            self.rule(&rpath, &flag.name, rule);
        }
    }

    /// The materialization names of a rule's, a rollout's or an A/B test's spec.
    pub(super) fn materialization(
        &mut self,
        path: &dyn fmt::Display,
        spec: Option<&MaterializationSpec>,
    ) {
        let Some(m) = spec else { return };
        // Stores key on "{materialization}:{unit}" (Redis) or with a control
        // character (redb): names without either keep keys unambiguous.
        let bad = |n: &str| n.contains(':') || n.chars().any(char::is_control);
        for (field, name) in [
            ("readMaterialization", &m.read_materialization),
            ("writeMaterialization", &m.write_materialization),
        ] {
            if bad(name) {
                self.error(
                    format_args!("{path}.materializationSpec.{field}"),
                    ErrorKind::InvalidName {
                        name: name.clone(),
                        expected: "a materialization name without ':' or control characters".into(),
                    },
                );
            }
        }
    }

    pub(super) fn rule(&mut self, path: &dyn fmt::Display, flag: &str, rule: &Rule) {
        self.materialization(path, rule.materialization_spec.as_ref());
        self.path_name(&format_args!("{path}.targetingKeySelector"), &rule.targeting_key_selector);
        let spec = &rule.assignment_spec;
        let spath = Key(&path, "assignmentSpec");
        let count = spec.bucket_count;
        if !(1..=MAX_BUCKET_COUNT).contains(&count) {
            self.error(format_args!("{spath}.bucketCount"), ErrorKind::BucketCount { count });
        }
        use crate::flag::BucketScheme;
        if spec.group.is_some() && spec.scheme == BucketScheme::Confidence {
            self.error(
                format_args!("{spath}.group"),
                ErrorKind::NotForScheme { field: "group", scheme: spec.scheme.as_str() },
            );
        }
        if spec.seed.is_some() && spec.scheme != BucketScheme::Unleash {
            self.error(
                format_args!("{spath}.seed"),
                ErrorKind::NotForScheme { field: "seed", scheme: spec.scheme.as_str() },
            );
        }
        let mut ranges = Vec::new();
        for (k, a) in spec.assignments.iter().enumerate() {
            let apath = At(&spath, "assignments", k);
            if let Outcome::Variant(variant) = &a.outcome {
                self.variant_ref(&format_args!("{apath}.variant.variant"), flag, variant);
            }
            for (m, r) in a.bucket_ranges.iter().enumerate() {
                ranges.push((RangeAt::Assignment(k, m), *r));
            }
        }
        self.ranges(&spath, ranges, count);
    }

    /// Checks ranges against the bucket count and each other; `base` is the assignment spec
    /// or the resource whose ranges they are, and a range's path is written only for an error.
    pub(super) fn ranges(
        &mut self,
        base: &dyn fmt::Display,
        mut ranges: Vec<(RangeAt, crate::flag::BucketRange)>,
        count: u32,
    ) {
        let mut valid = Vec::new();
        for (at, r) in ranges.drain(..) {
            if r.lower >= r.upper {
                self.error(at.path(base), ErrorKind::EmptyRange { lower: r.lower, upper: r.upper });
            } else if r.upper > count && (1..=MAX_BUCKET_COUNT).contains(&count) {
                self.error(at.path(base), ErrorKind::RangeEnd { upper: r.upper, count });
            } else {
                valid.push((at, r));
            }
        }
        valid.sort_by_key(|(_, r)| (r.lower, r.upper));
        let mut furthest: Option<(RangeAt, crate::flag::BucketRange)> = None;
        for (at, r) in valid {
            if let Some((fat, f)) = &furthest
                && r.lower < f.upper
            {
                let fpath = fat.path(base);
                self.error(
                    at.path(base),
                    ErrorKind::Overlap {
                        lower: r.lower,
                        upper: r.upper,
                        other: format!("{fpath} [{}, {})", f.lower, f.upper),
                    },
                );
            }
            if furthest.as_ref().is_none_or(|(_, f)| r.upper > f.upper) {
                furthest = Some((at, r));
            }
        }
    }

    pub(super) fn allocation(
        &mut self,
        path: &dyn fmt::Display,
        allocation: &Allocation,
        allocated: &[crate::flag::BucketRange],
    ) {
        self.fraction(
            &format_args!("{path}.allocation.proportion"),
            "proportion",
            allocation.proportion,
        );
        let ranges =
            allocated.iter().enumerate().map(|(i, r)| (RangeAt::Allocated(i), *r)).collect();
        self.ranges(path, ranges, ALLOCATION_BUCKETS);
    }

    pub(super) fn fraction(
        &mut self,
        path: &dyn fmt::Display,
        what: &'static str,
        value: Fraction,
    ) {
        if !value.is_unit_interval() {
            self.error(path, ErrorKind::OutOfUnitInterval { what, value: value.get() });
        }
    }

    pub(super) fn timestamp(
        &mut self,
        path: &dyn fmt::Display,
        value: &str,
    ) -> Option<jiff::Timestamp> {
        match value.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                self.error(path, ErrorKind::InvalidTimestamp { value: value.to_owned() });
                None
            }
        }
    }

    pub(super) fn version(&mut self, path: &dyn fmt::Display, text: &str) {
        if let Err(e) = Version::parse(text) {
            self.error(path, ErrorKind::InvalidVersion(e.to_string()));
        }
    }

    /// Builds a regex the config needs (kept for compile), or reports why it does not build.
    pub(super) fn regex(&mut self, path: &dyn fmt::Display, pattern: &str, case_insensitive: bool) {
        if pattern.len() > MAX_PATTERN_LEN {
            let message =
                format!("pattern is {} bytes, over the limit of {MAX_PATTERN_LEN}", pattern.len());
            self.error(path, ErrorKind::InvalidRegex { pattern: truncate(pattern), message });
            return;
        }
        if let Err(e) = self.patterns.build(pattern, case_insensitive) {
            let message = house_style(
                e.to_string().lines().last().unwrap_or_default().trim_start_matches("error: "),
            );
            self.error(path, ErrorKind::InvalidRegex { pattern: pattern.to_owned(), message });
        }
    }

    pub(super) fn targeting(&mut self, path: &dyn fmt::Display, targeting: &Targeting) {
        let criteria = Key(path, "criteria");
        for (id, criterion) in &targeting.criteria {
            self.criterion(&Key(&criteria, id), criterion);
        }
        let Some(expression) = &targeting.expression else { return };
        let mut used = BTreeSet::new();
        let mut stack = vec![(expression, format!("{path}.expression"))];
        while let Some((expr, epath)) = stack.pop() {
            match expr {
                Expression::Ref(id) => {
                    used.insert(id.as_str());
                    if !targeting.criteria.contains_key(id) {
                        self.error(
                            format_args!("{epath}.ref"),
                            ErrorKind::UnknownCriterion { id: id.clone() },
                        );
                    }
                }
                Expression::Not(inner) => stack.push((inner, format!("{epath}.not"))),
                Expression::And(ops) | Expression::Or(ops) => {
                    let op = if matches!(expr, Expression::And(_)) { "and" } else { "or" };
                    for (i, operand) in ops.operands.iter().enumerate() {
                        stack.push((operand, format!("{epath}.{op}.operands[{i}]")));
                    }
                }
            }
        }
        for id in targeting.criteria.keys().filter(|id| !used.contains(id.as_str())) {
            self.warn(
                format_args!("{path}.criteria.{id}"),
                WarningKind::UnusedCriterion { id: id.clone() },
            );
        }
    }

    pub(super) fn criterion(&mut self, path: &dyn fmt::Display, criterion: &Criterion) {
        match criterion {
            Criterion::Attribute(a) => {
                let apath = Key(&path, "attribute");
                self.path_name(&format_args!("{apath}.attributeName"), &a.attribute_name);
                self.attribute_rule(&apath, &a.rule);
            }
            Criterion::Segment(s) => {
                if let Some(full) =
                    self.segment_ref(&format_args!("{path}.segment.segment"), &s.segment)
                {
                    self.link(&full);
                }
            }
            Criterion::Group(g) => self.group(&format_args!("{path}.group"), g),
            Criterion::Version(v) => self.version_criterion(&format_args!("{path}.version"), v),
            Criterion::Property(p) => {
                let ppath = Key(&path, "property");
                self.path_name(&format_args!("{ppath}.name"), &p.name);
                self.property(&ppath, p.operator, &p.operand);
            }
            Criterion::Dependency(d) => self.dependency(&format_args!("{path}.dependency"), d),
        }
    }

    pub(super) fn group(&mut self, path: &dyn fmt::Display, g: &GroupCriterion) {
        self.group_names(&format_args!("{path}.names"), &g.names, true);
    }

    /// Target group references at `path` (`path[i]` each when `indexed`): at least one,
    /// every one known.
    pub(super) fn group_names(&mut self, path: &dyn fmt::Display, names: &[String], indexed: bool) {
        if names.is_empty() {
            self.error(path, ErrorKind::Empty("target group name"));
        }
        for (i, name) in names.iter().enumerate() {
            let full = Collection::TargetGroups.full_name(name);
            if !self.groups.contains_key(full.as_ref()) {
                let at = if indexed { format!("{path}[{i}]") } else { path.to_string() };
                self.error(
                    at,
                    ErrorKind::UnknownReference { noun: "target group", name: name.clone() },
                );
            }
        }
    }

    pub(super) fn version_criterion(&mut self, path: &dyn fmt::Display, v: &VersionCriterion) {
        self.path_name(&format_args!("{path}.attributeName"), &v.attribute_name);
        if !v.operator.is_semver() {
            self.error(
                format_args!("{path}.operator"),
                ErrorKind::Operator {
                    operator: v.operator.as_str(),
                    expected: "one of the semver-* operators",
                },
            );
        }
        self.version(&format_args!("{path}.semver"), &v.semver);
    }

    pub(super) fn dependency(&mut self, path: &dyn fmt::Display, d: &DependencyCriterion) {
        let Some(flag) = self.flag_ref(&format_args!("{path}.flag"), &d.flag) else { return };
        self.link(&flag);
        if let DependencyExpectation::Variant(variant) = &d.expect {
            self.variant_ref(&format_args!("{path}.variant"), &flag, variant);
        }
    }

    pub(super) fn property(
        &mut self,
        path: &dyn fmt::Display,
        operator: PropertyOperator,
        operand: &serde_json::Value,
    ) {
        use serde_json::Value as J;
        let opath = Key(&path, "operand");
        let expected: Option<&'static str> = match (operator, operand) {
            (op, _) if op.is_unary() => None,
            (
                PropertyOperator::Eq | PropertyOperator::Ne,
                J::String(_) | J::Number(_) | J::Bool(_),
            ) => None,
            (PropertyOperator::Eq | PropertyOperator::Ne, _) => {
                Some("a string, number or boolean operand")
            }
            (
                PropertyOperator::Gt
                | PropertyOperator::Gte
                | PropertyOperator::Lt
                | PropertyOperator::Lte,
                J::Number(_),
            ) => None,
            (
                PropertyOperator::Gt
                | PropertyOperator::Gte
                | PropertyOperator::Lt
                | PropertyOperator::Lte,
                _,
            ) => Some("a number operand"),
            (PropertyOperator::Regex, J::String(pattern)) => {
                self.regex(&opath, pattern, false);
                None
            }
            (PropertyOperator::InArray, J::Array(_)) => None,
            (PropertyOperator::InArray, _) => Some("an array operand"),
            (op, J::String(text)) if op.is_semver() => {
                self.version(&opath, text);
                None
            }
            _ => Some("a string operand"),
        };
        if let Some(expected) = expected {
            self.error(
                opath,
                ErrorKind::WrongType { expected, found: json_type(operand).to_owned() },
            );
        }
    }

    pub(super) fn attribute_rule(&mut self, path: &dyn fmt::Display, rule: &AttributeRule) {
        // A case-insensitive literal or set is matched by a regex over its escaped text.
        if !matches!(rule, AttributeRule::Regex(_))
            && let Some((pattern, case_insensitive)) = rule_pattern(rule)
        {
            self.regex(path, &pattern, case_insensitive);
        }
        match rule {
            AttributeRule::Eq(r) => self.scalar(&format_args!("{path}.eqRule.value"), &r.value),
            AttributeRule::Set(r) => {
                for (i, v) in r.values.iter().enumerate() {
                    self.scalar(&format_args!("{path}.setRule.values[{i}]"), v);
                }
            }
            AttributeRule::Range(r) => {
                let bounds = [("start", &r.start), ("end", &r.end)];
                let mut kinds = Vec::new();
                for (which, bound) in bounds {
                    let Some(b) = bound else { continue };
                    let key = match (which, b.inclusive) {
                        ("start", true) => "startInclusive",
                        ("start", false) => "startExclusive",
                        (_, true) => "endInclusive",
                        (_, false) => "endExclusive",
                    };
                    let bpath = format!("{path}.rangeRule.{key}");
                    match &b.value {
                        Value::NumberValue(_)
                        | Value::TimestampValue(_)
                        | Value::VersionValue(_) => {
                            self.scalar(&bpath, &b.value);
                            kinds.push((bpath, b.value.type_name()));
                        }
                        other => self.error(
                            bpath,
                            ErrorKind::WrongType {
                                expected: "numberValue, timestampValue or versionValue",
                                found: other.type_name().to_owned(),
                            },
                        ),
                    }
                }
                if let [(_, a), (bpath, b)] = kinds.as_slice()
                    && a != b
                {
                    let expected = match *a {
                        "numberValue" => "numberValue, like the start",
                        "timestampValue" => "timestampValue, like the start",
                        _ => "versionValue, like the start",
                    };
                    self.error(
                        bpath.clone(),
                        ErrorKind::WrongType { expected, found: (*b).to_owned() },
                    );
                }
            }
            AttributeRule::StartsWith(_)
            | AttributeRule::EndsWith(_)
            | AttributeRule::Contains(_) => {}
            AttributeRule::Regex(r) => self.regex(
                &format_args!("{path}.regexRule.pattern"),
                &r.pattern,
                rule.is_case_insensitive(),
            ),
            AttributeRule::Any(inner) => {
                self.attribute_rule(&format_args!("{path}.anyRule.rule"), &inner.rule)
            }
            AttributeRule::All(inner) => {
                self.attribute_rule(&format_args!("{path}.allRule.rule"), &inner.rule)
            }
        }
    }

    /// A value compared with one attribute value: anything but a list.
    pub(super) fn scalar(&mut self, path: &dyn fmt::Display, value: &Value) {
        match value {
            Value::TimestampValue(t) => {
                self.timestamp(&format_args!("{path}.timestampValue"), t);
            }
            Value::VersionValue(v) => self.version(&format_args!("{path}.versionValue.version"), &v.version),
            Value::ListValue(_) => self.error(
                path,
                ErrorKind::WrongType {
                    expected: "boolValue, numberValue, stringValue, timestampValue or versionValue (use anyRule or allRule for lists)",
                    found: "listValue".to_owned(),
                },
            ),
            Value::BoolValue(_) | Value::NumberValue(_) | Value::StringValue(_) => {}
        }
    }
}

/// Where a bucket range sits, relative to the assignment spec or resource that holds it.
#[derive(Clone, Copy)]
pub(super) enum RangeAt {
    /// `assignments[k].bucketRanges[m]` of an assignment spec.
    Assignment(usize, usize),
    /// `allocatedRanges[i]` of a segment or A/B test.
    Allocated(usize),
}

impl RangeAt {
    fn path(self, base: &dyn fmt::Display) -> String {
        match self {
            RangeAt::Assignment(k, m) => format!("{base}.assignments[{k}].bucketRanges[{m}]"),
            RangeAt::Allocated(i) => format!("{base}.allocatedRanges[{i}]"),
        }
    }
}
