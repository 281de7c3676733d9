//! Workflows through the engine: rollouts with reach and schedules,
//! A/B tests with allocation and exclusivity, CloudBees experiments.
//!
//! Statistical checks use fixed units and a fixed proptest seed, so a run is
//! reproducible and a threshold at p = 0.001 cannot flake: the inputs that
//! pass today pass tomorrow.

use flagstone_core::bucket::bucket_of;
use flagstone_core::{Engine, EvaluationContext, FlagId, Reason};
use flagstone_model::allocate::allocate;
use flagstone_model::{Config, parse_config, validate};
use jiff::Timestamp;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::{Value, json};
use std::num::NonZeroU32;

const T0: &str = "2026-03-01T00:00:00Z";

fn config(json: &Value) -> Config {
    let config = parse_config(&json.to_string()).unwrap();
    let report = validate(&config);
    assert!(report.is_ok(), "{:?}", report.errors);
    config
}

fn compile(config: &Config) -> Engine {
    Engine::compile(config).unwrap_or_else(|e| panic!("{e:?}"))
}

fn engine(json: &Value) -> Engine {
    compile(&config(json))
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// The variant `flag` gives `unit` (under `key`) at `now`.
fn variant_of(
    engine: &Engine,
    flag: &str,
    key: &str,
    unit: &str,
    now: Timestamp,
) -> Option<String> {
    Probe::new(engine, flag, key).variant(unit, now).map(str::to_owned)
}

/// Evaluates one flag for many units, reusing the flag id and the context.
struct Probe<'e> {
    engine: &'e Engine,
    flag: FlagId,
    key: String,
    ctx: serde_json::Map<String, Value>,
}

impl<'e> Probe<'e> {
    fn new(engine: &'e Engine, flag: &str, key: &str) -> Self {
        let flag = engine.flag_id(flag).unwrap_or_else(|| panic!("no flag {flag}"));
        Probe { engine, flag, key: key.to_owned(), ctx: serde_json::Map::new() }
    }

    fn variant(&mut self, unit: &str, now: Timestamp) -> Option<&'e str> {
        self.ctx.insert(self.key.clone(), Value::String(unit.to_owned()));
        let r = self.engine.evaluate(self.flag, &EvaluationContext::new(&self.ctx).at(now));
        assert!(
            matches!(r.reason, Reason::Match | Reason::NoSegmentMatch),
            "{unit}: {:?}",
            r.reason
        );
        r.variant
    }
}

fn rollout_bucket(id: &str, unit: &str) -> u32 {
    bucket_of(id, unit, NonZeroU32::new(10_000).unwrap())
}

/// A flag `flags/f` with a variant `on` and rollout `rollouts/r` of it.
fn rollout(state: &str, reach: Value, schedule: &Value) -> Value {
    json!({
        "flags": [{"name": "flags/f", "variants": [{"name": "flags/f/variants/on", "value": true}]}],
        "rollouts": [{
            "name": "rollouts/r", "flag": "flags/f", "variant": "on", "state": state,
            "reach": reach, "schedule": schedule
        }]
    })
}

fn units(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Deterministic proptest runs: statistical thresholds are checked on fixed inputs.
fn fixed(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, rng_seed: RngSeed::Fixed(0x0004_2026), ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------
// Rollouts: reach, monotonicity, schedules.

proptest! {
    #![proptest_config(fixed(48))]

    /// spec §2.4: raising the reach only grows the variant's range, so every
    /// unit that had the variant keeps it. Checked twice: by recompiling with
    /// each reach, and by one engine whose schedule steps through the same
    /// reaches; both must equal `bucket < reach·10000`.
    #[test]
    fn raising_reach_keeps_every_unit_that_had_the_variant(
        mut reaches in proptest::collection::vec(0u32..=10_000, 1..7),
        seed in any::<u32>(),
    ) {
        reaches.sort_unstable();
        let share = |buckets: u32| Value::from(f64::from(buckets) / 10_000.0);
        let t0 = ts(T0);
        let step_at = |k: usize| t0 + jiff::SignedDuration::from_hours(24 * k as i64);
        let schedule: Vec<Value> = reaches.iter().enumerate().skip(1)
            .map(|(k, &b)| json!({"from": step_at(k).to_string(), "reach": share(b)}))
            .collect();
        let scheduled = engine(&rollout("LIVE", share(reaches[0]), &Value::from(schedule)));
        let units = units(&format!("u{seed}"), 300);
        let mut had = vec![false; units.len()];
        for (k, &buckets) in reaches.iter().enumerate() {
            let fixed = engine(&rollout("LIVE", share(buckets), &json!([])));
            for (i, unit) in units.iter().enumerate() {
                let expected = rollout_bucket("r", unit) < buckets;
                let by_reach = variant_of(&fixed, "f", "targeting_key", unit, t0).is_some();
                let by_schedule = variant_of(&scheduled, "f", "targeting_key", unit, step_at(k)).is_some();
                prop_assert_eq!(by_reach, expected, "{} at reach {}", unit, buckets);
                prop_assert_eq!(by_schedule, expected, "{} at step {}", unit, k);
                prop_assert!(!had[i] || by_reach, "{} lost the variant at reach {}", unit, buckets);
                had[i] = by_reach;
            }
        }
    }

    /// The schedule is binary-searched at compile time; it must agree with a
    /// plain scan for the latest step whose `from` ≤ now, at any time.
    #[test]
    fn schedule_lookup_agrees_with_a_scan(
        steps in proptest::collection::vec((1i64..1000, 0u32..=100), 1..40),
        probes in proptest::collection::vec(-10i64..45_000, 1..20),
    ) {
        let t0 = ts(T0);
        let mut at = t0;
        let mut schedule = Vec::new();
        for &(gap, percent) in &steps {
            at += jiff::SignedDuration::from_mins(gap);
            schedule.push((at, percent));
        }
        let json_schedule: Vec<Value> = schedule.iter()
            .map(|(from, p)| json!({"from": from.to_string(), "reach": f64::from(*p) / 100.0}))
            .collect();
        let engine = engine(&rollout("LIVE", json!("0.5"), &Value::from(json_schedule)));
        let units = units("probe", 40);
        for minutes in probes {
            let now = t0 + jiff::SignedDuration::from_mins(minutes);
            let percent = schedule.iter().rev().find(|(from, _)| *from <= now).map_or(50, |s| s.1);
            for unit in &units {
                let expected = rollout_bucket("r", unit) < percent * 100;
                prop_assert_eq!(variant_of(&engine, "f", "targeting_key", unit, now).is_some(), expected);
            }
        }
    }
}

/// Whether each unit gets the variant, for a rollout with `reach` 0 and one
/// step to reach 1 at `T0`: the outcome is the same for every unit.
fn everyone_or_nobody(engine: &Engine, now: Timestamp) -> Option<bool> {
    let got: Vec<bool> = units("edge", 200)
        .iter()
        .map(|u| variant_of(engine, "f", "targeting_key", u, now).is_some())
        .collect();
    let all = got.iter().all(|g| *g);
    let none = got.iter().all(|g| !*g);
    if all || none { Some(all) } else { None }
}

#[test]
fn schedule_edges_before_the_first_step_exactly_at_from_and_paused() {
    let schedule = json!([{"from": T0, "reach": "1"}]);
    let live = engine(&rollout("LIVE", json!("0"), &schedule));
    let t0 = ts(T0);
    let just_before = t0 - jiff::SignedDuration::from_nanos(1);
    assert_eq!(everyone_or_nobody(&live, just_before), Some(false), "before the first step: reach");
    assert_eq!(everyone_or_nobody(&live, t0), Some(true), "exactly at from: the step applies");
    assert_eq!(everyone_or_nobody(&live, t0 + jiff::SignedDuration::from_hours(1)), Some(true));

    // Paused before the step: the reach stays frozen although the step passes.
    let paused = engine(&rollout("PAUSED", json!("0"), &schedule));
    assert_eq!(everyone_or_nobody(&paused, just_before), Some(false));
    assert_eq!(
        everyone_or_nobody(&paused, t0 + jiff::SignedDuration::from_hours(24 * 30)),
        Some(false)
    );

    // Frozen at a middle reach, a later step to 1 changes nothing either.
    let half = engine(&rollout("PAUSED", json!("0.5"), &schedule));
    let later = t0 + jiff::SignedDuration::from_hours(24);
    for unit in units("frozen", 200) {
        let expected = rollout_bucket("r", &unit) < 5_000;
        assert_eq!(
            variant_of(&half, "f", "targeting_key", &unit, later).is_some(),
            expected,
            "{unit}"
        );
    }
}

#[test]
fn schedule_between_and_after_steps_uses_the_latest_started_step() {
    let schedule = json!([
        {"from": "2026-03-01T00:00:00Z", "reach": "0"},
        {"from": "2026-03-02T00:00:00Z", "reach": "1"},
        {"from": "2026-03-03T00:00:00Z", "reach": "0"},
    ]);
    let live = engine(&rollout("LIVE", json!("1"), &schedule));
    let cases = [
        ("2026-02-28T23:59:59Z", true),
        ("2026-03-01T12:00:00Z", false),
        ("2026-03-02T00:00:00Z", true),
        ("2026-03-02T23:59:59.999Z", true),
        ("2026-03-03T00:00:00Z", false),
        ("2030-01-01T00:00:00Z", false),
    ];
    for (now, expected) in cases {
        assert_eq!(everyone_or_nobody(&live, ts(now)), Some(expected), "{now}");
    }
}

#[test]
fn draft_and_ended_rollouts_serve_nothing() {
    for state in ["DRAFT", "ENDED"] {
        let e = engine(&rollout(state, json!("1"), &json!([])));
        assert_eq!(everyone_or_nobody(&e, ts(T0)), Some(false), "{state}");
    }
}

#[test]
fn reach_rounds_to_the_nearest_of_10000_buckets_at_the_edges() {
    let units = units("edge", 100_000);
    let count = |reach: Value, units: &[String]| {
        let e = engine(&rollout("LIVE", reach, &json!([])));
        let mut probe = Probe::new(&e, "f", "targeting_key");
        units.iter().filter(|u| probe.variant(u, ts(T0)).is_some()).count()
    };
    let some = &units[..10_000];
    assert_eq!(count(json!("0"), some), 0);
    assert_eq!(count(json!(0), some), 0);
    assert_eq!(count(json!("1"), some), some.len());
    assert_eq!(count(json!(1), some), some.len());
    // 0.00005 of 10,000 buckets is half a bucket: rounded up to exactly bucket 0.
    let in_bucket_0 = units.iter().filter(|u| rollout_bucket("r", u) == 0).count();
    assert!(in_bucket_0 > 0, "no unit in bucket 0: pick more units");
    assert_eq!(count(json!("0.00005"), &units), in_bucket_0);
    assert_eq!(count(json!(0.00005), &units), in_bucket_0);
    // 0.00004 is 0.4 of a bucket: rounded down to none.
    assert_eq!(count(json!("0.00004"), &units), 0);
}

// ---------------------------------------------------------------------------
// A/B tests: exclusivity and treatment shares.

/// Two flags, each with an A/B test; both tests in the exclusivity layer `checkout`.
fn exclusive_tests(salt: &str, proportion_a: f64, proportion_b: f64) -> Value {
    let flag = |id: &str| {
        json!({"name": format!("flags/{id}"), "variants": [
            {"name": format!("flags/{id}/variants/control"), "value": false},
            {"name": format!("flags/{id}/variants/treatment"), "value": true},
        ]})
    };
    let test = |id: &str, proportion: f64| {
        json!({
            "name": format!("abtests/{id}"), "flag": format!("flags/{id}"), "state": "LIVE",
            "treatments": [{"variant": "control", "baseline": true}, {"variant": "treatment"}],
            "allocation": {"proportion": proportion, "exclusivityTags": ["checkout"], "exclusiveTo": ["checkout"]}
        })
    };
    json!({
        "allocationSalt": salt,
        "flags": [flag("a"), flag("b")],
        "abtests": [test("a", proportion_a), test("b", proportion_b)],
    })
}

/// Five standard deviations of a binomial count: a hard bound in practice.
fn within_5_sigma(count: usize, n: usize, p: f64) -> bool {
    let (count, n) = (count as f64, n as f64);
    (count - n * p).abs() <= 5.0 * (n * p * (1.0 - p)).sqrt() + 1.0
}

proptest! {
    #![proptest_config(fixed(5))]

    /// spec §2.6: after `allocate`, two exclusive A/B tests never share a
    /// unit, checked through the engine over 100,000 units; each still holds
    /// its proportion of them.
    #[test]
    fn exclusive_abtests_never_share_a_unit(
        milli_a in 1u32..=999,
        milli_b_share in 1u32..=1000,
        salt in "[a-z]{1,8}",
    ) {
        let proportion_a = f64::from(milli_a) / 1000.0;
        // b gets a share of what a leaves free, so the pair always fits.
        let proportion_b = ((1000 - milli_a) * milli_b_share / 1000) as f64 / 1000.0;
        let mut config = config(&exclusive_tests(&salt, proportion_a, proportion_b));
        allocate(&mut config).unwrap();
        let engine = compile(&config);
        let n = 100_000;
        let (mut in_a, mut in_b) = (0, 0);
        let mut probe_a = Probe::new(&engine, "a", "targeting_key");
        let mut probe_b = Probe::new(&engine, "b", "targeting_key");
        for unit in units(&format!("user-{salt}"), n) {
            let a = probe_a.variant(&unit, ts(T0)).is_some();
            let b = probe_b.variant(&unit, ts(T0)).is_some();
            prop_assert!(!(a && b), "{} is in both tests", unit);
            in_a += usize::from(a);
            in_b += usize::from(b);
        }
        prop_assert!(within_5_sigma(in_a, n, proportion_a), "a: {} of {}", in_a, n);
        prop_assert!(within_5_sigma(in_b, n, proportion_b), "b: {} of {}", in_b, n);
    }

    /// Treatment shares match the weights: Pearson's χ² of 100,000 units
    /// against the weight shares stays below the upper 0.1% critical value of
    /// χ² with k − 1 degrees of freedom, i.e. p > 0.001. Critical values from
    /// the NIST/SEMATECH e-Handbook of Statistical Methods, §1.3.6.7.4
    /// (upper-tail critical values of the chi-square distribution, α = 0.001):
    /// 10.828 (1 df), 13.816 (2 df), 16.266 (3 df).
    #[test]
    fn treatment_shares_match_weights_by_chi_square(
        weights in proptest::collection::vec(1u32..=10, 2..=4),
        salt in "[a-z]{1,8}",
    ) {
        const CRITICAL_0_001: [f64; 3] = [10.828, 13.816, 16.266];
        let variants: Vec<Value> = (0..weights.len())
            .map(|i| json!({"name": format!("flags/f/variants/v{i}"), "value": i}))
            .collect();
        let treatments: Vec<Value> = weights.iter().enumerate()
            .map(|(i, w)| json!({"variant": format!("v{i}"), "weight": w, "baseline": i == 0}))
            .collect();
        let engine = engine(&json!({
            "flags": [{"name": "flags/f", "variants": variants}],
            "abtests": [{"name": format!("abtests/{salt}"), "flag": "flags/f", "state": "LIVE", "treatments": treatments}],
        }));
        let n = 100_000;
        let mut counts = vec![0usize; weights.len()];
        let mut probe = Probe::new(&engine, "f", "targeting_key");
        for unit in units(&format!("unit-{salt}"), n) {
            let v = probe.variant(&unit, ts(T0)).unwrap();
            let i: usize = v.trim_start_matches("flags/f/variants/v").parse().unwrap();
            counts[i] += 1;
        }
        let total: u32 = weights.iter().sum();
        let chi_square: f64 = counts.iter().zip(&weights).map(|(&observed, &w)| {
            let expected = n as f64 * f64::from(w) / f64::from(total);
            (observed as f64 - expected).powi(2) / expected
        }).sum();
        let critical = CRITICAL_0_001[weights.len() - 2];
        prop_assert!(chi_square < critical, "χ² {} ≥ {} for {:?}: {:?}", chi_square, critical, weights, counts);
    }
}

// ---------------------------------------------------------------------------
// CloudBees experiments, as in the CloudBees Feature Management docs.

const STICKY: &str = "rox.distinct_id";

fn cloudbees(experiment: Value, target_groups: Value) -> Engine {
    engine(&json!({"targetGroups": target_groups, "experiments": [experiment]}))
}

fn value_of(engine: &Engine, flag: &str, ctx: &Value) -> Option<Value> {
    let r = engine.evaluate_name(flag, &EvaluationContext::from_json(ctx).at(ts(T0)));
    r.value.cloned()
}

/// "Split: 50% of users get true": about half of 10,000 units, each always the same.
#[test]
fn cloudbees_fifty_percent_split() {
    let e = cloudbees(
        json!({"flag": "default.showBanner", "value": [
            {"option": true, "percentage": 50}, {"option": false, "percentage": 50}
        ]}),
        json!([]),
    );
    let n = 10_000;
    let mut n_true = 0;
    for i in 0..n {
        let ctx = json!({STICKY: format!("device-{i}")});
        let value = value_of(&e, "default.showBanner", &ctx);
        assert_eq!(value_of(&e, "default.showBanner", &ctx), value, "sticky");
        match value {
            Some(Value::Bool(true)) => n_true += 1,
            Some(Value::Bool(false)) => {}
            other => panic!("device-{i}: {other:?}"),
        }
    }
    assert!(within_5_sigma(n_true, n, 0.5), "{n_true} of {n} got true");
}

/// "QA and Beta Users on version ≥ 3.0.1 get the feature": group and version
/// of one condition are AND-ed; everyone else gets the experiment's value.
#[test]
fn cloudbees_qa_and_beta_users_on_version_3_0_1_or_later() {
    let e = cloudbees(
        json!({
            "flag": "default.newCheckout",
            "conditions": [{
                "group": {"operator": "or", "name": ["QA", "Beta Users"]},
                "version": {"operator": "semver-gte", "semver": "3.0.1"},
                "value": true
            }],
            "value": false
        }),
        json!([
            {"name": "targetGroups/QA", "conditions": [{"property": "email", "operator": "regex", "operand": "@qa\\.example\\.com$"}]},
            {"name": "targetGroups/Beta Users", "conditions": [{"property": "beta", "operator": "is-true"}]}
        ]),
    );
    let cases = [
        (json!({"email": "ann@qa.example.com", "app_version": "3.0.1"}), true),
        (json!({"email": "ann@qa.example.com", "app_version": "3.10.0"}), true),
        (json!({"beta": true, "app_version": "v4"}), true),
        (json!({"email": "ann@qa.example.com", "app_version": "3.0.0"}), false),
        (json!({"email": "ann@qa.example.com", "app_version": "3.0.1-rc.1"}), false),
        (json!({"email": "ann@qa.example.com"}), false),
        (json!({"beta": false, "app_version": "3.0.1"}), false),
        (json!({"email": "bob@example.com", "app_version": "9.0.0"}), false),
    ];
    for (ctx, expected) in cases {
        assert_eq!(value_of(&e, "default.newCheckout", &ctx), Some(Value::Bool(expected)), "{ctx}");
    }
}

/// "Off for Android only": a platform with its own value ahead of the default.
#[test]
fn cloudbees_off_for_android_only() {
    let e = cloudbees(
        json!({"flag": "default.videoChat", "platforms": [{"name": "Android", "value": false}], "value": true}),
        json!([]),
    );
    assert_eq!(
        value_of(&e, "default.videoChat", &json!({"platform": "Android"})),
        Some(false.into())
    );
    assert_eq!(value_of(&e, "default.videoChat", &json!({"platform": "iOS"})), Some(true.into()));
    assert_eq!(
        value_of(&e, "default.videoChat", &json!({"platform": "android"})),
        Some(true.into())
    );
    assert_eq!(value_of(&e, "default.videoChat", &json!({})), Some(true.into()));
}

#[test]
fn cloudbees_disabled_experiment_leaves_the_client_default() {
    let e = cloudbees(json!({"flag": "default.off", "enabled": false, "value": true}), json!([]));
    let r = e.evaluate_name("default.off", &EvaluationContext::from_json(&json!({})).at(ts(T0)));
    assert_eq!((r.variant, r.reason), (None, Reason::NoSegmentMatch));
}
