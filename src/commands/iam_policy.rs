//! `iam-policy`: the least-privilege IAM policy for this config's features,
//! derived from the table of calls in `aws::calls`. Makes no AWS call.
use crate::aws::calls;
use crate::aws::managed::concrete;
use crate::config::{Backend, Config};
use crate::error::{failed, Result};
use crate::output::stdout_line;
use crate::providers::ecs::taskdef;
use crate::template::{render, Vars};

pub fn run(cfg: &Config) -> Result<()> {
    let region = cfg.region.clone().unwrap_or_else(|| "us-east-1".into());
    let alarms: Vec<String> = concrete(cfg, &region)?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let mut roles = Vec::new();
    if let Backend::Ecs(e) = &cfg.backend {
        for c in crate::rollout::Color::BOTH {
            let what = e.task_definition.display().to_string();
            let body = render(
                &what,
                &e.task_definition_source,
                &Vars::new(&cfg.name, "policy", c.as_str(), &region),
            )?;
            let td = taskdef::parse(&what, &body, &e.container_name, e.container_port)?;
            for r in [td.execution_role_arn, td.task_role_arn]
                .into_iter()
                .flatten()
            {
                if !roles.contains(&r) {
                    roles.push(r);
                }
            }
        }
    }
    let doc = calls::policy(cfg, &alarms, &roles);
    stdout_line(&serde_json::to_string_pretty(&doc).map_err(|e| failed(e.to_string()))?);
    Ok(())
}
