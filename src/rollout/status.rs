//! Where a rollout is (stored in the state table) and what it may do (the config).
use serde::{Deserialize, Serialize};

use super::colors::{Color, Weights};

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Idle,
    Ready,
    /// The candidate runs as a shadow (`[shadow]`): a copy of requests, no users.
    Shadowing,
    FailedValidation,
    Shifting,
    /// Held at a `"pause"` step until `cutover continue`; weights unchanged.
    Paused,
    /// Holding an A/B split (`[experiment]`) until the experiment decides.
    Experimenting,
    Complete,
    RolledBack,
    Retired,
}

impl Phase {
    pub const ALL: [Phase; 10] = [
        Phase::Idle,
        Phase::Ready,
        Phase::Shadowing,
        Phase::FailedValidation,
        Phase::Shifting,
        Phase::Paused,
        Phase::Experimenting,
        Phase::Complete,
        Phase::RolledBack,
        Phase::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Ready => "ready",
            Phase::Shadowing => "shadowing",
            Phase::FailedValidation => "failed_validation",
            Phase::Shifting => "shifting",
            Phase::Paused => "paused",
            Phase::Experimenting => "experimenting",
            Phase::Complete => "complete",
            Phase::RolledBack => "rolled_back",
            Phase::Retired => "retired",
        }
    }

    /// A rollout is under way: a candidate exists and a tick may have work to do.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Phase::Ready
                | Phase::Shadowing
                | Phase::Shifting
                | Phase::Paused
                | Phase::Experimenting
                | Phase::Complete
                | Phase::FailedValidation
        )
    }

    /// Stopped: rolled back, or the candidate rejected before any traffic.
    pub fn stopped(self) -> bool {
        matches!(self, Phase::RolledBack | Phase::FailedValidation)
    }

    /// A rollout that may still move: `shift --to` and `rollback` apply.
    pub fn moving(self) -> bool {
        matches!(
            self,
            Phase::Ready
                | Phase::Shadowing
                | Phase::Shifting
                | Phase::Paused
                | Phase::Experimenting
        )
    }

    /// The candidate holds a share of traffic set by the rollout (possibly 0%).
    fn candidate_weighted(self) -> bool {
        matches!(
            self,
            Phase::Ready
                | Phase::Shadowing
                | Phase::Shifting
                | Phase::Paused
                | Phase::Experimenting
                | Phase::FailedValidation
        )
    }
}

/// What the rollout is allowed to do: fixed by the config.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spec {
    pub steps: Vec<u8>,
    /// The timed ones among `pauses`.
    pub pause_timers: PauseTimers,
    /// A rolled-back candidate is scaled to 0 this long after the rollback.
    pub scale_down_after_ms: Option<u64>,
    /// Pauses, each given as the number of steps applied before it
    /// (0: before any traffic). `[10, "pause", 50, 100]` has pauses `[1]`.
    pub pauses: Vec<usize>,
    pub bake_ms: u64,
    pub termination_wait_ms: u64,
    /// Connection draining (ECS: the target groups' deregistration delay; else 0).
    pub drain_ms: u64,
    /// `[experiment]`: the step that holds the A/B split, and its least
    /// duration (ms); the experiment gate decides when it ends.
    pub experiment: Option<(usize, u64)>,
    /// `[shadow]`: how long the shadow phase lasts (ms) before any weight moves.
    pub shadow_ms: Option<u64>,
}

/// Timed pauses: (pause position, how long in ms, what then).
pub type PauseTimers = Vec<(usize, u64, Then)>;

/// Why a rollout stopped: the typed reason of a rollback or a rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Deploy's validation before traffic.
    Validation,
    /// The shadow gate (no mirrored requests judged).
    Shadow,
    /// The A/B experiment's decision.
    Experiment,
    /// `[compare]`.
    Compare,
    /// Probes during bakes.
    Probe,
    /// The statistical judge.
    Judge,
    /// A gating hook.
    Hook,
    /// `step_timeout`.
    Stuck,
    /// A gate that could not decide, twice.
    Inconclusive,
    /// A timed pause whose time was up (`then = "rollback"`).
    PauseTimer,
    /// A CloudWatch alarm.
    Alarm,
    /// `cutover rollback`.
    Manual,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Validation => "validation",
            Cause::Shadow => "shadow",
            Cause::Experiment => "experiment",
            Cause::Compare => "compare",
            Cause::Probe => "probe",
            Cause::Judge => "judge",
            Cause::Hook => "hook",
            Cause::Stuck => "stuck",
            Cause::Inconclusive => "inconclusive",
            Cause::PauseTimer => "pause_timer",
            Cause::Alarm => "alarm",
            Cause::Manual => "manual",
        }
    }
}

/// What a timed pause does when its time is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Then {
    Continue,
    Rollback,
}

impl Then {
    pub fn as_str(self) -> &'static str {
        match self {
            Then::Continue => "continue",
            Then::Rollback => "rollback",
        }
    }
}

/// Where the rollout is: stored in the state table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Status {
    /// The colour serving production; None before the first deploy.
    pub live: Option<Color>,
    pub phase: Phase,
    /// The colour being (or last) rolled out.
    pub candidate: Option<Color>,
    /// Steps of this rollout, taken from the config when it starts.
    pub steps: Vec<u8>,
    /// Pauses of this rollout not yet passed (see `Spec::pauses`).
    #[serde(default)]
    pub pauses: Vec<usize>,
    /// Steps applied so far (0 before the first).
    pub step: usize,
    /// Candidate weight now.
    pub weight: u8,
    /// When the current step was applied (ms).
    pub step_at: Option<u64>,
    /// When the candidate reached 100% (ms): the old colour's weight reached 0.
    pub complete_at: Option<u64>,
    /// The current step's bake was extended once (an inconclusive judge).
    #[serde(default)]
    pub held: bool,
    /// This rollout's timed pauses (see `Spec::pause_timers`).
    #[serde(default)]
    pub pause_timers: PauseTimers,
    /// When the rollout was paused (ms).
    #[serde(default)]
    pub paused_at: Option<u64>,
    /// Why it is held (a gate that could not decide, `on_inconclusive = "hold"`).
    #[serde(default)]
    pub hold_reason: Option<String>,
    /// When the rollout was rolled back (ms), while it stays rolled back.
    #[serde(default)]
    pub rolled_back_at: Option<u64>,
    /// The rolled-back candidate has been scaled to 0 (or a deploy onto it
    /// began): no scale-down is owed.
    #[serde(default)]
    pub scaled_down: bool,
    /// This rollout's experiment step and least duration (see `Spec::experiment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<(usize, u64)>,
    /// This rollout's shadow phase (ms), until it has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_ms: Option<u64>,
    /// Why it stopped, while rolled back or failed validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<Cause>,
}

impl Status {
    /// When a rolled-back (or rejected) candidate is due to be scaled to 0,
    /// if it will be.
    pub fn scale_down_due(&self, spec: &Spec) -> Option<u64> {
        let after = spec.scale_down_after_ms?;
        if !self.phase.stopped() || self.scaled_down || self.candidate.is_none() {
            return None;
        }
        Some(
            self.rolled_back_at
                .unwrap_or(0)
                .saturating_add(after.max(spec.drain_ms)),
        )
    }

    /// A timed pause's deadline and what follows, while paused at one.
    pub fn pause_deadline(&self) -> Option<(u64, Then)> {
        if self.phase != Phase::Paused {
            return None;
        }
        let (ms, then) = self.pause_timer()?;
        Some((self.paused_at?.saturating_add(ms), then))
    }

    /// The timed pause at the current step, if it is one: (ms, then).
    pub fn pause_timer(&self) -> Option<(u64, Then)> {
        self.pause_timers
            .iter()
            .find(|(p, _, _)| *p == self.step)
            .map(|(_, ms, then)| (*ms, *then))
    }

    /// The weights this status implies. None before the first deploy.
    pub fn weights(&self) -> Option<Weights> {
        let live = self.live?;
        match self.candidate {
            Some(c) if self.phase.candidate_weighted() => Some(Weights::split(c, self.weight)),
            _ => Some(Weights::all(live)),
        }
    }

    /// Shadowing, shifting or experimenting: a phase with a bake whose end
    /// the gates judge.
    pub fn baking(&self) -> bool {
        matches!(
            self.phase,
            Phase::Shadowing | Phase::Shifting | Phase::Experimenting
        )
    }

    /// The colour that would take traffic back on rollback.
    pub fn stable(&self) -> Option<Color> {
        match (self.phase, self.candidate) {
            (Phase::Complete, Some(c)) => Some(c.other()),
            _ => self.live,
        }
    }

    /// The colour a deploy would go onto.
    pub fn idle_color(&self) -> Color {
        self.live.map(Color::other).unwrap_or(Color::Blue)
    }

    /// The candidate while a rollout is under way.
    pub fn active_candidate(&self) -> Option<Color> {
        self.candidate.filter(|_| self.phase.is_active())
    }
}
