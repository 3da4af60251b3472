//! `continue` (module `resume`: `continue` is a Rust keyword): passes the
//! pause a rollout is held at and applies the next step now, with the alarm
//! pre-flight, the health check and the read-back, like `shift --to`. It does
//! not bake: the next `shift` or `promote` carries on from there.
use serde_json::json;

use super::say;
use crate::engine::drive::{drive, Ended, Intent, Opts};
use crate::engine::Ctx;
use crate::error::Result;
use crate::rollout::Phase;

pub async fn run(ctx: &Ctx<'_>, opts: Opts<'_>) -> Result<()> {
    let ended = drive(ctx, Intent::Continue, opts).await?;
    if let Ended::Would(..) = ended {
        say(ctx, "continue", &ended);
        return Ok(());
    }
    let doc = ended.doc();
    let next = if doc.status.phase == Phase::Complete {
        "the candidate is live".to_string()
    } else {
        "`cutover shift` or the next `promote` carries on".to_string()
    };
    ctx.out.result(
        &format!(
            "continue: step {}/{}: {}; {next}",
            doc.status.step,
            doc.status.steps.len(),
            doc.weights.map(|w| w.to_string()).unwrap_or_default()
        ),
        json!({"stack": ctx.cfg.name, "state": doc.status.phase.as_str(), "step": doc.status.step, "weights": doc.weights}),
    );
    Ok(())
}
