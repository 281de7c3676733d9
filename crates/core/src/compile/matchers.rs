//! Criteria and their matchers: targeting, attribute rules, property conditions,
//! target groups.

use super::{Compiler, broken, numbered};
use crate::compiled::{self, DepExpect, Node};
use crate::context::AttrPath;
use crate::matcher::{AttrMatcher, JsonScalar, PropMatcher, SetMatcher, numeric_cmp, semver_cmp};
use crate::pattern::Pattern;
use flagstone_model::names::{Collection, variant_full_name};
use flagstone_model::pattern::{build_regex, rule_pattern};
use flagstone_model::segment::TargetGroup;
use flagstone_model::targeting::{
    AttributeRule, Criterion, DependencyExpectation, Expression, GroupOperator, PropertyOperator,
    Targeting, Value,
};
use flagstone_model::version::Version;
use std::collections::HashMap;

impl Compiler<'_, '_> {
    pub(super) fn group(&mut self, g: &TargetGroup) -> compiled::Group {
        compiled::Group {
            any: matches!(g.operator, GroupOperator::Or),
            conditions: g
                .conditions
                .iter()
                .filter_map(|c| {
                    let m = self.prop(c.operator, &c.operand)?;
                    Some((AttrPath::new(&c.property), m))
                })
                .collect(),
        }
    }

    pub(super) fn targeting(&mut self, t: &Targeting) -> compiled::Targeting {
        let index: HashMap<&str, u32> =
            numbered(t.criteria.keys()).map(|(i, id)| (id.as_str(), i)).collect();
        let criteria =
            t.criteria.values().map(|c| self.criterion(c).unwrap_or(compiled::Criterion::Never));
        let mut nodes = Vec::new();
        let mut children = Vec::new();
        // No expression: all criteria AND-ed, evaluated by a loop (see `Targeting::all_of`).
        if let Some(expr) = &t.expression
            && flatten(expr, &index, &mut nodes, &mut children).is_none()
        {
            broken(format_args!("expression of more than u32::MAX nodes"));
            nodes = vec![Node::Const(false)];
            children.clear();
        }
        compiled::Targeting {
            all_of: t.expression.is_none(),
            criteria: criteria.collect(),
            ids: t.criteria.keys().map(|id| id.as_str().into()).collect(),
            nodes: nodes.into_boxed_slice(),
            children: children.into_boxed_slice(),
        }
    }

    fn criterion(&mut self, c: &Criterion) -> Option<compiled::Criterion> {
        Some(match c {
            Criterion::Attribute(a) => {
                compiled::Criterion::Attr(AttrPath::new(&a.attribute_name), self.attr(&a.rule)?)
            }
            Criterion::Property(p) => compiled::Criterion::Prop(
                AttrPath::new(&p.name),
                self.prop(p.operator, &p.operand)?,
            ),
            Criterion::Version(v) => {
                let m = self.prop(v.operator, &serde_json::Value::String(v.semver.clone()))?;
                compiled::Criterion::Prop(AttrPath::new(&v.attribute_name), m)
            }
            Criterion::Segment(s) => {
                match self.segment_ids.get(Collection::Segments.full_name(&s.segment).as_ref()) {
                    Some(&idx) => compiled::Criterion::Segment(idx),
                    None => {
                        broken(format_args!("unknown segment {}", s.segment));
                        return None;
                    }
                }
            }
            Criterion::Group(g) => {
                let mut ids = Vec::with_capacity(g.names.len());
                for n in &g.names {
                    match self.group_ids.get(Collection::TargetGroups.full_name(n).as_ref()) {
                        Some(&idx) => ids.push(idx),
                        None => broken(format_args!("unknown target group {n}")),
                    }
                }
                compiled::Criterion::Group(g.operator, ids.into_boxed_slice())
            }
            Criterion::Dependency(d) => {
                let Some(&flag) = self.flag_ids.get(d.flag.as_str()) else {
                    broken(format_args!("unknown flag {}", d.flag));
                    return None;
                };
                let expect = match &d.expect {
                    DependencyExpectation::Value(v) => DepExpect::Value(v.clone()),
                    DependencyExpectation::Variant(v) => {
                        let flag_name = Collection::Flags.full_name(&d.flag);
                        let full = variant_full_name(&flag_name, v);
                        let variants = self.variant_ids.get(flag.index());
                        match variants.and_then(|vs| vs.get(full.as_ref())) {
                            Some(&idx) => DepExpect::Variant(idx),
                            None => {
                                broken(format_args!("unknown variant {v} of {}", d.flag));
                                return None;
                            }
                        }
                    }
                };
                compiled::Criterion::Dependency(flag, expect)
            }
        })
    }

    /// The regex validation built for `pattern` (built here only if an invariant broke),
    /// with its DFA; each distinct pattern is compiled once per config.
    fn pattern(&mut self, pattern: &str, case_insensitive: bool) -> Option<Pattern> {
        let key = (Box::<str>::from(pattern), case_insensitive);
        if let Some(p) = self.patterns.get(&key) {
            return Some(p.clone());
        }
        let regex = match self.valid.patterns().get(pattern, case_insensitive) {
            Some(re) => re.clone(),
            None => {
                broken(format_args!("regex {pattern:?} not built by validation"));
                build_regex(pattern, case_insensitive).ok()?
            }
        };
        let compiled = Pattern::new(regex, pattern, case_insensitive, &mut self.dfa_budget);
        self.patterns.insert(key, compiled.clone());
        Some(compiled)
    }

    fn attr(&mut self, rule: &AttributeRule) -> Option<AttrMatcher> {
        // Case-insensitive literals and sets, and regexes, match by the rule's pattern.
        if let Some((pattern, case_insensitive)) = rule_pattern(rule) {
            let re = self.pattern(&pattern, case_insensitive)?;
            return Some(match rule {
                AttributeRule::Set(r) => {
                    let mut set = self.set(&r.values);
                    set.pattern = Some(re);
                    AttrMatcher::Set(Box::new(set))
                }
                _ => AttrMatcher::Pattern(re),
            });
        }
        Some(match rule {
            AttributeRule::Eq(r) => self.scalar_eq(&r.value)?,
            AttributeRule::Set(r) => AttrMatcher::Set(Box::new(self.set(&r.values))),
            AttributeRule::Range(r) => {
                let lo = r.start.as_ref().map(|b| (&b.value, b.inclusive));
                let hi = r.end.as_ref().map(|b| (&b.value, b.inclusive));
                let kind = lo.or(hi).map(|(v, _)| v)?;
                match kind {
                    Value::NumberValue(_) => {
                        let num = |b: Option<(&Value, bool)>| match b {
                            Some((Value::NumberValue(n), incl)) => Some((*n, incl)),
                            _ => None,
                        };
                        AttrMatcher::RangeNumber(num(lo), num(hi))
                    }
                    Value::TimestampValue(_) => {
                        let time = |b: Option<(&Value, bool)>| match b {
                            Some((Value::TimestampValue(t), incl)) => Some((t.parse().ok()?, incl)),
                            _ => None,
                        };
                        AttrMatcher::RangeTime(time(lo), time(hi))
                    }
                    _ => {
                        let version = |b: Option<(&Value, bool)>| match b {
                            Some((Value::VersionValue(v), incl)) => {
                                Some((Version::parse(&v.version).ok()?, incl))
                            }
                            _ => None,
                        };
                        AttrMatcher::RangeVersion(Box::new((version(lo), version(hi))))
                    }
                }
            }
            AttributeRule::StartsWith(r) => AttrMatcher::StartsWith(r.value.as_str().into()),
            AttributeRule::EndsWith(r) => AttrMatcher::EndsWith(r.value.as_str().into()),
            AttributeRule::Contains(r) => AttrMatcher::Contains(r.value.as_str().into()),
            // A regex always has a pattern (handled above).
            AttributeRule::Regex(r) => {
                broken(format_args!("regex rule {:?} without a pattern", r.pattern));
                return None;
            }
            AttributeRule::Any(inner) => AttrMatcher::Any(Box::new(self.attr(&inner.rule)?)),
            AttributeRule::All(inner) => AttrMatcher::All(Box::new(self.attr(&inner.rule)?)),
        })
    }

    fn scalar_eq(&mut self, value: &Value) -> Option<AttrMatcher> {
        Some(match value {
            Value::BoolValue(b) => AttrMatcher::EqBool(*b),
            Value::NumberValue(n) => AttrMatcher::EqNumber(*n),
            Value::StringValue(s) => AttrMatcher::EqStr(s.as_str().into()),
            Value::TimestampValue(t) => match t.parse() {
                Ok(t) => AttrMatcher::EqTime(t),
                Err(e) => {
                    broken(format_args!("timestamp {t:?}: {e}"));
                    return None;
                }
            },
            Value::VersionValue(v) => match Version::parse(&v.version) {
                Ok(v) => AttrMatcher::EqVersion(v),
                Err(e) => {
                    broken(format_args!("version {:?}: {e}", v.version));
                    return None;
                }
            },
            Value::ListValue(_) => {
                broken(format_args!("eqRule with a listValue"));
                return None;
            }
        })
    }

    /// A set without its case-insensitive pattern (the caller adds it).
    fn set(&mut self, values: &[Value]) -> SetMatcher {
        let mut set = SetMatcher::default();
        for v in values {
            match v {
                Value::BoolValue(b) => set.bools[usize::from(*b)] = true,
                Value::NumberValue(n) if !n.is_nan() => set.numbers.push(*n + 0.0),
                Value::StringValue(s) => set.strings.push(s.as_str().into()),
                Value::TimestampValue(t) => set.times.extend(t.parse::<jiff::Timestamp>().ok()),
                Value::VersionValue(v) => set.versions.extend(Version::parse(&v.version).ok()),
                _ => {}
            }
        }
        set.numbers.sort_by(f64::total_cmp);
        set.numbers.dedup();
        set.strings.sort();
        set.strings.dedup();
        set
    }

    fn prop(&mut self, op: PropertyOperator, operand: &serde_json::Value) -> Option<PropMatcher> {
        let fail = |what: &str| {
            broken(format_args!("{} with {what}: {operand}", op.as_str()));
            None
        };
        Some(match op {
            PropertyOperator::IsUndefined => PropMatcher::IsUndefined,
            PropertyOperator::IsTrue => PropMatcher::IsTrue,
            PropertyOperator::IsFalse => PropMatcher::IsFalse,
            PropertyOperator::Eq | PropertyOperator::Ne => {
                let Some(s) = JsonScalar::from_json(operand) else {
                    return fail("a non-scalar operand");
                };
                if op == PropertyOperator::Eq { PropMatcher::Eq(s) } else { PropMatcher::Ne(s) }
            }
            PropertyOperator::Regex => match operand.as_str() {
                Some(pattern) => PropMatcher::Regex(self.pattern(pattern, false)?),
                None => return fail("a non-string operand"),
            },
            PropertyOperator::InArray => match operand.as_array() {
                Some(items) => {
                    PropMatcher::InArray(items.iter().filter_map(JsonScalar::from_json).collect())
                }
                None => return fail("a non-array operand"),
            },
            _ => {
                if let Some(cmp) = numeric_cmp(op) {
                    match operand.as_f64() {
                        Some(n) => PropMatcher::Num(cmp, n),
                        None => return fail("a non-number operand"),
                    }
                } else if let Some(cmp) = semver_cmp(op) {
                    match operand.as_str().map(Version::parse) {
                        Some(Ok(v)) => PropMatcher::Semver(cmp, Box::new(v)),
                        _ => return fail("an invalid version"),
                    }
                } else {
                    return fail("an operator it does not support");
                }
            }
        })
    }
}

/// Flattens an expression post-order and gives the index of its node; the root is the last
/// node. `None` when a position does not fit in `u32`, which the config size rules out.
fn flatten(
    expr: &Expression,
    index: &HashMap<&str, u32>,
    nodes: &mut Vec<Node>,
    children: &mut Vec<u32>,
) -> Option<u32> {
    let node = match expr {
        Expression::Ref(id) => match index.get(id.as_str()) {
            Some(&c) => Node::Crit(c),
            None => {
                broken(format_args!("ref to unknown criterion {id}"));
                Node::Const(false)
            }
        },
        Expression::Not(inner) => Node::Not(flatten(inner, index, nodes, children)?),
        Expression::And(ops) | Expression::Or(ops) => {
            let kids = ops
                .operands
                .iter()
                .map(|o| flatten(o, index, nodes, children))
                .collect::<Option<Vec<u32>>>()?;
            let start = u32::try_from(children.len()).ok()?;
            let len = u32::try_from(kids.len()).ok()?;
            children.extend(kids);
            if matches!(expr, Expression::And(_)) {
                Node::And(start, len)
            } else {
                Node::Or(start, len)
            }
        }
    };
    let at = u32::try_from(nodes.len()).ok()?;
    nodes.push(node);
    Some(at)
}
