//! `promote`: one scheduled tick that does at most one due thing, then exits.
use std::time::Duration;

use serde_json::json;

use super::deploy::{self, Source};
use crate::config::Backend;
use crate::engine::ctx::refusal;
use crate::engine::flow::{advance, repair};
use crate::engine::gates;
use crate::engine::lease::locked;
use crate::engine::transition::check_drift;
use crate::engine::watch::tick_now;
use crate::engine::Ctx;
use crate::error::{invalid, Result};
use crate::providers::Provider;
use crate::rollout::{self, Outcome, Phase};
use crate::store::{now_ms, StackDoc};

/// `promote --auto-deploy` following `[registry] follow`: deploys the version
/// that alias names when it is neither live nor the last rejected one.
async fn follow_tick(ctx: &Ctx<'_>, doc: &StackDoc, model: &str, follow: &str) -> Result<String> {
    let mv = deploy::resolve_model(ctx, &format!("models:/{model}@{follow}")).await?;
    let v = mv.version.as_str();
    let live_version = doc
        .status
        .live
        .filter(|c| doc.models.get(c).map(String::as_str) == Some(model))
        .and_then(|c| doc.versions.get(&c));
    let msg = if live_version.map(String::as_str) == Some(v) {
        format!("nothing due ({model} version {v}, named by @{follow}, is live)")
    } else if doc.rejected.as_deref() == Some(v) {
        format!("nothing due ({model} version {v} was rolled back; waiting for @{follow} to move)")
    } else {
        let r = format!("models:/{model}/{v}");
        deploy::run(ctx, Source::Version(&r), Duration::from_secs(1800)).await?;
        format!("auto-deployed {model} version {v} (@{follow})")
    };
    ctx.out.result(
        &format!("promote: {msg}"),
        json!({"stack": ctx.cfg.name, "action": msg, "version": v}),
    );
    Ok(msg)
}

/// `promote --auto-deploy` with no rollout under way: follows the registry
/// alias if one is configured, else deploys the newest Approved model
/// package when it is neither live nor the last rejected one.
async fn auto_deploy_tick(ctx: &Ctx<'_>, doc: &StackDoc) -> Result<String> {
    if let Some(reg) = &ctx.cfg.registry {
        if let Some(follow) = &reg.follow {
            return follow_tick(ctx, doc, &reg.model, follow).await;
        }
    }
    let (Provider::SageMaker(sm), Backend::Sagemaker(s)) = (&ctx.p, &ctx.cfg.backend) else {
        return Err(invalid(
            "--auto-deploy needs `follow` in [registry], or provider = \"sagemaker\" with a model_package_group",
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
    let mut doc = match preloaded {
        Some(d) => d,
        None => ctx.load_provisioned().await?.0,
    };
    let active = doc.status.phase.is_active();
    // Something a killed run left (a transition or hooks) is repaired under the lock.
    let left = doc.pending.is_some() || !doc.hooks_due.is_empty();
    if !active && !left && doc.alias_owed.is_some() {
        // No rollout, but a registry alias move is owed: retry it first.
        doc = locked(ctx, "promote", async || {
            let (mut d, mut rev) = ctx.load().await?;
            repair(ctx, &mut d, &mut rev).await?;
            Ok(d)
        })
        .await?;
    }
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
    // Probes run once per tick during a bake, and count across ticks.
    let probing = ctx.cfg.rollout.probe_interval.is_some() && doc.status.phase == Phase::Shifting;
    let clean = !left && doc.alias_owed.is_none();
    if let (Outcome::Wait(until), true, false) = (t.outcome.clone(), clean, probing) {
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
        let mut t = gates::gate(ctx, &mut doc, t).await?;
        if let (Outcome::Wait(_), true, Some(c)) = (&t.outcome, probing, doc.status.candidate) {
            let failure = gates::probe_round(ctx, c).await?;
            let failed = failure.is_some();
            match gates::count_probe(ctx, &mut doc, failure) {
                Some(ev) => t = rollout::apply(&ctx.spec(), &doc.status, ev).map_err(refusal)?,
                None => {
                    ctx.store.save(&doc, rev).await?;
                    let what = if failed { "failed" } else { "passed" };
                    return Ok(format!("nothing due (probes {what})"));
                }
            }
        }
        match &t.outcome {
            Outcome::Wait(_) => Ok("nothing due".to_string()),
            _ => {
                advance(
                    ctx,
                    &mut doc,
                    &mut rev,
                    &t,
                    gates::event_name(&t, "promote"),
                )
                .await?;
                match gates::stopped_error(&t, &doc) {
                    Some(e) => Err(e),
                    None => Ok(t.note.clone()),
                }
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
