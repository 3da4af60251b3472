//! A new user's first hour: signals stop a run at a safe point with the lock
//! released, `--profile` beats keys in the environment, AWS failures are one
//! line, `--dry-run` changes nothing.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use common::{http_get, Stack};

fn ready(name: &str, seed: &[&str]) -> Stack {
    let s = Stack::new(name, seed);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s
}

fn kill(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn spawn(s: &Stack, args: &[&str]) -> std::process::Child {
    s.cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigterm_and_sighup_stop_shift_like_ctrl_c() {
    let s = ready("sigterm", &["--bake", "3s", "--poll", "100ms"]);
    for (sig, code, step) in [("-TERM", 143, 1), ("-HUP", 129, 2)] {
        let child = s.spawn_shift();
        let start = Instant::now();
        while s.status_json()["rollout"]["step"] != step {
            assert!(start.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(100));
        }
        kill(child.id(), sig);
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains("lock released"), "{err}");
        let st = s.status_json();
        assert_eq!(st["rollout"]["state"], "shifting");
        assert_eq!(st["rollout"]["step"], step);
        let hist = s.ok(&["history"], 0);
        assert!(hist.contains("interrupted"), "{hist}");
    }
    // The lock is free: shift goes on from step 3 at once.
    s.ok(&["shift"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
}

/// A small deterministic sequence of delays.
fn delays(seed: u64, n: usize, max_ms: u64) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % max_ms
        })
        .collect()
}

#[test]
fn sigterm_at_thirty_moments_leaves_the_lock_free_and_the_rollout_resumable() {
    let s = ready("sigsoak", &["--bake", "1s", "--poll", "100ms"]);
    let mut version = 2;
    let mut moments = 0;
    let mut journal = s.ok(&["history"], 0).lines().count();
    let plan: Vec<(&str, u64)> = delays(7, 12, 2500)
        .into_iter()
        .map(|d| ("shift", d))
        .chain(delays(11, 10, 1500).into_iter().map(|d| ("promote", d)))
        .chain(delays(13, 8, 2500).into_iter().map(|d| ("deploy", d)))
        .collect();
    for (what, delay) in plan {
        let st = s.status_json();
        let state = st["rollout"]["state"].as_str().unwrap().to_string();
        let step_before = st["rollout"]["step"].as_u64().unwrap();
        let args: Vec<String> = match what {
            "deploy" => {
                if state == "shifting" {
                    s.ok(&["rollback"], 0);
                }
                version += 1;
                vec!["deploy".into(), "--version".into(), format!("v{version}")]
            }
            _ if !matches!(state.as_str(), "ready" | "shifting") => {
                version += 1;
                s.ok(&["deploy", "--version", &format!("v{version}")], 0);
                vec![what.into()]
            }
            _ => vec![what.into()],
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = spawn(&s, &args);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code();
        assert!(
            matches!(code, Some(0) | Some(143)),
            "{what} after {delay} ms: {code:?} {err}"
        );
        moments += 1;
        // The lock is free: a read-only tick of the next command is not refused.
        let st = s.status_json();
        let w = &st["weights"];
        let (b, g) = (w["blue"].as_u64().unwrap(), w["green"].as_u64().unwrap());
        assert_eq!(b + g, 100, "{st}");
        assert_eq!(s.elb_weights(), (b as i32, g as i32), "{st}");
        if st["rollout"]["state"] == "shifting" && state == "shifting" {
            // No double step: one run moves at most one step per bake.
            assert!(st["rollout"]["step"].as_u64().unwrap() >= step_before);
        }
        let now = s.ok(&["history"], 0).lines().count();
        assert!(now >= journal, "journal lost entries: {journal} -> {now}");
        journal = now;
        let p = s.run(&["promote"]);
        assert_ne!(
            p.status.code(),
            Some(75),
            "the lock was left held after {what}"
        );
    }
    assert_eq!(moments, 30);
    // Whatever state the last kill left, a redeploy and a shift still finish.
    let st = s.status_json();
    if st["rollout"]["state"] != "ready" && st["rollout"]["state"] != "shifting" {
        version += 1;
        s.ok(&["deploy", "--version", &format!("v{version}")], 0);
    }
    s.ok(&["shift"], 0);
    assert_eq!(s.status_json()["rollout"]["state"], "complete");
}

#[test]
fn dry_run_makes_no_mutating_call_and_exits_as_the_real_run_would() {
    let s = ready("dryrun", &["--bake", "1s", "--poll", "100ms"]);
    let before = s.requests().len();
    for args in [
        vec!["shift", "--dry-run"],
        vec!["shift", "--to", "50", "--dry-run"],
        vec!["promote", "--dry-run"],
        vec!["provision", "--dry-run"],
        vec!["deploy", "--version", "v3", "--dry-run"],
        vec!["destroy", "--yes", "--dry-run"],
    ] {
        let out = s.ok(&args, 0);
        assert!(out.contains("dry run"), "{args:?}: {out}");
    }
    assert_eq!(s.writes_since(before), vec![], "a dry run wrote");
    assert_eq!(s.status_json()["rollout"]["state"], "ready");
    // A firing alarm: the real run would refuse (3), and so does the dry run.
    s.set_alarm(&format!("{}-5xx", s.name), "ALARM");
    let before = s.requests().len();
    s.exits(&["shift", "--dry-run"], 3);
    s.exits(&["shift", "--to", "50", "--dry-run"], 3);
    // Bad input is still 2.
    s.exits(&["continue", "--dry-run"], 2);
    assert_eq!(s.writes_since(before), vec![]);
    s.set_alarm(&format!("{}-5xx", s.name), "OK");
    // Under way, a firing alarm makes the dry tick say it would roll back.
    s.ok(&["shift", "--to", "10"], 0);
    s.set_alarm(&format!("{}-5xx", s.name), "ALARM");
    let before = s.requests().len();
    assert!(s.ok(&["rollback", "--dry-run"], 0).contains("dry run"));
    let out = s.exits(&["promote", "--dry-run"], 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ALARM"));
    assert_eq!(s.writes_since(before), vec![]);
    assert_eq!(s.elb_weights(), (90, 10));
}

#[test]
fn an_explicit_profile_beats_keys_in_the_environment() {
    let s = Stack::new("profile", &[]);
    let dir = s.dir.path();
    let key = format!("{}PROFILE", s.key);
    std::fs::write(
        dir.join("aws-config"),
        "[profile other]\nregion = us-east-1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("aws-credentials"),
        format!("[other]\naws_access_key_id = {key}\naws_secret_access_key = test\n"),
    )
    .unwrap();
    let files = [
        ("AWS_CONFIG_FILE", dir.join("aws-config")),
        ("AWS_SHARED_CREDENTIALS_FILE", dir.join("aws-credentials")),
    ];
    let signed_with = |k: &str| -> usize {
        let v: serde_json::Value =
            serde_json::from_str(&http_get(s.emu.port, "/_emulator/requests")).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["key"] == k)
            .count()
    };
    for how in ["flag", "env"] {
        let (env_key, prof_key) = (signed_with(&s.key), signed_with(&key));
        let mut c = s.cmd();
        c.envs(files.iter().map(|(k, v)| (*k, v.as_os_str())));
        match how {
            "flag" => c.args(["--profile", "other", "plan"]),
            _ => c.env("AWS_PROFILE", "other").arg("plan"),
        };
        let out = c.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            signed_with(&key) > prof_key,
            "{how}: not signed with the profile's key"
        );
        assert_eq!(
            signed_with(&s.key),
            env_key,
            "{how}: signed with the environment's key"
        );
    }
}

/// Asserts one `error: ` line with none of the SDK's debug words.
fn one_line(err: &str) {
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for bad in [
        "Error {",
        "ServiceError",
        "ErrorMetadata",
        "SdkBody",
        "DispatchFailure",
    ] {
        assert!(!err.contains(bad), "{bad} in {err}");
    }
}

#[test]
fn aws_failures_are_one_line_in_the_users_words() {
    let s = Stack::new("errline", &[]);
    // An endpoint that refuses connections.
    let out = s
        .cmd()
        .args(["--endpoint-url", "http://127.0.0.1:9", "status"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    one_line(&err);
    assert!(err.contains("cannot reach the AWS endpoint"), "{err}");
    // No credentials anywhere.
    let out = s
        .cmd()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("status")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    one_line(&err);
    assert!(err.contains("no AWS credentials"), "{err}");
    // A bad region is bad input, before any call.
    let before = s.requests().len();
    for r in ["", "nowhere", "us_east_1"] {
        let out = s.exits(&["--region", r, "status"], 2);
        one_line(&String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(s.requests().len(), before);
    // Under -o json the last stdout line carries the error and the exit code.
    let out = s
        .cmd()
        .args([
            "--endpoint-url",
            "http://127.0.0.1:9",
            "-o",
            "json",
            "status",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap();
    assert_eq!(last["exit"], 1, "{stdout}");
    assert_eq!(last["error"]["kind"], "aws");
    assert!(last["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot reach"));
}

#[test]
fn wait_ends_0_on_a_cron_driven_completion_and_3_on_a_rollback() {
    let s = ready("waitcron", &["--bake", "1s", "--poll", "100ms"]);
    let ticks = |until: &str| {
        let start = Instant::now();
        while s.status_json()["rollout"]["state"] != until {
            assert!(start.elapsed() < Duration::from_secs(60));
            let _ = s.run(&["promote"]);
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let waiter = spawn(&s, &["wait", "--timeout", "90s", "--interval", "200ms"]);
    ticks("complete");
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.ok(&["deploy", "--version", "v3"], 0);
    let waiter = spawn(&s, &["wait", "--timeout", "90s", "--interval", "200ms"]);
    s.ok(&["promote"], 0);
    s.set_alarm(&format!("{}-5xx", s.name), "ALARM");
    ticks("rolled_back");
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    // Read-only, and a timeout is exit 1.
    let before = s.requests().len();
    s.exits(&["wait", "--until", "paused", "--timeout", "1s"], 3);
    assert_eq!(s.writes_since(before), vec![]);
    s.set_alarm(&format!("{}-5xx", s.name), "OK");
    s.ok(&["deploy", "--version", "v4"], 0);
    let before = s.requests().len();
    s.exits(&["wait", "--timeout", "1s", "--interval", "200ms"], 1);
    assert_eq!(s.writes_since(before), vec![]);
}
