//! The comparison report: agreement, accuracy of both colours on rows with an
//! expected output, latency p50/p95 of both, the first disagreements, and a verdict.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::agree::{agree, extract};
use crate::probe::Outcome;

/// One request as both colours answered it.
#[derive(Clone, Debug)]
pub struct Pair {
    pub input: String,
    pub expect: Option<Value>,
    pub live: Outcome,
    pub candidate: Outcome,
}

/// The gate's limits (the `[compare]` section).
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    pub output: String,
    pub tolerance: f64,
    pub min_agreement: f64,
    pub min_accuracy: Option<f64>,
    pub max_latency_ratio: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Disagreement {
    pub input: String,
    pub live: Value,
    pub candidate: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// "pass" or "fail".
    pub verdict: String,
    pub requests: usize,
    /// Fraction of requests whose candidate output agrees with live's.
    pub agreement: f64,
    /// Accuracy on requests with an expected output: {"live": x, "candidate": y}.
    pub accuracy: Option<(f64, f64)>,
    /// Milliseconds: (live, candidate).
    pub latency_ms: (Latency, Latency),
    /// Requests without a good answer: (live, candidate).
    pub errors: (usize, usize),
    pub disagreements: Vec<Disagreement>,
    /// Why it failed (empty on pass).
    pub reasons: Vec<String>,
}

/// Shown for an answer that is not a 2xx with an output at the pointer.
fn output_of(o: &Outcome, ptr: &str) -> Option<Value> {
    match o {
        Ok(a) if (200..300).contains(&a.status) => extract(&a.body, ptr),
        _ => None,
    }
}

/// Reports and the state keep at most this much of an answer.
const SHOWN: usize = 200;

fn shown(o: &Outcome, ptr: &str) -> Value {
    match (o, output_of(o, ptr)) {
        // A huge output is cut: the report goes into the state item (400 KB).
        (_, Some(v)) if v.to_string().len() > SHOWN => {
            Value::String(crate::probe::truncate(&v.to_string(), SHOWN))
        }
        (_, Some(v)) => v,
        (Ok(a), None) => Value::String(format!(
            "status {}: {}",
            a.status,
            crate::probe::truncate(&a.body, SHOWN)
        )),
        (Err(e), None) => Value::String(format!("no answer: {}", crate::probe::truncate(e, SHOWN))),
    }
}

fn percentiles(mut ms: Vec<f64>) -> Latency {
    if ms.is_empty() {
        return Latency::default();
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| ms[(((ms.len() - 1) as f64) * p).round() as usize];
    Latency {
        p50: at(0.5),
        p95: at(0.95),
    }
}

fn latencies(pairs: &[Pair], pick: impl Fn(&Pair) -> &Outcome) -> Vec<f64> {
    pairs
        .iter()
        .filter_map(|p| pick(p).as_ref().ok())
        .map(|a| a.latency.as_secs_f64() * 1000.0)
        .collect()
}

impl Report {
    pub fn build(pairs: &[Pair], th: &Thresholds) -> Report {
        let n = pairs.len();
        let mut agreed = 0;
        let mut disagreements = Vec::new();
        let (mut live_err, mut cand_err) = (0, 0);
        let (mut expected, mut live_right, mut cand_right) = (0, 0, 0);
        for p in pairs {
            let (lo, co) = (
                output_of(&p.live, &th.output),
                output_of(&p.candidate, &th.output),
            );
            live_err += usize::from(lo.is_none());
            cand_err += usize::from(co.is_none());
            let same = matches!((&lo, &co), (Some(l), Some(c)) if agree(l, c, th.tolerance));
            if same {
                agreed += 1;
            } else if disagreements.len() < 5 {
                disagreements.push(Disagreement {
                    input: crate::probe::truncate(&p.input, 200),
                    live: shown(&p.live, &th.output),
                    candidate: shown(&p.candidate, &th.output),
                });
            }
            if let Some(want) = &p.expect {
                expected += 1;
                live_right += usize::from(lo.is_some_and(|l| agree(&l, want, th.tolerance)));
                cand_right += usize::from(co.is_some_and(|c| agree(&c, want, th.tolerance)));
            }
        }
        let agreement = if n == 0 {
            0.0
        } else {
            agreed as f64 / n as f64
        };
        let accuracy = (expected > 0).then(|| {
            (
                live_right as f64 / expected as f64,
                cand_right as f64 / expected as f64,
            )
        });
        let latency_ms = (
            percentiles(latencies(pairs, |p| &p.live)),
            percentiles(latencies(pairs, |p| &p.candidate)),
        );
        let mut reasons = Vec::new();
        if n == 0 {
            reasons.push("no requests were compared".to_string());
        }
        if agreement < th.min_agreement {
            reasons.push(format!(
                "agreement {:.1}% is below min_agreement {:.1}%",
                agreement * 100.0,
                th.min_agreement * 100.0
            ));
        }
        if let (Some(min), Some((_, cand))) = (th.min_accuracy, accuracy) {
            if cand < min {
                reasons.push(format!(
                    "candidate accuracy {:.1}% is below min_accuracy {:.1}%",
                    cand * 100.0,
                    min * 100.0
                ));
            }
        }
        if let Some(max) = th.max_latency_ratio {
            let (live, cand) = (&latency_ms.0, &latency_ms.1);
            if live.p95 > 0.0 && cand.p95 / live.p95 > max {
                reasons.push(format!(
                    "candidate p95 latency {:.0} ms is {:.1}x live's {:.0} ms (max_latency_ratio {max})",
                    cand.p95,
                    cand.p95 / live.p95,
                    live.p95
                ));
            }
        }
        Report {
            verdict: if reasons.is_empty() { "pass" } else { "fail" }.into(),
            requests: n,
            agreement,
            accuracy,
            latency_ms,
            errors: (live_err, cand_err),
            disagreements,
            reasons,
        }
    }

    pub fn passed(&self) -> bool {
        self.verdict == "pass"
    }

    /// One line for the journal and the user.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "compare {}: agreement {:.1}% over {} request(s)",
            self.verdict,
            self.agreement * 100.0,
            self.requests
        );
        if let Some((l, c)) = self.accuracy {
            s.push_str(&format!(
                ", accuracy live {:.1}% / candidate {:.1}%",
                l * 100.0,
                c * 100.0
            ));
        }
        s.push_str(&format!(
            ", p95 live {:.0} ms / candidate {:.0} ms",
            self.latency_ms.0.p95, self.latency_ms.1.p95
        ));
        if !self.reasons.is_empty() {
            s.push_str(&format!("; {}", self.reasons.join("; ")));
        }
        if let Some(d) = self.disagreements.first() {
            s.push_str(&format!(
                "; first disagreement: input {} -> live {} / candidate {}",
                d.input, d.live, d.candidate
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Answer;
    use std::time::Duration;

    fn ans(body: &str, ms: u64) -> Outcome {
        Ok(Answer {
            status: 200,
            body: body.into(),
            latency: Duration::from_millis(ms),
        })
    }

    fn th() -> Thresholds {
        Thresholds {
            output: "/predictions".into(),
            tolerance: 0.0,
            min_agreement: 0.95,
            min_accuracy: Some(0.9),
            max_latency_ratio: Some(2.0),
        }
    }

    fn pair(live: &str, cand: &str, expect: Option<Value>, lms: u64, cms: u64) -> Pair {
        Pair {
            input: "{}".into(),
            expect,
            live: ans(live, lms),
            candidate: ans(cand, cms),
        }
    }

    #[test]
    fn huge_answers_are_cut_in_the_report() {
        let big = format!(r#"{{"predictions": ["{}"]}}"#, "x".repeat(100_000));
        let pairs = vec![pair(r#"{"predictions": [0]}"#, &big, None, 1, 1)];
        let r = Report::build(&pairs, &th());
        let d = &r.disagreements[0];
        assert!(d.candidate.to_string().len() < 300, "{}", d.candidate);
        assert!(serde_json::to_string(&r).unwrap().len() < 2_000);
    }

    #[test]
    fn equal_models_pass() {
        let pairs: Vec<Pair> = (0..20)
            .map(|_| {
                pair(
                    r#"{"predictions": [0]}"#,
                    r#"{"predictions": [0]}"#,
                    Some(serde_json::json!([0])),
                    5,
                    6,
                )
            })
            .collect();
        let r = Report::build(&pairs, &th());
        assert!(r.passed(), "{r:?}");
        assert_eq!(
            (r.requests, r.agreement, r.accuracy),
            (20, 1.0, Some((1.0, 1.0)))
        );
    }

    #[test]
    fn shifted_outputs_fail_with_disagreements() {
        let pairs: Vec<Pair> = (0..10)
            .map(|_| {
                pair(
                    r#"{"predictions": [0]}"#,
                    r#"{"predictions": [1]}"#,
                    Some(serde_json::json!([0])),
                    5,
                    5,
                )
            })
            .collect();
        let r = Report::build(&pairs, &th());
        assert!(!r.passed());
        assert_eq!(r.agreement, 0.0);
        assert_eq!(r.accuracy, Some((1.0, 0.0)));
        assert_eq!(r.disagreements.len(), 5);
        assert_eq!(r.disagreements[0].candidate, serde_json::json!([1]));
        assert!(
            r.summary().contains("below min_agreement"),
            "{}",
            r.summary()
        );
        assert!(r.summary().contains("accuracy"), "{}", r.summary());
    }

    #[test]
    fn slow_and_failing_candidates() {
        let slow: Vec<Pair> = (0..20)
            .map(|_| {
                pair(
                    r#"{"predictions": [0]}"#,
                    r#"{"predictions": [0]}"#,
                    None,
                    10,
                    300,
                )
            })
            .collect();
        let r = Report::build(&slow, &th());
        assert!(
            r.reasons.iter().any(|m| m.contains("max_latency_ratio")),
            "{r:?}"
        );
        let mut failing = slow.clone();
        for p in &mut failing {
            p.candidate = Ok(Answer {
                status: 500,
                body: "boom".into(),
                latency: Duration::from_millis(1),
            });
        }
        let r = Report::build(&failing, &th());
        assert_eq!(r.errors, (0, 20));
        assert_eq!(
            r.disagreements[0].candidate,
            serde_json::json!("status 500: boom")
        );
        assert!(!r.passed());
    }
}
