//! OFREP: single and bulk evaluation, keys with paths, errors, ETags, exposures and events.

use crate::support::{TestServer, example_context, json_of};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn single_flag_answers() {
    let server = TestServer::start().await;
    let context = example_context();

    let (status, body) = server.evaluate("dark-mode", &context).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"], "dark-mode");
    assert_eq!(body["value"], json!({"enabled": true, "palette": "midnight"}));
    assert_eq!(body["variant"], "on");
    assert_eq!(body["reason"], "TARGETING_MATCH");
    assert_eq!(body["metadata"]["flagstoneReason"], "MATCH");

    let (status, body) = server.evaluate("dark-mode.enabled", &context).await;
    assert_eq!((status, &body["value"]), (StatusCode::OK, &json!(true)), "{body}");
    let (_, body) = server.evaluate("dark-mode.palette", &context).await;
    assert_eq!(body["value"], "midnight");

    let (status, body) = server.evaluate("dark-mode.enabled.deeper", &context).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "TYPE_MISMATCH", "{body}");
    assert_eq!(body["key"], "dark-mode.enabled.deeper");
    let (status, body) = server.evaluate("dark-mode.nothing", &context).await;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("GENERAL")),
        "{body}"
    );

    let (status, body) = server.evaluate("no-such-flag", &context).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"key": "no-such-flag", "errorCode": "FLAG_NOT_FOUND", "errorDetails": "flag \"no-such-flag\" was not found"})
    );

    let (status, body) = server.evaluate("legacy-export", &context).await;
    assert_eq!((status, body["reason"].as_str()), (StatusCode::OK, Some("DISABLED")));
    assert!(body.get("value").is_none(), "archived: the code default applies");
    let (status, body) = server.evaluate("new-checkout", &context).await;
    assert_eq!((status, body["reason"].as_str()), (StatusCode::OK, Some("DEFAULT")));
    // A path into a flag that gave no value: still the code default, not an error.
    let (status, body) = server.evaluate("new-checkout.enabled", &context).await;
    assert_eq!((status, body["reason"].as_str()), (StatusCode::OK, Some("DEFAULT")), "{body}");

    // A flag id with a dot (CloudBees) is found whole before any path is split off.
    let (status, body) = server.evaluate("default.showTutorial", &context).await;
    assert_eq!((status, &body["value"]), (StatusCode::OK, &json!(true)), "{body}");

    let (status, body) = server
        .evaluate("search-ranking", &json!({"context": {"targetingKey": {"not": "a key"}}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "TARGETING_KEY_MISSING", "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_400_with_codes() {
    let server = TestServer::start().await;
    let url = server.url("/ofrep/v1/evaluate/flags/dark-mode");
    for (body, code) in [
        ("{", "PARSE_ERROR"),
        ("[]", "INVALID_CONTEXT"),
        ("{}", "INVALID_CONTEXT"),
        ("{\"context\": 3}", "INVALID_CONTEXT"),
    ] {
        let response = server.client.post(&url).body(body).send().await.unwrap();
        let (status, value) = json_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(value["errorCode"], code, "{body}: {value}");
        assert_eq!(value["key"], "dark-mode");
    }
    let response =
        server.client.post(server.url("/ofrep/v1/evaluate/flags")).body("{").send().await.unwrap();
    let (status, value) = json_of(response).await;
    assert_eq!(
        (status, value["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("PARSE_ERROR"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_with_etag_and_304() {
    let server = TestServer::start().await;
    let context = example_context();
    let bulk = server.url("/ofrep/v1/evaluate/flags");
    let first = server.client.post(&bulk).json(&context).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let body: serde_json::Value = first.json().await.unwrap();
    let keys: Vec<&str> =
        body["flags"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    assert!(keys.contains(&"dark-mode") && keys.contains(&"default.showTutorial"));
    assert_eq!(body["metadata"]["revision"], 1);

    let again = server.client.post(&bulk).json(&context).send().await.unwrap();
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag, "stable across identical requests");
    let cached = server
        .client
        .post(&bulk)
        .header("if-none-match", &etag)
        .json(&context)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()["etag"].to_str().unwrap(), etag);
    assert!(cached.text().await.unwrap().is_empty());

    let other = json!({"context": {"targetingKey": "someone-else"}});
    let response =
        server.client.post(&bulk).header("if-none-match", &etag).json(&other).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // A write moves the revision: the old tag no longer matches.
    let flag = crate::support::simple_flag("fresh", 1);
    let mut segment_ok = flag.clone();
    segment_ok["rules"][0]["segment"] = json!("segments/everyone");
    let (status, body) =
        json_of(server.put("/v1/namespaces/default/production/flags/fresh", &segment_ok).await)
            .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let response = server
        .client
        .post(&bulk)
        .header("if-none-match", &etag)
        .json(&context)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_ne!(response.headers()["etag"].to_str().unwrap(), etag);

    // Single-flag answers carry tags too.
    let url = server.url("/ofrep/v1/evaluate/flags/dark-mode");
    let one = server.client.post(&url).json(&context).send().await.unwrap();
    let tag = one.headers()["etag"].to_str().unwrap().to_owned();
    let cached =
        server.client.post(&url).header("if-none-match", &tag).json(&context).send().await.unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test(flavor = "multi_thread")]
async fn exposures_and_events_reach_their_logs() {
    let server = TestServer::start().await;
    let context = example_context();
    for _ in 0..3 {
        server.evaluate("search-ranking", &context).await;
    }
    server.evaluate("new-checkout", &context).await; // no rule decided: no exposure
    let events = json!({"events": [
        {"unit": "user-1234", "metric": "revenue", "value": 12.5, "time": "2026-12-01T10:00:00Z"},
        {"unit": "user-1234", "metric": "clicks", "value": 1}
    ]});
    let (status, body) = json_of(server.post("/v1/events:batch", &events).await).await;
    assert_eq!((status, &body["accepted"]), (StatusCode::ACCEPTED, &json!(2)), "{body}");
    let bad = json!({"events": [{"unit": "u", "metric": "m", "value": 1}, {"unit": "", "metric": "m", "value": 1, "time": "yesterday"}]});
    let (status, body) = json_of(server.post("/v1/events:batch", &bad).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let paths: Vec<&str> =
        body["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["events[1].unit", "events[1].time"]);

    let dir = server.stop().await;
    let exposures =
        std::fs::read_to_string(dir.path().join("exposures/default/production.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> =
        exposures.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{exposures}");
    assert!(lines.iter().all(|e| e["flag"] == "flags/search-ranking" && e["unit"] == "user-1234"));
    let events =
        std::fs::read_to_string(dir.path().join("events/default/production.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> =
        events.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        json!({"unit": "user-1234", "metric": "revenue", "value": 12.5, "time": "2026-12-01T10:00:00Z"})
    );
    assert!(lines[1]["time"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok());
}
