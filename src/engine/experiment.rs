//! Runs `[experiment]`: sums each colour's success and trial metrics from
//! CloudWatch since the split began (dimensions rendered per colour with its
//! version) and judges them (`judge::ab`).
use super::ctx::Ctx;
use crate::aws::metric_series::{series, Query};
use crate::config::{ExperimentConfig, MetricRef};
use crate::error::Result;
use crate::judge::ab::{judge, ExperimentReport, Rules};
use crate::judge::proportions::Counts;
use crate::rollout::Color;
use crate::store::StackDoc;
use crate::template::{render, Vars};

/// The sum of one metric of one colour over [from, to] (ms).
pub(crate) async fn sum(
    ctx: &Ctx<'_>,
    m: &MetricRef,
    c: Color,
    version: &str,
    from: u64,
    to: u64,
) -> Result<f64> {
    let vars = Vars::new(&ctx.cfg.name, version, c.as_str(), &ctx.clients.region);
    let mut dimensions = Vec::new();
    for (k, v) in &m.dimensions {
        let value = render(&format!("experiment dimension {k}"), v, &vars)?;
        dimensions.push((k.clone(), value));
    }
    // Short windows are read at 10 s (the data plane's resolution), long
    // ones at a minute (CloudWatch keeps 10 s data for 3 hours).
    let period: u64 = if to.saturating_sub(from) < 3 * 3_600_000 - 600_000 {
        10
    } else {
        60
    };
    let start = from.div_ceil(period * 1000) * period * 1000;
    if to <= start {
        return Ok(0.0);
    }
    let q = Query {
        namespace: &m.namespace,
        metric: &m.metric,
        dimensions,
        stat: "Sum",
        period_s: period,
    };
    let values = series(&ctx.clients.cloudwatch, q, start, to).await?;
    Ok(values.values().filter(|v| v.is_finite() && **v > 0.0).sum())
}

async fn counts(
    ctx: &Ctx<'_>,
    e: &ExperimentConfig,
    c: Color,
    version: &str,
    from: u64,
    to: u64,
) -> Result<Counts> {
    let trials = sum(ctx, &e.trials, c, version, from, to).await?.round() as u64;
    let successes = sum(ctx, &e.success, c, version, from, to).await?.round() as u64;
    Ok(Counts {
        trials,
        successes: successes.min(trials),
    })
}

/// Reads both colours' counts since the split began and judges them.
pub async fn run(
    ctx: &Ctx<'_>,
    e: &ExperimentConfig,
    doc: &StackDoc,
    candidate: Color,
    now: u64,
) -> Result<ExperimentReport> {
    let version = |c: Color| doc.versions.get(&c).cloned().unwrap_or_default();
    let cand_version = version(candidate);
    // The split's start is kept across holds of the step.
    let started = match &doc.experiment {
        Some(r) if r.candidate == candidate && r.version == cand_version => r.started,
        _ => doc.status.step_at.unwrap_or(now),
    };
    let mut by = [Counts::default(); 2];
    for (i, c) in Color::BOTH.into_iter().enumerate() {
        by[i] = counts(ctx, e, c, &version(c), started, now).await?;
    }
    let rules = Rules {
        min_samples: e.min_samples,
        duration_ms: e.duration.as_millis() as u64,
        alpha: e.alpha,
        min_effect: e.min_effect,
    };
    Ok(judge(
        candidate,
        &cand_version,
        by[0],
        by[1],
        (started, now),
        rules,
    ))
}

/// What `plan` tells of an experiment before it runs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Forecast {
    /// The live colour's success rate over the last hour, if it had traffic.
    pub baseline: Option<f64>,
    /// Trials per colour to detect `min_effect` at `alpha` with power 0.8.
    pub trials_needed: Option<u64>,
    /// Trials per second the live colour had over the last hour.
    pub trials_per_second: Option<f64>,
    /// How long the split takes to gather the trials that decide (ms).
    pub expected_ms: Option<u64>,
}

/// The sample size, and where the metrics already have traffic, the
/// expected duration at the split (read-only).
pub async fn forecast(
    ctx: &Ctx<'_>,
    e: &ExperimentConfig,
    live: Option<(Color, String)>,
    now: u64,
) -> Result<Forecast> {
    let hour = 3_600_000;
    let seen = match &live {
        Some((c, v)) => Some(counts(ctx, e, *c, v, now.saturating_sub(hour), now).await?),
        None => None,
    };
    let baseline = seen.and_then(|n| n.rate()).filter(|r| *r > 0.0 && *r < 1.0);
    let base = baseline.unwrap_or(0.5).min(1.0 - e.min_effect);
    let needed = crate::judge::proportions::trials_needed(base, e.min_effect, e.alpha, 0.8);
    let per_sec = seen
        .filter(|n| n.trials > 0)
        .map(|n| n.trials as f64 / 3600.0);
    let share = e.split.min(100 - e.split) as f64 / 100.0;
    let expected_ms = per_sec.zip(needed).map(|(r, n)| {
        let gather = n.max(e.min_samples) as f64 / (r * share) * 1000.0;
        (gather as u64).max(e.duration.as_millis() as u64)
    });
    Ok(Forecast {
        baseline,
        trials_needed: needed,
        trials_per_second: per_sec,
        expected_ms,
    })
}
