//! The CloudBees Feature Management Experiments API's own examples, verbatim.
//!
//! The bodies below are copied character for character from CloudBees' documentation
//! of its Experiments API ("Experiment response" of Get Experiments and of Get
//! Experiment, and the body of Create an Experiment). A user who pastes them must get
//! a config that validates and evaluates as the documentation describes: a 25/25/25/25
//! colour split, a schedule that turns a tutorial on for everyone at its second date,
//! and a version-and-group condition.
//!
//! The documents name the target groups `QA` and `Beta Users` without defining them;
//! the test defines them (the only text here that is not CloudBees').

use flagstone_core::{Engine, EvaluationContext, Reason};
use flagstone_model::{parse_config, validate};
use jiff::Timestamp;
use serde_json::{Value, json};

/// "Get Experiments", Experiment response (the whole example array).
const GET_EXPERIMENTS_RESPONSE: &str = r#"[ { "type": "experiment", "labels": "Default", "flag": "enableTutorial", "value": [ { "from": "2020-09-25T13:38:29.358Z", "percentage": 0, "option": true }, { "from": "2020-09-25T23:00:00.000Z", "percentage": 100, "option": true } ] }, { "type": "experiment", "labels": "Default", "flag": "titleColors", "availableValues": [ "Blue", "Yellow", "Green", "White" ], "value": [ { "percentage": 25, "option": "Blue" }, { "percentage": 25, "option": "Yellow" }, { "percentage": 25, "option": "Green" }, { "percentage": 25, "option": "White" } ] }, { "type": "experiment", "name": "following views again", "flag": "default.followingView", "conditions": [ { "version": { "operator": "semver-gte", "semver": "3.0.1" }, "group": { "name": [ "QA", "Beta Users" ] }, "value": true } ], "value": false }, { "type": "experiment", "name": "acmeExperimentFoo", "description": "Applies foo to our Nifty App", "labels": "do-not-merge", "stickinessProperty": "fixed", "flag": "acmeFlagControl", "value": false } ]"#;

/// "Get Experiment", Experiment response.
const GET_EXPERIMENT_RESPONSE: &str = r#"{ "type": "experiment", "name": "acmeExperimentFoo", "description": "Applies foo to our Nifty App", "labels": "do-not-merge", "stickinessProperty": "fixed", "flag": "acmeFlagControl", "value": false }"#;

/// "Create an Experiment", the body of the cURL example.
const CREATE_EXPERIMENT_BODY: &str = r#"{"type":"experiment","apiVersion":"1.0","flag":"acmeFlagControl","name":"acmeExperimentFoo","description":"Applies foo to our Nifty App","enabled":true,"labels":"do-not-merge","stickinessProperty":"fixed"}"#;

/// `QA` and `Beta Users`, as a CloudBees user would define them.
fn target_groups() -> Value {
    json!([
        {"name": "targetGroups/QA", "conditions": [
            {"property": "email", "operator": "regex", "operand": "@qa\\.example\\.com$"}
        ]},
        {"name": "targetGroups/Beta Users", "conditions": [
            {"property": "beta", "operator": "is-true"}
        ]}
    ])
}

/// Parses, validates and compiles a config holding `experiments` (JSON text, verbatim).
fn engine(experiments: &str) -> Engine {
    let experiments: Value = serde_json::from_str(experiments).unwrap();
    let experiments = if experiments.is_array() { experiments } else { json!([experiments]) };
    let text = json!({"targetGroups": target_groups(), "experiments": experiments}).to_string();
    let config = parse_config(&text).unwrap_or_else(|e| panic!("{e}"));
    let report = validate(&config);
    assert!(report.is_ok(), "{:?}", report.errors);
    Engine::compile(&config).unwrap_or_else(|e| panic!("{e:?}"))
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn value_at(engine: &Engine, flag: &str, ctx: &Value, now: &str) -> Option<Value> {
    let ctx = EvaluationContext::from_json(ctx).at(ts(now));
    engine.evaluate_name(flag, &ctx).value.cloned()
}

const NOW: &str = "2026-12-06T00:00:00Z";

#[test]
fn every_documented_example_validates_and_compiles() {
    engine(GET_EXPERIMENTS_RESPONSE);
    engine(GET_EXPERIMENT_RESPONSE);
    engine(CREATE_EXPERIMENT_BODY);
}

#[test]
fn documented_examples_keep_their_shape_through_a_round_trip() {
    // `labels` stays a string, `group.name` a list, `apiVersion` is kept.
    let text =
        json!({"experiments": serde_json::from_str::<Value>(GET_EXPERIMENTS_RESPONSE).unwrap()});
    let config = parse_config(&text.to_string()).unwrap();
    let back = serde_json::to_value(&config).unwrap();
    assert_eq!(back["experiments"][0]["labels"], json!("Default"));
    assert_eq!(
        back["experiments"][2]["conditions"][0]["group"]["name"],
        json!(["QA", "Beta Users"])
    );
    assert_eq!(back["experiments"][1]["value"][0]["percentage"], json!(25.0));
    let created =
        json!({"experiments": [serde_json::from_str::<Value>(CREATE_EXPERIMENT_BODY).unwrap()]});
    let config = parse_config(&created.to_string()).unwrap();
    let back = serde_json::to_value(&config).unwrap();
    assert_eq!(back["experiments"][0]["apiVersion"], json!("1.0"));
    assert_eq!(back["experiments"][0]["labels"], json!("do-not-merge"));
}

/// `titleColors`: four options at 25 each give every colour a quarter of the units.
#[test]
fn title_colors_split_gives_each_colour_a_quarter() {
    let engine = engine(GET_EXPERIMENTS_RESPONSE);
    let colours = ["Blue", "Yellow", "Green", "White"];
    let n = 20_000;
    let mut counts = [0usize; 4];
    for i in 0..n {
        // The default stickiness property.
        let ctx = json!({"rox.distinct_id": format!("device-{i}")});
        let value =
            value_at(&engine, "titleColors", &ctx, NOW).unwrap_or_else(|| panic!("unit {i}"));
        let idx = colours.iter().position(|c| value == json!(c)).unwrap();
        counts[idx] += 1;
        assert_eq!(value_at(&engine, "titleColors", &ctx, NOW), Some(value), "sticky");
    }
    let expected = n as f64 / 4.0;
    let chi_square: f64 = counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum();
    // χ² with 3 degrees of freedom, upper 0.001 point (NIST/SEMATECH e-Handbook, table 1.3.6.7.4).
    assert!(chi_square < 16.266, "χ² {chi_square} for {counts:?}");
}

/// `enableTutorial`: 0 % from the first date, 100 % from the second.
#[test]
fn enable_tutorial_schedule_turns_on_at_its_second_date() {
    let engine = engine(GET_EXPERIMENTS_RESPONSE);
    let share_on = |now: &str| {
        let n = 2_000;
        let on = (0..n)
            .filter(|i| {
                let ctx = json!({"rox.distinct_id": format!("user-{i}")});
                value_at(&engine, "enableTutorial", &ctx, now) == Some(json!(true))
            })
            .count();
        on as f64 / n as f64
    };
    assert_eq!(share_on("2020-09-25T13:00:00Z"), 0.0, "before the first date");
    assert_eq!(share_on("2020-09-25T13:38:29.358Z"), 0.0, "at the first date");
    assert_eq!(share_on("2020-09-25T22:59:59.999Z"), 0.0, "just before the second date");
    assert_eq!(share_on("2020-09-25T23:00:00Z"), 1.0, "at the second date");
    assert_eq!(share_on(NOW), 1.0, "long after");
    // Units outside the schedule's share get no value: the caller's default applies.
    let unit = json!({"rox.distinct_id": "u"});
    let ctx = EvaluationContext::from_json(&unit).at(ts("2020-09-25T14:00:00Z"));
    let r = engine.evaluate_name("enableTutorial", &ctx);
    assert_eq!((r.value, r.reason), (None, Reason::NoSegmentMatch));
}

/// `default.followingView`: true only for QA or Beta Users members on 3.0.1 or later.
#[test]
fn following_view_needs_a_group_and_version_3_0_1() {
    let engine = engine(GET_EXPERIMENTS_RESPONSE);
    let cases = [
        (json!({"email": "ann@qa.example.com", "app_version": "3.0.1"}), true),
        (json!({"email": "ann@qa.example.com", "app_version": "3.2.0"}), true),
        (json!({"beta": true, "app_version": "3.0.1"}), true),
        (json!({"beta": true, "email": "ann@qa.example.com", "app_version": "10.0.0"}), true),
        (json!({"email": "ann@qa.example.com", "app_version": "3.0.0"}), false),
        (json!({"beta": true, "app_version": "3.0.1-beta.2"}), false),
        (json!({"beta": true}), false),
        (json!({"beta": false, "app_version": "3.0.1"}), false),
        (json!({"email": "bob@example.com", "app_version": "4.0.0"}), false),
        (json!({}), false),
    ];
    for (ctx, expected) in cases {
        assert_eq!(
            value_at(&engine, "default.followingView", &ctx, NOW),
            Some(json!(expected)),
            "{ctx}"
        );
    }
}

/// `acmeFlagControl`: false for everyone, whatever the stickiness property holds.
#[test]
fn acme_flag_control_is_false_for_everyone() {
    for text in [GET_EXPERIMENTS_RESPONSE, GET_EXPERIMENT_RESPONSE] {
        let engine = engine(text);
        for ctx in [json!({}), json!({"fixed": "a"}), json!({"fixed": "b", "platform": "iOS"})] {
            assert_eq!(
                value_at(&engine, "acmeFlagControl", &ctx, NOW),
                Some(json!(false)),
                "{ctx}"
            );
        }
    }
}

/// The created experiment has no value and no conditions: callers keep their default.
#[test]
fn created_experiment_without_value_leaves_the_default() {
    let engine = engine(CREATE_EXPERIMENT_BODY);
    let unit = json!({"fixed": "a"});
    let ctx = EvaluationContext::from_json(&unit).at(ts(NOW));
    let r = engine.evaluate_name("acmeFlagControl", &ctx);
    assert_eq!((r.value, r.reason), (None, Reason::NoSegmentMatch));
}

#[test]
fn percentages_are_zero_to_one_hundred() {
    let config = |value: Value| {
        let text = json!({"experiments": [{"flag": "f", "value": value}]}).to_string();
        validate(&parse_config(&text).unwrap())
    };
    let report = config(json!([{"option": true, "percentage": 101}]));
    let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert!(
        messages.contains(
            &"experiments[0].value[0].percentage: percentage 101 outside [0, 100]".into()
        ),
        "{messages:?}"
    );
    let report =
        config(json!([{"option": true, "percentage": 60}, {"option": false, "percentage": 50}]));
    let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages, ["experiments[0].value: percentages add up to 110, over 100"]);
    let report = config(json!([{"from": "2026-01-01T00:00:00Z", "percentage": -1}]));
    assert!(!report.is_ok());
}

#[test]
fn unknown_group_names_are_errors_with_their_path() {
    let text = json!({"experiments": [
        {"flag": "f", "conditions": [{"group": {"name": "Nobody"}, "value": true}]},
        {"flag": "g", "conditions": [{"group": {"name": ["QA", "Nobody"]}, "value": true}]}
    ], "targetGroups": [{"name": "targetGroups/QA"}]})
    .to_string();
    let report = validate(&parse_config(&text).unwrap());
    let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "experiments[0].conditions[0].group.name: unknown target group \"Nobody\"",
            "experiments[1].conditions[0].group.name[1]: unknown target group \"Nobody\"",
        ]
    );
}
