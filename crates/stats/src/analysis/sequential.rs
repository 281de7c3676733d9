//! Sequential testing inside `analyze`: group-sequential bounds and always-valid sequences.

use crate::correction::Correction;
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
    if !matches!(req.correction, Correction::Bonferroni | Correction::None) {
        return Err(StatsError::invalid(
            "correction",
            format!("sequential tests take bonferroni or none, got {:?}", req.correction.as_str()),
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
