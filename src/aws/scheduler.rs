//! Promotion without a cron host: an EventBridge Scheduler schedule
//! `cutover-<name>` that runs `cutover promote -c P` as an ECS Fargate task
//! from the team's image (task definition `cutover-promote-<name>`).
use aws_sdk_ecs::types as et;
use aws_sdk_scheduler::types as sc;

use super::Clients;
use crate::error::{aws, failed, invalid, Result};

/// What `cutover schedule` asks for.
#[derive(Clone, Debug)]
pub struct Spec {
    pub stack: String,
    pub image: String,
    pub cluster: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// The role EventBridge Scheduler assumes to run the task.
    pub role_arn: String,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    pub every_minutes: u64,
    pub config_path: String,
    pub assign_public_ip: bool,
}

pub fn schedule_name(stack: &str) -> String {
    format!("cutover-{stack}")
}

pub fn family(stack: &str) -> String {
    format!("cutover-promote-{stack}")
}

/// `rate(1 minute)`, `rate(5 minutes)`.
pub fn expression(minutes: u64) -> String {
    if minutes == 1 {
        "rate(1 minute)".into()
    } else {
        format!("rate({minutes} minutes)")
    }
}

/// The description that marks a schedule as cutover's (schedules carry no tags).
fn marker(stack: &str) -> String {
    format!("cutover: promote ticks of stack {stack}")
}

impl Spec {
    /// The account, from the scheduler's role ARN.
    fn account(&self) -> Result<&str> {
        self.role_arn
            .split(':')
            .nth(4)
            .filter(|a| a.len() == 12)
            .ok_or_else(|| {
                invalid(format!(
                    "--role-arn {} is not an IAM role ARN",
                    self.role_arn
                ))
            })
    }

    /// The command the task runs.
    pub fn command(&self) -> Vec<String> {
        vec!["promote".into(), "-c".into(), self.config_path.clone()]
    }
}

/// The schedule as it stands, if cutover made it: (expression, task definition ARN).
pub async fn current(c: &Clients, stack: &str) -> Result<Option<(String, String)>> {
    Ok(current_full(c, stack).await?.map(|(e, t, _)| (e, t)))
}

/// `current`, with a fingerprint of the whole target.
async fn current_full(c: &Clients, stack: &str) -> Result<Option<(String, String, String)>> {
    match c
        .scheduler
        .get_schedule()
        .name(schedule_name(stack))
        .send()
        .await
    {
        Ok(o) => {
            if o.description() != Some(marker(stack).as_str()) {
                return Err(invalid(format!(
                    "schedule {} exists but is not cutover's; refusing to take it over",
                    schedule_name(stack)
                )));
            }
            let td = o
                .target()
                .and_then(|t| t.ecs_parameters())
                .map(|p| p.task_definition_arn().to_string())
                .unwrap_or_default();
            let fp = o.target().map(fingerprint).unwrap_or_default();
            Ok(Some((
                o.schedule_expression().unwrap_or_default().to_string(),
                td,
                fp,
            )))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|x| x.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws("get schedule", e)),
    }
}

/// What a target runs where: cluster, role, task definition, network.
fn fingerprint(t: &sc::Target) -> String {
    let net = t
        .ecs_parameters()
        .and_then(|p| p.network_configuration())
        .and_then(|n| n.awsvpc_configuration());
    format!(
        "{}|{}|{}|{:?}|{:?}|{:?}",
        t.arn(),
        t.role_arn(),
        t.ecs_parameters()
            .map(|p| p.task_definition_arn())
            .unwrap_or_default(),
        net.map(|n| n.subnets().to_vec()),
        net.map(|n| n.security_groups().to_vec()),
        net.and_then(|n| n.assign_public_ip())
            .map(|a| a.as_str().to_string()),
    )
}

/// Registers the task definition (a new revision only when it changed);
/// returns its ARN.
async fn task_definition(c: &Clients, s: &Spec) -> Result<String> {
    let fam = family(&s.stack);
    let mut env = vec![];
    if let Some(r) = &std::env::var("AWS_REGION").ok().or(Some(c.region.clone())) {
        env.push(
            et::KeyValuePair::builder()
                .name("AWS_REGION")
                .value(r)
                .build(),
        );
    }
    let container = et::ContainerDefinition::builder()
        .name("cutover")
        .image(&s.image)
        .essential(true)
        .set_command(Some(s.command()))
        .set_environment(Some(env))
        .build();
    if let Ok(d) = c
        .ecs
        .describe_task_definition()
        .task_definition(&fam)
        .send()
        .await
    {
        if let Some(td) = d.task_definition() {
            let same = td.container_definitions().first().is_some_and(|cd| {
                cd.image() == Some(s.image.as_str()) && cd.command() == s.command().as_slice()
            }) && td.task_role_arn() == s.task_role_arn.as_deref()
                && td.execution_role_arn() == s.execution_role_arn.as_deref();
            if same {
                return Ok(td.task_definition_arn().unwrap_or_default().to_string());
            }
        }
    }
    let tags = super::tags(&s.stack, None)
        .into_iter()
        .map(|(k, v)| et::Tag::builder().key(k).value(v).build())
        .collect();
    let o = c
        .ecs
        .register_task_definition()
        .family(&fam)
        .network_mode(et::NetworkMode::Awsvpc)
        .requires_compatibilities(et::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .set_task_role_arn(s.task_role_arn.clone())
        .set_execution_role_arn(s.execution_role_arn.clone())
        .container_definitions(container)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws("register task definition", e))?;
    o.task_definition()
        .and_then(|t| t.task_definition_arn())
        .map(String::from)
        .ok_or_else(|| failed("RegisterTaskDefinition returned no ARN".to_string()))
}

/// Creates or updates the schedule (idempotent). Returns what was done.
pub async fn apply(c: &Clients, s: &Spec) -> Result<String> {
    let existing = current_full(c, &s.stack).await?;
    let td = task_definition(c, s).await?;
    let cluster = format!(
        "arn:aws:ecs:{}:{}:cluster/{}",
        c.region,
        s.account()?,
        s.cluster
    );
    let vpc = sc::AwsVpcConfiguration::builder()
        .set_subnets(Some(s.subnets.clone()))
        .set_security_groups((!s.security_groups.is_empty()).then(|| s.security_groups.clone()))
        .assign_public_ip(if s.assign_public_ip {
            sc::AssignPublicIp::Enabled
        } else {
            sc::AssignPublicIp::Disabled
        })
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let ecs = sc::EcsParameters::builder()
        .task_definition_arn(&td)
        .launch_type(sc::LaunchType::Fargate)
        .task_count(1)
        .network_configuration(
            sc::NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
        )
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let target = sc::Target::builder()
        .arn(&cluster)
        .role_arn(&s.role_arn)
        .ecs_parameters(ecs)
        .retry_policy(sc::RetryPolicy::builder().maximum_retry_attempts(0).build())
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let window = sc::FlexibleTimeWindow::builder()
        .mode(sc::FlexibleTimeWindowMode::Off)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let expr = expression(s.every_minutes);
    let name = schedule_name(&s.stack);
    match existing {
        Some((e, _, fp)) if e == expr && fp == fingerprint(&target) => {
            Ok(format!("schedule {name} is up to date ({expr})"))
        }
        Some(_) => {
            c.scheduler
                .update_schedule()
                .name(&name)
                .schedule_expression(&expr)
                .description(marker(&s.stack))
                .flexible_time_window(window)
                .target(target)
                .send()
                .await
                .map_err(|e| aws("update schedule", e))?;
            Ok(format!("updated schedule {name} ({expr}, {td})"))
        }
        None => {
            c.scheduler
                .create_schedule()
                .name(&name)
                .schedule_expression(&expr)
                .description(marker(&s.stack))
                .flexible_time_window(window)
                .target(target)
                .send()
                .await
                .map_err(|e| aws("create schedule", e))?;
            Ok(format!(
                "created schedule {name} ({expr}) running `cutover {}` from {}",
                s.command().join(" "),
                s.image
            ))
        }
    }
}

/// Deletes the schedule and the task definition's revisions (only
/// cutover's). `always`: look for the revisions even without a schedule
/// (`schedule --remove`); `destroy` looks only when there was one.
pub async fn remove(c: &Clients, stack: &str, always: bool) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let found = current(c, stack).await?.is_some();
    if !found && !always {
        return Ok(done);
    }
    if found {
        c.scheduler
            .delete_schedule()
            .name(schedule_name(stack))
            .send()
            .await
            .map_err(|e| aws("delete schedule", e))?;
        done.push(format!("schedule {}", schedule_name(stack)));
    }
    let mut pages = c
        .ecs
        .list_task_definitions()
        .family_prefix(family(stack))
        .status(et::TaskDefinitionStatus::Active)
        .into_paginator()
        .items()
        .send();
    let mut arns = Vec::new();
    while let Some(a) = pages.next().await {
        arns.push(a.map_err(|e| aws("list task definitions", e))?);
    }
    for arn in arns {
        // Exactly this family (the prefix also matches cutover-promote-<name>x).
        if !arn.contains(&format!("task-definition/{}:", family(stack))) {
            continue;
        }
        c.ecs
            .deregister_task_definition()
            .task_definition(&arn)
            .send()
            .await
            .map_err(|e| aws("deregister task definition", e))?;
        done.push(format!("task definition {arn}"));
    }
    Ok(done)
}
