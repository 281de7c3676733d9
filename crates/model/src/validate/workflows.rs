//! Workflows: rollouts, A/B tests and CloudBees experiments, and the exclusivity of what
//! they allocate.

use super::path::{At, Key, Root};
use super::{ErrorKind, Validator, WarningKind, tidy};
use crate::experiment::{
    ExperimentCondition, ExperimentValue, StringOrList, WHOLE_PERCENTAGE, variant_id_for_value,
};
use crate::fraction::Fraction;
use crate::names::{Collection, variant_full_name};
use crate::targeting::Targeting;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

impl Validator<'_> {
    pub(super) fn workflow_targeting(
        &mut self,
        path: &dyn fmt::Display,
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
            self.targeting(&format_args!("{path}.targeting"), t);
        }
        if let Some(s) = segment
            && let Some(full) = self.segment_ref(&format_args!("{path}.segment"), s)
        {
            self.link(&full);
        }
        self.current = None;
    }

    pub(super) fn rollouts(&mut self) {
        for (i, r) in self.config.rollouts.iter().enumerate() {
            let path = Root("rollouts", i);
            let flag = self.flag_ref(&format_args!("{path}.flag"), &r.flag);
            if let Some(flag) = &flag {
                self.variant_ref(&format_args!("{path}.variant"), flag, &r.variant);
                if let Some(id) = Collection::Rollouts.id_of(&r.name) {
                    self.graph.edge(flag, &format!("segments/{id}"));
                }
            }
            self.fraction(&format_args!("{path}.reach"), "reach", r.reach);
            self.path_name(&format_args!("{path}.targetingKeySelector"), &r.targeting_key_selector);
            self.materialization(&path, r.materialization_spec.as_ref());
            self.workflow_targeting(&path, &r.name, r.targeting.as_ref(), r.segment.as_deref());
            self.times(&path, r.create_time.as_deref(), r.update_time.as_deref());
            let mut previous: Option<(jiff::Timestamp, &str, Fraction)> = None;
            for (j, step) in r.schedule.iter().enumerate() {
                let spath = At(&path, "schedule", j);
                self.fraction(&format_args!("{spath}.reach"), "reach", step.reach);
                let Some(at) = self.timestamp(&format_args!("{spath}.from"), &step.from) else {
                    continue;
                };
                if let Some((prev_at, prev_from, prev_reach)) = previous {
                    if at <= prev_at {
                        self.error(
                            format_args!("{spath}.from"),
                            ErrorKind::ScheduleOrder {
                                from: step.from.clone(),
                                previous: prev_from.to_owned(),
                            },
                        );
                    }
                    if step.reach < prev_reach {
                        self.warn(
                            format_args!("{spath}.reach"),
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

    pub(super) fn times(
        &mut self,
        path: &dyn fmt::Display,
        create: Option<&str>,
        update: Option<&str>,
    ) {
        if let Some(t) = create {
            self.timestamp(&format_args!("{path}.createTime"), t);
        }
        if let Some(t) = update {
            self.timestamp(&format_args!("{path}.updateTime"), t);
        }
    }

    pub(super) fn abtests(&mut self) {
        for (i, t) in self.config.abtests.iter().enumerate() {
            let path = Root("abtests", i);
            let flag = self.flag_ref(&format_args!("{path}.flag"), &t.flag);
            if let (Some(flag), Some(id)) = (&flag, Collection::AbTests.id_of(&t.name)) {
                self.graph.edge(flag, &format!("segments/{id}"));
            }
            if t.treatments.is_empty() {
                self.error(format_args!("{path}.treatments"), ErrorKind::Empty("treatment"));
            } else {
                let baselines = t.treatments.iter().filter(|x| x.baseline).count();
                if baselines != 1 {
                    self.error(
                        format_args!("{path}.treatments"),
                        ErrorKind::BaselineCount { found: baselines },
                    );
                }
            }
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (j, treatment) in t.treatments.iter().enumerate() {
                let tpath = At(&path, "treatments", j);
                if let Some(flag) = &flag {
                    self.variant_ref(&format_args!("{tpath}.variant"), flag, &treatment.variant);
                    let full = variant_full_name(flag, &treatment.variant).into_owned();
                    if let Some(first) = seen.insert(full.clone(), j) {
                        self.error(
                            format_args!("{tpath}.variant"),
                            ErrorKind::Duplicate {
                                name: full,
                                first: format!("{path}.treatments[{first}]"),
                            },
                        );
                    }
                }
                if !(treatment.weight.is_finite() && treatment.weight > 0.0) {
                    self.error(
                        format_args!("{tpath}.weight"),
                        ErrorKind::NonPositiveWeight { weight: treatment.weight },
                    );
                }
            }
            self.allocation(&path, &t.allocation, &t.allocated_ranges);
            self.path_name(&format_args!("{path}.targetingKeySelector"), &t.targeting_key_selector);
            self.materialization(&path, t.materialization_spec.as_ref());
            self.workflow_targeting(&path, &t.name, t.targeting.as_ref(), t.segment.as_deref());
            self.times(&path, t.create_time.as_deref(), t.update_time.as_deref());
            for (j, m) in t.metrics.iter().enumerate() {
                self.name(
                    &format_args!("{path}.metrics[{j}].metric"),
                    &m.metric,
                    Collection::Metrics,
                );
            }
            for (j, it) in t.iterations.iter().enumerate() {
                let ipath = At(&path, "iterations", j);
                self.times(&ipath, None, None);
                if let Some(s) = &it.started_at {
                    self.timestamp(&format_args!("{ipath}.startedAt"), s);
                }
                if let Some(e) = &it.ended_at {
                    self.timestamp(&format_args!("{ipath}.endedAt"), e);
                }
            }
        }
    }

    pub(super) fn experiments(&mut self) {
        for (i, e) in self.config.experiments.iter().enumerate() {
            let path = Root("experiments", i);
            if e.kind.as_deref().is_some_and(|k| k != "experiment") {
                self.error(
                    format_args!("{path}.type"),
                    ErrorKind::WrongType {
                        expected: "\"experiment\"",
                        found: format!("{:?}", e.kind.as_deref().unwrap_or_default()),
                    },
                );
            }
            self.path_name(&format_args!("{path}.stickinessProperty"), &e.stickiness_property);
            let values = e.values();
            if values.is_empty() {
                self.error(
                    format_args!("{path}.availableValues"),
                    ErrorKind::Empty("available value"),
                );
            }
            let mut seen = BTreeSet::new();
            for (j, v) in values.iter().enumerate() {
                if !seen.insert(variant_id_for_value(v)) {
                    self.error(
                        format_args!("{path}.availableValues[{j}]"),
                        ErrorKind::Duplicate {
                            name: variant_id_for_value(v),
                            first: format!("{path}.availableValues"),
                        },
                    );
                }
            }
            self.current = Some(e.flag_name());
            for (j, p) in e.platforms.iter().enumerate() {
                let ppath = At(&path, "platforms", j);
                for (k, c) in p.conditions.iter().enumerate() {
                    self.experiment_condition(&format_args!("{ppath}.conditions[{k}]"), c, &values);
                }
                if let Some(v) = &p.value {
                    self.experiment_value(&format_args!("{ppath}.value"), v, &values);
                }
            }
            for (j, c) in e.conditions.iter().enumerate() {
                self.experiment_condition(&format_args!("{path}.conditions[{j}]"), c, &values);
            }
            if let Some(v) = &e.value {
                self.experiment_value(&format_args!("{path}.value"), v, &values);
            }
            self.current = None;
        }
    }

    pub(super) fn experiment_condition(
        &mut self,
        path: &dyn fmt::Display,
        c: &ExperimentCondition,
        values: &[serde_json::Value],
    ) {
        if let Some(d) = &c.dependency {
            self.dependency(&format_args!("{path}.dependency"), d);
        }
        if let Some(g) = &c.group {
            let indexed = matches!(g.name, StringOrList::Many(_));
            self.group_names(&format_args!("{path}.group.name"), g.name.as_slice(), indexed);
        }
        if let Some(v) = &c.version {
            self.version_criterion(&format_args!("{path}.version"), v);
        }
        if let Some(p) = &c.property {
            let ppath = Key(&path, "property");
            self.path_name(&format_args!("{ppath}.name"), &p.name);
            self.property(&ppath, p.operator, &p.operand);
        }
        self.experiment_value(&format_args!("{path}.value"), &c.value, values);
    }

    pub(super) fn experiment_value(
        &mut self,
        path: &dyn fmt::Display,
        value: &ExperimentValue,
        values: &[serde_json::Value],
    ) {
        let available = |this: &mut Self, vpath: String, v: &serde_json::Value| {
            if !values.contains(v) {
                this.error(vpath, ErrorKind::ValueNotAvailable { value: v.to_string() });
            }
        };
        match value {
            ExperimentValue::Single(v) => available(self, path.to_string(), v),
            ExperimentValue::Split(parts) => {
                let mut total = 0.0;
                for (i, p) in parts.iter().enumerate() {
                    let ppath = format!("{path}[{i}]");
                    available(self, format!("{ppath}.option"), &p.option);
                    self.percentage(&format_args!("{ppath}.percentage"), p.percentage);
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
                    self.percentage(&format_args!("{spath}.percentage"), s.percentage);
                    if let Some(option) = &s.option {
                        available(self, format!("{spath}.option"), option);
                    } else if !values.contains(&serde_json::Value::Bool(true)) {
                        available(self, format!("{spath}.option"), &serde_json::Value::Bool(true));
                    }
                    let Some(at) = self.timestamp(&format_args!("{spath}.from"), &s.from) else {
                        continue;
                    };
                    if let Some((prev_at, prev)) = previous
                        && at <= prev_at
                    {
                        self.error(
                            format_args!("{spath}.from"),
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

    pub(super) fn percentage(&mut self, path: &dyn fmt::Display, value: f64) {
        if !(0.0..=WHOLE_PERCENTAGE).contains(&value) {
            self.error(path, ErrorKind::Percentage { value });
        }
    }

    /// Warns about exclusive segments and A/B tests that have no ranges yet.
    pub(super) fn exclusivity(&mut self) {
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
                self.warn(format_args!("{path}.allocation"), WarningKind::NotAllocated { other });
            }
        }
    }
}
