//! Provisioning, plan first: every step `provision` would take is computed
//! before any side effect, `plan` prints exactly that list, and `provision`
//! executes exactly that list.
use std::collections::HashMap;

use serde::Serialize;

use super::ctx::Ctx;
use crate::aws::managed::{self, Planned};
use crate::error::Result;
use crate::providers::{Observed, ReleaseStep, Stack};
use crate::store::StackDoc;

/// One provisioning step.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    CreateTable,
    Release(ReleaseStep),
    CreateAlarm(Planned),
    UpdateAlarm(Planned),
    CreateStateRecord,
    /// The CloudWatch dashboard `cutover-<name>` (created, or brought to the config).
    PutDashboard,
}

/// A step as `plan` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    pub action: String,
    pub resource: String,
}

/// What `provision` would do, and the state it read on the way.
pub struct Plan {
    pub steps: Vec<Step>,
    pub state: Option<(StackDoc, u64)>,
    seen: Observed,
}

impl Plan {
    pub fn changes(&self, ctx: &Ctx<'_>) -> Vec<Change> {
        self.steps.iter().map(|s| describe(ctx, s)).collect()
    }
}

pub fn describe(ctx: &Ctx<'_>, s: &Step) -> Change {
    let (action, resource) = match s {
        Step::CreateTable => ("create", format!("DynamoDB table {}", ctx.cfg.state_table)),
        Step::Release(step) => ctx.release.describe_step(step),
        Step::CreateAlarm(p) => (
            "create",
            format!("alarm {} ({} on {})", p.name, p.spec.metric, p.color),
        ),
        Step::UpdateAlarm(p) => ("update", format!("alarm {}", p.name)),
        Step::CreateStateRecord => ("create", format!("state record of stack {}", ctx.cfg.name)),
        Step::PutDashboard => (
            "put",
            format!(
                "CloudWatch dashboard {} (requests, 5xx, latency and weight per colour)",
                crate::aws::dashboard::name(&ctx.cfg.name)
            ),
        ),
    };
    Change {
        action: action.into(),
        resource,
    }
}

/// The steps that managed alarms need, given the ones that exist. Pure.
pub fn alarm_steps(
    want: Vec<Planned>,
    have: &HashMap<String, aws_sdk_cloudwatch::types::MetricAlarm>,
) -> Vec<Step> {
    want.into_iter()
        .filter_map(|p| match have.get(&p.name) {
            None => Some(Step::CreateAlarm(p)),
            Some(a) if !managed::matches(a, &p.spec) => Some(Step::UpdateAlarm(p)),
            Some(_) => None,
        })
        .collect()
}

/// Reads AWS (read-only; foreign resources are refused here) and computes the steps.
pub async fn plan(ctx: &Ctx<'_>) -> Result<Plan> {
    let state = ctx.store.load_if_table().await?;
    let mut steps = Vec::new();
    if state.is_none() {
        steps.push(Step::CreateTable);
    }
    let status = state
        .as_ref()
        .map(|(d, _)| d.status.clone())
        .unwrap_or_default();
    let (release, seen) = ctx.release.plan_steps(&status).await?;
    steps.extend(release.into_iter().map(Step::Release));
    let want = managed::concrete(ctx.cfg, &ctx.clients.region)?;
    if !want.is_empty() {
        let names: Vec<String> = want.iter().map(|p| p.name.clone()).collect();
        let have = managed::existing(&ctx.clients.cloudwatch, &names).await?;
        steps.extend(alarm_steps(want, &have));
    }
    if state.as_ref().is_none_or(|(_, rev)| *rev == 0) {
        steps.push(Step::CreateStateRecord);
    }
    if dashboard_due(ctx).await? {
        steps.push(Step::PutDashboard);
    }
    Ok(Plan { steps, state, seen })
}

/// The dashboard body for the stack as it stands (the release's dimensions
/// need its resources: after the release steps).
async fn dashboard_body(ctx: &Ctx<'_>) -> Result<serde_json::Value> {
    use crate::providers::Release;
    let mut dims = Vec::new();
    for c in crate::rollout::Color::BOTH {
        let mut d = ctx.release.alarm_dimensions(c).await?;
        d.sort();
        dims.push((c, d));
    }
    Ok(crate::aws::dashboard::body(
        &crate::aws::dashboard::Sources {
            stack: &ctx.cfg.name,
            region: &ctx.clients.region,
            namespace: ctx.release.metric_namespace(),
            metrics: ctx.release.metric_names(),
            dims,
        },
    ))
}

/// Whether the dashboard is missing or differs from what it should show.
async fn dashboard_due(ctx: &Ctx<'_>) -> Result<bool> {
    let name = crate::aws::dashboard::name(&ctx.cfg.name);
    let have = match ctx
        .clients
        .cloudwatch
        .get_dashboard()
        .dashboard_name(&name)
        .send()
        .await
    {
        Ok(o) => o
            .dashboard_body()
            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok()),
        // AWS says ResourceNotFound; LocalStack InvalidParameterValue "... does not exist".
        Err(e)
            if e.as_service_error().is_some_and(|x| {
                use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
                x.is_dashboard_not_found_error()
                    || x.message().is_some_and(|m| m.contains("does not exist"))
            }) || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
        {
            None
        }
        Err(e) => return Err(crate::error::aws("get dashboard", e)),
    };
    let Some(have) = have else { return Ok(true) };
    // Before the release's resources exist the body cannot be known: put it.
    Ok(dashboard_body(ctx).await.map_or(true, |want| want != have))
}

/// Runs one step of the plan.
pub async fn apply(ctx: &Ctx<'_>, plan: &mut Plan, step: &Step) -> Result<()> {
    match step {
        Step::CreateTable => ctx.store.create_table().await,
        Step::Release(s) => ctx.release.apply_step(s, &mut plan.seen).await,
        Step::CreateAlarm(a) | Step::UpdateAlarm(a) => {
            let dims = ctx.release.alarm_dimensions(a.color).await?;
            managed::put(
                &ctx.clients.cloudwatch,
                &ctx.cfg.name,
                a,
                ctx.release.metric_namespace(),
                &dims,
            )
            .await
        }
        Step::CreateStateRecord => {
            let (doc, rev) = ctx.load().await?;
            if rev == 0 {
                ctx.store.save(&doc, 0).await?;
            }
            Ok(())
        }
        Step::PutDashboard => {
            let body = dashboard_body(ctx).await?;
            crate::aws::dashboard::put(&ctx.clients.cloudwatch, &ctx.cfg.name, &body).await
        }
    }
}
