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
