//! `rollback`: 100% to the stable colour at once, whoever holds the lock.
use serde_json::json;

use crate::engine::rollback::{rollback, would};
use crate::engine::Ctx;
use crate::error::Result;

pub async fn run(ctx: &Ctx<'_>, reason: Option<&str>, dry_run: bool) -> Result<()> {
    if dry_run {
        let t = would(ctx).await?;
        ctx.out.result(
            &format!("rollback: dry run: would {}", t.note),
            json!({"stack": ctx.cfg.name, "dry_run": true, "would": t.note, "live": t.status.live}),
        );
        return Ok(());
    }
    let doc = rollback(ctx, reason).await?;
    ctx.out.result(
        &format!(
            "rollback: {} is live at 100%",
            doc.status.live.map(|c| c.as_str()).unwrap_or("?")
        ),
        json!({"stack": ctx.cfg.name, "live": doc.status.live, "weights": doc.weights}),
    );
    Ok(())
}
