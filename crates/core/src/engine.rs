//! The engine and the one walk that `evaluate`, `explain` and `evaluate_sticky` share.
//!
//! The walk reads the compiled types of [`crate::compiled`], which compile builds,
//! and carries its per-call state in a [`Walk`].

use crate::bucket::bucket_of;
use crate::compiled::{
    self, Allocation, Decision, DepExpect, GroupIdx, Node, SegmentIdx, Span, StickyRule, VariantIdx,
};
use crate::context::{EvaluationContext, Unit};
use crate::matcher::Outcome;
use crate::resolution::{FlagId, Reason, Resolution};
use crate::sticky::{AssignmentStore, MaterializationKey, Persistence, StickyEvaluation};
use crate::walk::{NoRecorder, Recorder, Skip, Walk};
use flagstone_model::segment::ALLOCATION_BUCKETS;
use flagstone_model::targeting::GroupOperator;
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
    pub(crate) flags: Box<[compiled::Flag]>,
    pub(crate) flag_ids: HashMap<Box<str>, FlagId>,
    pub(crate) segments: Box<[compiled::Segment]>,
    pub(crate) groups: Box<[compiled::Group]>,
    pub(crate) allocation_salt: Box<str>,
    /// Per flag, every rule that reads or writes a materialization and that its evaluation can
    /// reach (its own rules and those of flags it depends on), in config order; empty
    /// when the config has no sticky rules.
    pub(crate) sticky_reach: Box<[Box<[StickyRule]>]>,
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
        self.flags.iter().map(|f| f.id)
    }

    /// The full name of a flag.
    pub fn flag_name(&self, flag: FlagId) -> Option<&str> {
        self.flags.get(flag.index()).map(|f| &*f.name)
    }

    /// Evaluates one flag for a context. Never fails and never allocates:
    /// every outcome is a [`Reason`].
    ///
    /// An id this engine did not give (one kept from an engine before a swap, for a
    /// flag past this engine's last) resolves to [`Reason::FlagNotFound`] with an empty
    /// flag name: there is no name to report.
    pub fn evaluate<'e>(&'e self, flag: FlagId, ctx: &EvaluationContext<'_>) -> Resolution<'e> {
        match self.flags.get(flag.index()) {
            Some(flag) => self.resolve(flag, ctx, &mut Walk::new(ctx.now()), &mut NoRecorder),
            None => Resolution::empty("", Reason::FlagNotFound),
        }
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

    /// Evaluates `flags` with sticky assignments: one store read before, one write after.
    ///
    /// Rules without a `materializationSpec` behave exactly as in
    /// [`Engine::evaluate`]. Store errors never fail the call: a failed read
    /// evaluates as if nothing were stored and is reported in
    /// [`StickyEvaluation::read_error`]; a failed write is reported in
    /// [`StickyEvaluation::persistence`]. An id this engine did not give resolves
    /// as in [`Engine::evaluate`].
    pub fn evaluate_sticky<'e>(
        &'e self,
        flags: &[FlagId],
        ctx: &EvaluationContext<'_>,
        store: &dyn AssignmentStore,
    ) -> StickyEvaluation<'e> {
        let keys = self.materialization_keys(flags, ctx);
        let (stored, read_error) = if keys.is_empty() {
            (Vec::new(), None)
        } else {
            match store.get_many(&keys) {
                Ok(values) => (
                    keys.into_iter().zip(values).filter_map(|(k, v)| Some((k, v?))).collect(),
                    None,
                ),
                Err(e) => (Vec::new(), Some(e)),
            }
        };
        let mut walk = Walk::sticky(ctx.now(), stored);
        let resolutions = flags
            .iter()
            .map(|&id| match self.flags.get(id.index()) {
                Some(flag) => self.resolve(flag, ctx, &mut walk, &mut NoRecorder),
                None => Resolution::empty("", Reason::FlagNotFound),
            })
            .collect();
        let writes = walk.into_writes();
        let persistence = if writes.is_empty() {
            Persistence::NothingToWrite
        } else {
            match store.put_many(&writes) {
                Ok(()) => Persistence::Stored(writes.len()),
                Err(e) => Persistence::Failed(e),
            }
        };
        StickyEvaluation { resolutions, read_error, persistence }
    }

    /// Whether evaluating `flags` can read or write an [`AssignmentStore`]: some rule
    /// they can reach (dependencies included) has a `materializationSpec`.
    ///
    /// When it is false, [`Engine::evaluate_sticky`] never calls the store and gives
    /// what [`Engine::evaluate`] gives, so a caller whose store is remote can keep
    /// such requests on its fast path.
    pub fn uses_store(&self, flags: &[FlagId]) -> bool {
        flags.iter().any(|f| self.sticky_reach.get(f.index()).is_some_and(|r| !r.is_empty()))
    }

    /// The keys [`Engine::evaluate_sticky`] reads for `flags` and `ctx`, in the
    /// order it passes them to [`AssignmentStore::get_many`]: for each rule they
    /// can reach that reads a materialization, its unit. Empty when nothing needs
    /// reading. A caller that must fetch them on its own terms (off an async
    /// executor, under a timeout) fetches these first and hands the answers to
    /// `evaluate_sticky` through a store that already holds them.
    pub fn materialization_keys(
        &self,
        flags: &[FlagId],
        ctx: &EvaluationContext<'_>,
    ) -> Vec<MaterializationKey> {
        let mut keys: Vec<MaterializationKey> = Vec::new();
        let reachable = flags
            .iter()
            .flat_map(|f| self.sticky_reach.get(f.index()).map(|r| &r[..]).unwrap_or_default());
        for &StickyRule { flag, rule_idx } in reachable {
            let rule = self.flags.get(flag.index()).and_then(|f| f.rules.get(rule_idx));
            debug_assert!(rule.is_some(), "sticky rule {flag:?}/{rule_idx} out of range");
            let Some(rule) = rule else { continue };
            let Some(read) = rule.materialization.as_ref().and_then(|m| m.read.as_deref()) else {
                continue;
            };
            if let Ok(Some(unit)) = Unit::read(rule.selector.lookup(ctx)) {
                let key = MaterializationKey {
                    materialization: read.to_owned(),
                    unit: unit.as_str().to_owned(),
                };
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    /// The segment at `idx`: compile numbers segments and builds every index into
    /// them, so it is always there.
    #[inline]
    pub(crate) fn segment(&self, idx: SegmentIdx) -> Option<&compiled::Segment> {
        let segment = self.segments.get(idx.index());
        debug_assert!(segment.is_some(), "no segment {idx:?}");
        segment
    }

    /// A flag a compiled dependency names: always there, as for [`Engine::segment`].
    #[inline]
    fn dependency_flag(&self, id: FlagId) -> Option<&compiled::Flag> {
        let flag = self.flags.get(id.index());
        debug_assert!(flag.is_some(), "no flag {id:?}");
        flag
    }

    /// The walk: rules in order, the first that decides wins (spec §2.2).
    pub(crate) fn resolve<'e, R: Recorder>(
        &'e self,
        flag: &'e compiled::Flag,
        ctx: &EvaluationContext<'_>,
        walk: &mut Walk,
        rec: &mut R,
    ) -> Resolution<'e> {
        if flag.archived {
            return Resolution::empty(&flag.name, Reason::FlagArchived);
        }
        for (rule_idx, rule) in flag.rules.iter().enumerate() {
            rec.rule(rule_idx);
            if !rule.enabled {
                rec.skip(Skip::Disabled);
                continue;
            }
            let Some(segment) = self.segment(rule.segment) else { continue };
            let unit = match Unit::read(rule.selector.lookup(ctx)) {
                Ok(unit) => unit,
                Err(e) => {
                    rec.skip(Skip::BadUnit(e));
                    return Resolution::empty(&flag.name, Reason::TargetingKeyError);
                }
            };
            if let Some(u) = &unit {
                rec.unit(u.as_str());
            } else if rule.uniform.is_none() || !matches!(segment.allocation, Allocation::Whole) {
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
                        let variant = flag.variant(v);
                        return Resolution {
                            variant: variant.map(|x| &*x.name),
                            value: variant.map(|x| &x.value),
                            reason: Reason::Match,
                            rule: Some(&rule.name),
                            segment: Some(&segment.name),
                            targeting_key_selector: Some(rule.selector.as_str()),
                            variant_idx: Some(v.0),
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
            let (bucket, span) = match (rule.uniform, &unit) {
                (Some(assignment), _) => {
                    (None, Some(Span { lower: 0, upper: rule.n_buckets.get(), assignment }))
                }
                (None, Some(u)) => {
                    let b = rule.scheme.bucket(&segment.hash_id, u.as_str(), rule.n_buckets);
                    let span = match &rule.schedule {
                        Some(s) => Some(s.span_of(b, walk.now(), rule.n_buckets)),
                        None => rule.span_of(b),
                    };
                    (Some(b), span)
                }
                (None, None) => (None, None),
            };
            rec.assignment(bucket, span);
            let Some(span) = span else {
                rec.skip(Skip::NoAssignment);
                continue;
            };
            let Some(assignment) = rule.assignment(span.assignment) else { continue };
            let variant_idx = match assignment.decision {
                Decision::Fallthrough => {
                    rec.skip(Skip::Fallthrough);
                    continue;
                }
                Decision::ClientDefault => None,
                Decision::Variant(v) => Some(v),
            };
            let variant = variant_idx.and_then(|v| flag.variant(v));
            if let (Some(m), Some(u), Some(v)) = (&rule.materialization, &unit, variant)
                && let Some(write) = &m.write
            {
                walk.write(write, u.as_str(), &rule.name, &v.name);
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
                variant_idx: variant_idx.map(|v| v.0),
                targeting_key_selector: Some(rule.selector.as_str()),
                materialized: false,
            };
        }
        Resolution::empty(&flag.name, Reason::NoSegmentMatch)
    }

    /// The variant stored for this unit and rule, when the walk has a store view.
    fn stored_variant(
        &self,
        flag: &compiled::Flag,
        rule: &compiled::Rule,
        m: &compiled::MaterializationSpec,
        unit: Option<&Unit<'_>>,
        walk: &Walk,
    ) -> Option<VariantIdx> {
        let name = walk.stored(m.read.as_deref()?, unit?.as_str(), &rule.name)?;
        // A variant removed since it was stored no longer exists: treat the unit as new.
        let idx = flag.variants.iter().position(|v| &*v.name == name)?;
        u32::try_from(idx).ok().map(VariantIdx)
    }

    fn allocated<R: Recorder>(
        &self,
        allocation: &Allocation,
        unit: Option<&Unit<'_>>,
        rec: &mut R,
    ) -> bool {
        let bucket =
            || unit.map(|u| bucket_of(&self.allocation_salt, u.as_str(), ALLOCATION_BUCKETS_NZ));
        let (bucket, inside) = match allocation {
            Allocation::Whole => return true,
            Allocation::Nobody => (None, false),
            Allocation::Below(threshold) => {
                let b = bucket();
                (b, b.is_some_and(|b| b < *threshold))
            }
            Allocation::Ranges(ranges) => {
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
        t: &compiled::Targeting,
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
        t: &compiled::Targeting,
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
        criterion: &compiled::Criterion,
        ctx: &EvaluationContext<'_>,
        unit: Option<&Unit<'_>>,
        walk: &mut Walk,
    ) -> Outcome {
        use compiled::Criterion;
        match criterion {
            Criterion::Attr(path, matcher) => matcher.check(path.lookup(ctx)),
            Criterion::Prop(path, matcher) => matcher.check(path.lookup(ctx)),
            Criterion::Segment(s) => {
                let Some(segment) = self.segment(*s) else { return Outcome::False };
                let matched = self.targeting(&segment.targeting, ctx, unit, walk, &mut NoRecorder)
                    && self.allocated(&segment.allocation, unit, &mut NoRecorder);
                Outcome::from_bool(matched)
            }
            Criterion::Group(op, groups) => {
                let mut each = groups.iter().map(|&g| self.group_matches(g, ctx));
                Outcome::from_bool(match op {
                    GroupOperator::Or => each.any(|m| m),
                    GroupOperator::And => each.all(|m| m),
                    GroupOperator::Not => !each.any(|m| m),
                })
            }
            Criterion::Dependency(flag, expect) => {
                let variant = self.dependency(*flag, ctx, walk);
                let holds = match (expect, variant) {
                    (DepExpect::Variant(want), Some(got)) => *want == got,
                    (DepExpect::Value(want), Some(got)) => self
                        .dependency_flag(*flag)
                        .and_then(|f| f.variant(got))
                        .is_some_and(|v| json_equal(&v.value, want)),
                    (_, None) => false,
                };
                Outcome::from_bool(holds)
            }
            Criterion::Never => Outcome::False,
        }
    }

    fn group_matches(&self, idx: GroupIdx, ctx: &EvaluationContext<'_>) -> bool {
        let group = self.groups.get(idx.index());
        debug_assert!(group.is_some(), "no target group {idx:?}");
        let Some(group) = group else { return false };
        let mut each = group.conditions.iter().map(|(path, m)| m.check(path.lookup(ctx)).is_true());
        if group.any { each.any(|m| m) } else { each.all(|m| m) }
    }

    /// The variant another flag resolves to for the same context, memoised within the call.
    fn dependency(
        &self,
        flag: FlagId,
        ctx: &EvaluationContext<'_>,
        walk: &mut Walk,
    ) -> Option<VariantIdx> {
        if let Some(variant) = walk.memoised(flag) {
            return variant;
        }
        if !walk.descend() {
            return None;
        }
        let variant = self.dependency_flag(flag).and_then(|target| {
            self.resolve(target, ctx, walk, &mut NoRecorder).variant_idx.map(VariantIdx)
        });
        walk.ascend();
        walk.remember(flag, variant);
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
