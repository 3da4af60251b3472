//! `promote`: one scheduled tick that does at most one due thing, then exits.
use std::time::Duration;

use serde_json::json;

use super::deploy::{self, Source};
use crate::config::Backend;
use crate::engine::flow::{advance, repair};
use crate::engine::lease::locked;
use crate::engine::transition::check_drift;
use crate::engine::watch::tick_now;
use crate::engine::Ctx;
use crate::error::{invalid, safety, Result};
use crate::providers::Provider;
use crate::rollout::Outcome;
use crate::store::{now_ms, StackDoc};

/// `promote --auto-deploy` with no rollout under way: deploys the newest
/// Approved model package when it is neither live nor the last rejected one.
async fn auto_deploy_tick(ctx: &Ctx<'_>, doc: &StackDoc) -> Result<String> {
    let (Provider::SageMaker(sm), Backend::Sagemaker(s)) = (&ctx.p, &ctx.cfg.backend) else {
        return Err(invalid(
            "--auto-deploy works only with provider = \"sagemaker\"",
        ));
    };
    let group = s
        .model_package_group
        .clone()
        .ok_or_else(|| invalid("--auto-deploy needs `model_package_group` in [sagemaker]"))?;
    let probe = sm
        .resolve_package(&group, doc.status.idle_color(), doc.status.live)
        .await?;
    let live_version = doc.status.live.and_then(|c| doc.versions.get(&c)).cloned();
    let msg = if live_version.as_deref() == Some(probe.version.as_str()) {
        format!("nothing due ({} is live)", probe.version)
    } else if doc.rejected.as_deref() == Some(probe.version.as_str()) {
        format!(
            "nothing due ({} was rolled back; waiting for a newer Approved package)",
            probe.version
        )
    } else {
        deploy::run(ctx, Source::PackageGroup(&group), Duration::from_secs(1800)).await?;
        format!("auto-deployed {}", probe.version)
    };
    ctx.out.result(
        &format!("promote: {msg}"),
        json!({"stack": ctx.cfg.name, "action": msg}),
    );
    Ok(msg)
}

/// The flags of one tick.
#[derive(Clone, Copy)]
pub struct Flags<'f> {
    pub ignore: &'f [String],
    pub adopt: bool,
    pub auto_deploy: bool,
}

/// One scheduled tick. Returns a one-line summary of what it did.
pub async fn tick(ctx: &Ctx<'_>, f: Flags<'_>, preloaded: Option<StackDoc>) -> Result<String> {
    let ignore = f.ignore;
    let doc = match preloaded {
        Some(d) => d,
        None => ctx.load_provisioned().await?.0,
    };
    let active = doc.status.phase.is_active();
    // Something a killed run left (a transition or hooks) is repaired under the lock.
    let left = doc.pending.is_some() || !doc.hooks_due.is_empty();
    if !active && !left && f.auto_deploy {
        return auto_deploy_tick(ctx, &doc).await;
    }
    if !active && !left {
        let msg = format!("nothing due (state {})", doc.status.phase.as_str());
        ctx.out.result(
            &format!("promote: {msg}"),
            json!({"stack": ctx.cfg.name, "action": "none", "state": doc.status.phase.as_str()}),
        );
        return Ok(msg);
    }
    let t = tick_now(ctx, &doc, ignore).await?;
    if let (Outcome::Wait(until), true) = (t.outcome.clone(), !left) {
        let when = until
            .map(|u| {
                format!(
                    ", next action in {}s",
                    u.saturating_sub(now_ms()).div_ceil(1000)
                )
            })
            .unwrap_or_default();
        let hint = if doc.status.phase == crate::rollout::Phase::Paused {
            "; paused until `cutover continue`"
        } else {
            ""
        };
        let msg = format!(
            "nothing due (state {}, step {}{when}{hint})",
            doc.status.phase.as_str(),
            doc.status.step
        );
        ctx.out.result(&format!("promote: {msg}"), json!({"stack": ctx.cfg.name, "action": "none", "state": doc.status.phase.as_str(), "step": doc.status.step}));
        return Ok(msg);
    }
    let result = locked(ctx, "promote", async || {
        let (mut doc, mut rev) = ctx.load().await?;
        repair(ctx, &mut doc, &mut rev).await?;
        check_drift(ctx, &mut doc, f.adopt).await?;
        let t = tick_now(ctx, &doc, ignore).await?;
        match &t.outcome {
            Outcome::Wait(_) => Ok("nothing due".to_string()),
            Outcome::Changed => {
                advance(ctx, &mut doc, &mut rev, &t, "promote").await?;
                Ok(t.note.clone())
            }
            Outcome::AutoRolledBack(names) => {
                advance(ctx, &mut doc, &mut rev, &t, "auto-rollback").await?;
                Err(safety(format!(
                    "alarm {} in ALARM: rolled back",
                    names.join(", ")
                )))
            }
        }
    })
    .await?;
    ctx.out.result(
        &format!("promote: {result}"),
        json!({"stack": ctx.cfg.name, "action": result, "state": "changed"}),
    );
    Ok(result)
}
