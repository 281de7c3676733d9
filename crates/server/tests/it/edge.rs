//! Edge replicas follow the upstream, survive it going away, and resume.

use crate::support::{Options, TestServer, json_of, simple_config, simple_flag};
use flagstone_server::{NamespaceName, Upstream};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

fn upstream_of(base: &str) -> Upstream {
    Upstream {
        url: base.to_owned(),
        token: None,
        namespaces: vec![NamespaceName::default_namespace()],
        wait: Duration::from_secs(2),
    }
}

async fn value_of(server: &TestServer) -> Option<i64> {
    let (status, value) = server.evaluate("f.n", &json!({"context": {"targetingKey": "u"}})).await;
    (status == StatusCode::OK).then(|| value["value"].as_i64()).flatten()
}

async fn wait_for(server: &TestServer, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if value_of(server).await == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "edge did not reach {n}; has {:?}",
            value_of(server).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn put_n(server: &TestServer, n: i64) {
    let mut flag = simple_flag("f", n);
    flag["rules"][0]["segment"] = json!("segments/everyone");
    let status = server.put("/v1/namespaces/default/production/flags/f", &flag).await.status();
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edge_follows_survives_and_resumes() {
    let upstream = TestServer::with(Options { import: false, ..Options::default() }).await;
    let (status, _) =
        json_of(upstream.put("/v1/namespaces/default/production/config", &simple_config(0)).await)
            .await;
    assert_eq!(status, StatusCode::OK);
    let upstream_addr = upstream.base.trim_start_matches("http://").to_owned();

    let edge = TestServer::with(Options {
        import: false,
        upstream: Some(upstream_of(&upstream.base)),
        ..Options::default()
    })
    .await;
    wait_for(&edge, 0).await;
    assert_eq!(edge.get("/readyz").await.status(), StatusCode::OK);

    // 100 revisions; the edge never goes backwards and ends on the last.
    let mut last = 0;
    for n in 1..=100 {
        put_n(&upstream, n).await;
        if n % 10 == 0 {
            let seen = value_of(&edge).await.unwrap();
            assert!(seen >= last, "edge went back from {last} to {seen}");
            last = seen;
        }
    }
    wait_for(&edge, 100).await;
    let snapshot = edge.get("/v1/namespaces/default/production/snapshot").await;
    assert_eq!(snapshot.headers()["etag"], "\"101\"", "the edge keeps the upstream's revision");

    // Read-only.
    let status =
        edge.put("/v1/namespaces/default/production/config", &simple_config(5)).await.status();
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // The upstream goes away: the edge keeps serving, also after its own restart.
    let upstream_dir = upstream.stop().await;
    assert_eq!(value_of(&edge).await, Some(100));
    let edge_dir = edge.stop().await;
    let edge = TestServer::with(Options {
        import: false,
        upstream: Some(upstream_of(&format!("http://{upstream_addr}"))),
        dir: Some(edge_dir),
        ..Options::default()
    })
    .await;
    assert_eq!(value_of(&edge).await, Some(100), "served from the snapshot on disk");

    // The upstream returns on its address: the edge resumes.
    let mut options = Options { import: false, dir: Some(upstream_dir), ..Options::default() };
    options.listen = Some(upstream_addr.parse().unwrap());
    let upstream = TestServer::with(options).await;
    put_n(&upstream, 101).await;
    wait_for(&edge, 101).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_long_poll_for_the_next_revision() {
    let server = TestServer::start().await;
    let url = server.url("/v1/namespaces/default/production/snapshot");
    let first = server.client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["etag"], "\"1\"");
    let config: serde_json::Value = first.json().await.unwrap();
    assert_eq!(config, crate::support::example_json("config.json"));

    // Large answers are gzipped for clients that ask.
    let zipped = server.client.get(&url).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let cached = server.client.get(&url).header("if-none-match", "\"1\"").send().await.unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    let started = Instant::now();
    let waited = server
        .client
        .get(format!("{url}?wait=300ms"))
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(waited.status(), StatusCode::NOT_MODIFIED);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let (client, poll) = (server.client.clone(), format!("{url}?wait=20s"));
    let pending = tokio::spawn(async move {
        client.get(poll).header("if-none-match", "\"1\"").send().await.unwrap()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut flag = simple_flag("poll", 1);
    flag["rules"][0]["segment"] = json!("segments/everyone");
    let started = Instant::now();
    assert_eq!(
        server.put("/v1/namespaces/default/production/flags/poll", &flag).await.status(),
        StatusCode::CREATED
    );
    let response = pending.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");
    assert!(started.elapsed() < Duration::from_secs(5));
    let response = server.client.get(format!("{url}?wait=soon")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edge_never_serves_a_snapshot_that_does_not_compile() {
    use axum::http::HeaderMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // A broken upstream: revision 1 is good; after it, only a revision 2 that does not compile.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let snapshot = move |_headers: HeaderMap| {
        let call = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            let (revision, config) = if call == 0 {
                (1, simple_config(1))
            } else {
                let mut bad = simple_config(-1);
                bad["flags"][0]["rules"][0]["segment"] = json!("segments/missing");
                (2, bad)
            };
            (
                [
                    ("x-flagstone-revision", revision.to_string()),
                    ("etag", format!("\"{revision}\"")),
                ],
                config.to_string(),
            )
        }
    };
    let app = axum::Router::new()
        .route("/v1/namespaces/default/production/snapshot", axum::routing::get(snapshot));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let edge = TestServer::with(Options {
        import: false,
        upstream: Some(upstream_of(&base)),
        ..Options::default()
    })
    .await;
    wait_for(&edge, 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "the edge stopped asking");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(value_of(&edge).await, Some(1), "the broken revision is never served");
    let (_, history) = json_of(edge.get("/v1/namespaces/default/production/history").await).await;
    assert_eq!(history["entries"].as_array().unwrap().len(), 1);
    assert_eq!(history["entries"][0]["method"], "REPLICATE");
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_a_long_poll_finish_and_closes_the_store() {
    let server = TestServer::start().await;
    let url = server.url("/v1/namespaces/default/production/snapshot?wait=30s");
    let client = server.client.clone();
    let pending =
        tokio::spawn(async move { client.get(url).header("if-none-match", "\"1\"").send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let dir = server.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5), "the long-poll held up the shutdown");
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "the in-flight request got its answer");
    // The WAL was checkpointed into the database file on close.
    let wal = dir.path().join("flagstone.db-wal");
    assert!(std::fs::metadata(&wal).map_or(true, |m| m.len() == 0), "{}", wal.display());
}
