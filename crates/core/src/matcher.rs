//! Compiled criteria: attribute rules, property and version conditions.
//!
//! Semantics (spec §2.3): the rule value's type decides how the context
//! value is read, and a type mismatch is "no match", not an error. A missing
//! or null attribute makes every rule false except `allRule` (vacuously
//! true) and `is-undefined`.

use crate::pattern::Pattern;
use flagstone_model::version::{Version, VersionRef};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use std::cmp::Ordering;

/// The outcome of one criterion for one context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// The criterion holds.
    True,
    /// The criterion does not hold.
    False,
    /// The attribute is missing or null.
    MissingAttribute,
    /// The attribute has a type the rule cannot read (false).
    TypeMismatch,
    /// The attribute is a string that is not a valid version (false).
    InvalidVersion,
}

impl Outcome {
    /// Whether the outcome counts as true in an expression.
    #[inline]
    pub fn is_true(self) -> bool {
        matches!(self, Outcome::True)
    }

    #[inline]
    pub(crate) fn from_bool(b: bool) -> Outcome {
        if b { Outcome::True } else { Outcome::False }
    }

    /// The wording of spec §2.7.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::True => "true",
            Outcome::False => "false",
            Outcome::MissingAttribute => "missing attribute",
            Outcome::TypeMismatch => "type mismatch",
            Outcome::InvalidVersion => "invalid version",
        }
    }
}

/// A comparison of ordered values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    #[inline]
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Cmp::Eq => ord == Ordering::Equal,
            Cmp::Ne => ord != Ordering::Equal,
            Cmp::Gt => ord == Ordering::Greater,
            Cmp::Gte => ord != Ordering::Less,
            Cmp::Lt => ord == Ordering::Less,
            Cmp::Lte => ord != Ordering::Greater,
        }
    }
}

/// A compiled attribute rule.
#[derive(Clone, Debug)]
pub(crate) enum AttrMatcher {
    EqBool(bool),
    EqNumber(f64),
    EqStr(Box<str>),
    EqTime(Timestamp),
    EqVersion(Version),
    /// Case-insensitive string rules (eq, set, prefix, suffix, contains) and regexes.
    Pattern(Pattern),
    Set(Box<SetMatcher>),
    RangeNumber(Option<Edge<f64>>, Option<Edge<f64>>),
    RangeTime(Option<Edge<Timestamp>>, Option<Edge<Timestamp>>),
    RangeVersion(Box<Bounds<Version>>),
    StartsWith(Box<str>),
    EndsWith(Box<str>),
    Contains(Box<str>),
    Any(Box<AttrMatcher>),
    All(Box<AttrMatcher>),
}

/// One end of a range: the bound and whether it is inside.
pub(crate) type Edge<T> = (T, bool);

/// Both ends of a range.
pub(crate) type Bounds<T> = (Option<Edge<T>>, Option<Edge<T>>);

/// Membership in a set of typed values.
#[derive(Clone, Debug, Default)]
pub(crate) struct SetMatcher {
    /// Sorted.
    pub(crate) strings: Vec<Box<str>>,
    /// Sorted, no NaN.
    pub(crate) numbers: Vec<f64>,
    pub(crate) bools: [bool; 2],
    pub(crate) times: Vec<Timestamp>,
    pub(crate) versions: Vec<Version>,
    /// Case-insensitive string membership, when asked for.
    pub(crate) pattern: Option<Pattern>,
}

impl SetMatcher {
    /// Membership of a string: a scan for small sets (most members fail on
    /// length), binary search for large ones.
    #[inline]
    fn has_string(&self, s: &str) -> bool {
        if self.strings.len() <= 16 {
            self.strings.iter().any(|m| str_eq(m, s))
        } else {
            self.strings.binary_search_by(|p| (**p).cmp(s)).is_ok()
        }
    }

    fn check(&self, value: &Value) -> Outcome {
        match value {
            Value::Bool(_) if self.bools == [false, false] => Outcome::TypeMismatch,
            Value::Bool(b) => Outcome::from_bool(self.bools[usize::from(*b)]),
            Value::Number(n) => match n.as_f64() {
                Some(x) if !self.numbers.is_empty() => {
                    // `+ 0.0` turns -0.0 into 0.0: the members were normalised the same way,
                    // so numeric equality holds under `total_cmp`'s order.
                    let x = x + 0.0;
                    Outcome::from_bool(self.numbers.binary_search_by(|p| p.total_cmp(&x)).is_ok())
                }
                _ => Outcome::TypeMismatch,
            },
            Value::String(s) => {
                if let Some(p) = &self.pattern {
                    if p.is_match(s) {
                        return Outcome::True;
                    }
                } else if self.has_string(s) {
                    return Outcome::True;
                }
                let mut outcome = Outcome::False;
                if !self.times.is_empty() {
                    match parse_time(s) {
                        Ok(t) if self.times.contains(&t) => return Outcome::True,
                        Ok(_) => {}
                        Err(_) => outcome = Outcome::TypeMismatch,
                    }
                }
                if !self.versions.is_empty() {
                    match VersionRef::parse(s) {
                        Some(v)
                            if self
                                .versions
                                .iter()
                                .any(|m| v.cmp_precedence(m) == Ordering::Equal) =>
                        {
                            return Outcome::True;
                        }
                        Some(_) => {}
                        None => outcome = Outcome::InvalidVersion,
                    }
                }
                if self.strings.is_empty()
                    && self.pattern.is_none()
                    && self.times.is_empty()
                    && self.versions.is_empty()
                {
                    return Outcome::TypeMismatch;
                }
                outcome
            }
            _ => Outcome::TypeMismatch,
        }
    }
}

/// Parses an RFC 3339 time from the context. Strings that do not start like
/// one (`YYYY-MM-DD` and a `T`, `t` or space) are rejected before the parser
/// runs, because a parse error allocates; evaluation stays allocation-free for
/// everything but date-shaped strings that are not valid dates.
#[inline]
fn parse_time(text: &str) -> Result<Timestamp, ()> {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shaped = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't' | b' '));
    if !shaped {
        return Err(());
    }
    text.parse::<Timestamp>().map_err(|_| ())
}

fn in_range<T: PartialOrd>(x: &T, lo: Option<&(T, bool)>, hi: Option<&(T, bool)>) -> bool {
    let above = lo.is_none_or(|(b, incl)| if *incl { x >= b } else { x > b });
    let below = hi.is_none_or(|(b, incl)| if *incl { x <= b } else { x < b });
    above && below
}

impl AttrMatcher {
    /// Applies the rule to the attribute's value (`None`: missing or null).
    pub(crate) fn check(&self, value: Option<&Value>) -> Outcome {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return match self {
                AttrMatcher::All(_) => Outcome::True,
                _ => Outcome::MissingAttribute,
            };
        };
        match (self, value) {
            (AttrMatcher::Any(inner), Value::Array(items)) => {
                Outcome::from_bool(items.iter().any(|item| inner.check(Some(item)).is_true()))
            }
            (AttrMatcher::All(inner), Value::Array(items)) => {
                Outcome::from_bool(items.iter().all(|item| inner.check(Some(item)).is_true()))
            }
            // Any other rule on a list is false, and any/all need a list.
            (_, Value::Array(_)) | (AttrMatcher::Any(_) | AttrMatcher::All(_), _) => {
                Outcome::TypeMismatch
            }
            (AttrMatcher::EqBool(b), Value::Bool(x)) => Outcome::from_bool(b == x),
            (AttrMatcher::EqNumber(n), Value::Number(x)) => {
                Outcome::from_bool(x.as_f64() == Some(*n))
            }
            (AttrMatcher::EqStr(s), Value::String(x)) => Outcome::from_bool(str_eq(s, x)),
            (AttrMatcher::Pattern(re), Value::String(x)) => Outcome::from_bool(re.is_match(x)),
            (AttrMatcher::StartsWith(p), Value::String(x)) => {
                Outcome::from_bool(x.starts_with(&**p))
            }
            (AttrMatcher::EndsWith(p), Value::String(x)) => Outcome::from_bool(x.ends_with(&**p)),
            (AttrMatcher::Contains(p), Value::String(x)) => Outcome::from_bool(x.contains(&**p)),
            (AttrMatcher::EqTime(t), Value::String(x)) => match parse_time(x) {
                Ok(v) => Outcome::from_bool(v == *t),
                Err(_) => Outcome::TypeMismatch,
            },
            (AttrMatcher::EqVersion(v), Value::String(x)) => match VersionRef::parse(x) {
                Some(x) => Outcome::from_bool(x.cmp_precedence(v) == Ordering::Equal),
                None => Outcome::InvalidVersion,
            },
            (AttrMatcher::Set(set), v) => set.check(v),
            (AttrMatcher::RangeNumber(lo, hi), Value::Number(x)) => match x.as_f64() {
                Some(x) => Outcome::from_bool(in_range(&x, lo.as_ref(), hi.as_ref())),
                None => Outcome::TypeMismatch,
            },
            (AttrMatcher::RangeTime(lo, hi), Value::String(x)) => match parse_time(x) {
                Ok(t) => Outcome::from_bool(in_range(&t, lo.as_ref(), hi.as_ref())),
                Err(_) => Outcome::TypeMismatch,
            },
            (AttrMatcher::RangeVersion(bounds), Value::String(x)) => match VersionRef::parse(x) {
                Some(v) => {
                    let above = bounds.0.as_ref().is_none_or(|(b, incl)| {
                        let o = v.cmp_precedence(b);
                        o == Ordering::Greater || (*incl && o == Ordering::Equal)
                    });
                    let below = bounds.1.as_ref().is_none_or(|(b, incl)| {
                        let o = v.cmp_precedence(b);
                        o == Ordering::Less || (*incl && o == Ordering::Equal)
                    });
                    Outcome::from_bool(above && below)
                }
                None => Outcome::InvalidVersion,
            },
            _ => Outcome::TypeMismatch,
        }
    }
}

/// String equality that rejects on length first and compares strings of up
/// to 16 bytes as two overlapping words, without a `memcmp` call.
#[inline]
pub(crate) fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    let word = |s: &[u8], at: usize| {
        s.get(at..at + 8).and_then(|w| w.try_into().ok()).map(u64::from_ne_bytes)
    };
    let half = |s: &[u8], at: usize| {
        s.get(at..at + 4).and_then(|w| w.try_into().ok()).map(u32::from_ne_bytes)
    };
    match n {
        0 => true,
        1..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// A JSON scalar compared by CloudBees `eq` / `ne` / `in-array`: same JSON
/// type, numbers numerically.
#[derive(Clone, Debug)]
pub(crate) enum JsonScalar {
    Bool(bool),
    Number(f64),
    Str(Box<str>),
}

impl JsonScalar {
    pub(crate) fn from_json(value: &Value) -> Option<JsonScalar> {
        match value {
            Value::Bool(b) => Some(JsonScalar::Bool(*b)),
            Value::Number(n) => n.as_f64().map(JsonScalar::Number),
            Value::String(s) => Some(JsonScalar::Str(s.as_str().into())),
            _ => None,
        }
    }

    #[inline]
    fn equals(&self, value: &Value) -> bool {
        match (self, value) {
            (JsonScalar::Bool(a), Value::Bool(b)) => a == b,
            (JsonScalar::Number(a), Value::Number(b)) => b.as_f64() == Some(*a),
            (JsonScalar::Str(a), Value::String(b)) => **a == **b,
            _ => false,
        }
    }
}

/// A compiled CloudBees property condition (also version criteria).
#[derive(Clone, Debug)]
pub(crate) enum PropMatcher {
    IsUndefined,
    IsTrue,
    IsFalse,
    Eq(JsonScalar),
    Ne(JsonScalar),
    Num(Cmp, f64),
    Regex(Pattern),
    InArray(Box<[JsonScalar]>),
    Semver(Cmp, Box<Version>),
}

impl PropMatcher {
    pub(crate) fn check(&self, value: Option<&Value>) -> Outcome {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return match self {
                PropMatcher::IsUndefined => Outcome::True,
                _ => Outcome::MissingAttribute,
            };
        };
        match (self, value) {
            (PropMatcher::IsUndefined, _) => Outcome::False,
            (PropMatcher::IsTrue, Value::Bool(b)) => Outcome::from_bool(*b),
            (PropMatcher::IsFalse, Value::Bool(b)) => Outcome::from_bool(!*b),
            (PropMatcher::Eq(s), v) => Outcome::from_bool(s.equals(v)),
            (PropMatcher::Ne(s), v) => Outcome::from_bool(!s.equals(v)),
            (PropMatcher::Num(cmp, n), Value::Number(x)) => {
                match x.as_f64().and_then(|x| x.partial_cmp(n)) {
                    Some(ord) => Outcome::from_bool(cmp.holds(ord)),
                    None => Outcome::TypeMismatch,
                }
            }
            (PropMatcher::Regex(re), Value::String(x)) => Outcome::from_bool(re.is_match(x)),
            (PropMatcher::InArray(items), v) => {
                Outcome::from_bool(items.iter().any(|s| s.equals(v)))
            }
            (PropMatcher::Semver(cmp, version), Value::String(x)) => match VersionRef::parse(x) {
                Some(v) => Outcome::from_bool(cmp.holds(v.cmp_precedence(version))),
                None => Outcome::InvalidVersion,
            },
            _ => Outcome::TypeMismatch,
        }
    }
}

/// The six `semver-*` property operators as comparisons.
pub(crate) fn semver_cmp(op: flagstone_model::targeting::PropertyOperator) -> Option<Cmp> {
    use flagstone_model::targeting::PropertyOperator as P;
    Some(match op {
        P::SemverEq => Cmp::Eq,
        P::SemverNe => Cmp::Ne,
        P::SemverGt => Cmp::Gt,
        P::SemverGte => Cmp::Gte,
        P::SemverLt => Cmp::Lt,
        P::SemverLte => Cmp::Lte,
        _ => return None,
    })
}

/// The four numeric property operators as comparisons.
pub(crate) fn numeric_cmp(op: flagstone_model::targeting::PropertyOperator) -> Option<Cmp> {
    use flagstone_model::targeting::PropertyOperator as P;
    Some(match op {
        P::Gt => Cmp::Gt,
        P::Gte => Cmp::Gte,
        P::Lt => Cmp::Lt,
        P::Lte => Cmp::Lte,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_eq_agrees_with_eq_at_every_length() {
        let base = "abcdefghijklmnopqrstuvwxyzåäö0123456789";
        for n in 0..base.len() {
            let Some(a) = base.get(..n) else { continue };
            assert!(str_eq(a, a));
            for i in 0..a.len() {
                let mut b = a.as_bytes().to_vec();
                b[i] ^= 1;
                if let Ok(b) = std::str::from_utf8(&b) {
                    assert_eq!(str_eq(a, b), a == b, "{a:?} vs {b:?}");
                }
            }
            if let Some(longer) = base.get(..n + 1) {
                assert!(!str_eq(a, longer));
            }
        }
    }
}
