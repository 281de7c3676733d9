//! Structure and escaping of the page, on the repository's example and on hostile names.

use flagstone_stats::analysis::{AnalysisRequest, AnalysisResult, analyze};

use crate::{ReportOptions, render_html};

fn example() -> AnalysisRequest {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/analysis.json");
    let text = std::fs::read_to_string(path).expect("examples/analysis.json");
    serde_json::from_str(&text).expect("example request")
}

fn render(request: &AnalysisRequest) -> (AnalysisResult, String) {
    let result = analyze(request).expect("analysis");
    let html = render_html(request, &result, &ReportOptions::default());
    (result, html)
}

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

/// Checks what every page must be: a whole document, balanced sections, no script, no URL.
fn check_page(html: &str, n_metrics: usize) {
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"), "{}", &html[..80]);
    assert!(html.ends_with("</html>\n"));
    assert_eq!(count(html, "<section class=\"metric\""), n_metrics);
    for tag in ["section", "table", "figure", "svg", "ul", "main"] {
        assert_eq!(count(html, &format!("<{tag}")), count(html, &format!("</{tag}>")), "{tag}");
    }
    assert!(!html.to_lowercase().contains("<script"));
    let without_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!without_namespace.contains("http://") && !without_namespace.contains("https://"));
    assert!(!without_namespace.contains("url("), "no CSS or SVG reference to anything outside");
    assert!(!html.contains("NaN") && !html.contains("inf<"), "no raw non-finite numbers");
}

#[test]
fn example_page_has_a_plot_table_and_words_per_metric() {
    let request = example();
    let (result, html) = render(&request);
    check_page(&html, 3);
    assert_eq!(count(&html, "<svg"), 3);
    assert_eq!(count(&html, "<table class=\"numbers\">"), 3);
    for metric in &request.metrics {
        assert!(html.contains(&format!("<h2>{} <span class=\"badge", metric.id)), "{}", metric.id);
    }
    // One sentence per comparison, in the status' tone.
    let n_comparisons: usize = result.results.iter().map(|m| m.comparisons.len()).sum();
    assert_eq!(n_comparisons, 6);
    assert_eq!(count(&html, "<li class=\""), 6);
    assert!(html.contains(
        "<b>one-click</b> is better than control on <b>checkout-conversion</b> (+6.38% \
         [+1.54%, +11.22%]), significant at \u{3b1}\u{a0}=\u{a0}0.01."
    ));
    assert!(html.contains("<b>express</b> is inferior to control on <b>page-load-ms</b>"));
    assert!(html.contains("<b>one-click</b> is non-inferior to control on <b>page-load-ms</b>"));
    // The guardrail's margin is drawn (lower is better, so the margin sits at +2%) and named.
    assert!(html.contains("margin +2%"));
    assert_eq!(count(&html, "<span class=\"rule margin\">"), 1);
    // Settings in the header.
    assert!(html.contains("<dd>z-test</dd>") && html.contains("<dd>Holm</dd>"));
    assert!(html.contains("&#945;&nbsp;=&nbsp;0.05"));
    // SRM: the example's units match their shares (p = 0.51).
    assert!(html.contains("Sample ratio as expected"));
    assert!(!html.contains("Sample-ratio mismatch."));
    // checkout-conversion is planned for a 3% effect with ~18% and ~20% power.
    assert_eq!(count(&html, "<div class=\"alert warn\"><strong>Under-powered:</strong> "), 3);
    assert!(html.contains("one-click has 18% power to detect a 3% effect (target 80%)"));
}

#[test]
fn sample_ratio_mismatch_is_a_red_banner() {
    let mut request = example();
    // 50 210 against 45 000 with equal shares: χ² far beyond the 0.001 threshold.
    if let Some(v) = request.variants.get_mut(1) {
        v.units = Some(flagstone_stats::analysis::Count(45_000));
    }
    let (result, html) = render(&request);
    assert!(result.srm.mismatch);
    check_page(&html, 3);
    assert!(html.contains("<div class=\"alert bad\"><strong>Sample-ratio mismatch.</strong>"));
    assert!(!html.contains("Sample ratio as expected"));
}

#[test]
fn hostile_names_are_escaped_everywhere() {
    let evil_variant = "\"><script>alert('v')</script>";
    let evil_metric = "m&<img src=x onerror=alert(1)>";
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/analysis.json"
    ))
    .expect("example")
    .replace("one-click", &evil_variant.replace('"', "\\\""))
    .replace("checkout-conversion", evil_metric);
    let request: AnalysisRequest = serde_json::from_str(&text).expect("request");
    let options = ReportOptions {
        title: "<title>&".to_owned(),
        subtitle: Some("rollout \"a\" <b>".to_owned()),
    };
    let result = analyze(&request).expect("analysis");
    let html = render_html(&request, &result, &options);
    check_page(&html, 3);
    assert!(!html.contains(evil_variant) && !html.contains("<img"));
    assert!(!html.contains("<title><title>"));
    assert!(html.contains("&quot;&gt;&lt;script&gt;alert(&#39;v&#39;)&lt;/script&gt;"));
    // plotters escapes the SVG's text itself, with its own apostrophe entity.
    assert!(html.contains("&quot;&gt;&lt;script&gt;alert(&apos;v&apos;)&lt;/script&gt;"));
    assert!(html.contains("m&amp;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("<h1>&lt;title&gt;&amp;</h1>"));
    assert!(html.contains("rollout &quot;a&quot; &lt;b&gt;"));
}

#[test]
fn undefined_and_absolute_comparisons_render() {
    // A control mean of 0 leaves the relative difference undefined: the plot falls back to
    // the absolute scale; a treatment with no successes and no variance is undefined.
    let request: AnalysisRequest = serde_json::from_str(
        r#"{
          "control": "c",
          "variants": [
            { "name": "c", "expectedShare": 1 },
            { "name": "t", "expectedShare": 1 },
            { "name": "z", "expectedShare": 1 }
          ],
          "metrics": [
            { "id": "spend", "type": "mean", "nonInferiorityMargin": 0.1,
              "data": { "c": { "n": 100, "sum": 0, "sumSquares": 50 },
                        "t": { "n": 100, "sum": 30, "sumSquares": 80 },
                        "z": { "n": 1, "sum": 0, "sumSquares": 0 } } }
          ]
        }"#,
    )
    .expect("request");
    let (result, html) = render(&request);
    check_page(&html, 1);
    let metric = &result.results[0];
    assert!(metric.comparisons.iter().any(|c| c.relative.estimate.is_none()));
    assert!(html.contains("absolute difference to control"));
    // Without `units` the check counts the first metric's n: 100, 100 and 1 is a mismatch.
    assert!(html.contains("Sample-ratio mismatch."));
    assert!(html.contains("is undefined: "));
}

#[test]
fn bayesian_results_speak_of_credible_intervals() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/golden/analyze/bayesian.request.json"
    );
    let request: AnalysisRequest =
        serde_json::from_str(&std::fs::read_to_string(path).expect("request")).expect("request");
    let (_, html) = render(&request);
    check_page(&html, 2);
    assert!(html.contains("<dd>Bayesian</dd>"));
    // The Bayesian method applies no correction, whatever the request's default says.
    assert!(html.contains("<dt>Correction</dt><dd>none</dd>"));
    assert!(html.contains("<b>a</b> is better than control on <b>signup</b>"));
    assert!(html.contains("by its 90% credible interval."));
    assert!(html.contains("<b>b</b> shows no credible difference from control on <b>signup</b>"));
    assert!(html.contains("<th>P(better than control)</th>") && !html.contains("<th>p-value</th>"));
    assert!(!html.contains("significant at"));
}

#[test]
fn a_metric_with_nothing_defined_has_no_plot() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/golden/analyze/undefined.request.json"
    );
    let request: AnalysisRequest =
        serde_json::from_str(&std::fs::read_to_string(path).expect("request")).expect("request");
    let (result, html) = render(&request);
    let n_metrics = result.results.len();
    let n_blank = result
        .results
        .iter()
        .filter(|m| m.comparisons.iter().all(|c| c.absolute.estimate.is_none()))
        .count();
    assert!(n_blank >= 1 && n_blank < n_metrics, "{n_blank} of {n_metrics}");
    check_page(&html, n_metrics);
    assert_eq!(count(&html, "<svg"), n_metrics - n_blank);
    assert_eq!(count(&html, "No comparison could be computed: nothing to plot."), n_blank);
    assert!(html.contains("<dt>Variants</dt>"), "no units, no '(units)'");
}
