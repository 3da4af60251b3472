//! Managed alarms: `[[alarms.create]]` entries that `provision` creates once
//! per colour, with that colour's dimensions.
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};

use crate::app::Ctx;
use crate::config::{Config, ManagedAlarm};
use crate::error::{aws, Result};
use crate::provider::{Change, Provider};
use crate::rollout::Color;

/// One concrete alarm to create.
#[derive(Clone, Debug)]
pub struct Planned {
    pub color: Color,
    pub name: String,
    pub spec: ManagedAlarm,
}

/// The name of managed alarm `a` for colour `c` (its `name` is a template).
pub fn alarm_name(cfg: &Config, a: &ManagedAlarm, c: Color, region: &str) -> Result<String> {
    let vars = crate::template::Vars {
        name: &cfg.name,
        version: "",
        color: c.as_str(),
        region,
    };
    crate::template::render("alarms.create.name", &a.name, &vars)
}

fn concrete(ctx: &Ctx<'_>) -> Vec<Planned> {
    let mut out = Vec::new();
    for a in &ctx.cfg.alarms.create {
        for c in Color::BOTH {
            // `check` has already rendered every name, so this cannot fail here.
            if let Ok(name) = alarm_name(ctx.cfg, a, c, &ctx.clients.region) {
                out.push(Planned {
                    color: c,
                    name,
                    spec: a.clone(),
                });
            }
        }
    }
    out
}

/// An alarm to create or update, and how `plan` shows it.
#[derive(Clone, Debug)]
pub struct Todo {
    pub change: Change,
    pub alarm: Planned,
}

/// Alarms that are missing or differ from the config.
pub async fn plan(ctx: &Ctx<'_>) -> Result<Vec<Todo>> {
    let want = concrete(ctx);
    if want.is_empty() {
        return Ok(vec![]);
    }
    let names: Vec<String> = want.iter().map(|p| p.name.clone()).collect();
    let mut have = std::collections::HashMap::new();
    for chunk in names.chunks(100) {
        let out = ctx
            .clients
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| aws("describe alarms", e))?;
        for a in out.metric_alarms() {
            have.insert(a.alarm_name().unwrap_or_default().to_string(), a.clone());
        }
    }
    let mut todo = Vec::new();
    for p in want {
        match have.get(&p.name) {
            None => todo.push(Todo {
                change: Change::new(
                    "create",
                    format!("alarm {} ({} on {})", p.name, p.spec.metric, p.color),
                ),
                alarm: p,
            }),
            Some(a) => {
                let same = a.metric_name() == Some(p.spec.metric.as_str())
                    && a.threshold() == Some(p.spec.threshold)
                    && a.period() == Some(p.spec.period as i32)
                    && a.evaluation_periods() == Some(p.spec.evaluation_periods as i32)
                    && a.comparison_operator().map(|c| c.as_str())
                        == Some(p.spec.comparison.as_str());
                if !same {
                    todo.push(Todo {
                        change: Change::new("update", format!("alarm {}", p.name)),
                        alarm: p,
                    });
                }
            }
        }
    }
    Ok(todo)
}

/// Creates or updates the planned alarms with the provider's dimensions.
pub async fn apply<P: Provider>(ctx: &Ctx<'_>, provider: &P, todo: &[Todo]) -> Result<()> {
    for Todo { alarm: p, .. } in todo {
        let dims = provider.alarm_dimensions(p.color).await?;
        let ns = p
            .spec
            .namespace
            .clone()
            .unwrap_or_else(|| provider.metric_namespace().to_string());
        let mut req = ctx
            .clients
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&p.name)
            .metric_name(&p.spec.metric)
            .namespace(ns)
            .statistic(Statistic::from(p.spec.statistic.as_str()))
            .period(p.spec.period as i32)
            .evaluation_periods(p.spec.evaluation_periods as i32)
            .threshold(p.spec.threshold)
            .comparison_operator(ComparisonOperator::from(p.spec.comparison.as_str()))
            .treat_missing_data("notBreaching")
            .alarm_description(format!(
                "managed by cutover stack {} ({})",
                ctx.cfg.name, p.color
            ));
        for (k, v) in dims {
            req = req.dimensions(Dimension::builder().name(k).value(v).build());
        }
        for (k, v) in crate::aws::tags(&ctx.cfg.name, Some(p.color)) {
            req = req.tags(Tag::builder().key(k).value(v).build());
        }
        ctx.out.info(&format!("  put alarm {}", p.name));
        req.send().await.map_err(|e| aws("put metric alarm", e))?;
    }
    Ok(())
}

/// Deletes the managed alarms.
pub async fn destroy(ctx: &Ctx<'_>) -> Result<Vec<String>> {
    let names: Vec<String> = concrete(ctx).into_iter().map(|p| p.name).collect();
    if names.is_empty() {
        return Ok(vec![]);
    }
    let existing = crate::alarms::read(&ctx.clients.cloudwatch, &names).await?;
    let gone: Vec<String> = existing
        .into_iter()
        .filter(|a| a.state != "MISSING")
        .map(|a| a.name)
        .collect();
    if gone.is_empty() {
        return Ok(vec![]);
    }
    ctx.clients
        .cloudwatch
        .delete_alarms()
        .set_alarm_names(Some(gone.clone()))
        .send()
        .await
        .map_err(|e| aws("delete alarms", e))?;
    Ok(gone.into_iter().map(|n| format!("alarm {n}")).collect())
}
