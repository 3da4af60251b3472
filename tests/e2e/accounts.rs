// Many accounts and no cron host: [aws] role_arn (every call under
// AssumeRole credentials), and `cutover schedule` on EventBridge Scheduler.
use crate::common::{http_get, Stack};

/// The emulator's request log: (access key, service, action).
fn log(s: &Stack) -> Vec<(String, String, String)> {
    let v: serde_json::Value =
        serde_json::from_str(&http_get(s.emu.port, "/_emulator/requests")).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (f("key"), f("service"), f("action"))
        })
        .collect()
}

#[test]
fn a_stack_with_a_role_makes_every_call_with_the_assumed_credentials() {
    let s = Stack::new("acct", &[]);
    s.edit_config(|t| t + "\n[aws]\nrole_arn = \"arn:aws:iam::123456789012:role/cutover-acct\"\nexternal_id = \"ext-123\"\n");
    let before = log(&s).len();
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    let st = s.status_json();
    assert_eq!(
        st["aws"]["role_arn"],
        "arn:aws:iam::123456789012:role/cutover-acct"
    );
    assert_eq!(st["aws"]["session"], "cutover-acct");
    let mine: Vec<_> = log(&s)[before..]
        .iter()
        .filter(|r| r.0 == s.key)
        .cloned()
        .collect();
    // The caller's own key signs only AssumeRole; everything else is signed
    // with the assumed role's key.
    assert!(mine.iter().any(|r| r.1 == "sts"), "no AssumeRole: {mine:?}");
    assert!(
        mine.iter().all(|r| r.1 == "sts"),
        "calls with the caller's key: {mine:?}"
    );
    let assumed: Vec<_> = log(&s)[before..]
        .iter()
        .filter(|r| {
            r.0.starts_with("ASIA")
                && (r.1 == "elasticloadbalancing" || r.1 == "dynamodb" || r.1 == "ecs")
        })
        .cloned()
        .collect();
    assert!(
        assumed.len() > 10,
        "calls under the assumed role: {assumed:?}"
    );
    // iam-policy names the statement the caller needs.
    let out = s.run(&["iam-policy"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("sts:AssumeRole"));
    // A bad role ARN is bad input, before any call.
    s.edit_config(|t| t.replace("role/cutover-acct", "user/nope"));
    let out = s.exits(&["status"], 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("aws.role_arn"));
}

#[test]
fn schedule_runs_promote_on_eventbridge_scheduler_and_remove_deletes_it() {
    let s = Stack::new("sched", &[]);
    s.ok(&["provision"], 0);
    let args = [
        "schedule",
        "--image",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/cutover:1",
        "--cluster",
        "ops",
        "--subnets",
        "subnet-1,subnet-2",
        "--role-arn",
        "arn:aws:iam::123456789012:role/cutover-scheduler",
        "--every",
        "5m",
        "--config-path",
        "/etc/cutover/",
    ];
    // Bad input first: exit 2, nothing created.
    let mut bad = args.to_vec();
    let every = bad.len() - 3;
    bad[every] = "30s";
    let out = s.exits(&bad, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--every"));
    let out = s.ok(&args, 0);
    assert!(out.contains("created schedule cutover-sched"), "{out}");
    let sc = aws_sdk_scheduler::Client::new(&s.sdk());
    let ecs = aws_sdk_ecs::Client::new(&s.sdk());
    let (expr, target, td) = Stack::rt().block_on(async {
        let g = sc
            .get_schedule()
            .name("cutover-sched")
            .send()
            .await
            .unwrap();
        let t = g.target().unwrap().clone();
        let td = ecs
            .describe_task_definition()
            .task_definition(t.ecs_parameters().unwrap().task_definition_arn())
            .send()
            .await
            .unwrap();
        (
            g.schedule_expression().unwrap().to_string(),
            t,
            td.task_definition().unwrap().clone(),
        )
    });
    assert_eq!(expr, "rate(5 minutes)");
    assert_eq!(
        target.arn(),
        "arn:aws:ecs:us-east-1:123456789012:cluster/ops"
    );
    assert_eq!(
        target.role_arn(),
        "arn:aws:iam::123456789012:role/cutover-scheduler"
    );
    let p = target.ecs_parameters().unwrap();
    assert_eq!(p.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    assert!(p
        .task_definition_arn()
        .contains("task-definition/cutover-promote-sched:"));
    let c = &td.container_definitions()[0];
    assert_eq!(
        c.image(),
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/cutover:1")
    );
    assert_eq!(c.command(), ["promote", "-c", "/etc/cutover/"]);
    // Idempotent: the same flags change nothing.
    assert!(s.ok(&args, 0).contains("up to date"));
    assert!(s
        .ok(&["plan"], 0)
        .contains("promotion: schedule cutover-sched rate(5 minutes)"));
    let out = s.ok(&["schedule", "--remove"], 0);
    assert!(out.contains("schedule cutover-sched"), "{out}");
    let gone = Stack::rt().block_on(async {
        sc.get_schedule()
            .name("cutover-sched")
            .send()
            .await
            .is_err()
    });
    assert!(gone, "the schedule is still there");
    // The policy allows it all only when asked to (`--schedule-role`), and
    // passes just that role, to EventBridge Scheduler only.
    let role = "arn:aws:iam::123456789012:role/cutover-scheduler";
    let with = ["iam-policy", "--schedule-role", role];
    assert_eq!(crate::policy::denied_for(&s, &with), Vec::<String>::new());
    let without = crate::policy::denied_for(&s, &["iam-policy"]);
    assert!(
        without.contains(&"scheduler:CreateSchedule".to_string()),
        "{without:?}"
    );
    let doc: serde_json::Value = serde_json::from_str(&s.ok(&with, 0)).unwrap();
    let pass: Vec<&serde_json::Value> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["Action"] == "iam:PassRole" && st["Resource"] == role)
        .collect();
    assert_eq!(pass.len(), 1, "{doc}");
    assert_eq!(
        pass[0]["Condition"]["StringEquals"]["iam:PassedToService"],
        "scheduler.amazonaws.com"
    );
    let out = s.exits(&["iam-policy", "--schedule-role", "cutover-scheduler"], 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--schedule-role"));
}
