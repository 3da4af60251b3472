//! Managed alarms: `[[alarms.create]]` entries that `provision` creates once
//! per colour, with that colour's dimensions.
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};

use crate::app::Ctx;
use crate::config::{ManagedAlarm, ProviderKind};
use crate::error::{aws, Result};
use crate::provider::Change;
use crate::rollout::Color;

/// One concrete alarm to create.
#[derive(Clone, Debug)]
pub struct Planned {
    pub color: Color,
    pub name: String,
    pub spec: ManagedAlarm,
}

fn concrete(ctx: &Ctx<'_>) -> Vec<Planned> {
    let mut out = Vec::new();
    for a in &ctx.cfg.alarms.create {
        for c in Color::BOTH {
            let vars = crate::template::Vars {
                name: &ctx.cfg.name,
                version: "",
                color: c.as_str(),
                region: &ctx.clients.region,
            };
            if let Ok(name) = crate::template::render("alarms.create.name", &a.name, &vars) {
                out.push(Planned {
                    color: c,
                    name,
                    spec: a.clone(),
                });
            }
        }
    }
    out
}

/// Changes needed: alarms that are missing or differ from the config.
pub async fn plan(ctx: &Ctx<'_>) -> Result<Vec<Change>> {
    let want = concrete(ctx);
    if want.is_empty() {
        return Ok(vec![]);
    }
    let names: Vec<String> = want.iter().map(|p| p.name.clone()).collect();
    let mut have = std::collections::HashMap::new();
    for chunk in names.chunks(100) {
        let out = ctx
            .clients
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| aws("describe alarms", e))?;
        for a in out.metric_alarms() {
            have.insert(a.alarm_name().unwrap_or_default().to_string(), a.clone());
        }
    }
    let mut changes = Vec::new();
    for p in want {
        match have.get(&p.name) {
            None => changes.push(Change::new(
                "create",
                format!("alarm {} ({} on {})", p.name, p.spec.metric, p.color),
            )),
            Some(a) => {
                let same = a.metric_name() == Some(p.spec.metric.as_str())
                    && a.threshold() == Some(p.spec.threshold)
                    && a.period() == Some(p.spec.period as i32)
                    && a.evaluation_periods() == Some(p.spec.evaluation_periods as i32)
                    && a.comparison_operator().map(|c| c.as_str())
                        == Some(p.spec.comparison.as_str());
                if !same {
                    changes.push(Change::new("update", format!("alarm {}", p.name)));
                }
            }
        }
    }
    Ok(changes)
}

/// Creates or updates the alarms named in `changes`.
pub async fn apply(ctx: &Ctx<'_>, changes: &[Change]) -> Result<()> {
    for p in concrete(ctx) {
        if !changes
            .iter()
            .any(|c| c.resource.starts_with(&format!("alarm {}", p.name)))
        {
            continue;
        }
        let dims = dimensions(ctx, p.color).await?;
        let ns = p
            .spec
            .namespace
            .clone()
            .unwrap_or_else(|| match ctx.cfg.provider {
                ProviderKind::Ecs => "AWS/ApplicationELB".into(),
                ProviderKind::Sagemaker => "AWS/SageMaker".into(),
            });
        let mut req = ctx
            .clients
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&p.name)
            .metric_name(&p.spec.metric)
            .namespace(ns)
            .statistic(Statistic::from(p.spec.statistic.as_str()))
            .period(p.spec.period as i32)
            .evaluation_periods(p.spec.evaluation_periods as i32)
            .threshold(p.spec.threshold)
            .comparison_operator(ComparisonOperator::from(p.spec.comparison.as_str()))
            .treat_missing_data("notBreaching")
            .alarm_description(format!(
                "managed by cutover stack {} ({})",
                ctx.cfg.name, p.color
            ));
        for (k, v) in dims {
            req = req.dimensions(Dimension::builder().name(k).value(v).build());
        }
        for (k, v) in crate::aws::tags(&ctx.cfg.name, Some(p.color)) {
            req = req.tags(Tag::builder().key(k).value(v).build());
        }
        ctx.out.info(&format!("  put alarm {}", p.name));
        req.send().await.map_err(|e| aws("put metric alarm", e))?;
    }
    Ok(())
}

async fn dimensions(ctx: &Ctx<'_>, c: Color) -> Result<Vec<(String, String)>> {
    Ok(match ctx.cfg.provider {
        ProviderKind::Sagemaker => vec![
            ("EndpointName".into(), ctx.cfg.name.clone()),
            ("VariantName".into(), c.as_str().into()),
        ],
        ProviderKind::Ecs => {
            let suffix = |arn: &str, marker: &str| {
                arn.split_once(marker)
                    .map(|(_, s)| {
                        format!(
                            "{}{s}",
                            marker.trim_start_matches(':').trim_start_matches('/')
                        )
                    })
                    .unwrap_or_default()
            };
            let lb = ctx
                .clients
                .elb
                .describe_load_balancers()
                .names(&ctx.cfg.name)
                .send()
                .await
                .map_err(|e| aws("describe load balancers", e))?;
            let lb_arn = lb
                .load_balancers()
                .first()
                .and_then(|l| l.load_balancer_arn())
                .unwrap_or_default()
                .to_string();
            let tg = ctx
                .clients
                .elb
                .describe_target_groups()
                .names(format!("{}-{c}", ctx.cfg.name))
                .send()
                .await
                .map_err(|e| aws("describe target groups", e))?;
            let tg_arn = tg
                .target_groups()
                .first()
                .and_then(|t| t.target_group_arn())
                .unwrap_or_default()
                .to_string();
            vec![
                ("TargetGroup".into(), suffix(&tg_arn, ":targetgroup/")),
                (
                    "LoadBalancer".into(),
                    suffix(&lb_arn, ":loadbalancer/")
                        .trim_start_matches("loadbalancer/")
                        .to_string(),
                ),
            ]
        }
    })
}

/// Deletes the managed alarms.
pub async fn destroy(ctx: &Ctx<'_>) -> Result<Vec<String>> {
    let names: Vec<String> = concrete(ctx).into_iter().map(|p| p.name).collect();
    if names.is_empty() {
        return Ok(vec![]);
    }
    let existing = crate::alarms::read(&ctx.clients.cloudwatch, &names).await?;
    let gone: Vec<String> = existing
        .into_iter()
        .filter(|a| a.state != "MISSING")
        .map(|a| a.name)
        .collect();
    if gone.is_empty() {
        return Ok(vec![]);
    }
    ctx.clients
        .cloudwatch
        .delete_alarms()
        .set_alarm_names(Some(gone.clone()))
        .send()
        .await
        .map_err(|e| aws("delete alarms", e))?;
    Ok(gone.into_iter().map(|n| format!("alarm {n}")).collect())
}
