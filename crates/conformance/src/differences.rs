//! `differences.toml`: the documented differences between Flagstone and a source engine.
//!
//! ```toml
//! [tags]       # every mismatching case with this tag is a documented difference
//! stringify-coercion = "Flagstone never coerces types (spec §2.1)"
//! [operators]  # every mismatching case using this neutral operator
//! in_cidr = "Flagstone has no IP network rule"
//! [cases]      # one case, by id
//! "unleash:...:F1" = "why"
//! [bugs]       # engine bugs against the specification, to be fixed (not policy)
//! ```
//!
//! Each entry must stay true: a `[cases]` or `[bugs]` id that passes (or names no case), and a
//! `[tags]` or `[operators]` key under which no case mismatches, is reported as stale.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The parsed list of documented differences and known bugs; values are the reasons.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Differences {
    /// Policy differences by tag.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Policy differences by neutral operator (operators Flagstone has no equivalent for).
    #[serde(default)]
    pub operators: BTreeMap<String, String>,
    /// Policy differences by case id.
    #[serde(default)]
    pub cases: BTreeMap<String, String>,
    /// Cases where Flagstone disagrees with its own specification (`docs/spec`), by case id.
    #[serde(default)]
    pub bugs: BTreeMap<String, String>,
}

/// A `differences.toml` that does not parse.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DifferencesError(String);

impl Differences {
    /// Parses the TOML text.
    ///
    /// # Errors
    /// [`DifferencesError`] with the TOML error (line and column) when the text is not TOML, has
    /// a table other than `tags`, `operators`, `cases`, `bugs`, or a value that is not a string.
    ///
    /// # Examples
    /// ```
    /// use flagstone_conformance::differences::Differences;
    /// let d = Differences::parse("[tags]\nstringify-coercion = \"no coercion\"\n")?;
    /// assert_eq!(d.tags["stringify-coercion"], "no coercion");
    /// assert!(Differences::parse("[tag]\nx = \"typo\"\n").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(text: &str) -> Result<Differences, DifferencesError> {
        toml::from_str(text).map_err(|e| DifferencesError(e.to_string()))
    }
}
