//! `deploy`: puts a version on the idle colour, waits until it is healthy and
//! validates it there. No production traffic (except the very first deploy).
use std::time::Duration;

use serde_json::json;

use crate::config::HookStage;
use crate::engine::flow::{advance, repair};
use crate::engine::hooks::run_stage;
use crate::engine::lease::locked;
use crate::engine::validation;
use crate::engine::{ctx::refusal, Ctx};
use crate::error::{failed, invalid, safety, Error, Result};
use crate::providers::{Provider, Release, Stack};
use crate::rollout::{self, Event, Phase};

/// What to deploy: a version rendered into the templates, or a model package group's newest.
pub enum Source<'s> {
    Version(&'s str),
    PackageGroup(&'s str),
}

pub async fn run(ctx: &Ctx<'_>, source: Source<'_>, timeout: Duration) -> Result<()> {
    let (doc, _) = ctx.load_provisioned().await?;
    if doc.status.phase == Phase::Shifting {
        return Err(invalid(format!(
            "a rollout of {} is shifting traffic (step {}/{}); finish it or roll back before deploying",
            doc.status.candidate.map(|c| c.as_str()).unwrap_or("?"),
            doc.status.step,
            doc.status.steps.len()
        )));
    }
    let color = doc.status.idle_color();
    let prepared = match (source, &ctx.p) {
        (Source::PackageGroup(g), Provider::SageMaker(sm)) => {
            sm.resolve_package(g, color, doc.status.live).await?
        }
        (Source::PackageGroup(_), Provider::Ecs(_)) => {
            return Err(invalid(
                "--model-package-group works only with provider = \"sagemaker\"",
            ))
        }
        (Source::Version(v), _) => ctx.p.prepare(color, v, doc.status.live)?,
    };
    let version = prepared.version.as_str();
    ctx.p.ensure_provisioned().await?;
    locked(ctx, "deploy", async || {
        let (mut doc, mut rev) = ctx.load().await?;
        repair(ctx, &mut doc, &mut rev).await?;
        if doc.status.idle_color() != color || doc.status.phase == Phase::Shifting {
            return Err(failed(
                "the stack changed while deploy was starting; run deploy again",
            ));
        }
        let first = doc.status.live.is_none();
        ctx.out.info(&format!(
            "deploying {version} to {color}{}",
            if first {
                " (first deploy: it goes live at 100%)"
            } else {
                " (idle colour, no production traffic)"
            }
        ));
        if doc.status.live != prepared.live {
            return Err(failed(
                "the stack changed while deploy was starting; run deploy again",
            ));
        }
        let start = rollout::apply(&ctx.spec(), &doc.status, Event::DeployStarted { color })
            .map_err(refusal)?;
        if start.status != doc.status {
            if doc.status.phase == Phase::Complete {
                ctx.out.warn(&format!(
                    "{color} was kept for instant rollback; deploying onto it gives that up"
                ));
            }
            doc.status = start.status;
            doc.last_error = Some(format!("deploy of {version} to {color} started"));
            rev = ctx.store.save(&doc, rev).await?;
        }
        ctx.journal(
            "deploy-start",
            &format!("{version} -> {color}: {}", start.note),
            &doc,
        )
        .await?;
        let artifact = ctx.p.deploy(&prepared, timeout, &ctx.out).await?;
        doc.versions.insert(color, prepared.version.clone());
        doc.artifacts.insert(color, artifact);
        let sp = ctx.spec();
        // Validation gate, then post-deploy hooks: before any production traffic.
        let mut failure = None;
        if let Some(v) = &ctx.cfg.validate {
            let checks = validation::run(ctx, v, color).await?;
            if let Some(bad) = checks.iter().find(|c| !c.passed) {
                failure = Some(format!(
                    "validation of {version} on {color} failed: {} -> {} ({}); body: {}",
                    bad.request,
                    bad.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "no response".into()),
                    bad.reason,
                    bad.body
                ));
            } else {
                ctx.out
                    .info(&format!("validation passed ({} request(s))", checks.len()));
            }
        }
        if failure.is_none() {
            // The hooks see the new version on its colour, at 0%.
            let mut seen = doc.clone();
            seen.status.candidate = Some(color);
            seen.status.weight = 0;
            seen.status.step = 0;
            failure = run_stage(ctx, HookStage::PostDeploy, &seen)
                .await?
                .map(|why| format!("post-deploy hook failed for {version} on {color}: {why}"));
        }
        if let Some(detail) = failure {
            let t = rollout::apply(&sp, &doc.status, Event::ValidationFailed { color })
                .map_err(refusal)?;
            doc.last_error = Some(detail.clone());
            if t.rejects {
                doc.rejected = Some(prepared.version.clone());
            }
            doc.status = t.status;
            ctx.store.save(&doc, rev).await?;
            ctx.journal("validation-failed", &detail, &doc).await?;
            return Err(safety(detail));
        }
        let t = rollout::apply(&sp, &doc.status, Event::Deployed { color }).map_err(refusal)?;
        doc.last_error = None;
        advance(ctx, &mut doc, &mut rev, &t, "deployed").await?;
        Ok::<(), Error>(())
    })
    .await?;
    ctx.out.result(
        &format!("deploy: {version} is on {color}"),
        json!({"stack": ctx.cfg.name, "color": color, "version": version}),
    );
    Ok(())
}
