//! `flagstone power`: sample size per arm, minimum detectable effect, or achieved power.

use crate::exit::bad_input;
use clap::{Args, ValueEnum};
use flagstone_stats::Sides;
use flagstone_stats::StatsError;
use flagstone_stats::power::{
    EffectModel, PowerSpec, achieved_power, minimum_detectable_effect, sample_size_per_arm,
};
use serde_json::json;

/// Outcome type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricKind {
    /// A proportion (`--baseline`).
    Binary,
    /// A mean (`--sd`).
    Mean,
}

/// Alternative hypothesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SidesArg {
    /// Two-sided.
    TwoSided,
    /// Treatment greater than control.
    Greater,
    /// Treatment less than control.
    Less,
}

/// Arguments of `flagstone power`. Give exactly two of `--mde`, `--n`, `--power`.
#[derive(Debug, Args)]
pub struct PowerArgs {
    /// Outcome type.
    #[arg(long = "type", value_enum)]
    metric_type: MetricKind,
    /// Control proportion (binary), or control mean for a relative `--mde` (mean).
    #[arg(long)]
    baseline: Option<f64>,
    /// Per-unit standard deviation (mean).
    #[arg(long)]
    sd: Option<f64>,
    /// Significance level.
    #[arg(long)]
    alpha: f64,
    /// Alternative hypothesis.
    #[arg(long, value_enum, default_value = "two-sided")]
    sides: SidesArg,
    /// Effect to detect: absolute, or relative to the baseline with `--relative`.
    #[arg(long, allow_negative_numbers = true)]
    mde: Option<f64>,
    /// Read `--mde` (and report the MDE) relative to `--baseline`.
    #[arg(long)]
    relative: bool,
    /// Units per arm.
    #[arg(long)]
    n: Option<f64>,
    /// Target power.
    #[arg(long)]
    power: Option<f64>,
}

fn flag_error(e: StatsError) -> anyhow::Error {
    bad_input(format!("--{e}"))
}

/// Rounds the magnitude up at four significant digits, so a reported MDE is never optimistic.
fn round_up_4(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    x.signum() * (x.abs() * scale).ceil() / scale
}

/// Runs `flagstone power`.
pub fn run(args: &PowerArgs) -> anyhow::Result<()> {
    let sides = match args.sides {
        SidesArg::TwoSided => Sides::TwoSided,
        SidesArg::Greater => Sides::Greater,
        SidesArg::Less => Sides::Less,
    };
    let spec = PowerSpec { alpha: args.alpha, sides };
    let model = match args.metric_type {
        MetricKind::Binary => {
            let baseline =
                args.baseline.ok_or_else(|| bad_input("--baseline: required for --type binary"))?;
            EffectModel::Binary { baseline }
        }
        MetricKind::Mean => {
            let sd = args.sd.ok_or_else(|| bad_input("--sd: required for --type mean"))?;
            if !(sd.is_finite() && sd > 0.0) {
                return Err(bad_input(format!(
                    "--sd: expected a positive standard deviation, got {sd}"
                )));
            }
            EffectModel::Normal { control_variance: sd * sd, treatment_variance: sd * sd }
        }
    };
    let scale = if args.relative {
        let b = args.baseline.ok_or_else(|| bad_input("--baseline: required with --relative"))?;
        if !(b.is_finite() && b != 0.0) {
            return Err(bad_input(format!(
                "--baseline: expected a non-zero baseline with --relative, got {b}"
            )));
        }
        b.abs()
    } else {
        1.0
    };
    if let Some(n) = args.n
        && !(n.is_finite() && n > 0.0)
    {
        return Err(bad_input(format!(
            "--n: expected a positive number of units per arm, got {n}"
        )));
    }
    let value = match (args.mde, args.n, args.power) {
        (Some(mde), None, Some(power)) => {
            let exact =
                sample_size_per_arm(&model, mde * scale, power, &spec).map_err(flag_error)?;
            // Sample sizes far beyond u64 are not meaningful; the float is kept then.
            let ceil = exact.ceil();
            if ceil < 9e15 {
                json!({ "sampleSizePerArm": ceil as u64, "exact": exact })
            } else {
                json!({ "sampleSizePerArm": ceil, "exact": exact })
            }
        }
        (None, Some(n), Some(power)) => {
            match minimum_detectable_effect(&model, power, n, n, &spec).map_err(flag_error)? {
                Ok(delta) => {
                    let exact = delta / scale;
                    json!({ "mde": round_up_4(exact), "exact": exact })
                }
                Err(reason) => return Err(bad_input(format!("--power: {reason}"))),
            }
        }
        (Some(mde), Some(n), None) => {
            let p = achieved_power(&model, mde * scale, n, n, &spec).map_err(flag_error)?;
            json!({ "power": p })
        }
        _ => return Err(bad_input("expected exactly two of --mde, --n and --power")),
    };
    println!("{value}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_up_keeps_four_digits() {
        assert_eq!(round_up_4(0.012_345_1), 0.01235);
        assert_eq!(round_up_4(-0.012_345_1), -0.01235);
        assert_eq!(round_up_4(1234.01), 1235.0);
    }
}
