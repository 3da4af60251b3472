//! `deploy`: puts a version on the idle colour, waits until it is healthy and
//! validates it there. No production traffic (except the very first deploy).
use std::time::Duration;

use serde_json::json;

use crate::config::HookStage;
use crate::engine::flow::{advance, repair};
use crate::engine::hooks::run_stage;
use crate::engine::lease::locked;
use crate::engine::{compare, validation};
use crate::engine::{ctx::refusal, Ctx};
use crate::error::{failed, invalid, safety, Error, Result};
use crate::providers::sagemaker::ModelSpec;
use crate::providers::{Artefact, Provider, Release, Stack};
use crate::registry::{Mlflow, ModelRef, ModelVersion};
use crate::rollout::{self, Color, Event, Phase};
use crate::store::StackDoc;

/// What to deploy: a version rendered into the templates, or a model package group's newest.
pub enum Source<'s> {
    Version(&'s str),
    PackageGroup(&'s str),
}

/// Resolves a `models:/` reference through MLflow. Any failure is exit 2,
/// and it runs before the lock and any AWS write.
pub async fn resolve_model(ctx: &Ctx<'_>, reference: &str) -> Result<ModelVersion> {
    let r = ModelRef::parse(reference).map_err(invalid)?;
    let reg = ctx.cfg.registry.as_ref();
    if let Some(reg) = reg.filter(|reg| reg.model != r.model) {
        return Err(invalid(format!(
            "{r} names model {} but [registry] model is {}",
            r.model, reg.model
        )));
    }
    let client = Mlflow::from_env(reg.and_then(|g| g.tracking_uri.as_deref()))?;
    let mv = client.resolve(&r).await?;
    ctx.out
        .info(&format!("{r} is version {} ({})", mv.version, mv.source));
    Ok(mv)
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
    let model = match source {
        Source::Version(v) if ModelRef::looks_like(v) => Some(resolve_model(ctx, v).await?),
        _ => None,
    };
    let prepared = match (source, &ctx.p) {
        (Source::PackageGroup(g), Provider::SageMaker(sm)) => {
            sm.resolve_package(g, color, doc.status.live).await?
        }
        (Source::PackageGroup(_), Provider::Ecs(_)) => {
            return Err(invalid(
                "--model-package-group works only with provider = \"sagemaker\"",
            ))
        }
        (Source::Version(_), _) if model.is_some() => {
            let mv = model.as_ref().expect("resolved above");
            let m = mv.template_model();
            ctx.p
                .prepare(color, &mv.version, doc.status.live, Some(&m))?
        }
        (Source::Version(v), _) => ctx.p.prepare(color, v, doc.status.live, None)?,
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
        match &model {
            Some(mv) => doc.models.insert(color, mv.name.clone()),
            None => doc.models.remove(&color),
        };
        match &prepared.artefact {
            Artefact::Model(ModelSpec {
                package_arn: Some(arn),
                ..
            }) => doc.packages.insert(color, arn.clone()),
            _ => doc.packages.remove(&color),
        };
        doc.artifacts.insert(color, artifact);
        let sp = ctx.spec();
        // The gates before any production traffic: validation, comparison,
        // then post-deploy hooks (they see the new version on its colour, at 0%).
        let mut failure = pre_traffic_gates(ctx, &mut doc, color, version).await?;
        if failure.is_none() {
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
        json!({"stack": ctx.cfg.name, "color": color, "version": version, "model": model.as_ref().map(|m| &m.name)}),
    );
    Ok(())
}

/// Validation, then (with a live colour to compare with) `[compare]`.
/// Returns why the candidate failed, if it did.
async fn pre_traffic_gates(
    ctx: &Ctx<'_>,
    doc: &mut StackDoc,
    color: Color,
    version: &str,
) -> Result<Option<String>> {
    if let Some(v) = &ctx.cfg.validate {
        let checks = validation::run(ctx, v, color).await?;
        if let Some(bad) = checks.iter().find(|c| !c.passed) {
            return Ok(Some(format!(
                "validation of {version} on {color} failed: {} -> {} ({}); body: {}",
                bad.request,
                bad.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "no response".into()),
                bad.reason,
                bad.body
            )));
        }
        ctx.out
            .info(&format!("validation passed ({} request(s))", checks.len()));
    }
    if let (Some(c), Some(live)) = (&ctx.cfg.compare, doc.status.live) {
        let report = compare::run(ctx, c, live, color).await?;
        ctx.out.info(&report.summary());
        let failed = (!report.passed()).then(|| {
            format!(
                "{version} on {color} failed the comparison with live {live}: {}",
                report.summary()
            )
        });
        ctx.journal("compare", &report.summary(), doc).await?;
        doc.compare = Some(report);
        return Ok(failed);
    }
    Ok(None)
}
