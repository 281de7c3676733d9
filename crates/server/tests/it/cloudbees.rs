//! The CloudBees experiments dialect: its documentation's requests verbatim
//! (only the host replaced), each common patch example, rejected patches, and
//! what the writes do to evaluation over OFREP.

use crate::support::{Options, TestServer, json_of, token_file};
use flagstone_server::Limits;
use flagstone_server::auth::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};

const APP: &str = "/public-api/applications/1a23bcd4e5fg6h7890i123j4/Production/experiments";
const NATIVE: &str = "/v1/namespaces/1a23bcd4e5fg6h7890i123j4/Production";
const NAMESPACE: &str = "1a23bcd4e5fg6h7890i123j4/Production";
const DOC_TOKEN: &str = "Bearer b0c17g9f-79f4-69da-cc45-67db602c10d6";

/// The documented create body, as the curl example sends it.
const CREATE_BODY: &str = r#"{"type":"experiment","apiVersion":"1.0","flag":"acmeFlagControl","name":"acmeExperimentFoo","description":"Applies foo to our Nifty App","enabled":true,"labels":"do-not-merge","stickinessProperty":"fixed"}"#;

/// The documented answer of "Get Experiment".
const GET_ONE_RESPONSE: &str = r#"{ "type": "experiment", "name": "acmeExperimentFoo", "description": "Applies foo to our Nifty App", "labels": "do-not-merge", "stickinessProperty": "fixed", "flag": "acmeFlagControl", "value": false }"#;

/// The documented answer of "Get Experiments".
const GET_ALL_RESPONSE: &str = r#"[ { "type": "experiment", "labels": "Default", "flag": "enableTutorial", "value": [ { "from": "2020-09-25T13:38:29.358Z", "percentage": 0, "option": true }, { "from": "2020-09-25T23:00:00.000Z", "percentage": 100, "option": true } ] }, { "type": "experiment", "labels": "Default", "flag": "titleColors", "availableValues": [ "Blue", "Yellow", "Green", "White" ], "value": [ { "percentage": 25, "option": "Blue" }, { "percentage": 25, "option": "Yellow" }, { "percentage": 25, "option": "Green" }, { "percentage": 25, "option": "White" } ] }, { "type": "experiment", "name": "following views again", "flag": "default.followingView", "conditions": [ { "version": { "operator": "semver-gte", "semver": "3.0.1" }, "group": { "name": [ "QA", "Beta Users" ] }, "value": true } ], "value": false }, { "type": "experiment", "name": "acmeExperimentFoo", "description": "Applies foo to our Nifty App", "labels": "do-not-merge", "stickinessProperty": "fixed", "flag": "acmeFlagControl", "value": false } ]"#;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = server
        .client
        .request(method, server.url(path))
        .header("accept", "application/json")
        .header("authorization", DOC_TOKEN);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    json_of(request.send().await.unwrap()).await
}

async fn put(server: &TestServer, body: &str) -> (StatusCode, Value) {
    send(server, reqwest::Method::PUT, APP, Some(body)).await
}

async fn get(server: &TestServer, path: &str) -> (StatusCode, Value) {
    send(server, reqwest::Method::GET, path, None).await
}

async fn patch(server: &TestServer, flag: &str, body: &str) -> (StatusCode, Value) {
    send(server, reqwest::Method::PATCH, &format!("{APP}/{flag}"), Some(body)).await
}

/// A target group of the test namespace, written over the native API.
async fn target_group(server: &TestServer, id: &str, conditions: Value) {
    let path = format!("{NATIVE}/targetGroups/{}", id.replace(' ', "%20"));
    let (status, body) = json_of(server.put(&path, &json!({"conditions": conditions})).await).await;
    assert!(status.is_success(), "{id}: {status} {body}");
}

/// The groups the documented experiments name, and the one the patch example names.
async fn groups(server: &TestServer) {
    target_group(server, "QA", json!([{"property": "qa", "operator": "is-true"}])).await;
    target_group(server, "Beta Users", json!([{"property": "beta", "operator": "is-true"}])).await;
    target_group(
        server,
        "internalEmployees",
        json!([{"property": "employee", "operator": "is-true"}]),
    )
    .await;
}

/// Evaluates a flag of the test namespace over OFREP.
async fn evaluate(server: &TestServer, key: &str, context: Value) -> (StatusCode, Value) {
    let mut context = context;
    context["targetingKey"] = json!("user-1");
    // Splits and schedules read the unit at the default stickiness property.
    context["rox.distinct_id"] = json!("user-1");
    let response = server
        .client
        .post(server.url(&format!("/ofrep/v1/evaluate/flags/{key}")))
        .header("x-flagstone-namespace", NAMESPACE)
        .json(&json!({"context": context}))
        .send()
        .await
        .unwrap();
    json_of(response).await
}

async fn value_of(server: &TestServer, key: &str, context: Value) -> Value {
    let (status, body) = evaluate(server, key, context).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.get("value").cloned().unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn create_then_get_one_as_documented() {
    let server = TestServer::start().await;
    let (status, created) = put(&server, CREATE_BODY).await;
    assert_eq!(status, StatusCode::OK, "{created}");

    let (status, got) = get(&server, &format!("{APP}/acmeFlagControl")).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got, created);
    let expected = parse(GET_ONE_RESPONSE);
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&got[key], value, "field {key}: {got}");
    }
    // The fields of the request that the documented answer does not show come back as written.
    let extra: Vec<&str> = got
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !expected.as_object().unwrap().contains_key(*k))
        .map(String::as_str)
        .collect();
    assert_eq!(extra, ["apiVersion", "enabled"], "{got}");

    assert_eq!(value_of(&server, "acmeFlagControl", json!({})).await, false);
    let (status, body) = get(&server, &format!("{APP}/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn get_all_lists_the_documented_experiments() {
    let server = TestServer::start().await;
    groups(&server).await;
    let expected = parse(GET_ALL_RESPONSE);
    for item in expected.as_array().unwrap() {
        let (status, body) = put(&server, &item.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // An experiment without a rule is stored and not listed.
    let (status, body) = put(&server, r#"{"flag": "bare", "availableValues": ["a", "b"]}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(get(&server, &format!("{APP}/bare")).await.0, StatusCode::OK);

    let (status, all) = get(&server, APP).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all, expected);

    // The documented experiments serve what they say.
    assert_eq!(value_of(&server, "enableTutorial", json!({})).await, true);
    let color = value_of(&server, "titleColors", json!({})).await;
    assert!(["Blue", "Yellow", "Green", "White"].contains(&color.as_str().unwrap()), "{color}");
    let qa = json!({"qa": true, "app_version": "3.1.0"});
    assert_eq!(value_of(&server, "default.followingView", qa).await, true);
    let old = json!({"qa": true, "app_version": "2.9.0"});
    assert_eq!(value_of(&server, "default.followingView", old).await, false);

    let (status, body) =
        get(&server, "/public-api/applications/nobody/Production/experiments").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stickiness_and_value_patches() {
    let server = TestServer::start().await;
    put(&server, CREATE_BODY).await;
    assert_eq!(value_of(&server, "acmeFlagControl", json!({})).await, false);

    let (status, body) = patch(
        &server,
        "acmeFlagControl",
        r#"[{"op": "replace", "path": "/stickinessProperty", "value": "groupId"}]"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stickinessProperty"], "groupId");

    // The documented request, as its curl example sends it.
    let (status, body) =
        patch(&server, "acmeFlagControl", r#"[{"op":"replace","path":"/value","value":true}]"#)
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, got) = get(&server, &format!("{APP}/acmeFlagControl")).await;
    assert_eq!(got["value"], true);
    assert_eq!(got["stickinessProperty"], "groupId");
    assert_eq!(value_of(&server, "acmeFlagControl", json!({})).await, true);
}

#[tokio::test(flavor = "multi_thread")]
async fn appending_a_group_condition() {
    let server = TestServer::start().await;
    groups(&server).await;
    let following = &parse(GET_ALL_RESPONSE)[2];
    put(&server, &following.to_string()).await;
    let employee = json!({"employee": true, "app_version": "1.0.0"});
    assert_eq!(value_of(&server, "default.followingView", employee.clone()).await, false);

    let (status, body) = patch(
        &server,
        "default.followingView",
        r#"[{"op": "add", "path": "/conditions/-", "value": {"group":{"operator": "or", "name": "internalEmployees"}, "value": true}}]"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let conditions = body["conditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 2);
    assert_eq!(
        conditions[1],
        json!({"group": {"operator": "or", "name": "internalEmployees"}, "value": true})
    );
    assert_eq!(value_of(&server, "default.followingView", employee).await, true);
    assert_eq!(value_of(&server, "default.followingView", json!({})).await, false);
}

#[tokio::test(flavor = "multi_thread")]
async fn appending_to_the_third_conditions_operand() {
    let server = TestServer::start().await;
    let avatar = json!({"type": "experiment", "flag": "avatar", "conditions": [
        {"property": {"name": "name", "operator": "eq", "operand": "Zuko"}, "value": false},
        {"property": {"name": "nation", "operator": "eq", "operand": "Fire"}, "value": false},
        {"property": {"name": "name", "operator": "in-array", "operand": ["Aang"]}, "value": true}
    ], "value": false});
    let (status, body) = put(&server, &avatar.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(value_of(&server, "avatar", json!({"name": "Katara"})).await, false);

    let (status, body) = patch(
        &server,
        "avatar",
        r#"[{"op": "add", "path": "/conditions/2/property/operand/-", "value": "Sokka"}, {"op": "add", "path": "/conditions/2/property/operand/-", "value": "Katara"}]"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["conditions"][2]["property"]["operand"], json!(["Aang", "Sokka", "Katara"]));
    assert_eq!(value_of(&server, "avatar", json!({"name": "Katara"})).await, true);
    assert_eq!(value_of(&server, "avatar", json!({"name": "Sokka"})).await, true);
    assert_eq!(value_of(&server, "avatar", json!({"name": "Toph"})).await, false);
}

#[tokio::test(flavor = "multi_thread")]
async fn adding_a_platform_as_the_document_writes_it() {
    let server = TestServer::start().await;
    let body = json!({"flag": "mobileBanner", "platforms": [{"name": "iOS", "value": true}], "value": true});
    put(&server, &body.to_string()).await;
    assert_eq!(value_of(&server, "mobileBanner", json!({"platform": "Android"})).await, true);

    let (status, body) = patch(
        &server,
        "mobileBanner",
        r#"[{"op": "add", "path": "/platforms/-", "value": [{"name": "Android", "value": false}]}]"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["platforms"],
        json!([{"name": "iOS", "value": true}, {"name": "Android", "value": false}])
    );
    assert_eq!(value_of(&server, "mobileBanner", json!({"platform": "Android"})).await, false);
    assert_eq!(value_of(&server, "mobileBanner", json!({"platform": "iOS"})).await, true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_patch_changes_nothing() {
    let server = TestServer::start().await;
    put(&server, CREATE_BODY).await;
    let one = format!("{APP}/acmeFlagControl");
    let (_, before) = get(&server, &one).await;
    let etag = |server: &TestServer| {
        let url = server.url(&one);
        let client = server.client.clone();
        async move { client.get(url).send().await.unwrap().headers()["etag"].clone() }
    };
    let tag = etag(&server).await;

    // A failing test: 400 naming its index; the replace before it is undone.
    let (status, body) = patch(
        &server,
        "acmeFlagControl",
        r#"[{"op": "replace", "path": "/value", "value": true}, {"op": "test", "path": "/name", "value": "other"}]"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "patch_failed");
    assert_eq!(body["operation"], 1);
    assert!(body["message"].as_str().unwrap().starts_with("patch[1] (test \"/name\")"), "{body}");

    // A pointer to nothing, and an operation that is not one.
    let (status, body) = patch(
        &server,
        "acmeFlagControl",
        r#"[{"op": "test", "path": "/name", "value": "acmeExperimentFoo"}, {"op": "add", "path": "/conditions/3/value", "value": true}]"#,
    )
    .await;
    assert_eq!((status, &body["operation"]), (StatusCode::BAD_REQUEST, &json!(1)), "{body}");
    let (status, body) =
        patch(&server, "acmeFlagControl", r#"[{"op": "frobnicate", "path": "/value"}]"#).await;
    assert_eq!((status, &body["operation"]), (StatusCode::BAD_REQUEST, &json!(0)), "{body}");
    let (status, body) = patch(&server, "acmeFlagControl", r#"{"op": "replace"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A patch that applies but breaks the experiment: every problem, nothing written.
    let (status, body) = patch(
        &server,
        "acmeFlagControl",
        r#"[{"op": "replace", "path": "/value", "value": "purple"}]"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "invalid");
    let problems = body["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["path"].as_str().unwrap().starts_with("experiments[0]")),
        "{body}"
    );
    let (status, body) = patch(
        &server,
        "acmeFlagControl",
        r#"[{"op": "replace", "path": "/flag", "value": "other"}]"#,
    )
    .await;
    assert_eq!((status, &body["code"]), (StatusCode::BAD_REQUEST, &json!("invalid")), "{body}");

    let (_, after) = get(&server, &one).await;
    assert_eq!(after, before);
    assert_eq!(etag(&server).await, tag);
    assert_eq!(value_of(&server, "acmeFlagControl", json!({})).await, false);

    // A stale If-Match is refused before the patch is applied.
    let response = server
        .client
        .patch(server.url(&one))
        .header("if-match", "\"999\"")
        .json(&json!([{"op": "replace", "path": "/value", "value": true}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    let (status, _) =
        patch(&server, "nope", r#"[{"op": "replace", "path": "/value", "value": true}]"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_removes_the_experiment() {
    let server = TestServer::start().await;
    put(&server, CREATE_BODY).await;
    let one = format!("{APP}/acmeFlagControl");
    let (status, body) = send(&server, reqwest::Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    assert_eq!(get(&server, &one).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&server, APP).await.1, json!([]));
    let (status, body) = evaluate(&server, "acmeFlagControl", json!({})).await;
    assert_eq!((status, &body["errorCode"]), (StatusCode::NOT_FOUND, &json!("FLAG_NOT_FOUND")));
    let (status, _) = send(&server, reqwest::Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An experiment another one depends on stays.
    put(&server, CREATE_BODY).await;
    let dependent = json!({"flag": "dependent", "conditions": [
        {"dependency": {"flag": "acmeFlagControl", "value": true}, "value": true}], "value": false});
    let (status, body) = put(&server, &dependent.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(&server, reqwest::Method::DELETE, &one, None).await;
    assert_eq!((status, &body["code"]), (StatusCode::BAD_REQUEST, &json!("invalid")), "{body}");
    assert_eq!(get(&server, &one).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_namespaces_and_rate_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, t) = token_file(
        dir.path(),
        &[
            ("reader", NAMESPACE, &[Scope::Read]),
            ("writer", NAMESPACE, &[Scope::Read, Scope::Write]),
            ("other", "shop/prod", &[Scope::Read, Scope::Write]),
        ],
    );
    let limits = Limits { rate_per_second: 1, rate_burst: 1, ..Limits::default() };
    let server = TestServer::with(Options {
        tokens: Some(tokens),
        limits,
        dir: Some(dir),
        ..Options::default()
    })
    .await;
    let put_as = |token: &str| {
        server
            .client
            .put(server.url(APP))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(CREATE_BODY)
    };
    assert_eq!(put_as(&t[1]).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(put_as(&t[0]).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(put_as(&t[2]).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let response = server.client.get(server.url(APP)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A second request within the second is over the reader's rate.
    let read = || server.client.get(server.url(APP)).bearer_auth(&t[0]).send();
    let first = read().await.unwrap();
    let second = if first.status() == StatusCode::OK { read().await.unwrap() } else { first };
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(second.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edge_replica_refuses_writes() {
    let upstream = TestServer::start().await;
    put(&upstream, CREATE_BODY).await;
    let follow = flagstone_server::Upstream {
        url: upstream.base.clone(),
        token: None,
        namespaces: vec![flagstone_server::NamespaceName::parse(NAMESPACE).unwrap()],
        wait: std::time::Duration::from_secs(2),
    };
    let edge =
        TestServer::with(Options { import: false, upstream: Some(follow), ..Options::default() })
            .await;
    let one = format!("{APP}/acmeFlagControl");
    assert_eq!(put(&edge, CREATE_BODY).await.0, StatusCode::METHOD_NOT_ALLOWED);
    let body = r#"[{"op": "replace", "path": "/value", "value": true}]"#;
    assert_eq!(patch(&edge, "acmeFlagControl", body).await.0, StatusCode::METHOD_NOT_ALLOWED);
    let deleted = send(&edge, reqwest::Method::DELETE, &one, None).await.0;
    assert_eq!(deleted, StatusCode::METHOD_NOT_ALLOWED);
    // Reads serve what the replica has followed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, got) = get(&edge, &one).await;
        if status == StatusCode::OK {
            assert_eq!(got["flag"], "acmeFlagControl");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the edge did not follow: {status} {got}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
