//! End-to-end on the emulator: a step that cannot get what it needs rolls
//! back as "stuck" within `step_timeout` (a candidate whose new tasks never
//! turn healthy; a SageMaker endpoint held in Updating).
use crate::capacity::{desired, set_desired};
use crate::common;
use crate::sagemaker::variants;

use std::time::{Duration, Instant};

use common::Stack;

fn ready(name: &str, seed: &[&str]) -> Stack {
    let s = Stack::new(name, seed);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", &format!("{name}-1")], 0);
    s.ok(&["deploy", "--version", &format!("{name}-2")], 0);
    assert_eq!(s.status_json()["rollout"]["state"], "ready");
    s.edit_config(|t| t.replace("[rollout]\n", "[rollout]\nstep_timeout = \"4s\"\n"));
    s
}

/// Runs `promote` ticks until one exits with something other than 1;
/// returns its exit code, stderr and the time from the first tick.
fn tick_until_decided(s: &Stack, limit: Duration) -> (i32, String, Duration) {
    let start = Instant::now();
    loop {
        let out = s.run(&["promote"]);
        let code = out.status.code().unwrap_or(-1);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if code != 1 {
            return (code, err, start.elapsed());
        }
        assert!(start.elapsed() < limit, "never decided: {err}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The first step raises the candidate to live's 3 tasks, and the new ones
/// never pass a health check: a cron tick rolls back as stuck, no traffic
/// ever reached the candidate.
#[test]
fn a_candidate_whose_new_tasks_never_turn_healthy_rolls_back_as_stuck() {
    let s = ready(
        "stuckecs",
        &[
            "--bake", "1s", "--poll", "200ms", "--steps", "50, 100", "--drain", "1s",
        ],
    );
    s.edit_config(|t| {
        t.replace(
            "[rollout]\n",
            "[rollout]\nscale_down_after_rollback = \"2s\"\n",
        )
    });
    set_desired(&s, "blue", 3);
    let start = Instant::now();
    while s.healthy("blue") < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "blue never had 3 healthy tasks"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let before = s.healthy("green");
    common::http_post(s.emu.port, "/_emulator/ecs/unhealthy/stuckecs-green");
    let (code, err, took) = tick_until_decided(&s, Duration::from_secs(30));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("stuck: step 1") && err.contains("step_timeout 4s"),
        "{err}"
    );
    // step_timeout (4 s) plus at most one tick's own work.
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(12),
        "took {took:?}"
    );
    assert_eq!(desired(&s, "green"), 3, "parity was asked for");
    assert_eq!(
        s.healthy("green"),
        before,
        "only the deploy's tasks are healthy"
    );
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "failed_validation", "{st}");
    assert_eq!(st["rollout"]["stopped_by"], "stuck", "{st}");
    let hist = s.ok(&["history"], 0);
    assert!(hist.contains("stuck"), "{hist}");
    // Later ticks scale the candidate (and the tasks parity raised) to 0
    // after the delay, and move no traffic.
    let start = Instant::now();
    while desired(&s, "green") != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never scaled down"
        );
        s.ok(&["promote"], 0);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "scaled down before the delay"
    );
    assert_eq!(s.elb_weights(), (100, 0));
    assert!(s
        .ok(&["history"], 0)
        .contains("scaled the rolled-back green to 0"));
    // Then the rejected candidate needs a new deploy, as ever.
    s.ok(&["promote"], 3);
}

/// SageMaker accepts the first step's weights but the endpoint stays
/// Updating: the tick rolls back as stuck at once (the rollback recorded,
/// the endpoint refusing every change), live keeps all traffic, and the
/// first tick after the endpoint is InService again writes the rollback
/// over the weights it was still moving to.
#[test]
fn an_endpoint_held_in_updating_rolls_back_as_stuck() {
    let s = ready(
        "stucksm",
        &[
            "--provider",
            "sagemaker",
            "--bake",
            "1s",
            "--poll",
            "200ms",
            "--steps",
            "50, 100",
        ],
    );
    common::http_post(s.emu.port, "/_emulator/sagemaker/hold-updating/stucksm");
    let (code, err, took) = tick_until_decided(&s, Duration::from_secs(30));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("stuck: step 1"), "{err}");
    assert!(
        err.contains("not yet in place") && err.contains("Updating"),
        "{err}"
    );
    assert!(took < Duration::from_secs(12), "took {took:?}");
    let sm = aws_sdk_sagemaker::Client::new(&s.sdk());
    let view = || {
        let status = Stack::rt().block_on(async {
            let d = sm
                .describe_endpoint()
                .endpoint_name("stucksm")
                .send()
                .await
                .unwrap();
            d.endpoint_status().unwrap().as_str().to_string()
        });
        let v = variants(&s);
        let w = |c: &str| (v[c].0.unwrap(), v[c].1.unwrap());
        (status, w("blue"), w("green"))
    };
    // Live still serves everything; the endpoint still moves to 50/50.
    let (state, blue, green) = view();
    assert_eq!(state, "Updating");
    assert_eq!((blue.0, green.0), (1.0, 0.0));
    assert_eq!((blue.1, green.1), (0.5, 0.5));
    let st = s.status_json();
    assert!(
        st["pending"].as_str().unwrap_or_default().contains("stuck"),
        "{st}"
    );
    // While the endpoint refuses changes, a tick says so and changes nothing.
    let out = s.run(&["promote"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("still Updating") && e.lines().count() == 1,
        "{e}"
    );
    // The endpoint finishes its update (to 50/50); the next tick rolls back.
    common::http_post(s.emu.port, "/_emulator/sagemaker/release/stucksm");
    let start = Instant::now();
    while view().0 != "InService" {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = s.run(&["promote"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("finished an interrupted transition"), "{e}");
    let (state, blue, green) = view();
    assert_eq!((state.as_str(), blue.0, green.0), ("InService", 1.0, 0.0));
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "failed_validation", "{st}");
    assert!(st["pending"].is_null(), "{st}");
    assert_eq!(st["rollout"]["stopped_by"], "stuck", "{st}");
    let hist = s.ok(&["history"], 0);
    assert!(
        hist.contains("stuck") && hist.contains("finished an interrupted transition"),
        "{hist}"
    );
}
