//! The model gates around traffic: active probes during bakes, and the
//! comparison and metric judge at the end of each bake. Each gate reports a
//! verdict; the machine turns a failure into a rollback (`Event::Stop`) and an
//! inconclusive judge into one more bake (`Event::Hold`).
use super::ctx::{refusal, Ctx};
use super::{compare, judge, validation};
use crate::error::Result;
use crate::rollout::{self, Action, Color, Event, Outcome, Phase, Transition};
use crate::store::{now_ms, StackDoc};

/// One round of probes: the `[validate]` requests to the candidate. Returns
/// the first failure's reason, or None when every request passed.
pub async fn probe_round(ctx: &Ctx<'_>, candidate: Color) -> Result<Option<String>> {
    let Some(v) = &ctx.cfg.validate else {
        return Ok(None);
    };
    // The run's own context: its provider has the stack's ARNs cached already.
    let checks = validation::run_quiet(ctx, v, candidate).await?;
    Ok(checks
        .iter()
        .find(|c| !c.passed)
        .map(|c| format!("{} -> {}", c.request, c.reason)))
}

/// Counts a probe round into the streak; returns a stop event once
/// `probe_failures` rounds in a row have failed.
pub fn count_probe(ctx: &Ctx<'_>, doc: &mut StackDoc, failure: Option<String>) -> Option<Event> {
    match failure {
        None => {
            doc.probe_streak = 0;
            None
        }
        Some(why) => {
            doc.probe_streak += 1;
            ctx.out.warn(&format!(
                "probe failed ({}/{}): {why}",
                doc.probe_streak, ctx.cfg.rollout.probe_failures
            ));
            (doc.probe_streak >= ctx.cfg.rollout.probe_failures).then(|| Event::Stop {
                reason: format!("{} probe round(s) in a row failed: {why}", doc.probe_streak),
            })
        }
    }
}

/// The end-of-bake gates before the next step: comparison, then the judge.
/// None: go ahead. Some(event): stop or hold instead. Reports land in `doc`.
pub async fn bake_end(ctx: &Ctx<'_>, doc: &mut StackDoc) -> Result<Option<Event>> {
    let (Some(candidate), Some(stable)) = (doc.status.candidate, doc.status.live) else {
        return Ok(None);
    };
    if let Some(c) = &ctx.cfg.compare {
        let report = compare::run(ctx, c, stable, candidate).await?;
        ctx.out.info(&report.summary());
        let passed = report.passed();
        let summary = report.summary();
        doc.compare = Some(report);
        if !passed {
            return Ok(Some(Event::Stop { reason: summary }));
        }
    }
    if let Some(j) = &ctx.cfg.judge {
        let from = doc.status.step_at.unwrap_or(0);
        let report = judge::run(ctx, j, candidate, stable, from, now_ms()).await?;
        ctx.out.info(&report.summary());
        let verdict = report.verdict.clone();
        let summary = report.summary();
        doc.judge = Some(report);
        if j.dry_run {
            return Ok(None);
        }
        match verdict.as_str() {
            "fail" => return Ok(Some(Event::Stop { reason: summary })),
            "inconclusive" => {
                return Ok(Some(Event::Hold {
                    reason: summary,
                    now: now_ms(),
                }))
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Whether `t` is the next step of a rollout under way (the end of a bake).
/// A pause at the end of a bake counts too: the gates judge the bake first.
pub fn is_next_step(doc: &StackDoc, t: &Transition) -> bool {
    t.outcome == Outcome::Changed
        && doc.status.phase == Phase::Shifting
        && (t.status.phase == Phase::Paused
            || (t.actions.iter().any(|a| matches!(a, Action::SetWeights(_)))
                && t.status.weight > doc.status.weight))
}

/// Runs the end-of-bake gates when `t` is the next step; returns the
/// transition to commit instead (a stop or a hold) when a gate says so.
pub async fn gate(ctx: &Ctx<'_>, doc: &mut StackDoc, t: Transition) -> Result<Transition> {
    if !is_next_step(doc, &t) {
        return Ok(t);
    }
    match bake_end(ctx, doc).await? {
        None => Ok(t),
        Some(ev) => rollout::apply(&ctx.spec(), &doc.status, ev).map_err(refusal),
    }
}

/// The journal event name of a committed transition.
pub fn event_name(t: &Transition, fallback: &'static str) -> &'static str {
    match &t.outcome {
        Outcome::AutoRolledBack(_) => "auto-rollback",
        Outcome::Stopped(_) => "gate-rollback",
        _ if t.status.held && t.actions.is_empty() => "hold",
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
