//! Explain: the same walk as evaluate, with a recorder that keeps every step (spec §2.7).

use crate::compiled::{self, Span};
use crate::context::EvaluationContext;
use crate::engine::Engine;
use crate::matcher::Outcome;
use crate::resolution::{FlagId, Reason};
use crate::walk::{Recorder, Skip, Walk};
use serde::Serialize;

/// Why evaluation came out as it did: every rule tried and every criterion evaluated.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The flag.
    pub flag: String,
    /// The reason of the resolution.
    pub reason: Reason,
    /// The variant assigned, if any.
    pub variant: Option<String>,
    /// Each rule tried, in order, until one decided.
    pub rules: Vec<RuleTrace>,
}

/// One rule tried.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleTrace {
    /// The rule's name.
    pub rule: String,
    /// Its segment.
    pub segment: String,
    /// Why the rule did not decide; absent when it decided.
    pub skipped: Option<&'static str>,
    /// The unit read at the rule's targeting key selector.
    pub unit: Option<String>,
    /// Each criterion evaluated (short-circuited ones are absent), in evaluation order.
    pub criteria: Vec<CriterionTrace>,
    /// Whether the segment's targeting matched, when evaluated.
    pub targeting: Option<bool>,
    /// The allocation check, when the segment's allocation is not whole.
    pub allocation: Option<AllocationTrace>,
    /// The assignment lookup, when reached.
    pub assignment: Option<AssignmentTrace>,
}

/// One criterion's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CriterionTrace {
    /// The criterion's id in the segment's targeting.
    pub id: String,
    /// What it gave.
    pub outcome: Outcome,
}

/// The allocation check of a segment.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocationTrace {
    /// The unit's allocation bucket out of 1,000,000 (absent without a unit).
    pub bucket: Option<u32>,
    /// Whether it is inside the segment's allocation.
    pub inside: bool,
}

/// The assignment lookup of a rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentTrace {
    /// The unit's bucket (absent when every bucket gets the same outcome).
    pub bucket: Option<u32>,
    /// The half-open range `[lower, upper)` that holds it.
    pub range: Option<[u32; 2]>,
    /// The assignment of that range.
    pub assignment_id: Option<String>,
}

struct ExplainRecorder<'e> {
    engine: &'e Engine,
    flag: &'e compiled::Flag,
    rule_idx: usize,
    rules: Vec<RuleTrace>,
}

impl ExplainRecorder<'_> {
    fn current(&mut self) -> Option<&mut RuleTrace> {
        self.rules.last_mut()
    }
}

fn skip_text(why: Skip) -> &'static str {
    match why {
        Skip::Disabled => "rule disabled",
        Skip::NoUnit => "no unit at the targeting key selector",
        Skip::BadUnit(e) => e.as_str(),
        Skip::Targeting => "targeting did not match",
        Skip::Allocation => "unit outside the segment's allocation",
        Skip::NoAssignment => "bucket in no assignment range",
        Skip::Fallthrough => "fallthrough assignment: on to the next rule",
        Skip::NotMaterialized => "paused intake: the unit has no stored assignment",
    }
}

impl Recorder for ExplainRecorder<'_> {
    fn rule(&mut self, rule_idx: usize) {
        self.rule_idx = rule_idx;
        let rule = self.flag.rules.get(rule_idx);
        let segment = rule.and_then(|r| self.engine.segment(r.segment));
        self.rules.push(RuleTrace {
            rule: rule.map(|r| r.name.to_string()).unwrap_or_default(),
            segment: segment.map(|s| s.name.to_string()).unwrap_or_default(),
            skipped: None,
            unit: None,
            criteria: Vec::new(),
            targeting: None,
            allocation: None,
            assignment: None,
        });
    }

    fn skip(&mut self, why: Skip) {
        if let Some(r) = self.current() {
            r.skipped = Some(skip_text(why));
        }
    }

    fn unit(&mut self, unit: &str) {
        if let Some(r) = self.current() {
            r.unit = Some(unit.to_owned());
        }
    }

    fn criterion(&mut self, criterion_idx: usize, outcome: Outcome) {
        let segment =
            self.flag.rules.get(self.rule_idx).and_then(|r| self.engine.segment(r.segment));
        let id = segment
            .and_then(|s| s.targeting.ids.get(criterion_idx))
            .map(|id| id.to_string())
            .unwrap_or_default();
        if let Some(r) = self.current() {
            r.criteria.push(CriterionTrace { id, outcome });
        }
    }

    fn targeting(&mut self, matched: bool) {
        if let Some(r) = self.current() {
            r.targeting = Some(matched);
        }
    }

    fn allocation(&mut self, bucket: Option<u32>, inside: bool) {
        if let Some(r) = self.current() {
            r.allocation = Some(AllocationTrace { bucket, inside });
        }
    }

    fn assignment(&mut self, bucket: Option<u32>, span: Option<Span>) {
        let id = span
            .and_then(|s| self.flag.rules.get(self.rule_idx)?.assignment(s.assignment))
            .map(|a| a.id.to_string());
        if let Some(r) = self.current() {
            r.assignment = Some(AssignmentTrace {
                bucket,
                range: span.map(|s| [s.lower, s.upper]),
                assignment_id: id,
            });
        }
    }
}

impl Engine {
    /// Explains one flag's evaluation: the same walk as [`Engine::evaluate`],
    /// recording each rule, criterion, allocation and assignment step.
    pub fn explain(&self, flag: FlagId, ctx: &EvaluationContext<'_>) -> Explanation {
        let Some(f) = self.flags.get(flag.index()) else {
            return Explanation {
                flag: String::new(),
                reason: Reason::FlagNotFound,
                variant: None,
                rules: Vec::new(),
            };
        };
        let mut rec = ExplainRecorder { engine: self, flag: f, rule_idx: 0, rules: Vec::new() };
        let mut walk = Walk::new(ctx.now());
        let resolution = self.resolve(f, ctx, &mut walk, &mut rec);
        Explanation {
            flag: f.name.to_string(),
            reason: resolution.reason,
            variant: resolution.variant.map(str::to_owned),
            rules: rec.rules,
        }
    }
}
