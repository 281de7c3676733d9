//! The one write path (`Namespace::write`): every mutation of every dialect ends here.
//!
//! A write applies its change to a copy of the namespace's resources, builds
//! the whole config document from them, and checks it with
//! [`compile_document`] (in `document.rs`, with the assembling of a config
//! from resources), the only place that calls the model's parser and
//! validator and the engine's compiler. Any problem: nothing is stored and
//! the serving engine stays. Otherwise one transaction commits, the engine is
//! swapped, and only then does the caller get its answer.

pub use crate::document::{Compiled, Problem, compile_document};

use crate::names::Kind;
use crate::namespace::{Namespace, Published};
use crate::store::{Commit, HistoryEntry, Op, StoreError, StoredResource};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// A condition on the current version of what a write replaces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Precondition {
    /// None.
    #[default]
    None,
    /// `If-Match`: the current entity tag must be one of these (`*`: it must exist).
    IfMatch(Vec<String>),
    /// `If-None-Match: *`: it must not exist.
    IfNoneMatchAny,
}

impl Precondition {
    fn holds(&self, current: Option<&str>) -> bool {
        match self {
            Precondition::None => true,
            Precondition::IfNoneMatchAny => current.is_none(),
            Precondition::IfMatch(tags) => current.is_some_and(|etag| {
                tags.iter().any(|tag| tag == "*" || strip_weak(tag) == strip_weak(etag))
            }),
        }
    }
}

fn strip_weak(tag: &str) -> &str {
    tag.trim().strip_prefix("W/").unwrap_or(tag.trim())
}

/// A mutation of one namespace.
#[derive(Clone, Debug)]
pub enum Change {
    /// Replace the whole config document.
    ReplaceConfig {
        /// The new document.
        document: Value,
        /// On the config's entity tag.
        precondition: Precondition,
    },
    /// Create or replace one resource.
    PutResource {
        /// Its collection.
        kind: Kind,
        /// Its id.
        id: String,
        /// The document; its name field is filled in when absent.
        document: Value,
        /// On the resource's entity tag.
        precondition: Precondition,
    },
    /// Delete one resource.
    DeleteResource {
        /// Its collection.
        kind: Kind,
        /// Its id.
        id: String,
        /// On the resource's entity tag.
        precondition: Precondition,
    },
    /// An edge replica takes the upstream's whole config at the upstream's revision.
    Replicate {
        /// The upstream's document.
        document: Value,
        /// The upstream's revision; it must be newer than the replica's.
        revision: u64,
    },
}

/// Who writes, and the request that carried the write (for the history).
#[derive(Clone, Debug)]
pub struct Actor {
    /// The token id.
    pub id: String,
    /// The HTTP method, or `IMPORT` / `REPLICATE`.
    pub method: String,
    /// The request path.
    pub path: String,
}

/// What a write did.
#[derive(Clone, Debug)]
pub struct Written {
    /// The namespace's new config revision.
    pub revision: u64,
    /// The validator's warnings.
    pub warnings: Vec<Problem>,
    /// The resource written (absent for whole-config writes and deletes).
    pub resource: Option<Arc<StoredResource>>,
    /// Whether a resource write created it.
    pub created: bool,
}

/// Why a write was refused; nothing was stored and the engine did not change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The result does not parse, validate or compile: every problem.
    #[error("{} problem(s); first: {}", .0.len(), .0.first().map(|p| format!("{}: {}", p.path, p.message)).unwrap_or_default())]
    Invalid(Vec<Problem>),
    /// `If-Match` / `If-None-Match` did not hold.
    #[error("precondition failed: the current entity tag is {}", .current.as_deref().unwrap_or("absent"))]
    PreconditionFailed {
        /// The current entity tag, when the target exists.
        current: Option<String>,
    },
    /// The resource to delete does not exist.
    #[error("no such resource")]
    NotFound,
    /// A replicated revision that is not newer than the one held.
    #[error("revision {offered} is not newer than {current}")]
    Stale {
        /// The replica's revision.
        current: u64,
        /// The upstream's.
        offered: u64,
    },
    /// The store failed; nothing was committed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The namespace's write lock was poisoned.
    #[error("namespace write lock poisoned")]
    Poisoned,
}

/// The entity tag of a resource or config at a revision.
pub fn etag_of(revision: u64) -> String {
    format!("\"{revision}\"")
}

impl Namespace {
    /// Applies one change: check, commit, swap. Writes to one namespace are
    /// serialised; readers keep the engine they hold and never wait.
    ///
    /// # Errors
    /// [`WriteError`]; on any error nothing is stored and the engine stays.
    pub fn write(&self, change: Change, actor: &Actor) -> Result<Written, WriteError> {
        let _serial = self.writer_lock().map_err(|_| WriteError::Poisoned)?;
        let current = self.published();
        let revision = match &change {
            Change::Replicate { revision, .. } if *revision <= current.revision => {
                return Err(WriteError::Stale { current: current.revision, offered: *revision });
            }
            Change::Replicate { revision, .. } => *revision,
            _ => current.revision + 1,
        };
        let now = jiff::Timestamp::now().to_string();
        let stamp = Stamp { revision, time: &now, actor: &actor.id };
        let plan = plan(&current, change, &stamp)?;
        let config = Published::document(plan.allocation_salt.as_deref(), &plan.resources);
        let text = config.to_string();
        let compiled = compile_document(&text).map_err(|problems| {
            WriteError::Invalid(problems.into_iter().map(|p| p.locate(&plan.resources)).collect())
        })?;
        let history = HistoryEntry {
            revision,
            time: now.clone(),
            actor: actor.id.clone(),
            method: actor.method.clone(),
            path: actor.path.clone(),
            before: plan.before,
            after: plan.after,
        };
        self.store().commit(&Commit {
            namespace_row: self.row(),
            namespace: self.name(),
            previous_revision: current.revision,
            revision,
            allocation_salt: plan.allocation_salt.as_deref(),
            ops: &plan.ops,
            history: &history,
        })?;
        let engine = Arc::new(compiled.engine);
        let warnings = compiled.warnings.into_iter().map(|p| p.locate(&plan.resources)).collect();
        self.publish(Published::new(
            revision,
            plan.allocation_salt,
            plan.resources,
            Arc::new(config),
            text.into(),
            engine,
        ));
        Ok(Written { revision, warnings, resource: plan.written, created: plan.created })
    }
}

struct Stamp<'a> {
    revision: u64,
    time: &'a str,
    actor: &'a str,
}

impl Stamp<'_> {
    fn resource(
        &self,
        kind: Kind,
        id: &str,
        position: i64,
        document: Value,
        old: Option<&StoredResource>,
    ) -> StoredResource {
        StoredResource {
            kind,
            id: id.to_owned(),
            position,
            document,
            revision: self.revision,
            etag: etag_of(self.revision),
            create_time: old.map_or_else(|| self.time.to_owned(), |o| o.create_time.clone()),
            update_time: self.time.to_owned(),
            created_by: old.map_or_else(|| self.actor.to_owned(), |o| o.created_by.clone()),
            updated_by: self.actor.to_owned(),
        }
    }
}

/// A change worked out against the current state, not yet checked.
struct Plan {
    allocation_salt: Option<String>,
    resources: Vec<Arc<StoredResource>>,
    ops: Vec<Op>,
    before: Option<Value>,
    after: Option<Value>,
    written: Option<Arc<StoredResource>>,
    created: bool,
}

fn plan(current: &Published, change: Change, stamp: &Stamp<'_>) -> Result<Plan, WriteError> {
    match change {
        Change::ReplaceConfig { document, precondition } => {
            if !precondition.holds(Some(&etag_of(current.revision))) {
                return Err(WriteError::PreconditionFailed {
                    current: Some(etag_of(current.revision)),
                });
            }
            replace_all(current, document, stamp)
        }
        Change::Replicate { document, .. } => replace_all(current, document, stamp),
        Change::PutResource { kind, id, document, precondition } => {
            let old = current.resource(kind, &id);
            if !precondition.holds(old.map(|r| r.etag.as_str())) {
                return Err(WriteError::PreconditionFailed {
                    current: old.map(|r| r.etag.clone()),
                });
            }
            let document = named(kind, &id, document)?;
            let position = match old {
                Some(old) => old.position,
                None => current.next_position(kind),
            };
            let new = Arc::new(stamp.resource(kind, &id, position, document, old.map(|o| &**o)));
            let mut resources = current.resources().to_vec();
            match resources.iter_mut().find(|r| r.kind == kind && r.id == id) {
                Some(slot) => *slot = new.clone(),
                None => {
                    resources.push(new.clone());
                    resources.sort_by_key(|r| (r.kind, r.position));
                }
            }
            Ok(Plan {
                allocation_salt: current.allocation_salt().map(str::to_owned),
                resources,
                ops: vec![Op::Upsert(new.clone())],
                before: old.map(|o| o.document.clone()),
                after: Some(new.document.clone()),
                written: Some(new),
                created: old.is_none(),
            })
        }
        Change::DeleteResource { kind, id, precondition } => {
            let old = current.resource(kind, &id).ok_or(WriteError::NotFound)?;
            if !precondition.holds(Some(&old.etag)) {
                return Err(WriteError::PreconditionFailed { current: Some(old.etag.clone()) });
            }
            let resources =
                current.resources().iter().filter(|r| !(r.kind == kind && r.id == id)).cloned();
            Ok(Plan {
                allocation_salt: current.allocation_salt().map(str::to_owned),
                resources: resources.collect(),
                ops: vec![Op::Delete(kind, id)],
                before: Some(old.document.clone()),
                after: None,
                written: None,
                created: false,
            })
        }
    }
}

/// Fills in a resource's name field from the path, or checks that it agrees.
fn named(kind: Kind, id: &str, document: Value) -> Result<Value, WriteError> {
    let Value::Object(mut fields) = document else {
        return Err(WriteError::Invalid(vec![Problem::new(".", "expected a JSON object")]));
    };
    let field = kind.name_field();
    let expected = kind.full_name(id);
    match fields.get(field) {
        None => {
            fields.insert(field.to_owned(), Value::String(expected));
        }
        Some(Value::String(name)) if *name == expected => {}
        Some(other) => {
            return Err(WriteError::Invalid(vec![Problem::new(
                field,
                format!("expected {expected:?} (the id in the path), got {other}"),
            )]));
        }
    }
    Ok(Value::Object(fields))
}

/// Splits a whole config document into resources, keeping the metadata of
/// every resource whose document did not change.
fn replace_all(
    current: &Published,
    document: Value,
    stamp: &Stamp<'_>,
) -> Result<Plan, WriteError> {
    let Value::Object(fields) = document else {
        return Err(WriteError::Invalid(vec![Problem::new(".", "expected a config object")]));
    };
    let mut problems = Vec::new();
    let mut allocation_salt = None;
    let mut resources = Vec::new();
    let mut seen: HashMap<(Kind, String), String> = HashMap::new();
    for (key, value) in fields {
        if key == "allocationSalt" {
            match value {
                Value::String(salt) => allocation_salt = Some(salt),
                other => {
                    problems.push(Problem::new(key, format!("expected a string, got {other}")))
                }
            }
            continue;
        }
        let Some(kind) = Kind::from_key(&key) else {
            problems.push(Problem::new(key.clone(), format!("unknown field `{key}`")));
            continue;
        };
        let Value::Array(items) = value else {
            problems.push(Problem::new(key, "expected an array"));
            continue;
        };
        for (index, item) in items.into_iter().enumerate() {
            let path = format!("{key}[{index}]");
            let id = item
                .get(kind.name_field())
                .and_then(Value::as_str)
                .and_then(|name| kind.id_of(name))
                .map(str::to_owned);
            let Some(id) = id else {
                problems.push(Problem::new(
                    format!("{path}.{}", kind.name_field()),
                    format!("expected a name such as {:?}", kind.full_name("my-id")),
                ));
                continue;
            };
            if let Some(first) = seen.insert((kind, id.clone()), path.clone()) {
                problems.push(Problem::new(
                    format!("{path}.{}", kind.name_field()),
                    format!("duplicate name {:?}, first at {first}", kind.full_name(&id)),
                ));
                continue;
            }
            let position = i64::try_from(index).unwrap_or(i64::MAX);
            let old = current.resource(kind, &id);
            let resource = match old {
                Some(old) if old.document == item => {
                    StoredResource { position, ..StoredResource::clone(old) }
                }
                _ => stamp.resource(kind, &id, position, item, old.map(|o| &**o)),
            };
            resources.push(Arc::new(resource));
        }
    }
    if !problems.is_empty() {
        return Err(WriteError::Invalid(problems));
    }
    resources.sort_by_key(|r| (r.kind, r.position));
    let after = Published::document(allocation_salt.as_deref(), &resources);
    Ok(Plan {
        allocation_salt,
        ops: vec![Op::ReplaceAll(resources.clone())],
        resources,
        before: Some(Value::clone(current.config())),
        after: Some(after),
        written: None,
        created: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preconditions() {
        assert!(Precondition::IfMatch(vec!["\"3\"".into()]).holds(Some("\"3\"")));
        assert!(Precondition::IfMatch(vec!["W/\"3\"".into()]).holds(Some("\"3\"")));
        assert!(!Precondition::IfMatch(vec!["\"2\"".into()]).holds(Some("\"3\"")));
        assert!(!Precondition::IfMatch(vec!["*".into()]).holds(None));
        assert!(Precondition::IfNoneMatchAny.holds(None));
        assert!(!Precondition::IfNoneMatchAny.holds(Some("\"1\"")));
    }
}
