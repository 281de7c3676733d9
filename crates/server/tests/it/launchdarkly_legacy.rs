//! LaunchDarkly legacy experiments: the document's JSON Patch examples on
//! `PATCH /api/v2/flags/{projKey}/{flagKey}` verbatim, the legacy results
//! (`totals`, `series`, `stats`) and their reset.

use crate::launchdarkly::{data, flag, keys};
use crate::support::{TestServer, json_of};
use flagstone_stats::Method;
use flagstone_stats::analysis::{AnalysisRequest, analyze};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FLAG: &str = "/api/v2/flags/my-project/example-flag";

async fn server() -> TestServer {
    let server = TestServer::start().await;
    for env in ["production", "staging"] {
        let config = json!({"flags": [flag("example-flag", &["treatment"])]});
        let path = format!("/v1/namespaces/my-project/{env}/config");
        let (status, body) = json_of(server.put(&path, &config).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    server
}

async fn patch_flag(server: &TestServer, body: &Value) -> (StatusCode, Value) {
    let response = server
        .client
        .patch(server.url(FLAG))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    json_of(response).await
}

async fn results(server: &TestServer, env: &str, query: &str) -> (StatusCode, Value) {
    let path = format!("{FLAG}/experiments/{env}/example-metric{query}");
    json_of(server.get(&path).await).await
}

#[tokio::test]
async fn the_documents_legacy_patch_examples() {
    let server = server().await;
    let (status, body) = patch_flag(&server, &data("legacy-add-experiment.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"], "example-flag");
    assert_eq!(
        body["experiments"],
        json!({"baselineIdx": 0, "items": [{"metricKey": "example-metric", "environments": []}]})
    );
    assert_eq!(
        body["variations"],
        json!([{"_id": "control", "value": "control"}, {"_id": "treatment", "value": "treatment"}])
    );
    assert_eq!(body["_links"]["self"]["href"], FLAG);

    let (status, body) = patch_flag(&server, &data("legacy-add-environment.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["experiments"]["items"][0]["environments"], json!(["production"]));
    // Recording in production: results exist there (no data yet).
    let (status, got) = results(&server, "production", "").await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["granularity"], "day");
    assert_eq!(got["metricSeen"], json!({"ever": false}));
    assert_eq!(got["metadata"], json!([{"key": "control"}, {"key": "treatment"}]));
    assert_eq!(got["series"], json!([]));

    let (status, body) = patch_flag(&server, &data("legacy-baseline.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["experiments"]["baselineIdx"], 1);

    let (status, body) = patch_flag(&server, &data("legacy-remove-environment.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["experiments"]["items"][0]["environments"], json!([]));

    // The flag's experiments are project-wide: staging holds the same document.
    let (status, _) = results(&server, "staging", "").await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = patch_flag(&server, &data("legacy-remove-experiment.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["experiments"], json!({"baselineIdx": 1, "items": []}));
    let (status, got) = results(&server, "staging", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{got}");
    assert_eq!(got["code"], "not_found");

    // Bad patches change nothing and name the operation.
    let (status, body) = patch_flag(&server, &data("legacy-remove-experiment.json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("patch[0]"), "{body}");
    let (status, body) =
        patch_flag(&server, &json!([{"op": "replace", "path": "/name", "value": "x"}])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("/experiments"), "{body}");
    let (status, body) = patch_flag(
        &server,
        &json!([{"op": "replace", "path": "/experiments/baselineIdx", "value": 2}]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("baselineIdx"), "{body}");
    let (status, body) = patch_flag(
        &server,
        &json!([{"op": "add", "path": "/experiments/items/0", "value": {"metricKey": "m", "colour": "red"}}]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("experiments.items[0]"), "{body}");
    let response = server
        .client
        .patch(server.url("/api/v2/flags/my-project/missing"))
        .json(&data("legacy-add-experiment.json"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
}

/// The Physicians' Health Study table (Steering Committee of the Physicians'
/// Health Study Research Group, "Final report on the aspirin component of
/// the ongoing Physicians' Health Study", N Engl J Med 1989;321:129–135), a
/// standard textbook 2 × 2 example of Pearson's χ² (Agresti, "An
/// Introduction to Categorical Data Analysis", uses it throughout):
/// myocardial infarction in 189 of 11,034 physicians on placebo and 104 of
/// 11,037 on aspirin. Pearson's X² = Σ (O − E) ² / E = 25.01 with 1 degree
/// of freedom, so P(χ²₁ ≥ 25.01) = erfc(√(25.01 / 2)) = 5.69 × 10⁻⁷.
fn physicians_health_study() -> Value {
    json!({
        "control": "control",
        "variants": [
            {"name": "control", "expectedShare": 1, "units": 11034},
            {"name": "treatment", "expectedShare": 1, "units": 11037}],
        "metrics": [{"id": "example-metric", "type": "binary", "data": {
            "control": {"n": 11034, "successes": 189},
            "treatment": {"n": 11037, "successes": 104}}}]
    })
}

#[tokio::test]
async fn legacy_stats_are_pearsons_chi_squared_on_a_published_table() {
    let server = server().await;
    patch_flag(&server, &data("legacy-add-experiment.json")).await;
    patch_flag(&server, &data("legacy-add-environment.json")).await;
    let upload = format!("{FLAG}/experiments/production/example-metric/statistics");
    let (status, body) = json_of(server.put(&upload, &physicians_health_study()).await).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (status, got) = results(&server, "production", "").await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let stats = &got["stats"];
    let chi2 = stats["chi2"].as_f64().unwrap();
    assert!((chi2 - 25.01).abs() < 0.005, "{chi2}");
    let p = stats["pValue"].as_f64().unwrap();
    assert!((p - 5.69e-7).abs() < 0.01e-7, "{p}");
    assert_eq!(stats["winningVariationIdx"], 0);
    assert_eq!(stats["minSampleSizeMet"], true);

    // Per variation: counts, the rate and its Wald interval p ± 1.959964·√(p(1 − p)/n).
    let totals = got["totals"].as_array().unwrap();
    assert_eq!(totals.len(), 2);
    for (row, (n, x)) in totals.iter().zip([(11034.0, 189.0), (11037.0, 104.0)]) {
        assert_eq!(row["cumulativeImpressionCount"], n as u64);
        assert_eq!(row["cumulativeCount"], x);
        assert_eq!(row["cumulativeValue"], x);
        let rate: f64 = x / n;
        assert!((row["cumulativeConversionRate"].as_f64().unwrap() - rate).abs() < 1e-15);
        let half = 1.959_963_984_540_054 * (rate * (1.0 - rate) / n).sqrt();
        let ci = &row["cumulativeConfidenceInterval"];
        assert!((ci["lower"].as_f64().unwrap() - (rate - half)).abs() < 1e-12, "{ci}");
        assert!((ci["upper"].as_f64().unwrap() - (rate + half)).abs() < 1e-12, "{ci}");
    }
    assert_eq!(totals[0]["pValue"], Value::Null);
    assert_eq!(totals[1]["pValue"], stats["pValue"]);
    // Aspirin's relative change: 104/11037 over 189/11034, minus one (a relative risk of 0.55).
    let improvement = totals[1]["improvement"].as_f64().unwrap();
    assert!((improvement - ((104.0 / 11037.0) / (189.0 / 11034.0) - 1.0)).abs() < 1e-12);
    let needed = totals[1]["minSampleSize"].as_f64().unwrap();
    assert!(needed > 1000.0 && needed < 11034.0, "{needed}");
    assert!(got["metricSeen"]["timestamp"].as_i64().is_some());

    // The same numbers as `flagstone analyze` with the chi-squared method.
    let mut request: AnalysisRequest = serde_json::from_value(physicians_health_study()).unwrap();
    request.method = Method::ChiSquared;
    let result = analyze(&request).unwrap();
    let comparison = &result.results[0].comparisons[0];
    assert_eq!(comparison.statistic, Some(chi2));
    assert_eq!(comparison.p_value, Some(p));
    assert_eq!(comparison.relative.estimate, Some(improvement));

    // The reset deletes the data; the experiment stays.
    let reset = format!("{FLAG}/experiments/production/example-metric/results");
    let response = server.client.delete(server.url(&reset)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, got) = results(&server, "production", "").await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["totals"], json!([]));
    assert_eq!(got["metricSeen"], json!({"ever": false}));
    let (status, body) = patch_flag(&server, &json!([{"op": "test", "path": "/experiments/items/0/metricKey", "value": "example-metric"}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn evaluate(server: &TestServer, unit: &str) -> String {
    let response = server
        .client
        .post(server.url("/ofrep/v1/evaluate/flags/example-flag"))
        .header("x-flagstone-namespace", "my-project/production")
        .json(&json!({"context": {"targetingKey": unit}}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["variant"].as_str().unwrap().to_owned()
}

async fn convert(server: &TestServer, units: &[String]) {
    let events: Vec<Value> =
        units.iter().map(|u| json!({"unit": u, "metric": "example-metric", "value": 1})).collect();
    let response = server
        .client
        .post(server.url("/v1/events:batch"))
        .header("x-flagstone-namespace", "my-project/production")
        .json(&json!({"events": events}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

#[tokio::test]
async fn legacy_results_from_the_logs_follow_recording_and_reset() {
    let server = TestServer::start().await;
    // A flag that splits everyone 50/50 between control and treatment.
    let split = json!({
        "segments": [{"name": "segments/everyone"}],
        "flags": [{
            "name": "flags/example-flag",
            "variants": [
                {"name": "flags/example-flag/variants/control", "value": "control"},
                {"name": "flags/example-flag/variants/treatment", "value": "treatment"}],
            "rules": [{"name": "flags/example-flag/rules/split", "segment": "segments/everyone",
                "assignmentSpec": {"bucketCount": 2, "assignments": [
                    {"assignmentId": "control", "variant": {"variant": "control"}, "bucketRanges": [{"lower": 0, "upper": 1}]},
                    {"assignmentId": "treatment", "variant": {"variant": "treatment"}, "bucketRanges": [{"lower": 1, "upper": 2}]}]}}]
        }]
    });
    let (status, body) =
        json_of(server.put("/v1/namespaces/my-project/production/config", &split).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Before the experiment records, nothing counts.
    evaluate(&server, "early").await;
    patch_flag(&server, &data("legacy-add-experiment.json")).await;
    patch_flag(&server, &data("legacy-add-environment.json")).await;
    let mut units = Vec::new();
    let mut control = 0u64;
    for i in 0..120 {
        let unit = format!("user-{i}");
        if evaluate(&server, &unit).await == "control" {
            control += 1;
        }
        units.push(unit);
    }
    let converted: Vec<String> = units.iter().step_by(3).cloned().collect();
    convert(&server, &converted).await;

    let (status, got) = results(&server, "production", "").await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let totals = got["totals"].as_array().unwrap();
    assert_eq!(totals[0]["cumulativeImpressionCount"], control);
    assert_eq!(totals[1]["cumulativeImpressionCount"], 120 - control);
    let conversions = totals[0]["cumulativeCount"].as_f64().unwrap()
        + totals[1]["cumulativeCount"].as_f64().unwrap();
    assert_eq!(conversions, 40.0);
    assert_eq!(got["metricSeen"]["ever"], true);
    assert_eq!(
        keys(&got),
        ["_links", "granularity", "metadata", "metricSeen", "series", "stats", "totals"]
    );
    assert_eq!(
        keys(&totals[0]),
        [
            "cumulativeConfidenceInterval",
            "cumulativeConversionRate",
            "cumulativeCount",
            "cumulativeImpressionCount",
            "cumulativeValue",
            "improvement",
            "minSampleSize",
            "pValue"
        ]
    );
    assert_eq!(keys(&got["stats"]), ["chi2", "minSampleSizeMet", "pValue", "winningVariationIdx"]);
    // One day: one bucket, whose cumulative numbers are the totals.
    let series = got["series"].as_array().unwrap();
    assert_eq!(keys(&series[0]), ["Time", "VariationData"]);
    assert_eq!(
        keys(&series[0]["VariationData"][0]),
        [
            "confidenceInterval",
            "conversionRate",
            "count",
            "cumulativeConfidenceInterval",
            "cumulativeConversionRate",
            "cumulativeCount",
            "cumulativeValue",
            "value"
        ]
    );
    assert_eq!(series.len(), 1);
    let day = series[0]["Time"].as_i64().unwrap();
    assert_eq!(day % 86_400_000, 0);
    for (v, t) in series[0]["VariationData"].as_array().unwrap().iter().zip(totals) {
        assert_eq!(v["cumulativeCount"], t["cumulativeCount"]);
        assert_eq!(v["count"], t["cumulativeCount"]);
        assert_eq!(v["cumulativeConversionRate"], t["cumulativeConversionRate"]);
    }
    let (_, hourly) = results(&server, "production", "?granularity=hour").await;
    assert_eq!(hourly["granularity"], "hour");
    assert_eq!(hourly["totals"], got["totals"]);
    let (status, body) = results(&server, "production", "?granularity=fortnight").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The stats agree with `flagstone analyze` (chi-squared) on the warehouse's aggregation of
    // the same logs from the first recorded exposure on (the early unit's is left out).
    let dir = server.dir.path();
    let exposures = dir.join("exposures/my-project/production.jsonl");
    let lines: Vec<Value> = std::fs::read_to_string(&exposures)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 121);
    assert_eq!(lines[0]["unit"], "early");
    let options = flagstone_warehouse::Options {
        flag: Some("flags/example-flag".into()),
        metrics: vec!["example-metric".into()],
        window: flagstone_warehouse::Window {
            start: Some(lines[1]["time"].as_str().unwrap().parse().unwrap()),
            end: None,
        },
    };
    let mut request = flagstone_warehouse::aggregate_jsonl(
        &exposures,
        &dir.join("events/my-project/production.jsonl"),
        &options,
    )
    .unwrap();
    request.method = Method::ChiSquared;
    let result = analyze(&request).unwrap();
    let comparison = &result.results[0].comparisons[0];
    assert_eq!(got["stats"]["chi2"].as_f64(), comparison.statistic);
    assert_eq!(totals[1]["pValue"].as_f64(), comparison.p_value);

    // Stop recording: later data does not count; reset: earlier data does not either.
    patch_flag(&server, &data("legacy-remove-environment.json")).await;
    convert(&server, &units).await;
    let (_, after) = results(&server, "production", "").await;
    assert_eq!(after["totals"], got["totals"]);
    let reset = format!("{FLAG}/experiments/production/example-metric/results");
    let response = server.client.delete(server.url(&reset)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, cleared) = results(&server, "production", "").await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["totals"], json!([]));
}
