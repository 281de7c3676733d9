//! The analysis report page of a Confidence instance and of a LaunchDarkly
//! experiment: byte for byte `flagstone_report::render_html` of the request
//! the results analyse, self-contained; and log-based results computed once
//! per data watermark (observed through the server's `/metrics` counters).

use crate::confidence::Confidence;
use crate::launchdarkly::{BASE, flag, get, instruct, post, server_with};
use crate::support::{TestServer, json_of};
use flagstone_report::{ReportOptions, render_html};
use flagstone_stats::Method as StatsMethod;
use flagstone_stats::analysis::{AnalysisRequest, analyze};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const HTML: &str = "text/html; charset=utf-8";
/// What Chromium sends when a user opens a link.
const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

fn page_of(request: &AnalysisRequest, title: &str, subtitle: &str) -> String {
    let result = analyze(request).unwrap();
    let options = ReportOptions { title: title.to_owned(), subtitle: Some(subtitle.to_owned()) };
    render_html(request, &result, &options)
}

/// The page holds every name it should and loads nothing from anywhere.
fn self_contained(page: &str, names: &[&str]) {
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    for name in names {
        assert!(page.contains(name), "{name} is not on the page");
    }
    // The only URL is the SVG namespace.
    let urls = page.matches("http").count();
    let svg = page.matches("http://www.w3.org/2000/svg").count();
    assert_eq!(urls, svg, "a URL other than the SVG namespace");
    for attribute in ["src=", "href=\"http", "@import", "url("] {
        assert!(!page.contains(attribute), "{attribute} on the page");
    }
}

async fn text_of(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

impl Confidence {
    async fn page(
        &self,
        path: &str,
        accept: Option<&str>,
        token: bool,
    ) -> (StatusCode, String, String) {
        let mut request = self.server.client.get(self.server.url(path));
        if token {
            request = request.header("authorization", format!("Bearer {}", self.token));
        }
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        text_of(request.send().await.unwrap()).await
    }
}

fn confidence_inputs() -> Value {
    json!({
        "control": "enabled",
        "variants": [{"name": "disabled", "expectedShare": 1, "units": 20000},
                     {"name": "enabled", "expectedShare": 1, "units": 20000}],
        "metrics": [
            {"id": "conversion-rate", "type": "binary", "data": {
                "disabled": {"n": 20000, "successes": 2000}, "enabled": {"n": 20000, "successes": 2300}}},
            {"id": "latency", "type": "mean", "data": {
                "disabled": {"n": 20000, "sum": 2000000.0, "sumSquares": 250000000.0},
                "enabled": {"n": 20000, "sum": 1990000.0, "sumSquares": 247000000.0}}}
        ]
    })
}

#[tokio::test]
async fn a_confidence_result_is_served_as_the_report_page() {
    let c = Confidence::start().await;
    let body = json!({
        "displayName": "Search <ranking> test",
        "abtest": {"flag": "flags/search-flag", "treatments": [
            {"variant": "flags/search-flag/variants/disabled", "baseline": true},
            {"variant": "flags/search-flag/variants/enabled"}]},
        "flags": {"targetingKeySelector": "targeting_key"}
    });
    let (status, created) = c.post("/v1/workflows/abtest/instances", Some(&body.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let instance = created["name"].as_str().unwrap().to_owned();
    let result = created["stats"]["analysisResult"].as_str().unwrap().to_owned();
    let title = "A/B test: Search <ranking> test";

    // Before any data: a page that says so.
    let (status, content_type, empty) =
        c.page(&format!("/v2/{result}"), Some(BROWSER_ACCEPT), true).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, HTML));
    assert!(empty.contains("No data yet."), "{empty}");
    assert!(empty.contains("Search &lt;ranking&gt; test"), "{empty}");

    let inputs = confidence_inputs();
    let (status, _) = c
        .send(Method::PUT, &format!("/v1/{instance}/analysisInputs"), Some(&inputs.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, content_type, page) =
        c.page(&format!("/v2/{result}"), Some(BROWSER_ACCEPT), true).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, HTML), "{page}");
    // What the JSON results analyse: the inputs with the baseline treatment as control.
    let mut request: AnalysisRequest = serde_json::from_value(inputs).unwrap();
    request.control = "disabled".into();
    let subtitle = format!(
        "A/B test {instance} of flags/search-flag · {result}, from uploaded analysis inputs"
    );
    assert_eq!(page, page_of(&request, title, &subtitle));
    self_contained(&page, &["conversion-rate", "latency", "disabled", "enabled"]);

    // The AIP-136 custom method gives the same page whatever the Accept header.
    let (status, content_type, suffixed) =
        c.page(&format!("/v2/{result}:report"), None, true).await;
    assert_eq!(
        (status, content_type.as_str(), suffixed.as_str()),
        (StatusCode::OK, HTML, page.as_str())
    );
    let (status, _, v1) = c.page(&format!("/v1/{result}:report"), None, true).await;
    assert_eq!((status, v1.as_str()), (StatusCode::OK, page.as_str()));
    // JSON stays the default, and what asks for it gets it.
    for accept in [None, Some("application/json"), Some("*/*")] {
        let (status, content_type, text) = c.page(&format!("/v2/{result}"), accept, true).await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("application/json"), "{accept:?}: {content_type}");
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["control"], "disabled");
    }
    // Caches keep the two apart.
    for accept in ["application/json", BROWSER_ACCEPT] {
        let response = c
            .server
            .client
            .get(c.server.url(&format!("/v2/{result}")))
            .header("authorization", format!("Bearer {}", c.token))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["vary"], "accept", "{accept}");
    }
    // The same auth as the JSON results, and the same 404 for another result.
    let (status, content_type, text) =
        c.page(&format!("/v2/{result}:report"), Some(BROWSER_ACCEPT), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let (status, _, text) =
        c.page(&format!("/v2/{instance}/analysisResults/other:report"), None, true).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
}

const KEY: &str = "checkout-test";
const REPORT: &str =
    "/api/v2/projects/my-project/environments/my-environment/experiments/checkout-test/report";

fn experiment() -> Value {
    json!({"name": "Checkout <button>", "key": KEY, "iteration": {
        "hypothesis": "The new button sells more",
        "metrics": [{"key": "purchase", "primary": true}, {"key": "revenue", "primary": false}],
        "treatments": [
            {"name": "Old button", "baseline": true, "allocationPercent": "50",
             "parameters": [{"flagKey": "checkout", "variationId": "control"}]},
            {"name": "New button", "baseline": false, "allocationPercent": "50",
             "parameters": [{"flagKey": "checkout", "variationId": "new"}]}],
        "flags": {"checkout": {"ruleId": "fallthrough", "flagConfigVersion": 1}}}})
}

async fn started() -> (TestServer, String) {
    let server = server_with(vec![flag("checkout", &["new"])]).await;
    let (status, created) = post(&server, BASE, &experiment()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, body) = instruct(&server, KEY, json!([{"kind": "startIteration"}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let iteration = body["currentIteration"]["_id"].as_str().unwrap().to_owned();
    (server, iteration)
}

/// What the results analyse for `metrics`: the Bayesian method, treatments in
/// order with their allocation as share, shown by treatment name.
fn as_experiment(mut request: AnalysisRequest, metrics: &[&str]) -> AnalysisRequest {
    request.method = StatsMethod::Bayesian;
    request.metrics.retain(|m| metrics.contains(&m.id.as_str()));
    let rename = |name: &str| match name {
        "control" => "Old button".to_owned(),
        "new" => "New button".to_owned(),
        other => other.to_owned(),
    };
    for v in &mut request.variants {
        v.name = rename(&v.name);
        v.expected_share = 50.0;
    }
    request.variants.sort_by_key(|v| v.name != "Old button");
    request.control = "Old button".into();
    for m in &mut request.metrics {
        m.data = std::mem::take(&mut m.data).into_iter().map(|(k, v)| (rename(&k), v)).collect();
    }
    request
}

async fn page(server: &TestServer, path: &str) -> (StatusCode, String, String) {
    text_of(server.get(path).await).await
}

#[tokio::test]
async fn a_launchdarkly_experiment_has_a_report_page() {
    let (server, iteration) = started().await;
    let title = "Experiment: Checkout <button>";
    let (status, content_type, empty) = page(&server, REPORT).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, HTML), "{empty}");
    assert!(empty.contains("No data yet."), "{empty}");

    let statistics = json!({
        "control": "control",
        "variants": [{"name": "control", "expectedShare": 1, "units": 1000},
                     {"name": "new", "expectedShare": 1, "units": 1000}],
        "metrics": [
            {"id": "purchase", "type": "binary", "data": {
                "control": {"n": 1000, "successes": 100}, "new": {"n": 1000, "successes": 130}}},
            {"id": "revenue", "type": "mean", "data": {
                "control": {"n": 1000, "sum": 5000.0, "sumSquares": 40000.0},
                "new": {"n": 1000, "sum": 5400.0, "sumSquares": 45000.0}}}]
    });
    let response = server.put(&format!("{BASE}/{KEY}/statistics"), &statistics).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, content_type, got) = page(&server, REPORT).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, HTML), "{got}");
    let request =
        as_experiment(serde_json::from_value(statistics).unwrap(), &["purchase", "revenue"]);
    let subtitle = format!(
        "Experiment {KEY} · iteration {iteration} of flags/checkout, from uploaded statistics"
    );
    assert_eq!(got, page_of(&request, title, &subtitle));
    self_contained(&got, &["purchase", "revenue", "Old button", "New button"]);
    assert!(got.contains("Checkout &lt;button&gt;") && !got.contains("<button>"));
    // The iteration by id is the same page; unknown ones and parameters are refused.
    let (status, _, by_id) = page(&server, &format!("{REPORT}?iterationId={iteration}")).await;
    assert_eq!((status, by_id.as_str()), (StatusCode::OK, got.as_str()));
    let (status, body) = get(&server, &format!("{REPORT}?iterationId=nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = get(&server, &format!("{REPORT}?metric=purchase")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("metric: "), "{body}");
    let (status, body) = get(&server, &format!("{BASE}/nope/report")).await;
    assert_eq!((status, &body["code"]), (StatusCode::NOT_FOUND, &json!("not_found")));
}

/// The counter `name` of the server's `/metrics`.
async fn counter(server: &TestServer, name: &str) -> u64 {
    let text = server.get("/metrics").await.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn evaluate(server: &TestServer, unit: &str) {
    let response = server
        .client
        .post(server.url("/ofrep/v1/evaluate/flags/checkout"))
        .header("x-flagstone-namespace", "my-project/my-environment")
        .json(&json!({"context": {"targetingKey": unit}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
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

const READS: &str = "flagstone_results_log_reads_total";
const HITS: &str = "flagstone_results_cache_hits_total";

#[tokio::test]
async fn log_based_results_are_read_once_per_watermark() {
    let (server, iteration) = started().await;
    let unit = |i: usize| format!("user-{i}");
    for i in 0..200 {
        evaluate(&server, &unit(i)).await;
    }
    purchases(&server, (0..200).filter(|i| i % 4 == 0).map(unit)).await;
    let purchase = format!("{BASE}/{KEY}/metrics/purchase/results");
    let revenue = format!("{BASE}/{KEY}/metrics/revenue/results");
    let (reads, hits) = (counter(&server, READS).await, counter(&server, HITS).await);

    let (status, first) = get(&server, &purchase).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["metricSeen"]["ever"], true, "{first}");
    assert_eq!(counter(&server, READS).await, reads + 1);
    // Again, another metric of the iteration, and its page: no new data, no new read.
    let (_, again) = get(&server, &purchase).await;
    assert_eq!(again, first);
    let (_, unseen) = get(&server, &revenue).await;
    assert_eq!(unseen["metricSeen"], json!({"ever": false}));
    let (status, _, report) = page(&server, REPORT).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counter(&server, READS).await, reads + 1);
    assert_eq!(counter(&server, HITS).await, hits + 3);

    // The page is that of the warehouse's own reading of the server's files.
    let (_, shown) = get(&server, &format!("{BASE}/{KEY}")).await;
    let started_at = shown["currentIteration"]["startedAt"].as_i64().unwrap();
    let uncached = || {
        let options = flagstone_warehouse::Options {
            flag: Some("flags/checkout".into()),
            metrics: vec!["purchase".into()],
            window: flagstone_warehouse::Window {
                start: Some(jiff::Timestamp::from_millisecond(started_at).unwrap()),
                end: None,
            },
        };
        let dir = server.dir.path();
        flagstone_warehouse::aggregate_jsonl(
            &dir.join("exposures/my-project/my-environment.jsonl"),
            &dir.join("events/my-project/my-environment.jsonl"),
            &options,
        )
        .unwrap()
    };
    let subtitle = format!(
        "Experiment {KEY} · iteration {iteration} of flags/checkout, from the server's exposure and event logs"
    );
    let expected = page_of(
        &as_experiment(uncached(), &["purchase"]),
        "Experiment: Checkout <button>",
        &subtitle,
    );
    assert_eq!(report, expected);
    self_contained(&report, &["purchase", "Old button", "New button"]);

    // New events: read again, and the answer moves.
    purchases(&server, (0..200).filter(|i| i % 4 == 1).map(unit)).await;
    let (_, after) = get(&server, &purchase).await;
    assert_eq!(counter(&server, READS).await, reads + 2);
    assert_ne!(after["treatmentResults"], first["treatmentResults"]);
    let (_, _, report) = page(&server, REPORT).await;
    assert_eq!(
        report,
        page_of(
            &as_experiment(uncached(), &["purchase"]),
            "Experiment: Checkout <button>",
            &subtitle
        )
    );
    assert_eq!(counter(&server, READS).await, reads + 2);
    // New exposures too.
    evaluate(&server, "someone-new").await;
    let (_, _) = get(&server, &purchase).await;
    assert_eq!(counter(&server, READS).await, reads + 3);
    // A config write (a new revision) recomputes, to the same numbers.
    let other = json!({"name": "flags/other", "variants": [{"name": "flags/other/variants/on", "value": true}]});
    let (status, body) =
        json_of(server.put("/v1/namespaces/my-project/my-environment/flags/other", &other).await)
            .await;
    assert!(status.is_success(), "{body}");
    let (_, same) = get(&server, &purchase).await;
    assert_eq!(counter(&server, READS).await, reads + 4);
    let (_, again) = get(&server, &purchase).await;
    assert_eq!(same, again);
    assert_eq!(counter(&server, READS).await, reads + 4);
}
