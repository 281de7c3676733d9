//! Validation: every problem of a parsed config at once, each with its JSON path.
//!
//! Parsing checks shape; validation checks meaning: names and references,
//! bucket ranges, shares, literals (versions, regexes, times), workflow rules
//! and reference cycles. It never stops at the first problem.

use crate::config::Config;
use crate::experiment::{
    ExperimentCondition, ExperimentValue, StringOrList, WHOLE_PERCENTAGE, variant_id_for_value,
};
use crate::flag::{MAX_BUCKET_COUNT, Outcome, Rule};
use crate::fraction::Fraction;
use crate::graph;
use crate::limits::{MAX_PATTERN_LEN, MAX_REGEX_SIZE};
use crate::names::{Collection, is_valid_id, rule_id, variant_full_name, variant_id};
use crate::segment::{ALLOCATION_BUCKETS, Allocation};
use crate::targeting::{
    AttributeRule, Criterion, DependencyCriterion, DependencyExpectation, Expression,
    GroupCriterion, PropertyOperator, Targeting, Value, VersionCriterion,
};
use crate::version::Version;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// The outcome of [`validate`]: errors make a config unusable, warnings do not.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validation {
    /// Problems that make the config unusable, sorted by path.
    pub errors: Vec<ValidationError>,
    /// Things worth a look that do not stop the config, sorted by path.
    pub warnings: Vec<ValidationWarning>,
}

impl Validation {
    /// Whether there are no errors.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

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

/// Validates a parsed config and reports every problem at once.
///
/// # Examples
/// ```
/// let config = flagstone_model::parse_config(
///     r#"{"flags": [{"name": "flags/a", "rules": [{"name": "flags/a/rules/r",
///        "segment": "segments/missing", "assignmentSpec": {"bucketCount": 0}}]}]}"#,
/// )?;
/// let report = flagstone_model::validate(&config);
/// let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
/// assert_eq!(messages, [
///     "flags[0].rules[0].assignmentSpec.bucketCount: bucket count 0 outside 1..=1000000",
///     "flags[0].rules[0].segment: unknown segment \"segments/missing\"",
/// ]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn validate(config: &Config) -> Validation {
    let mut v = Validator::new(config);
    v.run();
    let mut out = Validation { errors: v.errors, warnings: v.warnings };
    out.errors.sort_by(|a, b| {
        compare_paths(&a.path, &b.path).then_with(|| a.to_string().cmp(&b.to_string()))
    });
    out.warnings.sort_by(|a, b| compare_paths(&a.path, &b.path));
    out
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

/// A node of the reference graph: a flag or a segment, by full name.
#[derive(Default)]
struct Graph {
    names: Vec<String>,
    paths: Vec<String>,
    index: HashMap<String, usize>,
    edges: Vec<Vec<usize>>,
}

impl Graph {
    fn node(&mut self, name: &str, path: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len();
        self.names.push(name.to_owned());
        self.paths.push(path.to_owned());
        self.index.insert(name.to_owned(), i);
        self.edges.push(Vec::new());
        i
    }

    fn edge(&mut self, from: &str, to: &str) {
        if let (Some(&f), Some(&t)) = (self.index.get(from), self.index.get(to))
            && let Some(list) = self.edges.get_mut(f)
            && !list.contains(&t)
        {
            list.push(t);
        }
    }
}

struct Validator<'a> {
    config: &'a Config,
    errors: Vec<ValidationError>,
    warnings: Vec<ValidationWarning>,
    /// Full flag name → (path, variant ids).
    flags: HashMap<String, (String, BTreeSet<String>)>,
    /// Full segment name → path (explicit and lowered from workflows).
    segments: HashMap<String, String>,
    groups: HashMap<String, String>,
    graph: Graph,
    /// The graph node whose references are being collected.
    current: Option<String>,
}

impl<'a> Validator<'a> {
    fn new(config: &'a Config) -> Self {
        Validator {
            config,
            errors: Vec::new(),
            warnings: Vec::new(),
            flags: HashMap::new(),
            segments: HashMap::new(),
            groups: HashMap::new(),
            graph: Graph::default(),
            current: None,
        }
    }

    fn error(&mut self, path: impl Into<String>, kind: ErrorKind) {
        self.errors.push(ValidationError { path: path.into(), kind });
    }

    fn warn(&mut self, path: impl Into<String>, kind: WarningKind) {
        self.warnings.push(ValidationWarning { path: path.into(), kind });
    }

    fn run(&mut self) {
        if self.limits() {
            return;
        }
        self.collect_names();
        let c = self.config;
        for (i, flag) in c.flags.iter().enumerate() {
            self.flag(i, flag);
        }
        for (i, segment) in c.segments.iter().enumerate() {
            let path = format!("segments[{i}]");
            self.current = Some(segment.name.clone());
            self.targeting(&format!("{path}.targeting"), &segment.targeting);
            self.allocation(&path, &segment.allocation, &segment.allocated_ranges);
        }
        for (i, group) in c.target_groups.iter().enumerate() {
            for (j, cond) in group.conditions.iter().enumerate() {
                let path = format!("targetGroups[{i}].conditions[{j}]");
                self.path_name(&format!("{path}.property"), &cond.property);
                self.property(&path, cond.operator, &cond.operand);
            }
            if matches!(group.operator, crate::targeting::GroupOperator::Not) {
                self.error(
                    format!("targetGroups[{i}].operator"),
                    ErrorKind::Operator { operator: "not", expected: "and or or" },
                );
            }
        }
        self.rollouts();
        self.abtests();
        self.experiments();
        self.exclusivity();
        self.cycles();
    }

    /// Registers every name, reporting malformed and duplicate names.
    fn collect_names(&mut self) {
        let c = self.config;
        for (i, flag) in c.flags.iter().enumerate() {
            let path = format!("flags[{i}]");
            self.name(&format!("{path}.name"), &flag.name, Collection::Flags);
            let mut variants = BTreeSet::new();
            for (j, variant) in flag.variants.iter().enumerate() {
                let vpath = format!("{path}.variants[{j}].name");
                match variant_id(&flag.name, &variant.name) {
                    Some(id) if !variants.insert(id.to_owned()) => {
                        let first =
                            flag.variants.iter().position(|v| v.name == variant.name).unwrap_or(0);
                        self.error(
                            vpath,
                            ErrorKind::Duplicate {
                                name: variant.name.clone(),
                                first: format!("{path}.variants[{first}]"),
                            },
                        );
                    }
                    Some(_) => {}
                    None => self.error(
                        vpath,
                        ErrorKind::InvalidName {
                            name: variant.name.clone(),
                            expected: format!("{}/variants/{{id}}", flag.name),
                        },
                    ),
                }
            }
            self.register_flag(&path, &flag.name, variants);
        }
        for (i, e) in c.experiments.iter().enumerate() {
            let path = format!("experiments[{i}]");
            if !is_valid_id(&e.flag) {
                self.error(
                    format!("{path}.flag"),
                    ErrorKind::InvalidName {
                        name: e.flag.clone(),
                        expected: "a flag id without '/'".into(),
                    },
                );
            }
            let variants = e.values().iter().map(variant_id_for_value).collect();
            self.register_flag(&path, &e.flag_name(), variants);
        }
        for (i, s) in c.segments.iter().enumerate() {
            let path = format!("segments[{i}]");
            self.name(&format!("{path}.name"), &s.name, Collection::Segments);
            self.register_segment(&path, &s.name);
        }
        for (i, g) in c.target_groups.iter().enumerate() {
            let path = format!("targetGroups[{i}]");
            self.name(&format!("{path}.name"), &g.name, Collection::TargetGroups);
            if let Some(first) = self.groups.insert(g.name.clone(), path.clone()) {
                self.error(
                    format!("{path}.name"),
                    ErrorKind::Duplicate { name: g.name.clone(), first },
                );
            }
        }
        let mut workflows: HashMap<String, String> = HashMap::new();
        let rollouts = c
            .rollouts
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("rollouts[{i}]"), &r.name, Collection::Rollouts));
        let abtests = c
            .abtests
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("abtests[{i}]"), &t.name, Collection::AbTests));
        for (path, name, collection) in rollouts.chain(abtests).collect::<Vec<_>>() {
            self.name(&format!("{path}.name"), name, collection);
            if let Some(first) = workflows.insert(name.clone(), path.clone()) {
                self.error(
                    format!("{path}.name"),
                    ErrorKind::Duplicate { name: name.clone(), first },
                );
            }
            // Each workflow lowers to a segment of the same id (DESIGN §2.5).
            if let Some(id) = collection.id_of(name) {
                self.register_segment(&path, &format!("segments/{id}"));
            }
        }
    }

    fn register_flag(&mut self, path: &str, name: &str, variants: BTreeSet<String>) {
        if let Some((first, _)) = self.flags.get(name) {
            let first = first.clone();
            self.error(
                format!("{path}.name"),
                ErrorKind::Duplicate { name: name.to_owned(), first },
            );
            return;
        }
        self.flags.insert(name.to_owned(), (path.to_owned(), variants));
        self.graph.node(name, path);
    }

    fn register_segment(&mut self, path: &str, name: &str) {
        if let Some(first) = self.segments.get(name) {
            let first = first.clone();
            self.error(
                format!("{path}.name"),
                ErrorKind::Duplicate { name: name.to_owned(), first },
            );
            return;
        }
        self.segments.insert(name.to_owned(), path.to_owned());
        self.graph.node(name, path);
    }

    fn name(&mut self, path: &str, name: &str, collection: Collection) {
        if collection.id_of(name).is_none() {
            self.error(
                path,
                ErrorKind::InvalidName {
                    name: name.to_owned(),
                    expected: format!("{}{{id}}", collection.prefix()),
                },
            );
        }
    }

    fn path_name(&mut self, path: &str, name: &str) {
        if name.is_empty() {
            self.error(path, ErrorKind::EmptyPath);
        }
    }

    /// Resolves a flag reference to its full name, reporting an unknown one.
    fn flag_ref(&mut self, path: &str, reference: &str) -> Option<String> {
        let full = Collection::Flags.full_name(reference).into_owned();
        if self.flags.contains_key(&full) {
            return Some(full);
        }
        self.error(path, ErrorKind::UnknownReference { noun: "flag", name: reference.to_owned() });
        None
    }

    fn segment_ref(&mut self, path: &str, reference: &str) -> Option<String> {
        let full = Collection::Segments.full_name(reference).into_owned();
        if self.segments.contains_key(&full) {
            return Some(full);
        }
        self.error(
            path,
            ErrorKind::UnknownReference { noun: "segment", name: reference.to_owned() },
        );
        None
    }

    fn variant_ref(&mut self, path: &str, flag: &str, reference: &str) {
        let full = variant_full_name(flag, reference);
        let known = variant_id(flag, &full).is_some_and(|id| {
            self.flags.get(flag).is_some_and(|(_, variants)| variants.contains(id))
        });
        if !known {
            self.error(
                path,
                ErrorKind::UnknownVariant { flag: flag.to_owned(), variant: reference.to_owned() },
            );
        }
    }

    fn link(&mut self, to: &str) {
        if let Some(from) = self.current.clone() {
            self.graph.edge(&from, to);
        }
    }

    fn flag(&mut self, i: usize, flag: &crate::flag::Flag) {
        let path = format!("flags[{i}]");
        let mut rule_ids: HashMap<&str, usize> = HashMap::new();
        for (j, rule) in flag.rules.iter().enumerate() {
            let rpath = format!("{path}.rules[{j}]");
            match rule_id(&flag.name, &rule.name) {
                Some(id) => {
                    if let Some(first) = rule_ids.insert(id, j) {
                        self.error(
                            format!("{rpath}.name"),
                            ErrorKind::Duplicate {
                                name: rule.name.clone(),
                                first: format!("{path}.rules[{first}]"),
                            },
                        );
                    }
                }
                None => self.error(
                    format!("{rpath}.name"),
                    ErrorKind::InvalidName {
                        name: rule.name.clone(),
                        expected: format!("{}/rules/{{id}}", flag.name),
                    },
                ),
            }
            if let Some(segment) = self.segment_ref(&format!("{rpath}.segment"), &rule.segment) {
                self.graph.edge(&flag.name, &segment);
            }
            self.rule(&rpath, &flag.name, rule);
        }
    }

    fn rule(&mut self, path: &str, flag: &str, rule: &Rule) {
        if let Some(m) = &rule.materialization_spec {
            // Stores key on "{materialization}:{unit}" (Redis) or with a control
            // character (redb): names without either keep keys unambiguous.
            let bad = |n: &str| n.contains(':') || n.chars().any(char::is_control);
            for (field, name) in [
                ("readMaterialization", &m.read_materialization),
                ("writeMaterialization", &m.write_materialization),
            ] {
                if bad(name) {
                    self.error(
                        format!("{path}.materializationSpec.{field}"),
                        ErrorKind::InvalidName {
                            name: name.clone(),
                            expected: "a materialization name without ':' or control characters"
                                .into(),
                        },
                    );
                }
            }
        }
        self.path_name(&format!("{path}.targetingKeySelector"), &rule.targeting_key_selector);
        let spec = &rule.assignment_spec;
        let spath = format!("{path}.assignmentSpec");
        let count = spec.bucket_count;
        if !(1..=MAX_BUCKET_COUNT).contains(&count) {
            self.error(format!("{spath}.bucketCount"), ErrorKind::BucketCount { count });
        }
        use crate::flag::BucketScheme;
        if spec.group.is_some() && spec.scheme == BucketScheme::Confidence {
            self.error(
                format!("{spath}.group"),
                ErrorKind::NotForScheme { field: "group", scheme: spec.scheme.as_str() },
            );
        }
        if spec.seed.is_some() && spec.scheme != BucketScheme::Unleash {
            self.error(
                format!("{spath}.seed"),
                ErrorKind::NotForScheme { field: "seed", scheme: spec.scheme.as_str() },
            );
        }
        let mut ranges = Vec::new();
        for (k, a) in spec.assignments.iter().enumerate() {
            let apath = format!("{spath}.assignments[{k}]");
            if let Outcome::Variant(variant) = &a.outcome {
                self.variant_ref(&format!("{apath}.variant.variant"), flag, variant);
            }
            for (m, r) in a.bucket_ranges.iter().enumerate() {
                ranges.push((format!("{apath}.bucketRanges[{m}]"), *r));
            }
        }
        self.ranges(ranges, count);
    }

    /// Checks ranges against the bucket count and each other.
    fn ranges(&mut self, mut ranges: Vec<(String, crate::flag::BucketRange)>, count: u32) {
        let mut valid = Vec::new();
        for (path, r) in ranges.drain(..) {
            if r.lower >= r.upper {
                self.error(path, ErrorKind::EmptyRange { lower: r.lower, upper: r.upper });
            } else if r.upper > count && (1..=MAX_BUCKET_COUNT).contains(&count) {
                self.error(path, ErrorKind::RangeEnd { upper: r.upper, count });
            } else {
                valid.push((path, r));
            }
        }
        valid.sort_by_key(|(_, r)| (r.lower, r.upper));
        let mut furthest: Option<(String, crate::flag::BucketRange)> = None;
        for (path, r) in valid {
            if let Some((fpath, f)) = &furthest
                && r.lower < f.upper
            {
                self.error(
                    path.clone(),
                    ErrorKind::Overlap {
                        lower: r.lower,
                        upper: r.upper,
                        other: format!("{fpath} [{}, {})", f.lower, f.upper),
                    },
                );
            }
            if furthest.as_ref().is_none_or(|(_, f)| r.upper > f.upper) {
                furthest = Some((path, r));
            }
        }
    }

    fn allocation(
        &mut self,
        path: &str,
        allocation: &Allocation,
        allocated: &[crate::flag::BucketRange],
    ) {
        self.fraction(
            &format!("{path}.allocation.proportion"),
            "proportion",
            allocation.proportion,
        );
        let ranges = allocated
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("{path}.allocatedRanges[{i}]"), *r))
            .collect();
        self.ranges(ranges, ALLOCATION_BUCKETS);
    }

    fn fraction(&mut self, path: &str, what: &'static str, value: Fraction) {
        if !value.is_unit_interval() {
            self.error(path, ErrorKind::OutOfUnitInterval { what, value: value.get() });
        }
    }

    fn timestamp(&mut self, path: &str, value: &str) -> Option<jiff::Timestamp> {
        match value.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                self.error(path, ErrorKind::InvalidTimestamp { value: value.to_owned() });
                None
            }
        }
    }

    fn version(&mut self, path: &str, text: &str) {
        if let Err(e) = Version::parse(text) {
            self.error(path, ErrorKind::InvalidVersion(e.to_string()));
        }
    }

    fn regex(&mut self, path: &str, pattern: &str) {
        if pattern.len() > MAX_PATTERN_LEN {
            let message =
                format!("pattern is {} bytes, over the limit of {MAX_PATTERN_LEN}", pattern.len());
            self.error(path, ErrorKind::InvalidRegex { pattern: truncate(pattern), message });
            return;
        }
        if let Err(e) = regex::RegexBuilder::new(pattern).size_limit(MAX_REGEX_SIZE).build() {
            let message = house_style(
                e.to_string().lines().last().unwrap_or_default().trim_start_matches("error: "),
            );
            self.error(path, ErrorKind::InvalidRegex { pattern: pattern.to_owned(), message });
        }
    }

    fn targeting(&mut self, path: &str, targeting: &Targeting) {
        for (id, criterion) in &targeting.criteria {
            let cpath = format!("{path}.criteria.{id}");
            self.criterion(&cpath, criterion);
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
                            format!("{epath}.ref"),
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
                format!("{path}.criteria.{id}"),
                WarningKind::UnusedCriterion { id: id.clone() },
            );
        }
    }

    fn criterion(&mut self, path: &str, criterion: &Criterion) {
        match criterion {
            Criterion::Attribute(a) => {
                let apath = format!("{path}.attribute");
                self.path_name(&format!("{apath}.attributeName"), &a.attribute_name);
                self.attribute_rule(&apath, &a.rule);
            }
            Criterion::Segment(s) => {
                if let Some(full) = self.segment_ref(&format!("{path}.segment.segment"), &s.segment)
                {
                    self.link(&full);
                }
            }
            Criterion::Group(g) => self.group(&format!("{path}.group"), g),
            Criterion::Version(v) => self.version_criterion(&format!("{path}.version"), v),
            Criterion::Property(p) => {
                let ppath = format!("{path}.property");
                self.path_name(&format!("{ppath}.name"), &p.name);
                self.property(&ppath, p.operator, &p.operand);
            }
            Criterion::Dependency(d) => self.dependency(&format!("{path}.dependency"), d),
        }
    }

    fn group(&mut self, path: &str, g: &GroupCriterion) {
        self.group_names(&format!("{path}.names"), &g.names, true);
    }

    /// Target group references at `path` (`path[i]` each when `indexed`): at least one,
    /// every one known.
    fn group_names(&mut self, path: &str, names: &[String], indexed: bool) {
        if names.is_empty() {
            self.error(path, ErrorKind::Empty("target group name"));
        }
        for (i, name) in names.iter().enumerate() {
            let full = Collection::TargetGroups.full_name(name);
            if !self.groups.contains_key(full.as_ref()) {
                let at = if indexed { format!("{path}[{i}]") } else { path.to_owned() };
                self.error(
                    at,
                    ErrorKind::UnknownReference { noun: "target group", name: name.clone() },
                );
            }
        }
    }

    fn version_criterion(&mut self, path: &str, v: &VersionCriterion) {
        self.path_name(&format!("{path}.attributeName"), &v.attribute_name);
        if !v.operator.is_semver() {
            self.error(
                format!("{path}.operator"),
                ErrorKind::Operator {
                    operator: v.operator.as_str(),
                    expected: "one of the semver-* operators",
                },
            );
        }
        self.version(&format!("{path}.semver"), &v.semver);
    }

    fn dependency(&mut self, path: &str, d: &DependencyCriterion) {
        let Some(flag) = self.flag_ref(&format!("{path}.flag"), &d.flag) else { return };
        self.link(&flag);
        if let DependencyExpectation::Variant(variant) = &d.expect {
            self.variant_ref(&format!("{path}.variant"), &flag, variant);
        }
    }

    fn property(&mut self, path: &str, operator: PropertyOperator, operand: &serde_json::Value) {
        use serde_json::Value as J;
        let opath = format!("{path}.operand");
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
                self.regex(&opath, pattern);
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

    fn attribute_rule(&mut self, path: &str, rule: &AttributeRule) {
        match rule {
            AttributeRule::Eq(r) => self.scalar(&format!("{path}.eqRule.value"), &r.value),
            AttributeRule::Set(r) => {
                for (i, v) in r.values.iter().enumerate() {
                    self.scalar(&format!("{path}.setRule.values[{i}]"), v);
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
            AttributeRule::Regex(r) => self.regex(&format!("{path}.regexRule.pattern"), &r.pattern),
            AttributeRule::Any(inner) => {
                self.attribute_rule(&format!("{path}.anyRule.rule"), &inner.rule)
            }
            AttributeRule::All(inner) => {
                self.attribute_rule(&format!("{path}.allRule.rule"), &inner.rule)
            }
        }
    }

    /// A value compared with one attribute value: anything but a list.
    fn scalar(&mut self, path: &str, value: &Value) {
        match value {
            Value::TimestampValue(t) => {
                self.timestamp(&format!("{path}.timestampValue"), t);
            }
            Value::VersionValue(v) => self.version(&format!("{path}.versionValue.version"), &v.version),
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

    fn workflow_targeting(
        &mut self,
        path: &str,
        name: &str,
        targeting: Option<&Targeting>,
        segment: Option<&str>,
    ) {
        let lowered = Collection::Rollouts
            .id_of(name)
            .or_else(|| Collection::AbTests.id_of(name))
            .map(|id| format!("segments/{id}"));
        self.current = lowered.clone();
        if targeting.is_some() && segment.is_some() {
            self.error(path, ErrorKind::Exclusive("targeting, segment"));
        }
        if let Some(t) = targeting {
            self.targeting(&format!("{path}.targeting"), t);
        }
        if let Some(s) = segment
            && let Some(full) = self.segment_ref(&format!("{path}.segment"), s)
        {
            self.link(&full);
        }
        self.current = None;
    }

    fn rollouts(&mut self) {
        for (i, r) in self.config.rollouts.iter().enumerate() {
            let path = format!("rollouts[{i}]");
            let flag = self.flag_ref(&format!("{path}.flag"), &r.flag);
            if let Some(flag) = &flag {
                self.variant_ref(&format!("{path}.variant"), flag, &r.variant);
                if let Some(id) = Collection::Rollouts.id_of(&r.name) {
                    self.graph.edge(flag, &format!("segments/{id}"));
                }
            }
            self.fraction(&format!("{path}.reach"), "reach", r.reach);
            self.path_name(&format!("{path}.targetingKeySelector"), &r.targeting_key_selector);
            self.workflow_targeting(&path, &r.name, r.targeting.as_ref(), r.segment.as_deref());
            self.times(&path, r.create_time.as_deref(), r.update_time.as_deref());
            let mut previous: Option<(jiff::Timestamp, &str, Fraction)> = None;
            for (j, step) in r.schedule.iter().enumerate() {
                let spath = format!("{path}.schedule[{j}]");
                self.fraction(&format!("{spath}.reach"), "reach", step.reach);
                let Some(at) = self.timestamp(&format!("{spath}.from"), &step.from) else {
                    continue;
                };
                if let Some((prev_at, prev_from, prev_reach)) = previous {
                    if at <= prev_at {
                        self.error(
                            format!("{spath}.from"),
                            ErrorKind::ScheduleOrder {
                                from: step.from.clone(),
                                previous: prev_from.to_owned(),
                            },
                        );
                    }
                    if step.reach < prev_reach {
                        self.warn(
                            format!("{spath}.reach"),
                            WarningKind::ReachDecrease {
                                from: prev_reach.get(),
                                to: step.reach.get(),
                            },
                        );
                    }
                }
                previous = Some((at, &step.from, step.reach));
            }
        }
    }

    fn times(&mut self, path: &str, create: Option<&str>, update: Option<&str>) {
        if let Some(t) = create {
            self.timestamp(&format!("{path}.createTime"), t);
        }
        if let Some(t) = update {
            self.timestamp(&format!("{path}.updateTime"), t);
        }
    }

    fn abtests(&mut self) {
        for (i, t) in self.config.abtests.iter().enumerate() {
            let path = format!("abtests[{i}]");
            let flag = self.flag_ref(&format!("{path}.flag"), &t.flag);
            if let (Some(flag), Some(id)) = (&flag, Collection::AbTests.id_of(&t.name)) {
                self.graph.edge(flag, &format!("segments/{id}"));
            }
            if t.treatments.is_empty() {
                self.error(format!("{path}.treatments"), ErrorKind::Empty("treatment"));
            } else {
                let baselines = t.treatments.iter().filter(|x| x.baseline).count();
                if baselines != 1 {
                    self.error(
                        format!("{path}.treatments"),
                        ErrorKind::BaselineCount { found: baselines },
                    );
                }
            }
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (j, treatment) in t.treatments.iter().enumerate() {
                let tpath = format!("{path}.treatments[{j}]");
                if let Some(flag) = &flag {
                    self.variant_ref(&format!("{tpath}.variant"), flag, &treatment.variant);
                    let full = variant_full_name(flag, &treatment.variant).into_owned();
                    if let Some(first) = seen.insert(full.clone(), j) {
                        self.error(
                            format!("{tpath}.variant"),
                            ErrorKind::Duplicate {
                                name: full,
                                first: format!("{path}.treatments[{first}]"),
                            },
                        );
                    }
                }
                if !(treatment.weight.is_finite() && treatment.weight > 0.0) {
                    self.error(
                        format!("{tpath}.weight"),
                        ErrorKind::NonPositiveWeight { weight: treatment.weight },
                    );
                }
            }
            self.allocation(&path, &t.allocation, &t.allocated_ranges);
            self.path_name(&format!("{path}.targetingKeySelector"), &t.targeting_key_selector);
            self.workflow_targeting(&path, &t.name, t.targeting.as_ref(), t.segment.as_deref());
            self.times(&path, t.create_time.as_deref(), t.update_time.as_deref());
            for (j, m) in t.metrics.iter().enumerate() {
                self.name(&format!("{path}.metrics[{j}].metric"), &m.metric, Collection::Metrics);
            }
            for (j, it) in t.iterations.iter().enumerate() {
                let ipath = format!("{path}.iterations[{j}]");
                self.times(&ipath, None, None);
                if let Some(s) = &it.started_at {
                    self.timestamp(&format!("{ipath}.startedAt"), s);
                }
                if let Some(e) = &it.ended_at {
                    self.timestamp(&format!("{ipath}.endedAt"), e);
                }
            }
        }
    }

    fn experiments(&mut self) {
        for (i, e) in self.config.experiments.iter().enumerate() {
            let path = format!("experiments[{i}]");
            if e.kind.as_deref().is_some_and(|k| k != "experiment") {
                self.error(
                    format!("{path}.type"),
                    ErrorKind::WrongType {
                        expected: "\"experiment\"",
                        found: format!("{:?}", e.kind.as_deref().unwrap_or_default()),
                    },
                );
            }
            self.path_name(&format!("{path}.stickinessProperty"), &e.stickiness_property);
            let values = e.values();
            if values.is_empty() {
                self.error(format!("{path}.availableValues"), ErrorKind::Empty("available value"));
            }
            let mut seen = BTreeSet::new();
            for (j, v) in values.iter().enumerate() {
                if !seen.insert(variant_id_for_value(v)) {
                    self.error(
                        format!("{path}.availableValues[{j}]"),
                        ErrorKind::Duplicate {
                            name: variant_id_for_value(v),
                            first: format!("{path}.availableValues"),
                        },
                    );
                }
            }
            self.current = Some(e.flag_name());
            for (j, p) in e.platforms.iter().enumerate() {
                let ppath = format!("{path}.platforms[{j}]");
                for (k, c) in p.conditions.iter().enumerate() {
                    self.experiment_condition(&format!("{ppath}.conditions[{k}]"), c, &values);
                }
                if let Some(v) = &p.value {
                    self.experiment_value(&format!("{ppath}.value"), v, &values);
                }
            }
            for (j, c) in e.conditions.iter().enumerate() {
                self.experiment_condition(&format!("{path}.conditions[{j}]"), c, &values);
            }
            if let Some(v) = &e.value {
                self.experiment_value(&format!("{path}.value"), v, &values);
            }
            self.current = None;
        }
    }

    fn experiment_condition(
        &mut self,
        path: &str,
        c: &ExperimentCondition,
        values: &[serde_json::Value],
    ) {
        if let Some(d) = &c.dependency {
            self.dependency(&format!("{path}.dependency"), d);
        }
        if let Some(g) = &c.group {
            let indexed = matches!(g.name, StringOrList::Many(_));
            self.group_names(&format!("{path}.group.name"), g.name.as_slice(), indexed);
        }
        if let Some(v) = &c.version {
            self.version_criterion(&format!("{path}.version"), v);
        }
        if let Some(p) = &c.property {
            let ppath = format!("{path}.property");
            self.path_name(&format!("{ppath}.name"), &p.name);
            self.property(&ppath, p.operator, &p.operand);
        }
        self.experiment_value(&format!("{path}.value"), &c.value, values);
    }

    fn experiment_value(
        &mut self,
        path: &str,
        value: &ExperimentValue,
        values: &[serde_json::Value],
    ) {
        let available = |this: &mut Self, vpath: String, v: &serde_json::Value| {
            if !values.contains(v) {
                this.error(vpath, ErrorKind::ValueNotAvailable { value: v.to_string() });
            }
        };
        match value {
            ExperimentValue::Single(v) => available(self, path.to_owned(), v),
            ExperimentValue::Split(parts) => {
                let mut total = 0.0;
                for (i, p) in parts.iter().enumerate() {
                    let ppath = format!("{path}[{i}]");
                    available(self, format!("{ppath}.option"), &p.option);
                    self.percentage(&format!("{ppath}.percentage"), p.percentage);
                    total += p.percentage;
                }
                if total > WHOLE_PERCENTAGE + 1e-9 {
                    self.error(path, ErrorKind::SplitTotal { total: tidy(total) });
                }
            }
            ExperimentValue::Schedule(steps) => {
                let mut previous: Option<(jiff::Timestamp, &str)> = None;
                for (i, s) in steps.iter().enumerate() {
                    let spath = format!("{path}[{i}]");
                    self.percentage(&format!("{spath}.percentage"), s.percentage);
                    if let Some(option) = &s.option {
                        available(self, format!("{spath}.option"), option);
                    } else if !values.contains(&serde_json::Value::Bool(true)) {
                        available(self, format!("{spath}.option"), &serde_json::Value::Bool(true));
                    }
                    let Some(at) = self.timestamp(&format!("{spath}.from"), &s.from) else {
                        continue;
                    };
                    if let Some((prev_at, prev)) = previous
                        && at <= prev_at
                    {
                        self.error(
                            format!("{spath}.from"),
                            ErrorKind::ScheduleOrder {
                                from: s.from.clone(),
                                previous: prev.to_owned(),
                            },
                        );
                    }
                    previous = Some((at, &s.from));
                }
            }
        }
    }

    fn percentage(&mut self, path: &str, value: f64) {
        if !(0.0..=WHOLE_PERCENTAGE).contains(&value) {
            self.error(path, ErrorKind::Percentage { value });
        }
    }

    /// Warns about exclusive segments and A/B tests that have no ranges yet.
    fn exclusivity(&mut self) {
        use crate::segment::SegmentState;
        use crate::workflow::WorkflowState;
        let c = self.config;
        // (path, name, allocation, has ranges, holds units)
        let mut items = Vec::new();
        for (i, s) in c.segments.iter().enumerate() {
            let holds = s.state != SegmentState::Archived;
            items.push((
                format!("segments[{i}]"),
                &s.name,
                &s.allocation,
                !s.allocated_ranges.is_empty(),
                holds,
            ));
        }
        for (i, t) in c.abtests.iter().enumerate() {
            let holds = t.state != WorkflowState::Ended;
            items.push((
                format!("abtests[{i}]"),
                &t.name,
                &t.allocation,
                !t.allocated_ranges.is_empty(),
                holds,
            ));
        }
        items.retain(|(_, _, a, _, holds)| {
            *holds && !(a.exclusivity_tags.is_empty() && a.exclusive_to.is_empty())
        });
        for (path, _, allocation, ranged, _) in &items {
            if *ranged {
                continue;
            }
            let other = items
                .iter()
                .find(|(p, _, a, _, _)| p != path && allocation.is_exclusive_with(a))
                .map(|(_, name, _, _, _)| (*name).clone());
            if let Some(other) = other {
                self.warn(format!("{path}.allocation"), WarningKind::NotAllocated { other });
            }
        }
    }

    fn cycles(&mut self) {
        for cycle in graph::cycles(&self.graph.edges) {
            let names: Vec<String> =
                cycle.iter().filter_map(|&n| self.graph.names.get(n).cloned()).collect();
            let path =
                cycle.first().and_then(|&n| self.graph.paths.get(n)).cloned().unwrap_or_default();
            self.error(path, ErrorKind::Cycle { cycle: names });
        }
    }
}

impl Validator<'_> {
    /// Reports every count and length limit the config goes over, and whether a count limit
    /// is among them: validation then stops there, since the rest of it costs time in
    /// proportion to exactly what the limit refuses.
    fn limits(&mut self) -> bool {
        use crate::limits::Violation;
        let mut over_count = false;
        for violation in crate::limits::violations(self.config) {
            match violation {
                Violation::TooMany { path, what, count, limit } => {
                    over_count = true;
                    self.error(path, ErrorKind::TooMany { what, count, limit });
                }
                Violation::TooLong { path, what, len, limit } => {
                    self.error(path, ErrorKind::TooLong { what, len, limit });
                }
            }
        }
        over_count
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Lowercases the first letter and drops a trailing period (STYLE §4).
fn house_style(message: &str) -> String {
    let trimmed = message.trim().trim_end_matches('.');
    let mut chars = trimmed.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// Rounds to 9 decimals so sums print as people wrote them (`1.3`, not `1.2999999999999998`).
fn tidy(value: f64) -> f64 {
    (value * 1e9).round() / 1e9
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_sort_naturally() {
        let mut paths =
            vec!["flags[10].name", "flags[2].name", "flags[2]", "abtests[0]", "flags[2].rules[0]"];
        paths.sort_by(|a, b| compare_paths(a, b));
        assert_eq!(
            paths,
            ["abtests[0]", "flags[2]", "flags[2].name", "flags[2].rules[0]", "flags[10].name"]
        );
    }
}
