//! `check`: parses and checks the config and renders its templates; no AWS call.
//! Every other command runs `templates` first too.
use serde_json::json;

use crate::aws::managed::alarm_name;
use crate::config::Config;
use crate::error::Result;
use crate::output::Out;
use crate::rollout::Color;
use crate::template::{Model, Vars};

/// Renders every template with placeholder values, so errors surface before AWS.
/// With a `[registry]`, `{{ model.* }}` renders as a placeholder too.
pub fn templates(cfg: &Config) -> Result<()> {
    let region = cfg.region.clone().unwrap_or_else(|| "us-east-1".into());
    let model = cfg.registry.as_ref().map(|_| Model::placeholder("check"));
    for c in Color::BOTH {
        let vars = Vars::new(&cfg.name, "check", c.as_str(), &region).with_model(model.as_ref());
        crate::providers::check_templates(cfg, &vars)?;
        for a in &cfg.alarms.create {
            alarm_name(&cfg.name, a, c, &region)?;
        }
    }
    Ok(())
}

/// Prints one line per checked config.
pub fn run(configs: &[Config], out: &Out) -> Result<()> {
    for cfg in configs {
        for w in warnings(cfg) {
            out.warn(&format!("{}: {w}", cfg.path.display()));
        }
        let (named, managed) = (cfg.alarms.watch.len(), cfg.alarms.create.len());
        out.result(
            &format!(
                "{}: ok: stack {} ({}), steps {:?}, bake {}, {} watched alarm(s) ({named} named, {managed} managed per colour)",
                cfg.path.display(),
                cfg.name,
                cfg.provider(),
                cfg.rollout.steps,
                humantime::format_duration(cfg.rollout.bake),
                named + managed
            ),
            json!({"config": cfg.path, "stack": cfg.name, "provider": cfg.provider(), "steps": cfg.rollout.steps, "watched_alarms": named + managed, "warnings": warnings(cfg), "ok": true}),
        );
    }
    Ok(())
}

/// What is valid but probably not meant.
pub fn warnings(cfg: &Config) -> Vec<String> {
    let r = &cfg.rollout;
    let mut w = Vec::new();
    if r.poll_interval > r.bake && r.steps.len() > 1 {
        w.push(format!(
            "rollout.poll_interval ({}) is longer than rollout.bake ({}): alarms would be read less than once a bake",
            humantime::format_duration(r.poll_interval),
            humantime::format_duration(r.bake)
        ));
    }
    for v in cfg.notify.unset_vars() {
        w.push(format!(
            "[notify] names environment variable {v}, which is not set: webhook posts would go without it; export it where cutover runs"
        ));
    }
    w
}
