//! The one error type of the statistics crate.

use std::fmt;

/// Invalid input to the statistics: a malformed sufficient statistic or setting.
///
/// Undefined results (a zero standard error, a zero control mean) are not errors; they are
/// [`UndefinedReason`] values inside a successful result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// A value is out of range or inconsistent; `path` names it (JSON path when it came from a
    /// request, a field name when it came from the library API).
    #[error("{path}: {message}")]
    Invalid {
        /// Where the bad value is, e.g. `metrics[2].data.control.n`.
        path: String,
        /// What was expected, lowercase without a trailing period.
        message: String,
    },
}

impl StatsError {
    /// Builds an [`StatsError::Invalid`] for `path`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        StatsError::Invalid { path: path.into(), message: message.into() }
    }

    /// Prefixes the path with `prefix` (joined with a dot unless the path starts with `[`).
    #[must_use]
    pub fn at(self, prefix: &str) -> Self {
        match self {
            StatsError::Invalid { path, message } => {
                let path = if path.is_empty() {
                    prefix.to_owned()
                } else if prefix.is_empty() || path.starts_with('[') {
                    format!("{prefix}{path}")
                } else {
                    format!("{prefix}.{path}")
                };
                StatsError::Invalid { path, message }
            }
        }
    }

    /// The path of the offending value.
    pub fn path(&self) -> &str {
        match self {
            StatsError::Invalid { path, .. } => path,
        }
    }
}

/// Why a quantity is undefined; rendered as `undefinedReason` in results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UndefinedReason {
    /// An arm has no units, so it has no mean.
    NoUnits,
    /// An arm has fewer than two units where a sample variance is needed.
    TooFewUnits,
    /// The standard error of the difference is zero (e.g. zero successes in both arms).
    ZeroStandardError,
    /// The control mean is zero, so relative differences are undefined.
    ZeroControlMean,
    /// A ratio metric's denominator sums to zero in an arm.
    ZeroDenominator,
    /// A metric has no data for an arm that the comparison needs.
    MissingData,
    /// The requested power cannot be reached with any effect inside the metric's range.
    PowerUnreachable,
    /// A posterior is too extreme (counts near 2^64, sums near 1e308) for its interval to be
    /// resolved in `f64`.
    Unresolved,
    /// Fewer than two variants have a positive expected share, so there is no ratio to test.
    SingleVariant,
}

impl UndefinedReason {
    /// A short lowercase explanation.
    pub fn as_str(self) -> &'static str {
        match self {
            UndefinedReason::NoUnits => "an arm has no units",
            UndefinedReason::TooFewUnits => "an arm has fewer than 2 units; a variance needs 2",
            UndefinedReason::ZeroStandardError => {
                "standard error is 0 (no variation in either arm)"
            }
            UndefinedReason::ZeroControlMean => {
                "control mean is 0; relative difference is undefined"
            }
            UndefinedReason::ZeroDenominator => "ratio denominator sums to 0 in an arm",
            UndefinedReason::MissingData => "no data for an arm",
            UndefinedReason::PowerUnreachable => {
                "requested power is unreachable at this sample size"
            }
            UndefinedReason::Unresolved => "the posterior is too extreme to resolve in f64",
            UndefinedReason::SingleVariant => {
                "fewer than two variants have a positive expected share"
            }
        }
    }
}

impl fmt::Display for UndefinedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
