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
    /// SageMaker model packages (`--model-package-group`, `promote --auto-deploy`).
    ModelRegistry,
    /// Marking packages of the configured `model_package_group` live.
    ModelPackageGroup,
    /// `[notify] eventbridge_bus`.
    EventBus,
    /// Registering scalable targets: `[ecs.autoscaling]`, or SageMaker
    /// variants whose autoscaling is set aside around an update.
    Autoscaling,
    /// `[route53]`: the weighted records in the user's hosted zone.
    Route53,
    /// `[shadow]`: reading (and removing) captured answers.
    Shadow,
    /// `[shadow]` without `capture`: cutover's own capture bucket.
    ShadowOwnBucket,
    /// Creating `cutover schedule`'s schedule (`iam-policy --schedule-role`).
    Schedule,
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
    /// The configured model package group's packages.
    ModelPackages,
    /// The cluster, the services and the task-definition families (tags).
    EcsTaggable,
    /// Application Auto Scaling's scalable targets.
    ScalableTargets,
    /// Application Auto Scaling's service-linked roles.
    ServiceLinkedRole,
    /// The `[notify]` EventBridge bus.
    EventBus,
    /// The stack's CloudWatch dashboard.
    Dashboard,
    /// The stack's EventBridge Scheduler schedule.
    Schedule,
    /// The `[route53]` hosted zone.
    HostedZone,
    /// Route 53 change ids (GetChange).
    Change,
    /// The API takes no resource (describe/list calls, task definitions).
    Any,
    /// The `[shadow]` capture bucket.
    CaptureBucket,
    /// The stack's captured objects in it.
    CaptureObjects,
    /// `cutover schedule`'s task definition family.
    PromoteFamily,
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
    // `report` reads both colours' metrics; `[judge]` tests them.
    ("cloudwatch:GetMetricData", Feature::Always, Scope::Any),
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
        Scope::ScalableTargets,
    ),
    (
        "application-autoscaling:PutScalingPolicy",
        Feature::Autoscaling,
        Scope::ScalableTargets,
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
        Scope::ServiceLinkedRole,
    ),
    // ECS and the load balancer.
    ("ecs:DescribeClusters", Feature::Ecs, Scope::Cluster),
    ("ecs:CreateCluster", Feature::Ecs, Scope::Cluster),
    ("ecs:DeleteCluster", Feature::Ecs, Scope::Cluster),
    ("ecs:DescribeServices", Feature::Ecs, Scope::Services),
    ("ecs:CreateService", Feature::Ecs, Scope::Services),
    ("ecs:UpdateService", Feature::Ecs, Scope::Services),
    ("ecs:DeleteService", Feature::Ecs, Scope::Services),
    ("ecs:TagResource", Feature::Ecs, Scope::EcsTaggable),
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
        Feature::ModelPackageGroup,
        Scope::ModelPackages,
    ),
    // Events.
    ("events:PutEvents", Feature::EventBus, Scope::EventBus),
    // `cutover schedule`: promotion on EventBridge Scheduler. Reading and
    // removing it (plan, destroy) always; creating it only when asked.
    ("scheduler:GetSchedule", Feature::Always, Scope::Schedule),
    ("scheduler:DeleteSchedule", Feature::Always, Scope::Schedule),
    ("ecs:ListTaskDefinitions", Feature::Always, Scope::Any),
    ("ecs:DeregisterTaskDefinition", Feature::Always, Scope::Any),
    (
        "scheduler:CreateSchedule",
        Feature::Schedule,
        Scope::Schedule,
    ),
    (
        "scheduler:UpdateSchedule",
        Feature::Schedule,
        Scope::Schedule,
    ),
    ("ecs:DescribeTaskDefinition", Feature::Schedule, Scope::Any),
    (
        "ecs:RegisterTaskDefinition",
        Feature::Schedule,
        Scope::PromoteFamily,
    ),
    ("ecs:TagResource", Feature::Schedule, Scope::PromoteFamily),
    // `[shadow]`: Data Capture's files.
    ("s3:ListBucket", Feature::Shadow, Scope::CaptureBucket),
    ("s3:GetObject", Feature::Shadow, Scope::CaptureObjects),
    ("s3:DeleteObject", Feature::Shadow, Scope::CaptureObjects),
    (
        "s3:CreateBucket",
        Feature::ShadowOwnBucket,
        Scope::CaptureBucket,
    ),
    (
        "s3:GetBucketTagging",
        Feature::ShadowOwnBucket,
        Scope::CaptureBucket,
    ),
    (
        "s3:PutBucketTagging",
        Feature::ShadowOwnBucket,
        Scope::CaptureBucket,
    ),
    (
        "s3:DeleteBucket",
        Feature::ShadowOwnBucket,
        Scope::CaptureBucket,
    ),
    // Pictures: the dashboard and the Weight metric.
    ("cloudwatch:GetDashboard", Feature::Always, Scope::Dashboard),
    ("cloudwatch:PutDashboard", Feature::Always, Scope::Dashboard),
    ("cloudwatch:ListDashboards", Feature::Always, Scope::Any),
    (
        "cloudwatch:DeleteDashboards",
        Feature::Always,
        Scope::Dashboard,
    ),
    ("cloudwatch:PutMetricData", Feature::Always, Scope::Any),
    // Route 53 (`[route53]`): only cutover's two records of the name.
    (
        "route53:ListResourceRecordSets",
        Feature::Route53,
        Scope::HostedZone,
    ),
    (
        "route53:ChangeResourceRecordSets",
        Feature::Route53,
        Scope::HostedZone,
    ),
    ("route53:GetChange", Feature::Route53, Scope::Change),
    ("route53:GetHostedZone", Feature::Route53, Scope::HostedZone),
    // `verify` (read-only).
    ("ec2:DescribeVpcs", Feature::Ecs, Scope::Any),
    ("ec2:DescribeSubnets", Feature::Ecs, Scope::Any),
    ("ec2:DescribeSecurityGroups", Feature::Ecs, Scope::Any),
    ("acm:DescribeCertificate", Feature::Ecs, Scope::Any),
    ("iam:GetRole", Feature::Always, Scope::Any),
    ("ecr:DescribeRepositories", Feature::SageMaker, Scope::Any),
    ("ecr:DescribeImages", Feature::SageMaker, Scope::Any),
];

fn enabled(cfg: &Config, f: Feature) -> bool {
    match f {
        Feature::Always => true,
        Feature::Ecs => matches!(cfg.backend, Backend::Ecs(_)),
        Feature::EcsOwnLoadBalancer => {
            matches!(&cfg.backend, Backend::Ecs(e) if e.load_balancer_arn.is_none())
        }
        Feature::SageMaker | Feature::ModelRegistry => matches!(cfg.backend, Backend::Sagemaker(_)),
        Feature::ModelPackageGroup => {
            matches!(&cfg.backend, Backend::Sagemaker(s) if s.model_package_group.is_some())
        }
        Feature::ManagedAlarms => !cfg.alarms.create.is_empty(),
        Feature::EventBus => cfg.notify.eventbridge_bus.is_some(),
        Feature::Route53 => matches!(&cfg.backend, Backend::Ecs(e) if e.route53.is_some()),
        Feature::Shadow => cfg.shadow.is_some(),
        Feature::ShadowOwnBucket => cfg.shadow.as_ref().is_some_and(|s| s.capture.is_none()),
        // Only with `iam-policy --schedule-role` (see `policy`).
        Feature::Schedule => false,
        Feature::Autoscaling => match &cfg.backend {
            Backend::Ecs(e) => e.autoscaling.is_some(),
            Backend::Sagemaker(_) => true,
        },
    }
}

/// Which policy `iam-policy --for` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PolicyFor {
    /// Everything: provision and destroy as well as every run.
    #[default]
    Provision,
    /// Everyday runs (deploy, shift, promote, rollback, status, ...): no
    /// creating or deleting the table, the cluster, the load balancer, its
    /// groups and listeners, the services, the managed alarms or the endpoint.
    Run,
}

/// Calls only `provision` and `destroy` make.
const PROVISION_ONLY: &[&str] = &[
    "dynamodb:CreateTable",
    "dynamodb:DeleteTable",
    "dynamodb:Scan",
    "dynamodb:TagResource",
    "dynamodb:UpdateTimeToLive",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DeleteAlarms",
    "cloudwatch:TagResource",
    "cloudwatch:PutDashboard",
    "cloudwatch:DeleteDashboards",
    "scheduler:CreateSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
    "ecs:CreateCluster",
    "ecs:DeleteCluster",
    "ecs:CreateService",
    "ecs:DeleteService",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:CreateRule",
    "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:AddTags",
    "sagemaker:DeleteEndpoint",
    "s3:DeleteBucket",
];

/// Item-level state-table calls: only the stack's own partition.
/// (`BatchGetItem` is left out: `promote -c dir/` reads every stack's state
/// in one call, which a per-stack `LeadingKeys` would refuse.)
const ITEM_CALLS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
];

/// A call's IAM condition, where one narrows it further.
fn condition(cfg: &Config, action: &str, scope: Scope) -> Option<Value> {
    let n = &cfg.name;
    if ITEM_CALLS.contains(&action) {
        return Some(json!({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [n]}}));
    }
    match (action, scope) {
        (_, Scope::ServiceLinkedRole) => Some(
            json!({"StringEquals": {"iam:AWSServiceName": match cfg.backend {
                Backend::Ecs(_) => "ecs.application-autoscaling.amazonaws.com",
                Backend::Sagemaker(_) => "sagemaker.application-autoscaling.amazonaws.com",
            }}}),
        ),
        // cutover's metrics only.
        ("cloudwatch:PutMetricData", _) => Some(
            json!({"StringEquals": {"cloudwatch:namespace": crate::aws::dashboard::NAMESPACE}}),
        ),
        // Only the configured name's A records may change.
        ("route53:ChangeResourceRecordSets", _) => match &cfg.backend {
            Backend::Ecs(e) => e.route53.as_ref().map(|r| {
                json!({"ForAllValues:StringEquals": {
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": [r.record],
                    "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
                }})
            }),
            Backend::Sagemaker(_) => None,
        },
        // Only what carries the stack's tag may be deleted.
        ("sagemaker:DeleteModel" | "sagemaker:DeleteEndpointConfig", _) => {
            Some(json!({"StringEquals": {"aws:ResourceTag/cutover:stack": n}}))
        }
        _ => None,
    }
}

/// The resource ARNs a scope stands for (account and region left open).
fn resources(cfg: &Config, scope: Scope, alarms: &[String], families: &[String]) -> Vec<String> {
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
        // With `[route53]` each colour has its own load balancer.
        (Scope::LoadBalancer, Backend::Ecs(e)) if e.route53.is_some() => vec![
            format!("{elb}:loadbalancer/app/{n}-blue/*"),
            format!("{elb}:loadbalancer/app/{n}-green/*"),
        ],
        (Scope::Listeners, Backend::Ecs(e)) if e.route53.is_some() => {
            let mut r = vec![
                format!("{elb}:targetgroup/{n}-blue/*"),
                format!("{elb}:targetgroup/{n}-green/*"),
            ];
            for c in ["blue", "green"] {
                r.push(format!("{elb}:loadbalancer/app/{n}-{c}/*"));
                r.push(format!("{elb}:listener/app/{n}-{c}/*"));
            }
            r
        }
        (Scope::HostedZone, Backend::Ecs(e)) => match &e.route53 {
            Some(r) => vec![format!("arn:aws:route53:::hostedzone/{}", r.hosted_zone_id)],
            None => vec![],
        },
        (Scope::Change, _) => vec!["arn:aws:route53:::change/*".to_string()],
        (Scope::Dashboard, _) => vec![format!("arn:aws:cloudwatch::*:dashboard/cutover-{n}")],
        (Scope::Schedule, _) => vec![format!("arn:aws:scheduler:*:*:schedule/default/cutover-{n}")],
        (Scope::PromoteFamily, _) => vec![format!("arn:aws:ecs:*:*:task-definition/cutover-promote-{n}:*")],
        (Scope::CaptureBucket | Scope::CaptureObjects, Backend::Sagemaker(s)) => {
            // Any region: the policy leaves regions open.
            let account = s.execution_role_arn.split(':').nth(4).filter(|a| !a.is_empty());
            let Some((bucket, prefix, _)) = cfg
                .shadow
                .as_ref()
                .and_then(|c| c.capture_at(n, Some(account.unwrap_or("*")), "*"))
            else {
                return vec![];
            };
            match scope {
                Scope::CaptureBucket => vec![format!("arn:aws:s3:::{bucket}")],
                _ if prefix.is_empty() => vec![format!("arn:aws:s3:::{bucket}/*")],
                _ => vec![format!("arn:aws:s3:::{bucket}/{prefix}/*")],
            }
        }
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
        // `<stack>-<colour>-…`: stack `iris` does not reach stack `iris-x`'s
        // models by name (and deletes need the stack's tag).
        (Scope::Models, _) => vec![
            format!("{sm}:model/{n}-blue-*"),
            format!("{sm}:model/{n}-green-*"),
        ],
        (Scope::ModelPackages, Backend::Sagemaker(s)) => match &s.model_package_group {
            Some(g) => vec![format!("{sm}:model-package/{g}/*")],
            None => vec![],
        },
        (Scope::EcsTaggable, Backend::Ecs(e)) => {
            let mut r = vec![
                format!("arn:aws:ecs:*:*:cluster/{}", e.cluster),
                format!("arn:aws:ecs:*:*:service/{}/{n}-blue", e.cluster),
                format!("arn:aws:ecs:*:*:service/{}/{n}-green", e.cluster),
            ];
            r.extend(
                families
                    .iter()
                    .map(|f| format!("arn:aws:ecs:*:*:task-definition/{f}:*")),
            );
            r
        }
        (Scope::ScalableTargets, _) => {
            vec!["arn:aws:application-autoscaling:*:*:scalable-target/*".to_string()]
        }
        (Scope::ServiceLinkedRole, _) => vec![
            "arn:aws:iam::*:role/aws-service-role/*.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_*".to_string(),
        ],
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

/// What the release renders that the policy names: the roles it passes and
/// the task-definition families it registers.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    pub roles: Vec<String>,
    pub families: Vec<String>,
}

/// The least-privilege policy document: one statement per resource set and
/// condition.
/// `schedule_role`: the role `cutover schedule --role-arn` hands to
/// EventBridge Scheduler; with it the policy may create the schedule.
pub fn policy(
    cfg: &Config,
    alarms: &[String],
    r: &Rendered,
    purpose: PolicyFor,
    schedule_role: Option<&str>,
) -> Value {
    let mut by_res: BTreeMap<(Vec<String>, String), Vec<&str>> = BTreeMap::new();
    for (action, f, scope) in CALLS {
        let on = enabled(cfg, *f) || (*f == Feature::Schedule && schedule_role.is_some());
        if !on || (purpose == PolicyFor::Run && PROVISION_ONLY.contains(action)) {
            continue;
        }
        let res = resources(cfg, *scope, alarms, &r.families);
        if res.is_empty() {
            continue;
        }
        let cond = condition(cfg, action, *scope)
            .map(|c| c.to_string())
            .unwrap_or_default();
        by_res.entry((res, cond)).or_default().push(action);
    }
    let mut statements: Vec<Value> = by_res
        .into_iter()
        .enumerate()
        .map(|(i, ((res, cond), mut acts))| {
            acts.sort();
            acts.dedup();
            let mut st = json!({"Sid": format!("Cutover{i}"), "Effect": "Allow", "Action": acts, "Resource": res});
            if !cond.is_empty() {
                st["Condition"] = serde_json::from_str(&cond).unwrap_or_default();
            }
            st
        })
        .collect();
    let mut passed = pass_roles(cfg, &r.roles);
    if let Some(role) = schedule_role {
        passed.push((role.to_string(), "scheduler.amazonaws.com"));
    }
    for (role, service) in passed {
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
