//! The data plane end to end: real requests through the emulator's load
//! balancers and endpoints while cutover deploys, shifts, rolls back and
//! retires. Zero downtime is measured, and a bad model trips its own alarm.
use crate::common;

use std::time::{Duration, Instant};

use common::traffic::{failures, invoke, now_ms, share, Load};
use common::Stack;

/// `at` of each `step` event of a `shift -o json` run, with the candidate's weight.
fn step_times(json_lines: &str) -> Vec<(u64, u64)> {
    json_lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "step")
        .map(|v| {
            let at = humantime::parse_rfc3339(v["at"].as_str().unwrap()).unwrap();
            let ms = at
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64;
            (ms, v["weights"]["green"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn zero_downtime_through_a_whole_release_cycle() {
    let s = Stack::new(
        "zdt",
        &[
            "--bake",
            "8s",
            "--poll",
            "500ms",
            "--termination-wait",
            "2s",
        ],
    );
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    let host = s.lb_host();
    assert!(host.starts_with("127."), "DNSName {host}");
    // Steady load from the moment a version is live until the end.
    let load = Load::start(&host, 80, 50);
    std::thread::sleep(Duration::from_secs(1));
    s.ok(&["deploy", "--version", "v2"], 0);
    let out = s.ok(&["shift", "-o", "json"], 0);
    let steps = step_times(&out);
    assert_eq!(
        steps.iter().map(|s| s.1).collect::<Vec<_>>(),
        vec![10, 50, 100]
    );
    // Roll back from complete, redeploy, go straight to 100%, retire the old colour.
    s.ok(&["rollback", "--reason", "zero-downtime test"], 0);
    s.ok(&["deploy", "--version", "v3"], 0);
    s.ok(&["shift", "--to", "100"], 0);
    std::thread::sleep(Duration::from_millis(2500));
    let retire = s.ok(&["promote"], 0);
    assert!(retire.contains("retire"), "{retire}");
    assert_eq!(s.status_json()["rollout"]["state"], "retired");
    std::thread::sleep(Duration::from_secs(4));
    let hits = load.finish();
    let bad = failures(&hits);
    assert!(
        bad.is_empty(),
        "{} of {} requests failed: {:?}",
        bad.len(),
        hits.len(),
        &bad[..bad.len().min(5)]
    );
    assert!(hits.len() > 500, "only {} requests", hits.len());
    // Each bake's share of the candidate is within 8 points of its weight.
    for w in steps.windows(2) {
        let ((from, weight), (to, _)) = (w[0], w[1]);
        let (got, n) = share(&hits, from + 300, to, "v2");
        assert!(n > 200, "only {n} requests in the {weight}% bake");
        assert!(
            (got - weight as f64).abs() <= 8.0,
            "bake at {weight}%: v2 served {got:.1}% of {n}"
        );
    }
    // After retirement everything is served by v3.
    let end = now_ms();
    let (v3, n) = share(&hits, end - 3000, end, "v3");
    assert!(n > 50 && v3 == 100.0, "v3 served {v3}% of the last {n}");
}

#[test]
fn a_model_that_fails_trips_its_own_alarm_and_is_rolled_back() {
    let s = Stack::new(
        "storm",
        &["--bake", "90s", "--poll", "1s", "--steps", "50, 100"],
    );
    s.edit_config(|t| {
        t + "\n[[alarms.create]]\nname = \"{{ name }}-{{ color }}-5xx\"\nmetric = \"HTTPCode_Target_5XX_Count\"\nthreshold = 0\nperiod = 10\ntreat_missing_data = \"notBreaching\"\n"
    });
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    let load = Load::start(&s.lb_host(), 80, 20);
    // A candidate that answers every prediction with a 500; no validation runs.
    s.exits_with_env(&["deploy", "--version", "v2"], &[("ERROR_RATE", "1")], 0);
    let start = Instant::now();
    let out = s.exits(&["shift"], 3);
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("storm-green-5xx"), "{err}");
    assert!(took < Duration::from_secs(60), "detected after {took:?}");
    assert_eq!(s.elb_weights(), (100, 0));
    let rolled_back = now_ms();
    std::thread::sleep(Duration::from_secs(3));
    let hits = load.finish();
    let during: Vec<_> = failures(&hits)
        .into_iter()
        .filter(|h| h.at < rolled_back)
        .collect();
    assert!(!during.is_empty(), "the bad model never failed a request");
    assert!(
        failures(&hits).iter().all(|h| h.at < rolled_back),
        "requests still failed after the rollback"
    );
    let hist = s.ok(&["history"], 0);
    assert!(hist.contains("auto-rollback"), "{hist}");
}

#[test]
fn the_test_listener_reaches_each_colour_by_header() {
    let s = Stack::new("route", &["--bake", "1s", "--poll", "200ms"]);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    let host = s.lb_host();
    let version = |headers: &[(&str, &str)]| invoke(&host, 8080, headers).version;
    for _ in 0..5 {
        assert_eq!(
            version(&[("x-cutover-color", "blue")]).as_deref(),
            Some("v1")
        );
        assert_eq!(
            version(&[("x-cutover-color", "green")]).as_deref(),
            Some("v2")
        );
        // Without the header the test listener shows the candidate.
        assert_eq!(version(&[]).as_deref(), Some("v2"));
        // Production still serves only v1.
        assert_eq!(invoke(&host, 80, &[]).version.as_deref(), Some("v1"));
    }
    s.ok(&["shift", "--to", "100"], 0);
    assert_eq!(version(&[]).as_deref(), Some("v1"), "idle is blue now");
    assert_eq!(
        version(&[("x-cutover-color", "green")]).as_deref(),
        Some("v2")
    );
}

#[test]
fn validation_goes_through_the_test_listener() {
    let s = Stack::new("valroute", &[]);
    s.edit_config(|t| {
        t + "\n[validate]\npayload = '{\"data\": [[5.1, 3.5, 1.4, 0.2]]}'\nexpect_json = { \"/predictions/0\" = 0 }\ntimeout = \"3s\"\n"
    });
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    assert_eq!(s.status_json()["rollout"]["state"], "ready");
    // A model whose outputs are off by one fails validation before any traffic.
    let err = s.exits_with_env(&["deploy", "--version", "v3"], &[("OUTPUT_SHIFT", "1")], 3);
    assert!(err.contains("/predictions/0"), "{err}");
    assert_eq!(s.elb_weights(), (100, 0));
    assert_eq!(s.status_json()["rollout"]["state"], "failed_validation");
}

#[test]
fn sagemaker_invocations_follow_the_variant_weights() {
    let s = Stack::new("smload", &["--provider", "sagemaker"]);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.ok(&["shift", "--to", "30"], 0);
    let rt = aws_sdk_sagemakerruntime::Client::new(&s.sdk());
    let body = common::traffic::BODY.as_bytes().to_vec();
    let (green, n, pinned) = Stack::rt().block_on(async {
        let mut green = 0;
        let n = 300;
        for _ in 0..n {
            let o = rt
                .invoke_endpoint()
                .endpoint_name("smload")
                .content_type("application/json")
                .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                    body.clone(),
                ))
                .send()
                .await
                .unwrap();
            if o.invoked_production_variant() == Some("green") {
                green += 1;
            }
        }
        let mut pinned = Vec::new();
        for _ in 0..10 {
            let o = rt
                .invoke_endpoint()
                .endpoint_name("smload")
                .target_variant("blue")
                .content_type("application/json")
                .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                    body.clone(),
                ))
                .send()
                .await
                .unwrap();
            let text = String::from_utf8_lossy(o.body().unwrap().as_ref()).into_owned();
            pinned.push((o.invoked_production_variant().map(String::from), text));
        }
        (green, n, pinned)
    });
    let pct = 100.0 * green as f64 / n as f64;
    assert!((pct - 30.0).abs() <= 10.0, "green served {pct:.1}%");
    for (variant, text) in pinned {
        assert_eq!(variant.as_deref(), Some("blue"));
        assert!(text.contains("\"v1\""), "{text}");
    }
}
