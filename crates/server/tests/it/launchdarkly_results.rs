//! LaunchDarkly experiment results: the Bayesian analysis of an iteration's
//! sufficient statistics, equal to what `flagstone analyze` computes from
//! the same statistics, and frozen once the iteration stops.

use crate::launchdarkly::{BASE, flag, get, instruct, keys, post, server_with};
use crate::support::{TestServer, json_of};
use flagstone_stats::Method;
use flagstone_stats::analysis::{AnalysisRequest, analyze};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "checkout-test";

fn experiment() -> Value {
    json!({"name": "Checkout button", "key": KEY, "iteration": {
        "hypothesis": "The new button sells more",
        "metrics": [{"key": "purchase", "primary": true}, {"key": "revenue", "primary": false}],
        "treatments": [
            {"name": "Old button", "baseline": true, "allocationPercent": "50",
             "parameters": [{"flagKey": "checkout", "variationId": "control"}]},
            {"name": "New button", "baseline": false, "allocationPercent": "50",
             "parameters": [{"flagKey": "checkout", "variationId": "new"}]}],
        "flags": {"checkout": {"ruleId": "fallthrough", "flagConfigVersion": 1}}}})
}

/// Sufficient statistics as `flagstone aggregate` prints them (variant ids, z-test defaults).
fn statistics(new_successes: u64) -> Value {
    json!({
        "control": "control",
        "variants": [
            {"name": "control", "expectedShare": 1, "units": 1000},
            {"name": "new", "expectedShare": 1, "units": 1000}],
        "metrics": [
            {"id": "purchase", "type": "binary", "data": {
                "control": {"n": 1000, "successes": 100},
                "new": {"n": 1000, "successes": new_successes}}},
            {"id": "revenue", "type": "mean", "data": {
                "control": {"n": 1000, "sum": 5000.0, "sumSquares": 40000.0},
                "new": {"n": 1000, "sum": 5400.0, "sumSquares": 45000.0}}}]
    })
}

async fn upload(server: &TestServer, body: &Value) -> (StatusCode, Value) {
    let path = format!("{BASE}/{KEY}/statistics");
    json_of(server.put(&path, body).await).await
}

/// What `flagstone analyze` says about `metric` of `uploaded`, asked for the
/// Bayesian method the results use: its `treatmentResults`.
fn analyzed(uploaded: &Value, metric: &str) -> Value {
    let mut request: AnalysisRequest = serde_json::from_value(uploaded.clone()).unwrap();
    request.method = Method::Bayesian;
    request.metrics.retain(|m| m.id == metric);
    let result = analyze(&request).unwrap();
    serde_json::to_value(&result.results[0].treatment_results).unwrap()
}

async fn started() -> (TestServer, Value) {
    let server = server_with(vec![flag("checkout", &["new"])]).await;
    let (status, created) = post(&server, BASE, &experiment()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, body) = instruct(&server, KEY, json!([{"kind": "startIteration"}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (server, created["currentIteration"]["treatments"].clone())
}

#[tokio::test]
async fn results_are_the_bayesian_analysis_of_the_uploaded_statistics() {
    let (server, treatments) = started().await;
    let results = format!("{BASE}/{KEY}/metrics/purchase/results");
    let (status, empty) = get(&server, &results).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["treatmentResults"], json!([]));
    assert_eq!(empty["metricSeen"], json!({"ever": false}));

    let uploaded = statistics(130);
    let (status, body) = upload(&server, &uploaded).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for metric in ["purchase", "revenue"] {
        let path = format!("{BASE}/{KEY}/metrics/{metric}/results");
        let (status, got) = get(&server, &path).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got["_links"]["self"]["href"], path);
        assert_eq!(got["metricSeen"]["ever"], true);
        assert!(got["metricSeen"]["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
        assert_eq!(keys(&got), ["_links", "metricSeen", "treatmentResults"]);
        assert_eq!(
            keys(&got["treatmentResults"][1]),
            [
                "credibleInterval",
                "mean",
                "pBest",
                "relativeDifferences",
                "treatmentId",
                "treatmentName",
                "units"
            ]
        );
        let expected = analyzed(&uploaded, metric);
        let got = got["treatmentResults"].as_array().unwrap();
        assert_eq!(got.len(), 2);
        let baseline_id = &treatments[0]["_id"];
        for (i, (r, e)) in got.iter().zip(expected.as_array().unwrap()).enumerate() {
            assert_eq!(r["treatmentId"], treatments[i]["_id"]);
            assert_eq!(r["treatmentName"], treatments[i]["name"]);
            for field in ["mean", "credibleInterval", "pBest", "units"] {
                assert_eq!(r[field], e[field], "{metric} {i} {field}");
            }
            let relative = r["relativeDifferences"].as_array().unwrap();
            let expected_relative = e["relativeDifferences"].as_array().unwrap();
            assert_eq!(relative.len(), expected_relative.len());
            for (d, x) in relative.iter().zip(expected_relative) {
                assert_eq!(&d["fromTreatmentId"], baseline_id);
                assert_eq!(d["lower"], x["lower"]);
                assert_eq!(d["upper"], x["upper"]);
            }
        }
        // The new button is an arm with a relative difference; the baseline has none.
        assert_eq!(got[0]["relativeDifferences"], json!([]));
        assert_eq!(got[1]["relativeDifferences"].as_array().unwrap().len(), 1);
    }
    // 13 % against 10 % of 1000 units: the new button is very likely the best.
    let (_, got) = get(&server, &results).await;
    let p_best = got["treatmentResults"][1]["pBest"].as_f64().unwrap();
    assert!(p_best > 0.95 && p_best < 1.0, "{p_best}");
    let total: f64 = got["treatmentResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pBest"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    assert_eq!(got["treatmentResults"][0]["units"], 1000);

    // A metric the iteration does not measure, and statistics that miss a treatment.
    let (status, body) = get(&server, &format!("{BASE}/{KEY}/metrics/signup/results")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
    let mut missing = statistics(130);
    missing["variants"][1]["name"] = json!("other");
    let (status, body) = upload(&server, &missing).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("New button"), "{body}");
    let mut impossible = statistics(130);
    impossible["metrics"][0]["data"]["new"]["successes"] = json!(2000);
    let (status, body) = upload(&server, &impossible).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("statistics: "), "{body}");
    let (status, body) = upload(&server, &json!({"variants": []})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("control"), "{body}");
}

#[tokio::test]
async fn a_stopped_iteration_keeps_its_results() {
    let (server, treatments) = started().await;
    let (status, _) = upload(&server, &statistics(130)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let results = format!("{BASE}/{KEY}/metrics/purchase/results");
    let (_, before) = get(&server, &results).await;
    let (_, shown) = get(&server, &format!("{BASE}/{KEY}")).await;
    let first = shown["currentIteration"]["_id"].as_str().unwrap().to_owned();

    let stop = json!([{"kind": "stopIteration", "winningTreatmentId": treatments[1]["_id"], "winningReason": "clear"}]);
    let (status, body) = instruct(&server, KEY, stop).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // More data arrives: new statistics are refused, exposures are logged.
    let (status, body) = upload(&server, &statistics(200)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "conflict");
    for unit in 0..50 {
        let response = server
            .client
            .post(server.url("/ofrep/v1/evaluate/flags/checkout"))
            .header("x-flagstone-namespace", "my-project/my-environment")
            .json(&json!({"context": {"targetingKey": format!("user-{unit}")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let (_, after) = get(&server, &results).await;
    assert_eq!(after, before);

    // A new iteration starts with no data; the stopped one is still asked by id.
    let (status, body) =
        post(&server, &format!("{BASE}/{KEY}/iterations"), &experiment()["iteration"]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = instruct(&server, KEY, json!([{"kind": "startIteration"}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, fresh) = get(&server, &results).await;
    assert_eq!(fresh["metricSeen"], json!({"ever": false}));
    let (_, old) = get(&server, &format!("{results}?iterationId={first}")).await;
    assert_eq!(old["treatmentResults"], before["treatmentResults"]);
    assert_eq!(old["metricSeen"], before["metricSeen"]);
    let (status, body) = get(&server, &format!("{results}?iterationId=nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

async fn evaluate(server: &TestServer, unit: &str) -> Value {
    let response = server
        .client
        .post(server.url("/ofrep/v1/evaluate/flags/checkout"))
        .header("x-flagstone-namespace", "my-project/my-environment")
        .json(&json!({"context": {"targetingKey": unit}}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn purchases(server: &TestServer, units: impl Iterator<Item = String>) {
    let events: Vec<Value> =
        units.map(|unit| json!({"unit": unit, "metric": "purchase", "value": 1})).collect();
    let response = server
        .client
        .post(server.url("/v1/events:batch"))
        .header("x-flagstone-namespace", "my-project/my-environment")
        .json(&json!({"events": events}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn results_from_the_servers_logs_stop_at_the_stop() {
    let (server, treatments) = started().await;
    let (_, shown) = get(&server, &format!("{BASE}/{KEY}")).await;
    let started_at = shown["currentIteration"]["startedAt"].as_i64().unwrap();
    let unit = |i: usize| format!("user-{i}");
    let mut per_variant = std::collections::BTreeMap::<String, u64>::new();
    for i in 0..300 {
        let answer = evaluate(&server, &unit(i)).await;
        *per_variant.entry(answer["variant"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(per_variant.len(), 2, "{per_variant:?}");
    purchases(&server, (0..300).filter(|i| i % 3 == 0).map(unit)).await;

    let results = format!("{BASE}/{KEY}/metrics/purchase/results");
    let (status, before) = get(&server, &results).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["metricSeen"]["ever"], true, "{before}");
    let got = before["treatmentResults"].as_array().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["treatmentId"], treatments[0]["_id"]);
    assert_eq!(got[0]["units"], per_variant["control"]);
    assert_eq!(got[1]["units"], per_variant["new"]);

    // The same statistics by the warehouse from the server's files, analysed as the CLI does.
    let window = flagstone_warehouse::Window {
        start: Some(jiff::Timestamp::from_millisecond(started_at).unwrap()),
        end: None,
    };
    let options = flagstone_warehouse::Options {
        flag: Some("flags/checkout".into()),
        metrics: vec!["purchase".into()],
        window,
    };
    let dir = server.dir.path();
    let request = flagstone_warehouse::aggregate_jsonl(
        &dir.join("exposures/my-project/my-environment.jsonl"),
        &dir.join("events/my-project/my-environment.jsonl"),
        &options,
    )
    .unwrap();
    let expected = analyzed(&serde_json::to_value(&request).unwrap(), "purchase");
    for (r, e) in got.iter().zip(expected.as_array().unwrap()) {
        for field in ["mean", "credibleInterval", "pBest", "units"] {
            assert_eq!(r[field], e[field], "{field}");
        }
    }

    let stop = json!([{"kind": "stopIteration"}]);
    let (status, body) = instruct(&server, KEY, stop).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, stopped) = get(&server, &results).await;
    // More purchases and evaluations after the stop change nothing.
    purchases(&server, (0..300).map(unit)).await;
    for i in 300..350 {
        evaluate(&server, &unit(i)).await;
    }
    let (_, after) = get(&server, &results).await;
    assert_eq!(after, stopped);
    assert_eq!(after["treatmentResults"][0]["units"], per_variant["control"]);
}
