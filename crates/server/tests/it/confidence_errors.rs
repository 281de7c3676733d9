//! Confidence errors and refusals: illegal transitions, output-only mask
//! paths, config problems on the request's own fields, tokens, edge
//! replicas, rate limits, hostile input and concurrent updates.

use crate::confidence::{Confidence, ROLLOUTS, data, google_error};
use crate::support::{Options, TestServer, json_of, token_file};
use flagstone_server::auth::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn illegal_transitions_name_the_allowed_ones() {
    let c = Confidence::start().await;
    let (id, _) = c.create(&data("create_rollout.json")).await;
    let act = |verb: &'static str| {
        let path = format!("{ROLLOUTS}/{id}:{verb}");
        let c = &c;
        async move { c.post(&path, None).await }
    };
    let refused = |status: StatusCode, body: &Value, verb: &str, allowed: &str| {
        google_error(status, body, 400, "FAILED_PRECONDITION", None);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("cannot {verb} a ")), "{message}");
        assert!(message.ends_with(allowed), "{message}");
        let detail = &body["error"]["details"][0];
        assert_eq!(detail["@type"], "type.googleapis.com/google.rpc.PreconditionFailure");
        assert_eq!(detail["violations"][0]["subject"], format!("workflows/rollout/instances/{id}"));
    };
    for verb in ["pause", "resume", "end"] {
        let (status, body) = act(verb).await;
        refused(status, &body, verb, "possible transitions: launch");
    }
    assert_eq!(act("launch").await, (StatusCode::OK, json!({})));
    for verb in ["launch", "resume"] {
        let (status, body) = act(verb).await;
        refused(status, &body, verb, "possible transitions: pause, end");
    }
    assert_eq!(act("pause").await, (StatusCode::OK, json!({})));
    for verb in ["launch", "pause"] {
        let (status, body) = act(verb).await;
        refused(status, &body, verb, "possible transitions: resume, end");
    }
    assert_eq!(act("resume").await, (StatusCode::OK, json!({})));
    assert_eq!(act("end").await, (StatusCode::OK, json!({})));
    for verb in ["launch", "pause", "resume", "end"] {
        let (status, body) = act(verb).await;
        refused(status, &body, verb, "no transitions are possible from ended");
    }
    let (_, got) = c.get(&format!("{ROLLOUTS}/{id}")).await;
    assert_eq!(got["state"], "ended");
    assert_eq!(got["possibleTransitions"], json!([]));
    let history: Vec<&str> = got["stateHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["draft", "live", "paused", "live", "ended"]);
    // An ended rollout's reach no longer moves.
    let (status, body) = c
        .patch(
            &format!("{ROLLOUTS}/{id}?updateMask=rollout.reach"),
            r#"{"rollout": {"reach": "0.9"}}"#,
        )
        .await;
    google_error(status, &body, 400, "FAILED_PRECONDITION", None);
    // Unknown methods and instances.
    let (status, body) = act("explode").await;
    google_error(status, &body, 404, "NOT_FOUND", None);
    let (status, body) = c.post(&format!("{ROLLOUTS}/aaaaaaaaaaaaaaaaaaaa:launch"), None).await;
    google_error(status, &body, 404, "NOT_FOUND", None);
    let (status, body) = c.post(&format!("{ROLLOUTS}/{id}:end"), Some(r#"{"force": true}"#)).await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("force"));
}

#[tokio::test]
async fn output_only_fields_in_a_mask_are_refused_by_name() {
    let c = Confidence::start().await;
    let (id, created) = c.create(&data("create_rollout.json")).await;
    let path = format!("{ROLLOUTS}/{id}");
    for field in [
        "name",
        "state",
        "createTime",
        "updateTime",
        "creator",
        "updater",
        "possibleTransitions",
        "stateHistory",
        "transitionStatus",
        "pendingTransition",
        "jobQueue",
        "checks",
        "lockedDataKeys",
        "workflowVersion",
        "deleteTime",
        "stats.analysisResult",
        "stats.analysisResults",
    ] {
        let (status, body) = c
            .patch(
                &format!("{path}?updateMask=displayName,{field}"),
                r#"{"displayName": "x", "state": "live"}"#,
            )
            .await;
        google_error(status, &body, 400, "INVALID_ARGUMENT", Some("updateMask"));
        let description =
            body["error"]["details"][0]["fieldViolations"][0]["description"].as_str().unwrap();
        assert_eq!(description, format!("{field} is output only and cannot be updated"));
    }
    for field in ["abtest", "colour", "rollout..reach"] {
        let (status, body) = c.patch(&format!("{path}?updateMask={field}"), "{}").await;
        google_error(status, &body, 400, "INVALID_ARGUMENT", Some("updateMask"));
    }
    // Nothing was written.
    let (_, got) = c.get(&path).await;
    assert_eq!(got["displayName"], created["displayName"]);
    assert_eq!(got["updateTime"], created["updateTime"]);
    // Without a mask, output-only fields in the body are ignored and the populated ones update.
    let (status, got) = c
        .patch(
            &path,
            r#"{"state": "ended", "displayName": "Renamed", "rollout": {"reach": "0.3"}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["state"], "draft");
    assert_eq!(got["displayName"], "Renamed");
    assert_eq!(got["rollout"]["reach"], "0.3");
    assert_eq!(
        got["rollout"]["flag"], "flags/search-flag",
        "a partial module keeps its other fields"
    );
    // `*` replaces every writable field: the modules left out are cleared.
    let (status, got) = c.patch(&format!("{path}?updateMask=*"), r#"{"displayName": "Only", "rollout": {"flag": "flags/search-flag", "variant": "flags/search-flag/variants/enabled"}}"#).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert!(got.get("metrics").is_none(), "{got}");
    assert_eq!(
        got["stats"]["analysisResult"], created["stats"]["analysisResult"],
        "output only survives"
    );
}

#[tokio::test]
async fn config_problems_name_the_requests_own_fields() {
    let c = Confidence::start().await;
    let (id, _) = c.create(&data("create_rollout.json")).await;
    let path = format!("{ROLLOUTS}/{id}");
    let (status, body) = c
        .patch(&format!("{path}?updateMask=rollout.reach"), r#"{"rollout": {"reach": "1.5"}}"#)
        .await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("rollout.reach"));
    let (status, body) = c
        .patch(
            &format!("{path}?updateMask=rollout.variant"),
            r#"{"rollout": {"variant": "flags/search-flag/variants/nope"}}"#,
        )
        .await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("rollout.variant"));
    // A typo inside the documented targeting body.
    let typo = data("update_segment.json").replace("\"eqRule\": {", "\"eqRule\": {\"valu\": 1,");
    let (status, body) = c.post(&format!("{path}:updateSegment"), Some(&typo)).await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", None);
    let field = body["error"]["details"][0]["fieldViolations"][0]["field"].as_str().unwrap();
    assert!(field.starts_with("segment.targeting.criteria.country.attribute.eqRule"), "{body}");
    let unknown_ref =
        data("update_segment.json").replace("{\"ref\": \"country\"}", "{\"ref\": \"city\"}");
    let (status, body) = c.post(&format!("{path}:updateSegment"), Some(&unknown_ref)).await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", None);
    let field = body["error"]["details"][0]["fieldViolations"][0]["field"].as_str().unwrap();
    assert!(field.starts_with("segment.targeting"), "{body}");
    let (status, body) = c
        .post(
            &format!("{path}:updateSegment"),
            Some(r#"{"updateMask": "allocation", "segment": {}}"#),
        )
        .await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("updateMask"));
    // A flag that does not exist, at create.
    let missing =
        data("create_rollout.json").replace("flags/search-flag\"", "flags/no-such-flag\"");
    let (status, body) = c.post(ROLLOUTS, Some(&missing)).await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("rollout.flag"));
    // Unknown fields at create; malformed JSON.
    let (status, body) = c.post(ROLLOUTS, Some(r#"{"displayName": "x", "colour": "red"}"#)).await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("colour"));
    let (status, body) = c.post(ROLLOUTS, Some(r#"{"displayName": "#)).await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", None);
    // Nothing of the refused writes is served or stored.
    let (_, got) = c.get(&path).await;
    assert!(got["rollout"].get("reach").is_none(), "{got}");
    let (_, listed) = c.get(ROLLOUTS).await;
    assert_eq!(listed["rollouts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn tokens_decide_who_may_read_and_write() {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, secrets) = token_file(
        dir.path(),
        &[
            ("reader", "default/production", &[Scope::Read]),
            ("elsewhere", "shop/staging", &[Scope::Write, Scope::Read]),
        ],
    );
    let server =
        TestServer::with(Options { tokens: Some(tokens), dir: Some(dir), ..Options::default() })
            .await;
    let send = |token: &str, method: Method, path: &str| {
        server
            .client
            .request(method, server.url(path))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    let (status, body) = json_of(send(&secrets[0], Method::POST, ROLLOUTS).await.unwrap()).await;
    google_error(status, &body, 403, "PERMISSION_DENIED", None);
    let (status, body) = json_of(send(&secrets[0], Method::GET, ROLLOUTS).await.unwrap()).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"rollouts": [], "nextPageToken": ""})));
    // A token of one namespace acts on its own: an empty list there.
    let (status, body) = json_of(send(&secrets[1], Method::GET, ROLLOUTS).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = json_of(send("nope", Method::GET, ROLLOUTS).await.unwrap()).await;
    google_error(status, &body, 401, "UNAUTHENTICATED", None);
    let (status, body) =
        json_of(send(&secrets[0], Method::GET, "/v1/workflows/flow/instances").await.unwrap())
            .await;
    google_error(status, &body, 404, "NOT_FOUND", None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edge_replica_refuses_writes() {
    let upstream = TestServer::start().await;
    let follow = flagstone_server::Upstream {
        url: upstream.base.clone(),
        token: None,
        namespaces: vec![flagstone_server::NamespaceName::default_namespace()],
        wait: std::time::Duration::from_secs(2),
    };
    let edge =
        TestServer::with(Options { import: false, upstream: Some(follow), ..Options::default() })
            .await;
    let send = |method: Method, path: &str, body: &str| {
        edge.client.request(method, edge.url(path)).body(body.to_owned()).send()
    };
    let id = "aaaaaaaaaaaaaaaaaaaa";
    for (method, path) in [
        (Method::POST, ROLLOUTS.to_owned()),
        (Method::PATCH, format!("{ROLLOUTS}/{id}?updateMask=displayName")),
        (Method::POST, format!("{ROLLOUTS}/{id}:launch")),
        (Method::DELETE, format!("{ROLLOUTS}/{id}")),
        (Method::PUT, format!("{ROLLOUTS}/{id}/analysisInputs")),
    ] {
        let (status, body) = json_of(send(method, &path, "{}").await.unwrap()).await;
        google_error(status, &body, 405, "FAILED_PRECONDITION", None);
    }
    // Reads are served; instances are records, which edges do not replicate.
    let (status, body) = json_of(send(Method::GET, ROLLOUTS, "").await.unwrap()).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"rollouts": [], "nextPageToken": ""})));
}

#[tokio::test]
async fn refusals_before_the_handler_are_google_errors_too() {
    let limits = flagstone_server::Limits {
        rate_per_second: 1,
        rate_burst: 1,
        ..flagstone_server::Limits::default()
    };
    let server = TestServer::with(Options { limits, ..Options::default() }).await;
    let (status, _) = json_of(server.get(ROLLOUTS).await).await;
    assert_eq!(status, StatusCode::OK);
    let response = server.get(ROLLOUTS).await;
    assert!(response.headers().contains_key("retry-after"));
    let (status, body) = json_of(response).await;
    google_error(status, &body, 429, "RESOURCE_EXHAUSTED", None);
}

#[tokio::test]
async fn hostile_masks_filters_and_bodies_are_refused_or_harmless() {
    let c = Confidence::start().await;
    let (id, created) = c.create(&data("create_rollout.json")).await;
    let path = format!("{ROLLOUTS}/{id}");
    // A 2,000-level mask path the body does not hold clears nothing and builds nothing.
    let deep = vec!["flags"; 2000].join(".");
    let (status, got) = c.patch(&format!("{path}?updateMask={deep}"), "{}").await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["flags"], created["flags"]);
    // A body nested past the limit is 400, not a crash.
    let nested = format!("{}{}", "{\"flags\":".repeat(300), "1".to_owned() + &"}".repeat(300));
    let (status, body) = c.patch(&path, &nested).await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", None);
    // A filter nested past 32 parentheses.
    let (status, body) = c
        .get(&format!("{ROLLOUTS}?filter={}state:live{}", "(".repeat(1000), ")".repeat(1000)))
        .await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("filter"));
    // 300 terms joined by spaces (implicit AND) are fine; past 4,096 bytes is 400.
    let (status, body) = c.get(&format!("{ROLLOUTS}?filter={}", "state:live%20".repeat(300))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = c.get(&format!("{ROLLOUTS}?filter={}", "state:live%20".repeat(500))).await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("filter"));
    // Tokens with multi-byte characters, ids with odd characters.
    let (status, body) = c.get(&format!("{ROLLOUTS}?pageToken={}", "%C3%A9".repeat(24))).await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("pageToken"));
    for odd in ["..", "a%2Fb", "%00", "UPPER:launch", "x:y:z"] {
        let (status, body) = c.post(&format!("{ROLLOUTS}/{odd}"), None).await;
        assert!(status.is_client_error(), "{odd}: {status} {body}");
    }
    // The instance is intact.
    let (status, got) = c.get(&path).await;
    assert_eq!((status, &got["rollout"]), (StatusCode::OK, &created["rollout"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_either_apply_or_abort() {
    let c = std::sync::Arc::new(Confidence::start().await);
    let (id, _) = c.create(&data("create_rollout.json")).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let c = c.clone();
        let path = format!("{ROLLOUTS}/{id}?updateMask=displayName");
        tasks.push(tokio::spawn(async move {
            let (status, body) =
                c.patch(&path, &json!({"displayName": format!("name {i}")}).to_string()).await;
            (i, status, body)
        }));
    }
    let mut applied = Vec::new();
    for task in tasks {
        let (i, status, body) = task.await.unwrap();
        if status == StatusCode::OK {
            applied.push(format!("name {i}"));
        } else {
            // A write worked out from a version another request replaced is refused whole.
            google_error(status, &body, 409, "ABORTED", None);
        }
    }
    assert!(!applied.is_empty());
    let (_, got) = c.get(&format!("{ROLLOUTS}/{id}")).await;
    assert!(applied.contains(&got["displayName"].as_str().unwrap().to_owned()), "{got}");
}
