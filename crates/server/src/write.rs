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
use crate::namespace::Records;
use crate::namespace::{Namespace, Published};
use crate::store::{Commit, HistoryEntry, Op, StoreError, StoredRecord, StoredResource};
use serde_json::Map;
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
    /// Create or replace one record: a dialect's own document beside the
    /// config (see [`StoredRecord`]).
    PutRecord {
        /// Its collection, named by the dialect: 1 to 64 of `a-z 0-9 . _ -`.
        collection: String,
        /// Its id: 1 to 256 characters, no `/`.
        id: String,
        /// The document.
        document: Value,
        /// On the record's entity tag.
        precondition: Precondition,
    },
    /// Delete one record.
    DeleteRecord {
        /// Its collection.
        collection: String,
        /// Its id.
        id: String,
        /// On the record's entity tag.
        precondition: Precondition,
    },
    /// Several resource and record changes, applied in order as one write:
    /// one check of the resulting config, one transaction, one revision.
    /// A dialect that keeps its own document beside the resources it
    /// translates to writes both this way. Whole-config changes cannot be
    /// part of a batch.
    Batch(Vec<Change>),
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
    /// The resource written (absent for whole-config writes and deletes);
    /// in a batch, the last one put.
    pub resource: Option<Arc<StoredResource>>,
    /// The record written; in a batch, the last one put.
    pub record: Option<Arc<StoredRecord>>,
    /// Whether the write created the resource (or, without one, the record) it answers with.
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
    /// The resource or record to delete does not exist.
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
        // A write of records alone leaves the config and its engine as they are.
        let (config, text, engine, warnings) = if plan.config_changed {
            let config = Published::document(plan.allocation_salt.as_deref(), &plan.resources);
            let text = config.to_string();
            let compiled = compile_document(&text).map_err(|problems| {
                WriteError::Invalid(
                    problems.into_iter().map(|p| p.locate(&plan.resources)).collect(),
                )
            })?;
            let warnings: Vec<Problem> =
                compiled.warnings.into_iter().map(|p| p.locate(&plan.resources)).collect();
            (Arc::new(config), Arc::<str>::from(text), Arc::new(compiled.engine), warnings)
        } else {
            (
                current.config().clone(),
                current.config_text().clone(),
                current.engine.clone(),
                vec![],
            )
        };
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
        self.publish(Published::new(
            revision,
            plan.allocation_salt,
            plan.resources,
            Records::new(plan.records),
            (config, text),
            engine,
        ));
        Ok(Written {
            revision,
            warnings,
            resource: plan.written,
            record: plan.record,
            created: plan.created,
        })
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

impl Stamp<'_> {
    fn record(
        &self,
        collection: &str,
        id: &str,
        position: i64,
        document: Value,
        old: Option<&StoredRecord>,
    ) -> StoredRecord {
        StoredRecord {
            collection: collection.to_owned(),
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
    records: Vec<Arc<StoredRecord>>,
    /// Whether any resource changed, so the config must be checked and compiled.
    config_changed: bool,
    ops: Vec<Op>,
    before: Option<Value>,
    after: Option<Value>,
    written: Option<Arc<StoredResource>>,
    record: Option<Arc<StoredRecord>>,
    created: bool,
}

/// What one resource or record change did, for the history.
struct Step {
    /// `rollouts/x`, or `records/{collection}/{id}`.
    name: String,
    before: Option<Value>,
    after: Option<Value>,
    created: bool,
}

fn plan(current: &Published, change: Change, stamp: &Stamp<'_>) -> Result<Plan, WriteError> {
    let mut plan = Plan {
        allocation_salt: current.allocation_salt().map(str::to_owned),
        resources: current.resources().to_vec(),
        records: current.all_records().to_vec(),
        config_changed: false,
        ops: Vec::new(),
        before: None,
        after: None,
        written: None,
        record: None,
        created: false,
    };
    match change {
        Change::ReplaceConfig { document, precondition } => {
            if !precondition.holds(Some(&etag_of(current.revision))) {
                return Err(WriteError::PreconditionFailed {
                    current: Some(etag_of(current.revision)),
                });
            }
            replace_all(&mut plan, current, document, stamp)?;
        }
        Change::Replicate { document, .. } => replace_all(&mut plan, current, document, stamp)?,
        Change::Batch(changes) => {
            // The history keeps, per name, the document before the batch and after it.
            let (mut before, mut after) = (Map::new(), Map::new());
            let (mut created_resource, mut created_record) = (None, None);
            for change in changes {
                let is_record =
                    matches!(change, Change::PutRecord { .. } | Change::DeleteRecord { .. });
                let step = apply(&mut plan, change, stamp)?;
                if step.after.is_some() {
                    if is_record {
                        created_record = Some(step.created);
                    } else {
                        created_resource = Some(step.created);
                    }
                }
                if !before.contains_key(&step.name) {
                    before.insert(step.name.clone(), step.before.unwrap_or(Value::Null));
                }
                after.insert(step.name, step.after.unwrap_or(Value::Null));
            }
            plan.created = created_resource.or(created_record).unwrap_or(false);
            plan.before = Some(Value::Object(before));
            plan.after = Some(Value::Object(after));
        }
        single => {
            let step = apply(&mut plan, single, stamp)?;
            plan.created = step.created;
            plan.before = step.before;
            plan.after = step.after;
        }
    }
    Ok(plan)
}

/// Applies one resource or record change to the plan.
fn apply(plan: &mut Plan, change: Change, stamp: &Stamp<'_>) -> Result<Step, WriteError> {
    match change {
        Change::PutResource { kind, id, document, precondition } => {
            let slot = plan.resources.iter().position(|r| r.kind == kind && r.id == id);
            let old = slot.and_then(|i| plan.resources.get(i)).cloned();
            if !precondition.holds(old.as_ref().map(|r| r.etag.as_str())) {
                return Err(WriteError::PreconditionFailed {
                    current: old.map(|r| r.etag.clone()),
                });
            }
            let document = named(kind, &id, document)?;
            let position = match &old {
                Some(old) => old.position,
                None => {
                    let same_kind = plan.resources.iter().filter(|r| r.kind == kind);
                    same_kind.map(|r| r.position + 1).max().unwrap_or(0)
                }
            };
            let new = Arc::new(stamp.resource(kind, &id, position, document, old.as_deref()));
            match slot.and_then(|i| plan.resources.get_mut(i)) {
                Some(slot) => *slot = new.clone(),
                None => {
                    plan.resources.push(new.clone());
                    plan.resources.sort_by_key(|r| (r.kind, r.position));
                }
            }
            plan.ops.push(Op::Upsert(new.clone()));
            plan.config_changed = true;
            plan.written = Some(new.clone());
            Ok(Step {
                name: format!("{}/{id}", kind.key()),
                before: old.map(|o| o.document.clone()),
                after: Some(new.document.clone()),
                created: slot.is_none(),
            })
        }
        Change::DeleteResource { kind, id, precondition } => {
            let slot = plan.resources.iter().position(|r| r.kind == kind && r.id == id);
            let old =
                slot.and_then(|i| plan.resources.get(i)).cloned().ok_or(WriteError::NotFound)?;
            if !precondition.holds(Some(&old.etag)) {
                return Err(WriteError::PreconditionFailed { current: Some(old.etag.clone()) });
            }
            plan.resources.retain(|r| !(r.kind == kind && r.id == id));
            plan.ops.push(Op::Delete(kind, id.clone()));
            plan.config_changed = true;
            Ok(Step {
                name: format!("{}/{id}", kind.key()),
                before: Some(old.document.clone()),
                after: None,
                created: false,
            })
        }
        Change::PutRecord { collection, id, document, precondition } => {
            check_record_name(&collection, &id)?;
            let slot = plan.records.iter().position(|r| r.collection == collection && r.id == id);
            let old = slot.and_then(|i| plan.records.get(i)).cloned();
            if !precondition.holds(old.as_ref().map(|r| r.etag.as_str())) {
                return Err(WriteError::PreconditionFailed {
                    current: old.map(|r| r.etag.clone()),
                });
            }
            let position = match &old {
                Some(old) => old.position,
                None => {
                    let same = plan.records.iter().filter(|r| r.collection == collection);
                    same.map(|r| r.position + 1).max().unwrap_or(0)
                }
            };
            let new = Arc::new(stamp.record(&collection, &id, position, document, old.as_deref()));
            match slot.and_then(|i| plan.records.get_mut(i)) {
                Some(slot) => *slot = new.clone(),
                None => plan.records.push(new.clone()),
            }
            plan.ops.push(Op::UpsertRecord(new.clone()));
            plan.record = Some(new.clone());
            Ok(Step {
                name: format!("records/{collection}/{id}"),
                before: old.map(|o| o.document.clone()),
                after: Some(new.document.clone()),
                created: slot.is_none(),
            })
        }
        Change::DeleteRecord { collection, id, precondition } => {
            let slot = plan.records.iter().position(|r| r.collection == collection && r.id == id);
            let old =
                slot.and_then(|i| plan.records.get(i)).cloned().ok_or(WriteError::NotFound)?;
            if !precondition.holds(Some(&old.etag)) {
                return Err(WriteError::PreconditionFailed { current: Some(old.etag.clone()) });
            }
            plan.records.retain(|r| !(r.collection == collection && r.id == id));
            plan.ops.push(Op::DeleteRecord(collection.clone(), id.clone()));
            Ok(Step {
                name: format!("records/{collection}/{id}"),
                before: Some(old.document.clone()),
                after: None,
                created: false,
            })
        }
        Change::ReplaceConfig { .. } | Change::Replicate { .. } | Change::Batch(_) => {
            Err(WriteError::Invalid(vec![Problem::new(
                ".",
                "a batch holds resource and record changes only, not whole configs or batches",
            )]))
        }
    }
}

/// A record's collection is 1 to 64 of `a-z 0-9 . _ -`; its id 1 to 256 characters, no `/`.
fn check_record_name(collection: &str, id: &str) -> Result<(), WriteError> {
    let collection_ok = (1..=64).contains(&collection.len())
        && collection.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
    let id_ok =
        (1..=256).contains(&id.len()) && !id.contains('/') && !id.chars().any(char::is_control);
    if collection_ok && id_ok {
        return Ok(());
    }
    Err(WriteError::Invalid(vec![Problem::new(
        ".",
        format!(
            "record {collection:?}/{id:?}: expected a collection of 1 to 64 of a-z 0-9 . _ - \
             and an id of 1 to 256 characters without / or control characters"
        ),
    )]))
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
    plan: &mut Plan,
    current: &Published,
    document: Value,
    stamp: &Stamp<'_>,
) -> Result<(), WriteError> {
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
    plan.after = Some(Published::document(allocation_salt.as_deref(), &resources));
    plan.before = Some(Value::clone(current.config()));
    plan.allocation_salt = allocation_salt;
    plan.ops = vec![Op::ReplaceAll(resources.clone())];
    plan.resources = resources;
    plan.config_changed = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::NamespaceName;
    use crate::namespace::Namespaces;
    use crate::store::Store;
    use serde_json::json;

    fn actor() -> Actor {
        Actor { id: "tester".into(), method: "POST".into(), path: "/test".into() }
    }

    fn open(dir: &std::path::Path) -> Arc<Namespace> {
        let store = Arc::new(Store::open(dir).unwrap());
        let namespaces = Namespaces::open(store, dir).unwrap();
        namespaces.get(&NamespaceName::default_namespace()).unwrap()
    }

    fn put_flag(id: &str, on: bool) -> Change {
        let document = json!({"name": format!("flags/{id}"),
            "variants": [{"name": format!("flags/{id}/variants/on"), "value": on}]});
        Change::PutResource {
            kind: Kind::Flags,
            id: id.into(),
            document,
            precondition: Precondition::None,
        }
    }

    fn put_record(id: &str, document: Value, precondition: Precondition) -> Change {
        Change::PutRecord {
            collection: "test.things".into(),
            id: id.into(),
            document,
            precondition,
        }
    }

    #[test]
    fn a_batch_writes_resources_and_records_in_one_revision_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let ns = open(dir.path());
        let batch = Change::Batch(vec![
            put_flag("x", true),
            put_record("a", json!({"n": 1}), Precondition::IfNoneMatchAny),
        ]);
        let written = ns.write(batch, &actor()).unwrap();
        assert_eq!(written.revision, 1);
        assert!(written.created);
        assert_eq!(written.record.as_ref().unwrap().etag, "\"1\"");
        let published = ns.published();
        assert_eq!(published.record("test.things", "a").unwrap().document, json!({"n": 1}));
        assert!(published.resource(Kind::Flags, "x").is_some());

        // A batch whose config does not validate stores neither part.
        let mut broken = put_flag("y", true);
        if let Change::PutResource { document, .. } = &mut broken {
            document["variants"] = json!("not a list");
        }
        let batch =
            Change::Batch(vec![broken, put_record("a", json!({"n": 2}), Precondition::None)]);
        assert!(matches!(ns.write(batch, &actor()), Err(WriteError::Invalid(_))));
        assert_eq!(ns.published().revision, 1);
        assert_eq!(ns.published().record("test.things", "a").unwrap().document, json!({"n": 1}));

        // Records alone move the revision but keep the engine.
        let engine = ns.published().engine.clone();
        let stale = Precondition::IfMatch(vec!["\"1\"".into()]);
        ns.write(put_record("a", json!({"n": 3}), stale.clone()), &actor()).unwrap();
        ns.write(put_record("b", json!({"n": 4}), Precondition::None), &actor()).unwrap();
        let published = ns.published();
        assert_eq!(published.revision, 3);
        assert!(Arc::ptr_eq(&engine, &published.engine));
        let ids: Vec<&str> = published.records("test.things").map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(matches!(
            ns.write(put_record("a", json!({}), stale), &actor()),
            Err(WriteError::PreconditionFailed { current: Some(tag) }) if tag == "\"2\""
        ));

        // The history of a batch names each part, before and after.
        let history = ns.store().history(ns.row(), 0, 10).unwrap();
        assert_eq!(history[0].after.as_ref().unwrap()["records/test.things/a"], json!({"n": 1}));
        assert_eq!(history[0].before.as_ref().unwrap()["flags/x"], Value::Null);

        // Records survive a restart, and delete once.
        drop(published);
        drop(ns);
        let ns = open(dir.path());
        assert_eq!(ns.published().record("test.things", "a").unwrap().document, json!({"n": 3}));
        let delete = || Change::DeleteRecord {
            collection: "test.things".into(),
            id: "a".into(),
            precondition: Precondition::None,
        };
        ns.write(delete(), &actor()).unwrap();
        assert!(ns.published().record("test.things", "a").is_none());
        assert!(matches!(ns.write(delete(), &actor()), Err(WriteError::NotFound)));
        let bad = put_record("a/b", json!({}), Precondition::None);
        assert!(matches!(ns.write(bad, &actor()), Err(WriteError::Invalid(_))));
    }

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
