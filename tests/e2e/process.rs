//! Pauses, hooks and events end to end on the embedded emulator: a pause held
//! through promote ticks, command hooks with their environment, gating and
//! notifying failures, a hook timeout, and both event sinks (a local webhook
//! server and EventBridge through a rule to SQS).
use crate::common;
use crate::common::events::{eventbridge_queue, receive_until};

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Stack;

fn ready(name: &str, steps: &str, extra: &str) -> Stack {
    let s = Stack::new(name, &["--steps", steps, "--bake", "1s", "--poll", "200ms"]);
    s.edit_config(|t| format!("{t}\n{extra}\n"));
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s
}

fn state(s: &Stack) -> String {
    s.status_json()["rollout"]["state"]
        .as_str()
        .unwrap()
        .to_string()
}

fn history(s: &Stack) -> String {
    s.ok(&["history"], 0)
}

/// `{ pause = "2s", then = ... }`: the first tick after the deadline
/// decides, both ways; `status` shows the deadline meanwhile.
#[test]
fn a_timed_pause_ends_by_itself_both_ways() {
    for (name, then) in [("tpc", "continue"), ("tpr", "rollback")] {
        let s = ready(
            name,
            &format!("10, {{ pause = \"2s\", then = \"{then}\" }}, 100"),
            "",
        );
        s.ok(&["promote"], 0);
        std::thread::sleep(Duration::from_millis(1200));
        let out = s.ok(&["promote"], 0);
        assert!(out.contains(&format!("it will {then} by itself")), "{out}");
        assert_eq!(state(&s), "paused");
        let st = s.status_json();
        assert_eq!(st["rollout"]["pause_deadline"]["then"], then, "{st}");
        assert!(s.ok(&["status"], 0).contains(&format!("then {then}")));
        let out = s.ok(&["promote"], 0);
        assert!(out.contains("nothing due"), "{out}");
        assert_eq!(s.elb_weights(), (90, 10));
        std::thread::sleep(Duration::from_millis(2100));
        match then {
            "continue" => {
                let out = s.ok(&["promote"], 0);
                assert!(out.contains("pause time is up"), "{out}");
                assert_eq!(s.elb_weights(), (0, 100));
                assert_eq!(state(&s), "complete");
            }
            _ => {
                let err = s.exits_with_env(&["promote"], &[], 3);
                assert!(err.contains("pause time is up"), "{err}");
                assert_eq!(s.elb_weights(), (100, 0));
                assert_eq!(state(&s), "rolled_back");
            }
        }
        assert!(history(&s).contains("pause time is up"));
    }
}

#[test]
fn pause_holds_through_ticks_until_continue() {
    let s = ready("pz", r#"10, "pause", 50, 100"#, "");
    let plan = s.ok(&["plan"], 0);
    assert!(plan.contains("pause: held at  10%"), "{plan}");
    assert!(s.ok(&["promote"], 0).contains("step 1/3"));
    assert_eq!(s.elb_weights(), (90, 10));
    std::thread::sleep(Duration::from_millis(1200));
    s.ok(&["promote"], 0);
    assert_eq!(state(&s), "paused");
    // Two more ticks, well past the bake: nothing moves.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(1100));
        let out = s.ok(&["promote"], 0);
        assert!(
            out.contains("nothing due") && out.contains("continue"),
            "{out}"
        );
        assert_eq!(s.elb_weights(), (90, 10));
        assert_eq!(state(&s), "paused");
    }
    let out = s.ok(&["shift"], 0);
    assert!(out.contains("cutover continue"), "{out}");
    assert_eq!(s.status_json()["rollout"]["pauses"], serde_json::json!([1]));
    // `continue` applies the next step itself.
    let out = s.ok(&["continue"], 0);
    assert!(out.contains("step 2/3"), "{out}");
    assert_eq!(s.elb_weights(), (50, 50));
    assert_eq!(state(&s), "shifting");
    s.ok(&["continue"], 2);
    s.ok(&["shift"], 0);
    assert_eq!(state(&s), "complete");
    assert_eq!(s.elb_weights(), (0, 100));
    s.ok(&["continue"], 2);
}

#[test]
fn alarm_during_a_pause_rolls_back() {
    let s = ready("pza", r#"10, "pause", 100"#, "");
    s.ok(&["shift"], 0);
    assert_eq!(state(&s), "paused");
    s.set_alarm("pza-5xx", "ALARM");
    s.ok(&["promote"], 3);
    assert_eq!(state(&s), "rolled_back");
    assert_eq!(s.elb_weights(), (100, 0));
}

#[test]
fn post_step_hook_sees_each_step() {
    let hook = r#"
[[hooks]]
on = "post-step"
run = "echo \"$CUTOVER_EVENT $CUTOVER_STACK $CUTOVER_COLOR $CUTOVER_VERSION $CUTOVER_WEIGHT $CUTOVER_STEP $CUTOVER_TEST_URL\" >> steps.log"
timeout = "10s"
"#;
    let s = ready("hk", "10, 50, 100", hook);
    s.ok(&["shift"], 0);
    let log = std::fs::read_to_string(s.dir.path().join("steps.log")).unwrap();
    let lines: Vec<Vec<&str>> = log.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 3, "{log}");
    for (i, (w, step)) in [("10", "1"), ("50", "2"), ("100", "3")].iter().enumerate() {
        assert_eq!(
            &lines[i][..6],
            &["post-step", "hk", "green", "v2", *w, *step],
            "{log}"
        );
        assert!(lines[i][6].starts_with("http://"), "{log}");
    }
    assert!(history(&s).contains("post-step `echo"));
}

#[test]
fn failing_pre_traffic_hook_blocks_traffic() {
    let hook = "[[hooks]]\non = \"pre-traffic\"\nrun = \"echo smoke test failed >&2; exit 4\"\n";
    let s = ready("pre", "10, 100", hook);
    let out = s.exits(&["shift"], 3);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exit 4") && err.contains("smoke test failed"),
        "{err}"
    );
    assert_eq!(s.elb_weights(), (100, 0));
    assert_eq!(state(&s), "failed_validation");
    s.ok(&["promote"], 3);
    assert_eq!(s.elb_weights(), (100, 0));
    assert!(history(&s).contains("hook-failed"));
}

#[test]
fn hook_timeout_kills_the_group_and_rolls_back() {
    let hook = "[[hooks]]\non = \"post-step\"\nrun = \"echo $$ > hook.pid; sleep 30; echo late\"\ntimeout = \"1s\"\n";
    let s = ready("tmo", "10, 100", hook);
    let start = Instant::now();
    let out = s.exits(&["shift"], 3);
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("timed out after 1s"), "{err}");
    assert_eq!(state(&s), "rolled_back");
    assert_eq!(s.elb_weights(), (100, 0));
    // Nothing of the hook's process group is left running (zombies waiting
    // for their new parent to reap them do not count).
    let pgid = std::fs::read_to_string(s.dir.path().join("hook.pid")).unwrap();
    let running = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
            .filter(|stat| {
                // Fields after the command: state, ppid, pgrp.
                let rest: Vec<&str> = stat
                    .rsplit_once(')')
                    .map(|(_, r)| r)
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                rest.len() > 2 && rest[2] == pgid.trim() && rest[0] != "Z"
            })
            .count()
    };
    assert_eq!(running(), 0, "process group {} still runs", pgid.trim());
}

#[test]
fn failing_post_complete_hook_changes_nothing() {
    let hook = "[[hooks]]\non = \"post-complete\"\nrun = \"exit 1\"\n";
    let s = ready("pc", "100", hook);
    s.ok(&["shift"], 0);
    assert_eq!(state(&s), "complete");
    assert_eq!(s.elb_weights(), (0, 100));
    let h = history(&s);
    assert!(
        h.contains("hook-failed") && h.contains("post-complete"),
        "{h}"
    );
}

/// A tiny HTTP server: every request's body goes down the channel.
fn webhook_server() -> (u16, mpsc::Receiver<(String, serde_json::Value)>) {
    let (port, rx) = webhook_server_with_heads();
    let (tx, plain) = mpsc::channel();
    std::thread::spawn(move || {
        while let Ok((path, _, _, v)) = rx.recv() {
            if tx.send((path, v)).is_err() {
                break;
            }
        }
    });
    (port, plain)
}

/// Each post as (path, head, raw body, JSON body).
#[allow(clippy::type_complexity)]
fn webhook_server_with_heads() -> (
    u16,
    mpsc::Receiver<(String, String, String, serde_json::Value)>,
) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (path, head, body) = loop {
                let n = c.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                        break (path, head.to_string(), body.to_string());
                    }
                }
            };
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if let Ok(v) = serde_json::from_str(&body) {
                let _ = tx.send((path, head, body, v));
            }
        }
    });
    (port, rx)
}

#[test]
fn webhook_receives_every_journal_entry() {
    let (port, rx) = webhook_server();
    let extra = format!(
        "[[hooks]]\non = \"post-complete\"\nurl = \"http://127.0.0.1:{port}/hook\"\n\n[notify]\nurl = \"http://127.0.0.1:{port}/events\"\n"
    );
    let s = ready("wh", "100", &extra);
    s.ok(&["shift"], 0);
    let mut events = Vec::new();
    let mut hooks = Vec::new();
    while let Ok((path, v)) = rx.recv_timeout(Duration::from_secs(2)) {
        if path == "/hook" {
            hooks.push(v);
        } else {
            events.push(v);
        }
    }
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for want in ["provision", "deploy-start", "deployed", "step", "hook"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let step = events.iter().find(|e| e["event"] == "step").unwrap();
    assert_eq!(step["stack"], "wh");
    assert_eq!(step["phase"], "complete");
    assert_eq!(
        step["weights"],
        serde_json::json!({"blue": 0, "green": 100})
    );
    assert!(step["at"].as_u64().unwrap() > 0 && step["detail"].is_string());
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0]["event"], "post-complete");
    assert_eq!(hooks[0]["version"], "v2");
    assert_eq!(hooks[0]["weight"], 100);
}

/// The webhook's secret travels in a header from the environment, every
/// body is signed, and a token in a hook URL never reaches the output, the
/// journal or the events.
#[test]
fn webhooks_are_signed_and_url_secrets_are_redacted() {
    use hmac::{KeyInit, Mac};
    let (port, rx) = webhook_server_with_heads();
    let extra = format!(
        "[[hooks]]\non = \"post-complete\"\nurl = \"http://127.0.0.1:{port}/hook?token=hunter2secret\"\n\n[notify]\nurl = \"http://127.0.0.1:{port}/events\"\nheader = \"Authorization\"\nheader_env = \"WH_TOKEN\"\nsecret_env = \"WH_KEY\"\n\n[[hooks]]\non = \"pre-traffic\"\nrun = \"head -c 300000 /dev/zero | tr '\\\\000' x || exit 9; test -z \\\"$MLFLOW_TRACKING_TOKEN$WH_KEY$WH_TOKEN\\\"\"\n\n[[hooks]]\non = \"post-complete\"\nrun = \"cat leak.txt; exit 1\"\n"
    );
    let s = Stack::new("whsig", &["--steps", "100", "--bake", "1s"]);
    s.edit_config(|t| format!("{t}\n{extra}"));
    let env = [("WH_TOKEN", "Bearer tok3n-abc"), ("WH_KEY", "k3y-for-hmac")];
    std::fs::write(s.dir.path().join("leak.txt"), "leaked Bearer tok3n-abc\n").unwrap();
    // Without the variables `check` says so (posts would go without them).
    let out = s.run(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("WH_TOKEN") && err.contains("not set"), "{err}");
    for args in [
        &["provision"][..],
        &["deploy", "--version", "v1"],
        &["deploy", "--version", "v2"],
    ] {
        s.exits_with_env(args, &env, 0);
    }
    // The pre-traffic hook prints 300 KB (no SIGPIPE) and sees none of the
    // secrets; the post-complete hook prints the token, which is masked.
    let out = s
        .cmd()
        .arg("shift")
        .envs(env)
        .env("MLFLOW_TRACKING_TOKEN", "mlflow-s3cret")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut posts = Vec::new();
    while let Ok(p) = rx.recv_timeout(Duration::from_secs(2)) {
        posts.push(p);
    }
    assert!(posts.iter().any(|(p, ..)| p == "/events"), "no events");
    assert!(
        posts.iter().any(|(p, ..)| p.starts_with("/hook")),
        "no hook post"
    );
    for (path, head, body, _) in &posts {
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        if path.starts_with("/hook") {
            // The webhook's header and signature are for the webhook only.
            assert_eq!(header("authorization"), None, "{path}");
            assert_eq!(header("x-cutover-signature"), None, "{path}");
            continue;
        }
        assert_eq!(
            header("authorization").as_deref(),
            Some("Bearer tok3n-abc"),
            "{path}"
        );
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"k3y-for-hmac").unwrap();
        mac.update(body.as_bytes());
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(header("x-cutover-signature"), Some(want), "{path}");
    }
    // The hook URL's token is in no event, no output and no journal entry.
    let all: String = posts.iter().map(|(_, _, b, _)| b.as_str()).collect();
    let shown = format!(
        "{}{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.ok(&["history", "-o", "json"], 0)
    );
    assert!(
        shown.contains("hook-failed") || shown.contains("post-complete"),
        "{shown}"
    );
    for text in [&all, &shown] {
        assert!(!text.contains("hunter2secret"), "{text}");
        assert!(!text.contains("mlflow-s3cret"), "{text}");
        assert!(
            !text.contains("tok3n-abc") && !text.contains("k3y-for-hmac"),
            "{text}"
        );
    }
    // Hook URLs are shown as where they go, never their path or query.
    assert!(shown.contains("post-complete http://127.0.0.1:"), "{shown}");
}

#[test]
fn eventbridge_events_reach_sqs_through_a_rule() {
    let s = Stack::new("eb", &["--steps", "100", "--bake", "1s"]);
    let (sqs, queue_url) = eventbridge_queue(&s, "eb");
    s.edit_config(|t| format!("{t}\n[notify]\neventbridge_bus = \"default\"\n"));
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    let got = receive_until(&sqs, &queue_url, "deployed");
    let deployed = got
        .iter()
        .find(|e| e["detail-type"] == "deployed")
        .unwrap_or_else(|| panic!("no deployed event in {got:?}"));
    assert_eq!(deployed["source"], "cutover");
    assert_eq!(deployed["resources"], serde_json::json!(["eb"]));
    assert_eq!(deployed["detail"]["stack"], "eb");
    assert_eq!(deployed["detail"]["event"], "deployed");
    assert!(got.iter().any(|e| e["detail-type"] == "provision"));
}

/// The whole process at once: a pause, a command hook at each of the six
/// stages, and both event sinks, through deploy, promote ticks, `continue`,
/// retirement, `shift --to` and `rollback`.
#[test]
fn a_rollout_with_a_pause_hooks_at_every_stage_and_both_sinks() {
    let (port, rx) = webhook_server();
    let s = Stack::new(
        "full",
        &[
            "--steps",
            r#"50, "pause", 100"#,
            "--bake",
            "1s",
            "--poll",
            "200ms",
            "--termination-wait",
            "1s",
        ],
    );
    let (sqs, queue_url) = eventbridge_queue(&s, "full");
    let mut extra = String::new();
    for stage in [
        "post-deploy",
        "pre-traffic",
        "post-step",
        "post-complete",
        "post-rollback",
        "post-retire",
    ] {
        extra += &format!(
            "[[hooks]]\non = \"{stage}\"\nrun = \"echo $CUTOVER_EVENT $CUTOVER_VERSION $CUTOVER_WEIGHT >> stages.log\"\n\n"
        );
    }
    extra += &format!(
        "[notify]\nurl = \"http://127.0.0.1:{port}/events\"\neventbridge_bus = \"default\"\n"
    );
    s.edit_config(|t| format!("{t}\n{extra}"));
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    assert!(s.ok(&["promote"], 0).contains("step 1/2"));
    std::thread::sleep(Duration::from_millis(1200));
    s.ok(&["promote"], 0);
    assert_eq!(state(&s), "paused");
    assert_eq!(s.elb_weights(), (50, 50));
    s.ok(&["continue"], 0);
    assert_eq!(state(&s), "complete");
    // Retirement waits for the longer of termination_wait (1s) and the
    // seeded deregistration delay (2s).
    std::thread::sleep(Duration::from_millis(2200));
    s.ok(&["promote"], 0);
    assert_eq!(state(&s), "retired");
    s.ok(&["deploy", "--version", "v3"], 0);
    s.ok(&["shift", "--to", "50"], 0);
    s.ok(&["rollback"], 0);
    assert_eq!(s.elb_weights(), (0, 100));

    let log = std::fs::read_to_string(s.config().parent().unwrap().join("stages.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        [
            "post-deploy v1 0",
            "post-deploy v2 0",
            "pre-traffic v2 0",
            "post-step v2 50",
            "post-step v2 100",
            "post-complete v2 100",
            "post-retire v2 100",
            "post-deploy v3 0",
            "pre-traffic v3 0",
            "post-step v3 50",
            "post-rollback v3 0",
        ],
        "{log}"
    );
    let mut names = Vec::new();
    while let Ok((_, v)) = rx.recv_timeout(Duration::from_secs(2)) {
        names.push(v["event"].as_str().unwrap_or("").to_string());
    }
    let bus = receive_until(&sqs, &queue_url, "rollback");
    let bus_names: Vec<&str> = bus
        .iter()
        .filter_map(|e| e["detail-type"].as_str())
        .collect();
    for want in [
        "deployed", "promote", "continue", "shift", "hook", "rollback",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "webhook: {want} in {names:?}"
        );
        assert!(bus_names.contains(&want), "bus: {want} in {bus_names:?}");
    }
}

#[test]
fn a_hook_interrupted_by_a_crash_runs_again() {
    let hook = "[[hooks]]\non = \"post-step\"\nrun = \"echo $CUTOVER_STEP >> ran.log; sleep 3\"\n";
    let s = Stack::new(
        "hookcrash",
        &["--steps", "10, 100", "--bake", "60s", "--poll", "200ms"],
    );
    s.edit_config(|t| {
        format!(
            "{}\n{hook}\n",
            t.replace("[state]\n", "[state]\nlock_lease = \"1s\"\n")
        )
    });
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    let mut shift = s.spawn_shift();
    let log = s.dir.path().join("ran.log");
    let start = Instant::now();
    while !log.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "hook never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    shift.kill().unwrap(); // SIGKILL while the hook runs
    shift.wait().unwrap();
    let st = s.status_json();
    assert_eq!(st["hooks_due"], serde_json::json!(["post-step"]), "{st}");
    assert_eq!(s.elb_weights(), (90, 10));
    std::thread::sleep(Duration::from_millis(1500)); // the dead run's lease expires
    s.ok(&["promote"], 0);
    let st = s.status_json();
    assert_eq!(st["hooks_due"], serde_json::json!([]), "{st}");
    let ran = std::fs::read_to_string(&log).unwrap();
    assert_eq!(ran.lines().filter(|l| *l == "1").count(), 2, "{ran}");
    assert_eq!(st["rollout"]["state"], "shifting");
}
