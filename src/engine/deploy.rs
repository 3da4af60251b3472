//! The deploy transaction: under the lock, the version goes on the idle
//! colour (write-ahead `DeployStarted`), is waited healthy, and passes the
//! gates before traffic (validation, comparison, post-deploy hooks), or is
//! recorded as failed validation at 0% (exit 3).
use std::time::Duration;

use super::ctx::{refusal, Ctx};
use super::flow::{advance, repair};
use super::gates::{self, Stage, Subject, Verdict};
use super::lease::locked;
use crate::error::{failed, safety, Error, Result};
use crate::providers::{Prepared, Release};
use crate::registry::ModelVersion;
use crate::rollout::{self, Event, Phase};

/// Deploys `prepared` (rendered and checked before any AWS call).
pub async fn deploy(
    ctx: &Ctx<'_>,
    prepared: &Prepared,
    model: Option<&ModelVersion>,
    timeout: Duration,
) -> Result<()> {
    let (color, version) = (prepared.color, prepared.version.as_str());
    locked(ctx, "deploy", async || {
        let (mut doc, mut rev) = ctx.load().await?;
        repair(ctx, &mut doc, &mut rev).await?;
        if doc.status.idle_color() != color
            || doc.status.phase == Phase::Shifting
            || doc.status.live != prepared.live
        {
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
        let artifact = ctx.release.deploy(prepared, timeout, &ctx.out).await?;
        doc.versions.insert(color, prepared.version.clone());
        match model {
            Some(mv) => doc.models.insert(color, mv.name.clone()),
            None => doc.models.remove(&color),
        };
        match prepared.package_arn() {
            Some(arn) => doc.packages.insert(color, arn.to_string()),
            None => doc.packages.remove(&color),
        };
        doc.artifacts.insert(color, artifact);
        let sp = ctx.spec();
        let on = Subject {
            candidate: color,
            live: doc.status.live,
            version: prepared.version.clone(),
        };
        let (verdict, _) = gates::run_stage(ctx, &mut doc, Stage::BeforeTraffic, &on).await?;
        if let Verdict::Fail(detail) | Verdict::Hold(detail) | Verdict::Pause(detail) = verdict {
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
        if let (Some(_), Some(live)) = (&ctx.cfg.shadow, doc.status.live) {
            // Validated at 0%: now the shadow of live (a copy of requests, no users).
            ctx.release
                .to_shadow(color, live, timeout, &ctx.out)
                .await?;
        }
        let t = rollout::apply(&sp, &doc.status, Event::Deployed { color }).map_err(refusal)?;
        doc.last_error = None;
        advance(ctx, &mut doc, &mut rev, &t, "deployed").await?;
        Ok::<(), Error>(())
    })
    .await
}
