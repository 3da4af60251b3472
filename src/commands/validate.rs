//! `validate [--color C]`: the `[validate]` requests against a colour now.
use serde_json::json;

use crate::engine::validation;
use crate::engine::Ctx;
use crate::error::{invalid, safety, Result};
use crate::rollout::Color;

pub async fn run(ctx: &Ctx<'_>, color: Option<Color>) -> Result<()> {
    let Some(v) = &ctx.cfg.validate else {
        return Err(invalid(format!(
            "{}: no [validate] section",
            ctx.cfg.path.display()
        )));
    };
    // Without --color the candidate (or the idle colour) comes from the state.
    let color = match color {
        Some(c) => c,
        None => {
            let (doc, _) = ctx.load().await?;
            doc.status.candidate.unwrap_or(doc.status.idle_color())
        }
    };
    let checks = validation::run(ctx, v, color).await?;
    let mut text = String::new();
    for c in &checks {
        text.push_str(&format!(
            "{:<4} {:<50} {:>5} {:>6} ms  {}\n",
            if c.passed { "PASS" } else { "FAIL" },
            c.request,
            c.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            c.latency_ms,
            c.reason
        ));
    }
    let ok = checks.iter().all(|c| c.passed);
    ctx.out.result(
        text.trim_end(),
        json!({"color": color, "passed": ok, "checks": checks}),
    );
    if ok {
        return Ok(());
    }
    let failed = checks.iter().filter(|c| !c.passed).count();
    Err(safety(format!(
        "validation of {color}: {failed} of {} request(s) failed",
        checks.len()
    )))
}
