//! `rollback`: 100% to the stable colour at once. It takes the lock whoever
//! holds it; the holder notices and stops.
use serde_json::json;

use crate::engine::flow::{advance, repair};
use crate::engine::{ctx::refusal, Ctx};
use crate::error::{invalid, Error, Result};
use crate::rollout::{self, Event};
use crate::store::now_ms;

pub async fn run(ctx: &Ctx<'_>, reason: Option<&str>) -> Result<()> {
    let Some((doc, _)) = ctx.store.load_if_table().await? else {
        return Err(invalid(format!(
            "stack {} is not provisioned; nothing to roll back",
            ctx.cfg.name
        )));
    };
    rollout::apply(&ctx.spec(), &doc.status, Event::Rollback { now: now_ms() }).map_err(refusal)?;
    // Emergency action: takes the lock whoever holds it; the holder notices and stops.
    let lock = ctx.store.steal_lock(ctx.cfg.lock_lease, "rollback").await?;
    let res = async {
        let mut last = None;
        for _ in 0..5 {
            let (mut doc, mut rev) = ctx.load().await?;
            // An emergency action: a failed repair must not stop it.
            if let Err(e) = repair(ctx, &mut doc, &mut rev).await {
                ctx.out.warn(&format!(
                    "could not repair an interrupted transition first: {e}"
                ));
            }
            doc.pending = None;
            let t = rollout::apply(&ctx.spec(), &doc.status, Event::Rollback { now: now_ms() })
                .map_err(refusal)?;
            let mut t = t;
            if let Some(r) = reason {
                t.note = format!("{} — {r}", t.note);
                doc.last_error = Some(format!("rolled back by hand: {r}"));
            }
            match advance(ctx, &mut doc, &mut rev, &t, "rollback").await {
                Ok(()) => return Ok(doc),
                Err(Error::Conflict(m)) => last = Some(m),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(last.unwrap_or_default()))
    }
    .await;
    if let Err(e) = ctx.store.unlock(&lock).await {
        ctx.out.warn(&format!(
            "could not release the lock (it expires by itself): {e}"
        ));
    }
    let doc = res?;
    ctx.out.result(
        &format!(
            "rollback: {} is live at 100%",
            doc.status.live.map(|c| c.as_str()).unwrap_or("?")
        ),
        json!({"stack": ctx.cfg.name, "live": doc.status.live, "weights": doc.weights}),
    );
    Ok(())
}
