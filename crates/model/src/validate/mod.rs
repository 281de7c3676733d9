//! Validation: every problem of a parsed config at once, each with its JSON path.
//!
//! Parsing checks shape; validation checks meaning: names and references,
//! bucket ranges, shares, literals (versions, regexes, times), workflow rules
//! and reference cycles. It never stops at the first problem.
//!
//! Validation is the one owner of "can this config be served": [`check`] returns,
//! with the report, a [`Valid`] config that holds what compile needs (the lowered
//! resources and every regex, built once), so compile cannot meet a problem that
//! validation let through and never validates again.
//!
//! The checks are cut along the config's seams: `errors` holds what a report
//! says, `names` registers names and follows references (cycles included),
//! `targeting` checks flags, rules and criteria, `workflows` checks rollouts,
//! A/B tests and CloudBees experiments, `references` bounds the depth and cost
//! of reference chains in the lowered config.

mod errors;
mod names;
mod path;
mod references;
mod targeting;
mod workflows;

pub use errors::{ErrorKind, ValidationError, ValidationWarning, WarningKind, compare_paths};

use crate::config::Config;
use crate::lower::{Lowered, lower};
use crate::pattern::Patterns;
use names::Graph;
use path::Root;
use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

thread_local! {
    static RUNS: Cell<usize> = const { Cell::new(0) };
}

/// How many validations have run on this thread (for tests that count them).
#[doc(hidden)]
pub fn validations_on_this_thread() -> usize {
    RUNS.with(Cell::get)
}

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
    check(config).0
}

/// Validates a config and, when it has no errors, gives it back as [`Valid`]: the form
/// compile takes (`flagstone_core::Engine::from_valid`).
///
/// The report is the same as [`validate`]'s; the second half is `Some` exactly when the
/// report has no errors.
///
/// # Examples
/// ```
/// let config = flagstone_model::parse_config(r#"{"flags": [{"name": "flags/a"}]}"#)?;
/// let (report, valid) = flagstone_model::validate::check(&config);
/// assert!(report.is_ok());
/// assert_eq!(valid.map(|v| v.config().flags.len()), Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check(config: &Config) -> (Validation, Option<Valid<'_>>) {
    RUNS.with(|n| n.set(n.get() + 1));
    let mut v = Validator::new(config);
    v.run();
    let mut report = Validation { errors: v.errors, warnings: v.warnings };
    report.errors.sort_by(|a, b| {
        compare_paths(&a.path, &b.path).then_with(|| a.to_string().cmp(&b.to_string()))
    });
    report.warnings.sort_by(|a, b| compare_paths(&a.path, &b.path));
    let valid = match v.lowered {
        Some(lowered) if report.is_ok() => Some(Valid { config, lowered, patterns: v.patterns }),
        _ => None,
    };
    (report, valid)
}

/// A config that passed validation, with what compile needs: its lowered rollouts,
/// A/B tests and experiments, and every regex it uses, already built.
///
/// Only [`check`] makes one, so holding a `Valid` means every name resolves, every
/// literal parses, every regex builds and every reference chain is within its limits.
#[derive(Clone, Debug)]
pub struct Valid<'a> {
    config: &'a Config,
    lowered: Lowered,
    patterns: Patterns,
}

impl<'a> Valid<'a> {
    /// The config as written.
    pub fn config(&self) -> &'a Config {
        self.config
    }

    /// What its rollouts, A/B tests and CloudBees experiments lower to.
    pub fn lowered(&self) -> &Lowered {
        &self.lowered
    }

    /// Every regex the config uses, built.
    pub fn patterns(&self) -> &Patterns {
        &self.patterns
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
    /// Every regex built so far.
    patterns: Patterns,
    /// The lowered config, once everything before the reference limits passed.
    lowered: Option<Lowered>,
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
            patterns: Patterns::default(),
            lowered: None,
        }
    }

    /// Reports a problem; the path is written out only here, when there is one.
    fn error(&mut self, path: impl fmt::Display, kind: ErrorKind) {
        self.errors.push(ValidationError { path: path.to_string(), kind });
    }

    fn warn(&mut self, path: impl fmt::Display, kind: WarningKind) {
        self.warnings.push(ValidationWarning { path: path.to_string(), kind });
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
            let path = Root("segments", i);
            self.current = Some(segment.name.clone());
            self.targeting(&format_args!("{path}.targeting"), &segment.targeting);
            self.allocation(&path, &segment.allocation, &segment.allocated_ranges);
        }
        for (i, group) in c.target_groups.iter().enumerate() {
            for (j, cond) in group.conditions.iter().enumerate() {
                let path = format!("targetGroups[{i}].conditions[{j}]");
                self.path_name(&format_args!("{path}.property"), &cond.property);
                self.property(&path, cond.operator, &cond.operand);
            }
            if matches!(group.operator, crate::targeting::GroupOperator::Not) {
                self.error(
                    format_args!("targetGroups[{i}].operator"),
                    ErrorKind::Operator { operator: "not", expected: "and or or" },
                );
            }
        }
        self.rollouts();
        self.abtests();
        self.experiments();
        self.exclusivity();
        self.cycles();
        // Depth and cost are properties of the lowered reference graph, which is only well
        // formed (every name resolved, no cycle) when nothing above failed.
        if self.errors.is_empty() {
            let lowered = lower(self.config);
            self.reference_limits(&lowered);
            self.lowered = Some(lowered);
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

/// Lowercases the first letter and drops a trailing period (CONTRIBUTING.md §4).
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
