//! Gate: the `post-deploy` hooks, last before traffic; they see the new
//! version on its colour at 0%.
use futures::future::LocalBoxFuture;

use super::{Gate, Stage, Subject, Verdict};
use crate::config::HookStage;
use crate::engine::hooks::{configured, run_stage};
use crate::engine::Ctx;
use crate::error::Result;
use crate::rollout::Cause;
use crate::store::StackDoc;

pub struct PostDeploy;

impl Gate for PostDeploy {
    fn cause(&self) -> Cause {
        Cause::Hook
    }

    fn runs_at(&self, ctx: &Ctx<'_>, stage: Stage) -> bool {
        stage == Stage::BeforeTraffic && configured(ctx, HookStage::PostDeploy)
    }
    fn check<'a>(
        &'a self,
        ctx: &'a Ctx<'_>,
        doc: &'a mut StackDoc,
        _stage: Stage,
        on: &'a Subject,
    ) -> LocalBoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let mut seen = doc.clone();
            seen.status.candidate = Some(on.candidate);
            seen.status.weight = 0;
            seen.status.step = 0;
            Ok(match run_stage(ctx, HookStage::PostDeploy, &seen).await? {
                Some(why) => Verdict::Fail(format!(
                    "post-deploy hook failed for {} on {}: {why}",
                    on.version, on.candidate
                )),
                None => Verdict::Pass,
            })
        })
    }
}
