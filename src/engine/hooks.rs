//! Running `[[hooks]]`: a command (`sh -c` in the config's folder, in its own
//! process group, killed as a group on timeout) or an HTTP POST of the event.
//! Every run is journaled with its result and duration.
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncReadExt;

use super::ctx::Ctx;
use crate::config::{Hook, HookStage, HookTarget};
use crate::error::Result;
use crate::providers::Router;
use crate::store::StackDoc;

/// What a hook is told about the event.
#[derive(Clone, Debug)]
pub struct HookEvent {
    pub stack: String,
    pub stage: HookStage,
    pub color: String,
    pub version: String,
    pub weight: u8,
    pub step: usize,
    pub test_url: String,
}

impl HookEvent {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CUTOVER_STACK", self.stack.clone()),
            ("CUTOVER_EVENT", self.stage.as_str().into()),
            ("CUTOVER_COLOR", self.color.clone()),
            ("CUTOVER_VERSION", self.version.clone()),
            ("CUTOVER_WEIGHT", self.weight.to_string()),
            ("CUTOVER_STEP", self.step.to_string()),
            ("CUTOVER_TEST_URL", self.test_url.clone()),
        ]
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "stack": self.stack, "event": self.stage.as_str(), "color": self.color,
            "version": self.version, "weight": self.weight, "step": self.step,
            "test_url": self.test_url,
        })
    }
}

/// The stages with at least one hook configured.
pub fn configured(ctx: &Ctx<'_>, stage: HookStage) -> bool {
    ctx.cfg.hooks.iter().any(|h| h.on == stage)
}

/// The event for `stage` from the stored state: the candidate (or, without
/// one, the live colour), its version, weight and step.
pub async fn event_of(ctx: &Ctx<'_>, stage: HookStage, doc: &StackDoc) -> HookEvent {
    let s = &doc.status;
    let color = s.candidate.or(s.live);
    let weight = match (color, doc.weights) {
        (Some(c), Some(w)) => w.of(c),
        _ => s.weight,
    };
    HookEvent {
        stack: ctx.cfg.name.clone(),
        stage,
        color: color.map(|c| c.as_str().to_string()).unwrap_or_default(),
        version: color
            .and_then(|c| doc.versions.get(&c).cloned())
            .unwrap_or_default(),
        weight,
        step: s.step,
        test_url: ctx.router.test_url().await.unwrap_or_default(),
    }
}

/// Runs the hooks of `stage` in file order and journals each. A gating stage
/// stops at its first failure and returns why; a notifying stage runs all
/// and never fails the run.
pub async fn run_stage(ctx: &Ctx<'_>, stage: HookStage, doc: &StackDoc) -> Result<Option<String>> {
    if !configured(ctx, stage) {
        return Ok(None);
    }
    let ev = event_of(ctx, stage, doc).await;
    for hook in ctx.cfg.hooks.iter().filter(|h| h.on == stage) {
        ctx.out.info(&format!("hook {}: running", hook.label()));
        let start = Instant::now();
        let res = run_one(ctx, hook, &ev).await;
        let ms = start.elapsed().as_millis();
        let (event, detail) = match &res {
            Ok(what) => ("hook", format!("{}: {what} in {ms} ms", hook.label())),
            Err(why) => (
                "hook-failed",
                format!("{}: {why} after {ms} ms", hook.label()),
            ),
        };
        ctx.journal(event, &detail, doc).await?;
        match res {
            Ok(_) => ctx.out.detail(&detail),
            Err(_) if stage.gates() => {
                ctx.out.warn(&detail);
                return Ok(Some(detail));
            }
            Err(_) => ctx
                .out
                .warn(&format!("{detail} (notifying hook: nothing changes)")),
        }
    }
    Ok(None)
}

async fn run_one(
    ctx: &Ctx<'_>,
    hook: &Hook,
    ev: &HookEvent,
) -> std::result::Result<String, String> {
    match &hook.target {
        HookTarget::Run(cmd) => run_command(ctx, cmd, hook.timeout, ev).await,
        HookTarget::Url(url) => {
            let ca = ctx.cfg.validate.as_ref().and_then(|v| v.ca_pem.as_deref());
            let http = crate::probe::client(ca, hook.timeout)?;
            // The `[notify]` header and signature are the webhook's alone.
            let plain = crate::config::NotifyConfig::default();
            match super::notify::post_json(&http, url, &plain, &ev.json()).await {
                Ok(r) if r.status().is_success() => Ok(format!("status {}", r.status().as_u16())),
                Ok(r) => Err(format!("status {}", r.status().as_u16())),
                Err(e) if e.is_timeout() => Err(format!(
                    "timed out after {}",
                    humantime::format_duration(hook.timeout)
                )),
                Err(e) => Err(format!("request failed: {}", e.without_url())),
            }
        }
    }
}

/// `text` with every secret value in it replaced by `***`.
fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// The last `n` bytes of a hook's output, on one line.
fn tail(out: &[u8], n: usize) -> String {
    let s = String::from_utf8_lossy(out);
    let s = s.trim();
    let start = s.len().saturating_sub(n);
    let start = (start..=s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(s.len());
    s[start..].replace('\n', " | ")
}

async fn run_command(
    ctx: &Ctx<'_>,
    cmd: &str,
    timeout: Duration,
    ev: &HookEvent,
) -> std::result::Result<String, String> {
    let mut command = tokio::process::Command::new("sh");
    // The registry's and the webhook's secrets are not the hook's.
    for v in ["MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD"]
        .into_iter()
        .chain(ctx.cfg.notify.secret_vars())
    {
        command.env_remove(v);
    }
    let mut child = command
        .arg("-c")
        .arg(cmd)
        .current_dir(&ctx.cfg.dir)
        .envs(ev.env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills everything it started.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    let pid = child.id();
    let mut outs = Vec::new();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        outs.push(tokio::spawn(async move {
            // Read to the end (a hook that prints a lot must not die of
            // SIGPIPE), keeping only the last 64 KiB.
            const KEEP: usize = 64 * 1024;
            let mut pipe = pipe;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 2 * KEEP {
                    buf.drain(..buf.len() - KEEP);
                }
            }
            if buf.len() > KEEP {
                buf.drain(..buf.len() - KEEP);
            }
            buf
        }));
    }
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(st)) => Ok(st),
        Ok(Err(e)) => Err(format!("wait failed: {e}")),
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid, "-TERM");
                if tokio::time::timeout(Duration::from_secs(1), child.wait())
                    .await
                    .is_err()
                {
                    kill_group(pid, "-KILL");
                }
            }
            let _ = child.kill().await;
            Err(format!(
                "timed out after {}; its process group was killed",
                humantime::format_duration(timeout)
            ))
        }
    };
    // Output that a leftover grandchild keeps open is not waited for long.
    let mut output = Vec::new();
    for o in outs {
        if let Ok(Ok(b)) = tokio::time::timeout(Duration::from_millis(500), o).await {
            output.extend(b);
        }
    }
    let masked = mask(
        &String::from_utf8_lossy(&output),
        &ctx.cfg.notify.secret_values(),
    );
    let shown = crate::redact::text(&tail(masked.as_bytes(), 300));
    if !shown.is_empty() {
        ctx.out.detail(&format!("hook output: {shown}"));
    }
    let status = status?;
    match status.code() {
        Some(0) => Ok("exit 0".into()),
        Some(c) if shown.is_empty() => Err(format!("exit {c}")),
        Some(c) => Err(format!("exit {c}: {shown}")),
        None => Err("killed by a signal".into()),
    }
}

/// Signals a whole process group (`kill -SIG -PGID`).
fn kill_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
