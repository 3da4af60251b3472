//! The validation gate: real requests to one colour before it gets traffic,
//! each judged against its expectations.
use std::time::Duration;

use serde::Serialize;

use super::ctx::Ctx;
use crate::config::{ValidateConfig, ValidateRequest};
use crate::error::{invalid, Result};
use crate::probe::{self, truncate, Answer, Outcome};
use crate::providers::Router;
use crate::rollout::Color;

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub request: String,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub passed: bool,
    pub reason: String,
    /// Response body, truncated to 512 bytes.
    pub body: String,
}

/// Checks one answer against a request's expectations.
pub fn judge(r: &ValidateRequest, a: &Answer) -> std::result::Result<(), String> {
    if a.status != r.expect_status {
        return Err(format!("status {}, expected {}", a.status, r.expect_status));
    }
    if let Some(want) = &r.expect_body_contains {
        if !a.body.contains(want.as_str()) {
            return Err(format!("body does not contain {want:?}"));
        }
    }
    if !r.expect_json.is_empty() {
        let v: serde_json::Value =
            serde_json::from_str(&a.body).map_err(|e| format!("body is not JSON: {e}"))?;
        for (ptr, want) in &r.expect_json {
            match v.pointer(ptr) {
                Some(got) if got == want => {}
                Some(got) => return Err(format!("{ptr} is {got}, expected {want}")),
                None => return Err(format!("{ptr} is missing from the body")),
            }
        }
    }
    if let Some(max) = r.max_latency {
        if a.latency > max {
            return Err(format!(
                "took {} ms, over max_latency {} ms",
                a.latency.as_millis(),
                max.as_millis()
            ));
        }
    }
    Ok(())
}

/// Builds a check from one answer (or transport error).
pub fn check_of(r: &ValidateRequest, label: String, res: Outcome, took: Duration) -> Check {
    match res {
        Ok(a) => {
            let verdict = judge(r, &a);
            Check {
                request: label,
                status: Some(a.status),
                latency_ms: a.latency.as_millis() as u64,
                passed: verdict.is_ok(),
                reason: verdict.err().unwrap_or_else(|| "ok".into()),
                body: truncate(&a.body, 512),
            }
        }
        Err(e) => Check {
            request: label,
            status: None,
            latency_ms: took.as_millis() as u64,
            passed: false,
            reason: e,
            body: String::new(),
        },
    }
}

/// An HTTP client for `v`'s requests (its timeout, its extra CA).
pub fn http_client(v: &ValidateConfig) -> Result<reqwest::Client> {
    probe::client(v.ca_pem.as_deref(), v.timeout).map_err(invalid)
}

/// Sends every request `repeat` times to colour `color`: to `validate.url`
/// when set, otherwise through the provider's route to that colour.
pub async fn run(ctx: &Ctx<'_>, v: &ValidateConfig, color: Color) -> Result<Vec<Check>> {
    match &v.url {
        Some(u) => ctx.out.info(&format!("validating {color} through {u}")),
        None => ctx
            .out
            .info(&format!("validating {color} through its test route")),
    }
    send_all(ctx, v, color, true).await
}

/// The same requests without progress lines (a probe round during a bake).
pub async fn run_quiet(ctx: &Ctx<'_>, v: &ValidateConfig, color: Color) -> Result<Vec<Check>> {
    send_all(ctx, v, color, false).await
}

async fn send_all(
    ctx: &Ctx<'_>,
    v: &ValidateConfig,
    color: Color,
    verbose: bool,
) -> Result<Vec<Check>> {
    let http = http_client(v)?;
    let mut checks = Vec::new();
    for r in &v.requests {
        for _ in 0..v.repeat {
            let start = std::time::Instant::now();
            let (label, res) = match &v.url {
                Some(base) => (
                    format!("{} {base}{}", r.method, r.path),
                    probe::http(&http, base, r, &[]).await,
                ),
                None => (
                    format!("{} {color} {}", r.method, r.path),
                    ctx.router.send(color, r, &http).await,
                ),
            };
            let c = check_of(r, label, res, start.elapsed());
            if verbose {
                ctx.out.detail(&format!(
                    "  {} -> {:?} in {} ms: {}",
                    c.request, c.status, c.latency_ms, c.reason
                ));
            }
            checks.push(c);
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> ValidateRequest {
        ValidateRequest {
            payload: "{}".into(),
            content_type: "application/json".into(),
            path: "/invocations".into(),
            method: "POST".into(),
            expect_status: 200,
            expect_body_contains: Some("predictions".into()),
            expect_json: vec![("/predictions/0".into(), serde_json::json!(0))],
            max_latency: Some(Duration::from_millis(100)),
        }
    }

    fn ans(status: u16, body: &str, ms: u64) -> Answer {
        Answer {
            status,
            body: body.into(),
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn judge_checks_everything() {
        let r = req();
        assert!(judge(&r, &ans(200, r#"{"predictions": [0]}"#, 5)).is_ok());
        assert!(judge(&r, &ans(500, r#"{"predictions": [0]}"#, 0))
            .unwrap_err()
            .contains("status 500"));
        assert!(judge(&r, &ans(200, r#"{"predictions": [2]}"#, 0))
            .unwrap_err()
            .contains("/predictions/0"));
        assert!(judge(&r, &ans(200, r#"{"x": 1}"#, 0))
            .unwrap_err()
            .contains("does not contain"));
        assert!(judge(&r, &ans(200, r#"{"predictions": [0]}"#, 1000))
            .unwrap_err()
            .contains("max_latency"));
    }

    #[test]
    fn truncate_keeps_characters_whole() {
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("ab", 5), "ab");
    }
}
