//! The config document: assembling it from a namespace's resources and checking it.
//!
//! [`compile_document`] is the one place that parses, validates and compiles a config;
//! both the write path and a namespace's start-up use it, so this module sits below both.

use crate::names::Kind;
use crate::store::StoredResource;
use flagstone_core::Engine;
use flagstone_model::ParseError;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// One problem with a write, with the JSON path of the value at fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// Where, in the config document (`flags[2].rules[0].segment`), `.` for the root.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The resource at that path (`flags/dark-mode`), when the path is inside one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl Problem {
    /// A problem at a path.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { path: path.into(), message: message.into(), resource: None }
    }

    /// Names the resource a config path points into, so a caller who wrote
    /// one resource sees which one (a config path counts from the whole document).
    pub(crate) fn locate(mut self, resources: &[Arc<StoredResource>]) -> Self {
        let found = self.path.split_once('[').and_then(|(key, rest)| {
            let kind = Kind::from_key(key)?;
            let index: usize = rest.split_once(']')?.0.parse().ok()?;
            resources.iter().filter(|r| r.kind == kind).nth(index).map(|r| kind.full_name(&r.id))
        });
        self.resource = found;
        self
    }
}

/// A config that compiled: its engine and the validator's warnings.
#[derive(Debug)]
pub struct Compiled {
    /// The engine.
    pub engine: Engine,
    /// Warnings (they do not stop the write).
    pub warnings: Vec<Problem>,
}

/// Parses, validates and compiles a whole config document.
///
/// This is the one place that calls `flagstone_model::parse_config`,
/// `flagstone_model::validate::check` and `flagstone_core::Engine::from_valid`.
///
/// # Errors
/// Every problem found, each with its path.
pub fn compile_document(json: &str) -> Result<Compiled, Vec<Problem>> {
    let config = flagstone_model::parse_config(json).map_err(|e| {
        vec![match e {
            // The line and column are of the assembled document, which the
            // caller never saw; the path says where.
            ParseError::Json { path, message, .. } => Problem::new(path, message),
            other => {
                let text = other.to_string();
                match other.path() {
                    Some(path) => Problem::new(
                        path,
                        text.strip_prefix(path).and_then(|t| t.strip_prefix(": ")).unwrap_or(&text),
                    ),
                    None => Problem::new(".", text),
                }
            }
        }]
    })?;
    // One validation: `check` hands the valid config (lowered, regexes built) to compile,
    // which cannot fail on it.
    let (report, valid) = flagstone_model::validate::check(&config);
    let warnings =
        report.warnings.iter().map(|w| Problem::new(w.path.clone(), w.kind.to_string())).collect();
    let Some(valid) = valid else {
        return Err(report
            .errors
            .iter()
            .map(|e| Problem::new(e.path.clone(), e.kind.to_string()))
            .collect());
    };
    Ok(Compiled { engine: Engine::from_valid(&valid), warnings })
}

/// The config document of a salt and resources in order.
pub(crate) fn assemble(allocation_salt: Option<&str>, resources: &[Arc<StoredResource>]) -> Value {
    let mut doc = Map::new();
    if let Some(salt) = allocation_salt {
        doc.insert("allocationSalt".to_owned(), Value::String(salt.to_owned()));
    }
    for kind in Kind::ALL {
        let items: Vec<Value> =
            resources.iter().filter(|r| r.kind == kind).map(|r| r.document.clone()).collect();
        if !items.is_empty() {
            doc.insert(kind.key().to_owned(), Value::Array(items));
        }
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_has_a_path() {
        let problems = compile_document(r#"{"flags": [{"name": "flags/a", "rules": [{"name": "flags/a/rules/r", "segment": "segments/nope"}]}]}"#).unwrap_err();
        assert!(!problems.is_empty());
        assert!(problems.iter().all(|p| p.path.starts_with("flags[0]")), "{problems:?}");
        let problems = compile_document(r#"{"flags": [{"nmae": "x"}]}"#).unwrap_err();
        assert_eq!(problems[0].path, "flags[0].nmae", "{problems:?}");
        assert!(!problems[0].message.contains(" at line "), "{problems:?}");
    }
}
