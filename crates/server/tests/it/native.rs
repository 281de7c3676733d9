//! The native API: CRUD, preconditions, history, rejected writes.

use crate::support::{TestServer, json_of, simple_flag};
use reqwest::StatusCode;
use serde_json::json;

const NS: &str = "/v1/namespaces/default/production";

#[tokio::test(flavor = "multi_thread")]
async fn crud_with_etags_and_history() {
    let server = TestServer::start().await;
    let response = server.get(&format!("{NS}/config")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"1\"");

    // Create: the name is filled in from the path.
    let mut flag = simple_flag("extra", 1);
    flag.as_object_mut().unwrap().remove("name");
    flag["rules"][0]["segment"] = json!("segments/everyone");
    let response = server.put(&format!("{NS}/flags/extra"), &flag).await;
    assert_eq!(response.headers()["etag"], "\"2\"");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "flags/extra");
    assert_eq!(body["revision"], 2);
    assert_eq!(body["createdBy"], "anonymous");

    let (status, got) = json_of(server.get(&format!("{NS}/flags/extra")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["document"]["name"], "flags/extra");
    assert_eq!(got["etag"], "\"2\"");

    // Replace with the right If-Match, then with a stale one.
    let changed = simple_flag("extra", 2);
    let response = server
        .client
        .put(server.url(&format!("{NS}/flags/extra")))
        .header("if-match", "\"2\"")
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"3\"");
    let response = server
        .client
        .put(server.url(&format!("{NS}/flags/extra")))
        .header("if-match", "\"2\"")
        .json(&simple_flag("extra", 99))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(response.headers()["etag"], "\"3\"");
    let (_, got) = json_of(server.get(&format!("{NS}/flags/extra")).await).await;
    assert_eq!(
        got["document"]["variants"][0]["value"]["n"], 2,
        "a failed precondition wrote nothing"
    );

    // If-None-Match: * only creates.
    let response = server
        .client
        .put(server.url(&format!("{NS}/flags/extra")))
        .header("if-none-match", "*")
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);

    let (status, list) = json_of(server.get(&format!("{NS}/flags")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["flags"].as_array().unwrap().last().unwrap()["id"], "extra");

    let response =
        server.client.delete(server.url(&format!("{NS}/flags/extra"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.get(&format!("{NS}/flags/extra")).await.status(), StatusCode::NOT_FOUND);
    let response =
        server.client.delete(server.url(&format!("{NS}/flags/extra"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let (status, history) = json_of(server.get(&format!("{NS}/history")).await).await;
    assert_eq!(status, StatusCode::OK);
    let entries = history["entries"].as_array().unwrap();
    let summary: Vec<(u64, &str)> = entries
        .iter()
        .map(|e| (e["revision"].as_u64().unwrap(), e["method"].as_str().unwrap()))
        .collect();
    assert_eq!(summary, [(1, "IMPORT"), (2, "PUT"), (3, "PUT"), (4, "DELETE")]);
    assert!(entries[1]["before"].is_null());
    assert_eq!(entries[2]["before"]["variants"][0]["value"]["n"], 1);
    assert_eq!(entries[2]["after"]["variants"][0]["value"]["n"], 2);
    assert!(entries[3]["after"].is_null());
    assert_eq!(entries[3]["path"], format!("{NS}/flags/extra"));
    let (_, page) = json_of(server.get(&format!("{NS}/history?after=2&limit=1")).await).await;
    assert_eq!(page["entries"][0]["revision"], 3);
    assert_eq!(page["nextAfter"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_write_stores_nothing_and_keeps_the_engine() {
    let server = TestServer::start().await;
    let context = crate::support::example_context();
    let (_, before) = server.evaluate("dark-mode", &context).await;

    // Every problem comes back with its path; nothing is written.
    let mut bad = simple_flag("dark-mode", 0);
    bad["rules"][0]["segment"] = json!("segments/nope");
    bad["variants"][0]["name"] = json!("flags/other/variants/x");
    let (status, body) = json_of(server.put(&format!("{NS}/flags/dark-mode"), &bad).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "invalid");
    let problems = body["problems"].as_array().unwrap();
    assert!(problems.len() >= 2, "{body}");
    let paths: Vec<&str> = problems.iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"flags[0].rules[0].segment"), "{body}");
    assert!(paths.contains(&"flags[0].variants[0].name"), "{body}");
    // A segment that depends on the flag's variant `on` is reported too.
    assert!(paths.iter().any(|p| p.starts_with("segments[")), "{body}");
    // Each problem names the resource it is in.
    let segment = problems.iter().find(|p| p["path"] == "flags[0].rules[0].segment").unwrap();
    assert_eq!(segment["resource"], "flags/dark-mode");
    let dependent =
        problems.iter().find(|p| p["path"].as_str().unwrap().starts_with("segments[")).unwrap();
    assert_eq!(dependent["resource"], "segments/dark-mode-adults", "{body}");

    let response = server.get(&format!("{NS}/config")).await;
    assert_eq!(response.headers()["etag"], "\"1\"");
    let (_, after) = server.evaluate("dark-mode", &context).await;
    assert_eq!(before, after);
    let (_, history) = json_of(server.get(&format!("{NS}/history")).await).await;
    assert_eq!(history["entries"].as_array().unwrap().len(), 1);

    // The name in the body must agree with the path.
    let (status, body) =
        json_of(server.put(&format!("{NS}/flags/other"), &simple_flag("f", 1)).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["problems"][0]["path"], "name");
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_configs_and_new_namespaces() {
    let server = TestServer::start().await;
    let config = crate::support::simple_config(7);
    let (status, body) =
        json_of(server.put("/v1/namespaces/shop/staging/config", &config).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revision"], 1);
    let (_, list) = json_of(server.get("/v1/namespaces").await).await;
    let names: Vec<&str> = list["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default/production", "shop/staging"]);

    let response = server.get("/v1/namespaces/shop/staging/config").await;
    assert_eq!(response.headers()["etag"], "\"1\"");
    let (_, got) = json_of(response).await;
    assert_eq!(got, config);

    // Unknown top-level fields and stale If-Match are refused.
    let (status, body) =
        json_of(server.put("/v1/namespaces/shop/staging/config", &json!({"flgs": []})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["problems"][0]["path"], "flgs");
    let response = server
        .client
        .put(server.url("/v1/namespaces/shop/staging/config"))
        .header("if-match", "\"0\"")
        .json(&config)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(server.get("/v1/namespaces/nope/nope/config").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        server.get("/v1/namespaces/shop/staging/widgets").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.get("/v1/namespaces/b%20d/x/config").await.status(), StatusCode::BAD_REQUEST);
}
