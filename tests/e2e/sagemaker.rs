//! End-to-end on the emulator: the SageMaker provider (two production
//! variants of one endpoint), checked through DescribeEndpoint itself.
use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sagemaker::types as st;
use common::{is_read_only, Stack};

fn sm(s: &Stack) -> aws_sdk_sagemaker::Client {
    aws_sdk_sagemaker::Client::new(&s.sdk())
}

/// (CurrentWeight, DesiredWeight, CurrentInstanceCount) of one variant.
pub(crate) type VariantView = (Option<f32>, Option<f32>, Option<i32>);

/// Variants as SageMaker reports them.
pub(crate) fn variants(s: &Stack) -> BTreeMap<String, VariantView> {
    let c = sm(s);
    Stack::rt().block_on(async {
        let d = c
            .describe_endpoint()
            .endpoint_name(&s.name)
            .send()
            .await
            .unwrap();
        d.production_variants()
            .iter()
            .map(|v| {
                (
                    v.variant_name().unwrap().to_string(),
                    (
                        v.current_weight(),
                        v.desired_weight(),
                        v.current_instance_count(),
                    ),
                )
            })
            .collect()
    })
}

fn endpoint_exists(s: &Stack) -> bool {
    let c = sm(s);
    Stack::rt().block_on(async {
        c.describe_endpoint()
            .endpoint_name(&s.name)
            .send()
            .await
            .is_ok()
    })
}

#[test]
fn sagemaker_lifecycle() {
    let s = Stack::new(
        "smlife",
        &[
            "--provider",
            "sagemaker",
            "--bake",
            "20s",
            "--poll",
            "200ms",
            "--termination-wait",
            "1s",
        ],
    );
    s.ok(&["check"], 0);
    // Before the first deploy, provision creates only the state table (and alarms).
    s.ok(&["provision"], 0);
    assert!(!endpoint_exists(&s));
    let before = s.requests().len();
    assert!(s.ok(&["provision"], 0).contains("nothing to change"));
    assert!(s.requests()[before..].iter().all(|(_, a)| is_read_only(a)));

    // First deploy creates the endpoint with one variant at 100%.
    s.ok(&["deploy", "--version", "v1.0"], 0);
    let v = variants(&s);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v["blue"].0, Some(1.0));
    let c = sm(&s);
    // Model names carry a hash of what they hold: `<stack>-<colour>-<version>-<hash>`.
    let blue_model = s.status_json()["artifacts"]["blue"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(blue_model.starts_with("smlife-blue-v1-0-"), "{blue_model}");
    Stack::rt().block_on(async {
        assert!(c
            .describe_model()
            .model_name(&blue_model)
            .send()
            .await
            .is_ok());
        let d = c
            .describe_endpoint()
            .endpoint_name("smlife")
            .send()
            .await
            .unwrap();
        let tags = c
            .list_tags()
            .resource_arn(d.endpoint_arn().unwrap())
            .send()
            .await
            .unwrap();
        assert!(tags
            .tags()
            .iter()
            .any(|t| t.key() == Some("cutover:stack") && t.value() == Some("smlife")));
    });
    assert!(s.ok(&["provision"], 0).contains("nothing to change"));

    // Second deploy: green variant at weight 0 (not null), blue still 100%.
    s.ok(&["deploy", "--version", "v2.0"], 0);
    let v = variants(&s);
    assert_eq!(v["blue"].0, Some(1.0), "{v:?}");
    assert_eq!(v["green"].0, Some(0.0), "{v:?}");
    assert_eq!(v["green"].1, Some(0.0), "{v:?}");

    // Staged weights, read through DescribeEndpoint; instance counts kept.
    s.ok(&["shift", "--to", "10"], 0);
    let v = variants(&s);
    assert_eq!((v["blue"].0, v["green"].0), (Some(0.9), Some(0.1)), "{v:?}");
    assert_eq!((v["blue"].1, v["green"].1), (Some(0.9), Some(0.1)), "{v:?}");
    assert_eq!(
        (v["blue"].2, v["green"].2),
        (Some(1), Some(1)),
        "instance counts wiped: {v:?}"
    );

    // An alarm mid-bake rolls back.
    let child = s.spawn_shift();
    s.wait_for_state("shifting");
    std::thread::sleep(Duration::from_millis(300));
    s.set_alarm("smlife-5xx", "ALARM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = variants(&s);
    assert_eq!((v["blue"].0, v["green"].0), (Some(1.0), Some(0.0)), "{v:?}");
    s.set_alarm("smlife-5xx", "OK");

    // A new deploy, a full shift, then retirement removes the old variant.
    s.ok(&["deploy", "--version", "v3"], 0);
    s.edit_config(|t| t.replace("bake = \"20s\"", "bake = \"0s\""));
    s.ok(&["shift"], 0);
    let v = variants(&s);
    assert_eq!((v["blue"].0, v["green"].0), (Some(0.0), Some(1.0)), "{v:?}");
    std::thread::sleep(Duration::from_millis(1100));
    s.ok(&["promote"], 0);
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "retired", "{st}");
    let v = variants(&s);
    assert_eq!(
        v.keys().cloned().collect::<Vec<_>>(),
        vec!["green".to_string()],
        "{v:?}"
    );
    let green_model = s.status_json()["artifacts"]["green"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(green_model.starts_with("smlife-green-v3-"), "{green_model}");
    Stack::rt().block_on(async {
        // The retired colour's model is gone; the live one stays.
        assert!(c
            .describe_model()
            .model_name(&blue_model)
            .send()
            .await
            .is_err());
        assert!(c
            .describe_model()
            .model_name(&green_model)
            .send()
            .await
            .is_ok());
    });

    s.ok(&["destroy", "--yes"], 0);
    assert!(!endpoint_exists(&s));
}

#[test]
fn silent_update_rollback_fails_loudly() {
    let s = Stack::new("smsilent", &["--provider", "sagemaker"]);
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    let _ = common::http_post(
        s.emu.port,
        &format!("/_emulator/sagemaker/fail-next-update/{}", s.name),
    );
    let out = s.exits(&["deploy", "--version", "v2"], 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rolled the update") && err.contains("back silently"),
        "{err}"
    );
    // Nothing was recorded as deployed, and production is untouched.
    let st = s.status_json();
    assert_eq!(st["rollout"]["state"], "idle");
    assert_eq!(variants(&s)["blue"].0, Some(1.0));
}

#[test]
fn model_registry_picks_newest_approved() {
    let s = Stack::new("smreg", &["--provider", "sagemaker"]);
    let c = sm(&s);
    Stack::rt().block_on(async {
        c.create_model_package_group()
            .model_package_group_name("fraud-models")
            .send()
            .await
            .unwrap();
        for (tag, status) in [
            ("p1", st::ModelApprovalStatus::Approved),
            ("p2", st::ModelApprovalStatus::Approved),
            ("p3", st::ModelApprovalStatus::PendingManualApproval),
            ("p4", st::ModelApprovalStatus::Rejected),
        ] {
            let spec = st::InferenceSpecification::builder()
                .containers(
                    st::ModelPackageContainerDefinition::builder()
                        .image(format!(
                            "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:{tag}"
                        ))
                        .model_data_url(format!("s3://models/fraud/{tag}/model.tar.gz"))
                        .build(),
                )
                .supported_content_types("application/json")
                .supported_response_mime_types("application/json")
                .build();
            c.create_model_package()
                .model_package_group_name("fraud-models")
                .inference_specification(spec)
                .model_approval_status(status)
                .send()
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    s.ok(&["provision"], 0);
    // Unknown group: exit 2 and no AWS change.
    let before = s.requests().len();
    let out = s.exits(&["deploy", "--model-package-group", "nope"], 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"nope\""));
    assert!(s.requests()[before..].iter().all(|(_, a)| is_read_only(a)));

    s.ok(&["deploy", "--model-package-group", "fraud-models"], 0);
    let st = s.status_json();
    assert_eq!(st["versions"]["blue"], "fraud-models/2", "{st}");
    let model = st["artifacts"]["blue"].as_str().unwrap().to_string();
    assert!(model.starts_with("smreg-blue-fraud-models-2-"), "{model}");
    Stack::rt().block_on(async {
        let m = c.describe_model().model_name(&model).send().await.unwrap();
        assert_eq!(
            m.primary_container().unwrap().image(),
            Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:p2")
        );
    });
    // The live package is marked on the registry, and unmarked once replaced.
    let live_mark = || {
        Stack::rt().block_on(async {
            let list = c
                .list_model_packages()
                .model_package_group_name("fraud-models")
                .send()
                .await
                .unwrap();
            let arn = list
                .model_package_summary_list()
                .iter()
                .find(|p| p.model_package_version() == Some(2))
                .and_then(|p| p.model_package_arn())
                .unwrap()
                .to_string();
            let d = c
                .describe_model_package()
                .model_package_name(arn)
                .send()
                .await
                .unwrap();
            assert_eq!(
                d.model_approval_status(),
                Some(&st::ModelApprovalStatus::Approved)
            );
            d.customer_metadata_properties()
                .and_then(|p| p.get("cutover:live").cloned())
        })
    };
    assert_eq!(live_mark().as_deref(), Some("smreg"));
    s.ok(&["deploy", "--version", "v9"], 0);
    assert_eq!(live_mark().as_deref(), Some("smreg"));
    s.ok(&["shift", "--to", "100"], 0);
    assert_eq!(live_mark(), None);
    s.ok(&["rollback"], 0);
    assert_eq!(live_mark().as_deref(), Some("smreg"));
}

#[test]
fn sagemaker_bad_config_is_exit_2() {
    let s = Stack::new("smbad", &["--provider", "sagemaker"]);
    let good = std::fs::read_to_string(s.config()).unwrap();
    for (edit, needle) in [
        (
            good.replace(
                "execution_role_arn = \"arn:aws:iam::123456789012:role/sm\"\n",
                "",
            ),
            "sagemaker.execution_role_arn",
        ),
        (
            good.replace("instance_count = 1", "instance_count = 0"),
            "sagemaker.instance_count",
        ),
    ] {
        std::fs::write(s.config(), edit).unwrap();
        let out = s.exits(&["deploy", "--version", "v1"], 2);
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle));
    }
    assert!(s.requests().is_empty());
}

#[test]
fn variant_alarms_use_endpoint_and_variant_dimensions() {
    let s = Stack::new("smalarm", &["--provider", "sagemaker"]);
    s.edit_config(|t| {
        t + "\n[[alarms.create]]\nname = \"{{ name }}-{{ color }}-5xx\"\nmetric = \"Invocation5XXErrors\"\nthreshold = 1\n"
    });
    s.ok(&["provision"], 0);
    let cw = aws_sdk_cloudwatch::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        for color in ["blue", "green"] {
            let out = cw
                .describe_alarms()
                .alarm_names(format!("smalarm-{color}-5xx"))
                .send()
                .await
                .unwrap();
            let a = &out.metric_alarms()[0];
            assert_eq!(a.namespace(), Some("AWS/SageMaker"));
            let dims: Vec<_> = a
                .dimensions()
                .iter()
                .map(|d| {
                    (
                        d.name().unwrap().to_string(),
                        d.value().unwrap().to_string(),
                    )
                })
                .collect();
            assert!(
                dims.contains(&("EndpointName".into(), "smalarm".into())),
                "{dims:?}"
            );
            assert!(
                dims.contains(&("VariantName".into(), color.into())),
                "{dims:?}"
            );
        }
    });
    assert!(s.ok(&["provision"], 0).contains("nothing to change"));
    // The candidate's alarm blocks the start of its rollout.
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.set_alarm("smalarm-green-5xx", "ALARM");
    let out = s.exits(&["shift"], 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("smalarm-green-5xx"));
    // Destroy removes the managed alarms too.
    s.ok(&["destroy", "--yes"], 0);
    Stack::rt().block_on(async {
        let out = cw
            .describe_alarms()
            .alarm_names("smalarm-blue-5xx")
            .send()
            .await
            .unwrap();
        assert!(out.metric_alarms().is_empty());
    });
}
