//! Running a transition against AWS: health check, write-ahead record,
//! weights with read-back, journal; and repairing what a killed run left.
use std::time::Duration;

use serde_json::json;

use crate::alarms::{self, AlarmState};
use crate::app::{read_alarms, refusal, spec, Ctx};
use crate::error::{failed, Error, Result};
use crate::provider::Provider;
use crate::rollout::{self, Action, Color, Event, Outcome, Phase, Transition, Weights};
use crate::state::{now_ms, Pending, StackDoc};

/// Reads the watched alarms and applies a tick to `doc`'s rollout.
pub(crate) async fn tick_now(
    ctx: &Ctx<'_>,
    doc: &StackDoc,
    ignore: &[String],
) -> Result<Transition> {
    let states = read_alarms(ctx, doc.status.candidate).await?;
    tick_with(ctx, doc, &states, ignore)
}

pub(crate) fn tick_with(
    ctx: &Ctx<'_>,
    doc: &StackDoc,
    states: &[AlarmState],
    ignore: &[String],
) -> Result<Transition> {
    let firing = alarms::firing(states, ignore);
    rollout::apply(
        &spec(ctx.cfg),
        &doc.status,
        Event::Tick {
            now: now_ms(),
            firing,
        },
    )
    .map_err(refusal)
}

/// Refuses weights that would send traffic to a colour with no healthy targets.
pub(crate) async fn check_healthy<P: Provider>(p: &P, w: Weights) -> Result<()> {
    for c in Color::BOTH {
        if w.of(c) > 0 && p.healthy(c).await? == 0 {
            return Err(Error::Safety(format!(
                "refusing to route {}% to {c}: it has 0 healthy targets",
                w.of(c)
            )));
        }
    }
    Ok(())
}

/// Sets weights, then reads them back until they match (or fails).
pub(crate) async fn apply_weights<P: Provider>(
    ctx: &Ctx<'_>,
    p: &P,
    w: Weights,
    doc: &StackDoc,
) -> Result<()> {
    p.set_weights(w, &doc.versions).await?;
    let mut seen = None;
    let start = std::time::Instant::now();
    let mut rewritten = false;
    while start.elapsed() < p.settle_timeout() {
        seen = p.weights().await?;
        if seen == Some(w) {
            ctx.out.detail(&format!("read back {w}"));
            return Ok(());
        }
        if !rewritten && start.elapsed() > p.settle_timeout() / 2 {
            // Write once more in case the first write was lost.
            p.set_weights(w, &doc.versions).await?;
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
pub(crate) async fn check_drift<P: Provider>(
    ctx: &Ctx<'_>,
    p: &P,
    doc: &mut StackDoc,
    adopt: bool,
) -> Result<()> {
    let Some(expected) = doc.weights.or_else(|| doc.status.weights()) else {
        return Ok(());
    };
    let seen = p.weights().await?;
    if seen == Some(expected) {
        return Ok(());
    }
    let seen_s = seen.map(|s| s.to_string()).unwrap_or_else(|| "none".into());
    if !adopt {
        return Err(Error::Safety(format!(
            "drift: AWS routes {seen_s} but cutover recorded {expected}; someone changed the weights by hand. Re-run with --adopt to accept what AWS shows, or `cutover rollback`"
        )));
    }
    let Some(seen) = seen else {
        return Err(Error::Safety(
            "drift: no weights found in AWS; cannot adopt".into(),
        ));
    };
    ctx.out.warn(&format!(
        "adopting the weights AWS shows: {seen} (recorded {expected})"
    ));
    if let Some(c) = doc.status.candidate {
        if matches!(doc.status.phase, Phase::Ready | Phase::Shifting) {
            doc.status.weight = seen.of(c);
            if doc.status.weight > 0 {
                doc.status.phase = Phase::Shifting;
                doc.status.step = doc
                    .status
                    .steps
                    .iter()
                    .filter(|s| **s <= seen.of(c))
                    .count();
                doc.status.step_at = Some(now_ms());
            }
        }
    }
    doc.weights = Some(seen);
    Ok(())
}

/// Runs a transition: records it as pending (write-ahead; this also claims it
/// against concurrent writers), runs its actions, then records it as done.
pub(crate) async fn commit<P: Provider>(
    ctx: &Ctx<'_>,
    p: &P,
    doc: &mut StackDoc,
    rev: &mut u64,
    t: &Transition,
    event: &str,
) -> Result<()> {
    let old_live = doc.status.live;
    let target = t
        .actions
        .iter()
        .find_map(|a| match a {
            Action::SetWeights(w) => Some(*w),
            _ => None,
        })
        .or(doc.weights);
    let retire = t.actions.iter().find_map(|a| match a {
        Action::Retire(c) => Some(*c),
        _ => None,
    });
    if let Some(w) = target.filter(|_| t.actions.iter().any(|a| matches!(a, Action::SetWeights(_))))
    {
        check_healthy(p, w).await?;
    }
    doc.pending = Some(Pending {
        status: t.status.clone(),
        weights: target,
        note: t.note.clone(),
        event: event.into(),
        retire,
    });
    *rev = ctx.store.save(doc, *rev).await?;
    for a in &t.actions {
        match a {
            Action::SetWeights(w) => apply_weights(ctx, p, *w, doc).await?,
            Action::Retire(c) => {
                let live = t.status.live.unwrap_or(c.other());
                p.retire(*c, live).await?;
            }
        }
    }
    doc.pending = None;
    doc.weights = target;
    if t.status.phase == Phase::RolledBack && doc.status.phase != Phase::RolledBack {
        if let Some(c) = doc.status.candidate {
            doc.rejected = doc.versions.get(&c).cloned();
        }
    }
    doc.status = t.status.clone();
    if let Outcome::AutoRolledBack(names) = &t.outcome {
        doc.last_error = Some(format!("rolled back: alarm {} in ALARM", names.join(", ")));
    }
    *rev = ctx.store.save(doc, *rev).await?;
    ctx.store.journal(event, &t.note, doc).await?;
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
    Ok(())
}

/// Finishes or drops a transition an earlier run left pending (it was killed
/// between recording and completing it). Returns true if something changed.
pub(crate) async fn repair<P: Provider>(
    ctx: &Ctx<'_>,
    p: &P,
    doc: &mut StackDoc,
    rev: &mut u64,
) -> Result<bool> {
    let Some(pending) = doc.pending.clone() else {
        return Ok(false);
    };
    let seen = p.weights().await?;
    let detail;
    if pending.weights.is_some() && seen == pending.weights {
        if let Some(c) = pending.retire {
            p.retire(c, pending.status.live.unwrap_or(c.other()))
                .await?;
        }
        detail = format!("finished an interrupted transition: {}", pending.note);
        doc.status = pending.status.clone();
        doc.weights = pending.weights;
    } else if seen == doc.weights || doc.weights.is_none() {
        detail = format!(
            "dropped an interrupted transition that had not taken effect: {}",
            pending.note
        );
    } else {
        // Neither: leave it for the drift check to report.
        return Ok(false);
    }
    doc.pending = None;
    *rev = ctx.store.save(doc, *rev).await?;
    ctx.store.journal("repair", &detail, doc).await?;
    ctx.out.warn(&detail);
    Ok(true)
}
