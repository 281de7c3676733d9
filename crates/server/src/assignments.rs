//! Sticky assignments over HTTP: the store behind `flagstone serve --assignments`.
//!
//! OFREP evaluations of flags that can reach a rule with a
//! `materializationSpec` go through [`Engine::evaluate_sticky`] with the
//! configured store; every other evaluation stays on the plain path and never
//! waits for the store. Per request there is at most one read
//! ([`AssignmentStore::get_many`]) and one write ([`AssignmentStore::put_many`]),
//! and none when the request reaches no materialized rule or has no unit.
//!
//! Stores do blocking I/O (a redb transaction, a Redis round trip), so each call
//! runs on tokio's blocking pool, at most [`MAX_IN_FLIGHT`] at once, and is
//! bounded by a timeout. The keys are computed first
//! ([`Engine::materialization_keys`]), fetched off the executor, and handed to
//! the engine through a store that already holds them, so the evaluation
//! itself never blocks.
//!
//! A store failure (an error, a timeout) never fails an evaluation: a failed
//! read evaluates as if nothing were stored, a failed write leaves the units not
//! sticky yet, exactly as the engine does. Failures are counted in `/metrics`
//! (`flagstone_assignment_store_calls_total{op, outcome}`) and logged (at most
//! once a second per operation).
//!
//! Keys carry the namespace: materialization `m` of namespace `shop/production`
//! is stored as `shop/production:m`. Namespace names have no `:` and
//! validation keeps `:` out of materialization names, so two namespaces never
//! share an assignment.

use crate::metrics::Metrics;
use flagstone_core::sticky::{
    AssignmentStore, Materialization, MaterializationKey, MaterializationWrite, StoreError,
};
use flagstone_core::{Engine, EvaluationContext, FlagId, Resolution};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Store calls running at once; more wait (within their timeout) for a slot, so a
/// store that hangs holds at most this many blocking threads.
pub const MAX_IN_FLIGHT: usize = 64;

/// The default bound of one store call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

/// Where sticky assignments live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// `redb:PATH`: a persistent file on this machine (created when missing).
    Redb(PathBuf),
    /// `redis://…` (or `rediss://…`): a Redis server shared by several servers
    /// (needs the `redis` feature).
    Redis(String),
}

/// Why `--assignments` was not understood or its store did not open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssignmentsError {
    /// Not `redb:PATH` nor a Redis URL.
    #[error("--assignments {0:?}: expected redb:PATH or redis://host:port/")]
    Syntax(String),
    /// A Redis URL in a build without Redis.
    #[error(
        "--assignments {0}: this flagstone was built without Redis support (build with --features redis)"
    )]
    NoRedis(String),
    /// The store did not open.
    #[error("--assignments {spec}: {error}")]
    Open {
        /// The store, as given (a Redis password is hidden).
        spec: String,
        /// Why.
        error: StoreError,
    },
}

impl StoreSpec {
    /// Parses `redb:PATH` or `redis://…` / `rediss://…`.
    ///
    /// # Errors
    /// [`AssignmentsError::Syntax`] for anything else, or an empty path.
    pub fn parse(text: &str) -> Result<StoreSpec, AssignmentsError> {
        if let Some(path) = text.strip_prefix("redb:") {
            if path.is_empty() {
                return Err(AssignmentsError::Syntax(text.to_owned()));
            }
            return Ok(StoreSpec::Redb(PathBuf::from(path)));
        }
        if text.starts_with("redis://") || text.starts_with("rediss://") {
            return Ok(StoreSpec::Redis(text.to_owned()));
        }
        Err(AssignmentsError::Syntax(text.to_owned()))
    }

    /// The spec for logs and errors: a Redis URL's password is replaced by `***`.
    pub fn shown(&self) -> String {
        match self {
            StoreSpec::Redb(path) => format!("redb:{}", path.display()),
            StoreSpec::Redis(url) => hide_password(url),
        }
    }
}

fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split_once(':').map_or("", |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

/// How the server keeps sticky assignments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignmentsConfig {
    /// The store.
    pub store: StoreSpec,
    /// The bound of each store call (a read or a write).
    pub timeout: Duration,
}

impl AssignmentsConfig {
    /// A store with the default timeout.
    pub fn new(store: StoreSpec) -> Self {
        AssignmentsConfig { store, timeout: DEFAULT_TIMEOUT }
    }
}

/// An open store, shared by every request.
pub(crate) struct Assignments {
    store: Arc<dyn AssignmentStore>,
    shown: String,
    timeout: Duration,
    slots: Arc<Semaphore>,
    /// Seconds since the Unix epoch of the last failure logged, per operation.
    last_logged: [AtomicU64; 2],
}

impl std::fmt::Debug for Assignments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assignments")
            .field("store", &self.shown)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Read,
    Write,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
        }
    }
}

impl Assignments {
    /// Opens the store: blocking (a file, a connection), so call it off the executor.
    pub(crate) fn open(config: &AssignmentsConfig) -> Result<Assignments, AssignmentsError> {
        let shown = config.store.shown();
        let store: Arc<dyn AssignmentStore> = match &config.store {
            StoreSpec::Redb(path) => Arc::new(
                flagstone_store::RedbStore::open(path)
                    .map_err(|error| AssignmentsError::Open { spec: shown.clone(), error })?,
            ),
            StoreSpec::Redis(url) => open_redis(url, &shown, config.timeout)?,
        };
        Ok(Assignments {
            store,
            shown,
            timeout: config.timeout,
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            last_logged: [AtomicU64::new(0), AtomicU64::new(0)],
        })
    }

    /// The store, as shown in logs.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Evaluates `flags` with sticky assignments of `namespace`: at most one read
    /// and one write, each off the executor and bounded; failures are counted and
    /// logged, never returned.
    pub(crate) async fn evaluate<'e>(
        &self,
        metrics: &Metrics,
        namespace: &str,
        engine: &'e Engine,
        flags: &[FlagId],
        ctx: &EvaluationContext<'_>,
    ) -> Vec<Resolution<'e>> {
        let keys = engine.materialization_keys(flags, ctx);
        let stored = if keys.is_empty() {
            Ok(Vec::new())
        } else {
            let scoped: Vec<MaterializationKey> =
                keys.iter().map(|k| scope_key(namespace, k)).collect();
            self.call(metrics, namespace, Op::Read, move |store| store.get_many(&scoped)).await
        };
        let prefetched = Prefetched::new(keys, stored);
        let evaluation = engine.evaluate_sticky(flags, ctx, &prefetched);
        let writes = prefetched.into_writes();
        if !writes.is_empty() {
            let scoped: Vec<MaterializationWrite> = writes
                .iter()
                .map(|w| MaterializationWrite {
                    key: scope_key(namespace, &w.key),
                    rule: w.rule.clone(),
                    variant: w.variant.clone(),
                })
                .collect();
            // The outcome is counted and logged in `call`; the resolutions stand either way.
            let _ = self
                .call(metrics, namespace, Op::Write, move |store| store.put_many(&scoped))
                .await;
        }
        evaluation.resolutions
    }

    /// Runs one store call on the blocking pool under the timeout.
    async fn call<T: Send + 'static>(
        &self,
        metrics: &Metrics,
        namespace: &str,
        op: Op,
        f: impl FnOnce(&dyn AssignmentStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let store = self.store.clone();
        let slots = self.slots.clone();
        let run = async move {
            let slot = slots
                .acquire_owned()
                .await
                .map_err(|_| StoreError::new("assignment store closed"))?;
            tokio::task::spawn_blocking(move || {
                // The slot is held until the call returns, even after a timeout.
                let _slot = slot;
                f(&*store)
            })
            .await
            .map_err(|e| StoreError::new(format!("store task failed: {e}")))?
        };
        let (result, outcome) = match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(value)) => (Ok(value), "ok"),
            Ok(Err(e)) => (Err(e), "error"),
            Err(_) => {
                (Err(StoreError::new(format!("no answer within {:?}", self.timeout))), "timeout")
            }
        };
        metrics.assignment_store(op.as_str(), outcome, started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            self.log_failure(namespace, op, e);
        }
        result
    }

    fn log_failure(&self, namespace: &str, op: Op, error: &StoreError) {
        let now = jiff::Timestamp::now().as_second().max(0).unsigned_abs();
        let slot = &self.last_logged[op as usize];
        let last = slot.load(Ordering::Relaxed);
        if now > last
            && slot.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(
                namespace,
                store = %self.shown,
                op = op.as_str(),
                error = %error,
                "sticky assignments unavailable; evaluating without them"
            );
        }
    }
}

/// A Redis store whose socket reads and writes give up after `timeout` too, so a
/// blocking thread is not held long past the call's own bound.
#[cfg(feature = "redis")]
fn open_redis(
    url: &str,
    shown: &str,
    timeout: Duration,
) -> Result<Arc<dyn AssignmentStore>, AssignmentsError> {
    let store = flagstone_store::RedisStore::connect_with_timeout(url, timeout)
        .map_err(|error| AssignmentsError::Open { spec: shown.to_owned(), error })?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "redis"))]
fn open_redis(
    _url: &str,
    shown: &str,
    _timeout: Duration,
) -> Result<Arc<dyn AssignmentStore>, AssignmentsError> {
    Err(AssignmentsError::NoRedis(shown.to_owned()))
}

/// The key of `namespace`'s materialization in the shared store.
fn scope_key(namespace: &str, key: &MaterializationKey) -> MaterializationKey {
    MaterializationKey {
        materialization: format!("{namespace}:{}", key.materialization),
        unit: key.unit.clone(),
    }
}

/// The store [`Engine::evaluate_sticky`] sees: the answers already fetched for
/// its keys, and a list that collects its writes for the caller to send.
struct Prefetched {
    stored: Result<Vec<(MaterializationKey, Option<Materialization>)>, StoreError>,
    writes: Mutex<Vec<MaterializationWrite>>,
}

impl Prefetched {
    fn new(
        keys: Vec<MaterializationKey>,
        values: Result<Vec<Option<Materialization>>, StoreError>,
    ) -> Self {
        Prefetched {
            stored: values.map(|values| keys.into_iter().zip(values).collect()),
            writes: Mutex::new(Vec::new()),
        }
    }

    fn into_writes(self) -> Vec<MaterializationWrite> {
        self.writes.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl AssignmentStore for Prefetched {
    fn get_many(
        &self,
        keys: &[MaterializationKey],
    ) -> Result<Vec<Option<Materialization>>, StoreError> {
        let stored = self.stored.as_ref().map_err(Clone::clone)?;
        // The engine asks for the keys it gave; a key it did not is simply not stored.
        Ok(keys
            .iter()
            .map(|k| stored.iter().find(|(s, _)| s == k).and_then(|(_, v)| v.clone()))
            .collect())
    }

    fn put_many(&self, writes: &[MaterializationWrite]) -> Result<(), StoreError> {
        self.writes
            .lock()
            .map_err(|_| StoreError::new("write list poisoned"))?
            .extend_from_slice(writes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_hide_passwords() {
        assert_eq!(
            StoreSpec::parse("redb:/tmp/a.redb").unwrap(),
            StoreSpec::Redb("/tmp/a.redb".into())
        );
        assert_eq!(
            StoreSpec::parse("redis://127.0.0.1:6379/0").unwrap(),
            StoreSpec::Redis("redis://127.0.0.1:6379/0".into())
        );
        assert!(matches!(StoreSpec::parse("redb:"), Err(AssignmentsError::Syntax(_))));
        assert!(matches!(StoreSpec::parse("/tmp/a.redb"), Err(AssignmentsError::Syntax(_))));
        let spec = StoreSpec::parse("redis://app:s3cret@cache:6379/2").unwrap();
        assert_eq!(spec.shown(), "redis://app:***@cache:6379/2");
        assert_eq!(StoreSpec::parse("redis://cache:6379").unwrap().shown(), "redis://cache:6379");
    }

    #[test]
    fn namespaces_never_share_a_key() {
        let key = MaterializationKey { materialization: "m".into(), unit: "u".into() };
        let a = scope_key("shop/production", &key);
        let b = scope_key("shop/staging", &key);
        assert_ne!(a, b);
        assert_eq!(a.materialization, "shop/production:m");
    }

    #[test]
    fn prefetched_answers_by_key_and_collects_writes() {
        let k1 = MaterializationKey { materialization: "m".into(), unit: "u1".into() };
        let k2 = MaterializationKey { materialization: "m".into(), unit: "u2".into() };
        let held = Materialization { rules: [("r".to_owned(), "v".to_owned())].into() };
        let p = Prefetched::new(vec![k1.clone(), k2.clone()], Ok(vec![Some(held.clone()), None]));
        assert_eq!(p.get_many(&[k2.clone(), k1.clone()]).unwrap(), vec![None, Some(held)]);
        let write = MaterializationWrite { key: k2, rule: "r".into(), variant: "w".into() };
        p.put_many(std::slice::from_ref(&write)).unwrap();
        assert_eq!(p.into_writes(), vec![write]);
        let failed = Prefetched::new(vec![k1.clone()], Err(StoreError::new("down")));
        assert_eq!(failed.get_many(&[k1]).unwrap_err(), StoreError::new("down"));
    }
}
