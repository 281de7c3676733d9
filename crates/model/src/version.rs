//! Versions: lenient parsing and SemVer precedence.
//!
//! [`Version`] is what `version` criteria, `semver-*` property conditions and `versionValue`s compare
//! (spec §2.3). The policy is LaunchDarkly's padding plus flagd's `v` prefix:
//!
//! | input | parses as | why |
//! |---|---|---|
//! | `1.2.3`, `1.2.3-rc.1+build.5` | itself | [SemVer 2.0.0](https://semver.org/spec/v2.0.0.html) |
//! | `v1.2.3`, `V1.2.3` | `1.2.3` | app versions are often tagged `v…` (flagd accepts it) |
//! | `1`, `1.2` | `1.0.0`, `1.2.0` | missing parts are zero (LaunchDarkly) |
//! | `2-rc.1`, `2.1-rc.1` | `2.0.0-rc.1`, `2.1.0-rc.1` | padding keeps the pre-release |
//! | `01.2.3`, `1.2.3.4`, `1..2`, `1.2.`, `1.2.3-`, ` 1.2.3` | error | leading zeros, four parts, empty parts and whitespace are never guessed at |
//!
//! Comparison is SemVer 2.0.0 precedence (§11): pre-releases order below their release and field by
//! field, and build metadata is ignored, so `1.0.0+a == 1.0.0+b`. [`Display`](fmt::Display) prints the
//! normalised form, build metadata included.
//!
//! # Input safety
//!
//! Parsing takes time linear in the input and never panics. A number part that does not fit in a `u64`
//! is an error, not a wrap-around.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// A version number, parsed leniently (see the [module docs](self)) and compared by SemVer 2.0.0
/// precedence, ignoring build metadata.
///
/// # Examples
///
/// ```
/// use flagstone_model::version::Version;
///
/// assert_eq!(Version::parse("v1.2")?.to_string(), "1.2.0");
/// assert!(Version::parse("1.0.0-rc.1")? < Version::parse("1")?);
/// assert_eq!(Version::parse("1.0.0+a")?, Version::parse("1.0.0+b")?);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Version(semver::Version);

/// Why a string is not a [`Version`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The string is not `MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]` with an optional `v`/`V` prefix.
    #[error("invalid version {input:?}: expected MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]")]
    Invalid {
        /// The string as given.
        input: String,
    },
}

impl Version {
    /// Parses `text` leniently: an optional `v`/`V` prefix, then `MAJOR[.MINOR[.PATCH]]` with the
    /// missing parts taken as 0, then an optional `-PRE` and `+BUILD` as in SemVer 2.0.0.
    ///
    /// # Errors
    ///
    /// [`VersionError::Invalid`] when `text` is not of that form: empty, a number with a leading zero
    /// or too large for a `u64`, more than three numbers, an empty part (`1..2`, `1.2.`, `1.2.3-`),
    /// whitespace or any other character out of place.
    ///
    /// # Examples
    ///
    /// ```
    /// use flagstone_model::version::Version;
    ///
    /// assert_eq!(Version::parse("2-rc.1")?.to_string(), "2.0.0-rc.1");
    /// let err = Version::parse("1.2.3.4").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"invalid version "1.2.3.4": expected MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]"#
    /// );
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        parse_lenient(text)
            .map(Version)
            .ok_or_else(|| VersionError::Invalid { input: text.to_owned() })
    }

    /// The normalised SemVer value (all three numbers present, build metadata kept).
    #[must_use]
    pub fn as_semver(&self) -> &semver::Version {
        &self.0
    }

    /// The major version number.
    #[must_use]
    pub fn major(&self) -> u64 {
        self.0.major
    }

    /// The minor version number (0 when the input had none).
    #[must_use]
    pub fn minor(&self) -> u64 {
        self.0.minor
    }

    /// The patch version number (0 when the input had none).
    #[must_use]
    pub fn patch(&self) -> u64 {
        self.0.patch
    }

    /// The pre-release identifiers (`rc.1` in `1.0.0-rc.1`), empty for a release.
    #[must_use]
    pub fn pre(&self) -> &str {
        self.0.pre.as_str()
    }

    /// The build metadata (`build.5` in `1.0.0+build.5`), empty when absent; ignored by comparisons.
    #[must_use]
    pub fn build(&self) -> &str {
        self.0.build.as_str()
    }
}

/// Parses the lenient form, or `None`. Builds the `semver::Version` from its parts, so padding needs no
/// intermediate string.
fn parse_lenient(text: &str) -> Option<semver::Version> {
    let p = parts(text)?;
    // `parts` has checked the identifiers; `semver` stores them.
    let pre = if p.pre.is_empty() {
        semver::Prerelease::EMPTY
    } else {
        semver::Prerelease::new(p.pre).ok()?
    };
    let build = if p.build.is_empty() {
        semver::BuildMetadata::EMPTY
    } else {
        semver::BuildMetadata::new(p.build).ok()?
    };
    Some(semver::Version { major: p.major, minor: p.minor, patch: p.patch, pre, build })
}

/// The parts of a lenient version, borrowed: the one grammar behind
/// [`Version::parse`] and [`VersionRef::parse`].
struct Parts<'a> {
    major: u64,
    minor: u64,
    patch: u64,
    /// Empty for none.
    pre: &'a str,
    /// Empty for none.
    build: &'a str,
}

/// One pass over the bytes, with no intermediate splits: the engine parses a
/// context's version string for every version criterion it evaluates, so
/// this is on the evaluation path.
#[inline]
fn parts(text: &str) -> Option<Parts<'_>> {
    // A byte test, not `strip_prefix(['v', 'V'])`, whose char searcher is a call per parse.
    let text = match text.as_bytes().first() {
        Some(b'v' | b'V') => text.get(1..)?,
        _ => text,
    };
    let bytes = text.as_bytes();
    let mut at = 0;
    let major = number(bytes, &mut at)?;
    let mut minor = 0;
    let mut patch = 0;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        minor = number(bytes, &mut at)?;
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            patch = number(bytes, &mut at)?;
        }
    }
    // The core numbers never contain `-` or `+`, and the pre-release never contains `+`, so the
    // first `+` starts the build metadata and a `-` right after the numbers starts the pre-release.
    // Anything else after the numbers (a fourth number, whitespace) is an error.
    let rest = text.get(at..)?;
    let (pre, build) = match rest.as_bytes().first() {
        None => ("", None),
        Some(b'-') => {
            let rest = rest.get(1..)?;
            // A byte search: `split_once('+')` is a char searcher call per parse.
            match rest.bytes().position(|b| b == b'+') {
                Some(plus) => (rest.get(..plus)?, Some(rest.get(plus + 1..)?)),
                None => (rest, None),
            }
        }
        Some(b'+') => ("", Some(rest.get(1..)?)),
        Some(_) => return None,
    };
    // After a `-` or `+` an empty part is an error (SemVer forbids empty identifiers).
    if rest.starts_with('-') && !identifiers_valid(pre, true) {
        return None;
    }
    let build = match build {
        None => "",
        Some(build) if identifiers_valid(build, false) => build,
        Some(_) => return None,
    };
    Some(Parts { major, minor, patch, pre, build })
}

/// A SemVer numeric part at `bytes[*at..]`, advancing `at` past it: ASCII digits without a leading
/// zero, that fit in a `u64`.
#[inline]
fn number(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let start = *at;
    let mut value: u64 = 0;
    while let Some(&b) = bytes.get(*at) {
        if !b.is_ascii_digit() {
            break;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        *at += 1;
    }
    let len = *at - start;
    let has_leading_zero = len > 1 && bytes.get(start) == Some(&b'0');
    if len == 0 || has_leading_zero { None } else { Some(value) }
}

/// A version borrowed from its text: the grammar of [`Version::parse`],
/// parsed and compared without allocating. The engine reads context strings
/// with it, so a version criterion never allocates, whatever the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRef<'a> {
    /// Major number.
    pub major: u64,
    /// Minor number (0 when omitted).
    pub minor: u64,
    /// Patch number (0 when omitted).
    pub patch: u64,
    /// The pre-release, empty for none.
    pub pre: &'a str,
}

impl<'a> VersionRef<'a> {
    /// Parses `text` exactly as [`Version::parse`] does; `None` when it would fail.
    ///
    /// Inline, so the engine's version criteria parse without a call into this crate.
    #[inline]
    pub fn parse(text: &'a str) -> Option<VersionRef<'a>> {
        let p = parts(text)?;
        Some(VersionRef { major: p.major, minor: p.minor, patch: p.patch, pre: p.pre })
    }

    /// SemVer 2.0.0 precedence against a parsed version (build metadata ignored).
    #[inline]
    pub fn cmp_precedence(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.0.major, other.0.minor, other.0.patch))
            .then_with(|| cmp_prerelease(self.pre, other.0.pre.as_str()))
    }
}

/// Dot-separated, non-empty identifiers of `[0-9A-Za-z-]`; numeric pre-release
/// identifiers have no leading zero (SemVer 2.0.0 §9, §10).
///
/// One pass over the bytes: the engine validates a context's pre-release on every
/// version criterion, and splitting it cost more than the rest of the parse.
fn identifiers_valid(text: &str, pre_release: bool) -> bool {
    let bytes = text.as_bytes();
    // The identifier `bytes[start..end]`, all digits when `numeric`.
    let valid = |start: usize, end: usize, numeric: bool| {
        end > start
            && !(pre_release && numeric && end - start > 1 && bytes.get(start) == Some(&b'0'))
    };
    let mut start = 0;
    let mut numeric = true;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'.' => {
                if !valid(start, i, numeric) {
                    return false;
                }
                start = i + 1;
                numeric = true;
            }
            b'0'..=b'9' => {}
            b'a'..=b'z' | b'A'..=b'Z' | b'-' => numeric = false,
            _ => return false,
        }
    }
    valid(start, bytes.len(), numeric)
}

/// SemVer 2.0.0 §11 precedence of two pre-releases (empty: a release, which ranks higher).
fn cmp_prerelease(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    let (mut xs, mut ys) = (a.split('.'), b.split('.'));
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let numeric = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
                let order = match (numeric(x), numeric(y)) {
                    // Without leading zeros, a longer number is a larger one.
                    (true, true) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Version::parse(text)
    }
}

impl From<semver::Version> for Version {
    fn from(version: semver::Version) -> Self {
        Version(version)
    }
}

impl fmt::Display for Version {
    /// The normalised form: `v1.2` prints as `1.2.0`; build metadata is printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Ord for Version {
    /// SemVer 2.0.0 precedence (§11); build metadata is ignored.
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp_precedence(&other.0)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    /// Equal precedence: `1.0.0+a == 1.0.0+b`.
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Hash for Version {
    /// Hashes what equality looks at (not the build metadata), so `a == b` implies equal hashes.
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.0.major, self.0.minor, self.0.patch, &self.0.pre).hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    /// Parses `input` and checks its normalised form, or that it is rejected when `expected` is `None`.
    #[track_caller]
    fn check(input: &str, expected: Option<&str>) {
        let parsed = Version::parse(input);
        match expected {
            Some(expected) => {
                let version = parsed.unwrap_or_else(|err| panic!("{input:?}: {err}"));
                assert_eq!(version.to_string(), expected, "{input:?}");
            }
            None => assert_eq!(
                parsed.map(|version| version.to_string()),
                Err(VersionError::Invalid { input: input.to_owned() }),
                "{input:?}"
            ),
        }
    }

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn valid() {
        let cases = [
            ("0.0.0", "0.0.0"),
            ("1.2.3", "1.2.3"),
            ("10.20.30", "10.20.30"),
            ("1.2.3-rc.1", "1.2.3-rc.1"),
            ("1.2.3+build.5", "1.2.3+build.5"),
            ("1.2.3-rc.1+build.5", "1.2.3-rc.1+build.5"),
            ("1.0.0-x-y.z--0+b-1", "1.0.0-x-y.z--0+b-1"),
            ("1.0.0-0A.is.legal", "1.0.0-0A.is.legal"),
            ("1.0.0+001", "1.0.0+001"),
            // spec §2.3: `v`/`V` prefix.
            ("v1.2.3", "1.2.3"),
            ("V1.2.3", "1.2.3"),
            ("v1", "1.0.0"),
            // spec §2.3: padding.
            ("1", "1.0.0"),
            ("0", "0.0.0"),
            ("1.2", "1.2.0"),
            ("2-rc.1", "2.0.0-rc.1"),
            ("2.1-rc.1", "2.1.0-rc.1"),
            ("2+build", "2.0.0+build"),
            ("v2.1-rc+b", "2.1.0-rc+b"),
            ("18446744073709551615.0.0", "18446744073709551615.0.0"),
        ];
        for (input, expected) in cases {
            check(input, Some(expected));
        }
    }

    #[test]
    fn invalid() {
        let cases = [
            "",
            "v",
            "V",
            "vv1.2.3",
            "x1.2.3",
            // Leading zeros (spec §2.3; SemVer §2 and §9).
            "01.2.3",
            "1.02.3",
            "1.2.03",
            "00",
            "1.2.3-01",
            // Four parts (spec §2.3).
            "1.2.3.4",
            "2.0.0.0",
            // Empty parts.
            "1..2",
            "1.2.",
            ".1.2",
            "1.",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-+b",
            "1.2.3-rc..1",
            "1.2.3-rc.",
            "1.2.3+b..1",
            "-1.2.3",
            "+1.2.3",
            // `u64::from_str` would take these.
            "+1.2.3",
            "1.+2.3",
            // Whitespace and other characters.
            " 1.2.3",
            "1.2.3 ",
            "1. 2.3",
            "1.2.3-rc 1",
            "1.2.3\n",
            "1.2.3-rc+b+c",
            "1.2.3-r_c",
            "1.2.x",
            "1.2.*",
            "١.٢.٣",
            "1.2.3-ü",
            "not-a-version",
            "18446744073709551616.0.0",
            "1.2.3.4-rc",
        ];
        for input in cases {
            check(input, None);
        }
    }

    #[test]
    fn error_message() {
        let err = Version::parse("1.2.3.4").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid version "1.2.3.4": expected MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]"#
        );
        // Control characters are escaped, so a message never breaks a log line.
        let err = Version::parse("1\n").unwrap_err();
        assert!(err.to_string().starts_with(r#"invalid version "1\n": "#), "{err}");
    }

    #[test]
    fn semver_spec_precedence_chain() {
        // SemVer 2.0.0 §11 (https://semver.org/spec/v2.0.0.html#spec-item-11), its example:
        // 1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-alpha.beta < 1.0.0-beta < 1.0.0-beta.2 < 1.0.0-beta.11
        // < 1.0.0-rc.1 < 1.0.0.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for (i, lower) in chain.iter().enumerate() {
            for (j, higher) in chain.iter().enumerate() {
                assert_eq!(v(lower).cmp(&v(higher)), i.cmp(&j), "{lower} vs {higher}");
            }
        }
        // §11 also: 1.0.0 < 2.0.0 < 2.1.0 < 2.1.1, numbers compared numerically.
        assert!(v("1.0.0") < v("2.0.0"));
        assert!(v("2.0.0") < v("2.1.0"));
        assert!(v("2.1.0") < v("2.1.1"));
        assert!(v("1.9.0") < v("1.10.0"));
    }

    #[test]
    fn precedence() {
        // (lower, higher) pairs.
        let less = [
            ("1.0.0-rc.1", "1"),
            ("1.2", "1.10"),
            ("v1.2.3", "1.2.4"),
            ("2-rc", "2"),
            ("2.0.0-rc.2.green", "2.0.0-rc.10.green"),
            ("2.0.0-rc.2.green", "2.0.0-rc.2.green.1"),
            ("2.0.0-rc.2.green", "2.0.0-rc.2.red"),
            ("2.0.0-2", "2.0.0-a"),
        ];
        for (lower, higher) in less {
            assert!(v(lower) < v(higher), "{lower} < {higher}");
            assert!(v(higher) > v(lower), "{higher} > {lower}");
            assert_ne!(v(lower), v(higher));
        }
        // Equal precedence: padding, prefix and build metadata do not matter.
        let equal = [
            ("1", "1.0.0"),
            ("1.2", "v1.2.0"),
            ("V1.0.0", "v1.0.0"),
            ("1.0.0+a", "1.0.0+b"),
            ("1.0.0+a", "1.0.0"),
            ("2-rc", "2.0.0-rc+build"),
        ];
        for (a, b) in equal {
            assert_eq!(v(a), v(b), "{a} == {b}");
            assert_eq!(v(a).cmp(&v(b)), Ordering::Equal, "{a} == {b}");
            assert_eq!(hash_of(&v(a)), hash_of(&v(b)), "hash {a} == {b}");
        }
    }

    fn hash_of(version: &Version) -> u64 {
        let mut hasher = DefaultHasher::new();
        version.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn accessors_and_conversions() {
        let version: Version = "v2.1-rc.1+b.7".parse().unwrap();
        assert_eq!(
            (version.major(), version.minor(), version.patch(), version.pre(), version.build()),
            (2, 1, 0, "rc.1", "b.7")
        );
        assert_eq!(version.as_semver(), &semver::Version::parse("2.1.0-rc.1+b.7").unwrap());
        assert_eq!(Version::from(semver::Version::new(2, 1, 0)), v("2.1"));
    }

    proptest::proptest! {
        #[test]
        fn strict_semver_parses_as_the_semver_crate_does(
            major in 0_u64..1000, minor in 0_u64..1000, patch in 0_u64..1000,
            pre in proptest::option::of("[0-9A-Za-z-]{1,8}(\\.[0-9A-Za-z-]{1,8}){0,2}"),
            build in proptest::option::of("[0-9A-Za-z-]{1,8}(\\.[0-9A-Za-z-]{1,8}){0,2}"),
        ) {
            let mut text = format!("{major}.{minor}.{patch}");
            if let Some(pre) = &pre {
                text = format!("{text}-{pre}");
            }
            if let Some(build) = &build {
                text = format!("{text}+{build}");
            }
            let ours = Version::parse(&text).map(|version| version.as_semver().clone()).ok();
            proptest::prop_assert_eq!(ours, semver::Version::parse(&text).ok(), "{}", text);
        }

        #[test]
        fn lenient_parse_equals_padding_then_strict_parse(
            text in "[vVx]?[0-9]{0,2}(\\.[0-9]{0,2}){0,4}(-[0-9A-Za-z.+ -]{0,6})?(\\+[0-9A-Za-z. -]{0,6})?",
        ) {
            let ours = Version::parse(&text).map(|version| version.as_semver().clone()).ok();
            proptest::prop_assert_eq!(ours, padded_oracle(&text), "{:?}", text);
        }

        #[test]
        fn never_panics_and_display_round_trips(text in "\\PC{0,24}") {
            if let Ok(version) = Version::parse(&text) {
                let printed = version.to_string();
                let reparsed = Version::parse(&printed).unwrap();
                proptest::prop_assert_eq!(&reparsed, &version);
                proptest::prop_assert_eq!(reparsed.to_string(), printed);
            }
        }
    }

    /// The obvious reading of spec §2.3 as a reference: drop a `v`, pad the numbers with `.0` as
    /// text, and let the `semver` crate judge the result.
    fn padded_oracle(text: &str) -> Option<semver::Version> {
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        let (core, rest) = text.split_at(text.find(['-', '+']).unwrap_or(text.len()));
        let padding = match core.matches('.').count() {
            0 => ".0.0",
            1 => ".0",
            _ => "",
        };
        semver::Version::parse(&format!("{core}{padding}{rest}")).ok()
    }

    // The semver cases of the third-party conformance corpus run through the engine in
    // tests/it/conformance.rs, with the one list of documented differences,
    // tests/conformance/differences.toml.

    proptest::proptest! {
        /// The borrowed parser accepts exactly what `Version::parse` accepts,
        /// and orders exactly as its precedence.
        #[test]
        fn version_ref_agrees_with_version(
            a in "[vV]?[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-[0-9A-Za-z.-]{0,12})?(\\+[0-9A-Za-z.-]{0,6})?",
            b in "[0-9]{1,2}(\\.[0-9]{1,2}){0,2}(-(alpha|beta|rc|0|1|11|x-1)(\\.(0|1|2|11|beta)){0,2})?",
            junk in "\\PC{0,8}",
        ) {
            for text in [a.as_str(), junk.as_str(), &format!("{a}{junk}")] {
                let owned = Version::parse(text);
                let borrowed = VersionRef::parse(text);
                proptest::prop_assert_eq!(owned.is_ok(), borrowed.is_some(), "{:?}", text);
                if let (Ok(v), Some(r), Ok(other)) = (owned, borrowed, Version::parse(&b)) {
                    proptest::prop_assert_eq!(r.cmp_precedence(&other), v.cmp(&other), "{:?} vs {:?}", text, b);
                }
            }
        }
    }
}
