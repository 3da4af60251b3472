//! Step lists: the rules they follow and the strategy shorthands that expand to them.

/// Expands a strategy shorthand into steps.
pub fn strategy_steps(
    strategy: &str,
    canary: Option<i64>,
    linear: Option<i64>,
) -> Result<Vec<u8>, String> {
    match strategy {
        "all-at-once" => Ok(vec![100]),
        "canary" => {
            let c = canary.unwrap_or(10);
            if !(1..=99).contains(&c) {
                return Err(format!("canary_percent {c} must be within 1..=99"));
            }
            Ok(vec![c as u8, 100])
        }
        "linear" => {
            let s = linear.unwrap_or(25);
            if !(1..=100).contains(&s) {
                return Err(format!("linear_step {s} must be within 1..=100"));
            }
            let mut v: Vec<u8> = (1..)
                .map(|i| i * s)
                .take_while(|w| *w < 100)
                .map(|w| w as u8)
                .collect();
            v.push(100);
            Ok(v)
        }
        other => Err(format!(
            "unknown strategy \"{other}\" (expected \"all-at-once\", \"canary\" or \"linear\")"
        )),
    }
}

/// Weights with the pauses between them (pause `p` holds the rollout after
/// `p` steps, 0: before any traffic) and which of them are timed.
pub type Steps = (Vec<u8>, Vec<usize>, crate::rollout::PauseTimers);

/// A `steps` entry as written: a weight or the word "pause".
#[derive(serde::Deserialize, Clone, Debug)]
#[serde(untagged)]
pub enum StepItem {
    Weight(i64),
    Word(String),
    /// `{ pause = "24h", then = "rollback" | "continue" }`: a pause that ends by itself.
    Timed {
        pause: String,
        then: Option<String>,
    },
}

/// Splits `[10, "pause", 50, 100]` into weights and pauses and checks both:
/// weights follow `check_steps`; a pause may come first (an approval before
/// any traffic) or between weights, never last nor twice in a row.
pub fn check_timed_items(items: &[StepItem]) -> Result<Steps, String> {
    let mut weights = Vec::new();
    let mut pauses: Vec<usize> = Vec::new();
    let mut timers = Vec::new();
    for it in items {
        match it {
            StepItem::Weight(w) => weights.push(*w),
            StepItem::Word(w) if w == "pause" => {
                if pauses.last() == Some(&weights.len()) {
                    return Err("two \"pause\" steps in a row; one is enough".into());
                }
                pauses.push(weights.len());
            }
            StepItem::Timed { pause, then } => {
                if pauses.last() == Some(&weights.len()) {
                    return Err("two \"pause\" steps in a row; one is enough".into());
                }
                let d = humantime::parse_duration(pause).map_err(|_| {
                    format!("pause = \"{pause}\" is not a duration; write e.g. {{ pause = \"24h\", then = \"rollback\" }}")
                })?;
                if d.is_zero() {
                    return Err("a timed pause must last longer than 0s".into());
                }
                let then = match then.as_deref() {
                    Some("rollback") => crate::rollout::Then::Rollback,
                    Some("continue") => crate::rollout::Then::Continue,
                    Some(o) => {
                        return Err(format!("then = \"{o}\": expected \"rollback\" or \"continue\""))
                    }
                    None => {
                        return Err(format!(
                            "{{ pause = \"{pause}\" }} needs then = \"rollback\" or \"continue\": what happens when the time is up"
                        ))
                    }
                };
                pauses.push(weights.len());
                timers.push((weights.len(), d.as_millis() as u64, then));
            }
            StepItem::Word(w) => {
                return Err(format!(
                    "unknown step \"{w}\" (a step is a weight in 1..=100 or \"pause\")"
                ))
            }
        }
    }
    let weights = check_steps(&weights)?;
    if pauses.last() == Some(&weights.len()) {
        return Err("a \"pause\" cannot come after the last step (100)".into());
    }
    Ok((weights, pauses, timers))
}

/// Where a strategy's `pause` key puts pauses: "before" (before any
/// traffic), "after-first" (after the first step), "each" (after every step
/// below 100), "none".
pub fn strategy_pauses(pause: &str, steps: &[u8]) -> Result<Vec<usize>, String> {
    let below = steps.len().saturating_sub(1);
    match pause {
        "none" => Ok(vec![]),
        "before" => Ok(vec![0]),
        "after-first" | "each" if below == 0 => Err(format!(
            "pause = \"{pause}\" needs a step below 100; this strategy has none (use \"before\")"
        )),
        "after-first" => Ok(vec![1]),
        "each" => Ok((1..=below).collect()),
        other => Err(format!(
            "unknown pause \"{other}\" (expected \"none\", \"before\", \"after-first\" or \"each\")"
        )),
    }
}

/// Steps rise strictly, each within 1..=100, and the last is 100.
pub fn check_steps(steps: &[i64]) -> Result<Vec<u8>, String> {
    let Some(&last) = steps.last() else {
        return Err("must list at least one step".into());
    };
    for (i, s) in steps.iter().enumerate() {
        if !(1..=100).contains(s) {
            return Err(format!("step {s} is outside 1..=100"));
        }
        if i > 0 && *s <= steps[i - 1] {
            return Err(format!(
                "steps must rise strictly, but {} is followed by {s}",
                steps[i - 1]
            ));
        }
    }
    if last != 100 {
        return Err(format!("the last step must be 100, not {last}"));
    }
    Ok(steps.iter().map(|s| *s as u8).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(v: &[&str]) -> Vec<StepItem> {
        v.iter()
            .map(|s| match s.parse::<i64>() {
                Ok(n) => StepItem::Weight(n),
                Err(_) => StepItem::Word(s.to_string()),
            })
            .collect()
    }

    #[test]
    fn pauses_in_every_allowed_position() {
        let ok = |v: &[&str]| {
            let (w, p, _) = check_timed_items(&items(v)).unwrap();
            (w, p)
        };
        assert_eq!(ok(&["10", "50", "100"]), (vec![10, 50, 100], vec![]));
        assert_eq!(ok(&["pause", "10", "100"]), (vec![10, 100], vec![0]));
        assert_eq!(
            ok(&["10", "pause", "50", "100"]),
            (vec![10, 50, 100], vec![1])
        );
        assert_eq!(
            ok(&["10", "50", "pause", "100"]),
            (vec![10, 50, 100], vec![2])
        );
        assert_eq!(
            ok(&["pause", "10", "pause", "50", "pause", "100"]),
            (vec![10, 50, 100], vec![0, 1, 2])
        );
        let err = |v: &[&str]| check_timed_items(&items(v)).unwrap_err();
        assert!(err(&["10", "100", "pause"]).contains("after the last"));
        assert!(err(&["10", "pause", "pause", "100"]).contains("in a row"));
        assert!(err(&["10", "wait", "100"]).contains("unknown step"));
        assert!(err(&["pause"]).contains("at least one"));
        assert!(err(&["50", "pause", "10", "100"]).contains("rise strictly"));
    }

    #[test]
    fn strategy_pause_positions() {
        assert_eq!(strategy_pauses("after-first", &[10, 100]), Ok(vec![1]));
        assert_eq!(
            strategy_pauses("each", &[25, 50, 75, 100]),
            Ok(vec![1, 2, 3])
        );
        assert_eq!(strategy_pauses("before", &[100]), Ok(vec![0]));
        assert!(strategy_pauses("after-first", &[100]).is_err());
        assert!(strategy_pauses("sometimes", &[10, 100]).is_err());
    }

    #[test]
    fn timed_pauses_parse_and_say_what_is_wrong() {
        use crate::rollout::Then;
        let t = |p: &str, then: Option<&str>| StepItem::Timed {
            pause: p.into(),
            then: then.map(String::from),
        };
        let items = [
            StepItem::Weight(10),
            t("24h", Some("rollback")),
            StepItem::Weight(100),
        ];
        let (w, p, timers) = check_timed_items(&items).unwrap();
        assert_eq!((w, p), (vec![10, 100], vec![1]));
        assert_eq!(timers, vec![(1, 86_400_000, Then::Rollback)]);
        let e = |it: StepItem| {
            check_timed_items(&[StepItem::Weight(10), it, StepItem::Weight(100)]).unwrap_err()
        };
        assert!(e(t("soon", Some("continue"))).contains("not a duration"));
        assert!(e(t("1h", None)).contains("needs then"));
        assert!(e(t("1h", Some("wait"))).contains("expected \"rollback\" or \"continue\""));
        assert!(e(t("0s", Some("continue"))).contains("longer than 0s"));
    }
}
