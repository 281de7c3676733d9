//! Behaviour tests of `analyze` as a whole, and the request-in, JSON-out helpers that the
//! tests beside each step (in `frequentist`, `bayesian`, `sequential`, `validate`) share.

use super::*;
use crate::frequentist::Sides;

pub(super) fn binary_metric(id: &str, extra: &str, arms: &[(&str, u64, u64)]) -> String {
    let data: Vec<String> =
        arms.iter().map(|(v, n, s)| format!(r#""{v}": {{"n": {n}, "successes": {s}}}"#)).collect();
    format!(r#"{{"id": "{id}", "type": "binary", {extra} "data": {{{}}}}}"#, data.join(", "))
}

/// Runs a request assembled from `settings` and `metrics`, returning the result as JSON.
pub(super) fn check(settings: &str, variants: &[&str], metrics: &[String]) -> serde_json::Value {
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

pub(super) fn error(text: &str) -> String {
    let req: AnalysisRequest = serde_json::from_str(text).unwrap();
    analyze(&req).unwrap_err().to_string()
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

#[test]
fn srm_leaves_out_an_empty_zero_share_variant() {
    let run = |off_units: u64| {
        let text = format!(
            r#"{{"control": "c", "variants": [{{"name": "c", "expectedShare": 1}},
              {{"name": "off", "expectedShare": 0, "units": {off_units}}}, {{"name": "t", "expectedShare": 1}}],
              "metrics": [{}]}}"#,
            binary_metric("m", "", &[("c", 5_100, 500), ("off", off_units, 0), ("t", 4_900, 500)])
        );
        let req: AnalysisRequest = serde_json::from_str(&text).unwrap();
        serde_json::to_value(analyze(&req).unwrap()).unwrap()
    };
    // Pearson's χ² on the remaining two arms by hand: 2·100²/5 000 = 4 on 1 df,
    // p = erfc(√2) = 0.045_500_263_896_358_41 (mpmath 1.3).
    let out = run(0);
    assert_eq!(out["srm"]["df"], 1);
    assert!((out["srm"]["chi2"].as_f64().unwrap() - 4.0).abs() < 1e-12);
    assert!((out["srm"]["pValue"].as_f64().unwrap() - 0.045_500_263_896_358_41).abs() < 1e-15);
    assert_eq!(out["srm"]["mismatch"], false);
    // Units in the variant that should have none are a mismatch at once, with the reason.
    let out = run(3);
    assert_eq!(out["srm"]["mismatch"], true);
    assert_eq!(out["srm"]["pValue"], 0.0);
    assert_eq!(out["srm"]["chi2"], serde_json::Value::Null);
    assert!(out["srm"]["mismatchReason"].as_str().is_some_and(|r| r.contains("variants[1]")));
}
