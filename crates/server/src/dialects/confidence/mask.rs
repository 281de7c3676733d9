//! Field masks (AIP-134, AIP-161): parsing, the populated fields of a body,
//! and applying one path of a body to a stored document.

use serde_json::{Map, Value};

/// The paths of a mask (`a.b,c`), trimmed, empty ones dropped.
pub(crate) fn parse(mask: &str) -> Vec<String> {
    mask.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

/// The populated fields of a body, for an absent mask: objects are descended
/// into, so a partial module updates only what it names; any other value
/// (a list, a scalar, an empty object) is one field.
pub(crate) fn populated(body: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<(String, &Map<String, Value>)> = vec![(String::new(), body)];
    while let Some((prefix, map)) = stack.pop() {
        for (key, value) in map {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            match value {
                Value::Object(inner) if !inner.is_empty() => stack.push((path, inner)),
                _ => out.push(path),
            }
        }
    }
    out.sort();
    out
}

/// The value at a dotted path.
pub(crate) fn get<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(document, |value, key| value.get(key))
}

/// Sets the value at a dotted path of `target` to the body's (AIP-134: a
/// path in the mask that the body leaves out is cleared). Objects on the
/// way are created; a non-object on the way is replaced by one.
pub(crate) fn apply(target: &mut Map<String, Value>, body: &Value, path: &str) {
    let value = get(body, path).cloned();
    if value.is_none() {
        // Clearing walks what exists and creates nothing, so a long mask path
        // cannot build a document deeper than any body the server accepts.
        clear(target, path);
        return;
    }
    let mut keys: Vec<&str> = path.split('.').collect();
    let Some(last) = keys.pop() else { return };
    let mut map = target;
    for key in keys {
        let slot = map.entry(key.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(inner) = slot else { return };
        map = inner;
    }
    match value {
        Some(value) => {
            map.insert(last.to_owned(), value);
        }
        None => {
            map.remove(last);
        }
    }
}

/// Removes the field at a dotted path, if it is there.
pub(crate) fn clear(target: &mut Map<String, Value>, path: &str) {
    let Some((parent, last)) = path.rsplit_once('.') else {
        target.remove(path);
        return;
    };
    let mut map = target;
    for key in parent.split('.') {
        let Some(Value::Object(inner)) = map.get_mut(key) else { return };
        map = inner;
    }
    map.remove(last);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn populated_fields_descend_objects() {
        let body = json!({"rollout": {"reach": "0.5", "flag": "flags/x"}, "labels": [], "displayName": "d", "stats": {}});
        assert_eq!(
            populated(body.as_object().unwrap()),
            ["displayName", "labels", "rollout.flag", "rollout.reach", "stats"]
        );
    }

    #[test]
    fn apply_sets_and_clears() {
        let mut target = json!({"rollout": {"reach": "0.2", "flag": "flags/x"}, "x": 1})
            .as_object()
            .unwrap()
            .clone();
        apply(&mut target, &json!({"rollout": {"reach": "0.5"}}), "rollout.reach");
        assert_eq!(target["rollout"], json!({"reach": "0.5", "flag": "flags/x"}));
        apply(&mut target, &json!({}), "rollout.flag");
        assert_eq!(target["rollout"], json!({"reach": "0.5"}));
        apply(&mut target, &json!({"stats": {"alpha": 0.1}}), "stats.alpha");
        assert_eq!(target["stats"], json!({"alpha": 0.1}));
        apply(&mut target, &json!({"x": {"y": 2}}), "x.y");
        assert_eq!(target["x"], json!({"y": 2}));
        // Clearing a path that is not there creates nothing.
        apply(&mut target, &json!({}), "a.b.c.d");
        assert!(target.get("a").is_none());
        apply(&mut target, &json!({}), "x.y.z");
        assert_eq!(target["x"], json!({"y": 2}));
        assert_eq!(parse(" a.b , ,c"), ["a.b", "c"]);
    }
}
