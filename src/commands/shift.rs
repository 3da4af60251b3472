//! `shift`: the rollout in the foreground (each step, its bake, the alarm
//! watch; Ctrl-C stops cleanly), and `shift --to P`.
use std::time::Duration;

use serde_json::json;

use crate::aws::alarms;
use crate::engine::flow::{advance, repair};
use crate::engine::gates;
use crate::engine::lease::{locked, take_lock, Held};
use crate::engine::transition::check_drift;
use crate::engine::watch::{read_alarms, tick_with, warn_insufficient};
use crate::engine::{ctx::refusal, Ctx};
use crate::error::{invalid, safety, Error, Result};
use crate::rollout::{self, Event, Outcome, Phase};
use crate::store::{now_ms, StackDoc};

/// `shift --to P`: the alarm pre-flight, the weights, the read-back; no bake.
pub async fn to(ctx: &Ctx<'_>, pct: u8, ignore: &[String], adopt: bool) -> Result<()> {
    let (doc, _) = ctx.load().await?;
    let sp = ctx.spec();
    // Dry run on the current state: bad requests fail before the lock.
    rollout::apply(
        &sp,
        &doc.status,
        Event::ShiftTo {
            percent: pct,
            now: now_ms(),
            firing: vec![],
        },
    )
    .map_err(refusal)?;
    locked(ctx, "shift --to", async || {
        let (mut doc, mut rev) = ctx.load().await?;
        repair(ctx, &mut doc, &mut rev).await?;
        check_drift(ctx, &mut doc, adopt).await?;
        let states = read_alarms(ctx, doc.status.candidate).await?;
        warn_insufficient(ctx, &states);
        let firing = alarms::firing(&states, ignore);
        let t = rollout::apply(
            &sp,
            &doc.status,
            Event::ShiftTo {
                percent: pct,
                now: now_ms(),
                firing,
            },
        )
        .map_err(refusal)?;
        advance(ctx, &mut doc, &mut rev, &t, "shift").await
    })
    .await
}

/// Says where the rollout is held and how to go on.
fn paused(ctx: &Ctx<'_>, doc: &StackDoc) {
    ctx.out.result(
        &format!(
            "shift: paused at step {}/{} ({}); run `cutover continue` to apply the next step, then `cutover shift` for the rest",
            doc.status.step,
            doc.status.steps.len(),
            doc.weights.map(|w| w.to_string()).unwrap_or_default()
        ),
        json!({"state": "paused", "step": doc.status.step, "weights": doc.weights}),
    );
}

/// `shift`: the whole rollout in the foreground.
pub async fn run(ctx: &Ctx<'_>, ignore: &[String], adopt: bool) -> Result<()> {
    let (doc, _) = ctx.load().await?;
    match doc.status.phase {
        Phase::Ready | Phase::Shifting => {}
        Phase::Paused => {
            paused(ctx, &doc);
            return Ok(());
        }
        Phase::Complete => {
            if doc.alias_owed.is_some() {
                // Nothing to shift, but a registry alias move is still owed.
                locked(ctx, "shift", async || {
                    let (mut doc, mut rev) = ctx.load().await?;
                    repair(ctx, &mut doc, &mut rev).await.map(|_| ())
                })
                .await?;
            }
            ctx.out.result(
                "shift: the rollout is already complete",
                json!({"state": "complete"}),
            );
            return Ok(());
        }
        Phase::FailedValidation => return Err(refusal(rollout::not_validated(&doc.status))),
        other => {
            return Err(invalid(format!(
                "nothing to shift (rollout state is {}); run `cutover deploy --version V` first",
                other.as_str()
            )))
        }
    }
    let held = take_lock(ctx, "shift").await?;
    let res = shift_loop(ctx, ignore, adopt, &held).await;
    held.release().await;
    res
}

async fn shift_loop(ctx: &Ctx<'_>, ignore: &[String], adopt: bool, held: &Held) -> Result<()> {
    let poll = ctx.cfg.rollout.poll_interval;
    let (mut doc, mut rev) = ctx.load().await?;
    repair(ctx, &mut doc, &mut rev).await?;
    check_drift(ctx, &mut doc, adopt).await?;
    let candidate = doc.status.candidate;
    let first = read_alarms(ctx, candidate).await?;
    warn_insufficient(ctx, &first);
    let mut states = first;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let probe_every = ctx.cfg.rollout.probe_interval.map(|d| d.as_millis() as u64);
    let mut next_probe = now_ms();
    loop {
        let t = tick_with(ctx, &doc, &states, ignore)?;
        // The end of a bake: the model gates decide before the next step.
        let mut t = gates::gate(ctx, &mut doc, t).await?;
        if let (Outcome::Wait(_), Some(every), Phase::Shifting, Some(c)) = (
            &t.outcome,
            probe_every,
            doc.status.phase,
            doc.status.candidate,
        ) {
            if now_ms() >= next_probe {
                next_probe = now_ms() + every;
                let failure = gates::probe_round(ctx, c).await?;
                if let Some(ev) = gates::count_probe(ctx, &mut doc, failure) {
                    t = rollout::apply(&ctx.spec(), &doc.status, ev).map_err(refusal)?;
                }
            }
        }
        match &t.outcome {
            Outcome::Changed | Outcome::AutoRolledBack(_) | Outcome::Stopped(_) => {
                advance(ctx, &mut doc, &mut rev, &t, gates::event_name(&t, "step")).await?;
                if let Some(e) = gates::stopped_error(&t, &doc) {
                    return Err(e);
                }
                if doc.status.phase == Phase::Paused {
                    ctx.out.ticker_done();
                    paused(ctx, &doc);
                    return Ok(());
                }
                if doc.status.phase == Phase::Complete {
                    ctx.out.result(
                        &format!(
                            "shift: complete; {} is live",
                            doc.status.live.map(|c| c.as_str()).unwrap_or("?")
                        ),
                        json!({"state": "complete", "live": doc.status.live}),
                    );
                    return Ok(());
                }
            }
            Outcome::Wait(until) => {
                let Some(until) = *until else {
                    return Ok(());
                };
                let now = now_ms();
                let left = until.saturating_sub(now);
                ctx.out.ticker(&format!(
                    "step {}/{}: {}, baking, {}s left",
                    doc.status.step,
                    doc.status.steps.len(),
                    doc.weights.map(|w| w.to_string()).unwrap_or_default(),
                    left.div_ceil(1000)
                ));
                let mut nap = left.min(poll.as_millis() as u64);
                if probe_every.is_some() {
                    nap = nap.min(next_probe.saturating_sub(now));
                }
                let nap = Duration::from_millis(nap.max(1));
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    _ = &mut ctrl_c => {
                        ctx.out.ticker_done();
                        ctx.journal("interrupted", &format!("shift stopped by the user at step {}; weights stay {}", doc.status.step, doc.weights.map(|w| w.to_string()).unwrap_or_default()), &doc).await?;
                        ctx.out.info("interrupted: weights stay where they are; run `cutover shift` or `promote` to resume");
                        return Err(Error::Interrupted);
                    }
                }
            }
        }
        // Poll: alarms, and whether someone else (a rollback) changed the state.
        let (alarms_now, state_now) = tokio::join!(read_alarms(ctx, candidate), ctx.load());
        states = alarms_now?;
        let (fresh, fresh_rev) = state_now?;
        if fresh_rev != rev {
            ctx.out.ticker_done();
            return Err(safety(format!(
                "the rollout was changed by another run (now {}); this shift stops",
                fresh.status.phase.as_str()
            )));
        }
        if held.lost() {
            ctx.out.ticker_done();
            return Err(safety(
                "this stack's lock was taken by another run (a rollback) or could not be renewed; this shift stops",
            ));
        }
    }
}
