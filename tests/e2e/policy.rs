//! `cutover iam-policy` against the real request log: a whole ECS and a whole
//! SageMaker lifecycle on the emulator, and every call they made must be
//! allowed by the policy the command prints for that config.
use crate::common;

use std::collections::BTreeSet;

use common::Stack;

/// Every action the policy allows, as "service:Action".
fn allowed(s: &Stack) -> BTreeSet<String> {
    let out = s.ok(&["iam-policy"], 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut set = BTreeSet::new();
    for st in doc["Statement"].as_array().unwrap() {
        assert_eq!(st["Effect"], "Allow");
        match &st["Action"] {
            serde_json::Value::String(a) => {
                set.insert(a.clone());
            }
            serde_json::Value::Array(v) => {
                for a in v {
                    let a = a.as_str().unwrap();
                    assert!(!a.contains('*'), "wildcard action {a}");
                    set.insert(a.to_string());
                }
            }
            other => panic!("{other}"),
        }
    }
    set
}

/// The stack's own calls, as IAM actions.
fn called(s: &Stack) -> BTreeSet<String> {
    s.requests()
        .into_iter()
        .map(|(service, action)| {
            let prefix = match service.as_str() {
                "monitoring" => "cloudwatch",
                other => other,
            };
            format!("{prefix}:{action}")
        })
        .collect()
}

fn denied(s: &Stack) -> Vec<String> {
    let ok = allowed(s);
    called(s).into_iter().filter(|c| !ok.contains(c)).collect()
}

#[test]
fn the_policy_allows_every_call_of_an_ecs_lifecycle() {
    let s = Stack::new(
        "iamecs",
        &[
            "--bake",
            "21s",
            "--poll",
            "500ms",
            "--steps",
            "50, 100",
            "--termination-wait",
            "1s",
        ],
    );
    s.edit_config(|t| {
        t + "\n[[alarms.create]]\nname = \"{{ name }}-{{ color }}-5xx\"\nmetric = \"HTTPCode_Target_5XX_Count\"\nthreshold = 5\n\n[judge]\nperiod = \"10s\"\nmin_points = 2\ndry_run = true\n\n[notify]\neventbridge_bus = \"default\"\n\n[validate]\npayload = '{\"data\": [[5.1, 3.5, 1.4, 0.2]]}'\n\n[ecs.autoscaling]\nmin = 1\nmax = 3\nmetric = \"requests\"\ntarget = 100.0\n"
    });
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.ok(&["shift"], 0);
    s.ok(&["rollback"], 0);
    s.ok(&["deploy", "--version", "v3"], 0);
    s.ok(&["shift", "--to", "100"], 0);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    s.ok(&["promote"], 0);
    s.ok(&["status"], 0);
    s.ok(&["history"], 0);
    s.ok(&["destroy", "--yes"], 0);
    let calls = called(&s);
    assert!(
        calls.contains("elasticloadbalancing:ModifyListener"),
        "{calls:?}"
    );
    assert!(calls.contains("cloudwatch:GetMetricData"), "{calls:?}");
    assert!(calls.contains("events:PutEvents"), "{calls:?}");
    assert!(
        calls.contains("application-autoscaling:RegisterScalableTarget")
            && calls.contains("application-autoscaling:DeregisterScalableTarget"),
        "{calls:?}"
    );
    assert_eq!(denied(&s), Vec::<String>::new());
    // Scoped: the table, the stack's names, the alarms it creates.
    let out = s.ok(&["iam-policy"], 0);
    assert!(out.contains("table/cutover-iamecs"), "{out}");
    assert!(out.contains("targetgroup/iamecs-blue/*"), "{out}");
    assert!(out.contains("alarm:iamecs-green-5xx"), "{out}");
    assert!(out.contains("event-bus/default"), "{out}");
    assert!(
        !out.contains("iam:PassRole"),
        "no role in the task definition: {out}"
    );
}

#[test]
fn the_policy_allows_every_call_of_a_sagemaker_lifecycle() {
    let s = Stack::new(
        "iamsm",
        &["--provider", "sagemaker", "--termination-wait", "1s"],
    );
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.ok(&["validate"], 2);
    s.ok(&["shift", "--to", "100"], 0);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    s.ok(&["promote"], 0);
    s.ok(&["destroy", "--yes"], 0);
    assert_eq!(denied(&s), Vec::<String>::new());
    let out = s.ok(&["iam-policy"], 0);
    assert!(out.contains("\"iam:PassRole\""), "{out}");
    assert!(out.contains("sagemaker.amazonaws.com"), "{out}");
    assert!(out.contains("endpoint/iamsm"), "{out}");
    assert!(!out.contains("events:PutEvents"), "no [notify] bus: {out}");
}
