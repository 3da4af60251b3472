//! The rollout state machine. Pure: status + event -> new status + actions.
//! No tokio, no SDK, no clock: time comes in with the event (ms since epoch).
pub mod calendar;
mod capacity;
mod colors;
mod event;
mod machine;
#[cfg(test)]
mod pause_tests;
mod repair;
mod schedule;
mod status;

pub use capacity::{parity, retire_after_ms, retire_due, scaling, Scaling};
pub use colors::{Color, Weights};
pub use machine::{apply, not_validated, Action, Event, Outcome, Refusal, Transition};
pub use repair::{adopt, repair_decision, Repair, Seen};
pub use schedule::{fit, schedule, total_ms, PlannedStep, Timer};
pub use status::{Cause, PauseTimers, Phase, Spec, Status, Then};
