//! Compile: `Config` → [`Engine`], once per config (DESIGN §0, STYLE §3).
//!
//! Names become dense indices, regexes and versions are built once, sets are
//! sorted for binary search, expressions are flattened, schedules are sorted
//! for binary search, and the reference graph is checked for cycles and depth.

use crate::context::AttrPath;
use crate::engine::CScheme;
use crate::engine::{
    CAlloc, CAssignment, CCriterion, CFlag, CGroup, CMaterialization, COutcome, CRule, CSchedule,
    CSegment, CTargeting, CVariant, DepExpect, Engine, MAX_EVALUATION_COST, MAX_REFERENCE_DEPTH,
    Node,
};
use crate::lower::{ScheduleSpec, lower};
use crate::matcher::{
    AttrMatcher, JsonScalar, PropMatcher, SetMatcher, build_regex, literal_pattern, numeric_cmp,
    semver_cmp,
};
use crate::resolution::FlagId;
use flagstone_model::flag::{Flag, Outcome as ModelOutcome, Rule};
use flagstone_model::graph;
use flagstone_model::limits::MAX_EXPRESSION_DEPTH;
use flagstone_model::names::{Collection, variant_full_name};
use flagstone_model::segment::{ALLOCATION_BUCKETS, Segment, SegmentState};
use flagstone_model::targeting::{
    AttributeRule, Criterion, DependencyExpectation, Expression, PropertyOperator, Targeting, Value,
};
use flagstone_model::validate::ValidationError;
use flagstone_model::version::Version;
use flagstone_model::{Config, validate};
use std::collections::HashMap;
use std::num::NonZeroU32;

/// Why a config cannot be compiled. Each names the JSON path first.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The config does not validate.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A chain of references longer than [`MAX_REFERENCE_DEPTH`].
    #[error("{path}: reference chain of {depth} flags and segments, over the limit of {limit}: {}", .chain.join(" → "))]
    TooDeep {
        /// Where the chain starts.
        path: String,
        /// How many flags and segments it passes.
        depth: usize,
        /// The limit.
        limit: usize,
        /// The names along the chain.
        chain: Vec<String>,
    },
    /// A flag whose worst-case evaluation visits more criteria than [`MAX_EVALUATION_COST`].
    #[error(
        "{path}: evaluation may visit {cost} criteria through repeated references, over the limit of {limit}"
    )]
    TooCostly {
        /// The flag.
        path: String,
        /// Criteria visited in the worst case.
        cost: u64,
        /// The limit.
        limit: u64,
    },
    /// A name that validation accepted but compilation could not resolve.
    #[error("{path}: unknown {noun} {name:?}")]
    Unresolved {
        /// Where.
        path: String,
        /// What kind of resource.
        noun: &'static str,
        /// The name.
        name: String,
    },
    /// A literal that validation accepted but compilation could not build.
    #[error("{path}: {message}")]
    Literal {
        /// Where.
        path: String,
        /// What.
        message: String,
    },
}

impl Engine {
    /// Compiles a config. Validates it first; reports every error at once.
    ///
    /// # Errors
    /// Every [`CompileError`]: validation errors, reference chains over the
    /// depth limit, literals that do not build.
    ///
    /// # Examples
    /// ```
    /// use flagstone_core::{Engine, EvaluationContext, Reason};
    /// let config = flagstone_model::parse_config(r#"{
    ///   "flags": [{"name": "flags/a", "variants": [{"name": "flags/a/variants/on", "value": true}],
    ///     "rules": [{"name": "flags/a/rules/r", "segment": "segments/all",
    ///       "assignmentSpec": {"bucketCount": 1, "assignments": [
    ///         {"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]}],
    ///   "segments": [{"name": "segments/all"}]
    /// }"#)?;
    /// let engine = Engine::compile(&config).map_err(|errors| format!("{errors:?}"))?;
    /// let context = serde_json::json!({"targeting_key": "user-1"});
    /// let flag = engine.flag_id("flags/a").ok_or("no flag")?;
    /// let resolution = engine.evaluate(flag, &EvaluationContext::from_json(&context));
    /// assert_eq!(resolution.reason, Reason::Match);
    /// assert_eq!(resolution.variant, Some("flags/a/variants/on"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compile(config: &Config) -> Result<Engine, Vec<CompileError>> {
        let report = validate(config);
        if !report.is_ok() {
            return Err(report.errors.into_iter().map(CompileError::Invalid).collect());
        }
        Compiler::new(config).run()
    }
}

struct Compiler<'a> {
    config: &'a Config,
    errors: Vec<CompileError>,
    flag_ids: HashMap<Box<str>, FlagId>,
    flag_names: Vec<String>,
    /// Variant ids per flag, by full variant name.
    variant_ids: Vec<HashMap<String, u32>>,
    segment_ids: HashMap<String, u32>,
    group_ids: HashMap<String, u32>,
}

impl<'a> Compiler<'a> {
    fn new(config: &'a Config) -> Self {
        Compiler {
            config,
            errors: Vec::new(),
            flag_ids: HashMap::new(),
            flag_names: Vec::new(),
            variant_ids: Vec::new(),
            segment_ids: HashMap::new(),
            group_ids: HashMap::new(),
        }
    }

    fn run(mut self) -> Result<Engine, Vec<CompileError>> {
        let config = self.config;
        let lowered = lower(config);
        // Every flag in order: the config's, then those of experiments.
        let mut flags: Vec<(&Flag, String)> =
            config.flags.iter().enumerate().map(|(i, f)| (f, format!("flags[{i}]"))).collect();
        flags.extend(lowered.flags.iter().map(|(f, _, path)| (f, path.clone())));
        for (i, (flag, _)) in flags.iter().enumerate() {
            let id = FlagId(index_u32(i));
            self.flag_names.push(flag.name.clone());
            self.flag_ids.insert(flag.name.as_str().into(), id);
            if let Some(bare) = Collection::Flags.id_of(&flag.name) {
                self.flag_ids.entry(bare.into()).or_insert(id);
            }
            let variants = flag
                .variants
                .iter()
                .enumerate()
                .map(|(v, variant)| (variant.name.clone(), index_u32(v)))
                .collect();
            self.variant_ids.push(variants);
        }
        let mut segments: Vec<(&Segment, String)> = config
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| (s, format!("segments[{i}]")))
            .collect();
        segments.extend(lowered.segments.iter().map(|(s, path)| (s, path.clone())));
        for (i, (segment, _)) in segments.iter().enumerate() {
            self.segment_ids.insert(segment.name.clone(), index_u32(i));
        }
        for (i, g) in config.target_groups.iter().enumerate() {
            self.group_ids.insert(g.name.clone(), index_u32(i));
        }

        let groups = config
            .target_groups
            .iter()
            .enumerate()
            .map(|(i, g)| CGroup {
                any: matches!(g.operator, flagstone_model::targeting::GroupOperator::Or),
                conditions: g
                    .conditions
                    .iter()
                    .enumerate()
                    .filter_map(|(j, c)| {
                        let m = self.prop(
                            &format!("targetGroups[{i}].conditions[{j}]"),
                            c.operator,
                            &c.operand,
                        )?;
                        Some((AttrPath::new(&c.property), m))
                    })
                    .collect(),
            })
            .collect();
        let compiled_segments: Box<[CSegment]> =
            segments.iter().map(|(s, path)| self.segment(s, path)).collect();

        let mut compiled_flags = Vec::with_capacity(flags.len());
        let n_config_flags = config.flags.len();
        for (i, (flag, path)) in flags.iter().enumerate() {
            let mut rules: Vec<CRule> = flag
                .rules
                .iter()
                .enumerate()
                .filter_map(|(j, r)| self.rule(i, r, None, &format!("{path}.rules[{j}]")))
                .collect();
            // An experiment's own chain first, then rollouts and A/B tests on the flag.
            let own = match i.checked_sub(n_config_flags) {
                Some(e) => {
                    lowered.flags.get(e).map(|(_, rules, _)| rules.as_slice()).unwrap_or_default()
                }
                None => &[],
            };
            let workflows =
                lowered.rules.get(flag.name.as_str()).map(Vec::as_slice).unwrap_or_default();
            for l in own.iter().chain(workflows) {
                rules.extend(self.rule(i, &l.rule, l.schedule.as_ref(), &l.path));
            }
            compiled_flags.push(CFlag {
                name: flag.name.as_str().into(),
                archived: matches!(flag.state, flagstone_model::flag::FlagState::Archived),
                variants: flag
                    .variants
                    .iter()
                    .map(|v| CVariant { name: v.name.as_str().into(), value: v.value.clone() })
                    .collect(),
                rules: rules.into_boxed_slice(),
            });
        }
        let sticky_rules: Box<[(u32, u32)]> = compiled_flags
            .iter()
            .enumerate()
            .flat_map(|(f, flag)| {
                flag.rules.iter().enumerate().filter_map(move |(r, rule)| {
                    rule.materialization.as_ref()?.read.as_ref()?;
                    Some((index_u32(f), index_u32(r)))
                })
            })
            .collect();
        let sticky_reach = sticky_reach(&compiled_flags, &compiled_segments, &sticky_rules);
        let engine = Engine {
            sticky_reach,
            sticky_rules,
            flags: compiled_flags.into_boxed_slice(),
            flag_ids: std::mem::take(&mut self.flag_ids),
            segments: compiled_segments,
            groups,
            allocation_salt: config.allocation_salt.as_str().into(),
        };
        self.check_references(&engine, &flags);
        if self.errors.is_empty() { Ok(engine) } else { Err(self.errors) }
    }

    fn unresolved(&mut self, path: &str, noun: &'static str, name: &str) {
        self.errors.push(CompileError::Unresolved {
            path: path.to_owned(),
            noun,
            name: name.to_owned(),
        });
    }

    fn literal_error(&mut self, path: &str, message: impl ToString) {
        self.errors
            .push(CompileError::Literal { path: path.to_owned(), message: message.to_string() });
    }

    fn segment(&mut self, s: &Segment, path: &str) -> CSegment {
        let allocation = match s.state {
            SegmentState::Archived => CAlloc::Nobody,
            _ if !s.allocated_ranges.is_empty() => {
                CAlloc::Ranges(s.allocated_ranges.clone().into_boxed_slice())
            }
            _ if s.allocation.proportion.get() >= 1.0 => CAlloc::Whole,
            _ => CAlloc::Below(s.allocation.proportion.buckets_of(ALLOCATION_BUCKETS)),
        };
        CSegment {
            name: s.name.as_str().into(),
            hash_id: s.name.strip_prefix("segments/").unwrap_or(&s.name).into(),
            targeting: self.targeting(&s.targeting, &format!("{path}.targeting")),
            allocation,
        }
    }

    fn targeting(&mut self, t: &Targeting, path: &str) -> CTargeting {
        let ids: Vec<&String> = t.criteria.keys().collect();
        let index: HashMap<&str, u32> =
            ids.iter().enumerate().map(|(i, id)| (id.as_str(), index_u32(i))).collect();
        let criteria = t
            .criteria
            .iter()
            .map(|(id, c)| self.criterion(c, &format!("{path}.criteria.{id}")))
            .collect::<Vec<_>>();
        let mut nodes = Vec::new();
        let mut children = Vec::new();
        match &t.expression {
            Some(expr) if expr.depth() > MAX_EXPRESSION_DEPTH => {
                self.literal_error(
                    &format!("{path}.expression"),
                    format!(
                        "expression nesting is {} levels, over the limit of {MAX_EXPRESSION_DEPTH}",
                        expr.depth()
                    ),
                );
            }
            Some(expr) => {
                flatten(expr, &index, &mut nodes, &mut children);
            }
            // No expression: all criteria AND-ed, evaluated by a loop (see `CTargeting::all_of`).
            None => {}
        }
        CTargeting {
            all_of: t.expression.is_none(),
            criteria: criteria
                .into_iter()
                .map(|c| c.unwrap_or(CCriterion::Segment(u32::MAX)))
                .collect(),
            ids: ids.into_iter().map(|id| id.as_str().into()).collect(),
            nodes: nodes.into_boxed_slice(),
            children: children.into_boxed_slice(),
        }
    }

    fn criterion(&mut self, c: &Criterion, path: &str) -> Option<CCriterion> {
        Some(match c {
            Criterion::Attribute(a) => CCriterion::Attr(
                AttrPath::new(&a.attribute_name),
                self.attr(&a.rule, &format!("{path}.attribute"))?,
            ),
            Criterion::Property(p) => CCriterion::Prop(
                AttrPath::new(&p.name),
                self.prop(&format!("{path}.property"), p.operator, &p.operand)?,
            ),
            Criterion::Version(v) => {
                let m = self.prop(
                    &format!("{path}.version"),
                    v.operator,
                    &serde_json::Value::String(v.semver.clone()),
                )?;
                CCriterion::Prop(AttrPath::new(&v.attribute_name), m)
            }
            Criterion::Segment(s) => {
                match self.segment_ids.get(Collection::Segments.full_name(&s.segment).as_ref()) {
                    Some(&idx) => CCriterion::Segment(idx),
                    None => {
                        self.unresolved(&format!("{path}.segment.segment"), "segment", &s.segment);
                        return None;
                    }
                }
            }
            Criterion::Group(g) => {
                let mut ids = Vec::with_capacity(g.names.len());
                for (i, n) in g.names.iter().enumerate() {
                    match self.group_ids.get(Collection::TargetGroups.full_name(n).as_ref()) {
                        Some(&idx) => ids.push(idx),
                        None => {
                            self.unresolved(&format!("{path}.group.names[{i}]"), "target group", n);
                            return None;
                        }
                    }
                }
                CCriterion::Group(g.operator, ids.into_boxed_slice())
            }
            Criterion::Dependency(d) => {
                let Some(&flag) = self.flag_ids.get(Collection::Flags.full_name(&d.flag).as_ref())
                else {
                    self.unresolved(&format!("{path}.dependency.flag"), "flag", &d.flag);
                    return None;
                };
                let expect = match &d.expect {
                    DependencyExpectation::Value(v) => DepExpect::Value(v.clone()),
                    DependencyExpectation::Variant(v) => {
                        let flag_name = Collection::Flags.full_name(&d.flag);
                        let full = variant_full_name(&flag_name, v);
                        match self
                            .variant_ids
                            .get(flag.index())
                            .and_then(|vs| vs.get(full.as_ref()))
                        {
                            Some(&idx) => DepExpect::Variant(idx),
                            None => {
                                self.unresolved(
                                    &format!("{path}.dependency.variant"),
                                    "variant",
                                    v,
                                );
                                return None;
                            }
                        }
                    }
                };
                CCriterion::Dependency(flag, expect)
            }
        })
    }

    fn attr(&mut self, rule: &AttributeRule, path: &str) -> Option<AttrMatcher> {
        let regex =
            |this: &mut Self, built: Result<regex::Regex, regex::Error>, at: &str| match built {
                Ok(re) => Some(AttrMatcher::Pattern(re)),
                Err(e) => {
                    this.literal_error(at, e);
                    None
                }
            };
        Some(match rule {
            AttributeRule::Eq(r) => match &r.value {
                Value::StringValue(s) if rule.is_case_insensitive() => {
                    return regex(self, literal_pattern("^", s, "$"), path);
                }
                v => self.scalar_eq(v, &format!("{path}.eqRule.value"))?,
            },
            AttributeRule::Set(r) => {
                AttrMatcher::Set(Box::new(self.set(&r.values, rule.is_case_insensitive(), path)?))
            }
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
            AttributeRule::StartsWith(r) if rule.is_case_insensitive() => {
                return regex(self, literal_pattern("^", &r.value, ""), path);
            }
            AttributeRule::EndsWith(r) if rule.is_case_insensitive() => {
                return regex(self, literal_pattern("", &r.value, "$"), path);
            }
            AttributeRule::Contains(r) if rule.is_case_insensitive() => {
                return regex(self, literal_pattern("", &r.value, ""), path);
            }
            AttributeRule::StartsWith(r) => AttrMatcher::StartsWith(r.value.as_str().into()),
            AttributeRule::EndsWith(r) => AttrMatcher::EndsWith(r.value.as_str().into()),
            AttributeRule::Contains(r) => AttrMatcher::Contains(r.value.as_str().into()),
            AttributeRule::Regex(r) => {
                return regex(
                    self,
                    build_regex(&r.pattern, rule.is_case_insensitive()),
                    &format!("{path}.regexRule.pattern"),
                );
            }
            AttributeRule::Any(inner) => {
                AttrMatcher::Any(Box::new(self.attr(&inner.rule, &format!("{path}.anyRule.rule"))?))
            }
            AttributeRule::All(inner) => {
                AttrMatcher::All(Box::new(self.attr(&inner.rule, &format!("{path}.allRule.rule"))?))
            }
        })
    }

    fn scalar_eq(&mut self, value: &Value, path: &str) -> Option<AttrMatcher> {
        Some(match value {
            Value::BoolValue(b) => AttrMatcher::EqBool(*b),
            Value::NumberValue(n) => AttrMatcher::EqNumber(*n),
            Value::StringValue(s) => AttrMatcher::EqStr(s.as_str().into()),
            Value::TimestampValue(t) => match t.parse() {
                Ok(t) => AttrMatcher::EqTime(t),
                Err(e) => {
                    self.literal_error(path, e);
                    return None;
                }
            },
            Value::VersionValue(v) => match Version::parse(&v.version) {
                Ok(v) => AttrMatcher::EqVersion(v),
                Err(e) => {
                    self.literal_error(path, e);
                    return None;
                }
            },
            Value::ListValue(_) => {
                self.literal_error(path, "expected a scalar value, found listValue");
                return None;
            }
        })
    }

    fn set(&mut self, values: &[Value], case_insensitive: bool, path: &str) -> Option<SetMatcher> {
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
        if case_insensitive && !set.strings.is_empty() {
            let alternatives: Vec<String> = set.strings.iter().map(|s| regex::escape(s)).collect();
            match build_regex(&format!("^(?:{})$", alternatives.join("|")), true) {
                Ok(re) => set.pattern = Some(re),
                Err(e) => {
                    self.literal_error(&format!("{path}.setRule"), e);
                    return None;
                }
            }
        }
        Some(set)
    }

    fn prop(
        &mut self,
        path: &str,
        op: PropertyOperator,
        operand: &serde_json::Value,
    ) -> Option<PropMatcher> {
        let fail = |this: &mut Self, message: String| {
            this.literal_error(&format!("{path}.operand"), message);
            None
        };
        Some(match op {
            PropertyOperator::IsUndefined => PropMatcher::IsUndefined,
            PropertyOperator::IsTrue => PropMatcher::IsTrue,
            PropertyOperator::IsFalse => PropMatcher::IsFalse,
            PropertyOperator::Eq | PropertyOperator::Ne => {
                let Some(s) = JsonScalar::from_json(operand) else {
                    return fail(self, "expected a string, number or boolean operand".into());
                };
                if op == PropertyOperator::Eq { PropMatcher::Eq(s) } else { PropMatcher::Ne(s) }
            }
            PropertyOperator::Regex => match operand.as_str().map(|p| build_regex(p, false)) {
                Some(Ok(re)) => PropMatcher::Regex(re),
                Some(Err(e)) => return fail(self, e.to_string()),
                None => return fail(self, "expected a string operand".into()),
            },
            PropertyOperator::InArray => match operand.as_array() {
                Some(items) => {
                    PropMatcher::InArray(items.iter().filter_map(JsonScalar::from_json).collect())
                }
                None => return fail(self, "expected an array operand".into()),
            },
            _ => {
                if let Some(cmp) = numeric_cmp(op) {
                    match operand.as_f64() {
                        Some(n) => PropMatcher::Num(cmp, n),
                        None => return fail(self, "expected a number operand".into()),
                    }
                } else if let Some(cmp) = semver_cmp(op) {
                    match operand.as_str().map(Version::parse) {
                        Some(Ok(v)) => PropMatcher::Semver(cmp, Box::new(v)),
                        Some(Err(e)) => return fail(self, e.to_string()),
                        None => return fail(self, "expected a version string operand".into()),
                    }
                } else {
                    return fail(self, format!("unsupported operator {}", op.as_str()));
                }
            }
        })
    }

    fn rule(
        &mut self,
        flag_idx: usize,
        rule: &Rule,
        schedule: Option<&ScheduleSpec>,
        path: &str,
    ) -> Option<CRule> {
        let Some(n_buckets) = NonZeroU32::new(rule.assignment_spec.bucket_count) else {
            self.literal_error(
                &format!("{path}.assignmentSpec.bucketCount"),
                "bucket count 0 outside 1..=1000000",
            );
            return None;
        };
        let Some(&segment) =
            self.segment_ids.get(Collection::Segments.full_name(&rule.segment).as_ref())
        else {
            self.unresolved(&format!("{path}.segment"), "segment", &rule.segment);
            return None;
        };
        let flag_name = self.flag_name(flag_idx);
        let variants = self.variant_ids.get(flag_idx)?;
        let mut assignments = Vec::new();
        let mut table = Vec::new();
        let mut variant_outcomes = std::collections::BTreeSet::new();
        for (a_idx, a) in rule.assignment_spec.assignments.iter().enumerate() {
            let outcome = match &a.outcome {
                ModelOutcome::Variant(v) => {
                    let Some(&idx) = variants.get(variant_full_name(&flag_name, v).as_ref()) else {
                        let at =
                            format!("{path}.assignmentSpec.assignments[{a_idx}].variant.variant");
                        self.unresolved(&at, "variant", v);
                        return None;
                    };
                    variant_outcomes.insert(idx);
                    COutcome::Variant(idx)
                }
                ModelOutcome::Fallthrough => COutcome::Fallthrough,
                ModelOutcome::ClientDefault => COutcome::ClientDefault,
            };
            assignments.push(CAssignment { id: a.assignment_id.as_str().into(), outcome });
            table.extend(a.bucket_ranges.iter().map(|r| (r.lower, r.upper, index_u32(a_idx))));
        }
        table.sort_unstable();
        let covered: u64 = table.iter().map(|&(l, u, _)| u64::from(u.saturating_sub(l))).sum();
        let first = table.first().map(|&(_, _, a)| a);
        let uniform = first.filter(|&a| {
            schedule.is_none()
                && covered == u64::from(n_buckets.get())
                && table.iter().all(|&(_, _, b)| b == a)
        });
        let schedule = schedule.map(|s| {
            let mut steps = s.steps.clone();
            steps.sort_by_key(|&(t, _)| t);
            Box::new(CSchedule { base: s.base, steps: steps.into_boxed_slice(), on: 0, off: 1 })
        });
        Some(CRule {
            name: rule.name.as_str().into(),
            enabled: rule.enabled,
            segment,
            selector: AttrPath::new(&rule.targeting_key_selector),
            n_buckets,
            table: table.into_boxed_slice(),
            assignments: assignments.into_boxed_slice(),
            uniform,
            is_split: variant_outcomes.len() > 1,
            schedule,
            scheme: {
                let spec = &rule.assignment_spec;
                let group = || -> Box<str> {
                    spec.group
                        .as_deref()
                        .unwrap_or_else(|| flag_name.strip_prefix("flags/").unwrap_or(&flag_name))
                        .into()
                };
                match spec.scheme {
                    flagstone_model::flag::BucketScheme::Confidence => CScheme::Confidence,
                    flagstone_model::flag::BucketScheme::Unleash => {
                        CScheme::Unleash { group: group(), seed: spec.seed.unwrap_or(0) }
                    }
                    flagstone_model::flag::BucketScheme::Flagd => CScheme::Flagd { group: group() },
                }
            },
            materialization: rule.materialization_spec.as_ref().map(|m| {
                let name = |s: &str| (!s.is_empty()).then(|| Box::<str>::from(s));
                Box::new(CMaterialization {
                    read: name(&m.read_materialization),
                    write: name(&m.write_materialization),
                    must_match: m.mode.materialization_must_match,
                    ignore_targeting: m.mode.segment_targeting_can_be_ignored,
                })
            }),
        })
    }

    fn flag_name(&self, flag_idx: usize) -> String {
        self.flag_names.get(flag_idx).cloned().unwrap_or_default()
    }

    /// Rejects reference chains longer than [`MAX_REFERENCE_DEPTH`] flags and
    /// segments, and flags whose worst-case evaluation would visit more than
    /// [`MAX_EVALUATION_COST`] criteria (diamonds of references multiply: a
    /// segment referring twice to one that refers twice to the next …).
    ///
    /// Both are properties of the config, so evaluation time and recursion
    /// depth are bounded at compile time, never by input.
    fn check_references(&mut self, engine: &Engine, flags: &[(&Flag, String)]) {
        let n_flags = engine.flags.len();
        let n = n_flags + engine.segments.len();
        // Edges with multiplicity (for cost) and the criteria each node evaluates itself.
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut own = vec![0u64; n];
        for (f, flag) in engine.flags.iter().enumerate() {
            if let (Some(list), Some(o)) = (edges.get_mut(f), own.get_mut(f)) {
                list.extend(flag.rules.iter().map(|r| n_flags + r.segment as usize));
                *o = flag.rules.len() as u64;
            }
        }
        for (s, segment) in engine.segments.iter().enumerate() {
            let (Some(list), Some(o)) = (edges.get_mut(n_flags + s), own.get_mut(n_flags + s))
            else {
                continue;
            };
            *o = segment.targeting.criteria.len() as u64;
            for c in &segment.targeting.criteria {
                match c {
                    CCriterion::Segment(t) => list.push(n_flags + *t as usize),
                    CCriterion::Dependency(flag, _) => list.push(flag.index()),
                    _ => {}
                }
            }
        }
        // Validation has rejected cycles; a cycle here would be a validation gap.
        let Ok(order) = graph::dependency_order(&edges) else {
            self.literal_error("", "reference cycle not caught by validation");
            return;
        };
        let mut depth = vec![0usize; n];
        let mut cost = vec![0u64; n];
        let mut next = vec![usize::MAX; n];
        for &v in &order {
            let children = edges.get(v).map(Vec::as_slice).unwrap_or_default();
            let deepest =
                children.iter().copied().max_by_key(|&w| depth.get(w).copied().unwrap_or(0));
            let below = deepest.and_then(|w| depth.get(w)).copied().unwrap_or(0);
            let total = children.iter().fold(own.get(v).copied().unwrap_or(0), |acc, &w| {
                acc.saturating_add(cost.get(w).copied().unwrap_or(0))
            });
            if let (Some(d), Some(c), Some(nx)) =
                (depth.get_mut(v), cost.get_mut(v), next.get_mut(v))
            {
                *d = below + 1;
                *c = total;
                *nx = deepest.unwrap_or(usize::MAX);
            }
        }
        let name = |v: usize| -> String {
            if v < n_flags {
                engine.flags.get(v).map(|f| f.name.to_string()).unwrap_or_default()
            } else {
                engine.segments.get(v - n_flags).map(|s| s.name.to_string()).unwrap_or_default()
            }
        };
        for (f, (_, path)) in flags.iter().enumerate() {
            let d = depth.get(f).copied().unwrap_or(0);
            if d > MAX_REFERENCE_DEPTH {
                let mut chain = vec![name(f)];
                let mut at = next.get(f).copied().unwrap_or(usize::MAX);
                while at != usize::MAX {
                    chain.push(name(at));
                    at = next.get(at).copied().unwrap_or(usize::MAX);
                }
                self.errors.push(CompileError::TooDeep {
                    path: path.clone(),
                    depth: d,
                    limit: MAX_REFERENCE_DEPTH,
                    chain,
                });
                // One report names the problem; the flags above it in the chain add nothing.
                return;
            }
            let c = cost.get(f).copied().unwrap_or(0);
            if c > MAX_EVALUATION_COST {
                self.errors.push(CompileError::TooCostly {
                    path: path.clone(),
                    cost: c,
                    limit: MAX_EVALUATION_COST,
                });
                return;
            }
        }
    }
}

/// For each flag, the sticky rules its evaluation can reach through segment
/// references and dependencies (breadth-first, so no recursion on input).
fn sticky_reach(
    flags: &[CFlag],
    segments: &[CSegment],
    sticky_rules: &[(u32, u32)],
) -> Box<[Box<[u32]>]> {
    if sticky_rules.is_empty() {
        return Box::default();
    }
    let n_flags = flags.len();
    (0..n_flags)
        .map(|start| {
            let mut seen = vec![false; n_flags + segments.len()];
            let mut queue = std::collections::VecDeque::from([start]);
            let mut reached_flags = Vec::new();
            while let Some(v) = queue.pop_front() {
                if seen.get(v).copied().unwrap_or(true) {
                    continue;
                }
                if let Some(slot) = seen.get_mut(v) {
                    *slot = true;
                }
                if let Some(flag) = flags.get(v) {
                    reached_flags.push(v);
                    queue.extend(flag.rules.iter().map(|r| n_flags + r.segment as usize));
                } else if let Some(segment) = v.checked_sub(n_flags).and_then(|s| segments.get(s)) {
                    for c in &segment.targeting.criteria {
                        match c {
                            CCriterion::Segment(t) => queue.push_back(n_flags + *t as usize),
                            CCriterion::Dependency(flag, _) => queue.push_back(flag.index()),
                            _ => {}
                        }
                    }
                }
            }
            sticky_rules
                .iter()
                .enumerate()
                .filter(|(_, (f, _))| reached_flags.contains(&(*f as usize)))
                .map(|(i, _)| index_u32(i))
                .collect()
        })
        .collect()
}

/// Flattens an expression post-order; the root is the last node.
fn flatten(
    expr: &Expression,
    index: &HashMap<&str, u32>,
    nodes: &mut Vec<Node>,
    children: &mut Vec<u32>,
) -> u32 {
    let node = match expr {
        Expression::Ref(id) => match index.get(id.as_str()) {
            Some(&c) => Node::Crit(c),
            None => Node::Const(false),
        },
        Expression::Not(inner) => Node::Not(flatten(inner, index, nodes, children)),
        Expression::And(ops) | Expression::Or(ops) => {
            let kids: Vec<u32> =
                ops.operands.iter().map(|o| flatten(o, index, nodes, children)).collect();
            let start = index_u32(children.len());
            children.extend(&kids);
            if matches!(expr, Expression::And(_)) {
                Node::And(start, index_u32(kids.len()))
            } else {
                Node::Or(start, index_u32(kids.len()))
            }
        }
    };
    nodes.push(node);
    index_u32(nodes.len() - 1)
}

/// Indices fit in `u32`: configs are bounded far below 4 billion entries.
fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}
