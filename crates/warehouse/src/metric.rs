//! Metric definitions for the warehouse query: `ID` (mean), `ID:binary`, `ID=NUM/DEN` (ratio).

use std::fmt;
use std::str::FromStr;

/// How a metric's per-unit values are summarised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricDef {
    /// The unit's sum of the metric's event values after exposure: `{n, sum, sumSquares}`.
    Mean {
        /// The events' `metric`.
        id: String,
    },
    /// Whether the unit's sum is positive: `{n, successes}`.
    Binary {
        /// The events' `metric`.
        id: String,
    },
    /// The sum of the numerator metric's values over the denominator's, per unit:
    /// `{n, numerator, denominator, crossProducts}`.
    Ratio {
        /// The metric's own id (its name in the results).
        id: String,
        /// The numerator events' `metric`.
        numerator: String,
        /// The denominator events' `metric`.
        denominator: String,
    },
}

impl MetricDef {
    /// The metric's id in the output rows.
    pub fn id(&self) -> &str {
        match self {
            MetricDef::Mean { id } | MetricDef::Binary { id } | MetricDef::Ratio { id, .. } => id,
        }
    }

    /// The events' metrics it reads, in order.
    pub fn sources(&self) -> Vec<&str> {
        match self {
            MetricDef::Mean { id } | MetricDef::Binary { id } => vec![id.as_str()],
            MetricDef::Ratio { numerator, denominator, .. } => {
                vec![numerator.as_str(), denominator.as_str()]
            }
        }
    }

    /// Its type in an analysis request.
    pub fn metric_type(&self) -> flagstone_stats::analysis::MetricType {
        use flagstone_stats::analysis::MetricType;
        match self {
            MetricDef::Mean { .. } => MetricType::Mean,
            MetricDef::Binary { .. } => MetricType::Binary,
            MetricDef::Ratio { .. } => MetricType::Ratio,
        }
    }
}

/// A metric definition that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("metric {text:?}: {reason}")]
pub struct MetricDefError {
    /// The definition given.
    pub text: String,
    /// What was expected.
    pub reason: String,
}

/// Whether a name can be written into SQL as a string literal in every dialect as it is.
pub(crate) fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':'))
}

impl FromStr for MetricDef {
    type Err = MetricDefError;

    /// `ID` is a mean metric, `ID:binary` (or `ID:mean`) says the type, and
    /// `ID=NUMERATOR/DENOMINATOR` is a ratio of two event metrics.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail =
            |reason: &str| MetricDefError { text: text.to_owned(), reason: reason.to_owned() };
        let check = |name: &str| {
            if is_safe_name(name) {
                Ok(name.to_owned())
            } else {
                Err(fail("expected names of letters, digits and _ - . / : only"))
            }
        };
        if let Some((id, ratio)) = text.split_once('=') {
            let Some((numerator, denominator)) = ratio.split_once('/') else {
                return Err(fail("expected ID=NUMERATOR/DENOMINATOR for a ratio"));
            };
            return Ok(MetricDef::Ratio {
                id: check(id)?,
                numerator: check(numerator)?,
                denominator: check(denominator)?,
            });
        }
        match text.rsplit_once(':') {
            Some((id, "binary")) => Ok(MetricDef::Binary { id: check(id)? }),
            Some((id, "mean")) => Ok(MetricDef::Mean { id: check(id)? }),
            _ => Ok(MetricDef::Mean { id: check(text)? }),
        }
    }
}

impl fmt::Display for MetricDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricDef::Mean { id } => f.write_str(id),
            MetricDef::Binary { id } => write!(f, "{id}:binary"),
            MetricDef::Ratio { id, numerator, denominator } => {
                write!(f, "{id}={numerator}/{denominator}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_parse_and_print_back() {
        for text in ["revenue", "purchase:binary", "aov=revenue/orders"] {
            let def: MetricDef = text.parse().unwrap();
            assert_eq!(def.to_string(), text);
        }
        assert_eq!("x:mean".parse::<MetricDef>().unwrap(), MetricDef::Mean { id: "x".into() });
        let err = "it's".parse::<MetricDef>().unwrap_err();
        assert!(err.to_string().contains("expected names of letters"), "{err}");
        let err = "aov=revenue".parse::<MetricDef>().unwrap_err();
        assert!(err.to_string().contains("ID=NUMERATOR/DENOMINATOR"), "{err}");
    }
}
