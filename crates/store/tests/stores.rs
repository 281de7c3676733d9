//! One test body for every assignment store: the store contract, and sticky
//! assignments through the engine (spec §2.8).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use flagstone_core::sticky::{
    AssignmentStore, MaterializationKey, MaterializationWrite, Persistence,
};
use flagstone_core::{Engine, EvaluationContext, InMemoryStore, Reason};
use flagstone_store::RedbStore;
use serde_json::json;

fn key(materialization: &str, unit: &str) -> MaterializationKey {
    MaterializationKey { materialization: materialization.into(), unit: unit.into() }
}

fn write(materialization: &str, unit: &str, rule: &str, variant: &str) -> MaterializationWrite {
    MaterializationWrite {
        key: key(materialization, unit),
        rule: rule.into(),
        variant: variant.into(),
    }
}

/// A flag whose one rule gives `on` to `[0, reach)` of 100 buckets of units in `country`.
fn engine(country: &str, reach: u32, mode: serde_json::Value) -> Engine {
    let mut assignments = vec![];
    if reach > 0 {
        assignments.push(json!({"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": reach}]}));
    }
    let config = json!({
        "flags": [{"name": "flags/f",
            "variants": [{"name": "flags/f/variants/on", "value": true}, {"name": "flags/f/variants/off", "value": false}],
            "rules": [{"name": "flags/f/rules/sticky", "segment": "segments/s",
                "materializationSpec": {"readMaterialization": "m", "writeMaterialization": "m", "mode": mode},
                "assignmentSpec": {"bucketCount": 100, "assignments": assignments}}]}],
        "segments": [{"name": "segments/s", "targeting": {"criteria": {"c": {"attribute": {"attributeName": "country",
            "eqRule": {"value": {"stringValue": country}}}}}}}]
    });
    Engine::compile(&flagstone_model::parse_config(&config.to_string()).unwrap()).unwrap()
}

fn variant(
    engine: &Engine,
    store: &dyn AssignmentStore,
    unit: &str,
    country: &str,
) -> Option<String> {
    let ctx_json = json!({"targeting_key": unit, "country": country});
    let ctx = EvaluationContext::from_json(&ctx_json);
    let id = engine.flag_id("flags/f").unwrap();
    let batch = engine.evaluate_sticky(&[id], &ctx, store);
    assert!(batch.read_error.is_none(), "{:?}", batch.read_error);
    assert!(!matches!(batch.persistence, Persistence::Failed(_)), "{:?}", batch.persistence);
    let r = batch.resolutions[0];
    assert!(matches!(r.reason, Reason::Match | Reason::NoSegmentMatch));
    r.variant.map(str::to_owned)
}

/// The suite every store passes. `ns` keeps runs on a shared server apart.
fn suite(store: &dyn AssignmentStore, ns: &str) {
    let m = format!("{ns}-m");
    // The contract: absent keys, merge within a key, batch order, overwrite.
    assert_eq!(store.get_many(&[key(&m, "nobody")]).unwrap(), vec![None]);
    store
        .put_many(&[
            write(&m, "u1", "r1", "a"),
            write(&m, "u1", "r2", "b"),
            write(&m, "ü-2", "r1", "c"),
        ])
        .unwrap();
    store.put_many(&[write(&m, "u1", "r1", "a2")]).unwrap();
    let got = store.get_many(&[key(&m, "ü-2"), key(&m, "none"), key(&m, "u1")]).unwrap();
    assert_eq!(got[0].as_ref().unwrap().rules["r1"], "c");
    assert!(got[1].is_none());
    let u1 = got[2].as_ref().unwrap();
    assert_eq!((u1.rules["r1"].as_str(), u1.rules["r2"].as_str()), ("a2", "b"));
    store.put_many(&[]).unwrap();
    assert_eq!(store.get_many(&[]).unwrap(), vec![]);

    // Sticky through the engine. Everyone in SE gets `on` while reach is 100%.
    let unit = format!("{ns}-sticky-unit");
    let fresh = format!("{ns}-fresh-unit");
    let plain = json!({});
    let full = engine("SE", 100, plain.clone());
    assert_eq!(variant(&full, store, &unit, "SE").as_deref(), Some("flags/f/variants/on"));
    // Reach drops to 0: the stored unit keeps its variant, a new unit gets nothing.
    let none = engine("SE", 0, plain.clone());
    assert_eq!(variant(&none, store, &unit, "SE").as_deref(), Some("flags/f/variants/on"));
    assert_eq!(variant(&none, store, &fresh, "SE"), None);
    // Targeting moves to NO: targeting still applies unless the mode ignores it.
    let moved = engine("NO", 0, plain);
    assert_eq!(variant(&moved, store, &unit, "SE"), None);
    let ignoring = engine("NO", 0, json!({"segmentTargetingCanBeIgnored": true}));
    assert_eq!(variant(&ignoring, store, &unit, "SE").as_deref(), Some("flags/f/variants/on"));
    // Paused intake: only stored units match, even at full reach.
    let paused = engine("SE", 100, json!({"materializationMustMatch": true}));
    assert_eq!(variant(&paused, store, &unit, "SE").as_deref(), Some("flags/f/variants/on"));
    assert_eq!(variant(&paused, store, &fresh, "SE"), None);
    assert_eq!(variant(&paused, store, &format!("{ns}-another"), "SE"), None);
}

#[test]
fn in_memory_store() {
    suite(&InMemoryStore::new(), "mem");
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("flagstone-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    dir
}

#[test]
fn redb_store() {
    let path = temp_path("suite.redb");
    suite(&RedbStore::open(&path).unwrap(), "redb");
    // Reopened, it still holds what was written.
    let reopened = RedbStore::open(&path).unwrap();
    let got = reopened.get_many(&[key("redb-m", "u1")]).unwrap();
    assert_eq!(got[0].as_ref().unwrap().rules["r2"], "b");
    drop(reopened);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn plain_evaluation_never_touches_a_store_and_paused_intake_admits_nobody() {
    let paused = engine("SE", 100, json!({"materializationMustMatch": true}));
    let ctx_json = json!({"targeting_key": "u", "country": "SE"});
    let r = paused
        .evaluate(paused.flag_id("flags/f").unwrap(), &EvaluationContext::from_json(&ctx_json));
    assert_eq!(r.reason, Reason::NoSegmentMatch);
}

#[test]
fn store_errors_never_lose_the_resolution() {
    struct Broken;
    impl AssignmentStore for Broken {
        fn get_many(
            &self,
            _: &[MaterializationKey],
        ) -> Result<
            Vec<Option<flagstone_core::sticky::Materialization>>,
            flagstone_core::sticky::StoreError,
        > {
            Err(flagstone_core::sticky::StoreError::new("down"))
        }
        fn put_many(
            &self,
            _: &[MaterializationWrite],
        ) -> Result<(), flagstone_core::sticky::StoreError> {
            Err(flagstone_core::sticky::StoreError::new("down"))
        }
    }
    let e = engine("SE", 100, json!({}));
    let ctx_json = json!({"targeting_key": "u", "country": "SE"});
    let batch = e.evaluate_sticky(
        &[e.flag_id("f").unwrap()],
        &EvaluationContext::from_json(&ctx_json),
        &Broken,
    );
    assert_eq!(batch.resolutions[0].variant, Some("flags/f/variants/on"));
    assert!(batch.read_error.is_some());
    assert!(matches!(batch.persistence, Persistence::Failed(_)));
}

#[cfg(feature = "redis")]
mod redis {
    use super::suite;
    use flagstone_store::RedisStore;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// A `redis-server` on a free loopback port, stopped on drop.
    struct Server {
        child: Child,
        port: u16,
    }

    impl Server {
        fn start() -> Server {
            let port =
                std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            Server::start_on(port)
        }

        fn start_on(port: u16) -> Server {
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start redis-server (install Debian's redis-server; .ci/run does): {e}"));
            let server = Server { child, port };
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server did not start on port {port}");
                std::thread::sleep(Duration::from_millis(20));
            }
            server
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    fn redis_store() {
        let server = Server::start();
        let store = RedisStore::connect(&format!("redis://127.0.0.1:{}/", server.port)).unwrap();
        suite(&store, "redis");
        // A second connection (another app server) sees the same assignments.
        let other = RedisStore::connect(&format!("redis://127.0.0.1:{}/", server.port)).unwrap();
        suite(&other, "redis-2");
        let got = flagstone_core::sticky::AssignmentStore::get_many(
            &other,
            &[super::key("redis-m", "u1")],
        )
        .unwrap();
        assert_eq!(got[0].as_ref().unwrap().rules["r2"], "b");
    }

    #[test]
    fn redis_store_reconnects_after_the_server_restarts() {
        use flagstone_core::sticky::AssignmentStore;
        let server = Server::start();
        let port = server.port;
        let url = format!("redis://127.0.0.1:{port}/");
        let store = RedisStore::connect_with_timeout(&url, Duration::from_secs(2)).unwrap();
        let write = super::MaterializationWrite {
            key: super::key("m", "u1"),
            rule: "r".into(),
            variant: "v".into(),
        };
        store.put_many(std::slice::from_ref(&write)).unwrap();
        drop(server);
        assert!(store.get_many(&[super::key("m", "u1")]).is_err(), "the server is gone");
        // A new, empty server on the same port: the store connects again by itself.
        let _server = Server::start_on(port);
        assert_eq!(store.get_many(&[super::key("m", "u1")]).unwrap(), vec![None]);
        store.put_many(&[write]).unwrap();
        assert!(store.get_many(&[super::key("m", "u1")]).unwrap()[0].is_some());
    }
}

#[test]
fn flags_that_reach_no_sticky_rule_never_touch_the_store() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Counting(InMemoryStore, AtomicUsize);
    impl AssignmentStore for Counting {
        fn get_many(
            &self,
            keys: &[MaterializationKey],
        ) -> Result<
            Vec<Option<flagstone_core::sticky::Materialization>>,
            flagstone_core::sticky::StoreError,
        > {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.get_many(keys)
        }
        fn put_many(
            &self,
            writes: &[MaterializationWrite],
        ) -> Result<(), flagstone_core::sticky::StoreError> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.put_many(writes)
        }
    }
    let config = json!({
        "flags": [
            {"name": "flags/sticky", "variants": [{"name": "flags/sticky/variants/on"}],
             "rules": [{"name": "flags/sticky/rules/r", "segment": "segments/all",
                "materializationSpec": {"readMaterialization": "m", "writeMaterialization": "m"},
                "assignmentSpec": {"bucketCount": 1, "assignments": [{"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]},
            {"name": "flags/plain", "variants": [{"name": "flags/plain/variants/on"}],
             "rules": [{"name": "flags/plain/rules/r", "segment": "segments/all",
                "assignmentSpec": {"bucketCount": 1, "assignments": [{"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]},
            {"name": "flags/depends", "variants": [{"name": "flags/depends/variants/on"}],
             "rules": [{"name": "flags/depends/rules/r", "segment": "segments/needs-sticky",
                "assignmentSpec": {"bucketCount": 1, "assignments": [{"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]}
        ],
        "segments": [{"name": "segments/all"},
            {"name": "segments/needs-sticky", "targeting": {"criteria": {"d": {"dependency": {"flag": "sticky", "variant": "on"}}}}}]
    });
    let engine =
        Engine::compile(&flagstone_model::parse_config(&config.to_string()).unwrap()).unwrap();
    let store = Counting(InMemoryStore::new(), AtomicUsize::new(0));
    let ctx_json = json!({"targeting_key": "u"});
    let ctx = EvaluationContext::from_json(&ctx_json);
    let plain = engine.flag_id("plain").unwrap();
    let depends = engine.flag_id("depends").unwrap();
    assert!(!engine.uses_store(&[plain]));
    assert!(engine.uses_store(&[depends]), "the dependency reaches a sticky rule");
    assert!(engine.materialization_keys(&[plain], &ctx).is_empty());
    assert_eq!(engine.materialization_keys(&[depends], &ctx).len(), 1);
    let batch = engine.evaluate_sticky(&[plain], &ctx, &store);
    assert_eq!(batch.resolutions[0].variant, Some("flags/plain/variants/on"));
    assert_eq!(store.1.load(Ordering::Relaxed), 0, "a plain flag read or wrote the store");
    // A flag that depends on a sticky one reads (and, as a new unit, writes) it.
    let batch = engine.evaluate_sticky(&[depends], &ctx, &store);
    assert_eq!(batch.resolutions[0].variant, Some("flags/depends/variants/on"));
    assert_eq!(store.1.load(Ordering::Relaxed), 2);
}

#[test]
fn a_rule_that_only_writes_uses_the_store() {
    let config = json!({
        "flags": [{"name": "flags/w", "variants": [{"name": "flags/w/variants/on"}],
             "rules": [{"name": "flags/w/rules/r", "segment": "segments/all",
                "materializationSpec": {"writeMaterialization": "m"},
                "assignmentSpec": {"bucketCount": 1, "assignments": [{"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]}],
        "segments": [{"name": "segments/all"}]
    });
    let engine =
        Engine::compile(&flagstone_model::parse_config(&config.to_string()).unwrap()).unwrap();
    let w = engine.flag_id("w").unwrap();
    assert!(engine.uses_store(&[w]), "a write-only rule must reach the store");
    let ctx_json = json!({"targeting_key": "u"});
    let ctx = EvaluationContext::from_json(&ctx_json);
    assert!(engine.materialization_keys(&[w], &ctx).is_empty(), "nothing to read");
    let store = InMemoryStore::new();
    let batch = engine.evaluate_sticky(&[w], &ctx, &store);
    assert_eq!(batch.persistence, Persistence::Stored(1));
}
