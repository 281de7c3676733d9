//! The warehouse definition's edge cases on hand-made data, with values worked out by hand;
//! the CSV contract read back; rows into an analysis request.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use common::{FLAG, at, event, exposure};
use flagstone_stats::analysis::{MetricType, analyze};
use flagstone_warehouse::reference::reference_rows;
use flagstone_warehouse::rows::{self, Row, RowType};
use flagstone_warehouse::{Definition, MetricDef, Window};

fn def(metrics: &[&str], covariate_hours: Option<u32>) -> Definition {
    Definition {
        flag: Some(FLAG.into()),
        metrics: metrics.iter().map(|m| m.parse::<MetricDef>().unwrap()).collect(),
        window: Window::default(),
        covariate_hours,
        by_day: false,
    }
}

fn find<'r>(rows: &'r [Row], variant: &str, metric: &str) -> &'r Row {
    let variant = format!("{FLAG}/variants/{variant}");
    rows.iter()
        .find(|r| r.variant.as_deref() == Some(&variant) && r.metric.as_deref() == Some(metric))
        .unwrap_or_else(|| panic!("no row {variant} {metric} in {rows:#?}"))
}

#[test]
fn exposures_twice_two_variants_and_events_at_the_exposure() {
    let t = at("2026-03-01T10:00:00Z");
    let h = jiff::SignedDuration::from_hours;
    let exposures = vec![
        // a: control twice; its first exposure (t) counts.
        exposure(FLAG, "a", Some("control"), t + h(1)),
        exposure(FLAG, "a", Some("control"), t),
        // b: control then treatment: excluded, and counted.
        exposure(FLAG, "b", Some("control"), t),
        exposure(FLAG, "b", Some("treatment"), t + h(1)),
        // c: treatment.
        exposure(FLAG, "c", Some("treatment"), t),
        // d: the only unit of `empty`, also exposed to control: excluded, `empty` has no units.
        exposure(FLAG, "d", Some("empty"), t),
        exposure(FLAG, "d", Some("control"), t),
    ];
    let events = vec![
        event("a", "revenue", 4.0, t), // at the exposure: counted
        event("a", "revenue", 100.0, t - jiff::SignedDuration::from_secs(1)), // before: not
        event("a", "revenue", 2.0, t + h(30)), // counted
        event("b", "revenue", 1000.0, t + h(2)), // excluded unit
        event("c", "revenue", 3.0, t + h(1)),
        event("c", "orders", 2.0, t + h(1)),
    ];
    let definition = def(&["revenue", "sold:binary", "aov=revenue/orders"], None);
    let rows = reference_rows(exposures, events, &definition).unwrap();
    let a = find(&rows, "control", "revenue");
    assert_eq!((a.n, a.sum, a.sum_squares), (1, 6.0, 36.0));
    let c = find(&rows, "treatment", "revenue");
    assert_eq!((c.n, c.sum, c.sum_squares), (1, 3.0, 9.0));
    // A metric with no events: every unit has 0, so no successes.
    let sold = find(&rows, "treatment", "sold");
    assert_eq!((sold.metric_type, sold.n, sold.sum), (Some(RowType::Binary), 1, 0.0));
    // Ratio: control's only unit has no orders (a zero denominator).
    let aov = find(&rows, "control", "aov");
    assert_eq!((aov.sum, aov.denominator_sum, aov.cross_products), (6.0, Some(0.0), Some(0.0)));
    let aov = find(&rows, "treatment", "aov");
    assert_eq!(
        (aov.sum, aov.denominator_sum, aov.denominator_sum_squares, aov.cross_products),
        (3.0, Some(2.0), Some(4.0), Some(6.0))
    );
    // The empty variant keeps its rows, with no units.
    let empty = find(&rows, "empty", "revenue");
    assert_eq!((empty.n, empty.sum), (0, 0.0));
    let excluded: Vec<&Row> =
        rows.iter().filter(|r| r.metric_type == Some(RowType::Excluded)).collect();
    assert_eq!(excluded.len(), 1);
    assert_eq!(excluded[0].n, 2);
    assert_eq!(rows::excluded_units(&rows), 2);
}

#[test]
fn the_covariate_window_is_before_the_first_exposure() {
    let t = at("2026-03-10T00:00:00Z");
    let h = jiff::SignedDuration::from_hours;
    let exposures =
        vec![exposure(FLAG, "a", Some("control"), t), exposure(FLAG, "b", Some("treatment"), t)];
    let events = vec![
        event("a", "revenue", 5.0, t - h(1)), // in a 24 h covariate window
        event("a", "revenue", 7.0, t - h(24)), // at its start: in
        event("a", "revenue", 11.0, t - h(25)), // before it: out
        event("a", "revenue", 2.0, t),        // the metric, not the covariate
        event("b", "purchase", 1.0, t - h(2)),
    ];
    let rows =
        reference_rows(exposures, events, &def(&["revenue", "purchase:binary"], Some(24))).unwrap();
    let a = find(&rows, "control", "revenue");
    assert_eq!(
        (a.covariate_sum, a.covariate_sum_squares, a.covariate_cross_products),
        (Some(12.0), Some(144.0), Some(24.0))
    );
    // Binary covariate: "had a positive value before"; b converted before but not after.
    let b = find(&rows, "treatment", "purchase");
    assert_eq!((b.sum, b.covariate_sum, b.covariate_cross_products), (0.0, Some(1.0), Some(0.0)));
}

#[test]
fn the_window_bounds_exposures_and_events() {
    let t = at("2026-03-01T10:00:00Z");
    let h = jiff::SignedDuration::from_hours;
    let exposures = vec![
        exposure(FLAG, "early", Some("control"), t - h(48)), // before the window
        exposure(FLAG, "a", Some("control"), t),
        exposure(FLAG, "b", Some("treatment"), t),
    ];
    let events = vec![
        event("a", "revenue", 1.0, t + h(1)),
        event("a", "revenue", 10.0, t + h(24)), // at the end: out
        event("early", "revenue", 5.0, t + h(1)),
    ];
    let mut definition = def(&["revenue"], None);
    definition.window = Window { start: Some(t - h(1)), end: Some(t + h(24)) };
    let rows = reference_rows(exposures, events, &definition).unwrap();
    let a = find(&rows, "control", "revenue");
    assert_eq!((a.n, a.sum), (1, 1.0));
}

#[test]
fn rows_read_back_from_csv_make_a_request() {
    let (exposures, events) = common::data(200, 3);
    let definition = common::definition(true, true);
    let rows = reference_rows(exposures, events, &definition).unwrap();
    let csv = rows::to_csv(&rows);
    let back = rows::from_csv("rows.csv", &csv).unwrap();
    common::assert_rows_match("csv", &rows, &back);
    let request = rows::to_request("rows.csv", &back).unwrap();
    assert_eq!(request.control, "control");
    let names: Vec<&str> = request.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["control", "empty", "treatment"]);
    let types: Vec<(&str, MetricType)> =
        request.metrics.iter().map(|m| (m.id.as_str(), m.metric_type)).collect();
    assert_eq!(
        types,
        [
            ("aov", MetricType::Ratio),
            ("ghost", MetricType::Mean),
            ("never", MetricType::Ratio),
            ("purchase", MetricType::Binary),
            ("revenue", MetricType::Mean),
        ]
    );
    // The request is valid input for the analysis (empty variant and zero denominators are
    // reported as undefined, not errors).
    let result = analyze(&request).unwrap();
    assert_eq!(result.results.len(), 5);
}

#[test]
fn csv_errors_name_the_line_and_column() {
    let header = "variant,metric,metric_type,n,sum,sum_squares\n";
    let err =
        rows::from_csv("r.csv", &format!("{header}control,revenue,mean,x,1,1\n")).unwrap_err();
    assert_eq!(err.to_string(), "r.csv:2: n: expected a count, got \"x\"");
    let err =
        rows::from_csv("r.csv", &format!("{header}control,revenue,median,1,1,1\n")).unwrap_err();
    assert!(err.to_string().starts_with("r.csv:2: metric_type: expected binary"), "{err}");
    let err = rows::from_csv("r.csv", "variant,metric\n").unwrap_err();
    assert_eq!(err.to_string(), "r.csv:1: expected a column \"metric_type\" in the header");
    let err =
        rows::from_csv("r.csv", &format!("{header}control,revenue,mean,1,NaN,1\n")).unwrap_err();
    assert!(err.to_string().starts_with("r.csv:2: sum: expected a finite number"), "{err}");
    // Upper-case headers (Snowflake) and quoted fields are read.
    let rows = rows::from_csv(
        "r.csv",
        "VARIANT,METRIC,METRIC_TYPE,N,SUM,SUM_SQUARES\n\"a,b\",m,MEAN,2,3,5\n",
    )
    .unwrap();
    assert_eq!(rows[0].variant.as_deref(), Some("a,b"));
    assert_eq!((rows[0].n, rows[0].sum), (2, 3.0));
}
