//! Gate: `[compare]`, live's and the candidate's answers to the same
//! requests, before traffic and at the end of every bake.
use futures::future::LocalBoxFuture;

use super::{Gate, Stage, Subject, Verdict};
use crate::engine::{compare, Ctx};
use crate::error::Result;
use crate::rollout::Cause;
use crate::store::StackDoc;

pub struct Compare;

impl Gate for Compare {
    fn cause(&self) -> Cause {
        Cause::Compare
    }

    fn runs_at(&self, ctx: &Ctx<'_>, stage: Stage) -> bool {
        // With `[shadow]` the shadow phase compares answers to real requests
        // before any user sees the candidate: no golden pass at deploy.
        let before = stage == Stage::BeforeTraffic && ctx.cfg.shadow.is_some();
        stage != Stage::DuringBake && ctx.cfg.compare.is_some() && !before
    }
    fn check<'a>(
        &'a self,
        ctx: &'a Ctx<'_>,
        doc: &'a mut StackDoc,
        stage: Stage,
        on: &'a Subject,
    ) -> LocalBoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let (Some(c), Some(live)) = (&ctx.cfg.compare, on.live) else {
                return Ok(Verdict::Pass);
            };
            let shadowing = doc.status.phase == crate::rollout::Phase::Shadowing;
            let report = if shadowing {
                // The shadow cannot be called: its captured answers are compared.
                let from = doc.status.step_at.unwrap_or(0);
                crate::engine::shadow::compare_captured(ctx, c, live, on.candidate, from).await?
            } else {
                compare::run(ctx, c, live, on.candidate).await?
            };
            // Too few answers to judge: held, never passed.
            // After a bake, live failing to answer leaves nothing to compare
            // against: that too is held, not counted against the candidate.
            let least = c.requests.len().clamp(1, 10);
            let answered = report.requests.saturating_sub(report.errors.0);
            let short = if shadowing {
                report.requests < least
            } else {
                stage == Stage::BakeEnd && answered < least
            };
            if short {
                let why = if shadowing {
                    format!(
                        "compare: {} captured pair(s) of live's and the shadow's answers, fewer than {least}; cannot judge",
                        report.requests
                    )
                } else {
                    format!(
                        "compare: live answered {answered} of {} request(s), fewer than {least}; cannot judge",
                        report.requests
                    )
                };
                doc.compare = Some(report);
                return Ok(match &ctx.cfg.judge {
                    Some(j) if j.hold => Verdict::Pause(why),
                    _ => Verdict::Hold(why),
                });
            }
            let summary = report.summary();
            ctx.out.info(&summary);
            let passed = report.passed();
            if stage == Stage::BeforeTraffic {
                ctx.journal("compare", &summary, doc).await?;
            }
            doc.compare = Some(report);
            Ok(match (passed, stage) {
                (true, _) => Verdict::Pass,
                (false, Stage::BeforeTraffic) => Verdict::Fail(format!(
                    "{} on {} failed the comparison with live {live}: {summary}",
                    on.version, on.candidate
                )),
                (false, _) => Verdict::Fail(summary),
            })
        })
    }
}
