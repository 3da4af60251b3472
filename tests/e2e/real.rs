//! On the real components: LocalStack serves CloudWatch (and evaluates the
//! alarms itself), EventBridge and SQS; AWS's DynamoDB Local holds the state
//! and judges the lock's conditional writes; the embedded emulator serves
//! ELBv2, ECS, EC2 and the data plane, publishing its metrics to LocalStack.
//! cutover reaches them through AWS_ENDPOINT_URL plus the per-service
//! variables: no `--endpoint-url` anywhere here.
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::events::{eventbridge_queue, receive_until};
use crate::common::traffic::{failures, now_ms, Load};
use crate::common::Stack;

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The managed alarms LocalStack holds for the stack.
fn localstack_alarms(s: &Stack, prefix: &str) -> Vec<(String, String)> {
    let cw = aws_sdk_cloudwatch::Client::new(&s.cw_sdk());
    Stack::rt().block_on(async {
        let out = cw
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .send()
            .await
            .unwrap();
        out.metric_alarms()
            .iter()
            .map(|a| {
                (
                    a.alarm_name().unwrap().to_string(),
                    a.state_value()
                        .map(|v| v.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect()
    })
}

#[test]
fn a_bad_release_is_rolled_back_by_localstacks_own_alarm_evaluation() {
    let s = Stack::new_real(
        "realecs",
        &["--bake", "90s", "--poll", "1s", "--steps", "50, 100"],
    );
    s.edit_config(|t| {
        t + "\n[[alarms.create]]\nname = \"{{ name }}-{{ color }}-5xx\"\nmetric = \"HTTPCode_Target_5XX_Count\"\nthreshold = 0\nperiod = 10\ntreat_missing_data = \"notBreaching\"\n"
    });
    s.ok(&["provision"], 0);
    // The managed alarms exist in LocalStack, not in the emulator.
    let alarms = localstack_alarms(&s, "realecs-");
    let names: Vec<&str> = alarms.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"realecs-blue-5xx") && names.contains(&"realecs-green-5xx"),
        "{alarms:?}"
    );
    // The state table lives in DynamoDB Local.
    let ddb = aws_sdk_dynamodb::Client::new(&s.ddb_sdk());
    let tables = Stack::rt().block_on(async { ddb.list_tables().send().await.unwrap() });
    assert!(
        tables.table_names().iter().any(|t| t == "cutover-realecs"),
        "{tables:?}"
    );

    s.ok(&["deploy", "--version", "v1"], 0);
    let load = Load::start(&s.lb_host(), 80, 20);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.ok(&["shift", "--to", "100"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
    // A candidate whose every prediction is a 500: LocalStack's evaluation of
    // its 5xx alarm (fed by the emulator's metrics) rolls it back.
    s.exits_with_env(&["deploy", "--version", "v3"], &[("ERROR_RATE", "1")], 0);
    let start = Instant::now();
    let out = s.exits(&["shift"], 3);
    let took = start.elapsed();
    eprintln!("LocalStack's alarm rolled the bad release back {took:?} after the shift started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("realecs-blue-5xx"), "{err}");
    assert!(took < Duration::from_secs(80), "detected after {took:?}");
    assert_eq!(s.elb_weights(), (0, 100));
    let rolled_back = now_ms();
    std::thread::sleep(Duration::from_secs(3));
    let hits = load.finish();
    assert!(
        failures(&hits).iter().any(|h| h.at < rolled_back),
        "the bad model never failed a request"
    );
    assert!(
        failures(&hits).iter().all(|h| h.at < rolled_back),
        "requests still failed after the rollback"
    );
    assert!(
        localstack_alarms(&s, "realecs-blue-5xx")
            .iter()
            .any(|(_, st)| st == "ALARM"),
        "LocalStack never put the alarm in ALARM"
    );
    assert!(s.ok(&["history"], 0).contains("auto-rollback"));

    // destroy removes the managed alarms from LocalStack, and leaves the
    // user's own alarm (the seeded `realecs-5xx`) alone.
    s.ok(&["destroy", "--yes"], 0);
    let left = localstack_alarms(&s, "realecs-");
    assert_eq!(
        left.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["realecs-5xx"]
    );
}

#[test]
fn set_alarm_state_in_localstack_stops_the_start_and_rolls_back_a_bake() {
    let s = Stack::new_real("realalarm", &["--bake", "60s", "--poll", "500ms"]);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    // The pre-flight: a firing alarm refuses the start, nothing moves.
    s.set_alarm("realalarm-5xx", "ALARM");
    let err = s.exits_with_env(&["shift"], &[], 3);
    assert!(err.contains("realalarm-5xx"), "{err}");
    assert_eq!(s.elb_weights(), (100, 0));
    s.set_alarm("realalarm-5xx", "OK");
    let child = s.spawn_shift();
    s.wait_for_state("shifting");
    std::thread::sleep(Duration::from_secs(2));
    s.set_alarm("realalarm-5xx", "ALARM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 3, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(s.elb_weights(), (100, 0));
    assert_eq!(s.status_json()["rollout"]["state"], "rolled_back");
}

#[test]
fn journal_events_reach_sqs_through_a_localstack_rule() {
    let s = Stack::new_real("realeb", &["--steps", "100", "--bake", "1s"]);
    s.edit_config(|t| t + "\n[notify]\neventbridge_bus = \"default\"\n");
    let (sqs, url) = eventbridge_queue(&s, "realeb");
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    let got = receive_until(&sqs, &url, "deployed");
    let kinds: Vec<&str> = got
        .iter()
        .filter_map(|e| e["detail-type"].as_str())
        .collect();
    assert!(kinds.contains(&"provision"), "{kinds:?}");
    assert!(kinds.contains(&"deployed"), "{kinds:?}");
    assert!(
        got.iter()
            .all(|e| e["source"] == "cutover" && e["detail"]["stack"] == "realeb"),
        "{got:?}"
    );
}

/// A fault proxy in front of DynamoDB Local: `drop-answer` applies a write
/// and then resets the connection, so the client never sees its answer.
fn dynamodb_proxy(s: &Stack) -> (Child, String) {
    let (child, port) =
        crate::common::faults_proxy(&s.real.unwrap().dynamodb, &["--rate", "0", "--seed", "1"]);
    (child, format!("http://127.0.0.1:{port}"))
}

#[test]
fn the_lock_and_state_hold_on_dynamodb_local() {
    let s = Stack::new_real("realddb", &["--bake", "1s", "--poll", "200ms"]);
    s.edit_config(|t| t.replace("[state]\n", "[state]\nlock_lease = \"3s\"\n"));
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.ok(&["shift", "--to", "10"], 0);
    std::thread::sleep(Duration::from_millis(1200));

    // Eight concurrent ticks: DynamoDB Local's conditional writes let one through.
    let outs = s.promotes_at_once(8);
    for o in &outs {
        assert!(
            code(o) == 0 || code(o) == 75,
            "exit {}: {}",
            code(o),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let advanced = outs
        .iter()
        .filter(|o| code(o) == 0 && String::from_utf8_lossy(&o.stdout).contains("step 2/3"))
        .count();
    assert_eq!(advanced, 1, "exactly one promote advances");
    assert_eq!(s.elb_weights(), (50, 50));

    // Lost answers: each conditional write (lock, state, journal, unlock) is
    // applied by DynamoDB Local and its answer dropped once; the runs go on
    // to the same result as without the fault.
    let (mut proxy, url) = dynamodb_proxy(&s);
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    for action in ["PutItem", "UpdateItem", "DeleteItem"] {
        crate::common::http_post(
            port,
            &format!("/_faults/inject?kind=drop-answer&service=dynamodb&action={action}&count=1"),
        );
    }
    std::thread::sleep(Duration::from_millis(1200));
    let start = Instant::now();
    loop {
        let out = s
            .cmd()
            .env("AWS_ENDPOINT_URL_DYNAMODB", &url)
            .arg("promote")
            .output()
            .unwrap();
        match code(&out) {
            0 => break,
            // A lost answer is handled, never an error (exit 1).
            75 => std::thread::sleep(Duration::from_millis(500)),
            c => panic!(
                "promote exited {c}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never advanced past lost answers"
        );
    }
    let stats: serde_json::Value =
        serde_json::from_str(&crate::common::http_get(port, "/_faults/stats")).unwrap();
    let dropped = stats["by_kind"]["drop-answer"].as_u64().unwrap_or(0);
    assert!(dropped >= 2, "only {dropped} answers were dropped: {stats}");
    let _ = proxy.kill();
    let st = s.status_json();
    assert_eq!(st["drift"], false, "{st}");
    assert_eq!(st["rollout"]["step"], 3, "{st}");
    assert_eq!(s.elb_weights(), (0, 100));

    // kill -9 in the middle of a shift: after the lease the next run resumes.
    s.ok(&["deploy", "--version", "v3"], 0);
    let mut child = s
        .cmd()
        .arg("shift")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    s.wait_for_state("shifting");
    let _ = child.kill();
    let _ = child.wait();
    let start = Instant::now();
    loop {
        let out = s.run(&["shift"]);
        match code(&out) {
            0 => break,
            75 => std::thread::sleep(Duration::from_millis(500)),
            c => panic!(
                "shift after kill -9 exited {c}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "lock never freed"
        );
    }
    assert_eq!(s.elb_weights(), (100, 0));
    let hist = s.ok(&["history"], 0);
    assert!(hist.contains("complete"), "{hist}");
}
