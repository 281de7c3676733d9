//! `flagstone eval`: resolve flags for one context, or stream a JSONL file of contexts.

use crate::exit::bad_input;
use crate::input::{InputError, Line, Problem, Source, jsonl, load_config, parse_json};
use anyhow::Context as _;
use clap::Args;
use flagstone_core::exposure::{Exposure, ExposureSink};
use flagstone_core::sticky::Persistence;
use flagstone_core::{Engine, EvaluationContext, Explanation, FlagId, Resolution};
use flagstone_store::{JsonLinesSink, RedbStore};
use serde::Serialize;
use serde_json::Value;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Arguments of `flagstone eval`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["context", "contexts"]))]
pub struct EvalArgs {
    /// The config file (JSON).
    #[arg(long)]
    config: PathBuf,
    /// One context: inline JSON, or @FILE.
    #[arg(long)]
    context: Option<String>,
    /// A JSON-lines file of contexts; one line of output per context.
    #[arg(long)]
    contexts: Option<PathBuf>,
    /// A flag to resolve (full name or id); repeat for several. All flags when absent.
    #[arg(long = "flag")]
    flags: Vec<String>,
    /// Evaluate at this RFC 3339 instant instead of now.
    #[arg(long)]
    now: Option<String>,
    /// Add each resolution's explanation.
    #[arg(long)]
    explain: bool,
    /// Keep sticky assignments in this persistent store file (redb); created when missing.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Append one exposure per rule-decided resolution to this JSON-lines file.
    #[arg(long)]
    exposures: Option<PathBuf>,
}

/// Where sticky assignments and exposures go, when asked for.
struct Effects {
    store: Option<RedbStore>,
    exposures: Option<JsonLinesSink<std::fs::File>>,
}

impl Effects {
    fn open(args: &EvalArgs) -> anyhow::Result<Effects> {
        let store = match &args.store {
            Some(path) => Some(
                RedbStore::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            ),
            None => None,
        };
        let exposures = match &args.exposures {
            Some(path) => {
                let file =
                    std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(
                        |e| bad_input(format!("{}: cannot open for writing: {e}", path.display())),
                    )?;
                Some(JsonLinesSink::new(file))
            }
            None => None,
        };
        Ok(Effects { store, exposures })
    }

    fn finish(&self) -> anyhow::Result<()> {
        if let Some(sink) = &self.exposures {
            sink.flush().map_err(|e| anyhow::anyhow!("exposures: {e}"))?;
        }
        Ok(())
    }
}

/// One resolution as printed: its own fields, then its explanation when asked for.
#[derive(Serialize)]
struct Resolved<'a> {
    #[serde(flatten)]
    resolution: Resolution<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<Explanation>,
}

#[derive(Serialize)]
struct Output<'a> {
    resolutions: Vec<Resolved<'a>>,
}

/// A context that is not JSON: the parser's message, as `not a JSON object: ...`.
fn not_json(e: InputError) -> anyhow::Error {
    match e.problem() {
        Problem::Json { error, .. } => {
            bad_input(format!("{}: not a JSON object: {error}", e.location()))
        }
        Problem::Read(_) | Problem::LineTooLong => bad_input(e.to_string()),
    }
}

/// Runs `flagstone eval`.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let config = load_config(&args.config)?;
    let engine = Engine::compile(&config).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        bad_input(format!("{}: invalid config:\n{}", args.config.display(), lines.join("\n")))
    })?;
    let now = match &args.now {
        Some(text) => Some(text.parse::<jiff::Timestamp>().map_err(|e| {
            bad_input(format!(
                "--now {text:?}: expected an RFC 3339 time such as 2026-01-01T00:00:00Z: {e}"
            ))
        })?),
        None => None,
    };
    let targets = Targets::new(&engine, &args.flags);
    let effects = Effects::open(args)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if let Some(context) = &args.context {
        let source = Source::arg("--context", context);
        let value: Value = parse_json(source).map_err(not_json)?;
        if !value.is_object() {
            return Err(bad_input(format!(
                "{}: expected a JSON object of attributes",
                source.name()
            )));
        }
        let output = evaluate(&engine, &targets, &value, now, args.explain, &effects);
        serde_json::to_writer_pretty(&mut out, &output)?;
        writeln!(out)?;
    } else if let Some(path) = &args.contexts {
        stream(&engine, &targets, path, now, args.explain, &effects, &mut out)?;
    }
    out.flush().context("cannot write to stdout")?;
    effects.finish()
}

/// The flags to resolve: their ids, or the names that are unknown.
struct Targets<'a> {
    flags: Vec<Result<FlagId, &'a str>>,
}

impl<'a> Targets<'a> {
    fn new(engine: &Engine, names: &'a [String]) -> Self {
        let flags = if names.is_empty() {
            engine.flag_ids().map(Ok).collect()
        } else {
            names.iter().map(|n| engine.flag_id(n).ok_or(n.as_str())).collect()
        };
        Targets { flags }
    }
}

fn evaluate<'a>(
    engine: &'a Engine,
    targets: &'a Targets<'a>,
    context: &Value,
    now: Option<jiff::Timestamp>,
    explain: bool,
    effects: &Effects,
) -> Output<'a> {
    // One clock reading per context, shared by every flag.
    let now = now.unwrap_or_else(jiff::Timestamp::now);
    let ctx = EvaluationContext::from_json(context).at(now);
    // With a store, every known flag of the context is resolved in one sticky batch:
    // one read before, one durable write after.
    let mut sticky = effects.store.as_ref().map(|store| {
        let ids: Vec<FlagId> = targets.flags.iter().filter_map(|t| t.ok()).collect();
        let batch = engine.evaluate_sticky(&ids, &ctx, store);
        if let Some(e) = &batch.read_error {
            eprintln!("warning: {e}; evaluated as if nothing were stored");
        }
        if let Persistence::Failed(e) = &batch.persistence {
            eprintln!("warning: {e}; new assignments were not persisted");
        }
        batch.resolutions.into_iter()
    });
    let resolutions = targets
        .flags
        .iter()
        .map(|target| {
            let (id, r) = match (target, sticky.as_mut()) {
                (Ok(id), Some(batch)) => {
                    (id, batch.next().unwrap_or_else(|| engine.evaluate(*id, &ctx)))
                }
                (Ok(id), None) => (id, engine.evaluate(*id, &ctx)),
                (Err(name), _) => {
                    return Resolved {
                        resolution: engine.evaluate_name(name, &ctx),
                        explanation: None,
                    };
                }
            };
            if let (Some(sink), Some(exposure)) =
                (&effects.exposures, Exposure::from_resolution(&r, &ctx, now))
                && let Err(e) = sink.record(exposure)
            {
                eprintln!("warning: {e}");
            }
            Resolved { resolution: r, explanation: explain.then(|| engine.explain(*id, &ctx)) }
        })
        .collect();
    Output { resolutions }
}

/// Streams contexts line by line: constant memory, one output line per input line.
fn stream(
    engine: &Engine,
    targets: &Targets<'_>,
    path: &Path,
    now: Option<jiff::Timestamp>,
    explain: bool,
    effects: &Effects,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut contexts = jsonl::<Value>(path).map_err(not_json)?;
    let mut progress = Progress::new(contexts.size());
    while let Some(line) = contexts.next() {
        let Line { number, value } = line.map_err(not_json)?;
        progress.advance(contexts.bytes_read(), number);
        if !value.is_object() {
            return Err(bad_input(format!(
                "{}:{number}: expected a JSON object of attributes",
                path.display()
            )));
        }
        let output = evaluate(engine, targets, &value, now, explain, effects);
        serde_json::to_writer(&mut *out, &output)?;
        out.write_all(b"\n")?;
        if effects.store.is_some() {
            // A printed line acknowledges that its assignments are durably stored.
            out.flush()?;
        }
    }
    progress.finish(contexts.lines_read());
    Ok(())
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct Progress {
    total: u64,
    done: u64,
    shown: bool,
    last_percent: u64,
}

impl Progress {
    fn new(total: u64) -> Self {
        Progress { total, done: 0, shown: std::io::stderr().is_terminal(), last_percent: u64::MAX }
    }

    /// Shows `done` bytes read of the total, after `lines` lines.
    fn advance(&mut self, done: u64, lines: usize) {
        self.done = done;
        if !self.shown || self.total == 0 {
            return;
        }
        let percent = (self.done * 100 / self.total).min(100);
        if percent != self.last_percent {
            self.last_percent = percent;
            let filled = usize::try_from(percent / 5).unwrap_or(20);
            eprint!(
                "\r[{}{}] {percent:>3}% {lines} contexts",
                "#".repeat(filled),
                " ".repeat(20 - filled.min(20))
            );
        }
    }

    fn finish(&self, lines: usize) {
        if self.shown {
            eprintln!("\r[{}] 100% {lines} contexts", "#".repeat(20));
        }
    }
}
