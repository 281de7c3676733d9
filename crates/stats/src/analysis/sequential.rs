//! Sequential testing inside `analyze`: group-sequential bounds and always-valid sequences.

use crate::error::StatsError;
use crate::frequentist::{DifferenceTest, Method, Sides};
use crate::numeric::finite;
use crate::sequential::{self, AlwaysValid, GroupSequentialDesign, Spending};

use super::request::{AnalysisRequest, Count, SequentialSpec};
use super::result::{SequentialDecision, SequentialResult};
use super::validate::Metric;

/// The request's `sequential`, checked.
pub(super) enum SequentialPlan {
    Group { final_expected: f64, looks: Vec<f64>, spending: Spending },
    AlwaysValid { tuning: f64 },
}

/// The request's `sequential` checked against its method and correction; `None` for a
/// fixed-horizon analysis.
pub(super) fn sequential_plan(req: &AnalysisRequest) -> Result<Option<SequentialPlan>, StatsError> {
    let Some(spec) = &req.sequential else { return Ok(None) };
    if req.method != Method::ZTest {
        return Err(StatsError::invalid(
            "method",
            format!(
                "sequential tests use the z statistic; expected \"z-test\", got {:?}",
                req.method.as_str()
            ),
        ));
    }
    let plan = match spec {
        SequentialSpec::GroupSequential { final_expected_sample_size, looks, spending } => {
            group_plan(*final_expected_sample_size, looks, spending.as_deref())?
        }
        SequentialSpec::AlwaysValid { tuning } => {
            AlwaysValid::new(0.05, Sides::TwoSided, *tuning).map_err(|e| e.at("sequential"))?;
            SequentialPlan::AlwaysValid { tuning: *tuning }
        }
    };
    Ok(Some(plan))
}

/// A group-sequential plan: the earlier looks in order and below the limit, and the spending
/// function parsed.
fn group_plan(
    final_expected_sample_size: Count,
    looks: &[Count],
    spending: Option<&str>,
) -> Result<SequentialPlan, StatsError> {
    let looks: Vec<f64> = looks.iter().map(|n| n.0 as f64).collect();
    let final_expected = final_expected_sample_size.0 as f64;
    // Checks order and size now; the current look is added per metric.
    sequential::information_fractions(&looks, final_expected).map_err(|e| e.at("sequential"))?;
    if looks.len() >= sequential::MAX_LOOKS {
        return Err(StatsError::invalid(
            "sequential.looks",
            format!("expected fewer than {} earlier looks", sequential::MAX_LOOKS),
        ));
    }
    let spending = match spending {
        Some(text) => text.parse::<Spending>().map_err(|e| e.at("sequential"))?,
        None => Spending::default(),
    };
    Ok(SequentialPlan::Group { final_expected, looks, spending })
}

/// Every metric's information fractions under a group-sequential plan (see [`metric_look`]);
/// `None` for every metric under any other plan.
pub(super) fn metric_looks(
    plan: Option<&SequentialPlan>,
    metrics: &[Metric<'_>],
    annotations: &mut Vec<String>,
) -> Result<Vec<Option<Vec<f64>>>, StatsError> {
    match plan {
        Some(SequentialPlan::Group { looks, final_expected, .. }) => metrics
            .iter()
            .enumerate()
            .map(|(mi, m)| metric_look(m, mi, looks, *final_expected, annotations))
            .collect(),
        _ => Ok(vec![None; metrics.len()]),
    }
}

/// The information fractions of a metric's looks, the current one (all its units) last;
/// `None` for a metric without units, whose comparisons are undefined anyway.
fn metric_look(
    m: &Metric<'_>,
    mi: usize,
    looks: &[f64],
    final_expected: f64,
    annotations: &mut Vec<String>,
) -> Result<Option<Vec<f64>>, StatsError> {
    let current: f64 = m.arms.iter().map(|a| a.n() as f64).sum();
    if current == 0.0 {
        return Ok(None);
    }
    if let Some((j, &last)) = looks.iter().enumerate().next_back()
        && current <= last
    {
        return Err(StatsError::invalid(
            format!("metrics[{mi}].data"),
            format!(
                "expected more units than the last look (sequential.looks[{j}] = {last}), got {current}"
            ),
        ));
    }
    if current >= final_expected {
        annotations.push(format!(
            "metrics[{mi}]: {current} units reach finalExpectedSampleSize {final_expected}; this look is the final analysis"
        ));
    }
    let mut sizes = looks.to_vec();
    sizes.push(current);
    sequential::information_fractions(&sizes, final_expected)
        .map(Some)
        .map_err(|e| e.at("sequential"))
}

/// Group-sequential bounds already computed in this request: metrics with the same looks and
/// level share them.
#[derive(Default)]
pub(super) struct BoundsCache {
    entries: Vec<(Vec<f64>, GroupSequentialDesign, sequential::Bounds)>,
}

impl BoundsCache {
    fn get(
        &mut self,
        fractions: &[f64],
        design: GroupSequentialDesign,
    ) -> Result<&sequential::Bounds, StatsError> {
        let found = self.entries.iter().position(|(f, d, _)| f == fractions && *d == design);
        let idx = match found {
            Some(idx) => idx,
            None => {
                let bounds = sequential::efficacy_bounds(fractions, &design)?;
                self.entries.push((fractions.to_vec(), design, bounds));
                self.entries.len() - 1
            }
        };
        self.entries
            .get(idx)
            .map(|(_, _, b)| b)
            .ok_or_else(|| StatsError::invalid("sequential", "internal: bounds cache miss"))
    }
}

/// The sequential critical value of one comparison and what goes into its result.
pub(super) struct SequentialBound {
    pub(super) critical: f64,
    pub(super) nominal_alpha: f64,
    pub(super) p_value: Option<crate::special::Tail>,
    pub(super) result: SequentialResult,
}

/// Whether the z statistic is beyond `critical` in the tested direction.
fn crossed(test: &DifferenceTest, critical: f64) -> bool {
    let z = test.statistic;
    match test.spec.sides {
        Sides::TwoSided => z.abs() >= critical,
        Sides::Greater => z >= critical,
        Sides::Less => -z >= critical,
    }
}

/// The critical value of one comparison at this look, at its corrected `alpha`.
pub(super) fn sequential_bound(
    plan: &SequentialPlan,
    fractions: Option<&Vec<f64>>,
    m: &Metric<'_>,
    test: &DifferenceTest,
    alpha: f64,
    cache: &mut BoundsCache,
) -> Result<SequentialBound, StatsError> {
    match plan {
        SequentialPlan::Group { spending, .. } => {
            let design = GroupSequentialDesign { alpha, sides: m.sides, spending: *spending };
            group_bound(fractions, design, test, cache)
        }
        SequentialPlan::AlwaysValid { tuning } => always_valid_bound(*tuning, m, test, alpha),
    }
}

/// The Lan–DeMets bound of the current (last) look: reject, stop at the final look, or go on.
fn group_bound(
    fractions: Option<&Vec<f64>>,
    design: GroupSequentialDesign,
    test: &DifferenceTest,
    cache: &mut BoundsCache,
) -> Result<SequentialBound, StatsError> {
    // A defined test has units, so its metric has looks; the fallback, one final look,
    // is the fixed-horizon test.
    debug_assert!(fractions.is_some(), "a defined comparison has a look");
    let fractions = fractions.map(Vec::as_slice).unwrap_or(&[1.0]);
    let bounds = cache.get(fractions, design)?;
    let critical = bounds.z_bounds.last().copied().unwrap_or(f64::INFINITY);
    let t = fractions.last().copied().unwrap_or(1.0);
    let decision = if crossed(test, critical) {
        SequentialDecision::Reject
    } else if t >= 1.0 {
        SequentialDecision::Stop
    } else {
        SequentialDecision::Continue
    };
    Ok(SequentialBound {
        critical,
        nominal_alpha: bounds.adjusted_alpha.last().copied().unwrap_or(0.0),
        p_value: None,
        result: SequentialResult {
            look: Some(fractions.len()),
            information_fraction: Some(t),
            cumulative_alpha_spent: bounds.cumulative_alpha_spent.last().copied(),
            z_bound: finite(critical),
            decision,
        },
    })
}

/// The always-valid critical value at the comparison's total units, with its p-value.
fn always_valid_bound(
    tuning: f64,
    m: &Metric<'_>,
    test: &DifferenceTest,
    alpha: f64,
) -> Result<SequentialBound, StatsError> {
    let cs = AlwaysValid::new(alpha, m.sides, tuning)?;
    let n = test.control.n + test.treatment.n;
    let critical = cs.critical(n);
    let decision = if crossed(test, critical) {
        SequentialDecision::Reject
    } else {
        SequentialDecision::Continue
    };
    Ok(SequentialBound {
        critical,
        nominal_alpha: alpha,
        p_value: Some(cs.p_value(test.statistic, n)),
        result: SequentialResult {
            look: None,
            information_fraction: None,
            cumulative_alpha_spent: None,
            z_bound: finite(critical),
            decision,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::AnalysisRequest;
    use super::super::tests::{binary_metric, check, error};
    use crate::frequentist::Sides;
    use crate::sequential::{self, AlwaysValid, GroupSequentialDesign, Spending};

    fn comparison(out: &serde_json::Value) -> &serde_json::Value {
        &out["results"][0]["comparisons"][0]
    }

    /// Holm and Benjamini–Hochberg in sequential mode recycle alpha (Maurer & Bretz 2013):
    /// `a` crosses its always-valid bound at α/2, so `b` is tested at α and crosses there,
    /// where Bonferroni keeps it at α/2 and it goes on.
    #[test]
    fn sequential_holm_and_bh_recycle_alpha_of_a_rejected_comparison() {
        let metric = binary_metric(
            "m",
            "",
            &[("c", 10_000, 1000), ("a", 10_000, 1500), ("b", 10_000, 1140)],
        );
        let run = |correction: &str| {
            let settings = format!(
                r#""correction": "{correction}", "sequential": {{"kind": "always-valid"}},"#
            );
            let out = check(&settings, &["c", "a", "b"], std::slice::from_ref(&metric));
            let cmps = out["results"][0]["comparisons"].as_array().unwrap().clone();
            cmps.iter()
                .map(|c| {
                    let decision = c["sequential"]["decision"].as_str().unwrap().to_owned();
                    (c["adjustedAlpha"].as_f64().unwrap(), decision)
                })
                .collect::<Vec<_>>()
        };
        let reject = |alpha: f64| (alpha, "REJECT".to_owned());
        assert_eq!(run("bonferroni"), [reject(0.025), (0.025, "CONTINUE".to_owned())]);
        assert_eq!(run("holm"), [reject(0.025), reject(0.05)]);
        assert_eq!(run("benjamini-hochberg"), [reject(0.05), reject(0.05)]);
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
            sequential::efficacy_bounds(&[0.2, 0.4, 0.6], &GroupSequentialDesign::default())
                .unwrap();
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
        let metric =
            binary_metric("m", "", &[("c", 3000, 300), ("a", 3000, 310), ("b", 3000, 305)]);
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
        assert!(gs("", r#", "looks": [50, 50]"#).starts_with("sequential.looks[1]:"));
        assert!(
            gs("", r#", "looks": [300]"#)
                .starts_with("metrics[0].data: expected more units than the last look")
        );
        assert!(gs("", r#", "spending": "linear""#).starts_with("sequential.spending:"));
        assert!(gs("", r#", "spending": "power:-1""#).starts_with("sequential.spending:"));
        let e =
            error(&format!(r#"{{"sequential": {{"kind": "always-valid", "tuning": 0}}, {base}}}"#));
        assert!(e.starts_with("sequential.tuning:"), "{e}");
        let unknown: Result<AnalysisRequest, _> = serde_json::from_str(&format!(
            r#"{{"sequential": {{"kind": "always-valid", "window": 3}}, {base}}}"#
        ));
        assert!(unknown.is_err());
    }
}
