//! Engine benches: the cases of spec §2.10.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flagstone_benches::{
    all_on, engine, flag, many_flags, matching_context, split_10k, two_criteria,
};
use flagstone_core::{Engine, EngineHandle, EvaluationContext};
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn evaluate(c: &mut Criterion) {
    let ctx_json = matching_context();
    let ctx = EvaluationContext::from_json(&ctx_json);
    let mut group = c.benchmark_group("evaluate");

    let bool_engine = engine(&json!({
        "flags": [flag("bool", "segments/s", 1, all_on(1))],
        "segments": [{"name": "segments/s", "targeting": {"criteria": two_criteria()}}]
    }));
    let id = bool_engine.flag_id("bool").unwrap_or_else(|| unreachable!());
    group.bench_function("bool_2_criteria", |b| {
        b.iter(|| bool_engine.evaluate(black_box(id), black_box(&ctx)))
    });

    let split = engine(&json!({
        "flags": [flag("split", "segments/s", 10_000, split_10k())],
        "segments": [{"name": "segments/s", "targeting": {"criteria": two_criteria()}}]
    }));
    let split_id = split.flag_id("split").unwrap_or_else(|| unreachable!());
    group.bench_function("split_10k_2_criteria", |b| {
        b.iter(|| split.evaluate(black_box(split_id), black_box(&ctx)))
    });

    let regex = engine(&json!({
        "flags": [flag("regex", "segments/s", 1, all_on(1))],
        "segments": [{"name": "segments/s", "targeting": {"criteria": {
            "staff": {"attribute": {"attributeName": "email", "regexRule": {"pattern": "^[a-z.]+@(acme|example)\\.(com|example)$"}}}
        }}}]
    }));
    let regex_id = regex.flag_id("regex").unwrap_or_else(|| unreachable!());
    group.bench_function("regex", |b| {
        b.iter(|| regex.evaluate(black_box(regex_id), black_box(&ctx)))
    });

    // The other two ways a pattern runs: a DFA walked backwards from the end (anchored
    // at the end only), and the `regex` crate (a Unicode word boundary has no DFA).
    for (name, pattern) in
        [("regex_suffix", "@(acme|example)\\.(com|example)$"), ("regex_no_dfa", "\\bana\\b")]
    {
        let engine = engine(&json!({
            "flags": [flag("regex", "segments/s", 1, all_on(1))],
            "segments": [{"name": "segments/s", "targeting": {"criteria": {
                "staff": {"attribute": {"attributeName": "email", "regexRule": {"pattern": pattern}}}
            }}}]
        }));
        let id = engine.flag_id("regex").unwrap_or_else(|| unreachable!());
        group.bench_function(name, |b| b.iter(|| engine.evaluate(black_box(id), black_box(&ctx))));
    }

    let dependency = engine(&json!({
        "flags": [
            flag("base", "segments/base", 1, all_on(1)),
            flag("dependent", "segments/dep", 10_000, split_10k())
        ],
        "segments": [
            {"name": "segments/base", "targeting": {"criteria": {"pro": two_criteria()["plan"]}}},
            {"name": "segments/dep", "targeting": {"criteria": {
                "base-on": {"dependency": {"flag": "flags/base", "variant": "on"}}
            }}}
        ]
    }));
    let dep_id = dependency.flag_id("dependent").unwrap_or_else(|| unreachable!());
    group.bench_function("dependency_split", |b| {
        b.iter(|| dependency.evaluate(black_box(dep_id), black_box(&ctx)))
    });

    let hundred = engine(&many_flags(100, 1));
    group.throughput(Throughput::Elements(100));
    group.bench_function("all_100_flags", |b| {
        b.iter(|| {
            for r in hundred.evaluate_all(black_box(&ctx)) {
                black_box(r);
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("explain");
    group.bench_function("split_10k_2_criteria", |b| {
        b.iter(|| split.explain(black_box(split_id), black_box(&ctx)))
    });
    group.finish();
}

fn compile(c: &mut Criterion) {
    let json = many_flags(10_000, 3);
    let config =
        flagstone_model::parse_config(&json.to_string()).unwrap_or_else(|e| unreachable!("{e}"));
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("10k_flags_3_rules", |b| b.iter(|| Engine::compile(black_box(&config))));
    group.finish();
}

/// Readers evaluating through an [`EngineHandle`] while a writer swaps
/// engines every millisecond: throughput with 1 and 2 reader threads.
///
/// The writer swaps two engines compiled up front, so the bench measures
/// what readers pay for concurrent swaps, not the CPU a compile takes from
/// them on a 2-core machine (compile has its own bench).
fn concurrent(c: &mut Criterion) {
    let engines = [Arc::new(engine(&many_flags(100, 1))), Arc::new(engine(&many_flags(100, 1)))];
    let handle = Arc::new(EngineHandle::new(engine(&many_flags(100, 1))));
    let ctx_json = matching_context();
    let mut group = c.benchmark_group("handle");
    const PER_THREAD: u64 = 20_000;
    for threads in [1u64, 2] {
        group.throughput(Throughput::Elements(threads * PER_THREAD));
        group.bench_function(format!("{threads}_threads_swapping"), |b| {
            b.iter_custom(|iters| {
                let stop = Arc::new(AtomicBool::new(false));
                let writer = {
                    let (handle, stop, engines) = (handle.clone(), stop.clone(), engines.clone());
                    std::thread::spawn(move || {
                        for i in 0usize.. {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            if let Some(next) = engines.get(i % 2) {
                                handle.store(next.clone());
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    })
                };
                let start = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        s.spawn(|| {
                            let ctx = EvaluationContext::from_json(&ctx_json);
                            for _ in 0..iters * PER_THREAD / 100 {
                                let engine = handle.load();
                                for r in engine.evaluate_all(&ctx) {
                                    black_box(r);
                                }
                            }
                        });
                    }
                });
                let elapsed = start.elapsed();
                stop.store(true, Ordering::Relaxed);
                let _ = writer.join();
                elapsed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, evaluate, compile, concurrent);
criterion_main!(benches);
