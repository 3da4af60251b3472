//! Gates: the checks that decide whether the candidate goes on. Each gate
//! says at which stages it runs and gives a typed verdict; the drive turns
//! `Fail` into `Event::GateFailed` (failed validation before traffic, a
//! rollback after) and `Hold` into `Event::Hold`. A new gate is one file
//! here plus one line in `registered`.
mod compare;
mod experiment;
mod judge;
mod post_deploy;
mod probe;
mod shadow;
mod validate;

use futures::future::LocalBoxFuture;

use super::ctx::Ctx;
use crate::error::Result;
use crate::rollout::{Action, Cause, Color, Event, Outcome, Phase, Transition};
use crate::store::{now_ms, StackDoc};

/// What a gate decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Stop: the candidate fails (the reason, in the user's words).
    Fail(String),
    /// Not decided: hold the step for one more bake.
    Hold(String),
    /// Undecided, and the policy is to pause until a person decides.
    Pause(String),
    /// Not decided yet, and no fault (an experiment short of samples): ask
    /// again after the poll interval, the step unchanged.
    Wait(String),
}

/// When a gate runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// After deploy, before the candidate gets any traffic.
    BeforeTraffic,
    /// During bakes, every `probe_interval` (`shift`) or once per tick (`promote`).
    DuringBake,
    /// At the end of each bake, before the next step.
    BakeEnd,
}

/// The colours a gate looks at.
#[derive(Clone, Debug)]
pub struct Subject {
    pub candidate: Color,
    /// The colour serving production, if any.
    pub live: Option<Color>,
    /// The candidate's version.
    pub version: String,
}

/// One gate.
pub trait Gate {
    /// The cause a stop by this gate records (`status`: `stopped_by`).
    fn cause(&self) -> Cause;
    /// Whether this gate runs at `stage` with this config.
    fn runs_at(&self, ctx: &Ctx<'_>, stage: Stage) -> bool;
    /// Judges the candidate; reports it keeps (compare, judge) go into `doc`.
    fn check<'a>(
        &'a self,
        ctx: &'a Ctx<'_>,
        doc: &'a mut StackDoc,
        stage: Stage,
        on: &'a Subject,
    ) -> LocalBoxFuture<'a, Result<Verdict>>;
}

/// Every gate, in the order they run at a stage.
pub fn registered() -> Vec<Box<dyn Gate>> {
    vec![
        Box::new(validate::Validate),
        Box::new(shadow::Shadow),
        Box::new(experiment::Experiment),
        Box::new(compare::Compare),
        Box::new(probe::Probe),
        Box::new(judge::Judge),
        Box::new(post_deploy::PostDeploy),
    ]
}

/// Runs the gates of `stage` in order; the first verdict that is not `Pass`
/// wins, with the gate's cause.
pub async fn run_stage(
    ctx: &Ctx<'_>,
    doc: &mut StackDoc,
    stage: Stage,
    on: &Subject,
) -> Result<(Verdict, Cause)> {
    for g in registered() {
        if !g.runs_at(ctx, stage) {
            continue;
        }
        let v = g.check(ctx, doc, stage, on).await?;
        if v != Verdict::Pass {
            return Ok((v, g.cause()));
        }
    }
    Ok((Verdict::Pass, Cause::Validation))
}

/// Whether any gate runs during bakes (probes).
pub fn any_during_bake(ctx: &Ctx<'_>) -> bool {
    registered()
        .iter()
        .any(|g| g.runs_at(ctx, Stage::DuringBake))
}

/// The rollout's subject: candidate, live, version.
pub fn subject(doc: &StackDoc) -> Option<Subject> {
    let c = doc.status.candidate?;
    Some(Subject {
        candidate: c,
        live: doc.status.live,
        version: doc.versions.get(&c).cloned().unwrap_or_default(),
    })
}

/// The machine event for a verdict that is not `Pass`.
pub fn event_of(v: Verdict, cause: Cause) -> Option<Event> {
    match v {
        Verdict::Pass | Verdict::Wait(_) => None,
        Verdict::Fail(reason) => Some(Event::GateFailed { cause, reason }),
        Verdict::Hold(reason) => Some(Event::Hold {
            reason,
            now: now_ms(),
        }),
        Verdict::Pause(reason) => Some(Event::HoldPause {
            reason,
            now: now_ms(),
        }),
    }
}

/// Whether `t` is the next step of a rollout under way (the end of a bake).
/// A pause at the end of a bake counts too: the gates judge the bake first.
pub fn is_next_step(doc: &StackDoc, t: &Transition) -> bool {
    t.outcome == Outcome::Changed
        && doc.status.baking()
        && (t.status.phase == Phase::Paused
            || (t.actions.iter().any(|a| matches!(a, Action::SetWeights(_)))
                && t.status.weight > doc.status.weight))
}

/// The journal event name of a committed transition.
pub fn event_name(t: &Transition, fallback: &'static str) -> &'static str {
    match &t.outcome {
        Outcome::AutoRolledBack(_) => "auto-rollback",
        Outcome::Stopped(_) => "gate-rollback",
        _ if t.status.held && t.actions.is_empty() => "hold",
        _ if t.status.hold_reason.is_some() && t.actions.is_empty() => "hold",
        _ => fallback,
    }
}

/// The error a rollback by an alarm or a gate ends the command with (exit 3).
pub fn stopped_error(t: &Transition, doc: &StackDoc) -> Option<crate::error::Error> {
    let live = doc.status.live.map(|c| c.as_str()).unwrap_or("?");
    match &t.outcome {
        Outcome::AutoRolledBack(names) => Some(crate::error::safety(format!(
            "alarm {} in ALARM: rolled back, {live} at 100%",
            names.join(", ")
        ))),
        Outcome::Stopped(reason) => Some(crate::error::safety(format!(
            "{reason}: rolled back, {live} at 100%"
        ))),
        _ => None,
    }
}
