//! The remaining step schedule, for `plan`.
use serde::Serialize;

use super::status::{Phase, Spec, Status};

/// One planned step: (1-based step, candidate weight, start offset in ms).
/// A pause is an entry with `pause: true` holding the weight before it; the
/// offsets of the entries after a pause count from the `continue`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannedStep {
    pub step: usize,
    pub weight: u8,
    pub at_ms: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pause: bool,
    /// Pauses before this entry: its offset counts from the last `continue`.
    #[serde(skip_serializing_if = "is_zero")]
    pub after_pauses: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The remaining schedule from `s` at `now`, assuming no alarm fires.
pub fn schedule(spec: &Spec, s: &Status, now: u64) -> Vec<PlannedStep> {
    let (steps, pauses, first_idx, mut at): (&[u8], &[usize], usize, u64) = match s.phase {
        Phase::Shifting | Phase::Experimenting => {
            let bake = match (s.phase, s.experiment) {
                (Phase::Experimenting, Some((_, ms))) => ms.max(spec.bake_ms),
                _ => spec.bake_ms,
            };
            let due = s.step_at.unwrap_or(now).saturating_add(bake);
            (&s.steps, &s.pauses, s.step, due.saturating_sub(now))
        }
        Phase::Paused => (&s.steps, &s.pauses, s.step, 0),
        // The steps start when the shadow phase ends.
        Phase::Shadowing => {
            let due = s
                .step_at
                .unwrap_or(now)
                .saturating_add(s.shadow_ms.unwrap_or(0));
            (&s.steps, &s.pauses, 0, due.saturating_sub(now))
        }
        _ => (&spec.steps, &spec.pauses, 0, spec.shadow_ms.unwrap_or(0)),
    };
    let mut out = Vec::new();
    let mut after = 0;
    let mut weight = if s.phase == Phase::Paused {
        s.weight
    } else {
        0
    };
    for (i, w) in steps.iter().enumerate().skip(first_idx) {
        if pauses.contains(&i) {
            out.push(PlannedStep {
                step: i,
                weight,
                at_ms: at,
                pause: true,
                after_pauses: after,
            });
            after += 1;
            at = 0;
        }
        out.push(PlannedStep {
            step: i + 1,
            weight: *w,
            at_ms: at,
            pause: false,
            after_pauses: after,
        });
        weight = *w;
        at += match s.experiment.or(spec.experiment) {
            Some((e, ms)) if e == i + 1 => ms.max(spec.bake_ms),
            _ => spec.bake_ms,
        };
    }
    out
}
