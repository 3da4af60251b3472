//! End-to-end staged rollouts on the emulator: canary, linear, alarm rollback,
//! pre-flight refusal, rollback from a second process, managed alarms, Ctrl-C.
use crate::common;

use std::time::{Duration, Instant};

use common::Stack;

/// Provisioned stack with v1 live on blue and v2 ready on green.
fn ready(name: &str, seed: &[&str]) -> Stack {
    let s = Stack::new(name, seed);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    assert_eq!(s.status_json()["rollout"]["state"], "ready");
    s
}

#[test]
fn canary_runs_to_completion() {
    let s = ready("canary", &["--bake", "1s", "--poll", "200ms"]);
    s.edit_config(|t| {
        t.replace(
            "steps = [10, 50, 100]",
            "strategy = \"canary\"\ncanary_percent = 20",
        )
    });
    let start = Instant::now();
    let out = s.ok(&["shift", "-o", "json"], 0);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "the bake was skipped"
    );
    let weights: Vec<u64> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "step")
        .map(|v| v["weights"]["green"].as_u64().unwrap())
        .collect();
    assert_eq!(weights, vec![20, 100]);
    assert_eq!(s.elb_weights(), (0, 100));
    let st = s.status_json();
    assert_eq!(st["live"], "green");
    assert_eq!(st["rollout"]["state"], "complete");
    assert_eq!(st["rollout"]["step"], 2);
    // The next deploy goes onto blue.
    s.ok(&["deploy", "--version", "v3"], 0);
    assert_eq!(s.status_json()["versions"]["blue"], "v3");
}

#[test]
fn linear_steps_in_order() {
    let s = ready("linear", &["--bake", "300ms", "--poll", "100ms"]);
    s.edit_config(|t| {
        t.replace(
            "steps = [10, 50, 100]",
            "strategy = \"linear\"\nlinear_step = 40",
        )
    });
    let plan = s.ok(&["plan"], 0);
    assert!(plan.contains("step 1: candidate at  40%"), "{plan}");
    assert!(plan.contains("step 3: candidate at 100%"), "{plan}");
    s.ok(&["shift"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
    let hist = s.ok(&["history"], 0);
    let i40 = hist.find("green at 40%").expect("40");
    let i80 = hist.find("green at 80%").expect("80");
    let i100 = hist.find("green at 100%").expect("100");
    assert!(i40 < i80 && i80 < i100, "{hist}");
}

#[test]
fn alarm_mid_bake_rolls_back_and_exits_3() {
    let s = ready("midbake", &["--bake", "20s", "--poll", "200ms"]);
    let child = s.spawn_shift();
    s.wait_for_state("shifting");
    assert_eq!(s.elb_weights(), (90, 10));
    let fired = Instant::now();
    s.set_alarm("midbake-5xx", "ALARM");
    let out = child.wait_with_output().unwrap();
    assert!(
        fired.elapsed() < Duration::from_secs(5),
        "rollback took {:?}",
        fired.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("midbake-5xx"));
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "rolled_back");
    assert_eq!(st["rollout"]["stopped_by"], "alarm", "{st}");
    assert_eq!(st["live"], "blue");
    let hist = s.ok(&["history"], 0);
    assert!(
        hist.contains("auto-rollback") && hist.contains("midbake-5xx"),
        "{hist}"
    );
    // A later deploy starts afresh.
    s.set_alarm("midbake-5xx", "OK");
    s.ok(&["deploy", "--version", "v2"], 0);
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "ready");
    assert!(st["rollout"]["stopped_by"].is_null(), "{st}");
}

#[test]
fn preflight_refuses_firing_alarm() {
    let s = ready("preflight", &["--bake", "200ms", "--poll", "100ms"]);
    s.set_alarm("preflight-5xx", "ALARM");
    let out = s.exits(&["shift"], 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("preflight-5xx"));
    assert_eq!(s.elb_weights(), (100, 0));
    assert_eq!(s.status_json()["rollout"]["state"], "ready");
    s.ok(&["shift", "--to", "10"], 3);
    s.ok(&["promote"], 3);
    assert_eq!(s.elb_weights(), (100, 0));
    // Explicitly ignored, the rollout runs.
    s.ok(&["shift", "--ignore-alarm", "preflight-5xx"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
}

#[test]
fn rollback_from_second_process_stops_shift() {
    let s = ready("twoproc", &["--bake", "30s", "--poll", "200ms"]);
    let child = s.spawn_shift();
    s.wait_for_state("shifting");
    s.ok(&["rollback", "--reason", "from another terminal"], 0);
    assert_eq!(s.elb_weights(), (100, 0));
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "shift kept running {:?}",
        start.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The stopped shift applied nothing more.
    assert_eq!(s.elb_weights(), (100, 0));
    assert_eq!(s.status_json()["rollout"]["state"], "rolled_back");
}

#[test]
fn managed_alarms_are_created_per_colour_and_watched() {
    let s = Stack::new("managed", &["--bake", "20s", "--poll", "200ms"]);
    s.edit_config(|t| {
        t + "\n[[alarms.create]]\nname = \"{{ name }}-{{ color }}-latency\"\nmetric = \"TargetResponseTime\"\nstatistic = \"Average\"\nthreshold = 0.5\nperiod = 60\nevaluation_periods = 2\n"
    });
    let plan = s.ok(&["plan"], 0);
    assert!(plan.contains("alarm managed-blue-latency"), "{plan}");
    s.ok(&["provision"], 0);
    let cw = aws_sdk_cloudwatch::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let a = cw
            .describe_alarms()
            .alarm_names("managed-green-latency")
            .send()
            .await
            .unwrap();
        let a = &a.metric_alarms()[0];
        assert_eq!(a.namespace(), Some("AWS/ApplicationELB"));
        let dims: Vec<_> = a
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert!(
            dims.iter()
                .any(|(n, v)| *n == "TargetGroup" && v.starts_with("targetgroup/managed-green/")),
            "{dims:?}"
        );
        assert!(
            dims.iter()
                .any(|(n, v)| *n == "LoadBalancer" && v.starts_with("app/managed/")),
            "{dims:?}"
        );
    });
    assert!(s.ok(&["provision"], 0).contains("nothing to change"));
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    let child = s.spawn_shift();
    s.wait_for_state("shifting");
    // The candidate's (green) managed alarm fires.
    s.set_alarm("managed-green-latency", "ALARM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("managed-green-latency"));
    assert_eq!(s.elb_weights(), (100, 0));
}

#[test]
fn ctrl_c_stops_cleanly_and_shift_resumes() {
    let s = ready("ctrlc", &["--bake", "2s", "--poll", "100ms"]);
    let child = s.spawn_shift();
    s.wait_for_state("shifting");
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.elb_weights(), (90, 10));
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "shifting");
    assert_eq!(st["rollout"]["step"], 1);
    // The lock was released: shift resumes from step 2.
    s.ok(&["shift"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
}

/// `[schedule]`: inside a freeze `promote` neither starts nor advances (exit
/// 0, the reason and the next window printed), `shift` refuses (exit 3)
/// unless `--ignore-schedule`, and an alarm still rolls back.
#[test]
fn a_freeze_holds_promote_and_shift_but_never_a_rollback() {
    let s = ready(
        "freeze",
        &["--bake", "1s", "--poll", "200ms", "--steps", "50, 100"],
    );
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date();
    let day = |n: i64| today.checked_add(jiff::Span::new().days(n)).unwrap();
    s.edit_config(|t| {
        format!(
            "{t}\n[schedule]\nwindows = [\"daily 00:00-24:00\"]\ntimezone = \"UTC\"\nfreeze = [\"{}/{}\"]\n",
            day(-1),
            day(1)
        )
    });
    // plan's times wait for the window after the freeze.
    let plan = s.ok(&["plan"], 0);
    let line = plan.lines().find(|l| l.contains("step 1:")).unwrap();
    assert!(
        line.contains("after waiting") && line.contains(&format!("{} 00:00 UTC", day(2))),
        "{plan}"
    );
    let pj: serde_json::Value = serde_json::from_str(&s.ok(&["plan", "-o", "json"], 0)).unwrap();
    let steps = pj["rollout"]["schedule"].as_array().unwrap();
    let wait = steps[0]["window_wait_ms"].as_u64().unwrap();
    assert!(wait > 24 * 3_600_000 && wait <= 48 * 3_600_000, "{pj}");
    // Step 2 follows step 1's bake (1 s) inside the same window.
    assert_eq!(
        steps[1]["at_ms"].as_u64().unwrap(),
        steps[0]["at_ms"].as_u64().unwrap() + 1000,
        "{pj}"
    );
    let out = s.ok(&["promote"], 0);
    assert!(out.contains("outside the release schedule"), "{out}");
    assert!(
        out.contains(&format!("next window opens {}", day(2))),
        "{out}"
    );
    assert_eq!(s.elb_weights(), (100, 0));
    assert_eq!(s.status_json()["rollout"]["state"], "ready");
    let err = s.exits_with_env(&["shift"], &[], 3);
    assert!(err.contains("--ignore-schedule"), "{err}");
    let err = s.exits_with_env(&["shift", "--to", "50"], &[], 3);
    assert!(err.contains("outside the release schedule"), "{err}");
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["schedule"]["open"], false, "{st}");
    assert!(st["schedule"]["next_window"]
        .as_str()
        .unwrap()
        .starts_with(&day(2).to_string()));
    // A person can still move traffic, and an alarm still rolls back.
    s.ok(&["shift", "--to", "50", "--ignore-schedule"], 0);
    assert_eq!(s.elb_weights(), (50, 50));
    std::thread::sleep(Duration::from_millis(1200));
    let out = s.ok(&["promote"], 0);
    assert!(out.contains("outside the release schedule"), "{out}");
    assert_eq!(s.elb_weights(), (50, 50));
    s.set_alarm("freeze-5xx", "ALARM");
    let err = s.exits_with_env(&["promote"], &[], 3);
    assert!(err.contains("freeze-5xx"), "{err}");
    assert_eq!(s.elb_weights(), (100, 0));
    s.set_alarm("freeze-5xx", "OK");
    // Bad schedules are bad input.
    s.edit_config(|t| t.replace("daily 00:00-24:00", "weekdays 9-5"));
    let err = s.exits_with_env(&["promote"], &[], 2);
    assert!(
        err.contains("schedule.windows") && err.contains("Mon-Fri 09:00-17:00"),
        "{err}"
    );
}

/// `step_timeout`: a step whose weights cannot be written in time rolls
/// back as "stuck", within the run (a hanging call) and across cron ticks
/// (every attempt failing; the first attempt's time is in the state).
#[test]
fn a_stuck_step_rolls_back_within_step_timeout() {
    let s = ready(
        "stuck",
        &["--bake", "1s", "--poll", "200ms", "--steps", "50, 100"],
    );
    s.edit_config(|t| t.replace("[rollout]\n", "[rollout]\nstep_timeout = \"4s\"\n"));
    // A fault proxy in front of the emulator (nothing injected until asked).
    let (mut p, port) = common::faults_proxy(
        &s.emu.url,
        &["--rate", "0", "--seed", "1", "--latency-ms", "8000"],
    );
    let via = format!("http://127.0.0.1:{port}");
    let inject = |q: &str| common::http_post(port, &format!("/_faults/inject?{q}"));
    // Within one run: the weight change hangs (8 s) past the 4 s limit.
    inject("kind=latency&service=elasticloadbalancing&action=ModifyListener&count=1");
    let start = Instant::now();
    let out = s
        .cmd()
        .env("AWS_ENDPOINT_URL", &via)
        .arg("shift")
        .output()
        .unwrap();
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("stuck: step 1"), "{err}");
    assert!(took < Duration::from_secs(12), "took {took:?}");
    assert_eq!(s.elb_weights(), (100, 0));
    let hist = s.ok(&["history"], 0);
    assert_eq!(s.status_json()["rollout"]["state"], "rolled_back", "{hist}");
    assert!(hist.contains("stuck"), "{hist}");
    // Across ticks: every weight write fails; once the first attempt is
    // older than the limit, the next tick rolls back.
    s.ok(&["deploy", "--version", "v3"], 0);
    inject("kind=500&service=elasticloadbalancing&action=ModifyListener&count=1000");
    let start = Instant::now();
    let code = loop {
        let out = s
            .cmd()
            .env("AWS_ENDPOINT_URL", &via)
            .arg("promote")
            .output()
            .unwrap();
        let c = out.status.code().unwrap_or(-1);
        if c != 1 {
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("stuck"),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            break c;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never rolled back"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(code, 3);
    assert!(start.elapsed() >= Duration::from_secs(4));
    let _ = p.kill();
    assert_eq!(s.elb_weights(), (100, 0));
    // The candidate never had traffic: it stays at 0% and is rejected.
    assert_eq!(s.status_json()["rollout"]["state"], "failed_validation");
}
