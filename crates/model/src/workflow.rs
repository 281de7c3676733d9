//! Rollouts and A/B tests: the resources people manage, with their lifecycle.

use crate::flag::{BucketRange, DEFAULT_TARGETING_KEY_SELECTOR, MaterializationSpec};
use crate::fraction::Fraction;
use crate::segment::Allocation;
use crate::targeting::Targeting;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a rollout or A/B test is in its lifecycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkflowState {
    /// Being prepared; serves nothing.
    #[default]
    Draft,
    /// Serving.
    Live,
    /// Serving, frozen: the reach no longer follows the schedule.
    Paused,
    /// Over; serves nothing.
    Ended,
}

impl WorkflowState {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowState::Draft => "DRAFT",
            WorkflowState::Live => "LIVE",
            WorkflowState::Paused => "PAUSED",
            WorkflowState::Ended => "ENDED",
        }
    }

    /// Whether the engine serves the workflow in this state.
    pub fn is_serving(self) -> bool {
        matches!(self, WorkflowState::Live | WorkflowState::Paused)
    }

    /// The moves allowed from this state.
    pub fn possible_transitions(self) -> &'static [Transition] {
        use Transition::*;
        match self {
            WorkflowState::Draft => &[Launch, SetReach],
            WorkflowState::Live => &[Pause, End, SetReach],
            WorkflowState::Paused => &[Resume, End, SetReach],
            WorkflowState::Ended => &[],
        }
    }

    /// The state after `transition`, or an error naming the allowed moves.
    ///
    /// # Errors
    /// [`TransitionError`] when the move is not allowed from this state.
    pub fn after(self, transition: Transition) -> Result<WorkflowState, TransitionError> {
        if !self.possible_transitions().contains(&transition) {
            return Err(TransitionError { state: self, transition });
        }
        Ok(match transition {
            Transition::Launch | Transition::Resume => WorkflowState::Live,
            Transition::Pause => WorkflowState::Paused,
            Transition::End => WorkflowState::Ended,
            Transition::SetReach => self,
        })
    }
}

impl fmt::Display for WorkflowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lifecycle move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transition {
    /// DRAFT → LIVE.
    Launch,
    /// LIVE → PAUSED.
    Pause,
    /// PAUSED → LIVE.
    Resume,
    /// LIVE | PAUSED → ENDED.
    End,
    /// Change the reach in DRAFT, LIVE or PAUSED.
    SetReach,
}

impl Transition {
    /// The CLI verb.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Launch => "launch",
            Transition::Pause => "pause",
            Transition::Resume => "resume",
            Transition::End => "end",
            Transition::SetReach => "set-reach",
        }
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lifecycle move that the current state does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct TransitionError {
    /// The state the resource is in.
    pub state: WorkflowState,
    /// The move that was asked for.
    pub transition: Transition,
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} in state {}: ", self.transition, self.state)?;
        let allowed = self.state.possible_transitions();
        if allowed.is_empty() {
            return f.write_str("no moves are allowed");
        }
        f.write_str("allowed moves are ")?;
        for (i, t) in allowed.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(t.as_str())?;
        }
        Ok(())
    }
}

/// A gradual release of one variant of a flag (Confidence rollout).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rollout {
    /// `rollouts/{id}`.
    pub name: String,
    /// A name for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Lifecycle state.
    #[serde(default)]
    pub state: WorkflowState,
    /// The flag rolled out.
    pub flag: String,
    /// The variant given to units inside the reach.
    pub variant: String,
    /// The share of targeted units that get the variant, in `[0, 1]`.
    #[serde(default)]
    pub reach: Fraction,
    /// Who is targeted (exclusive with `segment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeting: Option<Targeting>,
    /// An existing segment to target (exclusive with `targeting`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Dot path into the context that holds the unit.
    #[serde(default = "default_selector")]
    pub targeting_key_selector: String,
    /// Reach steps over time; the latest with `from` ≤ now applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<ScheduleStep>,
    /// Sticky assignments for the rule it lowers to (spec §2.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materialization_spec: Option<MaterializationSpec>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// RFC 3339; set by every lifecycle move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
}

/// One step of a reach schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleStep {
    /// RFC 3339 instant from which this reach applies.
    pub from: String,
    /// The reach from then on.
    pub reach: Fraction,
}

fn default_selector() -> String {
    DEFAULT_TARGETING_KEY_SELECTOR.to_owned()
}

/// An A/B test: treatments of a flag split by weight (Confidence, LaunchDarkly).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AbTest {
    /// `abtests/{id}`.
    pub name: String,
    /// A name for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Lifecycle state.
    #[serde(default)]
    pub state: WorkflowState,
    /// The flag whose variants are the treatments.
    pub flag: String,
    /// The arms, in bucket order.
    #[serde(default)]
    pub treatments: Vec<Treatment>,
    /// The share of targeted units in the test, and exclusivity.
    #[serde(default)]
    pub allocation: Allocation,
    /// Ranges of allocation buckets held, written by `allocate`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allocated_ranges: Vec<BucketRange>,
    /// Who is targeted (exclusive with `segment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeting: Option<Targeting>,
    /// An existing segment to target (exclusive with `targeting`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Dot path into the context that holds the unit.
    #[serde(default = "default_selector")]
    pub targeting_key_selector: String,
    /// What the test expects to learn.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hypothesis: String,
    /// The metrics the test is judged on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<TestMetric>,
    /// Runs of the test.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iterations: Vec<Iteration>,
    /// Sticky assignments for the rule it lowers to (spec §2.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materialization_spec: Option<MaterializationSpec>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// RFC 3339; set by every lifecycle move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
}

impl AbTest {
    /// The baseline treatment, when exactly one is marked.
    pub fn baseline(&self) -> Option<&Treatment> {
        let mut baselines = self.treatments.iter().filter(|t| t.baseline);
        let first = baselines.next();
        if baselines.next().is_some() { None } else { first }
    }
}

/// One arm of an A/B test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Treatment {
    /// A variant of the test's flag.
    pub variant: String,
    /// Relative share (positive).
    #[serde(default = "unit_weight")]
    pub weight: f64,
    /// Whether this arm is the control.
    #[serde(default)]
    pub baseline: bool,
}

fn unit_weight() -> f64 {
    1.0
}

/// A metric an A/B test is judged on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestMetric {
    /// `metrics/{id}`.
    pub metric: String,
    /// Success metric or guardrail.
    #[serde(default)]
    pub kind: MetricKind,
    /// Which way is good.
    #[serde(default)]
    pub preferred_direction: Direction,
    /// The effect the test is powered for (relative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_detectable_effect: Option<f64>,
    /// The allowed deterioration of a guardrail (relative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_inferiority_margin: Option<f64>,
}

/// Whether a metric decides success or guards against harm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MetricKind {
    /// Decides success.
    #[default]
    Success,
    /// Must not get worse.
    Guardrail,
}

/// Which way of a metric is good.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    /// Higher is better.
    #[default]
    Increase,
    /// Lower is better.
    Decrease,
}

/// One run of an A/B test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Iteration {
    /// `not_started`, `running` or `stopped`.
    pub status: IterationStatus,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// The hypothesis of this run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hypothesis: String,
}

/// The status of an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IterationStatus {
    /// Not started yet.
    NotStarted,
    /// Collecting data.
    Running,
    /// Done.
    Stopped,
}

/// Lifecycle moves shared by rollouts and A/B tests.
///
/// Each move checks the transition, changes the state and sets `updateTime`
/// to `now` (RFC 3339); a refused move changes nothing.
pub trait Lifecycle {
    /// The current state.
    fn state(&self) -> WorkflowState;
    /// Applies an allowed state change and stamps `updateTime`.
    fn set_state(&mut self, state: WorkflowState, now: &str);

    /// The moves allowed now.
    fn possible_transitions(&self) -> &'static [Transition] {
        self.state().possible_transitions()
    }

    /// Applies `transition`.
    ///
    /// # Errors
    /// [`TransitionError`] naming the state and the allowed moves.
    fn apply(&mut self, transition: Transition, now: &str) -> Result<(), TransitionError> {
        let next = self.state().after(transition)?;
        self.set_state(next, now);
        Ok(())
    }

    /// DRAFT → LIVE.
    ///
    /// # Errors
    /// [`TransitionError`] from any other state.
    fn launch(&mut self, now: &str) -> Result<(), TransitionError> {
        self.apply(Transition::Launch, now)
    }

    /// LIVE → PAUSED.
    ///
    /// # Errors
    /// [`TransitionError`] from any other state.
    fn pause(&mut self, now: &str) -> Result<(), TransitionError> {
        self.apply(Transition::Pause, now)
    }

    /// PAUSED → LIVE.
    ///
    /// # Errors
    /// [`TransitionError`] from any other state.
    fn resume(&mut self, now: &str) -> Result<(), TransitionError> {
        self.apply(Transition::Resume, now)
    }

    /// LIVE | PAUSED → ENDED.
    ///
    /// # Errors
    /// [`TransitionError`] from DRAFT or ENDED.
    fn end(&mut self, now: &str) -> Result<(), TransitionError> {
        self.apply(Transition::End, now)
    }
}

impl Lifecycle for Rollout {
    fn state(&self) -> WorkflowState {
        self.state
    }
    fn set_state(&mut self, state: WorkflowState, now: &str) {
        self.state = state;
        self.update_time = Some(now.to_owned());
    }
}

impl Lifecycle for AbTest {
    fn state(&self) -> WorkflowState {
        self.state
    }
    fn set_state(&mut self, state: WorkflowState, now: &str) {
        self.state = state;
        self.update_time = Some(now.to_owned());
    }
}

impl Rollout {
    /// The reach the rollout serves at `now` and the schedule step it comes
    /// from: the latest step whose `from` ≤ now when it is `LIVE`, else (before
    /// the first step, or when paused, which freezes it) its own `reach`.
    /// Steps whose `from` is not a valid time are ignored (validation reports them).
    pub fn reach_at(&self, now: jiff::Timestamp) -> (Fraction, Option<&ScheduleStep>) {
        if self.state != WorkflowState::Live {
            return (self.reach, None);
        }
        self.schedule
            .iter()
            .filter_map(|s| Some((s.from.parse::<jiff::Timestamp>().ok()?, s)))
            .filter(|(at, _)| *at <= now)
            .max_by_key(|(at, _)| *at)
            .map_or((self.reach, None), |(_, s)| (s.reach, Some(s)))
    }

    /// Sets the reach (DRAFT, LIVE or PAUSED) and stamps `updateTime`.
    ///
    /// Returns the previous reach. A decrease is allowed (it is the rollback
    /// path); callers should tell the user that units lose the variant.
    ///
    /// # Errors
    /// [`TransitionError`] in ENDED.
    pub fn set_reach(&mut self, reach: Fraction, now: &str) -> Result<Fraction, TransitionError> {
        self.state.after(Transition::SetReach)?;
        let previous = self.reach;
        self.reach = reach;
        self.update_time = Some(now.to_owned());
        Ok(previous)
    }
}

impl AbTest {
    /// Sets the allocation proportion (DRAFT, LIVE or PAUSED) and stamps `updateTime`.
    ///
    /// Returns the previous proportion.
    ///
    /// # Errors
    /// [`TransitionError`] in ENDED.
    pub fn set_reach(&mut self, reach: Fraction, now: &str) -> Result<Fraction, TransitionError> {
        self.state.after(Transition::SetReach)?;
        let previous = self.allocation.proportion;
        self.allocation.proportion = reach;
        self.update_time = Some(now.to_owned());
        Ok(previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(state: WorkflowState) -> Rollout {
        serde_json::from_value(serde_json::json!({
            "name": "rollouts/r", "flag": "flags/f", "variant": "on", "state": state
        }))
        .unwrap()
    }

    #[test]
    fn lifecycle_follows_the_state_machine() {
        let mut r = rollout(WorkflowState::Draft);
        assert_eq!(r.possible_transitions(), &[Transition::Launch, Transition::SetReach]);
        r.launch("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(r.state, WorkflowState::Live);
        assert_eq!(r.update_time.as_deref(), Some("2026-01-01T00:00:00Z"));
        r.pause("t2").unwrap();
        r.resume("t3").unwrap();
        r.end("t4").unwrap();
        assert_eq!(r.state, WorkflowState::Ended);
        assert!(r.possible_transitions().is_empty());
    }

    #[test]
    fn illegal_moves_name_state_and_allowed_moves() {
        let mut r = rollout(WorkflowState::Draft);
        let err = r.pause("t").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot pause in state DRAFT: allowed moves are launch, set-reach"
        );
        assert_eq!(r.state, WorkflowState::Draft);
        assert_eq!(r.update_time, None);
        let mut ended = rollout(WorkflowState::Ended);
        let err = ended.set_reach(Fraction::ONE, "t").unwrap_err();
        assert_eq!(err.to_string(), "cannot set-reach in state ENDED: no moves are allowed");
    }

    #[test]
    fn set_reach_returns_previous() {
        let mut r = rollout(WorkflowState::Live);
        let half = Fraction::new(0.5).unwrap();
        assert_eq!(r.set_reach(half, "t").unwrap(), Fraction::ZERO);
        assert_eq!(r.set_reach(Fraction::ZERO, "t").unwrap(), half);
    }
}
