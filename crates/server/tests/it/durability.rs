//! Durability: acknowledged writes survive SIGKILL; SIGTERM stops cleanly.

use crate::support::{ChildServer, client, json_of, simple_config, simple_flag};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = ChildServer::start(&["--data", data]);
    let http = client();
    let ns = format!("{}/v1/namespaces/default/production", server.base);
    let response = http.put(format!("{ns}/config")).json(&simple_config(0)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    const N: usize = 40;
    for i in 0..N {
        let mut flag = simple_flag(&format!("f{i}"), i as i64);
        flag["rules"][0]["segment"] = serde_json::json!("segments/everyone");
        let response = http.put(format!("{ns}/flags/f{i}")).json(&flag).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    server.kill9();

    let server = ChildServer::start(&["--data", data]);
    let ns = format!("{}/v1/namespaces/default/production", server.base);
    let response = http.get(format!("{ns}/config")).send().await.unwrap();
    assert_eq!(response.headers()["etag"], format!("\"{}\"", N + 1).as_str());
    let (_, flags) = json_of(http.get(format!("{ns}/flags")).send().await.unwrap()).await;
    assert_eq!(flags["flags"].as_array().unwrap().len(), N + 1);
    let (_, history) =
        json_of(http.get(format!("{ns}/history?limit=1000")).send().await.unwrap()).await;
    let revisions: Vec<u64> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revisions, (1..=(N as u64 + 1)).collect::<Vec<_>>());
    let url = format!("{}/ofrep/v1/evaluate/flags/f{}.n", server.base, N - 1);
    let (_, value) = json_of(
        http.post(url)
            .json(&serde_json::json!({"context": {"targetingKey": "u"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(value["value"], (N - 1) as i64);

    // SIGTERM: a clean exit, and the data is there next time.
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let server = ChildServer::start(&["--data", data]);
    let response = http
        .get(format!("{}/v1/namespaces/default/production/config", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], format!("\"{}\"", N + 1).as_str());
    server.kill9();
}

#[test]
fn import_goes_into_an_empty_default_namespace_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let config = crate::support::example("config.json");
    let server = ChildServer::start(&["--data", data, "--import", config.to_str().unwrap()]);
    server.kill9();
    // A second start with --import leaves the namespace alone.
    let server = ChildServer::start(&["--data", data, "--import", config.to_str().unwrap()]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_, history) = runtime.block_on(async {
        json_of(
            client()
                .get(format!("{}/v1/namespaces/default/production/history", server.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    });
    assert_eq!(history["entries"].as_array().unwrap().len(), 1);
    server.kill9();

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"flags": [{"name": "flags/a", "rules": [{"name": "flags/a/rules/r", "segment": "segments/none"}]}]}"#).unwrap();
    let output = std::process::Command::new(crate::support::flagstone_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("other"))
        .arg("--import")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("flags[0].rules[0]"), "{stderr}");
}
