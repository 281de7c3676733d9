//! Compile: a [`Valid`] config → [`Engine`], once per config (docs/spec §0).
//!
//! Validation owns every check: [`flagstone_model::validate::check`] resolves
//! names, parses literals, builds every regex, lowers the workflows and bounds
//! reference chains, and hands over a [`Valid`] config. Compile only builds the
//! runtime form: names become dense indices, sets are sorted for binary search,
//! expressions are flattened, schedules are sorted for binary search. It cannot
//! fail; where it meets what validation rejects (a broken invariant, not user
//! input) it asserts in debug builds and falls back to a criterion that never
//! holds.
//!
//! The parts: this module numbers flags, segments and groups and builds rules;
//! `matchers` builds criteria and their matchers; `references` finds the sticky
//! rules each flag's evaluation can reach.

mod matchers;
mod references;

use crate::compiled::{
    self, Allocation, Assignment, AssignmentIdx, Decision, GroupIdx, MaterializationSpec, Schedule,
    Scheme, SegmentIdx, Span, VariantIdx,
};
use crate::context::AttrPath;
use crate::engine::Engine;
use crate::resolution::FlagId;
use flagstone_model::Config;
use flagstone_model::flag::{BucketScheme, Flag, FlagState, Outcome as ModelOutcome, Rule};
use flagstone_model::lower::ScheduleSpec;
use flagstone_model::names::{Collection, variant_full_name};
use flagstone_model::segment::{ALLOCATION_BUCKETS, Segment, SegmentState};
use flagstone_model::validate::{Valid, ValidationError, check};
use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroU32;

/// Why a config cannot be compiled: it does not validate. Each error names its JSON path
/// first.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The config does not validate.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

impl Engine {
    /// Validates and compiles a config; reports every error at once.
    ///
    /// Validation runs once: this is [`flagstone_model::validate::check`] followed by
    /// [`Engine::from_valid`].
    ///
    /// # Errors
    /// Every validation error of the config, each with its JSON path (reference chains
    /// over the depth or cost limit included).
    ///
    /// # Examples
    /// ```
    /// use flagstone_core::{Engine, EvaluationContext, Reason};
    /// let config = flagstone_model::parse_config(r#"{
    ///   "flags": [{"name": "flags/a", "variants": [{"name": "flags/a/variants/on", "value": true}],
    ///     "rules": [{"name": "flags/a/rules/r", "segment": "segments/all",
    ///       "assignmentSpec": {"bucketCount": 1, "assignments": [
    ///         {"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]}],
    ///   "segments": [{"name": "segments/all"}]
    /// }"#)?;
    /// let engine = Engine::compile(&config).map_err(|errors| format!("{errors:?}"))?;
    /// let context = serde_json::json!({"targeting_key": "user-1"});
    /// let flag = engine.flag_id("flags/a").ok_or("no flag")?;
    /// let resolution = engine.evaluate(flag, &EvaluationContext::from_json(&context));
    /// assert_eq!(resolution.reason, Reason::Match);
    /// assert_eq!(resolution.variant, Some("flags/a/variants/on"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compile(config: &Config) -> Result<Engine, Vec<CompileError>> {
        match check(config) {
            (_, Some(valid)) => Ok(Engine::from_valid(&valid)),
            (report, None) => Err(report.errors.into_iter().map(CompileError::Invalid).collect()),
        }
    }

    /// Compiles a config that passed validation. Infallible: validation has checked
    /// everything compile relies on.
    ///
    /// # Examples
    /// ```
    /// let config = flagstone_model::parse_config(r#"{"flags": [{"name": "flags/a"}]}"#)?;
    /// let (report, valid) = flagstone_model::validate::check(&config);
    /// let valid = valid.ok_or_else(|| report.to_string())?;
    /// let engine = flagstone_core::Engine::from_valid(&valid);
    /// assert!(engine.flag_id("flags/a").is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_valid(valid: &Valid<'_>) -> Engine {
        Compiler::new(valid).run()
    }
}

/// Reports a broken invariant: something validation rejects reached compile.
fn broken(what: std::fmt::Arguments<'_>) {
    debug_assert!(false, "compile met what validation rejects: {what}");
}

struct Compiler<'v, 'c> {
    valid: &'v Valid<'c>,
    flag_ids: HashMap<Box<str>, FlagId>,
    /// Variant indices per flag, by full variant name.
    variant_ids: Vec<HashMap<&'v str, VariantIdx>>,
    segment_ids: HashMap<&'v str, SegmentIdx>,
    group_ids: HashMap<&'v str, GroupIdx>,
    /// Patterns compiled so far, by text and case folding.
    patterns: HashMap<(Box<str>, bool), crate::pattern::Pattern>,
    /// What is left of [`crate::pattern::DFA_BUDGET`].
    dfa_budget: usize,
}

impl<'v, 'c> Compiler<'v, 'c> {
    fn new(valid: &'v Valid<'c>) -> Self {
        Compiler {
            valid,
            flag_ids: HashMap::new(),
            variant_ids: Vec::new(),
            segment_ids: HashMap::new(),
            group_ids: HashMap::new(),
            patterns: HashMap::new(),
            dfa_budget: crate::pattern::DFA_BUDGET,
        }
    }

    fn run(mut self) -> Engine {
        let config: &'c Config = self.valid.config();
        let lowered = self.valid.lowered();
        // Every flag in order: the config's, then those of experiments.
        let flags: Vec<&'v Flag> =
            config.flags.iter().chain(lowered.flags.iter().map(|(f, _, _)| f)).collect();
        for (i, flag) in numbered(&flags) {
            let id = FlagId(i);
            self.flag_ids.insert(flag.name.as_str().into(), id);
            if let Some(bare) = Collection::Flags.id_of(&flag.name) {
                self.flag_ids.entry(bare.into()).or_insert(id);
            }
            let variants = numbered(&flag.variants)
                .map(|(v, variant)| (variant.name.as_str(), VariantIdx(v)))
                .collect();
            self.variant_ids.push(variants);
        }
        let segments: Vec<&'v Segment> =
            config.segments.iter().chain(lowered.segments.iter().map(|(s, _)| s)).collect();
        for (i, segment) in numbered(&segments) {
            self.segment_ids.insert(segment.name.as_str(), SegmentIdx(i));
        }
        for (i, g) in numbered(&config.target_groups) {
            self.group_ids.insert(g.name.as_str(), GroupIdx(i));
        }
        let groups = numbered(&config.target_groups).map(|(_, g)| self.group(g)).collect();
        let compiled_segments: Box<[compiled::Segment]> =
            numbered(&segments).map(|(_, s)| self.segment(s)).collect();

        let n_config_flags = config.flags.len();
        let mut compiled_flags = Vec::with_capacity(flags.len());
        // `variant_ids` has one entry per flag, numbered in the same order.
        for ((i, flag), variants) in numbered(&flags).zip(&self.variant_ids) {
            let id = FlagId(i);
            let mut rules: Vec<compiled::Rule> =
                flag.rules.iter().filter_map(|r| self.rule(variants, flag, r, None)).collect();
            // An experiment's own chain first, then rollouts and A/B tests on the flag.
            let own = match id.index().checked_sub(n_config_flags) {
                Some(e) => {
                    lowered.flags.get(e).map(|(_, rules, _)| rules.as_slice()).unwrap_or_default()
                }
                None => &[],
            };
            let workflows =
                lowered.rules.get(flag.name.as_str()).map(Vec::as_slice).unwrap_or_default();
            for l in own.iter().chain(workflows) {
                rules.extend(self.rule(variants, flag, &l.rule, l.schedule.as_ref()));
            }
            compiled_flags.push(compiled::Flag {
                id,
                name: flag.name.as_str().into(),
                archived: matches!(flag.state, FlagState::Archived),
                variants: flag
                    .variants
                    .iter()
                    .map(|v| compiled::Variant {
                        name: v.name.as_str().into(),
                        value: v.value.clone(),
                    })
                    .collect(),
                rules: rules.into_boxed_slice(),
            });
        }
        let sticky_reach = references::sticky_reach(&compiled_flags, &compiled_segments);
        Engine {
            sticky_reach,
            flags: compiled_flags.into_boxed_slice(),
            flag_ids: self.flag_ids,
            segments: compiled_segments,
            groups,
            allocation_salt: config.allocation_salt.as_str().into(),
        }
    }

    fn segment(&mut self, s: &Segment) -> compiled::Segment {
        let allocation = match s.state {
            SegmentState::Archived => Allocation::Nobody,
            _ if !s.allocated_ranges.is_empty() => {
                Allocation::Ranges(s.allocated_ranges.clone().into_boxed_slice())
            }
            _ if s.allocation.proportion.get() >= 1.0 => Allocation::Whole,
            _ => Allocation::Below(s.allocation.proportion.buckets_of(ALLOCATION_BUCKETS)),
        };
        compiled::Segment {
            name: s.name.as_str().into(),
            hash_id: s.name.strip_prefix("segments/").unwrap_or(&s.name).into(),
            targeting: self.targeting(&s.targeting),
            allocation,
        }
    }

    /// A rule of `flag`, whose variants are numbered in `variants`.
    fn rule(
        &self,
        variants: &HashMap<&str, VariantIdx>,
        flag: &Flag,
        rule: &Rule,
        schedule: Option<&ScheduleSpec>,
    ) -> Option<compiled::Rule> {
        let Some(n_buckets) = NonZeroU32::new(rule.assignment_spec.bucket_count) else {
            broken(format_args!("rule {} with bucket count 0", rule.name));
            return None;
        };
        let Some(&segment) =
            self.segment_ids.get(Collection::Segments.full_name(&rule.segment).as_ref())
        else {
            broken(format_args!("rule {} with unknown segment {}", rule.name, rule.segment));
            return None;
        };
        let mut assignments = Vec::with_capacity(rule.assignment_spec.assignments.len());
        let mut table = Vec::new();
        let mut variant_outcomes = BTreeSet::new();
        for (a_idx, a) in numbered(&rule.assignment_spec.assignments) {
            let decision = match &a.outcome {
                ModelOutcome::Variant(v) => {
                    let Some(&idx) = variants.get(variant_full_name(&flag.name, v).as_ref()) else {
                        broken(format_args!("rule {} with unknown variant {v}", rule.name));
                        return None;
                    };
                    variant_outcomes.insert(idx);
                    Decision::Variant(idx)
                }
                ModelOutcome::Fallthrough => Decision::Fallthrough,
                ModelOutcome::ClientDefault => Decision::ClientDefault,
            };
            assignments.push(Assignment { id: a.assignment_id.as_str().into(), decision });
            let assignment = AssignmentIdx(a_idx);
            table.extend(a.bucket_ranges.iter().map(|r| Span {
                lower: r.lower,
                upper: r.upper,
                assignment,
            }));
        }
        table.sort_unstable();
        let covered: u64 = table.iter().map(|s| u64::from(s.upper.saturating_sub(s.lower))).sum();
        let first = table.first().map(|s| s.assignment);
        let uniform = first.filter(|&a| {
            schedule.is_none()
                && covered == u64::from(n_buckets.get())
                && table.iter().all(|s| s.assignment == a)
        });
        // A lowered rule with a schedule has the scheduled assignment first and the
        // fallthrough second (`flagstone_model::lower`).
        let schedule = schedule.map(|s| {
            let mut steps = s.steps.clone();
            steps.sort_by_key(|&(t, _)| t);
            Box::new(Schedule {
                base: s.base,
                steps: steps.into_boxed_slice(),
                on: AssignmentIdx(0),
                off: AssignmentIdx(1),
            })
        });
        Some(compiled::Rule {
            name: rule.name.as_str().into(),
            enabled: rule.enabled,
            segment,
            selector: AttrPath::new(&rule.targeting_key_selector),
            n_buckets,
            table: table.into_boxed_slice(),
            assignments: assignments.into_boxed_slice(),
            uniform,
            is_split: variant_outcomes.len() > 1,
            schedule,
            scheme: scheme(rule, &flag.name),
            materialization: rule.materialization_spec.as_ref().map(|m| {
                let name = |s: &str| (!s.is_empty()).then(|| Box::<str>::from(s));
                Box::new(MaterializationSpec {
                    read: name(&m.read_materialization),
                    write: name(&m.write_materialization),
                    must_match: m.mode.materialization_must_match,
                    ignore_targeting: m.mode.segment_targeting_can_be_ignored,
                })
            }),
        })
    }
}

/// How a rule's units hash into buckets; Unleash and flagd group by the flag id by default.
fn scheme(rule: &Rule, flag_name: &str) -> Scheme {
    let spec = &rule.assignment_spec;
    let group = || -> Box<str> {
        spec.group
            .as_deref()
            .unwrap_or_else(|| flag_name.strip_prefix("flags/").unwrap_or(flag_name))
            .into()
    };
    match spec.scheme {
        BucketScheme::Confidence => Scheme::Confidence,
        BucketScheme::Unleash => Scheme::Unleash { group: group(), seed: spec.seed.unwrap_or(0) },
        BucketScheme::Flagd => Scheme::Flagd { group: group() },
    }
}

/// Numbers `items` from 0, as the dense `u32` indices of the compiled form.
///
/// Validation bounds every list compile numbers far below `u32::MAX` (`MAX_FLAGS`,
/// `MAX_SEGMENTS`, the per-flag and per-segment limits of `flagstone_model::limits`, and the
/// config size for the rest), so every item gets its index. Were that broken, numbering
/// would stop at the last index rather than hand out one that points elsewhere.
fn numbered<I>(items: I) -> impl Iterator<Item = (u32, I::Item)>
where
    I: IntoIterator,
    I::IntoIter: ExactSizeIterator,
{
    let items = items.into_iter();
    debug_assert!(u32::try_from(items.len()).is_ok(), "{} items to number", items.len());
    (0..=u32::MAX).zip(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagstone_model::pattern::regex_builds_on_this_thread;
    use flagstone_model::validate::validations_on_this_thread;

    /// One validation per compile, and one build per distinct regex: two segments with the
    /// same pattern share it; a case-insensitive literal, a case-insensitive set and a
    /// target group's regex condition are one each.
    #[test]
    fn compile_validates_once_and_builds_each_regex_once() {
        let config = flagstone_model::parse_config(
            r#"{
              "flags": [{"name": "flags/f", "variants": [{"name": "flags/f/variants/on", "value": true}],
                "rules": [{"name": "flags/f/rules/r", "segment": "segments/b", "assignmentSpec": {"bucketCount": 1,
                  "assignments": [{"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]}],
              "segments": [
                {"name": "segments/a", "targeting": {"criteria": {
                  "re": {"attribute": {"attributeName": "email", "regexRule": {"pattern": "@acme\\.example$"}}},
                  "ci": {"attribute": {"attributeName": "country", "eqRule": {"value": {"stringValue": "se"}, "caseInsensitive": true}}}
                }}},
                {"name": "segments/b", "targeting": {"criteria": {
                  "re": {"attribute": {"attributeName": "email", "regexRule": {"pattern": "@acme\\.example$"}}},
                  "set": {"attribute": {"attributeName": "plan", "caseInsensitive": true, "setRule": {"values": [{"stringValue": "Pro"}, {"stringValue": "Team"}]}}},
                  "qa": {"group": {"names": ["qa"]}}
                }}}
              ],
              "targetGroups": [{"name": "targetGroups/qa", "conditions": [
                {"property": "email", "operator": "regex", "operand": "^qa@"}
              ]}]
            }"#,
        )
        .unwrap();
        let (validations, builds) = (validations_on_this_thread(), regex_builds_on_this_thread());
        let engine = Engine::compile(&config).unwrap();
        assert_eq!(validations_on_this_thread() - validations, 1);
        assert_eq!(regex_builds_on_this_thread() - builds, 4);
        // The handed-over regexes match where they are used.
        let flag = engine.flag_id("flags/f").unwrap();
        let yes =
            serde_json::json!({"targeting_key": "u", "email": "qa@acme.example", "plan": "TEAM"});
        let no =
            serde_json::json!({"targeting_key": "u", "email": "qa@acme.example", "plan": "free"});
        let reason = |ctx| engine.evaluate(flag, &crate::EvaluationContext::from_json(ctx)).reason;
        assert_eq!(reason(&yes), crate::Reason::Match);
        assert_eq!(reason(&no), crate::Reason::NoSegmentMatch);
    }
}
