//! `schedule`: promotion without a cron host. Creates or updates an
//! EventBridge Scheduler schedule `cutover-<name>` that runs `cutover promote
//! -c P` as an ECS Fargate task from the team's image; `--remove` deletes it.
use std::time::Duration;

use serde_json::json;

use crate::aws::scheduler::{self, Spec};
use crate::engine::lease::locked;
use crate::engine::Ctx;
use crate::error::{invalid, Error, Result};

/// The flags of `schedule`, as given.
pub struct Args<'a> {
    pub image: Option<&'a str>,
    pub cluster: Option<&'a str>,
    pub subnets: &'a [String],
    pub security_groups: &'a [String],
    pub role_arn: Option<&'a str>,
    pub task_role_arn: Option<&'a str>,
    pub execution_role_arn: Option<&'a str>,
    pub every: Duration,
    pub config_path: Option<&'a str>,
    pub assign_public_ip: bool,
    pub remove: bool,
}

/// The typed spec, or a one-line error naming the flag (exit 2, no AWS call).
fn spec(ctx: &Ctx<'_>, a: &Args<'_>) -> Result<Spec> {
    let secs = a.every.as_secs();
    if secs < 60 || !secs.is_multiple_of(60) || a.every.subsec_nanos() != 0 {
        return Err(invalid(format!(
            "--every {}: EventBridge Scheduler runs at most once a minute; give whole minutes (e.g. 1m, 5m)",
            humantime::format_duration(a.every)
        )));
    }
    let role = a.role_arn.unwrap_or_default();
    let parts: Vec<&str> = role.split(':').collect();
    if parts.len() != 6 || parts[2] != "iam" || !parts[5].starts_with("role/") {
        return Err(invalid(format!(
            "--role-arn \"{role}\" is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"
        )));
    }
    if a.subnets.iter().any(|s| !s.starts_with("subnet-")) || a.subnets.is_empty() {
        return Err(invalid(
            "--subnets takes subnet ids (subnet-…), comma-separated",
        ));
    }
    let image = a.image.unwrap_or_default();
    if image.is_empty() || image.contains(char::is_whitespace) {
        return Err(invalid(format!(
            "--image \"{image}\" is not an image reference"
        )));
    }
    Ok(Spec {
        stack: ctx.cfg.name.clone(),
        image: image.to_string(),
        cluster: a.cluster.unwrap_or_default().to_string(),
        subnets: a.subnets.to_vec(),
        security_groups: a.security_groups.to_vec(),
        role_arn: role.to_string(),
        task_role_arn: a.task_role_arn.map(String::from),
        execution_role_arn: a.execution_role_arn.map(String::from),
        every_minutes: secs / 60,
        config_path: a
            .config_path
            .map(String::from)
            .unwrap_or_else(|| ctx.cfg.path.display().to_string()),
        assign_public_ip: a.assign_public_ip,
    })
}

pub async fn run(ctx: &Ctx<'_>, a: &Args<'_>) -> Result<()> {
    let s = if a.remove { None } else { Some(spec(ctx, a)?) };
    ctx.load_known().await?;
    locked(ctx, "schedule", async || {
        let (text, v) = match &s {
            Some(s) => {
                let what = scheduler::apply(ctx.clients, s).await?;
                let v = json!({
                    "stack": ctx.cfg.name,
                    "schedule": scheduler::schedule_name(&s.stack),
                    "task_definition_family": scheduler::family(&s.stack),
                    "expression": scheduler::expression(s.every_minutes),
                    "command": s.command(),
                    "image": s.image,
                });
                (what, v)
            }
            None => {
                let done = scheduler::remove(ctx.clients, &ctx.cfg.name, true).await?;
                let text = if done.is_empty() {
                    "nothing to remove".to_string()
                } else {
                    format!("removed {}", done.join(", "))
                };
                (text, json!({"stack": ctx.cfg.name, "removed": done}))
            }
        };
        ctx.journal("schedule", &text, &ctx.load().await?.0).await?;
        ctx.out.result(&text, v);
        Ok::<(), Error>(())
    })
    .await
}
