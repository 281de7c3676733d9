//! The compiled engine and the one walk that `evaluate` and `explain` share.

use crate::bucket::{bucket_of, flagd_bucket, unleash_normalized};
use crate::context::{AttrPath, EvaluationContext, Unit, UnitError};
use crate::matcher::{AttrMatcher, Outcome, PropMatcher};
use crate::resolution::{FlagId, Reason, Resolution};
use flagstone_model::flag::BucketRange;
use flagstone_model::segment::ALLOCATION_BUCKETS;
use flagstone_model::targeting::GroupOperator;
use jiff::Timestamp;
use serde_json::Value;
use std::collections::HashMap;
use std::num::NonZeroU32;

pub use flagstone_model::limits::{MAX_EVALUATION_COST, MAX_REFERENCE_DEPTH};

/// A compiled config: immutable, `Send + Sync`, cheap to share behind an `Arc`.
///
/// Build one with [`Engine::compile`]; swap engines atomically with
/// [`crate::EngineHandle`].
#[derive(Debug)]
pub struct Engine {
    pub(crate) flags: Box<[CFlag]>,
    pub(crate) flag_ids: HashMap<Box<str>, FlagId>,
    pub(crate) segments: Box<[CSegment]>,
    pub(crate) groups: Box<[CGroup]>,
    pub(crate) allocation_salt: Box<str>,
    /// `(flag, rule)` of every rule that reads a materialization.
    pub(crate) sticky_rules: Box<[(u32, u32)]>,
    /// Per flag, the indices into `sticky_rules` that its evaluation can reach
    /// (its own rules and those of flags it depends on); empty when the config
    /// has no sticky rules.
    pub(crate) sticky_reach: Box<[Box<[u32]>]>,
}

#[derive(Debug)]
pub(crate) struct CFlag {
    pub(crate) name: Box<str>,
    pub(crate) archived: bool,
    pub(crate) variants: Box<[CVariant]>,
    pub(crate) rules: Box<[CRule]>,
}

#[derive(Debug)]
pub(crate) struct CVariant {
    pub(crate) name: Box<str>,
    pub(crate) value: Value,
}

#[derive(Debug)]
pub(crate) struct CRule {
    pub(crate) name: Box<str>,
    pub(crate) enabled: bool,
    pub(crate) segment: u32,
    pub(crate) selector: AttrPath,
    pub(crate) n_buckets: NonZeroU32,
    /// Sorted, disjoint `(lower, upper, assignment)`.
    pub(crate) table: Box<[(u32, u32, u32)]>,
    pub(crate) assignments: Box<[CAssignment]>,
    /// The assignment every bucket gets, when there is only one.
    pub(crate) uniform: Option<u32>,
    /// More than one variant among the assignments (OpenFeature `SPLIT`).
    pub(crate) is_split: bool,
    /// A reach that follows a schedule (lowered rollouts and CloudBees schedules).
    pub(crate) schedule: Option<Box<CSchedule>>,
    /// Sticky assignments (see [`crate::sticky`]).
    pub(crate) materialization: Option<Box<CMaterialization>>,
    /// How units hash into buckets.
    pub(crate) scheme: CScheme,
}

/// A compiled bucketing scheme (`assignmentSpec.scheme`).
#[derive(Debug)]
pub(crate) enum CScheme {
    Confidence,
    Unleash { group: Box<str>, seed: u32 },
    Flagd { group: Box<str> },
}

impl CScheme {
    /// The unit's bucket in `[0, n)`.
    #[inline]
    fn bucket(&self, hash_id: &str, unit: &str, n: NonZeroU32) -> u32 {
        match self {
            CScheme::Confidence => bucket_of(hash_id, unit, n),
            // Unleash's normalizedHash is 1-based; ranges are 0-based.
            CScheme::Unleash { group, seed } => unleash_normalized(group, unit, *seed, n) - 1,
            CScheme::Flagd { group } => flagd_bucket(&[group, unit], n),
        }
    }
}

/// A compiled `materializationSpec`.
#[derive(Debug)]
pub(crate) struct CMaterialization {
    pub(crate) read: Option<Box<str>>,
    pub(crate) write: Option<Box<str>>,
    pub(crate) must_match: bool,
    pub(crate) ignore_targeting: bool,
}

/// Buckets below the scheduled threshold get assignment `on`, the rest `off`.
#[derive(Debug)]
pub(crate) struct CSchedule {
    /// The threshold before the first step.
    pub(crate) base: u32,
    /// `(from, threshold)`, sorted by time.
    pub(crate) steps: Box<[(Timestamp, u32)]>,
    pub(crate) on: u32,
    pub(crate) off: u32,
}

impl CSchedule {
    /// The threshold in force at `now`: the latest step with `from` ≤ now (binary search).
    #[inline]
    pub(crate) fn threshold(&self, now: Timestamp) -> u32 {
        let i = self.steps.partition_point(|&(from, _)| from <= now);
        match i.checked_sub(1).and_then(|last| self.steps.get(last)) {
            Some(&(_, threshold)) => threshold,
            None => self.base,
        }
    }
}

impl CRule {
    #[inline]
    fn assignment_of(&self, bucket: u32) -> Option<(u32, u32, u32)> {
        let i = self.table.partition_point(|&(_, upper, _)| upper <= bucket);
        self.table.get(i).copied().filter(|&(lower, _, _)| lower <= bucket)
    }
}

#[derive(Debug)]
pub(crate) struct CAssignment {
    pub(crate) id: Box<str>,
    pub(crate) outcome: COutcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum COutcome {
    Variant(u32),
    Fallthrough,
    ClientDefault,
}

#[derive(Debug)]
pub(crate) struct CSegment {
    pub(crate) name: Box<str>,
    /// The part after `segments/`, hashed with the unit.
    pub(crate) hash_id: Box<str>,
    pub(crate) targeting: CTargeting,
    pub(crate) allocation: CAlloc,
}

#[derive(Debug)]
pub(crate) enum CAlloc {
    Whole,
    Below(u32),
    Ranges(Box<[BucketRange]>),
    Nobody,
}

#[derive(Debug, Default)]
pub(crate) struct CTargeting {
    pub(crate) criteria: Box<[CCriterion]>,
    pub(crate) ids: Box<[Box<str>]>,
    /// True when there is no expression: every criterion AND-ed, in id order,
    /// evaluated by a plain loop (the common shape).
    pub(crate) all_of: bool,
    pub(crate) nodes: Box<[Node]>,
    pub(crate) children: Box<[u32]>,
}

/// An expression node; `And`/`Or` hold `(start, len)` into `children`. The root is the last node.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Node {
    Const(bool),
    Crit(u32),
    Not(u32),
    And(u32, u32),
    Or(u32, u32),
}

#[derive(Debug)]
pub(crate) enum CCriterion {
    Attr(AttrPath, AttrMatcher),
    Prop(AttrPath, PropMatcher),
    Segment(u32),
    Group(GroupOperator, Box<[u32]>),
    Dependency(FlagId, DepExpect),
    /// Never holds: stands in for a criterion validation would have rejected (compile
    /// asserts in debug builds before it falls back to this).
    Never,
}

#[derive(Debug)]
pub(crate) enum DepExpect {
    Variant(u32),
    Value(Value),
}

#[derive(Debug)]
pub(crate) struct CGroup {
    pub(crate) any: bool,
    pub(crate) conditions: Box<[(AttrPath, PropMatcher)]>,
}

/// Why a rule did not decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    Disabled,
    NoUnit,
    BadUnit(UnitError),
    Targeting,
    Allocation,
    NoAssignment,
    Fallthrough,
    NotMaterialized,
}

/// Observes the walk. Every method defaults to nothing, so the no-op recorder compiles away.
pub(crate) trait Recorder {
    fn rule(&mut self, _rule_idx: usize) {}
    fn skip(&mut self, _why: Skip) {}
    fn unit(&mut self, _unit: &str) {}
    fn criterion(&mut self, _criterion_idx: usize, _outcome: Outcome) {}
    fn targeting(&mut self, _matched: bool) {}
    fn allocation(&mut self, _bucket: Option<u32>, _inside: bool) {}
    fn assignment(
        &mut self,
        _bucket: Option<u32>,
        _range: Option<(u32, u32)>,
        _assignment_idx: Option<u32>,
    ) {
    }
}

/// The recorder of plain evaluation.
pub(crate) struct NoRecorder;

impl Recorder for NoRecorder {}

/// Per-call state: dependency memo (inline, no allocation) and the clock read once.
pub(crate) struct Walk {
    memo: [(u32, Option<u32>); 8],
    n_memo: usize,
    now: Option<Timestamp>,
    depth: usize,
    /// Prefetched materializations; `None` on the plain path, which never touches a store.
    pub(crate) sticky: Option<crate::sticky::StickyView>,
}

impl Walk {
    pub(crate) fn new(now: Option<Timestamp>) -> Self {
        Walk { memo: [(0, None); 8], n_memo: 0, now, depth: 0, sticky: None }
    }

    /// The evaluation time: the caller's, else the system clock read once per call.
    pub(crate) fn now(&mut self) -> Timestamp {
        *self.now.get_or_insert_with(Timestamp::now)
    }
}

impl Engine {
    /// The id of a flag by full name (`flags/dark-mode`) or id (`dark-mode`).
    pub fn flag_id(&self, name: &str) -> Option<FlagId> {
        self.flag_ids.get(name).copied()
    }

    /// The number of flags (CloudBees experiments included).
    pub fn n_flags(&self) -> usize {
        self.flags.len()
    }

    /// Every flag id, in config order.
    pub fn flag_ids(&self) -> impl ExactSizeIterator<Item = FlagId> + '_ {
        (0..self.flags.len()).map(|i| FlagId(u32::try_from(i).unwrap_or(u32::MAX)))
    }

    /// The full name of a flag.
    pub fn flag_name(&self, flag: FlagId) -> Option<&str> {
        self.flags.get(flag.index()).map(|f| &*f.name)
    }

    /// Evaluates one flag for a context. Never fails and never allocates:
    /// every outcome is a [`Reason`].
    pub fn evaluate<'e>(&'e self, flag: FlagId, ctx: &EvaluationContext<'_>) -> Resolution<'e> {
        let mut walk = Walk::new(ctx.now());
        self.resolve(flag.0, ctx, &mut walk, &mut NoRecorder)
    }

    /// Evaluates a flag by name; an unknown name gives [`Reason::FlagNotFound`].
    pub fn evaluate_name<'a>(
        &'a self,
        name: &'a str,
        ctx: &EvaluationContext<'_>,
    ) -> Resolution<'a> {
        match self.flag_id(name) {
            Some(id) => self.evaluate(id, ctx),
            None => Resolution::empty(name, Reason::FlagNotFound),
        }
    }

    /// Evaluates every flag, in config order.
    pub fn evaluate_all<'e, 'c>(
        &'e self,
        ctx: &'c EvaluationContext<'c>,
    ) -> impl ExactSizeIterator<Item = Resolution<'e>> + use<'e, 'c> {
        self.flag_ids().map(move |id| self.evaluate(id, ctx))
    }

    /// The walk: rules in order, the first that decides wins (spec §2.2).
    pub(crate) fn resolve<'e, R: Recorder>(
        &'e self,
        flag_idx: u32,
        ctx: &EvaluationContext<'_>,
        walk: &mut Walk,
        rec: &mut R,
    ) -> Resolution<'e> {
        let Some(flag) = self.flags.get(flag_idx as usize) else {
            return Resolution::empty("", Reason::FlagNotFound);
        };
        if flag.archived {
            return Resolution::empty(&flag.name, Reason::FlagArchived);
        }
        for (rule_idx, rule) in flag.rules.iter().enumerate() {
            rec.rule(rule_idx);
            if !rule.enabled {
                rec.skip(Skip::Disabled);
                continue;
            }
            let Some(segment) = self.segments.get(rule.segment as usize) else { continue };
            let unit = match Unit::read(rule.selector.lookup(ctx)) {
                Ok(unit) => unit,
                Err(e) => {
                    rec.skip(Skip::BadUnit(e));
                    return Resolution::empty(&flag.name, Reason::TargetingKeyError);
                }
            };
            if let Some(u) = &unit {
                rec.unit(u.as_str());
            } else if rule.uniform.is_none() || !matches!(segment.allocation, CAlloc::Whole) {
                // The unit is needed to bucket; without it the rule cannot match.
                rec.skip(Skip::NoUnit);
                continue;
            }
            if let Some(m) = &rule.materialization {
                match self.stored_variant(flag, rule, m, unit.as_ref(), walk) {
                    Some(v) => {
                        let matched = m.ignore_targeting
                            || self.targeting(&segment.targeting, ctx, unit.as_ref(), walk, rec);
                        rec.targeting(matched);
                        if !matched {
                            rec.skip(Skip::Targeting);
                            continue;
                        }
                        let variant = flag.variants.get(v as usize);
                        return Resolution {
                            variant: variant.map(|x| &*x.name),
                            value: variant.map(|x| &x.value),
                            reason: Reason::Match,
                            rule: Some(&rule.name),
                            segment: Some(&segment.name),
                            targeting_key_selector: Some(rule.selector.as_str()),
                            variant_idx: Some(v),
                            is_split: rule.is_split,
                            materialized: true,
                            ..Resolution::empty(&flag.name, Reason::Match)
                        };
                    }
                    None if m.must_match => {
                        rec.skip(Skip::NotMaterialized);
                        continue;
                    }
                    None => {}
                }
            }
            let matched = self.targeting(&segment.targeting, ctx, unit.as_ref(), walk, rec);
            rec.targeting(matched);
            if !matched {
                rec.skip(Skip::Targeting);
                continue;
            }
            if !self.allocated(&segment.allocation, unit.as_ref(), rec) {
                rec.skip(Skip::Allocation);
                continue;
            }
            let (bucket, hit) = match (rule.uniform, &unit) {
                (Some(a), _) => (None, Some((0, rule.n_buckets.get(), a))),
                (None, Some(u)) => {
                    let b = rule.scheme.bucket(&segment.hash_id, u.as_str(), rule.n_buckets);
                    let hit = match &rule.schedule {
                        Some(s) => {
                            let k = s.threshold(walk.now());
                            Some(if b < k {
                                (0, k, s.on)
                            } else {
                                (k, rule.n_buckets.get(), s.off)
                            })
                        }
                        None => rule.assignment_of(b),
                    };
                    (Some(b), hit)
                }
                (None, None) => (None, None),
            };
            rec.assignment(bucket, hit.map(|(l, u, _)| (l, u)), hit.map(|(_, _, a)| a));
            let Some((_, _, a_idx)) = hit else {
                rec.skip(Skip::NoAssignment);
                continue;
            };
            let Some(assignment) = rule.assignments.get(a_idx as usize) else { continue };
            let variant_idx = match assignment.outcome {
                COutcome::Fallthrough => {
                    rec.skip(Skip::Fallthrough);
                    continue;
                }
                COutcome::ClientDefault => None,
                COutcome::Variant(v) => Some(v),
            };
            let variant = variant_idx.and_then(|v| flag.variants.get(v as usize));
            if let (Some(m), Some(u), Some(v), Some(view)) =
                (&rule.materialization, &unit, variant, walk.sticky.as_mut())
                && let Some(write) = &m.write
            {
                view.write(write, u.as_str(), &rule.name, &v.name);
            }
            return Resolution {
                flag: &flag.name,
                variant: variant.map(|v| &*v.name),
                value: variant.map(|v| &v.value),
                reason: Reason::Match,
                rule: Some(&rule.name),
                segment: Some(&segment.name),
                assignment_id: Some(&assignment.id),
                bucket,
                is_split: rule.is_split,
                variant_idx,
                targeting_key_selector: Some(rule.selector.as_str()),
                materialized: false,
            };
        }
        Resolution::empty(&flag.name, Reason::NoSegmentMatch)
    }

    /// The variant stored for this unit and rule, when the walk has a store view.
    fn stored_variant(
        &self,
        flag: &CFlag,
        rule: &CRule,
        m: &CMaterialization,
        unit: Option<&Unit<'_>>,
        walk: &Walk,
    ) -> Option<u32> {
        let (read, unit, view) = (m.read.as_deref()?, unit?, walk.sticky.as_ref()?);
        let name = view.stored(read, unit.as_str(), &rule.name)?;
        // A variant removed since it was stored no longer exists: treat the unit as new.
        flag.variants.iter().position(|v| &*v.name == name).and_then(|i| u32::try_from(i).ok())
    }

    fn allocated<R: Recorder>(
        &self,
        allocation: &CAlloc,
        unit: Option<&Unit<'_>>,
        rec: &mut R,
    ) -> bool {
        let bucket =
            || unit.map(|u| bucket_of(&self.allocation_salt, u.as_str(), ALLOCATION_BUCKETS_NZ));
        let (bucket, inside) = match allocation {
            CAlloc::Whole => return true,
            CAlloc::Nobody => (None, false),
            CAlloc::Below(threshold) => {
                let b = bucket();
                (b, b.is_some_and(|b| b < *threshold))
            }
            CAlloc::Ranges(ranges) => {
                let b = bucket();
                (b, b.is_some_and(|b| ranges.iter().any(|r| r.contains(b))))
            }
        };
        rec.allocation(bucket, inside);
        inside
    }

    /// Evaluates a targeting expression; criteria are evaluated on demand (short-circuit).
    fn targeting<R: Recorder>(
        &self,
        t: &CTargeting,
        ctx: &EvaluationContext<'_>,
        unit: Option<&Unit<'_>>,
        walk: &mut Walk,
        rec: &mut R,
    ) -> bool {
        if t.all_of {
            for (i, criterion) in t.criteria.iter().enumerate() {
                let outcome = self.criterion(criterion, ctx, unit, walk);
                rec.criterion(i, outcome);
                if !outcome.is_true() {
                    return false;
                }
            }
            return true;
        }
        match t.nodes.len().checked_sub(1) {
            Some(root) => self.node(t, root, ctx, unit, walk, rec),
            None => true,
        }
    }

    fn node<R: Recorder>(
        &self,
        t: &CTargeting,
        idx: usize,
        ctx: &EvaluationContext<'_>,
        unit: Option<&Unit<'_>>,
        walk: &mut Walk,
        rec: &mut R,
    ) -> bool {
        let Some(&node) = t.nodes.get(idx) else { return false };
        let kids = |start: u32, len: u32| {
            t.children
                .get(start as usize..(start + len) as usize)
                .unwrap_or_default()
                .iter()
                .map(|&c| c as usize)
        };
        match node {
            Node::Const(b) => b,
            Node::Crit(c) => {
                let outcome = match t.criteria.get(c as usize) {
                    Some(criterion) => self.criterion(criterion, ctx, unit, walk),
                    None => Outcome::False,
                };
                rec.criterion(c as usize, outcome);
                outcome.is_true()
            }
            Node::Not(child) => !self.node(t, child as usize, ctx, unit, walk, rec),
            Node::And(start, len) => {
                kids(start, len).all(|k| self.node(t, k, ctx, unit, walk, rec))
            }
            Node::Or(start, len) => kids(start, len).any(|k| self.node(t, k, ctx, unit, walk, rec)),
        }
    }

    fn criterion(
        &self,
        criterion: &CCriterion,
        ctx: &EvaluationContext<'_>,
        unit: Option<&Unit<'_>>,
        walk: &mut Walk,
    ) -> Outcome {
        match criterion {
            CCriterion::Attr(path, matcher) => matcher.check(path.lookup(ctx)),
            CCriterion::Prop(path, matcher) => matcher.check(path.lookup(ctx)),
            CCriterion::Segment(s) => {
                let Some(segment) = self.segments.get(*s as usize) else { return Outcome::False };
                let matched = self.targeting(&segment.targeting, ctx, unit, walk, &mut NoRecorder)
                    && self.allocated(&segment.allocation, unit, &mut NoRecorder);
                Outcome::from_bool(matched)
            }
            CCriterion::Group(op, groups) => {
                let mut each = groups.iter().map(|&g| self.group(g, ctx));
                Outcome::from_bool(match op {
                    GroupOperator::Or => each.any(|m| m),
                    GroupOperator::And => each.all(|m| m),
                    GroupOperator::Not => !each.any(|m| m),
                })
            }
            CCriterion::Dependency(flag, expect) => {
                let variant = self.dependency(*flag, ctx, walk);
                let holds = match (expect, variant) {
                    (DepExpect::Variant(want), Some(got)) => *want == got,
                    (DepExpect::Value(want), Some(got)) => self
                        .flags
                        .get(flag.index())
                        .and_then(|f| f.variants.get(got as usize))
                        .is_some_and(|v| json_equal(&v.value, want)),
                    (_, None) => false,
                };
                Outcome::from_bool(holds)
            }
            CCriterion::Never => Outcome::False,
        }
    }

    fn group(&self, g: u32, ctx: &EvaluationContext<'_>) -> bool {
        let Some(group) = self.groups.get(g as usize) else { return false };
        let mut each = group.conditions.iter().map(|(path, m)| m.check(path.lookup(ctx)).is_true());
        if group.any { each.any(|m| m) } else { each.all(|m| m) }
    }

    /// The variant another flag resolves to for the same context, memoised within the call.
    fn dependency(
        &self,
        flag: FlagId,
        ctx: &EvaluationContext<'_>,
        walk: &mut Walk,
    ) -> Option<u32> {
        if let Some(&(_, v)) =
            walk.memo.get(..walk.n_memo).unwrap_or_default().iter().find(|(f, _)| *f == flag.0)
        {
            return v;
        }
        if walk.depth >= MAX_REFERENCE_DEPTH {
            // Compile rejects deeper chains; this is a safe fallback, never reached.
            debug_assert!(false, "dependency chain deeper than compile allowed");
            return None;
        }
        walk.depth += 1;
        let variant = self.resolve(flag.0, ctx, walk, &mut NoRecorder).variant_idx;
        walk.depth -= 1;
        if let Some(slot) = walk.memo.get_mut(walk.n_memo) {
            *slot = (flag.0, variant);
            walk.n_memo += 1;
        }
        variant
    }
}

const ALLOCATION_BUCKETS_NZ: NonZeroU32 = match NonZeroU32::new(ALLOCATION_BUCKETS) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// JSON equality with numbers compared numerically (`1` equals `1.0`).
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}
