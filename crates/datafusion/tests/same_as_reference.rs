//! DataFusion's aggregation against the line-by-line reference (`aggregate_jsonl`), on the same
//! random data as JSON lines, CSV and Parquet: the same variants, units, metric types and
//! successes, sums to 1e-9 relative.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use flagstone_core::exposure::Exposure;
use flagstone_datafusion::{DfError, Engine, Format, Table, aggregate_files};
use flagstone_stats::analysis::AnalysisRequest;
use flagstone_warehouse::{AggregateError, Options, Window, aggregate_jsonl};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

const START: i64 = 1_772_323_200; // 2026-03-01T00:00:00Z

fn time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).unwrap().to_string()
}

/// Exposures (some twice, some to both variants, a few of another flag or without a variant)
/// and events of three metrics, some before their unit's exposure and some of unexposed units.
fn write_data(dir: &Path, units: u64, other_flag: bool) -> (PathBuf, PathBuf, String, String) {
    let mut rng = Rng(units);
    let mut exposures = String::new();
    let mut events = String::new();
    let mut x_csv = String::from("flag,variant,unit,time\n");
    let mut e_csv = String::from("unit,metric,value,time\n");
    let mut first = Vec::new();
    for u in 0..units {
        let t = START + rng.below(5 * 86_400) as i64;
        first.push(t);
        let v = if rng.below(2) == 0 { "control" } else { "treatment" };
        let mut push = |flag: &str, variant: Option<&str>, t: i64| {
            let e = Exposure {
                flag: flag.into(),
                variant: variant.map(|v| format!("{flag}/variants/{v}")),
                rule: format!("{flag}/rules/ab"),
                segment: "segments/all".into(),
                assignment_id: Some("ab".into()),
                unit: format!("u{u}"),
                targeting_key_selector: "user_id".into(),
                time: time(t),
            };
            exposures.push_str(&serde_json::to_string(&e).unwrap());
            exposures.push('\n');
            let _ = writeln!(
                x_csv,
                "{},{},{},{}",
                e.flag,
                e.variant.unwrap_or_default(),
                e.unit,
                e.time
            );
        };
        push("flags/f", Some(v), t);
        match rng.below(20) {
            0 => push("flags/f", Some(v), t + 3600),
            1 => {
                push("flags/f", Some(if v == "control" { "treatment" } else { "control" }), t - 60)
            }
            2 => push("flags/f", None, t + 10),
            3 if other_flag => push("flags/other", Some("control"), t),
            _ => {}
        }
    }
    for _ in 0..units * 3 {
        let u = rng.below(units + units / 10);
        let t =
            first.get(u as usize).copied().unwrap_or(START) + rng.below(7 * 86_400) as i64 - 86_400;
        let (metric, value) = match rng.below(3) {
            0 => ("purchase", 1.0),
            1 => ("revenue", rng.below(100_000) as f64 / 100.0),
            _ => ("clicks", rng.below(4) as f64),
        };
        let line = serde_json::json!({"unit": format!("u{u}"), "metric": metric, "value": value, "time": time(t)});
        events.push_str(&line.to_string());
        events.push('\n');
        let _ = writeln!(e_csv, "u{u},{metric},{value},{}", time(t));
    }
    let x = dir.join("exposures.jsonl");
    let e = dir.join("events.jsonl");
    std::fs::write(&x, exposures).unwrap();
    std::fs::write(&e, events).unwrap();
    (x, e, x_csv, e_csv)
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
        (None, None) => true,
        _ => false,
    }
}

fn assert_same(what: &str, expected: &AnalysisRequest, actual: &AnalysisRequest) {
    assert_eq!(expected.control, actual.control, "{what}");
    assert_eq!(expected.variants, actual.variants, "{what}");
    assert_eq!(expected.metrics.len(), actual.metrics.len(), "{what}: {actual:#?}");
    for (e, a) in expected.metrics.iter().zip(&actual.metrics) {
        assert_eq!((&e.id, e.metric_type), (&a.id, a.metric_type), "{what}");
        for (variant, es) in &e.data {
            let as_ = &a.data[variant];
            assert_eq!((es.n, es.successes), (as_.n, as_.successes), "{what} {} {variant}", e.id);
            assert!(close(es.sum, as_.sum), "{what} {} {variant}: {es:?} {as_:?}", e.id);
            assert!(close(es.sum_squares, as_.sum_squares), "{what} {} {variant}", e.id);
        }
    }
}

fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

fn cases() -> Vec<Options> {
    vec![
        Options { flag: Some("flags/f".into()), ..Options::default() },
        Options {
            flag: Some("flags/f".into()),
            metrics: vec!["revenue".into(), "ghost".into()],
            window: Window {
                start: Some(at("2026-03-02T00:00:00Z")),
                end: Some(at("2026-03-05T12:00:00Z")),
            },
        },
    ]
}

#[test]
fn json_lines_give_the_reference_results() {
    let dir = tempfile::tempdir().unwrap();
    let (x, e, _, _) = write_data(dir.path(), 3000, true);
    for options in cases() {
        let expected = aggregate_jsonl(&x, &e, &options).unwrap();
        let actual = aggregate_files(&x, &e, &options, &Engine::default()).unwrap();
        assert_same("jsonl", &expected, &actual);
    }
}

#[test]
fn csv_and_parquet_give_the_reference_results() {
    let dir = tempfile::tempdir().unwrap();
    let (x, e, x_csv, e_csv) = write_data(dir.path(), 2000, false);
    let xc = dir.path().join("exposures.csv");
    let ec = dir.path().join("events.csv");
    std::fs::write(&xc, x_csv).unwrap();
    std::fs::write(&ec, e_csv).unwrap();
    let (xp, ep) = (dir.path().join("exposures.parquet"), dir.path().join("events.parquet"));
    flagstone_datafusion::to_parquet(&xc, &xp, Table::Exposures, None).unwrap();
    flagstone_datafusion::to_parquet(&ec, &ep, Table::Events, Some(Format::Csv)).unwrap();
    for options in cases() {
        let expected = aggregate_jsonl(&x, &e, &options).unwrap();
        let csv = aggregate_files(&xc, &ec, &options, &Engine::default()).unwrap();
        assert_same("csv", &expected, &csv);
        let parquet = aggregate_files(&xp, &ep, &options, &Engine::default()).unwrap();
        assert_same("parquet", &expected, &parquet);
    }
}

#[test]
fn a_small_memory_limit_gives_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let (x, e, _, _) = write_data(dir.path(), 20_000, false);
    let options = Options::default();
    let expected = aggregate_jsonl(&x, &e, &options).unwrap();
    let engine = Engine { memory_limit: Some(64 << 20), threads: Some(2), ..Engine::default() };
    let actual = aggregate_files(&x, &e, &options, &engine).unwrap();
    assert_same("64 MiB", &expected, &actual);
}

#[test]
fn the_input_checks_are_the_reference_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (x, e, _, _) = write_data(dir.path(), 500, true);
    let err = aggregate_files(&x, &e, &Options::default(), &Engine::default()).unwrap_err();
    assert!(matches!(err, DfError::Input(AggregateError::SeveralFlags { .. })), "{err}");
    assert!(
        err.to_string().ends_with(
            "exposures hold several flags (flags/f, flags/other); choose one with --flag"
        ),
        "{err}"
    );
    let late = Options {
        flag: Some("flags/f".into()),
        window: Window { start: Some(at("2030-01-01T00:00:00Z")), end: None },
        ..Options::default()
    };
    let err = aggregate_files(&x, &e, &late, &Engine::default()).unwrap_err();
    assert!(
        err.to_string().ends_with("expected exposures to at least two variants, found 0"),
        "{err}"
    );
    std::fs::write(dir.path().join("x.txt"), "").unwrap();
    let err =
        aggregate_files(&dir.path().join("x.txt"), &e, &late, &Engine::default()).unwrap_err();
    assert!(matches!(err, DfError::UnknownFormat(_)), "{err}");
    let err =
        aggregate_files(&dir.path().join("none.jsonl"), &e, &late, &Engine::default()).unwrap_err();
    assert!(err.to_string().contains("none.jsonl: cannot read: "), "{err}");
    // A missing events file is no events, as for the reference.
    let options = Options {
        flag: Some("flags/f".into()),
        metrics: vec!["revenue".into()],
        ..Options::default()
    };
    let missing = dir.path().join("none.jsonl");
    assert_same(
        "no events",
        &aggregate_jsonl(&x, &missing, &options).unwrap(),
        &aggregate_files(&x, &missing, &options, &Engine::default()).unwrap(),
    );
}
