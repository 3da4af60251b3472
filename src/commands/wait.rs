//! `wait`: blocks, read-only, until the rollout reaches a state. Exit 0 when
//! it did, 3 when it ended otherwise (rolled back, failed validation), 1 on
//! timeout. For CI jobs that leave the rollout to cron.
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::WaitFor;
use crate::engine::Ctx;
use crate::error::{failed, safety, Result};
use crate::rollout::Phase;

/// Whether `phase` answers the wait: Some(true) reached, Some(false) ended otherwise.
pub fn answer(until: WaitFor, phase: Phase) -> Option<bool> {
    match (until, phase) {
        (WaitFor::Complete, Phase::Complete | Phase::Retired) => Some(true),
        (WaitFor::Paused, Phase::Paused) => Some(true),
        (WaitFor::Ready, Phase::Ready) => Some(true),
        (_, Phase::RolledBack | Phase::FailedValidation) => Some(false),
        (WaitFor::Paused | WaitFor::Ready, Phase::Complete | Phase::Retired) => Some(false),
        _ => None,
    }
}

pub async fn run(ctx: &Ctx<'_>, until: WaitFor, timeout: Duration, every: Duration) -> Result<()> {
    let start = Instant::now();
    let want = format!("{until:?}").to_lowercase();
    let mut last = None;
    loop {
        let (doc, _) = ctx.load_known().await?;
        let phase = doc.status.phase;
        if last != Some(phase) {
            ctx.out.info(&format!(
                "{}: {} (step {})",
                ctx.cfg.name,
                phase.as_str(),
                doc.status.step
            ));
            last = Some(phase);
        }
        let v = json!({"stack": ctx.cfg.name, "state": phase.as_str(), "step": doc.status.step, "until": want});
        match answer(until, phase) {
            Some(true) => {
                ctx.out
                    .result(&format!("wait: {} is {}", ctx.cfg.name, phase.as_str()), v);
                return Ok(());
            }
            Some(false) => {
                let why = doc.last_error.clone().unwrap_or_default();
                ctx.out.result(
                    &format!("wait: {} ended {} instead", ctx.cfg.name, phase.as_str()),
                    v,
                );
                return Err(safety(format!(
                    "the rollout ended {} instead of {want}{}",
                    phase.as_str(),
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(": {why}")
                    }
                )));
            }
            None => {}
        }
        if start.elapsed() >= timeout {
            return Err(failed(format!(
                "timed out after {} waiting for {want} (state {})",
                humantime::format_duration(Duration::from_secs(timeout.as_secs())),
                phase.as_str()
            )));
        }
        crate::signal::pause(every.min(timeout.saturating_sub(start.elapsed()))).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(answer(WaitFor::Complete, Phase::Retired), Some(true));
        assert_eq!(answer(WaitFor::Complete, Phase::Shifting), None);
        assert_eq!(answer(WaitFor::Complete, Phase::RolledBack), Some(false));
        assert_eq!(answer(WaitFor::Ready, Phase::FailedValidation), Some(false));
        assert_eq!(answer(WaitFor::Paused, Phase::Complete), Some(false));
        assert_eq!(answer(WaitFor::Paused, Phase::Paused), Some(true));
    }
}
