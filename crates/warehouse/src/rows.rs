//! The warehouse query's output rows (the column contract), read back from CSV, merged across
//! days and turned into an analysis request.

use crate::aggregate::{default_request, short_variant};
use flagstone_stats::analysis::{
    AnalysisRequest, Count, CovariateSpec, Direction, MetricKind, MetricSpec, MetricType,
    MomentsSpec, StatsSpec, VariantSpec,
};
use std::collections::BTreeMap;

/// What a row holds: one metric's sums for one variant, or the count of excluded units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RowType {
    /// `sum` is the number of units with a positive value (and so is `sum_squares`).
    Binary,
    /// `sum` and `sum_squares` of the units' values.
    Mean,
    /// Numerator in `sum`, `sum_squares`; denominator in `denominator_*`; `cross_products`.
    Ratio,
    /// `n` units were exposed to more than one variant and left out; no variant, no metric.
    Excluded,
}

impl RowType {
    /// The `metric_type` column's text.
    pub fn as_str(self) -> &'static str {
        match self {
            RowType::Binary => "binary",
            RowType::Mean => "mean",
            RowType::Ratio => "ratio",
            RowType::Excluded => "excluded",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "binary" => Some(RowType::Binary),
            "mean" => Some(RowType::Mean),
            "ratio" => Some(RowType::Ratio),
            "excluded" => Some(RowType::Excluded),
            _ => None,
        }
    }
}

/// One output row of the warehouse query (`docs/analytics.md` lists the columns).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// The UTC day of the units' first exposure, with `--by-day`; else none.
    pub exposure_day: Option<jiff::civil::Date>,
    /// The variant as the exposures name it; none on an `excluded` row.
    pub variant: Option<String>,
    /// The metric's id; none on an `excluded` row.
    pub metric: Option<String>,
    /// What the row holds.
    pub metric_type: Option<RowType>,
    /// Units.
    pub n: u64,
    /// `Σy` (binary: units with a positive value; ratio: the numerator's).
    pub sum: f64,
    /// `Σy²`.
    pub sum_squares: f64,
    /// Ratio: `Σd`.
    pub denominator_sum: Option<f64>,
    /// Ratio: `Σd²`.
    pub denominator_sum_squares: Option<f64>,
    /// Ratio: `Σy·d`.
    pub cross_products: Option<f64>,
    /// CUPED: `Σc` of the pre-exposure covariate.
    pub covariate_sum: Option<f64>,
    /// CUPED: `Σc²`.
    pub covariate_sum_squares: Option<f64>,
    /// CUPED: `Σc·y`.
    pub covariate_cross_products: Option<f64>,
}

/// The columns, in the order the query writes them.
pub const COLUMNS: [&str; 13] = [
    "exposure_day",
    "variant",
    "metric",
    "metric_type",
    "n",
    "sum",
    "sum_squares",
    "denominator_sum",
    "denominator_sum_squares",
    "cross_products",
    "covariate_sum",
    "covariate_sum_squares",
    "covariate_cross_products",
];

/// Rows that cannot be read or make no analysis.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct RowsError {
    /// `{source}:{line}`, or the source alone.
    pub place: String,
    /// What was expected.
    pub message: String,
}

fn add(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

/// Sums rows of the same variant and metric (daily partial sums into the whole): the result has
/// no `exposure_day`, one row per variant and metric, and at most one `excluded` row, sorted.
pub fn merge(rows: &[Row]) -> Vec<Row> {
    /// Type, variant, metric.
    type Key = (Option<RowType>, Option<String>, Option<String>);
    let mut merged: BTreeMap<Key, Row> = BTreeMap::new();
    for row in rows {
        let key = (row.metric_type, row.variant.clone(), row.metric.clone());
        let slot = merged.entry(key).or_insert_with(|| Row {
            variant: row.variant.clone(),
            metric: row.metric.clone(),
            metric_type: row.metric_type,
            ..Row::default()
        });
        slot.n += row.n;
        slot.sum += row.sum;
        slot.sum_squares += row.sum_squares;
        slot.denominator_sum = add(slot.denominator_sum, row.denominator_sum);
        slot.denominator_sum_squares =
            add(slot.denominator_sum_squares, row.denominator_sum_squares);
        slot.cross_products = add(slot.cross_products, row.cross_products);
        slot.covariate_sum = add(slot.covariate_sum, row.covariate_sum);
        slot.covariate_sum_squares = add(slot.covariate_sum_squares, row.covariate_sum_squares);
        slot.covariate_cross_products =
            add(slot.covariate_cross_products, row.covariate_cross_products);
    }
    merged.into_values().collect()
}

/// Splits one CSV record (RFC 4180: quoted fields may hold commas, quotes and line breaks are
/// not expected in these rows).
fn split_record(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".to_owned());
    }
    fields.push(field);
    Ok(fields)
}

/// Reads the query's rows from CSV with a header line (as `COPY … TO … CSV HEADER` and the
/// warehouses' exports write them). Columns are found by name, case-insensitively, in any order;
/// `exposure_day` and the ratio and CUPED columns may be absent; an empty field is NULL.
///
/// # Errors
/// [`RowsError`] naming `source`, the line and the column of a value that does not parse.
pub fn from_csv(source: &str, text: &str) -> Result<Vec<Row>, RowsError> {
    let fail = |line: Option<usize>, message: String| RowsError {
        place: line.map_or_else(|| source.to_owned(), |l| format!("{source}:{l}")),
        message,
    };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(fail(None, "expected a header line, found an empty file".to_owned()));
    };
    let header = split_record(header).map_err(|e| fail(Some(1), e))?;
    let index: BTreeMap<String, usize> =
        header.iter().enumerate().map(|(i, h)| (h.trim().to_ascii_lowercase(), i)).collect();
    for required in ["variant", "metric", "metric_type", "n", "sum", "sum_squares"] {
        if !index.contains_key(required) {
            return Err(fail(Some(1), format!("expected a column {required:?} in the header")));
        }
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let line_no = i + 1;
        let fields = split_record(line).map_err(|e| fail(Some(line_no), e))?;
        if fields.len() != header.len() {
            return Err(fail(
                Some(line_no),
                format!("expected {} fields, found {}", header.len(), fields.len()),
            ));
        }
        let get = |name: &str| -> Option<&str> {
            index.get(name).and_then(|&i| fields.get(i)).map(|s| s.trim()).filter(|s| !s.is_empty())
        };
        let column =
            |name: &str, message: String| fail(Some(line_no), format!("{name}: {message}"));
        let float = |name: &str| -> Result<Option<f64>, RowsError> {
            get(name)
                .map(|text| match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(v),
                    _ => Err(column(name, format!("expected a finite number, got {text:?}"))),
                })
                .transpose()
        };
        let metric_type = get("metric_type")
            .map(|t| {
                RowType::parse(t).ok_or_else(|| {
                    column(
                        "metric_type",
                        format!("expected binary, mean, ratio or excluded, got {t:?}"),
                    )
                })
            })
            .transpose()?;
        let n = match get("n") {
            None => 0,
            Some(text) => text
                .parse::<u64>()
                .or_else(|_| match text.parse::<f64>() {
                    Ok(v) if v >= 0.0 && v.fract() == 0.0 && v < 1.8e19 => Ok(v as u64),
                    _ => Err(()),
                })
                .map_err(|()| column("n", format!("expected a count, got {text:?}")))?,
        };
        let exposure_day = get("exposure_day")
            .map(|text| {
                text.get(..10).and_then(|d| d.parse::<jiff::civil::Date>().ok()).ok_or_else(|| {
                    column("exposure_day", format!("expected a date YYYY-MM-DD, got {text:?}"))
                })
            })
            .transpose()?;
        rows.push(Row {
            exposure_day,
            variant: get("variant").map(str::to_owned),
            metric: get("metric").map(str::to_owned),
            metric_type,
            n,
            sum: float("sum")?.unwrap_or(0.0),
            sum_squares: float("sum_squares")?.unwrap_or(0.0),
            denominator_sum: float("denominator_sum")?,
            denominator_sum_squares: float("denominator_sum_squares")?,
            cross_products: float("cross_products")?,
            covariate_sum: float("covariate_sum")?,
            covariate_sum_squares: float("covariate_sum_squares")?,
            covariate_cross_products: float("covariate_cross_products")?,
        });
    }
    Ok(rows)
}

/// Writes rows as CSV with a header, in the query's column order (the inverse of [`from_csv`]).
pub fn to_csv(rows: &[Row]) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for r in rows {
        let fields = [
            r.exposure_day.map(|d| d.to_string()).unwrap_or_default(),
            r.variant.clone().unwrap_or_default(),
            r.metric.clone().unwrap_or_default(),
            r.metric_type.map(|t| t.as_str().to_owned()).unwrap_or_default(),
            r.n.to_string(),
            r.sum.to_string(),
            r.sum_squares.to_string(),
            num(r.denominator_sum),
            num(r.denominator_sum_squares),
            num(r.cross_products),
            num(r.covariate_sum),
            num(r.covariate_sum_squares),
            num(r.covariate_cross_products),
        ];
        let quoted: Vec<String> = fields
            .iter()
            .map(|f| {
                if f.contains([',', '"']) {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.clone()
                }
            })
            .collect();
        out.push_str(&quoted.join(","));
        out.push('\n');
    }
    out
}

/// The units left out for having been exposed to more than one variant, over all rows.
pub fn excluded_units(rows: &[Row]) -> u64 {
    rows.iter().filter(|r| r.metric_type == Some(RowType::Excluded)).map(|r| r.n).sum()
}

/// Builds an analysis request (the defaults `flagstone aggregate` writes) from the rows, daily
/// rows merged first. Variant names `flags/{flag}/variants/{id}` are shortened to `{id}`; the
/// control is `control` when there is one, else the first in name order.
///
/// # Errors
/// [`RowsError`] naming `source` when a row has no variant or metric, a binary row's sum is not
/// a count, a ratio row lacks its denominator, a metric's rows disagree on its type, or fewer
/// than two variants remain.
pub fn to_request(source: &str, rows: &[Row]) -> Result<AnalysisRequest, RowsError> {
    let fail = |message: String| RowsError { place: source.to_owned(), message };
    let mut variants: BTreeMap<String, u64> = BTreeMap::new();
    let mut metrics: BTreeMap<String, (MetricType, BTreeMap<String, StatsSpec>)> = BTreeMap::new();
    for row in merge(rows) {
        let metric_type = match row.metric_type {
            Some(RowType::Excluded) => continue,
            Some(RowType::Binary) => MetricType::Binary,
            Some(RowType::Mean) => MetricType::Mean,
            Some(RowType::Ratio) => MetricType::Ratio,
            None => return Err(fail("a row without metric_type".to_owned())),
        };
        let (Some(variant), Some(metric)) = (row.variant.as_deref(), row.metric.clone()) else {
            return Err(fail("a metric row without variant or metric".to_owned()));
        };
        let variant = short_variant(variant).to_owned();
        let units = variants.entry(variant.clone()).or_insert(0);
        *units = (*units).max(row.n);
        let covariate =
            match (row.covariate_sum, row.covariate_sum_squares, row.covariate_cross_products) {
                (Some(sum), Some(sum_squares), Some(cross_products)) => {
                    Some(CovariateSpec { sum, sum_squares, cross_products })
                }
                _ => None,
            };
        let n = Count(row.n);
        let spec = match metric_type {
            MetricType::Binary => {
                if row.sum < 0.0 || row.sum.fract() != 0.0 || row.sum > row.n as f64 {
                    return Err(fail(format!(
                        "metric {metric}, variant {variant}: a binary sum must be a count of at most n, got {}",
                        row.sum
                    )));
                }
                StatsSpec {
                    n,
                    successes: Some(Count(row.sum as u64)),
                    covariate,
                    ..StatsSpec::default()
                }
            }
            MetricType::Mean => StatsSpec {
                n,
                sum: Some(row.sum),
                sum_squares: Some(row.sum_squares),
                covariate,
                ..StatsSpec::default()
            },
            MetricType::Ratio => {
                let (Some(dsum), Some(dsq), Some(cross)) =
                    (row.denominator_sum, row.denominator_sum_squares, row.cross_products)
                else {
                    return Err(fail(format!(
                        "metric {metric}, variant {variant}: a ratio row needs denominator_sum, denominator_sum_squares and cross_products"
                    )));
                };
                StatsSpec {
                    n,
                    numerator: Some(MomentsSpec { sum: row.sum, sum_squares: row.sum_squares }),
                    denominator: Some(MomentsSpec { sum: dsum, sum_squares: dsq }),
                    cross_products: Some(cross),
                    ..StatsSpec::default()
                }
            }
        };
        let entry = metrics.entry(metric.clone()).or_insert_with(|| (metric_type, BTreeMap::new()));
        if entry.0 != metric_type {
            return Err(fail(format!("metric {metric}: rows of different types")));
        }
        entry.1.insert(variant, spec);
    }
    if variants.len() < 2 {
        return Err(fail(format!(
            "expected rows of at least two variants, found {}",
            variants.len()
        )));
    }
    let mut order: Vec<String> = variants.keys().cloned().collect();
    if let Some(pos) = order.iter().position(|v| v == "control") {
        let c = order.remove(pos);
        order.insert(0, c);
    }
    let control = order.first().cloned().unwrap_or_default();
    let variant_specs = order
        .iter()
        .map(|name| VariantSpec {
            name: name.clone(),
            expected_share: 1.0,
            units: variants.get(name).map(|&n| Count(n)),
        })
        .collect();
    let metrics = metrics
        .into_iter()
        .map(|(id, (metric_type, data))| MetricSpec {
            id,
            metric_type,
            kind: MetricKind::Success,
            preferred_direction: Direction::Increase,
            sides: None,
            minimum_detectable_effect: None,
            non_inferiority_margin: None,
            data,
        })
        .collect();
    Ok(default_request(control, variant_specs, metrics))
}
