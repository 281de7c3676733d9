//! `flagstone serve`: the server, until SIGTERM or SIGINT.

use crate::exit::bad_input;
use clap::Args;
use flagstone_server::limits::Limits;
use flagstone_server::sync::parse_wait;
use flagstone_server::{
    AssignmentsConfig, NamespaceName, Server, ServerConfig, ServerError, StoreSpec, Upstream,
};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `flagstone serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The data directory: flagstone.db, exposures/, events/ (created when missing).
    #[arg(long)]
    data: PathBuf,
    /// Where to listen; port 0 picks a free one. Beyond loopback only with --tokens.
    #[arg(long, default_value = "127.0.0.1:8180")]
    listen: SocketAddr,
    /// The token file: {"tokens": [{"id", "sha256", "namespace", "scopes"}]}.
    /// Without it every request is allowed.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// A config to load into default/production at start when that namespace is empty.
    #[arg(long, conflicts_with = "upstream")]
    import: Option<PathBuf>,
    /// Follow this server (http://host:port) as a read-only edge replica.
    #[arg(long, requires = "token")]
    upstream: Option<String>,
    /// The upstream's token (needs the read scope).
    #[arg(long)]
    token: Option<String>,
    /// A namespace to follow from the upstream (repeatable).
    #[arg(long = "follow", default_value = "default/production")]
    follow: Vec<String>,
    /// The largest request body in bytes (413 above it).
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Requests per second per token; 0 turns the limit off (429 with Retry-After above it).
    #[arg(long, default_value_t = Limits::default().rate_per_second)]
    rate_limit: u32,
    /// Requests a token may make at once above its rate.
    #[arg(long, default_value_t = Limits::default().rate_burst)]
    rate_burst: u32,
    /// How long a request may take (503 after it), e.g. 10s or 500ms.
    #[arg(long, default_value = "10s")]
    request_timeout: String,
    /// The longest snapshot long-poll (?wait=), e.g. 60s.
    #[arg(long, default_value = "60s")]
    max_wait: String,
    /// Keep sticky assignments of OFREP evaluations here: redb:PATH (a file, created when
    /// missing) or redis://host:port/ (shared by several servers; needs the `redis` feature).
    #[arg(long, value_name = "STORE")]
    assignments: Option<String>,
    /// The bound of one assignment-store read or write; past it the evaluation answers
    /// without sticky assignments, e.g. 250ms.
    #[arg(long, default_value = "250ms", requires = "assignments")]
    assignments_timeout: String,
}

fn duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    parse_wait(text).ok_or_else(|| {
        bad_input(format!("{flag} {text:?}: expected a duration such as 10s, 500ms or 2m"))
    })
}

/// Runs `flagstone serve`.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    init_logs();
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        rate_per_second: args.rate_limit,
        rate_burst: args.rate_burst,
        request_timeout: duration("--request-timeout", &args.request_timeout)?,
        max_wait: duration("--max-wait", &args.max_wait)?,
    };
    let upstream = match &args.upstream {
        Some(url) => {
            let mut namespaces = Vec::new();
            for text in &args.follow {
                namespaces.push(
                    NamespaceName::parse(text).map_err(|e| bad_input(format!("--follow {e}")))?,
                );
            }
            Some(Upstream {
                url: url.clone(),
                token: args.token.clone(),
                namespaces,
                wait: Duration::from_secs(30).min(limits.max_wait),
            })
        }
        None => None,
    };
    let assignments = match &args.assignments {
        Some(text) => {
            let store = StoreSpec::parse(text).map_err(|e| bad_input(e.to_string()))?;
            let timeout = duration("--assignments-timeout", &args.assignments_timeout)?;
            if timeout.is_zero() {
                return Err(bad_input("--assignments-timeout: expected more than 0"));
            }
            Some(AssignmentsConfig { store, timeout })
        }
        None => None,
    };
    let config = ServerConfig {
        data_dir: args.data.clone(),
        listen: args.listen,
        tokens: args.tokens.clone(),
        import: args.import.clone(),
        upstream,
        limits,
        assignments,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let server = Server::bind(config).await.map_err(classify)?;
        let addr = server.local_addr()?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}")?;
        stdout.flush()?;
        drop(stdout);
        server.run(stop_signal()).await?;
        Ok(())
    })
}

fn classify(error: ServerError) -> anyhow::Error {
    match error {
        ServerError::Tokens(_)
        | ServerError::OpenBeyondLoopback(_)
        | ServerError::Import { .. }
        | ServerError::Assignments(flagstone_server::assignments::AssignmentsError::Syntax(_))
        | ServerError::Assignments(flagstone_server::assignments::AssignmentsError::NoRedis(_)) => {
            bad_input(error.to_string())
        }
        other => anyhow::Error::new(other),
    }
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("stopping: finishing in-flight requests");
}
