//! Segments, allocation and target groups (spec §1).

use crate::flag::BucketRange;
use crate::fraction::Fraction;
use crate::targeting::{GroupOperator, PropertyOperator, Targeting};
use serde::{Deserialize, Serialize};

/// The number of allocation buckets (spec §2.6).
pub const ALLOCATION_BUCKETS: u32 = 1_000_000;

/// A set of units: who is targeted, and what share of them is allocated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Segment {
    /// `segments/{id}`.
    pub name: String,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Who is targeted; empty matches everyone.
    #[serde(default)]
    pub targeting: Targeting,
    /// The share of units held, and exclusivity.
    #[serde(default)]
    pub allocation: Allocation,
    /// Ranges of the 1,000,000 allocation buckets held, written by `allocate`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allocated_ranges: Vec<BucketRange>,
    /// Allocation state.
    #[serde(default)]
    pub state: SegmentState,
}

/// A share of units and the exclusivity rules it is placed under.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Allocation {
    /// The share of units held, in `[0, 1]`; 1 by default.
    #[serde(default = "one")]
    pub proportion: Fraction,
    /// Tags other allocations can be exclusive to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusivity_tags: Vec<String>,
    /// Tags this allocation never shares a unit with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusive_to: Vec<String>,
}

fn one() -> Fraction {
    Fraction::ONE
}

impl Default for Allocation {
    fn default() -> Self {
        Allocation {
            proportion: Fraction::ONE,
            exclusivity_tags: Vec::new(),
            exclusive_to: Vec::new(),
        }
    }
}

impl Allocation {
    /// Whether this allocation holds every unit and is exclusive with nothing.
    pub fn is_whole(&self) -> bool {
        self.proportion.get() >= 1.0
            && self.exclusivity_tags.is_empty()
            && self.exclusive_to.is_empty()
    }

    /// Whether two allocations must never share a unit: either's
    /// `exclusiveTo` meets the other's `exclusivityTags`.
    pub fn is_exclusive_with(&self, other: &Allocation) -> bool {
        let meets = |to: &[String], tags: &[String]| to.iter().any(|t| tags.contains(t));
        meets(&self.exclusive_to, &other.exclusivity_tags)
            || meets(&other.exclusive_to, &self.exclusivity_tags)
    }
}

/// Where a segment is in the allocation workflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SegmentState {
    /// Usable; holds the units below `proportion` unless it has ranges.
    #[default]
    Ok,
    /// Waiting for `allocate` to give it ranges.
    Unallocated,
    /// Holds exactly its `allocatedRanges`; never moved.
    Allocated,
    /// Kept for the record; matches nobody.
    Archived,
}

/// A CloudBees target group: a named set of property conditions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetGroup {
    /// `targetGroups/{id}`.
    pub name: String,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `and` (default): every condition; `or`: any.
    #[serde(default = "and")]
    pub operator: GroupOperator,
    /// The conditions.
    #[serde(default)]
    pub conditions: Vec<GroupCondition>,
}

fn and() -> GroupOperator {
    GroupOperator::And
}

/// One condition of a target group: `{"property", "operator", "operand"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupCondition {
    /// The property (attribute) name.
    pub property: String,
    /// The comparison.
    pub operator: PropertyOperator,
    /// The operand; unused by unary operators.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub operand: serde_json::Value,
}
