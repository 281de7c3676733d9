//! Sticky assignments (materializations, spec §2.8).
//!
//! A rule with a `materializationSpec` remembers which variant each unit got,
//! so the unit keeps it when targeting, reach or ranges change:
//!
//! - `readMaterialization`: before targeting, the rule looks up the unit's
//!   stored variant for this rule. A stored unit gets that variant if it still
//!   matches the segment's targeting, or regardless of targeting when
//!   `segmentTargetingCanBeIgnored`. Bucketing and allocation are not
//!   consulted for a stored unit: that is what keeps it when reach drops.
//! - `materializationMustMatch`: paused intake; units without a stored
//!   variant do not match the rule.
//! - `writeMaterialization`: a unit newly assigned a variant by the rule is
//!   stored.
//!
//! Stores are behind [`AssignmentStore`]: one [`AssignmentStore::get_many`]
//! before evaluating a batch of flags and one [`AssignmentStore::put_many`]
//! after, so a request costs two round trips whatever the number of flags.
//! [`Engine::evaluate`] never touches a store (rules with a spec then behave
//! as if nothing were stored); [`Engine::evaluate_sticky`] does. A store
//! error never loses the resolutions: they come back with the error.
//!
//! This module holds the store side only; the walk that reads and writes through
//! it is the engine's.
//!
//! [`Engine::evaluate`]: crate::Engine::evaluate
//! [`Engine::evaluate_sticky`]: crate::Engine::evaluate_sticky

use crate::resolution::Resolution;
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

/// Where a unit's assignments for one materialization live.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MaterializationKey {
    /// The materialization's name.
    pub materialization: String,
    /// The unit (targeting key).
    pub unit: String,
}

/// What a store holds for one key: the variant of each rule, by rule name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Materialization {
    /// Rule name → variant name.
    pub rules: BTreeMap<String, String>,
}

/// One assignment to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterializationWrite {
    /// Where.
    pub key: MaterializationKey,
    /// The rule that assigned.
    pub rule: String,
    /// The variant assigned.
    pub variant: String,
}

/// Why a store could not read or write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("assignment store: {message}")]
#[non_exhaustive]
pub struct StoreError {
    /// What went wrong.
    pub message: String,
}

impl StoreError {
    /// A store error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        StoreError { message: message.into() }
    }
}

/// A store of sticky assignments. Implementations must be safe to share
/// between threads; each call should be one round trip to the backing store.
pub trait AssignmentStore: Send + Sync {
    /// The materializations of `keys`, in the same order (`None` where nothing is stored).
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn get_many(
        &self,
        keys: &[MaterializationKey],
    ) -> Result<Vec<Option<Materialization>>, StoreError>;

    /// Stores assignments, merging them into what each key already holds.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be written; nothing is then known to be stored.
    fn put_many(&self, writes: &[MaterializationWrite]) -> Result<(), StoreError>;
}

/// An in-memory store, for tests and single-process use.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    data: RwLock<HashMap<MaterializationKey, Materialization>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        InMemoryStore::default()
    }

    /// The number of keys held.
    pub fn len(&self) -> usize {
        self.data.read().map(|d| d.len()).unwrap_or(0)
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl AssignmentStore for InMemoryStore {
    fn get_many(
        &self,
        keys: &[MaterializationKey],
    ) -> Result<Vec<Option<Materialization>>, StoreError> {
        let data = self.data.read().map_err(|_| StoreError::new("in-memory store poisoned"))?;
        Ok(keys.iter().map(|k| data.get(k).cloned()).collect())
    }

    fn put_many(&self, writes: &[MaterializationWrite]) -> Result<(), StoreError> {
        let mut data =
            self.data.write().map_err(|_| StoreError::new("in-memory store poisoned"))?;
        for w in writes {
            data.entry(w.key.clone()).or_default().rules.insert(w.rule.clone(), w.variant.clone());
        }
        Ok(())
    }
}

/// Whether the new assignments of a sticky evaluation were stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing needed storing.
    NothingToWrite,
    /// Every new assignment was stored.
    Stored(usize),
    /// The write failed; the resolutions stand, but the units are not sticky yet.
    Failed(StoreError),
}

/// The result of [`Engine::evaluate_sticky`](crate::Engine::evaluate_sticky).
#[derive(Clone, Debug)]
pub struct StickyEvaluation<'e> {
    /// One resolution per requested flag, in order.
    pub resolutions: Vec<Resolution<'e>>,
    /// A failed read: evaluation went on as if nothing were stored.
    pub read_error: Option<StoreError>,
    /// What happened to the new assignments.
    pub persistence: Persistence,
}
