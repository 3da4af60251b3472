//! An A/B experiment's report and decision, pure: per-colour counts in,
//! "not yet" (and why) or a decision out. Fetching the counts is
//! `engine::experiment`.
use serde::{Deserialize, Serialize};

use super::proportions::{decide, trials_needed, wilson, z_test, Counts, Decision};
use crate::rollout::Color;

/// What `status` and `report` show of the experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    pub candidate: Color,
    pub version: String,
    /// When the split began (ms).
    pub started: u64,
    /// When the counts were read (ms).
    pub at: u64,
    pub blue: Counts,
    pub green: Counts,
    /// Candidate rate minus stable rate.
    pub lift: Option<f64>,
    pub p: Option<f64>,
    /// None while the experiment runs.
    pub verdict: Option<Decision>,
    /// Trials per colour needed to detect `min_effect` at power 0.8.
    pub needed: Option<u64>,
    pub reason: String,
}

/// The thresholds of one experiment.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    pub min_samples: u64,
    pub duration_ms: u64,
    pub alpha: f64,
    pub min_effect: f64,
}

impl ExperimentReport {
    pub fn of(&self, c: Color) -> Counts {
        match c {
            Color::Blue => self.blue,
            Color::Green => self.green,
        }
    }

    /// One line: counts, rates with intervals, lift, p and the verdict.
    pub fn summary(&self, alpha: f64) -> String {
        let one = |c: Color| {
            let n = self.of(c);
            let ci = wilson(n, alpha)
                .map(|(lo, hi)| format!(" [{:.1}%, {:.1}%]", lo * 100.0, hi * 100.0))
                .unwrap_or_default();
            let rate = n
                .rate()
                .map(|r| format!("{:.1}%", r * 100.0))
                .unwrap_or_else(|| "-".into());
            format!("{c} {}/{} = {rate}{ci}", n.successes, n.trials)
        };
        let lift = self
            .lift
            .map(|l| format!(", lift {:+.1} points", l * 100.0))
            .unwrap_or_default();
        let p = self.p.map(|p| format!(", p = {p:.4}")).unwrap_or_default();
        let verdict = match self.verdict {
            Some(v) => v.as_str(),
            None => "running",
        };
        format!(
            "experiment {verdict}: {}, {}{lift}{p}; {}",
            one(self.candidate.other()),
            one(self.candidate),
            self.reason
        )
    }
}

/// Judges the counts: the decision once the duration has passed and both
/// colours have `min_samples` trials, else why not yet.
pub fn judge(
    candidate: Color,
    version: &str,
    blue: Counts,
    green: Counts,
    (started, now): (u64, u64),
    r: Rules,
) -> ExperimentReport {
    let of = |c: Color| if c == Color::Blue { blue } else { green };
    let (cand, stable) = (of(candidate), of(candidate.other()));
    let lift = cand.rate().zip(stable.rate()).map(|(a, b)| a - b);
    let base = stable
        .rate()
        .filter(|b| *b > 0.0 && *b < 1.0)
        .unwrap_or(0.5);
    let needed = trials_needed(base.min(1.0 - r.min_effect), r.min_effect, r.alpha, 0.8);
    let mut report = ExperimentReport {
        candidate,
        version: version.to_string(),
        started,
        at: now,
        blue,
        green,
        lift,
        p: z_test(cand, stable).map(|(_, p)| p),
        verdict: None,
        needed,
        reason: String::new(),
    };
    let left = started.saturating_add(r.duration_ms).saturating_sub(now);
    let fewest = cand.trials.min(stable.trials);
    report.reason = if left > 0 {
        format!("{}s of the duration left", left.div_ceil(1000))
    } else if fewest < r.min_samples {
        format!("{fewest} of {} trials per colour so far", r.min_samples)
    } else {
        let (d, p) = decide(cand, stable, r.alpha);
        report.verdict = Some(d);
        report.p = p;
        match d {
            Decision::Candidate => format!("the candidate converts better (p < {})", r.alpha),
            Decision::Stable => format!("the stable colour converts better (p < {})", r.alpha),
            Decision::Equal => format!("no significant difference at alpha {}", r.alpha),
        }
    };
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Rules = Rules {
        min_samples: 100,
        duration_ms: 10_000,
        alpha: 0.05,
        min_effect: 0.05,
    };

    fn c(successes: u64, trials: u64) -> Counts {
        Counts { trials, successes }
    }

    #[test]
    fn waits_for_the_duration_then_the_samples() {
        let r = judge(Color::Green, "v2", c(10, 500), c(100, 500), (0, 5_000), R);
        assert_eq!(r.verdict, None);
        assert!(r.reason.contains("5s of the duration left"), "{}", r.reason);
        let r = judge(Color::Green, "v2", c(10, 500), c(9, 90), (0, 20_000), R);
        assert_eq!(r.verdict, None);
        assert!(r.reason.contains("90 of 100"), "{}", r.reason);
    }

    #[test]
    fn decides_by_the_candidate_colour() {
        let r = judge(Color::Green, "v2", c(10, 500), c(100, 500), (0, 20_000), R);
        assert_eq!(r.verdict, Some(Decision::Candidate));
        assert!(r.lift.unwrap() > 0.17);
        let r = judge(Color::Blue, "v2", c(10, 500), c(100, 500), (0, 20_000), R);
        assert_eq!(r.verdict, Some(Decision::Stable));
        let r = judge(Color::Blue, "v2", c(50, 500), c(52, 500), (0, 20_000), R);
        assert_eq!(r.verdict, Some(Decision::Equal));
        assert!(r.summary(0.05).contains("experiment equal"));
    }
}
