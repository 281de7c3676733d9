//! Flagstone's analysis report: an [`AnalysisResult`] as one self-contained HTML page.
//!
//! The page has a header with the analysis settings (method, α, correction), the checks
//! (sample-ratio mismatch, under-powered comparisons, the analysis' notes), a summary table of
//! every metric's status per treatment, and per metric a section with
//!
//! - a forest plot (inline SVG drawn with plotters): one row per treatment against the
//!   control with its point estimate and interval, a line at zero, the non-inferiority margin
//!   as a dashed line when the metric has one, coloured by status;
//! - the status of each comparison in words ("**one-click** is better than control on
//!   **checkout-conversion** (+6.38% [+1.54%, +11.22%]), significant at α = 0.01.");
//! - an under-powered warning per comparison whose achieved power is below the target;
//! - a table of the numbers.
//!
//! [`render_html`] is pure: no I/O, no clock, so the same inputs give the same bytes (the CLI's
//! `flagstone analyze --format html` and a server's results page share it).
//!
//! ```
//! use flagstone_report::{ReportOptions, render_html};
//! use flagstone_stats::analysis::{AnalysisRequest, analyze};
//!
//! let request: AnalysisRequest = serde_json::from_str(
//!     r#"{
//!       "control": "control",
//!       "variants": [
//!         { "name": "control", "expectedShare": 1, "units": 1000 },
//!         { "name": "<b>new</b>", "expectedShare": 1, "units": 1000 }
//!       ],
//!       "metrics": [{
//!         "id": "conversion", "type": "binary",
//!         "data": {
//!           "control": { "n": 1000, "successes": 100 },
//!           "<b>new</b>": { "n": 1000, "successes": 140 }
//!         }
//!       }]
//!     }"#,
//! )?;
//! let result = analyze(&request)?;
//! let html = render_html(&request, &result, &ReportOptions::default());
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! assert!(html.contains("<svg"));
//! assert!(html.contains("conversion"));
//! // Names are escaped wherever they appear.
//! assert!(html.contains("&lt;b&gt;new&lt;/b&gt;") && !html.contains("<b>new</b>"));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Input safety
//!
//! Every string from the request (title, metric ids, variant names, notes, reasons) is escaped
//! for HTML, in text and in the SVG; ids in links are indices, never names. The page holds no
//! script and no external URL (fonts are the browser's own; the only URL is the SVG namespace).
//! Its size is linear in metrics × variants.

#![deny(missing_docs)]

mod page;
mod plot;
mod words;

use flagstone_stats::analysis::{AnalysisRequest, AnalysisResult};

pub use words::escape as escape_html;

/// What the page says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// The page title and heading (default `Experiment analysis`).
    pub title: String,
    /// A line under the heading, e.g. which rollout or A/B test this is.
    pub subtitle: Option<String>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { title: "Experiment analysis".to_owned(), subtitle: None }
    }
}

/// Renders the analysis of `request` (its `result`, from
/// [`analyze`](flagstone_stats::analysis::analyze)) as one self-contained HTML page.
///
/// Metrics of `result` are matched to the request's by id for their kind, direction, margin
/// and minimum detectable effect; a metric missing from the request is shown as a
/// higher-is-better success metric.
pub fn render_html(
    request: &AnalysisRequest,
    result: &AnalysisResult,
    options: &ReportOptions,
) -> String {
    page::render(request, result, options)
}

#[cfg(test)]
mod tests;
