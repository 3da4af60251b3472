// A/B experiments: the split held with target-group stickiness (a user
// keeps one model), decided by the App/Conversions business metric.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::traffic::{failures, Load, BODY};
use crate::common::Stack;

const EXPERIMENT: &str = r#"
[experiment]
split = 50
duration = "15s"
min_samples = 120
success = { namespace = "App", metric = "Conversions", dimensions = { ModelVersion = "{{ version }}" } }
trials  = { namespace = "App", metric = "Invocations", dimensions = { ModelVersion = "{{ version }}" } }
alpha = 0.05
min_effect = 0.1
on_equal = "rollback"
"#;

fn ab_stack(name: &str) -> Stack {
    let s = Stack::new(
        name,
        &["--bake", "1s", "--poll", "1s", "--steps", "50, 100"],
    );
    s.edit_config(|t| {
        t.replace(
            "poll_interval = \"1s\"",
            "poll_interval = \"1s\"\nsticky = \"1h\"",
        ) + EXPERIMENT
    });
    s.ok(&["provision"], 0);
    // Versions are unique per test: App metrics are keyed by ModelVersion only.
    s.exits_with_env(
        &["deploy", "--version", &format!("{name}-1")],
        &[("CONVERSION_RATE", "0.2")],
        0,
    );
    s
}

/// One request carrying `cookie`: (model version, the AWSALBTG cookie set).
fn sticky_invoke(host: &str, cookie: Option<&str>) -> (Option<String>, Option<String>) {
    let mut s = TcpStream::connect((host, 80)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let c = cookie
        .map(|c| format!("Cookie: AWSALBTG={c}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST /invocations HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{c}Connection: close\r\n\r\n{BODY}",
        BODY.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let head = buf.split("\r\n\r\n").next().unwrap_or("").to_string();
    let header = |name: &str, prefix: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(name) && v.trim().starts_with(prefix))
                .then(|| v.trim().to_string())
        })
    };
    let version = header("x-model-version", "");
    let cookie = header("set-cookie", "AWSALBTG=")
        .and_then(|v| v["AWSALBTG=".len()..].split(';').next().map(str::to_string));
    (version, cookie)
}

/// The stickiness of the production forward action: (enabled, seconds).
fn stickiness(s: &Stack) -> (Option<bool>, Option<i32>) {
    let l = s.listener(80);
    let fc = l.default_actions()[0].forward_config().cloned().unwrap();
    match fc.target_group_stickiness_config() {
        Some(c) => (c.enabled(), c.duration_seconds()),
        None => (None, None),
    }
}

#[test]
fn an_experiment_keeps_each_user_on_one_model_and_promotes_the_one_that_converts_better() {
    let s = ab_stack("abwin");
    s.exits_with_env(
        &["deploy", "--version", "abwin-2"],
        &[("CONVERSION_RATE", "0.6")],
        0,
    );
    let plan = s.ok(&["plan"], 0);
    assert!(plan.contains("experiment at 50%"), "{plan}");
    assert!(plan.contains("trials per colour"), "{plan}");
    let load = Load::start(&s.lb_host(), 80, 24);
    let shift = s.spawn_shift();
    s.wait_for_state("experimenting");
    assert_eq!(s.elb_weights(), (50, 50));
    assert_eq!(stickiness(&s), (Some(true), Some(3600)));
    // Each user (a cookie jar) keeps the model it first got; both models get users.
    let host = s.lb_host();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let (first, cookie) = sticky_invoke(&host, None);
        let cookie = cookie.expect("AWSALBTG set while both colours serve");
        for _ in 0..5 {
            assert_eq!(
                sticky_invoke(&host, Some(&cookie)).0,
                first,
                "a user changed models"
            );
        }
        seen.insert(first.unwrap());
    }
    assert_eq!(seen.len(), 2, "both models should get users: {seen:?}");
    let st = s.status_json();
    assert_eq!(st["experiment"]["split"], 50);
    let out = shift.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let hits = load.finish();
    assert!(
        failures(&hits).is_empty(),
        "{} failed requests",
        failures(&hits).len()
    );
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "complete", "{st}");
    assert_eq!(s.elb_weights(), (0, 100));
    // At 0/100 there is nothing to keep: the stickiness is gone.
    assert_ne!(stickiness(&s).0, Some(true));
    let e = &st["experiment"];
    assert_eq!(e["verdict"], "candidate", "{e}");
    assert!(e["p"].as_f64().unwrap() < 0.05, "{e}");
    for c in ["blue", "green"] {
        assert!(e[c]["trials"].as_u64().unwrap() >= 120, "{e}");
    }
    let (b, g) = (
        e["blue"]["rate"].as_f64().unwrap(),
        e["green"]["rate"].as_f64().unwrap(),
    );
    assert!(b < 0.35 && g > 0.45, "rates blue {b} green {g}");
    assert!(s.ok(&["history"], 0).contains("experiment candidate"));
}

#[test]
fn an_experiment_rolls_back_a_candidate_that_converts_worse_from_cron() {
    let s = ab_stack("ablose");
    s.exits_with_env(
        &["deploy", "--version", "ablose-2"],
        &[("CONVERSION_RATE", "0")],
        0,
    );
    let load = Load::start(&s.lb_host(), 80, 24);
    let start = Instant::now();
    // cron: promote ticks until the experiment decides.
    let code = loop {
        let out = s.run(&["promote"]);
        let code = out.status.code().unwrap();
        if code != 0 {
            break (code, String::from_utf8_lossy(&out.stderr).to_string());
        }
        let st = s.status_json();
        if st["rollout"]["state"] == "experimenting" {
            assert_eq!(s.elb_weights(), (50, 50));
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no decision: {st}"
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    load.finish();
    assert_eq!(code.0, 3, "{}", code.1);
    assert!(code.1.contains("experiment stable"), "{}", code.1);
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "rolled_back");
    assert_eq!(st["experiment"]["verdict"], "stable");
    assert_eq!(st["experiment"]["green"]["successes"], 0);
}

#[test]
fn sticky_is_refused_on_sagemaker() {
    let s = Stack::new("absm", &["--provider", "sagemaker"]);
    s.edit_config(|t| t.replacen("[rollout]", "[rollout]\nsticky = \"1h\"", 1));
    let out = s.exits(&["check"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TargetVariant"), "{err}");
}
