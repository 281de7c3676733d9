//! Flagstone's I/O adapters: assignment stores and exposure writers.
//!
//! `flagstone-core` defines the [`AssignmentStore`] and [`ExposureSink`]
//! traits and does no I/O; this crate implements them over real storage:
//!
//! - [`RedbStore`]: a persistent embedded store in one file, with no server
//!   to run. Every `put_many` is one ACID transaction committed durably
//!   (fsync), so an acknowledged write survives a crash or `SIGKILL`.
//!   redb was chosen over SQLite because it is pure Rust (no C build, no
//!   `unsafe` FFI surface), has MVCC reads that never block the writer, and a
//!   copy-on-write file format that always opens cleanly after a crash.
//! - `RedisStore` (feature `redis`): for app servers behind a load balancer
//!   that must share assignments. Each key is a Redis hash
//!   `flagstone:{materialization}:{unit}` of rule → variant; `get_many` and
//!   `put_many` are one pipelined round trip each. A broken connection is
//!   remade on the next call, and `connect_with_timeout` bounds each socket
//!   read and write.
//! - [`JsonLinesSink`]: a buffered JSON-lines exposure writer that flushes
//!   when its buffer passes a size or its oldest line an age, and on drop.
//!
//! ```
//! use flagstone_core::sticky::{AssignmentStore, MaterializationKey, MaterializationWrite};
//! use flagstone_store::RedbStore;
//!
//! let path = std::env::temp_dir().join(format!("flagstone-doc-{}.redb", std::process::id()));
//! let store = RedbStore::open(&path)?;
//! let key = MaterializationKey { materialization: "mat".into(), unit: "user-1".into() };
//! store.put_many(&[MaterializationWrite { key: key.clone(), rule: "flags/a/rules/r".into(), variant: "flags/a/variants/on".into() }])?;
//! let stored = store.get_many(&[key])?;
//! assert_eq!(stored[0].as_ref().map(|m| m.rules["flags/a/rules/r"].as_str()), Some("flags/a/variants/on"));
//! # drop(store); let _ = std::fs::remove_file(&path);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Input safety
//! Units and materialization names are stored as given; keys join them with
//! a `\u{1f}` separator, which a JSON string can hold, so a key is read back
//! by exact match only. Store errors are values ([`StoreError`]), never panics.
#![deny(missing_docs)]

mod jsonl;
mod redb_store;
#[cfg(feature = "redis")]
mod redis_store;

pub use flagstone_core::exposure::{Exposure, ExposureSink, SinkError};
pub use flagstone_core::sticky::{AssignmentStore, StoreError};
pub use jsonl::JsonLinesSink;
pub use redb_store::RedbStore;
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
