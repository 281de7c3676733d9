//! Resource names (`flags/{id}`, `segments/{id}`, …) and references to them.
//!
//! A resource's own `name` is always its full name. A reference to another
//! resource may use the full name or only the id: `"segments/beta"` and
//! `"beta"` name the same segment. CloudBees configuration names flags and
//! target groups by bare id, so both forms are first-class.

use std::borrow::Cow;

/// A collection of named resources and the prefix of their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    /// `flags/{id}`
    Flags,
    /// `segments/{id}`
    Segments,
    /// `targetGroups/{id}`
    TargetGroups,
    /// `rollouts/{id}`
    Rollouts,
    /// `abtests/{id}`
    AbTests,
    /// `metrics/{id}`
    Metrics,
}

impl Collection {
    /// The name prefix, including the trailing slash.
    pub fn prefix(self) -> &'static str {
        match self {
            Collection::Flags => "flags/",
            Collection::Segments => "segments/",
            Collection::TargetGroups => "targetGroups/",
            Collection::Rollouts => "rollouts/",
            Collection::AbTests => "abtests/",
            Collection::Metrics => "metrics/",
        }
    }

    /// The singular noun used in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Collection::Flags => "flag",
            Collection::Segments => "segment",
            Collection::TargetGroups => "target group",
            Collection::Rollouts => "rollout",
            Collection::AbTests => "A/B test",
            Collection::Metrics => "metric",
        }
    }

    /// The id of a full name in this collection (`flags/a` → `a`), if well formed.
    ///
    /// An id is non-empty and contains no `/`.
    pub fn id_of(self, name: &str) -> Option<&str> {
        name.strip_prefix(self.prefix()).filter(|id| is_valid_id(id))
    }

    /// The full name a reference stands for: the reference itself when it
    /// already carries the prefix, else the prefix plus the reference.
    pub fn full_name(self, reference: &str) -> Cow<'_, str> {
        if reference.starts_with(self.prefix()) {
            Cow::Borrowed(reference)
        } else {
            Cow::Owned(format!("{}{reference}", self.prefix()))
        }
    }
}

/// Whether `id` can be the last part of a resource name.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && !id.contains('/') && !id.chars().any(char::is_control)
}

/// The id of a variant name `flags/{flag}/variants/{id}` inside `flag`.
pub fn variant_id<'a>(flag: &str, name: &'a str) -> Option<&'a str> {
    child_id(flag, "/variants/", name)
}

/// The id of a rule name `flags/{flag}/rules/{id}` inside `flag`.
pub fn rule_id<'a>(flag: &str, name: &'a str) -> Option<&'a str> {
    child_id(flag, "/rules/", name)
}

fn child_id<'a>(parent: &str, infix: &str, name: &'a str) -> Option<&'a str> {
    name.strip_prefix(parent)?.strip_prefix(infix).filter(|id| is_valid_id(id))
}

/// The full variant name a reference inside `flag` stands for.
pub fn variant_full_name<'a>(flag: &str, reference: &'a str) -> Cow<'a, str> {
    if reference.starts_with("flags/") {
        Cow::Borrowed(reference)
    } else {
        Cow::Owned(format!("{flag}/variants/{reference}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_references() {
        assert_eq!(Collection::Flags.id_of("flags/a"), Some("a"));
        assert_eq!(Collection::Flags.id_of("flags/"), None);
        assert_eq!(Collection::Flags.id_of("flags/a/b"), None);
        assert_eq!(Collection::Flags.id_of("segments/a"), None);
        assert_eq!(Collection::Segments.full_name("beta"), "segments/beta");
        assert_eq!(Collection::Segments.full_name("segments/beta"), "segments/beta");
        assert_eq!(variant_id("flags/a", "flags/a/variants/on"), Some("on"));
        assert_eq!(variant_id("flags/a", "flags/b/variants/on"), None);
        assert_eq!(rule_id("flags/a", "flags/a/rules/r1"), Some("r1"));
        assert_eq!(variant_full_name("flags/a", "on"), "flags/a/variants/on");
    }
}
