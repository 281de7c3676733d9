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
/// Building a context indexes up to 16 top-level keys inline (two words per
/// key loaded from its bytes, no hashing and no heap allocation), so each
/// attribute lookup during evaluation compares two precomputed words and a
/// length per key; keys of up to 16 bytes are never read again. Build the
/// context once per request and evaluate every flag with it.
#[derive(Clone, Copy, Debug)]
pub struct EvaluationContext<'a> {
    attributes: &'a Map<String, Value>,
    now: Option<Timestamp>,
    /// `(print, value)` of the first [`INDEXED_KEYS`] keys; all keys when `complete`.
    index: [(KeyPrint, Option<&'a Value>); INDEXED_KEYS],
    n_indexed: u8,
    complete: bool,
}

/// How many top-level keys a context indexes inline.
const INDEXED_KEYS: usize = 16;

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// A key's print: its bytes and its length in two words, in constant time.
///
/// A key of at most [`EXACT_PRINT_LEN`] bytes is its print: the first word
/// holds bytes 0 to 7, the second bytes 8 to 14 and, in its top byte, the
/// length. So a lookup compares two words per indexed key and never reads
/// the context's key strings (in a context that is not in cache, each such
/// read was a miss), and the index needs no key at all. Longer keys (rare
/// as attribute names) all print as [`LONG_KEY`] and are looked up in the
/// map, which compares strings.
///
/// Building a context prints every top-level key, so it has to be cheap: the
/// FNV-1a hash it replaces cost a multiply per byte.
#[inline]
pub(crate) fn key_print(key: &str) -> KeyPrint {
    let b = key.as_bytes();
    let n = b.len();
    if n > EXACT_PRINT_LEN {
        return LONG_KEY;
    }
    let word =
        |at: usize| b.get(at..at + 8).and_then(|w| w.try_into().ok()).map_or(0, u64::from_le_bytes);
    // `n` is at most 15, so it fits in the top byte, above the 7 bytes of the tail.
    let len = (n as u64) << 56;
    if n > 8 {
        // Bytes 8.. are the top `n - 8` bytes of the word that ends at the key's end:
        // two loads and a shift, no per-length branches.
        (word(0), word(n - 8) >> (8 * (16 - n)) | len)
    } else {
        (padded(b), len)
    }
}

/// Up to 8 bytes as a little-endian word, zero-padded, without a loop:
/// overlapping loads share their bytes, so `|` keeps each byte once.
#[inline]
fn padded(b: &[u8]) -> u64 {
    let n = b.len();
    let byte = |at: usize| u64::from(b.get(at).copied().unwrap_or(0));
    let half =
        |at: usize| b.get(at..at + 4).and_then(|w| w.try_into().ok()).map_or(0, u32::from_le_bytes);
    match n {
        0 => 0,
        1..=3 => byte(0) | byte(n / 2) << (8 * (n / 2)) | byte(n - 1) << (8 * (n - 1)),
        4..=7 => u64::from(half(0)) | u64::from(half(n - 4)) << (8 * (n - 4)),
        _ => b.get(..8).and_then(|w| w.try_into().ok()).map_or(0, u64::from_le_bytes),
    }
}

/// See [`key_print`].
pub(crate) type KeyPrint = (u64, u64);

/// Keys of at most this many bytes are their print.
const EXACT_PRINT_LEN: usize = 15;

/// The print of every longer key; no short key prints so (its top byte is above 15).
const LONG_KEY: KeyPrint = (u64::MAX, u64::MAX);

impl<'a> EvaluationContext<'a> {
    /// A context over a JSON object's attributes.
    // Always inlined: built in the caller's frame, the 400-byte context is not
    // copied out of this one (the copy was a sixth of the build).
    #[inline(always)]
    pub fn new(attributes: &'a Map<String, Value>) -> Self {
        let mut ctx = EvaluationContext {
            attributes,
            now: None,
            index: [((0, 0), None); INDEXED_KEYS],
            n_indexed: 0,
            complete: attributes.len() <= INDEXED_KEYS,
        };
        for (slot, (key, value)) in ctx.index.iter_mut().zip(attributes.iter()) {
            *slot = (key_print(key), Some(value));
            ctx.n_indexed += 1;
        }
        ctx
    }

    /// The top-level value at `key` (whose print is `print`): through the
    /// inline index, then, for long keys and keys past the index, the map.
    #[inline]
    fn top_level(&self, key: &str, print: KeyPrint) -> Option<&'a Value> {
        if print != LONG_KEY {
            let indexed = self.index.get(..usize::from(self.n_indexed)).unwrap_or_default();
            if let Some(&(_, v)) = indexed.iter().find(|(p, _)| *p == print) {
                return v;
            }
            if self.complete {
                return None;
            }
        }
        self.attributes.get(key)
    }

    /// A context over any JSON value: an object's attributes, or no attributes.
    #[inline(always)]
    pub fn from_json(value: &'a Value) -> Self {
        let attributes = match value {
            Value::Object(map) => map,
            _ => &EMPTY,
        };
        EvaluationContext::new(attributes)
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
    full_print: KeyPrint,
    /// The dot-separated parts; empty when the name has no dot.
    parts: Box<[Box<str>]>,
    first_print: KeyPrint,
}

impl AttrPath {
    pub(crate) fn new(name: &str) -> Self {
        let parts: Box<[Box<str>]> = if name.contains('.') {
            name.split('.').map(Box::from).collect()
        } else {
            Box::default()
        };
        let first_print = parts.first().map_or((0, 0), |p| key_print(p));
        AttrPath { full: name.into(), full_print: key_print(name), parts, first_print }
    }

    /// The name as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.full
    }

    /// The value, treating JSON null as absent.
    #[inline]
    pub(crate) fn lookup<'a>(&self, ctx: &EvaluationContext<'a>) -> Option<&'a Value> {
        let found = match ctx.top_level(&self.full, self.full_print) {
            Some(v) => Some(v),
            None => self.walk(ctx),
        };
        found.filter(|v| !v.is_null())
    }

    fn walk<'a>(&self, ctx: &EvaluationContext<'a>) -> Option<&'a Value> {
        let (first, rest) = self.parts.split_first()?;
        let mut at = ctx.top_level(first, self.first_print)?;
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
    fn prints_identify_short_keys_exactly() {
        let alphabet = ["", "a", "b", "ab", "ba", "aa", "é", "\0"];
        let mut keys: Vec<String> = Vec::new();
        for len in 0..=18 {
            for (i, x) in alphabet.iter().enumerate() {
                for y in &alphabet[i..] {
                    let mut k = "k".repeat(len);
                    k.insert_str(len / 3, x);
                    k.push_str(y);
                    keys.push(k);
                }
            }
        }
        keys.sort();
        keys.dedup();
        for a in &keys {
            for b in &keys {
                let short = a.len() <= EXACT_PRINT_LEN && b.len() <= EXACT_PRINT_LEN;
                let long = a.len() > EXACT_PRINT_LEN && b.len() > EXACT_PRINT_LEN;
                let same_print = key_print(a) == key_print(b);
                if short {
                    assert_eq!(same_print, a == b, "{a:?} vs {b:?}");
                } else {
                    assert_eq!(same_print, long, "{a:?} vs {b:?}");
                }
            }
        }
    }

    #[test]
    fn long_keys_and_keys_past_the_index_are_found() {
        let long = "a_very_long_attribute_name";
        let mut v = serde_json::Map::new();
        v.insert(long.into(), json!(1));
        v.insert(format!("{long}_2"), json!(2));
        let small = Value::Object(v.clone());
        let ctx = EvaluationContext::from_json(&small);
        assert_eq!(ctx.get(long), Some(&json!(1)));
        assert_eq!(ctx.get(&format!("{long}_2")), Some(&json!(2)));
        assert_eq!(ctx.get(&format!("{long}_3")), None);
        for i in 0..INDEXED_KEYS + 4 {
            v.insert(format!("k{i:02}"), json!(i));
        }
        let large = Value::Object(v);
        let ctx = EvaluationContext::from_json(&large);
        for i in 0..INDEXED_KEYS + 4 {
            assert_eq!(ctx.get(&format!("k{i:02}")), Some(&json!(i)), "k{i:02}");
        }
        assert_eq!(ctx.get(long), Some(&json!(1)));
        assert_eq!(ctx.get("k99"), None);
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
