//! Lowering the managed resources into segments and rules (spec §2.5).
//!
//! Rollouts, A/B tests and CloudBees experiments are not evaluated as such: they
//! become plain segments and rules, so one walk serves all. Lowering is a model
//! step (model → model): validation sees what lowering produces, and compile
//! consumes it without lowering again.
//!
//! - Every rollout and A/B test defines segment `segments/{id}`, so other
//!   targeting may refer to it whatever the workflow's state; only `LIVE` and
//!   `PAUSED` ones add a rule.
//! - A `LIVE` or `PAUSED` rollout becomes segment `segments/{id}` (its
//!   targeting, whole allocation) and a rule named after the rollout, with
//!   10,000 buckets: the variant on `[0, reach·10000)`, fallthrough on the rest.
//!   A `LIVE` rollout with a schedule takes the reach of the latest step whose
//!   `from` ≤ now (the rollout's own `reach` before the first step); `PAUSED`
//!   freezes the reach at `reach`. `DRAFT` and `ENDED` lower to nothing.
//! - A `LIVE` or `PAUSED` A/B test (pausing freezes it; it keeps serving, as
//!   intake can only be told from return visits with a sticky store) becomes segment `segments/{id}` (its
//!   targeting and allocation) and a rule splitting 10,000 buckets by weight in
//!   treatment order. Boundaries are the cumulative shares rounded to the
//!   nearest bucket, so the arms cover all buckets and each is within one
//!   bucket of its exact share (two equal arms: `[0, 5000)`, `[5000, 10000)`).
//! - A CloudBees experiment becomes flag `flags/{flag}` with one variant per
//!   available value and one segment and rule per condition, platforms first;
//!   the experiment's `value` is a final rule for everyone. Splits and
//!   schedules (percentages in `[0, 100]`) use 10,000 buckets; units outside the percentages fall through
//!   to the next condition. `enabled: false` gives no rules (client default).
//!
//! Shares become buckets by rounding to the nearest bucket
//! ([`crate::fraction::Fraction::buckets_of`]): a reach of 0.00005
//! is one bucket of 10,000, 0.00004 is none.

use crate::Config;
use crate::experiment::{
    Experiment, ExperimentCondition, ExperimentValue, PLATFORM_ATTRIBUTE, WHOLE_PERCENTAGE,
    variant_id_for_value,
};
use crate::flag::{
    Assignment, AssignmentSpec, BucketRange, Flag, FlagState, Outcome, Rule, Variant,
};
use crate::fraction::Fraction;
use crate::names::Collection;
use crate::segment::{Allocation, Segment, SegmentState};
use crate::targeting::{
    AttributeCriterion, AttributeRule, Criterion, EqRule, SegmentCriterion, Targeting, Value,
};
use crate::workflow::WorkflowState;
use std::collections::{BTreeMap, HashMap};

/// Buckets of workflow rules.
pub const WORKFLOW_BUCKETS: u32 = 10_000;

/// A reach that changes over time: `(from, buckets)` steps in document order.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleSpec {
    /// The buckets that get the variant before the first step.
    pub base: u32,
    /// `(from, buckets)`: from that instant on, buckets below `buckets` get the variant.
    pub steps: Vec<(jiff::Timestamp, u32)>,
}

/// A rule lowered from a workflow, with the JSON path of its source.
#[derive(Clone, Debug, PartialEq)]
pub struct LoweredRule {
    /// The rule, as if written on the flag.
    pub rule: Rule,
    /// The schedule its reach follows, if any (its first assignment is the scheduled one).
    pub schedule: Option<ScheduleSpec>,
    /// The workflow it comes from (`rollouts[0]`, `experiments[2]`).
    pub path: String,
}

/// What lowering adds to a config.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lowered {
    /// Segments, each with the JSON path of its source.
    pub segments: Vec<(Segment, String)>,
    /// Rules to append to existing flags, by full flag name, in document order.
    pub rules: HashMap<String, Vec<LoweredRule>>,
    /// Flags defined by experiments, with their rules and the experiment's path.
    pub flags: Vec<(Flag, Vec<LoweredRule>, String)>,
}

/// Lowers every rollout, A/B test and CloudBees experiment of `config`.
///
/// Resources whose names do not parse lower to nothing (validation reports them).
pub fn lower(config: &Config) -> Lowered {
    let mut out = Lowered::default();
    for (i, r) in config.rollouts.iter().enumerate() {
        let Some(id) = Collection::Rollouts.id_of(&r.name) else { continue };
        let path = format!("rollouts[{i}]");
        let segment = format!("segments/{id}");
        out.segments.push((
            workflow_segment(
                &segment,
                r.targeting.as_ref(),
                r.segment.as_deref(),
                Allocation::default(),
                &[],
            ),
            path.clone(),
        ));
        if !r.state.is_serving() {
            continue;
        }
        let reach = r.reach.buckets_of(WORKFLOW_BUCKETS);
        let schedule =
            (r.state == WorkflowState::Live && !r.schedule.is_empty()).then(|| ScheduleSpec {
                base: reach,
                steps: r
                    .schedule
                    .iter()
                    .filter_map(|s| {
                        Some((s.from.parse().ok()?, s.reach.buckets_of(WORKFLOW_BUCKETS)))
                    })
                    .collect(),
            });
        let assignments = vec![
            assignment(id, Outcome::Variant(r.variant.clone()), 0, reach),
            assignment("fallthrough", Outcome::Fallthrough, reach, WORKFLOW_BUCKETS),
        ];
        let rule = workflow_rule(
            &r.name,
            &segment,
            &r.targeting_key_selector,
            WORKFLOW_BUCKETS,
            assignments,
        );
        let rule = Rule { materialization_spec: r.materialization_spec.clone(), ..rule };
        let flag = Collection::Flags.full_name(&r.flag).into_owned();
        out.rules.entry(flag).or_default().push(LoweredRule { rule, schedule, path });
    }
    for (i, t) in config.abtests.iter().enumerate() {
        let Some(id) = Collection::AbTests.id_of(&t.name) else { continue };
        let path = format!("abtests[{i}]");
        let segment = format!("segments/{id}");
        out.segments.push((
            workflow_segment(
                &segment,
                t.targeting.as_ref(),
                t.segment.as_deref(),
                t.allocation.clone(),
                &t.allocated_ranges,
            ),
            path.clone(),
        ));
        if !t.state.is_serving() {
            continue;
        }
        let weights: Vec<f64> = t.treatments.iter().map(|x| x.weight).collect();
        let assignments = split(&weights, WORKFLOW_BUCKETS)
            .into_iter()
            .zip(&t.treatments)
            .map(|((lower, upper), x)| {
                let id = x.variant.rsplit('/').next().unwrap_or(&x.variant);
                assignment(id, Outcome::Variant(x.variant.clone()), lower, upper)
            })
            .collect();
        let rule = workflow_rule(
            &t.name,
            &segment,
            &t.targeting_key_selector,
            WORKFLOW_BUCKETS,
            assignments,
        );
        let rule = Rule { materialization_spec: t.materialization_spec.clone(), ..rule };
        let flag = Collection::Flags.full_name(&t.flag).into_owned();
        out.rules.entry(flag).or_default().push(LoweredRule { rule, schedule: None, path });
    }
    for (i, e) in config.experiments.iter().enumerate() {
        lower_experiment(e, format!("experiments[{i}]"), &mut out);
    }
    out
}

/// Splits `n` buckets by relative weights in order: `[(lower, upper)]`, cumulative rounding.
pub(crate) fn split(weights: &[f64], n: u32) -> Vec<(u32, u32)> {
    let total: f64 = weights.iter().filter(|w| w.is_finite() && **w > 0.0).sum();
    let mut out = Vec::with_capacity(weights.len());
    let (mut cumulative, mut lower) = (0.0, 0);
    for w in weights {
        cumulative += if w.is_finite() && *w > 0.0 { *w } else { 0.0 };
        let share = if total > 0.0 { cumulative / total } else { 0.0 };
        let upper = Fraction::new(share).map_or(lower, |f| f.buckets_of(n)).max(lower);
        out.push((lower, upper));
        lower = upper;
    }
    out
}

fn assignment(id: &str, outcome: Outcome, lower: u32, upper: u32) -> Assignment {
    let bucket_ranges = if lower < upper { vec![BucketRange { lower, upper }] } else { Vec::new() };
    Assignment { assignment_id: id.to_owned(), outcome, bucket_ranges }
}

fn workflow_rule(
    name: &str,
    segment: &str,
    selector: &str,
    bucket_count: u32,
    assignments: Vec<Assignment>,
) -> Rule {
    Rule {
        name: name.to_owned(),
        segment: segment.to_owned(),
        enabled: true,
        targeting_key_selector: selector.to_owned(),
        assignment_spec: AssignmentSpec::new(bucket_count, assignments),
        materialization_spec: None,
        environments: Vec::new(),
    }
}

fn workflow_segment(
    name: &str,
    targeting: Option<&Targeting>,
    segment: Option<&str>,
    allocation: Allocation,
    allocated_ranges: &[BucketRange],
) -> Segment {
    let targeting = match (targeting, segment) {
        (Some(t), _) => t.clone(),
        (None, Some(s)) => Targeting {
            criteria: BTreeMap::from([(
                "segment".to_owned(),
                Criterion::Segment(SegmentCriterion { segment: s.to_owned() }),
            )]),
            expression: None,
        },
        (None, None) => Targeting::default(),
    };
    Segment {
        name: name.to_owned(),
        description: String::new(),
        targeting,
        allocation,
        allocated_ranges: allocated_ranges.to_vec(),
        state: if allocated_ranges.is_empty() { SegmentState::Ok } else { SegmentState::Allocated },
    }
}

fn lower_experiment(e: &Experiment, path: String, out: &mut Lowered) {
    let flag_name = e.flag_name();
    let values = e.values();
    let flag = Flag {
        name: flag_name.clone(),
        description: e.description.clone(),
        state: FlagState::Active,
        variants: values
            .iter()
            .map(|v| Variant {
                name: format!("{flag_name}/variants/{}", variant_id_for_value(v)),
                value: v.clone(),
                description: String::new(),
            })
            .collect(),
        rules: Vec::new(),
        labels: BTreeMap::new(),
    };
    let mut rules = Vec::new();
    if e.enabled {
        let mut chain: Vec<(String, Option<&str>, Option<&ExperimentCondition>, &ExperimentValue)> =
            Vec::new();
        for (p, platform) in e.platforms.iter().enumerate() {
            for (k, c) in platform.conditions.iter().enumerate() {
                chain.push((
                    format!("platforms/{p}/conditions/{k}"),
                    Some(&platform.name),
                    Some(c),
                    &c.value,
                ));
            }
            if let Some(v) = &platform.value {
                chain.push((format!("platforms/{p}/value"), Some(&platform.name), None, v));
            }
        }
        for (k, c) in e.conditions.iter().enumerate() {
            chain.push((format!("conditions/{k}"), None, Some(c), &c.value));
        }
        if let Some(v) = &e.value {
            chain.push(("value".to_owned(), None, None, v));
        }
        for (part, platform, condition, value) in chain {
            let segment_name = format!("segments/{}/{part}", e.flag);
            let mut criteria = BTreeMap::new();
            if let Some(name) = platform {
                criteria.insert(
                    "platform".to_owned(),
                    Criterion::Attribute(AttributeCriterion {
                        attribute_name: PLATFORM_ATTRIBUTE.to_owned(),
                        rule: AttributeRule::Eq(EqRule {
                            value: Value::StringValue(name.to_owned()),
                            case_insensitive: None,
                        }),
                    }),
                );
            }
            if let Some(c) = condition {
                if let Some(d) = &c.dependency {
                    criteria.insert("dependency".to_owned(), Criterion::Dependency(d.clone()));
                }
                if let Some(g) = &c.group {
                    criteria.insert("group".to_owned(), Criterion::Group(g.criterion()));
                }
                if let Some(v) = &c.version {
                    criteria.insert("version".to_owned(), Criterion::Version(v.clone()));
                }
                if let Some(p) = &c.property {
                    criteria.insert("property".to_owned(), Criterion::Property(p.clone()));
                }
            }
            let segment = Segment {
                name: segment_name.clone(),
                description: String::new(),
                targeting: Targeting { criteria, expression: None },
                allocation: Allocation::default(),
                allocated_ranges: Vec::new(),
                state: SegmentState::Ok,
            };
            out.segments.push((segment, path.clone()));
            let (bucket_count, assignments, schedule) = experiment_assignments(value);
            let rule = workflow_rule(
                &format!("{flag_name}/rules/{part}"),
                &segment_name,
                &e.stickiness_property,
                bucket_count,
                assignments,
            );
            rules.push(LoweredRule { rule, schedule, path: path.clone() });
        }
    }
    out.flags.push((flag, rules, path));
}

fn experiment_assignments(value: &ExperimentValue) -> (u32, Vec<Assignment>, Option<ScheduleSpec>) {
    let variant = |v: &serde_json::Value| Outcome::Variant(variant_id_for_value(v));
    match value {
        ExperimentValue::Single(v) => (1, vec![assignment("value", variant(v), 0, 1)], None),
        ExperimentValue::Split(parts) => {
            // The percentages and what they leave over (which falls through), split as weights.
            let mut weights: Vec<f64> = parts.iter().map(|p| p.percentage).collect();
            weights.push((WHOLE_PERCENTAGE - weights.iter().sum::<f64>()).max(0.0));
            let ranges = split(&weights, WORKFLOW_BUCKETS);
            let mut assignments: Vec<Assignment> = parts
                .iter()
                .zip(&ranges)
                .enumerate()
                .map(|(i, (p, &(lower, upper)))| {
                    assignment(&format!("split-{i}"), variant(&p.option), lower, upper)
                })
                .collect();
            let rest = ranges
                .last()
                .map_or((0, WORKFLOW_BUCKETS), |&(lower, _)| (lower, WORKFLOW_BUCKETS));
            assignments.push(assignment("fallthrough", Outcome::Fallthrough, rest.0, rest.1));
            (WORKFLOW_BUCKETS, assignments, None)
        }
        ExperimentValue::Schedule(steps) => {
            let option = steps
                .iter()
                .find_map(|s| s.option.clone())
                .unwrap_or(serde_json::Value::Bool(true));
            let schedule = ScheduleSpec {
                base: 0,
                steps: steps
                    .iter()
                    .filter_map(|s| {
                        let share = Fraction::new(s.percentage / WHOLE_PERCENTAGE)?;
                        let buckets = share.buckets_of(WORKFLOW_BUCKETS);
                        Some((s.from.parse().ok()?, buckets))
                    })
                    .collect(),
            };
            let assignments = vec![
                assignment("scheduled", variant(&option), 0, 0),
                assignment("fallthrough", Outcome::Fallthrough, 0, WORKFLOW_BUCKETS),
            ];
            (WORKFLOW_BUCKETS, assignments, Some(schedule))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_every_bucket_by_cumulative_rounding() {
        assert_eq!(split(&[1.0, 1.0], 10_000), [(0, 5000), (5000, 10_000)]);
        assert_eq!(split(&[1.0, 1.0, 1.0], 10_000), [(0, 3333), (3333, 6667), (6667, 10_000)]);
        assert_eq!(split(&[1.0, 3.0], 10_000), [(0, 2500), (2500, 10_000)]);
        assert_eq!(split(&[2.0], 10_000), [(0, 10_000)]);
    }

    #[test]
    fn workflows_carry_their_materialization_spec_to_their_rule() {
        let config = crate::parse_config(
            r#"{"flags": [{"name": "flags/f", "variants": [{"name": "flags/f/variants/a", "value": 1}, {"name": "flags/f/variants/b", "value": 2}]}],
                "rollouts": [{"name": "rollouts/r", "state": "LIVE", "flag": "flags/f", "variant": "flags/f/variants/a", "reach": "0.5"}],
                "abtests": [{"name": "abtests/t", "state": "LIVE", "flag": "flags/f",
                  "treatments": [{"variant": "flags/f/variants/a", "baseline": true}, {"variant": "flags/f/variants/b"}],
                  "materializationSpec": {"readMaterialization": "m", "writeMaterialization": "m", "mode": {"materializationMustMatch": true}}}]}"#,
        )
        .unwrap();
        let lowered = lower(&config);
        let rules = &lowered.rules["flags/f"];
        assert_eq!(rules[0].rule.materialization_spec, None);
        let spec = rules[1].rule.materialization_spec.as_ref().unwrap();
        assert_eq!(spec.read_materialization, "m");
        assert!(spec.mode.materialization_must_match);
    }
}
