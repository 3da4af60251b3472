//! Transitions with their hooks: `pre-traffic` hooks before the candidate's
//! first traffic, then the transition (`transition::commit`), then the hook
//! stages it made due (`post-step`, `post-complete`, `post-rollback`,
//! `post-retire`). A failed gate becomes a machine event (`GateFailed`).
//!
//! Crash safety: post-* stages are recorded in the state with the transition
//! (`hooks_due`) and each is removed only after it ran, so a run killed while
//! a hook runs leaves it due and the next run (`repair`) runs it again; a
//! gate's decision is a transition, committed once. Pre-* stages are recorded
//! while they run and dropped by repair: they run again before what they guard.
use super::ctx::{refusal, Ctx};
use super::hooks::{configured, run_stage};
use super::transition::{self, commit};
use crate::config::HookStage;
use crate::error::{safety, Result};
use crate::providers::Router;
use crate::rollout::{self, Action, Cause, Event, Phase, Status, Transition};
use crate::store::StackDoc;

/// Whether `before -> after` gives the candidate its first traffic.
fn starts_traffic(before: &Status, after: &Status) -> bool {
    matches!(before.phase, Phase::Ready | Phase::Paused)
        && before.weight == 0
        && after.weight > 0
        && (after.baking() || after.phase == Phase::Complete)
}

/// The hook stages a transition makes due, among those configured.
fn due_after(ctx: &Ctx<'_>, before: &Status, t: &Transition) -> Vec<HookStage> {
    let after = &t.status;
    let moved = t.actions.iter().any(|a| matches!(a, Action::SetWeights(_)));
    let mut due = Vec::new();
    if moved && (after.baking() || after.phase == Phase::Complete) && after.weight > before.weight {
        due.push(HookStage::PostStep);
    }
    if after.phase == Phase::Complete && before.phase != Phase::Complete {
        due.push(HookStage::PostComplete);
    }
    if after.phase == Phase::RolledBack && before.phase != Phase::RolledBack {
        due.push(HookStage::PostRollback);
    }
    if t.actions.iter().any(|a| matches!(a, Action::Retire(_))) {
        due.push(HookStage::PostRetire);
    }
    due.retain(|s| configured(ctx, *s));
    due
}

/// Commits `t` with its hooks. A failed gate stops the rollout (failed
/// validation before traffic, rollback after) and returns exit 3.
pub async fn advance(
    ctx: &Ctx<'_>,
    doc: &mut StackDoc,
    rev: &mut u64,
    t: &Transition,
    event: &str,
) -> Result<()> {
    let before = doc.status.clone();
    if starts_traffic(&before, &t.status) && configured(ctx, HookStage::PreTraffic) {
        doc.hooks_due = vec![HookStage::PreTraffic];
        *rev = ctx.store.save(doc, *rev).await?;
        if let Some(why) = run_stage(ctx, HookStage::PreTraffic, doc).await? {
            let stop = gate(ctx, doc, Cause::Hook, &why)?;
            commit(
                ctx,
                doc,
                rev,
                &stop,
                "gate-failed",
                &due_after(ctx, &doc.status.clone(), &stop),
            )
            .await?;
            return Err(safety(format!(
                "pre-traffic hook failed; {}: {why}",
                stop.note
            )));
        }
    }
    let due = due_after(ctx, &before, t);
    match (ctx.cfg.rollout.step_timeout, t.moves_up(&before)) {
        (Some(limit), true) => timed_commit(ctx, doc, rev, t, event, &due, limit).await?,
        _ => commit(ctx, doc, rev, t, event, &due).await?,
    }
    run_due(ctx, doc, rev).await
}

/// `step_timeout`: the step must be applied, read back and given healthy
/// capacity within the limit, counted from its first attempt (kept in the
/// state, so cron ticks count too); else it rolls back, reason "stuck".
async fn timed_commit(
    ctx: &Ctx<'_>,
    doc: &mut StackDoc,
    rev: &mut u64,
    t: &Transition,
    event: &str,
    due: &[HookStage],
    limit: std::time::Duration,
) -> Result<()> {
    let step = t.status.step;
    let now = crate::store::now_ms();
    let started = match doc.step_attempt {
        Some((k, at)) if k == step => at,
        _ => {
            doc.step_attempt = Some((step, now));
            *rev = ctx.store.save(doc, *rev).await?;
            now
        }
    };
    let left = limit.saturating_sub(std::time::Duration::from_millis(
        now.saturating_sub(started),
    ));
    let why = |detail: &str| {
        format!(
            "stuck: step {step} ({}% on the candidate) was not applied within step_timeout {}{detail}",
            t.status.weight,
            humantime::format_duration(limit)
        )
    };
    if left.is_zero() {
        let last = doc
            .last_error
            .clone()
            .map(|e| format!(" (last: {e})"))
            .unwrap_or_default();
        return stuck(ctx, doc, rev, &why(&last)).await;
    }
    match tokio::time::timeout(left, commit(ctx, doc, rev, t, event, due)).await {
        Ok(r) => r,
        Err(_) => {
            // The commit was cut short: read back what it left, finish or
            // undo its write-ahead record, then roll back.
            let (d, r) = ctx.load().await?;
            (*doc, *rev) = (d, r);
            transition::repair(ctx, doc, rev).await?;
            stuck(ctx, doc, rev, &why("")).await
        }
    }
}

/// Rolls a stuck step back (exit 3).
async fn stuck(ctx: &Ctx<'_>, doc: &mut StackDoc, rev: &mut u64, why: &str) -> Result<()> {
    let mut stop = gate(ctx, doc, Cause::Stuck, why)?;
    // A change AWS accepted and still moves to (SageMaker Updating) is
    // overwritten by the rollback's weights, even when they did not move.
    if let (Some(to), Some(w)) = (ctx.router.landing().await?, doc.weights) {
        if to != w
            && !stop
                .actions
                .iter()
                .any(|a| matches!(a, Action::SetWeights(_)))
        {
            stop.actions.push(Action::SetWeights(w));
        }
    }
    doc.step_attempt = None;
    let due = due_after(ctx, &doc.status.clone(), &stop);
    if let Err(e) = commit(ctx, doc, rev, &stop, "stuck", &due).await {
        if doc.pending.as_ref().is_some_and(|p| p.event == "stuck") {
            // Recorded (write-ahead): a later run carries the rollback out.
            return Err(safety(format!(
                "{why}; the rollback is recorded but not yet in place ({e}); the next shift, promote or rollback writes it"
            )));
        }
        return Err(e);
    }
    // A weight write cut short may still land: put the recorded weights back.
    if let Some(w) = doc.weights {
        if ctx.router.weights().await? != Some(w) {
            transition::apply_weights(ctx, w).await?;
        }
    }
    run_due(ctx, doc, rev).await?;
    Err(safety(format!("{why}; {}", stop.note)))
}

/// The machine's answer to a failed gate.
fn gate(ctx: &Ctx<'_>, doc: &mut StackDoc, cause: Cause, why: &str) -> Result<Transition> {
    let t = rollout::apply(
        &ctx.spec(),
        &doc.status,
        Event::GateFailed {
            cause,
            reason: why.to_string(),
        },
    )
    .map_err(refusal)?;
    doc.last_error = Some(format!("gate failed: {why}"));
    Ok(t)
}

/// Runs the hook stages recorded as due, oldest first, removing each once it
/// ran. A failed post-step gate rolls back (its post-rollback hooks run too).
pub async fn run_due(ctx: &Ctx<'_>, doc: &mut StackDoc, rev: &mut u64) -> Result<()> {
    let mut failed: Option<String> = None;
    while let Some(&stage) = doc.hooks_due.first() {
        if let Some(why) = run_stage(ctx, stage, doc).await? {
            let stop = gate(ctx, doc, Cause::Hook, &why)?;
            let due = due_after(ctx, &doc.status.clone(), &stop);
            commit(ctx, doc, rev, &stop, "gate-failed", &due).await?;
            failed = Some(format!(
                "{} hook failed; {}: {why}",
                stage.as_str(),
                stop.note
            ));
            continue;
        }
        doc.hooks_due.retain(|s| *s != stage);
        match ctx.store.save(doc, *rev).await {
            Ok(r) => *rev = r,
            // The hooks ran; a lost bookkeeping write only means they may run again.
            Err(e) if !stage.gates() => {
                ctx.out.warn(&format!(
                    "could not record that {} hooks ran: {e}",
                    stage.as_str()
                ));
                break;
            }
            Err(e) => return Err(e),
        }
    }
    match failed {
        Some(m) => Err(safety(m)),
        None => Ok(()),
    }
}

/// Repairs what a killed run left: a pending transition (`transition::repair`),
/// then hook stages still due. Returns true if something changed.
pub async fn repair(ctx: &Ctx<'_>, doc: &mut StackDoc, rev: &mut u64) -> Result<bool> {
    let mut changed = transition::repair(ctx, doc, rev).await?;
    if doc.pending.is_some() || doc.hooks_due.is_empty() {
        return Ok(changed);
    }
    let (pre, post): (Vec<HookStage>, Vec<HookStage>) = doc
        .hooks_due
        .iter()
        .partition(|s| matches!(s, HookStage::PreTraffic | HookStage::PostDeploy));
    if !pre.is_empty() {
        doc.hooks_due = post.clone();
        *rev = ctx.store.save(doc, *rev).await?;
        let names: Vec<&str> = pre.iter().map(|s| s.as_str()).collect();
        let detail = format!(
            "{} hooks were interrupted; they run again before traffic",
            names.join(", ")
        );
        ctx.journal("repair", &detail, doc).await?;
        ctx.out.warn(&detail);
        changed = true;
    }
    if !post.is_empty() {
        let names: Vec<&str> = post.iter().map(|s| s.as_str()).collect();
        ctx.out.warn(&format!(
            "running {} hooks that an interrupted run left due",
            names.join(", ")
        ));
        run_due(ctx, doc, rev).await?;
        changed = true;
    }
    Ok(changed)
}
