//! `verify`: read-only checks that what the config names exists and fits;
//! every problem is named, then exit 2.
use serde_json::json;

use crate::aws::raw::Raw;
use crate::engine::Ctx;
use crate::error::{invalid, Result};

pub async fn run(ctx: &Ctx<'_>) -> Result<()> {
    let raw = Raw::new(
        &ctx.clients.conf,
        &ctx.clients.region,
        ctx.clients.endpoint_flag.as_deref(),
    )?;
    let found = ctx.release.verify(&raw).await?;
    let mut problems = Vec::new();
    for f in &found {
        match &f.problem {
            None => ctx.out.result(
                &format!("ok       {}", f.what),
                json!({"check": f.what, "ok": true}),
            ),
            Some(p) => {
                ctx.out.result(
                    &format!("problem  {}: {p}", f.what),
                    json!({"check": f.what, "ok": false, "problem": p}),
                );
                problems.push(format!("{}: {p}", f.what));
            }
        }
    }
    if problems.is_empty() {
        ctx.out.result(
            &format!(
                "verify: {} checks passed for stack {}",
                found.len(),
                ctx.cfg.name
            ),
            json!({"stack": ctx.cfg.name, "checks": found.len(), "problems": 0}),
        );
        return Ok(());
    }
    Err(invalid(format!(
        "verify: {} of {} checks found a problem: {}",
        problems.len(),
        found.len(),
        problems.join("; ")
    )))
}
