//! The compiled form of a config: what [`crate::Engine`] holds and the walk reads.
//!
//! Names are resolved to dense indices (the `*Idx` newtypes below, and
//! [`FlagId`]); every index is built by compile into the list it indexes, so a
//! lookup that misses is a broken invariant, never an input. Several types share
//! a name with the model type they are compiled from (`Flag`, `Rule`,
//! `Segment`, `Criterion` …); code that uses both writes these as
//! `compiled::Rule` and so on.

use crate::bucket::{bucket_of, flagd_bucket, unleash_normalized};
use crate::context::AttrPath;
use crate::matcher::{AttrMatcher, PropMatcher};
use crate::resolution::FlagId;
use flagstone_model::flag::BucketRange;
use flagstone_model::targeting::GroupOperator;
use jiff::Timestamp;
use serde_json::Value;
use std::num::NonZeroU32;

/// Declares a dense index into one compiled list.
macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub(crate) struct $name(pub(crate) u32);

        impl $name {
            /// The position in the list it indexes.
            #[inline]
            pub(crate) fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

index_type!(
    /// A segment's index in [`crate::Engine`]'s segments.
    SegmentIdx
);
index_type!(
    /// A variant's index in its flag's variants.
    VariantIdx
);
index_type!(
    /// An assignment's index in its rule's assignments.
    AssignmentIdx
);
index_type!(
    /// A target group's index in [`crate::Engine`]'s groups.
    GroupIdx
);

#[derive(Debug)]
pub(crate) struct Flag {
    /// This flag's own id: its index in the engine's flags.
    pub(crate) id: FlagId,
    pub(crate) name: Box<str>,
    pub(crate) archived: bool,
    pub(crate) variants: Box<[Variant]>,
    pub(crate) rules: Box<[Rule]>,
}

impl Flag {
    /// The variant at `idx`; compile numbers variants per flag, so it is always there.
    #[inline]
    pub(crate) fn variant(&self, idx: VariantIdx) -> Option<&Variant> {
        let variant = self.variants.get(idx.index());
        debug_assert!(variant.is_some(), "{}: no variant {idx:?}", self.name);
        variant
    }
}

#[derive(Debug)]
pub(crate) struct Variant {
    pub(crate) name: Box<str>,
    pub(crate) value: Value,
}

#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) name: Box<str>,
    pub(crate) enabled: bool,
    pub(crate) segment: SegmentIdx,
    pub(crate) selector: AttrPath,
    pub(crate) n_buckets: NonZeroU32,
    /// Sorted and disjoint.
    pub(crate) table: Box<[Span]>,
    pub(crate) assignments: Box<[Assignment]>,
    /// The assignment every bucket gets, when there is only one.
    pub(crate) uniform: Option<AssignmentIdx>,
    /// More than one variant among the assignments (OpenFeature `SPLIT`).
    pub(crate) is_split: bool,
    /// A reach that follows a schedule (lowered rollouts and CloudBees schedules).
    pub(crate) schedule: Option<Box<Schedule>>,
    /// Sticky assignments (see [`crate::sticky`]).
    pub(crate) materialization: Option<Box<MaterializationSpec>>,
    /// How units hash into buckets.
    pub(crate) scheme: Scheme,
}

impl Rule {
    /// The span of the table that holds `bucket` (binary search).
    #[inline]
    pub(crate) fn span_of(&self, bucket: u32) -> Option<Span> {
        let i = self.table.partition_point(|span| span.upper <= bucket);
        self.table.get(i).copied().filter(|span| span.lower <= bucket)
    }

    /// The assignment at `idx`; compile numbers assignments per rule, so it is always there.
    #[inline]
    pub(crate) fn assignment(&self, idx: AssignmentIdx) -> Option<&Assignment> {
        let assignment = self.assignments.get(idx.index());
        debug_assert!(assignment.is_some(), "{}: no assignment {idx:?}", self.name);
        assignment
    }
}

/// The buckets `[lower, upper)` of a rule and the assignment they get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Span {
    pub(crate) lower: u32,
    pub(crate) upper: u32,
    pub(crate) assignment: AssignmentIdx,
}

/// A compiled bucketing scheme (`assignmentSpec.scheme`).
#[derive(Debug)]
pub(crate) enum Scheme {
    Confidence,
    Unleash { group: Box<str>, seed: u32 },
    Flagd { group: Box<str> },
}

impl Scheme {
    /// The unit's bucket in `[0, n)`.
    #[inline]
    pub(crate) fn bucket(&self, hash_id: &str, unit: &str, n: NonZeroU32) -> u32 {
        match self {
            Scheme::Confidence => bucket_of(hash_id, unit, n),
            // Unleash's normalizedHash is 1-based; ranges are 0-based.
            Scheme::Unleash { group, seed } => unleash_normalized(group, unit, *seed, n) - 1,
            Scheme::Flagd { group } => flagd_bucket(&[group, unit], n),
        }
    }
}

/// A compiled `materializationSpec`.
#[derive(Debug)]
pub(crate) struct MaterializationSpec {
    pub(crate) read: Option<Box<str>>,
    pub(crate) write: Option<Box<str>>,
    pub(crate) must_match: bool,
    pub(crate) ignore_targeting: bool,
}

/// Buckets below the scheduled threshold get assignment `on`, the rest `off`.
#[derive(Debug)]
pub(crate) struct Schedule {
    /// The threshold before the first step.
    pub(crate) base: u32,
    /// `(from, threshold)`, sorted by time.
    pub(crate) steps: Box<[(Timestamp, u32)]>,
    pub(crate) on: AssignmentIdx,
    pub(crate) off: AssignmentIdx,
}

impl Schedule {
    /// The threshold in force at `now`: the latest step with `from` ≤ now (binary search).
    #[inline]
    pub(crate) fn threshold(&self, now: Timestamp) -> u32 {
        let i = self.steps.partition_point(|&(from, _)| from <= now);
        match i.checked_sub(1).and_then(|last| self.steps.get(last)) {
            Some(&(_, threshold)) => threshold,
            None => self.base,
        }
    }

    /// The span of a rule's `n_buckets` that holds `bucket` at `now`.
    #[inline]
    pub(crate) fn span_of(&self, bucket: u32, now: Timestamp, n_buckets: NonZeroU32) -> Span {
        let k = self.threshold(now);
        if bucket < k {
            Span { lower: 0, upper: k, assignment: self.on }
        } else {
            Span { lower: k, upper: n_buckets.get(), assignment: self.off }
        }
    }
}

#[derive(Debug)]
pub(crate) struct Assignment {
    pub(crate) id: Box<str>,
    pub(crate) decision: Decision,
}

/// What an assignment decides (the model's assignment outcome).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Variant(VariantIdx),
    Fallthrough,
    ClientDefault,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) name: Box<str>,
    /// The part after `segments/`, hashed with the unit.
    pub(crate) hash_id: Box<str>,
    pub(crate) targeting: Targeting,
    pub(crate) allocation: Allocation,
}

#[derive(Debug)]
pub(crate) enum Allocation {
    Whole,
    Below(u32),
    Ranges(Box<[BucketRange]>),
    Nobody,
}

#[derive(Debug, Default)]
pub(crate) struct Targeting {
    pub(crate) criteria: Box<[Criterion]>,
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
pub(crate) enum Criterion {
    Attr(AttrPath, AttrMatcher),
    Prop(AttrPath, PropMatcher),
    Segment(SegmentIdx),
    Group(GroupOperator, Box<[GroupIdx]>),
    Dependency(FlagId, DepExpect),
    /// Never holds: stands in for a criterion validation would have rejected (compile
    /// asserts in debug builds before it falls back to this).
    Never,
}

#[derive(Debug)]
pub(crate) enum DepExpect {
    Variant(VariantIdx),
    Value(Value),
}

/// A rule that reads or writes a materialization: where the sticky walk looks for a unit's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StickyRule {
    pub(crate) flag: FlagId,
    pub(crate) rule_idx: usize,
}

#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) any: bool,
    pub(crate) conditions: Box<[(AttrPath, PropMatcher)]>,
}
