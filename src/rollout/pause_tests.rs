//! Machine tests of pauses, `continue` and failed gates.
use super::colors::{Color, Weights};
use super::machine::{apply, Action, Event, Outcome, Refusal, Transition};
use super::status::{Cause, Phase, Spec, Status};

fn spec(pauses: Vec<usize>) -> Spec {
    Spec {
        steps: vec![10, 50, 100],
        pauses,
        bake_ms: 1000,
        termination_wait_ms: 5000,
        drain_ms: 0,
        pause_timers: vec![],
        scale_down_after_ms: None,
        experiment: None,
        shadow_ms: None,
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
        // From 0% the candidate is first brought to the live capacity.
        let mut want = vec![Action::SetWeights(Weights::split(Color::Green, next))];
        if held == 0 {
            want.insert(0, Action::MatchCapacity(Color::Green));
        }
        assert_eq!(c.actions, want);
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
            cause: Cause::Hook,
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
    let g = apply(
        &sp,
        &p,
        Event::GateFailed {
            cause: Cause::Judge,
            reason: "x".into(),
        },
    )
    .unwrap();
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
    let g = apply(
        &sp0,
        &p0,
        Event::GateFailed {
            cause: Cause::Judge,
            reason: "x".into(),
        },
    )
    .unwrap();
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

#[test]
fn a_timed_pause_ends_by_itself_both_ways() {
    use super::status::Then;
    for then in [Then::Continue, Then::Rollback] {
        let mut sp = spec(vec![1]);
        sp.pause_timers = vec![(1, 60_000, then)];
        let mut now = 0;
        let p = run_to_pause(&sp, ready(&sp), &mut now);
        let paused_at = p.paused_at.unwrap();
        assert_eq!(p.pause_deadline(), Some((paused_at + 60_000, then)));
        // Before the deadline: wait until exactly then.
        let t = tick(&sp, &p, paused_at + 59_999, false).unwrap();
        assert_eq!(t.outcome, Outcome::Wait(Some(paused_at + 60_000)));
        // An alarm before the deadline still rolls back at once.
        let t = tick(&sp, &p, paused_at + 1, true).unwrap();
        assert!(matches!(t.outcome, Outcome::AutoRolledBack(_)));
        // At the deadline the next tick decides.
        let t = tick(&sp, &p, paused_at + 60_000, false).unwrap();
        match then {
            Then::Continue => {
                assert_eq!(
                    (t.status.phase, t.status.weight, t.status.step),
                    (Phase::Shifting, 50, 2)
                );
                assert!(t.note.contains("pause time is up"), "{}", t.note);
            }
            Then::Rollback => {
                assert_eq!(t.status.phase, Phase::RolledBack);
                assert_eq!(
                    t.actions,
                    vec![Action::SetWeights(Weights::all(Color::Blue))]
                );
                assert!(t.rejects);
                assert!(matches!(t.outcome, Outcome::Stopped(_)));
            }
        }
        // `continue` before the deadline passes it as usual.
        let t = cont(&sp, &p, false).unwrap();
        assert_eq!(t.status.weight, 50);
    }
}

#[test]
fn a_rolled_back_candidate_is_scaled_down_once_after_the_delay() {
    let mut sp = spec(vec![]);
    sp.scale_down_after_ms = Some(30_000);
    let s = ready(&sp);
    let s = tick(&sp, &s, 0, false).unwrap().status;
    let t = apply(&sp, &s, Event::Rollback { now: 1_000 }).unwrap();
    assert_eq!(t.status.rolled_back_at, Some(1_000));
    let rb = t.status;
    assert_eq!(rb.scale_down_due(&sp), Some(31_000));
    let t = tick(&sp, &rb, 30_999, false).unwrap();
    assert_eq!(t.outcome, Outcome::Wait(Some(31_000)));
    let t = tick(&sp, &rb, 31_000, false).unwrap();
    assert_eq!(t.actions, vec![Action::Retire(Color::Green)]);
    assert!(t.status.scaled_down);
    // Once: the next tick has nothing to do; a new deploy starts clean.
    let after = tick(&sp, &t.status, 99_000, false).unwrap();
    assert_eq!(after.outcome, Outcome::Wait(None));
    let d = apply(
        &sp,
        &t.status,
        Event::DeployStarted {
            color: Color::Green,
        },
    )
    .unwrap();
    assert_eq!(d.status.scale_down_due(&sp), None);
    let d = apply(
        &sp,
        &rb,
        Event::DeployStarted {
            color: Color::Green,
        },
    )
    .unwrap();
    assert_eq!(
        d.status.scale_down_due(&sp),
        None,
        "a deploy onto it owes no scale-down"
    );
    // Without the setting nothing is scaled down.
    let t = tick(&spec(vec![]), &rb, 99_000, false).unwrap();
    assert!(t.actions.is_empty());
}

/// A candidate rejected before any traffic (a stuck first step, a failed
/// gate or deploy) is scaled down the same way; never while a deploy runs.
#[test]
fn a_rejected_candidate_is_scaled_down_after_the_delay() {
    let mut sp = spec(vec![]);
    sp.scale_down_after_ms = Some(30_000);
    let gate = Event::GateFailed {
        cause: Cause::Stuck,
        reason: "stuck".into(),
    };
    let rej = apply(&sp, &ready(&sp), gate).unwrap().status;
    assert_eq!(rej.phase, Phase::FailedValidation);
    // No clock in the event: the first tick starts the delay.
    let t = tick(&sp, &rej, 5_000, false).unwrap();
    assert!(t.actions.is_empty());
    assert_eq!(t.status.scale_down_due(&sp), Some(35_000));
    let w = tick(&sp, &t.status, 34_999, false).unwrap();
    assert_eq!(w.outcome, Outcome::Wait(Some(35_000)));
    let d = tick(&sp, &t.status, 35_000, false).unwrap();
    assert_eq!(d.actions, vec![Action::Retire(Color::Green)]);
    // Then it is rejected as before: promote refuses it.
    assert!(matches!(
        tick(&sp, &d.status, 99_000, false),
        Err(Refusal::Safety(_) | Refusal::Invalid(_))
    ));
    // A deploy under way owes none; a deploy that fails starts a new delay.
    let green = Color::Green;
    let dep = apply(&sp, &ready(&sp), Event::DeployStarted { color: green })
        .unwrap()
        .status;
    assert_eq!(dep.scale_down_due(&sp), None);
    let failed = apply(&sp, &dep, Event::ValidationFailed { color: green })
        .unwrap()
        .status;
    assert!(failed.scale_down_due(&sp).is_some());
    assert_eq!(failed.rolled_back_at, None);
    // Without the setting a rejected candidate is refused, as ever.
    assert!(tick(&spec(vec![]), &rej, 99_000, false).is_err());
}
