//! `flagstone allocate`: give unallocated segments and A/B tests their
//! allocation buckets (spec §2.6).

use crate::edit::{Mode, save};
use crate::exit::bad_input;
use crate::input::load_config;
use clap::Args;
use flagstone_model::allocate::{AllocationReport, allocate};
use std::path::PathBuf;

/// Arguments of `flagstone allocate`.
#[derive(Debug, Args)]
pub struct AllocateArgs {
    /// The config file (JSON).
    #[arg(long)]
    config: PathBuf,
    /// Write the result back to the file (atomically); without it, print the diff.
    #[arg(long)]
    write: bool,
}

/// Prints one line per placement and a count, then the diff of the config
/// (or, with `--write`, replaces the file).
///
/// # Errors
/// Bad input (exit 2) when the config does not parse, an item does not fit
/// (the message names the holders) or the result does not validate.
pub fn run(args: &AllocateArgs) -> anyhow::Result<()> {
    let before = load_config(&args.config)?;
    let mut after = before.clone();
    let report =
        allocate(&mut after).map_err(|e| bad_input(format!("{}: {e}", args.config.display())))?;
    print!("{}", summary(&report));
    if report.placements.is_empty() {
        println!("{}: nothing to allocate; unchanged", args.config.display());
        return Ok(());
    }
    let mode = if args.write { Mode::Write } else { Mode::Preview };
    save(&args.config, &before, &after, mode)?;
    if args.write {
        println!("wrote {}", args.config.display());
    }
    Ok(())
}

/// `abtests[0] abtests/t: 300000 buckets [0, 300000)` per placement, then counts.
fn summary(report: &AllocationReport) -> String {
    let mut out = String::new();
    for p in &report.placements {
        out.push_str(&format!("{} {}: {} buckets", p.path, p.name, p.n_buckets));
        for r in &p.ranges {
            out.push_str(&format!(" [{}, {})", r.lower, r.upper));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "{} placed, {} unchanged\n",
        report.placements.len(),
        report.n_unchanged
    ));
    out
}
