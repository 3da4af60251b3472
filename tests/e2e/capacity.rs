//! End-to-end on the emulator: capacity parity before the first step,
//! Application Auto Scaling of both colours (registered, suspended, retired),
//! retirement that waits for draining, and SageMaker variant counts.
use crate::common;

use std::time::{Duration, Instant};

use aws_sdk_applicationautoscaling::types as at;
use common::Stack;

const AUTOSCALING: &str =
    "\n[ecs.autoscaling]\nmin = 1\nmax = 4\nmetric = \"cpu\"\ntarget = 60.0\n";

pub(crate) fn desired(s: &Stack, color: &str) -> i32 {
    let ecs = aws_sdk_ecs::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let out = ecs
            .describe_services()
            .cluster(format!("{}-cluster", s.name))
            .services(format!("{}-{color}", s.name))
            .send()
            .await
            .unwrap();
        out.services()[0].desired_count()
    })
}

pub(crate) fn set_desired(s: &Stack, color: &str, n: i32) {
    let ecs = aws_sdk_ecs::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        ecs.update_service()
            .cluster(format!("{}-cluster", s.name))
            .service(format!("{}-{color}", s.name))
            .desired_count(n)
            .send()
            .await
            .unwrap();
    });
}

/// (min, max, scale-in suspended, scale-out suspended, scheduled suspended) per resource id.
type Target = (i32, i32, bool, bool, bool);

fn targets(s: &Stack, ns: at::ServiceNamespace) -> std::collections::BTreeMap<String, Target> {
    let c = aws_sdk_applicationautoscaling::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        let out = c
            .describe_scalable_targets()
            .service_namespace(ns)
            .send()
            .await
            .unwrap();
        out.scalable_targets()
            .iter()
            .filter(|t| t.resource_id().contains(&format!("/{}", s.name)))
            .map(|t| {
                let st = t.suspended_state();
                let f = |v: Option<bool>| v.unwrap_or(false);
                (
                    t.resource_id().to_string(),
                    (
                        t.min_capacity(),
                        t.max_capacity(),
                        f(st.and_then(|x| x.dynamic_scaling_in_suspended())),
                        f(st.and_then(|x| x.dynamic_scaling_out_suspended())),
                        f(st.and_then(|x| x.scheduled_scaling_suspended())),
                    ),
                )
            })
            .collect()
    })
}

fn ecs_target(s: &Stack, color: &str) -> Option<Target> {
    targets(s, at::ServiceNamespace::Ecs)
        .get(&format!("service/{}-cluster/{}-{color}", s.name, s.name))
        .copied()
}

#[test]
fn candidate_gets_live_capacity_and_autoscaling_follows_the_rollout() {
    let s = Stack::new(
        "parity",
        &["--bake", "60s", "--termination-wait", "1s", "--drain", "2s"],
    );
    s.edit_config(|t| t.replace("desired_count = 2", "desired_count = 1") + AUTOSCALING);
    s.ok(&["check"], 0);
    let plan = s.ok(&["plan"], 0);
    assert!(
        plan.contains("autoscaling of parity-blue: 1..4 tasks, cpu target 60"),
        "{plan}"
    );
    s.ok(&["provision"], 0);
    assert!(s.ok(&["provision"], 0).contains("nothing to change"));

    // Both services are scalable targets with a target-tracking policy; neither serves yet.
    assert_eq!(ecs_target(&s, "blue"), Some((0, 4, true, true, true)));
    assert_eq!(ecs_target(&s, "green"), Some((0, 4, true, true, true)));
    let aas = aws_sdk_applicationautoscaling::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        for color in ["blue", "green"] {
            let p = aas
                .describe_scaling_policies()
                .service_namespace(at::ServiceNamespace::Ecs)
                .resource_id(format!("service/parity-cluster/parity-{color}"))
                .send()
                .await
                .unwrap();
            let tt = p.scaling_policies()[0]
                .target_tracking_scaling_policy_configuration()
                .unwrap();
            assert_eq!(tt.target_value(), 60.0);
            assert_eq!(
                tt.predefined_metric_specification()
                    .unwrap()
                    .predefined_metric_type(),
                &at::MetricType::EcsServiceAverageCpuUtilization
            );
        }
    });

    s.ok(&["deploy", "--version", "v1"], 0);
    assert_eq!(ecs_target(&s, "blue"), Some((1, 4, false, false, false)));
    // Autoscaling (here: a hand change) takes live from 1 to 3 tasks.
    set_desired(&s, "blue", 3);
    s.ok(&["deploy", "--version", "v2"], 0);
    assert_eq!(desired(&s, "green"), 1);
    // The candidate keeps what it gets: scale-in suspended.
    assert_eq!(ecs_target(&s, "green"), Some((1, 4, true, false, false)));

    // The first step raises green to blue's current count and waits for it.
    let o = s.exits(&["shift", "--to", "10"], 0);
    let out = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        out.contains("capacity parity: parity-green 1 -> 3"),
        "{out}"
    );
    assert_eq!(s.elb_weights(), (90, 10));
    assert_eq!(desired(&s, "green"), 3);
    assert!(s.healthy("green") >= 3, "{} healthy", s.healthy("green"));
    // Parity, and the wait for 3 healthy targets, come before the step.
    let parity_at = out.find("capacity parity").unwrap();
    let healthy_at = out.find("healthy targets").unwrap_or(parity_at);
    let step_at = out.find("shift --to 10").unwrap();
    assert!(parity_at <= healthy_at && healthy_at < step_at, "{out}");
    assert_eq!(ecs_target(&s, "green"), Some((1, 4, true, false, false)));
    assert_eq!(ecs_target(&s, "blue"), Some((1, 4, false, false, false)));

    // Complete: green is live and free; blue keeps its capacity for a rollback.
    s.ok(&["shift", "--to", "100"], 0);
    assert_eq!(ecs_target(&s, "green"), Some((1, 4, false, false, false)));
    assert_eq!(ecs_target(&s, "blue"), Some((1, 4, true, false, false)));

    // Retired: blue at 0 with every kind of scaling suspended.
    let start = Instant::now();
    while s.status_json()["rollout"]["state"] != "retired" {
        assert!(start.elapsed() < Duration::from_secs(20), "did not retire");
        std::thread::sleep(Duration::from_millis(300));
        s.ok(&["promote"], 0);
    }
    assert_eq!(desired(&s, "blue"), 0);
    assert_eq!(ecs_target(&s, "blue"), Some((0, 4, true, true, true)));
    assert_eq!(ecs_target(&s, "green"), Some((1, 4, false, false, false)));

    // Destroy deregisters both scalable targets.
    s.ok(&["destroy", "--yes"], 0);
    assert!(targets(&s, at::ServiceNamespace::Ecs).is_empty());
}

#[test]
fn the_old_colour_is_retired_only_after_draining() {
    let s = Stack::new(
        "drain",
        &["--bake", "1s", "--termination-wait", "1s", "--drain", "6s"],
    );
    let plan = s.ok(&["plan"], 0);
    assert!(
        plan.contains("then 6s before the old colour is retired (deregistration_delay 6s outlasts termination_wait 1s)"),
        "{plan}"
    );
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    // Taken before the weights move, so it is no later than the recorded moment.
    let zero = Instant::now();
    s.ok(&["shift", "--to", "100"], 0);
    assert_eq!(s.elb_weights(), (0, 100));
    let mut ticks = 0;
    // termination_wait (1s) is over long before the delay (6s): blue stays.
    while zero.elapsed() < Duration::from_millis(5600) {
        let out = s.ok(&["promote"], 0);
        if zero.elapsed() < Duration::from_secs(6) {
            assert!(out.contains("nothing due"), "{out}");
            assert_eq!(desired(&s, "blue"), 2, "blue scaled down while draining");
            assert_eq!(s.status_json()["rollout"]["state"], "complete");
            ticks += 1;
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(ticks >= 5, "only {ticks} ticks inside the delay");
    std::thread::sleep(Duration::from_millis(600));
    let out = s.ok(&["promote"], 0);
    assert!(out.contains("retire blue"), "{out}");
    assert_eq!(desired(&s, "blue"), 0);
    assert_eq!(s.status_json()["rollout"]["state"], "retired");
}

#[test]
fn sagemaker_candidate_follows_the_live_variant_count() {
    let s = Stack::new(
        "smcap",
        &[
            "--provider",
            "sagemaker",
            "--bake",
            "0s",
            "--termination-wait",
            "0s",
        ],
    );
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    let sm = aws_sdk_sagemaker::Client::new(&s.sdk());
    let counts = || {
        Stack::rt().block_on(async {
            let d = sm
                .describe_endpoint()
                .endpoint_name("smcap")
                .send()
                .await
                .unwrap();
            let status = d.endpoint_status().unwrap().as_str().to_string();
            let v: std::collections::BTreeMap<String, i32> = d
                .production_variants()
                .iter()
                .map(|v| {
                    (
                        v.variant_name().unwrap().to_string(),
                        v.current_instance_count().unwrap_or(-1),
                    )
                })
                .collect();
            (status, v)
        })
    };
    // Outside change: blue from 1 to 2 instances.
    Stack::rt().block_on(async {
        sm.update_endpoint_weights_and_capacities()
            .endpoint_name("smcap")
            .desired_weights_and_capacities(
                aws_sdk_sagemaker::types::DesiredWeightAndCapacity::builder()
                    .variant_name("blue")
                    .desired_weight(1.0)
                    .desired_instance_count(2)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let start = Instant::now();
    while counts().0 != "InService" || counts().1.get("blue") != Some(&2) {
        assert!(start.elapsed() < Duration::from_secs(20), "{:?}", counts());
        std::thread::sleep(Duration::from_millis(200));
    }
    s.ok(&["deploy", "--version", "v2"], 0);
    let (_, v) = counts();
    assert_eq!(v.get("green"), Some(&2), "{v:?}");
    assert_eq!(v.get("blue"), Some(&2), "live count kept: {v:?}");

    // Variant autoscaling on green survives the update that removes blue.
    let aas = aws_sdk_applicationautoscaling::Client::new(&s.sdk());
    Stack::rt().block_on(async {
        aas.register_scalable_target()
            .service_namespace(at::ServiceNamespace::Sagemaker)
            .resource_id("endpoint/smcap/variant/green")
            .scalable_dimension(at::ScalableDimension::SageMakerVariantDesiredInstanceCount)
            .min_capacity(1)
            .max_capacity(3)
            .send()
            .await
            .unwrap();
    });
    s.ok(&["shift"], 0);
    let before = s.requests().len();
    s.ok(&["promote"], 0);
    assert_eq!(s.status_json()["rollout"]["state"], "retired");
    let (_, v) = counts();
    assert_eq!(v.keys().collect::<Vec<_>>(), vec!["green"], "{v:?}");
    let calls: Vec<String> = s.requests()[before..]
        .iter()
        .map(|(_, a)| a.clone())
        .collect();
    let pos = |a: &str| calls.iter().position(|c| c == a);
    let (dereg, update, reg) = (
        pos("DeregisterScalableTarget").expect("deregistered"),
        pos("UpdateEndpoint").expect("updated"),
        calls
            .iter()
            .rposition(|c| c == "RegisterScalableTarget")
            .expect("registered again"),
    );
    assert!(dereg < update && update < reg, "{calls:?}");
    let t = targets(&s, at::ServiceNamespace::Sagemaker);
    assert_eq!(
        t.get("endpoint/smcap/variant/green").map(|t| (t.0, t.1)),
        Some((1, 3)),
        "{t:?}"
    );
}

/// `scale_down_after_rollback`: a later tick scales the rolled-back
/// candidate to 0 (journaled), not before the delay; the next deploy starts
/// from a clean colour.
#[test]
fn a_rolled_back_candidate_is_scaled_down_after_the_delay() {
    let s = Stack::new(
        "sdown",
        &["--bake", "1s", "--poll", "200ms", "--drain", "1s"],
    );
    s.edit_config(|t| {
        t.replace(
            "[rollout]\n",
            "[rollout]\nscale_down_after_rollback = \"3s\"\n",
        )
    });
    s.ok(&["provision"], 0);
    s.ok(&["deploy", "--version", "v1"], 0);
    s.ok(&["deploy", "--version", "v2"], 0);
    s.ok(&["shift", "--to", "10"], 0);
    s.ok(&["rollback"], 0);
    assert_eq!(desired(&s, "green"), 2);
    assert!(s.status_json()["rollout"]["scale_down_due"].is_u64());
    let out = s.ok(&["promote"], 0);
    assert!(out.contains("nothing due"), "{out}");
    assert_eq!(desired(&s, "green"), 2, "scaled down before the delay");
    std::thread::sleep(Duration::from_millis(3200));
    let out = s.ok(&["promote"], 0);
    assert!(out.contains("scaled the rolled-back green to 0"), "{out}");
    assert_eq!(desired(&s, "green"), 0);
    assert_eq!(desired(&s, "blue"), 2);
    assert_eq!(s.elb_weights(), (100, 0));
    assert!(s
        .ok(&["history"], 0)
        .contains("scaled the rolled-back green"));
    assert!(s.ok(&["promote"], 0).contains("nothing due"));
    // A new deploy brings the colour back.
    s.ok(&["deploy", "--version", "v3"], 0);
    assert_eq!(desired(&s, "green"), 2);
    assert_eq!(s.status_json()["rollout"]["state"], "ready");
    // SageMaker has no such setting.
    std::fs::write(
        s.dir.path().join("sm.toml"),
        "name = \"sdownsm\"\nprovider = \"sagemaker\"\nregion = \"us-east-1\"\n[sagemaker]\nexecution_role_arn = \"arn:aws:iam::123456789012:role/sm\"\nimage = \"i\"\ninstance_type = \"ml.m5.large\"\n[rollout]\nsteps = [100]\nscale_down_after_rollback = \"1m\"\n",
    )
    .unwrap();
    let err = s.exits_with_env(&["-c", "sm.toml", "check"], &[], 2);
    assert!(err.contains("scale_down_after_rollback"), "{err}");
}
