//! The resource store: SQLite in WAL mode with `synchronous=FULL`, so a
//! committed write survives a crash. This module holds the only SQL.
//!
//! One connection writes (behind a mutex; every namespace's writes are
//! already serialised above it); reads of the history use their own
//! connections, which WAL never blocks behind the writer.

mod schema;

use crate::names::{Kind, NamespaceName};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The database file's name under the data directory.
pub const DATABASE_FILE: &str = "flagstone.db";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite said no.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The error.
        source: rusqlite::Error,
    },
    /// The file was written by a newer Flagstone.
    #[error("{path}: schema version {found} is newer than this build's {known}")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: usize,
    },
    /// A stored row does not read back.
    #[error("{path}: corrupt row: {message}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What.
        message: String,
    },
    /// The namespace's revision moved under the writer (a second process on the same file).
    #[error("{path}: namespace {namespace} is at revision {found}, expected {expected}")]
    Conflict {
        /// The database file.
        path: PathBuf,
        /// The namespace.
        namespace: String,
        /// What the writer expected.
        expected: u64,
        /// What the file holds.
        found: u64,
    },
    /// A lock was poisoned by a panic elsewhere.
    #[error("{path}: store lock poisoned")]
    Poisoned {
        /// The database file.
        path: PathBuf,
    },
}

/// One resource as stored: its document and its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredResource {
    /// Its collection.
    pub kind: Kind,
    /// Its id (the part after the collection prefix).
    pub id: String,
    /// Its place in the config document.
    pub position: i64,
    /// The document, as written.
    pub document: Value,
    /// The namespace revision that last wrote it.
    pub revision: u64,
    /// Its entity tag, quoted as sent in `ETag`.
    pub etag: String,
    /// RFC 3339.
    pub create_time: String,
    /// RFC 3339.
    pub update_time: String,
    /// Who created it.
    pub created_by: String,
    /// Who last wrote it.
    pub updated_by: String,
}

/// A dialect's own document, stored beside the config and never part of it:
/// a Confidence instance with its bookkeeping, a LaunchDarkly experiment with
/// its iterations. A record is written in the same transaction as the
/// resources it translates to, so the two never disagree after a crash.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRecord {
    /// Its collection, named by the dialect (`confidence.rollouts`).
    pub collection: String,
    /// Its id within the collection.
    pub id: String,
    /// Its place in the collection: creation order.
    pub position: i64,
    /// The document, as written.
    pub document: Value,
    /// The namespace revision that last wrote it.
    pub revision: u64,
    /// Its entity tag, quoted as sent in `ETag`.
    pub etag: String,
    /// RFC 3339.
    pub create_time: String,
    /// RFC 3339.
    pub update_time: String,
    /// Who created it.
    pub created_by: String,
    /// Who last wrote it.
    pub updated_by: String,
}

/// One namespace as loaded at start.
#[derive(Clone, Debug)]
pub struct StoredNamespace {
    /// The row id.
    pub row: i64,
    /// Its name.
    pub name: NamespaceName,
    /// Its config revision.
    pub revision: u64,
    /// Its allocation salt, when set.
    pub allocation_salt: Option<String>,
    /// Its resources, in collection then position order.
    pub resources: Vec<StoredResource>,
    /// Its records, in collection then position order.
    pub records: Vec<StoredRecord>,
}

/// One entry of the append-only history.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The namespace revision this write made.
    pub revision: u64,
    /// RFC 3339.
    pub time: String,
    /// The token id that wrote.
    pub actor: String,
    /// The HTTP method (or `IMPORT`, `REPLICATE`).
    pub method: String,
    /// The path written.
    pub path: String,
    /// The document before (absent when created).
    pub before: Option<Value>,
    /// The document after (absent when deleted).
    pub after: Option<Value>,
}

/// A change to the stored rows of one namespace.
#[derive(Clone, Debug)]
pub enum Op {
    /// Insert or replace one resource.
    Upsert(Arc<StoredResource>),
    /// Delete one resource.
    Delete(Kind, String),
    /// Replace every resource of the namespace (records stay).
    ReplaceAll(Vec<Arc<StoredResource>>),
    /// Insert or replace one record.
    UpsertRecord(Arc<StoredRecord>),
    /// Delete one record: its collection and id.
    DeleteRecord(String, String),
}

/// One write: its row changes and its history entry, committed together.
#[derive(Debug)]
pub struct Commit<'a> {
    /// The namespace row.
    pub namespace_row: i64,
    /// The namespace name, for messages.
    pub namespace: &'a NamespaceName,
    /// The revision the writer read.
    pub previous_revision: u64,
    /// The revision this write makes.
    pub revision: u64,
    /// The allocation salt after the write.
    pub allocation_salt: Option<&'a str>,
    /// The row changes.
    pub ops: &'a [Op],
    /// The history entry.
    pub history: &'a HistoryEntry,
}

/// The SQLite store.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl Store {
    /// Opens (or creates) `DIR/flagstone.db` and brings its schema up to date.
    ///
    /// # Errors
    /// [`StoreError`] when the file cannot be opened or migrated.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(DATABASE_FILE);
        let mut writer = open_connection(&path)?;
        migrate(&mut writer, &path)?;
        Ok(Store { path, writer: Mutex::new(writer), readers: Mutex::new(Vec::new()) })
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite { path: self.path.clone(), source }
    }

    fn writer(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.writer.lock().map_err(|_| StoreError::Poisoned { path: self.path.clone() })
    }

    /// Creates a namespace unless it exists; returns its row id.
    ///
    /// # Errors
    /// [`StoreError`] on SQLite failures.
    pub fn ensure_namespace(&self, name: &NamespaceName) -> Result<i64, StoreError> {
        let conn = self.writer()?;
        let now = jiff::Timestamp::now().to_string();
        conn.execute(
            "INSERT OR IGNORE INTO namespaces (project, environment, create_time, update_time)
             VALUES (?1, ?2, ?3, ?3)",
            params![name.project(), name.environment(), now],
        )
        .map_err(self.sqlite())?;
        conn.query_row(
            "SELECT id FROM namespaces WHERE project = ?1 AND environment = ?2",
            params![name.project(), name.environment()],
            |row| row.get(0),
        )
        .map_err(self.sqlite())
    }

    /// Every namespace with its resources.
    ///
    /// # Errors
    /// [`StoreError`] on SQLite failures or rows that do not read back.
    pub fn load_all(&self) -> Result<Vec<StoredNamespace>, StoreError> {
        let conn = self.writer()?;
        let mut namespaces = Vec::new();
        let mut stmt = conn
            .prepare(
                "SELECT id, project, environment, revision, allocation_salt FROM namespaces
                 ORDER BY project, environment",
            )
            .map_err(self.sqlite())?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(self.sqlite())?;
        for row in rows {
            let (id, project, environment, revision, allocation_salt) =
                row.map_err(self.sqlite())?;
            let name = NamespaceName::new(&project, &environment).map_err(|e| self.corrupt(e))?;
            namespaces.push(StoredNamespace {
                row: id,
                name,
                revision: u64::try_from(revision).map_err(|e| self.corrupt(e))?,
                allocation_salt,
                resources: Vec::new(),
                records: Vec::new(),
            });
        }
        drop(stmt);
        let mut stmt = conn
            .prepare(
                "SELECT collection, id, position, document, revision, etag, create_time,
                        update_time, created_by, updated_by
                 FROM resources WHERE namespace_id = ?1 ORDER BY position",
            )
            .map_err(self.sqlite())?;
        for namespace in &mut namespaces {
            let rows = stmt.query_map([namespace.row], read_resource_row).map_err(self.sqlite())?;
            for row in rows {
                let raw = row.map_err(self.sqlite())?;
                namespace.resources.push(self.resource_of(raw)?);
            }
            namespace.resources.sort_by_key(|r| (r.kind, r.position));
        }
        drop(stmt);
        let mut stmt = conn
            .prepare(
                "SELECT collection, id, position, document, revision, etag, create_time,
                        update_time, created_by, updated_by
                 FROM records WHERE namespace_id = ?1 ORDER BY collection, position",
            )
            .map_err(self.sqlite())?;
        for namespace in &mut namespaces {
            let rows = stmt.query_map([namespace.row], read_resource_row).map_err(self.sqlite())?;
            for row in rows {
                let raw = row.map_err(self.sqlite())?;
                namespace.records.push(self.record_of(raw)?);
            }
        }
        Ok(namespaces)
    }

    fn corrupt(&self, e: impl ToString) -> StoreError {
        StoreError::Corrupt { path: self.path.clone(), message: e.to_string() }
    }

    fn resource_of(&self, raw: RawResource) -> Result<StoredResource, StoreError> {
        let kind = Kind::from_key(&raw.collection)
            .ok_or_else(|| self.corrupt(format!("unknown collection {:?}", raw.collection)))?;
        Ok(StoredResource {
            kind,
            id: raw.id,
            position: raw.position,
            document: serde_json::from_str(&raw.document).map_err(|e| self.corrupt(e))?,
            revision: u64::try_from(raw.revision).map_err(|e| self.corrupt(e))?,
            etag: raw.etag,
            create_time: raw.create_time,
            update_time: raw.update_time,
            created_by: raw.created_by,
            updated_by: raw.updated_by,
        })
    }

    fn record_of(&self, raw: RawResource) -> Result<StoredRecord, StoreError> {
        Ok(StoredRecord {
            collection: raw.collection,
            id: raw.id,
            position: raw.position,
            document: serde_json::from_str(&raw.document).map_err(|e| self.corrupt(e))?,
            revision: u64::try_from(raw.revision).map_err(|e| self.corrupt(e))?,
            etag: raw.etag,
            create_time: raw.create_time,
            update_time: raw.update_time,
            created_by: raw.created_by,
            updated_by: raw.updated_by,
        })
    }

    /// Commits one write in one transaction: the row changes, the
    /// namespace's new revision and the history entry, all or nothing.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the stored revision is not the one the
    /// writer read; [`StoreError::Sqlite`] on failures (nothing is written).
    pub fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        let tx = conn.transaction().map_err(self.sqlite())?;
        let found: i64 = tx
            .query_row(
                "SELECT revision FROM namespaces WHERE id = ?1",
                [commit.namespace_row],
                |row| row.get(0),
            )
            .map_err(self.sqlite())?;
        let found = u64::try_from(found).map_err(|e| self.corrupt(e))?;
        if found != commit.previous_revision {
            return Err(StoreError::Conflict {
                path: self.path.clone(),
                namespace: commit.namespace.to_string(),
                expected: commit.previous_revision,
                found,
            });
        }
        let ns = commit.namespace_row;
        for op in commit.ops {
            match op {
                Op::Upsert(resource) => upsert(&tx, ns, resource).map_err(self.sqlite())?,
                Op::Delete(kind, id) => {
                    tx.execute(
                        "DELETE FROM resources WHERE namespace_id = ?1 AND collection = ?2 AND id = ?3",
                        params![ns, kind.key(), id],
                    )
                    .map_err(self.sqlite())?;
                }
                Op::ReplaceAll(resources) => {
                    tx.execute("DELETE FROM resources WHERE namespace_id = ?1", [ns])
                        .map_err(self.sqlite())?;
                    for resource in resources {
                        upsert(&tx, ns, resource).map_err(self.sqlite())?;
                    }
                }
                Op::UpsertRecord(record) => {
                    upsert_record(&tx, ns, record).map_err(self.sqlite())?;
                }
                Op::DeleteRecord(collection, id) => {
                    tx.execute(
                        "DELETE FROM records WHERE namespace_id = ?1 AND collection = ?2 AND id = ?3",
                        params![ns, collection, id],
                    )
                    .map_err(self.sqlite())?;
                }
            }
        }
        let revision = i64::try_from(commit.revision).map_err(|e| self.corrupt(e))?;
        let entry = commit.history;
        tx.execute(
            "UPDATE namespaces SET revision = ?2, allocation_salt = ?3, update_time = ?4 WHERE id = ?1",
            params![ns, revision, commit.allocation_salt, entry.time],
        )
        .map_err(self.sqlite())?;
        tx.execute(
            "INSERT INTO history (namespace_id, revision, time, actor, method, path, before, after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                ns,
                revision,
                entry.time,
                entry.actor,
                entry.method,
                entry.path,
                entry.before.as_ref().map(Value::to_string),
                entry.after.as_ref().map(Value::to_string),
            ],
        )
        .map_err(self.sqlite())?;
        tx.commit().map_err(self.sqlite())
    }

    /// History entries of a namespace after `after`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`StoreError`] on SQLite failures.
    pub fn history(
        &self,
        namespace_row: i64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let conn = self.reader()?;
        let result = self.read_history(&conn, namespace_row, after, limit);
        if let Ok(mut readers) = self.readers.lock() {
            readers.push(conn);
        }
        result
    }

    fn reader(&self) -> Result<Connection, StoreError> {
        let pooled = self.readers.lock().ok().and_then(|mut readers| readers.pop());
        match pooled {
            Some(conn) => Ok(conn),
            None => open_connection(&self.path),
        }
    }

    fn read_history(
        &self,
        conn: &Connection,
        namespace_row: i64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut stmt = conn
            .prepare_cached(
                "SELECT revision, time, actor, method, path, before, after FROM history
                 WHERE namespace_id = ?1 AND revision > ?2 ORDER BY revision LIMIT ?3",
            )
            .map_err(self.sqlite())?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![namespace_row, after, limit], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(self.sqlite())?;
        let mut entries = Vec::new();
        for row in rows {
            let (revision, time, actor, method, path, before, after) =
                row.map_err(self.sqlite())?;
            let doc = |text: Option<String>| -> Result<Option<Value>, StoreError> {
                text.map(|t| serde_json::from_str(&t).map_err(|e| self.corrupt(e))).transpose()
            };
            entries.push(HistoryEntry {
                revision: u64::try_from(revision).map_err(|e| self.corrupt(e))?,
                time,
                actor,
                method,
                path,
                before: doc(before)?,
                after: doc(after)?,
            });
        }
        Ok(entries)
    }

    /// The revision stored for a namespace (for tests and checks).
    ///
    /// # Errors
    /// [`StoreError`] on SQLite failures.
    pub fn revision(&self, name: &NamespaceName) -> Result<Option<u64>, StoreError> {
        let conn = self.reader()?;
        let found: Option<i64> = conn
            .query_row(
                "SELECT revision FROM namespaces WHERE project = ?1 AND environment = ?2",
                params![name.project(), name.environment()],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sqlite())?;
        found.map(|r| u64::try_from(r).map_err(|e| self.corrupt(e))).transpose()
    }

    /// Checkpoints the WAL into the database file and closes every connection.
    ///
    /// # Errors
    /// [`StoreError`] when the checkpoint fails (the WAL still holds every commit).
    pub fn close(&self) -> Result<(), StoreError> {
        if let Ok(mut readers) = self.readers.lock() {
            readers.clear();
        }
        let conn = self.writer()?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(self.sqlite())
    }
}

struct RawResource {
    collection: String,
    id: String,
    position: i64,
    document: String,
    revision: i64,
    etag: String,
    create_time: String,
    update_time: String,
    created_by: String,
    updated_by: String,
}

fn read_resource_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawResource> {
    Ok(RawResource {
        collection: row.get(0)?,
        id: row.get(1)?,
        position: row.get(2)?,
        document: row.get(3)?,
        revision: row.get(4)?,
        etag: row.get(5)?,
        create_time: row.get(6)?,
        update_time: row.get(7)?,
        created_by: row.get(8)?,
        updated_by: row.get(9)?,
    })
}

/// The columns that resources and records share, borrowed for one upsert.
struct Row<'a> {
    collection: &'a str,
    id: &'a str,
    position: i64,
    document: &'a Value,
    revision: u64,
    etag: &'a str,
    create_time: &'a str,
    update_time: &'a str,
    created_by: &'a str,
    updated_by: &'a str,
}

/// The two tables with [`Row`]'s columns.
#[derive(Clone, Copy)]
enum Table {
    Resources,
    Records,
}

fn upsert_row(tx: &Connection, table: Table, ns: i64, r: &Row<'_>) -> rusqlite::Result<()> {
    let sql = match table {
        Table::Resources => {
            "INSERT OR REPLACE INTO resources (namespace_id, collection, id, position, document,
                 revision, etag, create_time, update_time, created_by, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        }
        Table::Records => {
            "INSERT OR REPLACE INTO records (namespace_id, collection, id, position, document,
                 revision, etag, create_time, update_time, created_by, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        }
    };
    tx.prepare_cached(sql)?.execute(params![
        ns,
        r.collection,
        r.id,
        r.position,
        r.document.to_string(),
        i64::try_from(r.revision).unwrap_or(i64::MAX),
        r.etag,
        r.create_time,
        r.update_time,
        r.created_by,
        r.updated_by,
    ])?;
    Ok(())
}

fn upsert(tx: &Connection, ns: i64, r: &StoredResource) -> rusqlite::Result<()> {
    let row = Row {
        collection: r.kind.key(),
        id: &r.id,
        position: r.position,
        document: &r.document,
        revision: r.revision,
        etag: &r.etag,
        create_time: &r.create_time,
        update_time: &r.update_time,
        created_by: &r.created_by,
        updated_by: &r.updated_by,
    };
    upsert_row(tx, Table::Resources, ns, &row)
}

fn upsert_record(tx: &Connection, ns: i64, r: &StoredRecord) -> rusqlite::Result<()> {
    let row = Row {
        collection: &r.collection,
        id: &r.id,
        position: r.position,
        document: &r.document,
        revision: r.revision,
        etag: &r.etag,
        create_time: &r.create_time,
        update_time: &r.update_time,
        created_by: &r.created_by,
        updated_by: &r.updated_by,
    };
    upsert_row(tx, Table::Records, ns, &row)
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let sqlite = |source| StoreError::Sqlite { path: path.to_owned(), source };
    let conn = Connection::open(path).map_err(sqlite)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sqlite)?;
    // WAL: readers never block the writer; FULL: every commit is fsynced before it returns.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(sqlite)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(sqlite)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |source| StoreError::Sqlite { path: path.to_owned(), source };
    let version: i64 =
        conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(sqlite)?;
    let known = schema::MIGRATIONS.len();
    let start = usize::try_from(version).unwrap_or(usize::MAX);
    if start > known {
        return Err(StoreError::TooNew { path: path.to_owned(), found: version, known });
    }
    for (index, sql) in schema::MIGRATIONS.iter().enumerate().skip(start) {
        let tx = conn.transaction().map_err(sqlite)?;
        tx.execute_batch(sql).map_err(sqlite)?;
        tx.pragma_update(None, "user_version", i64::try_from(index + 1).unwrap_or(i64::MAX))
            .map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_history_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ns = NamespaceName::default_namespace();
        let row = store.ensure_namespace(&ns).unwrap();
        assert_eq!(store.ensure_namespace(&ns).unwrap(), row);
        let entry = HistoryEntry {
            revision: 1,
            time: "2026-01-01T00:00:00Z".into(),
            actor: "t".into(),
            method: "PUT".into(),
            path: "/x".into(),
            before: None,
            after: Some(serde_json::json!({})),
        };
        let commit = Commit {
            namespace_row: row,
            namespace: &ns,
            previous_revision: 0,
            revision: 1,
            allocation_salt: None,
            ops: &[],
            history: &entry,
        };
        store.commit(&commit).unwrap();
        assert!(matches!(store.commit(&commit), Err(StoreError::Conflict { found: 1, .. })));
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.revision(&ns).unwrap(), Some(1));
        assert_eq!(store.history(row, 0, 10).unwrap(), vec![entry]);
        let conn = store.writer().unwrap();
        assert!(conn.execute("DELETE FROM history", []).is_err());
    }
}
