//! `provision`: runs exactly the steps `plan` shows.
use serde_json::json;

use crate::engine::lease::locked;
use crate::engine::provision::{self, Step};
use crate::engine::Ctx;
use crate::error::{Error, Result};

pub async fn run(ctx: &Ctx<'_>, dry_run: bool) -> Result<()> {
    let mut plan = provision::plan(ctx).await?;
    let changes = plan.changes(ctx);
    if changes.is_empty() {
        ctx.out.result(
            if dry_run {
                "provision: dry run: nothing to change"
            } else {
                "provision: nothing to change"
            },
            json!({"stack": ctx.cfg.name, "changed": false, "changes": []}),
        );
        return Ok(());
    }
    if dry_run {
        for c in &changes {
            ctx.out
                .info(&format!("  would {} {}", c.action, c.resource));
        }
        ctx.out.result(
            &format!(
                "provision: dry run: {} change(s) would be made",
                changes.len()
            ),
            json!({"stack": ctx.cfg.name, "dry_run": true, "changed": false, "changes": changes}),
        );
        return Ok(());
    }
    ctx.out.info(&format!(
        "provisioning stack {} ({})",
        ctx.cfg.name,
        ctx.cfg.provider()
    ));
    let steps = plan.steps.clone();
    let show = |s: &Step| {
        let c = provision::describe(ctx, s);
        ctx.out.info(&format!("  {} {}", c.action, c.resource));
    };
    // The lock lives in the table, so the table comes first.
    let (first, rest): (Vec<&Step>, Vec<&Step>) =
        steps.iter().partition(|s| matches!(s, Step::CreateTable));
    for s in first {
        show(s);
        provision::apply(ctx, &mut plan, s).await?;
    }
    locked(ctx, "provision", async || {
        for s in &rest {
            show(s);
            provision::apply(ctx, &mut plan, s).await?;
        }
        let (doc, _) = ctx.load().await?;
        ctx.journal("provision", &format!("{} change(s)", changes.len()), &doc)
            .await?;
        Ok::<(), Error>(())
    })
    .await?;
    ctx.out.result(
        &format!("provision: done ({} change(s))", changes.len()),
        json!({"stack": ctx.cfg.name, "changed": true, "changes": changes}),
    );
    Ok(())
}
