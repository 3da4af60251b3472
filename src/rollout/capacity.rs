//! Capacity decisions: when the old colour may be retired (after its weight
//! has been 0 for the draining delay), how many tasks the candidate needs
//! before its first step, and what autoscaling may do to each colour.
use serde::Serialize;

use super::colors::Color;
use super::status::{Phase, Spec, Status};

/// How long the old colour is kept after its weight reached 0: the longer of
/// termination_wait and the target groups' deregistration delay.
pub fn retire_after_ms(spec: &Spec) -> u64 {
    spec.termination_wait_ms.max(spec.drain_ms)
}

/// When the old colour may be retired: `complete_at` (the moment its weight
/// reached 0) plus `retire_after_ms`. None outside `complete`.
pub fn retire_due(spec: &Spec, s: &Status) -> Option<u64> {
    if s.phase != Phase::Complete {
        return None;
    }
    Some(
        s.complete_at
            .unwrap_or(0)
            .saturating_add(retire_after_ms(spec)),
    )
}

/// The count to raise the candidate to before its first step: the live
/// colour's current desired count, when it is above the candidate's.
pub fn parity(live_desired: u32, candidate_desired: u32) -> Option<u32> {
    (live_desired > candidate_desired).then_some(live_desired)
}

/// What autoscaling may do to a colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// The live colour: min/max from the config, nothing suspended.
    Free,
    /// A colour that holds (or may take back) traffic during a rollout:
    /// scale-in suspended so it keeps the capacity it was sized to.
    NoScaleIn,
    /// Not serving: min 0, every kind of scaling suspended.
    Off,
}

/// The scaling mode of colour `c` in status `s`.
pub fn scaling(s: &Status, c: Color) -> Scaling {
    let Some(live) = s.live else {
        return Scaling::Off;
    };
    if c == live {
        return Scaling::Free;
    }
    match (s.phase, s.candidate) {
        // The candidate holds traffic (or is about to).
        (
            Phase::Ready
            | Phase::Shifting
            | Phase::Paused
            | Phase::Experimenting
            | Phase::FailedValidation,
            Some(cand),
        ) if cand == c => Scaling::NoScaleIn,
        // The old colour is the instant rollback target until it is retired.
        (Phase::Complete, _) => Scaling::NoScaleIn,
        _ => Scaling::Off,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(tw: u64, drain: u64) -> Spec {
        Spec {
            steps: vec![10, 100],
            bake_ms: 1000,
            termination_wait_ms: tw,
            drain_ms: drain,
            pause_timers: vec![],
            scale_down_after_ms: None,
            pauses: vec![],
            experiment: None,
            shadow_ms: None,
        }
    }

    fn complete_at(t: u64) -> Status {
        Status {
            live: Some(Color::Green),
            phase: Phase::Complete,
            candidate: Some(Color::Green),
            steps: vec![10, 100],
            step: 2,
            weight: 100,
            step_at: Some(t),
            complete_at: Some(t),
            held: false,
            pause_timers: vec![],
            paused_at: None,
            hold_reason: None,
            rolled_back_at: None,
            scaled_down: false,
            pauses: vec![],
            experiment: None,
            shadow_ms: None,
            stopped_by: None,
        }
    }

    #[test]
    fn retire_waits_for_the_longer_of_termination_wait_and_draining() {
        let s = complete_at(10_000);
        assert_eq!(retire_due(&spec(5_000, 30_000), &s), Some(40_000));
        assert_eq!(retire_due(&spec(60_000, 30_000), &s), Some(70_000));
        assert_eq!(retire_due(&spec(0, 0), &s), Some(10_000));
        let mut shifting = s.clone();
        shifting.phase = Phase::Shifting;
        assert_eq!(retire_due(&spec(5_000, 30_000), &shifting), None);
    }

    #[test]
    fn parity_only_raises() {
        assert_eq!(parity(3, 1), Some(3));
        assert_eq!(parity(2, 2), None);
        assert_eq!(parity(1, 2), None);
    }

    #[test]
    fn scaling_modes_follow_the_rollout() {
        use Color::*;
        let mut s = Status::default();
        assert_eq!(scaling(&s, Blue), Scaling::Off);
        s.live = Some(Blue);
        assert_eq!(
            (scaling(&s, Blue), scaling(&s, Green)),
            (Scaling::Free, Scaling::Off)
        );
        s.candidate = Some(Green);
        for p in [
            Phase::Ready,
            Phase::Shifting,
            Phase::Paused,
            Phase::FailedValidation,
        ] {
            s.phase = p;
            assert_eq!(
                (scaling(&s, Blue), scaling(&s, Green)),
                (Scaling::Free, Scaling::NoScaleIn),
                "{p:?}"
            );
        }
        // Complete: green is live; blue keeps its capacity for a rollback.
        s.phase = Phase::Complete;
        s.live = Some(Green);
        assert_eq!(
            (scaling(&s, Green), scaling(&s, Blue)),
            (Scaling::Free, Scaling::NoScaleIn)
        );
        s.phase = Phase::Retired;
        assert_eq!(
            (scaling(&s, Green), scaling(&s, Blue)),
            (Scaling::Free, Scaling::Off)
        );
        // Rolled back: the candidate serves nothing.
        s.phase = Phase::RolledBack;
        s.live = Some(Blue);
        assert_eq!(
            (scaling(&s, Blue), scaling(&s, Green)),
            (Scaling::Free, Scaling::Off)
        );
    }
}
