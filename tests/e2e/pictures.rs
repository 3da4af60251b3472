// Pictures and operations: the CloudWatch dashboard `cutover-<name>`, the
// `Cutover/Weight` metric after every change, and `promote --metrics-file`.
use aws_sdk_cloudwatch::types::{Dimension, Statistic};

use crate::common::Stack;

fn dashboard(s: &Stack) -> Option<serde_json::Value> {
    let cw = aws_sdk_cloudwatch::Client::new(&s.cw_sdk());
    Stack::rt().block_on(async {
        let o = cw
            .get_dashboard()
            .dashboard_name(format!("cutover-{}", s.name))
            .send()
            .await
            .ok()?;
        serde_json::from_str(o.dashboard_body()?).ok()
    })
}

/// The largest `Cutover/Weight` of a colour over the last 10 minutes.
fn weight(s: &Stack, color: &str) -> Option<f64> {
    let cw = aws_sdk_cloudwatch::Client::new(&s.cw_sdk());
    Stack::rt().block_on(async {
        let now = std::time::SystemTime::now();
        let o = cw
            .get_metric_statistics()
            .namespace("Cutover")
            .metric_name("Weight")
            .dimensions(Dimension::builder().name("Stack").value(&s.name).build())
            .dimensions(Dimension::builder().name("Color").value(color).build())
            .start_time((now - std::time::Duration::from_secs(600)).into())
            .end_time((now + std::time::Duration::from_secs(60)).into())
            .period(60)
            .statistics(Statistic::Maximum)
            .send()
            .await
            .unwrap();
        o.datapoints()
            .iter()
            .filter_map(|d| d.maximum())
            .reduce(f64::max)
    })
}

#[test]
fn the_dashboard_the_weight_metric_and_the_metrics_file_show_the_rollout() {
    let s = Stack::new("dash", &["--bake", "1h", "--poll", "200ms"]);
    assert!(s
        .ok(&["plan"], 0)
        .contains("CloudWatch dashboard cutover-dash"));
    s.ok(&["provision"], 0);
    let body = dashboard(&s).expect("dashboard cutover-dash");
    let text = body.to_string();
    for needle in [
        "targetgroup/dash-blue/",
        "targetgroup/dash-green/",
        "\"Weight\"",
        "HTTPCode_Target_5XX_Count",
        "TargetResponseTime",
    ] {
        assert!(text.contains(needle), "{needle} not in {text}");
    }
    // A second provision finds the dashboard as it should be.
    assert!(s.ok(&["provision"], 0).contains("nothing to change"));
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.ok(&["shift", "--to", "30"], 0);
    assert_eq!(weight(&s, "green"), Some(30.0));
    assert_eq!(weight(&s, "blue"), Some(100.0));
    let file = s.dir.path().join("cutover.prom");
    s.ok(&["promote", "--metrics-file", file.to_str().unwrap()], 0);
    let text = std::fs::read_to_string(&file).unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("a valid Prometheus textfile");
    let value = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
            .map(|x| match x.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    let st = s.status_json();
    let (b, g) = (
        st["weights"]["blue"].as_f64().unwrap(),
        st["weights"]["green"].as_f64().unwrap(),
    );
    assert_eq!(
        value("cutover_weight", &[("stack", "dash"), ("color", "blue")]),
        Some(b)
    );
    assert_eq!(
        value("cutover_weight", &[("stack", "dash"), ("color", "green")]),
        Some(g)
    );
    let state = st["rollout"]["state"].as_str().unwrap();
    assert_eq!(
        value(
            "cutover_rollout_state",
            &[("stack", "dash"), ("state", state)]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "cutover_rollout_state",
            &[("stack", "dash"), ("state", "complete")]
        ),
        Some(0.0)
    );
    let tick = value("cutover_last_tick_timestamp_seconds", &[("stack", "dash")]).unwrap();
    assert!(
        (crate::common::traffic::now_ms() as f64 / 1000.0 - tick).abs() < 30.0,
        "{tick}"
    );
    s.ok(&["destroy", "--yes"], 0);
    assert!(dashboard(&s).is_none(), "destroy left the dashboard");
}
