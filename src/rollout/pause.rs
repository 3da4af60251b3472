//! Pauses and gates: holding a rollout at a `"pause"` step, `continue`, and
//! what a failed gating hook does to the rollout.
use super::machine::{
    alarm_refusal, candidate, changed, rollback, set_step, wait, Outcome, Refusal, Transition,
};
use super::status::{Phase, Status};

/// Holds the rollout at its current step; no action, weights unchanged.
pub(super) fn hold(mut n: Status) -> Transition {
    n.phase = Phase::Paused;
    let note = format!(
        "paused at step {}/{} ({}% on the candidate); run `cutover continue` to go on",
        n.step,
        n.steps.len(),
        n.weight
    );
    changed(n, vec![], note)
}

/// A tick while paused: nothing, except a rollback when an alarm fires and
/// the candidate has traffic to take back.
pub(super) fn paused_tick(s: &Status, firing: Vec<String>) -> Result<Transition, Refusal> {
    if !firing.is_empty() && s.weight > 0 {
        let mut t = rollback(s, Some(&firing))?;
        t.outcome = Outcome::AutoRolledBack(firing);
        return Ok(t);
    }
    Ok(wait(s, None, "paused; waiting for `cutover continue`"))
}

/// `cutover continue`: passes the pause and applies the next step now (with
/// the alarm pre-flight, like `shift --to`); the rest is left to shift/promote.
pub(super) fn resume(s: &Status, now: u64, firing: Vec<String>) -> Result<Transition, Refusal> {
    match s.phase {
        Phase::Paused => {}
        other => {
            return Err(Refusal::Invalid(format!(
                "nothing is paused (rollout state is {}); `continue` resumes only a paused rollout",
                other.as_str()
            )))
        }
    }
    if !firing.is_empty() {
        return Err(alarm_refusal(&firing));
    }
    let cand = candidate(s)?;
    let mut n = s.clone();
    n.pauses.retain(|p| *p != s.step);
    let next = s.steps.get(s.step).copied().unwrap_or(100).max(s.weight);
    let actions = set_step(&mut n, next, s.step + 1, now)?;
    let note = format!(
        "continued: step {}/{}: {cand} at {next}%",
        s.step + 1,
        s.steps.len()
    );
    Ok(changed(n, actions, note))
}

/// A gating hook failed. With no traffic on the candidate it fails validation
/// and stays at 0%; with traffic (or after 100%) the rollout rolls back.
pub(super) fn gate_failed(s: &Status, reason: &str) -> Result<Transition, Refusal> {
    match s.phase {
        Phase::Ready | Phase::Paused | Phase::FailedValidation if s.weight == 0 => {
            let cand = candidate(s)?;
            let mut n = s.clone();
            n.phase = Phase::FailedValidation;
            n.step = 0;
            n.step_at = None;
            let mut t = changed(
                n,
                vec![],
                format!("{cand} failed a gate: {reason}; it stays at 0%"),
            );
            t.rejects = true;
            Ok(t)
        }
        Phase::Shifting | Phase::Paused | Phase::Complete => {
            let mut t = rollback(s, None)?;
            t.note = format!("{} (gate failed: {reason})", t.note);
            Ok(t)
        }
        other => Err(Refusal::Invalid(format!(
            "no rollout to stop (rollout state is {})",
            other.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::colors::{Color, Weights};
    use super::super::machine::{apply, Action, Event};
    use super::super::status::Spec;
    use super::*;

    fn spec(pauses: Vec<usize>) -> Spec {
        Spec {
            steps: vec![10, 50, 100],
            pauses,
            bake_ms: 1000,
            termination_wait_ms: 5000,
        }
    }

    fn ready(sp: &Spec) -> Status {
        let s = apply(
            sp,
            &Status::default(),
            Event::Deployed { color: Color::Blue },
        )
        .unwrap();
        let c = Event::Deployed {
            color: Color::Green,
        };
        apply(sp, &s.status, c).unwrap().status
    }

    fn tick(sp: &Spec, s: &Status, now: u64, fire: bool) -> Result<Transition, Refusal> {
        let firing = if fire { vec!["a".into()] } else { vec![] };
        apply(sp, s, Event::Tick { now, firing })
    }

    fn cont(sp: &Spec, s: &Status, fire: bool) -> Result<Transition, Refusal> {
        let firing = if fire { vec!["a".into()] } else { vec![] };
        apply(sp, s, Event::Continue { now: 0, firing })
    }

    /// Runs ticks (each a bake apart) until paused; returns the paused status.
    fn run_to_pause(sp: &Spec, mut s: Status, now: &mut u64) -> Status {
        while s.phase != Phase::Paused {
            assert!(*now < 100_000, "never paused: {s:?}");
            s = tick(sp, &s, *now, false).unwrap().status;
            *now += 1000;
        }
        s
    }

    #[test]
    fn a_pause_in_every_position_holds_then_continues() {
        for at in 0..3usize {
            let sp = spec(vec![at]);
            let mut now = 0;
            let p = run_to_pause(&sp, ready(&sp), &mut now);
            let held = [0u8, 10, 50][at];
            assert_eq!((p.step, p.weight), (at, held), "pause {at}");
            assert_eq!(p.weights().map(|w| w.green), Some(held));
            // Ticks do nothing while paused, however late.
            let t = tick(&sp, &p, now + 1_000_000, false).unwrap();
            assert_eq!(t.outcome, Outcome::Wait(None));
            assert!(t.actions.is_empty());
            // Continue applies the next step itself.
            let c = cont(&sp, &p, false).unwrap();
            let next = [10u8, 50, 100][at];
            assert_eq!(
                c.actions,
                vec![Action::SetWeights(Weights::split(Color::Green, next))]
            );
            assert_eq!(c.status.step, at + 1);
            assert!(c.status.pauses.is_empty());
            // The rest runs without pausing again.
            let mut s = c.status;
            let mut now = 10_000;
            while s.phase == Phase::Shifting {
                s = tick(&sp, &s, now, false).unwrap().status;
                now += 1000;
            }
            assert_eq!(s.phase, Phase::Complete, "pause {at}");
        }
    }

    #[test]
    fn continue_is_refused_where_nothing_is_paused() {
        let sp = spec(vec![1]);
        let r = ready(&sp);
        let shifting = tick(&sp, &r, 0, false).unwrap().status;
        let mut complete = shifting.clone();
        complete.phase = Phase::Complete;
        for s in [Status::default(), r.clone(), shifting, complete] {
            assert!(
                matches!(cont(&sp, &s, false), Err(Refusal::Invalid(m)) if m.contains("nothing is paused")),
                "{:?}",
                s.phase
            );
        }
        let failed = apply(
            &sp,
            &r,
            Event::GateFailed {
                reason: "smoke".into(),
            },
        )
        .unwrap()
        .status;
        assert_eq!(failed.phase, Phase::FailedValidation);
        assert!(matches!(
            cont(&sp, &failed, false),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn alarms_during_a_pause() {
        let sp = spec(vec![1]);
        let mut now = 0;
        let p = run_to_pause(&sp, ready(&sp), &mut now);
        // With traffic on the candidate, a firing alarm rolls back.
        let t = tick(&sp, &p, now, true).unwrap();
        assert_eq!(t.status.phase, Phase::RolledBack);
        assert_eq!(t.outcome, Outcome::AutoRolledBack(vec!["a".into()]));
        assert_eq!(
            t.actions,
            vec![Action::SetWeights(Weights::all(Color::Blue))]
        );
        // Continue does the alarm pre-flight.
        assert!(matches!(cont(&sp, &p, true), Err(Refusal::Safety(_))));
        // Paused before traffic: nothing to take back, nothing moves.
        let sp0 = spec(vec![0]);
        let p0 = run_to_pause(&sp0, ready(&sp0), &mut now);
        let t = tick(&sp0, &p0, now, true).unwrap();
        assert_eq!(t.status, p0);
        assert!(t.actions.is_empty());
    }

    #[test]
    fn rollback_and_gates_during_a_pause() {
        let sp = spec(vec![1]);
        let mut now = 0;
        let p = run_to_pause(&sp, ready(&sp), &mut now);
        let t = apply(&sp, &p, Event::Rollback { now }).unwrap();
        assert_eq!(t.status.phase, Phase::RolledBack);
        assert_eq!(t.status.weights(), Some(Weights::all(Color::Blue)));
        assert!(t.rejects);
        let g = apply(&sp, &p, Event::GateFailed { reason: "x".into() }).unwrap();
        assert_eq!(g.status.phase, Phase::RolledBack);
        // A deploy is refused while paused.
        let d = apply(
            &sp,
            &p,
            Event::DeployStarted {
                color: Color::Green,
            },
        );
        assert!(matches!(d, Err(Refusal::Invalid(_))));
        // Before traffic, a failed gate is a failed validation at 0%.
        let sp0 = spec(vec![0]);
        let p0 = run_to_pause(&sp0, ready(&sp0), &mut now);
        let g = apply(&sp0, &p0, Event::GateFailed { reason: "x".into() }).unwrap();
        assert_eq!(g.status.phase, Phase::FailedValidation);
        assert!(g.actions.is_empty());
    }

    #[test]
    fn shift_to_passes_the_pauses_below_it() {
        let sp = spec(vec![1, 2]);
        let mut now = 0;
        let p = run_to_pause(&sp, ready(&sp), &mut now);
        let t = apply(
            &sp,
            &p,
            Event::ShiftTo {
                percent: 30,
                now,
                firing: vec![],
            },
        )
        .unwrap();
        assert_eq!(
            (t.status.phase, t.status.pauses.clone()),
            (Phase::Shifting, vec![2])
        );
        // The pause after step 2 still holds.
        let s = tick(&sp, &t.status, now + 1000, false).unwrap().status;
        assert_eq!(s.weight, 50);
        let s = tick(&sp, &s, now + 2000, false).unwrap().status;
        assert_eq!(s.phase, Phase::Paused);
    }
}
