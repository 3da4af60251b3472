//! Gate: the end of the shadow phase (`[shadow]`): counts the requests
//! mirrored to the shadow; a shadow that got none cannot be judged, so it
//! holds (missing data is never a pass). `[compare]` and `[judge]` follow
//! at the same stage, on the captured answers and the shadow's own metrics.
use futures::future::LocalBoxFuture;

use super::{Gate, Stage, Subject, Verdict};
use crate::engine::{shadow, Ctx};
use crate::error::Result;
use crate::rollout::Cause;
use crate::rollout::Phase;
use crate::store::{now_ms, ShadowReport, StackDoc};

pub struct Shadow;

impl Gate for Shadow {
    fn cause(&self) -> Cause {
        Cause::Shadow
    }

    fn runs_at(&self, ctx: &Ctx<'_>, stage: Stage) -> bool {
        stage == Stage::BakeEnd && ctx.cfg.shadow.is_some()
    }
    fn check<'a>(
        &'a self,
        ctx: &'a Ctx<'_>,
        doc: &'a mut StackDoc,
        _stage: Stage,
        on: &'a Subject,
    ) -> LocalBoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let Some(s) = &ctx.cfg.shadow else {
                return Ok(Verdict::Pass);
            };
            if doc.status.phase != Phase::Shadowing {
                return Ok(Verdict::Pass);
            }
            // The phase's start is kept across holds of it.
            let started = match &doc.shadow {
                Some(r) if r.candidate == on.candidate && r.verdict.is_none() => r.started,
                _ => doc.status.step_at.unwrap_or(0),
            };
            let requests = shadow::mirrored(ctx, on.candidate, started, now_ms()).await?;
            doc.shadow = Some(ShadowReport {
                candidate: on.candidate,
                sampling: s.sampling,
                requests,
                verdict: None,
                started,
            });
            ctx.out.info(&format!(
                "shadow phase: {requests} request(s) mirrored to {}",
                on.candidate
            ));
            Ok(if requests == 0 {
                let why = format!(
                    "the shadow {} got no requests in its phase: nothing to judge (is there production traffic?)",
                    on.candidate
                );
                match &ctx.cfg.judge {
                    Some(j) if j.hold => Verdict::Pause(why),
                    _ => Verdict::Hold(why),
                }
            } else {
                Verdict::Pass
            })
        })
    }
}
