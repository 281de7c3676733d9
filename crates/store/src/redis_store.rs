//! The shared Redis store (feature `redis`).

use flagstone_core::sticky::{
    AssignmentStore, Materialization, MaterializationKey, MaterializationWrite, StoreError,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Assignments in Redis: one hash `flagstone:{materialization}:{unit}` of rule → variant per key.
pub struct RedisStore {
    connection: Mutex<redis::Connection>,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

fn err(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(format!("redis {context}: {e}"))
}

impl RedisStore {
    /// Connects to `url` (`redis://127.0.0.1:6379/`), with keys under `flagstone:`.
    ///
    /// # Errors
    /// [`StoreError`] when the URL is invalid or the server cannot be reached.
    pub fn connect(url: &str) -> Result<RedisStore, StoreError> {
        RedisStore::connect_with_prefix(url, "flagstone")
    }

    /// Connects with keys under `{prefix}:` (separate tenants or tests on one server).
    ///
    /// # Errors
    /// [`StoreError`] when the URL is invalid or the server cannot be reached.
    pub fn connect_with_prefix(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(|e| err("url", e))?;
        let connection = client.get_connection().map_err(|e| err("connect", e))?;
        Ok(RedisStore { connection: Mutex::new(connection), prefix: prefix.to_owned() })
    }

    fn key(&self, key: &MaterializationKey) -> String {
        format!("{}:{}:{}", self.prefix, key.materialization, key.unit)
    }
}

impl AssignmentStore for RedisStore {
    fn get_many(
        &self,
        keys: &[MaterializationKey],
    ) -> Result<Vec<Option<Materialization>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.hgetall(self.key(k));
        }
        let mut connection =
            self.connection.lock().map_err(|_| StoreError::new("redis connection poisoned"))?;
        let hashes: Vec<HashMap<String, String>> =
            pipe.query(&mut *connection).map_err(|e| err("read", e))?;
        Ok(hashes
            .into_iter()
            .map(|h| {
                (!h.is_empty())
                    .then(|| Materialization { rules: h.into_iter().collect::<BTreeMap<_, _>>() })
            })
            .collect())
    }

    fn put_many(&self, writes: &[MaterializationWrite]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for w in writes {
            pipe.hset(self.key(&w.key), &w.rule, &w.variant).ignore();
        }
        let mut connection =
            self.connection.lock().map_err(|_| StoreError::new("redis connection poisoned"))?;
        pipe.query::<()>(&mut *connection).map_err(|e| err("write", e))
    }
}
