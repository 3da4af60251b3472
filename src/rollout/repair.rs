//! Decisions about what AWS shows versus what was recorded: finishing or
//! dropping a transition a killed run left pending, and adopting hand-edited weights.
use super::colors::Weights;
use super::status::{Phase, Status};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// AWS shows the pending weights: the transition took effect; finish it.
    Finish,
    /// AWS still shows the recorded weights: it never took effect; drop it.
    Drop,
    /// Neither (or still landing): leave it for a later run or the drift check.
    Leave,
    /// A rollback not in place: write its weights again, then finish it.
    Rewrite,
}

/// What AWS shows of a stack's weights, for a repair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The weights it serves now.
    pub now: Option<Weights>,
    /// Weights it accepted and still moves to (SageMaker Updating).
    pub landing: Option<Weights>,
}

/// What to do with a pending transition, given the weights recorded before
/// it, the weights it was going to set, and what AWS shows now. A pending
/// rollback is always carried through: its weights are written again.
pub fn repair_decision(
    recorded: Option<Weights>,
    pending: Option<Weights>,
    seen: Seen,
    rollback: bool,
) -> Repair {
    let settled = seen.landing.is_none() && pending.is_some() && seen.now == pending;
    if settled {
        Repair::Finish
    } else if rollback && pending.is_some() {
        Repair::Rewrite
    } else if seen.landing.is_some() && seen.landing == pending {
        // Accepted and on its way: not final, not lost either.
        Repair::Leave
    } else if seen.landing.is_none() && (seen.now == recorded || recorded.is_none()) {
        Repair::Drop
    } else {
        Repair::Leave
    }
}

/// The status after accepting the weights AWS shows (`--adopt`): the
/// candidate's weight becomes what AWS routes to it, and the step the number
/// of planned steps at or below it.
pub fn adopt(s: &Status, seen: Weights, now: u64) -> Status {
    let mut n = s.clone();
    if let Some(c) = s.candidate {
        if matches!(
            s.phase,
            Phase::Ready | Phase::Shifting | Phase::Paused | Phase::Experimenting
        ) {
            n.weight = seen.of(c);
            if n.weight > 0 {
                // A paused rollout stays paused at the adopted weight.
                if !matches!(s.phase, Phase::Paused | Phase::Experimenting) {
                    n.phase = Phase::Shifting;
                }
                n.step = n.steps.iter().filter(|w| **w <= seen.of(c)).count();
                n.step_at = Some(now);
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::super::colors::Color;
    use super::*;

    #[test]
    fn repair_table() {
        let blue = Some(Weights::all(Color::Blue));
        let split = Some(Weights::split(Color::Green, 10));
        let other = Some(Weights::split(Color::Green, 50));
        let at = |now| Seen { now, landing: None };
        let moving = |now, to| Seen { now, landing: to };
        assert_eq!(
            repair_decision(blue, split, at(split), false),
            Repair::Finish
        );
        assert_eq!(repair_decision(blue, split, at(blue), false), Repair::Drop);
        assert_eq!(repair_decision(None, split, at(other), false), Repair::Drop);
        assert_eq!(
            repair_decision(blue, split, at(other), false),
            Repair::Leave
        );
        // A retire-only transition (no weights) finishes only when nothing moved.
        assert_eq!(repair_decision(blue, None, at(blue), false), Repair::Drop);
        // Accepted but still Updating: neither finished nor lost.
        assert_eq!(
            repair_decision(blue, split, moving(blue, split), false),
            Repair::Leave
        );
        // Serving the pending weights while moving elsewhere is not final.
        assert_eq!(
            repair_decision(blue, split, moving(split, other), false),
            Repair::Leave
        );
        // A rollback is written again unless it is already in place and final.
        assert_eq!(repair_decision(split, blue, at(blue), true), Repair::Finish);
        assert_eq!(
            repair_decision(blue, blue, moving(blue, split), true),
            Repair::Rewrite
        );
        assert_eq!(
            repair_decision(blue, blue, at(split), true),
            Repair::Rewrite
        );
    }

    #[test]
    fn adopt_counts_steps_at_or_below() {
        let s = Status {
            live: Some(Color::Blue),
            phase: Phase::Ready,
            candidate: Some(Color::Green),
            steps: vec![10, 50, 100],
            ..Status::default()
        };
        let n = adopt(&s, Weights::split(Color::Green, 50), 7);
        assert_eq!(
            (n.phase, n.step, n.weight, n.step_at),
            (Phase::Shifting, 2, 50, Some(7))
        );
        let same = adopt(&s, Weights::all(Color::Blue), 7);
        assert_eq!(same, s);
    }
}
