//! The metric judge, the pure part: per-metric verdicts from the two colours'
//! per-period values (Mann-Whitney U with Kayenta's tolerance band, `stats`),
//! combined into one verdict for the bake. Fetching the metrics is `engine::judge`.
pub mod ab;
pub mod proportions;
pub mod stats;

use serde::{Deserialize, Serialize};

pub use stats::{judge_metric, min_p_value, Verdict};

/// One metric's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    pub metric: String,
    pub verdict: Verdict,
    pub p: Option<f64>,
    /// Hodges-Lehmann shift, candidate minus stable.
    pub shift: Option<f64>,
    pub candidate_median: Option<f64>,
    pub stable_median: Option<f64>,
    /// Periods with data: (candidate, stable).
    pub points: (usize, usize),
    pub reason: String,
}

/// The bake's verdict: fail if any metric fails, else inconclusive if any
/// is, else pass.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeReport {
    pub verdict: Verdict,
    pub metrics: Vec<MetricVerdict>,
    pub dry_run: bool,
    /// When the bake window ended (ms).
    pub at: u64,
}

pub fn verdict_name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(verdict_name(self))
    }
}

/// Judges one metric and records the numbers.
pub fn judge_one(
    metric: &str,
    candidate: &[f64],
    stable: &[f64],
    confidence: f64,
    tolerance: f64,
    min_points: usize,
) -> MetricVerdict {
    let j = judge_metric(candidate, stable, confidence, true, tolerance, min_points);
    MetricVerdict {
        metric: metric.into(),
        verdict: j.verdict,
        p: j.p,
        shift: j.shift,
        candidate_median: j.candidate_median,
        stable_median: j.stable_median,
        points: (candidate.len(), stable.len()),
        reason: j.reason,
    }
}

/// Combines the metrics' verdicts.
pub fn combine(metrics: Vec<MetricVerdict>, dry_run: bool, at: u64) -> JudgeReport {
    let any = |v: Verdict| metrics.iter().any(|m| m.verdict == v);
    let verdict = if any(Verdict::Fail) {
        Verdict::Fail
    } else if any(Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    };
    JudgeReport {
        verdict,
        metrics,
        dry_run,
        at,
    }
}

impl JudgeReport {
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .metrics
            .iter()
            .map(|m| format!("{} {} ({})", m.metric, m.verdict, m.reason))
            .collect();
        format!(
            "judge {}{}: {}",
            self.verdict,
            if self.dry_run { " (dry run)" } else { "" },
            parts.join("; ")
        )
    }
}
