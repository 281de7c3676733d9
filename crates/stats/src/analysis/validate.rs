//! Validation: a request checked and turned into typed statistics, or the JSON path of the
//! first invalid value.

use crate::bayes::BetaPrior;
use crate::error::StatsError;
use crate::frequentist::Sides;
use crate::sufficient::{BinaryStats, Covariate, MeanStats, Moments, RatioStats};

use super::request::{AnalysisRequest, Direction, MetricSpec, MetricType, PriorSpec, StatsSpec};

/// One arm's validated statistics, with its CUPED covariate where the type allows one.
pub(super) enum ArmData {
    Binary(BinaryStats, Option<Covariate>),
    Mean(MeanStats, Option<Covariate>),
    Ratio(RatioStats),
}

impl ArmData {
    /// Units.
    pub(super) fn n(&self) -> u64 {
        match self {
            ArmData::Binary(s, _) => s.n(),
            ArmData::Mean(s, _) => s.n(),
            ArmData::Ratio(s) => s.n(),
        }
    }

    /// The CUPED covariate, if any.
    pub(super) fn covariate(&self) -> Option<&Covariate> {
        match self {
            ArmData::Binary(_, c) | ArmData::Mean(_, c) => c.as_ref(),
            ArmData::Ratio(_) => None,
        }
    }
}

/// A field the metric type requires, or an error at `path.field`.
fn require<T>(value: Option<T>, path: &str, field: &str, ty: &str) -> Result<T, StatsError> {
    value.ok_or_else(|| {
        StatsError::invalid(
            format!("{path}.{field}"),
            format!("missing; expected for a {ty} metric"),
        )
    })
}

/// An error at `path.field` when a field the metric type does not allow is present.
fn reject(present: bool, path: &str, field: &str, ty: &str) -> Result<(), StatsError> {
    if present {
        Err(StatsError::invalid(
            format!("{path}.{field}"),
            format!("not allowed for a {ty} metric"),
        ))
    } else {
        Ok(())
    }
}

/// One arm's statistics for a metric of type `ty`: the fields of that type required, the
/// others rejected, the sums validated.
fn parse_arm(spec: &StatsSpec, ty: MetricType, path: &str) -> Result<ArmData, StatsError> {
    let covariate = spec
        .covariate
        .map(|c| {
            Covariate::new(c.sum, c.sum_squares, c.cross_products)
                .map_err(|e| e.at(&format!("{path}.covariate")))
        })
        .transpose()?;
    match ty {
        MetricType::Binary => parse_binary(spec, path, covariate),
        MetricType::Mean => parse_mean(spec, path, covariate),
        MetricType::Ratio => parse_ratio(spec, path),
    }
}

fn parse_binary(
    spec: &StatsSpec,
    path: &str,
    covariate: Option<Covariate>,
) -> Result<ArmData, StatsError> {
    let name = "binary";
    reject(spec.sum.is_some(), path, "sum", name)?;
    reject(spec.sum_squares.is_some(), path, "sumSquares", name)?;
    reject(spec.numerator.is_some() || spec.denominator.is_some(), path, "numerator", name)?;
    reject(spec.cross_products.is_some(), path, "crossProducts", name)?;
    let s = require(spec.successes, path, "successes", name)?;
    Ok(ArmData::Binary(BinaryStats::new(spec.n.0, s.0).map_err(|e| e.at(path))?, covariate))
}

fn parse_mean(
    spec: &StatsSpec,
    path: &str,
    covariate: Option<Covariate>,
) -> Result<ArmData, StatsError> {
    let name = "mean";
    reject(spec.successes.is_some(), path, "successes", name)?;
    reject(spec.numerator.is_some() || spec.denominator.is_some(), path, "numerator", name)?;
    reject(spec.cross_products.is_some(), path, "crossProducts", name)?;
    let sum = require(spec.sum, path, "sum", name)?;
    let ss = require(spec.sum_squares, path, "sumSquares", name)?;
    Ok(ArmData::Mean(MeanStats::new(spec.n.0, sum, ss).map_err(|e| e.at(path))?, covariate))
}

fn parse_ratio(spec: &StatsSpec, path: &str) -> Result<ArmData, StatsError> {
    let name = "ratio";
    reject(spec.successes.is_some(), path, "successes", name)?;
    reject(spec.sum.is_some(), path, "sum", name)?;
    reject(spec.sum_squares.is_some(), path, "sumSquares", name)?;
    reject(spec.covariate.is_some(), path, "covariate", name)?;
    let num = require(spec.numerator, path, "numerator", name)?;
    let den = require(spec.denominator, path, "denominator", name)?;
    let cross = require(spec.cross_products, path, "crossProducts", name)?;
    let num =
        Moments::new(num.sum, num.sum_squares).map_err(|e| e.at(&format!("{path}.numerator")))?;
    let den =
        Moments::new(den.sum, den.sum_squares).map_err(|e| e.at(&format!("{path}.denominator")))?;
    Ok(ArmData::Ratio(RatioStats::new(spec.n.0, num, den, cross).map_err(|e| e.at(path))?))
}

/// A validated metric: its spec, its arms and the hypothesis it is tested under.
pub(super) struct Metric<'a> {
    pub(super) spec: &'a MetricSpec,
    /// In `variants` order.
    pub(super) arms: Vec<ArmData>,
    /// One-sided in the preferred direction with a margin, else as requested.
    pub(super) sides: Sides,
    /// The null difference as a fraction of `|control mean|` (the signed margin, or 0).
    pub(super) null_relative_shift: f64,
    /// Whether the metric has a non-inferiority margin.
    pub(super) has_margin: bool,
}

/// The request checked, in order: settings, variants, prior, then each metric. Gives the
/// control's index and the metrics with their arms in `variants` order.
pub(super) fn validate(req: &AnalysisRequest) -> Result<(usize, Vec<Metric<'_>>), StatsError> {
    validate_levels(req)?;
    let control = validate_variants(req)?;
    validate_prior(req.prior)?;
    let names: Vec<&str> = req.variants.iter().map(|v| v.name.as_str()).collect();
    let metrics = req
        .metrics
        .iter()
        .enumerate()
        .map(|(mi, m)| validate_metric(req, mi, m, &names))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((control, metrics))
}

/// `alpha` and `power` in (0, 1).
fn validate_levels(req: &AnalysisRequest) -> Result<(), StatsError> {
    if !(req.alpha > 0.0 && req.alpha < 1.0) {
        return Err(StatsError::invalid(
            "alpha",
            format!("expected a number in (0, 1), got {}", req.alpha),
        ));
    }
    if !(req.power > 0.0 && req.power < 1.0) {
        return Err(StatsError::invalid(
            "power",
            format!("expected a number in (0, 1), got {}", req.power),
        ));
    }
    Ok(())
}

/// At least two variants with distinct names and non-negative weights; gives the control's
/// index. A weight of 0 is a variant that gets no traffic (§3.2.5 leaves it out of the SRM
/// test).
fn validate_variants(req: &AnalysisRequest) -> Result<usize, StatsError> {
    if req.variants.len() < 2 {
        return Err(StatsError::invalid(
            "variants",
            "expected at least two variants (a control and a treatment)",
        ));
    }
    for (i, v) in req.variants.iter().enumerate() {
        if req.variants.iter().take(i).any(|w| w.name == v.name) {
            return Err(StatsError::invalid(
                format!("variants[{i}].name"),
                format!("duplicate variant {:?}", v.name),
            ));
        }
        if !(v.expected_share >= 0.0 && v.expected_share.is_finite()) {
            return Err(StatsError::invalid(
                format!("variants[{i}].expectedShare"),
                format!("expected a non-negative weight, got {}", v.expected_share),
            ));
        }
    }
    let names: Vec<&str> = req.variants.iter().map(|v| v.name.as_str()).collect();
    names.iter().position(|n| *n == req.control).ok_or_else(|| {
        StatsError::invalid(
            "control",
            format!("expected one of the variants ({}), got {:?}", names.join(", "), req.control),
        )
    })
}

/// A Beta prior with valid shapes, or a normal prior with a finite mean and a positive sd.
fn validate_prior(prior: Option<PriorSpec>) -> Result<(), StatsError> {
    match prior {
        Some(PriorSpec::Beta { alpha, beta }) => {
            BetaPrior::new(alpha, beta).map_err(|e| e.at("prior"))?;
        }
        Some(PriorSpec::Normal { mean, stddev })
            if !(mean.is_finite() && stddev > 0.0 && stddev.is_finite()) =>
        {
            return Err(StatsError::invalid(
                "prior.stddev",
                "expected a finite mean and a positive stddev",
            ));
        }
        Some(PriorSpec::Normal { .. }) => {}
        None => {}
    }
    Ok(())
}

/// Metric `mi`: a unique id, statistics for exactly the variants (a covariate for all or
/// none), a positive MDE, and the sides and null its margin implies.
fn validate_metric<'r>(
    req: &'r AnalysisRequest,
    mi: usize,
    m: &'r MetricSpec,
    names: &[&str],
) -> Result<Metric<'r>, StatsError> {
    let mpath = format!("metrics[{mi}]");
    if req.metrics.iter().take(mi).any(|o| o.id == m.id) {
        return Err(StatsError::invalid(
            format!("{mpath}.id"),
            format!("duplicate metric id {:?}", m.id),
        ));
    }
    let arms = metric_arms(m, &mpath, names)?;
    if let Some(mde) = m.minimum_detectable_effect
        && !(mde > 0.0 && mde.is_finite())
    {
        return Err(StatsError::invalid(
            format!("{mpath}.minimumDetectableEffect"),
            format!("expected a positive relative effect, got {mde}"),
        ));
    }
    let (sides, null_relative_shift, has_margin) = metric_sides(m, &mpath)?;
    Ok(Metric { spec: m, arms, sides, null_relative_shift, has_margin })
}

/// A metric's arms in `variants` order: no unknown variant, none missing, and a covariate for
/// every arm or for none.
fn metric_arms(m: &MetricSpec, mpath: &str, names: &[&str]) -> Result<Vec<ArmData>, StatsError> {
    if let Some(key) = m.data.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(StatsError::invalid(
            format!("{mpath}.data.{key}"),
            format!("unknown variant; expected one of {}", names.join(", ")),
        ));
    }
    let mut arms = Vec::with_capacity(names.len());
    for name in names {
        let path = format!("{mpath}.data.{name}");
        let spec = m.data.get(*name).ok_or_else(|| {
            StatsError::invalid(
                format!("{mpath}.data"),
                format!("missing statistics for variant {name:?}"),
            )
        })?;
        arms.push(parse_arm(spec, m.metric_type, &path)?);
    }
    let with_cov = arms.iter().filter(|a| a.covariate().is_some()).count();
    if with_cov != 0 && with_cov != arms.len() {
        return Err(StatsError::invalid(
            format!("{mpath}.data"),
            "expected a covariate for every variant or for none",
        ));
    }
    Ok(arms)
}

/// `(sides, null relative shift, has margin)`: a margin is tested one-sided in the preferred
/// direction against the shifted null; otherwise the requested sides (default two-sided)
/// against 0.
fn metric_sides(m: &MetricSpec, mpath: &str) -> Result<(Sides, f64, bool), StatsError> {
    let preferred = match m.preferred_direction {
        Direction::Increase => Sides::Greater,
        Direction::Decrease => Sides::Less,
    };
    let Some(nim) = m.non_inferiority_margin else {
        return Ok((m.sides.unwrap_or(Sides::TwoSided), 0.0, false));
    };
    if !(nim >= 0.0 && nim.is_finite()) {
        return Err(StatsError::invalid(
            format!("{mpath}.nonInferiorityMargin"),
            format!("expected a non-negative relative margin, got {nim}"),
        ));
    }
    if m.sides.is_some_and(|s| s != preferred) {
        return Err(StatsError::invalid(
            format!("{mpath}.sides"),
            "a non-inferiority margin is tested one-sided in the preferred direction",
        ));
    }
    let shift = if preferred == Sides::Greater { -nim } else { nim };
    Ok((preferred, shift, true))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{binary_metric, error};

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
}
