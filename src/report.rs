//! Read-only commands: plan, status, history, validate.
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::app::{load_state, provision_plan, read_alarms, run_validation, spec, Ctx};
use crate::error::{invalid, Error, Result};
use crate::provider::Provider;
use crate::rollout::{self, Color, Phase};
use crate::state::now_ms;

pub(crate) async fn plan<P: Provider>(ctx: &Ctx<'_>, p: &P) -> Result<i32> {
    let plan = provision_plan(ctx, p).await?;
    let changes = plan.changes;
    let doc = plan.state.map(|(d, _)| d).unwrap_or_default();
    let sp = spec(ctx.cfg);
    let now = now_ms();
    let schedule = rollout::schedule(&sp, &doc.status, now);
    let alarms = read_alarms(ctx, doc.status.candidate.or(Some(doc.status.idle_color())))
        .await
        .unwrap_or_default();
    let poll = ctx.cfg.rollout.poll_interval;
    let mut text = String::new();
    if changes.is_empty() {
        text.push_str("provision: nothing to change\n");
    } else {
        text.push_str("provision would:\n");
        for c in &changes {
            text.push_str(&format!("  {} {}\n", c.action, c.resource));
        }
    }
    let in_rollout = matches!(doc.status.phase, Phase::Ready | Phase::Shifting);
    text.push_str(&format!(
        "\nrollout {}: state {}, step {}/{}\n",
        if in_rollout {
            "in progress"
        } else {
            "schedule (next deploy)"
        },
        doc.status.phase.as_str(),
        doc.status.step,
        if in_rollout {
            doc.status.steps.len()
        } else {
            sp.steps.len()
        }
    ));
    for s in &schedule {
        let at = std::time::UNIX_EPOCH + Duration::from_millis(now + s.at_ms);
        text.push_str(&format!(
            "  step {}: candidate at {:>3}%  at +{} ({}{})\n",
            s.step,
            s.weight,
            humantime::format_duration(Duration::from_secs(s.at_ms / 1000)),
            if in_rollout { "" } else { "if started now: " },
            humantime::format_rfc3339_seconds(at)
        ));
    }
    let total = schedule.last().map(|s| s.at_ms).unwrap_or(0);
    text.push_str(&format!(
        "  total: {} until 100%, then {} before the old colour is retired\n",
        humantime::format_duration(Duration::from_secs(total / 1000)),
        humantime::format_duration(ctx.cfg.rollout.termination_wait)
    ));
    let mut warnings = Vec::new();
    let mut worst = 0u64;
    for a in &alarms {
        if let Some(w) = a.window_secs {
            worst = worst.max(w);
            if Duration::from_secs(w) > ctx.cfg.rollout.bake && sp.steps.len() > 1 {
                warnings.push(format!(
                    "alarm {} needs {}s of data to fire but a bake lasts {}; it could not fire before the next step",
                    a.name,
                    w,
                    humantime::format_duration(ctx.cfg.rollout.bake)
                ));
            }
        }
        if a.state == "MISSING" {
            warnings.push(format!("watched alarm {} does not exist", a.name));
        }
    }
    let detect = Duration::from_secs(worst) + poll;
    text.push_str(&format!(
        "  worst-case detection: {} (alarm window {}s + poll {})\n",
        humantime::format_duration(detect),
        worst,
        humantime::format_duration(poll)
    ));
    for w in &warnings {
        text.push_str(&format!("  warning: {w}\n"));
    }
    ctx.out.result(
        text.trim_end(),
        json!({
            "stack": ctx.cfg.name,
            "changes": changes,
            "rollout": {"state": doc.status.phase.as_str(), "step": doc.status.step, "schedule": schedule, "total_ms": total},
            "detection_ms": detect.as_millis() as u64,
            "warnings": warnings,
        }),
    );
    Ok(0)
}

pub(crate) async fn validate_cmd<P: Provider>(
    ctx: &Ctx<'_>,
    p: &P,
    color: Option<Color>,
) -> Result<i32> {
    let Some(v) = &ctx.cfg.validate else {
        return Err(invalid(format!(
            "{}: no [validate] section",
            ctx.cfg.path.display()
        )));
    };
    let (doc, _) = load_state(ctx).await?;
    let color = color
        .or(doc.status.candidate)
        .unwrap_or(doc.status.idle_color());
    let checks = run_validation(ctx, p, v, color).await?;
    let mut text = String::new();
    for c in &checks {
        text.push_str(&format!(
            "{:<4} {:<50} {:>5} {:>6} ms  {}\n",
            if c.passed { "PASS" } else { "FAIL" },
            c.request,
            c.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            c.latency_ms,
            c.reason
        ));
    }
    let ok = checks.iter().all(|c| c.passed);
    ctx.out.result(
        text.trim_end(),
        json!({"color": color, "passed": ok, "checks": checks}),
    );
    Ok(if ok { 0 } else { 3 })
}

pub(crate) async fn status<P: Provider>(ctx: &Ctx<'_>, p: &P) -> Result<i32> {
    let table = true;
    let (doc, _) = match ctx.store.load_if_table().await? {
        Some((doc, rev)) if rev > 0 => (doc, rev),
        _ => return Err(unknown_stack(ctx)),
    };
    let weights = match p.weights().await {
        Ok(w) => w,
        Err(Error::Invalid(_)) => None,
        Err(e) => return Err(e),
    };
    let alarms = read_alarms(ctx, doc.status.candidate.or(doc.status.live)).await?;
    let events = if table {
        ctx.store.history(Some(5)).await?
    } else {
        vec![]
    };
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
    let candidate = match doc.status.phase {
        Phase::Ready | Phase::Shifting | Phase::FailedValidation | Phase::Complete => {
            doc.status.candidate
        }
        _ => None,
    };
    let v = json!({
        "stack": ctx.cfg.name,
        "provider": ctx.cfg.provider,
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
            "step_started_at": doc.status.step_at,
            "completed_at": doc.status.complete_at,
        },
        "alarms": alarms.iter().map(|a| json!({"name": a.name, "state": a.state})).collect::<Vec<_>>(),
        "last_error": doc.last_error,
        "pending": doc.pending.as_ref().map(|p| p.note.clone()),
        "events": events,
    });
    let mut t = format!("stack     {} ({})\n", ctx.cfg.name, ctx.cfg.provider);
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
    for a in &alarms {
        t.push_str(&format!("alarm     {:<30} {}\n", a.name, a.state));
    }
    for e in &events {
        t.push_str(&format!(
            "event     {}  {:<18} {}\n",
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(e.at)),
            e.event,
            e.detail
        ));
    }
    ctx.out.result(t.trim_end(), v);
    Ok(0)
}

pub(crate) fn unknown_stack(ctx: &Ctx<'_>) -> Error {
    invalid(format!(
        "stack {} is unknown (no state in DynamoDB table {}); run `cutover provision` first",
        ctx.cfg.name, ctx.cfg.state_table
    ))
}

pub(crate) async fn history(ctx: &Ctx<'_>, limit: usize) -> Result<i32> {
    match ctx.store.load_if_table().await? {
        Some((_, rev)) if rev > 0 => {}
        _ => return Err(unknown_stack(ctx)),
    }
    let mut entries = ctx.store.history(None).await?;
    if entries.len() > limit {
        entries.drain(..entries.len() - limit);
    }
    if ctx.out.json {
        for e in &entries {
            println!("{}", serde_json::to_string(e).expect("entry serialises"));
        }
        return Ok(0);
    }
    for e in &entries {
        println!(
            "{}  {:<18} {:<18} {}",
            humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(e.at)),
            e.event,
            e.phase,
            e.detail
        );
    }
    Ok(0)
}
