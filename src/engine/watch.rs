//! The alarm watch: which alarms guard the stack, their states, and a tick of
//! the machine with the firing ones.
use crate::aws::alarms::{self, AlarmState};
use crate::aws::managed::alarm_name;
use crate::config::Config;
use crate::error::Result;
use crate::rollout::{self, Color, Event, Transition};
use crate::store::{now_ms, StackDoc};

use super::ctx::{refusal, Ctx};

/// Every alarm this stack watches: `watch` plus the managed alarms of `color`.
pub fn watched(cfg: &Config, color: Option<Color>, region: &str) -> Vec<String> {
    let mut names = cfg.alarms.watch.clone();
    if let Some(c) = color {
        for a in &cfg.alarms.create {
            if let Ok(n) = alarm_name(&cfg.name, a, c, region) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    names
}

pub async fn read_alarms(ctx: &Ctx<'_>, color: Option<Color>) -> Result<Vec<AlarmState>> {
    let names = watched(ctx.cfg, color, &ctx.clients.region);
    if names.is_empty() {
        return Ok(vec![]);
    }
    alarms::read(&ctx.clients.cloudwatch, &names).await
}

/// Reads the watched alarms and applies a tick to `doc`'s rollout.
pub async fn tick_now(ctx: &Ctx<'_>, doc: &StackDoc, ignore: &[String]) -> Result<Transition> {
    let states = read_alarms(ctx, doc.status.candidate).await?;
    tick_with(ctx, doc, &states, ignore)
}

pub fn tick_with(
    ctx: &Ctx<'_>,
    doc: &StackDoc,
    states: &[AlarmState],
    ignore: &[String],
) -> Result<Transition> {
    let firing = alarms::firing(states, ignore);
    rollout::apply(
        &ctx.spec(),
        &doc.status,
        Event::Tick {
            now: now_ms(),
            firing,
        },
    )
    .map_err(refusal)
}

/// Warns about alarms that cannot protect the rollout.
pub fn warn_insufficient(ctx: &Ctx<'_>, states: &[AlarmState]) {
    for a in states {
        match a.state.as_str() {
            "INSUFFICIENT_DATA" => ctx.out.warn(&format!(
                "alarm {} has INSUFFICIENT_DATA; it cannot protect this rollout yet",
                a.name
            )),
            "MISSING" => ctx
                .out
                .warn(&format!("watched alarm {} does not exist", a.name)),
            _ => {}
        }
    }
}
