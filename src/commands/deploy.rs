//! `deploy`: puts a version on the idle colour, waits until it is healthy and
//! validates it there. No production traffic (except the very first deploy).
use std::time::Duration;

use serde_json::json;

use crate::engine::{self, Ctx};
use crate::error::{invalid, Result};
use crate::providers::{Release, Stack};
use crate::registry::{Mlflow, ModelRef, ModelVersion};
use crate::rollout::Phase;

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
    let ca = ctx.cfg.validate.as_ref().and_then(|v| v.ca_pem.as_deref());
    let client = Mlflow::from_env(reg.and_then(|g| g.tracking_uri.as_deref()), ca)?;
    let mv = client.resolve(&r).await?;
    ctx.out
        .info(&format!("{r} is version {} ({})", mv.version, mv.source));
    Ok(mv)
}

pub async fn run(
    ctx: &Ctx<'_>,
    source: Source<'_>,
    timeout: Duration,
    dry_run: bool,
) -> Result<()> {
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
    let prepared = match (source, &model) {
        (Source::PackageGroup(g), _) => {
            ctx.release
                .resolve_package(g, color, doc.status.live)
                .await?
        }
        (Source::Version(_), Some(mv)) => {
            let m = mv.template_model();
            ctx.release
                .prepare(color, &mv.version, doc.status.live, Some(&m))?
        }
        (Source::Version(v), None) => ctx.release.prepare(color, v, doc.status.live, None)?,
    };
    let version = prepared.version.as_str();
    ctx.release.ensure_provisioned().await?;
    if dry_run {
        let how = if doc.status.live.is_none() {
            "first deploy: it would go live at 100%"
        } else {
            "idle colour, no production traffic"
        };
        ctx.out.result(
            &format!("deploy: dry run: would put {version} on {color} ({how}), wait until healthy, and run the gates before traffic"),
            json!({"stack": ctx.cfg.name, "dry_run": true, "color": color, "version": version}),
        );
        return Ok(());
    }
    engine::deploy::deploy(ctx, &prepared, model.as_ref(), timeout).await?;
    ctx.out.result(
        &format!("deploy: {version} is on {color}"),
        json!({"stack": ctx.cfg.name, "color": color, "version": version, "model": model.as_ref().map(|m| &m.name)}),
    );
    Ok(())
}
