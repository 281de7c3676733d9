//! Namespaces in memory: what each serves now, swapped whole on every write.

use crate::document::{Problem, assemble, compile_document};
use crate::events::{EventLog, ExposureLog};
use crate::names::{Kind, NamespaceName};
use crate::store::{Store, StoreError, StoredNamespace, StoredRecord, StoredResource};
use arc_swap::ArcSwap;
use flagstone_core::{Engine, EngineHandle};

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::watch;

/// What a namespace serves at one revision: its resources, its config
/// document and the engine compiled from it. Immutable; a write publishes a
/// new one, so a reader always sees an engine and the revision it came from.
#[derive(Debug)]
pub struct Published {
    /// The config revision (0 before the first write).
    pub revision: u64,
    allocation_salt: Option<String>,
    resources: Vec<Arc<StoredResource>>,
    index: HashMap<(Kind, String), usize>,
    records: Records,
    config: Arc<Value>,
    config_text: Arc<str>,
    /// The engine compiled from the config.
    pub engine: Arc<Engine>,
}

/// A namespace's records with an index by collection and id.
#[derive(Debug, Default)]
pub(crate) struct Records {
    /// In collection then position order.
    all: Vec<Arc<StoredRecord>>,
    index: HashMap<(String, String), usize>,
}

impl Records {
    pub(crate) fn new(mut all: Vec<Arc<StoredRecord>>) -> Self {
        all.sort_by(|a, b| (&a.collection, a.position).cmp(&(&b.collection, b.position)));
        let index = all
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.collection.clone(), r.id.clone()), i))
            .collect();
        Records { all, index }
    }

    pub(crate) fn all(&self) -> &[Arc<StoredRecord>] {
        &self.all
    }

    fn get(&self, collection: &str, id: &str) -> Option<&Arc<StoredRecord>> {
        self.index.get(&(collection.to_owned(), id.to_owned())).and_then(|&i| self.all.get(i))
    }
}

impl Published {
    pub(crate) fn new(
        revision: u64,
        allocation_salt: Option<String>,
        resources: Vec<Arc<StoredResource>>,
        records: Records,
        config: (Arc<Value>, Arc<str>),
        engine: Arc<Engine>,
    ) -> Self {
        let index =
            resources.iter().enumerate().map(|(i, r)| ((r.kind, r.id.clone()), i)).collect();
        let (config, config_text) = config;
        Published {
            revision,
            allocation_salt,
            resources,
            index,
            records,
            config,
            config_text,
            engine,
        }
    }

    /// The config document of a salt and resources in order.
    pub(crate) fn document(
        allocation_salt: Option<&str>,
        resources: &[Arc<StoredResource>],
    ) -> Value {
        assemble(allocation_salt, resources)
    }

    /// Every resource, by collection then position.
    pub fn resources(&self) -> &[Arc<StoredResource>] {
        &self.resources
    }

    /// One resource.
    pub fn resource(&self, kind: Kind, id: &str) -> Option<&Arc<StoredResource>> {
        self.index.get(&(kind, id.to_owned())).and_then(|&i| self.resources.get(i))
    }

    /// One record of a dialect's collection.
    pub fn record(&self, collection: &str, id: &str) -> Option<&Arc<StoredRecord>> {
        self.records.get(collection, id)
    }

    /// The records of one collection, in creation order.
    pub fn records<'a>(
        &'a self,
        collection: &'a str,
    ) -> impl Iterator<Item = &'a Arc<StoredRecord>> {
        let all = self.records.all();
        let start = all.partition_point(|r| r.collection.as_str() < collection);
        all.get(start..).unwrap_or_default().iter().take_while(move |r| r.collection == collection)
    }

    pub(crate) fn all_records(&self) -> &[Arc<StoredRecord>] {
        self.records.all()
    }

    /// The allocation salt, when the config sets one.
    pub fn allocation_salt(&self) -> Option<&str> {
        self.allocation_salt.as_deref()
    }

    /// The whole config document.
    pub fn config(&self) -> &Arc<Value> {
        &self.config
    }

    /// The whole config document as JSON text.
    pub fn config_text(&self) -> &Arc<str> {
        &self.config_text
    }
}

/// Why a namespace could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NamespaceError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored config no longer compiles (every problem listed).
    #[error("namespace {namespace}: stored config at revision {revision} does not compile: {}", render(.problems))]
    DoesNotCompile {
        /// The namespace.
        namespace: String,
        /// Its revision.
        revision: u64,
        /// The problems.
        problems: Vec<Problem>,
    },
    /// An exposure or event log could not be opened.
    #[error("{path}: {source}")]
    Log {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn render(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>().join("; ")
}

/// One namespace: its published state, its engine handle, its write lock and logs.
#[derive(Debug)]
pub struct Namespace {
    name: NamespaceName,
    row: i64,
    store: Arc<Store>,
    published: ArcSwap<Published>,
    handle: EngineHandle,
    writer: Mutex<()>,
    changes: watch::Sender<u64>,
    exposures: ExposureLog,
    events: EventLog,
}

impl Namespace {
    fn load(
        stored: StoredNamespace,
        store: Arc<Store>,
        dir: &Path,
    ) -> Result<Self, NamespaceError> {
        let resources: Vec<Arc<StoredResource>> =
            stored.resources.into_iter().map(Arc::new).collect();
        let config = Published::document(stored.allocation_salt.as_deref(), &resources);
        let text = config.to_string();
        let compiled =
            compile_document(&text).map_err(|problems| NamespaceError::DoesNotCompile {
                namespace: stored.name.to_string(),
                revision: stored.revision,
                problems,
            })?;
        let engine = Arc::new(compiled.engine);
        let published = Published::new(
            stored.revision,
            stored.allocation_salt,
            resources,
            Records::new(stored.records.into_iter().map(Arc::new).collect()),
            (Arc::new(config), text.into()),
            engine.clone(),
        );
        // The handle serves the engine `Published` holds, not a copy.
        let handle = EngineHandle::from_shared(engine);
        let (changes, _) = watch::channel(stored.revision);
        let exposures = ExposureLog::open(dir, &stored.name)
            .map_err(|(path, source)| NamespaceError::Log { path, source })?;
        let events = EventLog::open(dir, &stored.name)
            .map_err(|(path, source)| NamespaceError::Log { path, source })?;
        Ok(Namespace {
            name: stored.name,
            row: stored.row,
            store,
            published: ArcSwap::from_pointee(published),
            handle,
            writer: Mutex::new(()),
            changes,
            exposures,
            events,
        })
    }

    /// Its name.
    pub fn name(&self) -> &NamespaceName {
        &self.name
    }

    pub(crate) fn row(&self) -> i64 {
        self.row
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn writer_lock(
        &self,
    ) -> Result<MutexGuard<'_, ()>, PoisonError<MutexGuard<'_, ()>>> {
        self.writer.lock()
    }

    /// What it serves now (wait-free).
    pub fn published(&self) -> Arc<Published> {
        self.published.load_full()
    }

    /// The engine handle, for in-process evaluation alongside the server.
    pub fn engine_handle(&self) -> &EngineHandle {
        &self.handle
    }

    /// A receiver that sees every new revision.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The exposure log.
    pub fn exposures(&self) -> &ExposureLog {
        &self.exposures
    }

    /// The metric event log.
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    pub(crate) fn publish(&self, published: Published) {
        let revision = published.revision;
        let engine = published.engine.clone();
        self.published.store(Arc::new(published));
        self.handle.store(engine);
        self.changes.send_replace(revision);
    }

    fn close(&self) {
        self.exposures.close();
        self.events.close();
    }
}

/// Every namespace, looked up without a lock.
#[derive(Debug)]
pub struct Namespaces {
    store: Arc<Store>,
    dir: PathBuf,
    map: ArcSwap<HashMap<NamespaceName, Arc<Namespace>>>,
    create: Mutex<()>,
}

impl Namespaces {
    /// Loads every stored namespace, creating `default/production` first when missing.
    ///
    /// # Errors
    /// [`NamespaceError`] when the store fails or a stored config does not compile.
    pub fn open(store: Arc<Store>, dir: &Path) -> Result<Self, NamespaceError> {
        store.ensure_namespace(&NamespaceName::default_namespace())?;
        let mut map = HashMap::new();
        for stored in store.load_all()? {
            let namespace = Namespace::load(stored, store.clone(), dir)?;
            map.insert(namespace.name.clone(), Arc::new(namespace));
        }
        Ok(Namespaces {
            store,
            dir: dir.to_owned(),
            map: ArcSwap::from_pointee(map),
            create: Mutex::new(()),
        })
    }

    /// A namespace, when it exists.
    pub fn get(&self, name: &NamespaceName) -> Option<Arc<Namespace>> {
        self.map.load().get(name).cloned()
    }

    /// Every namespace name with its revision, sorted.
    pub fn list(&self) -> Vec<(NamespaceName, u64)> {
        let mut all: Vec<_> =
            self.map.load().values().map(|ns| (ns.name.clone(), ns.published().revision)).collect();
        all.sort();
        all
    }

    /// A namespace, created empty when missing (blocking: it writes to the store).
    ///
    /// # Errors
    /// [`NamespaceError`] when the store fails.
    pub fn get_or_create(&self, name: &NamespaceName) -> Result<Arc<Namespace>, NamespaceError> {
        if let Some(found) = self.get(name) {
            return Ok(found);
        }
        let _one_at_a_time = self.create.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = self.get(name) {
            return Ok(found);
        }
        let row = self.store.ensure_namespace(name)?;
        let stored = StoredNamespace {
            row,
            name: name.clone(),
            revision: 0,
            allocation_salt: None,
            resources: Vec::new(),
            records: Vec::new(),
        };
        let namespace = Arc::new(Namespace::load(stored, self.store.clone(), &self.dir)?);
        let mut map = HashMap::clone(&self.map.load());
        map.insert(name.clone(), namespace.clone());
        self.map.store(Arc::new(map));
        Ok(namespace)
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Flushes and closes every namespace's logs.
    pub fn close(&self) {
        for namespace in self.map.load().values() {
            namespace.close();
        }
    }
}
