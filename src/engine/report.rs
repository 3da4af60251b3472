//! Reads a report's metrics: both colours' requests, 5xx and latency over the window from CloudWatch (one GetMetricData, the release's metric names and dimensions per colour).
use std::collections::BTreeMap;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use super::ctx::Ctx;
use crate::error::{aws, Error, Result};
use crate::providers::{Release, Stack};
use crate::report::{period_s, Metrics, Series};
use crate::rollout::Color;

/// Milliseconds per unit of the latency metric: the ALB's
/// TargetResponseTime is in seconds, SageMaker's ModelLatency in microseconds.
fn latency_ms(namespace: &str) -> f64 {
    match namespace {
        "AWS/SageMaker" => 0.001,
        _ => 1000.0,
    }
}

/// Each colour's series over [from, to] (ms). A metric CloudWatch does not
/// have is an empty series; so is a colour whose resources are gone.
pub async fn metrics(ctx: &Ctx<'_>, from: u64, to: u64) -> Result<Metrics> {
    let period = period_s(from, to);
    let p = period * 1000;
    let (start, end) = (from / p * p, to.div_ceil(p) * p);
    let (requests, errors, latency) = ctx.release.metric_names();
    let namespace = ctx.release.metric_namespace();
    let mut queries = Vec::new();
    for c in Color::BOTH {
        let mut dims = match ctx.release.alarm_dimensions(c).await {
            Ok(d) => d,
            Err(Error::Invalid(_)) => continue,
            Err(e) => return Err(e),
        };
        dims.sort();
        let dims: Vec<Dimension> = dims
            .into_iter()
            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
            .collect();
        for (key, name, stat) in [
            ("requests", requests, "Sum"),
            ("errors", errors, "Sum"),
            ("latency", latency, "Average"),
        ] {
            let metric = Metric::builder()
                .namespace(namespace)
                .metric_name(name)
                .set_dimensions(Some(dims.clone()))
                .build();
            queries.push(
                MetricDataQuery::builder()
                    .id(format!("{}_{key}", c.as_str()))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(period as i32)
                            .stat(stat)
                            .build(),
                    )
                    .return_data(true)
                    .build(),
            );
        }
    }
    let mut found: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    if !queries.is_empty() {
        let mut pages = ctx
            .clients
            .cloudwatch
            .get_metric_data()
            .start_time(DateTime::from_millis(start as i64))
            .end_time(DateTime::from_millis(end as i64))
            .set_metric_data_queries(Some(queries))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws("get metric data for the report", e))?;
            for r in page.metric_data_results() {
                let points = found
                    .entry(r.id().unwrap_or_default().to_string())
                    .or_default();
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    let ms = t.to_millis().unwrap_or(0).max(0) as u64;
                    if ms >= start && ms < end {
                        points.insert(ms, *v);
                    }
                }
            }
        }
    }
    let take = |id: String, scale: f64| -> Vec<(u64, f64)> {
        found
            .get(&id)
            .map(|m| m.iter().map(|(t, v)| (*t, v * scale)).collect())
            .unwrap_or_default()
    };
    let series = |c: Color| Series {
        requests: take(format!("{c}_requests"), 1.0),
        errors: take(format!("{c}_errors"), 1.0),
        latency: take(format!("{c}_latency"), latency_ms(namespace)),
    };
    Ok(Metrics {
        blue: series(Color::Blue),
        green: series(Color::Green),
    })
}
