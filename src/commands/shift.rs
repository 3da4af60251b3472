//! `shift`: the whole rollout in the foreground (steps, bakes, the alarm
//! watch; Ctrl-C, SIGTERM and SIGHUP stop cleanly), and `shift --to P`.
use serde_json::json;

use super::say;
use crate::engine::drive::{drive, Ended, Intent, Opts};
use crate::engine::Ctx;
use crate::error::Result;
use crate::rollout::Phase;

/// `shift --to P`: the alarm pre-flight, the weights, the read-back; no bake.
pub async fn to(ctx: &Ctx<'_>, pct: u8, opts: Opts<'_>) -> Result<()> {
    let ended = drive(ctx, Intent::To(pct), opts).await?;
    say(ctx, "shift", &ended);
    Ok(())
}

/// `shift`: every step and bake until complete, paused or stopped.
pub async fn run(ctx: &Ctx<'_>, opts: Opts<'_>) -> Result<()> {
    let ended = drive(ctx, Intent::Run, opts).await?;
    let doc = ended.doc();
    match (&ended, doc.status.phase) {
        (Ended::Would(..), _) => say(ctx, "shift", &ended),
        (_, Phase::Paused) => ctx.out.result(
            &format!(
                "shift: paused at step {}/{} ({}){}; run `cutover continue` to apply the next step, then `cutover shift` for the rest",
                doc.status.step,
                doc.status.steps.len(),
                doc.weights.map(|w| w.to_string()).unwrap_or_default(),
                doc.status.hold_reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
            ),
            json!({"state": "paused", "step": doc.status.step, "weights": doc.weights, "hold_reason": doc.status.hold_reason}),
        ),
        (Ended::Nothing(..), Phase::Complete) => ctx.out.result(
            "shift: the rollout is already complete",
            json!({"state": "complete"}),
        ),
        (_, Phase::Complete) => ctx.out.result(
            &format!(
                "shift: complete; {} is live",
                doc.status.live.map(|c| c.as_str()).unwrap_or("?")
            ),
            json!({"state": "complete", "live": doc.status.live}),
        ),
        _ => say(ctx, "shift", &ended),
    }
    Ok(())
}
