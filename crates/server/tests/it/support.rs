//! Starting servers and talking to them.

use flagstone_server::auth::{Scope, TokenEntry, TokenFile, new_token};
use flagstone_server::{Limits, Server, ServerConfig, Upstream};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn example(name: &str) -> PathBuf {
    workspace_root().join("examples").join(name)
}

pub fn example_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(example(name)).unwrap()).unwrap()
}

/// The example context as an OFREP context (`targeting_key` → `targetingKey`).
pub fn example_context() -> Value {
    let mut context = example_json("context.json");
    let map = context.as_object_mut().unwrap();
    let key = map.remove("targeting_key").unwrap();
    map.insert("targetingKey".into(), key);
    serde_json::json!({ "context": context })
}

/// A server running in this process.
pub struct TestServer {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub client: Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), flagstone_server::ServerError>>>,
}

pub struct Options {
    pub tokens: Option<PathBuf>,
    pub import: bool,
    pub limits: Limits,
    pub upstream: Option<Upstream>,
    pub dir: Option<tempfile::TempDir>,
    pub listen: Option<std::net::SocketAddr>,
    pub assignments: Option<flagstone_server::AssignmentsConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tokens: None,
            import: true,
            limits: Limits { rate_per_second: 0, ..Limits::default() },
            upstream: None,
            dir: None,
            listen: None,
            assignments: None,
        }
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with(Options::default()).await
    }

    pub async fn with(options: Options) -> TestServer {
        let dir = options.dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let listen = options.listen.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        let mut config = ServerConfig::new(dir.path(), listen);
        config.tokens = options.tokens;
        config.import = options.import.then(|| example("config.json"));
        config.limits = options.limits;
        config.upstream = options.upstream;
        config.assignments = options.assignments;
        let server = Server::bind(config).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            dir,
            client: client(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops gracefully and hands back the data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.shutdown().await;
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.client.put(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn evaluate(&self, key: &str, body: &Value) -> (StatusCode, Value) {
        let response = self.post(&format!("/ofrep/v1/evaluate/flags/{key}"), body).await;
        json_of(response).await
    }
}

pub fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(90)).build().unwrap()
}

pub async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// Writes a token file; returns its path and each token in order.
pub fn token_file(dir: &Path, specs: &[(&str, &str, &[Scope])]) -> (PathBuf, Vec<String>) {
    let mut tokens = Vec::new();
    let mut entries: Vec<TokenEntry> = Vec::new();
    for (id, namespace, scopes) in specs {
        let (token, entry) = new_token(id, namespace, scopes.to_vec());
        tokens.push(token);
        entries.push(entry);
    }
    let path = dir.join("tokens.json");
    std::fs::write(&path, serde_json::to_string(&TokenFile { tokens: entries }).unwrap()).unwrap();
    (path, tokens)
}

/// A flag whose variant `on` has `{"enabled": true, "n": N}` for everyone.
pub fn simple_flag(id: &str, n: i64) -> Value {
    serde_json::json!({
        "name": format!("flags/{id}"),
        "variants": [{"name": format!("flags/{id}/variants/on"), "value": {"enabled": true, "n": n}}],
        "rules": [{"name": format!("flags/{id}/rules/all"), "segment": "segments/everyone",
            "assignmentSpec": {"bucketCount": 1, "assignments": [
                {"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]
    })
}

/// A config of one segment and one simple flag.
pub fn simple_config(n: i64) -> Value {
    serde_json::json!({
        "segments": [{"name": "segments/everyone"}],
        "flags": [simple_flag("f", n)]
    })
}

/// The built `flagstone` binary; built on demand when this test binary runs alone.
pub fn flagstone_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/it-HASH → target/debug/flagstone
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let bin = profile_dir.join(format!("flagstone{}", std::env::consts::EXE_SUFFIX));
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let target_dir = profile_dir.parent().unwrap();
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "flagstone-cli", "--bin", "flagstone", "--target-dir"])
            .arg(target_dir)
            .current_dir(workspace_root())
            .status()
            .unwrap();
        assert!(status.success(), "building the flagstone binary failed");
    });
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

/// `flagstone serve` as a child process.
pub struct ChildServer {
    pub base: String,
    pub child: Child,
}

impl ChildServer {
    pub fn start(args: &[&str]) -> ChildServer {
        let mut child = Command::new(flagstone_bin())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        let base = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {first:?}"))
            .to_owned();
        ChildServer { base, child }
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}
