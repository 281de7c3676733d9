//! Regular expressions, built once per config.
//!
//! A config needs a regex for every `regexRule`, every property `regex` condition, and
//! every case-insensitive string rule (an anchored pattern over the escaped literal, or
//! one alternation for a case-insensitive `setRule`). Validation builds each of them
//! with the size limit of [`MAX_REGEX_SIZE`], reports the ones that do not build, and
//! hands the built ones to compile in [`Patterns`]: no regex is built twice.
//!
//! The pattern text of a rule comes from one place, [`rule_pattern`], so what
//! validation builds is exactly what compile looks up.

use crate::limits::MAX_REGEX_SIZE;
use crate::targeting::{AttributeRule, Value};
use regex::Regex;
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;

thread_local! {
    static BUILDS: Cell<usize> = const { Cell::new(0) };
}

/// Compiles `pattern` with the size limit of [`MAX_REGEX_SIZE`].
///
/// # Errors
/// The `regex` crate's error: bad syntax, or a compiled program over the size limit.
pub fn build_regex(pattern: &str, case_insensitive: bool) -> Result<Regex, regex::Error> {
    BUILDS.with(|n| n.set(n.get() + 1));
    regex::RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(MAX_REGEX_SIZE)
        .build()
}

/// How many regexes [`build_regex`] has built on this thread (for tests that count them).
#[doc(hidden)]
pub fn regex_builds_on_this_thread() -> usize {
    BUILDS.with(Cell::get)
}

/// The regex an attribute rule needs, as `(pattern, case_insensitive)`; `None` when the rule
/// needs none (a case-sensitive literal, a range, a list rule: its inner rule has its own).
pub fn rule_pattern(rule: &AttributeRule) -> Option<(Cow<'_, str>, bool)> {
    let literal = |prefix: &str, text: &str, suffix: &str| {
        Some((Cow::Owned(format!("{prefix}(?:{}){suffix}", regex::escape(text))), true))
    };
    match rule {
        AttributeRule::Regex(r) => {
            Some((Cow::Borrowed(r.pattern.as_str()), rule.is_case_insensitive()))
        }
        _ if !rule.is_case_insensitive() => None,
        AttributeRule::Eq(r) => match &r.value {
            Value::StringValue(s) => literal("^", s, "$"),
            _ => None,
        },
        AttributeRule::StartsWith(r) => literal("^", &r.value, ""),
        AttributeRule::EndsWith(r) => literal("", &r.value, "$"),
        AttributeRule::Contains(r) => literal("", &r.value, ""),
        AttributeRule::Set(r) => {
            let strings = set_strings(&r.values);
            if strings.is_empty() {
                return None;
            }
            let alternatives: Vec<String> = strings.iter().map(|s| regex::escape(s)).collect();
            Some((Cow::Owned(format!("^(?:{})$", alternatives.join("|"))), true))
        }
        AttributeRule::Range(_) | AttributeRule::Any(_) | AttributeRule::All(_) => None,
    }
}

/// The string values of a set, sorted and without duplicates (the order a set matcher keeps).
pub fn set_strings(values: &[Value]) -> Vec<&str> {
    let mut strings: Vec<&str> = values
        .iter()
        .filter_map(|v| match v {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    strings.sort_unstable();
    strings.dedup();
    strings
}

/// Every regex of a validated config, by pattern text and case sensitivity.
#[derive(Clone, Debug, Default)]
pub struct Patterns {
    exact: HashMap<Box<str>, Regex>,
    folded: HashMap<Box<str>, Regex>,
}

impl Patterns {
    /// The built regex for `pattern`, if the config has it.
    pub fn get(&self, pattern: &str, case_insensitive: bool) -> Option<&Regex> {
        self.side(case_insensitive).get(pattern)
    }

    /// How many distinct regexes the config has.
    pub fn len(&self) -> usize {
        self.exact.len() + self.folded.len()
    }

    /// Whether the config has no regex at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Builds `pattern` unless it is already here; the error when it does not build.
    pub(crate) fn build(
        &mut self,
        pattern: &str,
        case_insensitive: bool,
    ) -> Result<(), regex::Error> {
        if self.get(pattern, case_insensitive).is_some() {
            return Ok(());
        }
        let regex = build_regex(pattern, case_insensitive)?;
        let side = if case_insensitive { &mut self.folded } else { &mut self.exact };
        side.insert(pattern.into(), regex);
        Ok(())
    }

    fn side(&self, case_insensitive: bool) -> &HashMap<Box<str>, Regex> {
        if case_insensitive { &self.folded } else { &self.exact }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> AttributeRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn case_insensitive_literals_become_anchored_escaped_patterns() {
        let eq = rule(r#"{"eqRule": {"value": {"stringValue": "a.b"}, "caseInsensitive": true}}"#);
        assert_eq!(rule_pattern(&eq), Some((Cow::Borrowed("^(?:a\\.b)$"), true)));
        let sw = rule(r#"{"startsWithRule": {"value": "x+", "caseInsensitive": true}}"#);
        assert_eq!(rule_pattern(&sw), Some((Cow::Borrowed("^(?:x\\+)"), true)));
        let set = rule(
            r#"{"setRule": {"values": [{"stringValue": "b"}, {"stringValue": "a"}, {"stringValue": "b"}, {"numberValue": 1}], "caseInsensitive": true}}"#,
        );
        assert_eq!(rule_pattern(&set), Some((Cow::Borrowed("^(?:a|b)$"), true)));
        let plain = rule(r#"{"eqRule": {"value": {"stringValue": "a"}}}"#);
        assert_eq!(rule_pattern(&plain), None);
        let re = rule(r#"{"regexRule": {"pattern": "^a+$"}}"#);
        assert_eq!(rule_pattern(&re), Some((Cow::Borrowed("^a+$"), false)));
    }

    #[test]
    fn a_pattern_is_built_once() {
        let mut patterns = Patterns::default();
        let before = regex_builds_on_this_thread();
        patterns.build("a+", false).unwrap();
        patterns.build("a+", false).unwrap();
        patterns.build("a+", true).unwrap();
        assert_eq!(regex_builds_on_this_thread() - before, 2);
        assert_eq!(patterns.len(), 2);
        assert!(patterns.get("a+", true).is_some_and(|re| re.is_match("AA")));
        assert!(patterns.build("(", false).is_err());
    }
}
