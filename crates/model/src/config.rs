//! The config document that holds every resource.

use crate::experiment::Experiment;
use crate::flag::Flag;
use crate::segment::{Segment, TargetGroup};
use crate::workflow::{AbTest, Rollout};
use serde::{Deserialize, Serialize};

/// The allocation salt used when a config names none.
pub const DEFAULT_ALLOCATION_SALT: &str = "flagstone";

/// A whole configuration: every resource an engine serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Salt of the allocation hash (spec §2.6).
    #[serde(default = "default_salt")]
    pub allocation_salt: String,
    /// Flags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
    /// Segments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// CloudBees target groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_groups: Vec<TargetGroup>,
    /// Rollouts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<Rollout>,
    /// A/B tests.
    #[serde(default, rename = "abtests", skip_serializing_if = "Vec::is_empty")]
    pub abtests: Vec<AbTest>,
    /// CloudBees experiments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub experiments: Vec<Experiment>,
}

fn default_salt() -> String {
    DEFAULT_ALLOCATION_SALT.to_owned()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allocation_salt: default_salt(),
            flags: Vec::new(),
            segments: Vec::new(),
            target_groups: Vec::new(),
            rollouts: Vec::new(),
            abtests: Vec::new(),
            experiments: Vec::new(),
        }
    }
}
