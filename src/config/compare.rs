//! `[compare]`: the request set, thresholds, pacing and timeouts.
use std::path::Path;
use std::time::Duration;

use super::locate::Locator;
use super::raw::RawCompare;
use super::CompareConfig;
use crate::compare::{parse_requests, Thresholds};
use crate::error::Result;

fn fraction(loc: &Locator, key: &str, v: Option<f64>, default: f64) -> Result<f64> {
    let v = v.unwrap_or(default);
    if !(0.0..=1.0).contains(&v) {
        return Err(loc.key(key, format!("{v} must be within 0..=1")));
    }
    Ok(v)
}

pub(super) fn compare_config(loc: &Locator, dir: &Path, c: &RawCompare) -> Result<CompareConfig> {
    let file = dir.join(c.requests.get_ref());
    let text = std::fs::read_to_string(&file).map_err(|e| {
        loc.at(
            &c.requests,
            "compare.requests",
            format!("cannot read {}: {e}", file.display()),
        )
    })?;
    let content_type = c
        .content_type
        .clone()
        .unwrap_or_else(|| "application/json".into());
    let requests = parse_requests(&file.display().to_string(), &text, &content_type)
        .map_err(|m| loc.at(&c.requests, "compare.requests", m))?;
    let output = c.output.clone().unwrap_or_default();
    if !(output.is_empty() || output.starts_with('/')) {
        return Err(loc.key(
            "compare.output",
            format!("\"{output}\" is not a JSON pointer (it must start with '/')"),
        ));
    }
    let tolerance = c.tolerance.unwrap_or(0.0);
    if tolerance < 0.0 || !tolerance.is_finite() {
        return Err(loc.key(
            "compare.tolerance",
            format!("{tolerance} must be 0 or more"),
        ));
    }
    if let Some(r) = c.max_latency_ratio {
        if r <= 0.0 || !r.is_finite() {
            return Err(loc.key("compare.max_latency_ratio", format!("{r} must be above 0")));
        }
    }
    let path = c.path.clone().unwrap_or_else(|| "/invocations".into());
    if !path.starts_with('/') {
        return Err(loc.key("compare.path", format!("\"{path}\" must start with '/'")));
    }
    let rate = c.rate.unwrap_or(20.0);
    if rate <= 0.0 || !rate.is_finite() {
        return Err(loc.key(
            "compare.rate",
            format!("{rate} must be above 0 (requests/s)"),
        ));
    }
    let concurrency = c.concurrency.unwrap_or(4);
    if !(1..=64).contains(&concurrency) {
        return Err(loc.key(
            "compare.concurrency",
            format!("{concurrency} must be within 1..=64"),
        ));
    }
    Ok(CompareConfig {
        requests_file: file,
        requests,
        thresholds: Thresholds {
            output,
            tolerance,
            min_agreement: fraction(loc, "compare.min_agreement", c.min_agreement, 0.95)?,
            min_accuracy: c
                .min_accuracy
                .map(|a| fraction(loc, "compare.min_accuracy", Some(a), 0.0))
                .transpose()?,
            max_latency_ratio: c.max_latency_ratio,
        },
        path,
        content_type,
        concurrency: concurrency as usize,
        rate,
        max_requests: c.max_requests.unwrap_or(1000).max(1),
        timeout: c.timeout.unwrap_or(Duration::from_secs(10)),
    })
}
