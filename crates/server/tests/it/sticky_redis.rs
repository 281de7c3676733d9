//! Sticky assignments shared through a real Redis (feature `redis`): a primary
//! and an edge replica on one `redis-server` give a unit the same sticky variant,
//! and a Redis that goes away degrades evaluations to plain ones, counted.

use crate::sticky::{plain_variant, put_config, rollout_config, store_calls, variant_of};
use crate::support::{Options, TestServer};
use flagstone_server::{AssignmentsConfig, NamespaceName, StoreSpec, Upstream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` on a free loopback port, stopped on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Redis::start_on(port)
    }

    fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server (install Debian's redis-server; .ci/run does): {e}"
                )
            });
        let redis = Redis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn options(&self) -> Option<AssignmentsConfig> {
        let url = format!("redis://127.0.0.1:{}/", self.port);
        Some(AssignmentsConfig::new(StoreSpec::Redis(url)))
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn etag(server: &TestServer) -> Option<String> {
    let response = server.get("/v1/namespaces/default/production/snapshot").await;
    response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Waits until the edge serves the primary's revision.
async fn caught_up(edge: &TestServer, primary: &TestServer) {
    let want = etag(primary).await;
    assert!(want.is_some());
    let deadline = Instant::now() + Duration::from_secs(30);
    while etag(edge).await != want {
        assert!(Instant::now() < deadline, "the edge did not reach {want:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_and_an_edge_share_sticky_assignments_through_redis() {
    let mut redis = Redis::start();
    let ns = "default/production";
    let primary = TestServer::with(Options {
        import: false,
        assignments: redis.options(),
        ..Options::default()
    })
    .await;
    let half = rollout_config(0.5, false);
    put_config(&primary, ns, &half).await;
    let edge = TestServer::with(Options {
        import: false,
        upstream: Some(Upstream {
            url: primary.base.clone(),
            token: None,
            namespaces: vec![NamespaceName::default_namespace()],
            wait: Duration::from_secs(2),
        }),
        assignments: redis.options(),
        ..Options::default()
    })
    .await;
    caught_up(&edge, &primary).await;

    // The edge assigns at reach 0.5.
    let mut assigned = Vec::new();
    for i in 0..100 {
        let unit = format!("edge-{i}");
        let (variant, materialized) = variant_of(&edge, ns, &unit).await;
        assert_eq!((variant.clone(), materialized), (plain_variant(&half, &unit), false));
        if variant.is_some() {
            assigned.push(unit);
        }
    }
    assert!(assigned.len() > 20, "{} of 100 at reach 0.5", assigned.len());

    // The reach drops on the primary; the edge follows. Both answer every unit the
    // edge assigned from the shared store.
    let tenth = rollout_config(0.1, false);
    put_config(&primary, ns, &tenth).await;
    caught_up(&edge, &primary).await;
    let dropped: Vec<&String> =
        assigned.iter().filter(|u| plain_variant(&tenth, u).is_none()).collect();
    assert!(!dropped.is_empty());
    for unit in &assigned {
        assert_eq!(variant_of(&primary, ns, unit).await, (Some("on".into()), true), "{unit}");
        assert_eq!(variant_of(&edge, ns, unit).await, (Some("on".into()), true), "{unit}");
    }

    // And the other way: what the primary assigns, the edge serves from the store.
    let mut from_primary = Vec::new();
    for i in 0..200 {
        let unit = format!("primary-{i}");
        if variant_of(&primary, ns, &unit).await.0.is_some() {
            from_primary.push(unit);
        }
    }
    assert!(!from_primary.is_empty());
    for unit in &from_primary {
        assert_eq!(variant_of(&edge, ns, unit).await, (Some("on".into()), true), "{unit}");
    }

    // Redis goes away: evaluations still answer (without stickiness) and the
    // failures are counted.
    redis.stop();
    for unit in &dropped {
        assert_eq!(variant_of(&primary, ns, unit).await, (None, false), "{unit}");
    }
    let calls = store_calls(&primary).await;
    assert!(calls.get("read/error").copied().unwrap_or(0) >= 1, "{calls:?}");

    // Redis comes back (empty) on the same port: the servers reconnect by
    // themselves and assign again, shared as before.
    let port = redis.port;
    let _redis = Redis::start_on(port);
    let unit = dropped[0];
    assert_eq!(variant_of(&primary, ns, unit).await, (None, false), "{unit}: the store is empty");
    let newly: Vec<String> = (0..200)
        .map(|i| format!("after-{i}"))
        .filter(|u| plain_variant(&tenth, u).is_some())
        .collect();
    assert!(!newly.is_empty());
    for unit in &newly {
        assert_eq!(variant_of(&primary, ns, unit).await, (Some("on".into()), false), "{unit}");
        assert_eq!(variant_of(&edge, ns, unit).await, (Some("on".into()), true), "{unit}");
    }
}
