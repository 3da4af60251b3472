//! Gate: `[judge]`, the candidate's CloudWatch metrics against the stable
//! colour's over the bake (Mann-Whitney U); inconclusive holds one more bake.
use futures::future::LocalBoxFuture;

use super::{Gate, Stage, Subject, Verdict};
use crate::engine::{judge, Ctx};
use crate::error::Result;
use crate::judge::Verdict as J;
use crate::rollout::Cause;
use crate::store::{now_ms, StackDoc};

pub struct Judge;

impl Gate for Judge {
    fn cause(&self) -> Cause {
        Cause::Judge
    }

    fn runs_at(&self, ctx: &Ctx<'_>, stage: Stage) -> bool {
        stage == Stage::BakeEnd && ctx.cfg.judge.is_some()
    }
    fn check<'a>(
        &'a self,
        ctx: &'a Ctx<'_>,
        doc: &'a mut StackDoc,
        _stage: Stage,
        on: &'a Subject,
    ) -> LocalBoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let (Some(j), Some(stable)) = (&ctx.cfg.judge, on.live) else {
                return Ok(Verdict::Pass);
            };
            let from = doc.status.step_at.unwrap_or(0);
            let report = judge::run(ctx, j, on.candidate, stable, from, now_ms()).await?;
            let summary = report.summary();
            ctx.out.info(&summary);
            let verdict = report.verdict;
            doc.judge = Some(report);
            Ok(match verdict {
                _ if j.dry_run => Verdict::Pass,
                J::Fail => Verdict::Fail(summary),
                J::Inconclusive if j.hold => {
                    Verdict::Pause(format!("judge inconclusive: {summary}"))
                }
                J::Inconclusive => Verdict::Hold(summary),
                J::Pass => Verdict::Pass,
            })
        })
    }
}
