//! The page around the plots: header, settings, warnings, the summary, one section per metric.

use std::fmt::Write;

use flagstone_stats::analysis::{
    AnalysisRequest, AnalysisResult, ComparisonResult, Direction, MetricKind, MetricResult,
    MetricSpec, MetricType, TreatmentResult,
};

use crate::ReportOptions;
use crate::plot::{self, Forest};
use crate::words::{self, Context, Scale, escape};

const CSS: &str = include_str!("style.css");

/// `write!` into a `String` cannot fail; this keeps the `Result` out of every line.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// Renders the whole page.
pub fn render(
    request: &AnalysisRequest,
    result: &AnalysisResult,
    options: &ReportOptions,
) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = escape(&options.title);
    put!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n"
    );
    header(&mut out, request, result, options);
    warnings(&mut out, request, result);
    summary(&mut out, request, result);
    for (idx, metric) in result.results.iter().enumerate() {
        let spec = request.metrics.iter().find(|m| m.id == metric.id);
        metric_section(&mut out, idx, request, spec, metric);
    }
    put!(
        out,
        "<footer>Computed by Flagstone from per-variant sufficient statistics. Intervals are \
         (1&#8201;&#8722;&#8201;adjusted&nbsp;&#945;) intervals, one-sided for metrics with a \
         non-inferiority margin or a direction; an arrow marks an unbounded end. This page is \
         self-contained: it loads nothing.</footer>\n</main>\n</body>\n</html>\n"
    );
    out
}

fn method_name(result: &AnalysisResult, request: &AnalysisRequest) -> String {
    let wire = result.results.first().map(|m| m.stats_settings.method);
    match wire {
        Some("METHOD_Z_TEST") => "z-test".to_owned(),
        Some("METHOD_T_TEST") => "Welch t-test".to_owned(),
        Some("METHOD_CHI_SQUARED") => "\u{3c7}\u{b2} test (pooled two-proportion)".to_owned(),
        Some("METHOD_BAYESIAN") => "Bayesian".to_owned(),
        Some("METHOD_GROUP_SEQUENTIAL") => "group-sequential z-test".to_owned(),
        Some("METHOD_ALWAYS_VALID") => "always-valid confidence sequences".to_owned(),
        Some(other) => other.to_owned(),
        None => request.method.as_str().to_owned(),
    }
}

/// The correction the analysis applied (the Bayesian method applies none, whatever the request
/// says).
fn correction_name(result: &AnalysisResult, request: &AnalysisRequest) -> &'static str {
    let applied = result.results.first().map(|m| m.stats_settings.correction);
    match applied.unwrap_or(request.correction.as_str()) {
        "bonferroni" => "Bonferroni",
        "holm" => "Holm",
        "benjamini-hochberg" => "Benjamini\u{2013}Hochberg",
        "none" => "none",
        _ => "other",
    }
}

fn header(
    out: &mut String,
    request: &AnalysisRequest,
    result: &AnalysisResult,
    options: &ReportOptions,
) {
    put!(out, "<header>\n<h1>{}</h1>\n", escape(&options.title));
    if let Some(subtitle) = &options.subtitle {
        put!(out, "<p class=\"subtitle\">{}</p>\n", escape(subtitle));
    }
    let variants: Vec<String> = request
        .variants
        .iter()
        .map(|v| {
            let units =
                v.units.map_or_else(String::new, |u| format!(" ({})", words::count(u.0 as f64)));
            format!("{}{units}", escape(&v.name))
        })
        .collect();
    put!(
        out,
        "<dl class=\"settings\">\n\
         <div><dt>Method</dt><dd>{}</dd></div>\n\
         <div><dt>Significance</dt><dd>&#945;&nbsp;=&nbsp;{}</dd></div>\n\
         <div><dt>Correction</dt><dd>{}</dd></div>\n\
         <div><dt>Relative interval</dt><dd>{}</dd></div>\n\
         <div><dt>Target power</dt><dd>{}%</dd></div>\n\
         <div><dt>Control</dt><dd>{}</dd></div>\n\
         <div class=\"wide\"><dt>Variants{}</dt><dd>{}</dd></div>\n\
         </dl>\n</header>\n",
        method_name(result, request),
        words::significant(request.alpha, 3),
        correction_name(result, request),
        request.relative_ci.as_str(),
        words::significant(100.0 * request.power, 3),
        escape(&request.control),
        if request.variants.iter().any(|v| v.units.is_some()) { " (units)" } else { "" },
        variants.join(", "),
    );
}

/// Units of a variant, from the metric's per-arm results.
fn units_of<'a>(results: &'a [TreatmentResult], name: &str) -> Option<&'a TreatmentResult> {
    results.iter().find(|t| t.treatment_id == name)
}

fn warnings(out: &mut String, request: &AnalysisRequest, result: &AnalysisResult) {
    put!(out, "<section class=\"checks\">\n<h2>Checks</h2>\n");
    let srm = &result.srm;
    let total_share: f64 = request.variants.iter().map(|v| v.expected_share).sum();
    let total_units: u64 = request.variants.iter().filter_map(|v| v.units.map(|u| u.0)).sum();
    let stats = match (srm.chi2, srm.p_value) {
        (Some(chi2), Some(p)) => format!(
            " (\u{3c7}\u{b2}&nbsp;=&nbsp;{}, df&nbsp;=&nbsp;{}, p&nbsp;=&nbsp;{})",
            words::significant(chi2, 4),
            srm.df.unwrap_or(0),
            words::p_value(Some(p), None)
        ),
        _ => String::new(),
    };
    if srm.mismatch {
        put!(
            out,
            "<div class=\"alert bad\"><strong>Sample-ratio mismatch.</strong> The units assigned \
             to the variants differ from the expected shares{stats}{}. The assignment or the \
             exposure logging is likely broken: do not trust the results below until the cause \
             is found.</div>\n",
            srm.mismatch_reason.as_deref().map_or_else(String::new, |r| format!(": {}", escape(r)))
        );
    } else if let Some(reason) = &srm.undefined_reason {
        put!(
            out,
            "<div class=\"alert neutral\"><strong>Sample ratio not checked:</strong> {}.</div>\n",
            escape(reason)
        );
    } else {
        put!(
            out,
            "<div class=\"alert good\"><strong>Sample ratio as expected</strong>{stats}: no \
             sign of a broken assignment (mismatch means p&nbsp;&lt;&nbsp;0.001).</div>\n"
        );
    }
    if total_units > 0 && total_share > 0.0 {
        put!(
            out,
            "<table class=\"srm\">\n<thead><tr><th>Variant</th><th>Expected share</th>\
             <th>Units</th><th>Observed share</th></tr></thead>\n<tbody>\n"
        );
        for v in &request.variants {
            let units = v.units.map_or(0, |u| u.0);
            put!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&v.name),
                share(v.expected_share / total_share),
                words::count(units as f64),
                share(units as f64 / total_units as f64),
            );
        }
        put!(out, "</tbody>\n</table>\n");
    }
    let underpowered = result
        .results
        .iter()
        .flat_map(|m| m.comparisons.iter())
        .filter(|c| is_underpowered(c, request))
        .count();
    if underpowered > 0 {
        put!(
            out,
            "<div class=\"alert warn\"><strong>Under-powered:</strong> {underpowered} \
             comparison{} cannot reliably detect the effect it was planned for (see the metrics \
             below). A result that is not significant there is weak evidence of no effect.</div>\n",
            if underpowered == 1 { "" } else { "s" }
        );
    }
    if !result.annotations.is_empty() {
        put!(out, "<ul class=\"notes\">\n");
        for note in &result.annotations {
            put!(out, "<li>{}</li>\n", escape(note));
        }
        put!(out, "</ul>\n");
    }
    put!(out, "</section>\n");
}

fn share(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn is_underpowered(c: &ComparisonResult, request: &AnalysisRequest) -> bool {
    c.achieved_power.is_some_and(|p| p < request.power)
}

fn kind_name(spec: Option<&MetricSpec>) -> &'static str {
    match spec.map(|s| s.kind) {
        Some(MetricKind::Guardrail) => "guardrail",
        _ => "success",
    }
}

fn better_when(spec: Option<&MetricSpec>) -> &'static str {
    match spec.map(|s| s.preferred_direction) {
        Some(Direction::Decrease) => "lower is better",
        _ => "higher is better",
    }
}

fn badge(status: flagstone_stats::analysis::Status) -> String {
    format!("<span class=\"badge {}\">{}</span>", words::tone(status), words::label(status))
}

fn summary(out: &mut String, request: &AnalysisRequest, result: &AnalysisResult) {
    put!(
        out,
        "<section class=\"summary\">\n<h2>Summary</h2>\n<table>\n<thead><tr><th>Metric</th>\
         <th>Kind</th><th>Direction</th>"
    );
    let treatments: Vec<&str> = request
        .variants
        .iter()
        .map(|v| v.name.as_str())
        .filter(|n| *n != request.control)
        .collect();
    for t in &treatments {
        put!(out, "<th>{}</th>", escape(t));
    }
    put!(out, "<th>Overall</th></tr></thead>\n<tbody>\n");
    for (idx, metric) in result.results.iter().enumerate() {
        let spec = request.metrics.iter().find(|m| m.id == metric.id);
        put!(
            out,
            "<tr><td><a href=\"#metric-{idx}\">{}</a></td><td>{}</td><td>{}</td>",
            escape(&metric.id),
            kind_name(spec),
            better_when(spec)
        );
        for t in &treatments {
            match metric.comparisons.iter().find(|c| c.treatment == *t) {
                Some(c) => put!(out, "<td>{}</td>", badge(c.status)),
                None => put!(out, "<td>-</td>"),
            }
        }
        put!(out, "<td>{}</td></tr>\n", badge(metric.result.status.status));
    }
    put!(out, "</tbody>\n</table>\n</section>\n");
}

fn metric_type_name(spec: Option<&MetricSpec>) -> &'static str {
    match spec.map(|s| s.metric_type) {
        Some(MetricType::Binary) => "binary (conversion rate)",
        Some(MetricType::Mean) => "mean per unit",
        Some(MetricType::Ratio) => "ratio of sums",
        None => "metric",
    }
}

fn metric_section(
    out: &mut String,
    idx: usize,
    request: &AnalysisRequest,
    spec: Option<&MetricSpec>,
    metric: &MetricResult,
) {
    let direction = spec.map_or(Direction::Increase, |s| s.preferred_direction);
    let margin = spec.and_then(|s| s.non_inferiority_margin);
    let mde = spec.and_then(|s| s.minimum_detectable_effect);
    let scale = Scale::of(&metric.comparisons);
    let bayesian = metric.stats_settings.method == "METHOD_BAYESIAN";
    put!(
        out,
        "<section class=\"metric\" id=\"metric-{idx}\">\n<h2>{} {}</h2>\n<p class=\"meta\">{} \
         &middot; {} metric &middot; {}",
        escape(&metric.id),
        badge(metric.result.status.status),
        metric_type_name(spec),
        kind_name(spec),
        better_when(spec)
    );
    if let Some(m) = mde {
        put!(out, " &middot; minimum detectable effect {}", words::significant(100.0 * m, 3));
        put!(out, "%");
    }
    if let Some(m) = margin {
        put!(out, " &middot; non-inferiority margin {}%", words::significant(100.0 * m, 3));
    }
    put!(out, "</p>\n");

    // The margin on the plot's scale, towards the worse side.
    let towards_worse = |m: f64| match direction {
        Direction::Increase => -m,
        Direction::Decrease => m,
    };
    let plot_margin = margin.and_then(|m| match scale {
        Scale::Relative => Some(towards_worse(m)),
        Scale::Absolute => metric
            .comparisons
            .iter()
            .find_map(|c| c.control_mean)
            .map(|c| towards_worse(m * c.abs())),
    });
    if metric.comparisons.iter().all(|c| c.absolute.estimate.is_none()) {
        put!(
            out,
            "<p class=\"alert neutral\">No comparison could be computed: nothing to plot.</p>\n"
        );
    } else {
        let forest =
            Forest { comparisons: &metric.comparisons, scale, direction, margin: plot_margin };
        match plot::forest_svg(&forest) {
            Ok(svg) => put!(out, "<figure>\n{svg}"),
            Err(e) => {
                put!(out, "<figure>\n<p class=\"alert bad\">plot failed: {}</p>\n", escape(&e))
            }
        }
        put!(
            out,
            "<figcaption><span class=\"key good\"></span>better / non-inferior \
             <span class=\"key bad\"></span>worse / inferior \
             <span class=\"key neutral\"></span>not significant / inconclusive \
             <span class=\"rule zero\"></span>no difference"
        );
        if plot_margin.is_some() {
            put!(out, " <span class=\"rule margin\"></span>non-inferiority margin");
        }
        put!(out, "</figcaption>\n</figure>\n");
    }

    let ctx = Context { metric: &metric.id, direction, margin, bayesian };
    put!(out, "<ul class=\"verdicts\">\n");
    for c in &metric.comparisons {
        put!(
            out,
            "<li class=\"{}\">{}</li>\n",
            words::tone(c.status),
            words::sentence(c, &ctx, scale)
        );
    }
    put!(out, "</ul>\n");

    for c in metric.comparisons.iter().filter(|c| is_underpowered(c, request)) {
        power_warning(out, c, request, mde.or(margin), &metric.treatment_results);
    }
    numbers(out, metric, scale, bayesian);
    put!(out, "</section>\n");
}

fn power_warning(
    out: &mut String,
    c: &ComparisonResult,
    request: &AnalysisRequest,
    effect: Option<f64>,
    results: &[TreatmentResult],
) {
    let power = c.achieved_power.unwrap_or(0.0);
    let effect = effect.map_or_else(
        || "the planned effect".to_owned(),
        |e| format!("a {}% effect", words::significant(100.0 * e, 3)),
    );
    put!(
        out,
        "<div class=\"alert warn\"><strong>Under-powered:</strong> {} has {}% power to detect \
         {effect} (target {}%)",
        escape(&c.treatment),
        words::significant(100.0 * power, 2),
        words::significant(100.0 * request.power, 3)
    );
    if let Some(required) = c.required_sample_size {
        let has = units_of(results, &c.treatment).map(|t| t.units as f64);
        put!(out, "; about {} units per arm are needed", words::count(required));
        if let Some(has) = has {
            put!(out, ", it has {}", words::count(has));
        }
    }
    if let Some(e) = c.powered_effect {
        put!(
            out,
            ". With these units the smallest effect detectable at {}% power is {}%",
            words::significant(100.0 * request.power, 3),
            words::significant(100.0 * e, 3)
        );
    }
    put!(out, ".</div>\n");
}

fn numbers(out: &mut String, metric: &MetricResult, scale: Scale, bayesian: bool) {
    let difference = match scale {
        Scale::Relative => "Relative difference",
        Scale::Absolute => "Difference",
    };
    let evidence = if bayesian { "P(better than control)" } else { "p-value" };
    put!(
        out,
        "<table class=\"numbers\">\n<thead><tr><th>Variant</th><th>Units</th><th>Mean</th>\
         <th>{difference}</th><th>Interval</th><th>Absolute difference</th><th>{evidence}</th>\
         <th>Adjusted &#945;</th><th>Power</th><th>Status</th></tr></thead>\n<tbody>\n"
    );
    if let Some(control) = metric.comparisons.first() {
        let units = units_of(&metric.treatment_results, &control.control).map(|t| t.units as f64);
        put!(
            out,
            "<tr class=\"control\"><td>{} <small>control</small></td><td>{}</td><td>{}</td>\
             <td colspan=\"7\"></td></tr>\n",
            escape(&control.control),
            units.map_or_else(|| "-".to_owned(), words::count),
            words::plain(control.control_mean)
        );
    }
    for c in &metric.comparisons {
        let arm = units_of(&metric.treatment_results, &c.treatment);
        let interval = scale.interval(c);
        let evidence = if bayesian {
            arm.and_then(|t| t.p_beat_control).map_or_else(
                || "-".to_owned(),
                |p| format!("{}%", words::significant(100.0 * p, 3)),
            )
        } else {
            words::p_value(c.p_value, c.log10_p_value)
        };
        let mut status = badge(c.status);
        if let Some(s) = &c.sequential {
            let decision = match s.decision {
                flagstone_stats::analysis::SequentialDecision::Reject => "reject",
                flagstone_stats::analysis::SequentialDecision::Continue => "continue",
                flagstone_stats::analysis::SequentialDecision::Stop => "stop",
            };
            status.push_str(&format!("<br><small>sequential: {decision}</small>"));
        }
        put!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{status}</td></tr>\n",
            escape(&c.treatment),
            arm.map_or_else(|| "-".to_owned(), |t| words::count(t.units as f64)),
            words::plain(c.treatment_mean),
            interval.estimate.map_or_else(|| "-".to_owned(), |e| scale.value(e)),
            scale.interval_text(interval),
            c.absolute.estimate.map_or_else(|| "-".to_owned(), words::signed),
            evidence,
            words::significant(c.adjusted_alpha, 3),
            c.achieved_power.map_or_else(|| "-".to_owned(), |p| format!("{:.1}%", 100.0 * p)),
        );
    }
    put!(out, "</tbody>\n</table>\n");
}
