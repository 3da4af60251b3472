//! Every AWS call cutover makes, in one table, and the least-privilege IAM
//! policy derived from it for a config's features (`cutover iam-policy`).
//! A call added to the code without a row here fails the policy test, which
//! replays the emulator's request log against this table.
use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::config::{Backend, Config};

/// When a call is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    Always,
    Ecs,
    /// ECS with a load balancer of cutover's own (no `load_balancer_arn`).
    EcsOwnLoadBalancer,
    SageMaker,
    /// `[[alarms.create]]`.
    ManagedAlarms,
    /// `[judge]`.
    Judge,
    /// SageMaker model packages (`--model-package-group`, `promote --auto-deploy`).
    ModelRegistry,
    /// `[notify] eventbridge_bus`.
    EventBus,
    /// Registering scalable targets: `[ecs.autoscaling]`, or SageMaker
    /// variants whose autoscaling is set aside around an update.
    Autoscaling,
}

/// What a call can be scoped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    StateTable,
    Cluster,
    Services,
    LoadBalancer,
    TargetGroups,
    Listeners,
    Alarms,
    Endpoint,
    EndpointConfigs,
    Models,
    /// The `[notify]` EventBridge bus.
    EventBus,
    /// The API takes no resource (describe/list calls, task definitions).
    Any,
}

/// (IAM action, when, scope).
pub const CALLS: &[(&str, Feature, Scope)] = &[
    // State, journal and lock.
    ("dynamodb:DescribeTable", Feature::Always, Scope::StateTable),
    ("dynamodb:CreateTable", Feature::Always, Scope::StateTable),
    ("dynamodb:TagResource", Feature::Always, Scope::StateTable),
    (
        "dynamodb:UpdateTimeToLive",
        Feature::Always,
        Scope::StateTable,
    ),
    ("dynamodb:DeleteTable", Feature::Always, Scope::StateTable),
    ("dynamodb:GetItem", Feature::Always, Scope::StateTable),
    ("dynamodb:BatchGetItem", Feature::Always, Scope::StateTable),
    ("dynamodb:PutItem", Feature::Always, Scope::StateTable),
    ("dynamodb:UpdateItem", Feature::Always, Scope::StateTable),
    ("dynamodb:DeleteItem", Feature::Always, Scope::StateTable),
    ("dynamodb:Query", Feature::Always, Scope::StateTable),
    ("dynamodb:Scan", Feature::Always, Scope::StateTable),
    // Alarms.
    ("cloudwatch:DescribeAlarms", Feature::Always, Scope::Any),
    (
        "cloudwatch:PutMetricAlarm",
        Feature::ManagedAlarms,
        Scope::Alarms,
    ),
    (
        "cloudwatch:TagResource",
        Feature::ManagedAlarms,
        Scope::Alarms,
    ),
    (
        "cloudwatch:DeleteAlarms",
        Feature::ManagedAlarms,
        Scope::Alarms,
    ),
    ("cloudwatch:GetMetricData", Feature::Judge, Scope::Any),
    // Application Auto Scaling: read and deregistered by destroy (ECS) and
    // around variant removal (SageMaker).
    (
        "application-autoscaling:DescribeScalableTargets",
        Feature::Always,
        Scope::Any,
    ),
    (
        "application-autoscaling:DeregisterScalableTarget",
        Feature::Always,
        Scope::Any,
    ),
    (
        "application-autoscaling:RegisterScalableTarget",
        Feature::Autoscaling,
        Scope::Any,
    ),
    (
        "application-autoscaling:PutScalingPolicy",
        Feature::Autoscaling,
        Scope::Any,
    ),
    (
        "application-autoscaling:DescribeScalingPolicies",
        Feature::Autoscaling,
        Scope::Any,
    ),
    // The first registration creates Application Auto Scaling's service-linked role.
    (
        "iam:CreateServiceLinkedRole",
        Feature::Autoscaling,
        Scope::Any,
    ),
    // ECS and the load balancer.
    ("ecs:DescribeClusters", Feature::Ecs, Scope::Cluster),
    ("ecs:CreateCluster", Feature::Ecs, Scope::Cluster),
    ("ecs:DeleteCluster", Feature::Ecs, Scope::Cluster),
    ("ecs:DescribeServices", Feature::Ecs, Scope::Services),
    ("ecs:CreateService", Feature::Ecs, Scope::Services),
    ("ecs:UpdateService", Feature::Ecs, Scope::Services),
    ("ecs:DeleteService", Feature::Ecs, Scope::Services),
    ("ecs:TagResource", Feature::Ecs, Scope::Any),
    ("ecs:RegisterTaskDefinition", Feature::Ecs, Scope::Any),
    ("ecs:DeregisterTaskDefinition", Feature::Ecs, Scope::Any),
    ("ecs:DescribeTaskDefinition", Feature::Ecs, Scope::Any),
    ("ecs:ListTaskDefinitions", Feature::Ecs, Scope::Any),
    (
        "elasticloadbalancing:DescribeLoadBalancers",
        Feature::Ecs,
        Scope::Any,
    ),
    (
        "elasticloadbalancing:DescribeTargetGroups",
        Feature::Ecs,
        Scope::Any,
    ),
    (
        "elasticloadbalancing:DescribeTargetGroupAttributes",
        Feature::Ecs,
        Scope::Any,
    ),
    (
        "elasticloadbalancing:DescribeTargetHealth",
        Feature::Ecs,
        Scope::Any,
    ),
    (
        "elasticloadbalancing:DescribeListeners",
        Feature::Ecs,
        Scope::Any,
    ),
    (
        "elasticloadbalancing:DescribeRules",
        Feature::Ecs,
        Scope::Any,
    ),
    (
        "elasticloadbalancing:DescribeTags",
        Feature::Ecs,
        Scope::Any,
    ),
    (
        "elasticloadbalancing:CreateLoadBalancer",
        Feature::EcsOwnLoadBalancer,
        Scope::LoadBalancer,
    ),
    (
        "elasticloadbalancing:DeleteLoadBalancer",
        Feature::EcsOwnLoadBalancer,
        Scope::LoadBalancer,
    ),
    (
        "elasticloadbalancing:CreateTargetGroup",
        Feature::Ecs,
        Scope::TargetGroups,
    ),
    (
        "elasticloadbalancing:ModifyTargetGroup",
        Feature::Ecs,
        Scope::TargetGroups,
    ),
    (
        "elasticloadbalancing:ModifyTargetGroupAttributes",
        Feature::Ecs,
        Scope::TargetGroups,
    ),
    (
        "elasticloadbalancing:DeleteTargetGroup",
        Feature::Ecs,
        Scope::TargetGroups,
    ),
    (
        "elasticloadbalancing:CreateListener",
        Feature::Ecs,
        Scope::LoadBalancer,
    ),
    (
        "elasticloadbalancing:ModifyListener",
        Feature::Ecs,
        Scope::Listeners,
    ),
    (
        "elasticloadbalancing:DeleteListener",
        Feature::Ecs,
        Scope::Listeners,
    ),
    (
        "elasticloadbalancing:CreateRule",
        Feature::Ecs,
        Scope::Listeners,
    ),
    (
        "elasticloadbalancing:ModifyRule",
        Feature::Ecs,
        Scope::Listeners,
    ),
    (
        "elasticloadbalancing:DeleteRule",
        Feature::Ecs,
        Scope::Listeners,
    ),
    (
        "elasticloadbalancing:AddTags",
        Feature::Ecs,
        Scope::Listeners,
    ),
    // SageMaker.
    (
        "sagemaker:DescribeEndpoint",
        Feature::SageMaker,
        Scope::Endpoint,
    ),
    (
        "sagemaker:CreateEndpoint",
        Feature::SageMaker,
        Scope::Endpoint,
    ),
    (
        "sagemaker:UpdateEndpoint",
        Feature::SageMaker,
        Scope::Endpoint,
    ),
    (
        "sagemaker:UpdateEndpointWeightsAndCapacities",
        Feature::SageMaker,
        Scope::Endpoint,
    ),
    (
        "sagemaker:DeleteEndpoint",
        Feature::SageMaker,
        Scope::Endpoint,
    ),
    (
        "sagemaker:InvokeEndpoint",
        Feature::SageMaker,
        Scope::Endpoint,
    ),
    (
        "sagemaker:DescribeEndpointConfig",
        Feature::SageMaker,
        Scope::EndpointConfigs,
    ),
    (
        "sagemaker:CreateEndpointConfig",
        Feature::SageMaker,
        Scope::EndpointConfigs,
    ),
    (
        "sagemaker:DeleteEndpointConfig",
        Feature::SageMaker,
        Scope::EndpointConfigs,
    ),
    ("sagemaker:DescribeModel", Feature::SageMaker, Scope::Models),
    ("sagemaker:CreateModel", Feature::SageMaker, Scope::Models),
    ("sagemaker:DeleteModel", Feature::SageMaker, Scope::Models),
    ("sagemaker:AddTags", Feature::SageMaker, Scope::Any),
    ("sagemaker:ListTags", Feature::SageMaker, Scope::Any),
    (
        "sagemaker:ListEndpointConfigs",
        Feature::SageMaker,
        Scope::Any,
    ),
    ("sagemaker:ListModels", Feature::SageMaker, Scope::Any),
    (
        "sagemaker:DescribeModelPackageGroup",
        Feature::ModelRegistry,
        Scope::Any,
    ),
    (
        "sagemaker:ListModelPackages",
        Feature::ModelRegistry,
        Scope::Any,
    ),
    (
        "sagemaker:DescribeModelPackage",
        Feature::ModelRegistry,
        Scope::Any,
    ),
    (
        "sagemaker:UpdateModelPackage",
        Feature::ModelRegistry,
        Scope::Any,
    ),
    // Events.
    ("events:PutEvents", Feature::EventBus, Scope::EventBus),
];

fn enabled(cfg: &Config, f: Feature) -> bool {
    match f {
        Feature::Always => true,
        Feature::Ecs => matches!(cfg.backend, Backend::Ecs(_)),
        Feature::EcsOwnLoadBalancer => {
            matches!(&cfg.backend, Backend::Ecs(e) if e.load_balancer_arn.is_none())
        }
        Feature::SageMaker | Feature::ModelRegistry => matches!(cfg.backend, Backend::Sagemaker(_)),
        Feature::ManagedAlarms => !cfg.alarms.create.is_empty(),
        Feature::Judge => cfg.judge.is_some(),
        Feature::EventBus => cfg.notify.eventbridge_bus.is_some(),
        Feature::Autoscaling => match &cfg.backend {
            Backend::Ecs(e) => e.autoscaling.is_some(),
            Backend::Sagemaker(_) => true,
        },
    }
}

/// The resource ARNs a scope stands for (account and region left open).
fn resources(cfg: &Config, scope: Scope, alarms: &[String]) -> Vec<String> {
    let n = &cfg.name;
    // The ALB's name: the stack's, or that of the existing ALB in the config.
    let lbn = match &cfg.backend {
        Backend::Ecs(e) => e
            .load_balancer_arn
            .as_deref()
            .and_then(|a| a.split_once(":loadbalancer/app/"))
            .and_then(|(_, r)| r.split('/').next())
            .unwrap_or(n),
        Backend::Sagemaker(_) => n,
    };
    let elb = "arn:aws:elasticloadbalancing:*:*";
    let sm = "arn:aws:sagemaker:*:*";
    match (scope, &cfg.backend) {
        (Scope::StateTable, _) => vec![format!("arn:aws:dynamodb:*:*:table/{}", cfg.state_table)],
        (Scope::Cluster, Backend::Ecs(e)) => vec![format!("arn:aws:ecs:*:*:cluster/{}", e.cluster)],
        (Scope::Services, Backend::Ecs(e)) => vec![
            format!("arn:aws:ecs:*:*:service/{}/{n}-blue", e.cluster),
            format!("arn:aws:ecs:*:*:service/{}/{n}-green", e.cluster),
        ],
        (Scope::LoadBalancer, Backend::Ecs(_)) => vec![format!("{elb}:loadbalancer/app/{lbn}/*")],
        (Scope::TargetGroups, Backend::Ecs(_)) => vec![
            format!("{elb}:targetgroup/{n}-blue/*"),
            format!("{elb}:targetgroup/{n}-green/*"),
        ],
        (Scope::Listeners, Backend::Ecs(_)) => vec![
            format!("{elb}:loadbalancer/app/{lbn}/*"),
            format!("{elb}:targetgroup/{n}-blue/*"),
            format!("{elb}:targetgroup/{n}-green/*"),
            format!("{elb}:listener/app/{lbn}/*"),
            format!("{elb}:listener-rule/app/{lbn}/*"),
        ],
        (Scope::Alarms, _) => alarms
            .iter()
            .map(|a| format!("arn:aws:cloudwatch:*:*:alarm:{a}"))
            .collect(),
        (Scope::Endpoint, _) => vec![format!("{sm}:endpoint/{n}")],
        (Scope::EndpointConfigs, _) => vec![format!("{sm}:endpoint-config/{n}-*")],
        (Scope::Models, _) => vec![format!("{sm}:model/{n}-*")],
        (Scope::EventBus, _) => match cfg.notify.eventbridge_bus.as_deref() {
            Some(arn) if arn.starts_with("arn:") => vec![arn.to_string()],
            Some(bus) => vec![format!("arn:aws:events:*:*:event-bus/{bus}")],
            None => vec![],
        },
        _ => vec!["*".to_string()],
    }
}

/// The roles the config hands to AWS services.
fn pass_roles(cfg: &Config, task_roles: &[String]) -> Vec<(String, &'static str)> {
    match &cfg.backend {
        Backend::Sagemaker(s) => vec![(s.execution_role_arn.clone(), "sagemaker.amazonaws.com")],
        Backend::Ecs(_) => task_roles
            .iter()
            .map(|r| (r.clone(), "ecs-tasks.amazonaws.com"))
            .collect(),
    }
}

/// The IAM actions a config's features need (for tests and the policy).
pub fn actions(cfg: &Config) -> Vec<&'static str> {
    CALLS
        .iter()
        .filter(|(_, f, _)| enabled(cfg, *f))
        .map(|(a, _, _)| *a)
        .collect()
}

/// The least-privilege policy document: one statement per resource set.
pub fn policy(cfg: &Config, alarms: &[String], task_roles: &[String]) -> Value {
    let mut by_res: BTreeMap<Vec<String>, Vec<&str>> = BTreeMap::new();
    for (action, f, scope) in CALLS {
        if enabled(cfg, *f) {
            by_res
                .entry(resources(cfg, *scope, alarms))
                .or_default()
                .push(action);
        }
    }
    let mut statements: Vec<Value> = by_res
        .into_iter()
        .enumerate()
        .map(|(i, (res, mut acts))| {
            acts.sort();
            json!({"Sid": format!("Cutover{i}"), "Effect": "Allow", "Action": acts, "Resource": res})
        })
        .collect();
    for (role, service) in pass_roles(cfg, task_roles) {
        statements.push(json!({
            "Sid": "PassRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": role,
            "Condition": {"StringEquals": {"iam:PassedToService": service}},
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}
