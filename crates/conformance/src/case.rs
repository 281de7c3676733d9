//! The neutral case format of `tests/data/conformance` (its README, "Neutral case format").
//!
//! A case is one condition (a leaf, or an `all` / `any` / `none` / `not` tree of leaves), a
//! context and the boolean the source engine gives. Parsing is strict about what the mapping
//! reads and ignores what it does not (`origin`, `notes` beyond display).

use serde::Deserialize;
use serde_json::Value;

/// The case files run by the conformance test, in report order.
pub const CASE_FILES: [&str; 2] = ["conditions.jsonl", "compound.jsonl"];

/// How deep `all` / `any` / `none` / `not` may nest (the corpus needs 3).
pub const MAX_CONDITION_DEPTH: usize = 32;

/// One converted upstream case.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The source engine: `unleash`, `flagd`, `eppo`, `growthbook` or `launchdarkly`.
    pub source: String,
    /// Unique id, `source:file:...`.
    pub id: String,
    /// What is evaluated.
    pub condition: Condition,
    /// The evaluation context (a JSON object).
    pub context: Value,
    /// What the source engine gives.
    pub expected: bool,
    /// The README's tags: the source, plus the semantic choices the case pins.
    pub tags: Vec<String>,
    /// The upstream description.
    pub notes: String,
    /// Where the case was read: `conditions.jsonl:12`.
    pub location: String,
}

impl Case {
    /// Whether the case carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// The operator the report files this case under: the leaf's operator, or `compound`.
    pub fn operator(&self) -> &str {
        match &self.condition {
            Condition::Leaf(leaf) => &leaf.operator,
            _ => "compound",
        }
    }
}

/// A condition tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// One attribute test.
    Leaf(Leaf),
    /// Every operand holds.
    All(Vec<Condition>),
    /// Some operand holds.
    Any(Vec<Condition>),
    /// No operand holds.
    None(Vec<Condition>),
    /// The operand does not hold.
    Not(Box<Condition>),
}

impl Condition {
    /// Calls `f` with every leaf, depth first.
    pub fn for_each_leaf<'a>(&'a self, f: &mut impl FnMut(&'a Leaf)) {
        match self {
            Condition::Leaf(leaf) => f(leaf),
            Condition::All(cs) | Condition::Any(cs) | Condition::None(cs) => {
                cs.iter().for_each(|c| c.for_each_leaf(f));
            }
            Condition::Not(c) => c.for_each_leaf(f),
        }
    }
}

/// One attribute test of the neutral vocabulary.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Leaf {
    /// The attribute's name (only a label when `attribute_path` is present).
    pub attribute: String,
    /// The steps into nested objects, when the attribute is nested.
    #[serde(default)]
    pub attribute_path: Option<Vec<String>>,
    /// The neutral operator (`in`, `regex`, `semver_gt`, ...).
    pub operator: String,
    /// The operand, verbatim from the source.
    #[serde(default)]
    pub operand: Value,
    /// Whether string comparison ignores case.
    #[serde(default)]
    pub case_insensitive: bool,
    /// Whether the result is negated.
    #[serde(default)]
    pub negate: bool,
}

/// A case file that does not follow the neutral format.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct CaseError {
    /// `file:line`.
    pub location: String,
    /// What was expected.
    pub message: String,
}

#[derive(Deserialize)]
struct CaseWire {
    source: String,
    id: String,
    context: Value,
    expected: bool,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    condition: Option<Value>,
    #[serde(default)]
    attribute: Option<String>,
    #[serde(default)]
    attribute_path: Option<Vec<String>>,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    operand: Value,
    #[serde(default)]
    case_insensitive: bool,
    #[serde(default)]
    negate: bool,
}

/// Parses a JSON-lines case file; `file` names it in errors and in [`Case::location`].
///
/// # Errors
/// A [`CaseError`] naming the first line that is not a case.
///
/// # Examples
/// ```
/// use flagstone_conformance::case::{Condition, parse_cases};
/// let line = r#"{"source": "unleash", "id": "u:1", "attribute": "env", "operator": "in",
///   "operand": ["dev"], "context": {"env": "dev"}, "expected": true, "tags": ["unleash"]}"#;
/// let cases = parse_cases(&line.replace('\n', ""), "conditions.jsonl")?;
/// assert!(matches!(&cases[0].condition, Condition::Leaf(leaf) if leaf.operator == "in"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_cases(text: &str, file: &str) -> Result<Vec<Case>, CaseError> {
    let mut cases = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = format!("{file}:{}", i + 1);
        let error = |message: String| CaseError { location: location.clone(), message };
        let wire: CaseWire = serde_json::from_str(line).map_err(|e| error(e.to_string()))?;
        let condition = match (wire.condition, wire.attribute, wire.operator) {
            (Some(tree), None, None) => condition(&tree, 1).map_err(error)?,
            (None, Some(attribute), Some(operator)) => Condition::Leaf(Leaf {
                attribute,
                attribute_path: wire.attribute_path,
                operator,
                operand: wire.operand,
                case_insensitive: wire.case_insensitive,
                negate: wire.negate,
            }),
            _ => {
                return Err(error(
                    "expected either `condition` or `attribute` with `operator`".to_owned(),
                ));
            }
        };
        if !wire.context.is_object() {
            return Err(error("expected `context` to be a JSON object".to_owned()));
        }
        cases.push(Case {
            source: wire.source,
            id: wire.id,
            condition,
            context: wire.context,
            expected: wire.expected,
            tags: wire.tags,
            notes: wire.notes,
            location,
        });
    }
    Ok(cases)
}

fn condition(tree: &Value, depth: usize) -> Result<Condition, String> {
    if depth > MAX_CONDITION_DEPTH {
        return Err(format!("condition nests deeper than {MAX_CONDITION_DEPTH}"));
    }
    let Some(object) = tree.as_object() else {
        return Err(format!("expected a condition object, found {tree}"));
    };
    let list = |v: &Value| -> Result<Vec<Condition>, String> {
        let items =
            v.as_array().ok_or_else(|| format!("expected a list of conditions, found {v}"))?;
        items.iter().map(|c| condition(c, depth + 1)).collect()
    };
    if object.len() == 1 {
        if let Some(v) = object.get("all") {
            return Ok(Condition::All(list(v)?));
        }
        if let Some(v) = object.get("any") {
            return Ok(Condition::Any(list(v)?));
        }
        if let Some(v) = object.get("none") {
            return Ok(Condition::None(list(v)?));
        }
        if let Some(v) = object.get("not") {
            return Ok(Condition::Not(Box::new(condition(v, depth + 1)?)));
        }
    }
    serde_json::from_value(tree.clone()).map(Condition::Leaf).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_trees_parse() {
        let line = r#"{"source": "growthbook", "id": "g:1", "condition": {"none": [{"not": {"attribute": "a", "operator": "eq", "operand": 1}}, {"all": []}]}, "context": {}, "expected": true, "tags": []}"#;
        let cases = parse_cases(line, "compound.jsonl").unwrap();
        let Condition::None(ops) = &cases[0].condition else { panic!("{:?}", cases[0]) };
        assert!(matches!(&ops[0], Condition::Not(_)));
        assert_eq!(ops[1], Condition::All(vec![]));
        assert_eq!(cases[0].operator(), "compound");
        assert_eq!(cases[0].location, "compound.jsonl:1");
    }

    #[test]
    fn malformed_lines_name_their_place() {
        let text = "\n{\"source\": \"x\", \"id\": \"x:1\", \"context\": {}, \"expected\": true}\n";
        let err = parse_cases(text, "conditions.jsonl").unwrap_err();
        assert_eq!(err.location, "conditions.jsonl:2");
        assert!(err.message.contains("expected either"), "{err}");
        let err = parse_cases("not json", "c.jsonl").unwrap_err();
        assert_eq!(err.location, "c.jsonl:1");
    }
}
