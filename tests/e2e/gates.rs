//! The model gates end to end on the data plane: output comparison before
//! traffic and after each bake, active probes during bakes, and the metric
//! judge on per-colour CloudWatch metrics.
use crate::common;

use std::time::{Duration, Instant};

use common::traffic::Load;
use common::Stack;

/// 20 golden rows with expected outputs (the reference model's classes).
fn golden(s: &Stack) {
    let rows = [
        ([5.1, 3.5, 1.4, 0.2], 0),
        ([6.3, 3.3, 6.0, 2.5], 2),
        ([5.9, 3.0, 4.2, 1.5], 1),
        ([4.9, 3.0, 1.4, 0.2], 0),
    ];
    let mut text = String::new();
    for i in 0..20 {
        let (x, y) = rows[i % rows.len()];
        text.push_str(&format!(
            "{{\"body\": {{\"data\": [[{}, {}, {}, {}]]}}, \"expect\": [{y}]}}\n",
            x[0], x[1], x[2], x[3]
        ));
    }
    std::fs::write(s.dir.path().join("golden.jsonl"), text).unwrap();
    s.edit_config(|t| {
        t + "\n[compare]\nrequests = \"golden.jsonl\"\noutput = \"/predictions\"\nmin_agreement = 0.95\nmin_accuracy = 0.9\nrate = 50\n"
    });
}

fn deploy_with(s: &Stack, version: &str, env: &[(&str, &str)], code: i32) -> String {
    s.exits_with_env(&["deploy", "--version", version], env, code)
}

#[test]
fn comparison_blocks_a_wrong_model_before_traffic_and_passes_an_equal_one() {
    let s = Stack::new("cmp", &["--bake", "1s", "--poll", "200ms"]);
    golden(&s);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    // Outputs off by one: blocked before any traffic.
    let err = deploy_with(&s, "v2", &[("OUTPUT_SHIFT", "1")], 3);
    assert!(err.contains("comparison"), "{err}");
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "failed_validation");
    assert_eq!(st["compare"]["verdict"], "fail");
    assert_eq!(st["compare"]["agreement"], 0.0);
    assert_eq!(st["compare"]["requests"], 20);
    assert!(st["compare"]["disagreements"][0]["candidate"].is_array());
    s.ok(&["shift"], 3);
    // `cutover compare` says the same, read-only.
    let before = s.requests().len();
    s.exits(&["compare"], 3);
    assert!(s.requests()[before..]
        .iter()
        .all(|(_, a)| common::is_read_only(a)));
    // An equal model passes, at deploy and at the end of every bake.
    deploy_with(&s, "v3", &[], 0);
    assert_eq!(s.status_json()["compare"]["verdict"], "pass");
    let out = s.ok(&["compare", "-o", "json"], 0);
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["compare"]["agreement"], 1.0);
    s.ok(&["shift"], 0);
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "complete");
    assert_eq!(st["compare"]["verdict"], "pass");
    let hist = s.ok(&["history"], 0);
    assert!(hist.contains("compare pass"), "{hist}");
}

#[test]
fn probes_roll_back_a_failing_model_within_seconds_without_an_alarm() {
    let s = Stack::new("probe", &["--bake", "60s", "--poll", "1s"]);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    // Half of its answers are 500s; no validation ran at deploy time.
    deploy_with(&s, "v2", &[("ERROR_RATE", "0.5")], 0);
    s.edit_config(|t| {
        t.replace("poll_interval = \"1s\"", "poll_interval = \"1s\"\nprobe_interval = \"1s\"\nprobe_failures = 2")
            + "\n[validate]\npayload = '{\"data\": [[5.1, 3.5, 1.4, 0.2]]}'\nrepeat = 3\ntimeout = \"3s\"\n"
    });
    let start = Instant::now();
    let out = s.exits(&["shift"], 3);
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("probe"), "{err}");
    assert!(took < Duration::from_secs(10), "rolled back after {took:?}");
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "rolled_back");
    assert_eq!(st["rollout"]["stopped_by"], "probe", "{st}");
    // No alarm fired: the seeded alarm is not in ALARM.
    assert!(st["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["state"] != "ALARM"));
    assert!(s.ok(&["history"], 0).contains("gate-rollback"));
}

fn judged(name: &str) -> Stack {
    let s = Stack::new(
        name,
        &["--bake", "65s", "--poll", "1s", "--steps", "50, 100"],
    );
    s.edit_config(|t| {
        t + "\n[judge]\nmetrics = [\"errors\", \"latency\"]\nconfidence = 0.98\nperiod = \"10s\"\nmin_points = 4\n"
    });
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s
}

#[test]
fn the_judge_rolls_back_a_slow_model() {
    let s = judged("slow");
    deploy_with(&s, "v2", &[("LATENCY_MS", "300")], 0);
    let load = Load::start(&s.lb_host(), 80, 20);
    let out = s.exits(&["shift"], 3);
    load.finish();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("judge fail"), "{err}");
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["judge"]["verdict"], "fail");
    let lat = st["judge"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "latency")
        .unwrap()
        .clone();
    assert_eq!(lat["verdict"], "fail", "{lat}");
    assert!(lat["p"].as_f64().unwrap() < 0.02, "{lat}");
}

#[test]
fn the_judge_passes_an_equal_model() {
    let s = judged("equal");
    deploy_with(&s, "v2", &[], 0);
    let load = Load::start(&s.lb_host(), 80, 20);
    s.ok(&["shift"], 0);
    load.finish();
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "complete");
    assert_eq!(st["judge"]["verdict"], "pass", "{}", st["judge"]);
}

#[test]
fn sagemaker_comparison_goes_through_target_variant() {
    let s = Stack::new("smcmp", &["--provider", "sagemaker"]);
    golden(&s);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    deploy_with(&s, "v2", &[("OUTPUT_SHIFT", "1")], 3);
    assert_eq!(s.status_json()["compare"]["agreement"], 0.0);
    deploy_with(&s, "v3", &[], 0);
    assert_eq!(s.status_json()["compare"]["verdict"], "pass");
    let log: serde_json::Value =
        serde_json::from_str(&common::http_get(s.emu.port, "/_emulator/requests")).unwrap();
    let variants: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["key"] == s.key.as_str() && r["action"] == "InvokeEndpoint")
        .filter_map(|r| r["target_variant"].as_str())
        .collect();
    assert!(
        variants.contains(&"blue") && variants.contains(&"green"),
        "{variants:?}"
    );
}

#[test]
fn sagemaker_probes_and_judge_work_through_the_endpoint() {
    let s = Stack::new(
        "smgate",
        &["--provider", "sagemaker", "--bake", "60s", "--poll", "1s"],
    );
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    // Probes: a model that fails half its invocations is rolled back within seconds.
    deploy_with(&s, "v2", &[("ERROR_RATE", "0.5")], 0);
    let good = std::fs::read_to_string(s.config()).unwrap();
    s.edit_config(|t| {
        t.replace("poll_interval = \"1s\"", "poll_interval = \"1s\"\nprobe_interval = \"1s\"\nprobe_failures = 2")
            + "\n[validate]\npayload = '{\"data\": [[5.1, 3.5, 1.4, 0.2]]}'\nrepeat = 3\ntimeout = \"3s\"\n"
    });
    let start = Instant::now();
    let err = String::from_utf8_lossy(&s.exits(&["shift"], 3).stderr).into_owned();
    assert!(err.contains("probe"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    let st = s.status_json();
    assert_eq!(st["weights"]["green"], 0);
    assert_eq!(st["rollout"]["state"], "rolled_back");
    // The judge reads the variants' own metrics (EndpointName/VariantName).
    std::fs::write(
        s.config(),
        good.replace("bake = \"60s\"", "bake = \"25s\"")
            + "\n[judge]\nperiod = \"10s\"\nmin_points = 1\ndry_run = true\n",
    )
    .unwrap();
    deploy_with(&s, "v3", &[], 0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (flag, sdk) = (stop.clone(), s.sdk());
    let load = std::thread::spawn(move || {
        let rt = Stack::rt();
        let client = aws_sdk_sagemakerruntime::Client::new(&sdk);
        rt.block_on(async {
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = client
                    .invoke_endpoint()
                    .endpoint_name("smgate")
                    .content_type("application/json")
                    .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                        common::traffic::BODY.as_bytes().to_vec(),
                    ))
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    });
    s.ok(&["shift"], 0);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    load.join().unwrap();
    let judge = &s.status_json()["judge"];
    let metrics = judge["metrics"].as_array().unwrap();
    for m in metrics {
        let (c, b) = (
            m["points"][0].as_u64().unwrap(),
            m["points"][1].as_u64().unwrap(),
        );
        assert!(c >= 1 && b >= 1, "no SageMaker datapoints for {m}");
    }
    assert!(judge["dry_run"].as_bool().unwrap());
}

/// `[judge] on_inconclusive = "hold"`: too few points is never a pass; the
/// rollout pauses at the step with the reason, and `continue` carries on.
#[test]
fn an_inconclusive_judge_holds_the_step_until_continue() {
    let s = Stack::new(
        "jhold",
        &["--bake", "2s", "--poll", "500ms", "--steps", "50, 100"],
    );
    s.edit_config(|t| {
        t + "\n[judge]\nperiod = \"10s\"\nmin_points = 1000\non_inconclusive = \"hold\"\n"
    });
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    let out = s.ok(&["shift"], 0);
    assert!(out.contains("inconclusive"), "{out}");
    assert_eq!(s.elb_weights(), (50, 50));
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "paused", "{st}");
    assert!(
        st["rollout"]["hold_reason"]
            .as_str()
            .unwrap()
            .contains("inconclusive"),
        "{st}"
    );
    // Ticks do not move it, however late.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(s.ok(&["promote"], 0).contains("nothing due"));
    assert_eq!(s.elb_weights(), (50, 50));
    assert!(s.ok(&["history"], 0).contains("hold"));
    let out = s.ok(&["continue"], 0);
    assert!(out.contains("step 2/2"), "{out}");
    assert_eq!(s.elb_weights(), (0, 100));
    assert_eq!(
        s.status_json()["rollout"]["hold_reason"],
        serde_json::Value::Null
    );
    // A bad value is bad input.
    s.edit_config(|t| t.replace("on_inconclusive = \"hold\"", "on_inconclusive = \"wait\""));
    let err = s.exits_with_env(&["check"], &[], 2);
    assert!(err.contains("judge.on_inconclusive"), "{err}");
}
