//! Hostile input: malformed and huge bodies, deep nesting, floods. Never a 500.

use crate::support::{Options, TestServer, json_of};
use flagstone_server::Limits;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn garbage_never_gives_a_500() {
    let limits = Limits { max_body_bytes: 1024 * 1024, rate_per_second: 0, ..Limits::default() };
    let server = TestServer::with(Options { limits, ..Options::default() }).await;
    let deep = "[".repeat(100_000);
    let deep_context =
        format!("{{\"context\": {}{}}}", "{\"a\":".repeat(500), "1".to_owned() + &"}".repeat(501));
    let huge = format!("{{\"context\": {{\"x\": \"{}\"}}}}", "a".repeat(1024 * 1024 + 16 * 1024));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"{}".to_vec(),
        b"[]".to_vec(),
        b"\"x\"".to_vec(),
        b"{\"context\": 5}".to_vec(),
        b"{\"flags\": 5}".to_vec(),
        b"{\"flags\": [5]}".to_vec(),
        b"{\"flags\": [{\"name\": 5}]}".to_vec(),
        b"{\"flags\": [{\"name\": \"flags/a\"}, {\"name\": \"flags/a\"}]}".to_vec(),
        b"{\"events\": [{\"unit\": \"u\", \"metric\": \"m\", \"value\": 1e999}]}".to_vec(),
        vec![0xff, 0xfe, 0x00],
        deep.clone().into_bytes(),
        deep_context.into_bytes(),
    ];
    let targets = [
        ("PUT", "/v1/namespaces/default/production/config"),
        ("PUT", "/v1/namespaces/default/production/flags/x"),
        ("PUT", "/v1/namespaces/default/production/experiments/x"),
        ("POST", "/ofrep/v1/evaluate/flags/dark-mode"),
        ("POST", "/ofrep/v1/evaluate/flags"),
        ("POST", "/v1/events:batch"),
    ];
    let mut too_large = 0;
    for (method, path) in targets {
        for body in &bodies {
            let request =
                server.client.request(method.parse().unwrap(), server.url(path)).body(body.clone());
            let status = request.send().await.unwrap().status();
            // `{}` is a valid (empty) config; everything else here is refused.
            assert!(
                !status.is_server_error() && (status.is_client_error() || body == b"{}"),
                "{method} {path} {:?}: {status}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
        }
        // The server answers 413 without reading the rest and closes the connection,
        // so this request must not leave a connection in the client's pool; the
        // close can also cut the client off while it is still sending, which is a
        // refusal too.
        let sent = server
            .client
            .request(method.parse().unwrap(), server.url(path))
            .header("connection", "close")
            .body(huge.clone())
            .send()
            .await;
        match sent {
            Ok(response) => {
                assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{method} {path}");
                too_large += 1;
            }
            Err(e) => assert!(e.is_request(), "{method} {path}: {e}"),
        }
    }
    assert!(too_large > 0, "no oversized body got its 413");
    // Nesting is reported with its place, and the server still serves.
    let (status, body) = json_of(
        server
            .client
            .put(server.url("/v1/namespaces/default/production/config"))
            .body(deep)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("nesting deeper than 256"), "{body}");
    let (status, _) =
        json_of(server.post("/ofrep/v1/evaluate/flags", &crate::support::example_context()).await)
            .await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/nope", "/v1/namespaces/default/production/flags/x/y", "/ofrep/v1/evaluate"] {
        assert_eq!(server.get(path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let response =
        server.client.get(server.url("/ofrep/v1/evaluate/flags/dark-mode")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_gets_429_with_retry_after() {
    let limits = Limits { rate_per_second: 20, rate_burst: 20, ..Limits::default() };
    let server = TestServer::with(Options { limits, ..Options::default() }).await;
    let url = server.url("/ofrep/v1/evaluate/flags/dark-mode");
    let body = crate::support::example_context();
    let started = std::time::Instant::now();
    let mut handles = Vec::new();
    for _ in 0..10 {
        let (client, url, body) = (server.client.clone(), url.clone(), body.clone());
        handles.push(tokio::spawn(async move {
            let mut seen = (0u32, 0u32);
            for _ in 0..100 {
                let response = client.post(&url).json(&body).send().await.unwrap();
                match response.status() {
                    StatusCode::OK => seen.0 += 1,
                    StatusCode::TOO_MANY_REQUESTS => {
                        let retry: u64 =
                            response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                        assert!(retry >= 1);
                        let body: serde_json::Value = response.json().await.unwrap();
                        assert!(body["errorDetails"].as_str().unwrap().contains("rate limit"));
                        seen.1 += 1;
                    }
                    other => panic!("unexpected {other}"),
                }
            }
            seen
        }));
    }
    let (mut ok, mut limited) = (0, 0);
    for handle in handles {
        let (a, b) = handle.await.unwrap();
        ok += a;
        limited += b;
    }
    let allowed = 20.0 + 20.0 * started.elapsed().as_secs_f64() + 2.0;
    assert_eq!(ok + limited, 1000);
    assert!(limited > 0);
    assert!(f64::from(ok) <= allowed, "{ok} allowed in {:?}", started.elapsed());
}
