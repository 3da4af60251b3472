//! `plan`: the provisioning steps, and the rollout schedule with times,
//! worst-case detection and warnings about alarms a bake cannot wait for.
use std::time::Duration;

use serde_json::json;

use crate::engine::provision;
use crate::engine::watch::read_alarms;
use crate::engine::Ctx;
use crate::error::Result;
use crate::judge::min_p_value;
use crate::rollout::{self, Phase};
use crate::store::now_ms;

pub async fn run(ctx: &Ctx<'_>) -> Result<()> {
    let plan = provision::plan(ctx).await?;
    let changes = plan.changes(ctx);
    let doc = plan.state.map(|(d, _)| d).unwrap_or_default();
    let sp = ctx.spec();
    let now = now_ms();
    let mut schedule = rollout::schedule(&sp, &doc.status, now);
    // `promote` starts and advances only inside the release windows.
    if let Some(cal) = &ctx.cfg.schedule {
        schedule = rollout::fit(schedule, now, |t| cal.next_open(t));
    }
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
    let in_rollout = matches!(
        doc.status.phase,
        Phase::Ready | Phase::Shifting | Phase::Paused | Phase::Experimenting
    );
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
    let first = doc.status.live.is_none() && !in_rollout;
    if first {
        text.push_str("  the first deploy goes live at 100% at once (nothing to shift from); the steps below apply to the deploy after it\n");
    }
    for s in &schedule {
        if s.pause {
            let until = match s.timer {
                Some(t) => format!(
                    "for {}, then {} by itself (or `cutover continue` / `rollback` before)",
                    humantime::format_duration(Duration::from_secs(t.ms / 1000)),
                    match t.then {
                        rollout::Then::Continue => "continues",
                        rollout::Then::Rollback => "rolls back",
                    }
                ),
                None => "until `cutover continue`".into(),
            };
            text.push_str(&format!(
                "  pause: held at {:>3}% after {} {until}\n",
                s.weight,
                if s.step == 0 {
                    "deploy, before any traffic".to_string()
                } else {
                    format!("step {} and its bake", s.step)
                }
            ));
            continue;
        }
        if s.blocked {
            text.push_str(&format!(
                "  step {}: candidate at {:>3}%  waits: no release window opens in the next two years\n",
                s.step, s.weight
            ));
            continue;
        }
        if s.after_pauses > 0 {
            text.push_str(&format!(
                "  step {}: candidate at {:>3}%  at +{} after the continue\n",
                s.step,
                s.weight,
                humantime::format_duration(Duration::from_secs(s.at_ms / 1000))
            ));
            continue;
        }
        let at = std::time::UNIX_EPOCH + Duration::from_millis(now + s.at_ms);
        let waits = match (s.window_wait_ms, &ctx.cfg.schedule) {
            (Some(w), Some(cal)) => format!(
                ", after waiting {} for the release window ({})",
                humantime::format_duration(Duration::from_secs(w / 1000)),
                cal.show(now + s.at_ms)
            ),
            _ => String::new(),
        };
        text.push_str(&format!(
            "  step {}: candidate at {:>3}%  at +{} ({}{}{waits})\n",
            s.step,
            s.weight,
            humantime::format_duration(Duration::from_secs(s.at_ms / 1000)),
            if in_rollout { "" } else { "if started now: " },
            humantime::format_rfc3339_seconds(at)
        ));
    }
    let (total, pauses) = rollout::total_ms(&schedule);
    // The old colour is retired once its weight has been 0 for the longer of
    // termination_wait and the deregistration delay (draining).
    let retire_ms = rollout::retire_after_ms(&sp);
    text.push_str(&format!(
        "  total: {} until 100%{}, then {} before the old colour is retired ({})\n",
        humantime::format_duration(Duration::from_secs(total / 1000)),
        if pauses > 0 {
            format!(" plus {pauses} pause(s) waiting for `cutover continue`")
        } else {
            String::new()
        },
        humantime::format_duration(Duration::from_secs(retire_ms / 1000)),
        if sp.drain_ms > sp.termination_wait_ms {
            format!(
                "deregistration_delay {} outlasts termination_wait {}",
                humantime::format_duration(Duration::from_secs(sp.drain_ms / 1000)),
                humantime::format_duration(ctx.cfg.rollout.termination_wait)
            )
        } else {
            "termination_wait; draining fits inside it".to_string()
        }
    ));
    let mut warnings = super::check::warnings(ctx.cfg);
    let mut worst = 0u64;
    // Managed alarms that provision would create count with their own window.
    let planned: Vec<(String, u64)> = crate::aws::managed::concrete(ctx.cfg, &ctx.clients.region)?
        .into_iter()
        .map(|p| {
            (
                p.name,
                p.spec.period as u64 * p.spec.evaluation_periods as u64,
            )
        })
        .collect();
    for a in &alarms {
        let window = a.window_secs.or_else(|| {
            planned
                .iter()
                .find(|(n, _)| *n == a.name && a.missing())
                .map(|(_, w)| *w)
        });
        if let Some(w) = window {
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
        if a.missing() && !planned.iter().any(|(n, _)| *n == a.name) {
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
    let window = ctx.cfg.schedule.as_ref().map(|c| {
        let now = crate::store::now_ms();
        let next = c.next_open(now);
        let line = format!("{}: {}", c.describe(), c.state(now));
        text.push_str(&format!("  schedule: {line}\n"));
        json!({"windows": c.describe(), "next_window_ms": next})
    });
    let shadow = ctx.cfg.shadow.as_ref().map(|s| {
        let judged = match (&ctx.cfg.compare, &ctx.cfg.judge) {
            (Some(_), Some(_)) => "[compare] on captured pairs and [judge] on its metrics decide",
            (Some(_), None) => "[compare] on captured pairs decides",
            (None, Some(_)) => "[judge] on its metrics decides",
            (None, None) => "alarms only (add [compare] or [judge] to judge its answers)",
        };
        text.push_str(&format!(
            "  shadow phase first: the candidate gets a copy of {}% of production requests for {}, users get live's answers; {judged}\n",
            s.sampling,
            humantime::format_duration(s.duration)
        ));
        json!({"sampling": s.sampling, "duration_ms": s.duration.as_millis() as u64})
    });
    let experiment = match &ctx.cfg.experiment {
        Some(e) => {
            let live = doc
                .status
                .live
                .map(|c| (c, doc.versions.get(&c).cloned().unwrap_or_default()));
            let f = crate::engine::experiment::forecast(ctx, e, live, now).await?;
            text.push_str(&experiment_text(e, &f, &mut warnings));
            Some(f)
        }
        None => None,
    };
    if let crate::config::Backend::Ecs(e) = &ctx.cfg.backend {
        if let Some(r) = &e.route53 {
            let ttl = crate::providers::ecs::ALIAS_TTL;
            text.push_str(&format!(
                "  traffic: Route 53 weighted alias records {} in {} (TTL {}s; each change waited to INSYNC)\n",
                r.record,
                r.hosted_zone_id,
                ttl.as_secs()
            ));
            if ctx.cfg.rollout.bake < ttl {
                warnings.push(format!(
                    "a bake of {} is shorter than the records' TTL ({}s): clients that cached the old answer would not have moved yet when the bake ends; bake at least {}s",
                    humantime::format_duration(ctx.cfg.rollout.bake),
                    ttl.as_secs(),
                    ttl.as_secs()
                ));
            }
        }
    }
    // `cutover schedule`: whether promotion runs on EventBridge Scheduler.
    let scheduled = match crate::aws::scheduler::current(ctx.clients, &ctx.cfg.name).await {
        Ok(Some((expr, td))) => {
            text.push_str(&format!(
                "  promotion: schedule {} {expr} runs {td}\n",
                crate::aws::scheduler::schedule_name(&ctx.cfg.name)
            ));
            Some(json!({"expression": expr, "task_definition": td}))
        }
        Ok(None) => None,
        Err(e) => {
            warnings.push(format!("schedule not read: {e}"));
            None
        }
    };
    let gates = gates_text(ctx, &mut warnings);
    for g in &gates {
        text.push_str(&format!("  gate: {g}\n"));
    }
    for w in &warnings {
        text.push_str(&format!("  warning: {w}\n"));
    }
    ctx.out.result(
        text.trim_end(),
        json!({
            "stack": ctx.cfg.name,
            "changes": changes,
            "rollout": {"state": doc.status.phase.as_str(), "step": doc.status.step, "schedule": schedule, "total_ms": total, "retire_after_ms": retire_ms, "first_deploy_at_100": first},
            "detection_ms": detect.as_millis() as u64,
            "window": window,
            "experiment": experiment,
            "shadow": shadow,
            "schedule": scheduled,
            "gates": gates,
            "warnings": warnings,
        }),
    );
    Ok(())
}

/// The experiment's sample size and expected duration, as `plan` prints them.
fn experiment_text(
    e: &crate::config::ExperimentConfig,
    f: &crate::engine::experiment::Forecast,
    warnings: &mut Vec<String>,
) -> String {
    let base = match f.baseline {
        Some(b) => format!("baseline {:.1}% from the last hour", b * 100.0),
        None => "no baseline yet, assuming 50% (the most trials)".into(),
    };
    let needed = f.trials_needed.unwrap_or(0);
    let mut t = format!(
        "  experiment at {}%: {needed} trials per colour detect a lift of {:.1} points at alpha {} with power 0.8 ({base})\n",
        e.split,
        e.min_effect * 100.0,
        e.alpha
    );
    match (f.expected_ms, f.trials_per_second) {
        (Some(ms), Some(r)) => t.push_str(&format!(
            "  experiment: at {r:.1} trials/s, about {} to decide (at least duration {})\n",
            humantime::format_duration(Duration::from_secs(ms / 1000)),
            humantime::format_duration(e.duration)
        )),
        _ => {
            t.push_str("  experiment: no traffic in the metrics yet; the duration depends on it\n")
        }
    }
    if e.min_samples < needed {
        warnings.push(format!(
            "experiment.min_samples {} is below the {needed} trials per colour needed to detect min_effect {}; a real difference that small would likely end as \"equal\"",
            e.min_samples, e.min_effect
        ));
    }
    t
}

/// Where the model gates run, what each sends, and what the judge needs.
fn gates_text(ctx: &Ctx<'_>, warnings: &mut Vec<String>) -> Vec<String> {
    let cfg = ctx.cfg;
    let bake = cfg.rollout.bake;
    let mut out = Vec::new();
    if let Some(v) = &cfg.validate {
        out.push(format!(
            "validation after deploy, before any traffic: {} request(s) to the candidate",
            v.requests.len() * v.repeat as usize
        ));
        if let Some(p) = cfg.rollout.probe_interval {
            let rounds = bake.as_millis() / p.as_millis().max(1);
            out.push(format!(
                "probes every {} during each bake: {} request(s) a round, ~{rounds} round(s) a bake; {} failed round(s) in a row roll back",
                humantime::format_duration(p),
                v.requests.len(),
                cfg.rollout.probe_failures
            ));
        }
    }
    if let Some(c) = &cfg.compare {
        let n = c.requests.len().min(c.max_requests);
        out.push(format!(
            "compare after validation and at the end of every bake: {n} request(s) to each colour (~{:.0}s at {} req/s), min_agreement {}",
            n as f64 / c.rate,
            c.rate,
            c.thresholds.min_agreement
        ));
    }
    if let Some(j) = &cfg.judge {
        let points = (bake.as_secs() / j.period.as_secs().max(1)) as usize;
        let min_p = min_p_value(points, points);
        out.push(format!(
            "judge at the end of every bake: {} over {} period(s) of {} per colour, confidence {}{}",
            j.metrics
                .iter()
                .map(|m| format!("{m:?}").to_lowercase())
                .collect::<Vec<_>>()
                .join(" and "),
            points,
            humantime::format_duration(j.period),
            j.confidence,
            if j.dry_run { " (dry run)" } else { "" }
        ));
        if points < j.min_points {
            warnings.push(format!(
                "a bake of {} holds {points} metric period(s) per colour, fewer than judge.min_points {}; every verdict would be inconclusive",
                humantime::format_duration(bake),
                j.min_points
            ));
        } else if min_p > 1.0 - j.confidence {
            warnings.push(format!(
                "with {points} points per colour a two-sided Mann-Whitney test cannot go below p = {min_p:.3}, so it can never reach confidence {}; lengthen the bake (or shorten judge.period)",
                j.confidence
            ));
        }
    }
    out
}
