//! What a validation report says: errors, warnings, and the order of their paths.

use crate::flag::MAX_BUCKET_COUNT;
#[cfg(doc)]
use crate::limits::{MAX_EVALUATION_COST, MAX_REFERENCE_DEPTH};
use std::cmp::Ordering;

/// One problem, with the JSON path of the value at fault.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{path}: {kind}")]
#[non_exhaustive]
pub struct ValidationError {
    /// Where: `flags[2].rules[0].assignmentSpec.bucketRanges[1]`.
    pub path: String,
    /// What is wrong and what was expected.
    pub kind: ErrorKind,
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A resource name without its collection prefix or with a bad id.
    #[error("invalid name {name:?}: expected {expected}")]
    InvalidName {
        /// The name given.
        name: String,
        /// The expected form.
        expected: String,
    },
    /// Two resources with one name.
    #[error("duplicate name {name:?}: already defined at {first}")]
    Duplicate {
        /// The name.
        name: String,
        /// Where it was defined first.
        first: String,
    },
    /// A reference to a resource that does not exist.
    #[error("unknown {noun} {name:?}")]
    UnknownReference {
        /// What kind of resource.
        noun: &'static str,
        /// The reference as written.
        name: String,
    },
    /// A variant that the flag does not have.
    #[error("unknown variant {variant:?} of {flag}")]
    UnknownVariant {
        /// The flag.
        flag: String,
        /// The variant as written.
        variant: String,
    },
    /// An expression `ref` to a criterion id that is not defined.
    #[error("unknown criterion {id:?}: expected one of the targeting's criteria ids")]
    UnknownCriterion {
        /// The id.
        id: String,
    },
    /// `bucketCount` outside 1..=1,000,000.
    #[error("bucket count {count} outside 1..={MAX_BUCKET_COUNT}")]
    BucketCount {
        /// The count given.
        count: u32,
    },
    /// A range that ends past the last bucket.
    #[error("end {upper} exceeds bucket count {count}")]
    RangeEnd {
        /// The range's end.
        upper: u32,
        /// The number of buckets.
        count: u32,
    },
    /// A range whose lower end is not below its upper end.
    #[error("lower {lower} is not below upper {upper}")]
    EmptyRange {
        /// Lower end.
        lower: u32,
        /// Upper end.
        upper: u32,
    },
    /// Two ranges that share buckets.
    #[error("range [{lower}, {upper}) overlaps {other}")]
    Overlap {
        /// This range's lower end.
        lower: u32,
        /// This range's upper end.
        upper: u32,
        /// The path of the range it overlaps.
        other: String,
    },
    /// A share outside `[0, 1]`.
    #[error("{what} {value} outside [0, 1]")]
    OutOfUnitInterval {
        /// `proportion`, `reach`, `percentage`.
        what: &'static str,
        /// The value.
        value: f64,
    },
    /// A version literal that does not parse.
    #[error("{0}")]
    InvalidVersion(String),
    /// A regex that does not compile (or is too large).
    #[error("invalid regex {pattern:?}: {message}")]
    InvalidRegex {
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// A time that is not RFC 3339.
    #[error(
        "invalid RFC 3339 time {value:?}: expected a date and time with offset, such as 2026-01-01T00:00:00Z"
    )]
    InvalidTimestamp {
        /// The text.
        value: String,
    },
    /// An A/B test without exactly one baseline treatment.
    #[error("expected exactly one baseline treatment, found {found}")]
    BaselineCount {
        /// How many are marked.
        found: usize,
    },
    /// A treatment weight that is not a positive number.
    #[error("weight {weight} must be positive")]
    NonPositiveWeight {
        /// The weight.
        weight: f64,
    },
    /// A schedule step that does not come after the previous one.
    #[error("from {from} is not after the previous step's {previous}")]
    ScheduleOrder {
        /// This step's `from`.
        from: String,
        /// The previous step's `from`.
        previous: String,
    },
    /// Resources that refer to each other in a circle.
    #[error("reference cycle {}", .cycle.join(" → "))]
    Cycle {
        /// The names along the cycle, first repeated last.
        cycle: Vec<String>,
    },
    /// A chain of references longer than [`MAX_REFERENCE_DEPTH`].
    #[error("reference chain of {depth} flags and segments, over the limit of {limit}: {}", .chain.join(" → "))]
    ReferenceDepth {
        /// How many flags and segments it passes.
        depth: usize,
        /// The limit.
        limit: usize,
        /// The names along the chain.
        chain: Vec<String>,
    },
    /// A flag whose worst-case evaluation visits more criteria than [`MAX_EVALUATION_COST`].
    #[error(
        "evaluation may visit {cost} criteria through repeated references, over the limit of {limit}"
    )]
    EvaluationCost {
        /// Criteria visited in the worst case.
        cost: u64,
        /// The limit.
        limit: u64,
    },
    /// A bucketing field that the rule's scheme does not use.
    #[error("{field} does not apply to scheme {scheme}")]
    NotForScheme {
        /// The field.
        field: &'static str,
        /// The rule's scheme.
        scheme: &'static str,
    },
    /// Two mutually exclusive fields given together.
    #[error("expected at most one of {0}")]
    Exclusive(&'static str),
    /// A list that must not be empty.
    #[error("expected at least one {0}")]
    Empty(&'static str),
    /// A value of the wrong type for its place.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The accepted types.
        expected: &'static str,
        /// The type given.
        found: String,
    },
    /// A CloudBees percentage outside `[0, 100]`.
    #[error("percentage {value} outside [0, 100]")]
    Percentage {
        /// The value.
        value: f64,
    },
    /// A percentage split whose parts add up to more than the whole.
    #[error("percentages add up to {total}, over 100")]
    SplitTotal {
        /// The sum.
        total: f64,
    },
    /// A CloudBees value that is not among the experiment's available values.
    #[error("value {value} is not one of availableValues")]
    ValueNotAvailable {
        /// The value's JSON text.
        value: String,
    },
    /// An operator not allowed in this place.
    #[error("operator {operator} not allowed here: expected {expected}")]
    Operator {
        /// The operator.
        operator: &'static str,
        /// What is allowed.
        expected: &'static str,
    },
    /// An empty attribute name or targeting key selector.
    #[error("expected a non-empty attribute name or dot path")]
    EmptyPath,
    /// A list longer than its limit in [`crate::limits`].
    #[error("{count} {what}, over the limit of {limit}")]
    TooMany {
        /// What the list holds, plural (`rules`).
        what: &'static str,
        /// Its length.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A name or attribute name longer than its limit in [`crate::limits`].
    #[error("{what} is {len} bytes, over the limit of {limit}")]
    TooLong {
        /// What the string is (`name`, `attribute name`, `criterion id`).
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// Something worth a look that does not stop the config.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{path}: {kind}")]
#[non_exhaustive]
pub struct ValidationWarning {
    /// Where.
    pub path: String,
    /// What.
    pub kind: WarningKind,
}

/// What a warning is about.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WarningKind {
    /// A scheduled reach lower than the step before: units lose the variant.
    #[error("reach decreases from {from} to {to}: units in between lose the variant")]
    ReachDecrease {
        /// The previous reach.
        from: f64,
        /// The new reach.
        to: f64,
    },
    /// A criterion the expression never refers to.
    #[error("criterion {id:?} is not used by the expression")]
    UnusedCriterion {
        /// The id.
        id: String,
    },
    /// An exclusive segment or A/B test without allocated ranges: until
    /// `flagstone allocate` gives it some, it holds the units below its
    /// proportion, which may be the units of what it is exclusive with.
    #[error(
        "exclusive with {other} but not allocated: run `flagstone allocate`; until then they may share units"
    )]
    NotAllocated {
        /// A segment or A/B test it is exclusive with.
        other: String,
    },
}

/// Orders JSON paths naturally: `flags[2]` before `flags[10]`.
pub fn compare_paths(a: &str, b: &str) -> Ordering {
    fn tokens(s: &str) -> impl Iterator<Item = (bool, &str)> {
        let mut rest = s;
        std::iter::from_fn(move || {
            let first = rest.chars().next()?;
            let digit = first.is_ascii_digit();
            let end = rest.find(|c: char| c.is_ascii_digit() != digit).unwrap_or(rest.len());
            let (tok, tail) = rest.split_at(end);
            rest = tail;
            Some((digit, tok))
        })
    }
    let mut ta = tokens(a);
    let mut tb = tokens(b);
    loop {
        match (ta.next(), tb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((true, x)), Some((true, y))) => {
                let by_value = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
                if by_value != Ordering::Equal {
                    return by_value;
                }
            }
            (Some((_, x)), Some((_, y))) => {
                if x != y {
                    return x.cmp(y);
                }
            }
        }
    }
}
