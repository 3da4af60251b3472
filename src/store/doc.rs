//! What is stored per stack: the state document and journal entries.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::HookStage;
use crate::rollout::{Color, Status, Weights};

/// Everything cutover remembers about a stack.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StackDoc {
    pub status: Status,
    /// Version deployed on each colour.
    #[serde(default)]
    pub versions: BTreeMap<Color, String>,
    /// Provider artefact per colour (ECS task definition ARN, SageMaker model name).
    #[serde(default)]
    pub artifacts: BTreeMap<Color, String>,
    /// The weights cutover last wrote and read back.
    #[serde(default)]
    pub weights: Option<Weights>,
    /// Last validation failure or rollback reason, for `status`.
    #[serde(default)]
    pub last_error: Option<String>,
    /// A transition recorded before its actions ran (write-ahead). A run that
    /// finds one repairs it: it finishes it if AWS shows its weights, drops it
    /// if AWS still shows the old ones.
    #[serde(default)]
    pub pending: Option<Pending>,
    /// The last candidate version that was rolled back or failed validation;
    /// `promote --auto-deploy` does not redeploy it.
    #[serde(default)]
    pub rejected: Option<String>,
    /// The last comparison of candidate and live outputs.
    #[serde(default)]
    pub compare: Option<crate::compare::Report>,
    /// The last verdict of the metric judge.
    #[serde(default)]
    pub judge: Option<crate::judge::JudgeReport>,
    /// The shadow phase of this rollout (`[shadow]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowReport>,
    /// The A/B experiment of this rollout (`[experiment]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<crate::judge::ab::ExperimentReport>,
    /// Probe rounds that failed in a row (kept across `promote` ticks).
    #[serde(default)]
    pub probe_streak: u32,
    /// Registered model of each colour deployed from the registry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<Color, String>,
    /// SageMaker model package ARN of each colour deployed from a package group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub packages: BTreeMap<Color, String>,
    /// A registry alias move that traffic already made due but MLflow has not
    /// yet taken (it failed, or the run died); the next run retries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_owed: Option<AliasMove>,
    /// Hook stages still to run (write-ahead, like `pending`): post-* stages
    /// are recorded with the transition that makes them due and run again by
    /// the next run if this one dies before they finish; pre-* stages are
    /// recorded while they run and simply run again before what they guard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks_due: Vec<HookStage>,
    /// The step being attempted and when its first attempt began (ms), until
    /// its weights are written: `step_timeout` counts from there, across ticks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_attempt: Option<(usize, u64)>,
}

/// What the shadow phase saw, for `status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShadowReport {
    pub candidate: Color,
    pub sampling: u8,
    /// Requests mirrored to the shadow during the phase (its Invocations).
    pub requests: u64,
    /// "pass" or "fail" once the phase ended; None while it runs.
    pub verdict: Option<String>,
    /// When the phase began (ms).
    pub started: u64,
}

/// Point `alias` of registered `model` at `version`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AliasMove {
    pub model: String,
    pub alias: String,
    pub version: String,
    /// Why the last attempt failed, for `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl std::fmt::Display for AliasMove {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MLflow alias {}@{} -> version {}",
            self.model, self.alias, self.version
        )
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Pending {
    pub status: Status,
    pub weights: Option<Weights>,
    pub note: String,
    pub event: String,
    #[serde(default)]
    pub retire: Option<Color>,
    /// The registry alias move this transition owes once its weights hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasMove>,
    /// Hook stages due once this transition has taken effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks_after: Vec<HookStage>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JournalEntry {
    pub at: u64,
    pub event: String,
    pub detail: String,
    #[serde(default)]
    pub phase: String,
    #[serde(default)]
    pub weights: Option<Weights>,
}
