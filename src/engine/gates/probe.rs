//! Gate: active probes during bakes, the `[validate]` requests to the
//! candidate; `probe_failures` failed rounds in a row fail it.
use futures::future::LocalBoxFuture;

use super::{Gate, Stage, Subject, Verdict};
use crate::engine::{validation, Ctx};
use crate::error::Result;
use crate::rollout::Cause;
use crate::store::StackDoc;

pub struct Probe;

impl Gate for Probe {
    fn cause(&self) -> Cause {
        Cause::Probe
    }

    fn runs_at(&self, ctx: &Ctx<'_>, stage: Stage) -> bool {
        stage == Stage::DuringBake
            && ctx.cfg.rollout.probe_interval.is_some()
            && ctx.cfg.validate.is_some()
    }
    fn check<'a>(
        &'a self,
        ctx: &'a Ctx<'_>,
        doc: &'a mut StackDoc,
        _stage: Stage,
        on: &'a Subject,
    ) -> LocalBoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let Some(v) = &ctx.cfg.validate else {
                return Ok(Verdict::Pass);
            };
            // A shadow variant cannot be invoked on its own (TargetVariant
            // names production variants only): its own metrics and the
            // captured answers judge it at the end of the shadow phase.
            if doc.status.phase == crate::rollout::Phase::Shadowing {
                return Ok(Verdict::Pass);
            }
            let checks = validation::run_quiet(ctx, v, on.candidate).await?;
            let Some(bad) = checks.iter().find(|c| !c.passed) else {
                doc.probe_streak = 0;
                return Ok(Verdict::Pass);
            };
            let why = format!("{} -> {}", bad.request, bad.reason);
            doc.probe_streak += 1;
            let limit = ctx.cfg.rollout.probe_failures;
            ctx.out.warn(&format!(
                "probe failed ({}/{limit}): {why}",
                doc.probe_streak
            ));
            Ok(if doc.probe_streak >= limit {
                Verdict::Fail(format!(
                    "{} probe round(s) in a row failed: {why}",
                    doc.probe_streak
                ))
            } else {
                Verdict::Pass
            })
        })
    }
}
