//! `[shadow]`: before any weight moves, the candidate runs as a SageMaker
//! shadow variant that gets a copy of `sampling`% of production requests.
use std::time::Duration;

use super::locate::Locator;
use super::raw::RawShadow;
use super::Backend;
use crate::error::Result;

#[derive(Clone, Debug, PartialEq)]
pub struct ShadowConfig {
    /// Percent of production requests copied to the shadow (1..=100).
    pub sampling: u8,
    pub duration: Duration,
    /// Where Data Capture writes both variants' answers (`s3://bucket/prefix`);
    /// None: cutover's own bucket `cutover-<account>-<region>-capture`.
    pub capture: Option<String>,
}

impl ShadowConfig {
    /// Where captured answers go: (bucket, prefix without slashes, cutover's
    /// own bucket). `account`: of the execution role (None: unknown).
    pub fn capture_at(
        &self,
        stack: &str,
        account: Option<&str>,
        region: &str,
    ) -> Option<(String, String, bool)> {
        if let Some(uri) = &self.capture {
            let rest = uri.trim_start_matches("s3://");
            let (b, p) = rest.split_once('/').unwrap_or((rest, ""));
            return Some((b.to_string(), p.trim_end_matches('/').to_string(), false));
        }
        let account = account.filter(|a| !a.is_empty())?;
        Some((
            format!("cutover-{account}-{region}-capture"),
            stack.to_string(),
            true,
        ))
    }
}

pub fn check_shadow(
    loc: &Locator,
    raw: Option<&RawShadow>,
    backend: &Backend,
) -> Result<Option<ShadowConfig>> {
    let Some(s) = raw else { return Ok(None) };
    if matches!(backend, Backend::Ecs(_)) {
        return Err(loc.key(
            "shadow",
            "needs provider = \"sagemaker\": an ALB cannot mirror requests; on ECS, replay captured traffic to both colours with [compare] (requests = a Data Capture or JSON-lines file) instead".into(),
        ));
    }
    let sampling = *s.sampling.get_ref();
    if !(1..=100).contains(&sampling) {
        return Err(loc.at(
            &s.sampling,
            "shadow.sampling",
            format!("{sampling} must be within 1..=100 (percent of production requests copied to the shadow)"),
        ));
    }
    if s.duration.is_zero() {
        return Err(loc.key(
            "shadow.duration",
            "must be longer than 0s (e.g. \"10m\")".into(),
        ));
    }
    if let Some(c) = &s.capture {
        let ok = c
            .strip_prefix("s3://")
            .and_then(|r| r.split('/').next())
            .is_some_and(|b| (3..=63).contains(&b.len()));
        if !ok {
            return Err(loc.key(
                "shadow.capture",
                format!("\"{c}\" is not an S3 location (e.g. \"s3://my-bucket/capture\")"),
            ));
        }
    }
    Ok(Some(ShadowConfig {
        sampling: sampling as u8,
        duration: s.duration,
        capture: s.capture.clone(),
    }))
}
