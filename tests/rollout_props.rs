//! Property tests of the pure rollout machine over random event sequences.
use cutover::rollout::{
    apply, Action, Cause, Color, Event, Outcome, Phase, Refusal, Spec, Status, Weights,
};
use proptest::prelude::*;

fn steps_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::btree_set(1u8..100, 0..6).prop_map(|s| {
        let mut v: Vec<u8> = s.into_iter().collect();
        v.push(100);
        v
    })
}

#[derive(Clone, Debug)]
enum Ev {
    Deploy,
    FailValidation,
    DeployStart,
    Tick { dt: u64, fire: bool },
    ShiftTo(u8, bool),
    Rollback,
    Continue(bool),
    GateFailed,
}

/// Pauses for `steps`: any subset of the allowed positions (0..len).
fn pauses_strategy(len: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::btree_set(0..len, 0..=len).prop_map(|s| s.into_iter().collect())
}

fn spec_strategy() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    steps_strategy().prop_flat_map(|steps| {
        let n = steps.len();
        (Just(steps), pauses_strategy(n))
    })
}

fn ev_strategy() -> impl Strategy<Value = Ev> {
    prop_oneof![
        2 => Just(Ev::Deploy),
        1 => Just(Ev::FailValidation),
        6 => (0u64..3000, proptest::bool::weighted(0.1)).prop_map(|(dt, fire)| Ev::Tick { dt, fire }),
        1 => Just(Ev::DeployStart),
        2 => (0u8..=100, proptest::bool::weighted(0.2)).prop_map(|(p, f)| Ev::ShiftTo(p, f)),
        1 => Just(Ev::Rollback),
        2 => proptest::bool::weighted(0.2).prop_map(Ev::Continue),
        1 => Just(Ev::GateFailed),
    ]
}

fn in_rollout(s: &Status) -> bool {
    matches!(
        s.phase,
        Phase::Ready | Phase::Shifting | Phase::Paused | Phase::Experimenting
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn invariants_hold((steps, pauses) in spec_strategy(), bake in 0u64..2000, exp in proptest::option::of(0u64..3000), events in proptest::collection::vec(ev_strategy(), 1..40)) {
        // An experiment holds the first step (the split) at least `exp` ms.
        let experiment = exp.filter(|_| steps.len() > 1).map(|ms| (1, ms));
        let spec = Spec { steps, pauses, bake_ms: bake, termination_wait_ms: 1500, drain_ms: 0, pause_timers: vec![], scale_down_after_ms: None, experiment, shadow_ms: None };
        let mut s = Status::default();
        let mut now = 1_000_000u64;
        for ev in events {
            let event = match &ev {
                Ev::Deploy => Event::Deployed { color: s.idle_color() },
                Ev::FailValidation => Event::ValidationFailed { color: s.idle_color() },
                Ev::Tick { dt, fire } => {
                    now += dt;
                    Event::Tick { now, firing: if *fire { vec!["a".into()] } else { vec![] } }
                }
                Ev::DeployStart => Event::DeployStarted { color: s.idle_color() },
                Ev::ShiftTo(p, fire) => Event::ShiftTo {
                    percent: *p,
                    now,
                    firing: if *fire { vec!["a".into()] } else { vec![] },
                },
                Ev::Rollback => Event::Rollback { now },
                Ev::Continue(fire) => Event::Continue { now, firing: if *fire { vec!["a".into()] } else { vec![] } },
                Ev::GateFailed => Event::GateFailed {
                    cause: Cause::Hook,
                    reason: "hook".into(),
                },
            };
            // Rollback is reachable from every state that has something to roll back to.
            let rb = apply(&spec, &s, Event::Rollback { now });
            match s.phase {
                Phase::Ready | Phase::Shifting | Phase::Paused | Phase::Experimenting | Phase::FailedValidation | Phase::Complete if s.live.is_some() => {
                    let t = rb.expect("rollback must be possible");
                    prop_assert_eq!(t.status.phase, Phase::RolledBack);
                    let w = t.status.weights().unwrap();
                    prop_assert_eq!(w.of(t.status.live.unwrap()), 100);
                }
                _ => prop_assert!(matches!(rb, Err(Refusal::Invalid(_)))),
            }
            let res = apply(&spec, &s, event);
            // `continue` works only on a paused (or experimenting) rollout, and never under a firing alarm.
            if let Ev::Continue(fire) = ev {
                match (s.phase, fire) {
                    (Phase::Paused | Phase::Experimenting, false) => prop_assert!(res.is_ok()),
                    (Phase::Paused | Phase::Experimenting, true) => prop_assert!(matches!(res, Err(Refusal::Safety(_)))),
                    _ => prop_assert!(matches!(res, Err(Refusal::Invalid(_)))),
                }
            }
            // A failed gate never leaves traffic on the candidate.
            if let (Ev::GateFailed, Ok(t)) = (&ev, &res) {
                prop_assert!(matches!(t.status.phase, Phase::FailedValidation | Phase::RolledBack));
                if let Some(live) = t.status.live {
                    prop_assert_eq!(t.status.weights(), Some(Weights::all(live)));
                }
            }
            // A firing alarm never lets `shift --to` move traffic.
            if let Ev::ShiftTo(_, true) = ev {
                prop_assert!(res.is_err(), "shift --to moved traffic under a firing alarm");
            }
            let Ok(t) = res else { continue };
            // Starting a deploy never moves traffic, and leaves all of it on live.
            if let Ev::DeployStart = ev {
                prop_assert!(t.actions.is_empty());
                if let Some(live) = t.status.live {
                    prop_assert_eq!(t.status.weights(), Some(Weights::all(live)));
                }
            }
            // A stopped rollout says why, in a typed cause; any other has
            // none, nor one whose deploy just started.
            let stopped = t.status.phase.stopped();
            if t.status.stopped_by.is_some() || matches!(ev, Ev::DeployStart) {
                prop_assert!(stopped || matches!(ev, Ev::DeployStart));
                prop_assert!(!matches!(ev, Ev::DeployStart) || t.status.stopped_by.is_none());
            }
            if stopped && t.status.phase != s.phase && !matches!(ev, Ev::DeployStart) {
                prop_assert!(t.status.stopped_by.is_some(), "no cause after {:?}", ev);
                let want = match (&ev, &t.outcome) {
                    (_, Outcome::AutoRolledBack(_)) => Cause::Alarm,
                    (Ev::GateFailed, _) => Cause::Hook,
                    (Ev::Rollback, _) => Cause::Manual,
                    (Ev::FailValidation, _) => Cause::Validation,
                    (_, Outcome::Stopped(_)) => Cause::PauseTimer,
                    _ => t.status.stopped_by.unwrap(),
                };
                prop_assert_eq!(t.status.stopped_by, Some(want));
            }
            // Weights always sum to 100.
            for a in &t.actions {
                if let Action::SetWeights(w) = a {
                    prop_assert_eq!(w.blue as u16 + w.green as u16, 100);
                }
            }
            if let Some(w) = t.status.weights() {
                prop_assert_eq!(w.blue as u16 + w.green as u16, 100);
            }
            // The candidate weight never decreases within a rollout.
            if in_rollout(&s) && (in_rollout(&t.status) || t.status.phase == Phase::Complete) {
                prop_assert!(t.status.weight >= s.weight, "weight fell from {} to {}", s.weight, t.status.weight);
            }
            // A pause never moves traffic: ticks while paused change nothing
            // (unless an alarm rolls back), and entering a pause keeps the weights.
            if let (Ev::Tick { fire: false, .. }, Phase::Paused) = (&ev, s.phase) {
                prop_assert_eq!(&t.status, &s);
                prop_assert!(t.actions.is_empty());
            }
            if t.status.phase == Phase::Paused && s.phase != Phase::Paused {
                prop_assert!(t.actions.is_empty());
                prop_assert_eq!(t.status.weights(), s.weights());
            }
            // No step is skipped by a tick (a tick that pauses applies none).
            if let (Ev::Tick { .. }, Outcome::Changed) = (&ev, &t.outcome) {
                if matches!(s.phase, Phase::Ready | Phase::Shifting | Phase::Experimenting) && t.status.phase != Phase::Paused {
                    prop_assert_eq!(t.status.step, s.step + 1);
                    prop_assert_eq!(t.status.weight, s.steps[s.step]);
                }
            }
            // Live is never the candidate while shifting or experimenting.
            if t.status.baking() {
                prop_assert_ne!(t.status.live, t.status.candidate);
                prop_assert!(t.status.weight < 100);
            }
            // A firing alarm during a rollout always rolls back to the old live colour.
            if let (Ev::Tick { fire: true, .. }, Phase::Shifting | Phase::Experimenting) = (&ev, s.phase) {
                prop_assert_eq!(t.status.phase, Phase::RolledBack);
                prop_assert_eq!(t.status.live, s.live);
            }
            // ... also while paused with traffic on the candidate.
            if let (Ev::Tick { fire: true, .. }, Phase::Paused) = (&ev, s.phase) {
                if s.weight > 0 {
                prop_assert_eq!(t.status.phase, Phase::RolledBack);
                prop_assert_eq!(t.status.live, s.live);
            }
            }
            // ... and after 100%, before retirement, it brings the old colour back.
            if let (Ev::Tick { fire: true, .. }, Phase::Complete) = (&ev, s.phase) {
                prop_assert_eq!(t.status.phase, Phase::RolledBack);
                prop_assert_eq!(t.status.live, s.candidate.map(Color::other));
                prop_assert!(t.rejects);
            }
            // An experiment holds its split at least its duration; a tick never ends it early.
            if let (Ev::Tick { .. }, Phase::Experimenting, Some((_, ms))) = (&ev, s.phase, s.experiment) {
                if now < s.step_at.unwrap_or(0) + ms.max(spec.bake_ms) {
                    prop_assert!(t.status.phase == Phase::Experimenting || t.status.phase == Phase::RolledBack);
                    if t.status.phase == Phase::Experimenting {
                        prop_assert_eq!(t.status.weight, s.weight);
                    }
                }
            }
            // The split step is where the experiment holds.
            if t.status.baking() && t.status.experiment.is_some_and(|(at, _)| at == t.status.step) {
                prop_assert_eq!(t.status.phase, Phase::Experimenting);
            }
            s = t.status;
        }
    }

    #[test]
    fn full_run_reaches_live_without_skipping((steps, pauses) in spec_strategy(), bake in 1u64..5000) {
        let spec = Spec { steps: steps.clone(), pauses: pauses.clone(), bake_ms: bake, termination_wait_ms: 10, drain_ms: 0, pause_timers: vec![], scale_down_after_ms: None, experiment: None, shadow_ms: None };
        let mut held = Vec::new();
        let mut s = apply(&spec, &Status::default(), Event::Deployed { color: Color::Blue }).unwrap().status;
        s = apply(&spec, &s, Event::Deployed { color: Color::Green }).unwrap().status;
        let mut seen = Vec::new();
        let mut now = 0;
        while s.phase != Phase::Complete {
            let mut t = apply(&spec, &s, Event::Tick { now, firing: vec![] }).unwrap();
            if t.status.phase == Phase::Paused {
                held.push(t.status.step);
                // Held until continue, which applies the next step itself.
                let again = apply(&spec, &t.status, Event::Tick { now: now + 1_000_000, firing: vec![] }).unwrap();
                prop_assert_eq!(again.outcome, Outcome::Wait(None));
                t = apply(&spec, &t.status, Event::Continue { now, firing: vec![] }).unwrap();
            }
            if t.outcome == Outcome::Changed {
                seen.push(t.status.weight);
            }
            s = t.status;
            now += bake / 3 + 1;
        }
        prop_assert_eq!(seen, steps);
        prop_assert_eq!(held, pauses, "each pause held once, in order");
        prop_assert_eq!(s.live, Some(Color::Green));
    }
}
