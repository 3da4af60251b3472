//! The remaining step schedule, for `plan`.
use serde::Serialize;

use super::status::{Phase, Spec, Status, Then};

/// One planned step: (1-based step, candidate weight, start offset in ms).
/// A pause is an entry with `pause: true` holding the weight before it; the
/// offsets of the entries after a pause count from the `continue`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlannedStep {
    pub step: usize,
    pub weight: u8,
    pub at_ms: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pause: bool,
    /// Pauses before this entry: its offset counts from the last `continue`.
    #[serde(skip_serializing_if = "is_zero")]
    pub after_pauses: usize,
    /// A timed pause: how long it still holds, and what it does then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer: Option<Timer>,
    /// How long the step waits for the release schedule to open (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_wait_ms: Option<u64>,
    /// No release window opens for this step in the next two years.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub blocked: bool,
}

/// A timed pause's remaining time (ms) and its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Timer {
    pub ms: u64,
    pub then: Then,
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
    let timers = match s.phase {
        Phase::Shifting | Phase::Experimenting | Phase::Paused | Phase::Shadowing => {
            &s.pause_timers
        }
        _ => &spec.pause_timers,
    };
    for (i, w) in steps.iter().enumerate().skip(first_idx) {
        if pauses.contains(&i) {
            let timer = timers.iter().find(|t| t.0 == i).map(|&(_, ms, then)| {
                // The pause under way has run since it began.
                let ms = match (s.phase, s.paused_at) {
                    (Phase::Paused, Some(p)) if i == s.step => (p + ms).saturating_sub(now),
                    _ => ms,
                };
                Timer { ms, then }
            });
            out.push(PlannedStep {
                step: i,
                weight,
                at_ms: at,
                pause: true,
                after_pauses: after,
                timer,
                ..PlannedStep::default()
            });
            match timer {
                // A pause that continues by itself: the steps keep their times.
                Some(Timer {
                    ms,
                    then: Then::Continue,
                }) => at += ms,
                _ => {
                    after += 1;
                    at = 0;
                }
            }
        }
        out.push(PlannedStep {
            step: i + 1,
            weight: *w,
            at_ms: at,
            pause: false,
            after_pauses: after,
            ..PlannedStep::default()
        });
        weight = *w;
        at += match s.experiment.or(spec.experiment) {
            Some((e, ms)) if e == i + 1 => ms.max(spec.bake_ms),
            _ => spec.bake_ms,
        };
    }
    out
}

/// Moves the steps of `plan` (offsets from `now`) into the release
/// schedule: a step waits for `next_open`, and every later step waits with
/// it. Entries timed from a `continue` are left as they are.
pub fn fit(
    mut plan: Vec<PlannedStep>,
    now: u64,
    next_open: impl Fn(u64) -> Option<u64>,
) -> Vec<PlannedStep> {
    let mut delay = 0u64;
    let mut blocked = false;
    for p in plan.iter_mut().filter(|p| p.after_pauses == 0) {
        if blocked {
            p.blocked = true;
            continue;
        }
        p.at_ms += delay;
        if p.pause {
            continue;
        }
        let t = now + p.at_ms;
        match next_open(t) {
            Some(o) if o > t => {
                p.window_wait_ms = Some(o - t);
                p.at_ms += o - t;
                delay += o - t;
            }
            Some(_) => {}
            None => {
                p.blocked = true;
                blocked = true;
            }
        }
    }
    plan
}

/// The time a plan takes (ms) and the pauses in it that wait for a
/// `continue`: each stretch up to such a pause, plus the last stretch (a
/// pause that continues by itself keeps the clock).
pub fn total_ms(plan: &[PlannedStep]) -> (u64, usize) {
    let waits = |s: &&PlannedStep| s.pause && !s.timer.is_some_and(|t| t.then == Then::Continue);
    let pauses = plan.iter().filter(waits).count();
    let last = plan
        .iter()
        .filter(|s| s.after_pauses == pauses)
        .map(|s| s.at_ms)
        .max()
        .unwrap_or(0);
    (
        plan.iter().filter(waits).map(|s| s.at_ms).sum::<u64>() + last,
        pauses,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(offsets: &[(u64, bool, usize)]) -> Vec<PlannedStep> {
        offsets
            .iter()
            .enumerate()
            .map(|(i, &(at_ms, pause, after_pauses))| PlannedStep {
                step: i + 1,
                at_ms,
                pause,
                after_pauses,
                ..PlannedStep::default()
            })
            .collect()
    }

    #[test]
    fn fit_moves_a_step_and_every_later_one_into_the_window() {
        // Open from 100 to 150, then from 1000 on.
        let open = |t: u64| {
            Some(if t < 100 {
                100
            } else if t < 150 {
                t
            } else {
                t.max(1000)
            })
        };
        let got = fit(
            plan(&[(0, false, 0), (40, false, 0), (80, false, 0), (0, false, 1)]),
            10,
            open,
        );
        let at: Vec<(u64, Option<u64>)> = got.iter().map(|p| (p.at_ms, p.window_wait_ms)).collect();
        // 10 -> 100 (waits 90); 140 is open; 180 -> 1000 (waits 820); after a
        // continue: untouched.
        assert_eq!(
            at,
            vec![(90, Some(90)), (130, None), (990, Some(820)), (0, None)]
        );
    }

    #[test]
    fn fit_marks_steps_no_window_reaches() {
        let got = fit(plan(&[(0, false, 0), (40, false, 0)]), 0, |t| {
            (t < 10).then_some(t)
        });
        assert_eq!((got[0].blocked, got[1].blocked), (false, true));
        assert_eq!(got[1].window_wait_ms, None);
    }

    #[test]
    fn a_timed_pause_that_continues_keeps_the_clock() {
        let sp = Spec {
            steps: vec![10, 100],
            pauses: vec![1],
            pause_timers: vec![(1, 60_000, Then::Continue)],
            bake_ms: 1000,
            ..Spec::default()
        };
        let s = Status {
            live: Some(super::super::Color::Blue),
            phase: Phase::Ready,
            candidate: Some(super::super::Color::Green),
            steps: vec![10, 100],
            pauses: vec![1],
            pause_timers: sp.pause_timers.clone(),
            ..Status::default()
        };
        let got = schedule(&sp, &s, 0);
        let brief: Vec<(usize, bool, u64, usize)> = got
            .iter()
            .map(|p| (p.step, p.pause, p.at_ms, p.after_pauses))
            .collect();
        assert_eq!(
            brief,
            vec![(1, false, 0, 0), (1, true, 1000, 0), (2, false, 61_000, 0)]
        );
        assert_eq!(
            got[1].timer,
            Some(Timer {
                ms: 60_000,
                then: Then::Continue
            })
        );
    }
}
