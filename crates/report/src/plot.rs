//! The forest plot of one metric: one row per treatment against the control, drawn as SVG
//! with plotters' SVG backend.
//!
//! Each row shows the point estimate and its interval on the metric's scale, coloured by
//! status; a solid line marks zero (no difference), a dashed line the non-inferiority margin
//! (with the region beyond it shaded), and an arrow an unbounded (one-sided) end. Treatment
//! names sit left of the plot, the estimate and interval as text right of it. Text is left to
//! the browser's fonts (plotters' SVG backend writes `<text>` elements), so no font file is
//! read.

use flagstone_stats::analysis::{ComparisonResult, Direction, Status};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::words::{self, Scale};

/// Colours of the statuses (GitHub's Primer palette: readable on white, distinct for the
/// common colour-vision deficiencies when paired with the badge words).
const GOOD: RGBColor = RGBColor(0x1a, 0x7f, 0x37);
const BAD: RGBColor = RGBColor(0xcf, 0x22, 0x2e);
const NEUTRAL: RGBColor = RGBColor(0x57, 0x60, 0x6a);
const UNDEFINED: RGBColor = RGBColor(0xaf, 0xb8, 0xc1);
const MARGIN: RGBColor = RGBColor(0xbc, 0x4c, 0x00);
const INK: RGBColor = RGBColor(0x1f, 0x23, 0x28);
const BAND: RGBColor = RGBColor(0xf6, 0xf8, 0xfa);
const GRID: RGBColor = RGBColor(0xd0, 0xd7, 0xde);

/// The plot's width in pixels.
pub const WIDTH: u32 = 880;
const ROW_HEIGHT: u32 = 46;
const LABEL_FONT: f64 = 18.0;

/// The colour of a status in the plot (the page's CSS uses the same ones).
fn colour(status: Status) -> RGBColor {
    match words::tone(status) {
        "good" => GOOD,
        "bad" => BAD,
        "neutral" => NEUTRAL,
        _ => UNDEFINED,
    }
}

/// What the plot of one metric draws.
pub struct Forest<'a> {
    /// The metric's comparisons, one row each, in order from the top.
    pub comparisons: &'a [ComparisonResult],
    /// Relative (percent) or absolute scale.
    pub scale: Scale,
    /// Which direction is good.
    pub direction: Direction,
    /// The non-inferiority margin on the plot's scale, signed towards "worse".
    pub margin: Option<f64>,
}

/// The x range: every finite estimate and end, zero and the margin, padded; an unbounded end
/// gets room for its arrow.
fn x_range(forest: &Forest<'_>) -> (f64, f64) {
    let mut values = vec![0.0];
    values.extend(forest.margin);
    let mut open_low = false;
    let mut open_high = false;
    for c in forest.comparisons {
        let i = forest.scale.interval(c);
        if let Some(e) = i.estimate {
            values.push(e);
            values.extend(i.ci_lower);
            values.extend(i.ci_upper);
            open_low |= i.ci_lower.is_none();
            open_high |= i.ci_upper.is_none();
        }
    }
    let values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { lo.abs().max(1e-3) };
    let pad = |open: bool| if open { 0.25 * span } else { 0.1 * span };
    (lo - pad(open_low), hi + pad(open_high))
}

/// A tick label on the x axis.
fn tick(scale: Scale, x: f64) -> String {
    let x = match scale {
        Scale::Relative => 100.0 * x,
        Scale::Absolute => x,
    };
    let unit = if scale == Scale::Relative { "%" } else { "" };
    if x.abs() < 1e-12 {
        return format!("0{unit}");
    }
    let text = words::significant(x, 3);
    if x > 0.0 { format!("+{text}{unit}") } else { words::minus(&format!("{text}{unit}")) }
}

/// Renders the plot as an `<svg>` element, or an error message from plotters.
pub fn forest_svg(forest: &Forest<'_>) -> Result<String, String> {
    let mut svg = String::new();
    draw(forest, &mut svg).map_err(|e| e.to_string())?;
    Ok(svg)
}

fn draw(
    forest: &Forest<'_>,
    svg: &mut String,
) -> Result<(), DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>> {
    let n_rows = forest.comparisons.len().max(1);
    let height = 64 + ROW_HEIGHT * n_rows as u32 + 56;
    let longest = forest.comparisons.iter().map(|c| c.treatment.chars().count()).max();
    // The naive text metrics of plotters' SVG backend: about 0.55 em per character.
    let label_width = (longest.unwrap_or(8) as f64 * 7.5 + 24.0).clamp(80.0, 240.0) as u32;
    let (x_lo, x_hi) = x_range(forest);
    let scale = forest.scale;
    let rows = n_rows as f64;

    let root = SVGBackend::with_string(svg, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin_top(40)
        .margin_bottom(8)
        .margin_left(8)
        .margin_right(220)
        .x_label_area_size(56)
        .y_label_area_size(label_width)
        .build_cartesian_2d(x_lo..x_hi, 0.0..rows)?;

    // Alternate row bands, drawn first so that everything else sits on top.
    chart.draw_series((0..n_rows).filter(|i| i % 2 == 0).map(|i| {
        let top = rows - i as f64;
        Rectangle::new([(x_lo, top), (x_hi, top - 1.0)], BAND.filled())
    }))?;
    let x_desc = match scale {
        Scale::Relative => {
            "relative difference to control, (treatment \u{2212} control) / |control|"
        }
        Scale::Absolute => "absolute difference to control, treatment \u{2212} control",
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(9)
        .x_label_formatter(&|x| tick(scale, *x))
        .x_desc(x_desc)
        .label_style(("sans-serif", LABEL_FONT).into_font().color(&INK))
        .axis_desc_style(("sans-serif", LABEL_FONT).into_font().color(&INK))
        .axis_style(INK.stroke_width(1))
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .draw()?;

    // Beyond the non-inferiority margin: shaded, bounded by a dashed line.
    if let Some(m) = forest.margin {
        // The worse side follows the direction, not the margin's sign (which is 0 on the
        // absolute scale when the control mean is 0).
        let worse_is_low = forest.direction == Direction::Increase;
        let far = if worse_is_low { x_lo } else { x_hi };
        chart.draw_series(std::iter::once(Rectangle::new(
            [(m, 0.0), (far, rows)],
            MARGIN.mix(0.08).filled(),
        )))?;
        chart.draw_series(std::iter::once(DashedPathElement::new(
            vec![(m, 0.0), (m, rows)],
            6,
            4,
            MARGIN.stroke_width(2),
        )))?;
        let (mx, top) = chart.backend_coord(&(m, rows));
        let (anchor, dx) = if worse_is_low { (HPos::Right, -4) } else { (HPos::Left, 4) };
        root.draw(&Text::new(
            format!("margin {}", tick(scale, m)),
            (mx + dx, top - 6),
            ("sans-serif", LABEL_FONT - 2.0)
                .into_font()
                .color(&MARGIN)
                .pos(Pos::new(anchor, VPos::Bottom)),
        ))?;
    }
    // Zero: no difference.
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 0.0), (0.0, rows)],
        INK.stroke_width(2),
    )))?;

    // Which side is better, above the plot's corners.
    let (left, top) = chart.backend_coord(&(x_lo, rows));
    let (right, _) = chart.backend_coord(&(x_hi, rows));
    let (worse_side, better_side) = match forest.direction {
        Direction::Increase => ("\u{2190} worse", "better \u{2192}"),
        Direction::Decrease => ("\u{2190} better", "worse \u{2192}"),
    };
    let corner = |anchor| {
        ("sans-serif", LABEL_FONT - 2.0)
            .into_font()
            .color(&NEUTRAL)
            .pos(Pos::new(anchor, VPos::Bottom))
    };
    root.draw(&Text::new(worse_side, (left + 4, top - 24), corner(HPos::Left)))?;
    root.draw(&Text::new(better_side, (right - 4, top - 24), corner(HPos::Right)))?;

    for (i, c) in forest.comparisons.iter().enumerate() {
        let y = rows - i as f64 - 0.5;
        let (_, py) = chart.backend_coord(&(x_lo, y));
        let name_style = ("sans-serif", LABEL_FONT)
            .into_font()
            .style(FontStyle::Bold)
            .color(&INK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(c.treatment.clone(), (left - 10, py), name_style))?;
        let text_style = ("sans-serif", LABEL_FONT)
            .into_font()
            .color(&INK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        let interval = scale.interval(c);
        let Some(estimate) = interval.estimate else {
            let style = text_style.color(&NEUTRAL);
            root.draw(&Text::new("undefined", (right + 20, py), style))?;
            continue;
        };
        let colour = colour(c.status);
        let lower = interval.ci_lower.unwrap_or(x_lo).max(x_lo);
        let upper = interval.ci_upper.unwrap_or(x_hi).min(x_hi);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(lower, y), (upper, y)],
            colour.stroke_width(3),
        )))?;
        for (end, at) in [(interval.ci_lower, lower), (interval.ci_upper, upper)] {
            if end.is_some() {
                chart.draw_series(std::iter::once(
                    EmptyElement::at((at, y))
                        + PathElement::new(vec![(0, -8), (0, 8)], colour.stroke_width(3)),
                ))?;
            } else {
                // An unbounded (one-sided) end: an arrow head pointing off the plot.
                let dir = if at <= estimate { -1 } else { 1 };
                chart.draw_series(std::iter::once(
                    EmptyElement::at((at, y))
                        + Polygon::new(vec![(dir * 10, 0), (0, -7), (0, 7)], colour.filled()),
                ))?;
            }
        }
        chart.draw_series(std::iter::once(
            EmptyElement::at((estimate, y))
                + Circle::new((0, 0), 7, WHITE.filled())
                + Circle::new((0, 0), 6, colour.filled()),
        ))?;
        root.draw(&Text::new(
            format!("{} {}", scale.value(estimate), scale.interval_text(interval)),
            (right + 20, py),
            text_style,
        ))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_signed_percentages_or_numbers() {
        assert_eq!(tick(Scale::Relative, 0.025), "+2.5%");
        assert_eq!(tick(Scale::Relative, -0.1), "\u{2212}10%");
        assert_eq!(tick(Scale::Relative, 1e-17), "0%");
        assert_eq!(tick(Scale::Absolute, 1.25), "+1.25");
    }
}
