//! Traffic: ECS listener weights and their read-back, listeners past one
//! page, SageMaker's rule that every weight field is named, a crash between
//! the write-ahead record and the weights (and its repair), and 5xx retries.
use std::sync::{Arc, Mutex};

use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput;
use aws_sdk_sagemaker::operation::update_endpoint_weights_and_capacities::UpdateEndpointWeightsAndCapacitiesOutput;
use aws_smithy_mocks::{mock, Rule};
use cutover::engine::transition::{apply_weights, commit, repair};
use cutover::engine::Ctx;
use cutover::error::Error;
use cutover::output::Out;
use cutover::providers::{Router, Stack};
use cutover::rollout::{self, Color, Event, Phase, Status, Weights};
use cutover::store::StackDoc;
use elbv2::operation::describe_listeners::DescribeListenersOutput;
use elbv2::operation::describe_load_balancers::DescribeLoadBalancersOutput;
use elbv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use elbv2::operation::describe_target_health::DescribeTargetHealthOutput;
use elbv2::operation::modify_listener::ModifyListenerOutput;
use elbv2::types as lt;

use crate::harness::{clients, config, put_recorded, Rules, Writes, BLUE, GREEN, LB, PROD, TEST};

/// The production listener's (blue, green) weights as DescribeListeners shows them.
type Shown = Arc<Mutex<(i32, i32)>>;
/// Each ModifyListener: (listener ARN, action type, [(target group ARN, weight)]).
type Modified = Arc<Mutex<Vec<(String, String, Vec<(String, i32)>)>>>;
/// Each UpdateEndpointWeightsAndCapacities entry: (variant, weight, instance count).
type Named = Arc<Mutex<Vec<(Option<String>, Option<f32>, Option<i32>)>>>;

fn w(blue: u8, green: u8) -> Weights {
    Weights { blue, green }
}

fn forward(b: i32, g: i32) -> lt::Action {
    let tuple = |arn: &str, weight: i32| {
        lt::TargetGroupTuple::builder()
            .target_group_arn(arn)
            .weight(weight)
            .build()
    };
    lt::Action::builder()
        .r#type(lt::ActionTypeEnum::Forward)
        .forward_config(
            lt::ForwardActionConfig::builder()
                .target_groups(tuple(BLUE, b))
                .target_groups(tuple(GREEN, g))
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

/// The load balancer, its two target groups (looked up by name) and two
/// healthy targets in each, as ELBv2 describes them.
fn stack_rules() -> Vec<Rule> {
    vec![
        mock!(elbv2::Client::describe_load_balancers)
            .match_requests(|r| r.names() == ["iris"])
            .then_output(|| {
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
            .match_requests(|r| r.names() == ["iris-blue"])
            .then_output(|| {
                DescribeTargetGroupsOutput::builder()
                    .target_groups(lt::TargetGroup::builder().target_group_arn(BLUE).build())
                    .build()
            }),
        mock!(elbv2::Client::describe_target_groups)
            .match_requests(|r| r.names() == ["iris-green"])
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

/// DescribeListeners (one page) answered from the shared production weights.
fn listeners_from(shown: Shown) -> Rule {
    mock!(elbv2::Client::describe_listeners)
        .match_requests(|r| r.load_balancer_arn() == Some(LB))
        .then_compute_output(move |_| {
            let (b, g) = *shown.lock().unwrap();
            DescribeListenersOutput::builder()
                .listeners(listener(PROD, 80, b, g))
                .listeners(listener(TEST, 8080, 0, 1))
                .build()
        })
}

/// ModifyListener: accepted, recorded in `seen`, and (when `applies`) what
/// the production listener shows from then on.
fn modify_listener(seen: Modified, shown: Option<Shown>) -> Rule {
    mock!(elbv2::Client::modify_listener)
        .match_requests(move |r| {
            let action = &r.default_actions()[0];
            let tuples: Vec<(String, i32)> = action
                .forward_config()
                .map(|f| f.target_groups())
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    (
                        t.target_group_arn().unwrap_or_default().to_string(),
                        t.weight().unwrap_or(-1),
                    )
                })
                .collect();
            let arn = r.listener_arn().unwrap_or_default().to_string();
            if let (Some(shown), true, [(_, b), (_, g)]) = (&shown, arn == PROD, &tuples[..]) {
                *shown.lock().unwrap() = (*b, *g);
            }
            let kind = action.r#type().map(|t| t.as_str()).unwrap_or_default();
            seen.lock().unwrap().push((arn, kind.to_string(), tuples));
            true
        })
        .then_output(|| ModifyListenerOutput::builder().build())
}

fn ecs_elb_rules<'a>(stack: &'a [Rule], more: &[&'a Rule]) -> Vec<&'a Rule> {
    stack.iter().chain(more.iter().copied()).collect()
}

#[tokio::test]
async fn ecs_weights_are_set_on_the_right_groups_and_read_back() {
    let shown: Shown = Arc::new(Mutex::new((100, 0)));
    let seen: Modified = Arc::default();
    let stack = stack_rules();
    let list = listeners_from(shown.clone());
    let modify = modify_listener(seen.clone(), Some(shown.clone()));
    let c = clients(Rules {
        elb: ecs_elb_rules(&stack, &[&list, &modify]),
        ..Rules::default()
    });
    let (_d, cfg) = config("ecs");
    let ctx = Ctx::new(&cfg, &c, Out::silent());

    apply_weights(&ctx, w(90, 10)).await.unwrap();

    // One write, on the production listener, forwarding 90/10 to blue/green.
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(
            PROD.to_string(),
            "forward".to_string(),
            vec![(BLUE.to_string(), 90), (GREEN.to_string(), 10)]
        )]
    );
    // The ARNs lookup read the listeners once; the read-back read them again.
    assert!(list.num_calls() >= 2, "{}", list.num_calls());
    assert_eq!(*shown.lock().unwrap(), (90, 10));
}

#[tokio::test]
async fn ecs_weights_that_never_read_back_fail_after_one_rewrite() {
    // ModifyListener is accepted, but the listener keeps showing 100/0 (a
    // lost or overridden change): no amount of "success" answers is enough.
    let shown: Shown = Arc::new(Mutex::new((100, 0)));
    let seen: Modified = Arc::default();
    let stack = stack_rules();
    let list = listeners_from(shown.clone());
    let modify = modify_listener(seen.clone(), None);
    let c = clients(Rules {
        elb: ecs_elb_rules(&stack, &[&list, &modify]),
        ..Rules::default()
    });
    let (_d, cfg) = config("ecs");
    let ctx = Ctx::new(&cfg, &c, Out::silent());

    let started = std::time::Instant::now();
    let e = apply_weights(&ctx, w(90, 10)).await.unwrap_err();
    assert!(matches!(e, Error::Failed(_)), "{e:?}");
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.to_string()
            .contains("read back as blue 100% / green 0% after setting blue 90% / green 10%"),
        "{e}"
    );
    assert!(started.elapsed() >= ctx.router.settle_timeout());
    // The first write, then one rewrite half-way through the settle time.
    assert_eq!(modify.num_calls(), 2);
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .all(|(arn, _, t)| arn == PROD && t == &[(BLUE.to_string(), 90), (GREEN.to_string(), 10)]));
    assert!(list.num_calls() >= 3, "read back more than once");
}

#[tokio::test]
async fn the_production_listener_is_found_past_one_page() {
    let stack = stack_rules();
    let page1 = mock!(elbv2::Client::describe_listeners)
        .match_requests(|r| r.load_balancer_arn() == Some(LB) && r.marker().is_none())
        .then_output(|| {
            DescribeListenersOutput::builder()
                .listeners(listener(TEST, 8080, 0, 1))
                .next_marker("page-2")
                .build()
        });
    let page2 = mock!(elbv2::Client::describe_listeners)
        .match_requests(|r| r.load_balancer_arn() == Some(LB) && r.marker() == Some("page-2"))
        .then_output(|| {
            DescribeListenersOutput::builder()
                .listeners(listener(PROD, 80, 3, 1))
                .build()
        });
    let c = clients(Rules {
        elb: ecs_elb_rules(&stack, &[&page1, &page2]),
        ..Rules::default()
    });
    let (_d, cfg) = config("ecs");
    let ctx = Ctx::new(&cfg, &c, Out::silent());

    // Relative ALB weights 3:1 on the listener of page 2.
    assert_eq!(ctx.router.weights().await.unwrap(), Some(w(75, 25)));
    assert!(page1.num_calls() >= 1);
    assert_eq!(
        page1.num_calls(),
        page2.num_calls(),
        "every walk reached page 2"
    );
}

/// The endpoint with blue and green variants at these current weights;
/// blue runs 3 instances, green 2 (the config's instance_count is 1).
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
        .production_variants(v("blue", blue, 3))
        .production_variants(v("green", green, 2))
        .build()
}

#[tokio::test]
async fn sagemaker_names_every_field_of_every_variant() {
    let seen: Named = Arc::default();
    let into = seen.clone();
    let describe = mock!(aws_sdk_sagemaker::Client::describe_endpoint)
        .match_requests(|r| r.endpoint_name() == Some("iris"))
        .then_output(|| endpoint(1.0, 0.0));
    let update = mock!(aws_sdk_sagemaker::Client::update_endpoint_weights_and_capacities)
        .match_requests(move |r| {
            assert_eq!(r.endpoint_name(), Some("iris"));
            *into.lock().unwrap() = r
                .desired_weights_and_capacities()
                .iter()
                .map(|d| {
                    (
                        d.variant_name().map(String::from),
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

    ctx.router.set_weights(w(90, 10)).await.unwrap();
    assert_eq!(update.num_calls(), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (Some("blue".to_string()), Some(0.9), Some(3)),
            (Some("green".to_string()), Some(0.1), Some(2)),
        ]
    );
    // Before any change is applied, CurrentWeight still says 100/0.
    assert_eq!(ctx.router.weights().await.unwrap(), Some(w(100, 0)));
}

#[tokio::test]
async fn sagemaker_current_weights_read_back_as_percentages() {
    for ((blue, green), want) in [
        ((0.9, 0.1), Some(w(90, 10))),
        ((3.0, 1.0), Some(w(75, 25))),
        ((0.0, 1.0), Some(w(0, 100))),
        ((0.0, 0.0), None),
    ] {
        let describe = mock!(aws_sdk_sagemaker::Client::describe_endpoint)
            .then_output(move || endpoint(blue, green));
        let c = clients(Rules {
            sagemaker: vec![&describe],
            ..Rules::default()
        });
        let (_d, cfg) = config("sagemaker");
        let ctx = Ctx::new(&cfg, &c, Out::silent());
        assert_eq!(ctx.router.weights().await.unwrap(), want, "{blue}/{green}");
        assert_eq!(describe.num_calls(), 1);
    }
}

fn spec() -> rollout::Spec {
    rollout::Spec {
        steps: vec![10, 50, 100],
        bake_ms: 1000,
        termination_wait_ms: 1000,
        pauses: vec![],
        drain_ms: 0,
        pause_timers: vec![],
        scale_down_after_ms: None,
        experiment: None,
        shadow_ms: None,
    }
}

/// A stack with v1 live on blue and v2 ready on green, all traffic on blue.
fn ready_doc() -> StackDoc {
    let mut s = Status::default();
    for c in [Color::Blue, Color::Green] {
        s = rollout::apply(&spec(), &s, Event::Deployed { color: c })
            .unwrap()
            .status;
    }
    assert_eq!(s.phase, Phase::Ready);
    StackDoc {
        status: s,
        weights: Some(Weights::all(Color::Blue)),
        ..StackDoc::default()
    }
}

/// ELBv2's answer to a malformed ModifyListener: a 400 no retry can fix.
const VALIDATION_ERROR: &str = r#"<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>the action is not valid</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#;

#[tokio::test]
async fn a_crash_after_the_write_ahead_record_is_repaired_by_what_aws_shows() {
    let writes = Writes::default();
    let put = put_recorded(&writes);
    let shown: Shown = Arc::new(Mutex::new((100, 0)));
    let stack = stack_rules();
    let list = listeners_from(shown.clone());
    // The run fails at the weights: ModifyListener answers a 400.
    let broken = mock!(elbv2::Client::modify_listener)
        .sequence()
        .http_status(400, Some(VALIDATION_ERROR.into()))
        .repeatedly()
        .build();
    // Both colours run 2 tasks (and 2 targets are healthy): parity has nothing to raise.
    let services = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
        let svc = |n: &str| {
            aws_sdk_ecs::types::Service::builder()
                .service_name(n)
                .status("ACTIVE")
                .desired_count(2)
                .build()
        };
        DescribeServicesOutput::builder()
            .services(svc("iris-blue"))
            .services(svc("iris-green"))
            .build()
    });
    let c = clients(Rules {
        elb: ecs_elb_rules(&stack, &[&list, &broken]),
        ecs: vec![&services],
        dynamodb: vec![&put],
        ..Rules::default()
    });
    let (_d, cfg) = config("ecs");
    let ctx = Ctx::new(&cfg, &c, Out::silent());

    let mut doc = ready_doc();
    let mut rev = 4;
    let t = rollout::apply(
        &spec(),
        &doc.status,
        Event::Tick {
            now: 1,
            firing: vec![],
        },
    )
    .unwrap();
    assert_eq!(
        t.actions,
        vec![
            rollout::Action::MatchCapacity(Color::Green),
            rollout::Action::SetWeights(w(90, 10))
        ],
        "the first step: capacity, then weights"
    );
    let e = commit(&ctx, &mut doc, &mut rev, &t, "step", &[])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Aws { .. }), "{e:?}");
    assert!(e.to_string().contains("ValidationError"), "{e}");
    assert_eq!(broken.num_calls(), 1, "a 400 is not retried");

    // Only the write-ahead record reached DynamoDB: rev 5, pending set, status unchanged.
    let states = writes.states();
    assert_eq!(states.len(), 1);
    assert!(writes.journal().is_empty());
    let (pending_doc, saved_rev) = states[0].clone();
    assert_eq!((saved_rev, rev), (5, 5));
    let pending = pending_doc.pending.clone().expect("written ahead");
    assert_eq!(pending.weights, Some(w(90, 10)));
    assert_eq!(pending.status, t.status);
    assert_eq!(pending.event, "step");
    assert_eq!(pending_doc.status.phase, Phase::Ready);
    assert_eq!(pending_doc.weights, Some(w(100, 0)));

    // (a) AWS shows the pending weights: the step took effect; finish it.
    *shown.lock().unwrap() = (90, 10);
    let (mut d, mut r) = (pending_doc.clone(), 5);
    assert!(repair(&ctx, &mut d, &mut r).await.unwrap());
    let (saved, saved_rev) = writes.states().last().cloned().unwrap();
    assert_eq!(saved, d);
    assert_eq!((saved_rev, r), (6, 6));
    assert_eq!(
        (
            d.status.phase,
            d.status.step,
            d.weights,
            d.pending.is_none()
        ),
        (Phase::Shifting, 1, Some(w(90, 10)), true)
    );
    assert_eq!(d.status, t.status);
    assert_eq!(writes.journal().last().unwrap().event, "repair");

    // (b) AWS still shows the old weights: drop it.
    *shown.lock().unwrap() = (100, 0);
    let (mut d, mut r) = (pending_doc.clone(), 5);
    assert!(repair(&ctx, &mut d, &mut r).await.unwrap());
    let (saved, saved_rev) = writes.states().last().cloned().unwrap();
    assert_eq!(saved, d);
    assert_eq!(saved_rev, 6);
    assert_eq!(
        (d.status.phase, d.weights, d.pending.is_none()),
        (Phase::Ready, Some(w(100, 0)), true)
    );
    assert_eq!(d.status, pending_doc.status);
    assert_eq!(writes.journal().len(), 2);

    // (c) Neither: leave it for the drift check, writing nothing.
    *shown.lock().unwrap() = (50, 50);
    let before = writes.all().len();
    let (mut d, mut r) = (pending_doc.clone(), 5);
    assert!(!repair(&ctx, &mut d, &mut r).await.unwrap());
    assert_eq!((d, r), (pending_doc, 5));
    assert_eq!(writes.all().len(), before);
    // ModifyListener was never called again: repair only reads the weights.
    assert_eq!(broken.num_calls(), 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    use aws_sdk_ecs::types::Service;
    let shown: Shown = Arc::new(Mutex::new((100, 0)));
    let stack = stack_rules();
    let list = listeners_from(shown);
    let services = mock!(aws_sdk_ecs::Client::describe_services)
        .match_requests(|r| {
            r.cluster() == Some("ml") && r.services() == ["iris-blue", "iris-green"]
        })
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
    let c = clients(Rules {
        elb: ecs_elb_rules(&stack, &[&list]),
        ecs: vec![&services],
        ..Rules::default()
    });
    let (_d, cfg) = config("ecs");
    let ctx = Ctx::new(&cfg, &c, Out::silent());
    ctx.release.ensure_provisioned().await.unwrap();
    assert_eq!(services.num_calls(), 3, "two 500s, then the answer");
}

#[tokio::test]
async fn server_errors_that_persist_are_an_aws_error() {
    let shown: Shown = Arc::new(Mutex::new((100, 0)));
    let stack = stack_rules();
    let list = listeners_from(shown);
    let services = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_status(503, None)
        .repeatedly()
        .build();
    let c = clients(Rules {
        elb: ecs_elb_rules(&stack, &[&list]),
        ecs: vec![&services],
        ..Rules::default()
    });
    let (_d, cfg) = config("ecs");
    let ctx = Ctx::new(&cfg, &c, Out::silent());
    let e = ctx.release.ensure_provisioned().await.unwrap_err();
    // Not "not provisioned" (exit 2): an AWS failure (exit 1) after 3 attempts.
    assert!(matches!(e, Error::Aws { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 1);
    assert_eq!(services.num_calls(), 3);
}
