//! The reference aggregation: the analysis window, the in-memory entry point against the
//! JSON-lines one, and errors that name the place.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use flagstone_core::exposure::Exposure;
use flagstone_stats::analysis::AnalysisRequest;
use flagstone_warehouse::{AggregateError, Event, Options, Window, aggregate, aggregate_jsonl};
use std::path::PathBuf;

fn exposure(unit: &str, variant: &str, time: &str) -> Exposure {
    Exposure {
        flag: "flags/f".into(),
        variant: Some(format!("flags/f/variants/{variant}")),
        rule: "flags/f/rules/ab".into(),
        segment: "segments/all".into(),
        assignment_id: Some("ab".into()),
        unit: unit.into(),
        targeting_key_selector: "user_id".into(),
        time: time.into(),
    }
}

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

fn event(unit: &str, metric: &str, value: f64, time: &str) -> Event {
    Event { unit: unit.into(), metric: metric.into(), value, time: ts(time) }
}

/// Day 1: a (control) and b (treatment) exposed at 10:00; c (treatment) on day 2 at 00:00.
fn exposures() -> Vec<Exposure> {
    vec![
        exposure("a", "control", "2026-03-01T10:00:00Z"),
        exposure("b", "treatment", "2026-03-01T10:00:00Z"),
        exposure("c", "treatment", "2026-03-02T00:00:00Z"),
    ]
}

fn events() -> Vec<Event> {
    vec![
        event("a", "revenue", 5.0, "2026-03-01T12:00:00Z"),
        event("b", "revenue", 7.0, "2026-03-01T12:00:00Z"),
        // Exactly at the end of a one-day window: not counted in it.
        event("b", "revenue", 11.0, "2026-03-02T00:00:00Z"),
        event("c", "revenue", 13.0, "2026-03-02T01:00:00Z"),
    ]
}

fn revenue(request: &AnalysisRequest, variant: &str) -> (u64, f64) {
    let data = &request.metrics[0].data[variant];
    (data.n.0, data.sum.unwrap())
}

fn window(start: Option<&str>, end: Option<&str>) -> Options {
    Options { window: Window { start: start.map(ts), end: end.map(ts) }, ..Options::default() }
}

#[test]
fn no_window_counts_everything() {
    let request = aggregate(exposures(), events(), &Options::default()).unwrap();
    assert_eq!(revenue(&request, "control"), (1, 5.0));
    assert_eq!(revenue(&request, "treatment"), (2, 7.0 + 11.0 + 13.0));
}

#[test]
fn the_end_is_excluded_for_exposures_and_events() {
    let options = window(None, Some("2026-03-02T00:00:00Z"));
    let request = aggregate(exposures(), events(), &options).unwrap();
    // c's exposure and b's second event are at the end: neither counts.
    assert_eq!(revenue(&request, "treatment"), (1, 7.0));
    assert_eq!(request.variants[1].units.map(|c| c.0), Some(1));
}

#[test]
fn the_start_is_included_and_earlier_exposures_do_not_count() {
    // From day 2: a and b were exposed before, so only c is in the analysis.
    let mut exposures = exposures();
    exposures.push(exposure("d", "control", "2026-03-02T00:00:00Z"));
    let options = window(Some("2026-03-02T00:00:00Z"), None);
    let request = aggregate(exposures, events(), &options).unwrap();
    assert_eq!(revenue(&request, "treatment"), (1, 13.0));
    assert_eq!(revenue(&request, "control"), (1, 0.0));
}

#[test]
fn a_unit_first_exposed_before_the_window_takes_its_first_exposure_inside_it() {
    // The window decides which exposures exist, then the earliest of those wins.
    let exposures = vec![
        exposure("a", "control", "2026-02-28T10:00:00Z"),
        exposure("a", "treatment", "2026-03-01T10:00:00Z"),
        exposure("b", "control", "2026-03-01T10:00:00Z"),
    ];
    let events = vec![event("a", "revenue", 3.0, "2026-03-01T11:00:00Z")];
    let options = window(Some("2026-03-01T00:00:00Z"), None);
    let request = aggregate(exposures, events, &options).unwrap();
    assert_eq!(revenue(&request, "treatment"), (1, 3.0));
}

#[test]
fn an_empty_window_is_an_error() {
    let options = window(Some("2026-03-02T00:00:00Z"), Some("2026-03-02T00:00:00Z"));
    let err = aggregate(exposures(), events(), &options).unwrap_err();
    assert!(matches!(err, AggregateError::EmptyWindow { .. }), "{err}");
    assert!(err.to_string().starts_with("window: expected the start"), "{err}");
}

#[test]
fn a_window_without_two_variants_names_the_exposures() {
    let options = window(Some("2026-03-02T00:00:00Z"), None);
    let err = aggregate(exposures()[..2].to_vec(), events(), &options).unwrap_err();
    assert_eq!(err.to_string(), "exposures: expected exposures to at least two variants, found 0");
}

fn write(dir: &tempfile::TempDir, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

fn exposure_lines() -> Vec<String> {
    exposures().iter().map(|e| serde_json::to_string(e).unwrap()).collect()
}

fn event_lines() -> Vec<String> {
    events()
        .iter()
        .map(|e| {
            serde_json::json!({"unit": e.unit, "metric": e.metric, "value": e.value,
                "time": e.time.to_string()})
            .to_string()
        })
        .collect()
}

#[test]
fn files_and_memory_agree_in_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let exposures_file = write(&dir, "exposures.jsonl", &exposure_lines());
    let events_file = write(&dir, "events.jsonl", &event_lines());
    for options in [Options::default(), window(None, Some("2026-03-02T00:00:00Z"))] {
        let from_files = aggregate_jsonl(&exposures_file, &events_file, &options).unwrap();
        let in_memory = aggregate(exposures(), events(), &options).unwrap();
        assert_eq!(from_files, in_memory);
    }
}

#[test]
fn a_missing_events_file_is_no_events() {
    let dir = tempfile::tempdir().unwrap();
    let exposures_file = write(&dir, "exposures.jsonl", &exposure_lines());
    let options = Options { metrics: vec!["revenue".into()], ..Options::default() };
    let request =
        aggregate_jsonl(&exposures_file, &dir.path().join("absent.jsonl"), &options).unwrap();
    // A metric without counted events is binary (every value 0) with no successes.
    let data = &request.metrics[0].data["treatment"];
    assert_eq!((data.n.0, data.successes.map(|c| c.0)), (2, Some(0)));
    // A missing exposures file is an error naming it.
    let err =
        aggregate_jsonl(&dir.path().join("none.jsonl"), &exposures_file, &options).unwrap_err();
    assert!(err.to_string().contains("none.jsonl: cannot read: "), "{err}");
}

#[test]
fn errors_name_the_file_line_and_json_path() {
    let dir = tempfile::tempdir().unwrap();
    let exposures_file = write(&dir, "exposures.jsonl", &exposure_lines());
    let mut lines = event_lines();
    lines.insert(1, String::new());
    lines.insert(
        2,
        r#"{"unit": "a", "metric": "revenue", "value": "x", "time": "2026-03-01T12:00:00Z"}"#
            .into(),
    );
    let events_file = write(&dir, "events.jsonl", &lines);
    let err = aggregate_jsonl(&exposures_file, &events_file, &Options::default()).unwrap_err();
    let shown = events_file.display();
    assert!(
        err.to_string().starts_with(&format!("{shown}:3: value: invalid type: string")),
        "{err}"
    );
    let mut lines = exposure_lines();
    lines[1] = lines[1].replace("2026-03-01T10:00:00Z", "noon");
    let exposures_file = write(&dir, "exposures.jsonl", &lines);
    let err = aggregate_jsonl(&exposures_file, &events_file, &Options::default()).unwrap_err();
    let shown = exposures_file.display();
    assert!(
        err.to_string()
            .starts_with(&format!("{shown}:2: time: expected an RFC 3339 timestamp, got \"noon\"")),
        "{err}"
    );
}

#[test]
fn progress_reports_each_file_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let exposures_file = write(&dir, "exposures.jsonl", &exposure_lines());
    let events_file = write(&dir, "events.jsonl", &event_lines());
    let mut reports = Vec::new();
    flagstone_warehouse::aggregate_jsonl_with_progress(
        &exposures_file,
        &events_file,
        &Options::default(),
        |p| reports.push(p),
    )
    .unwrap();
    let last = |stage| reports.iter().rfind(|p| p.stage == stage).copied().unwrap();
    let exposures = last(flagstone_warehouse::Stage::Exposures);
    assert_eq!((exposures.lines, exposures.bytes), (3, exposures.size));
    let events = last(flagstone_warehouse::Stage::Events);
    assert_eq!((events.lines, events.bytes), (4, events.size));
}
