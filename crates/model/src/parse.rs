//! Parsing a config document: JSON → [`Config`], with paths in every error.

use crate::config::Config;
use crate::limits::{MAX_CONFIG_BYTES, MAX_EXPRESSION_DEPTH, MAX_JSON_DEPTH};
use crate::targeting::Targeting;

/// Why a document is not a config.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The document is larger than [`MAX_CONFIG_BYTES`].
    #[error("document is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The document nests arrays and objects deeper than [`MAX_JSON_DEPTH`].
    #[error("line {line} column {column}: nesting deeper than {limit} levels")]
    TooDeep {
        /// 1-based line of the first opening past the limit.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The limit.
        limit: usize,
    },
    /// The JSON is malformed or does not have the shape of a config.
    #[error("{path}: {message} at line {line} column {column}")]
    Json {
        /// JSON path of the offending value (`flags[2].rules[0].segment`), `.` for the root.
        path: String,
        /// What was wrong and what was expected.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A targeting expression is nested deeper than [`MAX_EXPRESSION_DEPTH`].
    #[error("{path}: expression nesting is {depth} levels, over the limit of {limit}")]
    ExpressionTooDeep {
        /// JSON path of the expression.
        path: String,
        /// Its depth.
        depth: usize,
        /// The limit.
        limit: usize,
    },
}

impl ParseError {
    /// The JSON path of the problem, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ParseError::Json { path, .. } | ParseError::ExpressionTooDeep { path, .. } => {
                Some(path)
            }
            ParseError::TooLarge { .. } | ParseError::TooDeep { .. } => None,
        }
    }
}

/// Parses a config document.
///
/// Unknown keys are rejected with the path of the key; every resource is
/// checked for shape only. Call [`crate::validate()`] next for references,
/// ranges and everything else.
///
/// # Errors
/// [`ParseError`] for a document over the size or nesting limits, malformed
/// JSON, a value of the wrong shape, or an expression nested too deep.
///
/// # Examples
/// ```
/// let config = flagstone_model::parse_config(r#"{"flags": [{"name": "flags/a"}]}"#)?;
/// assert_eq!(config.flags[0].name, "flags/a");
/// let err = flagstone_model::parse_config(r#"{"flags": [{"nmae": "flags/a"}]}"#).unwrap_err();
/// assert!(err.to_string().starts_with("flags[0].nmae: unknown field `nmae`"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_config(json: &str) -> Result<Config, ParseError> {
    if json.len() > MAX_CONFIG_BYTES {
        return Err(ParseError::TooLarge { size: json.len(), limit: MAX_CONFIG_BYTES });
    }
    check_depth(json.as_bytes(), MAX_JSON_DEPTH)?;
    let config: Config = from_str_with_path(json)?;
    check_expression_depths(&config)?;
    Ok(config)
}

/// Deserialises any value with the path of the first error.
///
/// The caller must have bounded the nesting depth (see [`check_depth`]):
/// serde_json's own recursion limit is lifted because a legitimate
/// 64-deep expression sits deeper than its 128 levels.
pub(crate) fn from_str_with_path<T: serde::de::DeserializeOwned>(
    json: &str,
) -> Result<T, ParseError> {
    let mut de = serde_json::Deserializer::from_str(json);
    de.disable_recursion_limit();
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| json_error(e.path().to_string(), e.inner()))?;
    de.end().map_err(|e| json_error(".".to_owned(), &e))?;
    Ok(value)
}

fn json_error(path: String, inner: &serde_json::Error) -> ParseError {
    let full = inner.to_string();
    // serde_json appends " at line L column C"; the fields carry those.
    let message = match full.rfind(" at line ") {
        Some(cut) => full.get(..cut).unwrap_or(&full).to_owned(),
        None => full.clone(),
    };
    ParseError::Json { path, message, line: inner.line(), column: inner.column() }
}

/// Rejects nesting deeper than `limit` without recursion.
fn check_depth(bytes: &[u8], limit: usize) -> Result<(), ParseError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut line, mut line_start) = (1usize, 0usize);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(ParseError::TooDeep { line, column: i - line_start + 1, limit });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_expression_depths(config: &Config) -> Result<(), ParseError> {
    let check = |path: String, targeting: Option<&Targeting>| match targeting
        .and_then(|t| t.expression.as_ref())
    {
        Some(expr) if expr.depth() > MAX_EXPRESSION_DEPTH => Err(ParseError::ExpressionTooDeep {
            path: format!("{path}.targeting.expression"),
            depth: expr.depth(),
            limit: MAX_EXPRESSION_DEPTH,
        }),
        _ => Ok(()),
    };
    for (i, s) in config.segments.iter().enumerate() {
        check(format!("segments[{i}]"), Some(&s.targeting))?;
    }
    for (i, r) in config.rollouts.iter().enumerate() {
        check(format!("rollouts[{i}]"), r.targeting.as_ref())?;
    }
    for (i, t) in config.abtests.iter().enumerate() {
        check(format!("abtests[{i}]"), t.targeting.as_ref())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_not(depth: usize) -> String {
        let mut expr = String::from(r#"{"ref":"a"}"#);
        for _ in 1..depth {
            expr = format!(r#"{{"not":{expr}}}"#);
        }
        format!(
            r#"{{"segments":[{{"name":"segments/s","targeting":{{"criteria":{{"a":{{"attribute":{{"attributeName":"x","eqRule":{{"value":{{"boolValue":true}}}}}}}}}},"expression":{expr}}}}}]}}"#
        )
    }

    #[test]
    fn expression_depth_limit() {
        assert!(parse_config(&nested_not(64)).is_ok());
        let err = parse_config(&nested_not(65)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "segments[0].targeting.expression: expression nesting is 65 levels, over the limit of 64"
        );
    }

    #[test]
    fn deepest_legal_and_expression_parses_on_a_small_stack() {
        // 64 levels of `and` take 3 JSON levels each: deeper than serde_json's default 128.
        let mut expr = String::from(r#"{"ref":"a"}"#);
        for _ in 1..64 {
            expr = format!(r#"{{"and":{{"operands":[{expr}]}}}}"#);
        }
        let doc = format!(
            r#"{{"segments":[{{"name":"segments/s","targeting":{{"criteria":{{"a":{{"attribute":{{"attributeName":"x","eqRule":{{"value":{{"boolValue":true}}}}}}}}}},"expression":{expr}}}}}]}}"#
        );
        let handle = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || parse_config(&doc).is_ok());
        assert!(handle.unwrap().join().unwrap());
    }

    #[test]
    fn hostile_nesting_is_rejected_without_recursion() {
        let doc = "[".repeat(1_000_000);
        let err = parse_config(&doc).unwrap_err();
        assert_eq!(err, ParseError::TooDeep { line: 1, column: 257, limit: 256 });
        // Brackets inside strings do not count.
        let in_string = format!(r#"{{"allocationSalt":"{}"}}"#, "[".repeat(1000));
        assert!(parse_config(&in_string).is_ok());
    }

    #[test]
    fn errors_name_the_path_and_position() {
        let err = parse_config(
            "{\n  \"flags\": [{\"name\": \"flags/a\", \"rules\": [{\"name\": 3}]}]\n}",
        )
        .unwrap_err();
        let ParseError::Json { path, message, line, .. } = &err else { panic!("{err:?}") };
        assert_eq!(path, "flags[0].rules[0].name");
        assert!(message.starts_with("invalid type: integer `3`, expected a string"), "{message}");
        assert_eq!(*line, 2);
        let err = parse_config(r#"{"flag": []}"#).unwrap_err();
        assert!(err.to_string().starts_with("flag: unknown field `flag`"), "{err}");
        let err = parse_config("{} x").unwrap_err();
        assert!(err.to_string().starts_with(".: trailing characters"), "{err}");
    }
}
