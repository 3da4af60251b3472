//! Gate: `[experiment]`, at the end of the A/B split: waits until the
//! duration and the samples hold, then the two-proportion test decides
//! (candidate better: on; stable better: rollback; equal: `on_equal`).
use futures::future::LocalBoxFuture;

use super::{Gate, Stage, Subject, Verdict};
use crate::config::OnEqual;
use crate::engine::{experiment, Ctx};
use crate::error::Result;
use crate::judge::proportions::Decision;
use crate::rollout::Cause;
use crate::rollout::Phase;
use crate::store::{now_ms, StackDoc};

pub struct Experiment;

impl Gate for Experiment {
    fn cause(&self) -> Cause {
        Cause::Experiment
    }

    fn runs_at(&self, ctx: &Ctx<'_>, stage: Stage) -> bool {
        stage == Stage::BakeEnd && ctx.cfg.experiment.is_some()
    }
    fn check<'a>(
        &'a self,
        ctx: &'a Ctx<'_>,
        doc: &'a mut StackDoc,
        _stage: Stage,
        on: &'a Subject,
    ) -> LocalBoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let Some(e) = &ctx.cfg.experiment else {
                return Ok(Verdict::Pass);
            };
            if doc.status.phase != Phase::Experimenting {
                return Ok(Verdict::Pass);
            }
            let report = experiment::run(ctx, e, doc, on.candidate, now_ms()).await?;
            let summary = report.summary(e.alpha);
            let verdict = report.verdict;
            doc.experiment = Some(report);
            if verdict.is_some() {
                ctx.journal("experiment", &summary, doc).await?;
            }
            Ok(match verdict {
                None => Verdict::Wait(summary),
                Some(Decision::Candidate) => {
                    ctx.out.info(&summary);
                    Verdict::Pass
                }
                Some(Decision::Equal) if e.on_equal == OnEqual::Promote => {
                    ctx.out.info(&format!("{summary}; on_equal = \"promote\""));
                    Verdict::Pass
                }
                Some(Decision::Equal) => {
                    Verdict::Fail(format!("{summary}; on_equal = \"rollback\""))
                }
                Some(Decision::Stable) => Verdict::Fail(summary),
            })
        })
    }
}
