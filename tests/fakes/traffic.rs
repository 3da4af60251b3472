//! Traffic: ECS listener weights and their read-back, listeners past one
//! page, SageMaker's rule that every weight field is named, a crash between
//! the write-ahead record and the weights (and its repair), and 5xx retries.
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput;
use aws_sdk_sagemaker::operation::update_endpoint_weights_and_capacities::UpdateEndpointWeightsAndCapacitiesOutput;
use aws_smithy_mocks::{mock, Rule};
use cutover::engine::transition::{apply_weights, commit, repair};
use cutover::engine::Ctx;
use cutover::output::Out;
use cutover::providers::{Router, Stack};
use cutover::rollout::{self, Color, Event, Phase, Status, Weights};
use cutover::store::StackDoc;
use elbv2::operation::describe_listeners::DescribeListenersOutput;
use elbv2::operation::describe_load_balancers::DescribeLoadBalancersOutput;
use elbv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use elbv2::operation::describe_target_health::DescribeTargetHealthOutput;
use elbv2::operation::modify_listener::{ModifyListenerError, ModifyListenerOutput};
use elbv2::types as lt;

use crate::harness::{clients, config, rt, Rules, BLUE, GREEN, LB, PROD, TEST};

type Shared = Arc<Mutex<(i32, i32)>>;
/// (variant, desired weight, desired instance count) as UpdateEndpointWeightsAndCapacities named them.
type Named = Arc<Mutex<Vec<(String, Option<f32>, Option<i32>)>>>;

fn forward(b: i32, g: i32) -> lt::Action {
    lt::Action::builder()
        .r#type(lt::ActionTypeEnum::Forward)
        .forward_config(
            lt::ForwardActionConfig::builder()
                .target_groups(
                    lt::TargetGroupTuple::builder()
                        .target_group_arn(BLUE)
                        .weight(b)
                        .build(),
                )
                .target_groups(
                    lt::TargetGroupTuple::builder()
                        .target_group_arn(GREEN)
                        .weight(g)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn listener(arn: &str, port: i32, b: i32, g: i32) -> lt::Listener {
    lt::Listener::builder()
        .listener_arn(arn)
        .load_balancer_arn(LB)
        .port(port)
        .default_actions(forward(b, g))
        .build()
}

/// The load balancer and its target groups, as ELBv2 describes them.
fn stack_rules() -> Vec<Rule> {
    vec![
        mock!(elbv2::Client::describe_load_balancers).then_output(|| {
            DescribeLoadBalancersOutput::builder()
                .load_balancers(
                    lt::LoadBalancer::builder()
                        .load_balancer_arn(LB)
                        .dns_name("127.0.0.9")
                        .build(),
                )
                .build()
        }),
        mock!(elbv2::Client::describe_target_groups)
            .match_requests(|r| r.names().iter().any(|n| n == "iris-blue"))
            .then_output(|| {
                DescribeTargetGroupsOutput::builder()
                    .target_groups(lt::TargetGroup::builder().target_group_arn(BLUE).build())
                    .build()
            }),
        mock!(elbv2::Client::describe_target_groups)
            .match_requests(|r| r.names().iter().any(|n| n == "iris-green"))
            .then_output(|| {
                DescribeTargetGroupsOutput::builder()
                    .target_groups(lt::TargetGroup::builder().target_group_arn(GREEN).build())
                    .build()
            }),
        mock!(elbv2::Client::describe_target_health).then_output(|| {
            let healthy = lt::TargetHealthDescription::builder()
                .target_health(
                    lt::TargetHealth::builder()
                        .state(lt::TargetHealthStateEnum::Healthy)
                        .build(),
                )
                .build();
            DescribeTargetHealthOutput::builder()
                .target_health_descriptions(healthy.clone())
                .target_health_descriptions(healthy)
                .build()
        }),
    ]
}

/// DescribeListeners answered from the shared production weights.
fn listeners_from(state: Shared) -> Rule {
    mock!(elbv2::Client::describe_listeners).then_compute_output(move |_| {
        let (b, g) = *state.lock().unwrap();
        DescribeListenersOutput::builder()
            .listeners(listener(PROD, 80, b, g))
            .listeners(listener(TEST, 8080, 0, 1))
            .build()
    })
}

/// ModifyListener on the production listener records the weights it sets.
fn modify_into(state: Shared) -> Rule {
    mock!(elbv2::Client::modify_listener)
        .match_requests(move |r| {
            if r.listener_arn() == Some(PROD) {
                let tuples = r.default_actions()[0]
                    .forward_config()
                    .unwrap()
                    .target_groups()
                    .to_vec();
                let of = |arn: &str| {
                    tuples
                        .iter()
                        .find(|t| t.target_group_arn() == Some(arn))
                        .and_then(|t| t.weight())
                        .unwrap_or(-1)
                };
                *state.lock().unwrap() = (of(BLUE), of(GREEN));
            }
            true
        })
        .then_output(|| ModifyListenerOutput::builder().build())
}

#[test]
fn ecs_weights_are_set_on_the_right_groups_and_read_back() {
    let state: Shared = Arc::new(Mutex::new((100, 0)));
    let (stack, list, modify) = (
        stack_rules(),
        listeners_from(state.clone()),
        modify_into(state.clone()),
    );
    let mut elb: Vec<&Rule> = stack.iter().collect();
    elb.extend([&list, &modify]);
    let c = clients(Rules {
        elb,
        ..Rules::default()
    });
    let (_d, cfg) = config("ecs");
    let ctx = Ctx::new(&cfg, &c, Out::silent());
    rt().block_on(apply_weights(&ctx, Weights::split(Color::Green, 10)))
        .unwrap();
    assert_eq!(*state.lock().unwrap(), (90, 10));
    assert_eq!(modify.num_calls(), 1);
}

#[test]
fn ecs_weights_that_do_not_read_back_fail_after_one_rewrite() {
    let state: Shared = Arc::new(Mutex::new((100, 0)));
    let stack = stack_rules();
    let list = listeners_from(state.clone());
    // The write is accepted but never shows (a lost or overridden change).
    let modify = modify_into(Arc::new(Mutex::new((0, 0))));
    let mut elb: Vec<&Rule> = stack.iter().collect();
    elb.extend([&list, &modify]);
    let c = clients(Rules {
        elb,
        ..Rules::default()
    });
    let (_d, cfg) = config("ecs");
    let ctx = Ctx::new(&cfg, &c, Out::silent());
    let r = rt().block_on(apply_weights(&ctx, Weights::split(Color::Green, 10)));
    let e = r.unwrap_err().to_string();
    assert!(e.contains("read back as blue 100% / green 0%"), "{e}");
    assert_eq!(modify.num_calls(), 2, "one write, one rewrite");
}

#[test]
fn the_production_listener_is_found_past_one_page() {
    let stack = stack_rules();
    let page1 = mock!(elbv2::Client::describe_listeners)
        .match_requests(|r| r.marker().is_none())
        .then_output(|| {
            DescribeListenersOutput::builder()
                .listeners(listener(TEST, 8080, 0, 1))
                .next_marker("page-2")
                .build()
        });
    let page2 = mock!(elbv2::Client::describe_listeners)
        .match_requests(|r| r.marker() == Some("page-2"))
        .then_output(|| {
            DescribeListenersOutput::builder()
                .listeners(listener(PROD, 80, 3, 1))
                .build()
        });
    let mut elb: Vec<&Rule> = stack.iter().collect();
    elb.extend([&page1, &page2]);
    let c = clients(Rules {
        elb,
        ..Rules::default()
    });
    let (_d, cfg) = config("ecs");
    let ctx = Ctx::new(&cfg, &c, Out::silent());
    let w = rt().block_on(ctx.p.weights()).unwrap();
    assert_eq!(
        w,
        Some(Weights {
            blue: 75,
            green: 25
        })
    );
    assert!(page2.num_calls() >= 1);
}

fn endpoint(blue: f32, green: f32) -> DescribeEndpointOutput {
    use aws_sdk_sagemaker::types::{EndpointStatus, ProductionVariantSummary};
    let v = |name: &str, w: f32, n: i32| {
        ProductionVariantSummary::builder()
            .variant_name(name)
            .current_weight(w)
            .desired_weight(w)
            .current_instance_count(n)
            .desired_instance_count(n)
            .build()
    };
    DescribeEndpointOutput::builder()
        .endpoint_name("iris")
        .endpoint_arn("arn:aws:sagemaker:us-east-1:1:endpoint/iris")
        .endpoint_config_name("iris-1")
        .endpoint_status(EndpointStatus::InService)
        .production_variants(v("blue", blue, 2))
        .production_variants(v("green", green, 1))
        .build()
}

#[test]
fn sagemaker_names_every_field_of_every_variant() {
    let seen: Named = Arc::default();
    let into = seen.clone();
    let describe =
        mock!(aws_sdk_sagemaker::Client::describe_endpoint).then_output(|| endpoint(1.0, 0.0));
    let update = mock!(aws_sdk_sagemaker::Client::update_endpoint_weights_and_capacities)
        .match_requests(move |r| {
            *into.lock().unwrap() = r
                .desired_weights_and_capacities()
                .iter()
                .map(|d| {
                    (
                        d.variant_name().unwrap_or_default().to_string(),
                        d.desired_weight(),
                        d.desired_instance_count(),
                    )
                })
                .collect();
            true
        })
        .then_output(|| UpdateEndpointWeightsAndCapacitiesOutput::builder().build());
    let c = clients(Rules {
        sagemaker: vec![&describe, &update],
        ..Rules::default()
    });
    let (_d, cfg) = config("sagemaker");
    let ctx = Ctx::new(&cfg, &c, Out::silent());
    rt().block_on(ctx.p.set_weights(Weights::split(Color::Green, 10)))
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            ("blue".to_string(), Some(0.9), Some(2)),
            ("green".to_string(), Some(0.1), Some(1)),
        ]
    );
    // CurrentWeight reads back as percentages.
    let moved =
        mock!(aws_sdk_sagemaker::Client::describe_endpoint).then_output(|| endpoint(0.9, 0.1));
    let c = clients(Rules {
        sagemaker: vec![&moved],
        ..Rules::default()
    });
    let ctx = Ctx::new(&cfg, &c, Out::silent());
    assert_eq!(
        rt().block_on(ctx.p.weights()).unwrap(),
        Some(Weights {
            blue: 90,
            green: 10
        })
    );
}

/// A stack with v1 live on blue and v2 ready on green.
fn ready_doc() -> StackDoc {
    let spec = rollout::Spec {
        steps: vec![10, 50, 100],
        bake_ms: 1000,
        termination_wait_ms: 1000,
    };
    let mut s = Status::default();
    for c in [Color::Blue, Color::Green] {
        s = rollout::apply(&spec, &s, Event::Deployed { color: c })
            .unwrap()
            .status;
    }
    StackDoc {
        status: s,
        weights: Some(Weights::all(Color::Blue)),
        ..StackDoc::default()
    }
}

#[test]
fn a_crash_after_the_write_ahead_record_is_repaired_by_what_aws_shows() {
    let spec = rollout::Spec {
        steps: vec![10, 50, 100],
        bake_ms: 1000,
        termination_wait_ms: 1000,
    };
    let saved: Arc<Mutex<Vec<StackDoc>>> = Arc::default();
    let into = saved.clone();
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(move |r| {
            if let Some(doc) = r
                .item()
                .and_then(|i| i.get("doc"))
                .and_then(|d| d.as_s().ok())
            {
                if let Ok(d) = serde_json::from_str::<StackDoc>(doc) {
                    into.lock().unwrap().push(d);
                }
            }
            true
        })
        .then_output(|| PutItemOutput::builder().build());
    let state: Shared = Arc::new(Mutex::new((100, 0)));
    let stack = stack_rules();
    let list = listeners_from(state.clone());
    // The process "dies" at the weights: ModifyListener fails for good.
    let broken = mock!(elbv2::Client::modify_listener).then_error(|| {
        ModifyListenerError::ListenerNotFoundException(
            lt::error::ListenerNotFoundException::builder().build(),
        )
    });
    let mut elb: Vec<&Rule> = stack.iter().collect();
    elb.extend([&list, &broken]);
    let c = clients(Rules {
        elb,
        dynamodb: vec![&put],
        ..Rules::default()
    });
    let (_d, cfg) = config("ecs");
    let ctx = Ctx::new(&cfg, &c, Out::silent());
    let mut doc = ready_doc();
    let mut rev = 4;
    let t = rollout::apply(
        &spec,
        &doc.status,
        Event::Tick {
            now: 1,
            firing: vec![],
        },
    )
    .unwrap();
    assert!(rt()
        .block_on(commit(&ctx, &mut doc, &mut rev, &t, "step"))
        .is_err());
    let pending_doc = saved.lock().unwrap().last().cloned().unwrap();
    let pending = pending_doc.pending.clone().expect("written ahead");
    assert_eq!(pending.weights, Some(Weights::split(Color::Green, 10)));
    assert_eq!(pending_doc.status.phase, Phase::Ready);

    // (a) AWS shows the pending weights: the step took effect; finish it.
    *state.lock().unwrap() = (90, 10);
    let (mut d, mut r) = (pending_doc.clone(), 5);
    assert!(rt().block_on(repair(&ctx, &mut d, &mut r)).unwrap());
    assert_eq!(
        (d.status.phase, d.status.step, d.pending.is_none()),
        (Phase::Shifting, 1, true)
    );
    // (b) AWS still shows the old weights: drop it.
    *state.lock().unwrap() = (100, 0);
    let (mut d, mut r) = (pending_doc.clone(), 5);
    assert!(rt().block_on(repair(&ctx, &mut d, &mut r)).unwrap());
    assert_eq!((d.status.phase, d.pending.is_none()), (Phase::Ready, true));
    // (c) Neither: leave it for the drift check, writing nothing.
    *state.lock().unwrap() = (50, 50);
    let before = saved.lock().unwrap().len();
    let (mut d, mut r) = (pending_doc, 5);
    assert!(!rt().block_on(repair(&ctx, &mut d, &mut r)).unwrap());
    assert!(d.pending.is_some());
    assert_eq!(saved.lock().unwrap().len(), before);
}

#[test]
fn server_errors_are_retried() {
    use aws_sdk_ecs::types::Service;
    let state: Shared = Arc::new(Mutex::new((100, 0)));
    let stack = stack_rules();
    let list = listeners_from(state);
    let services = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_status(500, None)
        .times(2)
        .output(|| {
            let svc = |n: &str| Service::builder().service_name(n).status("ACTIVE").build();
            DescribeServicesOutput::builder()
                .services(svc("iris-blue"))
                .services(svc("iris-green"))
                .build()
        })
        .build();
    let mut elb: Vec<&Rule> = stack.iter().collect();
    elb.push(&list);
    let c = clients(Rules {
        elb,
        ecs: vec![&services],
        ..Rules::default()
    });
    let (_d, cfg) = config("ecs");
    let ctx = Ctx::new(&cfg, &c, Out::silent());
    rt().block_on(ctx.p.ensure_provisioned()).unwrap();
    assert_eq!(services.num_calls(), 3);
}
