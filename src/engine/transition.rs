//! Running a transition against AWS: health check, write-ahead record,
//! weights with read-back, journal; repairing what a killed run left; drift.
use std::time::Duration;

use serde_json::json;

use super::alias;
use super::ctx::Ctx;
use crate::config::HookStage;
use crate::error::{failed, safety, Result};
use crate::providers::{Release, Router};
use crate::rollout::{self, Action, Color, Outcome, Repair, Transition, Weights};
use crate::store::{now_ms, Pending, StackDoc};

/// Refuses weights that would send traffic to a colour with no healthy targets.
pub async fn check_healthy(ctx: &Ctx<'_>, w: Weights) -> Result<()> {
    for c in Color::BOTH {
        if w.of(c) > 0 && ctx.release.healthy(c).await? == 0 {
            return Err(safety(format!(
                "refusing to route {}% to {c}: it has 0 healthy targets",
                w.of(c)
            )));
        }
    }
    Ok(())
}

/// Sets weights, then reads them back until they match (or fails).
pub async fn apply_weights(ctx: &Ctx<'_>, w: Weights) -> Result<()> {
    ctx.router.set_weights(w).await?;
    let settle = ctx.router.settle_timeout();
    let mut seen = None;
    let start = tokio::time::Instant::now();
    let mut rewritten = false;
    while start.elapsed() < settle {
        seen = ctx.router.weights().await?;
        if seen == Some(w) {
            ctx.out.detail(&format!("read back {w}"));
            // For the dashboard: each colour's weight beside its errors.
            let cw = &ctx.clients.cloudwatch;
            if let Err(e) = crate::aws::dashboard::put_weights(cw, &ctx.cfg.name, w).await {
                ctx.out.warn(&format!("weight metric not put: {e}"));
            }
            return Ok(());
        }
        if !rewritten && start.elapsed() > settle / 2 {
            // Write once more in case the first write was lost.
            ctx.router.set_weights(w).await?;
            rewritten = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(failed(format!(
        "weights read back as {} after setting {w}",
        seen.map(|s| s.to_string())
            .unwrap_or_else(|| "nothing".into())
    )))
}

/// Refuses when AWS's weights differ from the recorded ones (unless --adopt).
pub async fn check_drift(ctx: &Ctx<'_>, doc: &mut StackDoc, adopt: bool) -> Result<()> {
    let Some(expected) = doc.weights.or_else(|| doc.status.weights()) else {
        return Ok(());
    };
    let seen = ctx.router.weights().await?;
    if seen == Some(expected) {
        return Ok(());
    }
    let seen_s = seen.map(|s| s.to_string()).unwrap_or_else(|| "none".into());
    if !adopt {
        return Err(safety(format!(
            "drift: AWS routes {seen_s} but cutover recorded {expected}; someone changed the weights by hand. Re-run with --adopt to accept what AWS shows, or `cutover rollback`"
        )));
    }
    let Some(seen) = seen else {
        return Err(safety("drift: no weights found in AWS; cannot adopt"));
    };
    ctx.out.warn(&format!(
        "adopting the weights AWS shows: {seen} (recorded {expected})"
    ));
    doc.status = rollout::adopt(&doc.status, seen, now_ms());
    doc.weights = Some(seen);
    Ok(())
}

/// Runs a transition: records it as pending (write-ahead; this also claims it
/// against concurrent writers), runs its actions, then records it as done.
pub async fn commit(
    ctx: &Ctx<'_>,
    doc: &mut StackDoc,
    rev: &mut u64,
    t: &Transition,
    event: &str,
    due_after: &[HookStage],
) -> Result<()> {
    let old_live = doc.status.live;
    let set = t.actions.iter().find_map(|a| match a {
        Action::SetWeights(w) => Some(*w),
        _ => None,
    });
    let retire = t.actions.iter().find_map(|a| match a {
        Action::Retire(c) => Some(*c),
        _ => None,
    });
    // Capacity comes before any weight moves, and needs no write-ahead record.
    for a in &t.actions {
        if let Action::MatchCapacity(c) = a {
            ctx.release.match_capacity(*c, &ctx.out).await?;
        }
    }
    if let Some(w) = set {
        check_healthy(ctx, w).await?;
    }
    let target = set.or(doc.weights);
    let alias = alias::owed_by(ctx, doc, &t.status);
    doc.pending = Some(Pending {
        status: t.status.clone(),
        weights: target,
        note: t.note.clone(),
        event: event.into(),
        retire,
        alias: alias.clone(),
        hooks_after: due_after.to_vec(),
    });
    // A new transition supersedes hook stages that were due before it.
    doc.hooks_due.clear();
    *rev = ctx.store.save(doc, *rev).await?;
    for a in &t.actions {
        match a {
            Action::SetWeights(w) => apply_weights(ctx, *w).await?,
            Action::Retire(c) => ctx.release.retire(*c).await?,
            Action::MatchCapacity(_) => {}
        }
    }
    // A shadow left on the endpoint after a rollback or a failed gate goes too.
    if ctx.cfg.shadow.is_some() && t.status.phase.stopped() {
        if let Some(c) = t.status.candidate {
            ctx.release.drop_shadow(c).await?;
        }
    }
    doc.pending = None;
    doc.weights = target;
    if t.rejects {
        if let Some(c) = doc.status.candidate {
            doc.rejected = doc.versions.get(&c).cloned();
        }
    }
    doc.status = t.status.clone();
    if alias.is_some() {
        doc.alias_owed = alias;
    }
    if let Outcome::AutoRolledBack(names) = &t.outcome {
        doc.last_error = Some(format!("rolled back: alarm {} in ALARM", names.join(", ")));
    }
    // Hooks due after this transition are recorded with it (write-ahead).
    doc.hooks_due = due_after.to_vec();
    // The step holds: its attempt (for `step_timeout`) is over.
    doc.step_attempt = None;
    *rev = ctx.store.save(doc, *rev).await?;
    sync_scaling(ctx, doc).await;
    ctx.journal(event, &t.note, doc).await?;
    let mut extra = json!({"state": doc.status.phase.as_str(), "step": doc.status.step, "weights": doc.weights});
    if old_live != doc.status.live {
        extra["live"] = json!(doc.status.live);
    }
    ctx.out.event(
        event,
        &format!(
            "{} ({})",
            t.note,
            doc.weights.map(|w| w.to_string()).unwrap_or_default()
        ),
        extra,
    );
    alias::mark_packages(ctx, doc, old_live).await;
    alias::settle(ctx, doc, rev).await
}

/// Brings autoscaling in line with the new status. The transition already
/// holds, so a failure is a warning; `provision` re-applies the modes.
async fn sync_scaling(ctx: &Ctx<'_>, doc: &StackDoc) {
    if let Err(e) = ctx.release.sync_scaling(&doc.status).await {
        ctx.out.warn(&format!(
            "autoscaling not updated for state {}: {e}; `cutover provision` re-applies it",
            doc.status.phase.as_str()
        ));
    }
}

/// Finishes or drops a transition an earlier run left pending (it was killed
/// between recording and completing it), then makes an owed registry alias
/// move. Returns true if a pending transition was finished or dropped.
pub async fn repair(ctx: &Ctx<'_>, doc: &mut StackDoc, rev: &mut u64) -> Result<bool> {
    let changed = repair_pending(ctx, doc, rev).await?;
    alias::settle(ctx, doc, rev).await?;
    Ok(changed)
}

async fn repair_pending(ctx: &Ctx<'_>, doc: &mut StackDoc, rev: &mut u64) -> Result<bool> {
    let Some(pending) = doc.pending.clone() else {
        return Ok(false);
    };
    let seen = rollout::Seen {
        now: ctx.router.weights().await?,
        landing: ctx.router.landing().await?,
    };
    let rollback = pending.status.phase.stopped();
    let decision = rollout::repair_decision(doc.weights, pending.weights, seen, rollback);
    if let (Repair::Rewrite, Some(w)) = (decision, pending.weights) {
        apply_weights(ctx, w).await?;
    }
    let detail = match decision {
        Repair::Finish | Repair::Rewrite => {
            if let Some(c) = pending.retire {
                ctx.release.retire(c).await?;
            }
            doc.status = pending.status.clone();
            doc.weights = pending.weights;
            sync_scaling(ctx, doc).await;
            if pending.alias.is_some() {
                doc.alias_owed = pending.alias.clone();
            }
            doc.hooks_due = pending.hooks_after.clone();
            // The step holds: its attempt is over (a dropped one keeps counting).
            doc.step_attempt = None;
            format!("finished an interrupted transition: {}", pending.note)
        }
        Repair::Drop => format!(
            "dropped an interrupted transition that had not taken effect: {}",
            pending.note
        ),
        Repair::Leave => return Ok(false),
    };
    doc.pending = None;
    *rev = ctx.store.save(doc, *rev).await?;
    ctx.journal("repair", &detail, doc).await?;
    ctx.out.warn(&detail);
    Ok(true)
}
