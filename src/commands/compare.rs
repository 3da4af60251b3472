//! `compare`: runs `[compare]` now, the live colour against the candidate
//! (or the idle colour). Read-only; exits 0 on pass, 3 on fail.
use serde_json::json;

use crate::engine::{compare, Ctx};
use crate::error::{invalid, safety, Result};

pub async fn run(ctx: &Ctx<'_>) -> Result<()> {
    let Some(c) = &ctx.cfg.compare else {
        return Err(invalid(format!(
            "{}: no [compare] section",
            ctx.cfg.path.display()
        )));
    };
    let (doc, _) = ctx.load_known().await?;
    let Some(live) = doc.status.live else {
        return Err(invalid("nothing is live yet; deploy a first version"));
    };
    let other = doc.status.active_candidate().unwrap_or(live.other());
    if !doc.versions.contains_key(&other) {
        return Err(invalid(format!(
            "{other} runs no version to compare with {live}; deploy one first"
        )));
    }
    let report = compare::run(ctx, c, live, other).await?;
    let mut text = format!(
        "live      {live} ({})\ncandidate {other} ({})\n{}",
        doc.versions.get(&live).map(String::as_str).unwrap_or("-"),
        doc.versions.get(&other).map(String::as_str).unwrap_or("-"),
        report.summary()
    );
    for d in &report.disagreements {
        text.push_str(&format!(
            "\n  disagreement: {} -> live {} / candidate {}",
            d.input, d.live, d.candidate
        ));
    }
    ctx.out.result(
        &text,
        json!({"stack": ctx.cfg.name, "live": live, "candidate": other, "compare": report}),
    );
    if report.passed() {
        Ok(())
    } else {
        Err(safety(report.summary()))
    }
}
