//! Atomic engine swaps: readers never lock, a failed update never replaces a working engine.

use crate::compile::CompileError;
use crate::engine::Engine;
use arc_swap::{ArcSwap, Guard};
use flagstone_model::{Config, ParseError, parse_config};
use std::sync::Arc;

/// Why an update was rejected; the previous engine keeps serving.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The document is not a config.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The config does not compile; every error is listed.
    #[error("{} error(s); first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    Compile(Vec<CompileError>),
}

/// A shared, swappable engine (spec §2.9).
///
/// Readers call [`EngineHandle::load`] (wait-free, no lock) and evaluate on
/// the engine they got; a writer compiles off to the side and swaps
/// atomically. Readers holding the old engine finish on it.
#[derive(Debug)]
pub struct EngineHandle {
    current: ArcSwap<Engine>,
}

impl EngineHandle {
    /// A handle serving `engine`.
    pub fn new(engine: Engine) -> Self {
        EngineHandle { current: ArcSwap::from_pointee(engine) }
    }

    /// A handle serving an engine that is already shared (for example with a cache of
    /// published configs).
    pub fn from_shared(engine: Arc<Engine>) -> Self {
        EngineHandle { current: ArcSwap::new(engine) }
    }

    /// The engine serving now.
    pub fn load(&self) -> Guard<Arc<Engine>> {
        self.current.load()
    }

    /// The engine serving now, as an owned `Arc` (for long-lived holders).
    pub fn load_full(&self) -> Arc<Engine> {
        self.current.load_full()
    }

    /// Swaps in an engine compiled elsewhere (for example on another thread);
    /// returns the one it replaces.
    pub fn store(&self, engine: Arc<Engine>) -> Arc<Engine> {
        self.current.swap(engine)
    }

    /// Compiles `config` and swaps it in.
    ///
    /// # Errors
    /// Every compile error; the previous engine keeps serving.
    pub fn update(&self, config: &Config) -> Result<(), Vec<CompileError>> {
        let engine = Engine::compile(config)?;
        self.current.store(Arc::new(engine));
        Ok(())
    }

    /// Parses, compiles and swaps in a JSON config.
    ///
    /// # Errors
    /// [`UpdateError`]; the previous engine keeps serving.
    pub fn update_json(&self, json: &str) -> Result<(), UpdateError> {
        let config = parse_config(json)?;
        self.update(&config).map_err(UpdateError::Compile)
    }
}
