//! Concurrency and scale under load (spec §5): readers evaluating while a writer swaps valid
//! and invalid configs, a loom model of the publish/read protocol the handle relies on, and the
//! input limits at their scale (a 50 MB config, a 10,000-deep expression, catastrophic-looking
//! regexes). Timings are printed (`--nocapture`) for the issue notes, never asserted.

use flagstone_core::{Engine, EngineHandle, EvaluationContext, Reason, UpdateError};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const N_FLAGS: usize = 4;

/// A valid config whose every flag serves `{"version": version}` to the context of [`context`],
/// through a set rule, a regex rule and a rollout, so that each update compiles real work.
fn valid(version: u64) -> String {
    let flags: Vec<Value> = (0..N_FLAGS)
        .map(|i| {
            json!({
                "name": format!("flags/f{i}"),
                "variants": [{"name": format!("flags/f{i}/variants/v"), "value": {"version": version, "flag": i}},
                             {"name": format!("flags/f{i}/variants/old"), "value": {"version": 0}}],
                "rules": [{
                    "name": format!("flags/f{i}/rules/r"),
                    "segment": format!("segments/s{}", i % 2),
                    "assignmentSpec": {"bucketCount": 10000, "assignments": [
                        {"assignmentId": "all", "variant": {"variant": "v"}, "bucketRanges": [{"lower": 0, "upper": 10000}]}
                    ]}
                }]
            })
        })
        .collect();
    json!({
        "flags": flags,
        "segments": [
            {"name": "segments/s0", "targeting": {"criteria": {
                "country": {"attribute": {"attributeName": "country", "setRule": {"values": [{"stringValue": "SE"}, {"stringValue": "NO"}]}}},
                "email": {"attribute": {"attributeName": "user.email", "regexRule": {"pattern": "@example\\.(com|org)$"}}}
            }}},
            {"name": "segments/s1", "targeting": {"criteria": {
                "app": {"version": {"operator": "semver-gte", "semver": "2.0.0"}}
            }}}
        ],
        "rollouts": [{"name": "rollouts/late", "state": "LIVE", "flag": "flags/f0", "variant": "old", "reach": 1}]
    })
    .to_string()
}

/// Invalid updates of every kind: not JSON, unknown variant, a reference cycle, a bad regex,
/// a name over the length limit.
fn invalid(k: u64) -> String {
    let mut config: Value = serde_json::from_str(&valid(k)).unwrap();
    match k % 5 {
        0 => return "{\"flags\": [".to_owned(),
        1 => {
            config["flags"][0]["rules"][0]["assignmentSpec"]["assignments"][0]["variant"]["variant"] =
                json!("nope")
        }
        2 => {
            config["segments"][1]["targeting"]["criteria"]["loop"] =
                json!({"segment": {"segment": "segments/s1"}});
        }
        3 => {
            config["segments"][0]["targeting"]["criteria"]["email"]["attribute"]["regexRule"]["pattern"] =
                json!("(unclosed");
        }
        _ => config["flags"][3]["name"] = json!(format!("flags/{}", "x".repeat(600))),
    }
    config.to_string()
}

fn context() -> Value {
    json!({"targeting_key": "user-1", "country": "SE", "user": {"email": "a@example.com"}, "app_version": "2.1.0"})
}

/// The version every flag of `engine` serves to [`context`], or why the state is wrong.
fn served_version(engine: &Engine, ctx: &EvaluationContext<'_>) -> Result<u64, String> {
    let mut seen = None;
    for i in 0..N_FLAGS {
        let name = format!("flags/f{i}");
        let r = engine.evaluate_name(&name, ctx);
        if r.reason != Reason::Match {
            return Err(format!("{name}: reason {:?}", r.reason));
        }
        let version = r.value.and_then(|v| v["version"].as_u64()).ok_or("no version")?;
        match seen {
            None => seen = Some(version),
            Some(v) if v == version => {}
            Some(v) => return Err(format!("torn state: flags serve versions {v} and {version}")),
        }
    }
    seen.ok_or_else(|| "no flags".to_owned())
}

#[test]
fn readers_see_only_whole_valid_configs_while_a_writer_swaps() {
    const READERS: usize = 4;
    const BUDGET: Duration = Duration::from_secs(3);
    const MAX_UPDATES: u64 = 5_000;
    let handle = Arc::new(EngineHandle::new(
        Engine::compile(&flagstone_model::parse_config(&valid(1)).unwrap()).unwrap(),
    ));
    // `published` is raised after a successful swap and `pending` before it: a reader that
    // reads `published`, loads, then reads `pending` must see a version between the two.
    let published = Arc::new(AtomicU64::new(1));
    let pending = Arc::new(AtomicU64::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let failure: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (handle, published, pending, stop, reads, failure) = (
                handle.clone(),
                published.clone(),
                pending.clone(),
                stop.clone(),
                reads.clone(),
                failure.clone(),
            );
            std::thread::spawn(move || {
                let ctx_json = context();
                let ctx = EvaluationContext::from_json(&ctx_json);
                let mut last = 0;
                while !stop.load(Ordering::Acquire) {
                    let floor = published.load(Ordering::Acquire);
                    let engine = handle.load();
                    let ceiling = pending.load(Ordering::Acquire);
                    let outcome = served_version(&engine, &ctx).and_then(|v| {
                        if v < floor || v > ceiling {
                            Err(format!("version {v} outside [{floor}, {ceiling}]"))
                        } else if v < last {
                            Err(format!("version went back from {last} to {v}"))
                        } else {
                            Ok(v)
                        }
                    });
                    match outcome {
                        Ok(v) => last = v,
                        Err(e) => {
                            failure.lock().unwrap().get_or_insert(e);
                            return;
                        }
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let ctx_json = context();
    let ctx = EvaluationContext::from_json(&ctx_json);
    let started = Instant::now();
    let (mut valid_updates, mut rejected) = (0u64, 0u64);
    let mut version = 1;
    while started.elapsed() < BUDGET && version < MAX_UPDATES {
        let next = version + 1;
        pending.store(next, Ordering::Release);
        handle.update_json(&valid(next)).unwrap();
        published.store(next, Ordering::Release);
        version = next;
        valid_updates += 1;

        let bad = invalid(next);
        match handle.update_json(&bad) {
            Ok(()) => panic!("an invalid config was accepted: {bad:.200}"),
            Err(UpdateError::Compile(errors)) => assert!(!errors.is_empty()),
            Err(UpdateError::Parse(e)) => assert!(!e.to_string().is_empty()),
            Err(other) => assert!(!other.to_string().is_empty()),
        }
        rejected += 1;
        // The last valid config keeps serving.
        assert_eq!(served_version(&handle.load(), &ctx), Ok(version));
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    if let Some(e) = failure.lock().unwrap().take() {
        panic!("a reader saw a wrong state: {e}");
    }
    let n_reads = reads.load(Ordering::Relaxed);
    eprintln!(
        "stress: {valid_updates} valid and {rejected} rejected updates, {n_reads} reads \
         ({READERS} readers × {N_FLAGS} flags) in {elapsed:.2?}"
    );
    assert!(valid_updates >= 10 && rejected == valid_updates);
    assert!(n_reads > 0, "the readers never ran");
    assert_eq!(served_version(&handle.load(), &ctx), Ok(version));
}

/// A loom model of the protocol `EngineHandle` relies on (arc-swap itself is not
/// loom-instrumented): an update builds the whole engine off to the side, publishes it with one
/// release store, and publishes nothing when it fails; a reader acquires the pointer and then
/// reads the engine. Engines are slots written once with relaxed stores before publication, so
/// a reader that could see a slot before its contents shows up as a torn read. Old engines are
/// never reused or freed here: reclamation is arc-swap's job and is not modelled.
mod loom_model {
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

    /// One engine: its version and a second field derived from it, as a torn-state check.
    struct Slot {
        version: AtomicU32,
        check: AtomicU32,
    }

    struct Handle {
        slots: [Slot; 3],
        current: AtomicUsize,
        publish: Ordering,
    }

    impl Handle {
        fn new(publish: Ordering) -> Self {
            let slot = || Slot { version: AtomicU32::new(0), check: AtomicU32::new(0) };
            let handle =
                Handle { slots: [slot(), slot(), slot()], current: AtomicUsize::new(0), publish };
            handle.slots[0].version.store(1, Ordering::Relaxed);
            handle.slots[0].check.store(!1, Ordering::Relaxed);
            handle
        }

        /// `update`: a config that fails to compile publishes nothing.
        fn update(&self, slot: usize, version: Option<u32>) -> Result<(), ()> {
            let version = version.ok_or(())?;
            let s = &self.slots[slot];
            s.version.store(version, Ordering::Relaxed);
            s.check.store(!version, Ordering::Relaxed);
            self.current.store(slot, self.publish);
            Ok(())
        }

        /// `load` then evaluate: the version of a whole engine, or `None` for a torn one.
        fn read(&self) -> Option<u32> {
            let s = &self.slots[self.current.load(Ordering::Acquire)];
            let version = s.version.load(Ordering::Relaxed);
            (version != 0 && s.check.load(Ordering::Relaxed) == !version).then_some(version)
        }
    }

    /// Two readers, each loading twice, against a writer that publishes version 2, fails an
    /// update, and publishes version 3.
    fn model(publish: Ordering) {
        loom::model(move || {
            let handle = Arc::new(Handle::new(publish));
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let handle = handle.clone();
                    loom::thread::spawn(move || {
                        let first = handle.read().expect("a whole engine");
                        let second = handle.read().expect("a whole engine");
                        assert!(second >= first, "went back from {first} to {second}");
                    })
                })
                .collect();
            assert!(handle.update(1, Some(2)).is_ok());
            assert!(handle.update(2, None).is_err());
            assert!(handle.update(2, Some(3)).is_ok());
            for r in readers {
                r.join().unwrap();
            }
            assert_eq!(handle.read(), Some(3), "the last valid engine serves");
        });
    }

    #[test]
    fn release_publication_never_shows_a_torn_or_failed_engine() {
        model(Ordering::Release);
    }

    #[test]
    fn loom_catches_a_relaxed_publication() {
        // The negative control: without release/acquire, a reader can see the slot before its
        // contents, and loom finds that interleaving.
        let caught = std::panic::catch_unwind(|| model(Ordering::Relaxed));
        assert!(caught.is_err(), "loom should find the torn read of a relaxed publication");
    }
}

/// A generated config of `n_flags` flags × 3 rules over 100 segments, padded to about
/// `target_bytes` with descriptions and variant payloads, as real configs' docs and values do.
/// Written as text: building a 50 MB `serde_json::Value` first would dominate the test's time.
fn big_config(n_flags: usize, target_bytes: usize) -> String {
    use std::fmt::Write as _;
    let per_flag = target_bytes / n_flags;
    let pad = "lorem ipsum dolor sit amet ".repeat(per_flag.saturating_sub(1200) / 27 / 2);
    let mut doc = String::with_capacity(target_bytes + target_bytes / 10);
    doc.push_str(r#"{"flags":["#);
    for i in 0..n_flags {
        if i > 0 {
            doc.push(',');
        }
        let _ = write!(
            doc,
            r#"{{"name":"flags/flag-{i}","description":"{pad}","variants":[{{"name":"flags/flag-{i}/variants/on","value":{{"enabled":true,"copy":"{pad}"}}}},{{"name":"flags/flag-{i}/variants/off","value":{{"enabled":false}}}}],"rules":["#
        );
        for j in 0..3 {
            if j > 0 {
                doc.push(',');
            }
            let _ = write!(
                doc,
                r#"{{"name":"flags/flag-{i}/rules/r{j}","segment":"segments/s{}","assignmentSpec":{{"bucketCount":10000,"assignments":[{{"assignmentId":"on","variant":{{"variant":"on"}},"bucketRanges":[{{"lower":0,"upper":5000}}]}},{{"assignmentId":"off","variant":{{"variant":"off"}},"bucketRanges":[{{"lower":5000,"upper":10000}}]}}]}}}}"#,
                (i + j) % 100
            );
        }
        doc.push_str("]}");
    }
    doc.push_str(r#"],"segments":["#);
    for i in 0..100 {
        if i > 0 {
            doc.push(',');
        }
        let _ = write!(
            doc,
            r#"{{"name":"segments/s{i}","targeting":{{"criteria":{{"country":{{"attribute":{{"attributeName":"country","setRule":{{"values":[{{"stringValue":"SE"}},{{"stringValue":"C{i}"}}]}}}}}},"plan":{{"attribute":{{"attributeName":"user.plan","eqRule":{{"value":{{"stringValue":"pro"}}}}}}}}}}}}}}"#
        );
    }
    doc.push_str("]}");
    doc
}

#[test]
fn a_50_mb_config_with_10_000_flags_loads() {
    let started = Instant::now();
    let doc = big_config(10_000, 50_000_000);
    let generated = started.elapsed();
    assert!(doc.len() >= 45_000_000, "generated only {} bytes", doc.len());
    let t = Instant::now();
    let config = flagstone_model::parse_config(&doc).unwrap();
    let parsed = t.elapsed();
    let t = Instant::now();
    let report = flagstone_model::validate(&config);
    let validated = t.elapsed();
    assert!(report.is_ok(), "{report}");
    let t = Instant::now();
    let engine = Engine::compile(&config).unwrap();
    let compiled = t.elapsed();
    assert_eq!(engine.n_flags(), 10_000);
    let ctx_json = json!({"targeting_key": "u", "country": "SE", "user": {"plan": "pro"}});
    let r = engine.evaluate_name("flags/flag-9999", &EvaluationContext::from_json(&ctx_json));
    assert_eq!(r.reason, Reason::Match);
    eprintln!(
        "50 MB config: {} bytes, 10,000 flags × 3 rules (generated in {generated:.2?}): \
         parse {parsed:.2?}, validate {validated:.2?}, compile (validates again) {compiled:.2?}",
        doc.len()
    );
}

#[test]
fn a_10_000_deep_expression_is_rejected_fast() {
    let mut expr = String::from(r#"{"ref":"a"}"#);
    for _ in 1..10_000 {
        expr = format!(r#"{{"not":{expr}}}"#);
    }
    let doc = format!(
        r#"{{"segments":[{{"name":"segments/s","targeting":{{"criteria":{{"a":{{"attribute":{{"attributeName":"x","eqRule":{{"value":{{"boolValue":true}}}}}}}}}},"expression":{expr}}}}}]}}"#
    );
    // Run on a small stack: rejection must not recurse on the input.
    let worker = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
        let t = Instant::now();
        let err = flagstone_model::parse_config(&doc).unwrap_err();
        (err.to_string(), t.elapsed())
    });
    let (message, elapsed) = worker.unwrap().join().unwrap();
    assert!(message.contains("nesting deeper than 256 levels"), "{message}");
    eprintln!("10,000-deep expression: rejected in {elapsed:.2?}: {message}");

    // 65 levels of `not` fit the JSON limit and are rejected by the expression limit.
    let mut expr = String::from(r#"{"ref":"a"}"#);
    for _ in 1..65 {
        expr = format!(r#"{{"not":{expr}}}"#);
    }
    let doc = format!(
        r#"{{"segments":[{{"name":"segments/s","targeting":{{"criteria":{{"a":{{"attribute":{{"attributeName":"x","eqRule":{{"value":{{"boolValue":true}}}}}}}}}},"expression":{expr}}}}}]}}"#
    );
    let t = Instant::now();
    let err = flagstone_model::parse_config(&doc).unwrap_err();
    eprintln!("65-deep expression: rejected in {:.2?}: {err}", t.elapsed());
    assert!(err.to_string().contains("over the limit of 64"), "{err}");
}

#[test]
fn catastrophic_looking_regexes_are_linear_or_rejected() {
    let config = |pattern: &str| {
        json!({
            "flags": [{"name": "flags/f", "variants": [{"name": "flags/f/variants/on", "value": true}],
              "rules": [{"name": "flags/f/rules/r", "segment": "segments/s", "assignmentSpec": {"bucketCount": 1,
                "assignments": [{"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]}],
            "segments": [{"name": "segments/s", "targeting": {"criteria": {
                "c": {"attribute": {"attributeName": "text", "regexRule": {"pattern": pattern}}}}}}]
        })
        .to_string()
    };
    // Backtracking engines take exponential time on these against "aaa…a" with no "b"; the
    // regex crate's automata take linear time.
    for pattern in ["(a*)*b", "(a|a)*b", "(a+)+b", "(.*a){20}b"] {
        let t = Instant::now();
        let engine =
            Engine::compile(&flagstone_model::parse_config(&config(pattern)).unwrap()).unwrap();
        let compiled = t.elapsed();
        for len in [30, 100_000, 1_000_000] {
            let ctx_json = json!({"targeting_key": "u", "text": "a".repeat(len)});
            let ctx = EvaluationContext::from_json(&ctx_json);
            let t = Instant::now();
            let r = engine.evaluate_name("flags/f", &ctx);
            let elapsed = t.elapsed();
            assert_eq!(r.reason, Reason::NoSegmentMatch, "{pattern} on {len} bytes");
            eprintln!(
                "regex {pattern:?}: compiled in {compiled:.2?}; no match on {len} bytes in {elapsed:.2?}"
            );
        }
    }
    // A pattern whose automaton would be huge is refused at validation, quickly.
    for pattern in ["x{1000}{1000}", "(\\w{100}){100}"] {
        let t = Instant::now();
        let errors = Engine::compile(&flagstone_model::parse_config(&config(pattern)).unwrap())
            .err()
            .unwrap_or_default();
        let elapsed = t.elapsed();
        let message = errors.first().map(ToString::to_string).unwrap_or_default();
        assert!(message.contains("invalid regex"), "{pattern}: {message}");
        eprintln!("regex {pattern:?}: rejected in {elapsed:.2?}: {message}");
    }
    // Patterns over the length limit are refused before compiling.
    let long = "a".repeat(5000);
    let errors = Engine::compile(&flagstone_model::parse_config(&config(&long)).unwrap())
        .err()
        .unwrap_or_default();
    assert!(errors.iter().any(|e| e.to_string().contains("over the limit of 4096")), "{errors:?}");
}
