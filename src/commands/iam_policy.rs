//! `iam-policy`: the least-privilege IAM policy for this config's features,
//! derived from the table of calls in `aws::calls`. Makes no AWS call.
use crate::aws::calls;
use crate::aws::managed::concrete;
use crate::config::Config;
use crate::error::{failed, invalid, Result};
use crate::output::stdout_line;

pub fn run(cfg: &Config, purpose: calls::PolicyFor, schedule_role: Option<&str>) -> Result<()> {
    if let Some(r) = schedule_role.filter(|r| !is_role_arn(r)) {
        return Err(invalid(format!(
            "--schedule-role \"{r}\" is not an IAM role ARN; give the role you pass to `cutover schedule --role-arn` (arn:aws:iam::123456789012:role/NAME)"
        )));
    }
    let region = cfg.region.clone().unwrap_or_else(|| "us-east-1".into());
    let alarms: Vec<String> = concrete(cfg, &region)?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let rendered = crate::providers::rendered(cfg, &region)?;
    let doc = calls::policy(cfg, &alarms, &rendered, purpose, schedule_role);
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

/// `arn:<partition>:iam::<12 digits>:role/<name>`.
fn is_role_arn(r: &str) -> bool {
    let p: Vec<&str> = r.splitn(6, ':').collect();
    p.len() == 6
        && p[0] == "arn"
        && p[2] == "iam"
        && p[4].len() == 12
        && p[4].bytes().all(|b| b.is_ascii_digit())
        && p[5].strip_prefix("role/").is_some_and(|n| !n.is_empty())
}
