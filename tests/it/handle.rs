//! A failed update leaves the previous engine serving, under a running reader.

use flagstone_core::{Engine, EngineHandle, EvaluationContext, Reason, UpdateError};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

fn config(variant: &str) -> String {
    json!({
        "flags": [{"name": "flags/f", "variants": [
            {"name": "flags/f/variants/a", "value": "a"}, {"name": "flags/f/variants/b", "value": "b"}],
          "rules": [{"name": "flags/f/rules/r", "segment": "segments/all", "assignmentSpec": {"bucketCount": 1,
            "assignments": [{"assignmentId": "x", "variant": {"variant": variant}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]}],
        "segments": [{"name": "segments/all"}]
    })
    .to_string()
}

#[test]
fn failed_updates_keep_the_last_good_engine_serving() {
    let first = flagstone_model::parse_config(&config("a")).unwrap();
    let handle = Arc::new(EngineHandle::new(Engine::compile(&first).unwrap()));
    let stop = Arc::new(AtomicBool::new(false));
    // The variant the reader must see: 0 = a, 1 = b. The writer sets `pending`
    // before a swap and `expected` after it, so a reader that read `expected`
    // before loading may see either; it counts any other outcome.
    let expected = Arc::new(AtomicU64::new(0));
    let pending = Arc::new(AtomicU64::new(0));
    let wrong = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (handle, stop, expected, pending, wrong, reads) = (
            handle.clone(),
            stop.clone(),
            expected.clone(),
            pending.clone(),
            wrong.clone(),
            reads.clone(),
        );
        std::thread::spawn(move || {
            let ctx_json = json!({"targeting_key": "u"});
            let ctx = EvaluationContext::from_json(&ctx_json);
            while !stop.load(Ordering::Acquire) {
                let before = expected.load(Ordering::Acquire);
                let engine = handle.load();
                let r = engine.evaluate_name("flags/f", &ctx);
                let after = pending.load(Ordering::Acquire);
                let got = match r.variant {
                    Some("flags/f/variants/a") => 0,
                    Some("flags/f/variants/b") => 1,
                    _ => u64::MAX,
                };
                if r.reason != Reason::Match || (got != before && got != after) {
                    wrong.fetch_add(1, Ordering::Relaxed);
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let wait_for_reads = |n: u64| {
        let target = reads.load(Ordering::Relaxed) + n;
        while reads.load(Ordering::Relaxed) < target {
            std::thread::yield_now();
        }
    };
    wait_for_reads(1000);
    for round in 0..20 {
        // Not JSON, unknown variant, a cycle: each is rejected with errors.
        assert!(matches!(handle.update_json("{"), Err(UpdateError::Parse(_))));
        let err = handle.update_json(&config("nope")).unwrap_err();
        assert!(err.to_string().contains("unknown variant \"nope\""), "{err}");
        wait_for_reads(200);
        let next = if round % 2 == 0 { ("b", 1) } else { ("a", 0) };
        pending.store(next.1, Ordering::Release);
        handle.update_json(&config(next.0)).unwrap();
        expected.store(next.1, Ordering::Release);
        wait_for_reads(200);
    }
    stop.store(true, Ordering::Release);
    reader.join().unwrap();
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "the reader saw a state other than the last good config"
    );
    let ctx_json = json!({"targeting_key": "u"});
    let r = handle
        .load()
        .evaluate_name("flags/f", &EvaluationContext::from_json(&ctx_json))
        .variant
        .map(str::to_owned);
    assert_eq!(r.as_deref(), Some("flags/f/variants/a"));
}
