//! `cutover init`: writes a starter config (and template) from `templates/`.
use std::path::Path;

use crate::config::ProviderKind;
use crate::error::{invalid, Result};
use crate::output::Out;

const ECS_CONFIG: &str = include_str!("../../templates/init/ecs.cutover.toml.j2");
const SM_CONFIG: &str = include_str!("../../templates/init/sagemaker.cutover.toml.j2");
const TASK: &str = include_str!("../../templates/task.json.j2");

pub fn run(provider: ProviderKind, name: &str, dir: &Path, force: bool, out: &Out) -> Result<()> {
    if !crate::config::name_ok(name) {
        return Err(invalid(format!(
            "--name \"{name}\" must match [a-z0-9-]{{1,20}}"
        )));
    }
    let mut files = vec![(
        "cutover.toml",
        match provider {
            ProviderKind::Ecs => ECS_CONFIG,
            ProviderKind::Sagemaker => SM_CONFIG,
        },
    )];
    if provider == ProviderKind::Ecs {
        files.push(("task.json.j2", TASK));
    }
    for (f, _) in &files {
        let p = dir.join(f);
        if p.exists() && !force {
            return Err(invalid(format!(
                "{} exists; use --force to overwrite",
                p.display()
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| invalid(format!("{}: {e}", dir.display())))?;
    let mut env = minijinja::Environment::new();
    env.set_keep_trailing_newline(true);
    for (f, src) in files {
        // Only the config is rendered here; task.json.j2 keeps its {{ }} for deploy time.
        let text = if f == "cutover.toml" {
            env.render_str(src, minijinja::context! { name => name })
                .map_err(|e| invalid(format!("template {f}: {e}")))?
        } else {
            src.to_string()
        };
        let p = dir.join(f);
        std::fs::write(&p, text).map_err(|e| invalid(format!("{}: {e}", p.display())))?;
        out.info(&format!("wrote {}", p.display()));
    }
    Ok(())
}
