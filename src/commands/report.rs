//! `report`: what happened in the last rollout (or a window) and why: events, weights, metrics and gate verdicts as text, JSON or one HTML page.
use std::path::Path;
use std::time::Duration;

use crate::engine::Ctx;
use crate::error::{failed, Result};
use crate::report::{html, series, Report};
use crate::store::now_ms;

pub async fn run(ctx: &Ctx<'_>, html_file: Option<&Path>, since: Option<Duration>) -> Result<()> {
    let (doc, _) = ctx.load_known().await?;
    let entries = ctx.store.history(None).await?;
    let now = now_ms();
    let window = series::window(&entries, since, now, series::is_over(doc.status.phase));
    let metrics = crate::engine::report::metrics(ctx, window.0, window.1).await?;
    let mut report = Report::build(&ctx.cfg.name, &entries, &doc, window, metrics);
    report.alpha = ctx.cfg.experiment.as_ref().map(|e| e.alpha);
    let mut json = report.json();
    let Some(path) = html_file else {
        ctx.out.result(&report.text(), json);
        return Ok(());
    };
    let page = html::page(&report, now).map_err(failed)?;
    write_atomically(path, &page)?;
    json["html"] = serde_json::json!(path.display().to_string());
    let line = format!(
        "report: wrote {} ({} event(s), {}; {})",
        path.display(),
        report.events.len(),
        report.window_line(),
        report.headline()
    );
    ctx.out.result(&line, json);
    Ok(())
}

/// Writes beside the target, then renames: a reader never sees half a page.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let fail = |e: std::io::Error| failed(format!("cannot write {}: {e}", path.display()));
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}
