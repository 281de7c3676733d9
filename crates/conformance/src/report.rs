//! The text report of a conformance run.

use crate::differences::Differences;
use crate::{Outcome, Run, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Clone, Copy, Default)]
struct Counts {
    cases: usize,
    passed: usize,
    documented: usize,
    bugs: usize,
    failed: usize,
}

impl Counts {
    fn add(&mut self, verdict: &Verdict) {
        self.cases += 1;
        match verdict {
            Verdict::Passed => self.passed += 1,
            Verdict::Documented(_) => self.documented += 1,
            Verdict::KnownBug => self.bugs += 1,
            Verdict::Failed => self.failed += 1,
        }
    }
}

fn row(out: &mut String, source: &str, operator: &str, c: Counts) {
    let _ = writeln!(
        out,
        "{source:<13} {operator:<13} {:>6} {:>7} {:>11} {:>5} {:>7}",
        c.cases, c.passed, c.documented, c.bugs, c.failed
    );
}

fn case_line(out: &mut String, o: &Outcome<'_>) {
    let _ = writeln!(
        out,
        "    {}: expected {}, Flagstone: {}{}",
        o.case.id,
        o.case.expected,
        o.actual.describe(),
        if o.trace.is_empty() { String::new() } else { format!(" [{}]", o.trace) }
    );
}

pub(crate) fn render(run: &Run<'_>, differences: &Differences) -> String {
    let mut out = String::new();
    let mut by_row: BTreeMap<(&str, &str), Counts> = BTreeMap::new();
    let mut by_source: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut total = Counts::default();
    for o in &run.outcomes {
        by_row.entry((&o.case.source, o.case.operator())).or_default().add(&o.verdict);
        by_source.entry(&o.case.source).or_default().add(&o.verdict);
        total.add(&o.verdict);
    }
    let _ = writeln!(out, "Flagstone conformance: {} cases", total.cases);
    let _ = writeln!(
        out,
        "{:<13} {:<13} {:>6} {:>7} {:>11} {:>5} {:>7}",
        "source", "operator", "cases", "passed", "documented", "bug", "failed"
    );
    for (source, counts) in &by_source {
        for ((s, operator), c) in by_row.range((*source, "")..) {
            if s != source {
                break;
            }
            row(&mut out, s, operator, *c);
        }
        row(&mut out, source, "(all)", *counts);
    }
    row(&mut out, "(all)", "(all)", total);

    // Cases grouped by the entries that document them, each entry with its reason.
    let mut documented: BTreeMap<String, Vec<&Outcome<'_>>> = BTreeMap::new();
    for o in &run.outcomes {
        if let Verdict::Documented(keys) = &o.verdict {
            documented.entry(keys.join(" + ")).or_default().push(o);
        }
    }
    let _ = writeln!(out, "\nDocumented differences ({} cases)", total.documented);
    for (key, outcomes) in &documented {
        let n = outcomes.len();
        let _ = writeln!(out, "  {key} ({n} case{})", if n == 1 { "" } else { "s" });
        for part in key.split(" + ") {
            let reason = match part.split_once(' ') {
                Some(("tag", k)) => differences.tags.get(k),
                Some(("operator", k)) => differences.operators.get(k),
                Some(("case", k)) => differences.cases.get(k),
                _ => None,
            };
            if let Some(reason) = reason {
                let _ = writeln!(out, "    [{part}] {reason}");
            }
        }
        for o in outcomes {
            case_line(&mut out, o);
        }
    }

    let bugs: Vec<&Outcome<'_>> =
        run.outcomes.iter().filter(|o| o.verdict == Verdict::KnownBug).collect();
    if !bugs.is_empty() {
        let _ = writeln!(out, "\nKnown engine bugs ({}), listed under [bugs]", bugs.len());
        for o in bugs {
            case_line(&mut out, o);
            if let Some(reason) = differences.bugs.get(&o.case.id) {
                let _ = writeln!(out, "      {reason}");
            }
        }
    }

    let failures: Vec<&Outcome<'_>> = run.failures().collect();
    let _ = writeln!(out, "\nUnexplained mismatches ({})", failures.len());
    for o in failures {
        case_line(&mut out, o);
        let _ = writeln!(
            out,
            "      {} tags [{}]: {}",
            o.case.location,
            o.case.tags.join(", "),
            o.case.notes
        );
    }

    let _ = writeln!(out, "\nStale entries in differences.toml ({})", run.stale.len());
    for s in &run.stale {
        let _ = writeln!(out, "    {s}");
    }
    out
}
