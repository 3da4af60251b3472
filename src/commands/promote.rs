//! `promote`: one scheduled tick that does at most one due thing, then exits.
use std::time::Duration;

use serde_json::json;

use super::deploy::{self, Source};
use crate::engine::drive::{drive_from, Ended, Intent, Opts};
use crate::engine::Ctx;
use crate::error::Result;
use crate::store::StackDoc;

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
        deploy::run(ctx, Source::Version(&r), Duration::from_secs(1800), false).await?;
        format!("auto-deployed {model} version {v} (@{follow})")
    };
    ctx.out.result(
        &format!("promote: {msg}"),
        json!({"stack": ctx.cfg.name, "action": msg, "version": v}),
    );
    Ok(msg)
}

/// `promote --auto-deploy` with no rollout under way: follows the registry
/// alias if one is configured, else the release's package source (SageMaker:
/// the newest Approved model package), when it is neither live nor rejected.
async fn auto_deploy_tick(ctx: &Ctx<'_>, doc: &StackDoc) -> Result<String> {
    if let Some(reg) = &ctx.cfg.registry {
        if let Some(follow) = &reg.follow {
            return follow_tick(ctx, doc, &reg.model, follow).await;
        }
    }
    let (group, probe) = ctx
        .release
        .newest_package(doc.status.idle_color(), doc.status.live)
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
        deploy::run(
            ctx,
            Source::PackageGroup(&group),
            Duration::from_secs(1800),
            false,
        )
        .await?;
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
    pub dry_run: bool,
    /// `--metrics-file`: the Prometheus textfile written after the tick.
    pub metrics_file: Option<&'f std::path::Path>,
}

/// What `--metrics-file` shows of a stack after its tick (`exit`: the
/// tick's exit code). What cannot be read is left out, never made up.
pub async fn metrics_of(ctx: &Ctx<'_>, exit: u8) -> crate::prom::StackMetrics {
    let Ok((doc, _)) = ctx.load().await else {
        return metrics_from(&ctx.cfg.name, None, exit);
    };
    let mut m = metrics_from(&ctx.cfg.name, Some(&doc), exit);
    if let Ok(states) =
        crate::engine::watch::read_alarms(ctx, doc.status.candidate.or(doc.status.live)).await
    {
        m.alarms_firing = states.iter().filter(|a| a.firing()).count();
    }
    m
}

/// The metrics of a stack's state document (alarms not read).
pub fn metrics_from(stack: &str, doc: Option<&StackDoc>, exit: u8) -> crate::prom::StackMetrics {
    let mut m = crate::prom::StackMetrics {
        stack: stack.to_string(),
        tick: crate::store::now_ms() as f64 / 1000.0,
        exit,
        ..Default::default()
    };
    let Some(doc) = doc else { return m };
    m.weights = doc
        .weights
        .or(doc.status.weights())
        .map(|w| (w.blue, w.green));
    m.state = Some(doc.status.phase);
    m.step = doc.status.step;
    m.steps = doc.status.steps.len();
    if let Some(c) = &doc.compare {
        m.verdicts.push(("compare", c.verdict.clone()));
    }
    if let Some(j) = &doc.judge {
        m.verdicts
            .push(("judge", crate::judge::verdict_name(&j.verdict).to_string()));
    }
    if let Some(v) = doc.experiment.as_ref().and_then(|e| e.verdict) {
        m.verdicts.push(("experiment", v.as_str().to_string()));
    }
    if let Some(v) = doc.shadow.as_ref().and_then(|s| s.verdict.clone()) {
        m.verdicts.push(("shadow", v));
    }
    m
}

/// Writes the textfile (atomically); a failure is an error naming the file.
pub fn write_metrics(path: &std::path::Path, all: &[crate::prom::StackMetrics]) -> Result<()> {
    crate::prom::write_atomic(path, &crate::prom::render(all)).map_err(|e| {
        crate::error::invalid(format!(
            "cannot write --metrics-file {}: {e}",
            path.display()
        ))
    })
}

/// One scheduled tick. Returns a one-line summary of what it did.
pub async fn tick(ctx: &Ctx<'_>, f: Flags<'_>, preloaded: Option<StackDoc>) -> Result<String> {
    let opts = Opts {
        ignore: f.ignore,
        adopt: f.adopt,
        dry_run: f.dry_run,
        ignore_schedule: false,
    };
    let ended = drive_from(ctx, Intent::Tick, opts, preloaded).await?;
    let doc = ended.doc();
    let (msg, extra) = match &ended {
        Ended::Nothing(doc, _, _)
            if f.auto_deploy && !f.dry_run && !doc.status.phase.is_active() =>
        {
            return auto_deploy_tick(ctx, doc).await;
        }
        Ended::Nothing(_, why, _) => (
            why.clone(),
            json!({"action": "none", "state": doc.status.phase.as_str(), "step": doc.status.step}),
        ),
        Ended::Moved(_, note) => (note.clone(), json!({"action": note, "state": "changed"})),
        Ended::Would(_, what) => (
            format!("dry run: would {what}"),
            json!({"action": "none", "dry_run": true, "would": what, "state": doc.status.phase.as_str()}),
        ),
    };
    let mut extra = extra;
    extra["stack"] = json!(ctx.cfg.name);
    ctx.out.result(&format!("promote: {msg}"), extra);
    Ok(msg)
}
