//! Evaluation allocates nothing on the heap (spec §2.9): a counting global
//! allocator, counting per thread so parallel tests do not disturb the count.

use flagstone_core::{Engine, EvaluationContext};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

#[expect(
    unsafe_code,
    reason = "a GlobalAlloc impl is unsafe by definition; it only forwards to System"
)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn evaluate_does_not_allocate() {
    let root = flagstone_tests::workspace_root();
    let json = std::fs::read_to_string(root.join("examples/config.json")).unwrap();
    let engine = Engine::compile(&flagstone_model::parse_config(&json).unwrap()).unwrap();
    let contexts = [
        std::fs::read_to_string(root.join("examples/context.json")).unwrap(),
        r#"{"targeting_key": 98765, "country": "NO", "app_version": "v3.0.1-rc.2", "email": "x@blocked.example",
            "user": {"id": 5, "age": 17, "plans": ["plus", "free"]}, "platform": "Android", "beta": true,
            "signup_cohort": "2026-q1", "logged_in": true, "rox.distinct_id": 77}"#
            .to_owned(),
        // Long pre-release identifiers, invalid versions and non-dates must not allocate either.
        r#"{"targeting_key": "u-9", "country": "SE", "app_version": "3.0.1-beta.20240101.nightly", "email": "a@acme.example",
            "signup_cohort": "yesterday", "beta": true, "user": {"id": "x", "age": 40, "plans": []}}"#
            .to_owned(),
        r#"{"targeting_key": "u-10", "country": "NO", "app_version": "not-a-version-at-all", "platform": "Android"}"#
            .to_owned(),
        r#"{"targeting_key": true}"#.to_owned(),
        "{}".to_owned(),
    ];
    let contexts: Vec<serde_json::Value> =
        contexts.iter().map(|c| serde_json::from_str(c).unwrap()).collect();
    let now = "2026-11-21T12:00:00Z".parse().unwrap();
    for value in &contexts {
        for timed in [true, false] {
            let ctx = EvaluationContext::from_json(value);
            let ctx = if timed { ctx.at(now) } else { ctx };
            // Warm up lazily initialised state (regex caches, clock).
            for id in engine.flag_ids() {
                std::hint::black_box(engine.evaluate(id, &ctx));
            }
            let n = allocations_during(|| {
                for _ in 0..10 {
                    for id in engine.flag_ids() {
                        std::hint::black_box(engine.evaluate(id, &ctx));
                    }
                    std::hint::black_box(engine.evaluate_name("flags/nope", &ctx));
                }
            });
            assert_eq!(n, 0, "evaluate allocated {n} times for context {value}");
        }
    }
}

#[test]
fn the_counter_counts() {
    let n = allocations_during(|| {
        std::hint::black_box(vec![1u8; 64]);
    });
    assert_eq!(n, 1);
}
