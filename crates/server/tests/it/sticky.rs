//! Sticky assignments over OFREP (`--assignments redb:PATH`): a unit keeps the
//! variant it was given when the reach drops, a unit never seen follows the new
//! reach, paused intake admits nobody new, the store survives a restart, and
//! namespaces never share assignments.

use crate::support::{Options, TestServer, json_of, simple_flag};
use flagstone_core::{Engine, EvaluationContext};
use flagstone_server::{AssignmentsConfig, StoreSpec};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A flag `f` rolled out by `rollouts/r` to `reach` of everyone, with sticky
/// assignments (`must_match`: paused intake), beside a plain flag.
pub fn rollout_config(reach: f64, must_match: bool) -> Value {
    json!({
        "segments": [{"name": "segments/everyone"}],
        "flags": [
            {"name": "flags/f", "variants": [{"name": "flags/f/variants/on", "value": {"enabled": true}}]},
            simple_flag("plain", 1)
        ],
        "rollouts": [{
            "name": "rollouts/r", "state": "LIVE", "flag": "flags/f",
            "variant": "flags/f/variants/on", "reach": reach,
            "materializationSpec": {
                "readMaterialization": "rollout-r", "writeMaterialization": "rollout-r",
                "mode": {"materializationMustMatch": must_match}
            }
        }]
    })
}

/// What `f` gives `unit` over OFREP: its variant and whether a stored assignment answered.
pub async fn variant_of(
    server: &TestServer,
    namespace: &str,
    unit: &str,
) -> (Option<String>, bool) {
    let response = server
        .client
        .post(server.url("/ofrep/v1/evaluate/flags/f"))
        .header("x-flagstone-namespace", namespace)
        .json(&json!({"context": {"targetingKey": unit}}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{unit}: {body}");
    let variant = body["variant"].as_str().map(str::to_owned);
    (variant, body["metadata"]["materialized"] == json!(true))
}

/// What `f` gives `unit` without any store: the engine on its own.
pub fn plain_variant(config: &Value, unit: &str) -> Option<String> {
    let engine =
        Engine::compile(&flagstone_model::parse_config(&config.to_string()).unwrap()).unwrap();
    let context = json!({"targeting_key": unit});
    let ctx = EvaluationContext::from_json(&context);
    let resolution = engine.evaluate_name("f", &ctx);
    resolution.variant.map(|v| v.rsplit('/').next().unwrap().to_owned())
}

pub async fn put_config(server: &TestServer, namespace: &str, config: &Value) {
    let path = format!("/v1/namespaces/{namespace}/config");
    let (status, body) = json_of(server.put(&path, config).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// `flagstone_assignment_store_calls_total` by `op/outcome`.
pub async fn store_calls(server: &TestServer) -> BTreeMap<String, u64> {
    let text = server.get("/metrics").await.text().await.unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("flagstone_assignment_store_calls_total{"))
        .filter_map(|rest| {
            let (labels, count) = rest.split_once("} ")?;
            let field = |name: &str| {
                labels
                    .split(',')
                    .find_map(|l| l.strip_prefix(&format!("{name}=\""))?.strip_suffix('"'))
            };
            Some((format!("{}/{}", field("op")?, field("outcome")?), count.trim().parse().ok()?))
        })
        .collect()
}

fn redb_options(path: &std::path::Path, dir: Option<tempfile::TempDir>) -> Options {
    Options {
        import: false,
        dir,
        assignments: Some(AssignmentsConfig::new(StoreSpec::Redb(path.to_owned()))),
        ..Options::default()
    }
}

fn units(prefix: &str) -> Vec<String> {
    (0..200).map(|i| format!("{prefix}-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_keeps_its_variant_when_the_reach_drops_and_after_a_restart() {
    let stores = tempfile::tempdir().unwrap();
    let path = stores.path().join("assignments.redb");
    let server = TestServer::with(redb_options(&path, None)).await;
    let ns = "default/production";

    // Reach 0.5: about half the units get `on` and are stored.
    let half = rollout_config(0.5, false);
    put_config(&server, ns, &half).await;
    let mut assigned = Vec::new();
    for unit in units("seen") {
        let (variant, materialized) = variant_of(&server, ns, &unit).await;
        assert_eq!(variant, plain_variant(&half, &unit), "{unit}: a first visit follows the reach");
        assert!(!materialized, "{unit}: nothing was stored yet");
        if variant.is_some() {
            assigned.push(unit);
        }
    }
    assert!((60..=140).contains(&assigned.len()), "{} of 200 at reach 0.5", assigned.len());

    // Reach 0.1: every assigned unit keeps `on`, from the store; the bucketing alone
    // would drop most of them.
    let tenth = rollout_config(0.1, false);
    put_config(&server, ns, &tenth).await;
    let dropped_by_reach: Vec<&String> =
        assigned.iter().filter(|u| plain_variant(&tenth, u).is_none()).collect();
    assert!(dropped_by_reach.len() > assigned.len() / 2, "the reach drop must matter");
    for unit in &assigned {
        assert_eq!(variant_of(&server, ns, unit).await, (Some("on".into()), true), "{unit}");
    }
    // Units never seen follow the new reach.
    let mut fresh_on = 0;
    for unit in units("fresh") {
        let (variant, _) = variant_of(&server, ns, &unit).await;
        assert_eq!(variant, plain_variant(&tenth, &unit), "{unit} follows reach 0.1");
        fresh_on += usize::from(variant.is_some());
    }
    assert!(fresh_on < 50, "{fresh_on} of 200 fresh units at reach 0.1");

    // The bulk evaluation is sticky too.
    let (status, bulk) = json_of(
        server
            .post(
                "/ofrep/v1/evaluate/flags",
                &json!({"context": {"targetingKey": dropped_by_reach[0]}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let f = bulk["flags"].as_array().unwrap().iter().find(|i| i["key"] == "f").unwrap();
    assert_eq!((&f["variant"], &f["metadata"]["materialized"]), (&json!("on"), &json!(true)));

    // A plain flag never touches the store.
    let before = store_calls(&server).await;
    assert!(before.get("read/ok").copied().unwrap_or(0) > 0, "{before:?}");
    for unit in units("plain") {
        let (status, body) =
            server.evaluate("plain", &json!({"context": {"targetingKey": unit}})).await;
        assert_eq!((status, &body["value"]["n"]), (StatusCode::OK, &json!(1)));
    }
    assert_eq!(store_calls(&server).await, before, "plain evaluations used the store");

    // Paused intake: even at reach 1, new units are not assigned; stored ones keep `on`.
    let paused = rollout_config(1.0, true);
    put_config(&server, ns, &paused).await;
    for unit in units("paused").iter().take(50) {
        assert_eq!(variant_of(&server, ns, unit).await, (None, false), "{unit} was admitted");
    }
    for unit in assigned.iter().take(20) {
        assert_eq!(variant_of(&server, ns, unit).await, (Some("on".into()), true), "{unit}");
    }

    // A restart on the same data and store: the assignments are still there.
    put_config(&server, ns, &tenth).await;
    let dir = server.stop().await;
    let server = TestServer::with(redb_options(&path, Some(dir))).await;
    for unit in &dropped_by_reach {
        assert_eq!(variant_of(&server, ns, unit).await, (Some("on".into()), true), "{unit}");
    }

    // Another namespace with the same materialization name shares nothing.
    let other = "other/production";
    put_config(&server, other, &tenth).await;
    for unit in &dropped_by_reach {
        assert_eq!(variant_of(&server, other, unit).await, (None, false), "{unit} leaked");
    }
    let calls = store_calls(&server).await;
    assert!(!calls.keys().any(|k| k.ends_with("/error") || k.ends_with("/timeout")), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_sticky_rules_evaluate_as_if_nothing_were_stored() {
    let server = TestServer::with(Options { import: false, ..Options::default() }).await;
    let ns = "default/production";
    let half = rollout_config(0.5, false);
    put_config(&server, ns, &half).await;
    for unit in units("u").iter().take(50) {
        assert_eq!(variant_of(&server, ns, unit).await, (plain_variant(&half, unit), false));
    }
    assert!(store_calls(&server).await.is_empty());
}
