//! Numbers and statuses in words: the formatting every part of the page shares.

use flagstone_stats::analysis::{ComparisonResult, Direction, IntervalResult, Status};

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// `x` with `digits` significant digits, trailing zeros trimmed (`0.0125`, `0.05`, `1234.5`).
pub fn significant(x: f64, digits: i32) -> String {
    if !x.is_finite() {
        return "-".to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).clamp(0, 12) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A signed percentage of a fraction with two decimals: `+6.38%`, `−3.07%`.
pub fn percent(fraction: f64) -> String {
    minus(&format!("{:+.2}%", 100.0 * fraction))
}

/// A signed absolute difference with four significant digits.
pub fn signed(x: f64) -> String {
    let text = significant(x, 4);
    if x > 0.0 { minus(&format!("+{text}")) } else { minus(&text) }
}

/// Replaces the ASCII hyphen of a negative number with a typographic minus sign.
pub fn minus(text: &str) -> String {
    text.replacen('-', "\u{2212}", 1)
}

/// A plain (unsigned) quantity such as a mean: four significant digits.
pub fn plain(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |x| minus(&significant(x, 4)))
}

/// A count with narrow no-break spaces between thousands: `50 210`.
pub fn count(n: f64) -> String {
    if !n.is_finite() || n < 0.0 {
        return "-".to_owned();
    }
    let digits = format!("{:.0}", n.ceil());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A p-value: four decimals, or scientific notation when small, or `10^x` when it underflows.
pub fn p_value(p: Option<f64>, log10: Option<f64>) -> String {
    match (p, log10) {
        (Some(p), _) if p >= 1e-4 => format!("{p:.4}"),
        (Some(p), _) if p > 0.0 => minus(&format!("{p:.2e}")),
        (_, Some(l)) => minus(&format!("1e{l:.1}")),
        _ => "-".to_owned(),
    }
}

/// Whether a metric is shown on the relative scale (every defined comparison has a relative
/// estimate) or the absolute one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// `(t − c)/|c|`, shown in percent.
    Relative,
    /// `t − c`, in the metric's unit.
    Absolute,
}

impl Scale {
    /// The scale for a metric's comparisons: relative unless a defined comparison lacks it.
    pub fn of(comparisons: &[ComparisonResult]) -> Scale {
        let relative = comparisons
            .iter()
            .filter(|c| c.absolute.estimate.is_some())
            .all(|c| c.relative.estimate.is_some());
        if relative { Scale::Relative } else { Scale::Absolute }
    }

    /// The comparison's interval on this scale.
    pub fn interval(self, c: &ComparisonResult) -> &IntervalResult {
        match self {
            Scale::Relative => &c.relative,
            Scale::Absolute => &c.absolute,
        }
    }

    /// A value on this scale as text.
    pub fn value(self, x: f64) -> String {
        match self {
            Scale::Relative => percent(x),
            Scale::Absolute => signed(x),
        }
    }

    /// An interval on this scale as text; unbounded ends are `−∞` / `+∞`.
    pub fn interval_text(self, i: &IntervalResult) -> String {
        if i.estimate.is_none() {
            return "-".to_owned();
        }
        let lower = i.ci_lower.map_or_else(|| "\u{2212}\u{221e}".to_owned(), |x| self.value(x));
        let upper = i.ci_upper.map_or_else(|| "+\u{221e}".to_owned(), |x| self.value(x));
        format!("[{lower}, {upper}]")
    }
}

/// The CSS class (and plot colour) of a status: good, bad, neutral or undefined.
pub fn tone(status: Status) -> &'static str {
    match status {
        Status::SignificantPositive | Status::NonInferior => "good",
        Status::SignificantNegative | Status::Inferior => "bad",
        Status::NotSignificant | Status::Inconclusive => "neutral",
        _ => "undefined",
    }
}

/// A short label of a status for badges: `better`, `worse`, `non-inferior`, …
pub fn label(status: Status) -> &'static str {
    match status {
        Status::SignificantPositive => "better",
        Status::SignificantNegative => "worse",
        Status::NotSignificant => "not significant",
        Status::NonInferior => "non-inferior",
        Status::Inferior => "inferior",
        Status::Inconclusive => "inconclusive",
        _ => "undefined",
    }
}

/// What the words of one comparison need to know about its metric and the analysis.
pub struct Context<'a> {
    /// Metric id.
    pub metric: &'a str,
    /// Which direction is good.
    pub direction: Direction,
    /// Relative non-inferiority margin.
    pub margin: Option<f64>,
    /// Bayesian results speak of credible intervals, not significance.
    pub bayesian: bool,
}

/// One comparison's status as a sentence of HTML (names escaped, numbers formatted).
pub fn sentence(c: &ComparisonResult, ctx: &Context<'_>, scale: Scale) -> String {
    let t = format!("<b>{}</b>", escape(&c.treatment));
    let control = escape(&c.control);
    let metric = format!("<b>{}</b>", escape(ctx.metric));
    let interval = scale.interval(c);
    let estimate = interval.estimate.map_or_else(String::new, |e| {
        format!(" ({} {})", scale.value(e), scale.interval_text(interval))
    });
    let level = if ctx.bayesian {
        format!("by its {}% credible interval", significant(100.0 * (1.0 - c.adjusted_alpha), 4))
    } else {
        format!("significant at \u{3b1}\u{a0}=\u{a0}{}", significant(c.adjusted_alpha, 3))
    };
    let margin = ctx.margin.map_or_else(String::new, |m| {
        let worse = match ctx.direction {
            Direction::Increase => -m,
            Direction::Decrease => m,
        };
        percent(worse)
    });
    match c.status {
        Status::SignificantPositive => {
            format!("{t} is better than {control} on {metric}{estimate}, {level}.")
        }
        Status::SignificantNegative => {
            format!("{t} is worse than {control} on {metric}{estimate}, {level}.")
        }
        Status::NotSignificant if ctx.bayesian => format!(
            "{t} shows no credible difference from {control} on {metric}{estimate}: its {}% \
             credible interval contains zero.",
            significant(100.0 * (1.0 - c.adjusted_alpha), 4)
        ),
        Status::NotSignificant => format!(
            "{t} shows no significant difference from {control} on {metric}{estimate}: the \
             interval contains zero at \u{3b1}\u{a0}=\u{a0}{}.",
            significant(c.adjusted_alpha, 3)
        ),
        Status::NonInferior => format!(
            "{t} is non-inferior to {control} on {metric}{estimate}: the interval excludes the \
             margin of {margin}, {level}."
        ),
        Status::Inferior => format!(
            "{t} is inferior to {control} on {metric}{estimate}: it is worse than the margin \
             of {margin}, {level}."
        ),
        Status::Inconclusive => format!(
            "{t} is inconclusive against {control} on {metric}{estimate}: the interval contains \
             the margin of {margin}."
        ),
        _ => format!(
            "{t} against {control} on {metric} is undefined: {}.",
            escape(c.undefined_reason.as_deref().unwrap_or("not computable"))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("plain-name_1 ü"), "plain-name_1 ü");
    }

    #[test]
    fn numbers() {
        assert_eq!(significant(0.05, 3), "0.05");
        assert_eq!(significant(0.05 / 3.0, 3), "0.0167");
        assert_eq!(significant(822.0, 4), "822");
        assert_eq!(significant(1.979_949, 4), "1.98");
        assert_eq!(percent(0.063_790_874), "+6.38%");
        assert_eq!(percent(-0.030_745), "\u{2212}3.07%");
        assert_eq!(count(50_210.0), "50\u{202f}210");
        assert_eq!(count(212_739.0), "212\u{202f}739");
        assert_eq!(count(999.0), "999");
        assert_eq!(p_value(Some(0.000_5), None), "0.0005");
        assert_eq!(p_value(Some(3.51e-40), Some(-39.45)), "3.51e\u{2212}40");
        assert_eq!(p_value(Some(0.0), Some(-400.2)), "1e\u{2212}400.2");
        assert_eq!(p_value(None, None), "-");
    }
}
