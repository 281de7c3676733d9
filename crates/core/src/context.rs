//! The evaluation context: a JSON object, read by attribute name or dot path.

use flagstone_model::limits::MAX_UNIT_LEN;
use jiff::Timestamp;
use serde_json::{Map, Value};

/// What a flag is evaluated for: a JSON object of attributes, and the time.
///
/// An attribute name is looked up first as a literal top-level key (CloudBees
/// names such as `rox.distinct_id` contain dots), then as a dot path into
/// nested objects (`user.plan`). A value's JSON type is its type: there is no
/// coercion between strings, numbers and booleans.
///
/// Building a context indexes up to 16 top-level keys inline (a hash per key,
/// no heap allocation), so each attribute lookup during evaluation compares
/// one precomputed 64-bit hash per key instead of strings. Build the context
/// once per request and evaluate every flag with it.
#[derive(Clone, Copy, Debug)]
pub struct EvaluationContext<'a> {
    attributes: &'a Map<String, Value>,
    now: Option<Timestamp>,
    /// `(hash, key, value)` of the first [`INDEXED_KEYS`] keys; all keys when `complete`.
    index: [(u64, &'a str, &'a Value); INDEXED_KEYS],
    n_indexed: u8,
    complete: bool,
}

/// How many top-level keys a context indexes inline.
const INDEXED_KEYS: usize = 16;

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
static NULL: Value = Value::Null;

/// FNV-1a over the key's bytes: fast for the short keys of contexts, and
/// only a pre-filter (a hit is confirmed by comparing the strings).
#[inline]
pub(crate) fn key_hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key.as_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl<'a> EvaluationContext<'a> {
    /// A context over a JSON object's attributes.
    pub fn new(attributes: &'a Map<String, Value>) -> Self {
        let mut index = [(0, "", &NULL); INDEXED_KEYS];
        let mut n = 0;
        for (slot, (key, value)) in index.iter_mut().zip(attributes.iter()) {
            *slot = (key_hash(key), key.as_str(), value);
            n += 1;
        }
        EvaluationContext {
            attributes,
            now: None,
            index,
            n_indexed: u8::try_from(n).unwrap_or(0),
            complete: attributes.len() <= INDEXED_KEYS,
        }
    }

    /// The top-level value at `key`, through the inline index when it holds every key.
    #[inline]
    fn top_level(&self, key: &str, hash: u64) -> Option<&'a Value> {
        if !self.complete {
            return self.attributes.get(key);
        }
        let indexed = self.index.get(..usize::from(self.n_indexed)).unwrap_or_default();
        indexed
            .iter()
            .find(|(h, k, _)| *h == hash && crate::matcher::str_eq(k, key))
            .map(|&(_, _, v)| v)
    }

    /// A context over any JSON value: an object's attributes, or no attributes.
    pub fn from_json(value: &'a Value) -> Self {
        match value {
            Value::Object(map) => EvaluationContext::new(map),
            _ => EvaluationContext::new(&EMPTY),
        }
    }

    /// Evaluates at `now` rather than the system clock (schedules read it).
    #[must_use]
    pub fn at(mut self, now: Timestamp) -> Self {
        self.now = Some(now);
        self
    }

    /// The time given with [`EvaluationContext::at`], if any.
    pub fn now(&self) -> Option<Timestamp> {
        self.now
    }

    /// The attributes.
    pub fn attributes(&self) -> &'a Map<String, Value> {
        self.attributes
    }

    /// The value at `name`: a literal top-level key, else a dot path.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        AttrPath::new(name).lookup(self)
    }
}

/// An attribute name compiled for lookup: the literal key and its dot path.
#[derive(Clone, Debug)]
pub(crate) struct AttrPath {
    full: Box<str>,
    full_hash: u64,
    /// The dot-separated parts; empty when the name has no dot.
    parts: Box<[Box<str>]>,
    first_hash: u64,
}

impl AttrPath {
    pub(crate) fn new(name: &str) -> Self {
        let parts: Box<[Box<str>]> = if name.contains('.') {
            name.split('.').map(Box::from).collect()
        } else {
            Box::default()
        };
        let first_hash = parts.first().map_or(0, |p| key_hash(p));
        AttrPath { full: name.into(), full_hash: key_hash(name), parts, first_hash }
    }

    /// The name as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.full
    }

    /// The value, treating JSON null as absent.
    #[inline]
    pub(crate) fn lookup<'a>(&self, ctx: &EvaluationContext<'a>) -> Option<&'a Value> {
        let found = match ctx.top_level(&self.full, self.full_hash) {
            Some(v) => Some(v),
            None => self.walk(ctx),
        };
        found.filter(|v| !v.is_null())
    }

    fn walk<'a>(&self, ctx: &EvaluationContext<'a>) -> Option<&'a Value> {
        let (first, rest) = self.parts.split_first()?;
        let mut at = ctx.top_level(first, self.first_hash)?;
        for part in rest {
            at = at.as_object()?.get(&**part)?;
        }
        Some(at)
    }
}

/// Why the value at a targeting key selector cannot be a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnitError {
    /// Not a string or an integral number.
    WrongType,
    /// A number with a fraction or exponent, or an integer outside 64 bits.
    ///
    /// JSON parsing keeps integers exactly only within 64 bits; a larger one
    /// has already lost digits, and bucketing the rounded value would move
    /// the unit silently, so it is reported instead. Send such keys as strings.
    NotIntegral,
    /// Longer than 100 characters.
    TooLong,
}

impl UnitError {
    /// A message for explanations.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitError::WrongType => "targeting key is not a string or an integer",
            UnitError::NotIntegral => "targeting key is a number that is not an integer",
            UnitError::TooLong => "targeting key is longer than 100 characters",
        }
    }
}

/// A unit: the string that is hashed into buckets. Integers are written in
/// base 10 into an inline buffer, so reading a unit never allocates.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Unit<'a> {
    Str(&'a str),
    Int { buf: [u8; 20], len: u8 },
}

impl<'a> Unit<'a> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Unit::Str(s) => s,
            Unit::Int { buf, len } => {
                buf.get(..usize::from(*len)).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
            }
        }
    }

    /// Reads a unit from a context value: `Ok(None)` when absent.
    pub(crate) fn read(value: Option<&'a Value>) -> Result<Option<Unit<'a>>, UnitError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                if s.len() > MAX_UNIT_LEN && s.chars().count() > MAX_UNIT_LEN {
                    return Err(UnitError::TooLong);
                }
                Ok(Some(Unit::Str(s)))
            }
            Some(Value::Number(n)) => {
                if let Some(u) = n.as_u64() {
                    Ok(Some(Unit::int(u, false)))
                } else if let Some(i) = n.as_i64() {
                    Ok(Some(Unit::int(i.unsigned_abs(), true)))
                } else {
                    Err(UnitError::NotIntegral)
                }
            }
            Some(_) => Err(UnitError::WrongType),
        }
    }

    fn int(mut magnitude: u64, negative: bool) -> Unit<'static> {
        let mut digits = [0u8; 20];
        let mut n = 0;
        loop {
            if let Some(slot) = digits.get_mut(n) {
                // `magnitude % 10` is below 10, so the cast is exact.
                *slot = b'0' + (magnitude % 10) as u8;
            }
            n += 1;
            magnitude /= 10;
            if magnitude == 0 || n == digits.len() {
                break;
            }
        }
        let mut buf = [0u8; 20];
        let mut len = 0;
        if negative {
            buf[0] = b'-';
            len = 1;
        }
        for &d in digits.get(..n).unwrap_or_default().iter().rev() {
            if let Some(slot) = buf.get_mut(len) {
                *slot = d;
                len += 1;
            }
        }
        // At most 20 bytes: "-" and 19 digits, or 20 digits.
        Unit::Int { buf, len: u8::try_from(len).unwrap_or(20) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literal_keys_win_over_dot_paths() {
        let v = json!({"rox.distinct_id": "a", "user": {"plan": "pro"}, "rox": {"distinct_id": "b"}, "n": null});
        let ctx = EvaluationContext::from_json(&v);
        assert_eq!(ctx.get("rox.distinct_id"), Some(&json!("a")));
        assert_eq!(ctx.get("user.plan"), Some(&json!("pro")));
        assert_eq!(ctx.get("user.plan.x"), None);
        assert_eq!(ctx.get("n"), None);
        assert_eq!(ctx.get("missing"), None);
    }

    #[test]
    fn large_contexts_fall_back_to_the_map() {
        let mut v = serde_json::Map::new();
        for i in 0..40 {
            v.insert(format!("k{i}"), json!(i));
        }
        v.insert("user".into(), json!({"plan": "pro"}));
        let v = Value::Object(v);
        let ctx = EvaluationContext::from_json(&v);
        assert_eq!(ctx.get("k39"), Some(&json!(39)));
        assert_eq!(ctx.get("k0"), Some(&json!(0)));
        assert_eq!(ctx.get("user.plan"), Some(&json!("pro")));
        assert_eq!(ctx.get("k40"), None);
    }

    #[test]
    fn units_are_strings_or_integers() {
        let read = |v: Value| Unit::read(Some(&v)).map(|u| u.map(|u| u.as_str().to_owned()));
        assert_eq!(read(json!("abc")), Ok(Some("abc".into())));
        assert_eq!(read(json!(42)), Ok(Some("42".into())));
        assert_eq!(read(json!(0)), Ok(Some("0".into())));
        assert_eq!(read(json!(-7)), Ok(Some("-7".into())));
        assert_eq!(read(json!(u64::MAX)), Ok(Some(u64::MAX.to_string())));
        assert_eq!(read(json!(i64::MIN)), Ok(Some(i64::MIN.to_string())));
        assert_eq!(read(json!(1.5)), Err(UnitError::NotIntegral));
        assert_eq!(read(json!(true)), Err(UnitError::WrongType));
        assert_eq!(read(json!("é".repeat(101))), Err(UnitError::TooLong));
        assert_eq!(read(json!("é".repeat(100))), Ok(Some("é".repeat(100))));
        assert_eq!(read(Value::Null), Ok(None));
    }
}
