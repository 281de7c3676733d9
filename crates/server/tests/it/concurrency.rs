//! Writers and OFREP readers at once: no reader ever sees a rejected write.

use crate::support::{Options, TestServer, json_of, simple_config, simple_flag};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_see_a_rejected_engine() {
    let server = TestServer::with(Options { import: false, ..Options::default() }).await;
    let (status, _) =
        json_of(server.put("/v1/namespaces/default/production/config", &simple_config(0)).await)
            .await;
    assert_eq!(status, StatusCode::OK);
    let done = Arc::new(AtomicBool::new(false));
    let flag_url = server.url("/v1/namespaces/default/production/flags/f");
    let eval_url = server.url("/ofrep/v1/evaluate/flags/f.n");

    let mut readers = Vec::new();
    for r in 0..4 {
        let (client, url, done) = (server.client.clone(), eval_url.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let body = json!({"context": {"targetingKey": format!("reader-{r}")}});
            let (mut last, mut reads) = (0, 0u32);
            while !done.load(Ordering::Acquire) || reads < 10 {
                let (status, value) =
                    json_of(client.post(&url).json(&body).send().await.unwrap()).await;
                assert_eq!(status, StatusCode::OK, "{value}");
                let n = value["value"].as_i64().unwrap();
                assert!(n >= 0, "a reader saw the rejected write's value {n}");
                assert!(n >= last, "went back from {last} to {n}");
                last = n;
                reads += 1;
            }
            reads
        }));
    }
    let rejecter = {
        let (client, url, done) = (server.client.clone(), flag_url.clone(), done.clone());
        tokio::spawn(async move {
            let mut rejected = 0;
            while !done.load(Ordering::Acquire) {
                let mut bad = simple_flag("f", -1);
                bad["rules"][0]["segment"] = json!("segments/missing");
                let status = client.put(&url).json(&bad).send().await.unwrap().status();
                assert_eq!(status, StatusCode::BAD_REQUEST);
                rejected += 1;
            }
            rejected
        })
    };
    for n in 1..=60 {
        let mut good = simple_flag("f", n);
        good["rules"][0]["segment"] = json!("segments/everyone");
        let status = server.client.put(&flag_url).json(&good).send().await.unwrap().status();
        assert_eq!(status, StatusCode::OK);
    }
    done.store(true, Ordering::Release);
    let rejected = rejecter.await.unwrap();
    assert!(rejected > 0);
    for reader in readers {
        assert!(reader.await.unwrap() >= 10);
    }
    let (_, value) = server.evaluate("f.n", &json!({"context": {"targetingKey": "end"}})).await;
    assert_eq!(value["value"], 60);
    let (_, history) =
        json_of(server.get("/v1/namespaces/default/production/history?limit=1000").await).await;
    assert_eq!(
        history["entries"].as_array().unwrap().len(),
        61,
        "only the accepted writes are in the history"
    );
}
