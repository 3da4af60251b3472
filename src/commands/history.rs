//! `history`: the journal of transitions, newest last.
use std::time::Duration;

use crate::engine::Ctx;
use crate::error::{failed, Result};
use crate::output::stdout_line;

pub async fn run(ctx: &Ctx<'_>, limit: usize) -> Result<()> {
    ctx.load_known().await?;
    let mut entries = ctx.store.history(None).await?;
    if entries.len() > limit {
        entries.drain(..entries.len() - limit);
    }
    for e in &entries {
        if ctx.out.json {
            stdout_line(&serde_json::to_string(e).map_err(|e| failed(e.to_string()))?);
            continue;
        }
        stdout_line(&format!(
            "{}  {:<18} {:<18} {}",
            humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(e.at)),
            e.event,
            e.phase,
            e.detail
        ));
    }
    Ok(())
}
