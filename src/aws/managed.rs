//! Managed alarms: `[[alarms.create]]` entries that `provision` puts once per
//! colour, with that colour's dimensions (given by the provider).
use std::collections::HashMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};
use aws_sdk_cloudwatch::Client;

use crate::config::{Config, ManagedAlarm};
use crate::error::{aws, Result};
use crate::rollout::Color;
use crate::template::{render, Vars};

/// One concrete alarm: a config entry for one colour.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub color: Color,
    pub name: String,
    pub spec: ManagedAlarm,
}

/// The name of managed alarm `a` for colour `c` (its `name` is a template).
pub fn alarm_name(stack: &str, a: &ManagedAlarm, c: Color, region: &str) -> Result<String> {
    let vars = Vars::new(stack, "", c.as_str(), region);
    render("alarms.create.name", &a.name, &vars)
}

/// Every managed alarm of the config, per colour.
pub fn concrete(cfg: &Config, region: &str) -> Result<Vec<Planned>> {
    let mut out = Vec::new();
    for a in &cfg.alarms.create {
        for c in Color::BOTH {
            out.push(Planned {
                color: c,
                name: alarm_name(&cfg.name, a, c, region)?,
                spec: a.clone(),
            });
        }
    }
    Ok(out)
}

/// The alarms that exist among `names`.
pub async fn existing(cw: &Client, names: &[String]) -> Result<HashMap<String, MetricAlarm>> {
    let mut have = HashMap::new();
    for chunk in names.chunks(100) {
        let mut pages = cw
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for a in page.map_err(|e| aws("describe alarms", e))?.metric_alarms() {
                have.insert(a.alarm_name().unwrap_or_default().to_string(), a.clone());
            }
        }
    }
    Ok(have)
}

/// Whether an existing alarm already matches the config entry.
pub fn matches(a: &MetricAlarm, spec: &ManagedAlarm) -> bool {
    a.metric_name() == Some(spec.metric.as_str())
        && a.threshold() == Some(spec.threshold)
        && a.period() == Some(spec.period as i32)
        && a.evaluation_periods() == Some(spec.evaluation_periods as i32)
        && a.comparison_operator().map(|c| c.as_str()) == Some(spec.comparison.as_str())
        && a.statistic().map(|s| s.as_str()) == Some(spec.statistic.as_str())
        && a.treat_missing_data().unwrap_or("missing") == spec.treat_missing_data
}

/// Creates or updates one alarm with the given namespace and dimensions.
pub async fn put(
    cw: &Client,
    stack: &str,
    p: &Planned,
    default_namespace: &str,
    dims: &[(String, String)],
) -> Result<()> {
    let ns = p
        .spec
        .namespace
        .clone()
        .unwrap_or_else(|| default_namespace.to_string());
    let mut req = cw
        .put_metric_alarm()
        .alarm_name(&p.name)
        .metric_name(&p.spec.metric)
        .namespace(ns)
        .statistic(Statistic::from(p.spec.statistic.as_str()))
        .period(p.spec.period as i32)
        .evaluation_periods(p.spec.evaluation_periods as i32)
        .threshold(p.spec.threshold)
        .comparison_operator(ComparisonOperator::from(p.spec.comparison.as_str()))
        .treat_missing_data(&p.spec.treat_missing_data)
        .alarm_description(format!("managed by cutover stack {stack} ({})", p.color));
    for (k, v) in dims {
        req = req.dimensions(Dimension::builder().name(k).value(v).build());
    }
    for (k, v) in super::tags(stack, Some(p.color)) {
        req = req.tags(Tag::builder().key(k).value(v).build());
    }
    req.send().await.map_err(|e| aws("put metric alarm", e))?;
    Ok(())
}

/// Deletes the alarms among `names` that exist; returns what was deleted.
pub async fn delete(cw: &Client, names: &[String]) -> Result<Vec<String>> {
    let have = existing(cw, names).await?;
    let gone: Vec<String> = names
        .iter()
        .filter(|n| have.contains_key(*n))
        .cloned()
        .collect();
    for chunk in gone.chunks(100) {
        cw.delete_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| aws("delete alarms", e))?;
    }
    Ok(gone)
}
