//! Input limits: every bound the parser and validator enforce.
//!
//! Each limit is rejected with a clear error rather than allowed to exhaust
//! memory, stack or time.

/// The largest config document accepted, in bytes (128 MiB).
pub const MAX_CONFIG_BYTES: usize = 128 * 1024 * 1024;

/// The deepest JSON nesting (arrays and objects) accepted anywhere in a
/// document. The parser checks it without recursion before deserialising,
/// which bounds the recursion of deserialisation itself.
pub const MAX_JSON_DEPTH: usize = 256;

/// The deepest targeting expression accepted (spec §1).
pub const MAX_EXPRESSION_DEPTH: usize = 64;

/// The largest compiled size of one regular expression, in bytes.
pub const MAX_REGEX_SIZE: usize = 1024 * 1024;

/// The longest chain of references (flag → segment → segment → flag …) a config may
/// have, counting flags and segments. Validation rejects longer chains, so evaluation
/// recursion is bounded by this limit on the config, never by input.
pub const MAX_REFERENCE_DEPTH: usize = 64;

/// The most criteria one flag's evaluation may visit in the worst case, counting every
/// path through repeated references. Validation rejects flags above it, so no config
/// can make one evaluation take exponential time.
pub const MAX_EVALUATION_COST: u64 = 100_000;

/// The longest regular expression pattern, in bytes.
pub const MAX_PATTERN_LEN: usize = 4096;

/// The longest unit (targeting key), in characters (spec §2.2).
pub const MAX_UNIT_LEN: usize = 100;

/// The most flags in one config; CloudBees experiments, which each define a flag, count
/// separately against the same limit.
///
/// Ten times the largest config Flagstone is specified to load (10,000 flags, spec §2.10).
pub const MAX_FLAGS: usize = 100_000;

/// The most segments in one config; target groups, rollouts and A/B tests (which each lower
/// to a segment) count separately against the same limit.
pub const MAX_SEGMENTS: usize = 100_000;

/// The most rules of one flag, and of conditions of one CloudBees experiment or platform.
/// Evaluation walks them in order, so this bounds the work of one evaluation.
pub const MAX_RULES_PER_FLAG: usize = 1_000;

/// The most variants of one flag, and available values of one CloudBees experiment.
pub const MAX_VARIANTS_PER_FLAG: usize = 1_000;

/// The most criteria of one targeting (a segment's, a rollout's or an A/B test's), and
/// conditions of one target group.
pub const MAX_CRITERIA_PER_SEGMENT: usize = 1_000;

/// The longest resource name, rule, variant, criterion or assignment id, in bytes.
pub const MAX_NAME_LEN: usize = 512;

/// The longest attribute name or dot path (`attributeName`, property names,
/// `targetingKeySelector`, `stickinessProperty`), in bytes.
pub const MAX_ATTRIBUTE_NAME_LEN: usize = 1024;

/// One limit that a config goes over, with the JSON path of the value at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A list longer than its count limit.
    TooMany {
        /// JSON path of the list.
        path: String,
        /// What the list holds, plural (`rules`).
        what: &'static str,
        /// Its length.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A string longer than its length limit.
    TooLong {
        /// JSON path of the string.
        path: String,
        /// What the string is (`name`, `attribute name`).
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// Every count and length limit that `config` goes over, in document order.
///
/// Runs in time linear in the config without allocating per element, so that a hostile
/// config is refused for the price of one pass.
pub(crate) fn violations(config: &crate::Config) -> Vec<Violation> {
    let mut out = Limits(Vec::new());
    out.count("flags", "flags", config.flags.len(), MAX_FLAGS);
    out.count("experiments", "experiments", config.experiments.len(), MAX_FLAGS);
    out.count("segments", "segments", config.segments.len(), MAX_SEGMENTS);
    out.count("targetGroups", "target groups", config.target_groups.len(), MAX_SEGMENTS);
    out.count("rollouts", "rollouts", config.rollouts.len(), MAX_SEGMENTS);
    out.count("abtests", "A/B tests", config.abtests.len(), MAX_SEGMENTS);
    for (i, flag) in config.flags.iter().enumerate() {
        out.name(|| format!("flags[{i}].name"), &flag.name);
        out.count_at(
            || format!("flags[{i}].variants"),
            "variants",
            flag.variants.len(),
            MAX_VARIANTS_PER_FLAG,
        );
        out.count_at(|| format!("flags[{i}].rules"), "rules", flag.rules.len(), MAX_RULES_PER_FLAG);
        for (j, v) in flag.variants.iter().enumerate() {
            out.name(|| format!("flags[{i}].variants[{j}].name"), &v.name);
        }
        for (j, rule) in flag.rules.iter().enumerate() {
            out.name(|| format!("flags[{i}].rules[{j}].name"), &rule.name);
            out.attribute(
                || format!("flags[{i}].rules[{j}].targetingKeySelector"),
                &rule.targeting_key_selector,
            );
            for (k, a) in rule.assignment_spec.assignments.iter().enumerate() {
                out.name(
                    || {
                        format!(
                            "flags[{i}].rules[{j}].assignmentSpec.assignments[{k}].assignmentId"
                        )
                    },
                    &a.assignment_id,
                );
            }
        }
    }
    for (i, s) in config.segments.iter().enumerate() {
        out.name(|| format!("segments[{i}].name"), &s.name);
        out.targeting(|| format!("segments[{i}].targeting"), &s.targeting);
    }
    for (i, g) in config.target_groups.iter().enumerate() {
        out.name(|| format!("targetGroups[{i}].name"), &g.name);
        out.count_at(
            || format!("targetGroups[{i}].conditions"),
            "conditions",
            g.conditions.len(),
            MAX_CRITERIA_PER_SEGMENT,
        );
        for (j, c) in g.conditions.iter().enumerate() {
            out.attribute(|| format!("targetGroups[{i}].conditions[{j}].property"), &c.property);
        }
    }
    for (i, r) in config.rollouts.iter().enumerate() {
        out.name(|| format!("rollouts[{i}].name"), &r.name);
        out.attribute(|| format!("rollouts[{i}].targetingKeySelector"), &r.targeting_key_selector);
        if let Some(t) = &r.targeting {
            out.targeting(|| format!("rollouts[{i}].targeting"), t);
        }
    }
    for (i, t) in config.abtests.iter().enumerate() {
        out.name(|| format!("abtests[{i}].name"), &t.name);
        out.attribute(|| format!("abtests[{i}].targetingKeySelector"), &t.targeting_key_selector);
        out.count_at(
            || format!("abtests[{i}].treatments"),
            "treatments",
            t.treatments.len(),
            MAX_VARIANTS_PER_FLAG,
        );
        if let Some(tg) = &t.targeting {
            out.targeting(|| format!("abtests[{i}].targeting"), tg);
        }
    }
    for (i, e) in config.experiments.iter().enumerate() {
        out.name(|| format!("experiments[{i}].flag"), &e.flag);
        out.attribute(|| format!("experiments[{i}].stickinessProperty"), &e.stickiness_property);
        if let Some(values) = &e.available_values {
            out.count_at(
                || format!("experiments[{i}].availableValues"),
                "available values",
                values.len(),
                MAX_VARIANTS_PER_FLAG,
            );
        }
        out.count_at(
            || format!("experiments[{i}].conditions"),
            "conditions",
            e.conditions.len(),
            MAX_RULES_PER_FLAG,
        );
        out.count_at(
            || format!("experiments[{i}].platforms"),
            "platforms",
            e.platforms.len(),
            MAX_RULES_PER_FLAG,
        );
        for (j, p) in e.platforms.iter().enumerate() {
            out.count_at(
                || format!("experiments[{i}].platforms[{j}].conditions"),
                "conditions",
                p.conditions.len(),
                MAX_RULES_PER_FLAG,
            );
        }
    }
    out.0
}

struct Limits(Vec<Violation>);

impl Limits {
    fn count(&mut self, path: &str, what: &'static str, count: usize, limit: usize) {
        self.count_at(|| path.to_owned(), what, count, limit);
    }

    /// The path is built only for a violation, so a config within the limits costs no
    /// allocation per element.
    fn count_at(
        &mut self,
        path: impl FnOnce() -> String,
        what: &'static str,
        count: usize,
        limit: usize,
    ) {
        if count > limit {
            self.0.push(Violation::TooMany { path: path(), what, count, limit });
        }
    }

    fn length(
        &mut self,
        path: impl FnOnce() -> String,
        what: &'static str,
        text: &str,
        limit: usize,
    ) {
        if text.len() > limit {
            self.0.push(Violation::TooLong { path: path(), what, len: text.len(), limit });
        }
    }

    fn name(&mut self, path: impl FnOnce() -> String, text: &str) {
        self.length(path, "name", text, MAX_NAME_LEN);
    }

    fn attribute(&mut self, path: impl FnOnce() -> String, text: &str) {
        self.length(path, "attribute name", text, MAX_ATTRIBUTE_NAME_LEN);
    }

    fn targeting(&mut self, path: impl Fn() -> String, targeting: &crate::targeting::Targeting) {
        use crate::targeting::Criterion;
        self.count_at(
            || format!("{}.criteria", path()),
            "criteria",
            targeting.criteria.len(),
            MAX_CRITERIA_PER_SEGMENT,
        );
        for (id, criterion) in &targeting.criteria {
            self.length(|| format!("{}.criteria.{id}", path()), "criterion id", id, MAX_NAME_LEN);
            let attribute = match criterion {
                Criterion::Attribute(a) => Some(("attribute.attributeName", &a.attribute_name)),
                Criterion::Version(v) => Some(("version.attributeName", &v.attribute_name)),
                Criterion::Property(p) => Some(("property.name", &p.name)),
                Criterion::Segment(_) | Criterion::Group(_) | Criterion::Dependency(_) => None,
            };
            if let Some((field, name)) = attribute {
                self.attribute(|| format!("{}.criteria.{id}.{field}", path()), name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{parse_config, validate};

    #[test]
    fn over_a_count_limit_only_the_limits_are_reported() {
        // Each rule also names a missing segment: that error is not worth a pass over 1,001 rules.
        let rules: Vec<String> = (0..=super::MAX_RULES_PER_FLAG)
            .map(|i| {
                format!(
                    r#"{{"name":"flags/f/rules/r{i}","segment":"segments/missing","assignmentSpec":{{"bucketCount":1}}}}"#
                )
            })
            .collect();
        let doc = format!(r#"{{"flags":[{{"name":"flags/f","rules":[{}]}}]}}"#, rules.join(","));
        let report = validate(&parse_config(&doc).unwrap());
        let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages, ["flags[0].rules: 1001 rules, over the limit of 1000"]);
    }

    #[test]
    fn long_names_are_reported_with_the_other_errors() {
        let long = "x".repeat(super::MAX_NAME_LEN);
        let doc = format!(
            r#"{{"segments":[{{"name":"segments/{long}"}}],"flags":[{{"name":"flags/f","rules":[{{"name":"flags/f/rules/r","segment":"segments/missing","assignmentSpec":{{"bucketCount":1}}}}]}}]}}"#
        );
        let report = validate(&parse_config(&doc).unwrap());
        let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "flags[0].rules[0].segment: unknown segment \"segments/missing\"",
                "segments[0].name: name is 521 bytes, over the limit of 512",
            ]
        );
    }
}
