//! Flagstone against the field: the third-party evaluation cases of `tests/data/conformance`
//! (Unleash, flagd, Eppo, GrowthBook, LaunchDarkly) mapped onto Flagstone criteria, evaluated,
//! and compared with what each source engine gives.
//!
//! Each case becomes a config with one flag and one segment whose targeting expresses the case's
//! condition ([`mapping`]); the flag matches exactly when the condition holds. A case either
//! agrees, or is a documented difference listed in `tests/conformance/differences.toml`
//! ([`differences`]) with its policy reason, or fails. The list must stay true: an entry under
//! which nothing mismatches any more is stale ([`Stale`]). Where the sources disagree with each
//! other, the policy Flagstone follows is written down in `docs/conformance.md`.
//!
//! ```
//! use flagstone_conformance::{case::parse_cases, differences::Differences, run, Verdict};
//!
//! let cases = parse_cases(concat!(
//!     r#"{"source": "launchdarkly", "id": "ld:1", "attribute": "tags", "operator": "in", "#,
//!     r#""operand": ["beta"], "context": {"tags": ["alpha", "beta"]}, "expected": true}"#, "\n",
//!     r#"{"source": "eppo", "id": "eppo:1", "attribute": "flag", "operator": "in", "#,
//!     r#""operand": ["true"], "context": {"flag": true}, "expected": true, "#,
//!     r#""tags": ["stringify-coercion"]}"#,
//! ), "conditions.jsonl")?;
//! let differences = Differences::parse(r#"
//!     [tags]
//!     stringify-coercion = "Flagstone never coerces types (spec §2.1)"
//! "#)?;
//! let result = run(&cases, &differences);
//! assert_eq!(result.outcomes[0].verdict, Verdict::Passed);
//! assert!(matches!(result.outcomes[1].verdict, Verdict::Documented(_)));
//! assert!(result.is_clean());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Input safety
//! Case files are parsed line by line; conditions nest at most
//! [`case::MAX_CONDITION_DEPTH`] deep. Generated configs go through the ordinary parser,
//! validation and compile, with their limits. This crate does no I/O: callers read the files.
#![deny(missing_docs)]

pub mod case;
pub mod differences;
pub mod mapping;
mod report;

use case::Case;
use differences::Differences;
use flagstone_core::{Engine, EvaluationContext, Reason};
use std::collections::BTreeSet;

/// What Flagstone made of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actual {
    /// The generated flag matched (`true`) or did not (`false`).
    Matched(bool),
    /// The condition has no Flagstone equivalent.
    Unmappable(String),
    /// Flagstone refused the generated config (parse, validation or compile errors).
    Rejected(String),
    /// Evaluation ended with a reason other than `MATCH` / `NO_SEGMENT_MATCH`.
    Unresolved(Reason),
}

impl Actual {
    fn agrees(&self, expected: bool) -> bool {
        *self == Actual::Matched(expected)
    }

    /// One line for reports.
    pub fn describe(&self) -> String {
        match self {
            Actual::Matched(b) => b.to_string(),
            Actual::Unmappable(why) => format!("unmappable ({why})"),
            Actual::Rejected(why) => format!("config rejected ({why})"),
            Actual::Unresolved(reason) => format!("reason {}", reason.as_str()),
        }
    }
}

/// How a case came out against the source's expectation and `differences.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Flagstone agrees with the source.
    Passed,
    /// A documented difference; the entries that document it (`tag stringify-coercion`).
    Documented(Vec<String>),
    /// Listed under `[bugs]`: Flagstone disagrees with its own specification (`docs/spec`).
    KnownBug,
    /// An unexplained mismatch.
    Failed,
}

/// One case's result.
#[derive(Clone, Debug)]
pub struct Outcome<'c> {
    /// The case.
    pub case: &'c Case,
    /// What Flagstone gave.
    pub actual: Actual,
    /// The verdict.
    pub verdict: Verdict,
    /// Each criterion's outcome (`c0: type mismatch`), for cases that did not pass.
    pub trace: String,
}

/// An entry of `differences.toml` that is no longer true.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stale {
    /// A `[cases]` id whose case now agrees with the source.
    CasePasses(String),
    /// A `[bugs]` id whose case now agrees: the bug is fixed, remove the entry.
    BugPasses(String),
    /// A `[cases]` or `[bugs]` id that names no case.
    UnknownCase(String),
    /// A `[tags]` entry under which no case mismatches.
    UnusedTag(String),
    /// An `[operators]` entry under which no case mismatches.
    UnusedOperator(String),
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stale::CasePasses(id) => write!(f, "[cases] {id:?} now passes: remove it"),
            Stale::BugPasses(id) => {
                write!(f, "[bugs] {id:?} now passes: the bug is fixed, remove it")
            }
            Stale::UnknownCase(id) => write!(f, "{id:?} names no case"),
            Stale::UnusedTag(tag) => {
                write!(f, "[tags] {tag} documents no mismatching case: remove it")
            }
            Stale::UnusedOperator(op) => {
                write!(f, "[operators] {op} documents no mismatching case: remove it")
            }
        }
    }
}

/// The result of running every case.
#[derive(Clone, Debug)]
pub struct Run<'c> {
    /// One per case, in input order.
    pub outcomes: Vec<Outcome<'c>>,
    /// Entries of `differences.toml` that are no longer true.
    pub stale: Vec<Stale>,
    differences: Differences,
}

impl Run<'_> {
    /// The unexplained mismatches.
    pub fn failures(&self) -> impl Iterator<Item = &Outcome<'_>> {
        self.outcomes.iter().filter(|o| o.verdict == Verdict::Failed)
    }

    /// No unexplained mismatch and no stale entry.
    pub fn is_clean(&self) -> bool {
        self.failures().next().is_none() && self.stale.is_empty()
    }

    /// The report: per source and operator, passed / documented / bug / failed, then each
    /// documented difference with its reason, every failure with its trace, and stale entries.
    pub fn report(&self) -> String {
        report::render(self, &self.differences)
    }
}

/// Evaluates one case: maps it, compiles it, evaluates the flag on the case's context.
///
/// Returns what Flagstone gave and, when the config compiled, each criterion's outcome.
pub fn evaluate(case: &Case) -> (Actual, String) {
    let config = match mapping::config(case) {
        Ok(config) => config,
        Err(e) => return (Actual::Unmappable(e.0), String::new()),
    };
    let config = match flagstone_model::parse_config(&config.to_string()) {
        Ok(config) => config,
        Err(e) => return (Actual::Rejected(e.to_string()), String::new()),
    };
    let engine = match Engine::compile(&config) {
        Ok(engine) => engine,
        Err(errors) => {
            let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return (Actual::Rejected(messages.join("; ")), String::new());
        }
    };
    let Some(flag) = engine.flag_id(mapping::FLAG) else {
        return (Actual::Unresolved(Reason::FlagNotFound), String::new());
    };
    let context = EvaluationContext::from_json(&case.context);
    let actual = match engine.evaluate(flag, &context).reason {
        Reason::Match => Actual::Matched(true),
        Reason::NoSegmentMatch => Actual::Matched(false),
        other => Actual::Unresolved(other),
    };
    let explanation = engine.explain(flag, &context);
    let trace = explanation
        .rules
        .iter()
        .flat_map(|r| &r.criteria)
        .map(|c| format!("{}: {}", c.id, c.outcome.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    (actual, trace)
}

/// Runs every case and classifies it against `differences`.
pub fn run<'c>(cases: &'c [Case], differences: &Differences) -> Run<'c> {
    let mut outcomes = Vec::with_capacity(cases.len());
    let mut used_tags: BTreeSet<&str> = BTreeSet::new();
    let mut used_operators: BTreeSet<&str> = BTreeSet::new();
    let mut stale = Vec::new();
    for case in cases {
        let (actual, trace) = evaluate(case);
        let agrees = actual.agrees(case.expected);
        let listed_case = differences.cases.contains_key(&case.id);
        let listed_bug = differences.bugs.contains_key(&case.id);
        if agrees && listed_case {
            stale.push(Stale::CasePasses(case.id.clone()));
        }
        if agrees && listed_bug {
            stale.push(Stale::BugPasses(case.id.clone()));
        }
        let mut operators = BTreeSet::new();
        case.condition.for_each_leaf(&mut |leaf| {
            operators.insert(leaf.operator.as_str());
        });
        let mut keys: Vec<String> = case
            .tags
            .iter()
            .filter(|t| differences.tags.contains_key(*t))
            .map(|t| format!("tag {t}"))
            .collect();
        keys.extend(
            operators
                .iter()
                .filter(|op| differences.operators.contains_key(**op))
                .map(|op| format!("operator {op}")),
        );
        if !agrees && !listed_case && !listed_bug {
            used_tags.extend(
                case.tags.iter().map(String::as_str).filter(|t| differences.tags.contains_key(*t)),
            );
            used_operators
                .extend(operators.iter().filter(|op| differences.operators.contains_key(**op)));
        }
        let verdict = if agrees {
            Verdict::Passed
        } else if listed_bug {
            Verdict::KnownBug
        } else if listed_case {
            Verdict::Documented(vec![format!("case {}", case.id)])
        } else if !keys.is_empty() {
            Verdict::Documented(keys)
        } else {
            Verdict::Failed
        };
        let trace = if agrees { String::new() } else { trace };
        outcomes.push(Outcome { case, actual, verdict, trace });
    }
    let ids: BTreeSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    for id in differences.cases.keys().chain(differences.bugs.keys()) {
        if !ids.contains(id.as_str()) {
            stale.push(Stale::UnknownCase(id.clone()));
        }
    }
    for tag in differences.tags.keys() {
        if !used_tags.contains(tag.as_str()) {
            stale.push(Stale::UnusedTag(tag.clone()));
        }
    }
    for op in differences.operators.keys() {
        if !used_operators.contains(op.as_str()) {
            stale.push(Stale::UnusedOperator(op.clone()));
        }
    }
    Run { outcomes, stale, differences: differences.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::parse_cases;

    fn cases(lines: &[&str]) -> Vec<Case> {
        parse_cases(&lines.join("\n"), "t.jsonl").unwrap()
    }

    const STRINGIFY: &str = r#"{"source": "eppo", "id": "e:1", "attribute": "a", "operator": "in", "operand": ["1"], "context": {"a": 1}, "expected": true, "tags": ["stringify-coercion"]}"#;
    const AGREES: &str = r#"{"source": "eppo", "id": "e:2", "attribute": "a", "operator": "in", "operand": ["1"], "context": {"a": "1"}, "expected": true, "tags": ["stringify-coercion"]}"#;

    #[test]
    fn an_unlisted_mismatch_fails() {
        let cases = cases(&[STRINGIFY]);
        let run = run(&cases, &Differences::default());
        assert_eq!(run.outcomes[0].verdict, Verdict::Failed);
        assert_eq!(run.outcomes[0].actual, Actual::Matched(false));
        assert_eq!(run.outcomes[0].trace, "c0: type mismatch");
        assert!(!run.is_clean());
    }

    #[test]
    fn listed_entries_must_stay_true() {
        let cases = cases(&[AGREES]);
        let differences = Differences::parse(
            "[tags]\nstringify-coercion = \"r\"\n[operators]\nin_cidr = \"r\"\n[cases]\n\"e:2\" = \"r\"\n\"e:9\" = \"r\"\n[bugs]\n\"e:2\" = \"r\"\n",
        )
        .unwrap();
        let run = run(&cases, &differences);
        assert_eq!(run.outcomes[0].verdict, Verdict::Passed);
        assert_eq!(
            run.stale,
            [
                Stale::CasePasses("e:2".into()),
                Stale::BugPasses("e:2".into()),
                Stale::UnknownCase("e:9".into()),
                Stale::UnusedTag("stringify-coercion".into()),
                Stale::UnusedOperator("in_cidr".into()),
            ]
        );
    }

    #[test]
    fn a_tag_documents_its_mismatches_and_bugs_are_kept_apart() {
        let cases = cases(&[STRINGIFY, AGREES]);
        let by_tag = Differences::parse("[tags]\nstringify-coercion = \"r\"\n").unwrap();
        let result = run(&cases, &by_tag);
        assert_eq!(
            result.outcomes[0].verdict,
            Verdict::Documented(vec!["tag stringify-coercion".into()])
        );
        assert!(result.is_clean());
        let as_bug = Differences::parse("[bugs]\n\"e:1\" = \"r\"\n").unwrap();
        let result = run(&cases, &as_bug);
        assert_eq!(result.outcomes[0].verdict, Verdict::KnownBug);
        assert!(result.is_clean());
    }
}
