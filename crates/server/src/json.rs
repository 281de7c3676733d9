//! Request bodies as JSON values, with the nesting checked before serde sees them.

use serde_json::Value;

/// The deepest nesting a request body may have; the config parser allows the same.
pub const MAX_BODY_DEPTH: usize = flagstone_model::limits::MAX_JSON_DEPTH;

/// Why a body is not the JSON it should be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// Nesting deeper than [`MAX_BODY_DEPTH`].
    #[error("line {line} column {column}: nesting deeper than {limit} levels")]
    TooDeep {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The limit.
        limit: usize,
    },
    /// Malformed JSON.
    #[error("line {line} column {column}: {message}")]
    Malformed {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_json said.
        message: String,
    },
}

/// Parses a body into a value after checking, without recursion, that it
/// nests at most `max_depth` levels.
///
/// # Errors
/// [`JsonError`] when the body nests too deep or is not JSON.
pub fn parse(body: &[u8], max_depth: usize) -> Result<Value, JsonError> {
    check_depth(body, max_depth)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    // The depth was bounded above; serde_json's own limit is lower than the config parser's.
    de.disable_recursion_limit();
    let value = serde::Deserialize::deserialize(&mut de).map_err(malformed)?;
    de.end().map_err(malformed)?;
    Ok(value)
}

fn malformed(e: serde_json::Error) -> JsonError {
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(at) => full[..at].to_owned(),
        None => full,
    };
    JsonError::Malformed { line: e.line(), column: e.column(), message }
}

fn check_depth(body: &[u8], max_depth: usize) -> Result<(), JsonError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut line, mut column) = (1usize, 0usize);
    for &byte in body {
        column += 1;
        if byte == b'\n' {
            line += 1;
            column = 0;
        }
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(JsonError::TooDeep { line, column, limit: max_depth });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_before_serde() {
        let body = "[".repeat(100_000);
        assert!(matches!(parse(body.as_bytes(), 256), Err(JsonError::TooDeep { limit: 256, .. })));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let body = format!("{{\"a\": \"{}\"}}", "[".repeat(1000));
        assert!(parse(body.as_bytes(), 2).is_ok());
    }

    #[test]
    fn malformed_json_names_the_place() {
        let err = parse(b"{\"a\": }", 8).unwrap_err();
        assert!(err.to_string().starts_with("line 1 column 7: "), "{err}");
    }
}
