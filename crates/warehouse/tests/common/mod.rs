//! Test data with every edge case, and the comparison of rows to 1e-9 relative.
#![allow(dead_code, reason = "each test binary uses part of the helpers")]

use flagstone_core::exposure::Exposure;
use flagstone_warehouse::rows::Row;
use flagstone_warehouse::{Definition, Event, MetricDef, Window};

pub fn exposure(flag: &str, unit: &str, variant: Option<&str>, time: jiff::Timestamp) -> Exposure {
    Exposure {
        flag: flag.into(),
        variant: variant.map(|v| format!("{flag}/variants/{v}")),
        rule: format!("{flag}/rules/ab"),
        segment: "segments/all".into(),
        assignment_id: Some("ab".into()),
        unit: unit.into(),
        targeting_key_selector: "user_id".into(),
        time: time.to_string(),
    }
}

pub fn event(unit: &str, metric: &str, value: f64, time: jiff::Timestamp) -> Event {
    Event { unit: unit.into(), metric: metric.into(), value, time }
}

/// A small deterministic generator (SplitMix64), so the data is the same on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub const FLAG: &str = "flags/checkout";

pub fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

/// Exposures and events over four days from 2026-03-01, with the edge cases:
/// - `twice-same`: exposed twice to the same variant (the first exposure counts);
/// - `two-variants` and `lonely`: exposed to two variants (excluded); `lonely` is the only
///   unit of variant `empty`, which therefore has no units;
/// - `at-exposure`: events exactly at the exposure instant (counted) and one second before
///   (not counted, but in the covariate window);
/// - metric `ghost` has no events; ratio `never=revenue/ghost` has zero denominators only,
///   ratio `aov=revenue/orders` has many;
/// - another flag's exposures, exposures without a variant, events of unexposed units and
///   events after the window.
pub fn data(units: u64, seed: u64) -> (Vec<Exposure>, Vec<Event>) {
    let mut rng = Rng(seed);
    let start = at("2026-03-01T00:00:00Z");
    let mut exposures = Vec::new();
    let mut events = Vec::new();
    for i in 0..units {
        let unit = format!("u{i}");
        let variant = if rng.below(2) == 0 { "control" } else { "treatment" };
        let first = start + jiff::SignedDuration::from_secs((rng.below(4 * 86_400)) as i64);
        exposures.push(exposure(FLAG, &unit, Some(variant), first));
        if rng.below(10) == 0 {
            // A later exposure to the same variant.
            exposures.push(exposure(
                FLAG,
                &unit,
                Some(variant),
                first + jiff::SignedDuration::from_hours(5),
            ));
        }
        if rng.below(25) == 0 {
            let other = if variant == "control" { "treatment" } else { "control" };
            exposures.push(exposure(
                FLAG,
                &unit,
                Some(other),
                first + jiff::SignedDuration::from_hours(1),
            ));
        }
        for _ in 0..rng.below(6) {
            let offset = rng.below(6 * 86_400) as i64 - 2 * 86_400;
            let time = first + jiff::SignedDuration::from_secs(offset);
            match rng.below(4) {
                0 => events.push(event(&unit, "purchase", 1.0, time)),
                1 => events.push(event(&unit, "orders", (1 + rng.below(3)) as f64, time)),
                _ => {
                    let cents = rng.below(20_000) as f64;
                    events.push(event(
                        &unit,
                        "revenue",
                        cents / 100.0 + if variant == "treatment" { 3.0 } else { 0.0 },
                        time,
                    ));
                }
            }
        }
    }
    let t = at("2026-03-02T12:00:00Z");
    exposures.push(exposure(FLAG, "twice-same", Some("treatment"), t));
    exposures.push(exposure(
        FLAG,
        "twice-same",
        Some("treatment"),
        t + jiff::SignedDuration::from_hours(2),
    ));
    events.push(event("twice-same", "revenue", 10.0, t + jiff::SignedDuration::from_hours(1)));
    exposures.push(exposure(FLAG, "two-variants", Some("control"), t));
    exposures.push(exposure(
        FLAG,
        "two-variants",
        Some("treatment"),
        t + jiff::SignedDuration::from_hours(1),
    ));
    events.push(event("two-variants", "revenue", 1000.0, t + jiff::SignedDuration::from_hours(2)));
    exposures.push(exposure(FLAG, "lonely", Some("empty"), t));
    exposures.push(exposure(FLAG, "lonely", Some("control"), t));
    exposures.push(exposure(FLAG, "at-exposure", Some("control"), t));
    events.push(event("at-exposure", "revenue", 7.0, t));
    events.push(event("at-exposure", "purchase", 1.0, t));
    events.push(event("at-exposure", "revenue", 5.0, t - jiff::SignedDuration::from_secs(1)));
    exposures.push(exposure("flags/other", "u0", Some("control"), t));
    exposures.push(exposure(FLAG, "no-variant", None, t));
    events.push(event("never-exposed", "revenue", 99.0, t));
    events.push(event("u1", "revenue", 55.0, at("2026-03-09T00:00:00Z")));
    (exposures, events)
}

pub fn definition(by_day: bool, covariate: bool) -> Definition {
    Definition {
        flag: Some(FLAG.into()),
        metrics: [
            "purchase:binary",
            "revenue",
            "aov=revenue/orders",
            "ghost",
            "never=revenue/ghost",
        ]
        .iter()
        .map(|m| m.parse::<MetricDef>().unwrap())
        .collect(),
        window: Window {
            start: Some(at("2026-03-01T00:00:00Z")),
            end: Some(at("2026-03-06T00:00:00Z")),
        },
        covariate_hours: covariate.then_some(72),
        by_day,
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn close_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => close(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Asserts two sorted row lists are the same, numbers to 1e-9 relative.
pub fn assert_rows_match(what: &str, expected: &[Row], actual: &[Row]) {
    assert_eq!(
        expected.len(),
        actual.len(),
        "{what}: row count\nexpected {expected:#?}\nactual {actual:#?}"
    );
    for (e, a) in expected.iter().zip(actual) {
        let same = e.exposure_day == a.exposure_day
            && e.variant == a.variant
            && e.metric == a.metric
            && e.metric_type == a.metric_type
            && e.n == a.n
            && close(e.sum, a.sum)
            && close(e.sum_squares, a.sum_squares)
            && close_opt(e.denominator_sum, a.denominator_sum)
            && close_opt(e.denominator_sum_squares, a.denominator_sum_squares)
            && close_opt(e.cross_products, a.cross_products)
            && close_opt(e.covariate_sum, a.covariate_sum)
            && close_opt(e.covariate_sum_squares, a.covariate_sum_squares)
            && close_opt(e.covariate_cross_products, a.covariate_cross_products);
        assert!(same, "{what}: rows differ\nexpected {e:#?}\nactual {a:#?}");
    }
}

/// The exposures as CSV (`flag,variant,unit,time`) and the events (`unit,metric,value,time`).
pub fn to_csv(exposures: &[Exposure], events: &[Event]) -> (String, String) {
    let mut x = String::from("flag,variant,unit,time\n");
    for e in exposures {
        x.push_str(&format!(
            "{},{},{},{}\n",
            e.flag,
            e.variant.clone().unwrap_or_default(),
            e.unit,
            e.time
        ));
    }
    let mut v = String::from("unit,metric,value,time\n");
    for e in events {
        v.push_str(&format!("{},{},{},{}\n", e.unit, e.metric, e.value, e.time));
    }
    (x, v)
}
