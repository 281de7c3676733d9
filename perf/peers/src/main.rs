//! Flagstone against Unleash yggdrasil and the LaunchDarkly Rust evaluator, in one process.
//!
//! See `perf/README.md` for what is measured and how. Usage:
//! `cargo run --release --manifest-path perf/peers/Cargo.toml -- [--rounds N] [--filter TEXT]`.

mod contexts;
mod engines;

use contexts::{Ctx, N_CONTEXTS};
use engines::{Flagstone, LaunchDarkly, Outcome, Scenario, Yggdrasil};
use flagstone_core::EvaluationContext;
use serde_json::{Value, json};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

/// How a context reaches the engine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Built once before timing, as a server that evaluates many flags per request does.
    Prebuilt,
    /// Built from the request's `serde_json::Value` inside every timed evaluation.
    PerCall,
    /// Only the context construction from the `Value`, no evaluation.
    BuildOnly,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Prebuilt => "prebuilt",
            Mode::PerCall => "per_call",
            Mode::BuildOnly => "build_only",
        }
    }
}

/// One timed pass: evaluates `f` for every context, returns ns per evaluation.
#[inline(never)]
fn pass(f: &dyn Fn(usize) -> Outcome) -> f64 {
    let start = Instant::now();
    let mut sum = 0u32;
    for i in 0..N_CONTEXTS {
        sum = sum.wrapping_add(u32::from(f(black_box(i))));
    }
    let elapsed = start.elapsed();
    black_box(sum);
    elapsed.as_nanos() as f64 / N_CONTEXTS as f64
}

struct Runner<'a> {
    scenario: &'static str,
    engine: &'static str,
    mode: Mode,
    f: Box<dyn Fn(usize) -> Outcome + 'a>,
    samples: Vec<f64>,
}

fn runner<'a>(
    scenario: &'static str,
    engine: &'static str,
    mode: Mode,
    f: impl Fn(usize) -> Outcome + 'a,
) -> Runner<'a> {
    Runner { scenario, engine, mode, f: Box::new(f), samples: Vec::new() }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let mut rounds = 21usize;
    let mut filter = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => {
                rounds =
                    args.next().and_then(|n| n.parse().ok()).ok_or("--rounds needs a number")?
            }
            "--filter" => filter = args.next().ok_or("--filter needs a substring")?,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; expected --rounds N or --filter TEXT"
                ));
            }
        }
    }

    let ctxs: Vec<Ctx> = contexts::generate();
    let values: Vec<Value> = ctxs.iter().map(Ctx::to_json).collect();
    let fs = Flagstone::new()?;
    let yg = Yggdrasil::new()?;
    let ld = LaunchDarkly::new()?;
    let fs_ctx: Vec<EvaluationContext<'_>> =
        values.iter().map(EvaluationContext::from_json).collect();
    let yg_ctx: Vec<_> = ctxs.iter().map(Yggdrasil::context).collect();
    let ld_ctx = ctxs.iter().map(LaunchDarkly::context).collect::<Result<Vec<_>, _>>()?;

    // Correctness first: every engine, both context modes, every context.
    let mut failed = false;
    for s in Scenario::ALL {
        let outcomes: [Vec<Outcome>; 6] = [
            (0..N_CONTEXTS).map(|i| fs.evaluate(s, &fs_ctx[i])).collect(),
            (0..N_CONTEXTS).map(|i| yg.evaluate(s, &yg_ctx[i])).collect(),
            (0..N_CONTEXTS).map(|i| ld.evaluate(s, &ld_ctx[i])).collect(),
            (0..N_CONTEXTS).map(|i| fs.per_call(s, &values[i])).collect(),
            (0..N_CONTEXTS).map(|i| yg.per_call(s, &values[i])).collect(),
            (0..N_CONTEXTS).map(|i| ld.per_call(s, &values[i])).collect(),
        ];
        // A split agrees on who matched the criteria; which half is each engine's own hash.
        let matched = |o: Outcome| if s == Scenario::Split { o != 0 } else { o == 1 };
        let mismatches = (0..N_CONTEXTS)
            .filter(|&i| {
                let first = matched(outcomes[0][i]);
                outcomes.iter().any(|o| matched(o[i]) != first)
            })
            .count();
        let n_matched = outcomes[0].iter().filter(|&&o| matched(o)).count();
        eprintln!(
            "check {:<24} {n_matched:>4}/{N_CONTEXTS} matched, {mismatches} mismatches",
            s.name()
        );
        if mismatches > 0 {
            failed = true;
        }
        if s == Scenario::Split {
            for (name, o) in ["flagstone", "yggdrasil", "launchdarkly"].iter().zip(&outcomes) {
                let on = o.iter().filter(|&&x| x == 1).count();
                let share = on as f64 / n_matched.max(1) as f64;
                eprintln!("check {:<24} {name}: {:.1} % on", s.name(), share * 100.0);
                if !(0.4..=0.6).contains(&share) {
                    failed = true;
                }
            }
        }
    }
    if failed {
        eprintln!("error: the engines disagree");
        return Ok(ExitCode::from(1));
    }

    let mut runners: Vec<Runner<'_>> = Vec::new();
    let (fs, yg, ld, values) = (&fs, &yg, &ld, &values);
    let (fs_ctx, yg_ctx, ld_ctx) = (&fs_ctx, &yg_ctx, &ld_ctx);
    for s in Scenario::ALL {
        let name = s.name();
        runners.extend([
            runner(name, "flagstone", Mode::Prebuilt, move |i| fs.evaluate(s, &fs_ctx[i])),
            runner(name, "yggdrasil", Mode::Prebuilt, move |i| yg.evaluate(s, &yg_ctx[i])),
            runner(name, "launchdarkly", Mode::Prebuilt, move |i| ld.evaluate(s, &ld_ctx[i])),
            runner(name, "flagstone", Mode::PerCall, move |i| fs.per_call(s, &values[i])),
            runner(name, "yggdrasil", Mode::PerCall, move |i| yg.per_call(s, &values[i])),
            runner(name, "launchdarkly", Mode::PerCall, move |i| ld.per_call(s, &values[i])),
        ]);
    }
    let build = "context_5_attributes";
    runners.extend([
        runner(build, "flagstone", Mode::BuildOnly, move |i| {
            black_box(EvaluationContext::from_json(black_box(&values[i])));
            0
        }),
        runner(build, "yggdrasil", Mode::BuildOnly, move |i| {
            black_box(Yggdrasil::context_from_json(black_box(&values[i])));
            0
        }),
        runner(build, "launchdarkly", Mode::BuildOnly, move |i| {
            black_box(LaunchDarkly::context_from_json(black_box(&values[i])));
            0
        }),
    ]);

    // `--filter` keeps the runners whose `scenario/engine/context` contains it (for profiling).
    runners.retain(|r| format!("{}/{}/{}", r.scenario, r.engine, r.mode.name()).contains(&filter));

    // Rounds: every runner once per round, in an order that rotates, so that
    // drift in the machine's speed falls on every engine alike. Each timed pass
    // follows an untimed one over the same contexts, so no runner pays for the
    // caches its predecessor evicted (LaunchDarkly's regex path allocates and
    // compiles a regex per call, which empties the L2 cache).
    let n = runners.len();
    for round in 0..rounds {
        for k in 0..n {
            let r = &mut runners[(k + round) % n];
            pass(&*r.f);
            r.samples.push(pass(&*r.f));
        }
    }

    struct Row {
        scenario: &'static str,
        engine: &'static str,
        mode: Mode,
        median: f64,
        p10: f64,
        p90: f64,
    }
    let rows: Vec<Row> = runners
        .iter_mut()
        .map(|r| {
            r.samples.sort_by(f64::total_cmp);
            Row {
                scenario: r.scenario,
                engine: r.engine,
                mode: r.mode,
                median: percentile(&r.samples, 0.5),
                p10: percentile(&r.samples, 0.1),
                p90: percentile(&r.samples, 0.9),
            }
        })
        .collect();
    let fastest_peer = |row: &Row| {
        rows.iter()
            .filter(|o| o.scenario == row.scenario && o.mode == row.mode && o.engine != "flagstone")
            .map(|o| o.median)
            .fold(f64::INFINITY, f64::min)
    };

    eprintln!();
    eprintln!(
        "{:<24} {:<11} {:<13} {:>10} {:>10} {:>10} {:>8}",
        "scenario", "context", "engine", "median ns", "p10 ns", "p90 ns", "speedup"
    );
    for row in &rows {
        let ratio = fastest_peer(row) / row.median;
        println!(
            "{}",
            json!({
                "scenario": row.scenario,
                "engine": row.engine,
                "context": row.mode.name(),
                "ns_median": (row.median * 10.0).round() / 10.0,
                "ns_p10": (row.p10 * 10.0).round() / 10.0,
                "ns_p90": (row.p90 * 10.0).round() / 10.0,
                "ratio_vs_fastest_peer": (ratio * 100.0).round() / 100.0,
            })
        );
        eprintln!(
            "{:<24} {:<11} {:<13} {:>10.1} {:>10.1} {:>10.1} {:>7.2}x",
            row.scenario,
            row.mode.name(),
            row.engine,
            row.median,
            row.p10,
            row.p90,
            ratio
        );
    }
    Ok(ExitCode::SUCCESS)
}
