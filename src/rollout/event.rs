//! The events the rollout machine takes (`machine::apply`).
use super::colors::Color;
use super::status::Cause;

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A deploy is about to replace what runs on `color` (written before the
    /// provider call, so a failed or killed deploy never leaves an unvalidated
    /// version looking ready, nor a replaced colour looking like a rollback target).
    DeployStarted {
        color: Color,
    },
    /// The candidate is healthy and passed validation (or there is none to run).
    Deployed {
        color: Color,
    },
    ValidationFailed {
        color: Color,
    },
    /// Scheduled tick: start, advance, roll back on `firing`, or retire, when due.
    Tick {
        now: u64,
        firing: Vec<String>,
    },
    /// `shift --to P`.
    ShiftTo {
        percent: u8,
        now: u64,
        firing: Vec<String>,
    },
    /// Manual rollback.
    Rollback {
        now: u64,
    },
    /// The judge could not decide at the end of a bake: bake once more,
    /// then it counts as a failure.
    Hold {
        reason: String,
        now: u64,
    },
    /// A gate could not decide and its policy is to hold (`on_inconclusive =
    /// "hold"`): pause at the step, with the reason, until `continue` or `rollback`.
    HoldPause {
        reason: String,
        now: u64,
    },
    /// `cutover continue`: pass the pause and apply the next step now.
    Continue {
        now: u64,
        firing: Vec<String>,
    },
    /// A gate failed (validation, comparison, probes, the judge, a gating
    /// hook): before traffic the candidate fails validation, after traffic
    /// the rollout rolls back (`Outcome::Stopped`).
    GateFailed {
        cause: Cause,
        reason: String,
    },
}

impl Event {
    /// The cause this event gives a stop it brings about (alarms and pause
    /// timers are told by the transition's outcome instead).
    pub fn cause(&self) -> Option<Cause> {
        match self {
            Event::GateFailed { cause, .. } => Some(*cause),
            Event::ValidationFailed { .. } => Some(Cause::Validation),
            Event::Rollback { .. } => Some(Cause::Manual),
            Event::Hold { .. } => Some(Cause::Inconclusive),
            _ => None,
        }
    }
}
