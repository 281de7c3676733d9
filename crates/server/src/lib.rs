//! Flagstone's server: one process, one port; a resource store with one
//! write path, OFREP evaluation for any language, and snapshots for edge
//! replicas.
//!
//! The engine stays a library: this crate is a thin layer over
//! `flagstone-model` (the resources), `flagstone-core` (an engine per
//! namespace, swapped atomically) and `flagstone-store` (exposure logs).
//!
//! ```
//! use flagstone_server::{Server, ServerConfig};
//!
//! let dir = std::env::temp_dir().join(format!("flagstone-server-doc-{}", std::process::id()));
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let config = ServerConfig::new(&dir, "127.0.0.1:0".parse()?);
//!     let server = Server::bind(config).await?;
//!     let addr = server.local_addr()?;
//!     assert!(addr.ip().is_loopback());
//!     // Stop at once: in-flight requests would finish, the store closes cleanly.
//!     server.run(async {}).await?;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # let _ = std::fs::remove_dir_all(&dir);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - `store/`: SQLite (WAL, `synchronous=FULL`), the only SQL: namespaces,
//!   resources, revisions, the append-only history, numbered migrations.
//! - `write.rs`: [`Namespace::write`], the one write path. It applies a
//!   [`Change`] to a copy, checks the whole config with
//!   [`compile_document`] (the only caller of the model's parser and
//!   validator and the engine's compiler), commits one transaction, swaps
//!   the engine, and only then answers.
//! - `dialects/native.rs`: Flagstone's own API over its wire format.
//! - `ofrep.rs`: OFREP 0.3.0 evaluation; `ingest.rs`: metric events.
//! - `results.rs`: analysis inputs from the exposure and event logs for
//!   every dialect's results, cached per config revision and data watermark;
//!   `report.rs`: the same analysis as `flagstone analyze --format html`'s page.
//! - `assignments.rs`: the sticky-assignment store of OFREP evaluations
//!   (`--assignments`), called off the executor under a timeout.
//! - `auth.rs`, `limits.rs`, `metrics.rs`, `sync.rs` (snapshots, long-poll,
//!   the edge follower), `http.rs` (router, request log, guard).
//!
//! # Decisions
//! - Each namespace publishes an immutable [`Published`] (resources, config
//!   text, engine, revision) through an `ArcSwap`, so a reader always sees an
//!   engine together with the revision it was compiled from; the namespace's
//!   `EngineHandle` is swapped to the same engine for in-process users.
//! - Writing to a namespace that does not exist creates it.
//! - A resource's entity tag is the namespace revision that last wrote it;
//!   the config's and the snapshot's is the namespace's revision.
//! - An OFREP answer's entity tag hashes the namespace, revision, context
//!   (keys sorted) and the answer itself, so a rollout schedule that moves
//!   with time changes it too.
//! - `flag.path` keys: the longest prefix at a `.` that names a flag wins,
//!   so flag ids that contain dots keep working. A missing field is
//!   `GENERAL`, a field reached through a non-object `TYPE_MISMATCH`, both
//!   400; a resolution with no value answers without `value` (the caller's
//!   code default).
//! - An edge replica takes each snapshot through the same write path with
//!   the upstream's revision, so it stores it durably and never serves one
//!   that does not compile.
//!
//! # Input safety
//! Bodies are limited in size (413) and in nesting (checked without
//! recursion before parsing: 256 levels for documents, 66 for OFREP
//! requests); every request has a timeout; tokens are rate limited (429
//! with `Retry-After`). No handler panics on input; failures are JSON errors.
#![deny(missing_docs)]

pub mod assignments;
pub mod auth;
mod dialects;
mod document;
pub mod events;
mod http;
mod ingest;
pub mod json;
pub mod limits;
pub mod metrics;
pub mod names;
pub mod namespace;
mod ofrep;
mod report;
mod results;
pub mod store;
pub mod sync;
pub mod write;

pub use assignments::{AssignmentsConfig, StoreSpec};
pub use auth::{Auth, Scope, TokenEntry, TokenFile};
pub use limits::Limits;
pub use names::{Kind, NamespaceName};
pub use namespace::{Namespace, Namespaces, Published};
pub use sync::Upstream;
pub use write::{Actor, Change, Precondition, Problem, WriteError, Written, compile_document};

use http::App;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

/// How to run a server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The data directory: `flagstone.db`, `exposures/`, `events/`.
    pub data_dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The token file; without one everything is allowed, on loopback only.
    pub tokens: Option<PathBuf>,
    /// A config to load into `default/production` when it is empty.
    pub import: Option<PathBuf>,
    /// Follow an upstream server as a read-only edge replica.
    pub upstream: Option<Upstream>,
    /// Request limits.
    pub limits: Limits,
    /// Where sticky assignments live; without a store, rules with a
    /// `materializationSpec` evaluate as if nothing were stored.
    pub assignments: Option<AssignmentsConfig>,
}

impl ServerConfig {
    /// A config with default limits, no tokens, no import, no upstream, no
    /// assignment store.
    pub fn new(data_dir: &Path, listen: SocketAddr) -> Self {
        ServerConfig {
            data_dir: data_dir.to_owned(),
            listen,
            tokens: None,
            import: None,
            upstream: None,
            limits: Limits::default(),
            assignments: None,
        }
    }
}

/// Why a server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The token file.
    #[error(transparent)]
    Tokens(#[from] auth::TokenFileError),
    /// Listening beyond loopback without tokens.
    #[error("--listen {0}: refusing to listen beyond loopback without --tokens")]
    OpenBeyondLoopback(SocketAddr),
    /// A file or socket.
    #[error("{path}: {source}")]
    Io {
        /// What.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A namespace.
    #[error(transparent)]
    Namespace(#[from] namespace::NamespaceError),
    /// The config to import.
    #[error("{path}: {}", render(.problems))]
    Import {
        /// The file.
        path: String,
        /// Every problem.
        problems: Vec<Problem>,
    },
    /// The sticky-assignment store.
    #[error(transparent)]
    Assignments(#[from] assignments::AssignmentsError),
    /// A blocking task died.
    #[error("internal task failed: {0}")]
    Task(String),
}

fn render(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>().join("\n")
}

/// A bound server, not yet serving.
#[derive(Debug)]
pub struct Server {
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    upstream: Option<Upstream>,
    shutdown: watch::Sender<bool>,
}

impl Server {
    /// Opens the store, loads every namespace, imports, and binds the socket.
    ///
    /// # Errors
    /// [`ServerError`] for a bad token file, a non-loopback address without
    /// tokens, a store that cannot open, a stored or imported config that
    /// does not compile, or an address that cannot be bound.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let auth = match &config.tokens {
            Some(path) => Auth::from_file(path)?,
            None => Auth::Open,
        };
        if auth.is_open() && !config.listen.ip().is_loopback() {
            return Err(ServerError::OpenBeyondLoopback(config.listen));
        }
        let dir = config.data_dir.clone();
        let import = config.import.clone();
        let namespaces = tokio::task::spawn_blocking(move || open_data(&dir, import.as_deref()))
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??;
        let assignments = match config.assignments.clone() {
            Some(store) => {
                let opened =
                    tokio::task::spawn_blocking(move || assignments::Assignments::open(&store))
                        .await
                        .map_err(|e| ServerError::Task(e.to_string()))??;
                tracing::info!(store = opened.shown(), "sticky assignments");
                Some(opened)
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Io { path: config.listen.to_string(), source })?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let metrics = metrics::Metrics::new();
        for (name, revision) in namespaces.list() {
            metrics.revision(&name.to_string(), revision);
        }
        let app = Arc::new(App {
            namespaces: Arc::new(namespaces),
            auth,
            rate: limits::RateLimits::new(&config.limits),
            limits: config.limits.clone(),
            results: results::LogResults::new(&metrics),
            metrics,
            read_only: config.upstream.is_some(),
            followed: config.upstream.as_ref().map(|u| u.namespaces.clone()).unwrap_or_default(),
            shutdown: shutdown_rx,
            serving: AtomicBool::new(true),
            assignments,
        });
        Ok(Server { app, listener, upstream: config.upstream, shutdown })
    }

    /// The address it listens on (the port chosen for `:0`).
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.listener
            .local_addr()
            .map_err(|source| ServerError::Io { path: "listener".into(), source })
    }

    /// The namespaces it serves.
    pub fn namespaces(&self) -> Arc<Namespaces> {
        self.app.namespaces.clone()
    }

    /// Serves until `signal` completes, then lets in-flight requests finish,
    /// stops the follower, flushes the logs and closes the store.
    ///
    /// # Errors
    /// [`ServerError`] when serving fails or the store does not close cleanly.
    pub async fn run(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Server { app, listener, upstream, shutdown } = self;
        let mut followers = Vec::new();
        if let Some(upstream) = upstream {
            for name in upstream.namespaces.clone() {
                followers.push(tokio::spawn(sync::follow(app.clone(), upstream.clone(), name)));
            }
        }
        let router = http::router(app.clone());
        let stopping = app.clone();
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                signal.await;
                stopping.serving.store(false, Ordering::Release);
                // Long-polls and followers watch this and end early.
                let _ = shutdown.send(true);
            })
            .await;
        for follower in followers {
            let _ = follower.await;
        }
        let namespaces = app.namespaces.clone();
        let closed = tokio::task::spawn_blocking(move || {
            namespaces.close();
            namespaces.store().close()
        })
        .await
        .map_err(|e| ServerError::Task(e.to_string()))?;
        served.map_err(|source| ServerError::Io { path: "server".into(), source })?;
        closed?;
        tracing::info!("stopped");
        Ok(())
    }
}

fn open_data(dir: &Path, import: Option<&Path>) -> Result<Namespaces, ServerError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| ServerError::Io { path: dir.display().to_string(), source })?;
    let store = Arc::new(store::Store::open(dir)?);
    let namespaces = Namespaces::open(store, dir)?;
    if let Some(path) = import {
        let shown = path.display().to_string();
        let name = NamespaceName::default_namespace();
        let namespace = namespaces.get_or_create(&name)?;
        let current = namespace.published();
        if current.revision == 0 && current.resources().is_empty() {
            let bytes = std::fs::read(path)
                .map_err(|source| ServerError::Io { path: shown.clone(), source })?;
            let document =
                json::parse(&bytes, json::MAX_BODY_DEPTH).map_err(|e| ServerError::Import {
                    path: shown.clone(),
                    problems: vec![Problem::new(".", e.to_string())],
                })?;
            let actor = Actor { id: "import".into(), method: "IMPORT".into(), path: shown.clone() };
            let change = Change::ReplaceConfig { document, precondition: Precondition::None };
            match namespace.write(change, &actor) {
                Ok(written) => {
                    tracing::info!(file = %shown, revision = written.revision, "imported into default/production");
                }
                Err(WriteError::Invalid(problems)) => {
                    return Err(ServerError::Import { path: shown, problems });
                }
                Err(other) => {
                    return Err(ServerError::Import {
                        path: shown,
                        problems: vec![Problem::new(".", other.to_string())],
                    });
                }
            }
        } else {
            tracing::info!(file = %shown, "default/production is not empty; import skipped");
        }
    }
    Ok(namespaces)
}
