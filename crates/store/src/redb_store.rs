//! The persistent embedded store.

use flagstone_core::sticky::{
    AssignmentStore, Materialization, MaterializationKey, MaterializationWrite, StoreError,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::path::Path;

/// `"{materialization}\u{1f}{unit}"` → JSON object of rule → variant.
const TABLE: TableDefinition<&str, &str> = TableDefinition::new("materializations");

/// A persistent assignment store in one redb file.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
}

fn err(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(format!("{context}: {e}"))
}

fn db_key(key: &MaterializationKey) -> String {
    format!("{}\u{1f}{}", key.materialization, key.unit)
}

impl RedbStore {
    /// Opens (or creates) the store at `path`.
    ///
    /// # Errors
    /// [`StoreError`] when the file cannot be opened or is not a redb database.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore, StoreError> {
        let path = path.as_ref();
        let db = Database::create(path)
            .map_err(|e| err(&format!("cannot open {}", path.display()), e))?;
        // Create the table so that the first read finds it.
        let txn = db.begin_write().map_err(|e| err("begin write", e))?;
        txn.open_table(TABLE).map_err(|e| err("open table", e))?;
        txn.commit().map_err(|e| err("commit", e))?;
        Ok(RedbStore { db })
    }
}

fn decode(json: &str) -> Result<Materialization, StoreError> {
    let rules: BTreeMap<String, String> =
        serde_json::from_str(json).map_err(|e| err("corrupt record", e))?;
    Ok(Materialization { rules })
}

impl AssignmentStore for RedbStore {
    fn get_many(
        &self,
        keys: &[MaterializationKey],
    ) -> Result<Vec<Option<Materialization>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| err("begin read", e))?;
        let table = txn.open_table(TABLE).map_err(|e| err("open table", e))?;
        keys.iter()
            .map(|k| match table.get(db_key(k).as_str()).map_err(|e| err("read", e))? {
                Some(v) => decode(v.value()).map(Some),
                None => Ok(None),
            })
            .collect()
    }

    fn put_many(&self, writes: &[MaterializationWrite]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(|e| err("begin write", e))?;
        {
            let mut table = txn.open_table(TABLE).map_err(|e| err("open table", e))?;
            let mut merged: BTreeMap<String, Materialization> = BTreeMap::new();
            for w in writes {
                let key = db_key(&w.key);
                if !merged.contains_key(&key) {
                    let existing = match table.get(key.as_str()).map_err(|e| err("read", e))? {
                        Some(v) => decode(v.value())?,
                        None => Materialization::default(),
                    };
                    merged.insert(key.clone(), existing);
                }
                if let Some(m) = merged.get_mut(&key) {
                    m.rules.insert(w.rule.clone(), w.variant.clone());
                }
            }
            for (key, m) in &merged {
                let json = serde_json::to_string(&m.rules).map_err(|e| err("encode", e))?;
                table.insert(key.as_str(), json.as_str()).map_err(|e| err("write", e))?;
            }
        }
        // Committed with redb's default immediate durability: fsync before returning.
        txn.commit().map_err(|e| err("commit", e))
    }
}
