//! End-to-end on the embedded emulator: the ECS blue/green lifecycle, checked
//! through plain ELBv2/ECS/CloudWatch calls and the emulator's request log.
use crate::common;

use common::{is_read_only, Stack};

#[test]
fn ecs_lifecycle_provision_deploy_shift_rollback_destroy() {
    let s = Stack::new("life", &[]);
    s.ok(&["check"], 0);

    // Provision, then a second provision makes no mutating call.
    s.ok(&["provision"], 0);
    let before = s.requests().len();
    let out = s.ok(&["provision"], 0);
    assert!(out.contains("nothing to change"), "{out}");
    let second: Vec<_> = s.requests()[before..].to_vec();
    let writes: Vec<_> = second.iter().filter(|(_, a)| !is_read_only(a)).collect();
    assert!(
        writes.is_empty(),
        "second provision made mutating calls: {writes:?}"
    );
    assert!(
        !second.is_empty(),
        "second provision should have looked at AWS"
    );

    // Resources carry the contract's tags.
    let sdk = s.sdk();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    Stack::rt().block_on(async {
        let tg = elb
            .describe_target_groups()
            .names("life-green")
            .send()
            .await
            .unwrap();
        let arn = tg.target_groups()[0]
            .target_group_arn()
            .unwrap()
            .to_string();
        assert_eq!(tg.target_groups()[0].health_check_path(), Some("/ping"));
        let tags = elb
            .describe_tags()
            .resource_arns(&arn)
            .send()
            .await
            .unwrap();
        let tags: Vec<(String, String)> = tags.tag_descriptions()[0]
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
            .collect();
        for want in [
            ("cutover:stack", "life"),
            ("cutover:managed", "true"),
            ("cutover:color", "green"),
        ] {
            assert!(tags.contains(&(want.0.into(), want.1.into())), "{tags:?}");
        }
        let svcs = ecs
            .describe_services()
            .cluster("life-cluster")
            .services("life-blue")
            .services("life-green")
            .send()
            .await
            .unwrap();
        assert_eq!(svcs.services().len(), 2);
        for svc in svcs.services() {
            assert_eq!(svc.desired_count(), 0);
        }
    });
    assert_eq!(s.elb_weights(), (100, 0));

    // First deploy goes live at 100% on blue.
    s.ok(&["deploy", "--version", "v1"], 0);
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["live"], "blue");
    assert_eq!(st["versions"]["blue"], "v1");
    assert_eq!(st["rollout"]["state"], "idle");

    // Second deploy lands on green at 0%.
    s.ok(&["deploy", "--version", "v2"], 0);
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["versions"]["green"], "v2");
    assert_eq!(st["rollout"]["state"], "ready");
    Stack::rt().block_on(async {
        let svcs = ecs
            .describe_services()
            .cluster("life-cluster")
            .services("life-green")
            .send()
            .await
            .unwrap();
        assert_eq!(svcs.services()[0].desired_count(), 2);
    });

    // Staged shifts, each read back through ELBv2 itself.
    for (p, want) in [(10, (90, 10)), (50, (50, 50))] {
        s.ok(&["shift", "--to", &p.to_string()], 0);
        assert_eq!(s.elb_weights(), want);
        let st = s.status_json();
        assert_eq!(st["rollout"]["state"], "shifting");
        assert_eq!(st["weights"]["green"], p);
    }
    assert_eq!(s.status_json()["rollout"]["step"], 2);
    // Weights only rise within a rollout.
    s.ok(&["shift", "--to", "20"], 2);
    s.ok(&["shift", "--to", "100"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
    let st = s.status_json();
    assert_eq!(st["live"], "green");
    assert_eq!(st["rollout"]["state"], "complete");

    // Rollback after 100%: blue (kept running) is live again.
    s.ok(&["rollback", "--reason", "test"], 0);
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["live"], "blue");
    assert_eq!(st["rollout"]["state"], "rolled_back");
    assert_eq!(st["stack"], "life");
    assert_eq!(st["provider"], "ecs");
    assert_eq!(st["alarms"][0]["name"], "life-5xx");
    // Nothing more to roll back to.
    s.ok(&["rollback"], 2);

    let hist = s.ok(&["history"], 0);
    for ev in ["provision", "deployed", "shift", "rollback"] {
        assert!(hist.contains(ev), "history lacks {ev}: {hist}");
    }

    // Destroy removes everything and can run again.
    s.ok(&["destroy"], 2);
    s.ok(&["destroy", "--yes"], 0);
    Stack::rt().block_on(async {
        let lb = elb.describe_load_balancers().names("life").send().await;
        assert!(lb.is_err(), "load balancer still there");
        let tg = elb.describe_target_groups().names("life-blue").send().await;
        assert!(tg.is_err(), "target group still there");
        let svcs = ecs
            .describe_services()
            .cluster("life-cluster")
            .services("life-blue")
            .send()
            .await;
        if let Ok(svcs) = svcs {
            assert!(svcs.services().iter().all(|s| s.status() != Some("ACTIVE")));
        }
        for family in ["life-blue", "life-green"] {
            let tds = ecs
                .list_task_definitions()
                .family_prefix(family)
                .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                .send()
                .await
                .unwrap();
            assert!(
                tds.task_definition_arns().is_empty(),
                "{:?}",
                tds.task_definition_arns()
            );
        }
    });
    s.ok(&["destroy", "--yes"], 0);
}

#[test]
fn foreign_resources_are_refused_untouched() {
    let s = Stack::new("foreign", &[]);
    // Someone else's target group with our contract name.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&s.sdk());
    let vpc = std::fs::read_to_string(s.config())
        .unwrap()
        .lines()
        .find(|l| l.starts_with("vpc = "))
        .unwrap()
        .split('"')
        .nth(1)
        .unwrap()
        .to_string();
    Stack::rt().block_on(async {
        elb.create_target_group()
            .name("foreign-blue")
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap();
    });
    let before = s.requests().len();
    let out = s.exits(&["provision"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("target group foreign-blue") && err.contains("not managed by cutover"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    let writes = s.writes_since(before);
    assert!(writes.is_empty(), "refused provision wrote: {writes:?}");
    // Destroy leaves it alone too.
    s.ok(&["destroy", "--yes"], 0);
    Stack::rt().block_on(async {
        assert!(elb
            .describe_target_groups()
            .names("foreign-blue")
            .send()
            .await
            .is_ok());
    });
}

#[test]
fn unprovisioned_stack_is_bad_input() {
    let s = Stack::new("bare", &[]);
    let before = s.requests().len();
    let out = s.exits(&["deploy", "--version", "v1"], 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not provisioned"));
    s.ok(&["rollback"], 2);
    s.ok(&["status"], 2);
    s.ok(&["history"], 2);
    s.ok(&["promote"], 2);
    let writes = s.writes_since(before);
    assert!(writes.is_empty(), "{writes:?}");
}

/// The test listener's target group name (it forwards to exactly one).
fn test_listener_target(s: &Stack) -> String {
    let l = s.listener(8080);
    let tgs = l.default_actions()[0]
        .forward_config()
        .unwrap()
        .target_groups()
        .to_vec();
    assert_eq!(tgs.len(), 1, "{tgs:?}");
    tgs[0]
        .target_group_arn()
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn never_routes_to_a_colour_without_healthy_targets() {
    let s = Stack::new("nohealth", &[]);
    s.ok(&["provision"], 0);
    assert_eq!(test_listener_target(&s), "nohealth-green");
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    // The test listener reaches the candidate only.
    assert_eq!(test_listener_target(&s), "nohealth-green");
    // The candidate's targets fail their health checks behind cutover's back
    // (its task count still matches live, so capacity parity has nothing to add).
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let tg = elb
            .describe_target_groups()
            .names("nohealth-green")
            .send()
            .await
            .unwrap();
        elb.modify_target_group()
            .target_group_arn(tg.target_groups()[0].target_group_arn().unwrap())
            .health_check_path("/nope")
            .send()
            .await
            .unwrap();
    });
    let start = std::time::Instant::now();
    while s.healthy("green") > 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "still healthy"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let out = s.exits(&["shift", "--to", "10"], 3);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0 healthy targets") && err.contains("green"),
        "{err}"
    );
    assert_eq!(s.elb_weights(), (100, 0));
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "ready");
    assert!(
        st["pending"].is_null(),
        "a refused shift left a pending transition: {st}"
    );
    // Healthy again (provision restores the health check path): the shift
    // goes through, and at 100% the test listener shows the old colour.
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.ok(&["shift", "--to", "100"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
    assert_eq!(test_listener_target(&s), "nohealth-blue");
}

#[test]
fn history_into_a_closed_pipe_exits_0() {
    let s = Stack::new("pipe", &[]);
    s.ok(&["provision"], 0);
    // A long journal: 1200 entries, well over a pipe's buffer.
    let ddb = aws_sdk_dynamodb::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
        for batch in 0..48u64 {
            let mut reqs = Vec::new();
            for i in 0..25u64 {
                let at = 1_700_000_000_000 + batch * 25 + i;
                let doc = format!(
                    r#"{{"at":{at},"event":"step","detail":"entry {at} of a long journal","phase":"shifting"}}"#
                );
                let item = [
                    ("pk", AttributeValue::S("pipe".into())),
                    ("sk", AttributeValue::S(format!("journal#{at:013}#00000000"))),
                    ("doc", AttributeValue::S(doc)),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                reqs.push(
                    WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                        .build(),
                );
            }
            ddb.batch_write_item()
                .request_items("cutover-pipe", reqs)
                .send()
                .await
                .unwrap();
        }
    });
    let bin = env!("CARGO_BIN_EXE_cutover");
    let out = std::process::Command::new("bash")
        .current_dir(s.dir.path())
        .env("AWS_ENDPOINT_URL", &s.emu.url)
        .env("AWS_ACCESS_KEY_ID", &s.key)
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .args([
            "-c",
            &format!("set -o pipefail; '{bin}' history --limit 5000 | head -1"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).is_empty());
}
