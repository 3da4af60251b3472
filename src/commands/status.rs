//! `status`: colours, versions, weights as read from AWS, rollout state,
//! alarms and the last events.
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::engine::watch::read_alarms;
use crate::engine::Ctx;
use crate::error::{Error, Result};
use crate::providers::{Release, Router};
use crate::rollout::Color;

pub async fn run(ctx: &Ctx<'_>) -> Result<()> {
    let (text, v) = snapshot(ctx).await?;
    ctx.out.result(&text, v);
    Ok(())
}

/// `status --watch`: repaints until interrupted: weights as bars, healthy
/// targets per colour, alarms, the step and the time left in its bake.
pub async fn watch(ctx: &Ctx<'_>, every: Duration) -> Result<()> {
    loop {
        let (text, v) = snapshot(ctx).await?;
        if ctx.out.json {
            crate::output::stdout_line(&v.to_string());
        } else {
            let mut screen = String::new();
            for c in Color::BOTH {
                let pct = v["weights"][c.as_str()].as_u64().unwrap_or(0) as usize;
                let healthy = match ctx.release.healthy(c).await {
                    Ok(n) => n.to_string(),
                    Err(_) => "-".into(),
                };
                screen.push_str(&format!(
                    "{:<6} {:<50} {pct:>3}%  healthy {healthy}\n",
                    c.as_str(),
                    "#".repeat(pct / 2)
                ));
            }
            if let Some(left) = bake_left(ctx, &v) {
                screen.push_str(&format!("bake   {left}s left in this step\n"));
            }
            screen.push('\n');
            screen.push_str(&text);
            // Clear the screen and home the cursor (our own sequence).
            crate::output::stdout_raw("\x1b[2J\x1b[H", &screen);
        }
        crate::signal::pause(every).await?;
    }
}

/// Seconds left in the current step's bake, while shifting.
fn bake_left(ctx: &Ctx<'_>, v: &Value) -> Option<u64> {
    if v["rollout"]["state"] != "shifting" {
        return None;
    }
    let at = v["rollout"]["step_started_at"].as_u64()?;
    let end = at + ctx.cfg.rollout.bake.as_millis() as u64;
    Some(end.saturating_sub(crate::store::now_ms()).div_ceil(1000))
}

/// The status as text and as JSON.
pub async fn snapshot(ctx: &Ctx<'_>) -> Result<(String, Value)> {
    let (doc, _) = ctx.load_known().await?;
    let weights = match ctx.router.weights().await {
        Ok(w) => w,
        Err(Error::Invalid(_)) => None,
        Err(e) => return Err(e),
    };
    let alarms = read_alarms(ctx, doc.status.candidate.or(doc.status.live)).await?;
    let events = ctx.store.history(Some(5)).await?;
    let versions: BTreeMap<String, Option<String>> = Color::BOTH
        .iter()
        .map(|c| (c.as_str().to_string(), doc.versions.get(c).cloned()))
        .collect();
    let w_json = weights
        .map(|w| json!({"blue": w.blue, "green": w.green}))
        .unwrap_or(Value::Null);
    let drift = match (weights, doc.weights.or(doc.status.weights())) {
        (Some(seen), Some(rec)) => seen != rec,
        _ => false,
    };
    let candidate = doc.status.active_candidate();
    let route53 = route53_json(ctx, weights).await?;
    let shadow = shadow_json(ctx, &doc).await?;
    let v = json!({
        "stack": ctx.cfg.name,
        "provider": ctx.cfg.provider(),
        "live": doc.status.live,
        "candidate": candidate,
        "weights": w_json,
        "recorded_weights": doc.weights,
        "drift": drift,
        "versions": versions,
        "artifacts": doc.artifacts,
        "rollout": {
            "state": doc.status.phase.as_str(),
            "step": doc.status.step,
            "steps": if doc.status.steps.is_empty() { ctx.cfg.rollout.steps.clone() } else { doc.status.steps.clone() },
            "pauses": if doc.status.steps.is_empty() { ctx.cfg.rollout.pauses.clone() } else { doc.status.pauses.clone() },
            "step_started_at": doc.status.step_at,
            "completed_at": doc.status.complete_at,
            "hold_reason": doc.status.hold_reason,
            "stopped_by": doc.status.stopped_by.map(|c| c.as_str()),
            "scale_down_due": doc.status.scale_down_due(&ctx.spec()),
            "pause_deadline": doc.status.pause_deadline().map(|(at, then)| json!({"at": at, "then": then.as_str()})),
        },
        "alarms": alarms.iter().map(|a| json!({"name": a.name, "state": a.state_str()})).collect::<Vec<_>>(),
        "last_error": doc.last_error,
        "schedule": ctx.cfg.schedule.as_ref().map(|c| {
            let now = crate::store::now_ms();
            json!({
                "windows": c.describe(),
                "open": c.open(now),
                "next_window": c.next_open(now).map(|n| c.show(n)),
            })
        }),
        "pending": doc.pending.as_ref().map(|p| p.note.clone()),
        "compare": doc.compare,
        "judge": doc.judge,
        "experiment": experiment_json(ctx, &doc),
        "route53": route53,
        "shadow": shadow,
        "aws": {
            "region": ctx.clients.region,
            "role_arn": ctx.cfg.role.as_ref().map(|r| r.arn.clone()),
            "session": ctx.cfg.role.as_ref().map(|r| r.session.clone()),
        },
        "registry": ctx.cfg.registry.as_ref().map(|r| json!({
            "model": r.model,
            "alias": r.alias,
            "follow": r.follow,
            "live_version": doc.status.live.filter(|c| doc.models.get(c) == Some(&r.model)).and_then(|c| doc.versions.get(&c)),
        })),
        "pending_repair": doc.alias_owed.as_ref().map(|a| json!({
            "kind": "registry-alias",
            "model": a.model,
            "alias": a.alias,
            "version": a.version,
            "error": a.error,
            "note": a.to_string(),
        })),
        "hooks_due": doc.hooks_due,
        "events": events,
    });
    let mut t = format!("stack     {} ({})\n", ctx.cfg.name, ctx.cfg.provider());
    t.push_str(&format!(
        "live      {}\n",
        doc.status.live.map(|c| c.as_str()).unwrap_or("none")
    ));
    for c in Color::BOTH {
        t.push_str(&format!(
            "{:<9} version {:<16} weight {}\n",
            c.as_str(),
            doc.versions.get(&c).map(String::as_str).unwrap_or("-"),
            weights
                .map(|w| format!("{}%", w.of(c)))
                .unwrap_or_else(|| "-".into())
        ));
    }
    t.push_str(&format!(
        "rollout   {} (step {}/{})\n",
        doc.status.phase.as_str(),
        doc.status.step,
        if doc.status.steps.is_empty() {
            ctx.cfg.rollout.steps.len()
        } else {
            doc.status.steps.len()
        }
    ));
    if doc.status.phase == crate::rollout::Phase::Paused {
        t.push_str("          paused: `cutover continue` applies the next step\n");
    }
    if drift {
        t.push_str(&format!(
            "DRIFT     AWS routes {} but cutover recorded {}\n",
            weights.map(|w| w.to_string()).unwrap_or_default(),
            doc.weights.map(|w| w.to_string()).unwrap_or_default()
        ));
    }
    if let Some(e) = &doc.last_error {
        t.push_str(&format!("last      {e}\n"));
    }
    if let Some(p) = &doc.pending {
        t.push_str(&format!(
            "pending   {} (interrupted; the next shift/promote/rollback repairs it)\n",
            p.note
        ));
    }
    if let Some(a) = &doc.alias_owed {
        t.push_str(&format!(
            "pending   {a} (not yet in MLflow{}; the next shift/promote/rollback/deploy retries it)\n",
            a.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
        ));
    }
    for a in &alarms {
        t.push_str(&format!("alarm     {:<30} {}\n", a.name, a.state_str()));
    }
    if let Some(c) = doc.status.stopped_by {
        t.push_str(&format!("stopped   by {}\n", c.as_str()));
    }
    if let Some(r) = &doc.status.hold_reason {
        t.push_str(&format!(
            "held      {r} (run `cutover continue` or `cutover rollback`)\n"
        ));
    }
    if let Some((at, then)) = doc.status.pause_deadline() {
        t.push_str(&format!(
            "pause     until {}, then {} (or `cutover continue` now)\n",
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(at)),
            then.as_str()
        ));
    }
    if let Some(c) = &ctx.cfg.schedule {
        let now = crate::store::now_ms();
        t.push_str(&format!("schedule  {} ({})\n", c.describe(), c.state(now)));
    }
    if let Some(c) = &doc.compare {
        t.push_str(&format!("compare   {}\n", c.summary()));
    }
    if let Some(j) = &doc.judge {
        t.push_str(&format!("judge     {}\n", j.summary()));
    }
    if let Some(s) = &v["shadow"].as_object() {
        let left = s
            .get("ends_at")
            .and_then(Value::as_u64)
            .map(|e| {
                format!(
                    ", {}s left",
                    e.saturating_sub(crate::store::now_ms()) / 1000
                )
            })
            .unwrap_or_default();
        t.push_str(&format!(
            "shadow    {}% sampled, {} request(s) mirrored, verdict {}{left}\n",
            s["sampling"],
            s.get("requests").and_then(Value::as_u64).unwrap_or(0),
            s.get("verdict").and_then(Value::as_str).unwrap_or("-"),
        ));
    }
    if let (Some(e), Some(r)) = (&ctx.cfg.experiment, &doc.experiment) {
        t.push_str(&format!("{}\n", r.summary(e.alpha)));
    }
    for e in &events {
        t.push_str(&format!(
            "event     {}  {:<18} {}\n",
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(e.at)),
            e.event,
            e.detail
        ));
    }
    Ok((t.trim_end().to_string(), v))
}

/// `"route53"`: the records' weights and the split that fresh DNS queries
/// get from the name servers (the emulator's, or the zone's).
async fn route53_json(ctx: &Ctx<'_>, weights: Option<crate::rollout::Weights>) -> Result<Value> {
    let (Some(r), crate::config::Backend::Ecs(e)) = (ctx.router.records(), &ctx.cfg.backend) else {
        return Ok(Value::Null);
    };
    let Some(cfg) = &e.route53 else {
        return Ok(Value::Null);
    };
    let endpoint = ctx
        .clients
        .endpoint_flag
        .clone()
        .or_else(|| {
            std::env::var("AWS_ENDPOINT_URL_ROUTE_53")
                .ok()
                .filter(|u| !u.is_empty())
        })
        .or_else(|| ctx.clients.conf.endpoint_url().map(String::from));
    let resolved = r.resolved(endpoint.as_deref(), 40).await.unwrap_or(None);
    Ok(json!({
        "hosted_zone_id": cfg.hosted_zone_id,
        "record": cfg.record,
        "weights": weights.map(|w| json!({"blue": w.blue, "green": w.green})),
        "resolved": resolved,
    }))
}

/// `"shadow"`: sampling, requests mirrored (read now while the phase runs)
/// and the verdict once it ended; null without `[shadow]`.
async fn shadow_json(ctx: &Ctx<'_>, doc: &crate::store::StackDoc) -> Result<Value> {
    let Some(s) = &ctx.cfg.shadow else {
        return Ok(Value::Null);
    };
    let running = doc.status.phase == crate::rollout::Phase::Shadowing;
    let (requests, verdict, started) = match (running, doc.status.candidate, &doc.shadow) {
        (true, Some(c), r) => {
            let from = match r {
                Some(r) if r.candidate == c && r.verdict.is_none() => r.started,
                _ => doc.status.step_at.unwrap_or(0),
            };
            let n = crate::engine::shadow::mirrored(ctx, c, from, crate::store::now_ms()).await?;
            (Some(n), None, Some(from))
        }
        (_, _, Some(r)) => (Some(r.requests), r.verdict.clone(), Some(r.started)),
        _ => (None, None, None),
    };
    let ends = match (running, started) {
        (true, Some(from)) => doc.status.shadow_ms.map(|ms| from + ms),
        _ => None,
    };
    Ok(json!({
        "sampling": s.sampling,
        "duration_ms": s.duration.as_millis() as u64,
        "requests": requests,
        "verdict": verdict,
        "started_at": started,
        "ends_at": ends,
    }))
}

/// `"experiment"`: the A/B counts per colour, p and the verdict (null
/// until decided); null without `[experiment]` or before one ran.
fn experiment_json(ctx: &Ctx<'_>, doc: &crate::store::StackDoc) -> Value {
    let (Some(e), Some(r)) = (&ctx.cfg.experiment, &doc.experiment) else {
        return match &ctx.cfg.experiment {
            Some(e) => {
                json!({"verdict": null, "p": null, "split": e.split, "blue": null, "green": null})
            }
            None => Value::Null,
        };
    };
    let one = |c: Color| {
        let n = r.of(c);
        json!({
            "trials": n.trials,
            "successes": n.successes,
            "rate": n.rate(),
            "interval": crate::judge::proportions::wilson(n, e.alpha),
        })
    };
    json!({
        "verdict": r.verdict.map(|v| v.as_str()),
        "p": r.p,
        "lift": r.lift,
        "split": e.split,
        "candidate": r.candidate,
        "blue": one(Color::Blue),
        "green": one(Color::Green),
        "trials_needed": r.needed,
        "min_samples": e.min_samples,
        "started_at": r.started,
        "reason": r.reason,
    })
}
