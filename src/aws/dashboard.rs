//! The CloudWatch side of pictures: the dashboard `cutover-<name>` (both
//! colours' requests, 5xx, latency and weight), and the `Weight` metric
//! (namespace `Cutover`, dimensions `Stack`, `Color`) put after every change.
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_cloudwatch::Client;
use serde_json::{json, Value};

use crate::error::{aws, Result};
use crate::rollout::{Color, Weights};

/// The namespace of cutover's own metrics.
pub const NAMESPACE: &str = "Cutover";

pub fn name(stack: &str) -> String {
    format!("cutover-{stack}")
}

/// What the dashboard charts, per colour.
pub struct Sources<'a> {
    pub stack: &'a str,
    pub region: &'a str,
    pub namespace: &'a str,
    /// (requests, 5xx, latency) metric names.
    pub metrics: (&'a str, &'a str, &'a str),
    /// Each colour's dimensions.
    pub dims: Vec<(Color, Vec<(String, String)>)>,
}

/// The dashboard body (CloudWatch's JSON): one widget per question.
pub fn body(s: &Sources<'_>) -> Value {
    let series = |metric: &str, stat: &str| -> Vec<Value> {
        s.dims
            .iter()
            .map(|(c, dims)| {
                let mut row = vec![json!(s.namespace), json!(metric)];
                for (k, v) in dims {
                    row.push(json!(k));
                    row.push(json!(v));
                }
                row.push(json!({"label": c.as_str(), "stat": stat, "color": colour(*c)}));
                Value::Array(row)
            })
            .collect()
    };
    let weight: Vec<Value> = Color::BOTH
        .iter()
        .map(|c| {
            json!([NAMESPACE, "Weight", "Stack", s.stack, "Color", c.as_str(),
                {"label": c.as_str(), "stat": "Maximum", "color": colour(*c)}])
        })
        .collect();
    let widget = |i: usize, title: &str, metrics: Vec<Value>, unit: &str| {
        json!({
            "type": "metric",
            "x": (i % 2) * 12, "y": (i / 2) * 6, "width": 12, "height": 6,
            "properties": {
                "title": title, "region": s.region, "view": "timeSeries",
                "period": 60, "metrics": metrics,
                "yAxis": {"left": {"label": unit, "showUnits": false}},
            }
        })
    };
    let (req, err, lat) = s.metrics;
    json!({"widgets": [
        widget(0, &format!("{} weight per colour", s.stack), weight, "%"),
        widget(1, "requests per colour", series(req, "Sum"), "count"),
        widget(2, "5xx per colour", series(err, "Sum"), "count"),
        widget(3, "latency per colour", series(lat, "Average"), if s.namespace == "AWS/SageMaker" { "microseconds" } else { "seconds" }),
    ]})
}

/// Okabe-Ito: blue and orange read apart for every kind of colour vision.
fn colour(c: Color) -> &'static str {
    match c {
        Color::Blue => "#0072B2",
        Color::Green => "#E69F00",
    }
}

pub async fn put(cw: &Client, stack: &str, body: &Value) -> Result<()> {
    cw.put_dashboard()
        .dashboard_name(name(stack))
        .dashboard_body(body.to_string())
        .send()
        .await
        .map_err(|e| aws("put dashboard", e))?;
    Ok(())
}

/// Deletes the stack's dashboard; true when there was one.
pub async fn delete(cw: &Client, stack: &str) -> Result<bool> {
    let n = name(stack);
    let found = cw
        .list_dashboards()
        .dashboard_name_prefix(&n)
        .send()
        .await
        .map_err(|e| aws("list dashboards", e))?
        .dashboard_entries()
        .iter()
        .any(|d| d.dashboard_name() == Some(n.as_str()));
    if found {
        cw.delete_dashboards()
            .dashboard_names(&n)
            .send()
            .await
            .map_err(|e| aws("delete dashboards", e))?;
    }
    Ok(found)
}

/// Puts each colour's weight as `Cutover/Weight`.
pub async fn put_weights(cw: &Client, stack: &str, w: Weights) -> Result<()> {
    let data = Color::BOTH
        .iter()
        .map(|c| {
            MetricDatum::builder()
                .metric_name("Weight")
                .dimensions(Dimension::builder().name("Stack").value(stack).build())
                .dimensions(Dimension::builder().name("Color").value(c.as_str()).build())
                .value(w.of(*c) as f64)
                .unit(StandardUnit::Percent)
                .build()
        })
        .collect();
    cw.put_metric_data()
        .namespace(NAMESPACE)
        .set_metric_data(Some(data))
        .send()
        .await
        .map_err(|e| aws("put metric data", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_charts_both_colours_and_the_weight() {
        let s = Sources {
            stack: "iris",
            region: "us-east-1",
            namespace: "AWS/ApplicationELB",
            metrics: (
                "RequestCount",
                "HTTPCode_Target_5XX_Count",
                "TargetResponseTime",
            ),
            dims: vec![
                (
                    Color::Blue,
                    vec![("TargetGroup".into(), "targetgroup/iris-blue/1".into())],
                ),
                (
                    Color::Green,
                    vec![("TargetGroup".into(), "targetgroup/iris-green/2".into())],
                ),
            ],
        };
        let b = body(&s);
        let w = b["widgets"].as_array().unwrap();
        assert_eq!(w.len(), 4);
        let text = b.to_string();
        for needle in [
            "targetgroup/iris-blue/1",
            "targetgroup/iris-green/2",
            "\"Weight\"",
            "\"Cutover\"",
            "HTTPCode_Target_5XX_Count",
        ] {
            assert!(text.contains(needle), "{needle}");
        }
        assert_eq!(w[0]["properties"]["metrics"].as_array().unwrap().len(), 2);
    }
}
