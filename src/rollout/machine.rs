//! `apply`: one event against the stored status gives the new status and the
//! actions to run. Never produces weights that do not sum to 100, never panics
//! on a bad stored state (that is a `Refusal::Corrupt`).
use super::capacity::retire_due;
use super::colors::{Color, Weights};
pub use super::event::Event;
use super::status::{Cause, Phase, Spec, Status, Then};

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Set these weights, then read them back.
    SetWeights(Weights),
    /// Before the candidate's first traffic: bring it to the live colour's
    /// current capacity and wait until that capacity is healthy.
    MatchCapacity(Color),
    /// Retire the old colour (ECS: scale to 0; SageMaker: remove the variant).
    Retire(Color),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The status changed; run the actions.
    Changed,
    /// The rollout was rolled back because these alarms fired.
    AutoRolledBack(Vec<String>),
    /// The rollout was rolled back because a gate failed (the reason).
    Stopped(String),
    /// Nothing due before this time (ms), if anything is pending at all.
    Wait(Option<u64>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub status: Status,
    pub actions: Vec<Action>,
    pub outcome: Outcome,
    /// One line for the journal and the user.
    pub note: String,
    /// The candidate's version is rejected: `promote --auto-deploy` must not redeploy it.
    pub rejects: bool,
}

impl Transition {
    /// Whether this gives the candidate more traffic than `before` (or its
    /// capacity first): what release windows hold and `step_timeout` times.
    pub fn moves_up(&self, before: &Status) -> bool {
        let Some(c) = before.candidate.or(self.status.candidate) else {
            return false;
        };
        let now = before.weights().map_or(0, |w| w.of(c));
        self.actions.iter().any(|a| match a {
            Action::MatchCapacity(_) => true,
            Action::SetWeights(w) => w.of(c) > now,
            Action::Retire(_) => false,
        })
    }
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Bad request for this state (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// Refused for safety (exit 3).
    #[error("{0}")]
    Safety(String),
    /// The stored state cannot be right (exit 1); nothing is done.
    #[error("stored state is inconsistent: {0}")]
    Corrupt(String),
}

pub(super) fn changed(status: Status, actions: Vec<Action>, note: String) -> Transition {
    Transition {
        status,
        actions,
        outcome: Outcome::Changed,
        note,
        rejects: false,
    }
}

pub(super) fn wait(status: &Status, until: Option<u64>, note: &str) -> Transition {
    Transition {
        status: status.clone(),
        actions: vec![],
        outcome: Outcome::Wait(until),
        note: note.into(),
        rejects: false,
    }
}

/// Applies one event. Never produces weights that do not sum to 100.
pub fn apply(spec: &Spec, s: &Status, ev: Event) -> Result<Transition, Refusal> {
    let now = match &ev {
        Event::Tick { now, .. }
        | Event::ShiftTo { now, .. }
        | Event::Rollback { now }
        | Event::Hold { now, .. }
        | Event::HoldPause { now, .. }
        | Event::Continue { now, .. } => Some(*now),
        _ => None,
    };
    let (cause, starts) = (ev.cause(), matches!(ev, Event::DeployStarted { .. }));
    let mut t = event(spec, s, ev)?;
    // Set by a stop (alarms and pause timers show in the outcome), kept
    // while stopped, gone once a deploy starts.
    let stopped = t.status.phase.stopped();
    t.status.stopped_by = match &t.outcome {
        _ if starts || !stopped => None,
        _ if t.status.phase == s.phase => s.stopped_by,
        Outcome::AutoRolledBack(_) => Some(Cause::Alarm),
        Outcome::Stopped(_) => cause.or(Some(Cause::PauseTimer)),
        _ => cause,
    };
    // When a rollback (or a rejection) happened, for the scale-down that
    // may follow it.
    if !stopped {
        t.status.rolled_back_at = None;
        t.status.scaled_down = false;
    } else if !starts && !s.phase.stopped() {
        t.status.rolled_back_at = now;
        t.status.scaled_down = false;
    }
    Ok(t)
}

fn event(spec: &Spec, s: &Status, ev: Event) -> Result<Transition, Refusal> {
    match ev {
        Event::DeployStarted { color } => deploy_started(s, color),
        Event::Deployed { color } => deployed(spec, s, color),
        Event::ValidationFailed { color } => {
            deploy_guard(s, color)?;
            let mut n = s.clone();
            n.phase = Phase::FailedValidation;
            n.candidate = Some(color);
            n.weight = 0;
            n.step = 0;
            n.step_at = None;
            n.complete_at = None;
            n.steps = spec.steps.clone();
            n.pauses = spec.pauses.clone();
            n.pause_timers = spec.pause_timers.clone();
            (n.scaled_down, n.rolled_back_at) = (false, None);
            let mut t = changed(
                n,
                vec![],
                format!("{color} failed validation; it stays at 0%"),
            );
            t.rejects = true;
            Ok(t)
        }
        Event::Tick { now, firing } => tick(spec, s, now, firing),
        Event::ShiftTo {
            percent,
            now,
            firing,
        } => shift_to(spec, s, percent, now, firing),
        Event::Rollback { now: _ } => rollback(s, None),
        Event::Hold { reason, now } => hold(s, reason, now),
        Event::HoldPause { reason, now } => hold_pause(s, reason, now),
        Event::Continue { now, firing } => resume(s, now, firing),
        Event::GateFailed { reason, .. } => gate_failed(s, &reason),
    }
}

/// A failed gate rolls back whatever traffic the candidate has.
fn stop(s: &Status, reason: String) -> Result<Transition, Refusal> {
    if !(s.phase.moving() && s.phase != Phase::Ready || s.phase == Phase::Complete) {
        return Err(Refusal::Invalid(format!(
            "no traffic to take back (rollout state is {})",
            s.phase.as_str()
        )));
    }
    let mut t = rollback(s, None)?;
    t.note = format!("{} ({reason})", t.note);
    t.outcome = Outcome::Stopped(reason);
    Ok(t)
}

/// The first inconclusive verdict restarts the bake; the second one fails.
fn hold(s: &Status, reason: String, now: u64) -> Result<Transition, Refusal> {
    if !s.baking() {
        return Err(Refusal::Invalid(format!(
            "nothing to hold (rollout state is {})",
            s.phase.as_str()
        )));
    }
    if s.held {
        return stop(s, format!("{reason}, twice"));
    }
    let mut n = s.clone();
    n.held = true;
    n.step_at = Some(now);
    Ok(changed(
        n,
        vec![],
        format!("step {} held for one more bake: {reason}", s.step),
    ))
}

/// An undecided gate under `on_inconclusive = "hold"`: the rollout pauses at
/// its step (weights unchanged) and says why; missing data is never a pass.
fn hold_pause(s: &Status, reason: String, now: u64) -> Result<Transition, Refusal> {
    if !s.baking() {
        return Err(Refusal::Invalid(format!(
            "nothing to hold (rollout state is {})",
            s.phase.as_str()
        )));
    }
    let mut n = s.clone();
    n.phase = Phase::Paused;
    n.paused_at = Some(now);
    n.hold_reason = Some(reason.clone());
    let note = format!(
        "paused at step {}/{} ({}% on the candidate): {reason}; run `cutover continue` or `cutover rollback`",
        n.step,
        n.steps.len(),
        n.weight
    );
    Ok(changed(n, vec![], note))
}

/// A deploy may not run while traffic is shifting, nor onto the live colour.
fn deploy_guard(s: &Status, color: Color) -> Result<(), Refusal> {
    if s.baking() {
        return Err(Refusal::Invalid(
            "a rollout is shifting traffic; finish it (shift/promote) or roll back before deploying".into(),
        ));
    }
    if s.phase == Phase::Paused {
        return Err(Refusal::Invalid(
            "a rollout is paused; `cutover continue` it or roll back before deploying".into(),
        ));
    }
    if s.live == Some(color) {
        return Err(Refusal::Invalid(format!(
            "{color} is live; deploy goes onto the idle colour"
        )));
    }
    Ok(())
}

/// Why a candidate in `failed_validation` may not get traffic.
pub fn not_validated(s: &Status) -> Refusal {
    Refusal::Safety(format!(
        "candidate {} is not validated (its deploy failed validation or did not finish); deploy a version that passes first",
        s.candidate.map(|c| c.as_str()).unwrap_or("?")
    ))
}

fn deploy_started(s: &Status, color: Color) -> Result<Transition, Refusal> {
    deploy_guard(s, color)?;
    let mut n = s.clone();
    let note = match s.phase {
        Phase::Ready | Phase::FailedValidation => {
            n.phase = Phase::FailedValidation;
            n.candidate = Some(color);
            n.weight = 0;
            // A deploy under way owes no scale-down; a failed one starts a new delay.
            n.scaled_down = true;
            format!("deploying to {color}: it is not validated until the deploy passes")
        }
        Phase::Complete => {
            n.phase = Phase::Retired;
            format!("deploying to {color}: it no longer serves as the rollback target")
        }
        _ => {
            // A deploy onto the rolled-back colour owes it no scale-down any more.
            n.scaled_down = true;
            format!("deploying to {color}")
        }
    };
    Ok(changed(n, vec![], note))
}

fn deployed(spec: &Spec, s: &Status, color: Color) -> Result<Transition, Refusal> {
    deploy_guard(s, color)?;
    let mut n = s.clone();
    n.steps = spec.steps.clone();
    n.pauses = spec.pauses.clone();
    n.pause_timers = spec.pause_timers.clone();
    n.experiment = spec.experiment;
    n.shadow_ms = None;
    n.step = 0;
    n.step_at = None;
    n.complete_at = None;
    if s.live.is_none() {
        n.live = Some(color);
        n.phase = Phase::Idle;
        n.candidate = None;
        n.weight = 0;
        return Ok(changed(
            n,
            vec![Action::SetWeights(Weights::all(color))],
            format!("first deploy: {color} goes live at 100%"),
        ));
    }
    n.phase = Phase::Ready;
    n.candidate = Some(color);
    n.weight = 0;
    Ok(changed(
        n,
        vec![],
        format!("{color} deployed and ready at 0%"),
    ))
}

pub(super) fn set_step(
    n: &mut Status,
    weight: u8,
    step: usize,
    now: u64,
) -> Result<Vec<Action>, Refusal> {
    let cand = candidate(n)?;
    // The first weight above 0 needs the candidate at the live colour's capacity.
    let mut actions = Vec::new();
    if n.weight == 0 && weight > 0 {
        actions.push(Action::MatchCapacity(cand));
    }
    n.held = false;
    n.weight = weight;
    n.step = step;
    n.step_at = Some(now);
    if weight >= 100 {
        n.phase = Phase::Complete;
        n.live = Some(cand);
        n.complete_at = Some(now);
    } else if n.experiment.is_some_and(|(at, _)| at == step) {
        n.phase = Phase::Experimenting;
    } else {
        n.phase = Phase::Shifting;
    }
    actions.push(Action::SetWeights(Weights::split(cand, weight)));
    Ok(actions)
}

/// The candidate of a status that must have one; a stored state without it is corrupt.
pub(super) fn candidate(s: &Status) -> Result<Color, Refusal> {
    s.candidate.ok_or_else(|| {
        Refusal::Corrupt(format!(
            "the stored rollout is {} but names no candidate colour",
            s.phase.as_str()
        ))
    })
}

pub(super) fn alarm_refusal(firing: &[String]) -> Refusal {
    Refusal::Safety(format!(
        "alarm {} is in ALARM; refusing to start the rollout (use --ignore-alarm NAME to override)",
        firing.join(", ")
    ))
}

fn tick(spec: &Spec, s: &Status, now: u64, firing: Vec<String>) -> Result<Transition, Refusal> {
    match s.phase {
        Phase::Ready => {
            if !firing.is_empty() {
                return Err(alarm_refusal(&firing));
            }
            // Steps are taken from the config when the rollout starts.
            let Some(&first) = spec.steps.first() else {
                return Err(Refusal::Invalid("the rollout has no steps".into()));
            };
            let mut n = s.clone();
            n.steps = spec.steps.clone();
            n.pauses = spec.pauses.clone();
            n.pause_timers = spec.pause_timers.clone();
            n.experiment = spec.experiment;
            n.shadow_ms = spec.shadow_ms;
            if let Some(ms) = n.shadow_ms {
                let cand = candidate(s)?;
                n.phase = Phase::Shadowing;
                n.step_at = Some(now);
                let note = format!(
                    "shadow phase: {cand} gets a copy of production requests for {}; users get {}'s answers only",
                    humantime::format_duration(std::time::Duration::from_millis(ms)),
                    cand.other()
                );
                return Ok(changed(n, vec![], note));
            }
            if n.pauses.contains(&0) {
                return Ok(pause_at(n, now));
            }
            let actions = set_step(&mut n, first, 1, now)?;
            let note = format!("step 1/{}: {} at {first}%", n.steps.len(), candidate(s)?);
            Ok(changed(n, actions, note))
        }
        Phase::Shadowing => shadow_tick(s, now, firing),
        Phase::Shifting | Phase::Experimenting => {
            if !firing.is_empty() {
                let mut t = rollback(s, Some(&firing))?;
                t.outcome = Outcome::AutoRolledBack(firing);
                return Ok(t);
            }
            // An experiment runs at least its duration; its gate decides the end.
            let bake = match (s.phase, s.experiment) {
                (Phase::Experimenting, Some((_, ms))) => ms.max(spec.bake_ms),
                _ => spec.bake_ms,
            };
            let due = s.step_at.unwrap_or(0).saturating_add(bake);
            if now < due {
                let why = if s.phase == Phase::Experimenting {
                    "experimenting"
                } else {
                    "baking"
                };
                return Ok(wait(s, Some(due), why));
            }
            if s.pauses.contains(&s.step) {
                return Ok(pause_at(s.clone(), now));
            }
            let Some(&next) = s.steps.get(s.step) else {
                // Steps exhausted without 100 cannot happen with validated steps; finish safely.
                let mut n = s.clone();
                let actions = set_step(&mut n, 100, s.steps.len(), now)?;
                return Ok(changed(n, actions, "final step: 100%".into()));
            };
            let mut n = s.clone();
            let actions = set_step(&mut n, next, s.step + 1, now)?;
            let note = format!(
                "step {}/{}: {} at {next}%",
                s.step + 1,
                s.steps.len(),
                candidate(s)?
            );
            Ok(changed(n, actions, note))
        }
        Phase::Complete => {
            if !firing.is_empty() {
                let mut t = rollback(s, Some(&firing))?;
                t.outcome = Outcome::AutoRolledBack(firing);
                return Ok(t);
            }
            // The old colour's weight has been 0 since complete_at; it drains first.
            let due = retire_due(spec, s).unwrap_or(0);
            if now < due {
                return Ok(wait(s, Some(due), "waiting to retire the old colour"));
            }
            let old = candidate(s)?.other();
            let mut n = s.clone();
            n.phase = Phase::Retired;
            Ok(changed(
                n,
                vec![Action::Retire(old)],
                format!("retire {old} after termination_wait and draining"),
            ))
        }
        Phase::Paused => paused_tick(s, now, firing),
        // A rejected candidate may still owe its scale-down.
        Phase::FailedValidation if s.scale_down_due(spec).is_some() => {
            scale_down_tick(spec, s, now)
        }
        Phase::FailedValidation => Err(not_validated(s)),
        Phase::RolledBack => scale_down_tick(spec, s, now),
        Phase::Idle | Phase::Retired => Ok(wait(s, None, "nothing to do")),
    }
}

/// A tick of the shadow phase: an alarm removes the shadow; at its end the
/// first step (or the pause before traffic) is proposed, for the gates to judge.
fn shadow_tick(s: &Status, now: u64, firing: Vec<String>) -> Result<Transition, Refusal> {
    if !firing.is_empty() {
        let mut t = rollback(s, Some(&firing))?;
        t.outcome = Outcome::AutoRolledBack(firing);
        return Ok(t);
    }
    let due = s
        .step_at
        .unwrap_or(0)
        .saturating_add(s.shadow_ms.unwrap_or(0));
    if now < due {
        return Ok(wait(s, Some(due), "shadowing"));
    }
    let mut n = s.clone();
    n.shadow_ms = None;
    if n.pauses.contains(&0) {
        let mut t = pause_at(n, now);
        t.note = format!("shadow phase passed; {}", t.note);
        return Ok(t);
    }
    let Some(&first) = s.steps.first() else {
        return Err(Refusal::Invalid("the rollout has no steps".into()));
    };
    let actions = set_step(&mut n, first, 1, now)?;
    let note = format!(
        "shadow phase passed; step 1/{}: {} at {first}%",
        n.steps.len(),
        candidate(s)?
    );
    Ok(changed(n, actions, note))
}

/// `scale_down_after_rollback`: a later tick scales the rolled-back
/// candidate to 0 (its autoscaling suspended), once.
fn scale_down_tick(spec: &Spec, s: &Status, now: u64) -> Result<Transition, Refusal> {
    let (Some(_), Some(c)) = (s.scale_down_due(spec), s.candidate) else {
        return Ok(wait(s, None, "nothing to do"));
    };
    let mut n = s.clone();
    if s.rolled_back_at.is_none() {
        // Rolled back by a gate (no clock in the event): the delay starts now.
        n.rolled_back_at = Some(now);
        return Ok(changed(
            n,
            vec![],
            format!("{c} will be scaled to 0 after scale_down_after_rollback"),
        ));
    }
    let due = s.scale_down_due(spec).unwrap_or(0);
    if now < due {
        return Ok(wait(
            s,
            Some(due),
            "waiting to scale the rolled-back candidate down",
        ));
    }
    n.scaled_down = true;
    Ok(changed(
        n,
        vec![Action::Retire(c)],
        format!("scaled the rolled-back {c} to 0 (scale_down_after_rollback)"),
    ))
}

fn shift_to(
    spec: &Spec,
    s: &Status,
    percent: u8,
    now: u64,
    firing: Vec<String>,
) -> Result<Transition, Refusal> {
    if percent == 0 {
        return Err(Refusal::Invalid(
            "--to 0 would take all traffic off the candidate; use `cutover rollback`".into(),
        ));
    }
    if percent > 100 {
        return Err(Refusal::Invalid(format!("--to {percent} is over 100")));
    }
    match s.phase {
        p if p.moving() => {}
        Phase::FailedValidation => return Err(not_validated(s)),
        Phase::Complete => {
            return Err(Refusal::Invalid(format!(
                "the candidate is already at 100%; nothing to shift (live is {})",
                s.live.map(|c| c.as_str()).unwrap_or("?")
            )))
        }
        _ => {
            return Err(Refusal::Invalid(
                "no candidate is deployed; run `cutover deploy --version V` first".into(),
            ))
        }
    }
    if !firing.is_empty() {
        return Err(alarm_refusal(&firing));
    }
    if percent < s.weight {
        return Err(Refusal::Invalid(format!(
            "the candidate is at {}%; weights only rise within a rollout (use `cutover rollback` to go back)",
            s.weight
        )));
    }
    let mut n = s.clone();
    if s.phase == Phase::Ready {
        n.steps = spec.steps.clone();
        n.pauses = spec.pauses.clone();
        n.pause_timers = spec.pause_timers.clone();
        n.experiment = spec.experiment;
    }
    // An explicit move ends the shadow phase.
    n.shadow_ms = None;
    let step = n.steps.iter().filter(|w| **w <= percent).count();
    // An explicit move passes the pauses below it, and the one it was held at.
    n.pauses
        .retain(|p| *p >= step && !(s.phase == Phase::Paused && *p == s.step));
    let actions = set_step(&mut n, percent, step, now)?;
    let note = format!("shift --to {percent}: {} at {percent}%", candidate(s)?);
    Ok(changed(n, actions, note))
}

pub(super) fn rollback(s: &Status, firing: Option<&[String]>) -> Result<Transition, Refusal> {
    let why = match firing {
        Some(f) => format!(" (alarm {} in ALARM)", f.join(", ")),
        None => String::new(),
    };
    let mut n = s.clone();
    match s.phase {
        Phase::Shadowing => {
            let (Some(stable), Some(cand)) = (s.live, s.candidate) else {
                return Err(Refusal::Corrupt(
                    "a shadow phase without live and candidate colours".into(),
                ));
            };
            n.phase = Phase::RolledBack;
            n.weight = 0;
            n.shadow_ms = None;
            let mut t = changed(
                n,
                vec![
                    Action::SetWeights(Weights::all(stable)),
                    Action::Retire(cand),
                ],
                format!(
                    "rolled back: the shadow {cand} is removed, {stable} untouched at 100%{why}"
                ),
            );
            t.rejects = true;
            Ok(t)
        }
        Phase::Ready
        | Phase::Shifting
        | Phase::Paused
        | Phase::Experimenting
        | Phase::FailedValidation => {
            let Some(stable) = s.live else {
                return Err(Refusal::Invalid("nothing to roll back to".into()));
            };
            n.phase = Phase::RolledBack;
            n.weight = 0;
            let mut t = changed(
                n,
                vec![Action::SetWeights(Weights::all(stable))],
                format!("rolled back: {stable} at 100%{why}"),
            );
            t.rejects = true;
            Ok(t)
        }
        Phase::Complete => {
            let old = candidate(s)?.other();
            n.phase = Phase::RolledBack;
            n.live = Some(old);
            n.weight = 0;
            let mut t = changed(
                n,
                vec![Action::SetWeights(Weights::all(old))],
                format!("rolled back: {old} live again at 100%{why}"),
            );
            t.rejects = true;
            Ok(t)
        }
        Phase::Idle | Phase::RolledBack | Phase::Retired => Err(Refusal::Invalid(format!(
            "nothing to roll back to (rollout state is {})",
            s.phase.as_str()
        ))),
    }
}

// Pauses and gates: holding a rollout at a `"pause"` step, `continue`,
// and what a failed gating hook does to the rollout.

/// Holds the rollout at its current step; no action, weights unchanged.
fn pause_at(mut n: Status, now: u64) -> Transition {
    n.phase = Phase::Paused;
    n.paused_at = Some(now);
    let then = match n.pause_timer() {
        Some((ms, then)) => format!(
            "; after {} it will {} by itself (or run `cutover continue`)",
            humantime::format_duration(std::time::Duration::from_millis(ms)),
            then.as_str()
        ),
        None => "; run `cutover continue` to go on".into(),
    };
    let note = format!(
        "paused at step {}/{} ({}% on the candidate){then}",
        n.step,
        n.steps.len(),
        n.weight
    );
    changed(n, vec![], note)
}

/// A tick while paused: nothing, except a rollback when an alarm fires and
/// the candidate has traffic to take back, or what a timed pause says once
/// its time is up.
fn paused_tick(s: &Status, now: u64, firing: Vec<String>) -> Result<Transition, Refusal> {
    if !firing.is_empty() && s.weight > 0 {
        let mut t = rollback(s, Some(&firing))?;
        t.outcome = Outcome::AutoRolledBack(firing);
        return Ok(t);
    }
    match s.pause_deadline() {
        Some((due, _)) if now < due => Ok(wait(s, Some(due), "paused until the pause's deadline")),
        Some((_, Then::Continue)) => {
            let mut t = resume(s, now, firing)?;
            t.note = format!("pause time is up: {}", t.note);
            Ok(t)
        }
        Some((_, Then::Rollback)) => {
            let mut t = rollback(s, None)?;
            t.note = format!("pause time is up: {}", t.note);
            t.outcome = Outcome::Stopped("pause time is up (then = \"rollback\")".into());
            Ok(t)
        }
        None => Ok(wait(s, None, "paused; waiting for `cutover continue`")),
    }
}

/// `cutover continue`: passes the pause and applies the next step now (with
/// the alarm pre-flight, like `shift --to`); the rest is left to shift/promote.
fn resume(s: &Status, now: u64, firing: Vec<String>) -> Result<Transition, Refusal> {
    match s.phase {
        // A person may end an experiment early: the next step, now.
        Phase::Paused | Phase::Experimenting | Phase::Shadowing => {}
        other => {
            return Err(Refusal::Invalid(format!(
                "nothing is paused (rollout state is {}); `continue` resumes only a paused rollout",
                other.as_str()
            )))
        }
    }
    if !firing.is_empty() {
        return Err(alarm_refusal(&firing));
    }
    let cand = candidate(s)?;
    let mut n = s.clone();
    n.pauses.retain(|p| *p != s.step);
    n.hold_reason = None;
    n.shadow_ms = None;
    let next = s.steps.get(s.step).copied().unwrap_or(100).max(s.weight);
    let actions = set_step(&mut n, next, s.step + 1, now)?;
    let note = format!(
        "continued: step {}/{}: {cand} at {next}%",
        s.step + 1,
        s.steps.len()
    );
    Ok(changed(n, actions, note))
}

/// A gating hook failed. With no traffic on the candidate it fails validation
/// and stays at 0%; with traffic (or after 100%) the rollout rolls back.
fn gate_failed(s: &Status, reason: &str) -> Result<Transition, Refusal> {
    match s.phase {
        Phase::Ready | Phase::Paused | Phase::FailedValidation if s.weight == 0 => {
            let cand = candidate(s)?;
            let mut n = s.clone();
            n.phase = Phase::FailedValidation;
            n.step = 0;
            n.step_at = None;
            let mut t = changed(
                n,
                vec![],
                format!("{cand} failed a gate: {reason}; it stays at 0%"),
            );
            t.rejects = true;
            Ok(t)
        }
        Phase::Shadowing
        | Phase::Shifting
        | Phase::Paused
        | Phase::Experimenting
        | Phase::Complete => stop(s, reason.to_string()),
        other => Err(Refusal::Invalid(format!(
            "no rollout to stop (rollout state is {})",
            other.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            steps: vec![10, 50, 100],
            pauses: vec![],
            bake_ms: 1000,
            termination_wait_ms: 5000,
            drain_ms: 0,
            pause_timers: vec![],
            scale_down_after_ms: None,
            experiment: None,
            shadow_ms: None,
        }
    }

    fn deployed_stack() -> Status {
        let s = Status::default();
        let t = apply(&spec(), &s, Event::Deployed { color: Color::Blue }).unwrap();
        assert_eq!(
            t.actions,
            vec![Action::SetWeights(Weights::all(Color::Blue))]
        );
        let t = apply(
            &spec(),
            &t.status,
            Event::Deployed {
                color: Color::Green,
            },
        )
        .unwrap();
        assert_eq!(t.status.phase, Phase::Ready);
        t.status
    }

    fn tick(s: &Status, now: u64) -> Transition {
        apply(
            &spec(),
            s,
            Event::Tick {
                now,
                firing: vec![],
            },
        )
        .unwrap()
    }

    #[test]
    fn first_deploy_goes_live() {
        let t = apply(
            &spec(),
            &Status::default(),
            Event::Deployed { color: Color::Blue },
        )
        .unwrap();
        assert_eq!(t.status.live, Some(Color::Blue));
        assert_eq!(t.status.phase, Phase::Idle);
        assert_eq!(t.status.idle_color(), Color::Green);
    }

    #[test]
    fn full_rollout_table() {
        let s = deployed_stack();
        // (now, expected phase, step, weight, action weights)
        let table: [(u64, Phase, usize, u8, Option<Weights>); 7] = [
            (
                0,
                Phase::Shifting,
                1,
                10,
                Some(Weights {
                    blue: 90,
                    green: 10,
                }),
            ),
            (500, Phase::Shifting, 1, 10, None),
            (
                1000,
                Phase::Shifting,
                2,
                50,
                Some(Weights {
                    blue: 50,
                    green: 50,
                }),
            ),
            (1999, Phase::Shifting, 2, 50, None),
            (
                2000,
                Phase::Complete,
                3,
                100,
                Some(Weights {
                    blue: 0,
                    green: 100,
                }),
            ),
            (6999, Phase::Complete, 3, 100, None),
            (7000, Phase::Retired, 3, 100, None),
        ];
        let mut cur = s;
        for (now, phase, step, weight, set) in table {
            let t = tick(&cur, now);
            assert_eq!(t.status.phase, phase, "at {now}");
            assert_eq!(t.status.step, step, "at {now}");
            assert_eq!(t.status.weight, weight, "at {now}");
            let got = t.actions.iter().find_map(|a| match a {
                Action::SetWeights(w) => Some(*w),
                _ => None,
            });
            assert_eq!(got, set, "at {now}");
            cur = t.status;
        }
        assert_eq!(cur.live, Some(Color::Green));
        assert_eq!(cur.idle_color(), Color::Blue);
    }

    #[test]
    fn capacity_before_the_first_step_only_and_retire_after_draining() {
        let sp = Spec {
            drain_ms: 9000,
            pause_timers: vec![],
            scale_down_after_ms: None,
            ..spec()
        };
        let s = deployed_stack();
        let go = |s: &Status, now| {
            apply(
                &sp,
                s,
                Event::Tick {
                    now,
                    firing: vec![],
                },
            )
            .unwrap()
        };
        let t1 = go(&s, 0);
        assert_eq!(t1.actions[0], Action::MatchCapacity(Color::Green));
        let t2 = go(&t1.status, 1000);
        assert!(!t2.actions.contains(&Action::MatchCapacity(Color::Green)));
        let t3 = go(&t2.status, 2000);
        assert_eq!(t3.status.phase, Phase::Complete);
        // termination_wait (5s) is over, the deregistration delay (9s) is not.
        assert_eq!(go(&t3.status, 7000).outcome, Outcome::Wait(Some(11_000)));
        assert_eq!(
            go(&t3.status, 11_000).actions,
            vec![Action::Retire(Color::Blue)]
        );
    }

    #[test]
    fn retire_action_names_old_colour() {
        let mut s = deployed_stack();
        for now in [0, 1000, 2000] {
            s = tick(&s, now).status;
        }
        let t = tick(&s, 7000);
        assert_eq!(t.actions, vec![Action::Retire(Color::Blue)]);
    }

    #[test]
    fn preflight_refuses_with_firing_alarm() {
        let s = deployed_stack();
        let r = apply(
            &spec(),
            &s,
            Event::Tick {
                now: 0,
                firing: vec!["iris-5xx".into()],
            },
        );
        assert!(matches!(r, Err(Refusal::Safety(m)) if m.contains("iris-5xx")));
    }

    #[test]
    fn alarm_mid_bake_rolls_back() {
        let s = tick(&deployed_stack(), 0).status;
        let t = apply(
            &spec(),
            &s,
            Event::Tick {
                now: 10,
                firing: vec!["a".into()],
            },
        )
        .unwrap();
        assert_eq!(t.status.phase, Phase::RolledBack);
        assert_eq!(
            t.actions,
            vec![Action::SetWeights(Weights::all(Color::Blue))]
        );
        assert_eq!(t.outcome, Outcome::AutoRolledBack(vec!["a".into()]));
        assert_eq!(t.status.live, Some(Color::Blue));
    }

    #[test]
    fn rollback_after_complete_restores_old() {
        let mut s = deployed_stack();
        for now in [0, 1000, 2000] {
            s = tick(&s, now).status;
        }
        assert_eq!(s.phase, Phase::Complete);
        let t = apply(&spec(), &s, Event::Rollback { now: 3000 }).unwrap();
        assert_eq!(t.status.live, Some(Color::Blue));
        assert_eq!(
            t.actions,
            vec![Action::SetWeights(Weights::all(Color::Blue))]
        );
        // Nothing left to roll back to after that.
        assert!(matches!(
            apply(&spec(), &t.status, Event::Rollback { now: 1 }),
            Err(Refusal::Invalid(_))
        ));
        // A new deploy starts afresh on the other colour.
        let d = apply(
            &spec(),
            &t.status,
            Event::Deployed {
                color: Color::Green,
            },
        )
        .unwrap();
        assert_eq!(d.status.phase, Phase::Ready);
    }

    #[test]
    fn shift_to_then_continue_above() {
        let s = deployed_stack();
        let t = apply(
            &spec(),
            &s,
            Event::ShiftTo {
                percent: 30,
                now: 0,
                firing: vec![],
            },
        )
        .unwrap();
        assert_eq!(t.status.step, 1);
        assert_eq!(t.status.weight, 30);
        let t2 = tick(&t.status, 1000);
        assert_eq!(t2.status.weight, 50);
        assert_eq!(t2.status.step, 2);
        let down = apply(
            &spec(),
            &t2.status,
            Event::ShiftTo {
                percent: 10,
                now: 0,
                firing: vec![],
            },
        );
        assert!(matches!(down, Err(Refusal::Invalid(_))));
        let full = apply(
            &spec(),
            &t2.status,
            Event::ShiftTo {
                percent: 100,
                now: 5,
                firing: vec![],
            },
        )
        .unwrap();
        assert_eq!(full.status.phase, Phase::Complete);
        assert_eq!(full.status.live, Some(Color::Green));
    }

    #[test]
    fn failed_validation_refuses_shift_and_promote() {
        let s = deployed_stack();
        let f = apply(
            &spec(),
            &s,
            Event::ValidationFailed {
                color: Color::Green,
            },
        )
        .unwrap()
        .status;
        assert!(matches!(
            apply(
                &spec(),
                &f,
                Event::Tick {
                    now: 0,
                    firing: vec![]
                }
            ),
            Err(Refusal::Safety(_))
        ));
        assert!(matches!(
            apply(
                &spec(),
                &f,
                Event::ShiftTo {
                    percent: 10,
                    now: 0,
                    firing: vec![]
                }
            ),
            Err(Refusal::Safety(_))
        ));
        assert_eq!(f.weights(), Some(Weights::all(Color::Blue)));
    }

    #[test]
    fn deploy_start_guards_the_candidate_and_the_rollback_target() {
        let ready = deployed_stack();
        let t = apply(
            &spec(),
            &ready,
            Event::DeployStarted {
                color: Color::Green,
            },
        )
        .unwrap();
        assert_eq!(t.status.phase, Phase::FailedValidation);
        assert!(matches!(
            apply(
                &spec(),
                &t.status,
                Event::Tick {
                    now: 0,
                    firing: vec![]
                }
            ),
            Err(Refusal::Safety(_))
        ));
        let mut done = ready.clone();
        for now in [0, 1000, 2000] {
            done = tick(&done, now).status;
        }
        assert_eq!(done.phase, Phase::Complete);
        let t = apply(&spec(), &done, Event::DeployStarted { color: Color::Blue }).unwrap();
        assert_eq!(t.status.phase, Phase::Retired);
        assert!(matches!(
            apply(&spec(), &t.status, Event::Rollback { now: 1 }),
            Err(Refusal::Invalid(_))
        ));
        assert_eq!(t.status.weights(), Some(Weights::all(Color::Green)));
    }

    #[test]
    fn deploy_refused_while_shifting() {
        let s = tick(&deployed_stack(), 0).status;
        assert!(matches!(
            apply(
                &spec(),
                &s,
                Event::Deployed {
                    color: Color::Green
                }
            ),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn idle_tick_is_nothing() {
        let t = tick(&Status::default(), 0);
        assert_eq!(t.outcome, Outcome::Wait(None));
        assert!(t.actions.is_empty());
    }

    #[test]
    fn schedule_offsets() {
        use super::super::{schedule, PlannedStep};
        let s = deployed_stack();
        let plan = schedule(&spec(), &s, 0);
        assert_eq!(
            plan,
            vec![
                PlannedStep {
                    step: 1,
                    weight: 10,
                    at_ms: 0,
                    pause: false,
                    after_pauses: 0,
                    ..PlannedStep::default()
                },
                PlannedStep {
                    step: 2,
                    weight: 50,
                    at_ms: 1000,
                    pause: false,
                    after_pauses: 0,
                    ..PlannedStep::default()
                },
                PlannedStep {
                    step: 3,
                    weight: 100,
                    at_ms: 2000,
                    pause: false,
                    after_pauses: 0,
                    ..PlannedStep::default()
                },
            ]
        );
        let s1 = tick(&s, 0).status;
        let plan = schedule(&spec(), &s1, 400);
        assert_eq!(
            plan[0],
            PlannedStep {
                step: 2,
                weight: 50,
                at_ms: 600,
                pause: false,
                after_pauses: 0,
                ..PlannedStep::default()
            }
        );
    }

    #[test]
    fn schedule_shows_pauses() {
        use super::super::schedule;
        let mut sp = spec();
        sp.pauses = vec![1];
        let s = deployed_stack();
        let plan = schedule(&sp, &s, 0);
        let got: Vec<(usize, u8, u64, bool, usize)> = plan
            .iter()
            .map(|p| (p.step, p.weight, p.at_ms, p.pause, p.after_pauses))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 10, 0, false, 0),
                (1, 10, 1000, true, 0),
                (2, 50, 0, false, 1),
                (3, 100, 1000, false, 1)
            ]
        );
    }

    /// Every phase against every kind of event: the whole decision table, pinned.
    #[test]
    fn phase_event_table() {
        let sp = spec();
        let at = |phase: Phase| Status {
            live: Some(Color::Blue),
            phase,
            candidate: Some(Color::Green),
            steps: vec![10, 50, 100],
            pauses: if phase == Phase::Paused {
                vec![1]
            } else {
                vec![]
            },
            step: match phase {
                Phase::Shifting | Phase::Paused => 1,
                Phase::Complete => 3,
                _ => 0,
            },
            weight: match phase {
                Phase::Shifting | Phase::Paused => 10,
                Phase::Complete => 100,
                _ => 0,
            },
            step_at: Some(0),
            complete_at: (phase == Phase::Complete).then_some(0),
            held: false,
            pause_timers: vec![],
            paused_at: None,
            hold_reason: None,
            rolled_back_at: None,
            scaled_down: false,
            experiment: None,
            shadow_ms: (phase == Phase::Shadowing).then_some(5_000),
            stopped_by: None,
        };
        let fire = || vec!["a".to_string()];
        let events: Vec<(&str, Event)> = vec![
            (
                "deploy-start",
                Event::DeployStarted {
                    color: Color::Green,
                },
            ),
            (
                "deployed",
                Event::Deployed {
                    color: Color::Green,
                },
            ),
            (
                "validation-failed",
                Event::ValidationFailed {
                    color: Color::Green,
                },
            ),
            (
                "tick-early",
                Event::Tick {
                    now: 10,
                    firing: vec![],
                },
            ),
            (
                "tick-due",
                Event::Tick {
                    now: 10_000,
                    firing: vec![],
                },
            ),
            (
                "tick-firing",
                Event::Tick {
                    now: 10,
                    firing: fire(),
                },
            ),
            (
                "shift-to-60",
                Event::ShiftTo {
                    percent: 60,
                    now: 10,
                    firing: vec![],
                },
            ),
            (
                "shift-to-60-firing",
                Event::ShiftTo {
                    percent: 60,
                    now: 10,
                    firing: fire(),
                },
            ),
            ("rollback", Event::Rollback { now: 10 }),
            (
                "hold",
                Event::Hold {
                    reason: "judge".into(),
                    now: 10,
                },
            ),
            (
                "continue",
                Event::Continue {
                    now: 10,
                    firing: vec![],
                },
            ),
            (
                "continue-firing",
                Event::Continue {
                    now: 10,
                    firing: fire(),
                },
            ),
            (
                "gate-failed",
                Event::GateFailed {
                    cause: Cause::Judge,
                    reason: "x".into(),
                },
            ),
            (
                "hold-pause",
                Event::HoldPause {
                    reason: "judge inconclusive".into(),
                    now: 10,
                },
            ),
        ];
        let show = |r: Result<Transition, Refusal>| match r {
            Ok(t) => format!(
                "{} live={} cand={} step={} w={} actions={:?} outcome={:?}{}",
                t.status.phase.as_str(),
                t.status.live.map(|c| c.as_str()).unwrap_or("-"),
                t.status.candidate.map(|c| c.as_str()).unwrap_or("-"),
                t.status.step,
                t.status.weight,
                t.actions,
                t.outcome,
                if t.rejects { " rejects" } else { "" }
            ),
            Err(r) => format!("refused {r:?}"),
        };
        let mut out = String::new();
        for phase in Phase::ALL {
            let mut s = at(phase);
            if phase == Phase::Idle {
                s.candidate = None;
            }
            for (name, ev) in &events {
                let line = show(apply(&sp, &s, ev.clone()));
                out.push_str(&format!("{:<17} {:<19} -> {line}\n", phase.as_str(), name));
            }
        }
        // Timed pauses: the first tick after the deadline decides.
        for (label, then) in [
            ("paused/rollback", Then::Rollback),
            ("paused/continue", Then::Continue),
        ] {
            let mut s = at(Phase::Paused);
            s.pause_timers = vec![(1, 5_000, then)];
            s.paused_at = Some(0);
            for (name, now) in [("tick-before-due", 4_999), ("tick-after-due", 5_000)] {
                let line = show(apply(
                    &sp,
                    &s,
                    Event::Tick {
                        now,
                        firing: vec![],
                    },
                ));
                out.push_str(&format!("{label:<17} {name:<19} -> {line}\n"));
            }
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn corrupt_state_is_refused_not_a_panic() {
        let s = Status {
            live: Some(Color::Blue),
            phase: Phase::Shifting,
            candidate: None,
            steps: vec![10, 100],
            pauses: vec![],
            step: 1,
            weight: 10,
            step_at: Some(0),
            complete_at: None,
            held: false,
            pause_timers: vec![],
            paused_at: None,
            hold_reason: None,
            rolled_back_at: None,
            scaled_down: false,
            experiment: None,
            shadow_ms: None,
            stopped_by: None,
        };
        let r = apply(
            &spec(),
            &s,
            Event::Tick {
                now: 99_999,
                firing: vec![],
            },
        );
        assert!(matches!(r, Err(Refusal::Corrupt(_))), "{r:?}");
    }
}
