//! Runs `[compare]`: every request to the live colour and to the candidate
//! (bounded concurrency, paced so a big set cannot overload live), then the
//! report and its verdict.
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};

use super::ctx::Ctx;
use crate::compare::{Pair, Report};
use crate::config::CompareConfig;
use crate::error::{invalid, Result};
use crate::probe::{self, Request};
use crate::providers::Router;
use crate::rollout::Color;

pub async fn run(
    ctx: &Ctx<'_>,
    c: &CompareConfig,
    live: Color,
    candidate: Color,
) -> Result<Report> {
    let ca = ctx.cfg.validate.as_ref().and_then(|v| v.ca_pem.clone());
    let http = probe::client(ca.as_deref(), c.timeout).map_err(invalid)?;
    let rows: Vec<_> = c.requests.iter().take(c.max_requests).collect();
    ctx.out.info(&format!(
        "comparing {candidate} with {live} on {} request(s)",
        rows.len()
    ));
    let start = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / c.rate);
    let pairs: Vec<Pair> = stream::iter(rows.into_iter().enumerate())
        .map(|(i, row)| {
            let http = &http;
            async move {
                // Pacing: request i leaves no earlier than i / rate.
                if let Some(wait) = (gap * i as u32).checked_sub(start.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
                let req = Request {
                    payload: row.body.clone(),
                    content_type: row.content_type.clone(),
                    path: c.path.clone(),
                    method: "POST".into(),
                    expect_status: 200,
                    expect_body_contains: None,
                    expect_json: vec![],
                    max_latency: None,
                };
                let (l, k) = tokio::join!(
                    ctx.router.send(live, &req, http),
                    ctx.router.send(candidate, &req, http)
                );
                Pair {
                    input: row.body.clone(),
                    expect: row.expect.clone(),
                    live: l,
                    candidate: k,
                }
            }
        })
        .buffered(c.concurrency)
        .collect()
        .await;
    Ok(Report::build(&pairs, &c.thresholds))
}
