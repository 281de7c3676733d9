//! The analysis report as a web page: `flagstone_report::render_html`
//! served by the dialects' results routes.
//!
//! A page is what `flagstone analyze --format html` writes for the same
//! request and result: one self-contained HTML document with no script and
//! no external URL. It is sent as `text/html; charset=utf-8` with a content
//! security policy that allows nothing but its inline styles and images, so
//! even a name that escaped the renderer's escaping could not load or run
//! anything.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flagstone_report::{ReportOptions, escape_html, render_html};
use flagstone_stats::analysis::{AnalysisRequest, AnalysisResult};

/// The page's content type.
pub(crate) const HTML: &str = "text/html; charset=utf-8";
/// What the page may load: its own inline styles and `data:` images, nothing else.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// How much the client prefers `wanted` (`type/subtype`) by its `Accept`
/// header: the quality of the most specific matching range, 0 without one.
fn quality(accept: &str, wanted: &str) -> f32 {
    let (kind, _) = wanted.split_once('/').unwrap_or((wanted, ""));
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let specificity = if media == wanted {
            3
        } else if media.strip_suffix("/*") == Some(kind) {
            2
        } else if media == "*/*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

/// Whether the request asks for the page: its `Accept` header prefers
/// `text/html` to `application/json` (a browser's does; no header, `*/*`
/// and `application/json` get JSON).
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    quality(&accept, "text/html") > quality(&accept, "application/json")
}

fn html(page: String) -> Response {
    let mut response = (StatusCode::OK, page).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// The report of an analysis.
pub(crate) fn page(
    request: &AnalysisRequest,
    result: &AnalysisResult,
    title: String,
    subtitle: String,
) -> Response {
    html(render_html(request, result, &ReportOptions { title, subtitle: Some(subtitle) }))
}

/// A page saying there is nothing to analyse yet, and why.
pub(crate) fn no_data(title: &str, subtitle: &str, why: &str) -> Response {
    html(no_data_text(title, subtitle, why))
}

fn no_data_text(title: &str, subtitle: &str, why: &str) -> String {
    let (title, subtitle, why) = (escape_html(title), escape_html(subtitle), escape_html(why));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n<p>{subtitle}</p>\n\
         <p><strong>No data yet.</strong> {why}</p>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn html_only_when_preferred_to_json() {
        // Firefox's and Chromium's navigation Accept headers.
        assert!(wants_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(wants_html(&accept("text/html")));
        assert!(wants_html(&accept("application/json;q=0.5, text/*")));
        assert!(!wants_html(&HeaderMap::new()));
        assert!(!wants_html(&accept("*/*")));
        assert!(!wants_html(&accept("application/json")));
        assert!(!wants_html(&accept("text/html, application/json")));
        assert!(!wants_html(&accept("text/html;q=0, */*")));
        assert!(!wants_html(&accept("text/plain")));
    }

    #[test]
    fn the_empty_page_escapes_what_it_shows() {
        let text = no_data_text("<b>t</b>", "s & s", "why");
        assert!(text.contains("<h1>&lt;b&gt;t&lt;/b&gt;</h1>") && !text.contains("<b>t"), "{text}");
        assert!(text.contains("s &amp; s"), "{text}");
        let response = no_data("t", "s", "why");
        assert_eq!(response.headers()[header::CONTENT_TYPE], HTML);
        assert!(
            response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("'none'")
        );
    }
}
