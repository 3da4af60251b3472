//! The remaining step schedule, for `plan`.
use serde::Serialize;

use super::status::{Phase, Spec, Status};

/// One planned step: (1-based step, candidate weight, start offset from now in ms).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannedStep {
    pub step: usize,
    pub weight: u8,
    pub at_ms: u64,
}

/// The remaining schedule from `s` at `now`, assuming no alarm fires.
pub fn schedule(spec: &Spec, s: &Status, now: u64) -> Vec<PlannedStep> {
    let (steps, first_idx, mut at): (&[u8], usize, u64) = match s.phase {
        Phase::Shifting => {
            let due = s.step_at.unwrap_or(now).saturating_add(spec.bake_ms);
            (&s.steps, s.step, due.saturating_sub(now))
        }
        _ => (&spec.steps, 0, 0),
    };
    let mut out = Vec::new();
    for (i, w) in steps.iter().enumerate().skip(first_idx) {
        out.push(PlannedStep {
            step: i + 1,
            weight: *w,
            at_ms: at,
        });
        at += spec.bake_ms;
    }
    out
}
