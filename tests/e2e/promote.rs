//! Scheduled promotion on the emulator: the cron tick, the lock, concurrency,
//! crashes (SIGKILL), drift, retirement and many stacks.
use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::Stack;

fn ready(name: &str, seed: &[&str], lease: &str) -> Stack {
    let s = Stack::new(name, seed);
    s.edit_config(|t| t.replace("[state]\n", &format!("[state]\nlock_lease = \"{lease}\"\n")));
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn cron_ticks_carry_a_rollout_to_retirement() {
    let s = ready(
        "cron",
        &[
            "--bake",
            "1s",
            "--poll",
            "200ms",
            "--termination-wait",
            "2s",
        ],
        "60s",
    );
    // Tick 1 starts the rollout.
    let out = s.ok(&["promote"], 0);
    assert!(out.contains("step 1/3"), "{out}");
    assert_eq!(s.elb_weights(), (90, 10));
    // Nothing due during the bake.
    let out = s.ok(&["promote"], 0);
    assert!(out.contains("nothing due"), "{out}");
    assert_eq!(s.elb_weights(), (90, 10));
    let mut seen = vec![10];
    let start = Instant::now();
    while s.status_json()["rollout"]["state"] != "retired" {
        assert!(start.elapsed() < Duration::from_secs(30), "did not retire");
        std::thread::sleep(Duration::from_millis(250));
        s.ok(&["promote"], 0);
        let g = s.elb_weights().1;
        if seen.last() != Some(&g) {
            seen.push(g);
        }
    }
    assert_eq!(seen, vec![10, 50, 100], "each step once, in order");
    // Retired: blue's service is scaled to 0 and kept.
    let ecs = aws_sdk_ecs::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let svcs = ecs
            .describe_services()
            .cluster("cron-cluster")
            .services("cron-blue")
            .send()
            .await
            .unwrap();
        assert_eq!(svcs.services()[0].status(), Some("ACTIVE"));
        assert_eq!(svcs.services()[0].desired_count(), 0);
    });
    let st = s.status_json();
    assert_eq!(st["live"], "green");
    s.ok(&["rollback"], 2);
    // Retired is idle for cron.
    assert!(s.ok(&["promote"], 0).contains("nothing due"));
}

#[test]
fn idle_tick_makes_at_most_four_calls() {
    let s = ready("idle", &["--bake", "60s"], "60s");
    let count_tick = |want: &str| {
        let before = s.requests().len();
        let out = s.ok(&["promote"], 0);
        assert!(out.contains(want), "{out}");
        s.requests()[before..].to_vec()
    };
    // The first tick starts the rollout; the next ones are idle (mid-bake).
    count_tick("step 1/3");
    for _ in 0..2 {
        let calls = count_tick("nothing due");
        assert!(
            calls.len() <= 4,
            "idle tick made {} calls: {calls:?}",
            calls.len()
        );
        assert!(
            calls.iter().all(|(_, a)| common::is_read_only(a)),
            "idle tick wrote: {calls:?}"
        );
    }
    // And on a stack with no rollout at all.
    s.ok(&["rollback"], 0);
    let calls = count_tick("nothing due");
    assert!(calls.len() <= 4, "{calls:?}");
    assert!(
        calls.iter().all(|(_, a)| common::is_read_only(a)),
        "{calls:?}"
    );
}

#[test]
fn eight_concurrent_promotes_advance_exactly_once() {
    let s = ready("race", &["--bake", "1s", "--poll", "200ms"], "60s");
    s.ok(&["shift", "--to", "10"], 0);
    std::thread::sleep(Duration::from_millis(1200));
    let outs = s.promotes_at_once(8);
    let advanced = outs
        .iter()
        .filter(|o| code(o) == 0 && String::from_utf8_lossy(&o.stdout).contains("step 2/3"))
        .count();
    for o in &outs {
        let c = code(o);
        assert!(
            c == 0 || c == 75,
            "unexpected exit {c}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        if c == 75 {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("locked by") && err.contains("expires"),
                "{err}"
            );
        }
    }
    assert_eq!(advanced, 1, "exactly one promote advances");
    assert_eq!(s.elb_weights(), (50, 50));
    assert_eq!(s.status_json()["rollout"]["step"], 2);
}

#[test]
fn held_lock_exits_75_and_expired_lease_is_taken() {
    let s = ready("lease", &["--bake", "0s"], "60s");
    let ddb = aws_sdk_dynamodb::Client::new(&s.sdk());
    let put_lock = |expires_ms: u64| {
        Stack::rt().block_on(async {
            ddb.put_item()
                .table_name("cutover-lease")
                .item("pk", AttributeValue::S("lease".into()))
                .item("sk", AttributeValue::S("lock".into()))
                .item(
                    "holder",
                    AttributeValue::S("`promote` by ops@host-b pid 4242".into()),
                )
                .item("token", AttributeValue::S("someone-else".into()))
                .item("expires", AttributeValue::N(expires_ms.to_string()))
                .send()
                .await
                .unwrap();
        })
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    put_lock(now + 600_000);
    let out = s.run(&["promote"]);
    assert_eq!(code(&out), 75);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ops@host-b pid 4242") && err.contains("expires"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1);
    assert_eq!(s.elb_weights(), (100, 0));
    // Rollback gets through a held lock.
    // (it is an emergency action) — but first show shift is refused too.
    assert_eq!(code(&s.run(&["shift", "--to", "10"])), 75);
    // A crashed holder's expired lease is taken over.
    put_lock(now - 1);
    s.ok(&["promote"], 0);
    assert_eq!(s.elb_weights(), (90, 10));
    put_lock(now + 600_000);
    s.ok(&["rollback"], 0);
    assert_eq!(s.elb_weights(), (100, 0));
}

/// A lock written on another host's clock: its times are never compared with
/// this host's. The lease is broken only after this host has watched the
/// same version for a full lease on its own clock.
#[test]
fn a_lease_from_another_hosts_clock_is_broken_after_a_full_lease_watched_here() {
    let s = ready("farlease", &["--bake", "0s"], "3s");
    let ddb = aws_sdk_dynamodb::Client::new(&s.sdk());
    let read = || {
        Stack::rt().block_on(async {
            ddb.get_item()
                .table_name("cutover-farlease")
                .key("pk", AttributeValue::S("farlease".into()))
                .key("sk", AttributeValue::S("lock".into()))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item()
                .cloned()
                .unwrap()
        })
    };
    Stack::rt().block_on(async {
        ddb.put_item()
            .table_name("cutover-farlease")
            .item("pk", AttributeValue::S("farlease".into()))
            .item("sk", AttributeValue::S("lock".into()))
            .item(
                "holder",
                AttributeValue::S("`promote` by ops@host-b pid 4242".into()),
            )
            .item("token", AttributeValue::S("someone-else".into()))
            // Long past by this host's wall clock, which must not matter.
            .item("expires", AttributeValue::N("1".into()))
            .item("version", AttributeValue::S("v1".into()))
            .item("clock", AttributeValue::S("boot:host-b".into()))
            .item("clock_expires", AttributeValue::N("1".into()))
            .item("lease_ms", AttributeValue::N("3000".into()))
            .item("watch", AttributeValue::M(Default::default()))
            .send()
            .await
            .unwrap();
    });
    let out = s.run(&["promote"]);
    assert_eq!(code(&out), 75);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ops@host-b pid 4242") && err.contains("another host's clock"),
        "{err}"
    );
    let watch = read()["watch"].as_m().unwrap().clone();
    assert_eq!(watch.len(), 1, "{watch:?}");
    let w = watch.values().next().unwrap().as_m().unwrap();
    assert_eq!(w["version"], AttributeValue::S("v1".into()));
    assert_eq!(code(&s.run(&["promote"])), 75);
    assert_eq!(s.elb_weights(), (100, 0));
    // A full lease (3 s) later on this host's clock, the version unchanged.
    std::thread::sleep(std::time::Duration::from_millis(3300));
    s.ok(&["promote"], 0);
    assert_eq!(s.elb_weights(), (90, 10));
    // The run released its lock when it finished.
    Stack::rt().block_on(async {
        let got = ddb
            .get_item()
            .table_name("cutover-farlease")
            .key("pk", AttributeValue::S("farlease".into()))
            .key("sk", AttributeValue::S("lock".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        assert!(got.item().is_none(), "{:?}", got.item());
    });
}

#[test]
fn drift_is_refused_unless_adopted() {
    let s = ready("drift", &["--bake", "0s"], "60s");
    s.ok(&["shift", "--to", "10"], 0);
    // Someone edits the weights by hand.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&s.sdk());
    let l = s.listener(80);
    Stack::rt().block_on(async {
        use aws_sdk_elasticloadbalancingv2::types::{
            Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
        };
        let tgs = l.default_actions()[0]
            .forward_config()
            .unwrap()
            .target_groups()
            .to_vec();
        let mut fc = ForwardActionConfig::builder();
        for t in tgs {
            let w = if t.target_group_arn().unwrap().contains("drift-blue") {
                70
            } else {
                30
            };
            fc = fc.target_groups(
                TargetGroupTuple::builder()
                    .target_group_arn(t.target_group_arn().unwrap())
                    .weight(w)
                    .build(),
            );
        }
        elb.modify_listener()
            .listener_arn(l.listener_arn().unwrap())
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .forward_config(fc.build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    assert_eq!(s.status_json()["drift"], true);
    let out = s.run(&["promote"]);
    assert_eq!(code(&out), 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("drift"));
    assert_eq!(s.elb_weights(), (70, 30));
    // --adopt records what AWS shows, then continues from there.
    s.ok(&["promote", "--adopt"], 0);
    assert_eq!(s.elb_weights(), (50, 50));
    assert_eq!(s.status_json()["drift"], false);
}

#[test]
fn kill_9_at_random_moments_never_corrupts() {
    let s = ready(
        "crash",
        &[
            "--bake",
            "300ms",
            "--poll",
            "100ms",
            "--termination-wait",
            "300ms",
        ],
        "1s",
    );
    let mut rng_state = 0x2545F4914F6CDD1Du64;
    let mut rand_ms = |max: u64| {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state % max
    };
    let allowed = [0, 10, 50, 100];
    let mut version = 3;
    for round in 0..12 {
        let cmd = if round % 2 == 0 { "shift" } else { "promote" };
        let mut child = s
            .cmd()
            .arg(cmd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rand_ms(700)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // AWS never shows a weight that is not a step of the plan.
        let (b, g) = s.elb_weights();
        assert_eq!(b + g, 100);
        let st = s.status_json();
        let live = st["live"].as_str().unwrap().to_string();
        let cand = if live == "blue" { g } else { b };
        assert!(
            allowed.contains(&cand),
            "weights {b}/{g} are not a step of the plan"
        );
        // The next run resumes (after the dead holder's lease expires).
        let start = Instant::now();
        loop {
            let out = s.run(&["promote"]);
            match code(&out) {
                0 => break,
                75 => std::thread::sleep(Duration::from_millis(300)),
                c => panic!(
                    "promote after crash exited {c}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "lock never freed"
            );
        }
        let st = s.status_json();
        assert_eq!(
            st["drift"], false,
            "weights differ from the record after repair: {st}"
        );
        if st["rollout"]["state"] == "shifting" {
            let c = st["candidate"].as_str().unwrap();
            let w = st["weights"][c].as_u64().unwrap();
            assert!([10, 50].contains(&w), "shifting at {w}%: {st}");
        }
        if matches!(
            st["rollout"]["state"].as_str(),
            Some("complete") | Some("retired") | Some("rolled_back")
        ) {
            // Start the next rollout.
            std::thread::sleep(Duration::from_millis(400));
            let _ = s.run(&["promote"]);
            let out = s.run(&["deploy", "--version", &format!("v{version}")]);
            version += 1;
            assert!(
                code(&out) == 0 || code(&out) == 75,
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let hist = s.ok(&["history"], 0);
    assert!(hist.contains("step"), "{hist}");
}

#[test]
fn many_stacks_in_one_promote() {
    let a = ready("manya", &["--bake", "0s"], "60s");
    let b = Stack::new("manyb", &[]); // never provisioned: fails alone
    let out = a
        .cmd()
        .args([
            "promote",
            "-c",
            a.config().to_str().unwrap(),
            "-c",
            b.config().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("manya: exit 0"), "{text}");
    assert!(text.contains("manyb: exit 2"), "{text}");
    assert_eq!(code(&out), 2, "worst exit code");
    assert_eq!(a.elb_weights(), (90, 10));
}

#[test]
fn kill_9_during_deploy_then_deploy_again() {
    let s = ready("crashdep", &["--bake", "0s"], "1s");
    let mut child = s
        .cmd()
        .args(["deploy", "--version", "v3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500)); // mid-wait for convergence
    let _ = child.kill();
    let _ = child.wait();
    // Production is untouched and the record still says v2 is the candidate.
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["versions"]["green"], "v2");
    assert_eq!(st["drift"], false);
    // Once the dead holder's lease runs out, the deploy is simply redone.
    let start = Instant::now();
    loop {
        let out = s.run(&["deploy", "--version", "v3"]);
        match code(&out) {
            0 => break,
            75 => std::thread::sleep(Duration::from_millis(300)),
            c => panic!(
                "deploy after crash exited {c}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
        assert!(start.elapsed() < Duration::from_secs(10));
    }
    assert_eq!(s.status_json()["versions"]["green"], "v3");
    s.ok(&["shift"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
}
