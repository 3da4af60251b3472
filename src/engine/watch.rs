//! The alarm watch: which alarms guard the stack, and their states.
use aws_sdk_cloudwatch::types::StateValue;

use crate::aws::alarms::{self, AlarmState};
use crate::aws::managed::alarm_name;
use crate::config::Config;
use crate::error::Result;
use crate::rollout::Color;

use super::ctx::Ctx;

/// Every alarm this stack watches: `watch` plus the managed alarms of `color`.
/// A managed alarm whose name does not render is an error, never a gap in the watch.
pub fn watched(cfg: &Config, color: Option<Color>, region: &str) -> Result<Vec<String>> {
    let mut names = cfg.alarms.watch.clone();
    if let Some(c) = color {
        for a in &cfg.alarms.create {
            let n = alarm_name(&cfg.name, a, c, region)?;
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    Ok(names)
}

pub async fn read_alarms(ctx: &Ctx<'_>, color: Option<Color>) -> Result<Vec<AlarmState>> {
    let names = watched(ctx.cfg, color, &ctx.clients.region)?;
    if names.is_empty() {
        return Ok(vec![]);
    }
    alarms::read(&ctx.clients.cloudwatch, &names).await
}

/// Warns about alarms that cannot protect the rollout.
pub fn warn_insufficient(ctx: &Ctx<'_>, states: &[AlarmState]) {
    for a in states {
        match &a.state {
            Some(StateValue::InsufficientData) => ctx.out.warn(&format!(
                "alarm {} has INSUFFICIENT_DATA; it cannot protect this rollout yet",
                a.name
            )),
            None => ctx
                .out
                .warn(&format!("watched alarm {} does not exist", a.name)),
            _ => {}
        }
    }
}
