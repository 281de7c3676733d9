//! Behaviour tests of `analyze`, request in, JSON out.

use super::*;
use crate::frequentist::Sides;
use crate::sequential::{self, AlwaysValid, GroupSequentialDesign, Spending};

fn binary_metric(id: &str, extra: &str, arms: &[(&str, u64, u64)]) -> String {
    let data: Vec<String> =
        arms.iter().map(|(v, n, s)| format!(r#""{v}": {{"n": {n}, "successes": {s}}}"#)).collect();
    format!(r#"{{"id": "{id}", "type": "binary", {extra} "data": {{{}}}}}"#, data.join(", "))
}

/// Runs a request assembled from `settings` and `metrics`, returning the result as JSON.
fn check(settings: &str, variants: &[&str], metrics: &[String]) -> serde_json::Value {
    let vs: Vec<String> =
        variants.iter().map(|v| format!(r#"{{"name": "{v}", "expectedShare": 1}}"#)).collect();
    let text = format!(
        r#"{{{settings} "control": "{}", "variants": [{}], "metrics": [{}]}}"#,
        variants[0],
        vs.join(", "),
        metrics.join(", ")
    );
    let req: AnalysisRequest = serde_json::from_str(&text).unwrap();
    serde_json::to_value(analyze(&req).unwrap()).unwrap()
}

fn error(text: &str) -> String {
    let req: AnalysisRequest = serde_json::from_str(text).unwrap();
    analyze(&req).unwrap_err().to_string()
}

#[test]
fn holm_alphas_are_reported_per_comparison() {
    let out = check(
        r#""correction": "holm","#,
        &["c", "a", "b"],
        &[binary_metric("m", "", &[("c", 10_000, 1000), ("a", 10_000, 1200), ("b", 10_000, 1010)])],
    );
    let cmp = &out["results"][0]["comparisons"];
    assert_eq!(cmp[0]["adjustedAlpha"], 0.025);
    assert_eq!(cmp[1]["adjustedAlpha"], 0.05);
    assert_eq!(out["results"][0]["statsSettings"]["adjustedAlpha"], 0.025);
    assert_eq!(cmp[0]["status"], "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE");
    assert_eq!(
        out["results"][0]["result"]["status"]["status"],
        "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE"
    );
}

#[test]
fn guardrail_margins_give_non_inferiority_statuses() {
    let guard = |s: u64| {
        binary_metric(
            "errors",
            r#""kind": "GUARDRAIL", "preferredDirection": "DECREASE", "nonInferiorityMargin": 0.1,"#,
            &[("c", 100_000, 10_000), ("t", 100_000, s)],
        )
    };
    let status =
        |s| check("", &["c", "t"], &[guard(s)])["results"][0]["comparisons"][0]["status"].clone();
    assert_eq!(status(10_000), "METRIC_RESULT_STATUS_NON_INFERIOR");
    assert_eq!(status(12_000), "METRIC_RESULT_STATUS_INFERIOR");
    assert_eq!(status(10_950), "METRIC_RESULT_STATUS_INCONCLUSIVE");
    let out = check("", &["c", "t"], &[guard(12_000)]);
    assert_eq!(out["results"][0]["comparisons"][0]["absolute"]["ciLower"], serde_json::Value::Null);
    assert_eq!(out["results"][0]["result"]["status"]["metricType"], "METRIC_TYPE_GUARDRAIL");
}

#[test]
fn undefined_is_explicit() {
    let out = check("", &["c", "t"], &[binary_metric("m", "", &[("c", 100, 0), ("t", 100, 0)])]);
    let cmp = &out["results"][0]["comparisons"][0];
    assert_eq!(cmp["status"], "METRIC_RESULT_STATUS_UNDEFINED");
    assert_eq!(cmp["pValue"], serde_json::Value::Null);
    assert!(cmp["undefinedReason"].as_str().is_some_and(|r| r.contains("standard error")));
    // p = 1 in both arms is just as undefined; p = 0 vs p = 0.05 is not.
    let out =
        check("", &["c", "t"], &[binary_metric("m", "", &[("c", 100, 100), ("t", 100, 100)])]);
    assert_eq!(out["results"][0]["comparisons"][0]["status"], "METRIC_RESULT_STATUS_UNDEFINED");
    let out = check("", &["c", "t"], &[binary_metric("m", "", &[("c", 100, 5), ("t", 100, 0)])]);
    assert_eq!(
        out["results"][0]["comparisons"][0]["status"],
        "METRIC_RESULT_STATUS_SIGNIFICANT_NEGATIVE"
    );
}

#[test]
fn extreme_posteriors_give_undefined_intervals_never_reversed_or_infinite() {
    // Found by the analyze_request fuzzer: counts near 2^64 sent the interval search
    // past f64 ([7.1e45, -1]), and an infinite posterior sd gave [-inf, inf].
    let out = check(
        r#""method": "bayesian","#,
        &["c", "t"],
        &[binary_metric("m", "", &[("c", u64::MAX, u64::MAX), ("t", (1 << 53) + 1, 98)])],
    );
    let cmp = &out["results"][0]["comparisons"][0];
    assert_eq!(cmp["status"], "METRIC_RESULT_STATUS_UNDEFINED");
    assert_eq!(cmp["absolute"]["ciLower"], serde_json::Value::Null);
    assert!(cmp["undefinedReason"].as_str().is_some_and(|r| r.contains("too extreme")));
    for t in out["results"][0]["treatmentResults"].as_array().unwrap() {
        for d in t["relativeDifferences"].as_array().unwrap() {
            assert!(d["lower"].as_f64().unwrap() <= d["upper"].as_f64().unwrap(), "{d}");
        }
        if let Some(ci) = t["credibleInterval"].as_object() {
            assert!(ci["lower"].as_f64().unwrap() <= ci["upper"].as_f64().unwrap(), "{t}");
        }
    }
    let huge = r#"{"id": "r", "type": "mean", "data": {
        "c": {"n": 2, "sum": 1e300, "sumSquares": 1e308},
        "t": {"n": 2, "sum": -1e300, "sumSquares": 1e308}}}"#;
    let out = check(r#""method": "bayesian","#, &["c", "t"], &[huge.to_owned()]);
    for t in out["results"][0]["treatmentResults"].as_array().unwrap() {
        let ci = &t["credibleInterval"];
        assert!(ci.is_null() || (ci["lower"].is_number() && ci["upper"].is_number()), "{t}");
    }
}

#[test]
fn srm_flags_mismatched_allocation() {
    let out = check(
        "",
        &["c", "t"],
        &[binary_metric("m", "", &[("c", 51_000, 100), ("t", 49_000, 100)])],
    );
    assert_eq!(out["srm"]["mismatch"], true);
    assert_eq!(out["srm"]["df"], 1);
    assert!(!out["annotations"].as_array().unwrap().is_empty());
}

#[test]
fn bayesian_treatment_results() {
    let out = check(
        r#""method": "bayesian","#,
        &["c", "a", "b"],
        &[binary_metric("m", "", &[("c", 1000, 100), ("a", 1000, 130), ("b", 1000, 90)])],
    );
    let tr = out["results"][0]["treatmentResults"].as_array().unwrap();
    let total: f64 = tr.iter().map(|t| t["pBest"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9);
    assert_eq!(tr[0]["pBeatControl"], serde_json::Value::Null);
    assert!(tr[1]["pBeatControl"].as_f64().unwrap() > 0.95);
    assert_eq!(tr[1]["relativeDifferences"][0]["fromTreatmentId"], "c");
    assert_eq!(out["results"][0]["statsSettings"]["method"], "METHOD_BAYESIAN");
}

fn comparison(out: &serde_json::Value) -> &serde_json::Value {
    &out["results"][0]["comparisons"][0]
}

#[test]
fn group_sequential_uses_the_current_bound() {
    // 6,000 units now after looks at 2,000 and 4,000 of a planned 10,000: t = 0.2, 0.4, 0.6.
    let settings = r#""sequential": {"kind": "group-sequential", "finalExpectedSampleSize": 10000, "looks": [2000, 4000]},"#;
    // z ≈ 2.2: significant at a fixed horizon, not against the bound at the third look.
    let metric = binary_metric("m", "", &[("c", 3000, 300), ("t", 3000, 352)]);
    let fixed = check("", &["c", "t"], std::slice::from_ref(&metric));
    assert_eq!(comparison(&fixed)["status"], "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE");
    assert!(comparison(&fixed).get("sequential").is_none());
    let out = check(settings, &["c", "t"], &[metric]);
    assert_eq!(out["results"][0]["statsSettings"]["method"], "METHOD_GROUP_SEQUENTIAL");
    let cmp = comparison(&out);
    let bounds =
        sequential::efficacy_bounds(&[0.2, 0.4, 0.6], &GroupSequentialDesign::default()).unwrap();
    let bound = bounds.z_bounds[2];
    assert_eq!(cmp["sequential"]["look"], 3);
    assert_eq!(cmp["sequential"]["informationFraction"], 0.6);
    assert_eq!(cmp["sequential"]["zBound"].as_f64(), Some(bound));
    assert_eq!(cmp["sequential"]["decision"], "CONTINUE");
    assert_eq!(cmp["adjustedAlpha"].as_f64(), Some(bounds.adjusted_alpha[2]));
    assert_eq!(cmp["status"], "METRIC_RESULT_STATUS_NOT_SIGNIFICANT");
    let z = cmp["statistic"].as_f64().unwrap();
    assert!(z > 1.96 && z < bound, "z {z}, bound {bound}");
    // The interval is the estimate ± bound · SE.
    let abs = &cmp["absolute"];
    let half = abs["ciUpper"].as_f64().unwrap() - abs["estimate"].as_f64().unwrap();
    assert!((half / abs["stdErr"].as_f64().unwrap() - bound).abs() < 1e-9);
    // A stronger effect crosses.
    let strong = binary_metric("m", "", &[("c", 3000, 300), ("t", 3000, 390)]);
    let out = check(settings, &["c", "t"], &[strong]);
    assert_eq!(comparison(&out)["sequential"]["decision"], "REJECT");
    assert_eq!(comparison(&out)["status"], "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE");
}

#[test]
fn group_sequential_final_look_overrun_and_bonferroni() {
    let settings = r#""sequential": {"kind": "group-sequential", "finalExpectedSampleSize": 5000, "looks": [2000], "spending": "obrien-fleming"},"#;
    let metric = binary_metric("m", "", &[("c", 3000, 300), ("a", 3000, 310), ("b", 3000, 305)]);
    let out = check(settings, &["c", "a", "b"], &[metric]);
    let cmp = comparison(&out);
    // 9,000 units overrun 5,000: t = 2000/9000 and 1; two treatments: alpha 0.025 each.
    let design = GroupSequentialDesign {
        alpha: 0.025,
        sides: Sides::TwoSided,
        spending: Spending::OBrienFleming,
    };
    let bounds = sequential::efficacy_bounds(&[2000.0 / 9000.0, 1.0], &design).unwrap();
    assert_eq!(cmp["sequential"]["zBound"].as_f64(), Some(bounds.z_bounds[1]));
    assert_eq!(cmp["sequential"]["informationFraction"], 1.0);
    assert_eq!(cmp["sequential"]["decision"], "STOP");
    assert_eq!(cmp["sequential"]["cumulativeAlphaSpent"], 0.025);
    let notes = out["annotations"].as_array().unwrap();
    assert!(notes.iter().any(|n| n.as_str().is_some_and(|n| n.contains("final analysis"))));
}

#[test]
fn always_valid_reports_the_sequence_and_its_p_value() {
    let settings = r#""sequential": {"kind": "always-valid"},"#;
    let metric = binary_metric("m", "", &[("c", 10_000, 1000), ("t", 10_000, 1100)]);
    let out = check(settings, &["c", "t"], &[metric]);
    assert_eq!(out["results"][0]["statsSettings"]["method"], "METHOD_ALWAYS_VALID");
    let cmp = comparison(&out);
    let cs = AlwaysValid::new(0.05, Sides::TwoSided, 5000.0).unwrap();
    let z = cmp["statistic"].as_f64().unwrap();
    assert_eq!(cmp["sequential"]["zBound"].as_f64(), Some(cs.critical(20_000.0)));
    assert_eq!(cmp["pValue"].as_f64(), Some(cs.p_value(z, 20_000.0).p));
    assert_eq!(cmp["adjustedAlpha"], 0.05);
    // z ≈ 2.3 is significant at a fixed horizon but not always-valid at 20,000 units.
    assert!(z > 1.96 && z < cs.critical(20_000.0));
    assert_eq!(cmp["status"], "METRIC_RESULT_STATUS_NOT_SIGNIFICANT");
    assert_eq!(cmp["sequential"]["decision"], "CONTINUE");
    assert!(cmp["pValue"].as_f64().unwrap() > 0.05);
    // Guardrail with a margin: one-sided sequence against the shifted null.
    let guard = binary_metric(
        "g",
        r#""kind": "GUARDRAIL", "preferredDirection": "DECREASE", "nonInferiorityMargin": 0.1,"#,
        &[("c", 100_000, 10_000), ("t", 100_000, 10_000)],
    );
    let out = check(
        r#""sequential": {"kind": "always-valid", "tuning": 100000},"#,
        &["c", "t"],
        &[guard],
    );
    assert_eq!(comparison(&out)["status"], "METRIC_RESULT_STATUS_NON_INFERIOR");
    assert_eq!(comparison(&out)["sequential"]["decision"], "REJECT");
    assert_eq!(comparison(&out)["absolute"]["ciLower"], serde_json::Value::Null);
}

#[test]
fn sequential_input_errors_name_the_path() {
    let base = r#""control": "c", "variants": [{"name": "c", "expectedShare": 1}, {"name": "t", "expectedShare": 1}], "metrics": [{"id": "m", "type": "binary", "data": {"c": {"n": 100, "successes": 10}, "t": {"n": 100, "successes": 12}}}]"#;
    let gs = |extra: &str, seq: &str| {
        error(&format!(
            r#"{{{extra} "sequential": {{"kind": "group-sequential", "finalExpectedSampleSize": 1000{seq}}}, {base}}}"#
        ))
    };
    assert!(
        gs(r#""method": "t-test","#, "")
            .starts_with("method: sequential tests use the z statistic")
    );
    assert!(gs(r#""correction": "holm","#, "").starts_with("correction:"));
    assert!(gs("", r#", "looks": [50, 50]"#).starts_with("sequential.looks[1]:"));
    assert!(
        gs("", r#", "looks": [300]"#)
            .starts_with("metrics[0].data: expected more units than the last look")
    );
    assert!(gs("", r#", "spending": "linear""#).starts_with("sequential.spending:"));
    assert!(gs("", r#", "spending": "power:-1""#).starts_with("sequential.spending:"));
    let e = error(&format!(r#"{{"sequential": {{"kind": "always-valid", "tuning": 0}}, {base}}}"#));
    assert!(e.starts_with("sequential.tuning:"), "{e}");
    let unknown: Result<AnalysisRequest, _> = serde_json::from_str(&format!(
        r#"{{"sequential": {{"kind": "always-valid", "window": 3}}, {base}}}"#
    ));
    assert!(unknown.is_err());
}

#[test]
fn invalid_input_names_the_path() {
    let base =
        r#""variants": [{"name": "c", "expectedShare": 1}, {"name": "t", "expectedShare": 1}]"#;
    let e = error(&format!(
        r#"{{"control": "c", {base}, "metrics": [{{"id": "m", "type": "mean", "data": {{"c": {{"n": 2, "sum": 1, "sumSquares": 1}}, "t": {{"n": 2, "successes": 1}}}}}}]}}"#
    ));
    assert_eq!(e, "metrics[0].data.t.successes: not allowed for a mean metric");
    let e = error(&format!(r#"{{"control": "x", {base}, "metrics": []}}"#));
    assert!(e.starts_with("control: expected one of the variants"), "{e}");
    let e = error(&format!(r#"{{"alpha": 1.5, "control": "c", {base}, "metrics": []}}"#));
    assert!(e.starts_with("alpha:"), "{e}");
    let e = error(&format!(
        r#"{{"control": "c", {base}, "metrics": [{}]}}"#,
        binary_metric(
            "m",
            r#""nonInferiorityMargin": 0.1, "sides": "less","#,
            &[("c", 10, 1), ("t", 10, 1)]
        )
    ));
    assert!(e.starts_with("metrics[0].sides:"), "{e}");
}

#[test]
fn wire_names_are_the_as_str_names() {
    fn wire<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        value: T,
        name: &str,
        as_str: &str,
    ) {
        assert_eq!(name, as_str);
        assert_eq!(serde_json::to_string(&value).unwrap(), format!("\"{name}\""));
        assert_eq!(serde_json::from_str::<T>(&format!("\"{name}\"")).unwrap(), value);
    }
    use crate::correction::Correction;
    use crate::frequentist::{Method, RelativeCi};
    for (m, name) in [
        (Method::ZTest, "z-test"),
        (Method::TTest, "t-test"),
        (Method::ChiSquared, "chi-squared"),
        (Method::Bayesian, "bayesian"),
    ] {
        wire(m, name, m.as_str());
    }
    for (c, name) in [
        (Correction::Bonferroni, "bonferroni"),
        (Correction::Holm, "holm"),
        (Correction::BenjaminiHochberg, "benjamini-hochberg"),
        (Correction::None, "none"),
    ] {
        wire(c, name, c.as_str());
    }
    for (r, name) in [(RelativeCi::Delta, "delta"), (RelativeCi::Scaled, "scaled")] {
        wire(r, name, r.as_str());
    }
    for (s, name) in
        [(Sides::TwoSided, "two-sided"), (Sides::Greater, "greater"), (Sides::Less, "less")]
    {
        wire(s, name, s.as_str());
    }
}
