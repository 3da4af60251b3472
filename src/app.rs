//! Entry point and the mutating commands: validate input, then take the lock and act.
//! Generic over the provider; the decisions come from `rollout`.
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::alarms::{self, AlarmState};
use crate::apply::{check_drift, commit, repair, tick_now, tick_with};
use crate::aws::{AwsOptions, Clients};
use crate::cli::{Cli, Command};
use crate::config::{self, Config, ProviderKind};
use crate::ecs::Ecs;
use crate::error::{failed, invalid, Error, Result};
use crate::lock::{locked, take_lock, Held};
use crate::output::Out;
use crate::provider::{Change, Provider};
use crate::report::{history, plan, status, validate_cmd};
use crate::rollout::{self, Color, Event, Outcome, Phase, Refusal, Spec};
use crate::state::{now_ms, StackDoc, Store};

pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub clients: &'a Clients,
    pub store: Store,
    pub out: Out,
}

pub fn spec(cfg: &Config) -> Spec {
    Spec {
        steps: cfg.rollout.steps.clone(),
        bake_ms: cfg.rollout.bake.as_millis() as u64,
        termination_wait_ms: cfg.rollout.termination_wait.as_millis() as u64,
    }
}

pub(crate) fn refusal(r: Refusal) -> Error {
    match r {
        Refusal::Invalid(m) => Error::Invalid(m),
        Refusal::Safety(m) => Error::Safety(m),
    }
}

fn config_paths(cli: &Cli) -> Result<Vec<PathBuf>> {
    if cli.config.is_empty() {
        return Ok(vec![PathBuf::from("cutover.toml")]);
    }
    let mut out = Vec::new();
    for p in &cli.config {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| invalid(format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(invalid(format!(
                    "{}: no *.toml configs in this folder",
                    p.display()
                )));
            }
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Entry point: returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    let out = Out {
        json: cli.output == crate::cli::Output::Json,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match &cli.command {
        Command::Init {
            provider,
            name,
            dir,
            force,
        } => return crate::init::init(*provider, name, dir, *force, &out),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "cutover", &mut std::io::stdout());
            return Ok(0);
        }
        Command::Destroy { yes: false } => {
            return Err(invalid(
                "destroy deletes every resource of the stack; add --yes to confirm",
            ));
        }
        _ => {}
    }
    let paths = config_paths(&cli)?;
    if paths.len() > 1 && !matches!(cli.command, Command::Promote { .. } | Command::Check) {
        return Err(invalid(
            "several configs are accepted only by `promote` and `check`",
        ));
    }
    // Validate every config (and its templates) before any AWS call.
    let mut configs = Vec::new();
    for p in &paths {
        let cfg = config::load(p)?;
        check_templates(&cfg)?;
        configs.push(cfg);
    }
    if let Command::Check = cli.command {
        for cfg in &configs {
            out.result(
                &format!(
                    "{}: ok: stack {} ({}), steps {:?}, bake {}, {} watched alarm(s)",
                    cfg.path.display(),
                    cfg.name,
                    cfg.provider,
                    cfg.rollout.steps,
                    humantime::format_duration(cfg.rollout.bake),
                    cfg.alarms.watch.len()
                ),
                json!({"config": cfg.path, "stack": cfg.name, "provider": cfg.provider, "steps": cfg.rollout.steps, "ok": true}),
            );
        }
        return Ok(0);
    }
    if configs.len() > 1 {
        return crate::multi::promote_many(&cli, configs, out).await;
    }
    let cfg = configs.pop().expect("one config");
    run_one(&cli, &cfg, out).await
}

pub async fn clients_for(cli: &Cli, cfg: &Config) -> Result<Clients> {
    let opts = AwsOptions {
        region: cli.region.clone().or_else(|| cfg.region.clone()),
        profile: cli.profile.clone(),
        endpoint_url: cli.endpoint_url.clone(),
    };
    Clients::new(&opts).await
}

pub async fn run_one(cli: &Cli, cfg: &Config, out: Out) -> Result<i32> {
    let clients = clients_for(cli, cfg).await?;
    let ctx = Ctx {
        cfg,
        clients: &clients,
        store: Store::new(clients.dynamodb.clone(), &cfg.state_table, &cfg.name),
        out,
    };
    match cfg.provider {
        ProviderKind::Ecs => {
            let p = Ecs::new(&clients, &cfg.name, cfg.ecs.as_ref().expect("validated"));
            dispatch(&ctx, &p, &cli.command).await
        }
        ProviderKind::Sagemaker => {
            let p = crate::sagemaker::SageMaker::new(
                &clients,
                &cfg.name,
                cfg.sagemaker.as_ref().expect("validated"),
            );
            dispatch(&ctx, &p, &cli.command).await
        }
    }
}

/// Renders every template with placeholder values, so errors surface at `check`.
pub fn check_templates(cfg: &Config) -> Result<()> {
    let region = cfg.region.clone().unwrap_or_else(|| "us-east-1".into());
    match cfg.provider {
        ProviderKind::Ecs => {
            let e = cfg.ecs.as_ref().expect("validated");
            for c in Color::BOTH {
                let what = e.task_definition.display().to_string();
                let body = crate::template::render(
                    &what,
                    &e.task_definition_source,
                    &crate::template::Vars {
                        name: &cfg.name,
                        version: "check",
                        color: c.as_str(),
                        region: &region,
                    },
                )?;
                crate::taskdef::parse(&what, &body, &e.container_name, e.container_port)?;
            }
        }
        ProviderKind::Sagemaker => {
            let s = cfg.sagemaker.as_ref().expect("validated");
            for c in Color::BOTH {
                let vars = crate::template::Vars {
                    name: &cfg.name,
                    version: "check",
                    color: c.as_str(),
                    region: &region,
                };
                crate::template::render("sagemaker.image", &s.image, &vars)?;
                if let Some(m) = &s.model_data {
                    crate::template::render("sagemaker.model_data", m, &vars)?;
                }
            }
        }
    }
    for a in &cfg.alarms.create {
        for c in Color::BOTH {
            crate::managed::alarm_name(cfg, a, c, &region)?;
        }
    }
    Ok(())
}

async fn dispatch<P: Provider>(ctx: &Ctx<'_>, p: &P, cmd: &Command) -> Result<i32> {
    match cmd {
        Command::Plan => plan(ctx, p).await,
        Command::Provision => provision(ctx, p).await,
        Command::Deploy {
            version,
            model_package_group,
            timeout,
        } => {
            let cmd_version = version;
            let Some(version) = version.clone().or_else(|| model_package_group.clone()) else {
                return Err(invalid("deploy needs --version V"));
            };
            if model_package_group.is_some() && ctx.cfg.provider != ProviderKind::Sagemaker {
                return Err(invalid(
                    "--model-package-group works only with provider = \"sagemaker\"",
                ));
            }
            if cmd_version.is_some() && model_package_group.is_some() {
                return Err(invalid("give --version or --model-package-group, not both"));
            }
            deploy(ctx, p, &version, model_package_group.as_deref(), *timeout).await
        }
        Command::Shift {
            to: Some(pct),
            ignore_alarm,
            adopt,
        } => shift_to(ctx, p, *pct, ignore_alarm, *adopt).await,
        Command::Shift {
            to: None,
            ignore_alarm,
            adopt,
        } => shift(ctx, p, ignore_alarm, *adopt).await,
        Command::Promote {
            ignore_alarm,
            adopt,
            auto_deploy,
        } => promote(ctx, p, ignore_alarm, *adopt, None, *auto_deploy)
            .await
            .map(|(c, _)| c),
        Command::Rollback { reason } => rollback(ctx, p, reason.as_deref()).await,
        Command::Status => status(ctx, p).await,
        Command::History { limit } => history(ctx, *limit).await,
        Command::Destroy { .. } => destroy(ctx, p).await,
        Command::Validate { color } => {
            validate_cmd(
                ctx,
                p,
                color.map(|c| match c {
                    crate::cli::ColorArg::Blue => Color::Blue,
                    crate::cli::ColorArg::Green => Color::Green,
                }),
            )
            .await
        }
        Command::Check | Command::Init { .. } | Command::Completions { .. } => Ok(0),
    }
}

// ---- helpers ---------------------------------------------------------------

/// Every alarm this stack watches: `watch` plus the managed alarms of `color`.
pub fn watched(cfg: &Config, color: Option<Color>, region: &str) -> Vec<String> {
    let mut names = cfg.alarms.watch.clone();
    if let Some(c) = color {
        for a in &cfg.alarms.create {
            if let Ok(n) = crate::managed::alarm_name(cfg, a, c, region) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    names
}

pub(crate) async fn read_alarms(ctx: &Ctx<'_>, color: Option<Color>) -> Result<Vec<AlarmState>> {
    let names = watched(ctx.cfg, color, &ctx.clients.region);
    if names.is_empty() {
        return Ok(vec![]);
    }
    alarms::read(&ctx.clients.cloudwatch, &names).await
}

pub(crate) async fn load_state(ctx: &Ctx<'_>) -> Result<(StackDoc, u64)> {
    ctx.store.load().await
}

// ---- commands ----------------------------------------------------------------

/// What `provision` would change (read-only; foreign resources are refused
/// here, before any write), and the stored state when the table exists.
pub(crate) struct ProvisionPlan {
    pub changes: Vec<Change>,
    pub managed: Vec<crate::managed::Todo>,
    pub state: Option<(StackDoc, u64)>,
}

pub(crate) async fn provision_plan<P: Provider>(ctx: &Ctx<'_>, p: &P) -> Result<ProvisionPlan> {
    let state = ctx.store.load_if_table().await?;
    let mut changes = Vec::new();
    if state.is_none() {
        changes.push(Change::new(
            "create",
            format!("DynamoDB table {}", ctx.cfg.state_table),
        ));
    }
    changes.extend(p.converge(false, &ctx.out).await?);
    let managed = crate::managed::plan(ctx).await?;
    changes.extend(managed.iter().map(|t| t.change.clone()));
    if state.as_ref().is_none_or(|(_, rev)| *rev == 0) {
        changes.push(Change::new(
            "create",
            format!("state record of stack {}", ctx.cfg.name),
        ));
    }
    Ok(ProvisionPlan {
        changes,
        managed,
        state,
    })
}

async fn provision<P: Provider>(ctx: &Ctx<'_>, p: &P) -> Result<i32> {
    let plan = provision_plan(ctx, p).await?;
    let changes = plan.changes;
    if changes.is_empty() {
        ctx.out.result(
            "provision: nothing to change",
            json!({"stack": ctx.cfg.name, "changed": false, "changes": []}),
        );
        return Ok(0);
    }
    ctx.out.info(&format!(
        "provisioning stack {} ({})",
        ctx.cfg.name, ctx.cfg.provider
    ));
    if plan.state.is_none() {
        ctx.out
            .info(&format!("  create DynamoDB table {}", ctx.cfg.state_table));
        ctx.store.create_table().await?;
    }
    locked(ctx, "provision", async || {
        p.converge(true, &ctx.out).await?;
        crate::managed::apply(ctx, p, &plan.managed).await?;
        let (doc, rev) = load_state(ctx).await?;
        if rev == 0 {
            ctx.store.save(&doc, 0).await?;
        }
        ctx.store
            .journal("provision", &format!("{} change(s)", changes.len()), &doc)
            .await?;
        Ok::<(), Error>(())
    })
    .await?;
    ctx.out.result(
        &format!("provision: done ({} change(s))", changes.len()),
        json!({"stack": ctx.cfg.name, "changed": true, "changes": changes}),
    );
    Ok(0)
}

async fn deploy<P: Provider>(
    ctx: &Ctx<'_>,
    p: &P,
    version: &str,
    group: Option<&str>,
    timeout: Duration,
) -> Result<i32> {
    let Some((doc, _)) = ctx.store.load_if_table().await? else {
        return Err(invalid(format!(
            "stack {} is not provisioned (no state table {}); run `cutover provision`",
            ctx.cfg.name, ctx.cfg.state_table
        )));
    };
    if doc.status.phase == Phase::Shifting {
        return Err(invalid(format!(
            "a rollout of {} is shifting traffic (step {}/{}); finish it or roll back before deploying",
            doc.status.candidate.map(|c| c.as_str()).unwrap_or("?"),
            doc.status.step,
            doc.status.steps.len()
        )));
    }
    let color = doc.status.idle_color();
    let prepared = match group {
        Some(g) => p.resolve_package(g, color).await?,
        None => p.prepare(color, version)?,
    };
    let version = prepared.version.as_str();
    p.ensure_provisioned().await?;
    locked(ctx, "deploy", async || {
        let (mut doc, mut rev) = load_state(ctx).await?;
        repair(ctx, p, &mut doc, &mut rev).await?;
        if doc.status.idle_color() != color || doc.status.phase == Phase::Shifting {
            return Err(failed(
                "the stack changed while deploy was starting; run deploy again",
            ));
        }
        let first = doc.status.live.is_none();
        ctx.out.info(&format!(
            "deploying {version} to {color}{}",
            if first {
                " (first deploy: it goes live at 100%)"
            } else {
                " (idle colour, no production traffic)"
            }
        ));
        let start = rollout::apply(&spec(ctx.cfg), &doc.status, Event::DeployStarted { color })
            .map_err(refusal)?;
        if start.status != doc.status {
            if doc.status.phase == Phase::Complete {
                ctx.out.warn(&format!(
                    "{color} was kept for instant rollback; deploying onto it gives that up"
                ));
            }
            doc.status = start.status;
            doc.last_error = Some(format!("deploy of {version} to {color} started"));
            rev = ctx.store.save(&doc, rev).await?;
        }
        ctx.store
            .journal(
                "deploy-start",
                &format!("{version} -> {color}: {}", start.note),
                &doc,
            )
            .await?;
        let artifact = p
            .deploy(&prepared, doc.status.live, timeout, &ctx.out)
            .await?;
        doc.versions.insert(color, prepared.version.clone());
        doc.artifacts.insert(color, artifact);
        let sp = spec(ctx.cfg);
        // Validation gate: before any production traffic.
        if let Some(v) = &ctx.cfg.validate {
            let checks = run_validation(ctx, p, v, color).await?;
            if let Some(bad) = checks.iter().find(|c| !c.passed) {
                let detail = format!(
                    "validation of {version} on {color} failed: {} -> {} ({}); body: {}",
                    bad.request,
                    bad.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "no response".into()),
                    bad.reason,
                    bad.body
                );
                let t = rollout::apply(&sp, &doc.status, Event::ValidationFailed { color })
                    .map_err(refusal)?;
                doc.last_error = Some(detail.clone());
                doc.rejected = Some(prepared.version.clone());
                doc.status = t.status;
                rev = ctx.store.save(&doc, rev).await?;
                let _ = rev;
                ctx.store
                    .journal("validation-failed", &detail, &doc)
                    .await?;
                return Err(Error::Safety(detail));
            }
            ctx.out
                .info(&format!("validation passed ({} request(s))", checks.len()));
        }
        let t = rollout::apply(&sp, &doc.status, Event::Deployed { color }).map_err(refusal)?;
        doc.last_error = None;
        commit(ctx, p, &mut doc, &mut rev, &t, "deployed").await?;
        Ok(())
    })
    .await?;
    ctx.out.result(
        &format!("deploy: {version} is on {color}"),
        json!({"stack": ctx.cfg.name, "color": color, "version": version}),
    );
    Ok(0)
}

pub async fn run_validation<P: Provider>(
    ctx: &Ctx<'_>,
    p: &P,
    v: &crate::config::ValidateConfig,
    color: Color,
) -> Result<Vec<crate::validate::Check>> {
    // Providers with their own invoke API (SageMaker) answer directly.
    if let Some(r) = v.requests.first() {
        if let Some(first) = p.invoke(color, r, v.timeout).await {
            ctx.out.info(&format!(
                "validating {color} through the provider's invoke API"
            ));
            let mut checks = Vec::new();
            let mut first = Some(first);
            for r in &v.requests {
                for _ in 0..v.repeat {
                    let start = std::time::Instant::now();
                    let res = match first.take() {
                        Some(x) => x,
                        None => p.invoke(color, r, v.timeout).await.expect("same provider"),
                    };
                    let latency = start.elapsed();
                    checks.push(crate::validate::check_of(
                        r,
                        format!("invoke {color} {}", r.path),
                        res,
                        latency,
                    ));
                }
            }
            return Ok(checks);
        }
    }
    let base = match &v.url {
        Some(u) => u.clone(),
        None => match p.test_url().await? {
            Some(u) => u,
            None => {
                return Err(failed(format!(
                    "no test endpoint reaches {color}; set validate.url"
                )))
            }
        },
    };
    ctx.out.info(&format!("validating {color} through {base}"));
    let checks = crate::validate::run_http(v, &base).await;
    for c in &checks {
        ctx.out.detail(&format!(
            "  {} -> {:?} in {} ms: {}",
            c.request, c.status, c.latency_ms, c.reason
        ));
    }
    Ok(checks)
}

async fn shift_to<P: Provider>(
    ctx: &Ctx<'_>,
    p: &P,
    pct: u8,
    ignore: &[String],
    adopt: bool,
) -> Result<i32> {
    let (doc, _) = load_state(ctx).await?;
    let sp = spec(ctx.cfg);
    // Dry run on the current state: bad requests fail before the lock.
    rollout::apply(
        &sp,
        &doc.status,
        Event::ShiftTo {
            percent: pct,
            now: now_ms(),
            firing: vec![],
        },
    )
    .map_err(refusal)?;
    locked(ctx, "shift --to", async || {
        let (mut doc, mut rev) = load_state(ctx).await?;
        repair(ctx, p, &mut doc, &mut rev).await?;
        check_drift(ctx, p, &mut doc, adopt).await?;
        let states = read_alarms(ctx, doc.status.candidate).await?;
        warn_insufficient(ctx, &states);
        let firing = alarms::firing(&states, ignore);
        let t = rollout::apply(
            &sp,
            &doc.status,
            Event::ShiftTo {
                percent: pct,
                now: now_ms(),
                firing,
            },
        )
        .map_err(refusal)?;
        commit(ctx, p, &mut doc, &mut rev, &t, "shift").await
    })
    .await?;
    Ok(0)
}

pub(crate) fn warn_insufficient(ctx: &Ctx<'_>, states: &[AlarmState]) {
    for a in states {
        match a.state.as_str() {
            "INSUFFICIENT_DATA" => ctx.out.warn(&format!(
                "alarm {} has INSUFFICIENT_DATA; it cannot protect this rollout yet",
                a.name
            )),
            "MISSING" => ctx
                .out
                .warn(&format!("watched alarm {} does not exist", a.name)),
            _ => {}
        }
    }
}

async fn shift<P: Provider>(ctx: &Ctx<'_>, p: &P, ignore: &[String], adopt: bool) -> Result<i32> {
    let (doc, _) = load_state(ctx).await?;
    match doc.status.phase {
        Phase::Ready | Phase::Shifting => {}
        Phase::Complete => {
            ctx.out.result(
                "shift: the rollout is already complete",
                json!({"state": "complete"}),
            );
            return Ok(0);
        }
        Phase::FailedValidation => return Err(refusal(rollout::not_validated(&doc.status))),
        other => {
            return Err(invalid(format!(
                "nothing to shift (rollout state is {}); run `cutover deploy --version V` first",
                other.as_str()
            )))
        }
    }
    let held = take_lock(ctx, "shift").await?;
    let res = shift_loop(ctx, p, ignore, adopt, &held).await;
    held.release().await;
    res
}

async fn shift_loop<P: Provider>(
    ctx: &Ctx<'_>,
    p: &P,
    ignore: &[String],
    adopt: bool,
    held: &Held,
) -> Result<i32> {
    let poll = ctx.cfg.rollout.poll_interval;
    let (mut doc, mut rev) = load_state(ctx).await?;
    repair(ctx, p, &mut doc, &mut rev).await?;
    check_drift(ctx, p, &mut doc, adopt).await?;
    let candidate = doc.status.candidate;
    let first = read_alarms(ctx, candidate).await?;
    warn_insufficient(ctx, &first);
    let mut states = first;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let t = tick_with(ctx, &doc, &states, ignore)?;
        match &t.outcome {
            Outcome::Changed | Outcome::AutoRolledBack(_) => {
                let event = if matches!(t.outcome, Outcome::AutoRolledBack(_)) {
                    "auto-rollback"
                } else {
                    "step"
                };
                commit(ctx, p, &mut doc, &mut rev, &t, event).await?;
                if let Outcome::AutoRolledBack(names) = &t.outcome {
                    return Err(Error::Safety(format!(
                        "alarm {} in ALARM: rolled back, {} at 100%",
                        names.join(", "),
                        doc.status.live.map(|c| c.as_str()).unwrap_or("?")
                    )));
                }
                if doc.status.phase == Phase::Complete {
                    ctx.out.result(
                        &format!(
                            "shift: complete; {} is live",
                            doc.status.live.map(|c| c.as_str()).unwrap_or("?")
                        ),
                        json!({"state": "complete", "live": doc.status.live}),
                    );
                    return Ok(0);
                }
            }
            Outcome::Wait(until) => {
                let Some(until) = *until else {
                    return Ok(0);
                };
                let left = until.saturating_sub(now_ms());
                ctx.out.ticker(&format!(
                    "step {}/{}: {}, baking, {}s left",
                    doc.status.step,
                    doc.status.steps.len(),
                    doc.weights.map(|w| w.to_string()).unwrap_or_default(),
                    left.div_ceil(1000)
                ));
                let nap = Duration::from_millis(left.min(poll.as_millis() as u64).max(1));
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    _ = &mut ctrl_c => {
                        ctx.out.ticker_done();
                        ctx.store.journal("interrupted", &format!("shift stopped by the user at step {}; weights stay {}", doc.status.step, doc.weights.map(|w| w.to_string()).unwrap_or_default()), &doc).await?;
                        ctx.out.info("interrupted: weights stay where they are; run `cutover shift` or `promote` to resume");
                        return Ok(130);
                    }
                }
            }
        }
        // Poll: alarms, and whether someone else (a rollback) changed the state.
        let (alarms_now, state_now) = tokio::join!(read_alarms(ctx, candidate), load_state(ctx));
        states = alarms_now?;
        let (fresh, fresh_rev) = state_now?;
        if fresh_rev != rev {
            ctx.out.ticker_done();
            return Err(Error::Safety(format!(
                "the rollout was changed by another run (now {}); this shift stops",
                fresh.status.phase.as_str()
            )));
        }
        if held.lost() {
            ctx.out.ticker_done();
            return Err(Error::Safety(
                "another run (a rollback) took this stack's lock; this shift stops".into(),
            ));
        }
    }
}

/// `promote --auto-deploy` with no rollout under way: deploys the newest
/// Approved model package when it is neither live nor the last rejected one.
async fn auto_deploy_tick<P: Provider>(
    ctx: &Ctx<'_>,
    p: &P,
    doc: &StackDoc,
) -> Result<(i32, String)> {
    let group = ctx
        .cfg
        .sagemaker
        .as_ref()
        .and_then(|s| s.model_package_group.clone())
        .ok_or_else(|| invalid("--auto-deploy needs `model_package_group` in [sagemaker]"))?;
    let probe = p.resolve_package(&group, doc.status.idle_color()).await?;
    let live_version = doc.status.live.and_then(|c| doc.versions.get(&c)).cloned();
    let msg = if live_version.as_deref() == Some(probe.version.as_str()) {
        format!("nothing due ({} is live)", probe.version)
    } else if doc.rejected.as_deref() == Some(probe.version.as_str()) {
        format!(
            "nothing due ({} was rolled back; waiting for a newer Approved package)",
            probe.version
        )
    } else {
        deploy(
            ctx,
            p,
            &probe.version,
            Some(&group),
            Duration::from_secs(1800),
        )
        .await?;
        format!("auto-deployed {}", probe.version)
    };
    ctx.out.result(
        &format!("promote: {msg}"),
        json!({"stack": ctx.cfg.name, "action": msg}),
    );
    Ok((0, msg))
}

/// One scheduled tick. Returns the exit code and a one-line summary.
pub async fn promote<P: Provider>(
    ctx: &Ctx<'_>,
    p: &P,
    ignore: &[String],
    adopt: bool,
    preloaded: Option<StackDoc>,
    auto_deploy: bool,
) -> Result<(i32, String)> {
    let doc = match preloaded {
        Some(d) => d,
        None => match ctx.store.load_if_table().await? {
            Some((d, _)) => d,
            None => {
                return Err(invalid(format!(
                    "stack {} is not provisioned (no state table {}); run `cutover provision`",
                    ctx.cfg.name, ctx.cfg.state_table
                )))
            }
        },
    };
    let active = matches!(
        doc.status.phase,
        Phase::Ready | Phase::Shifting | Phase::Complete | Phase::FailedValidation
    );
    if !active && doc.pending.is_none() && auto_deploy {
        return auto_deploy_tick(ctx, p, &doc).await;
    }
    if !active && doc.pending.is_none() {
        let msg = format!("nothing due (state {})", doc.status.phase.as_str());
        ctx.out.result(
            &format!("promote: {msg}"),
            json!({"stack": ctx.cfg.name, "action": "none", "state": doc.status.phase.as_str()}),
        );
        return Ok((0, msg));
    }
    let t = tick_now(ctx, &doc, ignore).await?;
    if let (Outcome::Wait(until), true) = (t.outcome.clone(), doc.pending.is_none()) {
        let when = until
            .map(|u| {
                format!(
                    ", next action in {}s",
                    u.saturating_sub(now_ms()).div_ceil(1000)
                )
            })
            .unwrap_or_default();
        let msg = format!(
            "nothing due (state {}, step {}{when})",
            doc.status.phase.as_str(),
            doc.status.step
        );
        ctx.out.result(&format!("promote: {msg}"), json!({"stack": ctx.cfg.name, "action": "none", "state": doc.status.phase.as_str(), "step": doc.status.step}));
        return Ok((0, msg));
    }
    let result = locked(ctx, "promote", async || {
        let (mut doc, mut rev) = load_state(ctx).await?;
        repair(ctx, p, &mut doc, &mut rev).await?;
        check_drift(ctx, p, &mut doc, adopt).await?;
        let t = tick_now(ctx, &doc, ignore).await?;
        match &t.outcome {
            Outcome::Wait(_) => Ok((0, "nothing due".to_string())),
            Outcome::Changed => {
                commit(ctx, p, &mut doc, &mut rev, &t, "promote").await?;
                Ok((0, t.note.clone()))
            }
            Outcome::AutoRolledBack(names) => {
                commit(ctx, p, &mut doc, &mut rev, &t, "auto-rollback").await?;
                Err(Error::Safety(format!(
                    "alarm {} in ALARM: rolled back",
                    names.join(", ")
                )))
            }
        }
    })
    .await?;
    ctx.out.result(
        &format!("promote: {}", result.1),
        json!({"stack": ctx.cfg.name, "action": result.1, "state": "changed"}),
    );
    Ok(result)
}

async fn rollback<P: Provider>(ctx: &Ctx<'_>, p: &P, reason: Option<&str>) -> Result<i32> {
    let Some((doc, _)) = ctx.store.load_if_table().await? else {
        return Err(invalid(format!(
            "stack {} is not provisioned; nothing to roll back",
            ctx.cfg.name
        )));
    };
    rollout::apply(
        &spec(ctx.cfg),
        &doc.status,
        Event::Rollback { now: now_ms() },
    )
    .map_err(refusal)?;
    // Emergency action: takes the lock whoever holds it; the holder notices and stops.
    let lock = ctx.store.steal_lock(ctx.cfg.lock_lease, "rollback").await?;
    let res = async {
        let mut last = None;
        for _ in 0..5 {
            let (mut doc, mut rev) = load_state(ctx).await?;
            // An emergency action: a failed repair must not stop it.
            let _ = repair(ctx, p, &mut doc, &mut rev).await;
            doc.pending = None;
            let t = rollout::apply(
                &spec(ctx.cfg),
                &doc.status,
                Event::Rollback { now: now_ms() },
            )
            .map_err(refusal)?;
            let mut t = t;
            if let Some(r) = reason {
                t.note = format!("{} — {r}", t.note);
                doc.last_error = Some(format!("rolled back by hand: {r}"));
            }
            match commit(ctx, p, &mut doc, &mut rev, &t, "rollback").await {
                Ok(()) => return Ok(doc),
                Err(Error::Failed(m)) if m.contains("changed under this run") => last = Some(m),
                Err(e) => return Err(e),
            }
        }
        Err(failed(last.unwrap_or_default()))
    }
    .await;
    let _ = ctx.store.unlock(&lock).await;
    let doc = res?;
    ctx.out.result(
        &format!(
            "rollback: {} is live at 100%",
            doc.status.live.map(|c| c.as_str()).unwrap_or("?")
        ),
        json!({"stack": ctx.cfg.name, "live": doc.status.live, "weights": doc.weights}),
    );
    Ok(0)
}

async fn destroy<P: Provider>(ctx: &Ctx<'_>, p: &P) -> Result<i32> {
    let table = ctx.store.table_exists().await?;
    let lock = if table {
        Some(ctx.store.lock(ctx.cfg.lock_lease, "destroy").await?)
    } else {
        None
    };
    ctx.out.info(&format!("destroying stack {}", ctx.cfg.name));
    let res = async {
        let mut done = p.destroy(&ctx.out).await?;
        done.extend(crate::managed::destroy(ctx).await?);
        if table {
            ctx.store.delete_stack_items().await?;
            let ours = ctx
                .store
                .other_stacks_present()
                .await
                .map(|o| !o)
                .unwrap_or(false);
            if ours {
                ctx.out
                    .info(&format!("  delete DynamoDB table {}", ctx.cfg.state_table));
                ctx.store.delete_table().await?;
                done.push(format!("DynamoDB table {}", ctx.cfg.state_table));
            }
        }
        Ok::<_, Error>(done)
    }
    .await;
    if let (Err(_), Some(l)) = (&res, &lock) {
        let _ = ctx.store.unlock(l).await;
    }
    let done = res?;
    ctx.out.result(
        &if done.is_empty() {
            "destroy: nothing left to delete".to_string()
        } else {
            format!("destroy: deleted {} resource(s)", done.len())
        },
        json!({"stack": ctx.cfg.name, "deleted": done}),
    );
    Ok(0)
}
