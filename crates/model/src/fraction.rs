//! Fractions on the wire: a decimal string (`"0.25"`) or a JSON number.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::fmt;

/// A share such as a reach or an allocation proportion.
///
/// On the wire it is a decimal string (`"0.25"`, the Confidence style) or a JSON
/// number. Parsing accepts any finite value so that validation can report a
/// value outside `[0, 1]` with its path, together with every other problem.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Fraction(f64);

impl Fraction {
    /// The whole: everyone.
    pub const ONE: Fraction = Fraction(1.0);
    /// Nothing: nobody.
    pub const ZERO: Fraction = Fraction(0.0);

    /// Wraps a value; `None` when it is not finite.
    pub fn new(value: f64) -> Option<Fraction> {
        value.is_finite().then_some(Fraction(value))
    }

    /// The value as a float.
    pub fn get(self) -> f64 {
        self.0
    }

    /// Whether the value lies in `[0, 1]`.
    pub fn is_unit_interval(self) -> bool {
        (0.0..=1.0).contains(&self.0)
    }

    /// The number of whole buckets out of `n_buckets` that this share covers.
    ///
    /// Rounds to the nearest bucket, ties away from zero, and clamps to
    /// `[0, n_buckets]`: a reach of `0.00005` over 10,000 buckets is half a
    /// bucket and rounds up to one, `0.00004` rounds down to none. Rounding to
    /// nearest (rather than truncating) keeps `0.29 × 100` at 29 buckets, where
    /// the float product is `28.999999999999996`.
    pub fn buckets_of(self, n_buckets: u32) -> u32 {
        let exact = self.0 * f64::from(n_buckets);
        let rounded = exact.round().clamp(0.0, f64::from(n_buckets));
        // `rounded` is an integer in [0, n_buckets], so the cast is exact.
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped")]
        let buckets = rounded as u32;
        buckets
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Fraction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FractionVisitor)
    }
}

struct FractionVisitor;

impl de::Visitor<'_> for FractionVisitor {
    type Value = Fraction;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal string such as \"0.25\" or a number")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Fraction, E> {
        Fraction::new(v).ok_or_else(|| E::custom("expected a finite number"))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Fraction, E> {
        #[expect(clippy::cast_precision_loss, reason = "shares are small")]
        Ok(Fraction(v as f64))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Fraction, E> {
        #[expect(clippy::cast_precision_loss, reason = "shares are small")]
        Ok(Fraction(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Fraction, E> {
        parse_decimal(v).ok_or_else(|| {
            E::custom(format_args!(
                "invalid decimal {v:?}: expected digits with an optional fraction, such as \"0.25\""
            ))
        })
    }
}

/// Parses a plain decimal: optional `-`, digits, optional `.` and digits.
///
/// Exponents, `NaN`, `inf` and surrounding spaces are rejected: a decimal
/// string is written by people and must mean exactly what it shows.
fn parse_decimal(text: &str) -> Option<Fraction> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = !whole.is_empty()
        && is_digits(whole)
        && is_digits(frac)
        && (!frac.is_empty() || !digits.ends_with('.'));
    if !well_formed {
        return None;
    }
    text.parse::<f64>().ok().and_then(Fraction::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Fraction, String> {
        serde_json::from_str::<Fraction>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_decimal_strings_and_numbers() {
        assert_eq!(parse("\"0.25\"").unwrap().get(), 0.25);
        assert_eq!(parse("0.25").unwrap().get(), 0.25);
        assert_eq!(parse("1").unwrap().get(), 1.0);
        assert_eq!(parse("\"1\"").unwrap().get(), 1.0);
        assert_eq!(parse("\"-0.5\"").unwrap().get(), -0.5);
    }

    #[test]
    fn rejects_strings_that_are_not_plain_decimals() {
        for bad in
            ["\"\"", "\".5\"", "\"1.\"", "\"1e-3\"", "\"NaN\"", "\"inf\"", "\" 0.5\"", "\"0,5\""]
        {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("invalid decimal"), "{bad}: {err}");
        }
    }

    #[test]
    fn bucket_rounding_at_the_edges() {
        let f = |v: f64| Fraction::new(v).unwrap();
        assert_eq!(f(0.0).buckets_of(10_000), 0);
        assert_eq!(f(1.0).buckets_of(10_000), 10_000);
        assert_eq!(f(0.00005).buckets_of(10_000), 1);
        assert_eq!(f(0.00004).buckets_of(10_000), 0);
        assert_eq!(f(0.29).buckets_of(100), 29);
        assert_eq!(f(1.5).buckets_of(100), 100);
        assert_eq!(f(-0.5).buckets_of(100), 0);
    }
}
