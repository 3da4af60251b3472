//! The rollback transaction: 100% to the stable colour at once. It takes the
//! lock whoever holds it (an emergency action); the holder notices and stops.
use super::ctx::{refusal, Ctx};
use super::flow::{advance, repair};
use crate::error::{invalid, Error, Result};
use crate::rollout::{self, Event, Transition};
use crate::store::{now_ms, StackDoc};

/// What a rollback would do now, checked before the lock (exit 2 when there
/// is nothing to roll back to).
pub async fn would(ctx: &Ctx<'_>) -> Result<Transition> {
    let Some((doc, _)) = ctx.store.load_if_table().await? else {
        return Err(invalid(format!(
            "stack {} is not provisioned; nothing to roll back",
            ctx.cfg.name
        )));
    };
    rollout::apply(&ctx.spec(), &doc.status, Event::Rollback { now: now_ms() }).map_err(refusal)
}

/// Rolls back; returns the state after it.
pub async fn rollback(ctx: &Ctx<'_>, reason: Option<&str>) -> Result<StackDoc> {
    would(ctx).await?;
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
            let mut t = rollout::apply(&ctx.spec(), &doc.status, Event::Rollback { now: now_ms() })
                .map_err(refusal)?;
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
    res
}
