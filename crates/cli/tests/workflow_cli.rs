//! Tests of `flagstone allocate` and the lifecycle verbs (`rollout …`, `abtest …`).
//!
//! Outputs live in `tests/data/golden/workflows/` at the workspace root; refresh them with
//! `UPDATE_GOLDEN=1 cargo test -p flagstone-cli --test workflow_cli` and review the diff.
//! Commands that write run on a copy in a fresh directory under the system temp dir.

/// Helpers; inside `cfg(test)` so that they may panic like the tests they serve.
#[cfg(test)]
mod support {
    use std::path::PathBuf;

    pub const CONFIG: &str = "tests/data/golden/workflows/config.json";
    pub const FULL: &str = "tests/data/golden/workflows/full.config.json";

    pub fn root() -> PathBuf {
        flagstone_tests::workspace_root()
    }

    pub use flagstone_tests::cli::Run;

    const BIN: &str = env!("CARGO_BIN_EXE_flagstone");

    pub fn flagstone(args: &[&str]) -> Run {
        flagstone_tests::cli::run(BIN, args)
    }

    /// Compares `actual` with `tests/data/golden/workflows/{rel}` (`UPDATE_GOLDEN=1` rewrites it).
    pub fn golden(rel: &str, actual: &str) {
        flagstone_tests::cli::golden(&format!("workflows/{rel}"), actual);
    }

    /// Runs a command that must succeed; returns its output.
    pub fn ok(args: &[&str]) -> Run {
        let run = flagstone(args);
        assert_eq!(run.code, 0, "{args:?}\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
        run
    }

    /// Runs a command that must fail with bad input (exit 2) and checks its stderr.
    pub fn bad_input(args: &[&str], rel: &str) {
        flagstone_tests::cli::check_bad_input(BIN, args, &format!("workflows/{rel}"));
    }

    /// A fresh directory holding a copy of `source` as `config.json`.
    pub struct Scratch {
        pub dir: PathBuf,
        pub config: PathBuf,
    }

    impl Scratch {
        pub fn new(name: &str, source: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("flagstone-workflow-cli-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create scratch dir");
            let config = dir.join("config.json");
            std::fs::copy(root().join(source), &config).expect("copy config");
            Scratch { dir, config }
        }

        pub fn path(&self) -> &str {
            self.config.to_str().expect("utf-8 temp path")
        }

        pub fn text(&self) -> String {
            std::fs::read_to_string(&self.config).expect("read config")
        }

        pub fn json(&self) -> serde_json::Value {
            serde_json::from_str(&self.text()).expect("json")
        }

        /// The names in the directory: only `config.json` after an atomic write.
        pub fn files(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(&self.dir)
                .expect("read dir")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    /// A file under the workspace root, as text.
    pub fn source_text(rel: &str) -> String {
        std::fs::read_to_string(root().join(rel)).expect("read source")
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

use support::{CONFIG, FULL, Scratch, bad_input, flagstone, golden, ok, source_text};

#[test]
fn allocate_previews_the_placements_and_the_diff_without_writing() {
    let before = source_text(CONFIG);
    let run = ok(&["allocate", "--config", CONFIG]);
    golden("allocate.stdout", &run.stdout);
    assert!(run.stdout.starts_with(
        "segments[1] segments/b: 200000 buckets [400000, 600000)\n\
         abtests[0] abtests/checkout-redesign: 300000 buckets [600000, 900000)\n\
         2 placed, 2 unchanged\n--- "
    ));
    assert_eq!(source_text(CONFIG), before);
}

#[test]
fn allocate_out_of_space_names_the_holders() {
    bad_input(&["allocate", "--config", FULL], "allocate-full.stderr");
    let run = flagstone(&["allocate", "--config", FULL, "--write"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains(
        "abtests[1]: needs 300000 allocation buckets but only 200000 are free of \
         segments/a (400000), abtests/checkout-redesign (400000)"
    ));
}

#[test]
fn allocate_write_replaces_the_file_atomically_and_is_idempotent() {
    let scratch = Scratch::new("allocate", CONFIG);
    let run = ok(&["allocate", "--config", scratch.path(), "--write"]);
    assert!(run.stdout.ends_with(&format!("wrote {}\n", scratch.path())), "{}", run.stdout);
    assert_eq!(scratch.files(), ["config.json"]);
    let json = scratch.json();
    assert_eq!(json["segments"][1]["state"], "ALLOCATED");
    assert_eq!(
        json["segments"][1]["allocatedRanges"],
        serde_json::json!([{"lower": 400_000, "upper": 600_000}])
    );
    assert_eq!(
        json["abtests"][0]["allocatedRanges"],
        serde_json::json!([{"lower": 600_000, "upper": 900_000}])
    );
    assert_eq!(json["abtests"][0]["state"], "DRAFT");
    let written = scratch.text();
    let config = flagstone_model::parse_config(&written).expect("parses");
    assert!(flagstone_model::validate(&config).is_ok());
    flagstone_core::Engine::compile(&config).expect("compiles");

    let again = ok(&["allocate", "--config", scratch.path(), "--write"]);
    assert_eq!(
        again.stdout,
        format!("0 placed, 4 unchanged\n{}: nothing to allocate; unchanged\n", scratch.path())
    );
    assert_eq!(scratch.text(), written);
}

#[test]
fn pause_of_a_scheduled_rollout_freezes_the_reach_in_force() {
    let before = source_text(CONFIG);
    let args = [
        "rollout",
        "pause",
        "new-checkout",
        "--config",
        CONFIG,
        "--now",
        "2026-01-15T00:00:00Z",
        "--dry-run",
    ];
    let run = ok(&args);
    golden("rollout-pause.diff", &run.stdout);
    assert!(
        run.stdout.contains("-      \"reach\": 0.1,\n+      \"reach\": 0.2,\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("+      \"updateTime\": \"2026-01-15T00:00:00Z\"\n"));
    assert_eq!(
        run.stderr,
        "note: rollouts/new-checkout: reach frozen at 0.2, the schedule's step from \
         2026-01-01T00:00:00Z (was 0.1)\n"
    );
    assert_eq!(source_text(CONFIG), before);
}

#[test]
fn lifecycle_moves_write_state_reach_and_update_time() {
    let scratch = Scratch::new("lifecycle", CONFIG);
    let cfg = scratch.path();
    let run = ok(&[
        "rollout",
        "pause",
        "rollouts/new-checkout",
        "--config",
        cfg,
        "--now",
        "2026-02-02T10:00:00Z",
    ]);
    assert_eq!(
        run.stdout,
        format!("rollouts/new-checkout: LIVE → PAUSED, reach 0.5; wrote {cfg}\n")
    );
    let r = &scratch.json()["rollouts"][0];
    assert_eq!((&r["state"], &r["reach"]), (&"PAUSED".into(), &0.5.into()));
    assert_eq!(r["updateTime"], "2026-02-02T10:00:00Z");
    assert_eq!(scratch.files(), ["config.json"]);

    // Paused, set-reach changes the frozen reach; resuming onto the lower
    // scheduled step warns that units lose the variant.
    ok(&[
        "rollout",
        "set-reach",
        "new-checkout",
        "0.8",
        "--config",
        cfg,
        "--now",
        "2026-02-03T00:00:00Z",
    ]);
    let run = ok(&[
        "rollout",
        "resume",
        "new-checkout",
        "--config",
        cfg,
        "--now",
        "2026-02-04T00:00:00Z",
    ]);
    assert_eq!(
        run.stderr,
        "warning: rollouts/new-checkout: reach decreases from 0.8 to 0.5: units in between lose the variant\n"
    );
    let run =
        ok(&["rollout", "end", "new-checkout", "--config", cfg, "--now", "2026-03-01T00:00:00Z"]);
    assert_eq!(run.stdout, format!("rollouts/new-checkout: LIVE → ENDED; wrote {cfg}\n"));
    let r = &scratch.json()["rollouts"][0];
    assert_eq!((&r["state"], &r["updateTime"]), (&"ENDED".into(), &"2026-03-01T00:00:00Z".into()));
    assert_eq!(r["createTime"], "2025-12-01T00:00:00Z");

    let run = flagstone(&["rollout", "set-reach", "new-checkout", "0.9", "--config", cfg]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.ends_with("cannot set-reach in state ENDED: no moves are allowed\n"),
        "{}",
        run.stderr
    );

    let run = ok(&[
        "abtest",
        "launch",
        "checkout-redesign",
        "--config",
        cfg,
        "--now",
        "2026-03-01T00:00:00Z",
    ]);
    assert_eq!(run.stdout, format!("abtests/checkout-redesign: DRAFT → LIVE; wrote {cfg}\n"));
    assert!(run.stderr.contains("no allocatedRanges yet"), "{}", run.stderr);
    assert!(
        run.stderr.starts_with(
            "note: abtests/checkout-redesign: iterations[0] running since 2026-03-01T00:00:00Z\n"
        ),
        "{}",
        run.stderr
    );
    let t = &scratch.json()["abtests"][0];
    assert_eq!((&t["state"], &t["updateTime"]), (&"LIVE".into(), &"2026-03-01T00:00:00Z".into()));
    assert_eq!(
        t["iterations"],
        serde_json::json!([{"status": "running", "startedAt": "2026-03-01T00:00:00Z"}])
    );

    // Pause and resume keep the iteration; end stops it.
    for (verb, now) in [
        ("pause", "2026-03-02T00:00:00Z"),
        ("resume", "2026-03-03T00:00:00Z"),
        ("end", "2026-03-04T00:00:00Z"),
    ] {
        ok(&["abtest", verb, "checkout-redesign", "--config", cfg, "--now", now]);
    }
    let t = &scratch.json()["abtests"][0];
    assert_eq!(t["state"], "ENDED");
    assert_eq!(
        t["iterations"],
        serde_json::json!([{
            "status": "stopped",
            "startedAt": "2026-03-01T00:00:00Z",
            "endedAt": "2026-03-04T00:00:00Z"
        }])
    );
}

#[test]
fn set_reach_on_a_live_schedule_says_the_schedule_governs() {
    let args = [
        "rollout",
        "set-reach",
        "new-checkout",
        "0.05",
        "--config",
        CONFIG,
        "--now",
        "2026-01-15T00:00:00Z",
        "--dry-run",
    ];
    let run = ok(&args);
    golden("rollout-set-reach.stderr", &run.stderr);
    assert!(!run.stderr.contains("reach decreases"), "{}", run.stderr);
    assert!(run.stderr.contains("sets the reach to 0.2 now"), "{}", run.stderr);
}

#[test]
fn reach_decrease_warns_on_stderr() {
    let run = ok(&[
        "rollout",
        "set-reach",
        "draft",
        "0.1",
        "--config",
        CONFIG,
        "--dry-run",
        "--now",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(
        run.stderr,
        "warning: rollouts/draft: reach decreases from 0.3 to 0.1: units in between lose the variant\n"
    );
    assert!(run.stdout.contains("\n-      \"reach\": 0.3,\n"), "{}", run.stdout);
    assert!(run.stdout.contains("\n+      \"reach\": 0.1,\n"), "{}", run.stdout);
}

#[test]
fn abtest_set_reach_resizes_allocated_ranges_in_place() {
    let args = [
        "abtest",
        "set-reach",
        "running",
        "0.15",
        "--config",
        CONFIG,
        "--now",
        "2026-01-01T00:00:00Z",
        "--dry-run",
    ];
    let run = ok(&args);
    golden("abtest-set-reach.diff", &run.stdout);
    assert!(run.stderr.is_empty(), "{}", run.stderr);

    let scratch = Scratch::new("abtest-reach", CONFIG);
    let cfg = scratch.path();
    let run = ok(&["abtest", "set-reach", "abtests/running", "0.15", "--config", cfg]);
    assert_eq!(
        run.stdout,
        format!("abtests/running: proportion 0.1 → 0.15, 150000 allocation buckets; wrote {cfg}\n")
    );
    let t = &scratch.json()["abtests"][1];
    assert_eq!(
        t["allocatedRanges"],
        serde_json::json!([{"lower": 900_000, "upper": 1_000_000}, {"lower": 400_000, "upper": 450_000}])
    );
    // The default time is the system clock, to the second.
    let stamp: jiff::Timestamp =
        t["updateTime"].as_str().expect("updateTime").parse().expect("rfc 3339");
    let age = jiff::Timestamp::now().as_second() - stamp.as_second();
    assert!((0..=60).contains(&age), "{stamp}");

    let run = ok(&["abtest", "set-reach", "running", "0.05", "--config", cfg]);
    assert_eq!(
        run.stderr,
        "warning: abtests/running: proportion decreases from 0.15 to 0.05: units in between leave the test\n"
    );
    assert_eq!(
        scratch.json()["abtests"][1]["allocatedRanges"],
        serde_json::json!([{"lower": 900_000, "upper": 950_000}])
    );
    bad_input(
        &["abtest", "set-reach", "checkout-redesign", "0.9", "--config", FULL],
        "abtest-set-reach-full.stderr",
    );
}

#[test]
fn illegal_moves_and_bad_arguments_are_bad_input() {
    bad_input(
        &["rollout", "launch", "new-checkout", "--config", CONFIG],
        "rollout-launch-live.stderr",
    );
    bad_input(
        &["abtest", "resume", "checkout-redesign", "--config", CONFIG],
        "abtest-resume-draft.stderr",
    );
    bad_input(&["rollout", "pause", "missing", "--config", CONFIG], "rollout-unknown.stderr");
    bad_input(
        &["rollout", "set-reach", "draft", "1.5", "--config", CONFIG],
        "rollout-reach-range.stderr",
    );
    bad_input(
        &["rollout", "set-reach", "draft", "1e-3", "--config", CONFIG],
        "rollout-reach-syntax.stderr",
    );
    bad_input(
        &["rollout", "launch", "draft", "--config", CONFIG, "--now", "yesterday"],
        "rollout-bad-now.stderr",
    );
}

#[test]
fn an_invalid_result_is_reported_and_nothing_is_written() {
    let scratch = Scratch::new("invalid", CONFIG);
    let broken = scratch.text().replace(
        "\"variant\": \"new\",\n      \"state\": \"DRAFT\"",
        "\"variant\": \"newer\",\n      \"state\": \"DRAFT\"",
    );
    assert_ne!(broken, scratch.text());
    std::fs::write(&scratch.config, &broken).expect("write");
    let run = flagstone(&["rollout", "launch", "draft", "--config", scratch.path()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("rollouts[1].variant: unknown variant \"newer\" of flags/checkout\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.ends_with("the result has 1 validation error; nothing written\n"),
        "{}",
        run.stderr
    );
    assert_eq!(scratch.text(), broken);
    assert_eq!(scratch.files(), ["config.json"]);
}
