//! LaunchDarkly's experimentation API: the document's examples verbatim
//! (`tests/data/launchdarkly/`, host aside), checked field by field.

use crate::support::{Options, TestServer, json_of, token_file};
use flagstone_server::auth::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const SEMANTIC_PATCH: &str = "application/json; domain-model=launchdarkly.semanticpatch";
pub const BASE: &str = "/api/v2/projects/my-project/environments/my-environment/experiments";
const VARIATION: &str = "e432f62b-55f6-49dd-a02f-eb24acf39d05";

pub fn data(name: &str) -> Value {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/launchdarkly").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A flag with the variants `control` and each of `variants`.
pub fn flag(key: &str, variants: &[&str]) -> Value {
    let mut all =
        vec![json!({"name": format!("flags/{key}/variants/control"), "value": "control"})];
    all.extend(
        variants.iter().map(|v| json!({"name": format!("flags/{key}/variants/{v}"), "value": v})),
    );
    json!({"name": format!("flags/{key}"), "variants": all})
}

/// A server whose namespace `my-project/my-environment` holds the document's flag.
pub async fn server_with(flags: Vec<Value>) -> TestServer {
    let server = TestServer::start().await;
    put_config(&server, flags).await;
    server
}

pub async fn put_config(server: &TestServer, flags: Vec<Value>) {
    let config = json!({"flags": flags});
    let response = server.put("/v1/namespaces/my-project/my-environment/config", &config).await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn document_server() -> TestServer {
    server_with(vec![flag("example-flag-for-experiment", &[VARIATION])]).await
}

pub async fn patch(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let response = server
        .client
        .patch(server.url(path))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    json_of(response).await
}

pub async fn get(server: &TestServer, path: &str) -> (StatusCode, Value) {
    json_of(server.get(path).await).await
}

pub async fn post(server: &TestServer, path: &str, body: &Value) -> (StatusCode, Value) {
    json_of(server.post(path, body).await).await
}

pub async fn instruct(server: &TestServer, key: &str, instructions: Value) -> (StatusCode, Value) {
    let body = json!({"instructions": instructions});
    patch(server, &format!("{BASE}/{key}"), SEMANTIC_PATCH, &body).await
}

async fn abtest(server: &TestServer, key: &str) -> Value {
    let (status, body) =
        get(server, &format!("/v1/namespaces/my-project/my-environment/abtests/{key}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["document"].clone()
}

/// The keys of an object, sorted.
pub fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn is_hex_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 24 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 36 && s.split('-').count() == 5)
}

fn assert_error(
    status: StatusCode,
    body: &Value,
    expected: StatusCode,
    code: &str,
    mentions: &str,
) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(mentions), "{message:?} should mention {mentions:?}");
    assert_eq!(body.as_object().unwrap().len(), 2, "only code and message: {body}");
}

/// The iteration of the document's create and iteration bodies, as shown.
fn check_document_iteration(iteration: &Value, expanded: bool) {
    assert!(is_hex_id(&iteration["_id"]), "{iteration}");
    assert_eq!(
        iteration["hypothesis"],
        "Example hypothesis, the new button placement will increase conversion"
    );
    assert_eq!(iteration["status"], "not_started");
    assert!(iteration["createdAt"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(iteration.get("startedAt").is_none());
    assert!(iteration.get("endedAt").is_none());
    assert_eq!(iteration["canReshuffleTraffic"], true);
    for key in ["property1", "property2"] {
        assert_eq!(
            iteration["flags"][key],
            json!({"targetingRule": VARIATION, "flagConfigVersion": 12,
                "_links": {"self": {"href": format!("/api/v2/flags/my-project/{key}"), "type": "application/json"}}})
        );
    }
    assert_eq!(
        iteration["primaryMetric"],
        json!({"key": "example-metric", "name": "example-metric", "kind": "custom",
            "_links": {"self": {"href": "/api/v2/metrics/my-project/example-metric", "type": "application/json"}}})
    );
    if expanded {
        let treatments = iteration["treatments"].as_array().unwrap();
        assert_eq!(treatments.len(), 1);
        assert!(is_uuid(&treatments[0]["_id"]), "{}", treatments[0]);
        assert_eq!(treatments[0]["name"], "Treatment 1");
        assert_eq!(treatments[0]["allocationPercent"], "10");
        assert_eq!(treatments[0]["baseline"], true);
        assert_eq!(
            treatments[0]["parameters"],
            json!([{"variationId": VARIATION, "flagKey": "example-flag-for-experiment"}])
        );
        assert_eq!(iteration["secondaryMetrics"], json!([]));
    } else {
        assert!(iteration.get("treatments").is_none(), "{iteration}");
        assert!(iteration.get("secondaryMetrics").is_none(), "{iteration}");
    }
}

#[tokio::test]
async fn the_documents_create_get_and_list_examples() {
    let server = document_server().await;
    let (status, created) = post(&server, BASE, &data("create-experiment.json")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(is_hex_id(&created["_id"]));
    assert_eq!(created["key"], "example-experiment");
    assert_eq!(created["name"], "Example experiment");
    assert_eq!(created["description"], "An example experiment, used in testing");
    assert_eq!(created["_maintainerId"], "12ab3c45de678910fgh12345");
    assert!(created["_creationDate"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(
        created["_links"],
        json!({
            "parent": {"href": "/api/v2/projects/my-project/environments/my-environment", "type": "application/json"},
            "self": {"href": format!("{BASE}/example-experiment"), "type": "application/json"}
        })
    );
    check_document_iteration(&created["currentIteration"], true);
    // Only documented fields (no startedAt, endedAt or winner before the iteration ran).
    assert_eq!(
        keys(&created),
        [
            "_creationDate",
            "_id",
            "_links",
            "_maintainerId",
            "currentIteration",
            "description",
            "key",
            "name",
            "previousIterations"
        ]
    );
    assert_eq!(
        keys(&created["currentIteration"]),
        [
            "_id",
            "canReshuffleTraffic",
            "createdAt",
            "flags",
            "hypothesis",
            "primaryMetric",
            "secondaryMetrics",
            "status",
            "treatments"
        ]
    );
    assert!(created.get("draftIteration").is_none());
    assert_eq!(created["previousIterations"], json!([]));

    // It runs as a draft A/B test on the flag: 10 % of units, one arm.
    let test = abtest(&server, "example-experiment").await;
    assert_eq!(test["state"], "DRAFT");
    assert_eq!(test["displayName"], "Example experiment");
    assert_eq!(test["flag"], "flags/example-flag-for-experiment");
    assert_eq!(
        test["treatments"],
        json!([{"variant": format!("flags/example-flag-for-experiment/variants/{VARIATION}"), "weight": 10.0, "baseline": true}])
    );
    assert_eq!(test["allocation"]["proportion"], 0.1);
    assert_eq!(test["metrics"], json!([{"metric": "metrics/example-metric"}]));

    // Get: the expandable fields are omitted by default, as documented.
    let (status, plain) = get(&server, &format!("{BASE}/example-experiment")).await;
    assert_eq!(status, StatusCode::OK);
    check_document_iteration(&plain["currentIteration"], false);
    for field in ["draftIteration", "previousIterations"] {
        assert!(plain.get(field).is_none(), "{field}: {plain}");
    }
    let expand = "expand=previousIterations,draftIteration,secondaryMetrics,treatments";
    let (status, full) = get(&server, &format!("{BASE}/example-experiment?{expand}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(full, created);
    let (_, some) = get(&server, &format!("{BASE}/example-experiment?expand=treatments")).await;
    assert!(some["currentIteration"]["treatments"].is_array());
    assert!(some["currentIteration"].get("secondaryMetrics").is_none());

    // List.
    let (status, list) = get(&server, BASE).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total_count"], 1);
    assert_eq!(list["items"], json!([plain]));
    assert_eq!(list["_links"]["self"]["href"], format!("{BASE}?limit=20&offset=0"));
    assert_eq!(list["_links"]["self"]["type"], "application/json");

    // The same key again is a conflict; nothing changes.
    let (status, body) = post(&server, BASE, &data("create-experiment.json")).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict", "already exists");
}

#[tokio::test]
async fn the_documents_semantic_patch_example() {
    let server = document_server().await;
    post(&server, BASE, &data("create-experiment.json")).await;
    let path = format!("{BASE}/example-experiment");
    let (status, body) =
        patch(&server, &path, SEMANTIC_PATCH, &data("patch-experiment.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Updated experiment name");
    assert_eq!(body["description"], "An example experiment, used in testing");
    check_document_iteration(&body["currentIteration"], true);
    assert_eq!(
        abtest(&server, "example-experiment").await["displayName"],
        "Updated experiment name"
    );

    let (status, body) = instruct(
        &server,
        "example-experiment",
        json!([{"kind": "updateDescription", "value": "New words"}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["description"], "New words");

    // A plain JSON body is not a semantic patch: 400 (the document lists no 415).
    let (status, body) =
        patch(&server, &path, "application/json", &data("patch-experiment.json")).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "domain-model=launchdarkly.semanticpatch",
    );
    // Any other kind is 400 and nothing of the patch is applied.
    let (status, body) = instruct(
        &server,
        "example-experiment",
        json!([{"kind": "updateName", "value": "Half applied"}, {"kind": "archive"}]),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "instructions[1].kind: unknown kind \"archive\"",
    );
    let (status, body) =
        instruct(&server, "example-experiment", json!([{"kind": "updateName", "value": 3}])).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "instructions[0].value",
    );
    let (status, body) =
        instruct(&server, "example-experiment", json!([{"kind": "stopIteration"}])).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request", "no running iteration");
    let (_, now) = get(&server, &path).await;
    assert_eq!(now["name"], "Updated experiment name");
    let (status, body) =
        instruct(&server, "nope", json!([{"kind": "updateName", "value": "x"}])).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", "nope");
}

/// How many of `units` units the flag gives the document's variation.
async fn treated(server: &TestServer, units: usize) -> usize {
    let mut n = 0;
    for i in 0..units {
        let response = server
            .client
            .post(server.url("/ofrep/v1/evaluate/flags/example-flag-for-experiment"))
            .header("x-flagstone-namespace", "my-project/my-environment")
            .json(&json!({"context": {"targetingKey": format!("user-{i}")}}))
            .send()
            .await
            .unwrap();
        let (_, body) = json_of(response).await;
        if body["variant"] == VARIATION {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn iterations_start_stop_and_keep_their_order() {
    let server = document_server().await;
    let (_, created) = post(&server, BASE, &data("create-experiment.json")).await;
    let first_id = created["currentIteration"]["_id"].clone();
    let treatment_id = created["currentIteration"]["treatments"][0]["_id"].clone();
    let key = "example-experiment";

    let (status, started) = instruct(&server, key, json!([{"kind": "startIteration"}])).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["currentIteration"]["status"], "running");
    assert!(started["currentIteration"]["startedAt"].as_i64().is_some());
    let test = abtest(&server, key).await;
    assert_eq!(test["state"], "LIVE");
    assert_eq!(test["iterations"][0]["status"], "running");
    // The engine serves it: about 10 % of units get the treatment's variant.
    let served = treated(&server, 400).await;
    assert!((20..=70).contains(&served), "{served} of 400");

    let reason = "We ran this iteration for two weeks and the winning variation was clear";
    let (status, stopped) = instruct(
        &server,
        key,
        json!([{"kind": "stopIteration", "winningTreatmentId": treatment_id, "winningReason": reason}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{stopped}");
    let current = &stopped["currentIteration"];
    assert_eq!(current["status"], "stopped");
    assert_eq!(current["winningTreatmentId"], treatment_id);
    assert_eq!(current["winningReason"], reason);
    assert!(current["endedAt"].as_i64().unwrap() >= current["startedAt"].as_i64().unwrap());
    assert_eq!(abtest(&server, key).await["state"], "ENDED");
    assert_eq!(treated(&server, 400).await, 0);

    // Nothing to start until an iteration is created.
    let (status, body) = instruct(&server, key, json!([{"kind": "startIteration"}])).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "no iteration to start",
    );

    // The document's iteration body: a draft until started.
    let (status, second) =
        post(&server, &format!("{BASE}/{key}/iterations"), &data("create-iteration.json")).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    check_document_iteration(&second, true);
    let (_, shown) = get(&server, &format!("{BASE}/{key}?expand=draftIteration")).await;
    assert_eq!(shown["draftIteration"]["_id"], second["_id"]);
    assert_eq!(shown["currentIteration"]["_id"], first_id);
    assert_eq!(abtest(&server, key).await["state"], "ENDED");

    let (status, body) = instruct(&server, key, json!([{"kind": "startIteration"}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["currentIteration"]["_id"], second["_id"]);
    assert_eq!(body["currentIteration"]["status"], "running");
    assert!(body.get("draftIteration").is_none());
    assert_eq!(abtest(&server, key).await["state"], "LIVE");

    // A third, started over the running one: LaunchDarkly asks for a justification.
    let (_, third) =
        post(&server, &format!("{BASE}/{key}/iterations"), &data("create-iteration.json")).await;
    let (status, body) = instruct(&server, key, json!([{"kind": "startIteration"}])).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request", "changeJustification");
    let (status, body) = instruct(
        &server,
        key,
        json!([{"kind": "startIteration", "changeJustification": "new placement"}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let previous: Vec<&Value> =
        body["previousIterations"].as_array().unwrap().iter().map(|i| &i["_id"]).collect();
    assert_eq!(previous, [&first_id, &second["_id"]]);
    assert_eq!(body["previousIterations"][1]["status"], "stopped");
    assert_eq!(body["currentIteration"]["_id"], third["_id"]);
    let test = abtest(&server, key).await;
    let statuses: Vec<&Value> =
        test["iterations"].as_array().unwrap().iter().map(|i| &i["status"]).collect();
    assert_eq!(statuses, ["stopped", "stopped", "running"]);

    // A winner must be a treatment of the running iteration.
    let (status, body) =
        instruct(&server, key, json!([{"kind": "stopIteration", "winningTreatmentId": "nope"}]))
            .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request", "winningTreatmentId");
}

#[tokio::test]
async fn list_filters_pages_and_expands() {
    let server = server_with(vec![flag("a", &["on"]), flag("b", &["on"])]).await;
    let body = |key: &str, flag: &str, metric: &str| {
        json!({"name": key, "key": key, "iteration": {"hypothesis": "h",
            "metrics": [{"key": metric, "primary": true}, {"key": "latency"}],
            "treatments": [
                {"name": "control", "baseline": true, "allocationPercent": "50", "parameters": [{"flagKey": flag, "variationId": "control"}]},
                {"name": "on", "baseline": false, "allocationPercent": "50", "parameters": [{"flagKey": flag, "variationId": "on"}]}],
            "flags": {flag: {"ruleId": "fallthrough", "flagConfigVersion": 1}}}})
    };
    for (key, flag, metric) in
        [("e1", "a", "clicks"), ("e2", "b", "clicks"), ("e3", "a", "page-load-ms")]
    {
        let (status, created) = post(&server, BASE, &body(key, flag, metric)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    instruct(&server, "e3", json!([{"kind": "startIteration"}])).await;
    let keys = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, list) = get(&server, &format!("{BASE}?filter=flagKey:a")).await;
    assert_eq!(keys(&list), ["e1", "e3"]);
    assert_eq!(list["total_count"], 2);
    let (_, list) =
        get(&server, &format!("{BASE}?filter=flagKey:a,status:running,metricKey:page-load-ms"))
            .await;
    assert_eq!(keys(&list), ["e3"]);
    let (_, list) = get(&server, &format!("{BASE}?filter=status:not_started")).await;
    assert_eq!(keys(&list), ["e1", "e2"]);
    let (_, list) = get(&server, &format!("{BASE}?filter=metricKey:latency")).await;
    assert_eq!(keys(&list), ["e1", "e2", "e3"]);
    let (_, list) = get(&server, &format!("{BASE}?limit=2&offset=1")).await;
    assert_eq!(keys(&list), ["e2", "e3"]);
    assert_eq!(list["total_count"], 3);
    assert_eq!(list["_links"]["prev"]["href"], format!("{BASE}?limit=2&offset=0"));
    assert!(list["_links"].get("next").is_none());
    let (_, list) = get(&server, &format!("{BASE}?limit=1&expand=secondaryMetrics")).await;
    assert_eq!(keys(&list), ["e1"]);
    assert_eq!(
        list["_links"]["next"]["href"],
        format!("{BASE}?limit=1&offset=1&expand=secondaryMetrics")
    );
    assert_eq!(list["items"][0]["currentIteration"]["secondaryMetrics"][0]["key"], "latency");
    assert!(list["items"][0]["currentIteration"].get("treatments").is_none());

    let (status, body) = get(&server, &format!("{BASE}?filter=status:paused")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request", "status");
    let (status, body) = get(&server, &format!("{BASE}?expand=everything")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request", "expand");
    let (status, body) = get(&server, &format!("{BASE}?limit=many")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request", "limit");
}

#[tokio::test]
async fn bad_experiments_are_refused_with_the_place_named() {
    let server = server_with(vec![flag("other", &[])]).await;
    // The document's body while its flag does not exist.
    let (status, body) = post(&server, BASE, &data("create-experiment.json")).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "iteration.treatments[0].parameters[0]: flagKey: flag \"example-flag-for-experiment\" does not exist",
    );
    put_config(&server, vec![flag("example-flag-for-experiment", &["b"])]).await;
    let (status, body) = post(&server, BASE, &data("create-experiment.json")).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "is not a variant of flag",
    );
    put_config(&server, vec![flag("example-flag-for-experiment", &[VARIATION])]).await;

    let mut bad = data("create-experiment.json");
    bad["iteration"]["treatments"][0]["allocationPercent"] = json!("ten");
    let (status, body) = post(&server, BASE, &bad).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "iteration.treatments[0].allocationPercent",
    );
    let mut bad = data("create-experiment.json");
    bad["iteration"]["treatments"][0]["baseline"] = json!(false);
    let (status, body) = post(&server, BASE, &bad).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request", "baseline");
    let mut bad = data("create-experiment.json");
    bad["iteration"]["colour"] = json!("red");
    let (status, body) = post(&server, BASE, &bad).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "unknown field `colour`",
    );
    let mut bad = data("create-experiment.json");
    bad["key"] = json!("a/b");
    let (status, body) = post(&server, BASE, &bad).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request", "key");
    // Nothing was stored by any of them.
    let (_, list) = get(&server, BASE).await;
    assert_eq!(list["total_count"], 0);

    let (status, body) = get(&server, &format!("{BASE}/missing")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", "missing");
    let (status, body) = get(&server, "/api/v2/projects/nope/environments/none/experiments").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", "nope/none");
    let response = server.client.delete(server.url(&format!("{BASE}/x"))).send().await.unwrap();
    let (status, body) = json_of(response).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method");
}

#[tokio::test]
async fn tokens_are_checked_in_launchdarklys_form() {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, secrets) = token_file(
        dir.path(),
        &[
            ("writer", "my-project/my-environment", &[Scope::Read, Scope::Write]),
            ("reader", "my-project/my-environment", &[Scope::Read]),
        ],
    );
    let server = TestServer::with(Options { tokens: Some(tokens), ..Options::default() }).await;
    let client = &server.client;
    // LaunchDarkly's `Authorization: T` form.
    let writer = secrets[0].as_str();
    let config = json!({"flags": [flag("example-flag-for-experiment", &[VARIATION])]});
    let response = client
        .put(server.url("/v1/namespaces/my-project/my-environment/config"))
        .header("authorization", writer)
        .json(&config)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = client.get(server.url(BASE)).send().await.unwrap();
    let (status, body) = json_of(response).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized", "token");
    let response = client
        .post(server.url(BASE))
        .header("authorization", secrets[1].as_str())
        .json(&data("create-experiment.json"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden", "write");
    let response = client
        .post(server.url(BASE))
        .header("authorization", writer)
        .json(&data("create-experiment.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = client
        .get(server.url("/api/v2/projects/other/environments/production/experiments"))
        .header("authorization", writer)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden", "namespace");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edge_replica_refuses_writes() {
    let upstream = document_server().await;
    let follow = flagstone_server::Upstream {
        url: upstream.base.clone(),
        token: None,
        namespaces: vec![
            flagstone_server::NamespaceName::parse("my-project/my-environment").unwrap(),
        ],
        wait: std::time::Duration::from_secs(2),
    };
    let edge =
        TestServer::with(Options { import: false, upstream: Some(follow), ..Options::default() })
            .await;
    let one = format!("{BASE}/example-experiment");
    let legacy = "/api/v2/flags/my-project/example-flag-for-experiment";
    let writes = [
        (reqwest::Method::POST, BASE.to_owned(), data("create-experiment.json")),
        (reqwest::Method::PATCH, one.clone(), data("patch-experiment.json")),
        (reqwest::Method::POST, format!("{one}/iterations"), data("create-iteration.json")),
        (reqwest::Method::PUT, format!("{one}/statistics"), json!({})),
        (reqwest::Method::PATCH, legacy.to_owned(), data("legacy-add-experiment.json")),
        (
            reqwest::Method::DELETE,
            format!("{legacy}/experiments/my-environment/m/results"),
            Value::Null,
        ),
    ];
    for (method, path, body) in writes {
        let response = edge
            .client
            .request(method.clone(), edge.url(&path))
            .header("content-type", SEMANTIC_PATCH)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_error(
            status,
            &body,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "edge replica",
        );
    }
}

#[tokio::test]
async fn an_experiment_outlives_its_ab_test_but_not_its_flag() {
    let server = document_server().await;
    post(&server, BASE, &data("create-experiment.json")).await;
    let test = "/v1/namespaces/my-project/my-environment/abtests/example-experiment";
    let response = server.client.delete(server.url(test)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The record still answers, and the next write recreates the A/B test.
    let (status, _) = get(&server, &format!("{BASE}/example-experiment")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) =
        instruct(&server, "example-experiment", json!([{"kind": "startIteration"}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(abtest(&server, "example-experiment").await["state"], "LIVE");

    // Without its flag the A/B test cannot be written: 400 with the problem, nothing changes.
    put_config(&server, vec![flag("other", &[])]).await;
    let (status, body) =
        instruct(&server, "example-experiment", json!([{"kind": "stopIteration"}])).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "example-flag-for-experiment",
    );
    let (_, shown) = get(&server, &format!("{BASE}/example-experiment")).await;
    assert_eq!(shown["currentIteration"]["status"], "running");
}

#[tokio::test]
async fn over_the_rate_limit_is_429_in_launchdarklys_shape() {
    let limits = flagstone_server::Limits {
        rate_per_second: 1,
        rate_burst: 1,
        ..flagstone_server::Limits::default()
    };
    let server = TestServer::with(Options { limits, ..Options::default() }).await;
    let mut last = None;
    for _ in 0..3 {
        let response = server.client.get(server.url(BASE)).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            last = Some(json_of(response).await);
            break;
        }
    }
    let (status, body) = last.expect("three requests within a second exceed one a second");
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited", "rate limit");
}
