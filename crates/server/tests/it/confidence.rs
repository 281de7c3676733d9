//! The Confidence dialect: the Rollouts API document's requests verbatim
//! (host replaced, the token from the test's token file), in the
//! document's order, each answer checked field by field; what the writes do
//! to evaluation over OFREP; deleting an instance; and the helpers the
//! other Confidence tests share. A/B tests and their results are in
//! `confidence_abtest.rs`, listing in `confidence_list.rs`, errors and
//! refusals in `confidence_errors.rs`.

use crate::support::{Options, TestServer, json_of, token_file};
use flagstone_server::auth::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;

pub const ROLLOUTS: &str = "/v1/workflows/rollout/instances";

/// A file of `tests/data/confidence/`, as text.
pub fn data(name: &str) -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/confidence").join(name);
    std::fs::read_to_string(path).unwrap()
}

pub fn data_json(name: &str) -> Value {
    serde_json::from_str(&data(name)).unwrap()
}

/// A server with a token for `default/production` that reads, writes and evaluates.
pub struct Confidence {
    pub server: TestServer,
    pub token: String,
}

/// The token's id, which instances name as creator and updater.
pub const TOKEN_ID: &str = "confidence-scripts";

impl Confidence {
    pub async fn start() -> Confidence {
        let dir = tempfile::tempdir().unwrap();
        let scopes: &[Scope] = &[Scope::Read, Scope::Write, Scope::Evaluate];
        let (tokens, secrets) = token_file(dir.path(), &[(TOKEN_ID, "default/production", scopes)]);
        let server = TestServer::with(Options {
            tokens: Some(tokens),
            dir: Some(dir),
            ..Options::default()
        })
        .await;
        let confidence = Confidence { server, token: secrets[0].clone() };
        // The flag the document rolls out: two variants, no rules of its own, so the
        // rollout's rule decides and everyone else gets the caller's default.
        let flag = json!({
            "name": "flags/search-flag",
            "variants": [
                {"name": "flags/search-flag/variants/enabled", "value": {"enabled": true}},
                {"name": "flags/search-flag/variants/disabled", "value": {"enabled": false}}
            ]
        });
        let (status, body) = confidence
            .send(
                Method::PUT,
                "/v1/namespaces/default/production/flags/search-flag",
                Some(&flag.to_string()),
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
        confidence
    }

    /// Sends a request as the document's curl does: `Authorization: Bearer $TOKEN`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .server
            .client
            .request(method, self.server.url(path))
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        json_of(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        self.send(Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// Creates a rollout from a body; returns its `{id}` and the answer.
    pub async fn create(&self, body: &str) -> (String, Value) {
        let (status, created) = self.post(ROLLOUTS, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let id = created["name"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
        (id, created)
    }

    /// Evaluates `flags/{flag}` for a unit over OFREP; the variant, if any.
    pub async fn variant(&self, flag: &str, unit: &str, country: &str) -> Option<String> {
        let body = json!({"context": {"targetingKey": unit, "country": country}});
        let (status, answer) = self
            .send(
                Method::POST,
                &format!("/ofrep/v1/evaluate/flags/{flag}"),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer.get("variant").and_then(Value::as_str).map(str::to_owned)
    }

    /// The units of `units` that get a variant ending in `/enabled` or equal to `enabled`.
    pub async fn units_with(
        &self,
        flag: &str,
        units: &[String],
        country: &str,
        variant: &str,
    ) -> HashSet<String> {
        let mut tasks = Vec::new();
        for chunk in units.chunks(units.len().div_ceil(8).max(1)) {
            let chunk = chunk.to_vec();
            let base = self.server.base.clone();
            let token = self.token.clone();
            let client = self.server.client.clone();
            let (flag, country, variant) =
                (flag.to_owned(), country.to_owned(), variant.to_owned());
            tasks.push(tokio::spawn(async move {
                let mut with = Vec::new();
                for unit in chunk {
                    let body = json!({"context": {"targetingKey": unit, "country": country}});
                    let response = client
                        .post(format!("{base}/ofrep/v1/evaluate/flags/{flag}"))
                        .header("authorization", format!("Bearer {token}"))
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    let (status, answer) = json_of(response).await;
                    assert_eq!(status, StatusCode::OK, "{answer}");
                    let got = answer.get("variant").and_then(Value::as_str).unwrap_or_default();
                    if got == variant || got.ends_with(&format!("/variants/{variant}")) {
                        with.push(unit);
                    }
                }
                with
            }));
        }
        let mut out = HashSet::new();
        for task in tasks {
            out.extend(task.await.unwrap());
        }
        out
    }
}

/// Asserts that `text` is an RFC 3339 time.
pub fn is_time(value: &Value) {
    let text = value.as_str().unwrap_or_else(|| panic!("not a time: {value}"));
    text.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("{text}: {e}"));
}

/// Asserts that a name is `workflows/{kind}/instances/{20 lowercase letters and digits}`.
pub fn is_instance_name(value: &Value, kind: &str) {
    let name = value.as_str().unwrap();
    let id = name
        .strip_prefix(&format!("workflows/{kind}/instances/"))
        .unwrap_or_else(|| panic!("{name}"));
    assert_eq!(id.len(), 20, "{name}");
    assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{name}");
}

/// Asserts a Google error: status, code string, and (when given) the violated field.
pub fn google_error(status: StatusCode, body: &Value, code: u16, name: &str, field: Option<&str>) {
    assert_eq!(status.as_u16(), code, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["status"], name, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    if let Some(field) = field {
        let details = &body["error"]["details"][0];
        assert_eq!(details["@type"], "type.googleapis.com/google.rpc.BadRequest", "{body}");
        let fields: Vec<&str> = details["fieldViolations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "expected a violation of {field}: {body}");
    }
}

/// Asserts that `ours` has every field of a documented response, of the same JSON type,
/// recursively (arrays by their first element); strings must be equal unless they are the
/// document's sample names, times and ids, which are checked by shape.
pub fn covers(ours: &Value, documented: &Value, at: &str) {
    match (ours, documented) {
        (Value::Object(ours_map), Value::Object(doc_map)) => {
            for (key, doc_value) in doc_map {
                let Some(our_value) = ours_map.get(key) else {
                    panic!("{at}.{key}: missing; documented {doc_value}");
                };
                covers(our_value, doc_value, &format!("{at}.{key}"));
            }
        }
        (Value::Array(ours_list), Value::Array(doc_list)) => {
            if let (Some(o), Some(d)) = (ours_list.first(), doc_list.first()) {
                covers(o, d, &format!("{at}[0]"));
            }
        }
        (Value::String(o), Value::String(d)) => {
            if d.contains("brcdajvw7dfuod7cj9iq") || d.starts_with("rollouts/") {
                assert!(o.starts_with("workflows/rollout/instances/"), "{at}: {o}");
            } else if d.parse::<jiff::Timestamp>().is_ok() {
                is_time(ours);
            } else if d == "Analysis completed successfully" {
                assert!(o.starts_with(d.as_str()), "{at}: {o}");
            } else {
                assert_eq!(o, d, "{at}");
            }
        }
        (Value::Number(_), Value::Number(_)) => assert_eq!(ours, documented, "{at}"),
        _ => assert_eq!(
            std::mem::discriminant(ours),
            std::mem::discriminant(documented),
            "{at}: {ours} against documented {documented}"
        ),
    }
}

/// The document's path with its sample id replaced by ours.
fn doc_path(path: &str, id: &str) -> String {
    path.replace("brcdajvw7dfuod7cj9iq", id)
}

fn units(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[tokio::test]
async fn the_documented_flow_from_create_to_results() {
    let c = Confidence::start().await;

    // Create a Rollout: the documented body, verbatim.
    let (id, created) = c.create(&data("create_rollout.json")).await;
    let documented = data_json("create_response.json");
    covers(&created, &documented, "create");
    is_instance_name(&created["name"], "rollout");
    assert_eq!(created["displayName"], documented["displayName"]);
    assert_eq!(created["state"], documented["state"]);
    is_time(&created["createTime"]);
    assert_eq!(created["createTime"], created["updateTime"]);
    assert_eq!(created["creator"], TOKEN_ID);
    assert_eq!(created["updater"], TOKEN_ID);
    assert_eq!(created["possibleTransitions"], json!(["launch"]));
    assert_eq!(created["stateHistory"][0]["state"], "draft");
    let body = data_json("create_rollout.json");
    for module in ["flags", "rollout", "metrics"] {
        assert_eq!(created[module], body[module], "{module}");
    }
    let own_result = format!("{}/analysisResults/{id}", created["name"].as_str().unwrap());
    assert_eq!(created["stats"]["analysisResult"], own_result);

    // Set Targeting: the documented body, verbatim, on our instance.
    let path = doc_path("/v1/workflows/rollout/instances/brcdajvw7dfuod7cj9iq:updateSegment", &id);
    let (status, segment) = c.post(&path, Some(&data("update_segment.json"))).await;
    assert_eq!(status, StatusCode::OK, "{segment}");
    let sent = data_json("update_segment.json");
    assert_eq!(segment["name"], sent["segment"]["name"]);
    assert_eq!(segment["targeting"], sent["segment"]["targeting"]);
    // A draft serves nothing yet.
    assert_eq!(c.variant("search-flag", "u-1", "SE").await, None);

    // Launch: an empty answer, and the instance is live.
    let path = doc_path("/v1/workflows/rollout/instances/brcdajvw7dfuod7cj9iq:launch", &id);
    let (status, answer) = c.post(&path, None).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));

    // Reach 0.2 first (the document's body with another reach), then the documented 0.5.
    let patch_path =
        doc_path("/v1/workflows/rollout/instances/brcdajvw7dfuod7cj9iq?updateMask=rollout", &id);
    let fifth = data("patch_reach.json").replace("\"0.5\"", "\"0.2\"");
    let (status, answer) = c.patch(&patch_path, &fifth).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["rollout"]["reach"], "0.2");
    let swedes = units("se", 10_000);
    let at_fifth = c.units_with("search-flag", &swedes, "SE", "enabled").await;
    // Binomial(10,000, 0.2): sd = 40; 4.5 sd either side.
    assert!((1820..=2180).contains(&at_fifth.len()), "{} of 10,000 at reach 0.2", at_fifth.len());

    let (status, answer) = c.patch(&patch_path, &data("patch_reach.json")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let documented = data_json("patch_response.json");
    covers(&answer, &documented, "patch");
    assert_eq!(answer["displayName"], documented["displayName"]);
    assert_eq!(answer["name"], created["name"]);
    assert_eq!(answer["rollout"], data_json("patch_reach.json")["rollout"]);
    // The engine that answered the PATCH serves the new reach: Binomial(10,000, 0.5), sd = 50.
    let at_half = c.units_with("search-flag", &swedes, "SE", "enabled").await;
    assert!((4775..=5225).contains(&at_half.len()), "{} of 10,000 at reach 0.5", at_half.len());
    let lost: Vec<&String> = at_fifth.difference(&at_half).collect();
    assert!(lost.is_empty(), "units lost the variant when the reach grew: {lost:?}");
    // Outside the segment nobody gets it.
    let others = c.units_with("search-flag", &units("us", 300), "US", "enabled").await;
    assert!(others.is_empty(), "{others:?}");

    // Get the Rollout, as in "View Results" step 1.
    let get_path = doc_path("/v1/workflows/rollout/instances/brcdajvw7dfuod7cj9iq", &id);
    let (status, got) = c.get(&get_path).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    covers(&got, &data_json("get_response.json"), "get");
    covers(&got, &data_json("get_stats_response.json"), "get (results step 1)");
    let documented = data_json("get_stats_response.json");
    assert_eq!(got["name"], created["name"]);
    assert_eq!(got["displayName"], documented["displayName"]);
    let documented_result = documented["stats"]["analysisResult"].as_str().unwrap();
    let our_result = got["stats"]["analysisResult"].as_str().unwrap();
    assert_eq!(
        our_result.rsplit_once('/').unwrap().0,
        doc_path(documented_result, &id).rsplit_once('/').unwrap().0
    );
    assert_eq!(got["state"], "live");
    assert_eq!(got["createTime"], created["createTime"]);
    is_time(&got["updateTime"]);
    assert!(got["updateTime"].as_str() > got["createTime"].as_str());
    assert_eq!(got["possibleTransitions"], json!(["pause", "end"]));
    assert_eq!(got["flags"]["segment"], "segments/pztjlarivt3tyfie5gsb");
    assert_eq!(got["flags"]["targetingKeySelector"], "targeting_key");
    let history: Vec<&str> = got["stateHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["draft", "live"]);
    assert_eq!(got["transitionStatus"]["transition"], "launch");
    assert_eq!(got["transitionStatus"]["status"], "SUCCEEDED");

    // A second live rollout, as the documented list shows two.
    let mobile =
        data("create_rollout.json").replace("New Search Feature Rollout", "Mobile UI Update");
    let (mobile_id, _) = c.create(&mobile).await;
    let (status, _) = c.post(&format!("{ROLLOUTS}/{mobile_id}:launch"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (draft_id, _) = c.create(&data("create_rollout.json")).await;

    // List Rollouts: the documented request, verbatim.
    let (status, listed) =
        c.get("/v1/workflows/rollout/instances?pageSize=50&filter=state:live").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let documented = data_json("list_response.json");
    covers(&listed, &documented, "list");
    assert_eq!(listed["nextPageToken"], documented["nextPageToken"]);
    let shown: Vec<(&str, &str)> = listed["rollouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["displayName"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    let expected: Vec<(&str, &str)> = documented["rollouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["displayName"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(shown, expected);
    let names: Vec<&str> = listed["rollouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(&draft_id)));

    // View Results, step 2: the name from step 1 under /v2, from uploaded inputs.
    let inputs = json!({
        "control": "disabled",
        "variants": [{"name": "disabled", "expectedShare": 1}, {"name": "enabled", "expectedShare": 1}],
        "metrics": [{"id": "conversion-rate", "type": "binary", "data": {
            "disabled": {"n": 10000, "successes": 1000},
            "enabled": {"n": 10000, "successes": 1200}
        }}]
    });
    let (status, stored) = c
        .send(Method::PUT, &format!("{ROLLOUTS}/{id}/analysisInputs"), Some(&inputs.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let (status, result) = c.get(&format!("/v2/{our_result}")).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    let documented = data_json("analysis_result_response.json");
    covers(&result, &documented, "analysis result");
    assert_eq!(result["name"], our_result);
    assert_eq!(result["exposureFilter"], documented["exposureFilter"]);
    assert_eq!(result["annotations"][0]["context"], documented["annotations"][0]["context"]);
    assert!(
        result["annotations"][0]["info"][0]
            .as_str()
            .unwrap()
            .starts_with("Analysis completed successfully")
    );
    let (ours, theirs) = (&result["results"][0], &documented["results"][0]);
    assert_eq!(ours["id"], theirs["id"]);
    assert_eq!(ours["statsSettings"]["method"], theirs["statsSettings"]["method"]);
    assert_eq!(ours["statsSettings"]["adjustedAlpha"], theirs["statsSettings"]["adjustedAlpha"]);
    // Two-proportion z-test, pooled p = 0.11: z = 0.02 / sqrt(0.11 · 0.89 · 2/10,000) ≈ 4.52 > 1.96.
    assert_eq!(ours["result"], theirs["result"]);
    let comparison = &ours["comparisons"][0];
    assert_eq!(comparison["treatment"], "enabled");
    assert_eq!(comparison["control"], "disabled");
    assert!((comparison["absolute"]["estimate"].as_f64().unwrap() - 0.02).abs() < 1e-12);
    // Also under /v1, as the second copy of the document has it.
    let (status, again) = c.get(&format!("/v1/{our_result}")).await;
    assert_eq!((status, &again["results"]), (StatusCode::OK, &result["results"]));
    // Another result id of the instance does not exist.
    let (status, body) =
        c.get(&format!("/v2/workflows/rollout/instances/{id}/analysisResults/abc123")).await;
    google_error(status, &body, 404, "NOT_FOUND", None);
}

#[tokio::test]
async fn delete_removes_the_instance_and_what_it_serves() {
    let c = Confidence::start().await;
    let (id, _) = c.create(&data("create_rollout.json")).await;
    let path = format!("{ROLLOUTS}/{id}");
    c.post(&format!("{path}:launch"), None).await;
    c.patch(&format!("{path}?updateMask=rollout.reach"), r#"{"rollout": {"reach": "1"}}"#).await;
    assert_eq!(c.variant("search-flag", "u-1", "SE").await.as_deref(), Some("enabled"));
    let inputs = r#"{"control": "a", "variants": [], "metrics": []}"#;
    let (status, _) = c.send(Method::PUT, &format!("{path}/analysisInputs"), Some(inputs)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = c.send(Method::DELETE, &path, None).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    assert_eq!(c.variant("search-flag", "u-1", "SE").await, None);
    let (status, body) = c.get(&path).await;
    google_error(status, &body, 404, "NOT_FOUND", None);
    let (status, _) = c.get(&format!("/v1/namespaces/default/production/rollouts/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = c.send(Method::DELETE, &path, None).await;
    google_error(status, &body, 404, "NOT_FOUND", None);

    // An instance whose resource was deleted behind its back is still shown,
    // its next write recreates the resource, and it can be deleted.
    let (id, _) = c.create(&data("create_rollout.json")).await;
    let native = format!("/v1/namespaces/default/production/rollouts/{id}");
    let (status, _) = c.send(Method::DELETE, &native, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, got) = c.get(&format!("{ROLLOUTS}/{id}")).await;
    assert_eq!((status, &got["state"]), (StatusCode::OK, &json!("draft")));
    let (status, _) = c.post(&format!("{ROLLOUTS}/{id}:launch"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, resource) = c.get(&native).await;
    assert_eq!((status, &resource["document"]["state"]), (StatusCode::OK, &json!("LIVE")));
    let (status, _) = c.send(Method::DELETE, &native, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = c.send(Method::DELETE, &format!("{ROLLOUTS}/{id}"), None).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
}
