//! `iam-policy`: the least-privilege IAM policy for this config's features,
//! derived from the table of calls in `aws::calls`. Makes no AWS call.
use crate::aws::calls;
use crate::aws::managed::concrete;
use crate::config::Config;
use crate::error::{failed, Result};
use crate::output::stdout_line;

pub fn run(cfg: &Config, purpose: calls::PolicyFor) -> Result<()> {
    let region = cfg.region.clone().unwrap_or_else(|| "us-east-1".into());
    let alarms: Vec<String> = concrete(cfg, &region)?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let rendered = crate::providers::rendered(cfg, &region)?;
    let doc = calls::policy(cfg, &alarms, &rendered, purpose);
    stdout_line(&serde_json::to_string_pretty(&doc).map_err(|e| failed(e.to_string()))?);
    if let Some(role) = &cfg.role {
        // The policy above is the role's; whoever runs cutover needs this.
        let caller = serde_json::json!({
            "Sid": "CutoverAssumeRole",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": role.arn,
        });
        eprintln!(
            "note: the policy above is for role {}; the caller (cron host, CI, the schedule's task) needs: {caller}",
            role.arn
        );
    }
    Ok(())
}
