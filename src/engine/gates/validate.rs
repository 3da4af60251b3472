//! Gate: the `[validate]` requests to the candidate, before any traffic.
use futures::future::LocalBoxFuture;

use super::{Gate, Stage, Subject, Verdict};
use crate::engine::{validation, Ctx};
use crate::error::Result;
use crate::rollout::Cause;
use crate::store::StackDoc;

pub struct Validate;

impl Gate for Validate {
    fn cause(&self) -> Cause {
        Cause::Validation
    }

    fn runs_at(&self, ctx: &Ctx<'_>, stage: Stage) -> bool {
        stage == Stage::BeforeTraffic && ctx.cfg.validate.is_some()
    }
    fn check<'a>(
        &'a self,
        ctx: &'a Ctx<'_>,
        _doc: &'a mut StackDoc,
        _stage: Stage,
        on: &'a Subject,
    ) -> LocalBoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let Some(v) = &ctx.cfg.validate else {
                return Ok(Verdict::Pass);
            };
            let (version, color) = (&on.version, on.candidate);
            let checks = validation::run(ctx, v, color).await?;
            if let Some(bad) = checks.iter().find(|c| !c.passed) {
                return Ok(Verdict::Fail(format!(
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
            Ok(Verdict::Pass)
        })
    }
}
