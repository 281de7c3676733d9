//! `flagstone rollout …` and `flagstone abtest …`: lifecycle moves on a config file.
//!
//! Each verb finds the resource by full name or id, checks the move against
//! the lifecycle (spec §1), stamps `updateTime`, validates the whole
//! config and writes it atomically; `--dry-run` prints the diff instead.
//!
//! Decisions:
//! - Pausing a `LIVE` rollout with a schedule first sets `reach` to the
//!   schedule's reach in force at the time of the move, so the pause freezes
//!   what units get (spec §2.5). The schedule is kept and governs again
//!   after `resume`.
//! - A move that lowers the reach a rollout serves (`set-reach`, or `resume`
//!   onto a lower scheduled step) prints a warning; so does an A/B test
//!   `set-reach` that lowers its proportion.
//! - `set-reach` on a `LIVE` rollout whose schedule is in force changes
//!   `reach`, which the schedule overrides until the rollout is paused; the
//!   command says so.
//! - `abtest set-reach` sets the allocation proportion. A test with
//!   `allocatedRanges` is resized in place (see
//!   [`flagstone_model::allocate::resize`]): units it keeps stay in it.
//! - `abtest launch` starts an iteration (the first `not_started` one, else
//!   a new `running` one carrying the test's hypothesis) and `abtest end`
//!   stops the running one, with `startedAt` / `endedAt` at the time of the
//!   move; pause and resume keep the iteration.
//! - `--now` sets the time of the move (default: the system clock, to the
//!   second); it stamps `updateTime` and picks the schedule step a pause
//!   freezes.

use crate::edit::{Mode, save};
use crate::exit::bad_input;
use crate::input::load_config;
use clap::{Args, Subcommand};
use flagstone_model::Config;
use flagstone_model::allocate::{AllocationTarget, resize};
use flagstone_model::fraction::Fraction;
use flagstone_model::names::Collection;
use flagstone_model::validate::WarningKind;
use flagstone_model::workflow::{
    AbTest, Iteration, IterationStatus, Lifecycle, Rollout, Transition,
};
use jiff::Timestamp;
use std::path::{Path, PathBuf};

/// Arguments of `flagstone rollout`.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    verb: Verb,
}

/// Arguments of `flagstone abtest`.
#[derive(Debug, Args)]
pub struct AbTestArgs {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// DRAFT → LIVE.
    Launch(Target),
    /// LIVE → PAUSED (a scheduled rollout's reach is frozen at its current step).
    Pause(Target),
    /// PAUSED → LIVE.
    Resume(Target),
    /// LIVE | PAUSED → ENDED.
    End(Target),
    /// Set the reach (rollout) or allocation proportion (A/B test), in [0, 1].
    SetReach(SetReachArgs),
}

#[derive(Debug, Args)]
struct Target {
    /// Full name (`rollouts/new-checkout`) or id (`new-checkout`).
    name: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct SetReachArgs {
    /// Full name or id.
    name: String,
    /// The new share: a decimal such as 0.25.
    reach: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct Common {
    /// The config file (JSON), rewritten atomically.
    #[arg(long)]
    config: PathBuf,
    /// Print the diff of the config and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The time of the move, RFC 3339 (default: now).
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rollout,
    AbTest,
}

/// Runs `flagstone rollout VERB`.
///
/// # Errors
/// Bad input (exit 2) for an unknown name, an illegal move, a bad reach or
/// an invalid result; I/O failures (exit 1) when writing.
pub fn run_rollout(args: &RolloutArgs) -> anyhow::Result<()> {
    run(Kind::Rollout, &args.verb)
}

/// Runs `flagstone abtest VERB`.
///
/// # Errors
/// As [`run_rollout`], and bad input when a larger proportion does not fit
/// beside the tests this one is exclusive with.
pub fn run_abtest(args: &AbTestArgs) -> anyhow::Result<()> {
    run(Kind::AbTest, &args.verb)
}

/// A move asked for on the command line.
struct Move<'a> {
    transition: Transition,
    reach: Option<Fraction>,
    now: Timestamp,
    stamp: &'a str,
}

fn run(kind: Kind, verb: &Verb) -> anyhow::Result<()> {
    let (name, common, transition, reach_text) = match verb {
        Verb::Launch(t) => (&t.name, &t.common, Transition::Launch, None),
        Verb::Pause(t) => (&t.name, &t.common, Transition::Pause, None),
        Verb::Resume(t) => (&t.name, &t.common, Transition::Resume, None),
        Verb::End(t) => (&t.name, &t.common, Transition::End, None),
        Verb::SetReach(s) => (&s.name, &s.common, Transition::SetReach, Some(&s.reach)),
    };
    let file = common.config.as_path();
    let reach = reach_text.map(|text| parse_reach(text)).transpose()?;
    let now = match &common.now {
        Some(text) => text.parse::<Timestamp>().map_err(|e| {
            bad_input(format!(
                "--now {text:?}: expected an RFC 3339 time such as 2026-01-01T00:00:00Z: {e}"
            ))
        })?,
        None => Timestamp::from_second(Timestamp::now().as_second())?,
    };
    let stamp = now.to_string();
    let before = load_config(file)?;
    let mut after = before.clone();
    let idx = find(kind, &after, name).ok_or_else(|| not_found(kind, &after, file, name))?;
    let step = Move { transition, reach, now, stamp: &stamp };
    let outcome = match kind {
        Kind::Rollout => move_rollout(&mut after, idx, &step),
        Kind::AbTest => move_abtest(&mut after, idx, &step),
    }
    .map_err(|message| bad_input(format!("{}: {message}", file.display())))?;
    for note in &outcome.notes {
        eprintln!("note: {note}");
    }
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    let mode = if common.dry_run { Mode::Preview } else { Mode::Write };
    save(file, &before, &after, mode)?;
    if mode == Mode::Write {
        println!("{}; wrote {}", outcome.summary, file.display());
    }
    Ok(())
}

/// What a move did, for the user.
struct Outcome {
    summary: String,
    /// Things the move did on its own, such as freezing a scheduled reach.
    notes: Vec<String>,
    /// Things that may hurt, such as units losing a variant.
    warnings: Vec<String>,
}

/// A share in `[0, 1]`, written as a decimal (`0.25`).
fn parse_reach(text: &str) -> anyhow::Result<Fraction> {
    let fraction: Fraction = serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|e| bad_input(format!("REACH {text:?}: {e}")))?;
    if !fraction.is_unit_interval() {
        return Err(bad_input(format!("REACH {text:?}: expected a share in [0, 1]")));
    }
    Ok(fraction)
}

fn find(kind: Kind, config: &Config, name: &str) -> Option<usize> {
    let (collection, mut names): (Collection, Box<dyn Iterator<Item = &String>>) = match kind {
        Kind::Rollout => (Collection::Rollouts, Box::new(config.rollouts.iter().map(|r| &r.name))),
        Kind::AbTest => (Collection::AbTests, Box::new(config.abtests.iter().map(|t| &t.name))),
    };
    let full = collection.full_name(name);
    names.position(|n| *n == *full)
}

fn not_found(kind: Kind, config: &Config, file: &Path, name: &str) -> anyhow::Error {
    let (noun, names): (&str, Vec<&str>) = match kind {
        Kind::Rollout => ("rollout", config.rollouts.iter().map(|r| r.name.as_str()).collect()),
        Kind::AbTest => ("A/B test", config.abtests.iter().map(|t| t.name.as_str()).collect()),
    };
    let known = if names.is_empty() { "none are defined".to_owned() } else { names.join(", ") };
    bad_input(format!("{}: no {noun} named {name:?}: expected one of: {known}", file.display()))
}

/// The reach a rollout serves at `now` and the `from` of its step ([`Rollout::reach_at`]).
fn reach_in_force(r: &Rollout, now: Timestamp) -> (Fraction, Option<&str>) {
    let (reach, step) = r.reach_at(now);
    (reach, step.map(|s| s.from.as_str()))
}

fn move_rollout(config: &mut Config, idx: usize, m: &Move<'_>) -> Result<Outcome, String> {
    let path = format!("rollouts[{idx}]");
    let r = config.rollouts.get_mut(idx).ok_or_else(|| format!("{path}: not found"))?;
    let name = r.name.clone();
    let fail = |e: &dyn std::fmt::Display| format!("{path} ({name}): {e}");
    let state_before = r.state;
    r.state.after(m.transition).map_err(|e| fail(&e))?;
    let (served_before, _) = reach_in_force(r, m.now);
    let (mut notes, mut warnings) = (Vec::new(), Vec::new());
    match m.transition {
        Transition::Pause => {
            if let (reach, Some(from)) = reach_in_force(r, m.now) {
                if reach != r.reach {
                    notes.push(format!(
                        "{name}: reach frozen at {reach}, the schedule's step from {from} (was {})",
                        r.reach
                    ));
                }
                r.reach = reach;
            }
            r.pause(m.stamp).map_err(|e| fail(&e))?;
        }
        Transition::SetReach => {
            let reach = m.reach.unwrap_or(r.reach);
            r.set_reach(reach, m.stamp).map_err(|e| fail(&e))?;
            if let (scheduled, Some(from)) = reach_in_force(r, m.now) {
                warnings.push(format!(
                    "{name}: the schedule's step from {from} sets the reach to {scheduled} now; \
                     reach {reach} applies only before the first step and while paused"
                ));
            }
        }
        t => r.apply(t, m.stamp).map_err(|e| fail(&e))?,
    }
    let (served_after, _) = reach_in_force(r, m.now);
    let lowers = matches!(m.transition, Transition::SetReach | Transition::Resume);
    if lowers && served_after < served_before {
        let kind = WarningKind::ReachDecrease { from: served_before.get(), to: served_after.get() };
        warnings.push(format!("{name}: {kind}"));
    }
    let summary = if state_before == r.state {
        format!("{name}: {} reach {served_before} → {served_after}", r.state)
    } else {
        if r.state.is_serving() {
            format!("{name}: {state_before} → {}, reach {served_after}", r.state)
        } else {
            format!("{name}: {state_before} → {}", r.state)
        }
    };
    Ok(Outcome { summary, notes, warnings })
}

fn move_abtest(config: &mut Config, idx: usize, m: &Move<'_>) -> Result<Outcome, String> {
    let path = format!("abtests[{idx}]");
    let t = config.abtests.get_mut(idx).ok_or_else(|| format!("{path}: not found"))?;
    let name = t.name.clone();
    let state_before = t.state;
    let (mut notes, mut warnings) = (Vec::new(), Vec::new());
    let summary = if m.transition == Transition::SetReach {
        let proportion = m.reach.unwrap_or(t.allocation.proportion);
        let previous =
            t.set_reach(proportion, m.stamp).map_err(|e| format!("{path} ({name}): {e}"))?;
        if proportion < previous {
            warnings.push(format!(
                "{name}: proportion decreases from {previous} to {proportion}: units in between leave the test"
            ));
        }
        if let Some(w) = unallocated_warning(t) {
            warnings.push(w);
        }
        let resized = resize(config, AllocationTarget::AbTest(idx)).map_err(|e| e.to_string())?;
        match resized {
            Some(p) => format!(
                "{name}: proportion {previous} → {proportion}, {} allocation buckets",
                p.n_buckets
            ),
            None => format!("{name}: proportion {previous} → {proportion}"),
        }
    } else {
        t.apply(m.transition, m.stamp).map_err(|e| format!("{path} ({name}): {e}"))?;
        if let Some(note) = record_iteration(t, m.transition, m.stamp) {
            notes.push(note);
        }
        if m.transition == Transition::Launch
            && let Some(w) = unallocated_warning(t)
        {
            warnings.push(w);
        }
        format!("{name}: {state_before} → {}", t.state)
    };
    Ok(Outcome { summary, notes, warnings })
}

/// A test exclusive with others but without ranges holds the buckets below
/// its proportion, which may overlap theirs until `allocate` places it.
fn unallocated_warning(t: &AbTest) -> Option<String> {
    let exclusive =
        !(t.allocation.exclusivity_tags.is_empty() && t.allocation.exclusive_to.is_empty());
    (exclusive && t.allocated_ranges.is_empty()).then(|| {
        format!(
            "{}: no allocatedRanges yet: it holds the allocation buckets below its proportion, \
             which tests it is exclusive with may share; run `flagstone allocate`",
            t.name
        )
    })
}

/// Keeps the test's iterations in step with its lifecycle: `launch` starts
/// an iteration (the first `not_started` one, else a new one carrying the
/// test's hypothesis) and `end` stops the running one. Pausing freezes the
/// test within the same iteration (it keeps serving its units; see
/// `flagstone_core::lower`), so pause and resume leave the iteration be.
fn record_iteration(t: &mut AbTest, transition: Transition, stamp: &str) -> Option<String> {
    let (k, verb) = match transition {
        Transition::Launch => {
            let waiting = t.iterations.iter().position(|i| i.status == IterationStatus::NotStarted);
            let k = waiting.unwrap_or(t.iterations.len());
            if waiting.is_none() {
                t.iterations.push(Iteration {
                    status: IterationStatus::NotStarted,
                    started_at: None,
                    ended_at: None,
                    hypothesis: t.hypothesis.clone(),
                });
            }
            let it = t.iterations.get_mut(k)?;
            it.status = IterationStatus::Running;
            it.started_at = Some(stamp.to_owned());
            (k, "running since")
        }
        Transition::End => {
            let k = t.iterations.iter().rposition(|i| i.status == IterationStatus::Running)?;
            let it = t.iterations.get_mut(k)?;
            it.status = IterationStatus::Stopped;
            it.ended_at = Some(stamp.to_owned());
            (k, "stopped at")
        }
        Transition::Pause | Transition::Resume | Transition::SetReach => return None,
    };
    Some(format!("{}: iterations[{k}] {verb} {stamp}", t.name))
}
