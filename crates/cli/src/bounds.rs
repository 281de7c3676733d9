//! `flagstone bounds`: group-sequential efficacy bounds for planned looks, so that planners see
//! them before the test starts.

use crate::exit::bad_input;
use clap::Args;
use flagstone_stats::Sides;
use flagstone_stats::StatsError;
use flagstone_stats::sequential::{GroupSequentialDesign, Spending, efficacy_bounds};
use serde::Serialize;

/// Arguments of `flagstone bounds`.
#[derive(Debug, Args)]
pub struct BoundsArgs {
    /// Information fraction of each look, increasing, in (0, 1]: `0.2,0.4,0.6,0.8,1`.
    #[arg(long, value_delimiter = ',', required = true)]
    fractions: Vec<f64>,
    /// Overall significance level; two-sided tests spend alpha/2 per tail.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// 2 for symmetric two-sided bounds, 1 for one-sided.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    sides: u8,
    /// Alpha-spending function: `power:RHO` (alpha·t^RHO) or `obrien-fleming`.
    #[arg(long, default_value = "power:2")]
    spending: String,
}

/// The printed result, one entry per look; an unreachable bound (`+∞`) is `null`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BoundsOutput {
    z_bounds: Vec<Option<f64>>,
    adjusted_alpha: Vec<f64>,
    cumulative_alpha_spent: Vec<f64>,
}

fn flag_error(e: StatsError) -> anyhow::Error {
    bad_input(format!("--{e}"))
}

/// Runs `flagstone bounds`.
pub fn run(args: &BoundsArgs) -> anyhow::Result<()> {
    let spending: Spending = args.spending.parse().map_err(flag_error)?;
    let sides = if args.sides == 1 { Sides::Greater } else { Sides::TwoSided };
    let design = GroupSequentialDesign { alpha: args.alpha, sides, spending };
    let bounds = efficacy_bounds(&args.fractions, &design).map_err(flag_error)?;
    let out = BoundsOutput {
        z_bounds: bounds.z_bounds.iter().map(|z| Some(*z).filter(|z| z.is_finite())).collect(),
        adjusted_alpha: bounds.adjusted_alpha,
        cumulative_alpha_spent: bounds.cumulative_alpha_spent,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
