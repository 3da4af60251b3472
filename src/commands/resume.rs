//! `continue` (module `resume`: `continue` is a Rust keyword): passes the
//! pause a rollout is held at and applies the next step now, with the alarm
//! pre-flight, the health check and the read-back, like `shift --to`. It does
//! not bake: the next `shift` or `promote` carries on from there.
use serde_json::json;

use crate::aws::alarms;
use crate::engine::flow::{advance, repair};
use crate::engine::lease::locked;
use crate::engine::transition::check_drift;
use crate::engine::watch::{read_alarms, warn_insufficient};
use crate::engine::{ctx::refusal, Ctx};
use crate::error::Result;
use crate::rollout::{self, Event, Phase};
use crate::store::now_ms;

pub async fn run(ctx: &Ctx<'_>, ignore: &[String], adopt: bool) -> Result<()> {
    let (doc, _) = ctx.load_provisioned().await?;
    // Nothing paused: exit 2 before the lock, with nothing written.
    let dry = Event::Continue {
        now: now_ms(),
        firing: vec![],
    };
    rollout::apply(&ctx.spec(), &doc.status, dry).map_err(refusal)?;
    let doc = locked(ctx, "continue", async || {
        let (mut doc, mut rev) = ctx.load().await?;
        repair(ctx, &mut doc, &mut rev).await?;
        check_drift(ctx, &mut doc, adopt).await?;
        let states = read_alarms(ctx, doc.status.candidate).await?;
        warn_insufficient(ctx, &states);
        let ev = Event::Continue {
            now: now_ms(),
            firing: alarms::firing(&states, ignore),
        };
        let t = rollout::apply(&ctx.spec(), &doc.status, ev).map_err(refusal)?;
        advance(ctx, &mut doc, &mut rev, &t, "continue").await?;
        Ok(doc)
    })
    .await?;
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
