//! What evaluating one flag gives: a variant (or none) and the reason.

use serde::Serialize;
use serde_json::Value;

/// A flag's index in one [`crate::Engine`]; get it once with [`crate::Engine::flag_id`].
///
/// Ids belong to the engine that gave them: after an [`crate::EngineHandle`]
/// swap, look flags up again on the new engine (a config change may reorder
/// flags). Holding the `Arc<Engine>` and its ids together keeps them consistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlagId(pub(crate) u32);

impl FlagId {
    /// The dense index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Why a resolution came out as it did (spec §2.2). Outcomes are values, never errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// A rule decided: a variant, or the client default.
    Match,
    /// No rule decided; the caller's default applies.
    NoSegmentMatch,
    /// The flag is archived.
    FlagArchived,
    /// The targeting key is present but not a string or integer of at most 100 characters.
    TargetingKeyError,
    /// No flag by that name.
    FlagNotFound,
    /// Evaluation could not complete. Compile rejects every config that could
    /// cause it, so an engine never gives it; it exists for the OpenFeature
    /// `GENERAL` error and for callers that map their own failures.
    Error,
}

impl Reason {
    /// The wire spelling, as in spec §2.2.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Match => "MATCH",
            Reason::NoSegmentMatch => "NO_SEGMENT_MATCH",
            Reason::FlagArchived => "FLAG_ARCHIVED",
            Reason::TargetingKeyError => "TARGETING_KEY_ERROR",
            Reason::FlagNotFound => "FLAG_NOT_FOUND",
            Reason::Error => "ERROR",
        }
    }
}

/// The result of evaluating one flag. Borrowed from the engine: no allocation.
///
/// Serialises as the output of `flagstone eval`, in camelCase:
/// `{flag, variant, value, reason, rule, segment, assignmentId, bucket}`, absent values as
/// `null`; where the unit was read and whether the variant was stored are left out.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolution<'e> {
    /// The flag's name (or the name asked for, when not found).
    pub flag: &'e str,
    /// The variant's full name, when one was assigned.
    pub variant: Option<&'e str>,
    /// The variant's value, when one was assigned.
    pub value: Option<&'e Value>,
    /// Why.
    pub reason: Reason,
    /// The rule that decided.
    pub rule: Option<&'e str>,
    /// The segment of that rule.
    pub segment: Option<&'e str>,
    /// The assignment that decided.
    pub assignment_id: Option<&'e str>,
    /// The unit's bucket in that rule (absent when the rule gives every bucket the same outcome).
    pub bucket: Option<u32>,
    /// Where the deciding rule read the unit in the context.
    #[serde(skip)]
    pub targeting_key_selector: Option<&'e str>,
    /// Whether the variant came from a stored sticky assignment (see [`crate::sticky`]).
    #[serde(skip)]
    pub materialized: bool,
    /// Whether the deciding rule splits between more than one variant.
    #[serde(skip)]
    pub(crate) is_split: bool,
    #[serde(skip)]
    pub(crate) variant_idx: Option<u32>,
}

/// OpenFeature's resolution reasons and error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFeature {
    /// `TARGETING_MATCH`, `SPLIT`, `DEFAULT`, `DISABLED` or `ERROR`.
    pub reason: &'static str,
    /// `FLAG_NOT_FOUND`, `TARGETING_KEY_MISSING` or `GENERAL` for errors.
    pub error_code: Option<&'static str>,
}

impl<'e> Resolution<'e> {
    pub(crate) fn empty(flag: &'e str, reason: Reason) -> Self {
        Resolution {
            flag,
            variant: None,
            value: None,
            reason,
            rule: None,
            segment: None,
            assignment_id: None,
            bucket: None,
            targeting_key_selector: None,
            materialized: false,
            is_split: false,
            variant_idx: None,
        }
    }

    /// The OpenFeature reason and error code (spec §2.2).
    pub fn openfeature(&self) -> OpenFeature {
        let (reason, error_code) = match self.reason {
            Reason::Match if self.is_split => ("SPLIT", None),
            Reason::Match => ("TARGETING_MATCH", None),
            Reason::NoSegmentMatch => ("DEFAULT", None),
            Reason::FlagArchived => ("DISABLED", None),
            Reason::TargetingKeyError => ("ERROR", Some("TARGETING_KEY_MISSING")),
            Reason::FlagNotFound => ("ERROR", Some("FLAG_NOT_FOUND")),
            Reason::Error => ("ERROR", Some("GENERAL")),
        };
        OpenFeature { reason, error_code }
    }

    /// The field of the variant value at a dot path (`"enabled"`, `"limits.daily"`).
    pub fn value_at(&self, path: &str) -> Option<&'e Value> {
        let mut at = self.value?;
        if path.is_empty() {
            return Some(at);
        }
        for part in path.split('.') {
            at = at.as_object()?.get(part)?;
        }
        Some(at)
    }

    /// A boolean field of the variant value.
    ///
    /// # Errors
    /// [`AccessError`]: no variant, no such field, or not a boolean.
    pub fn bool_at(&self, path: &str) -> Result<bool, AccessError> {
        self.typed_at(path, Value::as_bool)
    }

    /// A string field of the variant value.
    ///
    /// # Errors
    /// [`AccessError`]: no variant, no such field, or not a string.
    pub fn str_at(&self, path: &str) -> Result<&'e str, AccessError> {
        self.typed_at(path, Value::as_str)
    }

    /// A number field of the variant value.
    ///
    /// # Errors
    /// [`AccessError`]: no variant, no such field, or not a number.
    pub fn f64_at(&self, path: &str) -> Result<f64, AccessError> {
        self.typed_at(path, Value::as_f64)
    }

    /// An integer field of the variant value.
    ///
    /// # Errors
    /// [`AccessError`]: no variant, no such field, or not an integer.
    pub fn i64_at(&self, path: &str) -> Result<i64, AccessError> {
        self.typed_at(path, Value::as_i64)
    }

    fn typed_at<T>(
        &self,
        path: &str,
        read: impl FnOnce(&'e Value) -> Option<T>,
    ) -> Result<T, AccessError> {
        if self.value.is_none() {
            return Err(AccessError::NoVariant);
        }
        let field = self.value_at(path).ok_or(AccessError::Missing)?;
        read(field).ok_or(AccessError::TypeMismatch)
    }
}

/// Why a typed read of the variant value failed; the caller uses its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The resolution has no variant.
    #[error("no variant was assigned")]
    NoVariant,
    /// The variant value has no field at that path.
    #[error("the variant value has no such field")]
    Missing,
    /// The field has another type (OpenFeature `TYPE_MISMATCH`).
    #[error("the field has another type")]
    TypeMismatch,
}

impl AccessError {
    /// The OpenFeature error code.
    pub fn error_code(self) -> &'static str {
        match self {
            AccessError::NoVariant | AccessError::Missing => "GENERAL",
            AccessError::TypeMismatch => "TYPE_MISMATCH",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_serialise_as_the_cli_prints_them() {
        let mut r = Resolution::empty("flags/f", Reason::Match);
        r.rule = Some("flags/f/rules/r");
        r.assignment_id = Some("a");
        r.bucket = Some(42);
        r.targeting_key_selector = Some("user_id");
        r.materialized = true;
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"flag":"flags/f","variant":null,"value":null,"reason":"MATCH","rule":"flags/f/rules/r","segment":null,"assignmentId":"a","bucket":42}"#
        );
    }
}
