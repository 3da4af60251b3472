//! Runs `[judge]`: reads both colours' CloudWatch metrics for the bake window
//! (GetMetricData, the provider's dimensions per colour) and judges each metric.
use std::collections::BTreeMap;
use std::time::Duration;

use super::ctx::Ctx;
use crate::aws::metric_series::{self, Query};
use crate::config::{JudgeConfig, JudgeMetric};
use crate::error::Result;
use crate::judge::{combine, judge_one, JudgeReport};
use crate::providers::{Release, Stack};
use crate::rollout::Color;

/// Full periods inside [from, to] (ms): (start, end) aligned to the period.
pub fn window(from_ms: u64, to_ms: u64, period: Duration) -> Option<(u64, u64)> {
    let p = period.as_millis() as u64;
    let start = from_ms.div_ceil(p) * p;
    let end = to_ms / p * p;
    (end > start).then_some((start, end))
}

/// One statistic of one metric of one colour, per period start (ms).
async fn series(
    ctx: &Ctx<'_>,
    c: Color,
    metric: &str,
    stat: &str,
    (start, end): (u64, u64),
    period: Duration,
) -> Result<BTreeMap<u64, f64>> {
    let q = Query {
        namespace: ctx.release.metric_namespace(),
        metric,
        dimensions: ctx.release.alarm_dimensions(c).await?,
        stat,
        period_s: period.as_secs(),
    };
    metric_series::series(&ctx.clients.cloudwatch, q, start, end).await
}

/// Errors per request for each period that had requests.
async fn error_rates(ctx: &Ctx<'_>, c: Color, w: (u64, u64), period: Duration) -> Result<Vec<f64>> {
    let (requests, errors, _) = ctx.release.metric_names();
    let req = series(ctx, c, requests, "Sum", w, period).await?;
    let err = series(ctx, c, errors, "Sum", w, period).await?;
    Ok(req
        .iter()
        .filter(|(_, n)| **n > 0.0)
        .map(|(t, n)| err.get(t).copied().unwrap_or(0.0) / n)
        .collect())
}

async fn latencies(ctx: &Ctx<'_>, c: Color, w: (u64, u64), period: Duration) -> Result<Vec<f64>> {
    let (_, _, latency) = ctx.release.metric_names();
    Ok(series(ctx, c, latency, "Average", w, period)
        .await?
        .into_values()
        .collect())
}

/// Judges the candidate against the stable colour over [from, to] (ms).
pub async fn run(
    ctx: &Ctx<'_>,
    j: &JudgeConfig,
    candidate: Color,
    stable: Color,
    from_ms: u64,
    to_ms: u64,
) -> Result<JudgeReport> {
    let mut metrics = Vec::new();
    let w = window(from_ms, to_ms, j.period);
    for m in &j.metrics {
        let (name, cand, base) = match (m, w) {
            (_, None) => (format!("{m:?}").to_lowercase(), vec![], vec![]),
            (JudgeMetric::Errors, Some(w)) => (
                "errors".to_string(),
                error_rates(ctx, candidate, w, j.period).await?,
                error_rates(ctx, stable, w, j.period).await?,
            ),
            (JudgeMetric::Latency, Some(w)) => (
                "latency".to_string(),
                latencies(ctx, candidate, w, j.period).await?,
                latencies(ctx, stable, w, j.period).await?,
            ),
        };
        metrics.push(judge_one(
            &name,
            &cand,
            &base,
            j.confidence,
            j.tolerance,
            j.min_points,
        ));
    }
    Ok(combine(metrics, j.dry_run, to_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_hold_only_full_periods() {
        let p = Duration::from_secs(10);
        assert_eq!(window(1_000, 35_000, p), Some((10_000, 30_000)));
        assert_eq!(window(10_000, 20_000, p), Some((10_000, 20_000)));
        assert_eq!(window(12_000, 19_000, p), None);
    }
}
