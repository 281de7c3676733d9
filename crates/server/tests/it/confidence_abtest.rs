//! Confidence A/B test instances: the modules of the Update Abtest document
//! under update masks, what they do to the model resource and to
//! evaluation, and results from uploaded inputs and from the server's logs.

use crate::confidence::{Confidence, google_error, is_instance_name, is_time};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ABTESTS: &str = "/v1/workflows/abtest/instances";

fn create_body() -> Value {
    json!({
        "displayName": "Search ranking test",
        "abtest": {
            "flag": "flags/search-flag",
            "treatments": [
                {"variant": "flags/search-flag/variants/disabled", "baseline": true},
                {"variant": "flags/search-flag/variants/enabled"}
            ]
        },
        "flags": {"targetingKeySelector": "targeting_key"},
        "hypothesis": {"text": "ranked results convert better"},
        "metrics": {
            "entity": "entities/user",
            "metrics": [
                {"metric": "metrics/conversion-rate",
                 "metricRole": {"metricKind": "SUCCESS", "minimumDetectableEffect": 0.01},
                 "preferredDirection": "INCREASE"},
                {"metric": "metrics/latency",
                 "metricRole": {"metricKind": "GUARDRAIL", "nonInferiorityMargin": 0.02},
                 "preferredDirection": "DECREASE"}
            ]
        },
        "stats": {"alpha": 0.1, "power": 0.9},
        "labels": [{"key": "team", "value": "search"}],
        "reviews": {"approvalRequired": true},
        "report": {"sections": []}
    })
}

async fn create(c: &Confidence, body: &Value) -> (String, Value) {
    let (status, created) = c.post(ABTESTS, Some(&body.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["name"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    (id, created)
}

/// The model resource an instance translates to, over the native API.
async fn model(c: &Confidence, id: &str) -> Value {
    let (status, envelope) =
        c.get(&format!("/v1/namespaces/default/production/abtests/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{envelope}");
    envelope["document"].clone()
}

fn units(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user-{i}")).collect()
}

#[tokio::test]
async fn every_module_updates_under_its_mask() {
    let c = Confidence::start().await;
    let (id, created) = create(&c, &create_body()).await;
    is_instance_name(&created["name"], "abtest");
    assert_eq!(created["state"], "draft");
    is_time(&created["createTime"]);
    for module in ["abtest", "flags", "hypothesis", "metrics", "labels", "reviews", "report"] {
        assert_eq!(created[module], create_body()[module], "{module}");
    }
    assert_eq!(created["stats"]["alpha"], 0.1);

    // The model resource: the modules that act, translated.
    let m = model(&c, &id).await;
    assert_eq!(m["state"], "DRAFT");
    assert_eq!(m["flag"], "flags/search-flag");
    assert_eq!(
        m["treatments"],
        json!([{"variant": "flags/search-flag/variants/disabled", "baseline": true},
               {"variant": "flags/search-flag/variants/enabled"}])
    );
    assert_eq!(m["hypothesis"], "ranked results convert better");
    assert_eq!(m["targetingKeySelector"], "targeting_key");
    assert_eq!(m["metrics"][1]["kind"], "GUARDRAIL");
    assert_eq!(m["metrics"][1]["nonInferiorityMargin"], 0.02);
    assert_eq!(m["metrics"][1]["preferredDirection"], "DECREASE");
    assert_eq!(m["metrics"][0]["minimumDetectableEffect"], 0.01);

    // Half of everyone, through :updateSegment's allocation.
    let (status, segment) = c
        .post(
            &format!("{ABTESTS}/{id}:updateSegment"),
            Some(r#"{"updateMask": "allocation", "segment": {"allocation": {"proportion": "1"}}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{segment}");
    assert_eq!(model(&c, &id).await["allocation"], json!({"proportion": "1"}));

    // Launch: two equal treatments split 4,000 units; Binomial(4,000, 0.5), sd 31.6, 4.5 sd.
    assert_eq!(c.post(&format!("{ABTESTS}/{id}:launch"), None).await, (StatusCode::OK, json!({})));
    // Listed as A/B tests, apart from rollouts.
    let (_, draft) = create(&c, &create_body()).await;
    let (status, listed) =
        c.get(&format!("{ABTESTS}?filter=state:live%20AND%20flag:flags/search-flag")).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let names: Vec<&str> =
        listed["abtests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, [format!("workflows/abtest/instances/{id}")]);
    assert_eq!(listed["nextPageToken"], "");
    let (_, all) = c.get(ABTESTS).await;
    assert_eq!(all["abtests"].as_array().unwrap().len(), 2);
    assert_eq!(all["abtests"][1]["name"], draft["name"]);
    let (_, rollouts) = c.get(crate::confidence::ROLLOUTS).await;
    assert_eq!(rollouts["rollouts"], json!([]));
    let people = units(4000);
    let treated = c.units_with("search-flag", &people, "SE", "enabled").await;
    assert!((1858..=2142).contains(&treated.len()), "{}", treated.len());

    // abtest.treatments: weights 1:3 give the treatment 3/4; Binomial(4,000, 0.75), sd 27.4.
    let path = format!("{ABTESTS}/{id}?updateMask=abtest.treatments");
    let (status, got) = c
        .patch(
            &path,
            r#"{"abtest": {"flag": "flags/ignored", "treatments": [
                {"variant": "flags/search-flag/variants/disabled", "weight": 1, "baseline": true},
                {"variant": "flags/search-flag/variants/enabled", "weight": 3}]}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["abtest"]["flag"], "flags/search-flag", "only the masked field changes");
    let treated = c.units_with("search-flag", &people, "SE", "enabled").await;
    assert!((2877..=3123).contains(&treated.len()), "{}", treated.len());

    // flags.*: the materialization spec of the rule.
    let path = format!(
        "{ABTESTS}/{id}?updateMask=flags.stickyAssignments,flags.intakePaused,flags.ignoreTargetingForSticky"
    );
    let (status, got) = c
        .patch(
            &path,
            r#"{"flags": {"stickyAssignments": true, "intakePaused": true, "ignoreTargetingForSticky": true}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["flags"]["targetingKeySelector"], "targeting_key");
    let spec = &model(&c, &id).await["materializationSpec"];
    let name = format!("materializations/{id}");
    assert_eq!(spec["readMaterialization"], name.as_str());
    assert_eq!(spec["writeMaterialization"], name.as_str());
    assert_eq!(
        spec["mode"],
        json!({"materializationMustMatch": true, "segmentTargetingCanBeIgnored": true})
    );
    let (status, _) = c
        .patch(&format!("{ABTESTS}/{id}?updateMask=flags.intakePaused,flags.ignoreTargetingForSticky,flags.materialization"),
            r#"{"flags": {"materialization": "materializations/shared"}}"#)
        .await;
    assert_eq!(status, StatusCode::OK);
    let spec = &model(&c, &id).await["materializationSpec"];
    assert_eq!(spec["readMaterialization"], "materializations/shared");
    assert_eq!(spec["mode"], json!({}));

    // The other modules: stored, shown, and (hypothesis, metrics) translated.
    let path = format!(
        "{ABTESTS}/{id}?updateMask=stats.alpha,stats.power,hypothesis.text,decision,labels,displayName,metrics"
    );
    let update = json!({
        "displayName": "Search ranking test, round 2",
        "stats": {"alpha": 0.05, "power": 0.8, "analysisResult": "ignored"},
        "hypothesis": {"text": "ranking helps"},
        "decision": {"conclusion": "ship", "treatment": "flags/search-flag/variants/enabled"},
        "labels": [],
        "metrics": {"metrics": [{"metric": "metrics/conversion-rate",
            "metricRole": {"metricKind": "GUARDRAIL", "nonInferiorityMargin": 0.05},
            "preferredDirection": "INCREASE"}]}
    });
    let (status, got) = c.patch(&path, &update.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["displayName"], "Search ranking test, round 2");
    assert_eq!(got["stats"]["alpha"], 0.05);
    assert_eq!(got["stats"]["power"], 0.8);
    assert_eq!(
        got["stats"]["analysisResult"], created["stats"]["analysisResult"],
        "output only, kept"
    );
    assert_eq!(got["decision"], update["decision"]);
    assert_eq!(got["labels"], json!([]));
    assert_eq!(got["reviews"], created["reviews"], "unmasked modules stay");
    let m = model(&c, &id).await;
    assert_eq!(m["hypothesis"], "ranking helps");
    assert_eq!(m["displayName"], "Search ranking test, round 2");
    assert_eq!(
        m["metrics"],
        json!([{"metric": "metrics/conversion-rate", "kind": "GUARDRAIL",
        "nonInferiorityMargin": 0.05, "preferredDirection": "INCREASE"}])
    );

    // An empty mask updates the populated fields only (AIP-134).
    let (status, got) = c
        .patch(&format!("{ABTESTS}/{id}"), r#"{"hypothesis": {"text": "third"}, "creator": "me"}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["hypothesis"]["text"], "third");
    assert_eq!(got["creator"], crate::confidence::TOKEN_ID);
    assert_eq!(got["decision"], update["decision"]);

    // Output-only fields named in a mask: 400 naming them.
    for field in [
        "state",
        "createTime",
        "creator",
        "possibleTransitions",
        "stateHistory",
        "stats.analysisResult",
        "samplesize.requiredSampleSize",
        "reviews.status",
    ] {
        let (status, body) = c.patch(&format!("{ABTESTS}/{id}?updateMask={field}"), "{}").await;
        google_error(status, &body, 400, "INVALID_ARGUMENT", Some("updateMask"));
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.contains(&format!("{field} is output only")), "{text}");
    }
    // A rollout module on an A/B test is not a field.
    let (status, body) = c.patch(&format!("{ABTESTS}/{id}?updateMask=rollout.reach"), "{}").await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("updateMask"));
    // Problems name the request's fields: a treatment of another flag, a metric kind.
    let (status, body) = c
        .patch(&format!("{ABTESTS}/{id}?updateMask=abtest.treatments"),
            r#"{"abtest": {"treatments": [{"variant": "flags/search-flag/variants/disabled"}, {"variant": "flags/search-flag/variants/nope"}]}}"#)
        .await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("abtest.treatments[1].variant"));
    let (status, body) = c
        .patch(&format!("{ABTESTS}/{id}?updateMask=metrics.metrics"),
            r#"{"metrics": {"metrics": [{"metric": "metrics/x", "metricRole": {"metricKind": "DECISIVE"}}]}}"#)
        .await;
    google_error(
        status,
        &body,
        400,
        "INVALID_ARGUMENT",
        Some("metrics.metrics[0].metricRole.metricKind"),
    );
    // A materialization name the stores cannot key on (the test is live, so its rule is checked).
    let (status, body) = c
        .patch(
            &format!("{ABTESTS}/{id}?updateMask=flags.materialization,flags.stickyAssignments"),
            r#"{"flags": {"materialization": "a:b", "stickyAssignments": true}}"#,
        )
        .await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("flags.materialization"));
}

fn inputs() -> Value {
    // The shape `flagstone aggregate` prints; its control is not the test's baseline.
    json!({
        "control": "enabled",
        "variants": [{"name": "disabled", "expectedShare": 1, "units": 20000},
                     {"name": "enabled", "expectedShare": 1, "units": 20000}],
        "metrics": [
            {"id": "conversion-rate", "type": "binary", "data": {
                "disabled": {"n": 20000, "successes": 2000}, "enabled": {"n": 20000, "successes": 2300}}},
            {"id": "latency", "type": "mean", "data": {
                "disabled": {"n": 20000, "sum": 2000000.0, "sumSquares": 250000000.0},
                "enabled": {"n": 20000, "sum": 1990000.0, "sumSquares": 247000000.0}}},
            {"id": "not-configured", "type": "binary", "data": {
                "disabled": {"n": 20000, "successes": 1}, "enabled": {"n": 20000, "successes": 2}}}
        ]
    })
}

#[tokio::test]
async fn results_follow_the_instances_metrics_and_stats_settings() {
    let c = Confidence::start().await;
    let (id, created) = create(&c, &create_body()).await;
    let result = created["stats"]["analysisResult"].as_str().unwrap().to_owned();
    // Nothing to analyse before any data.
    let (status, empty) = c.get(&format!("/v2/{result}")).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["results"], json!([]));
    assert!(empty["annotations"][0]["info"][0].as_str().unwrap().starts_with("no data yet"));

    let (status, _) = c
        .send(Method::PUT, &format!("{ABTESTS}/{id}/analysisInputs"), Some(&inputs().to_string()))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, stored) = c.get(&format!("{ABTESTS}/{id}/analysisInputs")).await;
    assert_eq!((status, stored), (StatusCode::OK, inputs()));
    let (status, got) = c.get(&format!("/v2/{result}")).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["name"], result.as_str());
    assert_eq!(got["control"], "disabled", "the baseline treatment is the control");
    let results = got["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "only the instance's metrics: {got}");
    // Conversion: success metric at the instance's alpha 0.1, not the default 0.05.
    let conversion = &results[0];
    assert_eq!(conversion["id"], "metrics/conversion-rate");
    assert_eq!(conversion["statsSettings"]["alpha"], 0.1);
    assert_eq!(conversion["statsSettings"]["method"], "METHOD_Z_TEST");
    assert_eq!(conversion["result"]["status"]["metricType"], "METRIC_TYPE_SUCCESS");
    // 11.5 % against 10 %: z = 0.015 / sqrt(0.1075 · 0.8925 · 2/20,000) ≈ 4.84.
    assert_eq!(
        conversion["result"]["status"]["status"],
        "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE"
    );
    assert_eq!(conversion["comparisons"][0]["treatment"], "enabled");
    assert_eq!(conversion["comparisons"][0]["control"], "disabled");
    // The instance's MDE reached the request: a required sample size is computed.
    assert!(conversion["comparisons"][0]["requiredSampleSize"].as_f64().unwrap() > 0.0);
    // Latency: a guardrail with a margin, lower is better.
    let latency = &results[1];
    assert_eq!(latency["id"], "metrics/latency");
    assert_eq!(latency["result"]["status"]["metricType"], "METRIC_TYPE_GUARDRAIL");
    let status = latency["result"]["status"]["status"].as_str().unwrap();
    assert!(
        [
            "METRIC_RESULT_STATUS_NON_INFERIOR",
            "METRIC_RESULT_STATUS_INFERIOR",
            "METRIC_RESULT_STATUS_INCONCLUSIVE"
        ]
        .contains(&status),
        "a margin gives a non-inferiority status, got {status}"
    );
    // Inputs that do not fit: 400 naming the problem.
    let (status, body) = c
        .send(Method::PUT, &format!("{ABTESTS}/{id}/analysisInputs"), Some(r#"{"control": 1}"#))
        .await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", None);
}

#[tokio::test]
async fn results_from_the_servers_own_logs() {
    let c = Confidence::start().await;
    let mut body = create_body();
    body["metrics"]["metrics"] = json!([{"metric": "metrics/conversion-rate",
        "metricRole": {"metricKind": "SUCCESS"}, "preferredDirection": "INCREASE"}]);
    let (id, created) = create(&c, &body).await;
    let result = created["stats"]["analysisResult"].as_str().unwrap().to_owned();
    assert_eq!(c.post(&format!("{ABTESTS}/{id}:launch"), None).await.0, StatusCode::OK);
    let people = units(2000);
    let treated = c.units_with("search-flag", &people, "SE", "enabled").await;
    // Every treated unit converts, one control unit in ten does.
    let events: Vec<Value> = people
        .iter()
        .enumerate()
        .filter(|(i, u)| treated.contains(*u) || i % 10 == 0)
        .map(|(_, u)| json!({"unit": u, "metric": "conversion-rate", "value": 1}))
        .collect();
    let expected_control_successes =
        people.iter().enumerate().filter(|(i, u)| !treated.contains(*u) && i % 10 == 0).count();
    let (status, answer) =
        c.post("/v1/events:batch", Some(&json!({ "events": events }).to_string())).await;
    assert!(status.is_success(), "{answer}");
    // The exposure log is flushed before it is read: every evaluation above counts at once.
    let (status, got) = c.get(&format!("/v2/{result}")).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let info = got["annotations"][0]["info"][0].as_str().unwrap();
    assert!(info.ends_with("from the server's exposure and event logs"), "{got}");
    let conversion = &got["results"][0];
    assert_eq!(conversion["id"], "metrics/conversion-rate");
    let arms = conversion["treatmentResults"].as_array().unwrap();
    let units_of = |name: &str| {
        arms.iter().find(|t| t["treatmentId"] == name).unwrap()["units"].as_u64().unwrap()
    };
    assert_eq!(units_of("enabled"), treated.len() as u64, "{got}");
    assert_eq!(units_of("disabled"), 2000 - treated.len() as u64);
    let comparison = &conversion["comparisons"][0];
    assert_eq!(comparison["treatment"], "enabled");
    let control_rate = expected_control_successes as f64 / (2000 - treated.len()) as f64;
    assert!((comparison["controlMean"].as_f64().unwrap() - control_rate).abs() < 1e-12, "{got}");
    assert_eq!(comparison["treatmentMean"], 1.0);
    assert_eq!(
        conversion["result"]["status"]["status"],
        "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE"
    );
}
