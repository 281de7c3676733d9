use super::*;
use crate::events::Event as LoggedEvent;
use crate::namespace::Namespaces;
use crate::store::Store;
use flagstone_warehouse::aggregate_jsonl;
use std::io::Write;

fn open(dir: &Path) -> Arc<Namespace> {
    let store = Arc::new(Store::open(dir).unwrap());
    let namespaces = Namespaces::open(store, dir).unwrap();
    namespaces.get(&NamespaceName::default_namespace()).unwrap()
}

fn exposure(unit: &str, variant: &str, rule: &str, time: &str) -> Exposure {
    Exposure {
        flag: "flags/f".into(),
        variant: Some(format!("flags/f/variants/{variant}")),
        rule: rule.into(),
        segment: "segments/all".into(),
        assignment_id: Some(variant.into()),
        unit: unit.into(),
        targeting_key_selector: "targeting_key".into(),
        time: time.into(),
    }
}

fn event(unit: &str, metric: &str, value: f64, time: &str) -> LoggedEvent {
    LoggedEvent { unit: unit.into(), metric: metric.into(), value, time: time.into() }
}

/// 40 units over two variants and two rules, a third of them converting at 11:00.
fn seed(ns: &Namespace) {
    for i in 0..40 {
        let variant = if i % 2 == 0 { "control" } else { "treatment" };
        let rule = if i < 30 { "abtests/t" } else { "flags/f/rules/other" };
        ns.exposures().record(exposure(&format!("u{i}"), variant, rule, "2026-03-01T10:00:00Z"));
    }
    let events: Vec<LoggedEvent> = (0..40)
        .filter(|i| i % 3 == 0)
        .map(|i| event(&format!("u{i}"), "buy", 1.0, "2026-03-01T11:00:00Z"))
        .collect();
    ns.events().append(&events).unwrap();
}

fn window(start: &str, end: Option<&str>) -> Window {
    Window { start: Some(start.parse().unwrap()), end: end.map(|e| e.parse().unwrap()) }
}

fn uncached(ns: &Namespace, query: &LogQuery) -> Option<AnalysisRequest> {
    assert!(ns.exposures().flush());
    let options = Options {
        flag: Some(query.flag.clone()),
        metrics: query.metrics.clone(),
        window: query.warehouse_window(),
    };
    settle(aggregate_jsonl(ns.exposures().path(), ns.events().path(), &options)).unwrap()
}

#[test]
fn a_repeated_request_is_answered_without_reading_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let ns = open(dir.path());
    seed(&ns);
    let cache = LogResults::with_capacity(8, 10_000);
    let query = LogQuery::new("flags/f".into(), vec![], window("2026-03-01T00:00:00Z", None));
    let first = cache.inputs(&ns, 1, &query).unwrap();
    assert_eq!(cache.reads(), 1);
    // The same as the warehouse reading the files itself (no cache, no server reader).
    let expected = uncached(&ns, &query).unwrap();
    assert_eq!(first.request.as_ref(), Some(&expected));
    assert_eq!(expected.variants.iter().map(|v| v.units.unwrap().0).sum::<u64>(), 40);
    assert_eq!(first.last_event["buy"], "2026-03-01T11:00:00Z".parse().unwrap());

    let second = cache.inputs(&ns, 1, &query).unwrap();
    assert_eq!(cache.reads(), 1, "no new data: the logs are not read again");
    assert!(Arc::ptr_eq(&first, &second));

    // A new event changes the watermark and the answer.
    ns.events().append(&[event("u1", "buy", 1.0, "2026-03-01T12:00:00Z")]).unwrap();
    let third = cache.inputs(&ns, 1, &query).unwrap();
    assert_eq!(cache.reads(), 2);
    assert_ne!(third.request, first.request);
    assert_eq!(third.request, uncached(&ns, &query));
    assert_eq!(third.last_event["buy"], "2026-03-01T12:00:00Z".parse().unwrap());
    // A new exposure does too.
    ns.exposures().record(exposure("u99", "control", "abtests/t", "2026-03-01T10:30:00Z"));
    let fourth = cache.inputs(&ns, 1, &query).unwrap();
    assert_eq!(cache.reads(), 3);
    assert_eq!(fourth.request, uncached(&ns, &query));
    assert_ne!(fourth.request, third.request);
    // A new config revision recomputes (to the same numbers).
    let fifth = cache.inputs(&ns, 2, &query).unwrap();
    assert_eq!(cache.reads(), 4);
    assert_eq!(fifth.request, fourth.request);
    assert_eq!(cache.inputs(&ns, 2, &query).unwrap().request, fourth.request);
    assert_eq!(cache.reads(), 4);
}

#[test]
fn the_answer_is_the_warehouses_for_each_query() {
    let dir = tempfile::tempdir().unwrap();
    let ns = open(dir.path());
    seed(&ns);
    let cache = LogResults::with_capacity(8, 10_000);
    for query in [
        LogQuery::new("flags/f".into(), vec!["buy".into()], window("2026-03-01T00:00:00Z", None)),
        LogQuery::new(
            "flags/f".into(),
            vec!["buy".into(), "never".into()],
            window("2026-03-01T00:00:00Z", Some("2026-03-01T10:30:00Z")),
        ),
    ] {
        let got = cache.inputs(&ns, 1, &query).unwrap();
        assert_eq!(got.request, uncached(&ns, &query));
    }
    // An empty window and an unknown flag: nothing to analyse, not an error.
    let empty = window("2026-03-02T00:00:00Z", Some("2026-03-01T00:00:00Z"));
    assert_eq!(
        cache.inputs(&ns, 1, &LogQuery::new("flags/f".into(), vec![], empty)).unwrap().request,
        None
    );
    let other = LogQuery::new("flags/g".into(), vec![], Window::default());
    assert_eq!(cache.inputs(&ns, 1, &other).unwrap().request, None);

    // One rule's exposures: units 0..30 only.
    let mut by_rule = LogQuery::new("flags/f".into(), vec![], Window::default());
    by_rule.rule = Some("abtests/t".into());
    let got = cache.inputs(&ns, 1, &by_rule).unwrap();
    let units: u64 =
        got.request.as_ref().unwrap().variants.iter().map(|v| v.units.unwrap().0).sum();
    assert_eq!(units, 30);
}

#[test]
fn a_line_being_written_waits_for_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let ns = open(dir.path());
    seed(&ns);
    let cache = LogResults::with_capacity(8, 10_000);
    let query = LogQuery::new("flags/f".into(), vec![], Window::default());
    let before = cache.inputs(&ns, 1, &query).unwrap();
    let line = serde_json::to_string(&event("u2", "buy", 1.0, "2026-03-01T13:00:00Z")).unwrap();
    let (head, tail) = line.split_at(line.len() / 2);
    let mut file = std::fs::OpenOptions::new().append(true).open(ns.events().path()).unwrap();
    file.write_all(head.as_bytes()).unwrap();
    let torn = cache.inputs(&ns, 1, &query).unwrap();
    assert_eq!(torn.request, before.request, "half a line counts for nothing");
    file.write_all(tail.as_bytes()).unwrap();
    file.write_all(b"\n").unwrap();
    let whole = cache.inputs(&ns, 1, &query).unwrap();
    assert_ne!(whole.request, before.request);
    assert_eq!(whole.request, uncached(&ns, &query));
    assert_eq!(cache.reads(), 3);
}

#[test]
fn the_cache_keeps_at_most_its_capacity_least_recently_used_first() {
    let dir = tempfile::tempdir().unwrap();
    let ns = open(dir.path());
    seed(&ns);
    let cache = LogResults::with_capacity(2, 10_000);
    let query =
        |metric: &str| LogQuery::new("flags/f".into(), vec![metric.into()], Window::default());
    cache.inputs(&ns, 1, &query("a")).unwrap();
    cache.inputs(&ns, 1, &query("b")).unwrap();
    cache.inputs(&ns, 1, &query("a")).unwrap();
    assert_eq!(cache.reads(), 2);
    // c evicts b, the least recently used.
    cache.inputs(&ns, 1, &query("c")).unwrap();
    assert_eq!(cache.entries.lock().unwrap().len(), 2);
    cache.inputs(&ns, 1, &query("a")).unwrap();
    assert_eq!(cache.reads(), 3);
    cache.inputs(&ns, 1, &query("b")).unwrap();
    assert_eq!(cache.reads(), 4);
    assert_eq!(cache.entries.lock().unwrap().len(), 2);
}

#[test]
fn time_buckets_count_against_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let ns = open(dir.path());
    seed(&ns);
    // Room for 10 requests: an answer with 4 hourly buckets weighs 9.
    let cache = LogResults::with_capacity(8, 10);
    let mut hourly = LogQuery::new("flags/f".into(), vec!["buy".into()], Window::default());
    ns.events().append(&[event("u3", "buy", 1.0, "2026-03-01T13:30:00Z")]).unwrap();
    hourly.step_ms = Some(3_600_000);
    let plain = LogQuery::new("flags/f".into(), vec!["buy".into()], Window::default());
    cache.inputs(&ns, 1, &plain).unwrap();
    let got = cache.inputs(&ns, 1, &hourly).unwrap();
    assert_eq!(got.weight(), 9);
    // 1 + 9 fit.
    assert_eq!(cache.entries.lock().unwrap().len(), 2);
    let other = LogQuery::new("flags/f".into(), vec!["other".into()], Window::default());
    cache.inputs(&ns, 1, &other).unwrap();
    // 1 more does not: the least recently used (plain) goes.
    let entries = cache.entries.lock().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(!entries.keys().any(|(_, q)| *q == plain));
    drop(entries);
    // Minutes over 3.5 hours weigh more than the bound: answered, not kept.
    hourly.step_ms = Some(60_000);
    let fine = cache.inputs(&ns, 1, &hourly).unwrap();
    assert!(fine.weight() > 10);
    assert!(!cache.entries.lock().unwrap().keys().any(|(_, q)| *q == hourly));
}

#[test]
fn buckets_and_periods_are_windows_of_the_same_aggregation() {
    let dir = tempfile::tempdir().unwrap();
    let ns = open(dir.path());
    seed(&ns);
    ns.events().append(&[event("u3", "buy", 1.0, "2026-03-01T13:30:00Z")]).unwrap();
    let cache = LogResults::with_capacity(8, 10_000);
    let mut query = LogQuery::new("flags/f".into(), vec!["buy".into()], Window::default());
    query.step_ms = Some(3_600_000);
    let got = cache.inputs(&ns, 1, &query).unwrap();
    let Series::Buckets(buckets) = &got.series else { panic!("{:?}", got.series) };
    // 10:00 to 13:30: four hourly buckets.
    assert_eq!(buckets.len(), 4);
    let hour =
        |h: i64| jiff::Timestamp::from_millisecond(buckets[0].start_ms + h * 3_600_000).unwrap();
    for (h, b) in buckets.iter().enumerate() {
        let h = h as i64;
        let mut within = query.clone();
        within.window = (Some(hour(h)), Some(hour(h + 1)));
        let mut cumulative = query.clone();
        cumulative.window = (None, Some(hour(h + 1)));
        assert_eq!(b.within, uncached(&ns, &within), "bucket {h}");
        assert_eq!(b.cumulative, uncached(&ns, &cumulative), "bucket {h}");
    }
    // Too fine a step for the span.
    query.step_ms = Some(1_000);
    let got = cache.inputs(&ns, 1, &query).unwrap();
    assert_eq!(got.series, Series::TooMany(4 * 3_600 - 1_800 + 1));

    // Periods: only what falls in them counts (exposures at 10:00 are outside 10:30–14:00).
    let mut periods = LogQuery::new("flags/f".into(), vec!["buy".into()], Window::default());
    periods.periods = Some(vec![(Some("2026-03-01T10:30:00Z".parse().unwrap()), None)]);
    let got = cache.inputs(&ns, 1, &periods).unwrap();
    assert_eq!(got.request, None);
    assert_eq!(got.last_event["buy"], "2026-03-01T13:30:00Z".parse().unwrap());
    periods.periods = Some(vec![]);
    let got = cache.inputs(&ns, 1, &periods).unwrap();
    assert_eq!((got.request.as_ref(), got.last_event.len()), (None, 0));
}
