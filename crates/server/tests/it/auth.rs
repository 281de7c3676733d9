//! Tokens: 401 without, 403 without the scope or namespace, three header forms.

use crate::support::{Options, TestServer, example_context, json_of, simple_config, token_file};
use flagstone_server::Scope;
use reqwest::StatusCode;
use serde_json::json;

struct Tokens {
    eval: String,
    reader: String,
    shop: String,
    star: String,
}

async fn start() -> (TestServer, Tokens) {
    let scratch = tempfile::tempdir().unwrap();
    let (path, tokens) = token_file(
        scratch.path(),
        &[
            ("ci-eval", "default/production", &[Scope::Evaluate]),
            ("reader", "default/production", &[Scope::Read]),
            ("shop", "shop/prod", &[Scope::Read, Scope::Write, Scope::Evaluate]),
            ("star", "*", &[Scope::Admin]),
        ],
    );
    let server = TestServer::with(Options { tokens: Some(path), ..Options::default() }).await;
    std::mem::forget(scratch);
    let [eval, reader, shop, star] = <[String; 4]>::try_from(tokens).unwrap();
    (server, Tokens { eval, reader, shop, star })
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_is_401_and_every_header_form_works() {
    let (server, t) = start().await;
    let url = server.url("/ofrep/v1/evaluate/flags/dark-mode");
    let context = example_context();
    let response = server.client.post(&url).json(&context).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let response =
        server.client.post(&url).bearer_auth("fs_wrong").json(&context).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.get("/v1/namespaces/default/production/config").await.status(),
        StatusCode::UNAUTHORIZED
    );

    for (name, value) in [
        ("authorization", format!("Bearer {}", t.eval)),
        ("authorization", t.eval.clone()),
        ("x-api-key", t.eval.clone()),
    ] {
        let response =
            server.client.post(&url).header(name, value).json(&context).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
    }
    // Health needs no token.
    assert_eq!(server.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(server.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_and_namespaces_are_403() {
    let (server, t) = start().await;
    let config = server.url("/v1/namespaces/default/production/config");
    let get = |token: &str| server.client.get(&config).bearer_auth(token).send();
    assert_eq!(get(&t.eval).await.unwrap().status(), StatusCode::FORBIDDEN, "evaluate cannot read");
    assert_eq!(get(&t.reader).await.unwrap().status(), StatusCode::OK);
    assert_eq!(get(&t.shop).await.unwrap().status(), StatusCode::FORBIDDEN, "another namespace");
    assert_eq!(get(&t.star).await.unwrap().status(), StatusCode::OK);

    let put =
        |token: &str| server.client.put(&config).bearer_auth(token).json(&simple_config(1)).send();
    let (status, body) = json_of(put(&t.reader).await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("permission_denied")));

    // The shop token writes its own namespace and evaluates there without naming it.
    let shop_config = server.url("/v1/namespaces/shop/prod/config");
    let response = server
        .client
        .put(&shop_config)
        .bearer_auth(&t.shop)
        .json(&simple_config(5))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = server
        .client
        .get(server.url("/v1/namespaces/default/production/history"))
        .bearer_auth(&t.shop)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let eval = server.url("/ofrep/v1/evaluate/flags/f.n");
    let body = json!({"context": {"targetingKey": "u"}});
    let (status, value) =
        json_of(server.client.post(&eval).bearer_auth(&t.shop).json(&body).send().await.unwrap())
            .await;
    assert_eq!((status, &value["value"]), (StatusCode::OK, &json!(5)), "{value}");
    // Asking for another namespace by header is refused.
    let response = server
        .client
        .post(&eval)
        .bearer_auth(&t.shop)
        .header("x-flagstone-namespace", "default/production")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A * token acts on default/production unless the header names another.
    let (_, value) =
        json_of(server.client.post(&eval).bearer_auth(&t.star).json(&body).send().await.unwrap())
            .await;
    assert_eq!(value["errorCode"], "FLAG_NOT_FOUND");
    let (_, value) = json_of(
        server
            .client
            .post(&eval)
            .bearer_auth(&t.star)
            .header("x-flagstone-namespace", "shop/prod")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(value["value"], 5);

    let metrics = server.url("/metrics");
    assert_eq!(
        server.client.get(&metrics).bearer_auth(&t.reader).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let text = server
        .client
        .get(&metrics)
        .bearer_auth(&t.star)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "flagstone_evaluations_total{namespace=\"shop/prod\",flag=\"flags/f\",reason=\"MATCH\"}"
        ),
        "{text}"
    );
    assert!(text.contains("flagstone_config_revision{namespace=\"shop/prod\"} 1"), "{text}");
    assert!(text.contains("status=\"403\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_tokens_means_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = flagstone_server::ServerConfig::new(dir.path(), "0.0.0.0:0".parse().unwrap());
    let err = flagstone_server::Server::bind(config).await.unwrap_err();
    assert!(matches!(err, flagstone_server::ServerError::OpenBeyondLoopback(_)), "{err}");
}

#[test]
fn token_new_prints_the_token_then_its_entry() {
    let output = std::process::Command::new(crate::support::flagstone_bin())
        .args([
            "token",
            "new",
            "--id",
            "ci",
            "--namespace",
            "default/production",
            "--scope",
            "evaluate",
            "--scope",
            "read",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let entry: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(entry["sha256"], flagstone_server::auth::sha256_hex(lines[0]));
    assert_eq!(entry["scopes"], json!(["evaluate", "read"]));
    assert_eq!(entry["namespace"], "default/production");
}
