//! One CloudWatch statistic of one metric, per period start (ms): the
//! GetMetricData query (paginated) the judge and the experiment share.
use std::collections::BTreeMap;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_sdk_cloudwatch::Client;

use crate::error::{aws, Result};

/// What to read: namespace, metric, dimensions, statistic, period (s).
pub struct Query<'a> {
    pub namespace: &'a str,
    pub metric: &'a str,
    pub dimensions: Vec<(String, String)>,
    pub stat: &'a str,
    pub period_s: u64,
}

/// The values of `q` in [start, end) (ms), by period start.
pub async fn series(cw: &Client, q: Query<'_>, start: u64, end: u64) -> Result<BTreeMap<u64, f64>> {
    let mut dims = q.dimensions;
    // CloudWatch matches dimensions as a set; sorted by name, order-sensitive
    // implementations (moto) agree too.
    dims.sort();
    let m = Metric::builder()
        .namespace(q.namespace)
        .metric_name(q.metric)
        .set_dimensions(Some(
            dims.into_iter()
                .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                .collect(),
        ))
        .build();
    let mq = MetricDataQuery::builder()
        .id("m")
        .metric_stat(
            MetricStat::builder()
                .metric(m)
                .period(q.period_s as i32)
                .stat(q.stat)
                .build(),
        )
        .return_data(true)
        .build();
    let mut pages = cw
        .get_metric_data()
        .start_time(DateTime::from_millis(start as i64))
        .end_time(DateTime::from_millis(end as i64))
        .metric_data_queries(mq)
        .into_paginator()
        .send();
    let mut out = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws(&format!("get metric data {}", q.metric), e))?;
        for r in page.metric_data_results() {
            for (t, v) in r.timestamps().iter().zip(r.values()) {
                let ms = t.to_millis().unwrap_or(0).max(0) as u64;
                if ms >= start && ms < end {
                    out.insert(ms, *v);
                }
            }
        }
    }
    Ok(out)
}
