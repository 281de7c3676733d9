//! Flags, variants and rules (spec §1).

use crate::targeting::is_false;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The context path that holds the unit when a rule names none.
pub const DEFAULT_TARGETING_KEY_SELECTOR: &str = "targeting_key";

/// The largest `bucketCount` a rule may have.
pub const MAX_BUCKET_COUNT: u32 = 1_000_000;

/// A feature flag: its variants and the rules that choose between them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Flag {
    /// `flags/{id}`.
    pub name: String,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `ACTIVE` (default) or `ARCHIVED`.
    #[serde(default)]
    pub state: FlagState,
    /// The values the flag can serve.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// Tried in order; the first that decides wins.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Whether a flag is served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlagState {
    /// Evaluated.
    #[default]
    Active,
    /// Resolves to `FLAG_ARCHIVED` with no variant.
    Archived,
}

/// One value a flag can serve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Variant {
    /// `flags/{flag}/variants/{id}`.
    pub name: String,
    /// Any JSON; usually an object whose fields the caller reads by path.
    #[serde(default)]
    pub value: serde_json::Value,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A rule: a segment, and which variant each bucket of its units gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// `flags/{flag}/rules/{id}`.
    pub name: String,
    /// The segment whose units this rule covers.
    pub segment: String,
    /// Disabled rules are skipped.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Dot path into the context that holds the unit.
    #[serde(default = "default_selector")]
    pub targeting_key_selector: String,
    /// Buckets and what each range of them gets.
    pub assignment_spec: AssignmentSpec,
    /// Sticky assignments (spec §2.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materialization_spec: Option<MaterializationSpec>,
    /// Environments this rule applies in; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
}

fn yes() -> bool {
    true
}

fn default_selector() -> String {
    DEFAULT_TARGETING_KEY_SELECTOR.to_owned()
}

/// How a rule maps units to buckets and buckets to outcomes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignmentSpec {
    /// The number of buckets, 1..=1,000,000.
    pub bucket_count: u32,
    /// Outcomes with the bucket ranges that get them.
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    /// How units are hashed into buckets; `confidence` by default.
    #[serde(default, skip_serializing_if = "BucketScheme::is_default")]
    pub scheme: BucketScheme,
    /// The hash group of the `unleash` and `flagd` schemes (Unleash's
    /// `groupId`, flagd's flag key); the flag's id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The murmur3 seed of the `unleash` scheme: 0 (rollouts) by default,
    /// 86028157 for Unleash variant distributions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
}

impl AssignmentSpec {
    /// A spec of `bucket_count` buckets with Flagstone's own hashing.
    pub fn new(bucket_count: u32, assignments: Vec<Assignment>) -> Self {
        AssignmentSpec {
            bucket_count,
            assignments,
            scheme: BucketScheme::Confidence,
            group: None,
            seed: None,
        }
    }
}

/// How a rule hashes a unit into one of its buckets.
///
/// Every scheme gives a bucket in `[0, bucketCount)`, matched against the
/// same half-open ranges, so a team moving from Unleash or flagd keeps every
/// unit in the bucket it had there by choosing the scheme and writing its
/// percentages as ranges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BucketScheme {
    /// spec §2.4: MurmurHash3 x64 128 of `"{segmentId}|{unit}"`, `(h1 >> 4) % bucketCount`.
    #[default]
    Confidence,
    /// Unleash: MurmurHash3 x86 32 of `"{group}:{unit}"` with `seed`, `% bucketCount`
    /// (Unleash's 1-based `normalizedHash` minus one; `bucketCount` 100 for rollouts,
    /// the total weight for variants).
    Unleash,
    /// flagd `fractional`: MurmurHash3 x86 32 of `"{group}{unit}"`, `(h · bucketCount) >> 32`.
    Flagd,
}

impl BucketScheme {
    /// Whether this is the default scheme.
    pub fn is_default(&self) -> bool {
        *self == BucketScheme::Confidence
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BucketScheme::Confidence => "confidence",
            BucketScheme::Unleash => "unleash",
            BucketScheme::Flagd => "flagd",
        }
    }
}

/// One outcome and the bucket ranges that get it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AssignmentWire", into = "AssignmentWire")]
pub struct Assignment {
    /// An id reported with the resolution and the exposure.
    pub assignment_id: String,
    /// What the buckets get.
    pub outcome: Outcome,
    /// Half-open ranges `[lower, upper)` of buckets.
    pub bucket_ranges: Vec<BucketRange>,
}

/// What an assignment gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This variant (full name or id within the flag).
    Variant(String),
    /// Go on to the next rule.
    Fallthrough,
    /// Match with no variant: the caller's default applies.
    ClientDefault,
}

/// A half-open range of buckets `[lower, upper)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketRange {
    /// First bucket inside.
    pub lower: u32,
    /// First bucket past the end.
    pub upper: u32,
}

impl BucketRange {
    /// Whether `bucket` is inside.
    pub fn contains(self, bucket: u32) -> bool {
        self.lower <= bucket && bucket < self.upper
    }

    /// The number of buckets inside (0 when malformed).
    pub fn len(self) -> u32 {
        self.upper.saturating_sub(self.lower)
    }

    /// Whether the range holds no bucket.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// Sticky assignments: read and write a store of past assignments.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaterializationSpec {
    /// The materialization read before targeting; empty reads none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub read_materialization: String,
    /// The materialization written after a match; empty writes none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub write_materialization: String,
    /// How stored assignments interact with targeting.
    #[serde(default)]
    pub mode: MaterializationMode,
}

/// How stored assignments interact with targeting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaterializationMode {
    /// Paused intake: only units already stored match.
    #[serde(default, skip_serializing_if = "is_false")]
    pub materialization_must_match: bool,
    /// A stored unit keeps its variant even when it no longer matches targeting.
    #[serde(default, skip_serializing_if = "is_false")]
    pub segment_targeting_can_be_ignored: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AssignmentWire {
    #[serde(default)]
    assignment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variant: Option<VariantRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fallthrough: Option<Empty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_default: Option<Empty>,
    #[serde(default)]
    bucket_ranges: Vec<BucketRange>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantRef {
    variant: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

impl TryFrom<AssignmentWire> for Assignment {
    type Error = &'static str;
    fn try_from(w: AssignmentWire) -> Result<Self, Self::Error> {
        let outcome = match (w.variant, w.fallthrough, w.client_default) {
            (Some(v), None, None) => Outcome::Variant(v.variant),
            (None, Some(_), None) => Outcome::Fallthrough,
            (None, None, Some(_)) => Outcome::ClientDefault,
            _ => return Err("expected exactly one of variant, fallthrough, clientDefault"),
        };
        Ok(Assignment { assignment_id: w.assignment_id, outcome, bucket_ranges: w.bucket_ranges })
    }
}

impl From<Assignment> for AssignmentWire {
    fn from(a: Assignment) -> Self {
        let (variant, fallthrough, client_default) = match a.outcome {
            Outcome::Variant(variant) => (Some(VariantRef { variant }), None, None),
            Outcome::Fallthrough => (None, Some(Empty {}), None),
            Outcome::ClientDefault => (None, None, Some(Empty {})),
        };
        AssignmentWire {
            assignment_id: a.assignment_id,
            variant,
            fallthrough,
            client_default,
            bucket_ranges: a.bucket_ranges,
        }
    }
}
