//! The shadow phase's figures: requests mirrored to the shadow (its
//! `Invocations` in CloudWatch since the phase began), and `[compare]` on
//! pairs of captured answers (live's and the shadow's to the same request).
use super::ctx::Ctx;
use super::experiment::sum;
use crate::compare::capture::pair;
use crate::compare::Report;
use crate::config::{CompareConfig, MetricRef};
use crate::error::Result;
use crate::providers::{Release, Stack};
use crate::rollout::Color;

/// Requests the shadow `c` got over [from, to] (ms).
pub async fn mirrored(ctx: &Ctx<'_>, c: Color, from: u64, to: u64) -> Result<u64> {
    let m = MetricRef {
        namespace: ctx.release.metric_namespace().to_string(),
        metric: ctx.release.metric_names().0.to_string(),
        dimensions: ctx.release.alarm_dimensions(c).await?.into_iter().collect(),
    };
    // From the period the phase began in: the shadow exists since the
    // deploy, and a short phase would otherwise hold no complete period.
    Ok(sum(ctx, &m, c, "", from.saturating_sub(10_000), to)
        .await?
        .round() as u64)
}

/// `[compare]` on the captured answers of both colours since `from` (ms).
/// Latency is left to `[judge]` (captures hold no timing).
pub async fn compare_captured(
    ctx: &Ctx<'_>,
    c: &CompareConfig,
    live: Color,
    shadow: Color,
    from: u64,
) -> Result<Report> {
    let (l, s) = tokio::join!(
        ctx.release.captured(live, from),
        ctx.release.captured(shadow, from)
    );
    let pairs = pair(&l?, &s?, c.max_requests);
    let mut th = c.thresholds.clone();
    th.max_latency_ratio = None;
    Ok(Report::build(&pairs, &th))
}
