//! The report's series, pure: its window, each colour's weight over time and the marks, from journal entries.
use std::time::Duration;

use serde::Serialize;

use crate::rollout::Phase;
use crate::store::JournalEntry;

/// A finished rollout's window ends this long after its last entry (so the
/// charts show what the traffic did after the rollback or the last step).
pub const TAIL_MS: u64 = 2 * 60 * 1000;

/// The shortest window drawn.
pub const MIN_MS: u64 = 10 * 1000;

/// One journal entry's weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WeightPoint {
    pub at: u64,
    pub blue: u8,
    pub green: u8,
}

/// What a vertical mark on the charts stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkKind {
    Deploy,
    Step,
    Pause,
    Gate,
    Alarm,
    Rollback,
    Retire,
    Other,
}

impl MarkKind {
    /// Drawn in this order in the legend; `Other` is not drawn.
    pub const DRAWN: [MarkKind; 7] = [
        MarkKind::Deploy,
        MarkKind::Step,
        MarkKind::Pause,
        MarkKind::Gate,
        MarkKind::Alarm,
        MarkKind::Rollback,
        MarkKind::Retire,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MarkKind::Deploy => "deploy",
            MarkKind::Step => "step",
            MarkKind::Pause => "pause",
            MarkKind::Gate => "gate",
            MarkKind::Alarm => "alarm",
            MarkKind::Rollback => "rollback",
            MarkKind::Retire => "retire",
            MarkKind::Other => "other",
        }
    }
}

/// A moment worth a vertical line: a step, pause, gate verdict, alarm, rollback.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mark {
    pub at: u64,
    pub kind: MarkKind,
    /// The journal event it comes from.
    pub event: String,
    pub detail: String,
}

/// The kinds of mark a journal entry makes: an alarm's rollback is an
/// alarm and a rollback, a failed gate's rollback a gate verdict and a rollback.
pub fn kinds(e: &JournalEntry) -> Vec<MarkKind> {
    use MarkKind::*;
    match e.event.as_str() {
        "deploy-start" | "deployed" | "validation-failed" => vec![Deploy],
        "auto-rollback" => vec![Alarm, Rollback],
        "gate-rollback" => vec![Gate, Rollback],
        "rollback" | "stuck" => vec![Rollback],
        "hold" => vec![Pause],
        "compare" | "experiment" | "gate-failed" | "hook" | "hook-failed" => vec![Gate],
        "step" | "promote" | "shift" | "continue" => match e.phase.as_str() {
            "paused" => vec![Pause],
            "retired" => vec![Retire],
            _ => vec![Step],
        },
        _ => vec![Other],
    }
}

/// Whether a rollout in this phase is over (nothing more will happen by itself).
pub fn is_over(phase: Phase) -> bool {
    !matches!(
        phase,
        Phase::Shifting | Phase::Paused | Phase::Experimenting | Phase::Complete
    )
}

/// The window (ms) of a report: `since` before `now`, or the last rollout,
/// from its last `deploy-start` to now (or, when it is over, to a little
/// after its last entry). Never shorter than ten seconds.
pub fn window(
    entries: &[JournalEntry],
    since: Option<Duration>,
    now: u64,
    over: bool,
) -> (u64, u64) {
    let (from, to) = match since {
        Some(d) => (now.saturating_sub(d.as_millis() as u64), now),
        None => {
            let from = entries
                .iter()
                .rev()
                .find(|e| e.event == "deploy-start")
                .or(entries.first())
                .map_or(now.saturating_sub(60 * 60 * 1000), |e| e.at);
            let to = match (over, entries.last()) {
                (true, Some(last)) => now.min(last.at + TAIL_MS).max(last.at),
                _ => now,
            };
            (from, to)
        }
    };
    (from, to.max(from + MIN_MS))
}

/// The entries inside [from, to].
pub fn inside(entries: &[JournalEntry], from: u64, to: u64) -> Vec<JournalEntry> {
    entries
        .iter()
        .filter(|e| e.at >= from && e.at <= to)
        .cloned()
        .collect()
}

/// Each colour's weight from the entries in [from, to] that carry weights;
/// when the window starts between entries, the weights then hold from `from`.
pub fn weights(entries: &[JournalEntry], from: u64, to: u64) -> Vec<WeightPoint> {
    let point = |at: u64, e: &JournalEntry| {
        e.weights.map(|w| WeightPoint {
            at,
            blue: w.blue,
            green: w.green,
        })
    };
    let inside: Vec<WeightPoint> = entries
        .iter()
        .filter(|e| e.at >= from && e.at <= to)
        .filter_map(|e| point(e.at, e))
        .collect();
    let before = entries
        .iter()
        .rev()
        .filter(|e| e.at < from)
        .find_map(|e| point(from, e))
        .filter(|_| inside.first().is_none_or(|p| p.at > from));
    before.into_iter().chain(inside).collect()
}

/// The marks of the entries in [from, to], oldest first.
pub fn marks(entries: &[JournalEntry], from: u64, to: u64) -> Vec<Mark> {
    entries
        .iter()
        .filter(|e| e.at >= from && e.at <= to)
        .flat_map(|e| {
            kinds(e).into_iter().map(|kind| Mark {
                at: e.at,
                kind,
                event: e.event.clone(),
                detail: e.detail.clone(),
            })
        })
        .collect()
}

/// A step line through `points` (value `v` from its time until the next
/// point), held to `to`: what the chart draws.
pub fn steps(points: &[(u64, f64)], to: u64) -> Vec<(u64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2 + 1);
    for (i, &(t, v)) in points.iter().enumerate() {
        if i > 0 {
            out.push((t, points[i - 1].1));
        }
        out.push((t, v));
    }
    if let Some(&(t, v)) = points.last() {
        if to > t {
            out.push((to, v));
        }
    }
    out
}

/// A time as `HH:MM:SS` (UTC).
pub fn clock(ms: u64) -> String {
    let s = utc(ms);
    s.get(11..19).unwrap_or(&s).to_string()
}

/// A time as RFC 3339 to the second (UTC).
pub fn utc(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Weights;

    fn e(at: u64, event: &str, phase: &str, w: Option<(u8, u8)>) -> JournalEntry {
        JournalEntry {
            at,
            event: event.into(),
            detail: String::new(),
            phase: phase.into(),
            weights: w.map(|(blue, green)| Weights { blue, green }),
        }
    }

    #[test]
    fn the_last_rollout_starts_at_its_last_deploy() {
        let j = vec![
            e(1_000, "deploy-start", "idle", None),
            e(2_000, "deployed", "complete", Some((100, 0))),
            e(500_000, "deploy-start", "complete", Some((100, 0))),
            e(510_000, "step", "shifting", Some((90, 10))),
            e(600_000, "auto-rollback", "rolled_back", Some((100, 0))),
        ];
        // Over: two minutes after the last entry, unless now is earlier.
        assert_eq!(window(&j, None, 10_000_000, true), (500_000, 720_000));
        assert_eq!(window(&j, None, 650_000, true), (500_000, 650_000));
        // Under way: up to now.
        assert_eq!(window(&j, None, 10_000_000, false), (500_000, 10_000_000));
        assert_eq!(
            window(&j, Some(Duration::from_secs(100)), 1_000_000, true),
            (900_000, 1_000_000)
        );
        assert_eq!(window(&[], None, 7_200_000, true), (3_600_000, 7_200_000));
        // Never shorter than ten seconds.
        assert_eq!(window(&j[..3], None, 500_100, true), (500_000, 510_000));
    }

    #[test]
    fn weights_come_from_the_entries_and_carry_in_at_the_window_start() {
        let j = vec![
            e(1_000, "deployed", "complete", Some((100, 0))),
            e(5_000, "deploy-start", "complete", Some((100, 0))),
            e(6_000, "compare", "ready", None),
            e(7_000, "step", "shifting", Some((50, 50))),
        ];
        let at = |w: &[WeightPoint]| w.iter().map(|p| (p.at, p.green)).collect::<Vec<_>>();
        assert_eq!(
            at(&weights(&j, 5_000, 9_000)),
            vec![(5_000, 0), (7_000, 50)]
        );
        assert_eq!(
            at(&weights(&j, 3_000, 9_000)),
            vec![(3_000, 0), (5_000, 0), (7_000, 50)]
        );
        assert_eq!(at(&weights(&j, 3_000, 6_500)), vec![(3_000, 0), (5_000, 0)]);
    }

    #[test]
    fn journal_events_become_marks() {
        let k = |ev: &str, phase: &str| kinds(&e(0, ev, phase, None));
        assert_eq!(
            k("auto-rollback", "rolled_back"),
            vec![MarkKind::Alarm, MarkKind::Rollback]
        );
        assert_eq!(
            k("gate-rollback", "rolled_back"),
            vec![MarkKind::Gate, MarkKind::Rollback]
        );
        assert_eq!(k("step", "shifting"), vec![MarkKind::Step]);
        assert_eq!(k("step", "paused"), vec![MarkKind::Pause]);
        assert_eq!(k("promote", "retired"), vec![MarkKind::Retire]);
        assert_eq!(k("compare", "ready"), vec![MarkKind::Gate]);
        assert_eq!(k("deploy-start", "ready"), vec![MarkKind::Deploy]);
        assert_eq!(k("repair", "shifting"), vec![MarkKind::Other]);
    }

    #[test]
    fn step_lines_hold_each_value_until_the_next() {
        assert_eq!(
            steps(&[(0, 0.0), (10, 50.0), (20, 0.0)], 30),
            vec![
                (0, 0.0),
                (10, 0.0),
                (10, 50.0),
                (20, 50.0),
                (20, 0.0),
                (30, 0.0)
            ]
        );
        assert_eq!(steps(&[], 30), vec![]);
        assert_eq!(clock(3_723_000), "01:02:03");
    }
}
