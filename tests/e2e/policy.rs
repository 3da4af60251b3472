//! `cutover iam-policy` against the real request log: a whole ECS and a whole
//! SageMaker lifecycle on the emulator, and every call they made must be
//! allowed by the policy the command prints for that config.
use crate::common;

use std::collections::BTreeSet;

use common::Stack;

/// Every action the policy `args` prints allows, as "service:Action".
fn allowed_for(s: &Stack, args: &[&str]) -> BTreeSet<String> {
    let out = s.ok(args, 0);
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
            // S3 operations and the IAM actions that allow them.
            let action = match (prefix, action.as_str()) {
                ("s3", "HeadBucket" | "ListObjectsV2" | "ListObjects") => "ListBucket".into(),
                ("s3", "HeadObject") => "GetObject".into(),
                ("s3", "DeleteObjects") => "DeleteObject".into(),
                _ => action,
            };
            format!("{prefix}:{action}")
        })
        .collect()
}

/// `*` and `?` as IAM matches them.
fn glob(pat: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(st) = star {
            i = st + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// A small evaluator of the policy JSON (Allow statements, Action and
/// Resource globs, StringEquals / ForAllValues:StringEquals conditions
/// against `ctx`; a condition key missing from `ctx` is not met).
fn permits(doc: &serde_json::Value, action: &str, resource: &str, ctx: &[(&str, &str)]) -> bool {
    let list = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => {
                a.iter().map(|x| x.as_str().unwrap().to_string()).collect()
            }
            _ => vec![],
        }
    };
    doc["Statement"].as_array().unwrap().iter().any(|st| {
        list(&st["Action"]).iter().any(|a| glob(a, action))
            && list(&st["Resource"]).iter().any(|r| glob(r, resource))
            && st["Condition"].as_object().is_none_or(|conds| {
                conds.values().all(|kv| {
                    kv.as_object().unwrap().iter().all(|(k, want)| {
                        let want = list(want);
                        let got: Vec<&str> = ctx
                            .iter()
                            .filter(|(ck, _)| ck == k)
                            .map(|(_, v)| *v)
                            .collect();
                        !got.is_empty() && got.iter().all(|g| want.iter().any(|w| w == g))
                    })
                })
            })
    })
}

fn policy_doc(s: &Stack, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&s.ok(args, 0)).unwrap()
}

fn denied(s: &Stack) -> Vec<String> {
    denied_for(s, &["iam-policy"])
}

/// The stack's calls that the policy `args` prints does not allow.
pub(crate) fn denied_for(s: &Stack, args: &[&str]) -> Vec<String> {
    let ok = allowed_for(s, args);
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
    let run_from = s.requests().len();
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
    let run_to = s.requests().len();
    s.ok(&["destroy", "--yes"], 0);
    // The everyday policy allows every call between provision and destroy.
    let run_ok = allowed_for(&s, &["iam-policy", "--for", "run"]);
    let run_denied: Vec<String> = s.requests()[run_from..run_to]
        .iter()
        .map(|(svc, a)| {
            format!(
                "{}:{a}",
                if svc == "monitoring" {
                    "cloudwatch"
                } else {
                    svc
                }
            )
        })
        .filter(|c| !run_ok.contains(c))
        .collect();
    assert_eq!(run_denied, Vec::<String>::new());
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
    // What the policy refuses, by an evaluator of the JSON.
    let full = policy_doc(&s, &["iam-policy"]);
    let run = policy_doc(&s, &["iam-policy", "--for", "run"]);
    let table = "arn:aws:dynamodb:us-east-1:123456789012:table/cutover-iamecs";
    let mine = [("dynamodb:LeadingKeys", "iamecs")];
    assert!(permits(&full, "dynamodb:CreateTable", table, &[]));
    assert!(!permits(&run, "dynamodb:CreateTable", table, &[]));
    assert!(!permits(&run, "dynamodb:DeleteTable", table, &[]));
    assert!(!permits(&run, "dynamodb:Scan", table, &[]));
    assert!(permits(&run, "dynamodb:PutItem", table, &mine));
    assert!(!permits(
        &run,
        "dynamodb:PutItem",
        table,
        &[("dynamodb:LeadingKeys", "other")]
    ));
    assert!(!permits(
        &run,
        "dynamodb:PutItem",
        "arn:aws:dynamodb:us-east-1:1:table/other",
        &mine
    ));
    let svc = |n: &str| format!("arn:aws:ecs:us-east-1:123456789012:service/iamecs-cluster/{n}");
    assert!(permits(&run, "ecs:UpdateService", &svc("iamecs-blue"), &[]));
    assert!(!permits(&run, "ecs:UpdateService", &svc("other-blue"), &[]));
    assert!(!permits(&run, "ecs:TagResource", &svc("other-blue"), &[]));
    assert!(!permits(
        &run,
        "ecs:CreateService",
        &svc("iamecs-blue"),
        &[]
    ));
    let slr = "arn:aws:iam::123456789012:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService";
    assert!(permits(
        &full,
        "iam:CreateServiceLinkedRole",
        slr,
        &[(
            "iam:AWSServiceName",
            "ecs.application-autoscaling.amazonaws.com"
        )]
    ));
    assert!(!permits(
        &full,
        "iam:CreateServiceLinkedRole",
        slr,
        &[("iam:AWSServiceName", "rds.amazonaws.com")]
    ));
    assert!(!permits(
        &full,
        "iam:CreateServiceLinkedRole",
        "arn:aws:iam::1:role/admin",
        &[(
            "iam:AWSServiceName",
            "ecs.application-autoscaling.amazonaws.com"
        )]
    ));
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
    let doc = policy_doc(&s, &["iam-policy"]);
    let sm = "arn:aws:sagemaker:us-east-1:123456789012";
    // No model package group configured: no package can be approved.
    assert!(!permits(
        &doc,
        "sagemaker:UpdateModelPackage",
        &format!("{sm}:model-package/any/1"),
        &[]
    ));
    let mine = [("aws:ResourceTag/cutover:stack", "iamsm")];
    let model = format!("{sm}:model/iamsm-blue-v1-0123456789");
    assert!(permits(&doc, "sagemaker:DeleteModel", &model, &mine));
    assert!(!permits(
        &doc,
        "sagemaker:DeleteModel",
        &model,
        &[("aws:ResourceTag/cutover:stack", "other")]
    ));
    // Stack `iamsm-x`'s models are not `iamsm`'s by name.
    assert!(!permits(
        &doc,
        "sagemaker:CreateModel",
        &format!("{sm}:model/iamsm-x-blue-v1-01"),
        &[]
    ));
    assert!(!permits(
        &doc,
        "sagemaker:UpdateEndpoint",
        &format!("{sm}:endpoint/other"),
        &[]
    ));
    s.edit_config(|t| {
        t.replace(
            "instance_count = 1",
            "instance_count = 1\nmodel_package_group = \"fraud\"",
        )
    });
    let doc = policy_doc(&s, &["iam-policy"]);
    assert!(permits(
        &doc,
        "sagemaker:UpdateModelPackage",
        &format!("{sm}:model-package/fraud/3"),
        &[]
    ));
    assert!(!permits(
        &doc,
        "sagemaker:UpdateModelPackage",
        &format!("{sm}:model-package/other/3"),
        &[]
    ));
}
