//! `flagstone eval`: resolve flags for one context, or stream a JSONL file of contexts.

use crate::exit::bad_input;
use crate::input::{load_config, read_text};
use anyhow::Context as _;
use clap::Args;
use flagstone_core::exposure::{Exposure, ExposureSink};
use flagstone_core::sticky::Persistence;
use flagstone_core::{Engine, EvaluationContext, Explanation, FlagId, Reason, Resolution};
use flagstone_store::{JsonLinesSink, RedbStore};
use serde::Serialize;
use serde_json::Value;
use std::io::{BufRead, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// The longest JSONL line accepted, in bytes (16 MiB).
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

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

/// One resolution as printed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Printed<'a> {
    flag: &'a str,
    variant: Option<&'a str>,
    value: Option<&'a Value>,
    reason: Reason,
    rule: Option<&'a str>,
    segment: Option<&'a str>,
    assignment_id: Option<&'a str>,
    bucket: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<Explanation>,
}

#[derive(Serialize)]
struct Output<'a> {
    resolutions: Vec<Printed<'a>>,
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
        let (text, origin) = match context.strip_prefix('@') {
            Some(file) => (read_text(Path::new(file))?, file.to_owned()),
            None => (context.clone(), "--context".to_owned()),
        };
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| bad_input(format!("{origin}: not a JSON object: {e}")))?;
        if !value.is_object() {
            return Err(bad_input(format!("{origin}: expected a JSON object of attributes")));
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
                (Err(name), _) => return printed(engine.evaluate_name(name, &ctx), None),
            };
            if let (Some(sink), Some(exposure)) =
                (&effects.exposures, Exposure::from_resolution(&r, &ctx, now))
                && let Err(e) = sink.record(exposure)
            {
                eprintln!("warning: {e}");
            }
            printed(r, explain.then(|| engine.explain(*id, &ctx)))
        })
        .collect();
    Output { resolutions }
}

fn printed(r: Resolution<'_>, explanation: Option<Explanation>) -> Printed<'_> {
    Printed {
        flag: r.flag,
        variant: r.variant,
        value: r.value,
        reason: r.reason,
        rule: r.rule,
        segment: r.segment,
        assignment_id: r.assignment_id,
        bucket: r.bucket,
        explanation,
    }
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
    let file = std::fs::File::open(path)
        .map_err(|e| bad_input(format!("{}: cannot read: {e}", path.display())))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = std::io::BufReader::new(file);
    let mut progress = Progress::new(total);
    let mut line = String::new();
    let mut line_no = 0usize;
    loop {
        line.clear();
        let n =
            reader.by_ref().take(MAX_LINE_BYTES as u64 + 1).read_line(&mut line).map_err(|e| {
                bad_input(format!("{}:{}: cannot read: {e}", path.display(), line_no + 1))
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if n > MAX_LINE_BYTES {
            return Err(bad_input(format!(
                "{}:{line_no}: line longer than {MAX_LINE_BYTES} bytes",
                path.display()
            )));
        }
        progress.advance(n as u64, line_no);
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            bad_input(format!("{}:{line_no}: not a JSON object: {e}", path.display()))
        })?;
        if !value.is_object() {
            return Err(bad_input(format!(
                "{}:{line_no}: expected a JSON object of attributes",
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
    progress.finish(line_no);
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

    fn advance(&mut self, bytes: u64, lines: usize) {
        self.done += bytes;
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
