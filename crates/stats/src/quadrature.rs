//! Deterministic adaptive quadrature (Gauss–Kronrod 7/15, as in QUADPACK's QAG): the engine
//! behind P(best) and the Bayesian interval inversions. No sampling, so results are
//! reproducible bit for bit.

const XGK: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_4,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_5,
    0.0,
];
const WGK: [f64; 8] = [
    0.022_935_322_010_529_22,
    0.063_092_092_629_978_55,
    0.104_790_010_322_250_18,
    0.140_653_259_715_525_92,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_4,
    0.204_432_940_075_298_9,
    0.209_482_141_084_727_83,
];
const WG: [f64; 4] = [
    0.129_484_966_168_869_7,
    0.279_705_391_489_276_7,
    0.381_830_050_505_118_9,
    0.417_959_183_673_469_4,
];

#[derive(Clone, Copy)]
struct Segment {
    a: f64,
    b: f64,
    value: f64,
    error: f64,
}

fn kronrod<F: FnMut(f64) -> f64>(f: &mut F, a: f64, b: f64) -> Segment {
    let center = 0.5 * (a + b);
    let half = 0.5 * (b - a);
    let fc = f(center);
    let mut kronrod = fc * WGK[7];
    let mut gauss = fc * WG[3];
    for j in 0..7 {
        let dx = half * XGK[j];
        let sum = f(center - dx) + f(center + dx);
        kronrod += WGK[j] * sum;
        if j % 2 == 1 {
            gauss += WG[j / 2] * sum;
        }
    }
    Segment { a, b, value: kronrod * half, error: ((kronrod - gauss) * half).abs() }
}

/// `∫ f` over the panels `breaks[0]..breaks[1]..…`, bisecting the panel with the largest
/// error estimate until the total estimate is below `abs_tol` (or 2 000 panels).
pub(crate) fn integrate<F: FnMut(f64) -> f64>(f: F, breaks: &[f64], abs_tol: f64) -> f64 {
    integrate_to_grain(f, breaks, abs_tol, 0.0)
}

/// [`integrate`], keeping panels no narrower than `grain`: an integrand that reads its
/// argument through a rounding `x + v` is a staircase with steps `ε|v|` apart, which no
/// narrower panel resolves (each step would otherwise be bisected down to the f64 spacing
/// of `x`).
pub(crate) fn integrate_to_grain<F: FnMut(f64) -> f64>(
    mut f: F,
    breaks: &[f64],
    abs_tol: f64,
    grain: f64,
) -> f64 {
    let mut segments: Vec<Segment> = breaks
        .windows(2)
        .filter_map(|w| match w {
            [a, b] if b > a => Some(kronrod(&mut f, *a, *b)),
            _ => None,
        })
        .collect();
    for _ in 0..2000 {
        let total_error: f64 = segments.iter().map(|s| s.error).sum();
        if total_error <= abs_tol {
            break;
        }
        let worst = segments
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.error.total_cmp(&y.1.error))
            .map(|(i, _)| i);
        let Some(worst) = worst else { break };
        let s = segments.swap_remove(worst);
        let mid = 0.5 * (s.a + s.b);
        if mid <= s.a || mid >= s.b || s.b - s.a <= grain {
            // The panel cannot be split further in f64; keep its estimate.
            segments.push(Segment { error: 0.0, ..s });
            continue;
        }
        segments.push(kronrod(&mut f, s.a, mid));
        segments.push(kronrod(&mut f, mid, s.b));
    }
    let mut sum = crate::numeric::CompensatedSum::default();
    for s in &segments {
        sum.add(s.value);
    }
    sum.value()
}

/// `n + 1` evenly spaced break points from `a` to `b`.
pub(crate) fn even_breaks(a: f64, b: f64, n: u32) -> Vec<f64> {
    (0..=n).map(|i| a + (b - a) * f64::from(i) / f64::from(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_smooth_and_peaked_functions() {
        let v = integrate(|x| x.sin(), &[0.0, std::f64::consts::PI], 1e-14);
        assert!((v - 2.0).abs() < 1e-13);
        // A narrow Gaussian inside a wide interval: adaptivity finds it.
        let s = 1e-4;
        let v = integrate(
            |x: f64| {
                (-0.5 * ((x - 0.3) / s).powi(2)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt())
            },
            &even_breaks(0.0, 1.0, 16),
            1e-12,
        );
        assert!((v - 1.0).abs() < 1e-10, "{v}");
    }
}
