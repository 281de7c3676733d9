//! Golden tests: one small bad config per validation error kind.

use flagstone_model::validate::ErrorKind;
use flagstone_model::{parse_config, validate};
use flagstone_tests::{check_golden, data_dir, files_with_extension};
use std::collections::BTreeSet;

/// Parses and validates `json`, rendering what `flagstone validate` reports.
fn render(json: &str) -> (String, BTreeSet<&'static str>) {
    let config = match parse_config(json) {
        Ok(config) => config,
        Err(e) => return (format!("parse error: {e}\n"), BTreeSet::new()),
    };
    let report = validate(&config);
    let mut out = String::new();
    let mut kinds = BTreeSet::new();
    for e in &report.errors {
        out.push_str(&format!("{e}\n"));
        kinds.insert(kind_name(&e.kind));
    }
    for w in &report.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    (out, kinds)
}

fn kind_name(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidName { .. } => "InvalidName",
        ErrorKind::Duplicate { .. } => "Duplicate",
        ErrorKind::UnknownReference { .. } => "UnknownReference",
        ErrorKind::UnknownVariant { .. } => "UnknownVariant",
        ErrorKind::UnknownCriterion { .. } => "UnknownCriterion",
        ErrorKind::BucketCount { .. } => "BucketCount",
        ErrorKind::RangeEnd { .. } => "RangeEnd",
        ErrorKind::EmptyRange { .. } => "EmptyRange",
        ErrorKind::Overlap { .. } => "Overlap",
        ErrorKind::OutOfUnitInterval { .. } => "OutOfUnitInterval",
        ErrorKind::InvalidVersion(_) => "InvalidVersion",
        ErrorKind::InvalidRegex { .. } => "InvalidRegex",
        ErrorKind::InvalidTimestamp { .. } => "InvalidTimestamp",
        ErrorKind::BaselineCount { .. } => "BaselineCount",
        ErrorKind::NonPositiveWeight { .. } => "NonPositiveWeight",
        ErrorKind::ScheduleOrder { .. } => "ScheduleOrder",
        ErrorKind::Cycle { .. } => "Cycle",
        ErrorKind::Exclusive(_) => "Exclusive",
        ErrorKind::Empty(_) => "Empty",
        ErrorKind::WrongType { .. } => "WrongType",
        ErrorKind::SplitTotal { .. } => "SplitTotal",
        ErrorKind::ValueNotAvailable { .. } => "ValueNotAvailable",
        ErrorKind::Operator { .. } => "Operator",
        ErrorKind::EmptyPath => "EmptyPath",
        ErrorKind::TooMany { .. } => "TooMany",
        ErrorKind::TooLong { .. } => "TooLong",
        ErrorKind::NotForScheme { .. } => "NotForScheme",
        _ => "new kind: add a golden case and list it here",
    }
}

const ALL_KINDS: &[&str] = &[
    "BaselineCount",
    "BucketCount",
    "Cycle",
    "Duplicate",
    "Empty",
    "EmptyPath",
    "EmptyRange",
    "Exclusive",
    "InvalidName",
    "InvalidRegex",
    "InvalidTimestamp",
    "InvalidVersion",
    "NonPositiveWeight",
    "NotForScheme",
    "Operator",
    "OutOfUnitInterval",
    "Overlap",
    "RangeEnd",
    "ScheduleOrder",
    "SplitTotal",
    "TooLong",
    "TooMany",
    "UnknownCriterion",
    "UnknownReference",
    "UnknownVariant",
    "ValueNotAvailable",
    "WrongType",
];

#[test]
fn every_bad_config_reports_its_golden_errors() {
    let dir = data_dir().join("invalid");
    let cases = files_with_extension(&dir, "json");
    assert!(cases.len() >= ALL_KINDS.len(), "expected a case per error kind in {}", dir.display());
    let mut seen = BTreeSet::new();
    for case in cases {
        let json = std::fs::read_to_string(&case).unwrap();
        let (out, kinds) = render(&json);
        assert!(!out.is_empty(), "{} reports nothing", case.display());
        seen.extend(kinds);
        check_golden(&case.with_extension("expected"), &out);
    }
    let all: BTreeSet<&str> = ALL_KINDS.iter().copied().collect();
    assert_eq!(seen, all, "every error kind has a golden case, and only known kinds occur");
}

#[test]
fn the_shipped_example_validates_clean() {
    let json =
        std::fs::read_to_string(flagstone_tests::workspace_root().join("examples/config.json"))
            .unwrap();
    let config = parse_config(&json).unwrap();
    let report = validate(&config);
    assert!(report.errors.is_empty(), "{report}");
    assert!(report.warnings.is_empty(), "{report}");
}
