//! JSON paths written out only when a problem is reported.
//!
//! Validation walks every element of a config, but the path of an element is needed only
//! for the few that have a problem. Formatting each path eagerly cost about a third of
//! validation; these small `Display` values borrow their parent instead, so a path is a
//! chain of references on the stack until an error writes it out.

use std::fmt;

/// `{parent}.{key}`: a field (`key` may hold several parts, `assignmentSpec.bucketCount`).
pub(super) struct Key<'a>(pub(super) &'a dyn fmt::Display, pub(super) &'a str);

/// `{parent}.{key}[{index}]`: an element of a list field.
pub(super) struct At<'a>(pub(super) &'a dyn fmt::Display, pub(super) &'a str, pub(super) usize);

/// `{collection}[{index}]`: an element of a top-level list (`flags[2]`).
pub(super) struct Root<'a>(pub(super) &'a str, pub(super) usize);

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}[{}]", self.0, self.1, self.2)
    }
}

impl fmt::Display for Root<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.0, self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_write_out_as_json_paths() {
        let flag = Root("flags", 2);
        let rule = At(&flag, "rules", 0);
        let spec = Key(&rule, "assignmentSpec");
        let range = At(&At(&spec, "assignments", 1), "bucketRanges", 3).to_string();
        assert_eq!(range, "flags[2].rules[0].assignmentSpec.assignments[1].bucketRanges[3]");
        assert_eq!(
            Key(&spec, "bucketCount").to_string(),
            "flags[2].rules[0].assignmentSpec.bucketCount"
        );
    }
}
