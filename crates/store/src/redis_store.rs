//! The shared Redis store (feature `redis`).

use flagstone_core::sticky::{
    AssignmentStore, Materialization, MaterializationKey, MaterializationWrite, StoreError,
};
use redis::ConnectionLike;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// Assignments in Redis: one hash `flagstone:{materialization}:{unit}` of rule → variant per key.
///
/// One connection, made at construction and remade on the next call after any
/// failure (a restarted server, a dropped or timed-out connection: a reply that
/// arrives late must never be read as the answer to the next command).
pub struct RedisStore {
    client: redis::Client,
    connection: Mutex<Option<redis::Connection>>,
    prefix: String,
    timeout: Option<Duration>,
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
        RedisStore::open(url, "flagstone", None)
    }

    /// Connects with keys under `{prefix}:` (separate tenants or tests on one server).
    ///
    /// # Errors
    /// [`StoreError`] when the URL is invalid or the server cannot be reached.
    pub fn connect_with_prefix(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        RedisStore::open(url, prefix, None)
    }

    /// Connects with keys under `flagstone:`, bounding connecting, each read and
    /// each write on the socket by `timeout`, so a call never blocks much longer
    /// than that on a server that stopped answering.
    ///
    /// # Errors
    /// [`StoreError`] when the URL is invalid or the server cannot be reached in time.
    pub fn connect_with_timeout(url: &str, timeout: Duration) -> Result<RedisStore, StoreError> {
        RedisStore::open(url, "flagstone", Some(timeout))
    }

    fn open(url: &str, prefix: &str, timeout: Option<Duration>) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(|e| err("url", e))?;
        let store =
            RedisStore { client, connection: Mutex::new(None), prefix: prefix.to_owned(), timeout };
        let connection = store.new_connection()?;
        *store.connection.lock().map_err(|_| StoreError::new("redis connection poisoned"))? =
            Some(connection);
        Ok(store)
    }

    fn new_connection(&self) -> Result<redis::Connection, StoreError> {
        let connection = match self.timeout {
            Some(t) => self.client.get_connection_with_timeout(t),
            None => self.client.get_connection(),
        }
        .map_err(|e| err("connect", e))?;
        if let Some(t) = self.timeout {
            connection.set_read_timeout(Some(t)).map_err(|e| err("connect", e))?;
            connection.set_write_timeout(Some(t)).map_err(|e| err("connect", e))?;
        }
        Ok(connection)
    }

    /// Runs `pipe` on the connection, connecting first when there is none; any
    /// failure drops the connection so that the next call starts clean.
    fn query<T: redis::FromRedisValue>(
        &self,
        context: &str,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let mut slot =
            self.connection.lock().map_err(|_| StoreError::new("redis connection poisoned"))?;
        let (mut connection, reused) = match slot.take() {
            Some(c) if c.is_open() => (c, true),
            _ => (self.new_connection()?, false),
        };
        let answer = match pipe.query(&mut connection) {
            // A kept connection that the server closed since (it restarted) is only
            // found out by using it: try once more on a fresh one. Reads and HSETs
            // of the same values are idempotent; a timeout is not retried, so a
            // call stays within about one timeout.
            Err(e)
                if reused && !e.is_timeout() && (e.is_io_error() || e.is_connection_dropped()) =>
            {
                connection = self.new_connection()?;
                pipe.query(&mut connection).map_err(|e| err(context, e))?
            }
            other => other.map_err(|e| err(context, e))?,
        };
        *slot = Some(connection);
        Ok(answer)
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
        let hashes: Vec<HashMap<String, String>> = self.query("read", &pipe)?;
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
        self.query::<()>("write", &pipe)
    }
}
